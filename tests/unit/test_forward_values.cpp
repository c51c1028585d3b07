// test_forward_values.cpp - forward values (and a few gradients) of dz::functions against
// hand-computed expectations.
#include <dzc/dzc.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace F = dz::functions;
using dz::Index;
using dz::Shape;
using dz::Slice;
using dz::Tensor;
using dz::Variable;

namespace {

Index arr(std::vector<int64_t> v) { return Index(std::move(v)); }

void expect_values(const Variable &v, const std::vector<double> &expected, double tol = 1e-12) {
  ASSERT_EQ(v.size(), int64_t(expected.size()));
  for (size_t k = 0; k < expected.size(); ++k)
    EXPECT_NEAR(v.data().at(int64_t(k)), expected[k], tol) << "element " << k;
}

} // namespace

TEST(ForwardValues, SoftmaxOf123) {
  Variable x(Tensor::from({1, 2, 3}, {1, 3}));
  expect_values(F::softmax(x), {0.09003057317038046, 0.24472847105479767, 0.6652409557748219},
                1e-15);
  expect_values(F::softmax(Variable(Tensor::from({1, 2, 3}, {3, 1})), 0),
                {0.09003057317038046, 0.24472847105479767, 0.6652409557748219}, 1e-15);
}

TEST(ForwardValues, LogSoftmaxOf123) {
  Variable x(Tensor::from({1, 2, 3}, {1, 3}));
  expect_values(F::log_softmax(x), {-2.4076059644443806, -1.4076059644443806, -0.4076059644443806},
                1e-14);
}

TEST(ForwardValues, SoftmaxIsStableForLargeInputs) {
  Variable x(Tensor::from({1000, 1001, 1002, -1000, -1001, -1002}, {2, 3}));
  expect_values(F::softmax(x),
                {0.09003057317038046, 0.24472847105479767, 0.6652409557748219, 0.6652409557748219,
                 0.24472847105479767, 0.09003057317038046},
                1e-14);
  expect_values(F::log_softmax(x),
                {-2.4076059644443806, -1.4076059644443806, -0.4076059644443806, -0.4076059644443806,
                 -1.4076059644443806, -2.4076059644443806},
                1e-12);
}

TEST(ForwardValues, SigmoidOfZeroIsHalf) {
  expect_values(F::sigmoid(Variable(0.0)), {0.5});
  expect_values(F::sigmoid(Variable(Tensor::from({-1000, 1000}))), {0.0, 1.0});
  expect_values(F::sigmoid(Variable(Tensor::from({2.0}))), {1 / (1 + std::exp(-2.0))});
}

TEST(ForwardValues, SoftmaxCrossEntropySmallCase) {
  // Row 0: uniform scores, label 0 -> log 3. Row 1: [1, 2, 3], label 2 -> 0.40760596...
  Variable x(Tensor::from({0, 0, 0, 1, 2, 3}, {2, 3}));
  Variable t(Tensor::from_i64({0, 2}));
  Variable loss = F::softmax_cross_entropy(x, t);
  EXPECT_EQ(loss.ndim(), 0);
  EXPECT_NEAR(loss.item<double>(), 0.7531091265562452, 1e-14);
  // Large logits stay finite.
  Variable big(Tensor::from({1000, 0, -1000, 0}, {2, 2}));
  Variable lb = F::softmax_cross_entropy(big, Variable(Tensor::from_i64({0, 0})));
  EXPECT_NEAR(lb.item<double>(), 0.5 * (0 + 1000), 1e-9);
}

TEST(ForwardValues, SoftmaxCrossEntropyGradientIsSoftmaxMinusOneHotOverN) {
  Variable x(Tensor::from({1, 2, 3}, {1, 3}));
  F::softmax_cross_entropy(x, Variable(Tensor::from_i64({2}))).backward();
  expect_values(x.grad(), {0.09003057317038046, 0.24472847105479767, 0.6652409557748219 - 1},
                1e-14);
}

TEST(ForwardValues, AccuracyTwoOfThree) {
  Variable y(Tensor::from({0.1, 0.9, 0.8, 0.2, 0.3, 0.7}, {3, 2}));
  Variable t(Tensor::from_i64({1, 1, 1}));
  Variable acc = F::accuracy(y, t);
  EXPECT_NEAR(acc.item<double>(), 2.0 / 3.0, 1e-15);
  EXPECT_EQ(acc.creator(), nullptr);
}

