// DzDialect.cpp - the dz dialect: op registration, constant materialization and
// the registry of the dialects dz IR files use.
#include "dzc/ir/DzOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"

#include "dzc/ir/DzDialect.cpp.inc"

namespace dz::ir {

void DzDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dzc/ir/DzOps.cpp.inc"
      >();
}

mlir::Operation *DzDialect::materializeConstant(mlir::OpBuilder &builder, mlir::Attribute value,
                                                mlir::Type type, mlir::Location loc) {
  auto elements = llvm::dyn_cast<mlir::ElementsAttr>(value);
  if (!elements || elements.getType() != type)
    return nullptr;
  return ConstantOp::create(builder, loc, elements);
}

void registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<DzDialect, mlir::func::FuncDialect, mlir::arith::ArithDialect>();
}

} // namespace dz::ir
