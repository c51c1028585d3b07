// Verifier errors: each names the op and the mismatch.
// RUN: dz-opt %s --split-input-file --verify-diagnostics

func.func @broadcast_mismatch(%a: tensor<2x3xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'dz.add' op operands are not broadcast-compatible: tensor<2x3xf32> and tensor<4xf32>}}
  %0 = dz.add %a, %b : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @element_type_mismatch(%a: tensor<3xf32>, %b: tensor<3xf64>) {
  // expected-error @+1 {{'dz.mul' op operands have different element types: tensor<3xf32> and tensor<3xf64>}}
  %0 = dz.mul %a, %b : (tensor<3xf32>, tensor<3xf64>) -> tensor<3xf32>
  return
}

// -----

func.func @wrong_result_type(%a: tensor<2x3xf32>, %b: tensor<3xf32>) {
  // expected-error @+1 {{'dz.sub' op inferred type(s) 'tensor<2x3xf32>' are incompatible with return type(s) of operation 'tensor<3xf32>'}}
  %0 = dz.sub %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return
}

// -----

func.func @dynamic_shape(%a: tensor<?x3xf32>) {
  // expected-error @+1 {{'dz.exp' op operand #0 must be statically shaped tensor}}
  %0 = dz.exp %a : tensor<?x3xf32>
  return
}

// -----

func.func @reduction_axis_out_of_range(%x: tensor<2x3xf32>) {
  // expected-error @+1 {{'dz.sum' op axes [2] are out of range or repeated for tensor<2x3xf32> (rank 2)}}
  %0 = dz.sum %x {axes = array<i64: 2>, keepdims = false} : tensor<2x3xf32> -> tensor<2xf32>
  return
}

// -----

func.func @reduction_negative_axis_out_of_range(%x: tensor<2x3xf32>) {
  // expected-error @+1 {{'dz.max' op axes [-3] are out of range or repeated}}
  %0 = dz.max %x {axes = array<i64: -3>, keepdims = false} : tensor<2x3xf32> -> tensor<2xf32>
  return
}

// -----

func.func @reduction_repeated_axis(%x: tensor<2x3xf32>) {
  // expected-error @+1 {{'dz.min' op axes [1, -1] are out of range or repeated}}
  %0 = dz.min %x {axes = array<i64: 1, -1>, keepdims = false} : tensor<2x3xf32> -> tensor<2xf32>
  return
}

// -----

func.func @reduction_wrong_result(%x: tensor<2x3xf32>) {
  // expected-error @+1 {{'dz.sum' op inferred type(s) 'tensor<2x1xf32>' are incompatible with return type(s) of operation 'tensor<2xf32>'}}
  %0 = dz.sum %x {axes = array<i64: 1>, keepdims = true} : tensor<2x3xf32> -> tensor<2xf32>
  return
}

// -----

func.func @reduction_missing_keepdims(%x: tensor<2x3xf32>) {
  // expected-error @+1 {{'dz.sum' op requires attribute 'keepdims'}}
  %0 = dz.sum %x {axes = array<i64: 1>} : tensor<2x3xf32> -> tensor<2xf32>
  return
}

// -----

func.func @reshape_size(%x: tensor<2x3xf32>) {
  // expected-error @+1 {{'dz.reshape' op cannot reshape tensor<2x3xf32> (6 elements) to [4, 2] (8 elements)}}
  %0 = dz.reshape %x {shape = array<i64: 4, 2>} : tensor<2x3xf32> -> tensor<4x2xf32>
  return
}

// -----

func.func @reshape_minus_one(%x: tensor<2x3xf32>) {
  // expected-error @+1 {{'dz.reshape' op shape [-1] has a negative dimension}}
  %0 = dz.reshape %x {shape = array<i64: -1>} : tensor<2x3xf32> -> tensor<6xf32>
  return
}

// -----

