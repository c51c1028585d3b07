// The dz ops survive a trip through MLIR bytecode.
// RUN: dz-opt --emit-bytecode %s | dz-opt | FileCheck %s

// CHECK-LABEL: func.func @step
func.func @step(%x: tensor<4x3xf32>, %w: tensor<3x5xf32>, %t: tensor<4xi64>) -> (tensor<f32>, tensor<3x5xf32>) {
  // CHECK: %[[C:.*]] = dz.constant dense<5.000000e-01> : tensor<f32>
  %c = dz.constant dense<0.5> : tensor<f32>
  // CHECK: %[[H:.*]] = dz.matmul %{{.*}}, %{{.*}} : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
  %h = dz.matmul %x, %w : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
  // CHECK: %[[S:.*]] = dz.mul %[[H]], %[[C]] : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
  %s = dz.mul %h, %c : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
  // CHECK: %[[R:.*]] = dz.sum %[[S]] {axes = array<i64: -1>, keepdims = true} : tensor<4x5xf32> -> tensor<4x1xf32>
  %r = dz.sum %s {axes = array<i64: -1>, keepdims = true} : tensor<4x5xf32> -> tensor<4x1xf32>
  // CHECK: %[[P:.*]] = dz.pow_scalar %[[R]] {exponent = 2.000000e+00 : f64} : tensor<4x1xf32>
  %p = dz.pow_scalar %r {exponent = 2.0 : f64} : tensor<4x1xf32>
  // CHECK: %[[L:.*]] = dz.softmax_cross_entropy %[[S]], %{{.*}} : (tensor<4x5xf32>, tensor<4xi64>) -> tensor<f32>
  %l = dz.softmax_cross_entropy %s, %t : (tensor<4x5xf32>, tensor<4xi64>) -> tensor<f32>
  // CHECK: %[[G:.*]] = dz.grad %[[L]] wrt %{{.*}} : tensor<f32>, tensor<3x5xf32>
  %g = dz.grad %l wrt %w : tensor<f32>, tensor<3x5xf32>
  // CHECK: return %[[L]], %[[G]]
  return %l, %g : tensor<f32>, tensor<3x5xf32>
}
