// Verifier errors of the neural-network ops: each names the op and the mismatch.
// RUN: dz-opt %s --split-input-file --verify-diagnostics

func.func @get_item_offsets_count(%x: tensor<4x2xf32>) {
  // expected-error @+1 {{'dz.get_item' op has 1 offsets for 2 elements of the result}}
  %0 = dz.get_item %x {offsets = array<i64: 2>, shape = array<i64: 2>} : tensor<4x2xf32> -> tensor<2xf32>
  return
}

// -----

func.func @get_item_offset_range(%x: tensor<4x2xf32>) {
  // expected-error @+1 {{'dz.get_item' op offset 8 (entry 1) is out of range for 8 elements}}
  %0 = dz.get_item %x {offsets = array<i64: 2, 8>, shape = array<i64: 2>} : tensor<4x2xf32> -> tensor<2xf32>
  return
}

// -----

func.func @get_item_grad_range(%gy: tensor<2xf32>) {
  // expected-error @+1 {{'dz.get_item_grad' op offset -1 (entry 0) is out of range for 8 elements}}
  %0 = dz.get_item_grad %gy {offsets = array<i64: -1, 4>, shape = array<i64: 4, 2>} : tensor<2xf32> -> tensor<4x2xf32>
  return
}

// -----

func.func @embed_id_grad_shape(%ids: tensor<5xi64>, %gy: tensor<5x3xf32>) {
  // expected-error @+1 {{'dz.embed_id_grad' op gy must have the ids' shape plus D = 4: [5, 4] for tensor<5xi64>, not tensor<5x3xf32>}}
  %0 = dz.embed_id_grad %ids, %gy {shape = array<i64: 10, 4>} : (tensor<5xi64>, tensor<5x3xf32>) -> tensor<10x4xf32>
  return
}

// -----

func.func @conv2d_channels(%x: tensor<2x3x5x5xf32>, %W: tensor<4x2x3x3xf32>) {
  // expected-error @+1 {{'dz.conv2d' op x has 3 channels but W expects 2: tensor<2x3x5x5xf32> and tensor<4x2x3x3xf32>}}
  %0 = dz.conv2d %x, %W {pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<2x3x5x5xf32>, tensor<4x2x3x3xf32>) -> tensor<2x4x3x3xf32>
  return
}

// -----

func.func @conv2d_bias(%x: tensor<2x3x5x5xf32>, %W: tensor<4x3x3x3xf32>, %b: tensor<3xf32>) {
  // expected-error @+1 {{'dz.conv2d' op bias must be tensor<4xf32>, not tensor<3xf32>}}
  %0 = dz.conv2d %x, %W, %b {pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<2x3x5x5xf32>, tensor<4x3x3x3xf32>, tensor<3xf32>) -> tensor<2x4x3x3xf32>
  return
}

// -----

func.func @conv2d_window(%x: tensor<2x3x2x2xf32>, %W: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{'dz.conv2d' op a 3x3 window with pad (0, 0) does not fit in tensor<2x3x2x2xf32>}}
  %0 = dz.conv2d %x, %W {pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<2x3x2x2xf32>, tensor<4x3x3x3xf32>) -> tensor<2x4x1x1xf32>
  return
}

// -----

func.func @conv2d_stride(%x: tensor<2x3x5x5xf32>, %W: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{'dz.conv2d' op stride must be two integers >= 1 (h, w), not [0, 1]}}
  %0 = dz.conv2d %x, %W {pad = array<i64: 0, 0>, stride = array<i64: 0, 1>} : (tensor<2x3x5x5xf32>, tensor<4x3x3x3xf32>) -> tensor<2x4x3x3xf32>
  return
}

// -----

func.func @conv2d_result(%x: tensor<2x3x5x5xf32>, %W: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{'dz.conv2d' op inferred type(s) 'tensor<2x4x3x3xf32>' are incompatible with return type(s) of operation 'tensor<2x4x5x5xf32>'}}
  %0 = dz.conv2d %x, %W {pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<2x3x5x5xf32>, tensor<4x3x3x3xf32>) -> tensor<2x4x5x5xf32>
  return
}

// -----

func.func @deconv2d_outsize(%x: tensor<2x4x3x3xf32>, %W: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{'dz.deconv2d' op outsize [9, 9] does not convolve back to the 3x3 of tensor<2x4x3x3xf32>}}
  %0 = dz.deconv2d %x, %W {outsize = array<i64: 9, 9>, pad = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<2x4x3x3xf32>, tensor<4x3x3x3xf32>) -> tensor<2x3x9x9xf32>
  return
}

// -----

