// --dz-fuse: what fuses. Chains of elementwise ops (broadcasting included) become one
// dz.fused each, ending in at most one reduction; splat constants are cloned in; GEMMs
// stay outside and their bias add + activation fuse.
// RUN: dz-opt %s --dz-fuse --split-input-file | FileCheck %s

// Softmax written out: the max stays outside (a reduction is never in the middle of a
// group), sub + exp + the row sum fuse and yield both exp and the sum; the div reads both
// after the reduction and stays outside.
// CHECK-LABEL: func.func @softmax
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<4x3xf32>)
// CHECK-NEXT: %[[M:.+]] = dz.max %[[X]] {axes = array<i64: 1>, keepdims = true}
// CHECK-NEXT: %[[F:.+]]:2 = dz.fused (%[[A:.+]] = %[[X]], %[[B:.+]] = %[[M]]) : (tensor<4x3xf32>, tensor<4x1xf32>) -> (tensor<4x3xf32>, tensor<4x1xf32>) {
// CHECK-NEXT: %[[D:.+]] = dz.sub %[[A]], %[[B]]
// CHECK-NEXT: %[[E:.+]] = dz.exp %[[D]]
// CHECK-NEXT: %[[S:.+]] = dz.sum %[[E]] {axes = array<i64: 1>, keepdims = true}
// CHECK-NEXT: dz.yield %[[E]], %[[S]] : tensor<4x3xf32>, tensor<4x1xf32>
// CHECK-NEXT: }
// CHECK-NEXT: %[[Y:.+]] = dz.div %[[F]]#0, %[[F]]#1
// CHECK-NEXT: return %[[Y]]
func.func @softmax(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %m = dz.max %x {axes = array<i64: 1>, keepdims = true} : tensor<4x3xf32> -> tensor<4x1xf32>
  %d = dz.sub %x, %m : (tensor<4x3xf32>, tensor<4x1xf32>) -> tensor<4x3xf32>
  %e = dz.exp %d : tensor<4x3xf32>
  %s = dz.sum %e {axes = array<i64: 1>, keepdims = true} : tensor<4x3xf32> -> tensor<4x1xf32>
  %y = dz.div %e, %s : (tensor<4x3xf32>, tensor<4x1xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

// Mean squared error: sub + square + the sum over all axes fuse; the division of the
// 0-d sum stays outside (no elementwise epilogue after the reduction yet).
// CHECK-LABEL: func.func @mse_loss
// CHECK-SAME: (%[[Y:[a-z0-9]+]]: tensor<8x1xf32>, %[[T:[a-z0-9]+]]: tensor<8x1xf32>)
// CHECK-NEXT: %[[N:.+]] = dz.constant dense<8.000000e+00> : tensor<f32>
// CHECK-NEXT: %[[F:.+]] = dz.fused (%[[A:.+]] = %[[Y]], %[[B:.+]] = %[[T]]) : (tensor<8x1xf32>, tensor<8x1xf32>) -> tensor<f32> {
// CHECK-NEXT: %[[D:.+]] = dz.sub %[[A]], %[[B]]
// CHECK-NEXT: %[[Q:.+]] = dz.square %[[D]]
// CHECK-NEXT: %[[S:.+]] = dz.sum %[[Q]] {axes = array<i64>, keepdims = false}
// CHECK-NEXT: dz.yield %[[S]] : tensor<f32>
// CHECK-NEXT: }
// CHECK-NEXT: %[[L:.+]] = dz.div %[[F]], %[[N]]
// CHECK-NEXT: return %[[L]]
func.func @mse_loss(%y: tensor<8x1xf32>, %t: tensor<8x1xf32>) -> tensor<f32> {
  %n = dz.constant dense<8.0> : tensor<f32>
  %d = dz.sub %y, %t : (tensor<8x1xf32>, tensor<8x1xf32>) -> tensor<8x1xf32>
  %sq = dz.square %d : tensor<8x1xf32>
  %s = dz.sum %sq {axes = array<i64>, keepdims = false} : tensor<8x1xf32> -> tensor<f32>
  %l = dz.div %s, %n : (tensor<f32>, tensor<f32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// The GEMM stays outside; the bias add (broadcast over rows) and the ReLU fuse.
// CHECK-LABEL: func.func @bias_relu_after_matmul
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<4x3xf32>, %[[W:[a-z0-9]+]]: tensor<3x5xf32>, %[[BIAS:[a-z0-9]+]]: tensor<5xf32>)
// CHECK-NEXT: %[[H:.+]] = dz.matmul %[[X]], %[[W]]
// CHECK-NEXT: %[[F:.+]] = dz.fused (%[[A:.+]] = %[[H]], %[[B:.+]] = %[[BIAS]]) : (tensor<4x5xf32>, tensor<5xf32>) -> tensor<4x5xf32> {
// CHECK-NEXT: %[[S:.+]] = dz.add %[[A]], %[[B]] : (tensor<4x5xf32>, tensor<5xf32>) -> tensor<4x5xf32>
// CHECK-NEXT: %[[R:.+]] = dz.relu %[[S]]
// CHECK-NEXT: dz.yield %[[R]] : tensor<4x5xf32>
// CHECK-NEXT: }
// CHECK-NEXT: return %[[F]]
func.func @bias_relu_after_matmul(%x: tensor<4x3xf32>, %w: tensor<3x5xf32>, %b: tensor<5xf32>) -> tensor<4x5xf32> {
  %h = dz.matmul %x, %w : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
  %hb = dz.add %h, %b : (tensor<4x5xf32>, tensor<5xf32>) -> tensor<4x5xf32>
  %a = dz.relu %hb : tensor<4x5xf32>
  return %a : tensor<4x5xf32>
}

// -----

// The same after dz.linear, with the bias broadcast by an explicit dz.broadcast_to.
// CHECK-LABEL: func.func @bias_leaky_relu_after_linear
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<4x3xf32>, %[[W:[a-z0-9]+]]: tensor<3x5xf32>, %[[BIAS:[a-z0-9]+]]: tensor<5xf32>)
// CHECK-NEXT: %[[H:.+]] = dz.linear %[[X]], %[[W]]
// CHECK-NEXT: %[[F:.+]] = dz.fused (%[[A:.+]] = %[[BIAS]], %[[B:.+]] = %[[H]]) : (tensor<5xf32>, tensor<4x5xf32>) -> tensor<4x5xf32> {
// CHECK-NEXT: %[[BB:.+]] = dz.broadcast_to %[[A]] {shape = array<i64: 4, 5>}
// CHECK-NEXT: %[[S:.+]] = dz.add %[[B]], %[[BB]]
// CHECK-NEXT: %[[R:.+]] = dz.leaky_relu %[[S]] {slope = 2.000000e-01 : f64}
// CHECK-NEXT: dz.yield %[[R]] : tensor<4x5xf32>
// CHECK-NEXT: }
// CHECK-NEXT: return %[[F]]
func.func @bias_leaky_relu_after_linear(%x: tensor<4x3xf32>, %w: tensor<3x5xf32>, %b: tensor<5xf32>) -> tensor<4x5xf32> {
  %h = dz.linear %x, %w : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
  %bb = dz.broadcast_to %b {shape = array<i64: 4, 5>} : tensor<5xf32> -> tensor<4x5xf32>
  %hb = dz.add %h, %bb : (tensor<4x5xf32>, tensor<4x5xf32>) -> tensor<4x5xf32>
  %a = dz.leaky_relu %hb {slope = 0.2 : f64} : tensor<4x5xf32>
  return %a : tensor<4x5xf32>
}

// -----

// SGD, w - lr * g per parameter: one group each, the learning rate splat cloned into
// both (the original, read by nothing else, is gone).
// CHECK-LABEL: func.func @sgd
// CHECK-SAME: (%[[W:[a-z0-9]+]]: tensor<3x5xf32>, %[[GW:[a-z0-9]+]]: tensor<3x5xf32>, %[[B:[a-z0-9]+]]: tensor<5xf32>, %[[GB:[a-z0-9]+]]: tensor<5xf32>)
// CHECK-NEXT: %[[NW:.+]] = dz.fused (%[[G0:.+]] = %[[GW]], %[[W0:.+]] = %[[W]]) : (tensor<3x5xf32>, tensor<3x5xf32>) -> tensor<3x5xf32> {
// CHECK-NEXT: %[[LR0:.+]] = dz.constant dense<1.000000e-01> : tensor<f32>
// CHECK-NEXT: %[[U0:.+]] = dz.mul %[[LR0]], %[[G0]]
// CHECK-NEXT: %[[N0:.+]] = dz.sub %[[W0]], %[[U0]]
// CHECK-NEXT: dz.yield %[[N0]] : tensor<3x5xf32>
// CHECK-NEXT: }
// CHECK-NEXT: %[[NB:.+]] = dz.fused (%[[G1:.+]] = %[[GB]], %[[B1:.+]] = %[[B]]) : (tensor<5xf32>, tensor<5xf32>) -> tensor<5xf32> {
// CHECK-NEXT: %[[LR1:.+]] = dz.constant dense<1.000000e-01> : tensor<f32>
// CHECK-NEXT: %[[U1:.+]] = dz.mul %[[LR1]], %[[G1]]
// CHECK-NEXT: %[[N1:.+]] = dz.sub %[[B1]], %[[U1]]
// CHECK-NEXT: dz.yield %[[N1]] : tensor<5xf32>
// CHECK-NEXT: }
// CHECK-NEXT: return %[[NW]], %[[NB]]
func.func @sgd(%w: tensor<3x5xf32>, %gw: tensor<3x5xf32>, %b: tensor<5xf32>, %gb: tensor<5xf32>) -> (tensor<3x5xf32>, tensor<5xf32>) {
  %lr = dz.constant dense<0.1> : tensor<f32>
  %0 = dz.mul %lr, %gw : (tensor<f32>, tensor<3x5xf32>) -> tensor<3x5xf32>
  %1 = dz.sub %w, %0 : (tensor<3x5xf32>, tensor<3x5xf32>) -> tensor<3x5xf32>
  %2 = dz.mul %lr, %gb : (tensor<f32>, tensor<5xf32>) -> tensor<5xf32>
  %3 = dz.sub %b, %2 : (tensor<5xf32>, tensor<5xf32>) -> tensor<5xf32>
  return %1, %3 : tensor<3x5xf32>, tensor<5xf32>
}

// -----

// A value of the group's shape that is also read after the group becomes a second output.
// CHECK-LABEL: func.func @value_read_after_the_group
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<4x3xf32>, %[[T:[a-z0-9]+]]: tensor<4x3xf32>)
// CHECK-NEXT: %[[F:.+]]:2 = dz.fused (%[[A:.+]] = %[[X]], %[[B:.+]] = %[[T]]) : (tensor<4x3xf32>, tensor<4x3xf32>) -> (tensor<4x3xf32>, tensor<4x3xf32>) {
// CHECK-NEXT: %[[S:.+]] = dz.sigmoid %[[A]]
// CHECK-NEXT: %[[D:.+]] = dz.sub %[[S]], %[[B]]
// CHECK-NEXT: %[[Q:.+]] = dz.square %[[D]]
// CHECK-NEXT: dz.yield %[[S]], %[[Q]] : tensor<4x3xf32>, tensor<4x3xf32>
// CHECK-NEXT: }
// CHECK-NEXT: return %[[F]]#1, %[[F]]#0
func.func @value_read_after_the_group(%x: tensor<4x3xf32>, %t: tensor<4x3xf32>) -> (tensor<4x3xf32>, tensor<4x3xf32>) {
  %s = dz.sigmoid %x : tensor<4x3xf32>
  %d = dz.sub %s, %t : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  %q = dz.square %d : tensor<4x3xf32>
  return %q, %s : tensor<4x3xf32>, tensor<4x3xf32>
}
