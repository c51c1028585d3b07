// test_book_api.cpp - the API the book's companions use: one-hot and soft targets in
// softmax_cross_entropy and accuracy, the teaching variants (*_simple) against the fused
// functions (values, gradients, graphs), He initialisation, and lazy Dataset subclasses
// read through DataLoader.
#include <dzc/dzc.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace F = dz::functions;
namespace L = dz::layers;
namespace D = dz::datasets;
using dz::Shape;
using dz::Tensor;
using dz::Variable;
using Vars = std::vector<Variable>;
using dz::utils::MultiFn;

namespace {

Tensor rn(const Shape &s, uint64_t seed, dz::DType dt = dz::f64) { return dz::randn(s, dt, seed); }

/// One-hot rows of `labels` over C classes, built by hand (not with the library's one_hot).
Tensor onehot_of(const std::vector<int64_t> &labels, int64_t C, dz::DType dt = dz::f64) {
  std::vector<double> v(labels.size() * size_t(C), 0.0);
  for (size_t n = 0; n < labels.size(); ++n)
    v[n * size_t(C) + size_t(labels[n])] = 1.0;
  return Tensor::from(v, {int64_t(labels.size()), C}, dt);
}

/// Rows of positive random weights normalised to sum 1: soft targets.
Tensor soft_targets(const Shape &s, uint64_t seed) {
  Tensor w = dz::exp(rn(s, seed));
  return w / w.sum({1}, true);
}

void expect_close(const Tensor &a, const Tensor &b, double tol, const std::string &what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  std::vector<double> x = a.to_vector(), y = b.to_vector();
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_NEAR(x[i], y[i], tol * std::max(1.0, std::abs(y[i]))) << what << " at " << i;
}

::testing::AssertionResult GradOk(const MultiFn &f, const std::vector<Tensor> &xs) {
  // Weighted by a fixed random tensor, so that every element of the output matters.
  MultiFn weighted = [f](const Vars &v) {
    Variable y = f(v);
    return y * Variable(dz::randn(y.shape(), dz::f64, 999));
  };
  dz::utils::GradCheckResult r =
      dz::utils::gradient_check(weighted, xs, {.rtol = 1e-4, .atol = 1e-5, .eps = 1e-4});
  if (r)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << r.report;
}

/// Output and input gradients of sum(w * f(xs)) for a fixed random w.
struct ValueAndGrads {
  Tensor y;
  std::vector<Tensor> g;
};
ValueAndGrads run(const MultiFn &f, const std::vector<Tensor> &xs) {
  Vars v;
  for (const Tensor &x : xs)
    v.emplace_back(x.copy());
  Variable y = f(v);
  F::sum(y * Variable(dz::randn(y.shape(), dz::f64, 4242))).backward();
  ValueAndGrads r{y.data(), {}};
  for (const Variable &x : v)
    r.g.push_back(x.has_grad() ? x.grad().data() : dz::zeros_like(x.data()));
  return r;
}

/// The teaching variant and the fused function agree in value and in every gradient.
void expect_same_as_fused(const MultiFn &simple, const MultiFn &fused,
                          const std::vector<Tensor> &xs, const std::string &what,
                          double tol = 1e-10) {
  ValueAndGrads a = run(simple, xs), b = run(fused, xs);
  expect_close(a.y, b.y, tol, what + ": value");
  for (size_t i = 0; i < xs.size(); ++i)
    expect_close(a.g[i], b.g[i], tol, what + ": gradient of input " + std::to_string(i));
}

/// How many function boxes the DOT drawing of y's graph has.
int function_boxes(const Variable &y) {
  const std::string dot = dz::utils::get_dot_graph(y, false);
  int n = 0;
  for (size_t p = dot.find("shape=box"); p != std::string::npos; p = dot.find("shape=box", p + 1))
    ++n;
  return n;
}

std::string lower(std::string s) {
  for (char &c : s)
    c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

::testing::AssertionResult ThrowsMentioning(const std::function<void()> &fn,
                                            const std::vector<std::string> &needles) {
  try {
    fn();
    return ::testing::AssertionFailure() << "no exception was thrown";
  } catch (const dz::Error &e) {
    const std::string msg = lower(e.what());
    for (const std::string &n : needles)
      if (msg.find(lower(n)) == std::string::npos)
        return ::testing::AssertionFailure()
               << "message \"" << e.what() << "\" lacks \"" << n << "\"";
    return ::testing::AssertionSuccess();
  } catch (const std::exception &e) {
    return ::testing::AssertionFailure() << "threw a non-dz::Error: " << e.what();
  }
}

} // namespace

// ---- gradient checks of functions that call backward themselves
// ----------------------------------

TEST(DoubleBackpropCheck, HessianVectorProductThroughConv2dIsCheckedWithTheUnaryForm) {
  // f(x) = (d/dx L(x)) . v with L(x) = sum(tanh(conv2d(x, K))): a Hessian-vector product
  // made by double backprop inside f. numerical_diff keeps backprop on, as DeZero's does.
  Tensor K = rn({2, 1, 3, 3}, 61) * 0.5, v = rn({1, 1, 4, 4}, 62);
  auto f = [K, v](const Variable &input) {
    Variable x = input; // a handle on the same node
    // K is a constant: a Variable of it would get a create_graph gradient whose graph
    // holds that Variable (a cycle of shared pointers that is never freed).
    Variable loss =
        F::sum(F::tanh(F::conv2d_simple(x, Variable::constant(K), std::nullopt, 1, 1)));
    loss.backward({.create_graph = true});
    Variable gx = x.grad();
    x.cleargrad();
    return F::sum(gx * Variable(v));
  };
  dz::utils::GradCheckResult r = dz::utils::gradient_check(f, rn({1, 1, 4, 4}, 63));
  EXPECT_TRUE(r.ok) << r.report;
  // Under the caller's NoGrad the graph is not recorded, and f's own backward says so.
  dz::NoGrad off;
  EXPECT_THROW(dz::utils::numerical_diff(f, rn({1, 1, 4, 4}, 63)), dz::Error);
}

// ---- one-hot and soft targets -------------------------------------------------------------------

TEST(SoftTargets, OneHotCrossEntropyEqualsIntLabelsInValueAndGradient) {
  const std::vector<int64_t> labels{2, 0, 3, 1, 3};
  for (dz::DType dt : {dz::f64, dz::f32}) {
    const double tol = dt == dz::f64 ? 1e-12 : 1e-6;
    Tensor x0 = rn({5, 4}, 7, dt) * 3.0;
    Variable xi(x0.copy()), xo(x0.copy());
    Variable li = F::softmax_cross_entropy(xi, Variable(Tensor::from_i64(labels, {5})));
    Variable lo = F::softmax_cross_entropy(xo, Variable(onehot_of(labels, 4, dt)));
    EXPECT_EQ(lo.dtype(), dt);
    EXPECT_EQ(lo.shape(), Shape{});
    EXPECT_NEAR(lo.item<double>(), li.item<double>(), tol);
    li.backward();
    lo.backward();
    expect_close(xo.grad().data(), xi.grad().data(), tol, dz::dtype_name(dt));
  }
}

TEST(SoftTargets, SoftTargetLossIsMinusMeanOfTargetsTimesLogSoftmax) {
  Tensor x = rn({3, 5}, 11), t = soft_targets({3, 5}, 12);
  std::vector<double> xv = x.to_vector(), tv = t.to_vector();
  double want = 0;
  for (int n = 0; n < 3; ++n) {
    double m = -INFINITY, s = 0;
    for (int c = 0; c < 5; ++c)
      m = std::max(m, xv[size_t(n * 5 + c)]);
    for (int c = 0; c < 5; ++c)
      s += std::exp(xv[size_t(n * 5 + c)] - m);
    for (int c = 0; c < 5; ++c)
      want -= tv[size_t(n * 5 + c)] * (xv[size_t(n * 5 + c)] - m - std::log(s));
  }
  want /= 3;
  EXPECT_NEAR(F::softmax_cross_entropy(Variable(x), Variable(t)).item<double>(), want, 1e-12);
}

TEST(SoftTargets, GradientInTheLogitsMatchesNumericalDifferentiation) {
  Tensor t = soft_targets({4, 3}, 21);
  EXPECT_TRUE(GradOk([t](const Vars &v) { return F::softmax_cross_entropy(v[0], Variable(t)); },
                     {rn({4, 3}, 22)}));
  // Targets whose rows do not sum to 1 (scaled distributions) are differentiated as written.
  Tensor t2 = t * 2.5;
  EXPECT_TRUE(GradOk([t2](const Vars &v) { return F::softmax_cross_entropy(v[0], Variable(t2)); },
                     {rn({4, 3}, 23)}));
  // Second derivatives (a gradient penalty on the logits).
  EXPECT_TRUE(GradOk(
      [t](const Vars &v) {
        Variable x = v[0];
        Variable loss = F::softmax_cross_entropy(x, Variable(t));
        loss.backward({.create_graph = true});
        Variable gx = x.grad();
        x.cleargrad();
        return F::sum(gx * gx);
      },
      {rn({4, 3}, 24)}));
}

TEST(SoftTargets, TargetsAreDataWithoutGradient) {
  Variable x(rn({2, 3}, 31)), t(soft_targets({2, 3}, 32));
  F::softmax_cross_entropy(x, t).backward();
  EXPECT_TRUE(x.has_grad());
  EXPECT_FALSE(t.has_grad());
  // float32 targets for float64 scores: converted to the scores' dtype.
  Variable x64(rn({2, 3}, 33));
  EXPECT_EQ(F::softmax_cross_entropy(x64, Variable(soft_targets({2, 3}, 34).to(dz::f32))).dtype(),
            dz::f64);
}

TEST(SoftTargets, WrongTargetShapesAreErrorsNamingBothForms) {
  Variable x(rn({4, 3}, 41));
  EXPECT_TRUE(ThrowsMentioning(
      [&] {
        F::softmax_cross_entropy(x, Variable(rn({4, 2}, 1)));
      },
      {"softmax_cross_entropy", "(4, 2)", "(4, 3)", "int64"}));
  EXPECT_TRUE(ThrowsMentioning([&] { F::softmax_cross_entropy(x, Variable(rn({4}, 1))); },
                               {"softmax_cross_entropy", "(4,)", "(4, 3)"}));
  EXPECT_TRUE(ThrowsMentioning(
      [&] {
        F::accuracy(x, Variable(rn({4, 2}, 1)));
      },
      {"accuracy", "(4, 2)", "one-hot"}));
}

TEST(SoftTargets, AccuracyOfOneHotTargetsEqualsAccuracyOfTheirLabels) {
  Tensor y = rn({20, 4}, 51);
  std::vector<int64_t> labels;
  for (int i = 0; i < 20; ++i)
    labels.push_back((i * 7) % 4);
  const double from_int =
      F::accuracy(Variable(y), Variable(Tensor::from_i64(labels, {20}))).item<double>();
  const double from_onehot =
      F::accuracy(Variable(y), Variable(onehot_of(labels, 4))).item<double>();
  EXPECT_EQ(from_onehot, from_int);
  // A perfect prediction scores 1 and the targets' argmax is what counts.
  EXPECT_EQ(F::accuracy(Variable(onehot_of(labels, 4) * 5.0), Variable(onehot_of(labels, 4)))
                .item<double>(),
            1.0);
  std::vector<double> acc;
  for (int64_t c = 0; c < 4; ++c) {
    std::vector<int64_t> all_c(20, c);
    acc.push_back(F::accuracy(Variable(y), Variable(onehot_of(all_c, 4))).item<double>());
  }
  EXPECT_NEAR(acc[0] + acc[1] + acc[2] + acc[3], 1.0, 1e-12); // each row hits exactly once
}

// ---- the teaching variants ----------------------------------------------------------------------

TEST(SimpleVariants, LinearSimpleEqualsLinear) {
  std::vector<Tensor> xs{rn({5, 3}, 1), rn({3, 4}, 2), rn({4}, 3)};
  expect_same_as_fused([](const Vars &v) { return F::linear_simple(v[0], v[1], v[2]); },
                       [](const Vars &v) { return F::linear(v[0], v[1], v[2]); }, xs,
                       "linear_simple");
  expect_same_as_fused([](const Vars &v) { return F::linear_simple(v[0], v[1]); },
                       [](const Vars &v) { return F::linear(v[0], v[1]); }, {xs[0], xs[1]},
                       "linear_simple without bias");
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::linear_simple(v[0], v[1], v[2]); }, xs));
}

