// --dz-lower-conv=policy=all: every convolution becomes the im2col path of the eager
// kernels (runtime/src/conv.cpp) in dz ops: im2col (N, C, KH, KW, OH, OW) seen as
// (N, C*KH*KW, OH*OW), one GEMM per image, the bias reshaped to (OC, 1, 1).
// RUN: dz-opt %s --dz-lower-conv=policy=all --split-input-file | FileCheck %s

// conv2d with bias, 3x3 pad 1: W (4, 27) times the columns (2, 27, 36) of each image.
// CHECK-LABEL: func.func @conv2d_bias
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<2x3x6x6xf32>, %[[W:[a-z0-9]+]]: tensor<4x3x3x3xf32>, %[[B:[a-z0-9]+]]: tensor<4xf32>)
// CHECK-NEXT: %[[COL:.+]] = dz.im2col %[[X]] {kernel = array<i64: 3, 3>, pad = array<i64: 1, 1>, stride = array<i64: 1, 1>, to_matrix = false} : tensor<2x3x6x6xf32> -> tensor<2x3x3x3x6x6xf32>
// CHECK-NEXT: %[[C:.+]] = dz.reshape %[[COL]] {shape = array<i64: 2, 27, 36>} : tensor<2x3x3x3x6x6xf32> -> tensor<2x27x36xf32>
// CHECK-NEXT: %[[W2:.+]] = dz.reshape %[[W]] {shape = array<i64: 4, 27>} : tensor<4x3x3x3xf32> -> tensor<4x27xf32>
// CHECK-NEXT: %[[M:.+]] = dz.matmul %[[W2]], %[[C]] : (tensor<4x27xf32>, tensor<2x27x36xf32>) -> tensor<2x4x36xf32>
// CHECK-NEXT: %[[Y:.+]] = dz.reshape %[[M]] {shape = array<i64: 2, 4, 6, 6>} : tensor<2x4x36xf32> -> tensor<2x4x6x6xf32>
// CHECK-NEXT: %[[B3:.+]] = dz.reshape %[[B]] {shape = array<i64: 4, 1, 1>} : tensor<4xf32> -> tensor<4x1x1xf32>
// CHECK-NEXT: %[[YB:.+]] = dz.add %[[Y]], %[[B3]] : (tensor<2x4x6x6xf32>, tensor<4x1x1xf32>) -> tensor<2x4x6x6xf32>
// CHECK-NEXT: return %[[YB]]
func.func @conv2d_bias(%x: tensor<2x3x6x6xf32>, %W: tensor<4x3x3x3xf32>, %b: tensor<4xf32>) -> tensor<2x4x6x6xf32> {
  %y = dz.conv2d %x, %W, %b {pad = array<i64: 1, 1>, stride = array<i64: 1, 1>} : (tensor<2x3x6x6xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<2x4x6x6xf32>
  return %y : tensor<2x4x6x6xf32>
}

// -----

// conv2d without bias, a 3x2 kernel, stride (2, 1), pad (0, 1): OH = (7 - 3) / 2 + 1 = 3,
// OW = (7 + 2 - 2) / 1 + 1 = 8; float64.
// CHECK-LABEL: func.func @conv2d_strided
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<1x2x7x7xf64>, %[[W:[a-z0-9]+]]: tensor<3x2x3x2xf64>)
// CHECK-NEXT: %[[COL:.+]] = dz.im2col %[[X]] {kernel = array<i64: 3, 2>, pad = array<i64: 0, 1>, stride = array<i64: 2, 1>, to_matrix = false} : tensor<1x2x7x7xf64> -> tensor<1x2x3x2x3x8xf64>
// CHECK-NEXT: %[[C:.+]] = dz.reshape %[[COL]] {shape = array<i64: 1, 12, 24>} : tensor<1x2x3x2x3x8xf64> -> tensor<1x12x24xf64>
// CHECK-NEXT: %[[W2:.+]] = dz.reshape %[[W]] {shape = array<i64: 3, 12>} : tensor<3x2x3x2xf64> -> tensor<3x12xf64>
// CHECK-NEXT: %[[M:.+]] = dz.matmul %[[W2]], %[[C]] : (tensor<3x12xf64>, tensor<1x12x24xf64>) -> tensor<1x3x24xf64>
// CHECK-NEXT: %[[Y:.+]] = dz.reshape %[[M]] {shape = array<i64: 1, 3, 3, 8>} : tensor<1x3x24xf64> -> tensor<1x3x3x8xf64>
// CHECK-NEXT: return %[[Y]]
func.func @conv2d_strided(%x: tensor<1x2x7x7xf64>, %W: tensor<3x2x3x2xf64>) -> tensor<1x3x3x8xf64> {
  %y = dz.conv2d %x, %W {pad = array<i64: 0, 1>, stride = array<i64: 2, 1>} : (tensor<1x2x7x7xf64>, tensor<3x2x3x2xf64>) -> tensor<1x3x3x8xf64>
  return %y : tensor<1x3x3x8xf64>
}

