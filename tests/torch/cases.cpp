// cases.cpp - the case table of the differential suite: every differentiable F:: function
// and the dz:: tensor ops, with PyTorch's expression for each case. Inputs are float64.
// Deliberate differences name the parts that differ, the reason (docs/eager.md, "Where
// dzc differs from PyTorch") and the book's semantics written in PyTorch.
#include "cases.h"

#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>

namespace dz::torchdiff {
namespace {

namespace F = dz::functions;
using Vars = std::vector<Variable>;
using Fn = std::function<Variable(const Vars &)>;

constexpr double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::nan("");

uint64_t next_seed() {
  static uint64_t seed = 100;
  return seed++;
}

Arg rn(const Shape &s, double scale = 1.0) { return {dz::randn(s, f64, next_seed()) * scale}; }
/// Uniform in [0.5, 2): for log, sqrt, non-integer powers.
Arg pos(const Shape &s) { return {dz::uniform(s, 0.5, 2.0, f64, next_seed())}; }
/// |x| in [0.5, 2) with random signs: denominators.
Arg nonzero(const Shape &s) {
  Tensor m = dz::uniform(s, 0.5, 2.0, f64, next_seed());
  Tensor sign =
      dz::where(dz::randn(s, f64, next_seed()) > 0.0, dz::ones({}, f64), dz::full({}, -1.0, f64));
  return {m * sign};
}
/// Uniform in [lo, hi).
Arg uni(const Shape &s, double lo, double hi) { return {dz::uniform(s, lo, hi, f64, next_seed())}; }
Arg val(const std::vector<double> &v, const Shape &s) { return {Tensor::from(v, s)}; }
Arg val(const std::vector<double> &v) { return {Tensor::from(v)}; }
Arg cst(const Arg &a) { return {a.t, false}; }
Arg labels(const std::vector<int64_t> &v, const Shape &s) {
  return {Tensor::from_i64(v, s), false};
}

/// The special values: zeros of both signs, +-inf, NaN, tiny and large magnitudes.
Arg special() {
  return val({0.0, -0.0, 1.0, -1.0, 0.5, -0.5, -2.5, kInf, -kInf, kNaN, 1e-300, 40.0, -40.0, 3.0});
}

std::string shape_tag(const Shape &s) {
  if (s.empty())
    return "0d";
  std::string r;
  for (size_t i = 0; i < s.size(); ++i)
    r += (i ? "x" : "") + std::to_string(s[i]);
  return r;
}

std::string ints(const std::vector<int64_t> &v) {
  std::string r = "(";
  for (size_t i = 0; i < v.size(); ++i)
    r += (i ? ", " : "") + std::to_string(v[i]);
  return r + (v.size() == 1 ? ",)" : ")");
}

std::string py_bool(bool b) { return b ? "True" : "False"; }

class Table {
public:
  std::vector<Case> cases;

