// --dz-lower-conv=policy=auto (the default): a float32 conv2d that oneDNN's direct
// convolution runs faster stays: at least 64 input taps C*KH*KW and 2^20 multiply-adds
// N*OC*OH*OW*C*KH*KW, and not a 1x1 kernel with stride 1 and no padding (the rule of
// dz::ConvAlgo::Auto, docs/performance.md). float64 convolutions, conv2d_grad_w and
// deconv2d are always lowered.
// RUN: dz-opt %s --dz-lower-conv=policy=auto --split-input-file | FileCheck %s
// RUN: dz-opt %s --dz-lower-conv --split-input-file | FileCheck %s
// RUN: not dz-opt %s --dz-lower-conv=policy=fast 2>&1 | FileCheck %s --check-prefix=ERR
// ERR: for the --policy option: Cannot find option named 'fast'!

// The table's 8->16 3x3 layer on 14x14 at batch 64: 72 taps, 10.6M multiply-adds; kept
// as it is.
// CHECK-LABEL: func.func @kept_8to16
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<64x8x14x14xf32>, %[[W:[a-z0-9]+]]: tensor<16x8x3x3xf32>, %[[B:[a-z0-9]+]]: tensor<16xf32>)
// CHECK-NEXT: %[[Y:.+]] = dz.conv2d %[[X]], %[[W]], %[[B]] {pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<64x8x14x14xf32>, tensor<16x8x3x3xf32>, tensor<16xf32>) -> tensor<64x16x12x12xf32>
// CHECK-NEXT: return %[[Y]]
func.func @kept_8to16(%x: tensor<64x8x14x14xf32>, %W: tensor<16x8x3x3xf32>, %b: tensor<16xf32>) -> tensor<64x16x12x12xf32> {
  %y = dz.conv2d %x, %W, %b {pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<64x8x14x14xf32>, tensor<16x8x3x3xf32>, tensor<16xf32>) -> tensor<64x16x12x12xf32>
  return %y : tensor<64x16x12x12xf32>
}

// -----

// Its gradients in the same layer: conv2d_grad_w and deconv2d are lowered (im2col /
// col2im + GEMM is what their kernels run anyway).
// CHECK-LABEL: func.func @gradients_lowered
// CHECK-NOT: dz.conv2d_grad_w
// CHECK: dz.im2col
// CHECK: dz.matmul {{.*}} {transpose_b = true}
// CHECK-NOT: dz.deconv2d
// CHECK: dz.matmul {{.*}} {transpose_a = true}
// CHECK: dz.col2im
// CHECK-NOT: dz.deconv2d
// CHECK: return
func.func @gradients_lowered(%x: tensor<64x8x14x14xf32>, %gy: tensor<64x16x12x12xf32>, %W: tensor<16x8x3x3xf32>) -> (tensor<16x8x3x3xf32>, tensor<64x8x14x14xf32>) {
  %gW = dz.conv2d_grad_w %x, %gy {kernel = array<i64: 3, 3>, pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<64x8x14x14xf32>, tensor<64x16x12x12xf32>) -> tensor<16x8x3x3xf32>
  %gx = dz.deconv2d %gy, %W {outsize = array<i64: 14, 14>, pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<64x16x12x12xf32>, tensor<16x8x3x3xf32>) -> tensor<64x8x14x14xf32>
  return %gW, %gx : tensor<16x8x3x3xf32>, tensor<64x8x14x14xf32>
}

// -----

// The same layer at batch 1: 166k multiply-adds, below 2^20; lowered.
// CHECK-LABEL: func.func @few_macs
// CHECK-NEXT: dz.im2col
// CHECK-NOT: dz.conv2d
// CHECK: return
func.func @few_macs(%x: tensor<1x8x14x14xf32>, %W: tensor<16x8x3x3xf32>) -> tensor<1x16x12x12xf32> {
  %y = dz.conv2d %x, %W {pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<1x8x14x14xf32>, tensor<16x8x3x3xf32>) -> tensor<1x16x12x12xf32>
  return %y : tensor<1x16x12x12xf32>
}

// -----

