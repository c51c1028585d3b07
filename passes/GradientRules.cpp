// GradientRules.cpp - the gradient rule of every dz op, tinygrad style: one table entry
// per op, each building its operand gradients from dz ops (so they are differentiable in
// turn). The registry's ops (dzc/ops.def) take their gradient expression from there, the
// one frontend/src/functions.cpp evaluates on Variables; the other formulas are DeZero's,
// as in functions.cpp's backward().
#include "GradientRules.h"
#include "GradientVocabulary.h"

#include <dzc/ir/DzOps.h>
#include <dzc/passes/Passes.h>

#include <llvm/ADT/DenseMap.h>

#include <cmath>
#include <functional>
#include <numeric>

namespace dz::passes {

using namespace mlir;
using llvm::SmallVector;

namespace {

using namespace vocabulary;

RankedTensorType tensorType(Value v) { return cast<RankedTensorType>(v.getType()); }
ArrayRef<int64_t> shapeOf(Value v) { return tensorType(v).getShape(); }

/// The vocabulary of the rules: dz ops built at one insertion point and location.
class Emit {
public:
  Emit(OpBuilder &b, Location loc) : b(b), loc(loc) {}

  Value add(Value x, Value y) { return ir::AddOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return ir::SubOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return ir::MulOp::create(b, loc, x, y); }
  Value equalMask(Value x, Value y) { return ir::EqualMaskOp::create(b, loc, x, y); }
  Value neg(Value x) { return ir::NegOp::create(b, loc, x); }
  Value exp(Value x) { return ir::ExpOp::create(b, loc, x); }
  Value step(Value x) { return ir::StepOp::create(b, loc, x); }
  Value powScalar(Value x, double c) {
    return ir::PowScalarOp::create(b, loc, x, b.getF64FloatAttr(c));
  }
  Value select(Value cond, Value x, Value y) { return ir::SelectOp::create(b, loc, cond, x, y); }
  Value clipMask(Value x, FloatAttr lo, FloatAttr hi) {
    return ir::ClipMaskOp::create(b, loc, x, lo, hi);
  }
  Value cast(Value x, Type elementType) {
    return ir::CastOp::create(b, loc, x, TypeAttr::get(elementType));
  }
  Value softmax(Value x, int64_t axis) {
    return ir::SoftmaxOp::create(b, loc, x, b.getI64IntegerAttr(axis));
  }
  Value oneHot(Value t, int64_t numClasses, Type elementType) {
    return ir::OneHotOp::create(b, loc, t, b.getI64IntegerAttr(numClasses),
                                TypeAttr::get(elementType));
  }
  Value matmul(Value x, Value y, bool ta, bool tb) {
    return ir::MatmulOp::create(b, loc, x, y, b.getBoolAttr(ta), b.getBoolAttr(tb));
  }
  Value sum(Value x, ArrayRef<int64_t> axes, bool keepdims) {
    return ir::SumOp::create(b, loc, x, b.getDenseI64ArrayAttr(axes), b.getBoolAttr(keepdims));
  }
  Value transpose(Value x, ArrayRef<int64_t> perm) {
    return ir::TransposeOp::create(b, loc, x, b.getDenseI64ArrayAttr(perm));
  }

  // Shape changes to the shape x already has are no ops, as in the eager functions.
  Value reshape(Value x, ArrayRef<int64_t> shape) {
    if (shapeOf(x) == shape)
      return x;
    return ir::ReshapeOp::create(b, loc, x, b.getDenseI64ArrayAttr(shape));
  }
  Value broadcastTo(Value x, ArrayRef<int64_t> shape) {
    if (shapeOf(x) == shape)
      return x;
    return ir::BroadcastToOp::create(b, loc, x, b.getDenseI64ArrayAttr(shape));
  }
  Value sumTo(Value x, ArrayRef<int64_t> shape) { return buildSumTo(b, loc, x, shape); }

  /// Zeros of like's type (shape and element type).
  Value zerosLike(Value like) { return buildSplat(b, loc, tensorType(like), 0.0); }

  /// A 0-d constant `value` of like's element type (binary ops broadcast it).
  Value scalar(double value, Value like) {
    Type element = tensorType(like).getElementType();
    return buildSplat(b, loc, RankedTensorType::get({}, element), value);
  }

