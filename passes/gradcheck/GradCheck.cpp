// GradCheck.cpp - dz-gradcheck: checks the gradients --dz-autodiff builds against central
// finite differences, with a small f64 reference interpreter of the dz ops.
//
// For every func.func of the input (float arguments get deterministic pseudo-random
// values, i64 arguments the labels i % 3): the function is run as written, each dz.grad
// evaluated by finite differences of sum(y) (nested for a dz.grad of a dz.grad); then
// after --dz-autodiff and after --dz-pipeline. The results must agree to 1e-5 (relative to
// max(|value|, 1)). Exit status 1 when one does not. Not a unit test of the interpreter:
// the interpreter only has to be right where the finite differences are smooth.
#include <dzc/ir/DzOps.h>
#include <dzc/passes/Passes.h>

#include <llvm/ADT/DenseMap.h>
#include <llvm/ADT/TypeSwitch.h>
#include <llvm/Support/raw_ostream.h>
#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/IR/BuiltinOps.h>
#include <mlir/IR/DialectRegistry.h>
#include <mlir/IR/MLIRContext.h>
#include <mlir/Parser/Parser.h>
#include <mlir/Pass/PassManager.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <vector>

using namespace mlir;
using llvm::SmallVector;

namespace {

struct Tensor {
  SmallVector<int64_t> shape;
  std::vector<double> data;
};

int64_t numel(ArrayRef<int64_t> shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t(1), std::multiplies<>());
}

Tensor filled(ArrayRef<int64_t> shape, double v) {
  return {SmallVector<int64_t>(shape), std::vector<double>(size_t(numel(shape)), v)};
}

SmallVector<int64_t> unravel(int64_t i, ArrayRef<int64_t> shape) {
  SmallVector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = i % shape[d];
    i /= shape[d];
  }
  return idx;
}

/// The flat index into `shape` of out-index `idx` of a broadcast to rank idx.size().
int64_t broadcastIndex(ArrayRef<int64_t> idx, ArrayRef<int64_t> shape) {
  int64_t flat = 0, lead = int64_t(idx.size() - shape.size());
  for (size_t d = 0; d < shape.size(); ++d)
    flat = flat * shape[d] + (shape[d] == 1 ? 0 : idx[size_t(lead) + d]);
  return flat;
}

Tensor broadcastTo(const Tensor &x, ArrayRef<int64_t> shape) {
  Tensor out = filled(shape, 0);
  for (int64_t i = 0; i < numel(shape); ++i)
    out.data[size_t(i)] = x.data[size_t(broadcastIndex(unravel(i, shape), x.shape))];
  return out;
}

Tensor binary(const Tensor &a, const Tensor &b, std::function<double(double, double)> f) {
  SmallVector<int64_t> shape = *dz::ir::broadcastShapes(a.shape, b.shape);
  Tensor out = filled(shape, 0);
  for (int64_t i = 0; i < numel(shape); ++i) {
    SmallVector<int64_t> idx = unravel(i, shape);
    out.data[size_t(i)] = f(a.data[size_t(broadcastIndex(idx, a.shape))],
                            b.data[size_t(broadcastIndex(idx, b.shape))]);
  }
  return out;
}

Tensor unary(const Tensor &x, std::function<double(double)> f) {
  Tensor out = x;
  for (double &v : out.data)
    v = f(v);
  return out;
}

/// Reduction over normalized `axes` with `keepdims`, starting from `init`.
Tensor reduce(const Tensor &x, ArrayRef<int64_t> axes, bool keepdims, double init,
              std::function<double(double, double)> f) {
  SmallVector<int64_t> kept(x.shape);
  for (int64_t a : axes)
    kept[size_t(a)] = 1;
  Tensor out = filled(kept, init);
  for (int64_t i = 0; i < numel(x.shape); ++i) {
    SmallVector<int64_t> idx = unravel(i, x.shape);
    for (int64_t a : axes)
      idx[size_t(a)] = 0;
    int64_t o = 0;
    for (size_t d = 0; d < kept.size(); ++d)
      o = o * kept[d] + idx[d];
    out.data[size_t(o)] = f(out.data[size_t(o)], x.data[size_t(i)]);
  }
  if (!keepdims)
    out.shape = dz::ir::reducedShape(x.shape, axes, false);
  return out;
}

