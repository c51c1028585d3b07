// --dz-fuse: what must not fuse. A smaller value read outside its group, a reduction in
// the middle of a chain, non-elementwise ops, a value read by an op that runs before the
// group's root, single ops; dz.grad left in the function is an error (fuse-errors.mlir).
// RUN: dz-opt %s --dz-fuse --split-input-file | FileCheck %s

// A smaller value (4x1) broadcast into a 4x3 group and also read outside it is not an
// output of that group: it cannot be written by a loop over 4x3. neg + exp form their own
// 4x1 group; mul + tanh read its result as an input.
// CHECK-LABEL: func.func @smaller_value_read_outside
// CHECK-SAME: (%[[A:[a-z0-9]+]]: tensor<4x1xf32>, %[[X:[a-z0-9]+]]: tensor<4x3xf32>)
// CHECK-NEXT: %[[E:.+]] = dz.fused (%[[A0:.+]] = %[[A]]) : (tensor<4x1xf32>) -> tensor<4x1xf32> {
// CHECK-NEXT: %[[N:.+]] = dz.neg %[[A0]]
// CHECK-NEXT: %[[E0:.+]] = dz.exp %[[N]]
// CHECK-NEXT: dz.yield %[[E0]] : tensor<4x1xf32>
// CHECK-NEXT: }
// CHECK-NEXT: %[[T:.+]] = dz.fused (%[[X1:.+]] = %[[X]], %[[E1:.+]] = %[[E]]) : (tensor<4x3xf32>, tensor<4x1xf32>) -> tensor<4x3xf32> {
// CHECK-NEXT: %[[Y:.+]] = dz.mul %[[X1]], %[[E1]]
// CHECK-NEXT: %[[T0:.+]] = dz.tanh %[[Y]]
// CHECK-NEXT: dz.yield %[[T0]] : tensor<4x3xf32>
// CHECK-NEXT: }
// CHECK-NEXT: %[[Z:.+]] = dz.sqrt %[[E]]
// CHECK-NEXT: return %[[T]], %[[Z]]
func.func @smaller_value_read_outside(%a: tensor<4x1xf32>, %x: tensor<4x3xf32>) -> (tensor<4x3xf32>, tensor<4x1xf32>) {
  %n = dz.neg %a : tensor<4x1xf32>
  %e = dz.exp %n : tensor<4x1xf32>
  %y = dz.mul %x, %e : (tensor<4x3xf32>, tensor<4x1xf32>) -> tensor<4x3xf32>
  %t = dz.tanh %y : tensor<4x3xf32>
  %z = dz.sqrt %e : tensor<4x1xf32>
  return %t, %z : tensor<4x3xf32>, tensor<4x1xf32>
}

// -----

// A reduction ends a group: exp + sum fuse, and log + neg after the sum are a second
// group that reads the sum as an input.
// CHECK-LABEL: func.func @reduction_in_the_middle
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<4x3xf32>)
// CHECK-NEXT: %[[S:.+]] = dz.fused (%[[X0:.+]] = %[[X]]) : (tensor<4x3xf32>) -> tensor<4x1xf32> {
// CHECK-NEXT: %[[E:.+]] = dz.exp %[[X0]]
// CHECK-NEXT: %[[S0:.+]] = dz.sum %[[E]]
// CHECK-NEXT: dz.yield %[[S0]] : tensor<4x1xf32>
// CHECK-NEXT: }
// CHECK-NEXT: %[[R:.+]] = dz.fused (%[[S1:.+]] = %[[S]]) : (tensor<4x1xf32>) -> tensor<4x1xf32> {
// CHECK-NEXT: %[[L:.+]] = dz.log %[[S1]]
// CHECK-NEXT: %[[N:.+]] = dz.neg %[[L]]
// CHECK-NEXT: dz.yield %[[N]] : tensor<4x1xf32>
// CHECK-NEXT: }
// CHECK-NEXT: return %[[R]]
func.func @reduction_in_the_middle(%x: tensor<4x3xf32>) -> tensor<4x1xf32> {
  %e = dz.exp %x : tensor<4x3xf32>
  %s = dz.sum %e {axes = array<i64: 1>, keepdims = true} : tensor<4x3xf32> -> tensor<4x1xf32>
  %l = dz.log %s : tensor<4x1xf32>
  %n = dz.neg %l : tensor<4x1xf32>
  return %n : tensor<4x1xf32>
}

