// GradientRules.h - the table of gradient rules that --dz-autodiff applies, one per dz op.
#pragma once

#include <llvm/ADT/SmallVector.h>
#include <mlir/IR/Builders.h>
#include <mlir/IR/Operation.h>

#include <optional>

namespace dz::passes {

/// The gradients of an op's operands, one entry per operand; a null Value where no
/// gradient flows (non-differentiable ops, integer operands). An entry may have the
/// broadcast shape of the result: the caller sums it to the operand's shape.
using OperandGrads = llvm::SmallVector<mlir::Value, 3>;

/// Builds, at b's insertion point, the gradients of op's operands from gy, the gradient
/// of its (only) result, with dz ops only, so that they are differentiable in turn.
/// std::nullopt when op has no rule.
std::optional<OperandGrads> buildOperandGrads(mlir::OpBuilder &b, mlir::Operation *op,
                                              mlir::Value gy);

/// A dz.constant of type `type` with every element `value`.
mlir::Value buildSplat(mlir::OpBuilder &b, mlir::Location loc, mlir::RankedTensorType type,
                       double value);

/// x summed (dz.sum_to) to `shape`; x itself when it already has that shape.
mlir::Value buildSumTo(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                       llvm::ArrayRef<int64_t> shape);

} // namespace dz::passes
