// Verifier errors of dz.all_reduce: each names the op and what would be valid.
// RUN: dz-opt %s --split-input-file --verify-diagnostics

func.func @unknown_reduction(%x: tensor<3xf32>) {
  // expected-error @+1 {{'dz.all_reduce' op reduction must be "sum", "mean" or "max", not "min"}}
  %0 = dz.all_reduce %x {comm = 0 : i64, reduction = "min"} : tensor<3xf32>
  return
}

// -----

func.func @negative_comm(%x: tensor<3xf32>) {
  // expected-error @+1 {{'dz.all_reduce' op comm must be a communicator id >= 0 (0: all ranks), not -1}}
  %0 = dz.all_reduce %x {comm = -1 : i64, reduction = "sum"} : tensor<3xf32>
  return
}

// -----

func.func @integer_mean(%x: tensor<3xi64>) {
  // expected-error @+1 {{'dz.all_reduce' op the mean of tensor<3xi64> is not representable in place; use reduction "sum"}}
  %0 = dz.all_reduce %x {comm = 0 : i64, reduction = "mean"} : tensor<3xi64>
  return
}

// -----

func.func @bool_sum(%x: tensor<3xi1>) {
  // expected-error @+1 {{'dz.all_reduce' op an i1 tensor reduces with "max" (any rank true) only, not "sum"}}
  %0 = dz.all_reduce %x {comm = 0 : i64, reduction = "sum"} : tensor<3xi1>
  return
}

// -----

func.func @missing_comm(%x: tensor<3xf32>) {
  // expected-error @+1 {{'dz.all_reduce' op needs a ranked tensor operand and the attributes reduction, comm}}
  %0 = dz.all_reduce %x {reduction = "sum"} : tensor<3xf32>
  return
}
