// mlp_step_ir.h - the MLP training step in dz IR that the compiler tests (fusion, the
// generated kernels) and the CUDA back end's tests share: linear + bias + ReLU, linear,
// softmax cross entropy, dz.grad of the loss, SGD updates w - lr * g. Fused: bias + ReLU,
// the loss gradient chain, the ReLU gradient, the four updates.
#pragma once

namespace dz::testing {

inline constexpr const char *kMlpStep = R"(
func.func @step(%x: tensor<32x20xf32>, %t: tensor<32xi64>, %W1: tensor<20x64xf32>, %b1: tensor<64xf32>,
                %W2: tensor<64x10xf32>, %b2: tensor<10xf32>)
    -> (tensor<f32>, tensor<20x64xf32>, tensor<64xf32>, tensor<64x10xf32>, tensor<10xf32>) {
  %h = dz.matmul %x, %W1 : (tensor<32x20xf32>, tensor<20x64xf32>) -> tensor<32x64xf32>
  %hb = dz.add %h, %b1 : (tensor<32x64xf32>, tensor<64xf32>) -> tensor<32x64xf32>
  %a = dz.relu %hb : tensor<32x64xf32>
  %y = dz.linear %a, %W2, %b2 : (tensor<32x64xf32>, tensor<64x10xf32>, tensor<10xf32>) -> tensor<32x10xf32>
  %loss = dz.softmax_cross_entropy %y, %t : (tensor<32x10xf32>, tensor<32xi64>) -> tensor<f32>
  %g:4 = dz.grad %loss wrt %W1, %b1, %W2, %b2 : tensor<f32>, tensor<20x64xf32>, tensor<64xf32>, tensor<64x10xf32>, tensor<10xf32>
  %lr = dz.constant dense<0.1> : tensor<f32>
  %u1 = dz.mul %lr, %g#0 : (tensor<f32>, tensor<20x64xf32>) -> tensor<20x64xf32>
  %W1n = dz.sub %W1, %u1 : (tensor<20x64xf32>, tensor<20x64xf32>) -> tensor<20x64xf32>
  %u2 = dz.mul %lr, %g#1 : (tensor<f32>, tensor<64xf32>) -> tensor<64xf32>
  %b1n = dz.sub %b1, %u2 : (tensor<64xf32>, tensor<64xf32>) -> tensor<64xf32>
  %u3 = dz.mul %lr, %g#2 : (tensor<f32>, tensor<64x10xf32>) -> tensor<64x10xf32>
  %W2n = dz.sub %W2, %u3 : (tensor<64x10xf32>, tensor<64x10xf32>) -> tensor<64x10xf32>
  %u4 = dz.mul %lr, %g#3 : (tensor<f32>, tensor<10xf32>) -> tensor<10xf32>
  %b2n = dz.sub %b2, %u4 : (tensor<10xf32>, tensor<10xf32>) -> tensor<10xf32>
  return %loss, %W1n, %b1n, %W2n, %b2n : tensor<f32>, tensor<20x64xf32>, tensor<64xf32>, tensor<64x10xf32>, tensor<10xf32>
})";

} // namespace dz::testing