Tensor reduceOp(Operation *op, const Tensor &x, double init,
                std::function<double(double, double)> f) {
  auto axes = *dz::ir::normalizeAxes(op->getAttrOfType<DenseI64ArrayAttr>("axes").asArrayRef(),
                                     int64_t(x.shape.size()));
  return reduce(x, axes, op->getAttrOfType<BoolAttr>("keepdims").getValue(), init, f);
}

Tensor sumTo(const Tensor &x, ArrayRef<int64_t> shape) {
  Tensor out = reduce(x, dz::ir::sumToAxes(x.shape, shape), true, 0, std::plus<>());
  out.shape.assign(shape.begin(), shape.end());
  return out;
}

Tensor transpose(const Tensor &x, ArrayRef<int64_t> perm) {
  SmallVector<int64_t> shape;
  for (int64_t p : perm)
    shape.push_back(x.shape[size_t(p)]);
  Tensor out = filled(shape, 0);
  for (int64_t i = 0; i < numel(shape); ++i) {
    SmallVector<int64_t> idx = unravel(i, shape), src(idx.size());
    for (size_t d = 0; d < perm.size(); ++d)
      src[size_t(perm[d])] = idx[d];
    out.data[size_t(i)] = x.data[size_t(broadcastIndex(src, x.shape))];
  }
  return out;
}

Tensor swapLast(const Tensor &x) {
  SmallVector<int64_t> perm(x.shape.size());
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
  return transpose(x, perm);
}

Tensor matmul(Tensor a, Tensor b, bool ta, bool tb) {
  if (ta)
    a = swapLast(a);
  if (tb)
    b = swapLast(b);
  int64_t m = a.shape[a.shape.size() - 2], k = a.shape.back(), n = b.shape.back();
  ArrayRef<int64_t> batchA = ArrayRef<int64_t>(a.shape).drop_back(2);
  ArrayRef<int64_t> batchB = ArrayRef<int64_t>(b.shape).drop_back(2);
  SmallVector<int64_t> shape = *dz::ir::broadcastShapes(batchA, batchB);
  SmallVector<int64_t> batch = shape;
  shape.push_back(m);
  shape.push_back(n);
  Tensor out = filled(shape, 0);
  for (int64_t bi = 0; bi < numel(batch); ++bi) {
    SmallVector<int64_t> idx = unravel(bi, batch);
    int64_t oa = broadcastIndex(idx, batchA) * m * k, ob = broadcastIndex(idx, batchB) * k * n;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t l = 0; l < k; ++l)
          s += a.data[size_t(oa + i * k + l)] * b.data[size_t(ob + l * n + j)];
        out.data[size_t(bi * m * n + i * n + j)] = s;
      }
  }
  return out;
}

Tensor softmax(const Tensor &x, int64_t axis, bool log) {
  axis = axis < 0 ? axis + int64_t(x.shape.size()) : axis;
  SmallVector<int64_t> axes{axis};
  Tensor mx = reduce(x, axes, true, -std::numeric_limits<double>::infinity(),
                     [](double a, double b) { return std::max(a, b); });
  Tensor e = binary(x, mx, [](double a, double m) { return std::exp(a - m); });
  Tensor z = reduce(e, axes, true, 0, std::plus<>());
  if (!log)
    return binary(e, z, std::divides<>());
  Tensor lz = binary(mx, z, [](double m, double s) { return m + std::log(s); });
  return binary(x, lz, std::minus<>());
}

Tensor constant(DenseElementsAttr attr) {
  auto type = cast<RankedTensorType>(attr.getType());
  Tensor out = filled(type.getShape(), 0);
  if (isa<FloatType>(type.getElementType())) {
    auto values = attr.getValues<APFloat>();
    for (int64_t i = 0; i < numel(type.getShape()); ++i)
      out.data[size_t(i)] = values[size_t(i)].convertToDouble();
  } else {
    auto values = attr.getValues<APInt>();
    for (int64_t i = 0; i < numel(type.getShape()); ++i)
      out.data[size_t(i)] = values[size_t(i)].getBitWidth() == 1 // i1 true is 1, not -1
                                ? double(values[size_t(i)].getZExtValue())
                                : double(values[size_t(i)].getSExtValue());
  }
  return out;
}