TEST(SimpleVariants, SigmoidSimpleEqualsSigmoid) {
  std::vector<Tensor> xs{rn({3, 4}, 4) * 3.0};
  expect_same_as_fused([](const Vars &v) { return F::sigmoid_simple(v[0]); },
                       [](const Vars &v) { return F::sigmoid(v[0]); }, xs, "sigmoid_simple");
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::sigmoid_simple(v[0]); }, xs));
}

TEST(SimpleVariants, SoftmaxSimpleEqualsSoftmaxOnEveryAxis) {
  std::vector<Tensor> xs{rn({2, 3, 4}, 5)};
  for (int64_t axis : {0, 1, 2, -1}) {
    expect_same_as_fused([axis](const Vars &v) { return F::softmax_simple(v[0], axis); },
                         [axis](const Vars &v) { return F::softmax(v[0], axis); }, xs,
                         "softmax_simple axis " + std::to_string(axis));
    EXPECT_TRUE(GradOk([axis](const Vars &v) { return F::softmax_simple(v[0], axis); }, xs));
  }
  EXPECT_TRUE(ThrowsMentioning([&] { F::softmax_simple(Variable(xs[0]), 3); },
                               {"softmax_simple", "axis 3", "(2, 3, 4)"}));
}

TEST(SimpleVariants, SoftmaxCrossEntropySimpleEqualsTheFusedLoss) {
  Tensor labels = Tensor::from_i64({2, 0, 1, 1}, {4});
  std::vector<Tensor> xs{rn({4, 3}, 6)};
  expect_same_as_fused(
      [labels](const Vars &v) { return F::softmax_cross_entropy_simple(v[0], Variable(labels)); },
      [labels](const Vars &v) { return F::softmax_cross_entropy(v[0], Variable(labels)); }, xs,
      "softmax_cross_entropy_simple, int labels");
  Tensor soft = soft_targets({4, 3}, 7);
  expect_same_as_fused(
      [soft](const Vars &v) { return F::softmax_cross_entropy_simple(v[0], Variable(soft)); },
      [soft](const Vars &v) { return F::softmax_cross_entropy(v[0], Variable(soft)); }, xs,
      "softmax_cross_entropy_simple, soft targets");
  EXPECT_TRUE(GradOk(
      [labels](const Vars &v) { return F::softmax_cross_entropy_simple(v[0], Variable(labels)); },
      xs));
  EXPECT_TRUE(ThrowsMentioning(
      [&] {
        F::softmax_cross_entropy_simple(Variable(xs[0]),
                                        Variable(Tensor::from_i64({0, 3, 1, 1}, {4})));
      },
      {"softmax_cross_entropy_simple", "3"}));
}

