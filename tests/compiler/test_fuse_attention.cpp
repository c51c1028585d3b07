// test_fuse_attention.cpp - dz.attention (--dz-fuse-attention) computes what the unfused
// chain computes: the pipeline with and without the pass on the same inputs (float32 and
// float64, masks broadcast several ways, rows masked whole), the runtime kernel against
// the tensor ops it replaces, its errors, and its gradient rule against central
// differences in float64.
#include "ir_programs.h"

#include <dzc/codegen/ExecutorBuild.h>
#include <dzc/dzc.h>
#include <dzc/ir/DzOps.h>
#include <dzc/passes/Passes.h>

#include <mlir/Pass/PassManager.h>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace {

using dz::Tensor;

/// The attention chain of a transformer's export: q / c, q k, + mask, softmax, p v.
std::string chain_ir(const std::string &t, const std::string &q, const std::string &k,
                     const std::string &v, const std::string &s, const std::string &o,
                     const std::string &mask) {
  auto ty = [&](const std::string &shape) { return "tensor<" + shape + "x" + t + ">"; };
  return "func.func @attention(%q: " + ty(q) + ", %k: " + ty(k) + ", %v: " + ty(v) +
         ", %mask: " + ty(mask) + ") -> " + ty(o) + " {\n" +
         "  %c = dz.constant dense<2.5> : tensor<" + t + ">\n" + "  %a = dz.div %q, %c : (" +
         ty(q) + ", tensor<" + t + ">) -> " + ty(q) + "\n" + "  %s = dz.matmul %a, %k : (" + ty(q) +
         ", " + ty(k) + ") -> " + ty(s) + "\n" + "  %m = dz.add %s, %mask : (" + ty(s) + ", " +
         ty(mask) + ") -> " + ty(s) + "\n" + "  %p = dz.softmax %m {axis = -1 : i64} : " + ty(s) +
         "\n" + "  %o = dz.matmul %p, %v : (" + ty(s) + ", " + ty(v) + ") -> " + ty(o) + "\n" +
         "  return %o : " + ty(o) + "\n}\n";
}

/// The program of `ir` after --dz-pipeline with or without the attention fusion, and how
/// many dz.attention ops it has.
std::pair<dz::codegen::Program, int> build(const std::string &ir, bool fuse_attention) {
  int count = 0;
  std::vector<dz::codegen::Program> programs = dz::testing::build_programs(
      ir,
      [&](mlir::PassManager &pm) {
        dz::passes::buildPipeline(pm, {.fuse = true, .fuse_attention = fuse_attention});
      },
      [&](mlir::func::FuncOp fn) { fn.walk([&](dz::ir::AttentionOp) { ++count; }); });
  return {std::move(programs.at(0)), count};
}

struct Case {
  const char *dtype;
  std::string q, k, v, s, o, mask;
  dz::Shape qs, ks, vs, ms;
};

