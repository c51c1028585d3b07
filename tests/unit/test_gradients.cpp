// test_gradients.cpp - gradient_check of every differentiable function in dzc/functions.h
// (float64, central differences) on several shapes, and of second derivatives.
#include <dzc/dzc.h>
#include <dzc/op_registry.h>

#include "../support/registry_ranges.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace F = dz::functions;
using dz::Index;
using dz::Shape;
using dz::Slice;
using dz::Tensor;
using dz::Variable;
using Vars = std::vector<Variable>;
using dz::utils::MultiFn;

namespace {

// ---- inputs -----------------------------------------------------------------------------

Tensor rn(const Shape &s, uint64_t seed) { return dz::randn(s, dz::f64, seed); }

/// Uniform in [lo, hi): positive inputs for log, sqrt, pow and denominators.
Tensor uni(const Shape &s, double lo, double hi, uint64_t seed) {
  return dz::uniform(s, lo, hi, dz::f64, seed);
}

/// Distinct values 0.25 apart, none within 0.1 of 0, +-0.5 or each other: no ties for
/// max/min, no kinks of relu/leaky_relu/clip within the finite-difference step.
Tensor distinct(const Shape &s, uint64_t seed) {
  const int64_t n = dz::shape_size(s);
  std::vector<double> v(size_t(n), 0.0);
  for (int64_t k = 0; k < n; ++k)
    v[size_t(k)] = double((k * 37 + int64_t(seed)) % n - n / 2) * 0.25 + 0.1;
  return Tensor::from(v, s);
}

Index arr(std::vector<int64_t> v) { return Index(std::move(v)); }

// ---- checking ---------------------------------------------------------------------------

/// y * w with w a fixed random tensor of y's shape: a gradient check of sum(y) alone would
/// seed ones and miss permuted or mis-broadcast gradients (and softmax sums to 1).
Variable weigh(const Variable &y, uint64_t seed) {
  return y * Variable(dz::randn(y.shape(), dz::f64, seed));
}

::testing::AssertionResult GradOk(const MultiFn &f, const std::vector<Tensor> &xs) {
  MultiFn weighted = [f](const Vars &v) { return weigh(f(v), 999); };
  try {
    dz::utils::GradCheckResult r =
        dz::utils::gradient_check(weighted, xs, {.rtol = 1e-4, .atol = 1e-5, .eps = 1e-4});
    if (r)
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << r.report;
  } catch (const std::exception &e) {
    return ::testing::AssertionFailure() << "threw: " << e.what();
  }
}

::testing::AssertionResult GradOk(const std::function<Variable(const Variable &)> &f,
                                  const Tensor &x) {
  return GradOk([f](const Vars &v) { return f(v[0]); }, std::vector<Tensor>{x});
}

/// Clears the gradients of every leaf of y's graph. A backward with create_graph leaves
/// gradients on leaves (the weights of `weigh`, the seeds of an inner backward) whose
/// graphs refer to other leaves; two such leaves referring to each other form a
/// reference cycle that would outlive the check.
void clear_leaf_grads(const Variable &y) {
  std::vector<std::shared_ptr<dz::Function>> todo{y.creator()};
  std::set<const dz::Function *> seen;
  while (!todo.empty()) {
    std::shared_ptr<dz::Function> f = todo.back();
    todo.pop_back();
    if (!f || !seen.insert(f.get()).second)
      continue;
    for (Variable in : f->inputs()) {
      if (in.creator())
        todo.push_back(in.creator());
      else
        in.cleargrad();
    }
  }
}

/// x -> d/dx_wrt sum(w * g(x)), built with create_graph so that gradient_check of it
/// checks the second derivative. gradient_check hands fresh Variables to every call;
/// their grads are cleared after reading so the outer backward starts from zero.
MultiFn grad_of(MultiFn g, size_t wrt = 0) {
  return [g, wrt](const Vars &xs) {
    dz::UsingConfig backprop_on("enable_backprop", true);
    Variable y = weigh(g(xs), 7);
    y.backward({.create_graph = true});
    Variable gx = xs[wrt].grad();
    for (Variable x : xs)
      x.cleargrad();
    clear_leaf_grads(y);
    return gx.defined() ? gx : Variable(dz::zeros_like(xs[wrt].data()));
  };
}

MultiFn unary(Variable (*f)(const Variable &)) {
  return [f](const Vars &v) { return f(v[0]); };
}

const std::vector<Shape> kShapes = {{}, {5}, {2, 3}, {2, 3, 4}};

} // namespace

