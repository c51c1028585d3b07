// functions.cpp - the DeZero functions: each Function subclass has its forward (on
// tensors) and its backward (on Variables, with these same functions) side by side.
#include <dzc/functions.h>

#include "tracer.h"

#include <cmath>
#include <map>
#include <mutex>
#include <numeric>
#include <thread>

namespace dz::functions {

namespace {

Variable apply1(const std::shared_ptr<Function> &f, std::vector<Variable> inputs) {
  return f->apply(std::move(inputs))[0];
}

template <typename Fn, typename... Args> Variable call1(std::vector<Variable> in, Args &&...a) {
  return apply1(std::make_shared<Fn>(std::forward<Args>(a)...), std::move(in));
}

/// A constant (no creator) with x's shape, from a tensor mask.
Variable constant(const Tensor &t) { return Variable::constant(t); }

/// The shape of a reduction's result with keepdims, for broadcasting gradients back.
Shape keepdims_shape(const Shape &in, std::vector<int64_t> axes) {
  int64_t nd = int64_t(in.size());
  if (axes.empty())
    return Shape(in.size(), 1);
  Shape s = in;
  for (int64_t a : axes) {
    int64_t ax = a < 0 ? a + nd : a;
    if (ax >= 0 && ax < nd)
      s[size_t(ax)] = 1;
  }
  return s;
}

// ---- elementwise math ------------------------------------------------------------------------

struct PowScalar : Function {
  double c;
  explicit PowScalar(double c_) : c(c_) {}
  std::string name() const override { return "Pow"; }
  FunctionTrace trace() const override {
    return {FunctionTrace::Op, "pow_scalar", {{"exponent", c}}, {}};
  }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    return {dz::pow(xs[0], c)};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    if (c == 0) // d x^0 / dx = 0 everywhere, also at x = 0 (where 0 * x^-1 would be NaN)
      return {Variable::constant(zeros_like(gys[0].data()))};
    return {c * functions::pow(input(0), c - 1) * gys[0]};
  }
};

/// Base of the binary arithmetic functions: records the input shapes and reduces the
/// gradients of broadcast operands with sum_to.
struct Binary : Function {
  Shape s0, s1;
  void record(const std::vector<Tensor> &xs) {
    s0 = xs[0].shape();
    s1 = xs[1].shape();
  }
  std::vector<Variable> reduce(Variable g0, Variable g1) const {
    if (g0.defined() && g0.shape() != s0)
      g0 = sum_to(g0, s0);
    if (g1.defined() && g1.shape() != s1)
      g1 = sum_to(g1, s1);
    return {g0, g1};
  }
};

// ---- the registry's ops (dzc/ops.def) ----------------------------------------------------------

/// The gradient vocabulary of dzc/ops.def on Variables: K(v) is the number v (Variables
/// take it in their dtype), each op is its function here.
namespace vocabulary {
inline double K(double v) { return v; }
#define DZ_UNARY(name, Title, ...)                                                                 \
  inline Variable Title(const Variable &x) { return functions::name(x); }
#define DZ_BINARY(name, Title, ...)                                                                \
  inline Variable Title(const Variable &a, const Variable &b) { return functions::name(a, b); }
#include <dzc/ops.def>
} // namespace vocabulary

// NONE in a gradient column: no gradient flows to that operand.
#define NONE Variable()
#define DZ_UNARY(name_, Title, domain, summary, value, grad, onnx)                                 \
  struct Title##Fn : Function {                                                                    \
    std::string name() const override { return #Title; }                                           \
    FunctionTrace trace() const override { return {FunctionTrace::Op, #name_, {}, {}}; }           \
    std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {                          \
      return {dz::name_(xs[0])};                                                                   \
    }                                                                                              \
    std::vector<Variable> backward(const std::vector<Variable> &gys) override {                    \
      using namespace vocabulary;                                                                  \
      [[maybe_unused]] const Variable &gy = gys[0];                                                \
      [[maybe_unused]] const Variable x = input(0);                                                \
      [[maybe_unused]] const Variable y = output(0);                                               \
      return {grad};                                                                               \
    }                                                                                              \
  };
#define DZ_BINARY(name_, Title, domain, traits, summary, value, grad_a, grad_b, onnx)              \
  struct Title##Fn : Binary {                                                                      \
    std::string name() const override { return #Title; }                                           \
    FunctionTrace trace() const override { return {FunctionTrace::Op, #name_, {}, {}}; }           \
    std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {                          \
      record(xs);                                                                                  \
      return {dz::name_(xs[0], xs[1])};                                                            \
    }                                                                                              \
    std::vector<Variable> backward(const std::vector<Variable> &gys) override {                    \
      using namespace vocabulary;                                                                  \
      [[maybe_unused]] const Variable &gy = gys[0];                                                \
      [[maybe_unused]] const Variable a = input(0), b = input(1);                                  \
      [[maybe_unused]] const Variable y = output(0);                                               \
      return reduce(grad_a, grad_b);                                                               \
    }                                                                                              \
  };
#include <dzc/ops.def>
#undef NONE

// ---- shapes -----------------------------------------------------------------------------------

struct Reshape : Function {
  Shape shape, x_shape;
  explicit Reshape(Shape s) : shape(std::move(s)) {}
  std::string name() const override { return "Reshape"; }
  FunctionTrace trace() const override {
    return {FunctionTrace::Op, "reshape", {{"shape", shape}}, {}};
  }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    x_shape = xs[0].shape();
    return {xs[0].reshape(shape)};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    return {reshape(gys[0], x_shape)};
  }
};

struct Transpose : Function {
  std::vector<int64_t> axes;
  explicit Transpose(std::vector<int64_t> a) : axes(std::move(a)) {}
  std::string name() const override { return "Transpose"; }
  FunctionTrace trace() const override {
    return {FunctionTrace::Op, "transpose", {{"perm", axes}}, {}};
  }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    return {xs[0].transpose(axes)};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    if (axes.empty())
      return {transpose(gys[0])};
    int64_t n = int64_t(axes.size());
    std::vector<int64_t> inv(axes.size());
    for (int64_t i = 0; i < n; ++i)
      inv[size_t((axes[size_t(i)] + n) % n)] = i;
    return {transpose(gys[0], inv)};
  }
};

/// The index of get_item / get_item_grad resolved against `shape` for dz.get_item: the
/// flat offsets are fixed at trace time, so an index tensor (whose values may change from
/// call to call) is refused.
FunctionTrace index_trace(const char *op, const Shape &shape, const IndexList &index) {
  for (const Index &i : index)
    if (std::holds_alternative<std::shared_ptr<const Tensor>>(i.value()))
      throw Error(std::string("dz::compile: F::") + op +
                  " with an index tensor cannot be compiled: its values would be fixed at "
                  "trace time. Index with integers and slices, or use F::embed_id for ids "
                  "that change from call to call");
  IndexPlan plan = plan_index(shape, index);
  Shape result = std::string(op) == "get_item" ? plan.out_shape : shape;
  return {FunctionTrace::Op, op, {{"shape", result}, {"offsets", std::move(plan.offsets)}}, {}};
}

struct GetItem : Function {
  IndexList index;
  Shape x_shape;
  GetItem(IndexList i, Shape s) : index(std::move(i)), x_shape(std::move(s)) {}
  std::string name() const override { return "GetItem"; }
  FunctionTrace trace() const override { return index_trace("get_item", x_shape, index); }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    x_shape = xs[0].shape();
    return {gather(xs[0], plan_index(x_shape, index))};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    return {get_item_grad(gys[0], index, x_shape)};
  }
};

struct GetItemGrad : Function {
  IndexList index;
  Shape in_shape;
  GetItemGrad(IndexList i, Shape s) : index(std::move(i)), in_shape(std::move(s)) {}
  std::string name() const override { return "GetItemGrad"; }
  FunctionTrace trace() const override { return index_trace("get_item_grad", in_shape, index); }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    IndexPlan plan = plan_index(in_shape, index);
    if (xs[0].shape() != plan.out_shape)
      throw Error("get_item_grad: gradient of shape " + shape_str(xs[0].shape()) +
                  " does not match the indexed shape " + shape_str(plan.out_shape));
    return {scatter_add(plan, xs[0])};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    return {get_item(gys[0], index)};
  }
};

// ---- reductions and broadcasting --------------------------------------------------------------

struct Sum : Function {
  std::vector<int64_t> axes;
  bool keepdims;
  Shape x_shape;
  Sum(std::vector<int64_t> a, bool k) : axes(std::move(a)), keepdims(k) {}
  std::string name() const override { return "Sum"; }
  FunctionTrace trace() const override {
    return {FunctionTrace::Op, "sum", {{"axes", axes}, {"keepdims", keepdims}}, {}};
  }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    x_shape = xs[0].shape();
    return {xs[0].sum(axes, keepdims)};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    Variable gy = reshape(gys[0], keepdims_shape(x_shape, axes));
    return {broadcast_to(gy, x_shape)};
  }
};

