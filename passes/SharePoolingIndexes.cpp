// SharePoolingIndexes.cpp - `--dz-share-pooling-indexes`: a max pooling and the
// max_pooling_indexes of the same input (which its gradient rule computes) become one argmax
// and a gather.
//
// The gradient of dz.max_pooling recomputes the window argmax (dz.max_pooling_indexes) in the
// backward part of the function, so a training step runs the max pooling twice. For each
// dz.max_pooling whose operand also feeds a dz.max_pooling_indexes with the same kernel, stride
// and pad in the same block, the indexes op moves right before the pooling (its only
// operand is the pooling's, so it dominates there) and the pooling becomes
// dz.max_pooling_with_indexes(x, indexes): a gather of the maxima, as the eager MaxPooling
// computes its forward and keeps the indexes for backward.
#include <dzc/passes/Passes.h>

#include <dzc/ir/DzOps.h>

#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/IR/Builders.h>
#include <mlir/Pass/Pass.h>

namespace dz::passes {

#define GEN_PASS_DEF_SHAREPOOLINGINDEXES
#include "Passes.h.inc"

using namespace mlir;

namespace {

struct SharePoolingIndexes : impl::SharePoolingIndexesBase<SharePoolingIndexes> {
  void runOnOperation() override {
    SmallVector<ir::MaxPoolingOp> pools;
    getOperation()->walk([&](ir::MaxPoolingOp op) { pools.push_back(op); });
    for (ir::MaxPoolingOp pool : pools) {
      ir::MaxPoolingIndexesOp indexes;
      for (Operation *user : pool.getX().getUsers()) {
        auto candidate = dyn_cast<ir::MaxPoolingIndexesOp>(user);
        if (candidate && candidate->getBlock() == pool->getBlock() &&
            candidate.getKernelAttr() == pool.getKernelAttr() &&
            candidate.getStrideAttr() == pool.getStrideAttr() &&
            candidate.getPadAttr() == pool.getPadAttr()) {
          indexes = candidate;
          break;
        }
      }
      if (!indexes)
        continue;
      if (pool->isBeforeInBlock(indexes))
        indexes->moveBefore(pool);
      OpBuilder b(pool);
      auto gather = ir::MaxPoolingWithIndexesOp::create(b, pool.getLoc(), pool.getType(),
                                                        pool.getX(), indexes, pool.getKernelAttr(),
                                                        pool.getStrideAttr(), pool.getPadAttr());
      pool.replaceAllUsesWith(gather.getResult());
      pool.erase();
    }
  }
};

} // namespace

std::unique_ptr<Pass> createSharePoolingIndexesPass() {
  return std::make_unique<SharePoolingIndexes>();
}

} // namespace dz::passes