func.func @transpose_not_a_permutation(%x: tensor<2x3xf32>) {
  // expected-error @+1 {{'dz.transpose' op perm [0, 0] is not a permutation of the 2 axes of tensor<2x3xf32>}}
  %0 = dz.transpose %x {perm = array<i64: 0, 0>} : tensor<2x3xf32> -> tensor<2x2xf32>
  return
}

// -----

func.func @broadcast_to_incompatible(%x: tensor<3xf32>) {
  // expected-error @+1 {{'dz.broadcast_to' op cannot broadcast tensor<3xf32> to [4, 2]}}
  %0 = dz.broadcast_to %x {shape = array<i64: 4, 2>} : tensor<3xf32> -> tensor<4x2xf32>
  return
}

// -----

func.func @sum_to_incompatible(%x: tensor<4x3xf32>) {
  // expected-error @+1 {{'dz.sum_to' op cannot sum tensor<4x3xf32> to [2]: that shape does not broadcast to the operand's}}
  %0 = dz.sum_to %x {shape = array<i64: 2>} : tensor<4x3xf32> -> tensor<2xf32>
  return
}

// -----

func.func @matmul_inner_dims(%a: tensor<4x3xf32>, %b: tensor<4x5xf32>) {
  // expected-error @+1 {{'dz.matmul' op inner dimensions differ: tensor<4x3xf32> has K = 3, tensor<4x5xf32> has K = 4}}
  %0 = dz.matmul %a, %b : (tensor<4x3xf32>, tensor<4x5xf32>) -> tensor<4x5xf32>
  return
}

// -----

func.func @matmul_inner_dims_transposed(%a: tensor<4x3xf32>, %b: tensor<3x5xf32>) {
  // expected-error @+1 {{'dz.matmul' op inner dimensions differ: tensor<4x3xf32> has K = 3, tensor<3x5xf32> transposed has K = 5}}
  %0 = dz.matmul %a, %b {transpose_b = true} : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x3xf32>
  return
}

// -----

func.func @matmul_batch(%a: tensor<2x4x3xf32>, %b: tensor<3x3x5xf32>) {
  // expected-error @+1 {{'dz.matmul' op batch dimensions are not broadcast-compatible: tensor<2x4x3xf32> and tensor<3x3x5xf32>}}
  %0 = dz.matmul %a, %b : (tensor<2x4x3xf32>, tensor<3x3x5xf32>) -> tensor<2x4x5xf32>
  return
}

// -----

func.func @matmul_rank(%a: tensor<3xf32>, %b: tensor<3x5xf32>) {
  // expected-error @+1 {{'dz.matmul' op operands must have rank >= 2: tensor<3xf32> and tensor<3x5xf32>}}
  %0 = dz.matmul %a, %b : (tensor<3xf32>, tensor<3x5xf32>) -> tensor<5xf32>
  return
}

// -----

func.func @linear_bias(%x: tensor<4x3xf32>, %w: tensor<3x5xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'dz.linear' op bias must be tensor<5xf32> for tensor<3x5xf32>, not tensor<4xf32>}}
  %0 = dz.linear %x, %w, %b : (tensor<4x3xf32>, tensor<3x5xf32>, tensor<4xf32>) -> tensor<4x5xf32>
  return
}

// -----

func.func @softmax_axis(%x: tensor<4x10xf32>) {
  // expected-error @+1 {{'dz.softmax' op axis 2 is out of range for tensor<4x10xf32>}}
  %0 = dz.softmax %x {axis = 2 : i64} : tensor<4x10xf32>
  return
}

// -----

func.func @cross_entropy_rows(%x: tensor<4x10xf32>, %t: tensor<5xi64>) {
  // expected-error @+1 {{'dz.softmax_cross_entropy' op expects x (N, C) and t (N), not tensor<4x10xf32> and tensor<5xi64>}}
  %0 = dz.softmax_cross_entropy %x, %t : (tensor<4x10xf32>, tensor<5xi64>) -> tensor<f32>
  return
}