// -----

// A 1x1 convolution with stride 1 and no padding is its own im2col: x is only reshaped.
// CHECK-LABEL: func.func @conv2d_pointwise
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<2x8x5x5xf32>, %[[W:[a-z0-9]+]]: tensor<16x8x1x1xf32>)
// CHECK-NEXT: %[[C:.+]] = dz.reshape %[[X]] {shape = array<i64: 2, 8, 25>} : tensor<2x8x5x5xf32> -> tensor<2x8x25xf32>
// CHECK-NEXT: %[[W2:.+]] = dz.reshape %[[W]] {shape = array<i64: 16, 8>} : tensor<16x8x1x1xf32> -> tensor<16x8xf32>
// CHECK-NEXT: %[[M:.+]] = dz.matmul %[[W2]], %[[C]] : (tensor<16x8xf32>, tensor<2x8x25xf32>) -> tensor<2x16x25xf32>
// CHECK-NEXT: %[[Y:.+]] = dz.reshape %[[M]] {shape = array<i64: 2, 16, 5, 5>} : tensor<2x16x25xf32> -> tensor<2x16x5x5xf32>
// CHECK-NEXT: return %[[Y]]
func.func @conv2d_pointwise(%x: tensor<2x8x5x5xf32>, %W: tensor<16x8x1x1xf32>) -> tensor<2x16x5x5xf32> {
  %y = dz.conv2d %x, %W {pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<2x8x5x5xf32>, tensor<16x8x1x1xf32>) -> tensor<2x16x5x5xf32>
  return %y : tensor<2x16x5x5xf32>
}

// -----

// conv2d_grad_w: gy_n (4, 36) times col_n^T (36, 27) per image, summed over the images.
// CHECK-LABEL: func.func @conv2d_grad_w
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<2x3x6x6xf32>, %[[GY:[a-z0-9]+]]: tensor<2x4x6x6xf32>)
// CHECK-NEXT: %[[COL:.+]] = dz.im2col %[[X]] {kernel = array<i64: 3, 3>, pad = array<i64: 1, 1>, stride = array<i64: 1, 1>, to_matrix = false} : tensor<2x3x6x6xf32> -> tensor<2x3x3x3x6x6xf32>
// CHECK-NEXT: %[[C:.+]] = dz.reshape %[[COL]] {shape = array<i64: 2, 27, 36>} : tensor<2x3x3x3x6x6xf32> -> tensor<2x27x36xf32>
// CHECK-NEXT: %[[G:.+]] = dz.reshape %[[GY]] {shape = array<i64: 2, 4, 36>} : tensor<2x4x6x6xf32> -> tensor<2x4x36xf32>
// CHECK-NEXT: %[[M:.+]] = dz.matmul %[[G]], %[[C]] {transpose_b = true} : (tensor<2x4x36xf32>, tensor<2x27x36xf32>) -> tensor<2x4x27xf32>
// CHECK-NEXT: %[[S:.+]] = dz.sum %[[M]] {axes = array<i64: 0>, keepdims = false} : tensor<2x4x27xf32> -> tensor<4x27xf32>
// CHECK-NEXT: %[[GW:.+]] = dz.reshape %[[S]] {shape = array<i64: 4, 3, 3, 3>} : tensor<4x27xf32> -> tensor<4x3x3x3xf32>
// CHECK-NEXT: return %[[GW]]
func.func @conv2d_grad_w(%x: tensor<2x3x6x6xf32>, %gy: tensor<2x4x6x6xf32>) -> tensor<4x3x3x3xf32> {
  %gW = dz.conv2d_grad_w %x, %gy {kernel = array<i64: 3, 3>, pad = array<i64: 1, 1>, stride = array<i64: 1, 1>} : (tensor<2x3x6x6xf32>, tensor<2x4x6x6xf32>) -> tensor<4x3x3x3xf32>
  return %gW : tensor<4x3x3x3xf32>
}

