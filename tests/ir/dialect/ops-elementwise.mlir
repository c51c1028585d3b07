// Round trip of the elementwise ops: binary ops with NumPy broadcasting, unary ops
// (result type = operand type) and their attributes.
// RUN: dz-opt %s | dz-opt | FileCheck %s

// CHECK-LABEL: func.func @binary
// CHECK-SAME: (%[[A:.*]]: tensor<2x3xf32>, %[[B:.*]]: tensor<3xf32>, %[[C:.*]]: tensor<4x1x3xf32>)
func.func @binary(%a: tensor<2x3xf32>, %b: tensor<3xf32>, %c: tensor<4x1x3xf32>) -> tensor<4x2x3xf32> {
  // CHECK: %[[ADD:.*]] = dz.add %[[A]], %[[B]] : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %0 = dz.add %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  // CHECK: %[[SUB:.*]] = dz.sub %[[B]], %[[ADD]] : (tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = dz.sub %b, %0 : (tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: %[[MUL:.*]] = dz.mul %[[SUB]], %[[C]] : (tensor<2x3xf32>, tensor<4x1x3xf32>) -> tensor<4x2x3xf32>
  %2 = dz.mul %1, %c : (tensor<2x3xf32>, tensor<4x1x3xf32>) -> tensor<4x2x3xf32>
  // CHECK: %[[DIV:.*]] = dz.div %[[MUL]], %[[B]] : (tensor<4x2x3xf32>, tensor<3xf32>) -> tensor<4x2x3xf32>
  %3 = dz.div %2, %b : (tensor<4x2x3xf32>, tensor<3xf32>) -> tensor<4x2x3xf32>
  // CHECK: %[[MAX:.*]] = dz.maximum %[[DIV]], %[[A]] : (tensor<4x2x3xf32>, tensor<2x3xf32>) -> tensor<4x2x3xf32>
  %4 = dz.maximum %3, %a : (tensor<4x2x3xf32>, tensor<2x3xf32>) -> tensor<4x2x3xf32>
  // CHECK: %[[EQ:.*]] = dz.equal_mask %[[MAX]], %[[C]] : (tensor<4x2x3xf32>, tensor<4x1x3xf32>) -> tensor<4x2x3xf32>
  %5 = dz.equal_mask %4, %c : (tensor<4x2x3xf32>, tensor<4x1x3xf32>) -> tensor<4x2x3xf32>
  // CHECK: return %[[EQ]]
  return %5 : tensor<4x2x3xf32>
}

// CHECK-LABEL: func.func @scalar_and_int
func.func @scalar_and_int(%s: tensor<f64>, %v: tensor<5xf64>, %i: tensor<5xi64>) -> (tensor<5xf64>, tensor<5xi64>) {
  // CHECK: dz.add %{{.*}}, %{{.*}} : (tensor<f64>, tensor<5xf64>) -> tensor<5xf64>
  %0 = dz.add %s, %v : (tensor<f64>, tensor<5xf64>) -> tensor<5xf64>
  // CHECK: dz.equal_mask %{{.*}}, %{{.*}} : (tensor<5xi64>, tensor<5xi64>) -> tensor<5xi64>
  %1 = dz.equal_mask %i, %i : (tensor<5xi64>, tensor<5xi64>) -> tensor<5xi64>
  return %0, %1 : tensor<5xf64>, tensor<5xi64>
}

// CHECK-LABEL: func.func @unary
// CHECK-SAME: (%[[X:.*]]: tensor<2x3xf32>)
func.func @unary(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // CHECK: %[[V0:.*]] = dz.neg %[[X]] : tensor<2x3xf32>
  // CHECK: %[[V1:.*]] = dz.exp %[[V0]] : tensor<2x3xf32>
  // CHECK: %[[V2:.*]] = dz.log %[[V1]] : tensor<2x3xf32>
  // CHECK: %[[V3:.*]] = dz.sin %[[V2]] : tensor<2x3xf32>
  // CHECK: %[[V4:.*]] = dz.cos %[[V3]] : tensor<2x3xf32>
  // CHECK: %[[V5:.*]] = dz.tanh %[[V4]] : tensor<2x3xf32>
  // CHECK: %[[V6:.*]] = dz.sqrt %[[V5]] : tensor<2x3xf32>
  // CHECK: %[[V7:.*]] = dz.square %[[V6]] : tensor<2x3xf32>
  // CHECK: %[[V8:.*]] = dz.sigmoid %[[V7]] : tensor<2x3xf32>
  // CHECK: %[[V9:.*]] = dz.relu %[[V8]] : tensor<2x3xf32>
  // CHECK: %[[V10:.*]] = dz.step %[[V9]] : tensor<2x3xf32>
  %0 = dz.neg %x : tensor<2x3xf32>
  %1 = dz.exp %0 : tensor<2x3xf32>
  %2 = dz.log %1 : tensor<2x3xf32>
  %3 = dz.sin %2 : tensor<2x3xf32>
  %4 = dz.cos %3 : tensor<2x3xf32>
  %5 = dz.tanh %4 : tensor<2x3xf32>
  %6 = dz.sqrt %5 : tensor<2x3xf32>
  %7 = dz.square %6 : tensor<2x3xf32>
  %8 = dz.sigmoid %7 : tensor<2x3xf32>
  %9 = dz.relu %8 : tensor<2x3xf32>
  %10 = dz.step %9 : tensor<2x3xf32>
  // CHECK: %[[P:.*]] = dz.pow_scalar %[[V10]] {exponent = 3.000000e+00 : f64} : tensor<2x3xf32>
  %11 = dz.pow_scalar %10 {exponent = 3.0 : f64} : tensor<2x3xf32>
  // CHECK: %[[L:.*]] = dz.leaky_relu %[[P]] {slope = 2.000000e-01 : f64} : tensor<2x3xf32>
  %12 = dz.leaky_relu %11 {slope = 0.2 : f64} : tensor<2x3xf32>
  // CHECK: %[[C:.*]] = dz.clip %[[L]] {max = 1.000000e+00 : f64, min = -1.000000e+00 : f64} : tensor<2x3xf32>
  %13 = dz.clip %12 {min = -1.0 : f64, max = 1.0 : f64} : tensor<2x3xf32>
  // CHECK: %[[M:.*]] = dz.clip_mask %[[C]] {max = 1.000000e+00 : f64, min = 0.000000e+00 : f64} : tensor<2x3xf32>
  %14 = dz.clip_mask %13 {min = 0.0 : f64, max = 1.0 : f64} : tensor<2x3xf32>
  // CHECK: return %[[M]]
  return %14 : tensor<2x3xf32>
}

// CHECK-LABEL: func.func @constants
func.func @constants() -> (tensor<f32>, tensor<2x2xf64>, tensor<3xi64>) {
  // CHECK: dz.constant dense<2.000000e+00> : tensor<f32>
  %0 = dz.constant dense<2.0> : tensor<f32>
  // CHECK: dz.constant dense<{{\[\[}}1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00]]> : tensor<2x2xf64>
  %1 = dz.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf64>
  // CHECK: dz.constant dense<[0, 2, 1]> : tensor<3xi64>
  %2 = dz.constant dense<[0, 2, 1]> : tensor<3xi64>
  return %0, %1, %2 : tensor<f32>, tensor<2x2xf64>, tensor<3xi64>
}
