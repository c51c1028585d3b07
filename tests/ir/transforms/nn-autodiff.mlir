// --dz-autodiff on the neural-network ops: each gradient is built from the op's adjoint
// partner (conv2d -> deconv2d + conv2d_grad_w, max_pooling -> max_pooling_grad, get_item ->
// get_item_grad, ...), whose own rules make double backprop work.
// RUN: dz-opt %s --dz-autodiff --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @conv2d
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<2x3x5x5xf32>, %[[W:[a-z0-9]+]]: tensor<4x3x3x3xf32>, %[[B:[a-z0-9]+]]: tensor<4xf32>)
// CHECK: %[[ONE:.+]] = dz.constant dense<1.000000e+00> : tensor<2x4x3x3xf32>
// CHECK-NEXT: %[[GX:.+]] = dz.deconv2d %[[ONE]], %[[W]] {outsize = array<i64: 5, 5>, pad = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<2x4x3x3xf32>, tensor<4x3x3x3xf32>) -> tensor<2x3x5x5xf32>
// CHECK-NEXT: %[[GW:.+]] = dz.conv2d_grad_w %[[X]], %[[ONE]] {kernel = array<i64: 3, 3>, pad = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<2x3x5x5xf32>, tensor<2x4x3x3xf32>) -> tensor<4x3x3x3xf32>
// CHECK-NEXT: %[[GB:.+]] = dz.sum %[[ONE]] {axes = array<i64: 0, 2, 3>, keepdims = false} : tensor<2x4x3x3xf32> -> tensor<4xf32>
// CHECK-NEXT: return %[[GX]], %[[GW]], %[[GB]]
func.func @conv2d(%x: tensor<2x3x5x5xf32>, %W: tensor<4x3x3x3xf32>, %b: tensor<4xf32>) -> (tensor<2x3x5x5xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) {
  %y = dz.conv2d %x, %W, %b {pad = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<2x3x5x5xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<2x4x3x3xf32>
  %g:3 = dz.grad %y wrt %x, %W, %b : tensor<2x4x3x3xf32>, tensor<2x3x5x5xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>
  return %g#0, %g#1, %g#2 : tensor<2x3x5x5xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>
}

// -----

// deconv2d: gx is a convolution, gW the conv2d_grad_w of (gy, x).
// CHECK-LABEL: func.func @deconv2d
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<2x4x3x3xf64>, %[[W:[a-z0-9]+]]: tensor<4x3x3x3xf64>)
// CHECK: %[[ONE:.+]] = dz.constant dense<1.000000e+00> : tensor<2x3x6x6xf64>
// CHECK-NEXT: %[[GX:.+]] = dz.conv2d %[[ONE]], %[[W]] {pad = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<2x3x6x6xf64>, tensor<4x3x3x3xf64>) -> tensor<2x4x3x3xf64>
// CHECK-NEXT: %[[GW:.+]] = dz.conv2d_grad_w %[[ONE]], %[[X]] {kernel = array<i64: 3, 3>, pad = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<2x3x6x6xf64>, tensor<2x4x3x3xf64>) -> tensor<4x3x3x3xf64>
func.func @deconv2d(%x: tensor<2x4x3x3xf64>, %W: tensor<4x3x3x3xf64>) -> (tensor<2x4x3x3xf64>, tensor<4x3x3x3xf64>) {
  %y = dz.deconv2d %x, %W {outsize = array<i64: 6, 6>, pad = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<2x4x3x3xf64>, tensor<4x3x3x3xf64>) -> tensor<2x3x6x6xf64>
  %g:2 = dz.grad %y wrt %x, %W : tensor<2x3x6x6xf64>, tensor<2x4x3x3xf64>, tensor<4x3x3x3xf64>
  return %g#0, %g#1 : tensor<2x4x3x3xf64>, tensor<4x3x3x3xf64>
}

// -----

