// Autodiff.cpp - `--dz-autodiff`: expands every dz.grad into reverse-mode gradient ops.
//
// For every `dz.grad %y wrt %xs`, in program order:
//  1. the ops on paths from the xs to y: those of the grad's block, before it, that
//     depend on an x (forward slice) and that y depends on (backward slice);
//  2. the seed: ones of y's type (a dz.constant splat), the gradient of y;
//  3. those ops in reverse order: the op's rule (GradientRules.cpp) builds its operand
//     gradients from its result's gradient; an operand gradient of a broadcast shape is
//     summed to the operand's shape with dz.sum_to; only float operands that depend on an
//     x get one (what a rule built for the others is erased); gradients of one value are
//     summed with dz.add;
//  4. each result of the dz.grad is replaced by the gradient of its x, or zeros when y
//     does not depend on x, and the dz.grad is erased.
// A later dz.grad of a value computed from an earlier, already expanded one differentiates
// ordinary ops: double backprop. An op on a path without a rule is an error on that op.
#include <dzc/passes/Passes.h>

#include "GradientRules.h"

#include <dzc/ir/DzOps.h>

#include <llvm/ADT/DenseMap.h>
#include <llvm/ADT/DenseSet.h>
#include <mlir/Interfaces/SideEffectInterfaces.h>
#include <mlir/Pass/Pass.h>

namespace dz::passes {

#define GEN_PASS_DEF_AUTODIFF
#include "Passes.h.inc"

using namespace mlir;

namespace {

/// Only float tensors have gradients (i64 labels and indices get none).
bool isFloatTensor(Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  return type && isa<FloatType>(type.getElementType());
}

/// The ops on paths from the xs to y, in program order, and the values that depend on an
/// x (the only ones whose gradients are wanted).
struct Slice {
  SmallVector<Operation *> ops;
  llvm::DenseSet<Value> dependsOnX;
};

/// Step 1: the ops of `grad`'s block before it that depend on an x and that y depends on.
Slice opsBetween(ir::GradOp grad, ValueRange xs, Value y) {
  Slice slice;
  slice.dependsOnX.insert(xs.begin(), xs.end());
  SmallVector<Operation *> forward;
  for (Operation &op : llvm::make_range(grad->getBlock()->begin(), grad->getIterator())) {
    if (llvm::none_of(op.getOperands(), [&](Value v) { return slice.dependsOnX.contains(v); }))
      continue;
    forward.push_back(&op);
    slice.dependsOnX.insert(op.getResults().begin(), op.getResults().end());
  }
  llvm::DenseSet<Value> neededByY{y};
  for (Operation *op : llvm::reverse(forward)) {
    if (llvm::none_of(op->getResults(), [&](Value v) { return neededByY.contains(v); }))
      continue;
    slice.ops.push_back(op);
    neededByY.insert(op->getOperands().begin(), op->getOperands().end());
  }
  std::reverse(slice.ops.begin(), slice.ops.end());
  return slice;
}

/// Records the ops a builder creates, to erase those left unused: a rule builds the
/// gradients of all its operands, and those of operands that no x reaches are dropped.
struct CreatedOps : OpBuilder::Listener {
  SmallVector<Operation *> ops;
  void notifyOperationInserted(Operation *op, OpBuilder::InsertPoint) override {
    ops.push_back(op);
  }
  void eraseUnused() {
    for (Operation *op : llvm::reverse(ops))
      if (isOpTriviallyDead(op))
        op->erase();
  }
};

/// Steps 2-4 for one dz.grad.
LogicalResult expand(ir::GradOp grad) {
  Value y = grad.getY();
  ValueRange xs = grad.getXs();
  if (y.getParentBlock() != grad->getBlock())
    return grad.emitError("dz-autodiff: y must be computed in the block of its dz.grad");
  Slice slice = opsBetween(grad, xs, y);

  CreatedOps created;
  OpBuilder b(grad->getContext(), &created);
  b.setInsertionPoint(grad);
  llvm::DenseMap<Value, Value> grads;
  auto accumulate = [&](Value v, Value g) {
    auto [it, inserted] = grads.try_emplace(v, g);
    if (!inserted)
      it->second = ir::AddOp::create(b, g.getLoc(), it->second, g);
  };
  grads[y] = buildSplat(b, grad.getLoc(), cast<RankedTensorType>(y.getType()), 1.0);

  for (Operation *op : llvm::reverse(slice.ops)) {
    if (op->getNumResults() != 1)
      return op->emitError("dz-autodiff: no gradient rule for '")
             << op->getName() << "' (an op of " << op->getNumResults() << " results)";
    Value gy = grads.lookup(op->getResult(0));
    if (!gy)
      continue; // its result reaches y only through ops that pass no gradient
    if (auto reduce = dyn_cast<ir::AllReduceOp>(op); reduce && reduce.getReduction() == "max")
      return op->emitError("dz-autodiff: the all-reduce \"max\" has no gradient here (it would "
                           "flow to the rank holding each maximum); differentiate through a "
                           "\"sum\" or \"mean\" all-reduce, or reduce after the backward pass");
    std::optional<OperandGrads> operandGrads = buildOperandGrads(b, op, gy);
    if (!operandGrads)
      return op->emitError("dz-autodiff: no gradient rule for '") << op->getName() << "'";
    for (auto [operand, g] : llvm::zip_equal(op->getOperands(), *operandGrads)) {
      if (!g || !isFloatTensor(operand) || !slice.dependsOnX.contains(operand))
        continue;
      auto type = cast<RankedTensorType>(operand.getType());
      auto gradType = dyn_cast<RankedTensorType>(g.getType());
      if (gradType && gradType.getShape() != type.getShape() &&
          ir::isBroadcastableTo(type.getShape(), gradType.getShape()))
        g = buildSumTo(b, op->getLoc(), g, type.getShape());
      if (g.getType() != type)
        return op->emitError("dz-autodiff: the gradient rule of '")
               << op->getName() << "' gave " << g.getType() << " for an operand of type " << type;
      accumulate(operand, g);
    }
  }

  for (auto [x, result] : llvm::zip_equal(xs, grad.getGrads())) {
    Value g = grads.lookup(x);
    if (!g)
      g = buildSplat(b, grad.getLoc(), cast<RankedTensorType>(x.getType()), 0.0);
    result.replaceAllUsesWith(g);
  }
  grad.erase();
  created.eraseUnused();
  return success();
}

class AutodiffPass : public impl::AutodiffBase<AutodiffPass> {
public:
  void runOnOperation() override {
    SmallVector<ir::GradOp> grads;
    getOperation()->walk<WalkOrder::PreOrder>([&](ir::GradOp g) { grads.push_back(g); });
    for (ir::GradOp grad : grads)
      if (failed(expand(grad)))
        return signalPassFailure();
  }
};

} // namespace

std::unique_ptr<Pass> createAutodiffPass() { return createAutodiff(); }

} // namespace dz::passes
