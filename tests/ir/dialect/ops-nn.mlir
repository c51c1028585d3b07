// Round trip of the linear-algebra, softmax, loss and gradient ops.
// RUN: dz-opt %s | dz-opt | FileCheck %s

// CHECK-LABEL: func.func @matmul
func.func @matmul(%x: tensor<4x3xf32>, %w: tensor<3x5xf32>, %v: tensor<5x3xf32>,
                  %p: tensor<7x1x4x3xf32>, %q: tensor<2x3x5xf32>, %r: tensor<3x4xf32>) {
  // CHECK: dz.matmul %{{.*}}, %{{.*}} : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
  %0 = dz.matmul %x, %w : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
  // CHECK: dz.matmul %{{.*}}, %{{.*}} {transpose_b = true} : (tensor<4x3xf32>, tensor<5x3xf32>) -> tensor<4x5xf32>
  %1 = dz.matmul %x, %v {transpose_b = true} : (tensor<4x3xf32>, tensor<5x3xf32>) -> tensor<4x5xf32>
  // CHECK: dz.matmul %{{.*}}, %{{.*}} {transpose_a = true, transpose_b = true} : (tensor<3x4xf32>, tensor<5x3xf32>) -> tensor<4x5xf32>
  %2 = dz.matmul %r, %v {transpose_a = true, transpose_b = true} : (tensor<3x4xf32>, tensor<5x3xf32>) -> tensor<4x5xf32>
  // The default false flags are not printed.
  // CHECK: dz.matmul %{{.*}}, %{{.*}} : (tensor<7x1x4x3xf32>, tensor<2x3x5xf32>) -> tensor<7x2x4x5xf32>
  %3 = dz.matmul %p, %q {transpose_a = false} : (tensor<7x1x4x3xf32>, tensor<2x3x5xf32>) -> tensor<7x2x4x5xf32>
  return
}

// CHECK-LABEL: func.func @linear
// CHECK-SAME: (%[[X:.*]]: tensor<4x3xf32>, %[[W:.*]]: tensor<3x5xf32>, %[[B:.*]]: tensor<5xf32>)
func.func @linear(%x: tensor<4x3xf32>, %W: tensor<3x5xf32>, %b: tensor<5xf32>) -> tensor<4x5xf32> {
  // CHECK: dz.linear %[[X]], %[[W]], %[[B]] : (tensor<4x3xf32>, tensor<3x5xf32>, tensor<5xf32>) -> tensor<4x5xf32>
  %0 = dz.linear %x, %W, %b : (tensor<4x3xf32>, tensor<3x5xf32>, tensor<5xf32>) -> tensor<4x5xf32>
  // CHECK: dz.linear %[[X]], %[[W]] : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
  %1 = dz.linear %x, %W : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
  return %1 : tensor<4x5xf32>
}

// CHECK-LABEL: func.func @losses
// CHECK-SAME: (%[[X:.*]]: tensor<100x10xf32>, %[[T:.*]]: tensor<100xi64>, %[[Y:.*]]: tensor<100x1xf64>)
func.func @losses(%x: tensor<100x10xf32>, %t: tensor<100xi64>, %y: tensor<100x1xf64>) -> tensor<f32> {
  // CHECK: dz.softmax %[[X]] {axis = 1 : i64} : tensor<100x10xf32>
  %0 = dz.softmax %x {axis = 1 : i64} : tensor<100x10xf32>
  // CHECK: dz.log_softmax %[[X]] {axis = -1 : i64} : tensor<100x10xf32>
  %1 = dz.log_softmax %x {axis = -1 : i64} : tensor<100x10xf32>
  // CHECK: %[[L:.*]] = dz.softmax_cross_entropy %[[X]], %[[T]] : (tensor<100x10xf32>, tensor<100xi64>) -> tensor<f32>
  %2 = dz.softmax_cross_entropy %x, %t : (tensor<100x10xf32>, tensor<100xi64>) -> tensor<f32>
  // CHECK: dz.one_hot %[[T]] {dtype = f32, num_classes = 10 : i64} : tensor<100xi64> -> tensor<100x10xf32>
  %3 = dz.one_hot %t {dtype = f32, num_classes = 10 : i64} : tensor<100xi64> -> tensor<100x10xf32>
  // CHECK: dz.mean_squared_error %[[Y]], %[[Y]] : (tensor<100x1xf64>, tensor<100x1xf64>) -> tensor<f64>
  %4 = dz.mean_squared_error %y, %y : (tensor<100x1xf64>, tensor<100x1xf64>) -> tensor<f64>
  // CHECK: return %[[L]]
  return %2 : tensor<f32>
}

// CHECK-LABEL: func.func @grad
// CHECK-SAME: (%[[X:.*]]: tensor<4x3xf32>, %[[W:.*]]: tensor<3x5xf32>, %[[B:.*]]: tensor<5xf32>)
func.func @grad(%x: tensor<4x3xf32>, %w: tensor<3x5xf32>, %b: tensor<5xf32>) -> (tensor<3x5xf32>, tensor<5xf32>) {
  %0 = dz.linear %x, %w, %b : (tensor<4x3xf32>, tensor<3x5xf32>, tensor<5xf32>) -> tensor<4x5xf32>
  // CHECK: %[[LOSS:.*]] = dz.sum
  %loss = dz.sum %0 {axes = array<i64>, keepdims = false} : tensor<4x5xf32> -> tensor<f32>
  // CHECK: %[[G:.*]]:2 = dz.grad %[[LOSS]] wrt %[[W]], %[[B]] : tensor<f32>, tensor<3x5xf32>, tensor<5xf32>
  %g:2 = dz.grad %loss wrt %w, %b : tensor<f32>, tensor<3x5xf32>, tensor<5xf32>
  // CHECK: dz.grad %[[G]]#1 wrt %[[X]] : tensor<5xf32>, tensor<4x3xf32>
  %gg = dz.grad %g#1 wrt %x : tensor<5xf32>, tensor<4x3xf32>
  // CHECK: return %[[G]]#0, %[[G]]#1
  return %g#0, %g#1 : tensor<3x5xf32>, tensor<5xf32>
}
