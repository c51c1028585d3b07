// --dz-fuse runs after --dz-autodiff: a dz.grad left in the function is an error on it.
// RUN: dz-opt %s --dz-fuse --verify-diagnostics

func.func @grad_left(%x: tensor<3xf32>) -> tensor<3xf32> {
  %e = dz.exp %x : tensor<3xf32>
  %y = dz.sin %e : tensor<3xf32>
  // expected-error @+1 {{'dz.grad' op is left in the function: --dz-fuse runs after --dz-autodiff (the gradient rules know no dz.fused)}}
  %g = dz.grad %y wrt %x : tensor<3xf32>, tensor<3xf32>
  return %g : tensor<3xf32>
}
