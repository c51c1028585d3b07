// RUN: dz-opt %s --dz-autodiff --split-input-file | FileCheck %s

// The gradient of a product: gy * rhs for lhs, gy * lhs for rhs; the forward op stays.
// CHECK-LABEL: func.func @mul
// CHECK-SAME: (%[[A:[a-z0-9]+]]: tensor<3xf32>, %[[B:[a-z0-9]+]]: tensor<3xf32>)
// CHECK-NEXT: %[[Y:.+]] = dz.mul %[[A]], %[[B]] : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT: %[[ONE:.+]] = dz.constant dense<1.000000e+00> : tensor<3xf32>
// CHECK-NEXT: %[[GA:.+]] = dz.mul %[[ONE]], %[[B]] : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT: %[[GB:.+]] = dz.mul %[[ONE]], %[[A]] : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT: return %[[GA]], %[[GB]]
// CHECK-NOT: dz.grad
func.func @mul(%a: tensor<3xf32>, %b: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>) {
  %y = dz.mul %a, %b : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %g:2 = dz.grad %y wrt %a, %b : tensor<3xf32>, tensor<3xf32>, tensor<3xf32>
  return %g#0, %g#1 : tensor<3xf32>, tensor<3xf32>
}

// -----

// A broadcast operand's gradient is summed back to its shape.
// CHECK-LABEL: func.func @broadcast_add
// CHECK: %[[ONE:.+]] = dz.constant dense<1.000000e+00> : tensor<2x3xf32>
// CHECK-NEXT: %[[GB:.+]] = dz.sum_to %[[ONE]] {shape = array<i64: 3>} : tensor<2x3xf32> -> tensor<3xf32>
// CHECK-NEXT: return %[[ONE]], %[[GB]]
func.func @broadcast_add(%a: tensor<2x3xf32>, %b: tensor<3xf32>) -> (tensor<2x3xf32>, tensor<3xf32>) {
  %y = dz.add %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %g:2 = dz.grad %y wrt %a, %b : tensor<2x3xf32>, tensor<2x3xf32>, tensor<3xf32>
  return %g#0, %g#1 : tensor<2x3xf32>, tensor<3xf32>
}

// -----

// x * x: the two uses of x each get gy * x, summed with dz.add.
// CHECK-LABEL: func.func @square_by_mul
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<f32>)
// CHECK: %[[ONE:.+]] = dz.constant dense<1.000000e+00> : tensor<f32>
// CHECK-NEXT: %[[G0:.+]] = dz.mul %[[ONE]], %[[X]]
// CHECK-NEXT: %[[G1:.+]] = dz.mul %[[ONE]], %[[X]]
// CHECK-NEXT: %[[G:.+]] = dz.add %[[G0]], %[[G1]]
// CHECK-NEXT: return %[[G]]
func.func @square_by_mul(%x: tensor<f32>) -> tensor<f32> {
  %y = dz.mul %x, %x : (tensor<f32>, tensor<f32>) -> tensor<f32>
  %g = dz.grad %y wrt %x : tensor<f32>, tensor<f32>
  return %g : tensor<f32>
}

// -----