TEST(SimpleVariants, MeanSquaredErrorSimpleEqualsTheFusedLoss) {
  std::vector<Tensor> xs{rn({6, 2}, 8), rn({6, 2}, 9)};
  expect_same_as_fused([](const Vars &v) { return F::mean_squared_error_simple(v[0], v[1]); },
                       [](const Vars &v) { return F::mean_squared_error(v[0], v[1]); }, xs,
                       "mean_squared_error_simple");
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::mean_squared_error_simple(v[0], v[1]); }, xs));
}

TEST(SimpleVariants, Conv2dSimpleEqualsConv2d) {
  struct Geom {
    dz::Size2 stride, pad;
  };
  for (Geom g : {Geom{1, 0}, Geom{1, 1}, Geom{2, 1}, Geom{{2, 1}, {0, 1}}}) {
    std::vector<Tensor> xs{rn({2, 3, 5, 6}, 10), rn({4, 3, 3, 2}, 11) * 0.5, rn({4}, 12)};
    const std::string what = "conv2d_simple stride (" + std::to_string(g.stride.h) + ", " +
                             std::to_string(g.stride.w) + ") pad (" + std::to_string(g.pad.h) +
                             ", " + std::to_string(g.pad.w) + ")";
    expect_same_as_fused(
        [g](const Vars &v) { return F::conv2d_simple(v[0], v[1], v[2], g.stride, g.pad); },
        [g](const Vars &v) { return F::conv2d(v[0], v[1], v[2], g.stride, g.pad); }, xs, what);
    expect_same_as_fused(
        [g](const Vars &v) { return F::conv2d_simple(v[0], v[1], std::nullopt, g.stride, g.pad); },
        [g](const Vars &v) { return F::conv2d(v[0], v[1], std::nullopt, g.stride, g.pad); },
        {xs[0], xs[1]}, what + " without bias");
  }
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::conv2d_simple(v[0], v[1], v[2], 2, 1); },
                     {rn({1, 2, 4, 4}, 13), rn({3, 2, 3, 3}, 14), rn({3}, 15)}));
  EXPECT_TRUE(ThrowsMentioning(
      [] {
        F::conv2d_simple(Variable(rn({1, 2, 4, 4}, 1)), Variable(rn({3, 5, 3, 3}, 2)));
      },
      {"conv2d_simple", "channels"}));
}

