// test_executor_pipeline.cpp - dz IR in the textual form of docs/ir.md, through the
// compiled-mode pipeline (--dz-autodiff, canonicalize, CSE), executed on the CPU and
// compared with eager dzc: forward values, gradients, and a double backprop.
#include "ir_programs.h"

#include <dzc/codegen/ExecutorBuild.h>
#include <dzc/functions.h>
#include <dzc/ir/DzOps.h>
#include <dzc/passes/Passes.h>

#include <mlir/IR/BuiltinOps.h>
#include <mlir/IR/Diagnostics.h>
#include <mlir/IR/MLIRContext.h>
#include <mlir/Parser/Parser.h>
#include <mlir/Pass/PassManager.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

namespace F = dz::functions;
using dz::Tensor;
using dz::Variable;
using dz::codegen::Program;

/// Runs the dz pipeline on `ir` when `pipeline`, and builds the Program of its first
/// func.func. Throws dz::Error with the diagnostics when a stage fails.
Program compile(const std::string &ir, bool pipeline) {
  return std::move(dz::testing::build_programs(ir, [&](mlir::PassManager &pm) {
                     if (pipeline)
                       dz::passes::buildPipeline(pm, {.lower_conv = false, .fuse = false});
                   }).at(0));
}

void expect_close(const Tensor &got, const Tensor &want, double rtol) {
  ASSERT_EQ(got.shape(), want.shape());
  ASSERT_EQ(got.dtype(), want.dtype());
  EXPECT_TRUE(dz::allclose(got, want, rtol, rtol)) << "got\n" << got << "\nwant\n" << want;
}

TEST(ExecutorPipeline, TextualFormOfDocsIrMdRuns) {
  Program p = compile(R"(
func.func @f(%a: tensor<2x3xf32>, %b: tensor<3xf32>, %x: tensor<4x3xf32>, %w: tensor<5x3xf32>)
    -> (tensor<2xf32>, tensor<4x5xf32>) {
  %c = dz.constant dense<2.0> : tensor<f32>
  %0 = dz.add %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %1 = dz.exp %0 : tensor<2x3xf32>
  %m = dz.mul %1, %c : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
  %2 = dz.sum %m {axes = array<i64: 1>, keepdims = false} : tensor<2x3xf32> -> tensor<2xf32>
  %3 = dz.matmul %x, %w {transpose_b = true} : (tensor<4x3xf32>, tensor<5x3xf32>) -> tensor<4x5xf32>
  return %2, %3 : tensor<2xf32>, tensor<4x5xf32>
})",
                      false);
  Tensor a = dz::randn({2, 3}, dz::f32, 1), b = dz::randn({3}, dz::f32, 2);
  Tensor x = dz::randn({4, 3}, dz::f32, 3), w = dz::randn({5, 3}, dz::f32, 4);
  std::vector<Tensor> out = p.run({a, b, x, w});
  ASSERT_EQ(out.size(), 2u);
  expect_close(out[0], (dz::exp(a + b) * 2.0).sum({1}), 0);
  expect_close(out[1], dz::matmul(x, w, false, true), 0);
}

TEST(ExecutorPipeline, MlpGradientsAfterAutodiffMatchEagerBackward) {
  Program p = compile(R"(
func.func @step(%x: tensor<8x5xf32>, %t: tensor<8xi64>, %W1: tensor<5x16xf32>, %b1: tensor<16xf32>,
                %W2: tensor<16x3xf32>, %b2: tensor<3xf32>)
    -> (tensor<f32>, tensor<5x16xf32>, tensor<16xf32>, tensor<16x3xf32>, tensor<3xf32>) {
  %h = dz.linear %x, %W1, %b1 : (tensor<8x5xf32>, tensor<5x16xf32>, tensor<16xf32>) -> tensor<8x16xf32>
  %a = dz.sigmoid %h : tensor<8x16xf32>
  %y = dz.linear %a, %W2, %b2 : (tensor<8x16xf32>, tensor<16x3xf32>, tensor<3xf32>) -> tensor<8x3xf32>
  %loss = dz.softmax_cross_entropy %y, %t : (tensor<8x3xf32>, tensor<8xi64>) -> tensor<f32>
  %g:4 = dz.grad %loss wrt %W1, %b1, %W2, %b2 : tensor<f32>, tensor<5x16xf32>, tensor<16xf32>, tensor<16x3xf32>, tensor<3xf32>
  return %loss, %g#0, %g#1, %g#2, %g#3 : tensor<f32>, tensor<5x16xf32>, tensor<16xf32>, tensor<16x3xf32>, tensor<3xf32>
})",
                      true);
  Tensor x = dz::randn({8, 5}, dz::f32, 30), t = Tensor::from_i64({0, 1, 2, 1, 0, 2, 2, 1});
  Variable W1(dz::randn({5, 16}, dz::f32, 31) * 0.5), b1(dz::randn({16}, dz::f32, 32));
  Variable W2(dz::randn({16, 3}, dz::f32, 33) * 0.5), b2(dz::randn({3}, dz::f32, 34));
  std::vector<Tensor> out = p.run({x, t, W1.data(), b1.data(), W2.data(), b2.data()});
  ASSERT_EQ(out.size(), 5u);

  Variable loss = F::softmax_cross_entropy(F::linear(F::sigmoid(F::linear(x, W1, b1)), W2, b2), t);
  loss.backward();
  expect_close(out[0], loss.data(), 0);
  expect_close(out[1], W1.grad().data(), 1e-5);
  expect_close(out[2], b1.grad().data(), 1e-5);
  expect_close(out[3], W2.grad().data(), 1e-5);
  expect_close(out[4], b2.grad().data(), 1e-5);
}

TEST(ExecutorPipeline, DoubleBackpropOfTanhMatchesEagerCreateGraph) {
  // d/dx tanh = 1 - tanh^2; d2/dx2 = -2 tanh (1 - tanh^2).
  Program p = compile(R"(
func.func @f(%x: tensor<5xf64>) -> (tensor<5xf64>, tensor<5xf64>) {
  %y = dz.tanh %x : tensor<5xf64>
  %gx = dz.grad %y wrt %x : tensor<5xf64>, tensor<5xf64>
  %ggx = dz.grad %gx wrt %x : tensor<5xf64>, tensor<5xf64>
  return %gx, %ggx : tensor<5xf64>, tensor<5xf64>
})",
                      true);
  Tensor xt = Tensor::from({-1.5, -0.3, 0.0, 0.4, 2.0});
  std::vector<Tensor> out = p.run({xt});
  ASSERT_EQ(out.size(), 2u);

  Variable x(xt);
  F::tanh(x).backward({.create_graph = true});
  Variable gx = x.grad();
  x.cleargrad();
  gx.backward();
  expect_close(out[0], gx.data(), 1e-12);
  expect_close(out[1], x.grad().data(), 1e-12);
  Tensor th = dz::tanh(xt);
  expect_close(out[1], -2.0 * th * (1.0 - th * th), 1e-12);
}

} // namespace