// ==== gradient checks: elementwise =======================================================

TEST(GradCheck, ElementwiseMathOnSeveralShapes) {
  uint64_t seed = 1;
  for (const Shape &s : kShapes) {
    SCOPED_TRACE(dz::shape_str(s));
    EXPECT_TRUE(GradOk(unary(F::sin), {rn(s, seed++)}));
    EXPECT_TRUE(GradOk(unary(F::cos), {rn(s, seed++)}));
    EXPECT_TRUE(GradOk(unary(F::tanh), {rn(s, seed++)}));
    EXPECT_TRUE(GradOk(unary(F::exp), {rn(s, seed++)}));
    EXPECT_TRUE(GradOk(unary(F::log), {uni(s, 0.5, 2.0, seed++)}));
    EXPECT_TRUE(GradOk(unary(F::square), {rn(s, seed++)}));
    EXPECT_TRUE(GradOk(unary(F::sqrt), {uni(s, 0.5, 2.0, seed++)}));
    EXPECT_TRUE(GradOk(unary(F::neg), {rn(s, seed++)}));
  }
}

TEST(GradCheck, Pow) {
  EXPECT_TRUE(GradOk([](const Variable &x) { return F::pow(x, 3); }, rn({2, 3}, 11)));
  EXPECT_TRUE(GradOk([](const Variable &x) { return F::pow(x, 2.5); }, uni({2, 3}, 0.5, 2, 12)));
  EXPECT_TRUE(GradOk([](const Variable &x) { return F::pow(x, -1.5); }, uni({4}, 0.5, 2, 13)));
  EXPECT_TRUE(GradOk([](const Variable &x) { return F::pow(x, 1); }, rn({4}, 14)));
  EXPECT_TRUE(GradOk([](const Variable &x) { return dz::pow(x, 4); }, rn({}, 15)));
  EXPECT_TRUE(GradOk([](const Variable &x) { return x.pow(0.5); }, uni({3}, 0.5, 2, 16)));
}

TEST(GradCheck, ErfAndItsSecondDerivative) {
  for (const Shape &s : kShapes) {
    SCOPED_TRACE(dz::shape_str(s));
    EXPECT_TRUE(GradOk(unary(F::erf), {rn(s, 21)}));
    EXPECT_TRUE(GradOk(grad_of(unary(F::erf)), {rn(s, 22)}));
  }
}

TEST(GradCheck, ArithmeticWithBroadcasting) {
  const std::vector<std::pair<Shape, Shape>> pairs = {
      {{2, 3}, {2, 3}}, {{3, 1}, {1, 4}},    {{2, 3}, {3}}, {{}, {2, 3}},
      {{2, 3}, {}},     {{2, 1, 4}, {3, 1}}, {{1}, {2, 2}}, {{4, 1}, {4}}};
  uint64_t seed = 100;
  for (const auto &[sa, sb] : pairs) {
    SCOPED_TRACE(dz::shape_str(sa) + " with " + dz::shape_str(sb));
    Tensor a = rn(sa, seed++), b = rn(sb, seed++), bpos = uni(sb, 0.5, 2.0, seed++);
    EXPECT_TRUE(GradOk([](const Vars &v) { return F::add(v[0], v[1]); }, {a, b}));
    EXPECT_TRUE(GradOk([](const Vars &v) { return F::sub(v[0], v[1]); }, {a, b}));
    EXPECT_TRUE(GradOk([](const Vars &v) { return F::mul(v[0], v[1]); }, {a, b}));
    EXPECT_TRUE(GradOk([](const Vars &v) { return F::div(v[0], v[1]); }, {a, bpos}));
    EXPECT_TRUE(
        GradOk([](const Vars &v) { return F::div(v[1], v[0]); }, {uni(sa, 0.5, 2.0, seed++), b}));
    EXPECT_TRUE(GradOk([](const Vars &v) { return v[0] * v[1] - v[0] / v[1] + v[1]; }, {a, bpos}));
  }
}