  Case &add(std::string name, std::vector<Arg> args, Fn fn, std::string torch, int order = 2) {
    Case c;
    c.name = std::move(name);
    c.args = std::move(args);
    c.fn = std::move(fn);
    c.torch = std::move(torch);
    c.order = order;
    cases.push_back(std::move(c));
    return cases.back();
  }
};

// A tensor op as a case function: values only (no graph), f64 result.
Fn tensor_op(std::function<Tensor(const std::vector<Tensor> &)> op) {
  return [op](const Vars &vs) {
    std::vector<Tensor> ts;
    for (const Variable &v : vs)
      ts.push_back(v.data());
    Tensor r = op(ts);
    return Variable(is_floating(r.dtype()) ? r : r.to(f64));
  };
}

// ---- elementwise ---------------------------------------------------------------------------

const char *kPowReason = "pow follows C and NumPy at -inf and -0 (pow(-inf, 0.5) = inf, "
                         "pow(-0, -0.5) = inf); PyTorch computes x ** 0.5 as sqrt and "
                         "x ** -0.5 as rsqrt (NaN, -inf)";

void elementwise(Table &t) {
  struct U {
    const char *name;
    Fn fn;
    const char *torch;
    bool positive; // domain of the random cases
  };
  const std::vector<U> unary = {
      {"sin", [](const Vars &v) { return F::sin(v[0]); }, "torch.sin(a0)", false},
      {"cos", [](const Vars &v) { return F::cos(v[0]); }, "torch.cos(a0)", false},
      {"tanh", [](const Vars &v) { return F::tanh(v[0]); }, "torch.tanh(a0)", false},
      {"exp", [](const Vars &v) { return F::exp(v[0]); }, "torch.exp(a0)", false},
      {"log", [](const Vars &v) { return F::log(v[0]); }, "torch.log(a0)", true},
      {"square", [](const Vars &v) { return F::square(v[0]); }, "torch.square(a0)", false},
      {"sqrt", [](const Vars &v) { return F::sqrt(v[0]); }, "torch.sqrt(a0)", true},
      {"erf", [](const Vars &v) { return F::erf(v[0]); }, "torch.erf(a0)", false},
      {"neg", [](const Vars &v) { return F::neg(v[0]); }, "torch.neg(a0)", false},
      {"unary_minus", [](const Vars &v) { return -v[0]; }, "-a0", false},
      {"sigmoid", [](const Vars &v) { return F::sigmoid(v[0]); }, "torch.sigmoid(a0)", false},
      {"relu", [](const Vars &v) { return F::relu(v[0]); }, "torch.relu(a0)", false},
      {"leaky_relu", [](const Vars &v) { return F::leaky_relu(v[0], 0.2); },
       "F.leaky_relu(a0, 0.2)", false},
      {"clip", [](const Vars &v) { return F::clip(v[0], -0.5, 0.5); }, "torch.clamp(a0, -0.5, 0.5)",
       false},
  };
  const std::vector<Shape> shapes = {{}, {1}, {6}, {2, 3}, {0, 3}, {2, 1, 3}};
  for (const U &u : unary) {
    for (const Shape &s : shapes)
      t.add(std::string(u.name) + "/" + shape_tag(s), {u.positive ? pos(s) : rn(s)}, u.fn, u.torch);
    Case &c = t.add(std::string(u.name) + "/special_values", {special()}, u.fn, u.torch, 1);
    if (std::string(u.name) == "relu") {
      c.differs = {Part::Grad};
      c.reason = "relu's gradient at x = NaN is 0 (DeZero's mask x > 0); PyTorch passes it on";
    }
  }
  for (double c : {0.0, 1.0, 2.0, 3.0, -1.0, 0.5, 2.5}) {
    const std::string cs = c == std::floor(c) ? std::to_string(int(c)) : std::to_string(c);
    Fn f = [c](const Vars &v) { return F::pow(v[0], c); };
    const std::string tx = "torch.pow(a0, " + std::to_string(c) + ")";
    const bool integral = c == std::floor(c);
    t.add("pow" + cs + "/2x3", {integral ? rn({2, 3}) : pos({2, 3})}, f, tx);
    t.add("pow" + cs + "/0d", {integral ? rn({}) : pos({})}, f, tx);
    Case &sv = t.add("pow" + cs + "/special_values", {special()}, f, tx, 1);
    if (c >= 0) { // at x = 0: exponents 0, 1, 2 (first and second derivatives)
      Case &z = t.add("pow" + cs + "/at_zero", {val({0.0, -0.0, 0.0}, {3})}, f, tx, 2);
      if (c == 0.5) {
        z.differs = {Part::Grad};
        z.reason = kPowReason;
      }
    }
    if (c == 0.5) {
      sv.differs = {Part::Value, Part::Grad};
      sv.reason = kPowReason;
    }
  }
  t.add(
      "pow_method/2x3", {rn({2, 3})}, [](const Vars &v) { return v[0].pow(3); }, "a0 ** 3");

  // Binary arithmetic: F:: and the operators, broadcasting in every direction.
  struct B {
    const char *name;
    Fn fn;
    const char *torch;
    bool divide;
  };
  const std::vector<B> binary = {
      {"add", [](const Vars &v) { return F::add(v[0], v[1]); }, "a0 + a1", false},
      {"sub", [](const Vars &v) { return F::sub(v[0], v[1]); }, "a0 - a1", false},
      {"mul", [](const Vars &v) { return F::mul(v[0], v[1]); }, "a0 * a1", false},
      {"div", [](const Vars &v) { return F::div(v[0], v[1]); }, "a0 / a1", true},
      {"operator+", [](const Vars &v) { return v[0] + v[1]; }, "a0 + a1", false},
      {"operator-", [](const Vars &v) { return v[0] - v[1]; }, "a0 - a1", false},
      {"operator*", [](const Vars &v) { return v[0] * v[1]; }, "a0 * a1", false},
      {"operator/", [](const Vars &v) { return v[0] / v[1]; }, "a0 / a1", true},
  };
  const std::vector<std::pair<Shape, Shape>> pairs = {
      {{2, 3}, {2, 3}}, {{2, 3}, {3}}, {{2, 1}, {1, 3}}, {{}, {2, 3}},        {{2, 3}, {}},
      {{}, {}},         {{0, 3}, {3}}, {{1}, {0}},       {{3, 1, 2}, {4, 1}}, {{1, 1}, {2, 3}},
  };
  for (const B &b : binary) {
    for (const auto &[s0, s1] : pairs)
      t.add(std::string(b.name) + "/" + shape_tag(s0) + "_" + shape_tag(s1),
            {rn(s0), b.divide ? nonzero(s1) : rn(s1)}, b.fn, b.torch);
    t.add(std::string(b.name) + "/special_values",
          {val({kInf, -kInf, kNaN, 0.0, 1.0, kInf, -0.0, 2.0}),
           val({0.0, 2.0, 1.0, kInf, -0.0, kInf, -3.0, kNaN})},
          b.fn, b.torch, 1);
  }
  // Scalars on either side.
  t.add(
      "scalar/x+2", {rn({2, 3})}, [](const Vars &v) { return v[0] + 2.0; }, "a0 + 2.0");
  t.add(
      "scalar/2-x", {rn({2, 3})}, [](const Vars &v) { return 2.0 - v[0]; }, "2.0 - a0");
  t.add(
      "scalar/x-2", {rn({2, 3})}, [](const Vars &v) { return v[0] - 2.0; }, "a0 - 2.0");
  t.add(
      "scalar/3*x", {rn({2, 3})}, [](const Vars &v) { return 3.0 * v[0]; }, "3.0 * a0");
  t.add(
      "scalar/x*3", {rn({})}, [](const Vars &v) { return v[0] * 3.0; }, "a0 * 3.0");
  t.add(
      "scalar/x/3", {rn({2, 3})}, [](const Vars &v) { return v[0] / 3.0; }, "a0 / 3.0");
  t.add(
      "scalar/3/x", {nonzero({2, 3})}, [](const Vars &v) { return 3.0 / v[0]; }, "3.0 / a0");
  t.add(
      "scalar/2+x", {rn({0, 2})}, [](const Vars &v) { return 2.0 + v[0]; }, "2.0 + a0");
  t.add(
      "composite/x^3+2x-1", {rn({4})},
      [](const Vars &v) { return v[0] * v[0] * v[0] + 2.0 * v[0] - 1.0; },
      "a0 * a0 * a0 + 2.0 * a0 - 1.0");
  t.add(
      "composite/tanh_chain", {rn({2, 3}), rn({3})},
      [](const Vars &v) { return F::tanh(v[0] * v[1]) / (1.0 + F::exp(-v[1])); },
      "torch.tanh(a0 * a1) / (1.0 + torch.exp(-a1))");
}

// ---- shapes ----------------------------------------------------------------------------------

void shapes(Table &t) {
  t.add(
      "reshape/2x3x4_to_6x4", {rn({2, 3, 4})},
      [](const Vars &v) {
        return F::reshape(v[0], {6, 4});
      },
      "a0.reshape(6, 4)");
  t.add(
      "reshape/minus_one", {rn({2, 3, 4})},
      [](const Vars &v) {
        return F::reshape(v[0], {4, -1});
      },
      "a0.reshape(4, -1)");
  t.add(
      "reshape/0d_to_1x1", {rn({})},
      [](const Vars &v) {
        return F::reshape(v[0], {1, 1});
      },
      "a0.reshape(1, 1)");
  t.add(
      "reshape/1_to_0d", {rn({1})}, [](const Vars &v) { return F::reshape(v[0], {}); },
      "a0.reshape(())");
  t.add(
      "reshape/empty", {rn({0, 3})},
      [](const Vars &v) {
        return F::reshape(v[0], {3, 0});
      },
      "a0.reshape(3, 0)");
  t.add(
      "reshape/method", {rn({6})},
      [](const Vars &v) {
        return v[0].reshape({2, 3});
      },
      "a0.reshape(2, 3)");
  for (const std::vector<int64_t> &axes :
       std::vector<std::vector<int64_t>>{{1, 0, 2}, {2, 0, 1}, {0, 2, 1}, {-1, 0, 1}})
    t.add(
        "transpose/" + ints(axes), {rn({2, 3, 4})},
        [axes](const Vars &v) { return F::transpose(v[0], axes); }, "a0.permute" + ints(axes));
  t.add(
      "transpose/reverse", {rn({2, 3, 4})}, [](const Vars &v) { return F::transpose(v[0]); },
      "a0.permute(2, 1, 0)");
  t.add(
      "transpose/T", {rn({2, 3})}, [](const Vars &v) { return v[0].T(); }, "a0.T");
  t.add(
      "transpose/0d", {rn({})}, [](const Vars &v) { return F::transpose(v[0]); }, "a0");
  t.add(
      "transpose/empty", {rn({0, 3})}, [](const Vars &v) { return F::transpose(v[0]); }, "a0.T");
  for (int64_t axis : {0, 1, 2, -1})
    t.add(
        "expand_dims/" + std::to_string(axis), {rn({2, 3})},
        [axis](const Vars &v) { return F::expand_dims(v[0], axis); },
        "a0.unsqueeze(" + std::to_string(axis) + ")");
  t.add(
      "expand_dims/0d", {rn({})}, [](const Vars &v) { return F::expand_dims(v[0], 0); },
      "a0.unsqueeze(0)");
  t.add(
      "flatten/2x3x4", {rn({2, 3, 4})}, [](const Vars &v) { return F::flatten(v[0]); },
      "a0.reshape(2, 12)");
  t.add(
      "flatten/0x3x2", {rn({0, 3, 2})}, [](const Vars &v) { return F::flatten(v[0]); },
      "a0.reshape(0, 6)");
  t.add(
      "broadcast_to/3_to_2x3", {rn({3})},
      [](const Vars &v) {
        return F::broadcast_to(v[0], {2, 3});
      },
      "a0.expand(2, 3)");
  t.add(
      "broadcast_to/1_to_4x2", {rn({1})},
      [](const Vars &v) {
        return F::broadcast_to(v[0], {4, 2});
      },
      "a0.expand(4, 2)");
  t.add(
      "broadcast_to/0d_to_2x2", {rn({})},
      [](const Vars &v) {
        return F::broadcast_to(v[0], {2, 2});
      },
      "a0.expand(2, 2)");
  t.add(
      "broadcast_to/2x1_to_2x0", {rn({2, 1})},
      [](const Vars &v) {
        return F::broadcast_to(v[0], {2, 0});
      },
      "a0.expand(2, 0)");
  t.add(
      "sum_to/2x3_to_3", {rn({2, 3})}, [](const Vars &v) { return F::sum_to(v[0], {3}); },
      "a0.sum(0)");
  t.add(
      "sum_to/2x3_to_2x1", {rn({2, 3})},
      [](const Vars &v) {
        return F::sum_to(v[0], {2, 1});
      },
      "a0.sum(1, keepdim=True)");
  t.add(
      "sum_to/2x3_to_0d", {rn({2, 3})}, [](const Vars &v) { return F::sum_to(v[0], {}); },
      "a0.sum()");
  t.add(
      "sum_to/2x3x4_to_3x1", {rn({2, 3, 4})},
      [](const Vars &v) {
        return F::sum_to(v[0], {3, 1});
      },
      "a0.sum(0).sum(1, keepdim=True)");
  t.add(
      "sum_to/0x3_to_3", {rn({0, 3})}, [](const Vars &v) { return F::sum_to(v[0], {3}); },
      "a0.sum(0)");

  // Indexing (NumPy's rules; PyTorch spells a negative step as flip).
  struct I {
    const char *name;
    IndexList index;
    const char *torch;
  };
  const std::vector<I> items = {
      {"int", {1}, "a0[1]"},
      {"negative_int", {-1}, "a0[-1]"},
      {"slice", {Slice(1, 3)}, "a0[1:3]"},
      {"column", {Slice(), 0}, "a0[:, 0]"},
      {"step2", {Slice(std::nullopt, std::nullopt, 2)}, "a0[::2]"},
      {"reverse", {Slice(), Slice(std::nullopt, std::nullopt, -1)}, "a0.flip(1)"},
      {"array_with_repeats", {Index(std::vector<int64_t>{0, 2, 0})}, "a0[[0, 2, 0]]"},
      {"two_arrays",
       {Index(std::vector<int64_t>{0, 3}), Index(std::vector<int64_t>{2, 1})},
       "a0[[0, 3], [2, 1]]"},
      {"ellipsis", {Ellipsis, 1}, "a0[..., 1]"},
      {"newaxis", {NewAxis, Slice(1, 2)}, "a0[None, 1:2]"},
      {"element", {2, 1}, "a0[2, 1]"},
      {"empty_slice", {Slice(2, 2)}, "a0[2:2]"},
  };
  for (const I &it : items) {
    IndexList idx = it.index;
    t.add(
        std::string("get_item/") + it.name, {rn({4, 3})},
        [idx](const Vars &v) { return F::get_item(v[0], idx); }, it.torch);
  }
  t.add(
      "get_item/operator[]", {rn({4, 3})},
      [](const Vars &v) {
        return v[0][{Slice(0, 2), 2}];
      },
      "a0[0:2, 2]");
  t.add(
      "get_item_grad/array_with_repeats", {rn({3})},
      [](const Vars &v) {
        return F::get_item_grad(v[0], {Index(std::vector<int64_t>{0, 2, 0})}, {4});
      },
      "torch.zeros(4, dtype=torch.float64).index_put((torch.tensor([0, 2, 0]),), a0, "
      "accumulate=True)");
  t.add(
      "get_item_grad/slice", {rn({2, 3})},
      [](const Vars &v) {
        return F::get_item_grad(v[0], {Slice(1, 3)}, {4, 3});
      },
      "F.pad(a0, (0, 0, 1, 1))");
}

// ---- reductions --------------------------------------------------------------------------------

void reductions(Table &t) {
  const std::vector<std::pair<std::vector<int64_t>, bool>> axes_list = {
      {{}, false},   {{}, true},      {{0}, false},  {{1}, true},
      {{-1}, false}, {{0, 2}, false}, {{0, 2}, true}};
  auto dims = [](const std::vector<int64_t> &a, int64_t nd) {
    if (!a.empty())
      return ints(a);
    std::vector<int64_t> all;
    for (int64_t i = 0; i < nd; ++i)
      all.push_back(i);
    return ints(all);
  };
  for (const auto &[axes, keep] : axes_list) {
    const std::string tag = ints(axes) + (keep ? "_keepdims" : "");
    const std::string d = dims(axes, 3), k = py_bool(keep);
    t.add(
        "sum/" + tag, {rn({2, 3, 4})},
        [axes, keep](const Vars &v) { return F::sum(v[0], axes, keep); },
        "a0.sum(" + d + ", keepdim=" + k + ")");
    t.add(
        "mean/" + tag, {rn({2, 3, 4})},
        [axes, keep](const Vars &v) { return F::mean(v[0], axes, keep); },
        "a0.mean(" + d + ", keepdim=" + k + ")");
    t.add(
        "max/" + tag, {rn({2, 3, 4})},
        [axes, keep](const Vars &v) { return F::max(v[0], axes, keep); },
        "torch.amax(a0, " + d + ", keepdim=" + k + ")");
    t.add(
        "min/" + tag, {rn({2, 3, 4})},
        [axes, keep](const Vars &v) { return F::min(v[0], axes, keep); },
        "torch.amin(a0, " + d + ", keepdim=" + k + ")");
  }
  t.add(
      "sum/method", {rn({2, 3})}, [](const Vars &v) { return v[0].sum({1}); }, "a0.sum(1)");
  t.add(
      "average/axis0", {rn({2, 3})}, [](const Vars &v) { return F::average(v[0], {0}); },
      "a0.mean(0)");
  // 0-d and size-1.
  t.add(
      "sum/0d", {rn({})}, [](const Vars &v) { return F::sum(v[0]); }, "a0.sum()");
  t.add(
      "mean/0d", {rn({})}, [](const Vars &v) { return F::mean(v[0]); }, "a0.mean()");
  t.add(
      "max/0d", {rn({})}, [](const Vars &v) { return F::max(v[0]); }, "torch.amax(a0, ())");
  t.add(
      "max/size1", {rn({1, 1})}, [](const Vars &v) { return F::max(v[0], {1}); },
      "torch.amax(a0, (1,))");
  // Empty tensors (NumPy: empty results are fine, a reduction over an empty axis of max/min
  // has no value; the sum of nothing is 0 and the mean NaN).
  t.add(
      "sum/empty_all", {rn({0, 3})}, [](const Vars &v) { return F::sum(v[0]); }, "a0.sum()");
  t.add(
      "sum/empty_axis0", {rn({0, 3})}, [](const Vars &v) { return F::sum(v[0], {0}); },
      "a0.sum(0)");
  t.add(
      "sum/empty_axis1", {rn({0, 3})}, [](const Vars &v) { return F::sum(v[0], {1}); },
      "a0.sum(1)");
  t.add(
      "mean/empty_all", {rn({0, 3})}, [](const Vars &v) { return F::mean(v[0]); }, "a0.mean()");
  t.add(
      "mean/empty_axis0", {rn({0, 3})}, [](const Vars &v) { return F::mean(v[0], {0}); },
      "a0.mean(0)");
  t.add(
      "mean/empty_axis1", {rn({0, 3})}, [](const Vars &v) { return F::mean(v[0], {1}); },
      "a0.mean(1)");
  t.add(
      "max/empty_nonempty_axis", {rn({0, 3})}, [](const Vars &v) { return F::max(v[0], {1}); },
      "torch.amax(a0, (1,))");
  t.add(
      "min/empty_nonempty_axis_keepdims", {rn({0, 3})},
      [](const Vars &v) { return F::min(v[0], {1}, true); }, "torch.amin(a0, (1,), keepdim=True)");
  t.add(
       "max/empty_axis", {rn({0, 3})}, [](const Vars &v) { return F::max(v[0], {0}); },
       "torch.amax(a0, (0,))")
      .error = true;
  t.add(
       "min/empty_all", {rn({0, 3})}, [](const Vars &v) { return F::min(v[0]); },
       "torch.amin(a0, (0, 1))")
      .error = true;
  // NaN and infinities.
  {
    Case &c = t.add(
        "max/nan_and_inf", {val({1.0, kNaN, 3.0, -kInf, kInf, 2.0}, {2, 3})},
        [](const Vars &v) { return F::max(v[0], {1}); }, "torch.amax(a0, (1,))", 1);
    c.differs = {Part::Grad};
    c.reason = "where the maximum is NaN no element equals it, so DeZero's mask gives "
               "gradient 0; PyTorch shares the gradient over a count of 0 (NaN)";
  }
  t.add(
      "sum/nan_and_inf", {val({1.0, kNaN, 3.0, -kInf, kInf, 2.0}, {2, 3})},
      [](const Vars &v) { return F::sum(v[0], {0}); }, "a0.sum(0)", 1);
  // Ties: DeZero gives every tied extremum the whole gradient; PyTorch's amax/amin share
  // it equally among them.
  const char *tie_reason = "all tied maxima (minima) receive the gradient, as in DeZero";
  for (bool is_max : {true, false}) {
    const std::string nm = is_max ? "max" : "min", tf = is_max ? "amax" : "amin";
    Case &c = t.add(
        nm + "/ties_axis1", {val({3.0, 1.0, 3.0, 2.0, 2.0, 0.5, -1.0, -1.0}, {2, 4})},
        [is_max](const Vars &v) { return is_max ? F::max(v[0], {1}) : F::min(v[0], {1}); },
        "torch." + tf + "(a0, (1,))", 2);
    c.differs = {Part::Grad};
    c.reason = tie_reason;
    c.book = "book_" + nm + "(a0, (1,))";
    Case &c2 = t.add(
        nm + "/ties_all", {val({2.0, 2.0, 2.0, -2.0, -2.0, 0.0}, {3, 2})},
        [is_max](const Vars &v) { return is_max ? F::max(v[0]) : F::min(v[0]); },
        "torch." + tf + "(a0, (0, 1))", 2);
    c2.differs = {Part::Grad};
    c2.reason = tie_reason;
    c2.book = "book_" + nm + "(a0)";
  }
  t.add(
      "clip/boundaries", {val({-0.5, 0.5, -0.7, 0.7, 0.0, kInf, -kInf})},
      [](const Vars &v) { return F::clip(v[0], -0.5, 0.5); }, "torch.clamp(a0, -0.5, 0.5)", 1);
}

// ---- linear algebra --------------------------------------------------------------------------

void linalg(Table &t) {
  struct M {
    Shape a, b;
  };
  const std::vector<M> mm = {{{2, 3}, {3, 4}},   {{3}, {3, 4}},          {{2, 3}, {3}},
                             {{3}, {3}},         {{2, 2, 3}, {2, 3, 4}}, {{2, 1, 2, 3}, {3, 3, 2}},
                             {{0, 3}, {3, 4}},   {{2, 0}, {0, 3}},       {{1, 1}, {1, 1}},
                             {{4, 2, 3}, {3, 5}}};
  for (const M &m : mm)
    t.add(
        "matmul/" + shape_tag(m.a) + "@" + shape_tag(m.b), {rn(m.a), rn(m.b)},
        [](const Vars &v) { return F::matmul(v[0], v[1]); }, "torch.matmul(a0, a1)");
  t.add(
      "matmul/method", {rn({2, 3}), rn({3, 2})}, [](const Vars &v) { return v[0].matmul(v[1]); },
      "a0 @ a1");
  t.add(
      "matmul/transposed_a", {rn({3, 2}), rn({3, 4})},
      [](const Vars &v) { return F::matmul(v[0], v[1], true, false); }, "a0.T @ a1");
  t.add(
      "matmul/transposed_b", {rn({2, 3}), rn({4, 3})},
      [](const Vars &v) { return F::matmul(v[0], v[1], false, true); }, "a0 @ a1.T");
  t.add(
      "matmul/transposed_both_batched", {rn({2, 3, 2}), rn({2, 4, 3})},
      [](const Vars &v) { return F::matmul(v[0], v[1], true, true); },
      "a0.transpose(1, 2) @ a1.transpose(1, 2)");
  t.add(
      "matmul/special_values",
      {val({kInf, 1.0, 0.0, kNaN}, {2, 2}), val({0.0, 1.0, 2.0, 3.0}, {2, 2})},
      [](const Vars &v) { return F::matmul(v[0], v[1]); }, "a0 @ a1", 1);
  Fn lin_b = [](const Vars &v) { return F::linear(v[0], v[1], v[2]); };
  Fn lin = [](const Vars &v) { return F::linear(v[0], v[1]); };
  t.add("linear/2d", {rn({4, 3}), rn({3, 2}), rn({2})}, lin_b, "F.linear(a0, a1.T, a2)");
  t.add("linear/2d_nobias", {rn({4, 3}), rn({3, 2})}, lin, "F.linear(a0, a1.T)");
  t.add("linear/3d", {rn({2, 5, 4}), rn({4, 3}), rn({3})}, lin_b, "F.linear(a0, a1.T, a2)");
  t.add("linear/4d_nobias", {rn({2, 1, 3, 4}), rn({4, 3})}, lin, "F.linear(a0, a1.T)");
  t.add("linear/1d", {rn({4}), rn({4, 3}), rn({3})}, lin_b, "F.linear(a0, a1.T, a2)");
  t.add("linear/empty_rows", {rn({0, 4}), rn({4, 3}), rn({3})}, lin_b, "F.linear(a0, a1.T, a2)");
  t.add("linear/3d_empty", {rn({2, 0, 4}), rn({4, 3})}, lin, "F.linear(a0, a1.T)");
}

// ---- activations and losses --------------------------------------------------------------

void nn_functions(Table &t) {
  for (auto [shape, axis] : std::vector<std::pair<Shape, int64_t>>{{{2, 3}, 1},
                                                                   {{2, 3}, 0},
                                                                   {{2, 3}, -1},
                                                                   {{2, 3, 4}, 1},
                                                                   {{}, 0},
                                                                   {{1}, 0},
                                                                   {{0, 3}, 1}}) {
    const std::string tag = shape_tag(shape) + "_axis" + std::to_string(axis);
    t.add(
        "softmax/" + tag, {rn(shape)}, [axis](const Vars &v) { return F::softmax(v[0], axis); },
        "torch.softmax(a0, " + std::to_string(axis) + ")");
    t.add(
        "log_softmax/" + tag, {rn(shape)},
        [axis](const Vars &v) { return F::log_softmax(v[0], axis); },
        "torch.log_softmax(a0, " + std::to_string(axis) + ")");
  }
  const Arg inf_rows = val({1.0, -kInf, -kInf, -kInf, 1000.0, -1000.0, 0.5, kNaN}, {4, 2});
  t.add(
      "softmax/infinities", {inf_rows}, [](const Vars &v) { return F::softmax(v[0], 1); },
      "torch.softmax(a0, 1)", 1);
  t.add(
      "log_softmax/infinities", {inf_rows}, [](const Vars &v) { return F::log_softmax(v[0], 1); },
      "torch.log_softmax(a0, 1)", 1);
  t.add(
      "dropout/test_mode", {rn({2, 3})},
      [](const Vars &v) {
        TestMode tm;
        return F::dropout(v[0], 0.5);
      },
      "F.dropout(a0, 0.5, training=False)");

  // Losses: DeZero averages over the first axis; PyTorch's mean reduction over all elements
  // (the same for 1-d inputs).
  const char *first_axis = "losses are averaged over the first axis, as in DeZero";
  t.add(
      "mean_squared_error/1d", {rn({5}), rn({5})},
      [](const Vars &v) { return F::mean_squared_error(v[0], v[1]); }, "F.mse_loss(a0, a1)");
  t.add(
      "mean_squared_error/0d", {rn({}), rn({})},
      [](const Vars &v) { return F::mean_squared_error(v[0], v[1]); }, "F.mse_loss(a0, a1)");
  for (auto [s0, s1] : std::vector<std::pair<Shape, Shape>>{{{3, 2}, {3, 2}}, {{3, 2}, {2}}}) {
    Case &c = t.add(
        "mean_squared_error/" + shape_tag(s0) + "_" + shape_tag(s1), {rn(s0), rn(s1)},
        [](const Vars &v) { return F::mean_squared_error(v[0], v[1]); }, "((a0 - a1) ** 2).mean()");
    c.differs = {Part::Value, Part::Grad, Part::Grad2};
    c.reason = first_axis;
    c.book = "((a0 - a1) ** 2).sum() / (a0 - a1).shape[0]";
  }
  t.add(
      "mean_squared_error/empty", {rn({0}), rn({0})},
      [](const Vars &v) { return F::mean_squared_error(v[0], v[1]); }, "F.mse_loss(a0, a1)", 1);

  Fn sce = [](const Vars &v) { return F::softmax_cross_entropy(v[0], v[1]); };
  t.add("softmax_cross_entropy/4x3", {rn({4, 3}), labels({0, 2, 1, 2}, {4})}, sce,
        "F.cross_entropy(a0, a1)");
  t.add("softmax_cross_entropy/1x1", {rn({1, 1}), labels({0}, {1})}, sce,
        "F.cross_entropy(a0, a1)");
  t.add("softmax_cross_entropy/large_scores",
        {val({1000.0, 0.0, -1000.0, -800.0, 800.0, 0.0}, {2, 3}), labels({2, 1}, {2})}, sce,
        "F.cross_entropy(a0, a1)");
  t.add("softmax_cross_entropy/no_rows", {rn({0, 3}), labels({}, {0})}, sce,
        "F.cross_entropy(a0, a1)", 1);
  t.add("softmax_cross_entropy/label_out_of_range", {rn({2, 3}), labels({0, 3}, {2})}, sce,
        "F.cross_entropy(a0, a1)")
      .error = true;
  // Float targets of the scores' shape: PyTorch's class probabilities.
  t.add("softmax_cross_entropy/one_hot",
        {rn({4, 3}), cst(val({0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1}, {4, 3}))}, sce,
        "F.cross_entropy(a0, a1)");
  t.add("softmax_cross_entropy/soft_targets",
        {rn({3, 4}),
         cst(val({0.1, 0.2, 0.3, 0.4, 0.25, 0.25, 0.25, 0.25, 0.9, 0.0, 0.05, 0.05}, {3, 4}))},
        sce, "F.cross_entropy(a0, a1)");

  Fn sig = [](const Vars &v) { return F::sigmoid_cross_entropy(v[0], v[1]); };
  t.add("sigmoid_cross_entropy/1d", {rn({6}, 2.0), cst(val({0, 1, 1, 0, 1, 0}))}, sig,
        "F.binary_cross_entropy_with_logits(a0, a1)");
  t.add("sigmoid_cross_entropy/large_scores",
        {val({40.0, 50.0, -50.0, -800.0, 800.0, 0.0, 36.0, -37.5}),
         cst(val({1, 0, 1, 0, 1, 1, 0, 1}))},
        sig, "F.binary_cross_entropy_with_logits(a0, a1)");
  t.add("sigmoid_cross_entropy/soft_targets", {rn({5}), cst(uni({5}, 0, 1))}, sig,
        "F.binary_cross_entropy_with_logits(a0, a1)");
  {
    Case &c = t.add("sigmoid_cross_entropy/2x3", {rn({2, 3}), cst(val({0, 1, 1, 0, 1, 0}, {2, 3}))},
                    sig, "F.binary_cross_entropy_with_logits(a0, a1)");
    c.differs = {Part::Value, Part::Grad, Part::Grad2};
    c.reason = first_axis;
    c.book = "F.binary_cross_entropy_with_logits(a0, a1, reduction='sum') / a0.shape[0]";
  }
  Fn bce = [](const Vars &v) { return F::binary_cross_entropy(v[0], v[1]); };
  t.add("binary_cross_entropy/1d", {uni({6}, 0.05, 0.95), cst(val({0, 1, 1, 0, 1, 0}))}, bce,
        "F.binary_cross_entropy(a0, a1)");
  t.add("binary_cross_entropy/near_one",
        {val({0.9995, 0.999999, 1e-6, 0.5}), cst(val({1, 1, 0, 1}))}, bce,
        "F.binary_cross_entropy(a0, a1)", 1);
  // PyTorch's second derivative of binary_cross_entropy loses digits as p nears 0 or 1 (its
  // formula divides by ((1 - p) p)^2): 4e-9 relative at p = 0.9995, 2e-5 at 1 - 1e-6.
  t.add("binary_cross_entropy/near_one_second_order",
        {val({0.9995, 0.99, 1e-3, 0.5}), cst(val({1, 1, 0, 1}))}, bce,
        "F.binary_cross_entropy(a0, a1)")
      .rtol = 1e-7;
  {
    Case &c =
        t.add("binary_cross_entropy/2x2", {uni({2, 2}, 0.05, 0.95), cst(val({0, 1, 1, 0}, {2, 2}))},
              bce, "F.binary_cross_entropy(a0, a1)");
    c.differs = {Part::Value, Part::Grad, Part::Grad2};
    c.reason = first_axis;
    c.book = "F.binary_cross_entropy(a0, a1, reduction='sum') / a0.shape[0]";
    Case &e = t.add("binary_cross_entropy/ends",
                    {val({0.0, 1.0, 0.0, 1.0, 0.3}), cst(val({1, 0, 0, 1, 1}))}, bce,
                    "F.binary_cross_entropy(a0, a1)", 1);
    e.differs = {Part::Value, Part::Grad};
    e.reason = "binary_cross_entropy clips p to [eps, 1 - eps] (eps 1e-12 in float64), so the "
               "gradient is 0 at p = 0 and 1; PyTorch clamps the logarithm at -100";
    e.book =
        "F.binary_cross_entropy(a0.clamp(1e-12, 1 - 1e-12), a1, reduction='sum') / a0.shape[0]";
  }
  t.add(
      "accuracy/4x3", {rn({4, 3}), labels({0, 2, 1, 1}, {4})},
      [](const Vars &v) { return F::accuracy(v[0], v[1]); }, "(a0.argmax(1) == a1).double().mean()",
      0);
  t.add(
      "accuracy/one_hot", {rn({4, 3}), cst(val({0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 0}, {4, 3}))},
      [](const Vars &v) { return F::accuracy(v[0], v[1]); },
      "(a0.argmax(1) == a1.argmax(1)).double().mean()", 0);
}

// ---- convolution, pooling, normalisation, embedding ----------------------------------------

void nn_layers(Table &t) {
  struct C {
    Shape x, w;
    Size2 s, p;
    bool bias;
  };
  const std::vector<C> convs = {{{2, 3, 5, 5}, {4, 3, 3, 3}, 1, 1, true},
                                {{1, 2, 6, 5}, {3, 2, 3, 3}, 2, 0, false},
                                {{2, 2, 5, 6}, {3, 2, 2, 3}, {2, 1}, {1, 0}, true},
                                {{1, 3, 4, 4}, {2, 3, 1, 1}, 1, 0, true},
                                {{1, 1, 1, 1}, {1, 1, 1, 1}, 1, 0, false}};
  auto pair = [](Size2 v) { return "(" + std::to_string(v.h) + ", " + std::to_string(v.w) + ")"; };
  for (const C &c : convs) {
    const std::string tag = shape_tag(c.x) + "_w" + shape_tag(c.w) + "_s" + std::to_string(c.s.h) +
                            std::to_string(c.s.w) + "_p" + std::to_string(c.p.h) +
                            std::to_string(c.p.w);
    std::vector<Arg> args{rn(c.x), rn(c.w, 0.5)};
    if (c.bias)
      args.push_back(rn({c.w[0]}));
    Size2 s = c.s, p = c.p;
    bool b = c.bias;
    t.add(
        "conv2d/" + tag, args,
        [s, p, b](const Vars &v) {
          return F::conv2d(v[0], v[1], b ? std::optional<Variable>(v[2]) : std::nullopt, s, p);
        },
        std::string("F.conv2d(a0, a1, ") + (b ? "a2" : "None") + ", stride=" + pair(s) +
            ", padding=" + pair(p) + ")");
  }
  t.add(
      "conv2d/empty_batch", {rn({0, 2, 4, 4}), rn({3, 2, 3, 3})},
      [](const Vars &v) { return F::conv2d(v[0], v[1], std::nullopt, 1, 1); },
      "F.conv2d(a0, a1, None, stride=1, padding=1)", 1);
  const std::vector<C> deconvs = {{{2, 3, 4, 4}, {3, 2, 3, 3}, 2, 1, true},
                                  {{1, 2, 3, 5}, {2, 3, 2, 2}, 1, 0, false},
                                  {{1, 2, 3, 3}, {2, 2, 3, 2}, {2, 1}, {1, 0}, true}};
  for (const C &c : deconvs) {
    const std::string tag = shape_tag(c.x) + "_w" + shape_tag(c.w) + "_s" + std::to_string(c.s.h) +
                            std::to_string(c.s.w) + "_p" + std::to_string(c.p.h) +
                            std::to_string(c.p.w);
    std::vector<Arg> args{rn(c.x), rn(c.w, 0.5)};
    if (c.bias)
      args.push_back(rn({c.w[1]}));
    Size2 s = c.s, p = c.p;
    bool b = c.bias;
    t.add(
        "deconv2d/" + tag, args,
        [s, p, b](const Vars &v) {
          return F::deconv2d(v[0], v[1], b ? std::optional<Variable>(v[2]) : std::nullopt, s, p);
        },
        std::string("F.conv_transpose2d(a0, a1, ") + (b ? "a2" : "None") + ", stride=" + pair(s) +
            ", padding=" + pair(p) + ")");
  }
  t.add(
      "conv2d_grad_w/s1_p1", {rn({2, 3, 5, 5}), rn({2, 4, 5, 5})},
      [](const Vars &v) { return F::conv2d_grad_w(v[0], v[1], 3, 1, 1); },
      "torch.nn.grad.conv2d_weight(a0, (4, 3, 3, 3), a1, stride=1, padding=1)", 1);
  t.add(
      "conv2d_grad_w/s2_p0", {rn({1, 2, 6, 5}), rn({1, 3, 2, 2})},
      [](const Vars &v) { return F::conv2d_grad_w(v[0], v[1], 3, 2, 0); },
      "torch.nn.grad.conv2d_weight(a0, (3, 2, 3, 3), a1, stride=2, padding=0)", 1);

  // im2col / col2im against unfold / fold: DeZero's matrix is (N OH OW, C KH KW).
  t.add(
      "im2col/matrix_k3_s2_p1", {rn({2, 3, 5, 5})},
      [](const Vars &v) { return F::im2col(v[0], 3, 2, 1, true); },
      "F.unfold(a0, 3, padding=1, stride=2).transpose(1, 2).reshape(-1, 27)");
  t.add(
      "im2col/tensor_k2_s1_p0", {rn({1, 2, 3, 4})},
      [](const Vars &v) { return F::im2col(v[0], 2, 1, 0, false); },
      "F.unfold(a0, 2, padding=0, stride=1).reshape(1, 2, 2, 2, 2, 3)");
  t.add(
      "col2im/matrix_k3_s2_p1", {rn({18, 27})},
      [](const Vars &v) {
        return F::col2im(v[0], {2, 3, 5, 5}, 3, 2, 1, true);
      },
      "F.fold(a0.reshape(2, 9, 27).transpose(1, 2), (5, 5), 3, padding=1, stride=2)");
  t.add(
      "col2im/tensor_k2_s1_p0", {rn({1, 2, 2, 2, 2, 3})},
      [](const Vars &v) {
        return F::col2im(v[0], {1, 2, 3, 4}, 2, 1, 0, false);
      },
      "F.fold(a0.reshape(1, 8, 6), (3, 4), 2, padding=0, stride=1)");

  // Pooling. Max pooling never takes the padding (PyTorch's and ONNX's -inf).
  struct P {
    const char *name;
    Arg x;
    Size2 k, s, p;
  };
  const std::vector<P> pools = {
      {"k2_s2", rn({2, 3, 6, 6}), 2, 2, 0},
      {"k3_s2_p1", rn({2, 2, 7, 6}), 3, 2, 1},
      {"k2_s1_p1", rn({1, 2, 4, 5}), 2, 1, 1},
      {"k3x2_s2x1_p1x0", rn({1, 2, 7, 6}), {3, 2}, {2, 1}, {1, 0}},
      {"negative_k2_s2_p1", val({-1, -2, -3, -4}, {1, 1, 2, 2}), 2, 2, 1},
      {"negative_k3_s2_p1", {dz::uniform({2, 2, 5, 5}, -3.0, -1.0, f64, 77)}, 3, 2, 1},
      {"ties_k2_s2", val({1, 1, 0, 2, 1, 1, 2, 0, 3, 3, 3, 3, 0, 0, 0, 0}, {1, 1, 4, 4}), 2, 2, 0},
  };
  for (const P &pl : pools) {
    Size2 k = pl.k, s = pl.s, p = pl.p;
    t.add(
        std::string("pooling/") + pl.name, {pl.x},
        [k, s, p](const Vars &v) { return F::pooling(v[0], k, s, p); },
        "F.max_pool2d(a0, " + pair(k) + ", " + pair(s) + ", " + pair(p) + ")");
    t.add(
        std::string("average_pooling/") + pl.name, {pl.x},
        [k, s, p](const Vars &v) { return F::average_pooling(v[0], k, s, p); },
        "F.avg_pool2d(a0, " + pair(k) + ", " + pair(s) + ", " + pair(p) +
            ", count_include_pad=True)");
  }
  t.add(
      "pooling/nan_and_inf", {val({1, kNaN, 0, 2, 3, 4, kInf, -kInf, -1}, {1, 1, 3, 3})},
      [](const Vars &v) { return F::pooling(v[0], 2, 1, 0); }, "F.max_pool2d(a0, 2, 1, 0)", 1);

  // Batch normalisation: DeZero's decay = 1 - momentum and eps = 2e-5.
  Fn bn_train = [](const Vars &v) {
    Tensor rm, rv;
    return F::batch_norm(v[0], v[1], v[2], rm, rv);
  };
  t.add("batch_norm/train_2d", {rn({8, 3}), rn({3}), rn({3})}, bn_train,
        "F.batch_norm(a0, None, None, a1, a2, training=True, eps=2e-5)", 1);
  t.add("batch_norm/train_4d", {rn({2, 3, 4, 4}), rn({3}), rn({3})}, bn_train,
        "F.batch_norm(a0, None, None, a1, a2, training=True, eps=2e-5)", 1);
  Fn bn_test = [](const Vars &v) {
    TestMode tm;
    Tensor rm = v[3].data().copy(), rv = v[4].data().copy();
    return F::batch_norm(v[0], v[1], v[2], rm, rv);
  };
  t.add("batch_norm/test_4d", {rn({2, 3, 4, 4}), rn({3}), rn({3}), cst(rn({3})), cst(pos({3}))},
        bn_test, "F.batch_norm(a0, a3, a4, a1, a2, training=False, eps=2e-5)", 1);

  // The running averages: decay 0.9 is PyTorch's momentum 0.1 (unbiased variance in both).
  t.add(
       "batch_norm/running_averages", {cst(rn({6, 3, 2, 2}))},
       [](const Vars &v) {
         Tensor rm, rv;
         const int64_t C = v[0].shape()[1];
         Variable gamma(dz::ones({C}, f64)), beta(dz::zeros({C}, f64));
         F::batch_norm(v[0], gamma, beta, rm, rv, 0.9);
         std::vector<double> both = rm.to_vector(), var = rv.to_vector();
         both.insert(both.end(), var.begin(), var.end());
         return Variable(Tensor::from(both));
       },
       "bn_running(a0, 0.1)", 0)
      .refuse = "reads the running averages on the host (to_vector) inside the function";

  t.add(
      "embed_id/2x3_ids", {labels({0, 4, 2, 4, 4, 1}, {2, 3}), rn({5, 4})},
      [](const Vars &v) { return F::embed_id(v[0], v[1]); }, "F.embedding(a0, a1)");
  t.add(
      "embed_id/0d_id", {labels({3}, {}), rn({5, 2})},
      [](const Vars &v) { return F::embed_id(v[0], v[1]); }, "F.embedding(a0, a1)");
}

// ---- dz:: tensor ops (values) ----------------------------------------------------------------

void tensor_ops(Table &t) {
  auto op = [&t](std::string name, std::vector<Arg> args,
                 std::function<Tensor(const std::vector<Tensor> &)> f,
                 std::string torch) -> Case & {
    for (Arg &a : args)
      a.grad = false;
    return t.add("tensor/" + name, std::move(args), tensor_op(std::move(f)), std::move(torch), 0);
  };
  using Ts = std::vector<Tensor>;
  op(
      "add_broadcast", {rn({2, 3}), rn({3})}, [](const Ts &a) { return a[0] + a[1]; }, "a0 + a1");
  op(
      "sub_scalar", {rn({2, 3})}, [](const Ts &a) { return a[0] - 1.5; }, "a0 - 1.5");
  op(
      "rsub_scalar", {rn({2, 3})}, [](const Ts &a) { return 1.5 - a[0]; }, "1.5 - a0");
  op(
      "mul_0d", {rn({}), rn({2, 3})}, [](const Ts &a) { return a[0] * a[1]; }, "a0 * a1");
  op(
      "div", {rn({2, 3}), nonzero({2, 1})}, [](const Ts &a) { return a[0] / a[1]; }, "a0 / a1");
  op(
      "rdiv_scalar", {nonzero({3})}, [](const Ts &a) { return 2.0 / a[0]; }, "2.0 / a0");
  op(
      "neg", {special()}, [](const Ts &a) { return -a[0]; }, "-a0");
  op(
      "pow_tensor", {pos({2, 3}), rn({3})}, [](const Ts &a) { return dz::pow(a[0], a[1]); },
      "torch.pow(a0, a1)");
  op(
      "pow_scalar", {special()}, [](const Ts &a) { return dz::pow(a[0], 2.5); },
      "torch.pow(a0, 2.5)");
  op(
      "maximum_nan", {special(), val({1, 1, 1, 1, 1, kNaN, 1, 1, 1, 1, 1, 1, 1, 1})},
      [](const Ts &a) { return dz::maximum(a[0], a[1]); }, "torch.maximum(a0, a1)");
  op(
      "minimum_nan", {special(), val({1, 1, 1, 1, 1, kNaN, 1, 1, 1, 1, 1, 1, 1, 1})},
      [](const Ts &a) { return dz::minimum(a[0], a[1]); }, "torch.minimum(a0, a1)");
  op(
      "maximum_scalar", {rn({2, 3})}, [](const Ts &a) { return dz::maximum(a[0], 0.1); },
      "torch.clamp(a0, min=0.1)");
  op(
      "equal", {val({1, 2, kNaN, 0}), val({1, 3, kNaN, -0.0})},
      [](const Ts &a) { return a[0] == a[1]; }, "(a0 == a1).double()");
  op(
      "not_equal", {val({1, 2, kNaN, 0}), val({1, 3, kNaN, -0.0})},
      [](const Ts &a) { return a[0] != a[1]; }, "(a0 != a1).double()");
  op(
      "less", {special(), rn({14})}, [](const Ts &a) { return a[0] < a[1]; }, "(a0 < a1).double()");
  op(
      "less_equal", {rn({2, 3}), rn({3})}, [](const Ts &a) { return a[0] <= a[1]; },
      "(a0 <= a1).double()");
  op(
      "greater_scalar", {special()}, [](const Ts &a) { return a[0] > 0.0; }, "(a0 > 0).double()");
  op(
      "greater_equal_scalar", {special()}, [](const Ts &a) { return a[0] >= 1.0; },
      "(a0 >= 1).double()");
  op(
      "where", {rn({2, 3}), rn({3}), rn({2, 1})},
      [](const Ts &a) { return dz::where(a[0] > 0.0, a[1], a[2]); }, "torch.where(a0 > 0, a1, a2)");
  op(
      "clip", {special()}, [](const Ts &a) { return dz::clip(a[0], -1.0, 2.0); },
      "torch.clamp(a0, -1.0, 2.0)");
  struct U {
    const char *name;
    Tensor (*f)(const Tensor &);
    const char *torch;
  };
  const std::vector<U> unary = {
      {"exp", dz::exp, "torch.exp(a0)"},    {"log", dz::log, "torch.log(a0)"},
      {"sin", dz::sin, "torch.sin(a0)"},    {"cos", dz::cos, "torch.cos(a0)"},
      {"tanh", dz::tanh, "torch.tanh(a0)"}, {"sqrt", dz::sqrt, "torch.sqrt(a0)"},
      {"abs", dz::abs, "torch.abs(a0)"},    {"square", dz::square, "torch.square(a0)"},
      {"erf", dz::erf, "torch.erf(a0)"},    {"sigmoid", dz::sigmoid, "torch.sigmoid(a0)"},
      {"relu", dz::relu, "torch.relu(a0)"}};
  for (const U &u : unary) {
    auto f = u.f;
    op(
        std::string(u.name) + "_special", {special()}, [f](const Ts &a) { return f(a[0]); },
        u.torch);
    op(
        std::string(u.name) + "_2x3", {rn({2, 3})}, [f](const Ts &a) { return f(a[0]); }, u.torch);
  }
  op(
      "logsumexp_axis1", {rn({3, 4})}, [](const Ts &a) { return dz::logsumexp(a[0], 1, true); },
      "torch.logsumexp(a0, 1, keepdim=True)")
      .refuse = "dz::logsumexp has no dz op; F::log_softmax compiles instead";
  op(
      "logsumexp_axis0", {rn({3, 4})}, [](const Ts &a) { return dz::logsumexp(a[0], 0, false); },
      "torch.logsumexp(a0, 0)")
      .refuse = "dz::logsumexp has no dz op; F::log_softmax compiles instead";
  op(
      "logsumexp_0d", {rn({})}, [](const Ts &a) { return dz::logsumexp(a[0], 0, true); },
      "torch.logsumexp(a0, 0)")
      .refuse = "dz::logsumexp has no dz op; F::log_softmax compiles instead";
  op(
      "logsumexp_infinities", {val({-kInf, -kInf, kInf, 1.0, 2.0, 3.0}, {3, 2})},
      [](const Ts &a) { return dz::logsumexp(a[0], 1, false); }, "torch.logsumexp(a0, 1)")
      .refuse = "dz::logsumexp has no dz op; F::log_softmax compiles instead";
  op(
      "logsumexp_infinities_axis0", {val({-kInf, kInf, 2.0, -kInf, 1.0, 3.0}, {2, 3})},
      [](const Ts &a) { return dz::logsumexp(a[0], 0, false); }, "torch.logsumexp(a0, 0)")
      .refuse = "dz::logsumexp has no dz op; F::log_softmax compiles instead";
  op(
      "softmax_axis0", {rn({3, 4})}, [](const Ts &a) { return dz::softmax(a[0], 0); },
      "torch.softmax(a0, 0)");
  op(
      "sum_axes", {rn({2, 3, 4})},
      [](const Ts &a) {
        return a[0].sum({0, 2}, true);
      },
      "a0.sum((0, 2), keepdim=True)");
  op(
      "mean_empty", {rn({0, 4})}, [](const Ts &a) { return a[0].mean({0}); }, "a0.mean(0)");
  op(
      "max_axis", {rn({2, 3, 4})}, [](const Ts &a) { return a[0].max({1}); },
      "torch.amax(a0, (1,))");
  op(
      "min_empty_result", {rn({0, 4})}, [](const Ts &a) { return a[0].min({1}); },
      "torch.amin(a0, (1,))");
  op(
      "argmax_axis1", {rn({4, 5})}, [](const Ts &a) { return a[0].argmax(1); },
      "a0.argmax(1).double()");
  op(
      "matmul_batched", {rn({2, 1, 3, 4}), rn({3, 4, 2})},
      [](const Ts &a) { return dz::matmul(a[0], a[1]); }, "torch.matmul(a0, a1)");
  op(
      "linear", {rn({4, 3}), rn({3, 2}), rn({2})},
      [](const Ts &a) { return dz::linear(a[0], a[1], &a[2]); }, "F.linear(a0, a1.T, a2)");
  op(
      "softmax_cross_entropy", {rn({4, 3}), labels({0, 2, 1, 2}, {4})},
      [](const Ts &a) { return dz::softmax_cross_entropy(a[0], a[1]); }, "F.cross_entropy(a0, a1)");
  op(
      "one_hot", {labels({0, 3, 1}, {3})}, [](const Ts &a) { return dz::one_hot(a[0], 4); },
      "F.one_hot(a0, 4).double()");
  op(
      "transpose", {rn({2, 3, 4})},
      [](const Ts &a) {
        return a[0].transpose({2, 0, 1});
      },
      "a0.permute(2, 0, 1)");
  op(
      "broadcast_to", {rn({3, 1})},
      [](const Ts &a) {
        return a[0].broadcast_to({2, 3, 4});
      },
      "a0.expand(2, 3, 4)");
  op(
      "sum_to", {rn({2, 3, 4})},
      [](const Ts &a) {
        return a[0].sum_to({3, 1});
      },
      "a0.sum(0).sum(1, keepdim=True)");
  op(
      "reshape", {rn({2, 3, 4})},
      [](const Ts &a) {
        return a[0].reshape({4, -1});
      },
      "a0.reshape(4, -1)");
  op(
      "get_item", {rn({4, 3})},
      [](const Ts &a) {
        return a[0][{Slice(1, 3), -1}];
      },
      "a0[1:3, -1]");
  op(
      "conv2d", {rn({1, 2, 5, 5}), rn({3, 2, 3, 3}), rn({3})},
      [](const Ts &a) { return dz::conv2d(a[0], a[1], &a[2], 2, 1); },
      "F.conv2d(a0, a1, a2, stride=2, padding=1)");
  op(
      "max_pool2d", {rn({1, 2, 5, 5})}, [](const Ts &a) { return dz::max_pool2d(a[0], 3, 2, 1).y; },
      "F.max_pool2d(a0, 3, 2, 1)");
  op(
      "max_pool2d_values", {rn({1, 2, 5, 5}, 1.0)},
      [](const Ts &a) { return dz::max_pool2d_values(a[0] - 3.0, 3, 2, 1); },
      "F.max_pool2d(a0 - 3.0, 3, 2, 1)");
  op(
      "avg_pool2d", {rn({1, 2, 5, 5})}, [](const Ts &a) { return dz::avg_pool2d(a[0], 3, 2, 1); },
      "F.avg_pool2d(a0, 3, 2, 1)");
}

/// The cases dz::compile refuses (with a dz::Error), and why.
void refusals(Table &t) {
  const char *index_tensor = "an index array would be fixed at trace time: dz::compile refuses "
                             "get_item with index tensors (F::embed_id takes ids that change)";
  const char *host_argmax =
      "F::accuracy takes an argmax on the host: a program would keep the first call's result";
  const std::map<std::string, std::string> refused = {
      {"get_item/array_with_repeats", index_tensor},
      {"get_item/two_arrays", index_tensor},
      {"get_item_grad/array_with_repeats", index_tensor},
      {"tensor/softmax_cross_entropy",
       "dz::softmax_cross_entropy on tensors runs dz::logsumexp, which has no dz op; "
       "F::softmax_cross_entropy compiles"},
      {"accuracy/4x3", host_argmax},
      {"accuracy/one_hot", host_argmax},
  };
  size_t found = 0;
  for (Case &c : t.cases)
    if (auto it = refused.find(c.name); it != refused.end()) {
      c.refuse = it->second;
      ++found;
    }
  if (found != refused.size())
    throw std::logic_error("torch_diff: a refusal names a case that is not in the table");
}

} // namespace

std::vector<Case> all_cases() {
  Table t;
  elementwise(t);
  shapes(t);
  reductions(t);
  linalg(t);
  nn_functions(t);
  nn_layers(t);
  tensor_ops(t);
  refusals(t);
  return std::move(t.cases);
}

} // namespace dz::torchdiff
