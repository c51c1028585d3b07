// RUN: dz-opt %s --dz-autodiff --verify-diagnostics

// The all-reduce "max" has no gradient rule: the error names it and what to do instead.
func.func @max(%x: tensor<3xf32>) -> tensor<3xf32> {
  // expected-error @+1 {{dz-autodiff: the all-reduce "max" has no gradient here}}
  %r = dz.all_reduce %x {comm = 0 : i64, reduction = "max"} : tensor<3xf32>
  %y = dz.exp %r : tensor<3xf32>
  %g = dz.grad %y wrt %x : tensor<3xf32>, tensor<3xf32>
  return %g : tensor<3xf32>
}
