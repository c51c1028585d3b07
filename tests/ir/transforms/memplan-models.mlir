// RUN: dz-opt %s --dz-pipeline="fuse=false lower-conv=false" --dz-print-memory-plan --split-input-file -o /dev/null | FileCheck %s
// RUN: dz-opt %s --dz-pipeline="fuse=false lower-conv=false" --dz-print-memory-plan=in-place=false --split-input-file -o /dev/null | FileCheck %s --check-prefix=NOIP

// The memory plan of two training steps after the pipeline of compiled mode (dz.grad
// expanded, canonicalize, CSE), the numbers of docs/performance.md ("Memory plan"): the
// arena (peak) against the sum of all intermediates (naive). A change in the pipeline or
// the gradient rules moves them: update both places.

// MLP 784-1000-10, sigmoid, batch 100, f32, softmax cross-entropy, SGD update:
// peak 3580096 of naive 8780352 bytes (0.41; 0.72 without in-place).
// CHECK-LABEL: memory plan @mlp_step: 19 values, 10 buffers, 9 in place, alignment 64
// CHECK: peak 3580096 naive 8780352
// NOIP-LABEL: memory plan @mlp_step: 19 values, 19 buffers, 0 in place, alignment 64
// NOIP: peak 6316096 naive 8780352
func.func @mlp_step(%x: tensor<100x784xf32>, %t: tensor<100xi64>, %W1: tensor<784x1000xf32>, %b1: tensor<1000xf32>, %W2: tensor<1000x10xf32>, %b2: tensor<10xf32>) -> (tensor<f32>, tensor<784x1000xf32>, tensor<1000xf32>, tensor<1000x10xf32>, tensor<10xf32>) {
  %h = dz.linear %x, %W1, %b1 : (tensor<100x784xf32>, tensor<784x1000xf32>, tensor<1000xf32>) -> tensor<100x1000xf32>
  %a = dz.sigmoid %h : tensor<100x1000xf32>
  %y = dz.linear %a, %W2, %b2 : (tensor<100x1000xf32>, tensor<1000x10xf32>, tensor<10xf32>) -> tensor<100x10xf32>
  %loss = dz.softmax_cross_entropy %y, %t : (tensor<100x10xf32>, tensor<100xi64>) -> tensor<f32>
  %g:4 = dz.grad %loss wrt %W1, %b1, %W2, %b2 : tensor<f32>, tensor<784x1000xf32>, tensor<1000xf32>, tensor<1000x10xf32>, tensor<10xf32>
  %lr = dz.constant dense<0.1> : tensor<f32>
  %u1 = dz.mul %g#0, %lr : (tensor<784x1000xf32>, tensor<f32>) -> tensor<784x1000xf32>
  %W1n = dz.sub %W1, %u1 : (tensor<784x1000xf32>, tensor<784x1000xf32>) -> tensor<784x1000xf32>
  %u2 = dz.mul %g#1, %lr : (tensor<1000xf32>, tensor<f32>) -> tensor<1000xf32>
  %b1n = dz.sub %b1, %u2 : (tensor<1000xf32>, tensor<1000xf32>) -> tensor<1000xf32>
  %u3 = dz.mul %g#2, %lr : (tensor<1000x10xf32>, tensor<f32>) -> tensor<1000x10xf32>
  %W2n = dz.sub %W2, %u3 : (tensor<1000x10xf32>, tensor<1000x10xf32>) -> tensor<1000x10xf32>
  %u4 = dz.mul %g#3, %lr : (tensor<10xf32>, tensor<f32>) -> tensor<10xf32>
  %b2n = dz.sub %b2, %u4 : (tensor<10xf32>, tensor<10xf32>) -> tensor<10xf32>
  return %loss, %W1n, %b1n, %W2n, %b2n : tensor<f32>, tensor<784x1000xf32>, tensor<1000xf32>, tensor<1000x10xf32>, tensor<10xf32>
}

// -----

// CNN: conv 1->8 3x3 pad 1, relu, max pool 2, conv 8->16 3x3, relu, max pool 2, linear
// 576->10, batch 64, f32, softmax cross-entropy, SGD update:
// peak 4844608 of naive 13536768 bytes (0.36; 0.37 without in-place). (Before the
// pipeline shared the pooling indexes between forward and backward: 0.39.)
// CHECK-LABEL: memory plan @cnn_step: 35 values, 21 buffers, 14 in place, alignment 64
// CHECK: peak 4844608 naive 13536768
// NOIP-LABEL: memory plan @cnn_step: 35 values, 35 buffers, 0 in place, alignment 64
// NOIP: peak 5033024 naive 13536768