struct SumTo : Function {
  Shape shape, x_shape;
  explicit SumTo(Shape s) : shape(std::move(s)) {}
  std::string name() const override { return "SumTo"; }
  FunctionTrace trace() const override {
    return {FunctionTrace::Op, "sum_to", {{"shape", shape}}, {}};
  }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    x_shape = xs[0].shape();
    return {xs[0].sum_to(shape)};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    return {broadcast_to(gys[0], x_shape)};
  }
};

struct BroadcastTo : Function {
  Shape shape, x_shape;
  explicit BroadcastTo(Shape s) : shape(std::move(s)) {}
  std::string name() const override { return "BroadcastTo"; }
  FunctionTrace trace() const override {
    return {FunctionTrace::Op, "broadcast_to", {{"shape", shape}}, {}};
  }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    x_shape = xs[0].shape();
    return {xs[0].broadcast_to(shape)};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    return {sum_to(gys[0], x_shape)};
  }
};

/// Max and Min: the gradient flows to every element equal to the result.
struct Extremum : Function {
  std::vector<int64_t> axes;
  bool keepdims, is_max;
  Extremum(std::vector<int64_t> a, bool k, bool mx) : axes(std::move(a)), keepdims(k), is_max(mx) {}
  std::string name() const override { return is_max ? "Max" : "Min"; }
  FunctionTrace trace() const override {
    return {
        FunctionTrace::Op, is_max ? "max" : "min", {{"axes", axes}, {"keepdims", keepdims}}, {}};
  }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    return {is_max ? xs[0].max(axes, keepdims) : xs[0].min(axes, keepdims)};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    Variable x = input(0);
    Shape ks = keepdims_shape(x.shape(), axes);
    Tensor y = output(0).defined() ? output(0).data() : forward({x.data()})[0];
    Tensor cond = (x.data() == y.reshape(ks)).to(x.dtype());
    return {broadcast_to(reshape(gys[0], ks), x.shape()) * constant(cond)};
  }
};