Tensor reshaped(Tensor t, ArrayRef<int64_t> shape) {
  t.shape.assign(shape.begin(), shape.end());
  return t;
}

// ---- NCHW windows (convolution and pooling, ir/DzNNOps.td) ----

struct Window {
  int64_t kh, kw, sh, sw, ph, pw;
};

Window windowOf(Operation *op, ArrayRef<int64_t> kernel) {
  auto pair = [&](StringRef name) {
    return op->getAttrOfType<DenseI64ArrayAttr>(name).asArrayRef();
  };
  ArrayRef<int64_t> s = pair("stride"), p = pair("pad");
  return {kernel[0], kernel[1], s[0], s[1], p[0], p[1]};
}

/// Calls f(oh, ow, i, j, h, w) for tap (i, j) of every window over an H x W plane whose
/// output is OH x OW; (h, w) may lie in the zero padding.
template <typename F> void forEachTap(const Window &k, int64_t OH, int64_t OW, F f) {
  for (int64_t oh = 0; oh < OH; ++oh)
    for (int64_t ow = 0; ow < OW; ++ow)
      for (int64_t i = 0; i < k.kh; ++i)
        for (int64_t j = 0; j < k.kw; ++j)
          f(oh, ow, i, j, oh * k.sh - k.ph + i, ow * k.sw - k.pw + j);
}

/// y = sum over taps of a[n, c, h, w] * b[...]: the convolution family, written as the
/// three ways of pairing image x (N, C, H, W), weights W (OC, C, KH, KW) and output
/// y (N, OC, OH, OW). `which` is the one computed from the other two.
enum class ConvPart { Y, X, W };
Tensor conv(ConvPart which, const Tensor &x, const Tensor &w, const Tensor &y, ArrayRef<int64_t> xs,
            ArrayRef<int64_t> ws, ArrayRef<int64_t> ys, const Window &k) {
  Tensor out = filled(which == ConvPart::Y ? ys : which == ConvPart::X ? xs : ws, 0);
  int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], OC = ws[0], OH = ys[2], OW = ys[3];
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oc = 0; oc < OC; ++oc)
      for (int64_t c = 0; c < C; ++c)
        forEachTap(k, OH, OW,
                   [&](int64_t oh, int64_t ow, int64_t i, int64_t j, int64_t h, int64_t v) {
                     if (h < 0 || h >= H || v < 0 || v >= W)
                       return;
                     size_t xi = size_t(((n * C + c) * H + h) * W + v);
                     size_t wi = size_t(((oc * C + c) * k.kh + i) * k.kw + j);
                     size_t yi = size_t(((n * OC + oc) * OH + oh) * OW + ow);
                     if (which == ConvPart::Y)
                       out.data[yi] += x.data[xi] * w.data[wi];
                     else if (which == ConvPart::X)
                       out.data[xi] += y.data[yi] * w.data[wi];
                     else
                       out.data[wi] += y.data[yi] * x.data[xi];
                   });
  return out;
}

enum class Pool { Max, Indexes, Average };
Tensor pool(Pool kind, const Tensor &x, const Window &k, ArrayRef<int64_t> ys) {
  Tensor out = filled(ys, 0);
  int64_t H = x.shape[2], W = x.shape[3], OH = ys[2], OW = ys[3];
  for (int64_t nc = 0; nc < ys[0] * ys[1]; ++nc) {
    std::vector<double> best(size_t(OH * OW), -std::numeric_limits<double>::infinity());
    forEachTap(k, OH, OW, [&](int64_t oh, int64_t ow, int64_t i, int64_t j, int64_t h, int64_t v) {
      double value =
          h < 0 || h >= H || v < 0 || v >= W ? 0.0 : x.data[size_t((nc * H + h) * W + v)];
      size_t o = size_t(oh * OW + ow), yi = size_t(nc * OH * OW) + o;
      if (kind == Pool::Average) {
        out.data[yi] += value / double(k.kh * k.kw);
      } else if (value > best[o]) {
        best[o] = value;
        out.data[yi] = kind == Pool::Max ? value : double(i * k.kw + j);
      }
    });
  }
  return out;
}