TEST(ForwardValues, MeanSquaredErrorKnown) {
  Variable a(Tensor::from({1, 2, 3})), b(Tensor::from({1, 1, 1}));
  Variable loss = F::mean_squared_error(a, b);
  EXPECT_NEAR(loss.item<double>(), 5.0 / 3.0, 1e-15);
  loss.backward();
  expect_values(a.grad(), {0, 2.0 / 3.0, 4.0 / 3.0}, 1e-15);
  expect_values(b.grad(), {0, -2.0 / 3.0, -4.0 / 3.0}, 1e-15);
}

TEST(ForwardValues, SigmoidAndBinaryCrossEntropyKnown) {
  Variable x(Tensor::from({2.0, -1.0}));
  Variable t(Tensor::from_i64({1, 0}));
  EXPECT_NEAR(F::sigmoid_cross_entropy(x, t).item<double>(), 0.22009484928059772, 1e-14);
  Variable p(Tensor::from({0.8, 0.4}));
  EXPECT_NEAR(F::binary_cross_entropy(p, t).item<double>(), 0.3669845875401002, 1e-14);
  EXPECT_NEAR(
      F::binary_cross_entropy(Variable(Tensor::from({0.5})), Variable(Tensor::from_i64({1})))
          .item<double>(),
      std::log(2.0), 1e-15);
}

TEST(ForwardValues, ClipReluLeakyRelu) {
  Variable x(Tensor::from({-2, 0.3, 5, -0.5}));
  expect_values(F::clip(x, -1, 1), {-1, 0.3, 1, -0.5});
  expect_values(F::relu(x), {0, 0.3, 5, 0});
  expect_values(F::leaky_relu(x), {-0.4, 0.3, 5, -0.1});
  expect_values(F::leaky_relu(x, 0.01), {-0.02, 0.3, 5, -0.005});
  F::sum(F::clip(x, -1, 1)).backward();
  expect_values(x.grad(), {0, 1, 0, 1});
}

TEST(ForwardValues, MaxMinWithKeepdims) {
  Variable x(Tensor::from({1, 5, 3, 4, 2, 6}, {2, 3}));
  Variable m = F::max(x, {1}, true);
  EXPECT_EQ(m.shape(), (Shape{2, 1}));
  expect_values(m, {5, 6});
  expect_values(F::max(x, {0}), {4, 5, 6});
  expect_values(F::min(x, {0}), {1, 2, 3});
  expect_values(F::min(x, {1}, true), {1, 2});
  expect_values(F::max(x), {6});
  EXPECT_EQ(F::max(x).ndim(), 0);
  EXPECT_EQ(x.max({-1}).shape(), (Shape{2}));
  F::sum(F::max(x, {1})).backward();
  expect_values(x.grad(), {0, 1, 0, 0, 0, 1});
}

TEST(ForwardValues, SumMeanAverageShapes) {
  Variable x(dz::arange(24, dz::f64).reshape({2, 3, 4}));
  EXPECT_EQ(F::sum(x).item<double>(), 276.0);
  EXPECT_EQ(F::sum(x, {0, 2}).shape(), (Shape{3}));
  expect_values(F::sum(x, {0, 2}), {60, 92, 124});
  EXPECT_EQ(F::sum(x, {0, 2}, true).shape(), (Shape{1, 3, 1}));
  EXPECT_EQ(F::sum(x, {-1}).shape(), (Shape{2, 3}));
  expect_values(F::mean(x, {1}), {4, 5, 6, 7, 16, 17, 18, 19});
  expect_values(F::average(x, {1}), {4, 5, 6, 7, 16, 17, 18, 19});
  EXPECT_EQ(F::mean(x).item<double>(), 11.5);
}

