// Fusion.cpp - `--dz-fuse`: groups chains of elementwise dz ops into dz.fused ops.
//
// Greedy producer-consumer fusion, in each block of each func.func (after --dz-autodiff;
// a dz.grad left is an error, since the gradient rules know no dz.fused):
//  1. Visit the ops from last to first. An op in no group yet that is elementwise
//     (ir/FusibleOps.h; constants aside) or a reduction (dz.sum, dz.max, dz.min) is the
//     root of a new group. The group's domain is the root's result shape, or for a
//     reduction its operand's shape.
//  2. Grow the group backwards, latest producer first. The defining op of a value the
//     group reads joins when it is elementwise, in no group, and every user of its result
//     is in the group or comes after the root. A result read after the root becomes an
//     output of the group and must have the domain's shape: a smaller value that is
//     broadcast inside the group and also read outside stays out (a loop over the domain
//     could not write it). Reductions never join as producers, so a reduction only ever
//     ends a group, never sits in its middle; GEMMs, shape ops and every other op are
//     never grown into (a dz.matmul / dz.linear stays outside, its bias add and
//     activation fuse).
//  3. A splat dz.constant the group reads is cloned into the group's body instead of
//     becoming an input (the original goes when nothing else reads it).
//  4. A group of at least two ops (constants not counted) becomes one dz.fused just
//     before its root: operands = the values it reads from outside, results = its values
//     read outside (the root's among them), body = clones of its ops in program order.
//     Every input is defined before the root and every outside user of an output comes
//     after it, so the move keeps the block in dominance order.
#include <dzc/passes/Passes.h>

#include <dzc/ir/DzOps.h>
#include <dzc/ir/FusibleOps.h>

#include <llvm/ADT/DenseMap.h>
#include <llvm/ADT/DenseSet.h>
#include <llvm/ADT/SetVector.h>
#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/IR/Builders.h>
#include <mlir/IR/IRMapping.h>
#include <mlir/Pass/Pass.h>

#include <queue>

namespace dz::passes {

#define GEN_PASS_DEF_FUSION
#include "Passes.h.inc"

using namespace mlir;

namespace {

bool isSplatConstant(Operation *op) {
  auto constant = dyn_cast<ir::ConstantOp>(op);
  if (!constant)
    return false;
  auto dense = dyn_cast<DenseElementsAttr>(constant.getValue());
  return dense && dense.isSplat();
}

ArrayRef<int64_t> shapeOf(Value v) { return cast<RankedTensorType>(v.getType()).getShape(); }

/// One group: its ops (root last in program order) and the splats it clones.
struct Group {
  SmallVector<Operation *> ops; // program order once built
  SmallVector<Operation *> splats;
  llvm::DenseSet<Operation *> members;
};

class GroupFinder {
public:
  explicit GroupFinder(Block &block) {
    for (Operation &op : block)
      index_[&op] = unsigned(index_.size());
  }

  /// Steps 1 and 2: the groups of the block, latest root first.
  SmallVector<Group> find(Block &block) {
    SmallVector<Group> groups;
    for (Operation &op : llvm::reverse(block)) {
      if (grouped_.contains(&op) || isa<ir::ConstantOp>(op))
        continue;
      if (!ir::isFusibleElementwise(&op) && !ir::isFusibleReduction(&op))
        continue;
      Group g = grow(&op);
      if (g.ops.size() < 2)
        continue;
      grouped_.insert(g.ops.begin(), g.ops.end());
      groups.push_back(std::move(g));
    }
    return groups;
  }

private:
  Group grow(Operation *root) {
    Group g;
    ArrayRef<int64_t> domain =
        ir::isFusibleReduction(root) ? shapeOf(root->getOperand(0)) : shapeOf(root->getResult(0));
    unsigned rootIndex = index_.lookup(root);
    auto byIndex = [&](Operation *a, Operation *b) { return index_.lookup(a) < index_.lookup(b); };
    std::priority_queue<Operation *, std::vector<Operation *>, decltype(byIndex)> producers(
        byIndex);
    llvm::DenseSet<Operation *> seen{root}, splats;
    auto add = [&](Operation *op) {
      g.ops.push_back(op);
      g.members.insert(op);
      for (Value v : op->getOperands()) {
        Operation *def = v.getDefiningOp();
        if (!def || !index_.contains(def) || !seen.insert(def).second)
          continue;
        if (isSplatConstant(def))
          splats.insert(def);
        else
          producers.push(def);
      }
    };
    add(root);
    while (!producers.empty()) {
      Operation *p = producers.top();
      producers.pop();
      if (grouped_.contains(p) || !ir::isFusibleElementwise(p) || isa<ir::ConstantOp>(p))
        continue;
      bool readOutside = false, usersOk = true;
      for (Operation *user : p->getUsers()) {
        if (g.members.contains(user))
          continue;
        readOutside = true;
        usersOk &= index_.lookup(user) > rootIndex;
      }
      if (!usersOk || (readOutside && shapeOf(p->getResult(0)) != domain))
        continue;
      add(p);
    }
    llvm::sort(g.ops, byIndex);
    g.splats.assign(splats.begin(), splats.end());
    llvm::sort(g.splats, byIndex);
    return g;
  }