/// max_pooling_with_indexes (gather) and max_pooling_grad (its adjoint, scatter) at indexes.
Tensor poolAt(bool scatter, const Tensor &v, const Tensor &idx, const Window &k,
              ArrayRef<int64_t> xs, ArrayRef<int64_t> ys) {
  Tensor out = filled(scatter ? xs : ys, 0);
  int64_t H = xs[2], W = xs[3], OH = ys[2], OW = ys[3];
  for (int64_t nc = 0; nc < ys[0] * ys[1]; ++nc)
    forEachTap(k, OH, OW, [&](int64_t oh, int64_t ow, int64_t i, int64_t j, int64_t h, int64_t w) {
      size_t yi = size_t((nc * OH + oh) * OW + ow);
      if (int64_t(idx.data[yi]) != i * k.kw + j || h < 0 || h >= H || w < 0 || w >= W)
        return;
      size_t xi = size_t((nc * H + h) * W + w);
      if (scatter)
        out.data[xi] += v.data[yi];
      else
        out.data[yi] = v.data[xi];
    });
  return out;
}

using Env = llvm::DenseMap<Value, Tensor>;

class Interpreter {
public:
  /// Runs `func` on `args` and returns what it returns; std::nullopt on an unknown op.
  std::optional<std::vector<Tensor>> run(func::FuncOp func, const std::vector<Tensor> &args) {
    Env env;
    for (auto [arg, value] : llvm::zip_equal(func.getArguments(), args))
      env[arg] = value;
    Block &block = func.getBody().front();
    if (!runOps(block, block.end(), env, nullptr))
      return std::nullopt;
    std::vector<Tensor> results;
    for (Value v : block.getTerminator()->getOperands())
      results.push_back(env[v]);
    return results;
  }

private:
  /// Evaluates the ops of `block` before `end` into env; `keep` is not recomputed.
  bool runOps(Block &block, Block::iterator end, Env &env, Operation *keep) {
    for (Operation &op : llvm::make_range(block.begin(), end)) {
      if (&op == keep || isa<func::ReturnOp>(op))
        continue;
      if (auto grad = dyn_cast<dz::ir::GradOp>(op)) {
        if (!finiteDifferences(grad, env))
          return false;
        continue;
      }
      std::optional<Tensor> result = eval(&op, env);
      if (!result) {
        llvm::errs() << "dz-gradcheck: no reference for '" << op.getName() << "'\n";
        return false;
      }
      env[op.getResult(0)] = std::move(*result);
    }
    return true;
  }

  /// d(sum y)/dx by central differences, re-running the ops before the dz.grad.
  bool finiteDifferences(dz::ir::GradOp grad, Env &env) {
    Block &block = *grad->getBlock();
    for (auto [x, result] : llvm::zip_equal(grad.getXs(), grad.getGrads())) {
      Tensor g = filled(env[x].shape, 0);
      for (size_t i = 0; i < g.data.size(); ++i) {
        double sums[2];
        for (int side = 0; side < 2; ++side) {
          Env probe = env;
          probe[x].data[i] += side ? -kEps : kEps;
          if (!runOps(block, grad->getIterator(), probe, x.getDefiningOp()))
            return false;
          const Tensor &y = probe[grad.getY()];
          sums[side] = std::accumulate(y.data.begin(), y.data.end(), 0.0);
        }
        g.data[i] = (sums[0] - sums[1]) / (2 * kEps);
      }
      env[result] = std::move(g);
    }
    return true;
  }

  static constexpr double kEps = 1e-4;