  // ---- neural-network ops (ir/DzNNOps.td) ----
  template <typename OpTy, typename... Args> Value build(Args &&...args) {
    return OpTy::create(b, loc, std::forward<Args>(args)...);
  }
  DenseI64ArrayAttr ints(ArrayRef<int64_t> v) { return b.getDenseI64ArrayAttr(v); }
  Value getItem(Value x, ArrayRef<int64_t> shape, DenseI64ArrayAttr offsets) {
    return ir::GetItemOp::create(b, loc, x, ints(shape), offsets);
  }
  Value getItemGrad(Value gy, ArrayRef<int64_t> shape, DenseI64ArrayAttr offsets) {
    return ir::GetItemGradOp::create(b, loc, gy, ints(shape), offsets);
  }
  Value embedId(Value ids, Value W) { return ir::EmbedIdOp::create(b, loc, ids, W); }
  Value embedIdGrad(Value ids, Value gy, ArrayRef<int64_t> shape) {
    return ir::EmbedIdGradOp::create(b, loc, ids, gy, ints(shape));
  }
  Value im2col(Value x, DenseI64ArrayAttr k, DenseI64ArrayAttr s, DenseI64ArrayAttr p, BoolAttr m) {
    return ir::Im2colOp::create(b, loc, x, k, s, p, m);
  }
  Value col2im(Value col, ArrayRef<int64_t> shape, DenseI64ArrayAttr k, DenseI64ArrayAttr s,
               DenseI64ArrayAttr p, BoolAttr m) {
    return ir::Col2imOp::create(b, loc, col, ints(shape), k, s, p, m);
  }
  Value conv2d(Value x, Value W, DenseI64ArrayAttr s, DenseI64ArrayAttr p) {
    return ir::Conv2dOp::create(b, loc, x, W, Value(), s, p);
  }
  /// The transposed convolution back to the (h, w) of `like` (an NCHW value).
  Value deconv2d(Value x, Value W, DenseI64ArrayAttr s, DenseI64ArrayAttr p, Value like) {
    ArrayRef<int64_t> hw = shapeOf(like).drop_front(2);
    return ir::Deconv2dOp::create(b, loc, x, W, Value(), s, p, ints(hw));
  }
  /// conv2d_grad_w for a kernel of the (KH, KW) of weights `W`.
  Value conv2dGradW(Value x, Value gy, Value W, DenseI64ArrayAttr s, DenseI64ArrayAttr p) {
    return ir::Conv2dGradWOp::create(b, loc, x, gy, ints(shapeOf(W).drop_front(2)), s, p);
  }

