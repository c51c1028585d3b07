// Edge cases of the eager functions where dzc follows NumPy/PyTorch rather than the
// book's naive formulas: 0-d softmax axes, stable binary losses, empty tensors, N-D
// linear, pow with exponent 0, padded max pooling, and numerical_diff of functions that
// call backward themselves. Gradients checked numerically in float64.
#include <dzc/dzc.h>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace F = dz::functions;
using dz::Shape;
using dz::Tensor;
using dz::Variable;
using Vars = std::vector<Variable>;
using dz::utils::MultiFn;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

::testing::AssertionResult GradOk(const MultiFn &f, const std::vector<Tensor> &xs,
                                  double tol = 1e-6) {
  try {
    dz::utils::GradCheckResult r =
        dz::utils::gradient_check(f, xs, {.rtol = tol, .atol = tol, .eps = 1e-5});
    if (r)
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << r.report;
  } catch (const std::exception &e) {
    return ::testing::AssertionFailure() << "threw: " << e.what();
  }
}

/// d/dx sum(f(x)) with create_graph: its gradient check checks the second derivative.
Variable first_derivative(const std::function<Variable(const Variable &)> &f, Variable x) {
  Variable y = f(x);
  y.backward({.create_graph = true});
  Variable gx = x.grad();
  x.cleargrad();
  return gx;
}

double grad1(const std::function<Variable(const Variable &)> &f, double at) {
  Variable x(at);
  f(x).backward();
  return x.grad().item<double>();
}

double grad2(const std::function<Variable(const Variable &)> &f, double at) {
  Variable x(at);
  Variable gx = first_derivative(f, x);
  gx.backward();
  const double g = x.has_grad() ? x.grad().item<double>() : 0.0; // no gradient: a constant
  x.cleargrad();
  return g;
}

} // namespace

// ---- 0-d tensors in softmax, log_softmax and logsumexp ---------------------------------------

TEST(EdgeCases, LogSoftmaxAndLogsumexpOfA0dTensor) {
  Variable x(Tensor::scalar(0.7));
  Variable y = F::log_softmax(x, 0);
  EXPECT_EQ(y.shape(), Shape{});
  EXPECT_EQ(y.item<double>(), 0.0);
  y.backward();
  EXPECT_EQ(x.grad().item<double>(), 0.0);
  for (bool keepdims : {true, false}) {
    Tensor l = dz::logsumexp(Tensor::scalar(0.7), 0, keepdims);
    EXPECT_EQ(l.shape(), Shape{});
    EXPECT_DOUBLE_EQ(l.item<double>(), 0.7);
  }
  EXPECT_EQ(F::softmax(x, 0).item<double>(), 1.0);
  EXPECT_THROW(F::log_softmax(x, 1), dz::Error);
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::log_softmax(v[0], 0) * 3.0 + v[0]; },
                     {Tensor::scalar(0.7)}));
}

TEST(EdgeCases, LogsumexpOfInfinities) {
  // A row with +inf gives +inf; a row of -inf gives -inf (not NaN), as SciPy and PyTorch.
  Tensor x = Tensor::from({-kInf, -kInf, kInf, 1.0, 2.0, 3.0}, {3, 2});
  for (int64_t axis : {1, -1}) {
    std::vector<double> v = dz::logsumexp(x, axis, false).to_vector();
    EXPECT_EQ(v[0], -kInf);
    EXPECT_EQ(v[1], kInf);
    EXPECT_NEAR(v[2], 3.0 + std::log1p(std::exp(-1.0)), 1e-15);
  }
  std::vector<double> v0 = dz::logsumexp(x.transpose(), 0, false).to_vector();
  EXPECT_EQ(v0[0], -kInf);
  EXPECT_EQ(v0[1], kInf);
  Variable ls = F::log_softmax(Variable(Tensor::from({-kInf, 1.0}, {1, 2})), 1);
  EXPECT_EQ(ls.data().to_vector()[0], -kInf);
  EXPECT_EQ(ls.data().to_vector()[1], 0.0);
}