TEST(GradCheck, OperatorsWithScalarsAndTensors) {
  Tensor x = rn({2, 3}, 200), xpos = uni({2, 3}, 0.5, 2.0, 201);
  Tensor c = rn({3}, 202);
  EXPECT_TRUE(GradOk([](const Variable &v) { return v + 2.0; }, x));
  EXPECT_TRUE(GradOk([](const Variable &v) { return 2.0 + v; }, x));
  EXPECT_TRUE(GradOk([](const Variable &v) { return v - 2.0; }, x));
  EXPECT_TRUE(GradOk([](const Variable &v) { return 2.0 - v; }, x));
  EXPECT_TRUE(GradOk([](const Variable &v) { return v * 3.0; }, x));
  EXPECT_TRUE(GradOk([](const Variable &v) { return 3.0 * v; }, x));
  EXPECT_TRUE(GradOk([](const Variable &v) { return v / 2.0; }, x));
  EXPECT_TRUE(GradOk([](const Variable &v) { return 3.0 / v; }, xpos));
  EXPECT_TRUE(GradOk([](const Variable &v) { return -v; }, x));
  EXPECT_TRUE(GradOk([c](const Variable &v) { return v * c + c; }, x));
  EXPECT_TRUE(GradOk([c](const Variable &v) { return c / v - c * v; }, xpos));
}

// ==== gradient checks: shapes ============================================================

TEST(GradCheck, ReshapeTransposeExpandDimsFlatten) {
  Tensor x = rn({2, 3, 4}, 300);
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::reshape(v, {4, 6}); }, x));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::reshape(v, {-1, 3}); }, x));
  EXPECT_TRUE(GradOk([](const Variable &v) { return v.reshape({24}); }, x));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::transpose(v); }, x));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::transpose(v, {1, 0, 2}); }, x));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::transpose(v, {2, 0, 1}); }, x));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::transpose(v, {-1, 0, 1}); }, x));
  EXPECT_TRUE(GradOk([](const Variable &v) { return v.T(); }, rn({3, 5}, 301)));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::expand_dims(v, 0); }, x));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::expand_dims(v, 2); }, x));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::expand_dims(v, -1); }, x));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::flatten(v); }, x));
}

TEST(GradCheck, GetItem) {
  const Tensor x2 = rn({4, 5}, 400), x3 = rn({3, 4, 5}, 401);
  const std::vector<std::pair<std::string, dz::IndexList>> cases2 = {
      {"x[1]", {1}},
      {"x[-1]", {-1}},
      {"x[1, 2]", {1, 2}},
      {"x[1:3]", {Slice(1, 3)}},
      {"x[::2]", {Slice(std::nullopt, std::nullopt, 2)}},
      {"x[::-1]", {Slice(std::nullopt, std::nullopt, -1)}},
      {"x[3:0:-2, 1::2]", {Slice(3, 0, -2), Slice(1, std::nullopt, 2)}},
      {"x[[0, 2, 0]]", {arr({0, 2, 0})}},
      {"x[:, [1, 1, 3]]", {Slice(), arr({1, 1, 3})}},
      {"x[[0, 1, 1], [2, 2, 4]]", {arr({0, 1, 1}), arr({2, 2, 4})}},
      {"x[[[0, 1], [1, 3]]]", {Index(Tensor::from_i64({0, 1, 1, 3}, {2, 2}))}},
      {"x[None, 0:2]", {dz::NewAxis, Slice(0, 2)}},
      {"x[..., 2]", {dz::Ellipsis, 2}},
  };
  for (const auto &[text, index] : cases2) {
    SCOPED_TRACE(text);
    EXPECT_TRUE(GradOk([idx = index](const Variable &v) { return F::get_item(v, idx); }, x2));
  }
  const std::vector<std::pair<std::string, dz::IndexList>> cases3 = {
      {"x[..., 1]", {dz::Ellipsis, 1}},
      {"x[1, ...]", {1, dz::Ellipsis}},
      {"x[:, 1:3, ::2]", {Slice(), Slice(1, 3), Slice(std::nullopt, std::nullopt, 2)}},
      {"x[2, [0, 0, 3], 1:]", {2, arr({0, 0, 3}), Slice(1, std::nullopt)}},
      {"x[..., [4, 4]]", {dz::Ellipsis, arr({4, 4})}},
  };
  for (const auto &[text, index] : cases3) {
    SCOPED_TRACE(text);
    EXPECT_TRUE(GradOk([idx = index](const Variable &v) { return F::get_item(v, idx); }, x3));
  }
  EXPECT_TRUE(GradOk([](const Variable &v) { return v[{Slice(1, 3), 0}]; }, x2));
}