TEST(SimpleVariants, PoolingSimpleEqualsPoolingWithoutPaddingOrOnNonNegativeInputs) {
  // Distinct values: no ties, so both give the one maximum of each window the gradient.
  auto distinct = [](const Shape &s, double offset) {
    const int64_t n = dz::shape_size(s);
    std::vector<double> v;
    for (int64_t k = 0; k < n; ++k)
      v.push_back(double((k * 37) % n) * 0.25 + offset);
    return Tensor::from(v, s);
  };
  struct Geom {
    dz::Size2 kernel, stride, pad;
  };
  for (Geom g : {Geom{2, 2, 0}, Geom{3, 1, 0}, Geom{{2, 3}, {1, 2}, 0}}) {
    std::vector<Tensor> xs{distinct({2, 3, 6, 7}, -20.0)}; // negative and positive
    expect_same_as_fused(
        [g](const Vars &v) { return F::pooling_simple(v[0], g.kernel, g.stride, g.pad); },
        [g](const Vars &v) { return F::pooling(v[0], g.kernel, g.stride, g.pad); }, xs,
        "pooling_simple without padding");
  }
  // With padding the two agree on inputs above zero (a padded 0 never wins there)...
  std::vector<Tensor> pos{distinct({1, 2, 5, 5}, 0.5)};
  expect_same_as_fused([](const Vars &v) { return F::pooling_simple(v[0], 3, 2, 1); },
                       [](const Vars &v) { return F::pooling(v[0], 3, 2, 1); }, pos,
                       "pooling_simple with padding, positive input");
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::pooling_simple(v[0], 3, 2, 1); }, pos));
  // ... and on negative ones the book's version lets the padding win (DeZero's behaviour).
  Tensor neg = -distinct({1, 1, 3, 3}, 1.0);
  EXPECT_EQ(F::pooling_simple(Variable(neg), 2, 2, 1).data().at(0), 0.0);
  EXPECT_LT(F::pooling(Variable(neg), 2, 2, 1).data().at(0), 0.0);
}