func.func @conv2d_grad_w_gy(%x: tensor<2x3x5x5xf32>, %gy: tensor<2x4x4x4xf32>) {
  // expected-error @+1 {{'dz.conv2d_grad_w' op gy tensor<2x4x4x4xf32> is not the (2, OC, 3, 3) output of convolving tensor<2x3x5x5xf32>}}
  %0 = dz.conv2d_grad_w %x, %gy {kernel = array<i64: 3, 3>, pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<2x3x5x5xf32>, tensor<2x4x4x4xf32>) -> tensor<4x3x3x3xf32>
  return
}

// -----

func.func @col2im_shape(%col: tensor<18x26xf32>) {
  // expected-error @+1 {{'dz.col2im' op col tensor<18x26xf32> is not the im2col shape [18, 27] of [2, 3, 5, 5]}}
  %0 = dz.col2im %col {kernel = array<i64: 3, 3>, pad = array<i64: 1, 1>, shape = array<i64: 2, 3, 5, 5>, stride = array<i64: 2, 2>, to_matrix = true} : tensor<18x26xf32> -> tensor<2x3x5x5xf32>
  return
}

// -----

func.func @max_pooling_rank(%x: tensor<3x5x5xf32>) {
  // expected-error @+1 {{'dz.max_pooling' op x must be a 4-d (N, C, H, W) tensor, not tensor<3x5x5xf32>}}
  %0 = dz.max_pooling %x {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : tensor<3x5x5xf32> -> tensor<3x2x2xf32>
  return
}

// -----

func.func @max_pooling_grad_gy(%gy: tensor<2x4x3x3xf32>, %idx: tensor<2x4x3x3xi64>) {
  // expected-error @+1 {{'dz.max_pooling_grad' op gy tensor<2x4x3x3xf32> is not the pooled shape [2, 4, 2, 2] of [2, 4, 5, 5]}}
  %0 = dz.max_pooling_grad %gy, %idx {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, shape = array<i64: 2, 4, 5, 5>, stride = array<i64: 2, 2>} : (tensor<2x4x3x3xf32>, tensor<2x4x3x3xi64>) -> tensor<2x4x5x5xf32>
  return
}

// -----

func.func @max_pooling_with_indexes_shape(%x: tensor<2x4x5x5xf32>, %idx: tensor<2x4x3x3xi64>) {
  // expected-error @+1 {{'dz.max_pooling_with_indexes' op indexes must have the pooled shape [2, 4, 2, 2], not tensor<2x4x3x3xi64>}}
  %0 = dz.max_pooling_with_indexes %x, %idx {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : (tensor<2x4x5x5xf32>, tensor<2x4x3x3xi64>) -> tensor<2x4x2x2xf32>
  return
}

// -----

func.func @dropout_ratio(%state: tensor<2xi64>) {
  // expected-error @+1 {{'dz.dropout_mask' op ratio must be in [0, 1), not 1}}
  %0 = dz.dropout_mask %state {dtype = f32, ratio = 1.0 : f64, shape = array<i64: 4>} : tensor<2xi64> -> tensor<4xf32>
  return
}

// -----

func.func @rng_state(%state: tensor<3xi64>) {
  // expected-error @+1 {{'dz.rng_next' op state must be tensor<2xi64> (seed, offset), not tensor<3xi64>}}
  %0 = dz.rng_next %state {groups = 1 : i64} : tensor<3xi64>
  return
}

// -----

func.func @attention_inner(%q: tensor<2x3x4xf32>, %k: tensor<2x5x3xf32>, %v: tensor<2x3x4xf32>) {
  // expected-error @+1 {{'dz.attention' op k must be (..., D, N) with q's D = 4, got tensor<2x3x4xf32> and tensor<2x5x3xf32>}}
  %0 = dz.attention %q, %k, %v {scale = 1.0 : f64} : (tensor<2x3x4xf32>, tensor<2x5x3xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  return
}

// -----

func.func @attention_batch(%q: tensor<2x3x4xf32>, %k: tensor<1x4x3xf32>, %v: tensor<2x3x4xf32>) {
  // expected-error @+1 {{'dz.attention' op q, k and v must have the same batch dimensions}}
  %0 = dz.attention %q, %k, %v {scale = 1.0 : f64} : (tensor<2x3x4xf32>, tensor<1x4x3xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  return
}

// -----

func.func @attention_mask(%q: tensor<2x3x4xf32>, %k: tensor<2x4x5xf32>, %v: tensor<2x5x4xf32>, %m: tensor<3x4xf32>) {
  // expected-error @+1 {{'dz.attention' op mask tensor<3x4xf32> does not broadcast to the scores' shape [2, 3, 5]}}
  %0 = dz.attention %q, %k, %v, %m {scale = 1.0 : f64} : (tensor<2x3x4xf32>, tensor<2x4x5xf32>, tensor<2x5x4xf32>, tensor<3x4xf32>) -> tensor<2x3x4xf32>
  return
}