TEST(GradCheck, GetItemGrad) {
  struct Case {
    std::string text;
    dz::IndexList index;
    Shape in_shape, out_shape;
  };
  const std::vector<Case> cases = {
      {"x[1]", {1}, {4, 5}, {5}},
      {"x[::2]", {Slice(std::nullopt, std::nullopt, 2)}, {4, 5}, {2, 5}},
      {"x[[0, 2, 0]]", {arr({0, 2, 0})}, {4, 5}, {3, 5}},
      {"x[[0, 1, 1], [2, 2, 2]]", {arr({0, 1, 1}), arr({2, 2, 2})}, {4, 5}, {3}},
      {"x[..., 1]", {dz::Ellipsis, 1}, {3, 4, 5}, {3, 4}},
  };
  uint64_t seed = 450;
  for (const Case &c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_TRUE(
        GradOk([c](const Variable &gy) { return F::get_item_grad(gy, c.index, c.in_shape); },
               rn(c.out_shape, seed++)));
  }
}

// ==== gradient checks: reductions and broadcasting =======================================

TEST(GradCheck, SumMeanAverageOverAxes) {
  struct Case {
    std::vector<int64_t> axes;
    bool keepdims;
  };
  const std::vector<Case> cases = {{{}, false},      {{}, true},      {{0}, false},   {{1}, false},
                                   {{2}, true},      {{0, 2}, false}, {{0, 2}, true}, {{-1}, false},
                                   {{-3, -1}, true}, {{1, 2}, false}};
  const Tensor x = rn({2, 3, 4}, 500);
  for (const Case &c : cases) {
    std::string axes = "axes";
    for (int64_t a : c.axes) {
      axes += ' ';
      axes += std::to_string(a);
    }
    SCOPED_TRACE(axes + (c.keepdims ? " keepdims" : ""));
    EXPECT_TRUE(GradOk([c](const Variable &v) { return F::sum(v, c.axes, c.keepdims); }, x));
    EXPECT_TRUE(GradOk([c](const Variable &v) { return F::mean(v, c.axes, c.keepdims); }, x));
    EXPECT_TRUE(GradOk([c](const Variable &v) { return F::average(v, c.axes, c.keepdims); }, x));
    EXPECT_TRUE(GradOk([c](const Variable &v) { return v.sum(c.axes, c.keepdims); }, x));
  }
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::sum(v, {0}); }, rn({4, 3}, 501)));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::sum(v, {1}, true); }, rn({4, 3}, 502)));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::sum(v); }, rn({}, 503)));
}

TEST(GradCheck, MaxMinOverAxes) {
  struct Case {
    std::vector<int64_t> axes;
    bool keepdims;
  };
  const std::vector<Case> cases = {{{}, false},  {{0}, false},   {{1}, true},
                                   {{2}, false}, {{0, 2}, true}, {{-1}, false}};
  const Tensor x = distinct({2, 3, 5}, 3);
  for (const Case &c : cases) {
    SCOPED_TRACE("axes " + std::to_string(c.axes.size()) + (c.keepdims ? " keepdims" : ""));
    EXPECT_TRUE(GradOk([c](const Variable &v) { return F::max(v, c.axes, c.keepdims); }, x));
    EXPECT_TRUE(GradOk([c](const Variable &v) { return F::min(v, c.axes, c.keepdims); }, x));
    EXPECT_TRUE(GradOk([c](const Variable &v) { return v.max(c.axes, c.keepdims); }, x));
    EXPECT_TRUE(GradOk([c](const Variable &v) { return v.min(c.axes, c.keepdims); }, x));
  }
}

TEST(GradCheck, SumToAndBroadcastTo) {
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::sum_to(v, {1, 3}); }, rn({2, 3}, 600)));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::sum_to(v, {3}); }, rn({2, 3}, 601)));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::sum_to(v, {2, 1}); }, rn({2, 3}, 602)));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::sum_to(v, {3, 1}); }, rn({2, 3, 4}, 603)));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::sum_to(v, {}); }, rn({2, 3}, 604)));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::sum_to(v, {2, 3}); }, rn({2, 3}, 605)));
  EXPECT_TRUE(GradOk(
      [](const Variable &v) {
        return F::broadcast_to(v, {3, 4});
      },
      rn({3, 1}, 610)));
  EXPECT_TRUE(GradOk(
      [](const Variable &v) {
        return F::broadcast_to(v, {2, 3, 4});
      },
      rn({3, 1}, 611)));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::broadcast_to(v, {2, 3}); }, rn({3}, 612)));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::broadcast_to(v, {2, 3}); }, rn({}, 613)));
  EXPECT_TRUE(GradOk(
      [](const Variable &v) {
        return F::broadcast_to(v, {2, 3});
      },
      rn({2, 3}, 614)));
}