TEST(EdgeCases, SoftmaxAndLogsumexpOfShortAndLongRowsFollowTheDefinition) {
  // Rows of a few classes go through a block-wise kernel (blocks of 64 rows), longer rows
  // one by one: both give the definition's values, NaN and infinities included.
  for (int64_t cols : {1, 3, 15, 16, 40}) {
    for (int64_t rows : {1, 63, 64, 65, 130}) {
      std::vector<double> v(size_t(rows * cols));
      for (size_t i = 0; i < v.size(); ++i)
        v[i] = std::sin(double(i) * 0.7) * 30.0;
      if (rows > 2) {
        v[size_t(cols)] = kInf;             // row 1: +inf
        v[size_t(2 * cols)] = std::nan(""); // row 2: NaN
      }
      for (dz::DType dt : {dz::f32, dz::f64}) {
        Tensor x = Tensor::from(v, {rows, cols}).to(dt);
        std::vector<double> sm = dz::softmax(x, -1).to_vector();
        std::vector<double> lse = dz::logsumexp(x, -1, false).to_vector();
        const double tol = dt == dz::f32 ? 2e-6 : 1e-13;
        for (int64_t r = 0; r < rows; ++r) {
          const double *row = v.data() + r * cols;
          double m = -kInf;
          bool nan = false;
          for (int64_t j = 0; j < cols; ++j) {
            const double xj = dt == dz::f32 ? double(float(row[j])) : row[j];
            nan = nan || std::isnan(xj);
            m = std::isnan(xj) ? m : std::max(m, xj);
          }
          const std::string at = std::to_string(rows) + "x" + std::to_string(cols) + " " +
                                 dz::dtype_name(dt) + " row " + std::to_string(r);
          if (nan) {
            EXPECT_TRUE(std::isnan(lse[size_t(r)])) << at;
            for (int64_t j = 0; j < cols; ++j)
              EXPECT_TRUE(std::isnan(sm[size_t(r * cols + j)])) << at;
            continue;
          }
          if (m == kInf) {
            EXPECT_EQ(lse[size_t(r)], kInf) << at;
            continue;
          }
          double s = 0;
          for (int64_t j = 0; j < cols; ++j)
            s += std::exp((dt == dz::f32 ? double(float(row[j])) : row[j]) - m);
          EXPECT_NEAR(lse[size_t(r)], m + std::log(s), tol * (1 + std::abs(m))) << at;
          for (int64_t j = 0; j < cols; ++j) {
            const double xj = dt == dz::f32 ? double(float(row[j])) : row[j];
            EXPECT_NEAR(sm[size_t(r * cols + j)], std::exp(xj - m) / s, tol) << at << " col " << j;
          }
        }
      }
    }
  }
}

// ---- stable binary losses --------------------------------------------------------------------

TEST(EdgeCases, SigmoidCrossEntropyIsStableForLargeScores) {
  auto loss_and_grad = [](double xv, double tv) {
    Variable x(Tensor::from({xv}));
    Variable y = F::sigmoid_cross_entropy(x, Variable(Tensor::from({tv})));
    y.backward();
    return std::pair{y.item<double>(), x.grad().item<double>()};
  };
  auto [l1, g1] = loss_and_grad(40, 1); // the book's formula: 0 log 0 = NaN
  EXPECT_NEAR(l1, 0.0, 1e-15);
  EXPECT_NEAR(g1, 0.0, 1e-15);
  auto [l2, g2] = loss_and_grad(50, 0); // the book's formula: +inf and NaN
  EXPECT_NEAR(l2, 50.0, 1e-12);
  EXPECT_NEAR(g2, 1.0, 1e-15);
  auto [l3, g3] = loss_and_grad(-800, 1);
  EXPECT_NEAR(l3, 800.0, 1e-9);
  EXPECT_NEAR(g3, -1.0, 1e-15);
  auto [l4, g4] = loss_and_grad(0, 1);
  EXPECT_NEAR(l4, std::log(2.0), 1e-15);
  EXPECT_NEAR(g4, -0.5, 1e-15);

  // The book's value where its formula is accurate: mean over the first axis of
  // -t log p - (1 - t) log(1 - p), p = sigmoid(x); gradient (sigmoid(x) - t) / N.
  Tensor xs = Tensor::from({-3.0, -0.5, 0.25, 2.0, 7.0, -9.0}, {3, 2});
  Tensor ts = Tensor::from({0, 1, 1, 0, 1, 0}, {3, 2});
  Variable x(xs);
  Variable y = F::sigmoid_cross_entropy(x, Variable(ts));
  y.backward();
  std::vector<double> xv = xs.to_vector(), tv = ts.to_vector(), g = x.grad().data().to_vector();
  double want = 0;
  for (size_t i = 0; i < xv.size(); ++i) {
    const double p = 1 / (1 + std::exp(-xv[i]));
    want += -(tv[i] * std::log(p) + (1 - tv[i]) * std::log(1 - p));
    EXPECT_NEAR(g[i], (p - tv[i]) / 3.0, 1e-15);
  }
  EXPECT_NEAR(y.item<double>(), want / 3.0, 1e-14);

  // Gradients and second derivatives checked numerically, away from the kink at 0.
  Tensor t = ts;
  EXPECT_TRUE(
      GradOk([t](const Vars &v) { return F::sigmoid_cross_entropy(v[0], Variable(t)); }, {xs}));
  EXPECT_TRUE(GradOk(
      [t](const Vars &v) {
        return first_derivative(
            [t](const Variable &z) { return F::sigmoid_cross_entropy(z, Variable(t)); }, v[0]);
      },
      {xs}));
}

