// Round trip of the neural-network ops (ir/DzNNOps.td): indexing, embedding, im2col,
// convolutions and pooling, with the result types they infer.
// RUN: dz-opt %s | dz-opt | FileCheck %s

// CHECK-LABEL: func.func @indexing
// CHECK-SAME: (%[[X:.*]]: tensor<4x2xf32>, %[[IDS:.*]]: tensor<2x3xi64>, %[[E:.*]]: tensor<10x4xf32>)
func.func @indexing(%x: tensor<4x2xf32>, %ids: tensor<2x3xi64>, %E: tensor<10x4xf32>) -> tensor<10x4xf32> {
  // x[1:3, 0]: the elements at flat offsets 2 and 4.
  // CHECK: %[[G:.*]] = dz.get_item %[[X]] {offsets = array<i64: 2, 4>, shape = array<i64: 2>} : tensor<4x2xf32> -> tensor<2xf32>
  %0 = dz.get_item %x {offsets = array<i64: 2, 4>, shape = array<i64: 2>} : tensor<4x2xf32> -> tensor<2xf32>
  // CHECK: dz.get_item_grad %[[G]] {offsets = array<i64: 2, 4>, shape = array<i64: 4, 2>} : tensor<2xf32> -> tensor<4x2xf32>
  %1 = dz.get_item_grad %0 {offsets = array<i64: 2, 4>, shape = array<i64: 4, 2>} : tensor<2xf32> -> tensor<4x2xf32>
  // Repeated offsets are valid (they accumulate in get_item_grad).
  // CHECK: dz.get_item %[[X]] {offsets = array<i64: 7, 7, 0>, shape = array<i64: 3>} : tensor<4x2xf32> -> tensor<3xf32>
  %2 = dz.get_item %x {offsets = array<i64: 7, 7, 0>, shape = array<i64: 3>} : tensor<4x2xf32> -> tensor<3xf32>
  // CHECK: %[[R:.*]] = dz.embed_id %[[IDS]], %[[E]] : (tensor<2x3xi64>, tensor<10x4xf32>) -> tensor<2x3x4xf32>
  %3 = dz.embed_id %ids, %E : (tensor<2x3xi64>, tensor<10x4xf32>) -> tensor<2x3x4xf32>
  // CHECK: dz.embed_id_grad %[[IDS]], %[[R]] {shape = array<i64: 10, 4>} : (tensor<2x3xi64>, tensor<2x3x4xf32>) -> tensor<10x4xf32>
  %4 = dz.embed_id_grad %ids, %3 {shape = array<i64: 10, 4>} : (tensor<2x3xi64>, tensor<2x3x4xf32>) -> tensor<10x4xf32>
  return %4 : tensor<10x4xf32>
}

// CHECK-LABEL: func.func @im2col
func.func @im2col(%x: tensor<2x3x5x5xf32>) -> tensor<2x3x5x5xf32> {
  // OH = OW = (5 + 2 - 3) / 2 + 1 = 3: 2 * 3 * 3 rows of 3 * 3 * 3 taps.
  // CHECK: dz.im2col %{{.*}} {kernel = array<i64: 3, 3>, pad = array<i64: 1, 1>, stride = array<i64: 2, 2>, to_matrix = true} : tensor<2x3x5x5xf32> -> tensor<18x27xf32>
  %0 = dz.im2col %x {kernel = array<i64: 3, 3>, pad = array<i64: 1, 1>, stride = array<i64: 2, 2>, to_matrix = true} : tensor<2x3x5x5xf32> -> tensor<18x27xf32>
  // CHECK: dz.im2col %{{.*}} {kernel = array<i64: 3, 2>, pad = array<i64: 0, 0>, stride = array<i64: 1, 1>, to_matrix = false} : tensor<2x3x5x5xf32> -> tensor<2x3x3x2x3x4xf32>
  %1 = dz.im2col %x {kernel = array<i64: 3, 2>, pad = array<i64: 0, 0>, stride = array<i64: 1, 1>, to_matrix = false} : tensor<2x3x5x5xf32> -> tensor<2x3x3x2x3x4xf32>
  // CHECK: dz.col2im %{{.*}} {kernel = array<i64: 3, 3>, pad = array<i64: 1, 1>, shape = array<i64: 2, 3, 5, 5>, stride = array<i64: 2, 2>, to_matrix = true} : tensor<18x27xf32> -> tensor<2x3x5x5xf32>
  %2 = dz.col2im %0 {kernel = array<i64: 3, 3>, pad = array<i64: 1, 1>, shape = array<i64: 2, 3, 5, 5>, stride = array<i64: 2, 2>, to_matrix = true} : tensor<18x27xf32> -> tensor<2x3x5x5xf32>
  return %2 : tensor<2x3x5x5xf32>
}