// Double backprop of x^3 = (x * x) * x. The first dz.grad gives
// 1*(x*x) + (1*x)*x + (1*x)*x = 3x^2; the second differentiates those ops and gives
// x + x + 2x + x + x = 6x, from a second seed.
// CHECK-LABEL: func.func @double_backprop_cube
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<f32>)
// CHECK-NEXT: %[[X2:.+]] = dz.mul %[[X]], %[[X]]
// CHECK-NEXT: %[[Y:.+]] = dz.mul %[[X2]], %[[X]]
// First dz.grad (3x^2):
// CHECK-NEXT: %[[ONE:.+]] = dz.constant dense<1.000000e+00> : tensor<f32>
// CHECK-NEXT: %[[T1:.+]] = dz.mul %[[ONE]], %[[X]]
// CHECK-NEXT: %[[T2:.+]] = dz.mul %[[ONE]], %[[X2]]
// CHECK-NEXT: %[[T3:.+]] = dz.mul %[[T1]], %[[X]]
// CHECK-NEXT: %[[T4:.+]] = dz.mul %[[T1]], %[[X]]
// CHECK-NEXT: %[[T5:.+]] = dz.add %[[T2]], %[[T3]]
// CHECK-NEXT: %[[D1:.+]] = dz.add %[[T5]], %[[T4]]
// Second dz.grad (6x), ops in reverse order of the first one's:
// CHECK-NEXT: %[[ONE2:.+]] = dz.constant dense<1.000000e+00> : tensor<f32>
// t4 = t1 * x
// CHECK-NEXT: %[[U1:.+]] = dz.mul %[[ONE2]], %[[X]]
// CHECK-NEXT: %[[U2:.+]] = dz.mul %[[ONE2]], %[[T1]]
// t3 = t1 * x
// CHECK-NEXT: %[[U3:.+]] = dz.mul %[[ONE2]], %[[X]]
// CHECK-NEXT: %[[U5:.+]] = dz.mul %[[ONE2]], %[[T1]]
// CHECK-NEXT: %[[GT1:.+]] = dz.add %[[U1]], %[[U3]]
// CHECK-NEXT: %[[GX1:.+]] = dz.add %[[U2]], %[[U5]]
// t2 = one * x2
// CHECK-NEXT: %[[GX2:.+]] = dz.mul %[[ONE2]], %[[ONE]]
// t1 = one * x
// CHECK-NEXT: %[[U8:.+]] = dz.mul %[[GT1]], %[[ONE]]
// CHECK-NEXT: %[[GX3:.+]] = dz.add %[[GX1]], %[[U8]]
// x2 = x * x
// CHECK-NEXT: %[[U10:.+]] = dz.mul %[[GX2]], %[[X]]
// CHECK-NEXT: %[[U11:.+]] = dz.mul %[[GX2]], %[[X]]
// CHECK-NEXT: %[[GX4:.+]] = dz.add %[[GX3]], %[[U10]]
// CHECK-NEXT: %[[D2:.+]] = dz.add %[[GX4]], %[[U11]]
// CHECK-NEXT: return %[[D1]], %[[D2]]
func.func @double_backprop_cube(%x: tensor<f32>) -> (tensor<f32>, tensor<f32>) {
  %x2 = dz.mul %x, %x : (tensor<f32>, tensor<f32>) -> tensor<f32>
  %y = dz.mul %x2, %x : (tensor<f32>, tensor<f32>) -> tensor<f32>
  %gy = dz.grad %y wrt %x : tensor<f32>, tensor<f32>
  %ggy = dz.grad %gy wrt %x : tensor<f32>, tensor<f32>
  return %gy, %ggy : tensor<f32>, tensor<f32>
}

// -----

// An x that y does not depend on gets zeros of its type.
// CHECK-LABEL: func.func @unused_x
// CHECK-SAME: (%[[A:[a-z0-9]+]]: tensor<3xf32>, %[[B:[a-z0-9]+]]: tensor<2x2xf64>)
// CHECK-NEXT: %[[E:.+]] = dz.exp %[[A]] : tensor<3xf32>
// CHECK-NEXT: %[[ONE:.+]] = dz.constant dense<1.000000e+00> : tensor<3xf32>
// CHECK-NEXT: %[[GA:.+]] = dz.mul %[[ONE]], %[[E]]
// CHECK-NEXT: %[[ZERO:.+]] = dz.constant dense<0.000000e+00> : tensor<2x2xf64>
// CHECK-NEXT: return %[[GA]], %[[ZERO]]
func.func @unused_x(%a: tensor<3xf32>, %b: tensor<2x2xf64>) -> (tensor<3xf32>, tensor<2x2xf64>) {
  %y = dz.exp %a : tensor<3xf32>
  %g:2 = dz.grad %y wrt %a, %b : tensor<3xf32>, tensor<3xf32>, tensor<2x2xf64>
  return %g#0, %g#1 : tensor<3xf32>, tensor<2x2xf64>
}

// -----

// Only the operands that depend on an x get gradients: w * c with a constant c.
// CHECK-LABEL: func.func @constant_operand
// CHECK-SAME: (%[[W:[a-z0-9]+]]: tensor<4xf32>)
// CHECK-NEXT: %[[C:.+]] = dz.constant dense<3.000000e+00> : tensor<4xf32>
// CHECK-NEXT: %[[Y:.+]] = dz.mul %[[W]], %[[C]]
// CHECK-NEXT: %[[ONE:.+]] = dz.constant dense<1.000000e+00> : tensor<4xf32>
// CHECK-NEXT: %[[G:.+]] = dz.mul %[[ONE]], %[[C]]
// CHECK-NEXT: return %[[G]]
func.func @constant_operand(%w: tensor<4xf32>) -> tensor<4xf32> {
  %c = dz.constant dense<3.0> : tensor<4xf32>
  %y = dz.mul %w, %c : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %g = dz.grad %y wrt %w : tensor<4xf32>, tensor<4xf32>
  return %g : tensor<4xf32>
}