  llvm::DenseMap<Operation *, unsigned> index_;
  llvm::DenseSet<Operation *> grouped_;
};

/// Step 4: replaces the ops of `g` by one dz.fused just before its root.
void buildFused(const Group &g) {
  Operation *root = g.ops.back();
  llvm::SetVector<Value> inputs;
  SmallVector<Value> outputs;
  llvm::DenseSet<Operation *> splats(g.splats.begin(), g.splats.end());
  for (Operation *op : g.ops) {
    for (Value v : op->getOperands()) {
      Operation *def = v.getDefiningOp();
      if (!def || (!g.members.contains(def) && !splats.contains(def)))
        inputs.insert(v);
    }
    for (Value r : op->getResults())
      if (llvm::any_of(r.getUsers(), [&](Operation *u) { return !g.members.contains(u); }))
        outputs.push_back(r);
  }

  OpBuilder b(root);
  auto fused =
      ir::FusedOp::create(b, root->getLoc(), ValueRange(outputs).getTypes(), inputs.getArrayRef());
  SmallVector<Location> argLocs(inputs.size(), root->getLoc());
  Block *body =
      b.createBlock(&fused.getBody(), {}, ValueRange(inputs.getArrayRef()).getTypes(), argLocs);
  IRMapping map;
  map.map(inputs.getArrayRef(), body->getArguments());
  for (Operation *c : g.splats)
    b.clone(*c, map);
  for (Operation *op : g.ops)
    b.clone(*op, map);
  SmallVector<Value> yielded;
  for (Value v : outputs)
    yielded.push_back(map.lookup(v));
  ir::YieldOp::create(b, root->getLoc(), yielded);

  for (auto [v, r] : llvm::zip_equal(outputs, fused.getResults()))
    v.replaceUsesWithIf(r, [&](OpOperand &use) { return !g.members.contains(use.getOwner()); });
  for (Operation *op : llvm::reverse(g.ops))
    op->erase();
}

class FusionPass : public impl::FusionBase<FusionPass> {
public:
  void runOnOperation() override {
    WalkResult grads = getOperation()->walk([](ir::GradOp grad) {
      grad.emitOpError() << "is left in the function: --dz-fuse runs after --dz-autodiff "
                            "(the gradient rules know no dz.fused)";
      return WalkResult::interrupt();
    });
    if (grads.wasInterrupted())
      return signalPassFailure();

    SmallVector<Block *> blocks;
    getOperation()->walk([&](func::FuncOp fn) {
      for (Block &block : fn.getBody())
        blocks.push_back(&block);
    });
    for (Block *block : blocks) {
      SmallVector<Group> groups = GroupFinder(*block).find(*block);
      llvm::SetVector<Operation *> splats;
      for (const Group &g : groups) {
        buildFused(g);
        splats.insert(g.splats.begin(), g.splats.end());
      }
      for (Operation *c : splats)
        if (c->use_empty())
          c->erase();
    }
  }
};

} // namespace

std::unique_ptr<Pass> createFusionPass() { return createFusion(); }

} // namespace dz::passes