  OpBuilder &builder() { return b; }
  Location location() const { return loc; }

private:
  OpBuilder &b;
  Location loc;
};

/// The shape of a reduction of `shape` over `axes` (empty: all) with keepdims.
SmallVector<int64_t> keepdimsShape(ArrayRef<int64_t> shape, ArrayRef<int64_t> axes) {
  int64_t rank = int64_t(shape.size());
  SmallVector<int64_t> kept(shape);
  if (axes.empty())
    kept.assign(shape.size(), 1);
  for (int64_t axis : axes) {
    int64_t a = axis < 0 ? axis + rank : axis;
    if (a >= 0 && a < rank)
      kept[size_t(a)] = 1;
  }
  return kept;
}

/// Max and min: the gradient flows to every element equal to the result.
OperandGrads extremumGrad(Emit &e, Value x, Value y, ArrayRef<int64_t> axes, Value gy) {
  SmallVector<int64_t> kept = keepdimsShape(shapeOf(x), axes);
  Value mask = e.equalMask(x, e.reshape(y, kept));
  return {e.mul(e.broadcastTo(e.reshape(gy, kept), shapeOf(x)), mask)};
}

/// The rule of one op: its operand gradients from the gradient of its result.
using Rule = std::function<OperandGrads(Emit &, Operation *, Value)>;

template <typename OpTy, typename Fn> std::pair<TypeID, Rule> rule(Fn fn) {
  return {TypeID::get<OpTy>(),
          [fn](Emit &e, Operation *op, Value gy) { return fn(e, llvm::cast<OpTy>(op), gy); }};
}

/// Ops whose results are piecewise constant in their operands (or have no operands):
/// no gradient flows through them.
template <typename OpTy> std::pair<TypeID, Rule> noGradient() {
  return {TypeID::get<OpTy>(),
          [](Emit &, Operation *op, Value) { return OperandGrads(op->getNumOperands(), Value()); }};
}

using RuleTable = llvm::DenseMap<TypeID, Rule>;

RuleTable makeTable(std::initializer_list<std::pair<TypeID, Rule>> entries) {
  RuleTable table;
  for (const auto &[id, rule] : entries)
    table.try_emplace(id, rule);
  return table;
}

const RuleTable &rules() {
  static const RuleTable table = makeTable({
  // ---- the registry's ops (dzc/ops.def): their gradient expressions, built from dz
  // ops (the caller sums broadcast gradients to the operand shapes) ----
#define NONE                                                                                       \
  GV { &site, Value() }
#define DZ_UNARY(name, Title, domain, summary, value, grad, onnx)                                  \
  rule<ir::Title##Op>([](Emit &e, ir::Title##Op op, Value g) -> OperandGrads {                     \
    Site site{e.builder(), e.location()};                                                          \
    [[maybe_unused]] GV gy{&site, g}, x{&site, op->getOperand(0)}, y{&site, op->getResult(0)};     \
    return {GV(grad).v};                                                                           \
  }),
#define DZ_BINARY(name, Title, domain, traits, summary, value, grad_a, grad_b, onnx)               \
  rule<ir::Title##Op>([](Emit &e, ir::Title##Op op, Value g) -> OperandGrads {                     \
    Site site{e.builder(), e.location()};                                                          \
    [[maybe_unused]] GV gy{&site, g}, a{&site, op->getOperand(0)}, b{&site, op->getOperand(1)},    \
        y{&site, op->getResult(0)};                                                                \
    return {GV(grad_a).v, GV(grad_b).v};                                                           \
  }),
#include <dzc/ops.def>
#undef NONE

      // ---- logic: i1 results carry no gradient ----
      noGradient<ir::AndOp>(),
      noGradient<ir::OrOp>(),
      noGradient<ir::XorOp>(),
      noGradient<ir::NotOp>(),
      // select: gy goes to a where cond holds, to b elsewhere (summed to their shapes).
      rule<ir::SelectOp>([](Emit &e, ir::SelectOp op, Value gy) -> OperandGrads {
        Value cond = op.getCond(), zero = e.scalar(0.0, gy);
        return {Value(), e.select(cond, gy, zero), e.select(cond, zero, gy)};
      }),

      // ---- elementwise math ----
      rule<ir::PowScalarOp>([](Emit &e, ir::PowScalarOp op, Value gy) -> OperandGrads {
        Value x = op.getX();
        double c = op.getExponent().convertToDouble();
        if (c == 0) // zero everywhere, also at x = 0 (where 0 * x^-1 would be NaN)
          return {e.zerosLike(gy)};
        Value scale = e.scalar(c, x);
        return {e.mul(e.mul(scale, e.powScalar(x, c - 1)), gy)};
      }),

      // ---- activations ----
      // leaky_relu: gy where x > 0, gy * slope elsewhere (the eager mask, from step).
      rule<ir::LeakyReluOp>([](Emit &e, ir::LeakyReluOp op, Value gy) -> OperandGrads {
        Value positive = e.step(op.getX());
        Value rest = e.sub(e.scalar(1.0, positive), positive);
        Value slope = e.scalar(op.getSlope().convertToDouble(), gy);
        Value whereX = e.mul(gy, positive);
        return {e.add(whereX, e.mul(e.mul(gy, slope), rest))};
      }),
      rule<ir::ClipOp>([](Emit &e, ir::ClipOp op, Value gy) -> OperandGrads {
        return {e.mul(gy, e.clipMask(op.getX(), op.getMinAttr(), op.getMaxAttr()))};
      }),
      noGradient<ir::ClipMaskOp>(),
      rule<ir::SoftmaxOp>([](Emit &e, ir::SoftmaxOp op, Value gy) -> OperandGrads {
        Value y = op.getResult();
        Value gx = e.mul(y, gy);
        return {e.sub(gx, e.mul(y, e.sum(gx, {int64_t(op.getAxis())}, true)))};
      }),
      rule<ir::LogSoftmaxOp>([](Emit &e, ir::LogSoftmaxOp op, Value gy) -> OperandGrads {
        Value y = op.getResult();
        Value p = e.exp(y);
        return {e.sub(gy, e.mul(p, e.sum(gy, {int64_t(op.getAxis())}, true)))};
      }),

