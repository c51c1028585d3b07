// RUN: dz-opt %s --dz-fuse-attention | FileCheck %s
// RUN: dz-opt %s --dz-pipeline | FileCheck %s --check-prefix=PIPE
// RUN: dz-opt %s --dz-pipeline="fuse-attention=false" | FileCheck %s --check-prefix=OFF

// The chain of a transformer's attention (q / sqrt(d), q k, + mask, softmax, p v) becomes
// one dz.attention with scale 1 / 2.
// CHECK-LABEL: func.func @masked
// CHECK-NEXT:    %[[O:.*]] = dz.attention %arg0, %arg1, %arg2, %arg3 {scale = 5.000000e-01 : f64} : (tensor<4x6x8xf32>, tensor<4x8x5xf32>, tensor<4x5x3xf32>, tensor<6x5xf32>) -> tensor<4x6x3xf32>
// CHECK-NEXT:    return %[[O]]
// PIPE-LABEL: func.func @masked
// PIPE-NEXT:     dz.attention
// PIPE-NEXT:     return
// OFF-LABEL: func.func @masked
// OFF-NOT:       dz.attention
// OFF:           dz.softmax
func.func @masked(%q: tensor<4x6x8xf32>, %k: tensor<4x8x5xf32>, %v: tensor<4x5x3xf32>, %mask: tensor<6x5xf32>) -> tensor<4x6x3xf32> {
  %c = dz.constant dense<2.0> : tensor<f32>
  %a = dz.div %q, %c : (tensor<4x6x8xf32>, tensor<f32>) -> tensor<4x6x8xf32>
  %s = dz.matmul %a, %k : (tensor<4x6x8xf32>, tensor<4x8x5xf32>) -> tensor<4x6x5xf32>
  %m = dz.add %s, %mask : (tensor<4x6x5xf32>, tensor<6x5xf32>) -> tensor<4x6x5xf32>
  %p = dz.softmax %m {axis = 2 : i64} : tensor<4x6x5xf32>
  %o = dz.matmul %p, %v : (tensor<4x6x5xf32>, tensor<4x5x3xf32>) -> tensor<4x6x3xf32>
  return %o : tensor<4x6x3xf32>
}

// The scores scaled after the product by a multiplication (0.25 * 2), the mask on the
// left of the add, 4-d operands.
// CHECK-LABEL: func.func @scaled_after
// CHECK-NEXT:    dz.attention %arg0, %arg1, %arg2, %arg3 {scale = 5.000000e-01 : f64} : (tensor<2x2x6x8xf32>, tensor<2x2x8x6xf32>, tensor<2x2x6x4xf32>, tensor<2x1x1x6xf32>) -> tensor<2x2x6x4xf32>
// CHECK-NEXT:    return
func.func @scaled_after(%q: tensor<2x2x6x8xf32>, %k: tensor<2x2x8x6xf32>, %v: tensor<2x2x6x4xf32>, %mask: tensor<2x1x1x6xf32>) -> tensor<2x2x6x4xf32> {
  %c = dz.constant dense<0.25> : tensor<f32>
  %d = dz.constant dense<2.0> : tensor<1xf32>
  %a = dz.mul %d, %q : (tensor<1xf32>, tensor<2x2x6x8xf32>) -> tensor<2x2x6x8xf32>
  %s = dz.matmul %a, %k : (tensor<2x2x6x8xf32>, tensor<2x2x8x6xf32>) -> tensor<2x2x6x6xf32>
  %t = dz.mul %s, %c : (tensor<2x2x6x6xf32>, tensor<f32>) -> tensor<2x2x6x6xf32>
  %m = dz.add %mask, %t : (tensor<2x1x1x6xf32>, tensor<2x2x6x6xf32>) -> tensor<2x2x6x6xf32>
  %p = dz.softmax %m {axis = -1 : i64} : tensor<2x2x6x6xf32>
  %o = dz.matmul %p, %v : (tensor<2x2x6x6xf32>, tensor<2x2x6x4xf32>) -> tensor<2x2x6x4xf32>
  return %o : tensor<2x2x6x4xf32>
}

