// test_lower_conv.cpp - --dz-lower-conv keeps training steps right: dz IR through
// --dz-pipeline, then once as it is (the executor runs the direct conv kernels) and once
// with the convolutions lowered to im2col / col2im + matmul, built into CPU programs and
// run on the same inputs; results agree to 1e-5 (float32) / 1e-12 (float64), relative to
// 1 + |value|.
#include "ir_programs.h"

#include <dzc/codegen/ExecutorBuild.h>
#include <dzc/ir/DzOps.h>
#include <dzc/passes/Passes.h>

#include <mlir/IR/BuiltinOps.h>
#include <mlir/IR/Diagnostics.h>
#include <mlir/IR/MLIRContext.h>
#include <mlir/Parser/Parser.h>
#include <mlir/Pass/PassManager.h>
#include <mlir/Transforms/Passes.h>

#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

namespace {

using dz::Tensor;
using dz::codegen::Program;
using dz::passes::ConvLoweringPolicy;

/// A program compiled from dz IR and the convolution ops left in its function.
struct Compiled {
  Program program;
  int convs = 0;   // dz.conv2d, dz.deconv2d, dz.conv2d_grad_w
  int im2cols = 0; // dz.im2col, dz.col2im
};

/// Parses `ir`, runs --dz-pipeline and, with a policy, --dz-lower-conv followed by
/// canonicalize and CSE (so that a conv2d and its weight gradient share one im2col), or
/// with `before_autodiff` --dz-lower-conv before the pipeline (autodiff then differentiates
/// the im2col + GEMM ops), and builds the Program of each func.func. Throws dz::Error
/// with the diagnostics.
std::vector<Compiled> compile_all(const std::string &ir, std::optional<ConvLoweringPolicy> lower,
                                  bool before_autodiff = false) {
  std::vector<Compiled> counts;
  std::vector<Program> programs = dz::testing::build_programs(
      ir,
      [&](mlir::PassManager &pm) {
        if (lower && before_autodiff)
          pm.addPass(dz::passes::createLowerConvPass(*lower));
        dz::passes::buildPipeline(pm, {.lower_conv = false, .fuse = false});
        if (lower && !before_autodiff) {
          pm.addPass(dz::passes::createLowerConvPass(*lower));
          pm.addPass(mlir::createCanonicalizerPass());
          pm.addPass(mlir::createCSEPass());
        }
      },
      [&](mlir::func::FuncOp fn) {
        Compiled &c = counts.emplace_back();
        fn.walk([&](mlir::Operation *op) {
          if (mlir::isa<dz::ir::Conv2dOp, dz::ir::Deconv2dOp, dz::ir::Conv2dGradWOp>(op))
            ++c.convs;
          if (mlir::isa<dz::ir::Im2colOp, dz::ir::Col2imOp>(op))
            ++c.im2cols;
        });
      });
  for (size_t i = 0; i < programs.size(); ++i)
    counts[i].program = std::move(programs[i]);
  return counts;
}

Compiled compile(const std::string &ir, std::optional<ConvLoweringPolicy> lower) {
  return std::move(compile_all(ir, lower).at(0));
}

/// |got - want| <= tol (1 + |want|) elementwise, tol 1e-5 for float32 and 1e-12 for float64.
void expect_close(const Tensor &got, const Tensor &want, size_t i) {
  ASSERT_EQ(got.shape(), want.shape()) << "result " << i;
  ASSERT_EQ(got.dtype(), want.dtype()) << "result " << i;
  const bool f64 = want.dtype() == dz::f64;
  const double tol = f64 ? 1e-12 : 1e-5;
  Tensor g = got.to(dz::f64), w = want.to(dz::f64);
  const double *pg = g.data<double>(), *pw = w.data<double>();
  int64_t bad = 0, first = -1;
  for (int64_t k = 0; k < g.size(); ++k)
    if (!(std::abs(pg[k] - pw[k]) <= tol * (1 + std::abs(pw[k]))) && bad++ == 0)
      first = k;
  EXPECT_EQ(bad, 0) << "result " << i << ": " << bad << " of " << g.size()
                    << " elements differ by more than " << tol << " (relative to 1 + |value|); "
                    << "first at " << first << ": lowered " << (first >= 0 ? pg[first] : 0.0)
                    << " vs direct " << (first >= 0 ? pw[first] : 0.0) << "; max abs diff "
                    << dz::max_abs_diff(got, want);
}

/// Runs `steps` training steps of a function (args: the inputs, then the parameters;
/// results: the loss, then the updated parameters, fed into the next step) through both
/// programs and compares every result of every step.
void expect_steps_close(const Compiled &lowered, const Compiled &direct,
                        const std::vector<Tensor> &inputs, const std::vector<Tensor> &params,
                        int steps) {
  std::vector<Tensor> p_lowered = params, p_direct = params;
  for (int step = 0; step < steps; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    std::vector<Tensor> a_lowered = inputs, a_direct = inputs;
    a_lowered.insert(a_lowered.end(), p_lowered.begin(), p_lowered.end());
    a_direct.insert(a_direct.end(), p_direct.begin(), p_direct.end());
    std::vector<Tensor> got = lowered.program.run(a_lowered), want = direct.program.run(a_direct);
    ASSERT_EQ(got.size(), params.size() + 1);
    ASSERT_EQ(want.size(), params.size() + 1);
    for (size_t i = 0; i < got.size(); ++i)
      expect_close(got[i], want[i], i);
    p_lowered.assign(got.begin() + 1, got.end());
    p_direct.assign(want.begin() + 1, want.end());
  }
}

// The CNN of the compiler issue at batch 8: conv 1->8 3x3 pad 1 + bias, relu, max pool 2,
// conv 8->16 3x3 + bias, relu, max pool 2, linear 576->10, softmax cross entropy,
// dz.grad, SGD. After the pipeline: two conv2d, one deconv2d (the input gradient of the
// second convolution; the first one's input is data) and two conv2d_grad_w. The second
// conv2d has 72 taps and 8*16*12*12*72 = 1.3M multiply-adds: `auto` keeps it.
const char *kCnnStep = R"(
func.func @cnn_step(%x: tensor<8x1x28x28xf32>, %t: tensor<8xi64>, %W1: tensor<8x1x3x3xf32>, %b1: tensor<8xf32>, %W2: tensor<16x8x3x3xf32>, %b2: tensor<16xf32>, %W3: tensor<576x10xf32>, %b3: tensor<10xf32>) -> (tensor<f32>, tensor<8x1x3x3xf32>, tensor<8xf32>, tensor<16x8x3x3xf32>, tensor<16xf32>, tensor<576x10xf32>, tensor<10xf32>) {
  %c1 = dz.conv2d %x, %W1, %b1 {pad = array<i64: 1, 1>, stride = array<i64: 1, 1>} : (tensor<8x1x28x28xf32>, tensor<8x1x3x3xf32>, tensor<8xf32>) -> tensor<8x8x28x28xf32>
  %r1 = dz.relu %c1 : tensor<8x8x28x28xf32>
  %p1 = dz.max_pooling %r1 {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : tensor<8x8x28x28xf32> -> tensor<8x8x14x14xf32>
  %c2 = dz.conv2d %p1, %W2, %b2 {pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<8x8x14x14xf32>, tensor<16x8x3x3xf32>, tensor<16xf32>) -> tensor<8x16x12x12xf32>
  %r2 = dz.relu %c2 : tensor<8x16x12x12xf32>
  %p2 = dz.max_pooling %r2 {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : tensor<8x16x12x12xf32> -> tensor<8x16x6x6xf32>
  %f = dz.reshape %p2 {shape = array<i64: 8, 576>} : tensor<8x16x6x6xf32> -> tensor<8x576xf32>
  %y = dz.linear %f, %W3, %b3 : (tensor<8x576xf32>, tensor<576x10xf32>, tensor<10xf32>) -> tensor<8x10xf32>
  %loss = dz.softmax_cross_entropy %y, %t : (tensor<8x10xf32>, tensor<8xi64>) -> tensor<f32>
  %g:6 = dz.grad %loss wrt %W1, %b1, %W2, %b2, %W3, %b3 : tensor<f32>, tensor<8x1x3x3xf32>, tensor<8xf32>, tensor<16x8x3x3xf32>, tensor<16xf32>, tensor<576x10xf32>, tensor<10xf32>
  %lr = dz.constant dense<0.1> : tensor<f32>
  %u1 = dz.mul %g#0, %lr : (tensor<8x1x3x3xf32>, tensor<f32>) -> tensor<8x1x3x3xf32>
  %W1n = dz.sub %W1, %u1 : (tensor<8x1x3x3xf32>, tensor<8x1x3x3xf32>) -> tensor<8x1x3x3xf32>
  %u2 = dz.mul %g#1, %lr : (tensor<8xf32>, tensor<f32>) -> tensor<8xf32>
  %b1n = dz.sub %b1, %u2 : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  %u3 = dz.mul %g#2, %lr : (tensor<16x8x3x3xf32>, tensor<f32>) -> tensor<16x8x3x3xf32>
  %W2n = dz.sub %W2, %u3 : (tensor<16x8x3x3xf32>, tensor<16x8x3x3xf32>) -> tensor<16x8x3x3xf32>
  %u4 = dz.mul %g#3, %lr : (tensor<16xf32>, tensor<f32>) -> tensor<16xf32>
  %b2n = dz.sub %b2, %u4 : (tensor<16xf32>, tensor<16xf32>) -> tensor<16xf32>
  %u5 = dz.mul %g#4, %lr : (tensor<576x10xf32>, tensor<f32>) -> tensor<576x10xf32>
  %W3n = dz.sub %W3, %u5 : (tensor<576x10xf32>, tensor<576x10xf32>) -> tensor<576x10xf32>
  %u6 = dz.mul %g#5, %lr : (tensor<10xf32>, tensor<f32>) -> tensor<10xf32>
  %b3n = dz.sub %b3, %u6 : (tensor<10xf32>, tensor<10xf32>) -> tensor<10xf32>
  return %loss, %W1n, %b1n, %W2n, %b2n, %W3n, %b3n : tensor<f32>, tensor<8x1x3x3xf32>, tensor<8xf32>, tensor<16x8x3x3xf32>, tensor<16xf32>, tensor<576x10xf32>, tensor<10xf32>
})";

std::vector<Tensor> cnn_inputs() {
  std::vector<int64_t> labels(8);
  for (size_t i = 0; i < labels.size(); ++i)
    labels[i] = int64_t(i * 3 % 10);
  return {dz::randn({8, 1, 28, 28}, dz::f32, 80), Tensor::from_i64(labels)};
}

std::vector<Tensor> cnn_params() {
  return {dz::randn({8, 1, 3, 3}, dz::f32, 81) * 0.3,  dz::randn({8}, dz::f32, 82) * 0.1,
          dz::randn({16, 8, 3, 3}, dz::f32, 83) * 0.1, dz::randn({16}, dz::f32, 84) * 0.1,
          dz::randn({576, 10}, dz::f32, 85) * 0.05,    dz::randn({10}, dz::f32, 86) * 0.1};
}

TEST(LowerConv, CnnTrainingStepWithEveryConvLoweredMatchesDirect) {
  Compiled direct = compile(kCnnStep, std::nullopt);
  Compiled lowered = compile(kCnnStep, ConvLoweringPolicy::All);
  EXPECT_EQ(direct.convs, 5);
  EXPECT_EQ(direct.im2cols, 0);
  EXPECT_EQ(lowered.convs, 0);
  // im2col of x and of p1, each shared by the conv2d and its weight gradient after CSE;
  // col2im of the deconv2d.
  EXPECT_EQ(lowered.im2cols, 3);
  expect_steps_close(lowered, direct, cnn_inputs(), cnn_params(), 3);
}

TEST(LowerConv, CnnTrainingStepAutoKeepsTheConvOneDnnRunsFaster) {
  Compiled direct = compile(kCnnStep, std::nullopt);
  Compiled lowered = compile(kCnnStep, ConvLoweringPolicy::Auto);
  EXPECT_EQ(lowered.convs, 1); // the 8->16 conv2d; its gradients are lowered
  expect_steps_close(lowered, direct, cnn_inputs(), cnn_params(), 3);
}

TEST(LowerConv, CnnTrainingStepLoweredBeforeAutodiffMatchesDirect) {
  // The gradient rules of im2col (col2im), matmul and reshape take the place of those of
  // conv2d (deconv2d, conv2d_grad_w).
  Compiled direct = compile(kCnnStep, std::nullopt);
  Compiled lowered = std::move(compile_all(kCnnStep, ConvLoweringPolicy::All, true).at(0));
  EXPECT_EQ(lowered.convs, 0);
  EXPECT_EQ(lowered.im2cols, 3);
  expect_steps_close(lowered, direct, cnn_inputs(), cnn_params(), 3);
}

// float64, with what the CNN step does not have: a strided, padded conv2d, a deconv2d
// with bias and stride 2 (its default outsize, 9x9), and a 1x1 convolution (reshapes
// only, no im2col). Loss: mean squared error against the input. `auto` lowers all of
// them (float64).
const char *kAutoencoderStep = R"(
func.func @ae_step(%x: tensor<4x3x9x9xf64>, %W1: tensor<6x3x3x3xf64>, %b1: tensor<6xf64>, %W2: tensor<6x3x3x3xf64>, %b2: tensor<3xf64>, %W3: tensor<3x3x1x1xf64>) -> (tensor<f64>, tensor<6x3x3x3xf64>, tensor<6xf64>, tensor<6x3x3x3xf64>, tensor<3xf64>, tensor<3x3x1x1xf64>) {
  %c = dz.conv2d %x, %W1, %b1 {pad = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<4x3x9x9xf64>, tensor<6x3x3x3xf64>, tensor<6xf64>) -> tensor<4x6x5x5xf64>
  %h = dz.tanh %c : tensor<4x6x5x5xf64>
  %d = dz.deconv2d %h, %W2, %b2 {outsize = array<i64: 9, 9>, pad = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<4x6x5x5xf64>, tensor<6x3x3x3xf64>, tensor<3xf64>) -> tensor<4x3x9x9xf64>
  %y = dz.conv2d %d, %W3 {pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<4x3x9x9xf64>, tensor<3x3x1x1xf64>) -> tensor<4x3x9x9xf64>
  %loss = dz.mean_squared_error %y, %x : (tensor<4x3x9x9xf64>, tensor<4x3x9x9xf64>) -> tensor<f64>
  %g:5 = dz.grad %loss wrt %W1, %b1, %W2, %b2, %W3 : tensor<f64>, tensor<6x3x3x3xf64>, tensor<6xf64>, tensor<6x3x3x3xf64>, tensor<3xf64>, tensor<3x3x1x1xf64>
  %lr = dz.constant dense<0.01> : tensor<f64>
  %u1 = dz.mul %g#0, %lr : (tensor<6x3x3x3xf64>, tensor<f64>) -> tensor<6x3x3x3xf64>
  %W1n = dz.sub %W1, %u1 : (tensor<6x3x3x3xf64>, tensor<6x3x3x3xf64>) -> tensor<6x3x3x3xf64>
  %u2 = dz.mul %g#1, %lr : (tensor<6xf64>, tensor<f64>) -> tensor<6xf64>
  %b1n = dz.sub %b1, %u2 : (tensor<6xf64>, tensor<6xf64>) -> tensor<6xf64>
  %u3 = dz.mul %g#2, %lr : (tensor<6x3x3x3xf64>, tensor<f64>) -> tensor<6x3x3x3xf64>
  %W2n = dz.sub %W2, %u3 : (tensor<6x3x3x3xf64>, tensor<6x3x3x3xf64>) -> tensor<6x3x3x3xf64>
  %u4 = dz.mul %g#3, %lr : (tensor<3xf64>, tensor<f64>) -> tensor<3xf64>
  %b2n = dz.sub %b2, %u4 : (tensor<3xf64>, tensor<3xf64>) -> tensor<3xf64>
  %u5 = dz.mul %g#4, %lr : (tensor<3x3x1x1xf64>, tensor<f64>) -> tensor<3x3x1x1xf64>
  %W3n = dz.sub %W3, %u5 : (tensor<3x3x1x1xf64>, tensor<3x3x1x1xf64>) -> tensor<3x3x1x1xf64>
  return %loss, %W1n, %b1n, %W2n, %b2n, %W3n : tensor<f64>, tensor<6x3x3x3xf64>, tensor<6xf64>, tensor<6x3x3x3xf64>, tensor<3xf64>, tensor<3x3x1x1xf64>
})";

TEST(LowerConv, Float64StridedDeconvAndPointwiseStepMatchesDirect) {
  Compiled direct = compile(kAutoencoderStep, std::nullopt);
  EXPECT_GE(direct.convs, 7);
  std::vector<Tensor> params = {
      dz::randn({6, 3, 3, 3}, dz::f64, 91) * 0.3, dz::randn({6}, dz::f64, 92) * 0.1,
      dz::randn({6, 3, 3, 3}, dz::f64, 93) * 0.3, dz::randn({3}, dz::f64, 94) * 0.1,
      dz::randn({3, 3, 1, 1}, dz::f64, 95) * 0.5};
  for (ConvLoweringPolicy policy : {ConvLoweringPolicy::All, ConvLoweringPolicy::Auto}) {
    SCOPED_TRACE(policy == ConvLoweringPolicy::All ? "policy=all" : "policy=auto");
    Compiled lowered = compile(kAutoencoderStep, policy);
    EXPECT_EQ(lowered.convs, 0);
    expect_steps_close(lowered, direct, {dz::randn({4, 3, 9, 9}, dz::f64, 90)}, params, 2);
  }
}

TEST(LowerConv, EveryGradcheckFunctionMatchesDirect) {
  // tests/gradcheck/rules.mlir: one function per gradient rule, first and second
  // derivatives (double backprop: conv2d, deconv2d and conv2d_grad_w of one another),
  // f64 inputs in [0.3, 1.3), i64 labels 0.
  const std::string rules = dz::testing::gradcheck_rules();
  std::vector<Compiled> direct = compile_all(rules, std::nullopt),
                        lowered = compile_all(rules, ConvLoweringPolicy::All);
  ASSERT_EQ(direct.size(), lowered.size());
  int convs = 0;
  for (size_t f = 0; f < direct.size(); ++f) {
    SCOPED_TRACE("@" + direct[f].program.name());
    EXPECT_EQ(lowered[f].convs, 0);
    convs += direct[f].convs;
    std::vector<Tensor> args = dz::testing::gradcheck_args(direct[f].program, 70 + f);
    std::vector<Tensor> want = direct[f].program.run(args), got = lowered[f].program.run(args);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i)
      expect_close(got[i], want[i], i);
  }
  EXPECT_GE(convs, 9);
}

} // namespace