      // ---- types and shapes ----
      rule<ir::CastOp>([](Emit &e, ir::CastOp op, Value gy) -> OperandGrads {
        return {e.cast(gy, tensorType(op.getX()).getElementType())};
      }),
      rule<ir::ReshapeOp>([](Emit &e, ir::ReshapeOp op, Value gy) -> OperandGrads {
        return {e.reshape(gy, shapeOf(op.getX()))};
      }),
      rule<ir::TransposeOp>([](Emit &e, ir::TransposeOp op, Value gy) -> OperandGrads {
        ArrayRef<int64_t> perm = op.getPerm();
        int64_t n = int64_t(perm.size());
        SmallVector<int64_t> inverse(perm.size());
        for (int64_t i = 0; i < n; ++i)
          inverse[size_t((perm[size_t(i)] + n) % n)] = i;
        return {e.transpose(gy, inverse)};
      }),
      rule<ir::BroadcastToOp>([](Emit &e, ir::BroadcastToOp op, Value gy) -> OperandGrads {
        return {e.sumTo(gy, shapeOf(op.getX()))};
      }),
      rule<ir::SumToOp>([](Emit &e, ir::SumToOp op, Value gy) -> OperandGrads {
        return {e.broadcastTo(gy, shapeOf(op.getX()))};
      }),

      // ---- reductions ----
      rule<ir::SumOp>([](Emit &e, ir::SumOp op, Value gy) -> OperandGrads {
        ArrayRef<int64_t> shape = shapeOf(op.getX());
        return {e.broadcastTo(e.reshape(gy, keepdimsShape(shape, op.getAxes())), shape)};
      }),
      rule<ir::MaxOp>([](Emit &e, ir::MaxOp op, Value gy) {
        return extremumGrad(e, op.getX(), op.getResult(), op.getAxes(), gy);
      }),
      rule<ir::MinOp>([](Emit &e, ir::MinOp op, Value gy) {
        return extremumGrad(e, op.getX(), op.getResult(), op.getAxes(), gy);
      }),

      // ---- linear algebra (broadcast batch dimensions: the caller sums them) ----
      rule<ir::MatmulOp>([](Emit &e, ir::MatmulOp op, Value g) -> OperandGrads {
        Value a = op.getA(), b = op.getB();
        bool ta = op.getTransposeA(), tb = op.getTransposeB();
        if (!ta && !tb)
          return {e.matmul(g, b, false, true), e.matmul(a, g, true, false)};
        if (ta && !tb)
          return {e.matmul(b, g, false, true), e.matmul(a, g, false, false)};
        if (!ta && tb)
          return {e.matmul(g, b, false, false), e.matmul(g, a, true, false)};
        return {e.matmul(b, g, true, true), e.matmul(g, a, true, true)};
      }),
      // The unfused chain's rules: P = softmax(scale q k + mask), result = P v (the scores
      // recomputed, as the fused forward keeps none).
      rule<ir::AttentionOp>([](Emit &e, ir::AttentionOp op, Value g) -> OperandGrads {
        Value q = op.getQ(), k = op.getK(), v = op.getV(), mask = op.getMask();
        const int64_t last = int64_t(shapeOf(q).size()) - 1;
        Value scale = e.scalar(op.getScale().convertToDouble(), q);
        Value scores = e.mul(e.matmul(q, k, false, false), scale);
        if (mask)
          scores = e.add(scores, mask);
        Value p = e.softmax(scores, last);
        Value gp = e.matmul(g, v, false, true);
        Value pgp = e.mul(p, gp);
        Value gs = e.sub(pgp, e.mul(p, e.sum(pgp, {last}, true)));
        Value gqk = e.mul(gs, scale);
        OperandGrads grads{e.matmul(gqk, k, false, true), e.matmul(q, gqk, true, false),
                           e.matmul(p, g, true, false)};
        if (mask)
          grads.push_back(gs); // summed to the mask's shape by the caller
        return grads;
      }),
      rule<ir::LinearOp>([](Emit &e, ir::LinearOp op, Value g) -> OperandGrads {
        OperandGrads grads{e.matmul(g, op.getW(), false, true),
                           e.matmul(op.getX(), g, true, false)};
        if (op->getNumOperands() > 2)
          grads.push_back(g); // summed to the bias shape by the caller
        return grads;
      }),

