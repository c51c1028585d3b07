// The folders of the dz ops under --canonicalize: x * 1, x + 0, broadcast_to /
// sum_to / reshape to the same type, reshape of reshape, transpose of transpose.
// RUN: dz-opt %s --canonicalize --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @mul_by_one
// CHECK-SAME: (%[[X:.*]]: tensor<2x3xf32>)
// CHECK-NEXT: return %[[X]] : tensor<2x3xf32>
func.func @mul_by_one(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %one = dz.constant dense<1.0> : tensor<f32>
  %0 = dz.mul %x, %one : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
  %1 = dz.mul %one, %0 : (tensor<f32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %1 : tensor<2x3xf32>
}

// -----

// A splat 1 that broadcasts the other operand to a larger type stays.
// CHECK-LABEL: func.func @mul_by_one_that_broadcasts
// CHECK-SAME: (%[[X:.*]]: tensor<3xf32>)
// CHECK-NEXT: %[[ONE:.*]] = dz.constant dense<1.000000e+00> : tensor<2x3xf32>
// CHECK-NEXT: %[[M:.*]] = dz.mul %[[X]], %[[ONE]] : (tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: return %[[M]] : tensor<2x3xf32>
func.func @mul_by_one_that_broadcasts(%x: tensor<3xf32>) -> tensor<2x3xf32> {
  %one = dz.constant dense<1.0> : tensor<2x3xf32>
  %0 = dz.mul %x, %one : (tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// CHECK-LABEL: func.func @mul_by_two_stays
// CHECK-NEXT: %[[TWO:.*]] = dz.constant dense<2.000000e+00> : tensor<f32>
// CHECK-NEXT: %[[M:.*]] = dz.mul %{{.*}}, %[[TWO]] : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
// CHECK-NEXT: return %[[M]]
func.func @mul_by_two_stays(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %two = dz.constant dense<2.0> : tensor<f32>
  %0 = dz.mul %x, %two : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// CHECK-LABEL: func.func @add_zero
// CHECK-SAME: (%[[X:.*]]: tensor<4xf64>, %[[I:.*]]: tensor<4xi64>)
// CHECK-NEXT: return %[[X]], %[[I]] : tensor<4xf64>, tensor<4xi64>
func.func @add_zero(%x: tensor<4xf64>, %i: tensor<4xi64>) -> (tensor<4xf64>, tensor<4xi64>) {
  %zero = dz.constant dense<0.0> : tensor<4xf64>
  %0 = dz.add %zero, %x : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
  %izero = dz.constant dense<0> : tensor<i64>
  %1 = dz.add %i, %izero : (tensor<4xi64>, tensor<i64>) -> tensor<4xi64>
  return %0, %1 : tensor<4xf64>, tensor<4xi64>
}

// -----

// CHECK-LABEL: func.func @same_type_shape_ops
// CHECK-SAME: (%[[X:.*]]: tensor<2x3xf32>)
// CHECK-NEXT: return %[[X]] : tensor<2x3xf32>
func.func @same_type_shape_ops(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = dz.broadcast_to %x {shape = array<i64: 2, 3>} : tensor<2x3xf32> -> tensor<2x3xf32>
  %1 = dz.sum_to %0 {shape = array<i64: 2, 3>} : tensor<2x3xf32> -> tensor<2x3xf32>
  %2 = dz.reshape %1 {shape = array<i64: 2, 3>} : tensor<2x3xf32> -> tensor<2x3xf32>
  %3 = dz.transpose %2 {perm = array<i64: 0, 1>} : tensor<2x3xf32> -> tensor<2x3xf32>
  return %3 : tensor<2x3xf32>
}

// -----

// CHECK-LABEL: func.func @reshape_of_reshape
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x4xf32>)
// CHECK-NEXT: %[[R:.*]] = dz.reshape %[[X]] {shape = array<i64: 24>} : tensor<2x3x4xf32> -> tensor<24xf32>
// CHECK-NEXT: return %[[R]] : tensor<24xf32>
func.func @reshape_of_reshape(%x: tensor<2x3x4xf32>) -> tensor<24xf32> {
  %0 = dz.reshape %x {shape = array<i64: 6, 4>} : tensor<2x3x4xf32> -> tensor<6x4xf32>
  %1 = dz.reshape %0 {shape = array<i64: 4, 6>} : tensor<6x4xf32> -> tensor<4x6xf32>
  %2 = dz.reshape %1 {shape = array<i64: 24>} : tensor<4x6xf32> -> tensor<24xf32>
  return %2 : tensor<24xf32>
}

// -----

// CHECK-LABEL: func.func @reshape_back
// CHECK-SAME: (%[[X:.*]]: tensor<2x3xf32>)
// CHECK-NEXT: return %[[X]] : tensor<2x3xf32>
func.func @reshape_back(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = dz.reshape %x {shape = array<i64: 6>} : tensor<2x3xf32> -> tensor<6xf32>
  %1 = dz.reshape %0 {shape = array<i64: 2, 3>} : tensor<6xf32> -> tensor<2x3xf32>
  return %1 : tensor<2x3xf32>
}

// -----

// CHECK-LABEL: func.func @transpose_of_transpose
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x4xf32>)
// CHECK-NEXT: %[[T:.*]] = dz.transpose %[[X]] {perm = array<i64: 2, 1, 0>} : tensor<2x3x4xf32> -> tensor<4x3x2xf32>
// CHECK-NEXT: return %[[T]] : tensor<4x3x2xf32>
func.func @transpose_of_transpose(%x: tensor<2x3x4xf32>) -> tensor<4x3x2xf32> {
  // (2,3,4) -perm [1,2,0]-> (3,4,2) -perm [1,0,2]-> (4,3,2) = perm [2,1,0] of x.
  %0 = dz.transpose %x {perm = array<i64: 1, 2, 0>} : tensor<2x3x4xf32> -> tensor<3x4x2xf32>
  %1 = dz.transpose %0 {perm = array<i64: 1, 0, 2>} : tensor<3x4x2xf32> -> tensor<4x3x2xf32>
  return %1 : tensor<4x3x2xf32>
}

// -----

// CHECK-LABEL: func.func @transpose_back
// CHECK-SAME: (%[[X:.*]]: tensor<2x3xf32>)
// CHECK-NEXT: return %[[X]] : tensor<2x3xf32>
func.func @transpose_back(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = dz.transpose %x {perm = array<i64: 1, 0>} : tensor<2x3xf32> -> tensor<3x2xf32>
  %1 = dz.transpose %0 {perm = array<i64: 1, 0>} : tensor<3x2xf32> -> tensor<2x3xf32>
  return %1 : tensor<2x3xf32>
}

// -----

// Constants fold through reshape and splat broadcast_to; unused ops are erased.
// CHECK-LABEL: func.func @constant_folds
// CHECK-NEXT: %[[C:.*]] = dz.constant dense<{{\[\[}}1.000000e+00, 2.000000e+00, 3.000000e+00], [4.000000e+00, 5.000000e+00, 6.000000e+00]]> : tensor<2x3xf32>
// CHECK-NEXT: %[[B:.*]] = dz.constant dense<3.000000e+00> : tensor<4x3xf32>
// CHECK-NEXT: return %[[C]], %[[B]] : tensor<2x3xf32>, tensor<4x3xf32>
func.func @constant_folds() -> (tensor<2x3xf32>, tensor<4x3xf32>) {
  %c = dz.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]> : tensor<6xf32>
  %0 = dz.reshape %c {shape = array<i64: 2, 3>} : tensor<6xf32> -> tensor<2x3xf32>
  %s = dz.constant dense<3.0> : tensor<3xf32>
  %1 = dz.broadcast_to %s {shape = array<i64: 4, 3>} : tensor<3xf32> -> tensor<4x3xf32>
  %unused = dz.exp %0 : tensor<2x3xf32>
  return %0, %1 : tensor<2x3xf32>, tensor<4x3xf32>
}

// -----

// CSE merges identical pure dz ops.
// RUN: dz-opt %s --split-input-file --cse | FileCheck %s --check-prefix=CSE
// CSE-LABEL: func.func @cse
// CSE: %[[E:.*]] = dz.exp
// CSE-NOT: dz.exp
// CSE: dz.add %[[E]], %[[E]]
func.func @cse(%x: tensor<3xf32>) -> tensor<3xf32> {
  %0 = dz.exp %x : tensor<3xf32>
  %1 = dz.exp %x : tensor<3xf32>
  %2 = dz.add %0, %1 : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return %2 : tensor<3xf32>
}
