// rules.mlir - inputs of dz-gradcheck: one function per gradient rule, f64 inputs in
// [0.3, 1.3) (shifted where a rule has a kink), returning d(sum y)/dx and, for smooth
// ops, the second derivative d(sum dy/dx)/dx.

func.func @neg(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>) {
  %y = dz.neg %x : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  %gg = dz.grad %g wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g, %gg : tensor<2x3xf64>, tensor<2x3xf64>
}

func.func @exp(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>) {
  %y = dz.exp %x : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  %gg = dz.grad %g wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g, %gg : tensor<2x3xf64>, tensor<2x3xf64>
}

func.func @log(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>) {
  %y = dz.log %x : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  %gg = dz.grad %g wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g, %gg : tensor<2x3xf64>, tensor<2x3xf64>
}

func.func @sin(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>) {
  %y = dz.sin %x : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  %gg = dz.grad %g wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g, %gg : tensor<2x3xf64>, tensor<2x3xf64>
}

func.func @cos(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>) {
  %y = dz.cos %x : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  %gg = dz.grad %g wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g, %gg : tensor<2x3xf64>, tensor<2x3xf64>
}

func.func @tanh(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>) {
  %y = dz.tanh %x : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  %gg = dz.grad %g wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g, %gg : tensor<2x3xf64>, tensor<2x3xf64>
}

func.func @sqrt(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>) {
  %y = dz.sqrt %x : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  %gg = dz.grad %g wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g, %gg : tensor<2x3xf64>, tensor<2x3xf64>
}

func.func @square(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>) {
  %y = dz.square %x : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  %gg = dz.grad %g wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g, %gg : tensor<2x3xf64>, tensor<2x3xf64>
}

func.func @sigmoid(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>) {
  %y = dz.sigmoid %x : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  %gg = dz.grad %g wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g, %gg : tensor<2x3xf64>, tensor<2x3xf64>
}

func.func @pow_scalar(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>) {
  %y = dz.pow_scalar %x {exponent = 2.5 : f64} : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  %gg = dz.grad %g wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g, %gg : tensor<2x3xf64>, tensor<2x3xf64>
}

func.func @relu(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>) {
  %c = dz.constant dense<0.8> : tensor<f64>
  %xs = dz.sub %x, %c : (tensor<2x3xf64>, tensor<f64>) -> tensor<2x3xf64>
  %y = dz.relu %xs : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g : tensor<2x3xf64>
}

func.func @leaky_relu(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>) {
  %c = dz.constant dense<0.8> : tensor<f64>
  %xs = dz.sub %x, %c : (tensor<2x3xf64>, tensor<f64>) -> tensor<2x3xf64>
  %y = dz.leaky_relu %xs {slope = 0.2 : f64} : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g : tensor<2x3xf64>
}

func.func @clip(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>) {
  %c = dz.constant dense<0.8> : tensor<f64>
  %xs = dz.sub %x, %c : (tensor<2x3xf64>, tensor<f64>) -> tensor<2x3xf64>
  %y = dz.clip %xs {max = 0.3 : f64, min = -0.2 : f64} : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g : tensor<2x3xf64>
}
// ---- binary ops with broadcasting ----