TEST(GradCheck, ClipAwayFromItsEdges) {
  const Tensor x = distinct({4, 5}, 1); // values ..., -0.4, -0.15, 0.1, 0.35, 0.6, ...
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::clip(v, -0.5, 0.5); }, x));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::clip(v, -10, 10); }, x));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::clip(v, 0.0, 1.0); }, x));
}

// ==== gradient checks: linear algebra ====================================================

TEST(GradCheck, Matmul) {
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::matmul(v[0], v[1]); },
                     {rn({3, 4}, 700), rn({4, 5}, 701)}));
  EXPECT_TRUE(
      GradOk([](const Vars &v) { return v[0].matmul(v[1]); }, {rn({1, 4}, 702), rn({4, 1}, 703)}));
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::matmul(v[0], v[1], true, false); },
                     {rn({4, 3}, 704), rn({4, 5}, 705)}));
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::matmul(v[0], v[1], false, true); },
                     {rn({3, 4}, 706), rn({5, 4}, 707)}));
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::matmul(v[0], v[1], true, true); },
                     {rn({4, 3}, 708), rn({5, 4}, 709)}));
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::matmul(v[0], v[1]); },
                     {rn({2, 3, 4}, 710), rn({2, 4, 5}, 711)}));
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::matmul(v[0], v[1], true, false); },
                     {rn({2, 4, 3}, 712), rn({2, 4, 5}, 713)}));
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::matmul(v[0], v[1], false, true); },
                     {rn({2, 3, 4}, 714), rn({2, 5, 4}, 715)}));
}

TEST(GradCheck, MatmulWithBroadcastBatch) {
  // NumPy semantics (tensor.h: batch dims broadcast): (2, 3, 4) @ (4, 5).
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::matmul(v[0], v[1]); },
                     {rn({2, 3, 4}, 720), rn({4, 5}, 721)}));
}

TEST(GradCheck, LinearWithAndWithoutBias) {
  const Tensor x = rn({3, 4}, 800), W = rn({4, 5}, 801), b = rn({5}, 802);
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::linear(v[0], v[1], v[2]); }, {x, W, b}));
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::linear(v[0], v[1]); }, {x, W}));
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::linear(v[0], v[1], std::nullopt); }, {x, W}));
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::linear(v[0], v[1], v[2]); },
                     {rn({1, 4}, 803), rn({4, 1}, 804), rn({1}, 805)}));
}

// ==== gradient checks: activations =======================================================

TEST(GradCheck, Activations) {
  const Tensor x = rn({3, 4}, 900), xd = distinct({3, 4}, 5);
  EXPECT_TRUE(GradOk(unary(F::sigmoid), {x}));
  EXPECT_TRUE(GradOk(unary(F::sigmoid), {rn({2, 3, 4}, 901)}));
  EXPECT_TRUE(GradOk(unary(F::relu), {xd}));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::leaky_relu(v); }, xd));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::leaky_relu(v, 0.01); }, xd));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::leaky_relu(v, 0.5); }, xd));
}

TEST(GradCheck, SoftmaxAndLogSoftmaxOnAxes) {
  const Tensor x = rn({3, 4}, 950), x3 = rn({2, 3, 4}, 951);
  for (int64_t axis : {0, 1, -1}) {
    SCOPED_TRACE("axis " + std::to_string(axis));
    EXPECT_TRUE(GradOk([axis](const Variable &v) { return F::softmax(v, axis); }, x));
    EXPECT_TRUE(GradOk([axis](const Variable &v) { return F::log_softmax(v, axis); }, x));
  }
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::softmax(v); }, x));
  EXPECT_TRUE(GradOk([](const Variable &v) { return F::log_softmax(v); }, x));
  for (int64_t axis : {0, 1, 2}) {
    SCOPED_TRACE("3-d axis " + std::to_string(axis));
    EXPECT_TRUE(GradOk([axis](const Variable &v) { return F::softmax(v, axis); }, x3));
    EXPECT_TRUE(GradOk([axis](const Variable &v) { return F::log_softmax(v, axis); }, x3));
  }
}

// ==== gradient checks: losses ============================================================

