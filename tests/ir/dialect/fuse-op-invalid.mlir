// Verifier errors of dz.fused: the body's arguments, its yield, and the ops it may hold.
// RUN: dz-opt %s --split-input-file --verify-diagnostics

func.func @yield_type_differs(%x: tensor<3xf32>) -> tensor<3xf64> {
  // expected-error @+1 {{'dz.fused' op yields (tensor<3xf32>) but its results are (tensor<3xf64>)}}
  %r = dz.fused (%a = %x) : (tensor<3xf32>) -> tensor<3xf64> {
    %0 = dz.exp %a : tensor<3xf32>
    dz.yield %0 : tensor<3xf32>
  }
  return %r : tensor<3xf64>
}

// -----

func.func @yield_count_differs(%x: tensor<3xf32>) -> tensor<3xf32> {
  // expected-error @+1 {{'dz.fused' op yields (tensor<3xf32>, tensor<3xf32>) but its results are (tensor<3xf32>)}}
  %r = dz.fused (%a = %x) : (tensor<3xf32>) -> tensor<3xf32> {
    %0 = dz.exp %a : tensor<3xf32>
    dz.yield %0, %a : tensor<3xf32>, tensor<3xf32>
  }
  return %r : tensor<3xf32>
}

// -----

func.func @isolated_from_above(%x: tensor<3xf32>) -> tensor<3xf32> {
  // expected-note @+1 {{required by region isolation constraints}}
  %r = dz.fused (%a = %x) : (tensor<3xf32>) -> tensor<3xf32> {
    // expected-error @+1 {{using value defined outside the region}}
    %0 = dz.add %a, %x : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    dz.yield %0 : tensor<3xf32>
  }
  return %r : tensor<3xf32>
}

// -----

func.func @gemm_inside(%x: tensor<4x3xf32>, %w: tensor<3x5xf32>) -> tensor<4x5xf32> {
  %r = dz.fused (%a = %x, %b = %w) : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32> {
    // expected-error @+1 {{'dz.matmul' op cannot be inside dz.fused: a group holds only elementwise dz ops, dz.broadcast_to, dz.constant and one trailing reduction (dz.sum, dz.max, dz.min)}}
    %0 = dz.matmul %a, %b : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
    %1 = dz.relu %0 : tensor<4x5xf32>
    dz.yield %1 : tensor<4x5xf32>
  }
  return %r : tensor<4x5xf32>
}

// -----

func.func @reduction_in_the_middle(%x: tensor<4x3xf32>) -> tensor<4x1xf32> {
  %r = dz.fused (%a = %x) : (tensor<4x3xf32>) -> tensor<4x1xf32> {
    // expected-error @+1 {{'dz.sum' op is a reduction in the middle of a dz.fused group: only the dz.yield may read its result}}
    %0 = dz.sum %a {axes = array<i64: 1>, keepdims = true} : tensor<4x3xf32> -> tensor<4x1xf32>
    %1 = dz.exp %0 : tensor<4x1xf32>
    dz.yield %1 : tensor<4x1xf32>
  }
  return %r : tensor<4x1xf32>
}

// -----

func.func @two_reductions(%x: tensor<4x3xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %r:2 = dz.fused (%a = %x) : (tensor<4x3xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
    %0 = dz.sum %a {axes = array<i64: 1>, keepdims = false} : tensor<4x3xf32> -> tensor<4xf32>
    // expected-error @+1 {{'dz.max' op is a second reduction in one dz.fused: a group ends in at most one reduction}}
    %1 = dz.max %a {axes = array<i64: 1>, keepdims = false} : tensor<4x3xf32> -> tensor<4xf32>
    dz.yield %0, %1 : tensor<4xf32>, tensor<4xf32>
  }
  return %r#0, %r#1 : tensor<4xf32>, tensor<4xf32>
}

// -----

func.func @argument_type_differs(%x: tensor<3xf32>) -> tensor<3xf32> {
  // expected-error @+1 {{'dz.fused' op body argument 0 has type tensor<3xf64> but input 0 has type tensor<3xf32>}}
  %r = "dz.fused"(%x) ({
  ^bb0(%a: tensor<3xf64>):
    %0 = dz.cast %a {dtype = f32} : tensor<3xf64> -> tensor<3xf32>
    dz.yield %0 : tensor<3xf32>
  }) : (tensor<3xf32>) -> tensor<3xf32>
  return %r : tensor<3xf32>
}

// -----

func.func @no_yield(%x: tensor<3xf32>) -> tensor<3xf32> {
  // expected-error @+1 {{'dz.fused' op body must end in dz.yield}}
  %r = "dz.fused"(%x) ({
  ^bb0(%a: tensor<3xf32>):
    %0 = dz.exp %a : tensor<3xf32>
  }) : (tensor<3xf32>) -> tensor<3xf32>
  return %r : tensor<3xf32>
}

// -----

func.func @yield_outside(%x: tensor<3xf32>) {
  // expected-error @+1 {{'dz.yield' op expects parent op 'dz.fused'}}
  dz.yield %x : tensor<3xf32>
}
