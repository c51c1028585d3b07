// Round trip of dz.fused / dz.yield: block arguments written next to the inputs they
// stand for, several results, a trailing reduction, a splat constant inside, no inputs,
// and the generic form.
// RUN: dz-opt %s | dz-opt | FileCheck %s
// RUN: dz-opt %s --mlir-print-op-generic | dz-opt | FileCheck %s

// CHECK-LABEL: func.func @softmax_numerator
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<4x3xf32>, %[[M:[a-z0-9]+]]: tensor<4x1xf32>)
// CHECK-NEXT: %[[R:.+]]:2 = dz.fused (%[[A:.+]] = %[[X]], %[[B:.+]] = %[[M]]) : (tensor<4x3xf32>, tensor<4x1xf32>) -> (tensor<4x3xf32>, tensor<4x1xf32>) {
// CHECK-NEXT: %[[D:.+]] = dz.sub %[[A]], %[[B]] : (tensor<4x3xf32>, tensor<4x1xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: %[[E:.+]] = dz.exp %[[D]] : tensor<4x3xf32>
// CHECK-NEXT: %[[S:.+]] = dz.sum %[[E]] {axes = array<i64: 1>, keepdims = true} : tensor<4x3xf32> -> tensor<4x1xf32>
// CHECK-NEXT: dz.yield %[[E]], %[[S]] : tensor<4x3xf32>, tensor<4x1xf32>
// CHECK-NEXT: }
// CHECK-NEXT: return %[[R]]#0, %[[R]]#1
func.func @softmax_numerator(%x: tensor<4x3xf32>, %m: tensor<4x1xf32>) -> (tensor<4x3xf32>, tensor<4x1xf32>) {
  %y, %s = dz.fused (%a = %x, %b = %m) : (tensor<4x3xf32>, tensor<4x1xf32>) -> (tensor<4x3xf32>, tensor<4x1xf32>) {
    %0 = dz.sub %a, %b : (tensor<4x3xf32>, tensor<4x1xf32>) -> tensor<4x3xf32>
    %1 = dz.exp %0 : tensor<4x3xf32>
    %2 = dz.sum %1 {axes = array<i64: 1>, keepdims = true} : tensor<4x3xf32> -> tensor<4x1xf32>
    dz.yield %1, %2 : tensor<4x3xf32>, tensor<4x1xf32>
  }
  return %y, %s : tensor<4x3xf32>, tensor<4x1xf32>
}

// CHECK-LABEL: func.func @sgd_update
// CHECK-SAME: (%[[W:[a-z0-9]+]]: tensor<3x5xf32>, %[[G:[a-z0-9]+]]: tensor<3x5xf32>)
// CHECK-NEXT: %[[R:.+]] = dz.fused (%[[A:.+]] = %[[W]], %[[B:.+]] = %[[G]]) : (tensor<3x5xf32>, tensor<3x5xf32>) -> tensor<3x5xf32> {
// CHECK-NEXT: %[[LR:.+]] = dz.constant dense<1.000000e-01> : tensor<f32>
// CHECK-NEXT: %[[U:.+]] = dz.mul %[[LR]], %[[B]]
// CHECK-NEXT: %[[N:.+]] = dz.sub %[[A]], %[[U]]
// CHECK-NEXT: dz.yield %[[N]] : tensor<3x5xf32>
// CHECK: return %[[R]]
func.func @sgd_update(%w: tensor<3x5xf32>, %g: tensor<3x5xf32>) -> tensor<3x5xf32> {
  %r = dz.fused (%a = %w, %b = %g) : (tensor<3x5xf32>, tensor<3x5xf32>) -> tensor<3x5xf32> {
    %lr = dz.constant dense<0.1> : tensor<f32>
    %0 = dz.mul %lr, %b : (tensor<f32>, tensor<3x5xf32>) -> tensor<3x5xf32>
    %1 = dz.sub %a, %0 : (tensor<3x5xf32>, tensor<3x5xf32>) -> tensor<3x5xf32>
    dz.yield %1 : tensor<3x5xf32>
  }
  return %r : tensor<3x5xf32>
}

// CHECK-LABEL: func.func @no_inputs
// CHECK-NEXT: %[[R:.+]] = dz.fused () : () -> tensor<2xf32> {
// CHECK-NEXT: %[[C:.+]] = dz.constant dense<2.000000e+00> : tensor<2xf32>
// CHECK-NEXT: %[[E:.+]] = dz.exp %[[C]] : tensor<2xf32>
// CHECK-NEXT: dz.yield %[[E]] : tensor<2xf32>
func.func @no_inputs() -> tensor<2xf32> {
  %r = dz.fused () : () -> tensor<2xf32> {
    %c = dz.constant dense<2.0> : tensor<2xf32>
    %e = dz.exp %c : tensor<2xf32>
    dz.yield %e : tensor<2xf32>
  }
  return %r : tensor<2xf32>
}