// conv2d_grad_w is bilinear: for ggW, deconv2d(gy, ggW) and conv2d(x, ggW).
// CHECK-LABEL: func.func @conv2d_grad_w
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<1x2x4x4xf64>, %[[GY:[a-z0-9]+]]: tensor<1x3x2x3xf64>)
// CHECK: %[[ONE:.+]] = dz.constant dense<1.000000e+00> : tensor<3x2x3x2xf64>
// CHECK-NEXT: %[[GX:.+]] = dz.deconv2d %[[GY]], %[[ONE]] {outsize = array<i64: 4, 4>, pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<1x3x2x3xf64>, tensor<3x2x3x2xf64>) -> tensor<1x2x4x4xf64>
// CHECK-NEXT: %[[GGY:.+]] = dz.conv2d %[[X]], %[[ONE]] {pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<1x2x4x4xf64>, tensor<3x2x3x2xf64>) -> tensor<1x3x2x3xf64>
// CHECK-NEXT: return %[[GX]], %[[GGY]]
func.func @conv2d_grad_w(%x: tensor<1x2x4x4xf64>, %gy: tensor<1x3x2x3xf64>) -> (tensor<1x2x4x4xf64>, tensor<1x3x2x3xf64>) {
  %w = dz.conv2d_grad_w %x, %gy {kernel = array<i64: 3, 2>, pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<1x2x4x4xf64>, tensor<1x3x2x3xf64>) -> tensor<3x2x3x2xf64>
  %g:2 = dz.grad %w wrt %x, %gy : tensor<3x2x3x2xf64>, tensor<1x2x4x4xf64>, tensor<1x3x2x3xf64>
  return %g#0, %g#1 : tensor<1x2x4x4xf64>, tensor<1x3x2x3xf64>
}

// -----

