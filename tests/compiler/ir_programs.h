// ir_programs.h - what the compiler tests that start from dz IR text share: parse it, run
// passes on it, build the CPU Program of every func.func.
#pragma once

#include <dzc/codegen/ExecutorBuild.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mlir {
class PassManager;
} // namespace mlir

namespace dz::testing {

/// Parses `ir`, runs the passes `add_passes` puts into a pass manager, and builds the
/// Program of each func.func in module order, calling `inspect` on each function first
/// (to count the ops a pass left, say). Throws dz::Error with the diagnostics when the IR
/// does not parse, a pass fails or a Program cannot be built.
std::vector<codegen::Program>
build_programs(const std::string &ir, const std::function<void(mlir::PassManager &)> &add_passes,
               const std::function<void(mlir::func::FuncOp)> &inspect = {},
               const codegen::BuildOptions &options = {});

/// The text of tests/gradcheck/rules.mlir (one function per gradient rule, first and
/// second derivatives). Throws dz::Error when it cannot be read.
std::string gradcheck_rules();

/// Arguments for a function of rules.mlir: floats uniform in [0.3, 1.3) from `seed`,
/// i64 labels 0.
std::vector<Tensor> gradcheck_args(const codegen::Program &p, uint64_t seed);

} // namespace dz::testing