TEST(SimpleVariants, TheirGraphsShowEveryStep) {
  Variable x(rn({2, 3}, 16)), W(rn({3, 3}, 17)), b(rn({3}, 18));
  EXPECT_EQ(function_boxes(F::sigmoid(x)), 1);
  EXPECT_GE(function_boxes(F::sigmoid_simple(x)), 4); // neg, exp, add, div
  EXPECT_EQ(function_boxes(F::linear(x, W, b)), 1);
  EXPECT_EQ(function_boxes(F::linear_simple(x, W, b)), 2); // matmul, add
  EXPECT_GE(function_boxes(F::softmax_simple(x)), 3);      // exp, sum, div
  const std::string dot = dz::utils::get_dot_graph(F::softmax_simple(x), false);
  EXPECT_NE(dot.find("Exp"), std::string::npos) << dot;
  Variable img(rn({1, 2, 4, 4}, 19)), K(rn({3, 2, 3, 3}, 20));
  EXPECT_EQ(function_boxes(F::conv2d(img, K)), 1);
  const std::string conv = dz::utils::get_dot_graph(F::conv2d_simple(img, K), false);
  EXPECT_NE(conv.find("Im2col"), std::string::npos) << conv;
  EXPECT_GE(function_boxes(F::conv2d_simple(img, K)), 5);
  EXPECT_GE(function_boxes(F::pooling_simple(img, 2, 2)), 5);
}

