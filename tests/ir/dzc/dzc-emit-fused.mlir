// dzc FILE.mlir --emit=fused: the module after the pipeline of compiled mode
// (dz-autodiff, canonicalize, cse) and then dz-fuse, on an MLP training step (forward,
// dz.grad, SGD): the bias add + ReLU, the softmax-cross-entropy gradient chain, the
// ReLU gradient and the four SGD updates fuse; the GEMMs, softmax, one_hot and sum_to
// stay outside.
// RUN: dzc %s --emit=fused | FileCheck %s
// RUN: dzc %s --emit=fused -o %t.mlir && dzc %t.mlir --emit=dz | FileCheck %s
// RUN: dzc %s --emit=opt | FileCheck %s --check-prefix=OPT

// CHECK-LABEL: func.func @step
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<8x5xf32>, %[[T:[a-z0-9]+]]: tensor<8xi64>, %[[W1:[a-z0-9]+]]: tensor<5x16xf32>, %[[B1:[a-z0-9]+]]: tensor<16xf32>, %[[W2:[a-z0-9]+]]: tensor<16x3xf32>, %[[B2:[a-z0-9]+]]: tensor<3xf32>)
// CHECK-NEXT: %[[H:.+]] = dz.matmul %[[X]], %[[W1]]
// CHECK-NEXT: %[[A:.+]]:2 = dz.fused (%{{.+}} = %[[H]], %{{.+}} = %[[B1]]) : (tensor<8x16xf32>, tensor<16xf32>) -> (tensor<8x16xf32>, tensor<8x16xf32>) {
// CHECK-NEXT: dz.add
// CHECK-NEXT: dz.relu
// CHECK-NEXT: dz.yield
// CHECK-NEXT: }
// CHECK-NEXT: %[[Y:.+]] = dz.linear %[[A]]#1, %[[W2]], %[[B2]]
// CHECK-NEXT: %[[LOSS:.+]] = dz.softmax_cross_entropy %[[Y]], %[[T]]
// CHECK-NEXT: %[[P:.+]] = dz.softmax %[[Y]]
// CHECK-NEXT: %[[OH:.+]] = dz.one_hot %[[T]]
// CHECK-NEXT: %[[GY:.+]] = dz.fused (%{{.+}} = %[[P]], %{{.+}} = %[[OH]]) : (tensor<8x3xf32>, tensor<8x3xf32>) -> tensor<8x3xf32> {
// CHECK-NEXT: dz.constant dense<1.250000e-01> : tensor<f32>
// CHECK-NEXT: dz.sub
// CHECK-NEXT: dz.mul
// CHECK-NEXT: dz.yield
// CHECK-NEXT: }
// CHECK: %[[GH:.+]] = dz.fused (%{{.+}} = %[[A]]#0, %{{.+}}) : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x16xf32> {
// CHECK-NEXT: dz.step
// CHECK-NEXT: dz.mul
// CHECK-NEXT: dz.yield
// CHECK-COUNT-4: dz.fused ({{.+}}) : ({{.+}}) -> tensor<{{.+}}> {
// CHECK-NOT: dz.fused
// CHECK: return %[[LOSS]]

// --emit=opt does not fuse.
// OPT-LABEL: func.func @step
// OPT-NOT: dz.fused
// OPT: return
func.func @step(%x: tensor<8x5xf32>, %t: tensor<8xi64>, %W1: tensor<5x16xf32>, %b1: tensor<16xf32>,
                %W2: tensor<16x3xf32>, %b2: tensor<3xf32>)
    -> (tensor<f32>, tensor<5x16xf32>, tensor<16xf32>, tensor<16x3xf32>, tensor<3xf32>) {
  %h = dz.matmul %x, %W1 : (tensor<8x5xf32>, tensor<5x16xf32>) -> tensor<8x16xf32>
  %hb = dz.add %h, %b1 : (tensor<8x16xf32>, tensor<16xf32>) -> tensor<8x16xf32>
  %a = dz.relu %hb : tensor<8x16xf32>
  %y = dz.linear %a, %W2, %b2 : (tensor<8x16xf32>, tensor<16x3xf32>, tensor<3xf32>) -> tensor<8x3xf32>
  %loss = dz.softmax_cross_entropy %y, %t : (tensor<8x3xf32>, tensor<8xi64>) -> tensor<f32>
  %g:4 = dz.grad %loss wrt %W1, %b1, %W2, %b2 : tensor<f32>, tensor<5x16xf32>, tensor<16xf32>, tensor<16x3xf32>, tensor<3xf32>
  %lr = dz.constant dense<0.1> : tensor<f32>
  %u1 = dz.mul %lr, %g#0 : (tensor<f32>, tensor<5x16xf32>) -> tensor<5x16xf32>
  %W1n = dz.sub %W1, %u1 : (tensor<5x16xf32>, tensor<5x16xf32>) -> tensor<5x16xf32>
  %u2 = dz.mul %lr, %g#1 : (tensor<f32>, tensor<16xf32>) -> tensor<16xf32>
  %b1n = dz.sub %b1, %u2 : (tensor<16xf32>, tensor<16xf32>) -> tensor<16xf32>
  %u3 = dz.mul %lr, %g#2 : (tensor<f32>, tensor<16x3xf32>) -> tensor<16x3xf32>
  %W2n = dz.sub %W2, %u3 : (tensor<16x3xf32>, tensor<16x3xf32>) -> tensor<16x3xf32>
  %u4 = dz.mul %lr, %g#3 : (tensor<f32>, tensor<3xf32>) -> tensor<3xf32>
  %b2n = dz.sub %b2, %u4 : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return %loss, %W1n, %b1n, %W2n, %b2n : tensor<f32>, tensor<5x16xf32>, tensor<16xf32>, tensor<16x3xf32>, tensor<3xf32>
}