// -----

// matmul: gx = gy W^T, gW = x^T gy, with transpose flags (no transposed copies).
// CHECK-LABEL: func.func @matmul
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<4x3xf32>, %[[W:[a-z0-9]+]]: tensor<3x5xf32>)
// CHECK: %[[ONE:.+]] = dz.constant dense<1.000000e+00> : tensor<4x5xf32>
// CHECK-NEXT: %[[GX:.+]] = dz.matmul %[[ONE]], %[[W]] {transpose_b = true} : (tensor<4x5xf32>, tensor<3x5xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: %[[GW:.+]] = dz.matmul %[[X]], %[[ONE]] {transpose_a = true} : (tensor<4x3xf32>, tensor<4x5xf32>) -> tensor<3x5xf32>
// CHECK-NEXT: return %[[GX]], %[[GW]]
func.func @matmul(%x: tensor<4x3xf32>, %w: tensor<3x5xf32>) -> (tensor<4x3xf32>, tensor<3x5xf32>) {
  %y = dz.matmul %x, %w : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
  %g:2 = dz.grad %y wrt %x, %w : tensor<4x5xf32>, tensor<4x3xf32>, tensor<3x5xf32>
  return %g#0, %g#1 : tensor<4x3xf32>, tensor<3x5xf32>
}

// -----

// matmul with broadcast batch dimensions: the gradient of the unbatched operand is
// summed over the batch.
// CHECK-LABEL: func.func @batched_matmul
// CHECK-SAME: (%[[P:[a-z0-9]+]]: tensor<2x4x3xf32>, %[[Q:[a-z0-9]+]]: tensor<3x5xf32>)
// CHECK: %[[ONE:.+]] = dz.constant dense<1.000000e+00> : tensor<2x4x5xf32>
// CHECK-NEXT: %[[GQ:.+]] = dz.matmul %[[P]], %[[ONE]] {transpose_a = true} : (tensor<2x4x3xf32>, tensor<2x4x5xf32>) -> tensor<2x3x5xf32>
// CHECK-NEXT: %[[GQS:.+]] = dz.sum_to %[[GQ]] {shape = array<i64: 3, 5>} : tensor<2x3x5xf32> -> tensor<3x5xf32>
// CHECK-NEXT: return %[[GQS]]
func.func @batched_matmul(%p: tensor<2x4x3xf32>, %q: tensor<3x5xf32>) -> tensor<3x5xf32> {
  %y = dz.matmul %p, %q : (tensor<2x4x3xf32>, tensor<3x5xf32>) -> tensor<2x4x5xf32>
  %g = dz.grad %y wrt %q : tensor<2x4x5xf32>, tensor<3x5xf32>
  return %g : tensor<3x5xf32>
}

// -----

// sum over an axis: the gradient is reshaped to the keepdims shape and broadcast back.
// CHECK-LABEL: func.func @sum_axis
// CHECK: %[[ONE:.+]] = dz.constant dense<1.000000e+00> : tensor<2xf32>
// CHECK-NEXT: %[[R:.+]] = dz.reshape %[[ONE]] {shape = array<i64: 2, 1>} : tensor<2xf32> -> tensor<2x1xf32>
// CHECK-NEXT: %[[G:.+]] = dz.broadcast_to %[[R]] {shape = array<i64: 2, 3>} : tensor<2x1xf32> -> tensor<2x3xf32>
// CHECK-NEXT: return %[[G]]
func.func @sum_axis(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %y = dz.sum %x {axes = array<i64: 1>, keepdims = false} : tensor<2x3xf32> -> tensor<2xf32>
  %g = dz.grad %y wrt %x : tensor<2xf32>, tensor<2x3xf32>
  return %g : tensor<2x3xf32>
}

// -----

// relu: gy * step(x).
// CHECK-LABEL: func.func @relu
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<3xf32>)
// CHECK: %[[ONE:.+]] = dz.constant dense<1.000000e+00> : tensor<3xf32>
// CHECK-NEXT: %[[S:.+]] = dz.step %[[X]] : tensor<3xf32>
// CHECK-NEXT: %[[G:.+]] = dz.mul %[[ONE]], %[[S]]
// CHECK-NEXT: return %[[G]]
func.func @relu(%x: tensor<3xf32>) -> tensor<3xf32> {
  %y = dz.relu %x : tensor<3xf32>
  %g = dz.grad %y wrt %x : tensor<3xf32>, tensor<3xf32>
  return %g : tensor<3xf32>
}

// -----