TEST(GradCheck, MeanSquaredError) {
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::mean_squared_error(v[0], v[1]); },
                     {rn({4, 3}, 1000), rn({4, 3}, 1001)}));
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::mean_squared_error(v[0], v[1]); },
                     {rn({6}, 1002), rn({6}, 1003)}));
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::mean_squared_error(v[0], v[1]); },
                     {rn({5, 1}, 1004), rn({5, 1}, 1005)}));
}

TEST(GradCheck, SoftmaxCrossEntropyWithInt64Labels) {
  const Tensor t = Tensor::from_i64({0, 2, 1, 2});
  EXPECT_TRUE(GradOk([t](const Variable &x) { return F::softmax_cross_entropy(x, Variable(t)); },
                     rn({4, 3}, 1100)));
  EXPECT_TRUE(GradOk([t](const Variable &x) { return F::softmax_cross_entropy(x, Variable(t)); },
                     Tensor::from({100, 0, -100, 3, 2, 1, 0.5, 0.25, 0, -50, 50, 0}, {4, 3})));
  // Labels as a (non-floating, hence unchecked) input of gradient_check.
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::softmax_cross_entropy(v[0], v[1]); },
                     {rn({4, 3}, 1101), t}));
  EXPECT_TRUE(GradOk(
      [](const Variable &x) {
        return F::softmax_cross_entropy(x, Variable(Tensor::from_i64({4})));
      },
      rn({1, 5}, 1102)));
}

TEST(GradCheck, SigmoidCrossEntropy) {
  const Tensor t = Tensor::from_i64({0, 1, 1, 0, 1});
  EXPECT_TRUE(GradOk([t](const Variable &x) { return F::sigmoid_cross_entropy(x, Variable(t)); },
                     rn({5}, 1200)));
  const Tensor t2 = Tensor::from_i64({0, 1, 1, 0, 1, 1}, {3, 2});
  EXPECT_TRUE(GradOk([t2](const Variable &x) { return F::sigmoid_cross_entropy(x, Variable(t2)); },
                     rn({3, 2}, 1201)));
}

TEST(GradCheck, BinaryCrossEntropy) {
  const Tensor t = Tensor::from_i64({0, 1, 1, 0, 1});
  EXPECT_TRUE(GradOk([t](const Variable &p) { return F::binary_cross_entropy(p, Variable(t)); },
                     uni({5}, 0.1, 0.9, 1300)));
  const Tensor tf = Tensor::from({0, 1, 1, 0}, {4, 1});
  EXPECT_TRUE(GradOk([tf](const Variable &p) { return F::binary_cross_entropy(p, Variable(tf)); },
                     uni({4, 1}, 0.1, 0.9, 1301)));
}

// ==== gradient checks: dropout ===========================================================

TEST(GradCheck, DropoutWithAFixedMask) {
  const Tensor x = rn({4, 6}, 1400);
  for (double ratio : {0.1, 0.5, 0.8}) {
    SCOPED_TRACE("ratio " + std::to_string(ratio));
    EXPECT_TRUE(GradOk(
        [ratio](const Variable &v) {
          dz::Generator gen(1234);
          return F::dropout(v, ratio, gen);
        },
        x));
  }
  {
    dz::TestMode test_mode;
    EXPECT_TRUE(GradOk([](const Variable &v) { return F::dropout(v, 0.5); }, x));
  }
}

// ==== gradient checks: second (and third) derivatives ====================================

TEST(GradCheck, SecondDerivativesOfElementwiseFunctions) {
  const Tensor x = rn({2, 3}, 1500), xpos = uni({2, 3}, 0.5, 2.0, 1501);
  EXPECT_TRUE(GradOk(grad_of(unary(F::sin)), {x}));
  EXPECT_TRUE(GradOk(grad_of(unary(F::cos)), {x}));
  EXPECT_TRUE(GradOk(grad_of(unary(F::tanh)), {x}));
  EXPECT_TRUE(GradOk(grad_of(unary(F::exp)), {x}));
  EXPECT_TRUE(GradOk(grad_of(unary(F::log)), {xpos}));
  EXPECT_TRUE(GradOk(grad_of(unary(F::sqrt)), {xpos}));
  EXPECT_TRUE(GradOk(grad_of(unary(F::sigmoid)), {x}));
  EXPECT_TRUE(GradOk(grad_of([](const Vars &v) { return F::pow(v[0], 3); }), {x}));
  EXPECT_TRUE(GradOk(grad_of(grad_of(unary(F::tanh))), {x}));
  EXPECT_TRUE(GradOk(grad_of(grad_of(unary(F::sin))), {x}));
}