// -----

func.func @cross_entropy_labels_type(%x: tensor<4x10xf32>, %t: tensor<4xf32>) {
  // expected-error @+1 {{'dz.softmax_cross_entropy' op operand #1 must be statically shaped tensor of 64-bit signless integer values}}
  %0 = dz.softmax_cross_entropy %x, %t : (tensor<4x10xf32>, tensor<4xf32>) -> tensor<f32>
  return
}

// -----

func.func @mse_types(%a: tensor<4x1xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'dz.mean_squared_error' op operands must have one type: tensor<4x1xf32> and tensor<4xf32>}}
  %0 = dz.mean_squared_error %a, %b : (tensor<4x1xf32>, tensor<4xf32>) -> tensor<f32>
  return
}

// -----

func.func @one_hot_classes(%t: tensor<4xi64>) {
  // expected-error @+1 {{'dz.one_hot' op num_classes must be positive, not 0}}
  %0 = dz.one_hot %t {dtype = f32, num_classes = 0 : i64} : tensor<4xi64> -> tensor<4x0xf32>
  return
}

// -----

func.func @cast_dtype(%x: tensor<4xf32>) {
  // expected-error @+1 {{'dz.cast' op dtype must be f32, f64, i64, i32, i1, i8, i16, ui8, ui16, ui32, ui64, f16 or bf16, not i4}}
  %0 = dz.cast %x {dtype = i4} : tensor<4xf32> -> tensor<4xf32>
  return
}

// -----

func.func @clip_bounds(%x: tensor<4xf32>) {
  // expected-error @+1 {{'dz.clip' op min 1.000000e+00 is greater than max 0.000000e+00}}
  %0 = dz.clip %x {min = 1.0 : f64, max = 0.0 : f64} : tensor<4xf32>
  return
}

// -----

func.func @grad_result_types(%y: tensor<f32>, %w: tensor<3x5xf32>, %b: tensor<5xf32>) {
  // expected-error @+1 {{'dz.grad' op inferred type(s) 'tensor<3x5xf32>', 'tensor<5xf32>' are incompatible with return type(s) of operation 'tensor<3x5xf32>', 'tensor<3xf32>'}}
  %g:2 = "dz.grad"(%y, %w, %b) : (tensor<f32>, tensor<3x5xf32>, tensor<5xf32>) -> (tensor<3x5xf32>, tensor<3xf32>)
  return
}

// -----

func.func @grad_result_count(%y: tensor<f32>, %w: tensor<3x5xf32>) {
  // expected-error @+1 {{'dz.grad' op inferred type(s) 'tensor<3x5xf32>' are incompatible with return type(s) of operation 'tensor<3x5xf32>', 'tensor<3x5xf32>'}}
  %g:2 = "dz.grad"(%y, %w) : (tensor<f32>, tensor<3x5xf32>) -> (tensor<3x5xf32>, tensor<3x5xf32>)
  return
}

// -----

func.func @grad_needs_x(%y: tensor<f32>) {
  // expected-error @+1 {{'dz.grad' op needs at least one x to differentiate with respect to}}
  "dz.grad"(%y) : (tensor<f32>) -> ()
  return
}

// -----

// A float op of the registry takes float tensors only.
func.func @tan_of_integers(%x: tensor<3xi64>) -> tensor<3xi64> {
  // expected-error @+1 {{operand #0 must be statically shaped tensor of 32-bit float or 64-bit float values}}
  %0 = dz.tan %x : tensor<3xi64>
  return %0 : tensor<3xi64>
}

// -----

// isnan gives i1.
func.func @isnan_type(%x: tensor<3xf32>) -> tensor<3xf32> {
  // expected-error @+1 {{}}
  %0 = dz.isnan %x : tensor<3xf32> -> tensor<3xf32>
  return %0 : tensor<3xf32>
}
