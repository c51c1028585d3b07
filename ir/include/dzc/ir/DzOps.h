// DzOps.h - the dz dialect: dialect class, op classes and shape helpers.
//
// Include this one header to use the dialect: `dz::ir::DzDialect`, the ops
// (`dz::ir::AddOp`, `dz::ir::MatmulOp`, `dz::ir::GradOp`, ... one per op of
// docs/ir.md, named after the mnemonic in CamelCase) and the NumPy shape rules
// the ops infer their types with, for code that builds or rewrites dz IR.
#pragma once

#include <cstdint>
#include <optional>

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"

#include "dzc/ir/DzDialect.h.inc"

namespace dz::ir::OpTrait {
/// Marker traits of ODS (ir/DzOps.td): Elementwise (computes each element of its result
/// from its operands' elements at the same broadcast index), Fusible (has a scalar form in
/// the fused kernels), FusibleReduction (a reduction the fused kernels compute), ViewLike
/// (its result may share its operand's storage).
template <typename ConcreteType>
class Elementwise : public mlir::OpTrait::TraitBase<ConcreteType, Elementwise> {};
template <typename ConcreteType>
class Fusible : public mlir::OpTrait::TraitBase<ConcreteType, Fusible> {};
template <typename ConcreteType>
class FusibleReduction : public mlir::OpTrait::TraitBase<ConcreteType, FusibleReduction> {};
template <typename ConcreteType>
class ViewLike : public mlir::OpTrait::TraitBase<ConcreteType, ViewLike> {};

/// Runs the op's inferReturnTypes as a verifier, ahead of InferTypeOpInterface's
/// own check, so that an invalid op reports only the error naming the mismatch.
template <typename ConcreteType>
class InferredTypesCheck : public mlir::OpTrait::TraitBase<ConcreteType, InferredTypesCheck> {
public:
  static mlir::LogicalResult verifyTrait(mlir::Operation *op) {
    typename ConcreteType::Adaptor adaptor(op->getOperands(), op->getRawDictionaryAttrs(),
                                           op->getPropertiesStorage(), op->getRegions());
    llvm::SmallVector<mlir::Type, 1> types;
    if (mlir::failed(
            ConcreteType::inferReturnTypes(op->getContext(), op->getLoc(), adaptor, types)))
      return mlir::failure();
    if (mlir::TypeRange(types) == op->getResultTypes())
      return mlir::success();
    return reportMismatch(op, types);
  }

private:
  // The message of InferTypeOpInterface's own check, without its second error.
  static mlir::LogicalResult reportMismatch(mlir::Operation *op,
                                            llvm::ArrayRef<mlir::Type> inferred) {
    auto diag = op->emitOpError("inferred type(s) ");
    llvm::interleaveComma(inferred, diag, [&](mlir::Type t) { diag << t; });
    diag << " are incompatible with return type(s) of operation ";
    llvm::interleaveComma(op->getResultTypes(), diag, [&](mlir::Type t) { diag << t; });
    return diag;
  }
};
} // namespace dz::ir::OpTrait

#define GET_OP_CLASSES
#include "dzc/ir/DzOps.h.inc"

namespace mlir {
class DialectRegistry;
}

namespace dz::ir {

/// NumPy broadcast of two shapes (aligned on the right, 1 stretches);
/// std::nullopt when a pair of dimensions differs and neither is 1.
std::optional<llvm::SmallVector<int64_t>> broadcastShapes(llvm::ArrayRef<int64_t> a,
                                                          llvm::ArrayRef<int64_t> b);

/// The broadcast type of two tensors, with the element type of `a`; null when
/// their shapes are not broadcast-compatible.
mlir::RankedTensorType broadcastTypes(mlir::RankedTensorType a, mlir::RankedTensorType b);

/// True when `from` broadcasts to exactly `to` (what broadcast_to / sum_to accept).
bool isBroadcastableTo(llvm::ArrayRef<int64_t> from, llvm::ArrayRef<int64_t> to);

/// `axes` mapped into [0, rank), sorted; an empty `axes` means every axis.
/// std::nullopt when an axis is outside [-rank, rank) or repeated.
std::optional<llvm::SmallVector<int64_t>> normalizeAxes(llvm::ArrayRef<int64_t> axes, int64_t rank);

/// `shape` without the (normalized) `axes`, or with them as 1 when `keepdims`.
llvm::SmallVector<int64_t> reducedShape(llvm::ArrayRef<int64_t> shape,
                                        llvm::ArrayRef<int64_t> normalizedAxes, bool keepdims);

/// The axes of `from` that sum_to(from -> to) sums: the leading axes `to` lacks and
/// those where `to` has 1 and `from` does not. `from` must broadcast from `to`.
llvm::SmallVector<int64_t> sumToAxes(llvm::ArrayRef<int64_t> from, llvm::ArrayRef<int64_t> to);

/// Registers what dz IR files need: the dz, func and arith dialects.
void registerAllDialects(mlir::DialectRegistry &registry);

/// The spelling some code expects for dz.matmul.
using MatMulOp = MatmulOp;

} // namespace dz::ir