// ---- He initialisation --------------------------------------------------------------------------

namespace {
double stddev_of(const Tensor &t) {
  std::vector<double> v = t.to_vector();
  double m = 0, s = 0;
  for (double x : v)
    m += x;
  m /= double(v.size());
  for (double x : v)
    s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size()));
}
} // namespace

TEST(HeInit, LinearWeightsHaveStdSqrtTwoOverFanIn) {
  dz::manual_seed(3);
  L::Linear he(400, {.in_size = 500, .init = L::Init::He});
  EXPECT_NEAR(stddev_of(he.W.data()), std::sqrt(2.0 / 500), 0.02 * std::sqrt(2.0 / 500));
  EXPECT_EQ(he.b.data().to_vector(), std::vector<double>(400, 0.0));
  // in_size taken from the first input: the same rule.
  L::Linear lazy(300, {.init = L::Init::He});
  lazy(Variable(dz::zeros({2, 800})));
  EXPECT_NEAR(stddev_of(lazy.W.data()), std::sqrt(2.0 / 800), 0.02 * std::sqrt(2.0 / 800));
}

TEST(HeInit, DefaultStaysTheBooksSqrtOneOverFanIn) {
  dz::manual_seed(4);
  L::Linear plain(400, {.in_size = 500});
  EXPECT_NEAR(stddev_of(plain.W.data()), std::sqrt(1.0 / 500), 0.02 * std::sqrt(1.0 / 500));
  // Exactly randn * sqrt(1 / in) from the default generator, as before the option existed.
  dz::manual_seed(5);
  L::Linear a(7, {.in_size = 3});
  dz::manual_seed(5);
  Tensor want = dz::randn({3, 7}, dz::f32, dz::default_generator()) * std::sqrt(1.0 / 3);
  expect_close(a.W.data().to(dz::f64), want.to(dz::f64), 1e-7, "default Linear W");
  dz::manual_seed(5);
  L::Linear h(7, {.in_size = 3, .init = L::Init::He});
  expect_close(h.W.data().to(dz::f64), (want * std::sqrt(2.0)).to(dz::f64), 1e-6, "He Linear W");
}