struct Clip : Function {
  double lo, hi;
  Clip(double l, double h) : lo(l), hi(h) {}
  std::string name() const override { return "Clip"; }
  FunctionTrace trace() const override {
    return {FunctionTrace::Op, "clip", {{"min", lo}, {"max", hi}}, {}};
  }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    return {dz::clip(xs[0], lo, hi)};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    const Tensor &x = input(0).data();
    Tensor mask = ((x >= lo).to(x.dtype())) * ((x <= hi).to(x.dtype()));
    return {gys[0] * constant(mask)};
  }
};

// ---- linear algebra -----------------------------------------------------------------------

/// op(a) @ op(b) for 2-d or equal-batch 3-d operands; the gradients are again MatMuls
/// with transpose flags, so no transposed copy is ever made.
struct MatMul : Function {
  bool ta, tb;
  MatMul(bool a, bool b) : ta(a), tb(b) {}
  std::string name() const override { return "MatMul"; }
  FunctionTrace trace() const override {
    return {FunctionTrace::Op, "matmul", {{"transpose_a", ta}, {"transpose_b", tb}}, {}};
  }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    return {dz::matmul(xs[0], xs[1], ta, tb)};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    bool need_a = needs_input_grad(0), need_b = needs_input_grad(1);
    Variable a = input(0), b = input(1), g = gys[0];
    Variable ga, gb;
    if (!ta && !tb) {
      ga = need_a ? matmul(g, b, false, true) : Variable();
      gb = need_b ? matmul(a, g, true, false) : Variable();
    } else if (ta && !tb) {
      ga = need_a ? matmul(b, g, false, true) : Variable();
      gb = need_b ? matmul(a, g, false, false) : Variable();
    } else if (!ta && tb) {
      ga = need_a ? matmul(g, b, false, false) : Variable();
      gb = need_b ? matmul(g, a, true, false) : Variable();
    } else {
      ga = need_a ? matmul(b, g, true, true) : Variable();
      gb = need_b ? matmul(g, a, true, true) : Variable();
    }
    return {ga, gb};
  }
};