      // ---- losses ----
      rule<ir::SoftmaxCrossEntropyOp>(
          [](Emit &e, ir::SoftmaxCrossEntropyOp op, Value gy) -> OperandGrads {
            Value x = op.getX();
            ArrayRef<int64_t> shape = shapeOf(x);
            int64_t n = shape[0], classes = shape[1];
            Type element = tensorType(x).getElementType();
            Value y = e.softmax(x, 1);
            Value scale = e.mul(gy, e.scalar(1.0 / double(std::max<int64_t>(n, 1)), x));
            Value onehot = e.oneHot(op.getT(), classes, element);
            return {e.mul(e.sub(y, onehot), scale), Value()};
          }),
      rule<ir::MeanSquaredErrorOp>(
          [](Emit &e, ir::MeanSquaredErrorOp op, Value gy) -> OperandGrads {
            Value diff = e.sub(op.getA(), op.getB());
            ArrayRef<int64_t> shape = shapeOf(diff);
            double len = shape.empty() ? 1.0 : double(shape[0]);
            Value gyDiff = e.mul(e.broadcastTo(gy, shape), diff);
            Value g = e.mul(gyDiff, e.scalar(2.0 / len, diff));
            return {g, e.neg(g)};
          }),
      noGradient<ir::OneHotOp>(),
      noGradient<ir::ConstantOp>(),