TEST(EdgeCases, BinaryCrossEntropyClipsSymmetrically) {
  auto grad_at = [](double p, double t, dz::DType dt) {
    Variable x(Tensor::from({p}).to(dt));
    Variable y = F::binary_cross_entropy(x, Variable(Tensor::from({t})));
    y.backward();
    return std::pair{y.item<double>(), x.grad().item<double>()};
  };
  auto [l, g] = grad_at(0.9995, 1, dz::f64); // was clipped at 0.999: gradient 0
  EXPECT_NEAR(l, -std::log(0.9995), 1e-15);
  EXPECT_NEAR(g, -1.0 / 0.9995, 1e-12);
  auto [l0, g0] = grad_at(1e-6, 0, dz::f64);
  EXPECT_NEAR(l0, -std::log1p(-1e-6), 1e-15);
  EXPECT_NEAR(g0, 1.0 / (1 - 1e-6), 1e-12);
  // At the ends the loss stays finite (p clipped to [eps, 1 - eps]) and the gradient is 0.
  EXPECT_EQ(dz::functions::binary_cross_entropy_eps(dz::f64), 1e-12);
  EXPECT_EQ(dz::functions::binary_cross_entropy_eps(dz::f32), 1e-7);
  for (dz::DType dt : {dz::f64, dz::f32}) {
    // The clip bounds as the dtype holds them (float32: 1 - 1e-7 rounds to 1 - 2^-23).
    const double eps = F::binary_cross_entropy_eps(dt);
    const double lo = dt == dz::f32 ? double(float(eps)) : eps;
    const double hi = dt == dz::f32 ? double(float(1.0 - eps)) : 1.0 - eps;
    auto [l1, g1] = grad_at(1.0, 0, dt);
    EXPECT_NEAR(l1, -std::log(1.0 - hi), 1e-5 * -std::log(1.0 - hi));
    EXPECT_EQ(g1, 0.0);
    auto [l2, g2] = grad_at(0.0, 1, dt);
    EXPECT_NEAR(l2, -std::log(lo), 1e-5 * -std::log(lo));
    EXPECT_EQ(g2, 0.0);
    auto [l3, g3] = grad_at(1.0, 1, dt);
    EXPECT_TRUE(std::isfinite(l3));
    EXPECT_LT(l3, 1e-6);
    EXPECT_EQ(g3, 0.0);
  }
  Tensor p = Tensor::from({0.1, 0.7, 0.9995, 0.3}, {2, 2});
  Tensor t = Tensor::from({0, 1, 1, 0}, {2, 2});
  EXPECT_TRUE(
      GradOk([t](const Vars &v) { return F::binary_cross_entropy(v[0], Variable(t)); }, {p}, 1e-5));
}

// ---- empty tensors -------------------------------------------------------------------------

TEST(EdgeCases, MaxAndMinOfEmptyTensorsFollowNumPy) {
  Tensor e = dz::zeros({0, 3}, dz::f64);
  for (bool is_max : {true, false}) {
    auto red = [is_max](const Variable &x, std::vector<int64_t> axes, bool keep) {
      return is_max ? F::max(x, axes, keep) : F::min(x, axes, keep);
    };
    Variable x(e);
    Variable y = red(x, {1}, false);
    EXPECT_EQ(y.shape(), (Shape{0}));
    EXPECT_EQ(red(x, {-1}, true).shape(), (Shape{0, 1}));
    y.backward();
    ASSERT_TRUE(x.has_grad());
    EXPECT_EQ(x.grad().shape(), (Shape{0, 3}));
    // Over the empty axis there is no value: an error naming the reduction.
    EXPECT_THROW(red(x, {0}, false), dz::Error);
    EXPECT_THROW(red(x, {}, false), dz::Error);
    EXPECT_THROW(red(x, {0, 1}, true), dz::Error);
  }
  EXPECT_EQ(e.max({1}).shape(), (Shape{0}));
  EXPECT_EQ(dz::zeros({2, 0, 4}).min({0, 2}).shape(), (Shape{0}));
  EXPECT_THROW(dz::zeros({2, 0, 4}).min({1}), dz::Error);
}