/// NumPy matmul with broadcast batch dimensions (ndim > 3 or unequal batches).
struct BatchedMatMul : Function {
  std::string name() const override { return "MatMul"; }
  FunctionTrace trace() const override { return {FunctionTrace::Decompose, "", {}, {}}; }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    return {dz::matmul(xs[0], xs[1])};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    Variable a = input(0), b = input(1), g = gys[0];
    auto swap_last = [](const Variable &v) {
      std::vector<int64_t> axes(size_t(v.ndim()));
      std::iota(axes.begin(), axes.end(), 0);
      std::swap(axes[axes.size() - 1], axes[axes.size() - 2]);
      return transpose(v, axes);
    };
    return {sum_to(matmul(g, swap_last(b)), a.shape()), sum_to(matmul(swap_last(a), g), b.shape())};
  }
};

struct Linear : Function {
  std::string name() const override { return "Linear"; }
  FunctionTrace trace() const override { return {FunctionTrace::Op, "linear", {}, {}}; }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    return {dz::linear(xs[0], xs[1], xs.size() > 2 ? &xs[2] : nullptr)};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    bool need_x = needs_input_grad(0), need_W = needs_input_grad(1);
    Variable x = input(0), W = input(1), g = gys[0];
    std::vector<Variable> gx{need_x ? matmul(g, W, false, true) : Variable(),
                             need_W ? matmul(x, g, true, false) : Variable()};
    if (inputs().size() > 2)
      gx.push_back(sum_to(g, input(2).shape()));
    return gx;
  }
};

// ---- activations ---------------------------------------------------------------------------

struct LeakyReLU : Function {
  double slope;
  explicit LeakyReLU(double s) : slope(s) {}
  std::string name() const override { return "LeakyReLU"; }
  FunctionTrace trace() const override {
    return {FunctionTrace::Op, "leaky_relu", {{"slope", slope}}, {}};
  }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    const Tensor &x = xs[0];
    return {where(x > 0.0, x, x * slope)};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    const Tensor &x = input(0).data();
    Tensor mask = where(x > 0.0, ones({}, x.dtype()), full({}, slope, x.dtype()));
    return {gys[0] * constant(mask)};
  }
};

struct Softmax : Function {
  int64_t axis;
  explicit Softmax(int64_t a) : axis(a) {}
  std::string name() const override { return "Softmax"; }
  FunctionTrace trace() const override {
    return {FunctionTrace::Op, "softmax", {{"axis", axis}}, {}};
  }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    return {dz::softmax(xs[0], axis)};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    Variable y = output(0);
    Variable gx = y * gys[0];
    return {gx - y * sum(gx, {axis}, true)};
  }
};

struct LogSoftmax : Function {
  int64_t axis;
  explicit LogSoftmax(int64_t a) : axis(a) {}
  std::string name() const override { return "LogSoftmax"; }
  FunctionTrace trace() const override {
    return {FunctionTrace::Op, "log_softmax", {{"axis", axis}}, {}};
  }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    return {xs[0] - dz::logsumexp(xs[0], axis, true)};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    Variable y = output(0);
    return {gys[0] - exp(y) * sum(gys[0], {axis}, true)};
  }
};

// ---- losses ---------------------------------------------------------------------------------

struct MeanSquaredError : Function {
  std::string name() const override { return "MeanSquaredError"; }
  FunctionTrace trace() const override { return {FunctionTrace::Op, "mean_squared_error", {}, {}}; }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    Tensor diff = xs[0] - xs[1];
    return {dz::square(diff).sum() / double(diff.ndim() ? diff.len() : 1)};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    Variable diff = input(0) - input(1);
    Variable gy = broadcast_to(gys[0], diff.shape());
    Variable gx0 = gy * diff * (2.0 / double(diff.ndim() ? diff.len() : 1));
    Variable gx1 = -gx0;
    if (gx0.shape() != input(0).shape())
      gx0 = sum_to(gx0, input(0).shape());
    if (gx1.shape() != input(1).shape())
      gx1 = sum_to(gx1, input(1).shape());
    return {gx0, gx1};
  }
};