  std::optional<Tensor> eval(Operation *op, Env &env) {
    auto in = [&](unsigned i) -> const Tensor & { return env[op->getOperand(i)]; };
    auto f64 = [&](StringRef name) {
      return op->getAttrOfType<FloatAttr>(name).getValueAsDouble();
    };
    auto shapeAttr = [&](StringRef name) {
      return op->getAttrOfType<DenseI64ArrayAttr>(name).asArrayRef();
    };
    using namespace dz::ir;
    return llvm::TypeSwitch<Operation *, std::optional<Tensor>>(op)
        .Case([&](ConstantOp c) { return constant(cast<DenseElementsAttr>(c.getValue())); })
        .Case([&](AddOp) { return binary(in(0), in(1), std::plus<>()); })
        .Case([&](SubOp) { return binary(in(0), in(1), std::minus<>()); })
        .Case([&](MulOp) { return binary(in(0), in(1), std::multiplies<>()); })
        .Case([&](DivOp) { return binary(in(0), in(1), std::divides<>()); })
        .Case([&](MaximumOp) {
          return binary(in(0), in(1), [](double a, double b) { return std::max(a, b); });
        })
        .Case([&](EqualMaskOp) {
          return binary(in(0), in(1), [](double a, double b) { return double(a == b); });
        })
        .Case([&](PowOp) {
          return binary(in(0), in(1), [](double a, double b) { return std::pow(a, b); });
        })
        // Comparisons and logic: i1 values as 0 / 1.
        .Case([&](GreaterOp) { return binary(in(0), in(1), std::greater<>()); })
        .Case([&](GreaterEqualOp) { return binary(in(0), in(1), std::greater_equal<>()); })
        .Case([&](LessOp) { return binary(in(0), in(1), std::less<>()); })
        .Case([&](LessEqualOp) { return binary(in(0), in(1), std::less_equal<>()); })
        .Case([&](EqualOp) { return binary(in(0), in(1), std::equal_to<>()); })
        .Case([&](AndOp) {
          return binary(in(0), in(1), [](double a, double b) { return double(a != 0 && b != 0); });
        })
        .Case([&](OrOp) {
          return binary(in(0), in(1), [](double a, double b) { return double(a != 0 || b != 0); });
        })
        .Case([&](XorOp) {
          return binary(in(0), in(1),
                        [](double a, double b) { return double((a != 0) != (b != 0)); });
        })
        .Case([&](NotOp) { return unary(in(0), [](double v) { return double(v == 0); }); })
        .Case([&](SelectOp) {
          const Tensor &c = in(0), &a = in(1), &b = in(2);
          SmallVector<int64_t> shape =
              *dz::ir::broadcastShapes(*dz::ir::broadcastShapes(c.shape, a.shape), b.shape);
          Tensor out = filled(shape, 0);
          for (int64_t i = 0; i < numel(shape); ++i) {
            SmallVector<int64_t> idx = unravel(i, shape);
            out.data[size_t(i)] = c.data[size_t(broadcastIndex(idx, c.shape))] != 0
                                      ? a.data[size_t(broadcastIndex(idx, a.shape))]
                                      : b.data[size_t(broadcastIndex(idx, b.shape))];
          }
          return out;
        })
        .Case([&](ErfOp) { return unary(in(0), [](double v) { return std::erf(v); }); })
        .Case([&](NegOp) { return unary(in(0), std::negate<>()); })
        .Case([&](ExpOp) { return unary(in(0), [](double v) { return std::exp(v); }); })
        .Case([&](LogOp) { return unary(in(0), [](double v) { return std::log(v); }); })
        .Case([&](SinOp) { return unary(in(0), [](double v) { return std::sin(v); }); })
        .Case([&](CosOp) { return unary(in(0), [](double v) { return std::cos(v); }); })
        .Case([&](TanhOp) { return unary(in(0), [](double v) { return std::tanh(v); }); })
        .Case([&](SqrtOp) { return unary(in(0), [](double v) { return std::sqrt(v); }); })
        .Case([&](SquareOp) { return unary(in(0), [](double v) { return v * v; }); })
        .Case([&](SigmoidOp) {
          return unary(in(0), [](double v) { return 1 / (1 + std::exp(-v)); });
        })
        .Case([&](ReluOp) { return unary(in(0), [](double v) { return std::max(v, 0.0); }); })
        .Case([&](StepOp) { return unary(in(0), [](double v) { return double(v > 0); }); })
        .Case([&](PowScalarOp) {
          double c = f64("exponent");
          return unary(in(0), [c](double v) { return std::pow(v, c); });
        })
        .Case([&](LeakyReluOp) {
          double s = f64("slope");
          return unary(in(0), [s](double v) { return v > 0 ? v : v * s; });
        })
        .Case([&](ClipOp) {
          double lo = f64("min"), hi = f64("max");
          return unary(in(0), [=](double v) { return std::clamp(v, lo, hi); });
        })
        .Case([&](ClipMaskOp) {
          double lo = f64("min"), hi = f64("max");
          return unary(in(0), [=](double v) { return double(lo <= v && v <= hi); });
        })
        .Case([&](CastOp c) {
          bool toInt = !isa<FloatType>(c.getDtype()), toBool = c.getDtype().isInteger(1);
          return unary(in(0), [=](double v) {
            return toBool ? double(v != 0) : toInt ? std::trunc(v) : v;
          });
        })
        .Case([&](ReshapeOp) {
          Tensor out = in(0);
          out.shape.assign(shapeAttr("shape").begin(), shapeAttr("shape").end());
          return out;
        })
        .Case([&](TransposeOp) { return transpose(in(0), shapeAttr("perm")); })
        .Case([&](BroadcastToOp) { return broadcastTo(in(0), shapeAttr("shape")); })
        .Case([&](SumToOp) { return sumTo(in(0), shapeAttr("shape")); })
        .Case([&](SumOp) { return reduceOp(op, in(0), 0, std::plus<>()); })
        .Case([&](MaxOp) {
          return reduceOp(op, in(0), -std::numeric_limits<double>::infinity(),
                          [](double a, double b) { return std::max(a, b); });
        })
        .Case([&](MinOp) {
          return reduceOp(op, in(0), std::numeric_limits<double>::infinity(),
                          [](double a, double b) { return std::min(a, b); });
        })
        .Case(
            [&](MatmulOp m) { return matmul(in(0), in(1), m.getTransposeA(), m.getTransposeB()); })
        .Case([&](LinearOp) {
          Tensor y = matmul(in(0), in(1), false, false);
          return op->getNumOperands() > 2 ? binary(y, in(2), std::plus<>()) : y;
        })
        .Case([&](SoftmaxOp s) { return softmax(in(0), int64_t(s.getAxis()), false); })
        .Case([&](LogSoftmaxOp s) { return softmax(in(0), int64_t(s.getAxis()), true); })
        .Case([&](SoftmaxCrossEntropyOp) {
          Tensor lp = softmax(in(0), 1, true);
          int64_t n = lp.shape[0], c = lp.shape[1];
          double total = 0;
          for (int64_t i = 0; i < n; ++i)
            total -= lp.data[size_t(i * c + int64_t(in(1).data[size_t(i)]))];
          return filled({}, total / double(std::max<int64_t>(n, 1)));
        })
        .Case([&](OneHotOp o) {
          int64_t n = in(0).shape[0], c = int64_t(o.getNumClasses());
          Tensor out = filled({n, c}, 0);
          for (int64_t i = 0; i < n; ++i)
            out.data[size_t(i * c + int64_t(in(0).data[size_t(i)]))] = 1;
          return out;
        })
        .Case([&](MeanSquaredErrorOp) {
          Tensor d = binary(in(0), in(1), [](double a, double b) { return (a - b) * (a - b); });
          double len = d.shape.empty() ? 1.0 : double(d.shape[0]);
          return filled({}, std::accumulate(d.data.begin(), d.data.end(), 0.0) / len);
        })
        // Indexing (ir/DzNNOps.td): flat offsets, or the rows of W at the ids.
        .Case([&](GetItemOp) {
          Tensor out = filled(shapeAttr("shape"), 0);
          for (auto [i, o] : llvm::enumerate(shapeAttr("offsets")))
            out.data[i] = in(0).data[size_t(o)];
          return out;
        })
        .Case([&](GetItemGradOp) {
          Tensor out = filled(shapeAttr("shape"), 0);
          for (auto [i, o] : llvm::enumerate(shapeAttr("offsets")))
            out.data[size_t(o)] += in(0).data[i];
          return out;
        })
        .Case([&](EmbedIdOp e) {
          auto type = cast<RankedTensorType>(e.getType());
          int64_t d = in(1).shape[1];
          Tensor out = filled(type.getShape(), 0);
          for (size_t i = 0; i < in(0).data.size(); ++i)
            for (int64_t j = 0; j < d; ++j)
              out.data[i * size_t(d) + size_t(j)] =
                  in(1).data[size_t(int64_t(in(0).data[i]) * d + j)];
          return out;
        })
        .Case([&](EmbedIdGradOp) {
          Tensor out = filled(shapeAttr("shape"), 0);
          int64_t d = out.shape[1];
          for (size_t i = 0; i < in(0).data.size(); ++i)
            for (int64_t j = 0; j < d; ++j)
              out.data[size_t(int64_t(in(0).data[i]) * d + j)] +=
                  in(1).data[i * size_t(d) + size_t(j)];
          return out;
        })
        .Case([&](Conv2dOp c) {
          auto ys = cast<RankedTensorType>(c.getType()).getShape();
          Window k = windowOf(op, ArrayRef<int64_t>(in(1).shape).drop_front(2));
          Tensor y = conv(ConvPart::Y, in(0), in(1), Tensor(), in(0).shape, in(1).shape, ys, k);
          return op->getNumOperands() > 2
                     ? binary(y, reshaped(in(2), {1, ys[1], 1, 1}), std::plus<>())
                     : y;
        })
        .Case([&](Deconv2dOp d) {
          auto ys = cast<RankedTensorType>(d.getType()).getShape();
          Window k = windowOf(op, ArrayRef<int64_t>(in(1).shape).drop_front(2));
          // The image is the output y, the input x plays conv's output.
          Tensor y = conv(ConvPart::X, Tensor(), in(1), in(0), ys, in(1).shape, in(0).shape, k);
          return op->getNumOperands() > 2
                     ? binary(y, reshaped(in(2), {1, ys[1], 1, 1}), std::plus<>())
                     : y;
        })
        .Case([&](Conv2dGradWOp g) {
          auto ws = cast<RankedTensorType>(g.getType()).getShape();
          Window k = windowOf(op, shapeAttr("kernel"));
          return conv(ConvPart::W, in(0), Tensor(), in(1), in(0).shape, ws, in(1).shape, k);
        })
        .Case([&](MaxPoolingOp p) {
          return pool(Pool::Max, in(0), windowOf(op, shapeAttr("kernel")),
                      cast<RankedTensorType>(p.getType()).getShape());
        })
        .Case([&](MaxPoolingIndexesOp p) {
          return pool(Pool::Indexes, in(0), windowOf(op, shapeAttr("kernel")),
                      cast<RankedTensorType>(p.getType()).getShape());
        })
        .Case([&](AveragePoolingOp p) {
          return pool(Pool::Average, in(0), windowOf(op, shapeAttr("kernel")),
                      cast<RankedTensorType>(p.getType()).getShape());
        })
        .Case([&](MaxPoolingWithIndexesOp p) {
          return poolAt(false, in(0), in(1), windowOf(op, shapeAttr("kernel")), in(0).shape,
                        cast<RankedTensorType>(p.getType()).getShape());
        })
        .Case([&](MaxPoolingGradOp) {
          return poolAt(true, in(0), in(1), windowOf(op, shapeAttr("kernel")), shapeAttr("shape"),
                        in(0).shape);
        })
        .Case([&](AveragePoolingGradOp) {
          // The adjoint of average pooling: each gy / (KH KW) over its window.
          Window k = windowOf(op, shapeAttr("kernel"));
          ArrayRef<int64_t> xs = shapeAttr("shape");
          Tensor out = filled(xs, 0);
          int64_t H = xs[2], W = xs[3], OH = in(0).shape[2], OW = in(0).shape[3];
          for (int64_t nc = 0; nc < xs[0] * xs[1]; ++nc)
            forEachTap(k, OH, OW,
                       [&](int64_t oh, int64_t ow, int64_t, int64_t, int64_t h, int64_t w) {
                         if (h >= 0 && h < H && w >= 0 && w < W)
                           out.data[size_t((nc * H + h) * W + w)] +=
                               in(0).data[size_t((nc * OH + oh) * OW + ow)] / double(k.kh * k.kw);
                       });
          return out;
        })
        .Default([](Operation *) { return std::nullopt; });
  }
};

