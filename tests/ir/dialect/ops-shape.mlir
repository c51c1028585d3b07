// Round trip of the shape ops and reductions, with the shapes they infer.
// RUN: dz-opt %s | dz-opt | FileCheck %s

// CHECK-LABEL: func.func @shapes
// CHECK-SAME: (%[[X:.*]]: tensor<2x3xf32>, %[[T:.*]]: tensor<8xi64>)
func.func @shapes(%x: tensor<2x3xf32>, %t: tensor<8xi64>) -> tensor<2x3xf32> {
  // CHECK: %[[CAST:.*]] = dz.cast %[[T]] {dtype = f32} : tensor<8xi64> -> tensor<8xf32>
  %0 = dz.cast %t {dtype = f32} : tensor<8xi64> -> tensor<8xf32>
  // CHECK: %[[R:.*]] = dz.reshape %[[X]] {shape = array<i64: 3, 2>} : tensor<2x3xf32> -> tensor<3x2xf32>
  %1 = dz.reshape %x {shape = array<i64: 3, 2>} : tensor<2x3xf32> -> tensor<3x2xf32>
  // CHECK: %[[R0:.*]] = dz.reshape %[[R]] {shape = array<i64: 6, 1, 1>} : tensor<3x2xf32> -> tensor<6x1x1xf32>
  %2 = dz.reshape %1 {shape = array<i64: 6, 1, 1>} : tensor<3x2xf32> -> tensor<6x1x1xf32>
  // CHECK: %[[TR:.*]] = dz.transpose %[[R0]] {perm = array<i64: 2, 0, 1>} : tensor<6x1x1xf32> -> tensor<1x6x1xf32>
  %3 = dz.transpose %2 {perm = array<i64: 2, 0, 1>} : tensor<6x1x1xf32> -> tensor<1x6x1xf32>
  // CHECK: %[[B:.*]] = dz.broadcast_to %[[TR]] {shape = array<i64: 4, 5, 6, 7>} : tensor<1x6x1xf32> -> tensor<4x5x6x7xf32>
  %4 = dz.broadcast_to %3 {shape = array<i64: 4, 5, 6, 7>} : tensor<1x6x1xf32> -> tensor<4x5x6x7xf32>
  // CHECK: %[[S:.*]] = dz.sum_to %[[B]] {shape = array<i64: 6, 1>} : tensor<4x5x6x7xf32> -> tensor<6x1xf32>
  %5 = dz.sum_to %4 {shape = array<i64: 6, 1>} : tensor<4x5x6x7xf32> -> tensor<6x1xf32>
  // CHECK: %[[S2:.*]] = dz.sum_to %[[X]] {shape = array<i64>} : tensor<2x3xf32> -> tensor<f32>
  %6 = dz.sum_to %x {shape = array<i64>} : tensor<2x3xf32> -> tensor<f32>
  return %x : tensor<2x3xf32>
}

// CHECK-LABEL: func.func @reductions
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x4xf32>)
func.func @reductions(%x: tensor<2x3x4xf32>) -> tensor<f32> {
  // CHECK: dz.sum %[[X]] {axes = array<i64: 1>, keepdims = false} : tensor<2x3x4xf32> -> tensor<2x4xf32>
  %0 = dz.sum %x {axes = array<i64: 1>, keepdims = false} : tensor<2x3x4xf32> -> tensor<2x4xf32>
  // CHECK: dz.sum %[[X]] {axes = array<i64: -1, 0>, keepdims = true} : tensor<2x3x4xf32> -> tensor<1x3x1xf32>
  %1 = dz.sum %x {axes = array<i64: -1, 0>, keepdims = true} : tensor<2x3x4xf32> -> tensor<1x3x1xf32>
  // CHECK: dz.max %[[X]] {axes = array<i64: -2>, keepdims = false} : tensor<2x3x4xf32> -> tensor<2x4xf32>
  %2 = dz.max %x {axes = array<i64: -2>, keepdims = false} : tensor<2x3x4xf32> -> tensor<2x4xf32>
  // CHECK: dz.min %[[X]] {axes = array<i64>, keepdims = true} : tensor<2x3x4xf32> -> tensor<1x1x1xf32>
  %3 = dz.min %x {axes = array<i64>, keepdims = true} : tensor<2x3x4xf32> -> tensor<1x1x1xf32>
  // CHECK: %[[ALL:.*]] = dz.sum %[[X]] {axes = array<i64>, keepdims = false} : tensor<2x3x4xf32> -> tensor<f32>
  %4 = dz.sum %x {axes = array<i64>, keepdims = false} : tensor<2x3x4xf32> -> tensor<f32>
  // CHECK: return %[[ALL]]
  return %4 : tensor<f32>
}