TEST(GradCheck, SecondDerivativesOfBinaryFunctions) {
  const Tensor a = rn({3, 1}, 1600), b = uni({1, 4}, 0.5, 2.0, 1601);
  MultiFn mul = [](const Vars &v) { return v[0] * v[0] * v[1]; };
  MultiFn div = [](const Vars &v) { return F::div(v[0], v[1]); };
  for (size_t wrt : {0, 1}) {
    SCOPED_TRACE("wrt input " + std::to_string(wrt));
    EXPECT_TRUE(GradOk(grad_of(mul, wrt), {a, b}));
    EXPECT_TRUE(GradOk(grad_of(div, wrt), {a, b}));
  }
}

TEST(GradCheck, SecondDerivativesOfShapeAndReductionFunctions) {
  const Tensor x = rn({3, 4}, 1700), xd = distinct({3, 4}, 7);
  // The square makes the second derivative non-zero and routes it through the op.
  EXPECT_TRUE(GradOk(grad_of([](const Vars &v) { return F::square(F::sum(v[0], {1})); }), {x}));
  EXPECT_TRUE(
      GradOk(grad_of([](const Vars &v) { return F::square(F::mean(v[0], {0}, true)); }), {x}));
  EXPECT_TRUE(GradOk(grad_of([](const Vars &v) {
                       return F::square(F::broadcast_to(F::sum(v[0], {0}), {2, 4}));
                     }),
                     {x}));
  EXPECT_TRUE(GradOk(grad_of([](const Vars &v) {
                       return F::square(F::sum_to(v[0], {1, 4}));
                     }),
                     {x}));
  EXPECT_TRUE(GradOk(grad_of([](const Vars &v) {
                       return F::square(F::get_item(v[0], {arr({0, 2, 0}), Slice(1, 3)}));
                     }),
                     {x}));
  EXPECT_TRUE(GradOk(grad_of([](const Vars &v) {
                       return F::square(F::transpose(F::reshape(v[0], {2, 6})));
                     }),
                     {x}));
  EXPECT_TRUE(GradOk(grad_of([](const Vars &v) { return F::square(F::max(v[0], {1})); }), {xd}));
}

TEST(GradCheck, SecondDerivativesOfMatmulLinearAndLosses) {
  const Tensor x = rn({3, 4}, 1800), W = rn({4, 2}, 1801), b = rn({2}, 1802);
  MultiFn lin = [](const Vars &v) { return F::tanh(F::linear(v[0], v[1], v[2])); };
  MultiFn mm = [](const Vars &v) { return F::matmul(v[0], v[1]); }; // d2/dx2 = 0
  for (size_t wrt : {0, 1, 2}) {
    SCOPED_TRACE("linear wrt input " + std::to_string(wrt));
    EXPECT_TRUE(GradOk(grad_of(lin, wrt), {x, W, b}));
  }
  EXPECT_TRUE(GradOk(grad_of(mm, 0), {x, W}));
  EXPECT_TRUE(GradOk(grad_of(mm, 1), {x, W}));
  const Tensor t = Tensor::from_i64({1, 0, 1});
  EXPECT_TRUE(GradOk(grad_of([t](const Vars &v) {
                       return F::softmax_cross_entropy(F::matmul(v[0], v[1]), Variable(t));
                     }),
                     {x, W}));
  EXPECT_TRUE(GradOk(grad_of([](const Vars &v) { return F::mean_squared_error(v[0], v[1]); }),
                     {rn({3, 2}, 1803), rn({3, 2}, 1804)}));
  EXPECT_TRUE(GradOk(grad_of([](const Vars &v) { return F::softmax(v[0], 1); }), {x}));
  EXPECT_TRUE(GradOk(grad_of([](const Vars &v) { return F::log_softmax(v[0], 0); }), {x}));
}

// ==== gradient_check itself ==============================================================

namespace {
/// y = x^2 with a wrong derivative (3x instead of 2x).
struct WrongSquare : dz::Function {
  std::string name() const override { return "WrongSquare"; }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override { return {xs[0] * xs[0]}; }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    return {gys[0] * input(0) * 3.0};
  }
};
} // namespace

