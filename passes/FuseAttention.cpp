// FuseAttention.cpp - `--dz-fuse-attention`: scaled dot-product attention as one dz.attention.
//
// The chain (in one block, each intermediate read only by the next op):
//
//   a = q / c  or  q * c  or  c * q     (optional; c a one-element splat constant)
//   s = dz.matmul a, k                  (no transposes; q, k, v of one rank, equal batch dims)
//   s = s / c  or  s * c  or  c * s     (optional)
//   s = dz.add s, mask  or  mask, s     (optional; mask broadcasts to s's shape)
//   p = dz.softmax s {axis = last}
//   o = dz.matmul p, v                  (no transposes)
//
// becomes o = dz.attention q, k, v[, mask] {scale = the product of the constants (1/c for a
// division)}. Scaling q before the product and the scores after it are the same in exact
// arithmetic; in floating point they differ by rounding. Runs after --dz-autodiff (the
// forward's intermediates a backward reads are read twice, and such a chain is left alone),
// before --dz-fuse.
#include <dzc/passes/Passes.h>

#include <dzc/ir/DzOps.h>

#include <llvm/ADT/SetVector.h>
#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/IR/Builders.h>
#include <mlir/Pass/Pass.h>

#include <optional>

namespace dz::passes {

#define GEN_PASS_DEF_FUSEATTENTION
#include "Passes.h.inc"

using namespace mlir;

namespace {

RankedTensorType typeOf(Value v) { return dyn_cast<RankedTensorType>(v.getType()); }

/// The value of a one-element splat dz.constant, or nothing.
std::optional<double> scalarConstant(Value v) {
  auto c = v.getDefiningOp<ir::ConstantOp>();
  if (!c)
    return std::nullopt;
  auto dense = dyn_cast<DenseElementsAttr>(c.getValue());
  if (!dense || dense.getNumElements() != 1)
    return std::nullopt;
  if (isa<FloatType>(dense.getElementType()))
    return (*dense.getValues<APFloat>().begin()).convertToDouble();
  return std::nullopt;
}

/// x * c, c * x or x / c (the result of x's type) read once: x and the factor; else null.
struct Scaled {
  Value x;
  double factor = 1.0;
  Operation *op = nullptr;
};
Scaled unscale(Value v) {
  Operation *def = v.getDefiningOp();
  if (!def || !v.hasOneUse() || def->getNumOperands() != 2)
    return {v};
  Value a = def->getOperand(0), b = def->getOperand(1);
  if (isa<ir::DivOp>(def)) {
    std::optional<double> c = scalarConstant(b);
    if (c && *c != 0.0 && typeOf(a) == typeOf(v))
      return {a, 1.0 / *c, def};
  } else if (isa<ir::MulOp>(def)) {
    if (std::optional<double> c = scalarConstant(b); c && typeOf(a) == typeOf(v))
      return {a, *c, def};
    if (std::optional<double> c = scalarConstant(a); c && typeOf(b) == typeOf(v))
      return {b, *c, def};
  }
  return {v};
}

bool plainMatmul(ir::MatmulOp m) { return !m.getTransposeA() && !m.getTransposeB(); }

/// Rewrites the chain ending at `out` (a dz.matmul) when it matches; true if it did.
bool fuse(ir::MatmulOp out) {
  if (!plainMatmul(out))
    return false;
  Value pv = out.getA(), v = out.getB();
  auto softmax = pv.getDefiningOp<ir::SoftmaxOp>();
  auto pt = typeOf(pv);
  if (!softmax || !pv.hasOneUse() || !pt || pt.getRank() < 2)
    return false;
  const int64_t rank = pt.getRank();
  const int64_t axis = int64_t(softmax.getAxis());
  if (axis != rank - 1 && axis != -1)
    return false;
  SmallVector<Operation *> dead{out, softmax};

  // the mask
  Value scores = softmax.getX(), mask;
  if (auto add = scores.getDefiningOp<ir::AddOp>(); add && scores.hasOneUse()) {
    for (int i = 0; i < 2 && !mask; ++i) {
      Value s = add->getOperand(i), m = add->getOperand(1 - i);
      auto mt = typeOf(m);
      if (typeOf(s) != typeOf(scores) || !mt || mt.getRank() > rank ||
          mt.getElementType() != pt.getElementType())
        continue;
      // the scores' side comes from the product (through an optional scaling)
      Value inner = unscale(s).x;
      if (!inner.getDefiningOp<ir::MatmulOp>())
        continue;
      mask = m;
      scores = s;
    }
    if (!mask)
      return false;
    dead.push_back(add);
  }

  // the scaling of the scores, then the product, then the scaling of q
  double scale = 1.0;
  Scaled after = unscale(scores);
  if (after.op) {
    scale *= after.factor;
    dead.push_back(after.op);
  }
  auto product = after.x.getDefiningOp<ir::MatmulOp>();
  if (!product || !plainMatmul(product) || !after.x.hasOneUse())
    return false;
  dead.push_back(product);
  Scaled before = unscale(product.getA());
  if (before.op) {
    scale *= before.factor;
    dead.push_back(before.op);
  }
  Value q = before.x, k = product.getB();
  auto qt = typeOf(q), kt = typeOf(k), vt = typeOf(v);
  if (!qt || !kt || !vt || qt.getRank() != rank || kt.getRank() != rank || vt.getRank() != rank ||
      qt.getShape().drop_back(2) != kt.getShape().drop_back(2) ||
      qt.getShape().drop_back(2) != vt.getShape().drop_back(2))
    return false; // broadcast batch dimensions: the op does not broadcast them

  OpBuilder b(out);
  auto fused = ir::AttentionOp::create(b, out.getLoc(), q, k, v, mask, b.getF64FloatAttr(scale));
  out.getResult().replaceAllUsesWith(fused.getResult());
  llvm::SetVector<Operation *>
      constants; // the scales' constants, erased when nothing else reads them
  for (Operation *op : {after.op, before.op})
    if (op)
      for (Value operand : op->getOperands())
        if (auto c = operand.getDefiningOp<ir::ConstantOp>())
          constants.insert(c);
  for (Operation *op : dead) // consumers first: each is dead once its user is gone
    if (op->use_empty())
      op->erase();
  for (Operation *c : constants)
    if (c->use_empty())
      c->erase();
  return true;
}

class FuseAttentionPass : public impl::FuseAttentionBase<FuseAttentionPass> {
public:
  void runOnOperation() override {
    SmallVector<ir::MatmulOp> candidates;
    getOperation()->walk([&](ir::MatmulOp m) { candidates.push_back(m); });
    for (ir::MatmulOp m : candidates)
      fuse(m);
  }
};

} // namespace

std::unique_ptr<Pass> createFuseAttentionPass() { return createFuseAttention(); }

} // namespace dz::passes