// -----

// Nothing fuses across transpose, reshape, matmul, softmax or sum_to, and an
// elementwise op between two of them is a group of one: no dz.fused at all.
// CHECK-LABEL: func.func @not_elementwise
// CHECK-NOT: dz.fused
// CHECK: dz.transpose
// CHECK-NOT: dz.fused
// CHECK: return
func.func @not_elementwise(%x: tensor<4x3xf32>, %w: tensor<3x3xf32>) -> tensor<3x4xf32> {
  %e = dz.exp %x : tensor<4x3xf32>
  %t = dz.transpose %e {perm = array<i64: 1, 0>} : tensor<4x3xf32> -> tensor<3x4xf32>
  %s = dz.sin %t : tensor<3x4xf32>
  %r = dz.reshape %s {shape = array<i64: 4, 3>} : tensor<3x4xf32> -> tensor<4x3xf32>
  %c = dz.cos %r : tensor<4x3xf32>
  %m = dz.matmul %c, %w : (tensor<4x3xf32>, tensor<3x3xf32>) -> tensor<4x3xf32>
  %sm = dz.softmax %m {axis = 1 : i64} : tensor<4x3xf32>
  %q = dz.sqrt %sm : tensor<4x3xf32>
  %st = dz.sum_to %q {shape = array<i64: 3>} : tensor<4x3xf32> -> tensor<3xf32>
  %b = dz.broadcast_to %st {shape = array<i64: 4, 3>} : tensor<3xf32> -> tensor<4x3xf32>
  %o = dz.transpose %b {perm = array<i64: 1, 0>} : tensor<4x3xf32> -> tensor<3x4xf32>
  return %o : tensor<3x4xf32>
}

// -----

// exp is read by the matmul, which runs before the mul that roots the group: exp
// cannot move into a group placed at the mul, and a mul alone is no group.
// CHECK-LABEL: func.func @read_before_the_root
// CHECK-NOT: dz.fused
// CHECK: dz.exp
// CHECK-NEXT: dz.matmul
// CHECK-NEXT: dz.mul
// CHECK-NEXT: return
func.func @read_before_the_root(%x: tensor<4x3xf32>, %w: tensor<3x3xf32>) -> tensor<4x3xf32> {
  %e = dz.exp %x : tensor<4x3xf32>
  %m = dz.matmul %e, %w : (tensor<4x3xf32>, tensor<3x3xf32>) -> tensor<4x3xf32>
  %y = dz.mul %e, %m : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

// One op and a splat: no group.
// CHECK-LABEL: func.func @one_op_and_a_constant
// CHECK-NOT: dz.fused
// CHECK: dz.constant
// CHECK-NEXT: dz.mul
// CHECK-NEXT: return
func.func @one_op_and_a_constant(%x: tensor<3xf32>) -> tensor<3xf32> {
  %c = dz.constant dense<2.0> : tensor<f32>
  %y = dz.mul %x, %c : (tensor<3xf32>, tensor<f32>) -> tensor<3xf32>
  return %y : tensor<3xf32>
}

// -----

// A constant that is not a splat is not cloned into the body: it is an input.
// CHECK-LABEL: func.func @dense_constant_is_an_input
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<2xf32>)
// CHECK-NEXT: %[[C:.+]] = dz.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
// CHECK-NEXT: %[[F:.+]] = dz.fused (%[[A:.+]] = %[[X]], %[[B:.+]] = %[[C]]) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32> {
// CHECK-NEXT: %[[Y:.+]] = dz.mul %[[A]], %[[B]]
// CHECK-NEXT: %[[Z:.+]] = dz.exp %[[Y]]
// CHECK-NEXT: dz.yield %[[Z]]
// CHECK-NEXT: }
// CHECK-NEXT: return %[[F]]
func.func @dense_constant_is_an_input(%x: tensor<2xf32>) -> tensor<2xf32> {
  %c = dz.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %y = dz.mul %x, %c : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %z = dz.exp %y : tensor<2xf32>
  return %z : tensor<2xf32>
}
