// RUN: dz-opt %s --dz-autodiff --cse --dz-share-pooling-indexes | FileCheck %s
// RUN: dz-opt %s --dz-pipeline | FileCheck %s --check-prefix=PIPE

// The gradient of a max pooling recomputes its window argmax; the pass computes it once:
// the forward becomes a gather of the maxima at those indexes.
// CHECK-LABEL: func.func @step
// CHECK-NEXT:    %[[I:.*]] = dz.max_pooling_indexes %arg0 {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : tensor<2x3x4x4xf32> -> tensor<2x3x2x2xi64>
// CHECK-NEXT:    %[[Y:.*]] = dz.max_pooling_with_indexes %arg0, %[[I]] {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : (tensor<2x3x4x4xf32>, tensor<2x3x2x2xi64>) -> tensor<2x3x2x2xf32>
// CHECK-NOT:     dz.max_pooling_indexes
// CHECK-NOT:     dz.max_pooling %
// CHECK:         dz.max_pooling_grad %{{.*}}, %[[I]]
// PIPE-LABEL: func.func @step
// PIPE-COUNT-1:  dz.max_pooling_indexes
// PIPE-NOT:      dz.max_pooling %
// PIPE-LABEL: func.func @inference

// A pooling without a gradient (inference) and one with another window stay as they are.
// CHECK-LABEL: func.func @inference
// CHECK-NEXT:    dz.max_pooling %arg0 {kernel = array<i64: 2, 2>
// CHECK-NEXT:    dz.max_pooling_indexes %arg0 {kernel = array<i64: 3, 3>
func.func @step(%x: tensor<2x3x4x4xf32>) -> (tensor<f32>, tensor<2x3x4x4xf32>) {
  %y = dz.max_pooling %x {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : tensor<2x3x4x4xf32> -> tensor<2x3x2x2xf32>
  %l = dz.sum %y {axes = array<i64>, keepdims = false} : tensor<2x3x2x2xf32> -> tensor<f32>
  %g = dz.grad %l wrt %x : tensor<f32>, tensor<2x3x4x4xf32>
  return %l, %g : tensor<f32>, tensor<2x3x4x4xf32>
}

func.func @inference(%x: tensor<2x3x6x6xf32>) -> (tensor<2x3x3x3xf32>, tensor<2x3x2x2xi64>) {
  %y = dz.max_pooling %x {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : tensor<2x3x6x6xf32> -> tensor<2x3x3x3xf32>
  %i = dz.max_pooling_indexes %x {kernel = array<i64: 3, 3>, pad = array<i64: 0, 0>, stride = array<i64: 3, 3>} : tensor<2x3x6x6xf32> -> tensor<2x3x2x2xi64>
  return %y, %i : tensor<2x3x3x3xf32>, tensor<2x3x2x2xi64>
}
