// The vectorised float32 math kernels (exp, tanh, sigmoid) against float64 references.
#include <dzc/dzc.h>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace {

// Largest relative error of f32 kernel vs f64 reference over x, where |ref| > floor.
double max_rel_error(dz::Tensor (*fn)(const dz::Tensor &), const dz::Tensor &x32) {
  dz::Tensor ref = fn(x32.to(dz::f64));
  dz::Tensor got = fn(x32).to(dz::f64);
  dz::Tensor rel = dz::abs(got - ref) / dz::maximum(dz::abs(ref), 1e-30);
  return rel.max().item<double>();
}

TEST(MathAccuracy, Float32ExpWithinFourUlp) {
  dz::Tensor x = dz::linspace(-87, 88, 1000001, dz::f32);
  EXPECT_LT(max_rel_error(dz::exp, x), 4 * 1.2e-7);
}

TEST(MathAccuracy, Float32TanhWithinFourUlp) {
  dz::Tensor x = dz::linspace(-12, 12, 1000001, dz::f32);
  EXPECT_LT(max_rel_error(dz::tanh, x), 4 * 1.2e-7);
  dz::Tensor tiny = dz::Tensor::from({1e-6, -3e-5, 0.0}, {3}, dz::f32);
  EXPECT_LT(max_rel_error(dz::tanh, tiny), 1.2e-7);
}

TEST(MathAccuracy, Float32SigmoidWithinFourUlp) {
  dz::Tensor x = dz::linspace(-80, 80, 1000001, dz::f32);
  EXPECT_LT(max_rel_error(dz::sigmoid, x), 4 * 1.2e-7);
}

TEST(MathAccuracy, SpecialValuesFollowIeee) {
  const double inf = std::numeric_limits<double>::infinity();
  dz::Tensor x = dz::Tensor::from({inf, -inf, 100.0, -200.0}, {4}, dz::f32);
  auto e = dz::exp(x).to_vector();
  EXPECT_EQ(e[0], inf);
  EXPECT_EQ(e[1], 0.0);
  EXPECT_EQ(e[2], inf); // exp(100) overflows float32
  EXPECT_EQ(e[3], 0.0);
  auto t = dz::tanh(x).to_vector();
  EXPECT_EQ(t[0], 1.0);
  EXPECT_EQ(t[1], -1.0);
  auto s = dz::sigmoid(x).to_vector();
  EXPECT_EQ(s[0], 1.0);
  EXPECT_EQ(s[1], 0.0);
  dz::Tensor nan = dz::Tensor::from({std::nan("")}, {1}, dz::f32);
  EXPECT_TRUE(std::isnan(dz::exp(nan).at(0)));
  EXPECT_TRUE(std::isnan(dz::tanh(nan).at(0)));
}

} // namespace
