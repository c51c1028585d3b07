module {
  func.func @traced(%arg0: tensor<2xf64>) -> (tensor<2xf64>, tensor<2xf64>) {
    %0 = dz.mul %arg0, %arg0 : (tensor<2xf64>, tensor<2xf64>) -> tensor<2xf64>
    %1 = dz.sum %0 {axes = array<i64>, keepdims = false} : tensor<2xf64> -> tensor<f64>
    %2 = dz.grad %1 wrt %arg0 : tensor<f64>, tensor<2xf64>
    return %2, %2 : tensor<2xf64>, tensor<2xf64>
  }
}