/// Checks labels for softmax_cross_entropy and returns them as int64, shape (N,).
Tensor checked_labels(const Tensor &x, const Tensor &t) {
  if (x.ndim() != 2)
    throw Error("softmax_cross_entropy: scores must be 2-d (N, C), got shape " +
                shape_str(x.shape()));
  if (is_floating(t.dtype()) || t.dtype() == b8)
    throw Error(std::string("softmax_cross_entropy: labels t must be integer class indices "
                            "(int64), got dtype ") +
                dtype_name(t.dtype()));
  if (t.size() != x.shape(0))
    throw Error("softmax_cross_entropy: " + std::to_string(t.size()) + " labels of shape " +
                shape_str(t.shape()) + " for scores of shape " + shape_str(x.shape()) +
                " (need one label per row: shape (" + std::to_string(x.shape()[0]) + ",))");
  Tensor ti = t.to(i64).reshape({x.shape(0)});
  if (ti.device() != x.device())
    throw Error("softmax_cross_entropy: the labels are on " + ti.device().str() +
                " and the scores on " + x.device().str() + "; move both to one device");
  check_class_labels(ti, x.shape(1), "softmax_cross_entropy");
  return ti;
}

struct SoftmaxCrossEntropy : Function {
  Tensor t; // int64 labels (N,)
  explicit SoftmaxCrossEntropy(Tensor labels) : t(std::move(labels)) {}
  std::string name() const override { return "SoftmaxCrossEntropy"; }
  FunctionTrace trace() const override {
    return {FunctionTrace::Op, "softmax_cross_entropy", {}, {t}};
  }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    return {dz::softmax_cross_entropy(xs[0], t, LabelCheck::Checked)}; // by checked_labels
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    Variable x = input(0);
    int64_t N = x.shape()[0], C = x.shape()[1];
    Tensor onehot = dz::one_hot(t, C, f64, LabelCheck::Checked);
    Variable y = softmax(x, 1);
    Variable scale = gys[0] * (1.0 / double(std::max<int64_t>(N, 1)));
    return {(y - constant(onehot.to(x.dtype()))) * scale};
  }
};

} // namespace

// ---- public functions ---------------------------------------------------------------------

