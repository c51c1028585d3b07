// dzc/codegen/ExecutorBuild.h - builds a dz::codegen::Program from a func.func of dz ops.
//
// The function must have static ranked tensor types of f32, f64 or i64 and contain only
// dz ops of docs/ir.md and one func.return; dz.grad must have been expanded
// (--dz-autodiff) first. Building reads every attribute, materialises constants and
// computes each value's last use once, so running the Program touches no IR.
#pragma once

#include <dzc/codegen/Executor.h>

#include <mlir/Dialect/Func/IR/FuncOps.h>

namespace dz::codegen {

/// The Program of `fn`, or failure after an error diagnostic at the offending op that
/// names it and says what is wrong (an unknown op, a dz.grad left, a bad type).
mlir::FailureOr<Program> buildProgram(mlir::func::FuncOp fn);

/// The same for C++ callers outside MLIR frames: the diagnostics of a failed build are
/// collected and thrown as one dz::Error.
Program buildProgramOrThrow(mlir::func::FuncOp fn);

} // namespace dz::codegen