TEST(FuseAttention, MatchesTheUnfusedChain) {
  const std::vector<Case> cases = {
      // a transformer's (batch * heads, sequence, head size) with a causal (sequence,
      // sequence) mask; more query rows than one block of the kernel
      {"f32",
       "6x70x8",
       "6x8x70",
       "6x70x5",
       "6x70x70",
       "6x70x5",
       "70x70",
       {6, 70, 8},
       {6, 8, 70},
       {6, 70, 5},
       {70, 70}},
      // 4-d, a key-padding mask (batch, 1, 1, keys), float64
      {"f64",
       "2x3x5x4",
       "2x3x4x6",
       "2x3x6x2",
       "2x3x5x6",
       "2x3x5x2",
       "2x1x1x6",
       {2, 3, 5, 4},
       {2, 3, 4, 6},
       {2, 3, 6, 2},
       {2, 1, 1, 6}},
      // a mask of the scores' full shape
      {"f32",
       "3x4x2",
       "3x2x5",
       "3x5x3",
       "3x4x5",
       "3x4x3",
       "3x4x5",
       {3, 4, 2},
       {3, 2, 5},
       {3, 5, 3},
       {3, 4, 5}},
  };
  uint64_t seed = 1;
  for (const Case &c : cases) {
    SCOPED_TRACE(c.q + " " + c.mask);
    const dz::DType dt = std::string(c.dtype) == "f32" ? dz::f32 : dz::f64;
    const std::string ir = chain_ir(c.dtype, c.q, c.k, c.v, c.s, c.o, c.mask);
    auto [fused, n_fused] = build(ir, true);
    auto [plain, n_plain] = build(ir, false);
    EXPECT_EQ(n_fused, 1);
    EXPECT_EQ(n_plain, 0);
    Tensor q = dz::randn(c.qs, dt, seed++), k = dz::randn(c.ks, dt, seed++);
    Tensor v = dz::randn(c.vs, dt, seed++);
    // a causal-style mask: 0 or -inf, with the first key never masked
    const Tensor r = dz::rand(c.ms, dz::f64, seed++);
    std::vector<double> m(size_t(r.size()));
    for (int64_t i = 0; i < r.size(); ++i)
      m[size_t(i)] = (i % c.ms.back()) != 0 && r.data<double>()[i] < 0.4
                         ? -std::numeric_limits<double>::infinity()
                         : 0.0;
    Tensor mask = Tensor::from(m, c.ms, dz::f64).to(dt);
    const Tensor want = plain.run({q, k, v, mask}).at(0);
    const Tensor got = fused.run({q, k, v, mask}).at(0);
    ASSERT_EQ(got.shape(), want.shape());
    EXPECT_LE(dz::max_abs_diff(got, want), dt == dz::f32 ? 2e-6 : 1e-13);
  }
}

TEST(FuseAttention, RowsMaskedWholeGiveNaNAsTheSoftmaxDoes) {
  const std::string ir = chain_ir("f32", "1x2x3", "1x3x2", "1x2x2", "1x2x2", "1x2x2", "2x2");
  auto [fused, n] = build(ir, true);
  ASSERT_EQ(n, 1);
  const double inf = std::numeric_limits<double>::infinity();
  Tensor mask = Tensor::from({0, 0, -inf, -inf}, {2, 2}, dz::f64).to(dz::f32);
  Tensor y = fused
                 .run({dz::randn({1, 2, 3}, dz::f32, 5), dz::randn({1, 3, 2}, dz::f32, 6),
                       dz::randn({1, 2, 2}, dz::f32, 7), mask})
                 .at(0)
                 .to(dz::f64);
  EXPECT_FALSE(std::isnan(y.data<double>()[0]));
  EXPECT_TRUE(std::isnan(y.data<double>()[2]));
}

TEST(FuseAttention, RuntimeKernelMatchesTheTensorOps) {
  Tensor q = dz::randn({2, 2, 100, 16}, dz::f32, 11), k = dz::randn({2, 2, 16, 90}, dz::f32, 12);
  Tensor v = dz::randn({2, 2, 90, 8}, dz::f32, 13), mask = dz::randn({2, 1, 100, 90}, dz::f32, 14);
  const Tensor want = dz::matmul(dz::softmax(dz::matmul(q, k) * 0.25 + mask, -1), v);
  EXPECT_LE(dz::max_abs_diff(dz::attention(q, k, v, &mask, 0.25), want), 2e-6);
  const Tensor plain = dz::matmul(dz::softmax(dz::matmul(q, k), -1), v);
  EXPECT_LE(dz::max_abs_diff(dz::attention(q, k, v, nullptr, 1.0), plain), 2e-6);
}

TEST(FuseAttention, RuntimeKernelRejectsShapesThatDoNotFit) {
  Tensor q = dz::randn({2, 3, 4}), k = dz::randn({2, 4, 5}), v = dz::randn({2, 5, 6});
  Tensor bad_mask = dz::randn({3, 4});
  EXPECT_THROW(dz::attention(q, k, v, &bad_mask, 1.0), dz::Error);
  EXPECT_THROW(dz::attention(q, dz::randn({2, 3, 5}), v, nullptr, 1.0), dz::Error);
  EXPECT_THROW(dz::attention(q, dz::randn({1, 4, 5}), v, nullptr, 1.0), dz::Error);
  EXPECT_THROW(dz::attention(dz::randn({4}), k, v, nullptr, 1.0), dz::Error);
}

