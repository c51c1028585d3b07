// dzc FILE.mlir --emit=dz|opt: the module as parsed, and after the pipeline of compiled
// mode (dz-autodiff, canonicalize, cse); -o, stdin, --print-ir-after-all.
// RUN: dzc %s --emit=dz | FileCheck %s --check-prefix=DZ
// RUN: dzc %s --emit=opt | FileCheck %s --check-prefix=OPT
// RUN: dzc %s | FileCheck %s --check-prefix=OPT
// RUN: cat %s | dzc - --emit=opt | FileCheck %s --check-prefix=OPT
// RUN: rm -f %t.mlir && dzc %s --emit=opt -o %t.mlir | count 0
// RUN: FileCheck %s --check-prefix=OPT < %t.mlir
// The output is valid input: compiling it again changes nothing.
// RUN: dzc %t.mlir --emit=opt | FileCheck %s --check-prefix=OPT
// RUN: dzc %s --emit=opt --print-ir-after-all 2>&1 >/dev/null | FileCheck %s --check-prefix=PASSES

// --emit=dz prints the dz.grad ops as written (verified, not transformed).
// DZ-LABEL: func.func @double_backprop_cube
// DZ: dz.grad
// DZ: dz.grad
// DZ-LABEL: func.func @mul
// DZ: dz.grad

// --emit=opt: the gradients of x^3 are 3x^2 and 6x, with no dz.grad left.
// OPT-LABEL: func.func @double_backprop_cube
// OPT-SAME: (%[[X:[a-z0-9]+]]: tensor<f32>)
// OPT-NEXT: %[[X2:.+]] = dz.mul %[[X]], %[[X]] : (tensor<f32>, tensor<f32>) -> tensor<f32>
// OPT-NEXT: %[[A:.+]] = dz.add %[[X2]], %[[X2]]
// OPT-NEXT: %[[D1:.+]] = dz.add %[[A]], %[[X2]]
// OPT-NEXT: %[[B:.+]] = dz.add %[[X]], %[[X]]
// OPT-NEXT: %[[C:.+]] = dz.add %[[B]], %[[B]]
// OPT-NEXT: %[[D:.+]] = dz.add %[[C]], %[[X]]
// OPT-NEXT: %[[D2:.+]] = dz.add %[[D]], %[[X]]
// OPT-NEXT: return %[[D1]], %[[D2]] : tensor<f32>, tensor<f32>
// OPT-LABEL: func.func @mul
// OPT-SAME: (%[[A:[a-z0-9]+]]: tensor<3xf32>, %[[B:[a-z0-9]+]]: tensor<3xf32>)
// OPT-NEXT: return %[[B]], %[[A]] : tensor<3xf32>, tensor<3xf32>
// OPT-NOT: dz.grad

// --print-ir-after-all: the module after each pass of the pipeline, in order.
// PASSES: IR Dump After {{.*}}dz-autodiff
// PASSES-NOT: dz.grad
// PASSES: IR Dump After {{.*}}canonicalize
// PASSES: IR Dump After {{.*}}cse
// PASSES: func.func @mul

func.func @double_backprop_cube(%x: tensor<f32>) -> (tensor<f32>, tensor<f32>) {
  %x2 = dz.mul %x, %x : (tensor<f32>, tensor<f32>) -> tensor<f32>
  %y = dz.mul %x2, %x : (tensor<f32>, tensor<f32>) -> tensor<f32>
  %gy = dz.grad %y wrt %x : tensor<f32>, tensor<f32>
  %ggy = dz.grad %gy wrt %x : tensor<f32>, tensor<f32>
  return %gy, %ggy : tensor<f32>, tensor<f32>
}

func.func @mul(%a: tensor<3xf32>, %b: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>) {
  %y = dz.mul %a, %b : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %g:2 = dz.grad %y wrt %a, %b : tensor<3xf32>, tensor<3xf32>, tensor<3xf32>
  return %g#0, %g#1 : tensor<3xf32>, tensor<3xf32>
}