// -----

// deconv2d with bias, stride 2, pad 1, outsize 7x7: W^T (27, 4) times x_n (4, 16) per
// image, the columns (2, 3, 3, 3, 4, 4) added back into the 7x7 output by col2im.
// CHECK-LABEL: func.func @deconv2d_bias
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<2x4x4x4xf32>, %[[W:[a-z0-9]+]]: tensor<4x3x3x3xf32>, %[[B:[a-z0-9]+]]: tensor<3xf32>)
// CHECK-NEXT: %[[W2:.+]] = dz.reshape %[[W]] {shape = array<i64: 4, 27>} : tensor<4x3x3x3xf32> -> tensor<4x27xf32>
// CHECK-NEXT: %[[X3:.+]] = dz.reshape %[[X]] {shape = array<i64: 2, 4, 16>} : tensor<2x4x4x4xf32> -> tensor<2x4x16xf32>
// CHECK-NEXT: %[[M:.+]] = dz.matmul %[[W2]], %[[X3]] {transpose_a = true} : (tensor<4x27xf32>, tensor<2x4x16xf32>) -> tensor<2x27x16xf32>
// CHECK-NEXT: %[[COL:.+]] = dz.reshape %[[M]] {shape = array<i64: 2, 3, 3, 3, 4, 4>} : tensor<2x27x16xf32> -> tensor<2x3x3x3x4x4xf32>
// CHECK-NEXT: %[[Y:.+]] = dz.col2im %[[COL]] {kernel = array<i64: 3, 3>, pad = array<i64: 1, 1>, shape = array<i64: 2, 3, 7, 7>, stride = array<i64: 2, 2>, to_matrix = false} : tensor<2x3x3x3x4x4xf32> -> tensor<2x3x7x7xf32>
// CHECK-NEXT: %[[B3:.+]] = dz.reshape %[[B]] {shape = array<i64: 3, 1, 1>} : tensor<3xf32> -> tensor<3x1x1xf32>
// CHECK-NEXT: %[[YB:.+]] = dz.add %[[Y]], %[[B3]] : (tensor<2x3x7x7xf32>, tensor<3x1x1xf32>) -> tensor<2x3x7x7xf32>
// CHECK-NEXT: return %[[YB]]
func.func @deconv2d_bias(%x: tensor<2x4x4x4xf32>, %W: tensor<4x3x3x3xf32>, %b: tensor<3xf32>) -> tensor<2x3x7x7xf32> {
  %y = dz.deconv2d %x, %W, %b {outsize = array<i64: 7, 7>, pad = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<2x4x4x4xf32>, tensor<4x3x3x3xf32>, tensor<3xf32>) -> tensor<2x3x7x7xf32>
  return %y : tensor<2x3x7x7xf32>
}

// -----

// A 1x1 deconv2d with stride 1 and no padding is its own col2im: the GEMM's result is
// only reshaped.
// CHECK-LABEL: func.func @deconv2d_pointwise
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<2x4x3x3xf64>, %[[W:[a-z0-9]+]]: tensor<4x2x1x1xf64>)
// CHECK-NEXT: %[[W2:.+]] = dz.reshape %[[W]] {shape = array<i64: 4, 2>} : tensor<4x2x1x1xf64> -> tensor<4x2xf64>
// CHECK-NEXT: %[[X3:.+]] = dz.reshape %[[X]] {shape = array<i64: 2, 4, 9>} : tensor<2x4x3x3xf64> -> tensor<2x4x9xf64>
// CHECK-NEXT: %[[M:.+]] = dz.matmul %[[W2]], %[[X3]] {transpose_a = true} : (tensor<4x2xf64>, tensor<2x4x9xf64>) -> tensor<2x2x9xf64>
// CHECK-NEXT: %[[Y:.+]] = dz.reshape %[[M]] {shape = array<i64: 2, 2, 3, 3>} : tensor<2x2x9xf64> -> tensor<2x2x3x3xf64>
// CHECK-NEXT: return %[[Y]]
func.func @deconv2d_pointwise(%x: tensor<2x4x3x3xf64>, %W: tensor<4x2x1x1xf64>) -> tensor<2x2x3x3xf64> {
  %y = dz.deconv2d %x, %W {outsize = array<i64: 3, 3>, pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<2x4x3x3xf64>, tensor<4x2x1x1xf64>) -> tensor<2x2x3x3xf64>
  return %y : tensor<2x2x3x3xf64>
}