/// d/dx of sum(w * attention(q, k, v, mask)) for each operand x, by dz.grad on dz.attention
/// itself (its gradient rule), against central differences of the forward, in float64.
TEST(FuseAttention, GradientRuleMatchesCentralDifferences) {
  const std::string ir = R"(
func.func @loss(%q: tensor<2x3x4xf64>, %k: tensor<2x4x5xf64>, %v: tensor<2x5x2xf64>, %mask: tensor<3x5xf64>, %w: tensor<2x3x2xf64>) -> tensor<f64> {
  %o = dz.attention %q, %k, %v, %mask {scale = 0.7 : f64} : (tensor<2x3x4xf64>, tensor<2x4x5xf64>, tensor<2x5x2xf64>, tensor<3x5xf64>) -> tensor<2x3x2xf64>
  %p = dz.mul %o, %w : (tensor<2x3x2xf64>, tensor<2x3x2xf64>) -> tensor<2x3x2xf64>
  %l = dz.sum %p {axes = array<i64>, keepdims = false} : tensor<2x3x2xf64> -> tensor<f64>
  return %l : tensor<f64>
}
func.func @grads(%q: tensor<2x3x4xf64>, %k: tensor<2x4x5xf64>, %v: tensor<2x5x2xf64>, %mask: tensor<3x5xf64>, %w: tensor<2x3x2xf64>) -> (tensor<2x3x4xf64>, tensor<2x4x5xf64>, tensor<2x5x2xf64>, tensor<3x5xf64>) {
  %o = dz.attention %q, %k, %v, %mask {scale = 0.7 : f64} : (tensor<2x3x4xf64>, tensor<2x4x5xf64>, tensor<2x5x2xf64>, tensor<3x5xf64>) -> tensor<2x3x2xf64>
  %p = dz.mul %o, %w : (tensor<2x3x2xf64>, tensor<2x3x2xf64>) -> tensor<2x3x2xf64>
  %l = dz.sum %p {axes = array<i64>, keepdims = false} : tensor<2x3x2xf64> -> tensor<f64>
  %g:4 = dz.grad %l wrt %q, %k, %v, %mask : tensor<f64>, tensor<2x3x4xf64>, tensor<2x4x5xf64>, tensor<2x5x2xf64>, tensor<3x5xf64>
  return %g#0, %g#1, %g#2, %g#3 : tensor<2x3x4xf64>, tensor<2x4x5xf64>, tensor<2x5x2xf64>, tensor<3x5xf64>
}
)";
  std::vector<dz::codegen::Program> programs =
      dz::testing::build_programs(ir, [](mlir::PassManager &pm) { dz::passes::buildPipeline(pm); });
  ASSERT_EQ(programs.size(), 2u);
  std::vector<Tensor> args = {dz::randn({2, 3, 4}, dz::f64, 21), dz::randn({2, 4, 5}, dz::f64, 22),
                              dz::randn({2, 5, 2}, dz::f64, 23), dz::randn({3, 5}, dz::f64, 24),
                              dz::randn({2, 3, 2}, dz::f64, 25)};
  const std::vector<Tensor> grads = programs[1].run(args);
  ASSERT_EQ(grads.size(), 4u);
  const double h = 1e-6;
  for (size_t a = 0; a < 4; ++a) {
    SCOPED_TRACE("operand " + std::to_string(a));
    for (int64_t i = 0; i < args[a].size(); ++i) {
      std::vector<Tensor> plus = args, minus = args;
      plus[a] = args[a].to(dz::f64) * 1.0; // own copies
      minus[a] = args[a].to(dz::f64) * 1.0;
      plus[a].data<double>()[i] += h;
      minus[a].data<double>()[i] -= h;
      const double numeric =
          (programs[0].run(plus).at(0).item_double() - programs[0].run(minus).at(0).item_double()) /
          (2 * h);
      EXPECT_NEAR(grads[a].data<double>()[i], numeric, 1e-7 * (1 + std::abs(numeric)))
          << "element " << i;
    }
  }
}

} // namespace
