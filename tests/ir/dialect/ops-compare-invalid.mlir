// The verifier of the comparisons, the logical ops, dz.select and dz.pow: each bad op
// reports what was wrong.
// RUN: dz-opt %s --split-input-file --verify-diagnostics

func.func @compare_types(%a: tensor<3xf32>, %b: tensor<3xf64>) {
  // expected-error @+1 {{'dz.greater' op operands have different element types: tensor<3xf32> and tensor<3xf64>}}
  %0 = dz.greater %a, %b : (tensor<3xf32>, tensor<3xf64>) -> tensor<3xi1>
  return
}

// -----

func.func @compare_shapes(%a: tensor<3xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'dz.less' op operands are not broadcast-compatible: tensor<3xf32> and tensor<4xf32>}}
  %0 = dz.less %a, %b : (tensor<3xf32>, tensor<4xf32>) -> tensor<3xi1>
  return
}

// -----

func.func @compare_result(%a: tensor<3xf32>) {
  // expected-error @+1 {{result #0 must be statically shaped tensor of 1-bit signless integer values}}
  %0 = dz.less_equal %a, %a : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return
}

// -----

func.func @logical_operands(%a: tensor<3xf32>, %p: tensor<3xi1>) {
  // expected-error @+1 {{operand #0 must be statically shaped tensor of 1-bit signless integer values}}
  %0 = dz.and %a, %p : (tensor<3xf32>, tensor<3xi1>) -> tensor<3xi1>
  return
}

// -----

func.func @arithmetic_on_bool(%p: tensor<3xi1>) {
  // expected-error @+1 {{'dz.add' op is not defined on i1 tensors (tensor<3xi1>): dz.cast them to a number type, or use dz.and / dz.or / dz.xor}}
  %0 = dz.add %p, %p : (tensor<3xi1>, tensor<3xi1>) -> tensor<3xi1>
  return
}

// -----

func.func @select_condition(%c: tensor<3xf32>, %a: tensor<3xf32>) {
  // expected-error @+1 {{operand #0 must be statically shaped tensor of 1-bit signless integer values}}
  %0 = dz.select %c, %a, %a : (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return
}

// -----

func.func @select_types(%c: tensor<3xi1>, %a: tensor<3xf32>, %b: tensor<f64>) {
  // expected-error @+1 {{'dz.select' op the choices have different element types: tensor<3xf32> and tensor<f64>}}
  %0 = dz.select %c, %a, %b : (tensor<3xi1>, tensor<3xf32>, tensor<f64>) -> tensor<3xf32>
  return
}

// -----

func.func @select_shapes(%c: tensor<2xi1>, %a: tensor<3xf32>, %b: tensor<f32>) {
  // expected-error @+1 {{'dz.select' op operands are not broadcast-compatible: tensor<2xi1>, tensor<3xf32> and tensor<f32>}}
  %0 = dz.select %c, %a, %b : (tensor<2xi1>, tensor<3xf32>, tensor<f32>) -> tensor<3xf32>
  return
}

// -----

func.func @select_result(%c: tensor<2x1xi1>, %a: tensor<3xf32>) {
  // expected-error @+1 {{'dz.select' op inferred type(s) 'tensor<2x3xf32>' are incompatible with return type(s) of operation 'tensor<3xf32>'}}
  %0 = dz.select %c, %a, %a : (tensor<2x1xi1>, tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return
}

// -----

func.func @erf_of_integers(%i: tensor<3xi64>) {
  // expected-error @+1 {{operand #0 must be statically shaped tensor of 32-bit float or 64-bit float values}}
  %0 = dz.erf %i : tensor<3xi64>
  return
}

// -----

func.func @pow_types(%a: tensor<3xf32>, %b: tensor<3xf64>) {
  // expected-error @+1 {{'dz.pow' op operands have different element types: tensor<3xf32> and tensor<3xf64>}}
  %0 = dz.pow %a, %b : (tensor<3xf32>, tensor<3xf64>) -> tensor<3xf32>
  return
}

// -----

// dz.div and dz.pow are float ops (their kernels compute integers in float64): integer
// quotients are dz.trunc_divide / dz.floor_divide.
func.func @div_of_integers(%a: tensor<3xi64>, %b: tensor<3xi64>) {
  // expected-error @+1 {{operand #0 must be statically shaped tensor of 32-bit float or 64-bit float values}}
  %0 = dz.div %a, %b : (tensor<3xi64>, tensor<3xi64>) -> tensor<3xi64>
  return
}

// -----

func.func @pow_of_integers(%a: tensor<3xf32>, %b: tensor<3xi32>) {
  // expected-error @+1 {{operand #1 must be statically shaped tensor of 32-bit float or 64-bit float values}}
  %0 = dz.pow %a, %b : (tensor<3xf32>, tensor<3xi32>) -> tensor<3xf32>
  return
}
