// RUN: dz-opt %s --dz-pipeline="fuse=false lower-conv=false" --split-input-file | FileCheck %s

// --dz-pipeline (autodiff, canonicalize, CSE) on the gradients of x^3 = (x * x) * x:
// the multiplications by the seeds fold away, CSE merges the equal products, and what is
// left computes 3x^2 = x2 + x2 + x2 and 6x = ((x + x) + (x + x)) + x + x.
// CHECK-LABEL: func.func @double_backprop_cube
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<f32>)
// CHECK-NEXT: %[[X2:.+]] = dz.mul %[[X]], %[[X]] : (tensor<f32>, tensor<f32>) -> tensor<f32>
// CHECK-NEXT: %[[A:.+]] = dz.add %[[X2]], %[[X2]]
// CHECK-NEXT: %[[D1:.+]] = dz.add %[[A]], %[[X2]]
// CHECK-NEXT: %[[B:.+]] = dz.add %[[X]], %[[X]]
// CHECK-NEXT: %[[C:.+]] = dz.add %[[B]], %[[B]]
// CHECK-NEXT: %[[D:.+]] = dz.add %[[C]], %[[X]]
// CHECK-NEXT: %[[D2:.+]] = dz.add %[[D]], %[[X]]
// CHECK-NEXT: return %[[D1]], %[[D2]] : tensor<f32>, tensor<f32>
// CHECK-NOT: dz.constant
func.func @double_backprop_cube(%x: tensor<f32>) -> (tensor<f32>, tensor<f32>) {
  %x2 = dz.mul %x, %x : (tensor<f32>, tensor<f32>) -> tensor<f32>
  %y = dz.mul %x2, %x : (tensor<f32>, tensor<f32>) -> tensor<f32>
  %gy = dz.grad %y wrt %x : tensor<f32>, tensor<f32>
  %ggy = dz.grad %gy wrt %x : tensor<f32>, tensor<f32>
  return %gy, %ggy : tensor<f32>, tensor<f32>
}

// -----

// The gradients of a * b are b and a once the seed folds; the forward product is dead.
// CHECK-LABEL: func.func @mul
// CHECK-SAME: (%[[A:[a-z0-9]+]]: tensor<3xf32>, %[[B:[a-z0-9]+]]: tensor<3xf32>)
// CHECK-NEXT: return %[[B]], %[[A]] : tensor<3xf32>, tensor<3xf32>
func.func @mul(%a: tensor<3xf32>, %b: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>) {
  %y = dz.mul %a, %b : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %g:2 = dz.grad %y wrt %a, %b : tensor<3xf32>, tensor<3xf32>, tensor<3xf32>
  return %g#0, %g#1 : tensor<3xf32>, tensor<3xf32>
}