TEST(ForwardValues, ShapeFunctions) {
  Variable x(dz::arange(24, dz::f64).reshape({2, 3, 4}));
  EXPECT_EQ(F::reshape(x, {6, -1}).shape(), (Shape{6, 4}));
  Variable t = F::transpose(x, {2, 0, 1});
  EXPECT_EQ(t.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(t.data().at(1 * 6 + 1 * 3 + 2), 21.0); // t[1, 1, 2] = x[1, 2, 1]
  EXPECT_EQ(F::transpose(x).shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(F::expand_dims(x, 1).shape(), (Shape{2, 1, 3, 4}));
  EXPECT_EQ(F::expand_dims(x, -1).shape(), (Shape{2, 3, 4, 1}));
  EXPECT_EQ(F::flatten(x).shape(), (Shape{2, 12}));
  EXPECT_EQ(F::broadcast_to(Variable(Tensor::from({1, 2, 3})), {2, 3}).data().at(4), 2.0);
  expect_values(F::sum_to(Variable(dz::arange(6, dz::f64).reshape({2, 3})), {1, 3}), {3, 5, 7});
  expect_values(F::sum_to(Variable(dz::arange(6, dz::f64).reshape({2, 3})), {2, 1}), {3, 12});
}

TEST(ForwardValues, GetItemAndItsGradient) {
  Variable x(dz::arange(20, dz::f64).reshape({4, 5}));
  expect_values(F::get_item(x, {1}), {5, 6, 7, 8, 9});
  expect_values(F::get_item(x, {Slice(3, 0, -2), 0}), {15, 5});
  expect_values(F::get_item(x, {dz::Ellipsis, 4}), {4, 9, 14, 19});
  expect_values(F::get_item(x, {arr({0, 1, 1}), arr({2, 2, 4})}), {2, 7, 9});
  EXPECT_EQ(F::get_item(x, {arr({0, 2, 0})}).shape(), (Shape{3, 5}));
  expect_values(x[{-1, Slice(std::nullopt, std::nullopt, -2)}], {19, 17, 15});

  Variable g = F::get_item_grad(Variable(dz::ones({3, 5}, dz::f64)), {arr({0, 2, 0})}, {4, 5});
  EXPECT_EQ(g.shape(), (Shape{4, 5}));
  for (int64_t j = 0; j < 5; ++j) {
    EXPECT_EQ(g.data().at(j), 2.0);
    EXPECT_EQ(g.data().at(5 + j), 0.0);
    EXPECT_EQ(g.data().at(10 + j), 1.0);
    EXPECT_EQ(g.data().at(15 + j), 0.0);
  }
  F::sum(F::get_item(x, {arr({3, 3, 3})})).backward();
  EXPECT_EQ(x.grad().data().at(15), 3.0);
  EXPECT_EQ(x.grad().data().at(0), 0.0);
}

TEST(ForwardValues, LinearAndMatmul) {
  Variable x(Tensor::from({1, 2, 3, 4}, {2, 2}));
  Variable W(Tensor::from({1, 0, 2, 1, 1, 0}, {2, 3}));
  Variable b(Tensor::from({10, 20, 30}));
  expect_values(F::linear(x, W, b), {13, 22, 32, 17, 24, 36});
  expect_values(F::linear(x, W), {3, 2, 2, 7, 4, 6});
  expect_values(F::matmul(x, W), {3, 2, 2, 7, 4, 6});
  expect_values(F::matmul(F::transpose(x), W), {4, 3, 2, 6, 4, 4});
  expect_values(F::matmul(x, W, true, false), {4, 3, 2, 6, 4, 4});
  Variable Wt(Tensor::from({1, 1, 0, 1, 2, 0}, {3, 2}));
  expect_values(F::matmul(x, Wt, false, true), {3, 2, 2, 7, 4, 6});
  expect_values(F::matmul(F::transpose(x), Wt, true, true), {3, 2, 2, 7, 4, 6});
}

TEST(ForwardValues, BatchedMatmulEqualsItsProductsOneByOne) {
  // Enough products and work that the batch is split across threads (matmul.cpp), with a
  // shared left operand (a lowered convolution's W) and with transposed operands.
  for (dz::DType dt : {dz::f32, dz::f64}) {
    SCOPED_TRACE(dz::dtype_name(dt));
    Tensor a = dz::randn({16, 24, 40}, dt, 3), b = dz::randn({16, 40, 32}, dt, 4);
    Tensor w = dz::randn({24, 40}, dt, 5);
    Tensor ab = dz::matmul(a, b), wb = dz::matmul(w, b);
    Tensor abt = dz::matmul(b, a, true, true); // (a b)^T per image
    const double tol = dt == dz::f32 ? 1e-5 : 1e-12;
    for (int64_t i = 0; i < 16; ++i) {
      Tensor ai = a[{Index(i)}].copy(), bi = b[{Index(i)}].copy();
      EXPECT_TRUE(dz::allclose(ab[{Index(i)}].copy(), dz::matmul(ai, bi), tol, tol)) << i;
      EXPECT_TRUE(dz::allclose(wb[{Index(i)}].copy(), dz::matmul(w, bi), tol, tol)) << i;
      EXPECT_TRUE(dz::allclose(abt[{Index(i)}].copy(), dz::matmul(ai, bi).transpose().copy(),
                               tol, tol))
          << i;
    }
  }
}

TEST(ForwardValues, ElementwiseMath) {
  Variable x(Tensor::from({0.5, 1.0, 2.0}));
  expect_values(F::exp(x), {std::exp(0.5), std::exp(1.0), std::exp(2.0)});
  expect_values(F::log(x), {std::log(0.5), 0.0, std::log(2.0)});
  expect_values(F::sqrt(x), {std::sqrt(0.5), 1.0, std::sqrt(2.0)});
  expect_values(F::tanh(x), {std::tanh(0.5), std::tanh(1.0), std::tanh(2.0)});
  expect_values(F::pow(x, 3), {0.125, 1, 8});
  expect_values(F::div(x, Variable(Tensor::from({2.0}))), {0.25, 0.5, 1.0});
  expect_values(F::neg(x), {-0.5, -1, -2});
}

TEST(ForwardValues, Float32StaysFloat32ThroughForwardAndBackward) {
  Variable x(dz::randn({3, 4}, dz::f32, 1));
  Variable W(dz::randn({4, 2}, dz::f32, 2));
  Variable y = F::softmax(F::relu(F::matmul(x, W)) * 2.0 + 1.0);
  EXPECT_EQ(y.dtype(), dz::f32);
  F::sum(F::sigmoid(y) / 3.0).backward();
  ASSERT_TRUE(x.has_grad());
  EXPECT_EQ(x.grad().dtype(), dz::f32);
  EXPECT_EQ(W.grad().dtype(), dz::f32);
}

TEST(ForwardValues, DropoutIsInvertedInTrainAndIdentityInTest) {
  Variable x(dz::ones({100, 100}, dz::f64));
  dz::Generator gen(7);
  Variable y = F::dropout(x, 0.5, gen);
  int64_t kept = 0;
  for (int64_t k = 0; k < y.size(); ++k) {
    const double v = y.data().at(k);
    EXPECT_TRUE(v == 0.0 || v == 2.0) << v;
    kept += v != 0.0;
  }
  EXPECT_GT(kept, 4500);
  EXPECT_LT(kept, 5500);
  dz::Generator gen2(7);
  EXPECT_EQ(dz::max_abs_diff(F::dropout(x, 0.5, gen2).data(), y.data()), 0.0);

  dz::TestMode test_mode;
  Variable z = F::dropout(x, 0.5);
  EXPECT_EQ(dz::max_abs_diff(z.data(), x.data()), 0.0);
  dz::Generator gen3(7);
  EXPECT_EQ(dz::max_abs_diff(F::dropout(x, 0.9, gen3).data(), x.data()), 0.0);
}

TEST(ForwardValues, Float32ProductsOfEverySizeAndTransposeMatchFloat64) {
  // Small products go to OpenBLAS's small-matrix kernels where it is installed, larger ones
  // to oneDNN: both give the float64 product to float32 rounding, every transpose, with
  // and without linear's bias (beta = 1).
  struct Case {
    int64_t m, n, k;
  };
  for (Case c : {Case{1, 1, 1}, Case{3, 5, 7}, Case{30, 10, 2}, Case{30, 3, 10}, Case{25, 25, 26},
                 Case{26, 25, 26}, Case{40, 50, 60}}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        Tensor a = dz::randn(ta ? Shape{c.k, c.m} : Shape{c.m, c.k}, dz::f64, 7);
        Tensor b = dz::randn(tb ? Shape{c.n, c.k} : Shape{c.k, c.n}, dz::f64, 8);
        std::vector<double> want = dz::matmul(a, b, ta, tb).to_vector();
        std::vector<double> got = dz::matmul(a.to(dz::f32), b.to(dz::f32), ta, tb).to_vector();
        const std::string at = std::to_string(c.m) + "x" + std::to_string(c.n) + "x" +
                               std::to_string(c.k) + (ta ? " ta" : "") + (tb ? " tb" : "");
        ASSERT_EQ(got.size(), want.size()) << at;
        for (size_t i = 0; i < got.size(); ++i)
          ASSERT_NEAR(got[i], want[i], 2e-5 * (1 + std::sqrt(double(c.k)))) << at << " at " << i;
      }
    }
    if (c.k > 1) { // linear: x W + b with the bias broadcast first
      Tensor x = dz::randn({c.m, c.k}, dz::f64, 9), w = dz::randn({c.k, c.n}, dz::f64, 10);
      Tensor bias = dz::randn({c.n}, dz::f64, 11);
      std::vector<double> want = (dz::matmul(x, w) + bias).to_vector();
      std::vector<double> got =
          F::linear(Variable(x.to(dz::f32)), Variable(w.to(dz::f32)), Variable(bias.to(dz::f32)))
              .data()
              .to_vector();
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], want[i], 2e-5 * (1 + std::sqrt(double(c.k)))) << "linear at " << i;
    }
  }
}
