// RUN: dz-opt %s --dz-autodiff --split-input-file --verify-diagnostics

// An op on the path from x to y without a gradient rule is an error on that op.
func.func @no_rule(%x: tensor<3xf32>) -> tensor<3xf32> {
  // expected-error @+1 {{dz-autodiff: no gradient rule for 'arith.addf'}}
  %s = arith.addf %x, %x : tensor<3xf32>
  %y = dz.exp %s : tensor<3xf32>
  %g = dz.grad %y wrt %x : tensor<3xf32>, tensor<3xf32>
  return %g : tensor<3xf32>
}