TEST(EdgeCases, MeanOfNothingIsNaN) {
  Tensor e = dz::zeros({0, 3}, dz::f64);
  EXPECT_TRUE(std::isnan(F::mean(Variable(e)).item<double>()));
  EXPECT_TRUE(std::isnan(e.mean().item<double>()));
  std::vector<double> over0 = F::mean(Variable(e), {0}).data().to_vector();
  ASSERT_EQ(over0.size(), 3u);
  for (double v : over0)
    EXPECT_TRUE(std::isnan(v));
  EXPECT_TRUE(std::isnan(e.mean({0}).to_vector()[2]));
  EXPECT_EQ(F::mean(Variable(e), {1}).shape(), (Shape{0}));
  EXPECT_TRUE(std::isnan(F::average(Variable(dz::zeros({0}, dz::f64))).item<double>()));
  // Non-empty means are unchanged.
  EXPECT_DOUBLE_EQ(F::mean(Variable(Tensor::from({1.0, 2.0, 4.0}))).item<double>(), 7.0 / 3.0);
}

TEST(EdgeCases, SoftmaxCrossEntropyOfNoRowsIsNaN) {
  Variable x(dz::zeros({0, 4}, dz::f64));
  Variable y = F::softmax_cross_entropy(x, Variable(dz::zeros({0}, dz::i64)));
  EXPECT_TRUE(std::isnan(y.item<double>()));
  y.backward();
  EXPECT_EQ(x.grad().shape(), (Shape{0, 4}));
  EXPECT_TRUE(
      std::isnan(dz::softmax_cross_entropy(dz::zeros({0, 4}, dz::f32), dz::zeros({0}, dz::i64))
                     .item<double>()));
}

// ---- linear over any leading axes ----------------------------------------------------------

TEST(EdgeCases, LinearAppliesToTheLastAxisOfNDInput) {
  Tensor x = dz::randn({2, 5, 4}, dz::f64, 11), W = dz::randn({4, 3}, dz::f64, 12),
         b = dz::randn({3}, dz::f64, 13);
  Variable y = F::linear(Variable(x), Variable(W), Variable(b));
  ASSERT_EQ(y.shape(), (Shape{2, 5, 3}));
  Tensor want = (dz::matmul(x.reshape({10, 4}), W) + b).reshape({2, 5, 3});
  EXPECT_TRUE(dz::allclose(y.data(), want, 1e-14, 1e-14));
  EXPECT_EQ(F::linear(Variable(x.reshape({2, 1, 5, 4})), Variable(W)).shape(), (Shape{2, 1, 5, 3}));
  Variable v1 = F::linear(Variable(Tensor::from({1.0, 2.0, 3.0, 4.0})), Variable(W));
  EXPECT_EQ(v1.shape(), (Shape{3}));
  EXPECT_EQ(F::linear(Variable(dz::zeros({0, 7, 4}, dz::f64)), Variable(W)).shape(),
            (Shape{0, 7, 3}));
  EXPECT_THROW(F::linear(Variable(dz::zeros({2, 5, 3}, dz::f64)), Variable(W)), dz::Error);
  EXPECT_TRUE(
      GradOk([](const Vars &v) { return F::linear(v[0], v[1], v[2]) * v[0].sum(); }, {x, W, b}));
  // The layer infers in_size from the last axis.
  dz::layers::Linear fc(6);
  EXPECT_EQ(fc(Variable(x)).shape(), (Shape{2, 5, 6}));
}

// ---- pow with exponent 0 -------------------------------------------------------------------

TEST(EdgeCases, PowAtZeroHasFiniteDerivatives) {
  auto p = [](double c) { return [c](const Variable &x) { return F::pow(x, c); }; };
  EXPECT_EQ(grad1(p(0), 0.0), 0.0); // was 0 * 0^-1 = NaN
  EXPECT_EQ(grad1(p(0), 2.0), 0.0);
  EXPECT_EQ(grad1(p(1), 0.0), 1.0);
  EXPECT_EQ(grad1(p(2), 0.0), 0.0);
  EXPECT_EQ(grad2(p(0), 0.0), 0.0);
  EXPECT_EQ(grad2(p(1), 0.0), 0.0); // was 1 * 0 * 0^-1 = NaN
  EXPECT_EQ(grad2(p(2), 0.0), 2.0);
  EXPECT_EQ(grad2(p(3), 0.0), 0.0);
  Tensor x = Tensor::from({-1.5, 0.5, 2.0});
  for (double c : {0.0, 1.0, 2.0, 3.0})
    EXPECT_TRUE(GradOk(
        [c](const Vars &v) {
          return first_derivative([c](const Variable &z) { return F::pow(z, c) * z; }, v[0]);
        },
        {x}));
}