// Max pooling: the argmax positions of the forward's windows route gy back; the second
// derivative reads the incoming gradient at those positions (max_pooling_with_indexes).
// CHECK-LABEL: func.func @max_pooling
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<1x2x4x4xf64>, %[[V:[a-z0-9]+]]: tensor<1x2x4x4xf64>)
// CHECK: %[[IDX:.+]] = dz.max_pooling_indexes %[[X]] {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : tensor<1x2x4x4xf64> -> tensor<1x2x2x2xi64>
// CHECK-NEXT: %[[GX:.+]] = dz.max_pooling_grad %{{.+}}, %[[IDX]] {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, shape = array<i64: 1, 2, 4, 4>, stride = array<i64: 2, 2>} : (tensor<1x2x2x2xf64>, tensor<1x2x2x2xi64>) -> tensor<1x2x4x4xf64>
// CHECK: dz.max_pooling_with_indexes %{{.+}}, %[[IDX]] {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : (tensor<1x2x4x4xf64>, tensor<1x2x2x2xi64>) -> tensor<1x2x2x2xf64>
// CHECK-NOT: dz.grad
func.func @max_pooling(%x: tensor<1x2x4x4xf64>, %v: tensor<1x2x4x4xf64>) -> (tensor<1x2x4x4xf64>, tensor<1x2x4x4xf64>) {
  %p = dz.max_pooling %x {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : tensor<1x2x4x4xf64> -> tensor<1x2x2x2xf64>
  %y = dz.mul %p, %p : (tensor<1x2x2x2xf64>, tensor<1x2x2x2xf64>) -> tensor<1x2x2x2xf64>
  %g = dz.grad %y wrt %x : tensor<1x2x2x2xf64>, tensor<1x2x4x4xf64>
  %gv = dz.mul %g, %v : (tensor<1x2x4x4xf64>, tensor<1x2x4x4xf64>) -> tensor<1x2x4x4xf64>
  %gg = dz.grad %gv wrt %x : tensor<1x2x4x4xf64>, tensor<1x2x4x4xf64>
  return %g, %gg : tensor<1x2x4x4xf64>, tensor<1x2x4x4xf64>
}

// -----

// CHECK-LABEL: func.func @average_pooling
// CHECK: %[[ONE:.+]] = dz.constant dense<1.000000e+00> : tensor<1x2x3x4xf32>
// CHECK-NEXT: %[[GX:.+]] = dz.average_pooling_grad %[[ONE]] {kernel = array<i64: 3, 2>, pad = array<i64: 1, 0>, shape = array<i64: 1, 2, 5, 5>, stride = array<i64: 2, 1>} : tensor<1x2x3x4xf32> -> tensor<1x2x5x5xf32>
// CHECK-NEXT: return %[[GX]]
func.func @average_pooling(%x: tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32> {
  %y = dz.average_pooling %x {kernel = array<i64: 3, 2>, pad = array<i64: 1, 0>, stride = array<i64: 2, 1>} : tensor<1x2x5x5xf32> -> tensor<1x2x3x4xf32>
  %g = dz.grad %y wrt %x : tensor<1x2x3x4xf32>, tensor<1x2x5x5xf32>
  return %g : tensor<1x2x5x5xf32>
}

// -----

// get_item's gradient scatters gy back to the same offsets; get_item_grad's reads them.
// CHECK-LABEL: func.func @get_item
// CHECK: %[[ONE:.+]] = dz.constant dense<1.000000e+00> : tensor<3xf32>
// CHECK-NEXT: %[[GX:.+]] = dz.get_item_grad %[[ONE]] {offsets = array<i64: 7, 7, 0>, shape = array<i64: 4, 2>} : tensor<3xf32> -> tensor<4x2xf32>
// CHECK: dz.get_item %{{.+}} {offsets = array<i64: 7, 7, 0>, shape = array<i64: 3>} : tensor<4x2xf32> -> tensor<3xf32>
func.func @get_item(%x: tensor<4x2xf32>, %v: tensor<3xf32>) -> (tensor<4x2xf32>, tensor<3xf32>) {
  %y = dz.get_item %x {offsets = array<i64: 7, 7, 0>, shape = array<i64: 3>} : tensor<4x2xf32> -> tensor<3xf32>
  %g = dz.grad %y wrt %x : tensor<3xf32>, tensor<4x2xf32>
  %s = dz.get_item_grad %v {offsets = array<i64: 7, 7, 0>, shape = array<i64: 4, 2>} : tensor<3xf32> -> tensor<4x2xf32>
  %gv = dz.grad %s wrt %v : tensor<4x2xf32>, tensor<3xf32>
  return %g, %gv : tensor<4x2xf32>, tensor<3xf32>
}

// -----

// embed_id: the ids (i64) get no gradient; W gets the rows of gy added at the ids.
// CHECK-LABEL: func.func @embed_id
// CHECK-SAME: (%[[IDS:[a-z0-9]+]]: tensor<5xi64>, %[[W:[a-z0-9]+]]: tensor<10x4xf32>)
// CHECK: %[[ONE:.+]] = dz.constant dense<1.000000e+00> : tensor<5x4xf32>
// CHECK-NEXT: %[[GW:.+]] = dz.embed_id_grad %[[IDS]], %[[ONE]] {shape = array<i64: 10, 4>} : (tensor<5xi64>, tensor<5x4xf32>) -> tensor<10x4xf32>
// CHECK-NEXT: return %[[GW]]
func.func @embed_id(%ids: tensor<5xi64>, %W: tensor<10x4xf32>) -> tensor<10x4xf32> {
  %y = dz.embed_id %ids, %W : (tensor<5xi64>, tensor<10x4xf32>) -> tensor<5x4xf32>
  %g = dz.grad %y wrt %W : tensor<5x4xf32>, tensor<10x4xf32>
  return %g : tensor<10x4xf32>
}

// -----

// CHECK-LABEL: func.func @im2col
// CHECK: %[[ONE:.+]] = dz.constant dense<1.000000e+00> : tensor<18x27xf32>
// CHECK-NEXT: %[[GX:.+]] = dz.col2im %[[ONE]] {kernel = array<i64: 3, 3>, pad = array<i64: 1, 1>, shape = array<i64: 2, 3, 5, 5>, stride = array<i64: 2, 2>, to_matrix = true} : tensor<18x27xf32> -> tensor<2x3x5x5xf32>
// CHECK-NEXT: return %[[GX]]
func.func @im2col(%x: tensor<2x3x5x5xf32>) -> tensor<2x3x5x5xf32> {
  %y = dz.im2col %x {kernel = array<i64: 3, 3>, pad = array<i64: 1, 1>, stride = array<i64: 2, 2>, to_matrix = true} : tensor<2x3x5x5xf32> -> tensor<18x27xf32>
  %g = dz.grad %y wrt %x : tensor<18x27xf32>, tensor<2x3x5x5xf32>
  return %g : tensor<2x3x5x5xf32>
}
