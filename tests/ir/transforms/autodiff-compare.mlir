// RUN: dz-opt %s --dz-autodiff --split-input-file | FileCheck %s

// select: the seed goes to a where the condition holds, to b elsewhere (summed back to
// b's shape); the condition gets nothing.
// CHECK-LABEL: func.func @select
// CHECK-SAME: (%[[C:[a-z0-9]+]]: tensor<2x3xi1>, %[[A:[a-z0-9]+]]: tensor<2x3xf32>, %[[B:[a-z0-9]+]]: tensor<3xf32>)
// CHECK-NEXT: dz.select %[[C]], %[[A]], %[[B]]
// CHECK-NEXT: %[[ONE:.+]] = dz.constant dense<1.000000e+00> : tensor<2x3xf32>
// CHECK-NEXT: %[[ZERO:.+]] = dz.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %[[GA:.+]] = dz.select %[[C]], %[[ONE]], %[[ZERO]] : (tensor<2x3xi1>, tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
// CHECK-NEXT: %[[GB:.+]] = dz.select %[[C]], %[[ZERO]], %[[ONE]] : (tensor<2x3xi1>, tensor<f32>, tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: %[[SB:.+]] = dz.sum_to %[[GB]] {shape = array<i64: 3>} : tensor<2x3xf32> -> tensor<3xf32>
// CHECK-NEXT: return %[[GA]], %[[SB]]
func.func @select(%c: tensor<2x3xi1>, %a: tensor<2x3xf32>, %b: tensor<3xf32>) -> (tensor<2x3xf32>, tensor<3xf32>) {
  %y = dz.select %c, %a, %b : (tensor<2x3xi1>, tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %g:2 = dz.grad %y wrt %a, %b : tensor<2x3xf32>, tensor<2x3xf32>, tensor<3xf32>
  return %g#0, %g#1 : tensor<2x3xf32>, tensor<3xf32>
}

// -----

// A comparison passes no gradient: only the direct use of a reaches it.
// CHECK-LABEL: func.func @compare
// CHECK-SAME: (%[[A:[a-z0-9]+]]: tensor<3xf32>, %[[B:[a-z0-9]+]]: tensor<3xf32>)
// CHECK-NEXT: %[[GT:.+]] = dz.greater %[[A]], %[[B]]
// CHECK-NEXT: %[[F:.+]] = dz.cast %[[GT]] {dtype = f32} : tensor<3xi1> -> tensor<3xf32>
// CHECK-NEXT: dz.mul %[[F]], %[[A]]
// CHECK-NEXT: %[[ONE:.+]] = dz.constant dense<1.000000e+00> : tensor<3xf32>
// CHECK-NEXT: %[[G:.+]] = dz.mul %[[ONE]], %[[F]]
// CHECK-NEXT: return %[[G]]
func.func @compare(%a: tensor<3xf32>, %b: tensor<3xf32>) -> tensor<3xf32> {
  %c = dz.greater %a, %b : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xi1>
  %f = dz.cast %c {dtype = f32} : tensor<3xi1> -> tensor<3xf32>
  %y = dz.mul %f, %a : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %g = dz.grad %y wrt %a : tensor<3xf32>, tensor<3xf32>
  return %g : tensor<3xf32>
}

// -----

// power: b a^(b - 1) for a, a^b log a for b (summed to b's 0-d shape).
// CHECK-LABEL: func.func @pow
// CHECK-SAME: (%[[A:[a-z0-9]+]]: tensor<3xf32>, %[[B:[a-z0-9]+]]: tensor<f32>)
// CHECK-NEXT: %[[Y:.+]] = dz.pow %[[A]], %[[B]]
// CHECK-NEXT: %[[SEED:.+]] = dz.constant dense<1.000000e+00> : tensor<3xf32>
// CHECK-NEXT: %[[ONE:.+]] = dz.constant dense<1.000000e+00> : tensor<f32>
// CHECK-NEXT: %[[BM1:.+]] = dz.sub %[[B]], %[[ONE]]
// CHECK-NEXT: %[[P:.+]] = dz.pow %[[A]], %[[BM1]]
// CHECK-NEXT: %[[BP:.+]] = dz.mul %[[B]], %[[P]]
// CHECK-NEXT: %[[GA:.+]] = dz.mul %[[SEED]], %[[BP]]
// CHECK-NEXT: %[[LOG:.+]] = dz.log %[[A]]
// CHECK-NEXT: %[[YL:.+]] = dz.mul %[[Y]], %[[LOG]]
// CHECK-NEXT: %[[GB:.+]] = dz.mul %[[SEED]], %[[YL]]
// CHECK-NEXT: %[[SB:.+]] = dz.sum_to %[[GB]] {shape = array<i64>} : tensor<3xf32> -> tensor<f32>
// CHECK-NEXT: return %[[GA]], %[[SB]]
func.func @pow(%a: tensor<3xf32>, %b: tensor<f32>) -> (tensor<3xf32>, tensor<f32>) {
  %y = dz.pow %a, %b : (tensor<3xf32>, tensor<f32>) -> tensor<3xf32>
  %g:2 = dz.grad %y wrt %a, %b : tensor<3xf32>, tensor<3xf32>, tensor<f32>
  return %g#0, %g#1 : tensor<3xf32>, tensor<f32>
}

// -----

// erf: 2 / sqrt(pi) exp(-x^2).
// CHECK-LABEL: func.func @erf
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<3xf64>)
// CHECK-NEXT: dz.erf %[[X]] : tensor<3xf64>
// CHECK-NEXT: %[[SEED:.+]] = dz.constant dense<1.000000e+00> : tensor<3xf64>
// CHECK-NEXT: %[[SQ:.+]] = dz.mul %[[X]], %[[X]]
// CHECK-NEXT: %[[NEG:.+]] = dz.neg %[[SQ]]
// CHECK-NEXT: %[[E:.+]] = dz.exp %[[NEG]]
// CHECK-NEXT: %[[K:.+]] = dz.constant dense<1.1283791670955126> : tensor<f64>
// CHECK-NEXT: %[[KE:.+]] = dz.mul %[[E]], %[[K]]
// CHECK-NEXT: %[[G:.+]] = dz.mul %[[SEED]], %[[KE]]
// CHECK-NEXT: return %[[G]]
func.func @erf(%x: tensor<3xf64>) -> tensor<3xf64> {
  %y = dz.erf %x : tensor<3xf64>
  %g = dz.grad %y wrt %x : tensor<3xf64>, tensor<3xf64>
  return %g : tensor<3xf64>
}
