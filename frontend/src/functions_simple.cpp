// functions_simple.cpp - the book's teaching variants of fused functions (linear_simple,
// sigmoid_simple, softmax_simple, softmax_cross_entropy_simple, mean_squared_error_simple,
// conv2d_simple, pooling_simple), each written as DeZero writes it: a composition of
// primitive F:: functions, so the graph (and its DOT drawing) shows every step and the
// backward comes from the primitives' rules.
#include <dzc/functions.h>
#include <dzc/functions_nn.h>

namespace dz::functions {

namespace {

void check_ndim(const Variable &x, int64_t ndim, const char *op, const char *what) {
  if (x.ndim() != ndim)
    throw Error(std::string(op) + ": " + what + ", got shape " + shape_str(x.shape()));
}

/// (N*OH*OW, K) rows of im2col back to an NCHW image (N, K, OH, OW).
Variable rows_to_image(const Variable &rows, int64_t N, int64_t OH, int64_t OW) {
  const int64_t K = rows.shape()[1];
  return transpose(reshape(rows, {N, OH, OW, K}), {0, 3, 1, 2});
}

} // namespace

Variable linear_simple(const Variable &x, const Variable &W, const std::optional<Variable> &b) {
  Variable t = matmul(x, W);
  if (!b || !b->defined())
    return t;
  return t + *b;
}

Variable sigmoid_simple(const Variable &x) { return 1.0 / (1.0 + exp(-x)); }

Variable softmax_simple(const Variable &x, int64_t axis) {
  if (axis < -x.ndim() || axis >= std::max<int64_t>(x.ndim(), 1))
    throw Error("softmax_simple: axis " + std::to_string(axis) +
                " is out of range for a tensor of shape " + shape_str(x.shape()));
  Variable y = exp(x);
  Variable sum_y = x.ndim() ? sum(y, {axis}, true) : y;
  return y / sum_y;
}

Variable softmax_cross_entropy_simple(const Variable &x, const Variable &t) {
  const char *op = "softmax_cross_entropy_simple";
  check_ndim(x, 2, op, "scores must be 2-d (N, C)");
  if (!is_floating(x.dtype()))
    throw Error(std::string(op) + ": scores must be float32 or float64, got " +
                dtype_name(x.dtype()));
  const int64_t N = x.shape()[0], C = x.shape()[1];
  Variable p = clip(softmax_simple(x, 1), 1e-15, 1.0); // as the book: no log(0)
  Variable log_p = log(p);
  const double scale = -1.0 / double(std::max<int64_t>(N, 1));
  if (is_floating(t.dtype())) { // one-hot or soft targets (N, C)
    if (t.shape() != x.shape())
      throw Error(std::string(op) + ": float targets of shape " + shape_str(t.shape()) +
                  " for scores of shape " + shape_str(x.shape()) +
                  " (need targets of the scores' shape, or int64 labels of shape (" +
                  std::to_string(N) + ",))");
    return sum(Variable::constant(t.data().to(x.dtype())) * log_p) * scale;
  }
  if (t.dtype() == b8 || t.size() != N)
    throw Error(std::string(op) + ": need " + std::to_string(N) +
                " integer labels or float targets " + shape_str(x.shape()) + ", got " +
                dtype_name(t.dtype()) + " " + shape_str(t.shape()));
  Tensor labels = t.data().to(i64).reshape({N});
  check_class_labels(labels, C, op);
  Variable tlog_p = get_item(log_p, {Index(arange(double(N))), Index(labels)});
  return sum(tlog_p) * scale;
}

Variable mean_squared_error_simple(const Variable &x0, const Variable &x1) {
  Variable diff = x0 - x1;
  return sum(diff.pow(2.0)) / double(diff.ndim() ? diff.len() : 1);
}

Variable conv2d_simple(const Variable &x, const Variable &W, std::optional<Variable> b,
                       Size2 stride, Size2 pad) {
  const char *op = "conv2d_simple";
  check_ndim(x, 4, op, "x must be 4-d (N, C, H, W)");
  check_ndim(W, 4, op, "W must be 4-d (OC, C, KH, KW)");
  const int64_t N = x.shape()[0], OC = W.shape()[0], KH = W.shape()[2], KW = W.shape()[3];
  if (W.shape()[1] != x.shape()[1])
    throw Error(std::string(op) + ": x " + shape_str(x.shape()) + " has " +
                std::to_string(x.shape()[1]) + " channels but W " + shape_str(W.shape()) +
                " takes " + std::to_string(W.shape()[1]));
  const int64_t OH = get_conv_outsize(x.shape()[2], KH, stride.h, pad.h);
  const int64_t OW = get_conv_outsize(x.shape()[3], KW, stride.w, pad.w);
  Variable col = im2col(x, {KH, KW}, stride, pad, /*to_matrix=*/true);
  Variable weight = transpose(reshape(W, {OC, -1}));
  Variable t = linear(col, weight, b);
  return rows_to_image(t, N, OH, OW);
}

Variable pooling_simple(const Variable &x, Size2 kernel, Size2 stride, Size2 pad) {
  check_ndim(x, 4, "pooling_simple", "x must be 4-d (N, C, H, W)");
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t OH = get_conv_outsize(x.shape()[2], kernel.h, stride.h, pad.h);
  const int64_t OW = get_conv_outsize(x.shape()[3], kernel.w, stride.w, pad.w);
  Variable col = im2col(x, kernel, stride, pad, /*to_matrix=*/true);
  col = reshape(col, {-1, kernel.h * kernel.w});
  Variable y = max(col, {1});
  return rows_to_image(reshape(y, {N * OH * OW, C}), N, OH, OW);
}

} // namespace dz::functions