func.func @arithmetic(%a: tensor<2x3xf64>, %b: tensor<3xf64>) -> (tensor<2x3xf64>, tensor<3xf64>, tensor<2x3xf64>, tensor<3xf64>) {
  %s = dz.add %a, %b : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
  %d = dz.sub %b, %a : (tensor<3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
  %p = dz.mul %s, %d : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
  %y = dz.div %p, %b : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
  %g:2 = dz.grad %y wrt %a, %b : tensor<2x3xf64>, tensor<2x3xf64>, tensor<3xf64>
  %h = dz.mul %g#0, %a : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
  %gg:2 = dz.grad %h wrt %a, %b : tensor<2x3xf64>, tensor<2x3xf64>, tensor<3xf64>
  return %g#0, %g#1, %gg#0, %gg#1 : tensor<2x3xf64>, tensor<3xf64>, tensor<2x3xf64>, tensor<3xf64>
}

func.func @maximum(%a: tensor<2x3xf64>, %b: tensor<3xf64>) -> (tensor<2x3xf64>, tensor<3xf64>) {
  %c = dz.constant dense<0.5> : tensor<f64>
  %as = dz.sub %a, %c : (tensor<2x3xf64>, tensor<f64>) -> tensor<2x3xf64>
  %m = dz.maximum %as, %b : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
  %y = dz.mul %m, %a : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
  %g:2 = dz.grad %y wrt %a, %b : tensor<2x3xf64>, tensor<2x3xf64>, tensor<3xf64>
  return %g#0, %g#1 : tensor<2x3xf64>, tensor<3xf64>
}

func.func @erf(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>) {
  %c = dz.constant dense<0.8> : tensor<f64>
  %xs = dz.sub %x, %c : (tensor<2x3xf64>, tensor<f64>) -> tensor<2x3xf64>
  %y = dz.erf %xs : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  %gg = dz.grad %g wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g, %gg : tensor<2x3xf64>, tensor<2x3xf64>
}

// pow (a tensor exponent): d/da = b a^(b - 1), d/db = a^b log a (a > 0 here).
func.func @pow(%a: tensor<2x3xf64>, %b: tensor<3xf64>) -> (tensor<2x3xf64>, tensor<3xf64>, tensor<2x3xf64>, tensor<3xf64>) {
  %y = dz.pow %a, %b : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
  %g:2 = dz.grad %y wrt %a, %b : tensor<2x3xf64>, tensor<2x3xf64>, tensor<3xf64>
  %h = dz.mul %g#0, %g#1 : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
  %gg:2 = dz.grad %h wrt %a, %b : tensor<2x3xf64>, tensor<2x3xf64>, tensor<3xf64>
  return %g#0, %g#1, %gg#0, %gg#1 : tensor<2x3xf64>, tensor<3xf64>, tensor<2x3xf64>, tensor<3xf64>
}

// select: the gradient goes to a where the condition holds, to b (broadcast, summed to
// its shape) elsewhere; the condition is a comparison of the inputs and has none.
func.func @select(%a: tensor<2x3xf64>, %b: tensor<3xf64>) -> (tensor<2x3xf64>, tensor<3xf64>, tensor<2x3xf64>, tensor<3xf64>) {
  %c = dz.constant dense<0.8> : tensor<f64>
  %gt = dz.greater %a, %b : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xi1>
  %le = dz.less_equal %b, %c : (tensor<3xf64>, tensor<f64>) -> tensor<3xi1>
  %cond = dz.xor %gt, %le : (tensor<2x3xi1>, tensor<3xi1>) -> tensor<2x3xi1>
  %sq = dz.mul %a, %a : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
  %y = dz.select %cond, %sq, %b : (tensor<2x3xi1>, tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
  %w = dz.mul %y, %b : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
  %g:2 = dz.grad %w wrt %a, %b : tensor<2x3xf64>, tensor<2x3xf64>, tensor<3xf64>
  %h = dz.mul %g#0, %a : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
  %gg:2 = dz.grad %h wrt %a, %b : tensor<2x3xf64>, tensor<2x3xf64>, tensor<3xf64>
  return %g#0, %g#1, %gg#0, %gg#1 : tensor<2x3xf64>, tensor<3xf64>, tensor<2x3xf64>, tensor<3xf64>
}

// ---- shapes and reductions (weighted by w so the gradients are not all ones) ----

func.func @shapes(%x: tensor<2x3xf64>, %w: tensor<3x2x4xf64>) -> tensor<2x3xf64> {
  %r = dz.reshape %x {shape = array<i64: 3, 2>} : tensor<2x3xf64> -> tensor<3x2xf64>
  %t = dz.transpose %r {perm = array<i64: 1, 0>} : tensor<3x2xf64> -> tensor<2x3xf64>
  %e = dz.reshape %t {shape = array<i64: 3, 2, 1>} : tensor<2x3xf64> -> tensor<3x2x1xf64>
  %b = dz.broadcast_to %e {shape = array<i64: 3, 2, 4>} : tensor<3x2x1xf64> -> tensor<3x2x4xf64>
  %p = dz.mul %b, %w : (tensor<3x2x4xf64>, tensor<3x2x4xf64>) -> tensor<3x2x4xf64>
  %q = dz.mul %p, %b : (tensor<3x2x4xf64>, tensor<3x2x4xf64>) -> tensor<3x2x4xf64>
  %s = dz.sum_to %q {shape = array<i64: 2, 1>} : tensor<3x2x4xf64> -> tensor<2x1xf64>
  %y = dz.mul %s, %s : (tensor<2x1xf64>, tensor<2x1xf64>) -> tensor<2x1xf64>
  %g = dz.grad %y wrt %x : tensor<2x1xf64>, tensor<2x3xf64>
  return %g : tensor<2x3xf64>
}

func.func @transpose3(%x: tensor<2x3x4xf64>, %w: tensor<4x2x3xf64>) -> tensor<2x3x4xf64> {
  %t = dz.transpose %x {perm = array<i64: 2, 0, 1>} : tensor<2x3x4xf64> -> tensor<4x2x3xf64>
  %p = dz.mul %t, %w : (tensor<4x2x3xf64>, tensor<4x2x3xf64>) -> tensor<4x2x3xf64>
  %y = dz.mul %p, %t : (tensor<4x2x3xf64>, tensor<4x2x3xf64>) -> tensor<4x2x3xf64>
  %g = dz.grad %y wrt %x : tensor<4x2x3xf64>, tensor<2x3x4xf64>
  return %g : tensor<2x3x4xf64>
}

func.func @sum(%x: tensor<2x3x4xf64>) -> (tensor<2x3x4xf64>, tensor<2x3x4xf64>, tensor<2x3x4xf64>) {
  %a = dz.sum %x {axes = array<i64: 1>, keepdims = false} : tensor<2x3x4xf64> -> tensor<2x4xf64>
  %ya = dz.mul %a, %a : (tensor<2x4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
  %ga = dz.grad %ya wrt %x : tensor<2x4xf64>, tensor<2x3x4xf64>
  %b = dz.sum %x {axes = array<i64: -1, 0>, keepdims = true} : tensor<2x3x4xf64> -> tensor<1x3x1xf64>
  %yb = dz.exp %b : tensor<1x3x1xf64>
  %gb = dz.grad %yb wrt %x : tensor<1x3x1xf64>, tensor<2x3x4xf64>
  %c = dz.sum %x {axes = array<i64>, keepdims = false} : tensor<2x3x4xf64> -> tensor<f64>
  %yc = dz.mul %c, %c : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %gc = dz.grad %yc wrt %x : tensor<f64>, tensor<2x3x4xf64>
  return %ga, %gb, %gc : tensor<2x3x4xf64>, tensor<2x3x4xf64>, tensor<2x3x4xf64>
}

func.func @max_min(%x: tensor<2x3x4xf64>) -> (tensor<2x3x4xf64>, tensor<2x3x4xf64>) {
  %a = dz.max %x {axes = array<i64: 1>, keepdims = false} : tensor<2x3x4xf64> -> tensor<2x4xf64>
  %ya = dz.mul %a, %a : (tensor<2x4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
  %ga = dz.grad %ya wrt %x : tensor<2x4xf64>, tensor<2x3x4xf64>
  %b = dz.min %x {axes = array<i64: 0, 2>, keepdims = true} : tensor<2x3x4xf64> -> tensor<1x3x1xf64>
  %yb = dz.exp %b : tensor<1x3x1xf64>
  %gb = dz.grad %yb wrt %x : tensor<1x3x1xf64>, tensor<2x3x4xf64>
  return %ga, %gb : tensor<2x3x4xf64>, tensor<2x3x4xf64>
}

func.func @cast(%x: tensor<2x3xf64>) -> tensor<2x3xf64> {
  %c = dz.cast %x {dtype = f32} : tensor<2x3xf64> -> tensor<2x3xf32>
  %s = dz.square %c : tensor<2x3xf32>
  %y = dz.cast %s {dtype = f64} : tensor<2x3xf32> -> tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g : tensor<2x3xf64>
}

// ---- linear algebra ----

func.func @matmul(%a: tensor<4x3xf64>, %b: tensor<3x5xf64>, %bt: tensor<5x3xf64>, %at: tensor<3x4xf64>) -> (tensor<4x3xf64>, tensor<3x5xf64>, tensor<5x3xf64>, tensor<3x4xf64>, tensor<4x3xf64>) {
  %p = dz.matmul %a, %b : (tensor<4x3xf64>, tensor<3x5xf64>) -> tensor<4x5xf64>
  %q = dz.matmul %a, %bt {transpose_b = true} : (tensor<4x3xf64>, tensor<5x3xf64>) -> tensor<4x5xf64>
  %r = dz.matmul %at, %b {transpose_a = true} : (tensor<3x4xf64>, tensor<3x5xf64>) -> tensor<4x5xf64>
  %s = dz.matmul %at, %bt {transpose_a = true, transpose_b = true} : (tensor<3x4xf64>, tensor<5x3xf64>) -> tensor<4x5xf64>
  %pq = dz.mul %p, %q : (tensor<4x5xf64>, tensor<4x5xf64>) -> tensor<4x5xf64>
  %rs = dz.mul %r, %s : (tensor<4x5xf64>, tensor<4x5xf64>) -> tensor<4x5xf64>
  %y = dz.add %pq, %rs : (tensor<4x5xf64>, tensor<4x5xf64>) -> tensor<4x5xf64>
  %g:4 = dz.grad %y wrt %a, %b, %bt, %at : tensor<4x5xf64>, tensor<4x3xf64>, tensor<3x5xf64>, tensor<5x3xf64>, tensor<3x4xf64>
  %h = dz.mul %g#0, %g#0 : (tensor<4x3xf64>, tensor<4x3xf64>) -> tensor<4x3xf64>
  %gg = dz.grad %h wrt %a : tensor<4x3xf64>, tensor<4x3xf64>
  return %g#0, %g#1, %g#2, %g#3, %gg : tensor<4x3xf64>, tensor<3x5xf64>, tensor<5x3xf64>, tensor<3x4xf64>, tensor<4x3xf64>
}

func.func @batched_matmul(%p: tensor<2x1x4x3xf64>, %q: tensor<3x3x5xf64>) -> (tensor<2x1x4x3xf64>, tensor<3x3x5xf64>) {
  %m = dz.matmul %p, %q : (tensor<2x1x4x3xf64>, tensor<3x3x5xf64>) -> tensor<2x3x4x5xf64>
  %y = dz.mul %m, %m : (tensor<2x3x4x5xf64>, tensor<2x3x4x5xf64>) -> tensor<2x3x4x5xf64>
  %g:2 = dz.grad %y wrt %p, %q : tensor<2x3x4x5xf64>, tensor<2x1x4x3xf64>, tensor<3x3x5xf64>
  return %g#0, %g#1 : tensor<2x1x4x3xf64>, tensor<3x3x5xf64>
}

func.func @linear(%x: tensor<4x3xf64>, %w: tensor<3x5xf64>, %b: tensor<5xf64>) -> (tensor<4x3xf64>, tensor<3x5xf64>, tensor<5xf64>, tensor<4x3xf64>, tensor<3x5xf64>) {
  %l = dz.linear %x, %w, %b : (tensor<4x3xf64>, tensor<3x5xf64>, tensor<5xf64>) -> tensor<4x5xf64>
  %y = dz.tanh %l : tensor<4x5xf64>
  %g:3 = dz.grad %y wrt %x, %w, %b : tensor<4x5xf64>, tensor<4x3xf64>, tensor<3x5xf64>, tensor<5xf64>
  %n = dz.linear %x, %w : (tensor<4x3xf64>, tensor<3x5xf64>) -> tensor<4x5xf64>
  %z = dz.sigmoid %n : tensor<4x5xf64>
  %h:2 = dz.grad %z wrt %x, %w : tensor<4x5xf64>, tensor<4x3xf64>, tensor<3x5xf64>
  return %g#0, %g#1, %g#2, %h#0, %h#1 : tensor<4x3xf64>, tensor<3x5xf64>, tensor<5xf64>, tensor<4x3xf64>, tensor<3x5xf64>
}

// ---- softmax and losses ----

func.func @softmax(%x: tensor<2x4xf64>, %w: tensor<2x4xf64>) -> (tensor<2x4xf64>, tensor<2x4xf64>, tensor<2x4xf64>) {
  %s = dz.softmax %x {axis = 1 : i64} : tensor<2x4xf64>
  %y = dz.mul %s, %w : (tensor<2x4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
  %g = dz.grad %y wrt %x : tensor<2x4xf64>, tensor<2x4xf64>
  %h = dz.mul %g, %w : (tensor<2x4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
  %gg = dz.grad %h wrt %x : tensor<2x4xf64>, tensor<2x4xf64>
  %s0 = dz.softmax %x {axis = 0 : i64} : tensor<2x4xf64>
  %y0 = dz.mul %s0, %w : (tensor<2x4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
  %g0 = dz.grad %y0 wrt %x : tensor<2x4xf64>, tensor<2x4xf64>
  return %g, %gg, %g0 : tensor<2x4xf64>, tensor<2x4xf64>, tensor<2x4xf64>
}

func.func @log_softmax(%x: tensor<2x4xf64>, %w: tensor<2x4xf64>) -> (tensor<2x4xf64>, tensor<2x4xf64>) {
  %s = dz.log_softmax %x {axis = -1 : i64} : tensor<2x4xf64>
  %y = dz.mul %s, %w : (tensor<2x4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
  %g = dz.grad %y wrt %x : tensor<2x4xf64>, tensor<2x4xf64>
  %h = dz.mul %g, %w : (tensor<2x4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
  %gg = dz.grad %h wrt %x : tensor<2x4xf64>, tensor<2x4xf64>
  return %g, %gg : tensor<2x4xf64>, tensor<2x4xf64>
}

func.func @softmax_cross_entropy(%x: tensor<4x3xf64>, %t: tensor<4xi64>, %w: tensor<4x3xf64>) -> (tensor<4x3xf64>, tensor<4x3xf64>) {
  %y = dz.softmax_cross_entropy %x, %t : (tensor<4x3xf64>, tensor<4xi64>) -> tensor<f64>
  %g = dz.grad %y wrt %x : tensor<f64>, tensor<4x3xf64>
  %h = dz.mul %g, %w : (tensor<4x3xf64>, tensor<4x3xf64>) -> tensor<4x3xf64>
  %gg = dz.grad %h wrt %x : tensor<4x3xf64>, tensor<4x3xf64>
  return %g, %gg : tensor<4x3xf64>, tensor<4x3xf64>
}

func.func @mean_squared_error(%a: tensor<4x2xf64>, %b: tensor<4x2xf64>) -> (tensor<4x2xf64>, tensor<4x2xf64>, tensor<4x2xf64>) {
  %y = dz.mean_squared_error %a, %b : (tensor<4x2xf64>, tensor<4x2xf64>) -> tensor<f64>
  %g:2 = dz.grad %y wrt %a, %b : tensor<f64>, tensor<4x2xf64>, tensor<4x2xf64>
  %h = dz.mul %g#0, %a : (tensor<4x2xf64>, tensor<4x2xf64>) -> tensor<4x2xf64>
  %gg = dz.grad %h wrt %a : tensor<4x2xf64>, tensor<4x2xf64>
  return %g#0, %g#1, %gg : tensor<4x2xf64>, tensor<4x2xf64>, tensor<4x2xf64>
}

// ---- a two-layer MLP step and double backprop ----

func.func @mlp(%x: tensor<4x3xf64>, %t: tensor<4xi64>, %w1: tensor<3x5xf64>, %b1: tensor<5xf64>, %w2: tensor<5x3xf64>) -> (tensor<3x5xf64>, tensor<5xf64>, tensor<5x3xf64>) {
  %c = dz.constant dense<0.9> : tensor<f64>
  %h = dz.linear %x, %w1, %b1 : (tensor<4x3xf64>, tensor<3x5xf64>, tensor<5xf64>) -> tensor<4x5xf64>
  %hs = dz.sub %h, %c : (tensor<4x5xf64>, tensor<f64>) -> tensor<4x5xf64>
  %a = dz.relu %hs : tensor<4x5xf64>
  %o = dz.matmul %a, %w2 : (tensor<4x5xf64>, tensor<5x3xf64>) -> tensor<4x3xf64>
  %l = dz.softmax_cross_entropy %o, %t : (tensor<4x3xf64>, tensor<4xi64>) -> tensor<f64>
  %g:3 = dz.grad %l wrt %w1, %b1, %w2 : tensor<f64>, tensor<3x5xf64>, tensor<5xf64>, tensor<5x3xf64>
  return %g#0, %g#1, %g#2 : tensor<3x5xf64>, tensor<5xf64>, tensor<5x3xf64>
}

func.func @cube(%x: tensor<3xf64>) -> (tensor<3xf64>, tensor<3xf64>) {
  %x2 = dz.mul %x, %x : (tensor<3xf64>, tensor<3xf64>) -> tensor<3xf64>
  %y = dz.mul %x2, %x : (tensor<3xf64>, tensor<3xf64>) -> tensor<3xf64>
  %g = dz.grad %y wrt %x : tensor<3xf64>, tensor<3xf64>
  %gg = dz.grad %g wrt %x : tensor<3xf64>, tensor<3xf64>
  return %g, %gg : tensor<3xf64>, tensor<3xf64>
}

// ---- indexing (ir/DzNNOps.td); repeated offsets and ids accumulate ----

func.func @get_item(%x: tensor<4x2xf64>) -> (tensor<4x2xf64>, tensor<4x2xf64>) {
  %s = dz.get_item %x {offsets = array<i64: 7, 7, 0, 3>, shape = array<i64: 2, 2>} : tensor<4x2xf64> -> tensor<2x2xf64>
  %y = dz.mul %s, %s : (tensor<2x2xf64>, tensor<2x2xf64>) -> tensor<2x2xf64>
  %g = dz.grad %y wrt %x : tensor<2x2xf64>, tensor<4x2xf64>
  %gg = dz.grad %g wrt %x : tensor<4x2xf64>, tensor<4x2xf64>
  return %g, %gg : tensor<4x2xf64>, tensor<4x2xf64>
}

func.func @get_item_grad(%gy: tensor<3xf64>) -> (tensor<3xf64>, tensor<3xf64>) {
  %s = dz.get_item_grad %gy {offsets = array<i64: 5, 0, 5>, shape = array<i64: 3, 2>} : tensor<3xf64> -> tensor<3x2xf64>
  %y = dz.mul %s, %s : (tensor<3x2xf64>, tensor<3x2xf64>) -> tensor<3x2xf64>
  %g = dz.grad %y wrt %gy : tensor<3x2xf64>, tensor<3xf64>
  %gg = dz.grad %g wrt %gy : tensor<3xf64>, tensor<3xf64>
  return %g, %gg : tensor<3xf64>, tensor<3xf64>
}

func.func @embed_id(%ids: tensor<5xi64>, %W: tensor<4x2xf64>) -> (tensor<4x2xf64>, tensor<4x2xf64>) {
  %e = dz.embed_id %ids, %W : (tensor<5xi64>, tensor<4x2xf64>) -> tensor<5x2xf64>
  %y = dz.mul %e, %e : (tensor<5x2xf64>, tensor<5x2xf64>) -> tensor<5x2xf64>
  %g = dz.grad %y wrt %W : tensor<5x2xf64>, tensor<4x2xf64>
  %gg = dz.grad %g wrt %W : tensor<4x2xf64>, tensor<4x2xf64>
  return %g, %gg : tensor<4x2xf64>, tensor<4x2xf64>
}

// ---- convolution and pooling (ir/DzNNOps.td): first derivatives and, through the
// adjoint partners' rules, second ones ----

func.func @conv2d(%x: tensor<1x2x4x4xf64>, %W: tensor<3x2x3x3xf64>, %b: tensor<3xf64>) -> (tensor<1x2x4x4xf64>, tensor<3x2x3x3xf64>, tensor<3xf64>, tensor<3x2x3x3xf64>) {
  %y = dz.conv2d %x, %W, %b {pad = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<1x2x4x4xf64>, tensor<3x2x3x3xf64>, tensor<3xf64>) -> tensor<1x3x2x2xf64>
  %z = dz.mul %y, %y : (tensor<1x3x2x2xf64>, tensor<1x3x2x2xf64>) -> tensor<1x3x2x2xf64>
  %g:3 = dz.grad %z wrt %x, %W, %b : tensor<1x3x2x2xf64>, tensor<1x2x4x4xf64>, tensor<3x2x3x3xf64>, tensor<3xf64>
  %gg = dz.grad %g#0 wrt %W : tensor<1x2x4x4xf64>, tensor<3x2x3x3xf64>
  return %g#0, %g#1, %g#2, %gg : tensor<1x2x4x4xf64>, tensor<3x2x3x3xf64>, tensor<3xf64>, tensor<3x2x3x3xf64>
}

func.func @deconv2d(%x: tensor<1x3x2x2xf64>, %W: tensor<3x2x3x3xf64>) -> (tensor<1x3x2x2xf64>, tensor<3x2x3x3xf64>, tensor<3x2x3x3xf64>) {
  %y = dz.deconv2d %x, %W {outsize = array<i64: 4, 4>, pad = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<1x3x2x2xf64>, tensor<3x2x3x3xf64>) -> tensor<1x2x4x4xf64>
  %z = dz.mul %y, %y : (tensor<1x2x4x4xf64>, tensor<1x2x4x4xf64>) -> tensor<1x2x4x4xf64>
  %g:2 = dz.grad %z wrt %x, %W : tensor<1x2x4x4xf64>, tensor<1x3x2x2xf64>, tensor<3x2x3x3xf64>
  %gg = dz.grad %g#0 wrt %W : tensor<1x3x2x2xf64>, tensor<3x2x3x3xf64>
  return %g#0, %g#1, %gg : tensor<1x3x2x2xf64>, tensor<3x2x3x3xf64>, tensor<3x2x3x3xf64>
}

func.func @conv2d_grad_w(%x: tensor<1x2x4x4xf64>, %gy: tensor<1x3x3x2xf64>) -> (tensor<1x2x4x4xf64>, tensor<1x3x3x2xf64>, tensor<1x3x3x2xf64>) {
  %w = dz.conv2d_grad_w %x, %gy {kernel = array<i64: 2, 3>, pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<1x2x4x4xf64>, tensor<1x3x3x2xf64>) -> tensor<3x2x2x3xf64>
  %z = dz.mul %w, %w : (tensor<3x2x2x3xf64>, tensor<3x2x2x3xf64>) -> tensor<3x2x2x3xf64>
  %g:2 = dz.grad %z wrt %x, %gy : tensor<3x2x2x3xf64>, tensor<1x2x4x4xf64>, tensor<1x3x3x2xf64>
  %gg = dz.grad %g#0 wrt %gy : tensor<1x2x4x4xf64>, tensor<1x3x3x2xf64>
  return %g#0, %g#1, %gg : tensor<1x2x4x4xf64>, tensor<1x3x3x2xf64>, tensor<1x3x3x2xf64>
}

func.func @max_pooling(%x: tensor<1x2x4x4xf64>, %v: tensor<1x2x4x4xf64>) -> (tensor<1x2x4x4xf64>, tensor<1x2x4x4xf64>) {
  %p = dz.max_pooling %x {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : tensor<1x2x4x4xf64> -> tensor<1x2x2x2xf64>
  %y = dz.mul %p, %p : (tensor<1x2x2x2xf64>, tensor<1x2x2x2xf64>) -> tensor<1x2x2x2xf64>
  %g = dz.grad %y wrt %x : tensor<1x2x2x2xf64>, tensor<1x2x4x4xf64>
  %gv = dz.mul %g, %v : (tensor<1x2x4x4xf64>, tensor<1x2x4x4xf64>) -> tensor<1x2x4x4xf64>
  %gg = dz.grad %gv wrt %x : tensor<1x2x4x4xf64>, tensor<1x2x4x4xf64>
  return %g, %gg : tensor<1x2x4x4xf64>, tensor<1x2x4x4xf64>
}

func.func @average_pooling(%x: tensor<1x2x5x5xf64>) -> (tensor<1x2x5x5xf64>, tensor<1x2x5x5xf64>) {
  %p = dz.average_pooling %x {kernel = array<i64: 3, 2>, pad = array<i64: 1, 0>, stride = array<i64: 2, 1>} : tensor<1x2x5x5xf64> -> tensor<1x2x3x4xf64>
  %y = dz.mul %p, %p : (tensor<1x2x3x4xf64>, tensor<1x2x3x4xf64>) -> tensor<1x2x3x4xf64>
  %g = dz.grad %y wrt %x : tensor<1x2x3x4xf64>, tensor<1x2x5x5xf64>
  %gg = dz.grad %g wrt %x : tensor<1x2x5x5xf64>, tensor<1x2x5x5xf64>
  return %g, %gg : tensor<1x2x5x5xf64>, tensor<1x2x5x5xf64>
}

// ---- the registry's ops added with it (runtime/include/dzc/ops.def): first and second
// derivatives; shifted into their domain where [0.3, 1.3) leaves it.

func.func @tan(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>) {
  %y = dz.tan %x : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  %gg = dz.grad %g wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g, %gg : tensor<2x3xf64>, tensor<2x3xf64>
}

func.func @atan(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>) {
  %y = dz.atan %x : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  %gg = dz.grad %g wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g, %gg : tensor<2x3xf64>, tensor<2x3xf64>
}

func.func @sinh(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>) {
  %y = dz.sinh %x : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  %gg = dz.grad %g wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g, %gg : tensor<2x3xf64>, tensor<2x3xf64>
}

func.func @cosh(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>) {
  %y = dz.cosh %x : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  %gg = dz.grad %g wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g, %gg : tensor<2x3xf64>, tensor<2x3xf64>
}

func.func @asinh(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>) {
  %y = dz.asinh %x : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  %gg = dz.grad %g wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g, %gg : tensor<2x3xf64>, tensor<2x3xf64>
}

func.func @asin(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>) {
  %c = dz.constant dense<0.8> : tensor<f64>
  %xs = dz.sub %x, %c : (tensor<2x3xf64>, tensor<f64>) -> tensor<2x3xf64>
  %y = dz.asin %xs : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  %gg = dz.grad %g wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g, %gg : tensor<2x3xf64>, tensor<2x3xf64>
}

func.func @acos(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>) {
  %c = dz.constant dense<0.8> : tensor<f64>
  %xs = dz.sub %x, %c : (tensor<2x3xf64>, tensor<f64>) -> tensor<2x3xf64>
  %y = dz.acos %xs : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  %gg = dz.grad %g wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g, %gg : tensor<2x3xf64>, tensor<2x3xf64>
}

func.func @atanh(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>) {
  %c = dz.constant dense<0.8> : tensor<f64>
  %xs = dz.sub %x, %c : (tensor<2x3xf64>, tensor<f64>) -> tensor<2x3xf64>
  %y = dz.atanh %xs : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  %gg = dz.grad %g wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g, %gg : tensor<2x3xf64>, tensor<2x3xf64>
}

func.func @acosh(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>) {
  %c = dz.constant dense<1.0> : tensor<f64>
  %xs = dz.add %x, %c : (tensor<2x3xf64>, tensor<f64>) -> tensor<2x3xf64>
  %y = dz.acosh %xs : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  %gg = dz.grad %g wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g, %gg : tensor<2x3xf64>, tensor<2x3xf64>
}

func.func @abs(%x: tensor<2x3xf64>) -> (tensor<2x3xf64>) {
  %c = dz.constant dense<0.8> : tensor<f64>
  %xs = dz.sub %x, %c : (tensor<2x3xf64>, tensor<f64>) -> tensor<2x3xf64>
  %y = dz.abs %xs : tensor<2x3xf64>
  %g = dz.grad %y wrt %x : tensor<2x3xf64>, tensor<2x3xf64>
  return %g : tensor<2x3xf64>
}

func.func @minimum(%a: tensor<2x3xf64>, %b: tensor<3xf64>) -> (tensor<2x3xf64>, tensor<3xf64>) {
  %c = dz.constant dense<0.5> : tensor<f64>
  %as = dz.sub %a, %c : (tensor<2x3xf64>, tensor<f64>) -> tensor<2x3xf64>
  %m = dz.minimum %as, %b : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
  %y = dz.mul %m, %a : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
  %g:2 = dz.grad %y wrt %a, %b : tensor<2x3xf64>, tensor<2x3xf64>, tensor<3xf64>
  return %g#0, %g#1 : tensor<2x3xf64>, tensor<3xf64>
}

func.func @mod(%a: tensor<2x3xf64>, %x: tensor<3xf64>) -> (tensor<2x3xf64>, tensor<3xf64>) {
  %c = dz.constant dense<2.5> : tensor<f64>
  %b = dz.add %x, %c : (tensor<3xf64>, tensor<f64>) -> tensor<3xf64>
  %s = dz.add %a, %c : (tensor<2x3xf64>, tensor<f64>) -> tensor<2x3xf64>
  %y = dz.mod %s, %b : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
  %g:2 = dz.grad %y wrt %a, %x : tensor<2x3xf64>, tensor<2x3xf64>, tensor<3xf64>
  return %g#0, %g#1 : tensor<2x3xf64>, tensor<3xf64>
}

func.func @fmod(%a: tensor<2x3xf64>, %x: tensor<3xf64>) -> (tensor<2x3xf64>, tensor<3xf64>) {
  %c = dz.constant dense<2.5> : tensor<f64>
  %b = dz.add %x, %c : (tensor<3xf64>, tensor<f64>) -> tensor<3xf64>
  %s = dz.add %a, %c : (tensor<2x3xf64>, tensor<f64>) -> tensor<2x3xf64>
  %y = dz.fmod %s, %b : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
  %g:2 = dz.grad %y wrt %a, %x : tensor<2x3xf64>, tensor<2x3xf64>, tensor<3xf64>
  return %g#0, %g#1 : tensor<2x3xf64>, tensor<3xf64>
}