TEST(GradCheck, ReportsTheWorstElementOfAWrongBackward) {
  auto r =
      dz::utils::gradient_check([](const Variable &x) { return dz::call<WrongSquare>({x})[0]; },
                                Tensor::from({1.0, -2.0, 0.5}));
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(bool(r));
  EXPECT_NEAR(r.max_abs_error, 2.0, 1e-6); // |(-6) - (-4)|
  EXPECT_NE(r.report.find("input 0"), std::string::npos) << r.report;
  EXPECT_NE(r.report.find("(3,)"), std::string::npos) << r.report;
  EXPECT_NE(r.report.find("(1,)"), std::string::npos) << r.report; // the worst element
}

TEST(GradCheck, PassesOnACorrectFunctionAndConvertsToFloat64) {
  auto r = dz::utils::gradient_check([](const Variable &x) { return F::sin(x) * x; },
                                     dz::randn({3, 2}, dz::f32, 3));
  EXPECT_TRUE(r.ok) << r.report;
  EXPECT_LT(r.max_abs_error, 1e-6);
  EXPECT_TRUE(r.report.empty()) << r.report;
}

TEST(GradCheck, AnInputThatDoesNotReachTheOutputHasZeroGradient) {
  auto r = dz::utils::gradient_check([](const Vars &v) { return F::exp(v[0]); },
                                     {rn({2}, 1), rn({3}, 2)});
  EXPECT_TRUE(r.ok) << r.report;
}

TEST(NumericalDiff, MatchesTheAnalyticDerivative) {
  Tensor x = Tensor::from({0.1, 0.7, -1.2});
  Tensor g = dz::utils::numerical_diff([](const Variable &v) { return F::sin(v); }, x);
  ASSERT_EQ(g.shape(), x.shape());
  ASSERT_EQ(g.dtype(), dz::f64);
  for (int64_t k = 0; k < 3; ++k)
    EXPECT_NEAR(g.at(k), std::cos(x.at(k)), 1e-8);
  Tensor gb = dz::utils::numerical_diff([](const Vars &v) { return v[0] * v[1]; },
                                        {x, Tensor::from({2.0, 3.0, 4.0})}, 1);
  for (int64_t k = 0; k < 3; ++k)
    EXPECT_NEAR(gb.at(k), x.at(k), 1e-10);
}

// ==== every op of the registry (dzc/ops.def) =============================================

namespace {

/// A registry op's inputs: uniform in its range, or distinct values where its range is the
/// default (no kinks of relu/abs; operand 1 is offset so that maximum/minimum never tie).
Tensor registry_sample(const std::string &op, int operand, const Shape &s, uint64_t seed) {
  auto [lo, hi] = dz::testing::registry_range(op, operand);
  if (lo != -1.5 || hi != 1.5)
    return uni(s, lo, hi, seed);
  return distinct(s, seed) + 0.13 * operand;
}

} // namespace

TEST(GradCheck, EveryRegistryOpFirstAndSecondDerivative) {
  std::map<std::string, Variable (*)(const Variable &)> unaries = {
#define DZ_UNARY(name, ...) {#name, F::name},
#include <dzc/ops.def>
  };
  std::map<std::string, Variable (*)(const Variable &, const Variable &)> binaries = {
#define DZ_BINARY(name, ...) {#name, F::name},
#include <dzc/ops.def>
  };
  uint64_t seed = 5000;
  for (const dz::OpInfo &info : dz::registry_ops()) {
    if (!info.grad[0] && !info.grad[1])
      continue;
    SCOPED_TRACE(info.name);
    const std::string name = info.name;
    if (info.arity == 1) {
      MultiFn f = unary(unaries.at(name));
      EXPECT_TRUE(GradOk(f, {registry_sample(name, 0, {2, 3}, seed++)}));
      if (name != "relu" && name != "abs") { // piecewise linear: no second derivative
        EXPECT_TRUE(GradOk(grad_of(f), {registry_sample(name, 0, {2, 3}, seed++)}));
      }
    } else {
      auto g = binaries.at(name);
      MultiFn f = [g](const Vars &v) { return g(v[0], v[1]); };
      for (const Shape &sb : {Shape{2, 3}, Shape{3}}) {
        Tensor a = registry_sample(name, 0, {2, 3}, seed++),
               b = registry_sample(name, 1, sb, seed++);
        EXPECT_TRUE(GradOk(f, {a, b})) << dz::shape_str(sb);
        EXPECT_TRUE(GradOk(grad_of(f, 0), {a, b})) << "d/da twice, " << dz::shape_str(sb);
        EXPECT_TRUE(GradOk(grad_of(f, 1), {a, b})) << "d/db twice, " << dz::shape_str(sb);
      }
    }
  }
}