// softmax_cross_entropy: (softmax(x) - one_hot(t)) * (gy / N); the i64 labels get none.
// CHECK-LABEL: func.func @softmax_cross_entropy
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<4x10xf32>, %[[T:[a-z0-9]+]]: tensor<4xi64>)
// CHECK: %[[ONE:.+]] = dz.constant dense<1.000000e+00> : tensor<f32>
// CHECK-NEXT: %[[P:.+]] = dz.softmax %[[X]] {axis = 1 : i64} : tensor<4x10xf32>
// CHECK-NEXT: %[[INVN:.+]] = dz.constant dense<2.500000e-01> : tensor<f32>
// CHECK-NEXT: %[[SCALE:.+]] = dz.mul %[[ONE]], %[[INVN]]
// CHECK-NEXT: %[[OH:.+]] = dz.one_hot %[[T]] {dtype = f32, num_classes = 10 : i64} : tensor<4xi64> -> tensor<4x10xf32>
// CHECK-NEXT: %[[D:.+]] = dz.sub %[[P]], %[[OH]]
// CHECK-NEXT: %[[G:.+]] = dz.mul %[[D]], %[[SCALE]] : (tensor<4x10xf32>, tensor<f32>) -> tensor<4x10xf32>
// CHECK-NEXT: return %[[G]]
func.func @softmax_cross_entropy(%x: tensor<4x10xf32>, %t: tensor<4xi64>) -> tensor<4x10xf32> {
  %loss = dz.softmax_cross_entropy %x, %t : (tensor<4x10xf32>, tensor<4xi64>) -> tensor<f32>
  %g = dz.grad %loss wrt %x : tensor<f32>, tensor<4x10xf32>
  return %g : tensor<4x10xf32>
}

// -----

// maximum: gy to the larger operand, half to each where they tie (symmetric in the operands;
// the registry's expression builds the tie once per operand, CSE merges them).
// CHECK-LABEL: func.func @maximum
// CHECK-SAME: (%[[A:[a-z0-9]+]]: tensor<3xf32>, %[[B:[a-z0-9]+]]: tensor<3xf32>)
// CHECK: %[[ONE:.+]] = dz.constant dense<1.000000e+00> : tensor<3xf32>
// CHECK-DAG: %[[EQ:.+]] = dz.equal_mask %[[A]], %[[B]]
// CHECK-DAG: %[[HALF:.+]] = dz.constant dense<5.000000e-01> : tensor<f32>
// CHECK-DAG: %[[TIE:.+]] = dz.mul %[[EQ]], %[[HALF]]
// CHECK-DAG: %[[AB:.+]] = dz.sub %[[A]], %[[B]]
// CHECK-DAG: %[[SA:.+]] = dz.step %[[AB]]
// CHECK: %[[MA:.+]] = dz.add %[[SA]], %[[TIE]]
// CHECK-NEXT: %[[GA:.+]] = dz.mul %[[ONE]], %[[MA]]
// CHECK-DAG: %[[EQ2:.+]] = dz.equal_mask %[[A]], %[[B]]
// CHECK-DAG: %[[HALF2:.+]] = dz.constant dense<5.000000e-01> : tensor<f32>
// CHECK-DAG: %[[TIE2:.+]] = dz.mul %[[EQ2]], %[[HALF2]]
// CHECK-DAG: %[[BA:.+]] = dz.sub %[[B]], %[[A]]
// CHECK-DAG: %[[SB:.+]] = dz.step %[[BA]]
// CHECK: %[[MB:.+]] = dz.add %[[SB]], %[[TIE2]]
// CHECK-NEXT: %[[GB:.+]] = dz.mul %[[ONE]], %[[MB]]
// CHECK-NEXT: return %[[GA]], %[[GB]]
func.func @maximum(%a: tensor<3xf32>, %b: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>) {
  %y = dz.maximum %a, %b : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %g:2 = dz.grad %y wrt %a, %b : tensor<3xf32>, tensor<3xf32>, tensor<3xf32>
  return %g#0, %g#1 : tensor<3xf32>, tensor<3xf32>
}

// -----

// d(sum x)/dx is the seed itself: ones.
// CHECK-LABEL: func.func @identity
// CHECK-NEXT: %[[ONE:.+]] = dz.constant dense<1.000000e+00> : tensor<2x2xf64>
// CHECK-NEXT: return %[[ONE]]
func.func @identity(%x: tensor<2x2xf64>) -> tensor<2x2xf64> {
  %g = dz.grad %x wrt %x : tensor<2x2xf64>, tensor<2x2xf64>
  return %g : tensor<2x2xf64>
}