TEST(HeInit, Conv2dAndDeconv2dUseFanInCTimesKernel) {
  dz::manual_seed(6);
  L::Conv2d he(64, 3, {.in_channels = 32, .init = L::Init::He});
  const double fan_in = 32 * 3 * 3;
  EXPECT_NEAR(stddev_of(he.W.data()), std::sqrt(2.0 / fan_in), 0.03 * std::sqrt(2.0 / fan_in));
  L::Conv2d plain(64, 3, {.in_channels = 32});
  EXPECT_NEAR(stddev_of(plain.W.data()), std::sqrt(1.0 / fan_in), 0.03 * std::sqrt(1.0 / fan_in));
  L::Conv2d lazy(64, 3, {.init = L::Init::He});
  lazy(Variable(dz::zeros({1, 32, 5, 5})));
  EXPECT_NEAR(stddev_of(lazy.W.data()), std::sqrt(2.0 / fan_in), 0.03 * std::sqrt(2.0 / fan_in));
  L::Deconv2d de(64, 3, {.in_channels = 32, .init = L::Init::He});
  EXPECT_NEAR(stddev_of(de.W.data()), std::sqrt(2.0 / fan_in), 0.03 * std::sqrt(2.0 / fan_in));
  EXPECT_TRUE(ThrowsMentioning([] { L::Linear bad(3, {.init = static_cast<L::Init>(7)}); },
                               {"Linear", "init", "He"}));
}

// ---- lazy datasets ------------------------------------------------------------------------------

namespace {

/// The book's BigData pattern: sample i is made when asked for, and every load is counted.
struct CountingBigData : D::Dataset {
  explicit CountingBigData(int64_t n) : n(n), loads(std::make_shared<std::atomic<int64_t>>(0)) {}
  int64_t size() const override { return n; }
  std::pair<Tensor, Tensor> get(int64_t i) const override {
    ++*loads;
    return {dz::full({2}, double(i), dz::f32), Tensor::scalar(double(i), dz::i64)};
  }
  int64_t n;
  std::shared_ptr<std::atomic<int64_t>> loads; // shared with copies and temporaries' owners
};

/// The same in DeZero's other style: operator[] overridden directly (no transforms).
struct IndexedBigData : D::Dataset {
  int64_t size() const override { return 5; }
  std::pair<Tensor, Tensor> operator[](int64_t i) const override {
    return {dz::full({1}, 10.0 * double(i), dz::f64), Tensor::scalar(double(i), dz::i64)};
  }
};

std::vector<int64_t> targets_of(const Tensor &t) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < t.size(); ++i)
    v.push_back(int64_t(t.at(i)));
  return v;
}

} // namespace

TEST(LazyDataset, DataLoaderLoadsEachItemOnDemandThroughTheSubclass) {
  CountingBigData big(10);
  EXPECT_EQ(big.len(), 10);
  dz::DataLoader loader(big, 4, /*shuffle=*/false);
  EXPECT_EQ(loader.max_iter(), 3);
  EXPECT_EQ(*big.loads, 0); // nothing loaded before the first batch
  std::vector<int64_t> seen;
  int batches = 0;
  for (auto [x, t] : loader) {
    ++batches;
    EXPECT_EQ(x.shape(), (Shape{t.size(), 2}));
    EXPECT_EQ(x.dtype(), dz::f32);
    EXPECT_EQ(t.dtype(), dz::i64);
    for (int64_t k = 0; k < t.size(); ++k)
      EXPECT_EQ(x.at(k * 2), t.at(k));
    std::vector<int64_t> tv = targets_of(t);
    seen.insert(seen.end(), tv.begin(), tv.end());
    EXPECT_EQ(*big.loads, int64_t(seen.size())); // one load per sample, when its batch is made
  }
  EXPECT_EQ(batches, 3);
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(&loader.dataset(), &big); // referred to, not copied
}

