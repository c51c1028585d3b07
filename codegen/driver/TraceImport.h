// TraceImport.h - a traced graph (dz::trace::Graph) as a `dz` module.
#pragma once
#include <dzc/trace.h>

#include <mlir/IR/BuiltinOps.h>
#include <mlir/IR/MLIRContext.h>
#include <mlir/IR/OwningOpRef.h>

#include <string>

namespace dz::codegen {

/// One func.func named `name` whose arguments and results are the graph's; every node is
/// the dz op of its name. Not verified yet: the caller verifies and reports.
mlir::OwningOpRef<mlir::ModuleOp> importTrace(mlir::MLIRContext &ctx, const trace::Graph &g,
                                              const std::string &name);

/// The MLIR element type of a dtype (f32, f64, i64, i32, i8 for uint8 and i1 for bool).
mlir::Type elementType(mlir::MLIRContext &ctx, DType dtype);

} // namespace dz::codegen