func.func @cnn_step(%x: tensor<64x1x28x28xf32>, %t: tensor<64xi64>, %W1: tensor<8x1x3x3xf32>, %b1: tensor<8xf32>, %W2: tensor<16x8x3x3xf32>, %b2: tensor<16xf32>, %W3: tensor<576x10xf32>, %b3: tensor<10xf32>) -> (tensor<f32>, tensor<8x1x3x3xf32>, tensor<8xf32>, tensor<16x8x3x3xf32>, tensor<16xf32>, tensor<576x10xf32>, tensor<10xf32>) {
  %c1 = dz.conv2d %x, %W1, %b1 {pad = array<i64: 1, 1>, stride = array<i64: 1, 1>} : (tensor<64x1x28x28xf32>, tensor<8x1x3x3xf32>, tensor<8xf32>) -> tensor<64x8x28x28xf32>
  %r1 = dz.relu %c1 : tensor<64x8x28x28xf32>
  %p1 = dz.max_pooling %r1 {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : tensor<64x8x28x28xf32> -> tensor<64x8x14x14xf32>
  %c2 = dz.conv2d %p1, %W2, %b2 {pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<64x8x14x14xf32>, tensor<16x8x3x3xf32>, tensor<16xf32>) -> tensor<64x16x12x12xf32>
  %r2 = dz.relu %c2 : tensor<64x16x12x12xf32>
  %p2 = dz.max_pooling %r2 {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : tensor<64x16x12x12xf32> -> tensor<64x16x6x6xf32>
  %f = dz.reshape %p2 {shape = array<i64: 64, 576>} : tensor<64x16x6x6xf32> -> tensor<64x576xf32>
  %y = dz.linear %f, %W3, %b3 : (tensor<64x576xf32>, tensor<576x10xf32>, tensor<10xf32>) -> tensor<64x10xf32>
  %loss = dz.softmax_cross_entropy %y, %t : (tensor<64x10xf32>, tensor<64xi64>) -> tensor<f32>
  %g:6 = dz.grad %loss wrt %W1, %b1, %W2, %b2, %W3, %b3 : tensor<f32>, tensor<8x1x3x3xf32>, tensor<8xf32>, tensor<16x8x3x3xf32>, tensor<16xf32>, tensor<576x10xf32>, tensor<10xf32>
  %lr = dz.constant dense<0.1> : tensor<f32>
  %u1 = dz.mul %g#0, %lr : (tensor<8x1x3x3xf32>, tensor<f32>) -> tensor<8x1x3x3xf32>
  %W1n = dz.sub %W1, %u1 : (tensor<8x1x3x3xf32>, tensor<8x1x3x3xf32>) -> tensor<8x1x3x3xf32>
  %u2 = dz.mul %g#1, %lr : (tensor<8xf32>, tensor<f32>) -> tensor<8xf32>
  %b1n = dz.sub %b1, %u2 : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  %u3 = dz.mul %g#2, %lr : (tensor<16x8x3x3xf32>, tensor<f32>) -> tensor<16x8x3x3xf32>
  %W2n = dz.sub %W2, %u3 : (tensor<16x8x3x3xf32>, tensor<16x8x3x3xf32>) -> tensor<16x8x3x3xf32>
  %u4 = dz.mul %g#3, %lr : (tensor<16xf32>, tensor<f32>) -> tensor<16xf32>
  %b2n = dz.sub %b2, %u4 : (tensor<16xf32>, tensor<16xf32>) -> tensor<16xf32>
  %u5 = dz.mul %g#4, %lr : (tensor<576x10xf32>, tensor<f32>) -> tensor<576x10xf32>
  %W3n = dz.sub %W3, %u5 : (tensor<576x10xf32>, tensor<576x10xf32>) -> tensor<576x10xf32>
  %u6 = dz.mul %g#5, %lr : (tensor<10xf32>, tensor<f32>) -> tensor<10xf32>
  %b3n = dz.sub %b3, %u6 : (tensor<10xf32>, tensor<10xf32>) -> tensor<10xf32>
  return %loss, %W1n, %b1n, %W2n, %b2n, %W3n, %b3n : tensor<f32>, tensor<8x1x3x3xf32>, tensor<8xf32>, tensor<16x8x3x3xf32>, tensor<16xf32>, tensor<576x10xf32>, tensor<10xf32>
}