std::vector<Tensor> makeArgs(func::FuncOp func) {
  std::vector<Tensor> args;
  uint64_t state = 0x9E3779B97F4A7C15ull;
  for (Type type : func.getArgumentTypes()) {
    auto tensor = cast<RankedTensorType>(type);
    Tensor t = filled(tensor.getShape(), 0);
    for (size_t i = 0; i < t.data.size(); ++i) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      double u = double(state >> 11) / double(1ull << 53); // [0, 1)
      t.data[i] = isa<FloatType>(tensor.getElementType()) ? 0.3 + u : double(i % 3);
    }
    args.push_back(std::move(t));
  }
  return args;
}

/// max |want - got| / max(|want|, 1) over every element; infinity when shapes differ.
double maxError(const std::vector<Tensor> &want, const std::vector<Tensor> &got) {
  double worst = 0;
  for (auto [w, g] : llvm::zip_equal(want, got)) {
    if (w.shape != g.shape)
      return std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < w.data.size(); ++i)
      worst = std::max(worst, std::abs(w.data[i] - g.data[i]) / std::max(std::abs(w.data[i]), 1.0));
  }
  return worst;
}

double maxAbs(const std::vector<Tensor> &ts) {
  double m = 0;
  for (const Tensor &t : ts)
    for (double v : t.data)
      m = std::max(m, std::abs(v));
  return m;
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: dz-gradcheck FILE.mlir\n");
    return 2;
  }
  DialectRegistry registry;
  dz::ir::registerAllDialects(registry);
  MLIRContext context(registry);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(argv[1], &context);
  if (!module)
    return 2;

  // The same module after --dz-autodiff and after --dz-pipeline.
  auto transformed = [&](std::function<void(OpPassManager &)> build) {
    OwningOpRef<ModuleOp> copy = module->clone();
    PassManager pm(&context);
    build(pm);
    if (failed(pm.run(*copy)))
      copy = nullptr;
    return copy;
  };
  OwningOpRef<ModuleOp> autodiff =
      transformed([](OpPassManager &pm) { pm.addPass(dz::passes::createAutodiffPass()); });
  // The pipeline's rewrites of the gradients (the interpreter runs no dz.fused).
  OwningOpRef<ModuleOp> pipeline = transformed([](OpPassManager &pm) {
    dz::passes::buildPipeline(pm, {.lower_conv = false, .fuse = false});
  });
  if (!autodiff || !pipeline)
    return 1;

  int failures = 0;
  Interpreter interpreter;
  for (auto func : module->getOps<func::FuncOp>()) {
    std::vector<Tensor> args = makeArgs(func);
    auto reference = interpreter.run(func, args);
    auto fromAutodiff = interpreter.run(autodiff->lookupSymbol<func::FuncOp>(func.getName()), args);
    auto fromPipeline = interpreter.run(pipeline->lookupSymbol<func::FuncOp>(func.getName()), args);
    if (!reference || !fromAutodiff || !fromPipeline) {
      ++failures;
      continue;
    }
    double e1 = maxError(*reference, *fromAutodiff), e2 = maxError(*reference, *fromPipeline);
    bool ok = e1 < 1e-5 && e2 < 1e-5;
    failures += !ok;
    std::printf("%-4s %-24s error: autodiff %.1e, pipeline %.1e (max |gradient| %.2g)\n",
                ok ? "ok" : "FAIL", func.getName().str().c_str(), e1, e2, maxAbs(*reference));
  }
  return failures ? 1 : 0;
}