// The table's 1->8 3x3 pad 1 layer on 28x28 at batch 64: 3.6M multiply-adds but 9 taps;
// lowered.
// CHECK-LABEL: func.func @few_taps
// CHECK-NEXT: dz.im2col
// CHECK-NOT: dz.conv2d
// CHECK: return
func.func @few_taps(%x: tensor<64x1x28x28xf32>, %W: tensor<8x1x3x3xf32>, %b: tensor<8xf32>) -> tensor<64x8x28x28xf32> {
  %y = dz.conv2d %x, %W, %b {pad = array<i64: 1, 1>, stride = array<i64: 1, 1>} : (tensor<64x1x28x28xf32>, tensor<8x1x3x3xf32>, tensor<8xf32>) -> tensor<64x8x28x28xf32>
  return %y : tensor<64x8x28x28xf32>
}

// -----

// On the threshold: 64 taps (16 channels, 2x2) and exactly 2^20 multiply-adds
// (1 * 16 * 32 * 32 * 64); kept.
// CHECK-LABEL: func.func @threshold_kept
// CHECK-NEXT: dz.conv2d
// CHECK-NEXT: return
func.func @threshold_kept(%x: tensor<1x16x33x33xf32>, %W: tensor<16x16x2x2xf32>) -> tensor<1x16x32x32xf32> {
  %y = dz.conv2d %x, %W {pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<1x16x33x33xf32>, tensor<16x16x2x2xf32>) -> tensor<1x16x32x32xf32>
  return %y : tensor<1x16x32x32xf32>
}

// -----

// One row less: 1 * 16 * 31 * 32 * 64 = 1015808 < 2^20 multiply-adds; lowered.
// CHECK-LABEL: func.func @threshold_lowered
// CHECK-NEXT: dz.im2col
// CHECK-NOT: dz.conv2d
// CHECK: return
func.func @threshold_lowered(%x: tensor<1x16x32x33xf32>, %W: tensor<16x16x2x2xf32>) -> tensor<1x16x31x32xf32> {
  %y = dz.conv2d %x, %W {pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<1x16x32x33xf32>, tensor<16x16x2x2xf32>) -> tensor<1x16x31x32xf32>
  return %y : tensor<1x16x31x32xf32>
}

// -----

// The kept layer in float64: lowered (oneDNN has no float64 convolution).
// CHECK-LABEL: func.func @float64_lowered
// CHECK-NEXT: dz.im2col
// CHECK-NOT: dz.conv2d
// CHECK: return
func.func @float64_lowered(%x: tensor<64x8x14x14xf64>, %W: tensor<16x8x3x3xf64>, %b: tensor<16xf64>) -> tensor<64x16x12x12xf64> {
  %y = dz.conv2d %x, %W, %b {pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<64x8x14x14xf64>, tensor<16x8x3x3xf64>, tensor<16xf64>) -> tensor<64x16x12x12xf64>
  return %y : tensor<64x16x12x12xf64>
}

// -----

// A 1x1 convolution with 64 taps and 51M multiply-adds: lowered (a plain GEMM, no im2col).
// CHECK-LABEL: func.func @pointwise_lowered
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<64x64x14x14xf32>, %[[W:[a-z0-9]+]]: tensor<64x64x1x1xf32>)
// CHECK-NEXT: dz.reshape %[[X]] {shape = array<i64: 64, 64, 196>}
// CHECK-NEXT: dz.reshape %[[W]] {shape = array<i64: 64, 64>}
// CHECK-NEXT: dz.matmul
// CHECK-NEXT: dz.reshape
// CHECK-NEXT: return
func.func @pointwise_lowered(%x: tensor<64x64x14x14xf32>, %W: tensor<64x64x1x1xf32>) -> tensor<64x64x14x14xf32> {
  %y = dz.conv2d %x, %W {pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<64x64x14x14xf32>, tensor<64x64x1x1xf32>) -> tensor<64x64x14x14xf32>
  return %y : tensor<64x64x14x14xf32>
}

// -----

// A 1x1 kernel with stride 2 is not pointwise (im2col subsamples): 64 taps, 12.8M
// multiply-adds; kept, as dz::ConvAlgo::Auto runs oneDNN for it.
// CHECK-LABEL: func.func @strided_1x1_kept
// CHECK-NEXT: dz.conv2d
// CHECK-NEXT: return
func.func @strided_1x1_kept(%x: tensor<64x64x14x14xf32>, %W: tensor<64x64x1x1xf32>) -> tensor<64x64x7x7xf32> {
  %y = dz.conv2d %x, %W {pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : (tensor<64x64x14x14xf32>, tensor<64x64x1x1xf32>) -> tensor<64x64x7x7xf32>
  return %y : tensor<64x64x7x7xf32>
}