// CHECK-LABEL: func.func @convolutions
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x7x6xf64>, %[[W:.*]]: tensor<4x3x3x3xf64>, %[[B:.*]]: tensor<4xf64>)
func.func @convolutions(%x: tensor<2x3x7x6xf64>, %W: tensor<4x3x3x3xf64>, %b: tensor<4xf64>) -> tensor<4x3x3x3xf64> {
  // OH = (7 + 2 - 3) / 2 + 1 = 4, OW = (6 + 2 - 3) / 2 + 1 = 3 (floor).
  // CHECK: %[[Y:.*]] = dz.conv2d %[[X]], %[[W]], %[[B]] {pad = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<2x3x7x6xf64>, tensor<4x3x3x3xf64>, tensor<4xf64>) -> tensor<2x4x4x3xf64>
  %0 = dz.conv2d %x, %W, %b {pad = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<2x3x7x6xf64>, tensor<4x3x3x3xf64>, tensor<4xf64>) -> tensor<2x4x4x3xf64>
  // CHECK: dz.conv2d %[[X]], %[[W]] {pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<2x3x7x6xf64>, tensor<4x3x3x3xf64>) -> tensor<2x4x5x4xf64>
  %1 = dz.conv2d %x, %W {pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<2x3x7x6xf64>, tensor<4x3x3x3xf64>) -> tensor<2x4x5x4xf64>
  // The transposed convolution back to 7x6 (the default outsize would be 7x5).
  // CHECK: dz.deconv2d %[[Y]], %[[W]] {outsize = array<i64: 7, 6>, pad = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<2x4x4x3xf64>, tensor<4x3x3x3xf64>) -> tensor<2x3x7x6xf64>
  %2 = dz.deconv2d %0, %W {outsize = array<i64: 7, 6>, pad = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<2x4x4x3xf64>, tensor<4x3x3x3xf64>) -> tensor<2x3x7x6xf64>
  // CHECK: dz.conv2d_grad_w %[[X]], %[[Y]] {kernel = array<i64: 3, 3>, pad = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<2x3x7x6xf64>, tensor<2x4x4x3xf64>) -> tensor<4x3x3x3xf64>
  %3 = dz.conv2d_grad_w %x, %0 {kernel = array<i64: 3, 3>, pad = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<2x3x7x6xf64>, tensor<2x4x4x3xf64>) -> tensor<4x3x3x3xf64>
  return %3 : tensor<4x3x3x3xf64>
}

// CHECK-LABEL: func.func @max_pooling
func.func @max_pooling(%x: tensor<2x4x5x5xf32>) -> tensor<2x4x5x5xf32> {
  // CHECK: %[[P:.*]] = dz.max_pooling %{{.*}} {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : tensor<2x4x5x5xf32> -> tensor<2x4x2x2xf32>
  %0 = dz.max_pooling %x {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : tensor<2x4x5x5xf32> -> tensor<2x4x2x2xf32>
  // CHECK: %[[I:.*]] = dz.max_pooling_indexes %{{.*}} {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : tensor<2x4x5x5xf32> -> tensor<2x4x2x2xi64>
  %1 = dz.max_pooling_indexes %x {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : tensor<2x4x5x5xf32> -> tensor<2x4x2x2xi64>
  // CHECK: %[[G:.*]] = dz.max_pooling_grad %[[P]], %[[I]] {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, shape = array<i64: 2, 4, 5, 5>, stride = array<i64: 2, 2>} : (tensor<2x4x2x2xf32>, tensor<2x4x2x2xi64>) -> tensor<2x4x5x5xf32>
  %2 = dz.max_pooling_grad %0, %1 {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, shape = array<i64: 2, 4, 5, 5>, stride = array<i64: 2, 2>} : (tensor<2x4x2x2xf32>, tensor<2x4x2x2xi64>) -> tensor<2x4x5x5xf32>
  // CHECK: dz.max_pooling_with_indexes %[[G]], %[[I]] {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : (tensor<2x4x5x5xf32>, tensor<2x4x2x2xi64>) -> tensor<2x4x2x2xf32>
  %3 = dz.max_pooling_with_indexes %2, %1 {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : (tensor<2x4x5x5xf32>, tensor<2x4x2x2xi64>) -> tensor<2x4x2x2xf32>
  // 3x2 windows, stride (2, 1), pad (1, 0): OH = (5 + 2 - 3) / 2 + 1 = 3, OW = 4.
  // CHECK: %[[A:.*]] = dz.average_pooling %{{.*}} {kernel = array<i64: 3, 2>, pad = array<i64: 1, 0>, stride = array<i64: 2, 1>} : tensor<2x4x5x5xf32> -> tensor<2x4x3x4xf32>
  %4 = dz.average_pooling %x {kernel = array<i64: 3, 2>, pad = array<i64: 1, 0>, stride = array<i64: 2, 1>} : tensor<2x4x5x5xf32> -> tensor<2x4x3x4xf32>
  // CHECK: dz.average_pooling_grad %[[A]] {kernel = array<i64: 3, 2>, pad = array<i64: 1, 0>, shape = array<i64: 2, 4, 5, 5>, stride = array<i64: 2, 1>} : tensor<2x4x3x4xf32> -> tensor<2x4x5x5xf32>
  %5 = dz.average_pooling_grad %4 {kernel = array<i64: 3, 2>, pad = array<i64: 1, 0>, shape = array<i64: 2, 4, 5, 5>, stride = array<i64: 2, 1>} : tensor<2x4x3x4xf32> -> tensor<2x4x5x5xf32>
  return %5 : tensor<2x4x5x5xf32>
}

// CHECK-LABEL: func.func @dropout
// CHECK-SAME: (%[[S:.*]]: tensor<2xi64>)
func.func @dropout(%state: tensor<2xi64>) -> (tensor<4x10xf32>, tensor<2xi64>) {
  // CHECK: dz.dropout_mask %[[S]] {dtype = f32, ratio = 5.000000e-01 : f64, shape = array<i64: 4, 10>} : tensor<2xi64> -> tensor<4x10xf32>
  %0 = dz.dropout_mask %state {dtype = f32, ratio = 0.5 : f64, shape = array<i64: 4, 10>} : tensor<2xi64> -> tensor<4x10xf32>
  // CHECK: dz.rng_next %[[S]] {groups = 10 : i64} : tensor<2xi64>
  %1 = dz.rng_next %state {groups = 10 : i64} : tensor<2xi64>
  return %0, %1 : tensor<4x10xf32>, tensor<2xi64>
}
