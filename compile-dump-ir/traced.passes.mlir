// -----// IR Dump After Autodiff (dz-autodiff) ('builtin.module' operation) //----- //
module {
  func.func @traced(%arg0: tensor<2xf64>) -> (tensor<2xf64>, tensor<2xf64>) {
    %0 = dz.mul %arg0, %arg0 : (tensor<2xf64>, tensor<2xf64>) -> tensor<2xf64>
    %1 = dz.sum %0 {axes = array<i64>, keepdims = false} : tensor<2xf64> -> tensor<f64>
    %2 = dz.constant dense<1.000000e+00> : tensor<f64>
    %3 = dz.reshape %2 {shape = array<i64: 1>} : tensor<f64> -> tensor<1xf64>
    %4 = dz.broadcast_to %3 {shape = array<i64: 2>} : tensor<1xf64> -> tensor<2xf64>
    %5 = dz.mul %4, %arg0 : (tensor<2xf64>, tensor<2xf64>) -> tensor<2xf64>
    %6 = dz.mul %4, %arg0 : (tensor<2xf64>, tensor<2xf64>) -> tensor<2xf64>
    %7 = dz.add %5, %6 : (tensor<2xf64>, tensor<2xf64>) -> tensor<2xf64>
    return %7, %7 : tensor<2xf64>, tensor<2xf64>
  }
}


// -----// IR Dump After Canonicalizer (canonicalize) ('builtin.module' operation) //----- //
module {
  func.func @traced(%arg0: tensor<2xf64>) -> (tensor<2xf64>, tensor<2xf64>) {
    %0 = dz.add %arg0, %arg0 : (tensor<2xf64>, tensor<2xf64>) -> tensor<2xf64>
    return %0, %0 : tensor<2xf64>, tensor<2xf64>
  }
}


// -----// IR Dump After CSE (cse) ('builtin.module' operation) //----- //
module {
  func.func @traced(%arg0: tensor<2xf64>) -> (tensor<2xf64>, tensor<2xf64>) {
    %0 = dz.add %arg0, %arg0 : (tensor<2xf64>, tensor<2xf64>) -> tensor<2xf64>
    return %0, %0 : tensor<2xf64>, tensor<2xf64>
  }
}


