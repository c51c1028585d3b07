// RUN: dz-opt %s --dz-pipeline --split-input-file | FileCheck %s
// RUN: dz-opt %s --dz-pipeline="fuse=false" --split-input-file | FileCheck %s --check-prefix=NOFUSE
// RUN: dz-opt %s --dz-pipeline="lower-conv=true" --split-input-file | FileCheck %s --check-prefix=LOWER

// The whole pipeline of compiled mode on a training step: autodiff, canonicalize, CSE,
// then fusion: tanh + its sum (a trailing reduction, two results), tanh's gradient
// 1 - t*t, and the two SGD updates w - 0.1 * g. The GEMMs and the bias gradient's
// sum_to stay outside.

// CHECK-LABEL: func.func @step
// CHECK:         %[[H:.*]] = dz.linear %arg0, %arg1, %arg2
// CHECK-NEXT:    %[[T:.*]]:2 = dz.fused (%[[A:.*]] = %[[H]]) : (tensor<4x5xf32>) -> (tensor<4x5xf32>, tensor<f32>) {
// CHECK-NEXT:      %[[TANH:.*]] = dz.tanh %[[A]]
// CHECK-NEXT:      %[[S:.*]] = dz.sum %[[TANH]]
// CHECK-NEXT:      dz.yield %[[TANH]], %[[S]]
// CHECK:         %[[G:.*]] = dz.fused (%[[B:.*]] = %[[T]]#0)
// CHECK:           dz.mul %[[B]], %[[B]]
// CHECK:           dz.sub
// CHECK:         %[[GW:.*]] = dz.matmul %arg0, %[[G]] {transpose_a = true}
// CHECK-NEXT:    %[[GB:.*]] = dz.sum_to %[[G]]
// CHECK-NEXT:    %[[W:.*]] = dz.fused (%{{.*}} = %[[GW]], %{{.*}} = %arg1) : (tensor<3x5xf32>, tensor<3x5xf32>) -> tensor<3x5xf32>
// CHECK:         %[[BN:.*]] = dz.fused (%{{.*}} = %[[GB]], %{{.*}} = %arg2) : (tensor<5xf32>, tensor<5xf32>) -> tensor<5xf32>
// CHECK:         return %[[T]]#1, %[[W]], %[[BN]]

// NOFUSE-LABEL: func.func @step
// NOFUSE-NOT:     dz.fused
// NOFUSE:         dz.tanh
// NOFUSE-NOT:     dz.fused
// NOFUSE:         return

func.func @step(%x: tensor<4x3xf32>, %W: tensor<3x5xf32>, %b: tensor<5xf32>) -> (tensor<f32>, tensor<3x5xf32>, tensor<5xf32>) {
  %h = dz.linear %x, %W, %b : (tensor<4x3xf32>, tensor<3x5xf32>, tensor<5xf32>) -> tensor<4x5xf32>
  %a = dz.tanh %h : tensor<4x5xf32>
  %l = dz.sum %a {axes = array<i64>, keepdims = false} : tensor<4x5xf32> -> tensor<f32>
  %g:2 = dz.grad %l wrt %W, %b : tensor<f32>, tensor<3x5xf32>, tensor<5xf32>
  %lr = dz.constant dense<0.1> : tensor<f32>
  %u = dz.mul %lr, %g#0 : (tensor<f32>, tensor<3x5xf32>) -> tensor<3x5xf32>
  %Wn = dz.sub %W, %u : (tensor<3x5xf32>, tensor<3x5xf32>) -> tensor<3x5xf32>
  %v = dz.mul %lr, %g#1 : (tensor<f32>, tensor<5xf32>) -> tensor<5xf32>
  %bn = dz.sub %b, %v : (tensor<5xf32>, tensor<5xf32>) -> tensor<5xf32>
  return %l, %Wn, %bn : tensor<f32>, tensor<3x5xf32>, tensor<5xf32>
}


// A convolution stays a dz.conv2d (the runtime's kernel picks im2col + GEMM or oneDNN)
// unless the lowering is asked for: then a small one goes to the GEMM path (im2col +
// matmul; the policy keeps only large float32 convolutions on oneDNN's direct
// convolution). Its ReLU stays a single op (a group of one is not made).

// CHECK-LABEL: func.func @conv
// CHECK-NEXT:    %[[Y:.*]] = dz.conv2d %arg0, %arg1
// CHECK-NEXT:    %[[R:.*]] = dz.relu %[[Y]]
// CHECK-NEXT:    return %[[R]]

// LOWER-LABEL: func.func @conv
// LOWER-NEXT:    %[[COL:.*]] = dz.im2col %arg0 {kernel = array<i64: 3, 3>, pad = array<i64: 0, 0>, stride = array<i64: 1, 1>, to_matrix = false} : tensor<2x3x5x5xf32> -> tensor<2x3x3x3x3x3xf32>
// LOWER-NEXT:    %[[C:.*]] = dz.reshape %[[COL]] {shape = array<i64: 2, 27, 9>}
// LOWER-NEXT:    %[[W:.*]] = dz.reshape %arg1 {shape = array<i64: 4, 27>}
// LOWER-NEXT:    %[[M:.*]] = dz.matmul %[[W]], %[[C]] : (tensor<4x27xf32>, tensor<2x27x9xf32>) -> tensor<2x4x9xf32>
// LOWER-NEXT:    %[[Y:.*]] = dz.reshape %[[M]] {shape = array<i64: 2, 4, 3, 3>}
// LOWER-NEXT:    %[[R:.*]] = dz.relu %[[Y]]
// LOWER-NEXT:    return %[[R]]

func.func @conv(%x: tensor<2x3x5x5xf32>, %W: tensor<4x3x3x3xf32>) -> tensor<2x4x3x3xf32> {
  %y = dz.conv2d %x, %W {pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<2x3x5x5xf32>, tensor<4x3x3x3xf32>) -> tensor<2x4x3x3xf32>
  %r = dz.relu %y : tensor<2x4x3x3xf32>
  return %r : tensor<2x4x3x3xf32>
}