Variable pow(const Variable &x, double c) { return call1<PowScalar>({x}, c); }
#define DZ_UNARY(name, Title, ...)                                                                 \
  Variable name(const Variable &x) { return call1<Title##Fn>({x}); }
#define DZ_BINARY(name, Title, ...)                                                                \
  Variable name(const Variable &a, const Variable &b) { return call1<Title##Fn>({a, b}); }
#include <dzc/ops.def>

Variable reshape(const Variable &x, const Shape &shape) {
  if (x.shape() == shape)
    return x;
  return call1<Reshape>({x}, shape);
}
Variable transpose(const Variable &x, std::vector<int64_t> axes) {
  return call1<Transpose>({x}, std::move(axes));
}
Variable get_item(const Variable &x, const IndexList &index) {
  return call1<GetItem>({x}, index, x.shape());
}
Variable get_item_grad(const Variable &gy, const IndexList &index, const Shape &in_shape) {
  return call1<GetItemGrad>({gy}, index, in_shape);
}
Variable expand_dims(const Variable &x, int64_t axis) {
  return reshape(x, x.data().expand_dims(axis).shape());
}
Variable flatten(const Variable &x) {
  if (x.ndim() < 1)
    throw Error("flatten: needs at least one dimension (N, ...), got a 0-d tensor");
  return reshape(x, {x.shape()[0], shape_size(Shape(x.shape().begin() + 1, x.shape().end()))});
}

Variable sum(const Variable &x, std::vector<int64_t> axes, bool keepdims) {
  return call1<Sum>({x}, std::move(axes), keepdims);
}
Variable sum_to(const Variable &x, const Shape &shape) {
  if (x.shape() == shape)
    return x;
  return call1<SumTo>({x}, shape);
}
Variable broadcast_to(const Variable &x, const Shape &shape) {
  if (x.shape() == shape)
    return x;
  return call1<BroadcastTo>({x}, shape);
}
Variable average(const Variable &x, std::vector<int64_t> axes, bool keepdims) {
  // Divided by the number of elements reduced into each result: over an empty axis that
  // is 0, and the mean is NaN (0 / 0), as in NumPy.
  int64_t count = 1;
  if (axes.empty())
    count = x.size();
  else
    for (int64_t a : axes) {
      const int64_t ax = a < 0 ? a + x.ndim() : a;
      if (ax >= 0 && ax < x.ndim())
        count *= x.shape()[size_t(ax)];
    }
  Variable y = sum(x, axes, keepdims);
  return y * (1.0 / double(count));
}
Variable mean(const Variable &x, std::vector<int64_t> axes, bool keepdims) {
  return average(x, std::move(axes), keepdims);
}
Variable max(const Variable &x, std::vector<int64_t> axes, bool keepdims) {
  return call1<Extremum>({x}, std::move(axes), keepdims, true);
}
Variable min(const Variable &x, std::vector<int64_t> axes, bool keepdims) {
  return call1<Extremum>({x}, std::move(axes), keepdims, false);
}
Variable clip(const Variable &x, double x_min, double x_max) {
  return call1<Clip>({x}, x_min, x_max);
}

Variable matmul(const Variable &a, const Variable &b, bool trans_a, bool trans_b) {
  return call1<MatMul>({a, b}, trans_a, trans_b);
}

Variable matmul(const Variable &a, const Variable &b) {
  if (a.ndim() == 0 || b.ndim() == 0)
    throw Error("matmul: operands must have at least one dimension, got " + shape_str(a.shape()) +
                " @ " + shape_str(b.shape()));
  if (a.ndim() == 1 || b.ndim() == 1) {
    // NumPy's rule for vectors: promote to a matrix, multiply, drop the added axis.
    Variable a2 = a.ndim() == 1 ? reshape(a, {1, a.shape()[0]}) : a;
    Variable b2 = b.ndim() == 1 ? reshape(b, {b.shape()[0], 1}) : b;
    Variable y = matmul(a2, b2);
    Shape out = y.shape();
    if (b.ndim() == 1)
      out.erase(out.end() - 1);
    if (a.ndim() == 1)
      out.erase(out.end() - (b.ndim() == 1 ? 1 : 2));
    return reshape(y, out);
  }
  if (a.ndim() == b.ndim() && a.ndim() <= 3 && (a.ndim() == 2 || a.shape()[0] == b.shape()[0]))
    return matmul(a, b, false, false);
  return call1<BatchedMatMul>({a, b});
}

Variable linear(const Variable &x, const Variable &W, const std::optional<Variable> &b) {
  if (x.ndim() != 2 && x.ndim() >= 1 && W.ndim() == 2) {
    // Any leading axes (as PyTorch's linear): x (..., K) is applied as (prod(...), K), and
    // the result has x's leading axes with M last. In the graph (and in a compiled or
    // exported model) that is a reshape on either side of the 2-d linear.
    const int64_t K = x.shape().back();
    if (K != W.shape()[0])
      throw Error("linear: x " + shape_str(x.shape()) + " and W " + shape_str(W.shape()) +
                  " do not fit (need x (..., K) and W (K, M): the last axis of x is K)");
    Shape out(x.shape().begin(), x.shape().end() - 1);
    const int64_t rows = shape_size(out);
    out.push_back(W.shape()[1]);
    return reshape(linear(reshape(x, {rows, K}), W, b), out);
  }
  if (b && b->defined())
    return call1<Linear>({x, W, *b});
  return call1<Linear>({x, W});
}

Variable leaky_relu(const Variable &x, double slope) { return call1<LeakyReLU>({x}, slope); }
namespace {
void check_axis(const Variable &x, int64_t axis, const char *op) {
  if (axis < -x.ndim() || axis >= std::max<int64_t>(x.ndim(), 1))
    throw Error(std::string(op) + ": axis " + std::to_string(axis) +
                " is out of range for a tensor of shape " + shape_str(x.shape()));
}
} // namespace

// A 0-d x is taken as the one element of its axis 0 (softmax 1, log_softmax 0, as NumPy
// and PyTorch): as (1,) in the graph, so that compiled code sees the same op on a vector.
Variable softmax(const Variable &x, int64_t axis) {
  check_axis(x, axis, "softmax");
  if (x.ndim() == 0)
    return reshape(softmax(reshape(x, {1}), 0), {});
  return call1<Softmax>({x}, axis);
}
Variable log_softmax(const Variable &x, int64_t axis) {
  check_axis(x, axis, "log_softmax");
  if (x.ndim() == 0)
    return reshape(log_softmax(reshape(x, {1}), 0), {});
  return call1<LogSoftmax>({x}, axis);
}

Variable mean_squared_error(const Variable &x0, const Variable &x1) {
  const Shape shape = broadcast_shapes(x0.shape(), x1.shape(), "mean_squared_error");
  if (x0.shape() != shape || x1.shape() != shape) // broadcast in the graph (one dz op type)
    return call1<MeanSquaredError>({broadcast_to(x0, shape), broadcast_to(x1, shape)});
  return call1<MeanSquaredError>({x0, x1});
}

namespace {
/// Float targets (N, C) for scores x (N, C): t as a constant of x's dtype. Targets are data,
/// as int labels are: backward gives them no gradient.
Variable checked_target_distribution(const Variable &x, const Variable &t, const char *op) {
  if (x.ndim() != 2)
    throw Error(std::string(op) + ": scores must be 2-d (N, C), got shape " + shape_str(x.shape()));
  if (t.shape() != x.shape())
    throw Error(std::string(op) + ": float targets of shape " + shape_str(t.shape()) +
                " for scores of shape " + shape_str(x.shape()) +
                " (need one-hot or soft targets of the scores' shape " + shape_str(x.shape()) +
                ", or int64 class labels of shape (" + std::to_string(x.shape()[0]) + ",))");
  if (t.device() != x.device())
    throw Error(std::string(op) + ": the targets are on " + t.device().str() +
                " and the scores on " + x.device().str() + "; move both to one device");
  return Variable::constant(t.data().to(x.dtype()));
}
} // namespace

Variable softmax_cross_entropy(const Variable &x, const Variable &t) {
  if (!is_floating(x.dtype()))
    throw Error(std::string("softmax_cross_entropy: scores must be float32 or float64, got ") +
                dtype_name(x.dtype()));
  if (is_floating(t.dtype())) {
    // One-hot or soft targets: -sum(t log_softmax(x)) / N, whose gradient in x is
    // (softmax(x) sum_c t - t) / N; on one-hot rows that is the int-label loss.
    Variable p = checked_target_distribution(x, t, "softmax_cross_entropy");
    const double N = double(std::max<int64_t>(x.shape()[0], 1));
    return sum(p * log_softmax(x, 1)) * (-1.0 / N);
  }
  Tensor labels = checked_labels(x.data(), t.data());
  return call1<SoftmaxCrossEntropy>({x}, labels);
}

namespace {
/// t as a constant of p's dtype and shape, for the binary losses.
Variable binary_targets(const Variable &p, const Variable &t, const char *op) {
  if (t.size() != p.size())
    throw Error(std::string(op) + ": " + std::to_string(t.size()) + " targets of shape " +
                shape_str(t.shape()) + " for inputs of shape " + shape_str(p.shape()) +
                " (need one target per element)");
  return Variable::constant(t.data().to(p.dtype()).reshape(p.shape()));
}

Variable binary_loss(const Variable &p, const Variable &t) {
  Variable tlog_p = t * log(p) + (1.0 - t) * log(1.0 - p);
  return -1.0 * sum(tlog_p) / double(p.ndim() ? p.len() : 1);
}
} // namespace

Variable sigmoid_cross_entropy(const Variable &x, const Variable &t) {
  Variable tt = binary_targets(x, t, "sigmoid_cross_entropy");
  // The stable form max(x, 0) - x t + log(1 + exp(-|x|)), whose gradient is sigmoid(x) - t
  // (the book's -t log p - (1 - t) log(1 - p) of p = sigmoid(x) overflows for |x| > ~37),
  // with -|x| = x - 2 relu(x), so that it is built from differentiable functions.
  Variable r = relu(x);
  Variable terms = r - x * tt + log(1.0 + exp(x - 2.0 * r));
  return sum(terms) / double(x.ndim() ? x.len() : 1);
}

double binary_cross_entropy_eps(DType dtype) { return dtype == f32 ? 1e-7 : 1e-12; }

Variable binary_cross_entropy(const Variable &p, const Variable &t) {
  Variable tt = binary_targets(p, t, "binary_cross_entropy");
  const double eps = binary_cross_entropy_eps(p.dtype());
  return binary_loss(clip(p, eps, 1.0 - eps), tt);
}

Variable accuracy(const Variable &y, const Variable &t) {
  const bool onehot = is_floating(t.dtype()) && t.ndim() == 2;
  if (y.ndim() != 2 || (onehot ? t.shape() != y.shape() : t.size() != y.shape()[0]))
    throw Error("accuracy: need scores (N, C) and N int labels or one-hot targets (N, C), got " +
                shape_str(y.shape()) + " and " + shape_str(t.shape()));
  if (trace_hook())
    throw Error("accuracy: cannot be compiled (dz::compile has no argmax op, and a traced "
                "argmax would be read once and baked into the program); return the scores "
                "from the compiled function and call F::accuracy on them after the call");
  Tensor pred = y.data().argmax(1);
  Tensor labels = onehot ? t.data().argmax(1) : t.data().to(i64).reshape(pred.shape());
  Tensor hit = (pred == labels).to(f64);
  DType dt = is_floating(y.dtype()) ? y.dtype() : f64;
  return Variable(hit.mean().to(dt));
}

Variable dropout(const Variable &x, double ratio) { return dropout(x, ratio, default_generator()); }

namespace {
/// The RNG state a traced dropout draws its masks from: a tensor (seed, offset) per
/// Generator, made when a trace first draws from it. A compiled call reserves its counters
/// from the Generator (Generator::advance) and passes that (seed, offset) as this state, so
/// eager and compiled calls draw from one stream and manual_seed means the same in both.
/// The map is only read and written under its lock; each thread traces with tensors of
/// its own (two threads may trace dropout from one Generator at once).
struct RngStates {
  std::mutex mu;
  std::map<std::pair<const Generator *, std::thread::id>, Tensor> states;
};
RngStates &rng_states() {
  static RngStates *s = new RngStates; // never destroyed: compiled programs may outlive exit
  return *s;
}
} // namespace

} // namespace dz::functions

namespace dz {
Generator *detail::rng_generator_of(const Tensor &t) {
  auto &rs = functions::rng_states();
  std::lock_guard lock(rs.mu);
  for (const auto &[key, state] : rs.states)
    if (t.shares_storage(state))
      return const_cast<Generator *>(key.first);
  return nullptr;
}
} // namespace dz

namespace dz::detail {

Tensor reserve_rng_state(Generator &gen, int64_t groups, TraceHook *trace) {
  const Generator::Position at = gen.reserve(uint64_t(groups));
  if (!trace)
    return Tensor::from_i64({int64_t(at.seed), int64_t(at.offset)});
  functions::RngStates &rs = functions::rng_states();
  Tensor state;
  {
    std::lock_guard lock(rs.mu);
    state = rs.states.try_emplace({&gen, std::this_thread::get_id()}, Tensor::from_i64({0, 0}))
                .first->second;
  }
  int64_t *s = state.data<int64_t>();
  s[0] = int64_t(at.seed);
  s[1] = int64_t(at.offset);
  return state;
}

void advance_rng_state(const Tensor &state, int64_t groups, TraceHook *trace) {
  if (!trace)
    return;
  const int64_t *s = state.data<int64_t>();
  Tensor next = Tensor::from_i64({s[0], s[1] + groups});
  trace->op("rng_next", {&state}, next, {{"groups", groups}});
  trace->inplace("assign", state, next); // before the write: the old value stays
  Tensor(state).data<int64_t>()[1] += groups;
}

} // namespace dz::detail

namespace dz::functions {

Variable dropout(const Variable &x, double ratio, Generator &gen) {
  if (ratio < 0 || ratio >= 1)
    throw Error("dropout: ratio must be in [0, 1), got " + std::to_string(ratio));
  if (!Config::train())
    return x;
  DType dt = is_floating(x.dtype()) ? x.dtype() : f64;
  Tensor mask;
  {
    // Traced as dz.dropout_mask of the RNG state and dz.rng_next of it (docs/ir.md).
    TraceScope trace;
    // Drawn where x is (on a device by a Philox kernel): the same stream on every device.
    // A trace reserves the counters first, so that it knows which ones the mask used even
    // when other threads draw from the same Generator.
    const int64_t groups = (x.size() + 3) / 4;
    if (!trace) {
      mask = dropout_mask(x.shape(), dt, ratio, gen, x.device());
    } else {
      const Tensor state = detail::reserve_rng_state(gen, groups, trace.operator->());
      const int64_t *s = state.data<int64_t>();
      Generator from{uint64_t(s[0])};
      from.advance(uint64_t(s[1]));
      mask = dropout_mask(x.shape(), dt, ratio, from, x.device());
      trace->op("dropout_mask", {&state}, mask,
                {{"ratio", ratio}, {"shape", x.shape()}, {"dtype", dt}});
      detail::advance_rng_state(state, groups, trace.operator->());
    }
  }
  return x * Variable::constant(mask);
}

} // namespace dz::functions
