// mismatch.mlir - a function whose finite differences and autodiff disagree on purpose
// (dz-gradcheck must fail and say where): y = float(int(1e4 x)) moves by 2 between x - 1e-4
// and x + 1e-4, so the central difference is 1e4, while a cast to an integer has no
// gradient.

func.func @truncated(%x: tensor<2x3xf64>) -> tensor<2x3xf64> {
  %c = dz.constant dense<1.0e4> : tensor<f64>
  %s = dz.mul %x, %c : (tensor<2x3xf64>, tensor<f64>) -> tensor<2x3xf64>
  %i = dz.cast %s {dtype = i64} : tensor<2x3xf64> -> tensor<2x3xi64>
  %y = dz.cast %i {dtype = f64} : tensor<2x3xi64> -> tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g : tensor<2x3xf64>
}