// ---- max pooling with padding ----------------------------------------------------------------

TEST(EdgeCases, PaddingNeverWinsMaxPooling) {
  // x = -[[1, 2], [3, 4]], kernel 2, stride 2, pad 1: each window holds one element of x
  // and three taps of padding. DeZero's zeros would give 0 and gradient 0.
  Variable x(Tensor::from({-1, -2, -3, -4}, {1, 1, 2, 2}));
  Variable y = F::pooling(x, 2, 2, 1);
  EXPECT_TRUE(dz::allclose(y.data(), x.data(), 0, 0));
  y.backward();
  EXPECT_TRUE(dz::allclose(x.grad().data(), dz::ones({1, 1, 2, 2}, dz::f64), 0, 0));
  for (dz::DType dt : {dz::f32, dz::f64})
    EXPECT_TRUE(
        dz::allclose(dz::max_pool2d_values(x.data().to(dt), 2, 2, 1).to(dz::f64), x.data(), 0, 0));
  // A window wholly on the padding (pad >= kernel) has no maximum: -inf, no gradient.
  Tensor far = dz::max_pool2d_values(x.data(), 1, 1, 1);
  EXPECT_EQ(far.at(0), -kInf);
  EXPECT_EQ(dz::max_pool2d(x.data(), 1, 1, 1).y.at(0), -kInf);
  // NaN in a window is its maximum, as NumPy's max.
  Tensor n = Tensor::from({1, std::nan(""), 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  std::vector<double> pooled = F::pooling(Variable(n), 2, 1, 0).data().to_vector();
  EXPECT_TRUE(std::isnan(pooled[0]) && std::isnan(pooled[1]));
  EXPECT_EQ(pooled[2], 8.0);
  std::vector<double> pooled2 = dz::max_pool2d_values(n, 2, 1, 0).to_vector();
  EXPECT_TRUE(std::isnan(pooled2[0]) && std::isnan(pooled2[1]));
  EXPECT_TRUE(std::isnan(dz::max_pool2d_values(n.reshape({1, 1, 3, 3}), 3, 2, 1).at(0)));
  // Gradient checks on negative inputs with padding, where the padding used to win.
  Tensor neg = -(dz::arange(1, 31, 1, dz::f64).reshape({1, 2, 3, 5}) * 0.37);
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::pooling(v[0], 3, 2, 1) * v[0].sum(); }, {neg}));
}

// ---- numerical_diff of functions that call backward --------------------------------------------

TEST(EdgeCases, GradientCheckOfADoubleBackpropObjectiveThroughConv2d) {
  // A gradient penalty: f(x, W) = sum((d/dx sum(tanh(conv2d(x, W)))^2)). f calls backward
  // with create_graph itself, so numerical_diff must not switch backprop off.
  MultiFn f = [](const Vars &v) {
    Variable x = v[0], W = v[1];
    Variable y = F::sum(F::tanh(F::conv2d(x, W, std::nullopt, 1, 1)));
    y.backward({.create_graph = true});
    Variable gx = x.grad();
    x.cleargrad();
    W.cleargrad();
    return F::sum(gx * gx);
  };
  Tensor x = dz::randn({2, 2, 4, 4}, dz::f64, 31), W = dz::randn({3, 2, 3, 3}, dz::f64, 32) * 0.3;
  EXPECT_TRUE(GradOk(f, {x, W}, 1e-6));
  EXPECT_NO_THROW(dz::utils::numerical_diff(f, {x, W}, 1));
}

TEST(EdgeCases, TransposeOfA0dTensorIsItself) {
  // Tensor::transpose() of a 0-d tensor recursed without end (a stack overflow).
  Tensor s = Tensor::scalar(2.5);
  EXPECT_EQ(s.transpose().shape(), Shape{});
  EXPECT_EQ(s.transpose({}).item<double>(), 2.5);
  Variable x(Tensor::scalar(2.5));
  Variable y = F::transpose(x) * 3.0;
  y.backward();
  EXPECT_EQ(y.item<double>(), 7.5);
  EXPECT_EQ(x.grad().item<double>(), 3.0);
  EXPECT_EQ(x.T().shape(), Shape{});
}