      // ---- neural networks (ir/DzNNOps.td): the adjoint pairs call each other ----
      rule<ir::GetItemOp>([](Emit &e, ir::GetItemOp op, Value gy) -> OperandGrads {
        return {e.getItemGrad(gy, shapeOf(op.getX()), op.getOffsetsAttr())};
      }),
      rule<ir::GetItemGradOp>([](Emit &e, ir::GetItemGradOp op, Value g) -> OperandGrads {
        return {e.getItem(g, shapeOf(op.getGy()), op.getOffsetsAttr())};
      }),
      rule<ir::EmbedIdOp>([](Emit &e, ir::EmbedIdOp op, Value gy) -> OperandGrads {
        return {Value(), e.embedIdGrad(op.getIds(), gy, shapeOf(op.getW()))};
      }),
      rule<ir::EmbedIdGradOp>([](Emit &e, ir::EmbedIdGradOp op, Value g) -> OperandGrads {
        return {Value(), e.embedId(op.getIds(), g)};
      }),
      rule<ir::Im2colOp>([](Emit &e, ir::Im2colOp op, Value g) -> OperandGrads {
        return {e.col2im(g, shapeOf(op.getX()), op.getKernelAttr(), op.getStrideAttr(),
                         op.getPadAttr(), op.getToMatrixAttr())};
      }),
      rule<ir::Col2imOp>([](Emit &e, ir::Col2imOp op, Value g) -> OperandGrads {
        return {e.im2col(g, op.getKernelAttr(), op.getStrideAttr(), op.getPadAttr(),
                         op.getToMatrixAttr())};
      }),
      // conv2d: gx is the transposed convolution of gy, gW the conv2d_grad_w of (x, gy).
      rule<ir::Conv2dOp>([](Emit &e, ir::Conv2dOp op, Value gy) -> OperandGrads {
        Value x = op.getX(), W = op.getW();
        auto s = op.getStrideAttr(), p = op.getPadAttr();
        OperandGrads g{e.deconv2d(gy, W, s, p, x), e.conv2dGradW(x, gy, W, s, p)};
        if (op.getB())
          g.push_back(e.sum(gy, {0, 2, 3}, false));
        return g;
      }),
      // deconv2d, the adjoint of conv2d in x: gx = conv2d(gy), gW = conv2d_grad_w(gy, x).
      rule<ir::Deconv2dOp>([](Emit &e, ir::Deconv2dOp op, Value gy) -> OperandGrads {
        Value x = op.getX(), W = op.getW();
        auto s = op.getStrideAttr(), p = op.getPadAttr();
        OperandGrads g{e.conv2d(gy, W, s, p), e.conv2dGradW(gy, x, W, s, p)};
        if (op.getB())
          g.push_back(e.sum(gy, {0, 2, 3}, false));
        return g;
      }),
      // conv2d_grad_w is bilinear in (x, gy): for ggW, deconv2d(gy, ggW) and conv2d(x, ggW).
      rule<ir::Conv2dGradWOp>([](Emit &e, ir::Conv2dGradWOp op, Value ggW) -> OperandGrads {
        Value x = op.getX(), gy = op.getGy();
        auto s = op.getStrideAttr(), p = op.getPadAttr();
        return {e.deconv2d(gy, ggW, s, p, x), e.conv2d(x, ggW, s, p)};
      }),
      rule<ir::MaxPoolingOp>([](Emit &e, ir::MaxPoolingOp op, Value gy) -> OperandGrads {
        Value x = op.getX();
        auto k = op.getKernelAttr(), s = op.getStrideAttr(), p = op.getPadAttr();
        Value idx = e.build<ir::MaxPoolingIndexesOp>(x, k, s, p);
        return {e.build<ir::MaxPoolingGradOp>(gy, idx, e.ints(shapeOf(x)), k, s, p)};
      }),
      noGradient<ir::MaxPoolingIndexesOp>(),
      rule<ir::MaxPoolingWithIndexesOp>(
          [](Emit &e, ir::MaxPoolingWithIndexesOp op, Value g) -> OperandGrads {
            return {e.build<ir::MaxPoolingGradOp>(g, op.getIndexes(), e.ints(shapeOf(op.getX())),
                                                  op.getKernelAttr(), op.getStrideAttr(),
                                                  op.getPadAttr()),
                    Value()};
          }),
      rule<ir::MaxPoolingGradOp>([](Emit &e, ir::MaxPoolingGradOp op, Value g) -> OperandGrads {
        return {e.build<ir::MaxPoolingWithIndexesOp>(g, op.getIndexes(), op.getKernelAttr(),
                                                     op.getStrideAttr(), op.getPadAttr()),
                Value()};
      }),
      rule<ir::AveragePoolingOp>([](Emit &e, ir::AveragePoolingOp op, Value gy) -> OperandGrads {
        return {e.build<ir::AveragePoolingGradOp>(gy, e.ints(shapeOf(op.getX())),
                                                  op.getKernelAttr(), op.getStrideAttr(),
                                                  op.getPadAttr())};
      }),
      rule<ir::AveragePoolingGradOp>(
          [](Emit &e, ir::AveragePoolingGradOp op, Value g) -> OperandGrads {
            return {e.build<ir::AveragePoolingOp>(g, op.getKernelAttr(), op.getStrideAttr(),
                                                  op.getPadAttr())};
          }),
      noGradient<ir::DropoutMaskOp>(),
      noGradient<ir::RngNextOp>(),
      // The loss of the job is the sum of the ranks' losses: the gradient of rank r's x is
      // the sum (mean) over the ranks of their cotangents of the result, itself an
      // all-reduce. "max" has no rule here: Autodiff.cpp refuses it, naming the op.
      rule<ir::AllReduceOp>([](Emit &e, ir::AllReduceOp op, Value gy) -> OperandGrads {
        return {e.build<ir::AllReduceOp>(gy, op.getReductionAttr(), op.getCommAttr())};
      }),
  });
  return table;
}

} // namespace

Value buildSplat(OpBuilder &b, Location loc, RankedTensorType type, double value) {
  Type element = type.getElementType();
  Attribute scalar = isa<FloatType>(element) ? Attribute(b.getFloatAttr(element, value))
                                             : Attribute(b.getIntegerAttr(element, int64_t(value)));
  return ir::ConstantOp::create(b, loc, cast<ElementsAttr>(DenseElementsAttr::get(type, scalar)));
}

Value buildSumTo(OpBuilder &b, Location loc, Value x, ArrayRef<int64_t> shape) {
  if (shapeOf(x) == shape)
    return x;
  return ir::SumToOp::create(b, loc, x, b.getDenseI64ArrayAttr(shape));
}

std::optional<OperandGrads> buildOperandGrads(OpBuilder &b, Operation *op, Value gy) {
  auto found = rules().find(op->getName().getTypeID());
  if (found == rules().end())
    return std::nullopt;
  Emit e(b, op->getLoc());
  return found->second(e, op, gy);
}

bool hasGradientRule(OperationName name) {
  return name.getTypeID() != TypeID() && rules().count(name.getTypeID());
}

} // namespace dz::passes