TEST(LazyDataset, ShuffledAndPrefetchedEpochsLoadEverySampleOncePerEpoch) {
  CountingBigData big(23);
  dz::DataLoader loader(big, 5, /*shuffle=*/true, /*seed=*/3, {.prefetch = 2});
  for (int epoch = 1; epoch <= 2; ++epoch) {
    std::multiset<int64_t> seen;
    for (auto [x, t] : loader)
      for (int64_t v : targets_of(t))
        seen.insert(v);
    EXPECT_EQ(seen.size(), 23u);
    EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 23u);
  }
  EXPECT_EQ(*big.loads, 46);
}

TEST(LazyDataset, TemporariesAndSharedPointersAreOwnedByTheLoader) {
  CountingBigData proto(6);
  std::shared_ptr<std::atomic<int64_t>> loads = proto.loads;
  std::optional<dz::DataLoader> owned;
  owned.emplace(CountingBigData(proto), 3, false); // a temporary: moved into the loader
  std::optional<dz::DataLoader> shared;
  {
    auto p = std::make_shared<CountingBigData>(proto);
    shared.emplace(p, 2, false);
  }
  int64_t total = 0;
  for (auto [x, t] : *owned)
    total += t.size();
  for (auto [x, t] : *shared)
    total += t.size();
  EXPECT_EQ(total, 12);
  EXPECT_EQ(*loads, 12);
  // Copies of the loader share the dataset.
  dz::DataLoader copy = *owned;
  EXPECT_EQ(&copy.dataset(), &owned->dataset());
  EXPECT_TRUE(ThrowsMentioning([] { dz::DataLoader(std::shared_ptr<const D::Dataset>(), 2); },
                               {"DataLoader", "null"}));
}

TEST(LazyDataset, OperatorIndexOverridesAndSeqDataLoaderWork) {
  IndexedBigData ds;
  dz::DataLoader loader(ds, 2, false);
  auto [x, t] = *loader.begin();
  EXPECT_EQ(x.to_vector(), (std::vector<double>{0.0, 10.0}));
  EXPECT_EQ(targets_of(t), (std::vector<int64_t>{0, 1}));
  dz::SeqDataLoader seq(ds, 2);
  auto [xs, ts] = *seq.begin();
  EXPECT_EQ(targets_of(ts), (std::vector<int64_t>{0, 2})); // jump 5 / 2 = 2
}

TEST(LazyDataset, TransformsApplyToLazySamples) {
  CountingBigData big(4);
  big.set_transform([](const Tensor &x) { return x * 3.0; });
  big.set_target_transform([](const Tensor &t) { return t + 1.0; });
  auto [x, t] = big[2];
  EXPECT_EQ(x.to_vector(), (std::vector<double>{6.0, 6.0}));
  EXPECT_EQ(t.item<double>(), 3.0);
  EXPECT_TRUE(ThrowsMentioning([&] { big[4]; }, {"index 4", "4 samples"}));
}

TEST(LazyDataset, ASizeWithoutGetIsAnErrorNotARead) {
  struct SizeOnly : D::Dataset {
    int64_t size() const override { return 3; }
  } bad;
  EXPECT_TRUE(ThrowsMentioning([&] { bad[1]; }, {"get(i)", "size()"}));
  dz::DataLoader loader(bad, 2, false);
  EXPECT_TRUE(ThrowsMentioning([&] { *loader.begin(); }, {"get(i)"}));
}

TEST(LazyDataset, LibraryArrayDatasetsAreStillCopied) {
  std::optional<dz::DataLoader> loader;
  {
    D::Spiral spiral(true);
    loader.emplace(spiral, 100, false);
    EXPECT_NE(&loader->dataset(), static_cast<const D::Dataset *>(&spiral));
  }
  int64_t total = 0;
  for (auto [x, t] : *loader)
    total += x.shape(0);
  EXPECT_EQ(total, 300);
}
