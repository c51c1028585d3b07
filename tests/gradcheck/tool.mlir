// tool.mlir - inputs of dz-gradcheck that check the checker: a dz.grad taken with respect
// to a computed value (not an argument), and a function in float32 throughout (perturbed
// in float32, with the float32 step and tolerance).

func.func @intermediate(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>) {
  %e = dz.exp %x : tensor<2x3xf64>
  %y = dz.sin %e : tensor<2x3xf64>
  %g = dz.grad %y wrt %e : tensor<2x3xf64>, tensor<2x3xf64>
  %gg = dz.grad %g wrt %e : tensor<2x3xf64>, tensor<2x3xf64>
  return %g, %gg : tensor<2x3xf64>, tensor<2x3xf64>
}

func.func @tanh32(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
  %y = dz.tanh %x : tensor<2x3xf32>
  %g = dz.grad %y wrt %x : tensor<2x3xf32>, tensor<2x3xf32>
  %gg = dz.grad %g wrt %x : tensor<2x3xf32>, tensor<2x3xf32>
  return %g, %gg : tensor<2x3xf32>, tensor<2x3xf32>
}