// No mask, no scale.
// CHECK-LABEL: func.func @plain
// CHECK-NEXT:    dz.attention %arg0, %arg1, %arg2 {scale = 1.000000e+00 : f64} : (tensor<3x4x2xf32>, tensor<3x2x4xf32>, tensor<3x4x2xf32>) -> tensor<3x4x2xf32>
func.func @plain(%q: tensor<3x4x2xf32>, %k: tensor<3x2x4xf32>, %v: tensor<3x4x2xf32>) -> tensor<3x4x2xf32> {
  %s = dz.matmul %q, %k : (tensor<3x4x2xf32>, tensor<3x2x4xf32>) -> tensor<3x4x4xf32>
  %p = dz.softmax %s {axis = 2 : i64} : tensor<3x4x4xf32>
  %o = dz.matmul %p, %v : (tensor<3x4x4xf32>, tensor<3x4x2xf32>) -> tensor<3x4x2xf32>
  return %o : tensor<3x4x2xf32>
}

// Left alone: the probabilities are read again (returned); the softmax over another
// axis; a transposed product; the keys broadcast over the batch.
// CHECK-LABEL: func.func @kept
// CHECK-NOT:     dz.attention
// CHECK:         return
func.func @kept(%q: tensor<3x4x2xf32>, %k: tensor<3x2x4xf32>, %v: tensor<3x4x2xf32>, %k2: tensor<2x4xf32>) -> (tensor<3x4x2xf32>, tensor<3x4x4xf32>, tensor<3x4x2xf32>, tensor<3x4x2xf32>, tensor<3x4x2xf32>) {
  %s = dz.matmul %q, %k : (tensor<3x4x2xf32>, tensor<3x2x4xf32>) -> tensor<3x4x4xf32>
  %p = dz.softmax %s {axis = 2 : i64} : tensor<3x4x4xf32>
  %o = dz.matmul %p, %v : (tensor<3x4x4xf32>, tensor<3x4x2xf32>) -> tensor<3x4x2xf32>
  %s1 = dz.matmul %q, %k : (tensor<3x4x2xf32>, tensor<3x2x4xf32>) -> tensor<3x4x4xf32>
  %p1 = dz.softmax %s1 {axis = 1 : i64} : tensor<3x4x4xf32>
  %o1 = dz.matmul %p1, %v : (tensor<3x4x4xf32>, tensor<3x4x2xf32>) -> tensor<3x4x2xf32>
  %s2 = dz.matmul %q, %q {transpose_b = true} : (tensor<3x4x2xf32>, tensor<3x4x2xf32>) -> tensor<3x4x4xf32>
  %p2 = dz.softmax %s2 {axis = 2 : i64} : tensor<3x4x4xf32>
  %o2 = dz.matmul %p2, %v : (tensor<3x4x4xf32>, tensor<3x4x2xf32>) -> tensor<3x4x2xf32>
  %s3 = dz.matmul %q, %k2 : (tensor<3x4x2xf32>, tensor<2x4xf32>) -> tensor<3x4x4xf32>
  %p3 = dz.softmax %s3 {axis = 2 : i64} : tensor<3x4x4xf32>
  %o3 = dz.matmul %p3, %v : (tensor<3x4x4xf32>, tensor<3x4x2xf32>) -> tensor<3x4x2xf32>
  return %o, %p, %o1, %o2, %o3 : tensor<3x4x2xf32>, tensor<3x4x4xf32>, tensor<3x4x2xf32>, tensor<3x4x2xf32>, tensor<3x4x2xf32>
}

// A training step: after autodiff the backward reads the forward's probabilities, so the
// pipeline keeps the chain (the fusion is for inference).
// PIPE-LABEL: func.func @trained
// PIPE-NOT:      dz.attention
// PIPE:          return
func.func @trained(%q: tensor<3x4x2xf32>, %k: tensor<3x2x4xf32>, %v: tensor<3x4x2xf32>) -> (tensor<f32>, tensor<3x4x2xf32>) {
  %s = dz.matmul %q, %k : (tensor<3x4x2xf32>, tensor<3x2x4xf32>) -> tensor<3x4x4xf32>
  %p = dz.softmax %s {axis = 2 : i64} : tensor<3x4x4xf32>
  %o = dz.matmul %p, %v : (tensor<3x4x4xf32>, tensor<3x4x2xf32>) -> tensor<3x4x2xf32>
  %l = dz.sum %o {axes = array<i64>, keepdims = false} : tensor<3x4x2xf32> -> tensor<f32>
  %g = dz.grad %l wrt %q : tensor<f32>, tensor<3x4x2xf32>
  return %l, %g : tensor<f32>, tensor<3x4x2xf32>
}
