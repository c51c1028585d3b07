// dzc/functions.h - dz::functions (F::), the differentiable functions of DeZero.
//
// Each returns a new Variable; each backward is written with these same functions, so
// derivatives of any order work. Shapes broadcast as in NumPy; bad shapes or dtypes
// throw dz::Error naming the function.
#pragma once

#include <dzc/variable.h>

#include <optional>

namespace dz::functions {

// ---- elementwise math --------------------------------------------------------------
// The ops of the registry (dzc/ops.def), each a Function whose backward is the registry's
// gradient, written with these same functions: exp log sin cos tan tanh sqrt erf sigmoid
// asin acos atan sinh cosh asinh acosh atanh ceil floor round neg abs square relu step sign
// isnan isinf, add sub mul div pow maximum minimum mod, equal_mask, and the comparisons
// equal not_equal less less_equal greater greater_equal (bool results, no gradient).
#define DZ_UNARY(name, ...) Variable name(const Variable &x);
#define DZ_BINARY(name, ...) Variable name(const Variable &a, const Variable &b);
#include <dzc/ops.def>
Variable pow(const Variable &x, double c);

// ---- shapes -------------------------------------------------------------------------------
Variable reshape(const Variable &x, const Shape &shape);
Variable transpose(const Variable &x, std::vector<int64_t> axes = {}); // {} reverses axes
Variable get_item(const Variable &x, const IndexList &index);
/// The gradient of get_item: zeros of `in_shape` with gy added at the indexed places.
Variable get_item_grad(const Variable &gy, const IndexList &index, const Shape &in_shape);
Variable expand_dims(const Variable &x, int64_t axis);
Variable flatten(const Variable &x); // (N, ...) -> (N, -1)

// ---- reductions and broadcasting ------------------------------------------------------
Variable sum(const Variable &x, std::vector<int64_t> axes = {}, bool keepdims = false);
Variable sum_to(const Variable &x, const Shape &shape);
Variable broadcast_to(const Variable &x, const Shape &shape);
Variable average(const Variable &x, std::vector<int64_t> axes = {}, bool keepdims = false);
Variable mean(const Variable &x, std::vector<int64_t> axes = {}, bool keepdims = false);
Variable max(const Variable &x, std::vector<int64_t> axes = {}, bool keepdims = false);
Variable min(const Variable &x, std::vector<int64_t> axes = {}, bool keepdims = false);
Variable clip(const Variable &x, double x_min, double x_max);

// ---- linear algebra ------------------------------------------------------------------------
Variable matmul(const Variable &a, const Variable &b);
/// op(a) @ op(b) with op = transpose of the last two axes when the flag is set, without
/// materialising the transpose.
Variable matmul(const Variable &a, const Variable &b, bool trans_a, bool trans_b);
Variable linear(const Variable &x, const Variable &W,
                const std::optional<Variable> &b = std::nullopt);

// ---- activations ----------------------------------------------------------------------------
Variable sigmoid(const Variable &x);
Variable relu(const Variable &x);
Variable leaky_relu(const Variable &x, double slope = 0.2);
Variable softmax(const Variable &x, int64_t axis = 1);
Variable log_softmax(const Variable &x, int64_t axis = 1);

// ---- losses and metrics -------------------------------------------------------------------
Variable mean_squared_error(const Variable &x0, const Variable &x1);
/// x: (N, C) scores; t: (N,) int64 class labels, or float (N, C) one-hot or soft targets
/// (each row a distribution over the classes): -sum(t log_softmax(x)) / N, which on one-hot
/// rows equals the loss of their labels. Targets get no gradient.
Variable softmax_cross_entropy(const Variable &x, const Variable &t);
/// x: scores, t: labels 0/1 (or probabilities) of the same size. The sum over all
/// elements of max(x, 0) - x t + log(1 + exp(-|x|)) (stable for any x), divided by
/// len(x); the gradient is (sigmoid(x) - t) / len(x).
Variable sigmoid_cross_entropy(const Variable &x, const Variable &t);
/// p: probabilities, t: labels 0/1 of the same size. p is clipped to
/// [eps, 1 - eps] (binary_cross_entropy_eps: 1e-12 for float64, 1e-7 for float32), so the
/// loss stays finite; the gradient is 0 where p lies outside that range.
/// The sum over all elements divided by len(p), as the book's losses.
Variable binary_cross_entropy(const Variable &p, const Variable &t);
double binary_cross_entropy_eps(DType dtype);
/// Fraction of rows of y whose argmax equals t: (N,) int labels, or float (N, C) one-hot
/// targets, whose argmax is the label. Not differentiable; computed on the host, so it
/// cannot be compiled (call it on the scores a compiled function returns).
Variable accuracy(const Variable &y, const Variable &t);

// ---- regularisation ------------------------------------------------------------------------
/// Inverted dropout in train mode (mask from the default generator), identity in test mode.
Variable dropout(const Variable &x, double ratio = 0.5);
Variable dropout(const Variable &x, double ratio, Generator &gen);

// ---- the book's teaching variants -----------------------------------------------------------
// Built from the primitive functions above, as DeZero writes them, so their graphs (DOT)
// show every step; the values and gradients are those of the fused functions (up to
// rounding). conv2d_simple and pooling_simple are in dzc/functions_nn.h.

/// matmul(x, W) + b.
Variable linear_simple(const Variable &x, const Variable &W,
                       const std::optional<Variable> &b = std::nullopt);
/// 1 / (1 + exp(-x)).
Variable sigmoid_simple(const Variable &x);
/// exp(x) / sum(exp(x), axis, keepdims): no subtraction of the maximum, so it overflows
/// where exp does (x > ~88 in float32, ~709 in float64), as the book's does.
Variable softmax_simple(const Variable &x, int64_t axis = 1);
/// -sum(log(clip(softmax_simple(x), 1e-15, 1))[arange(N), t]) / N for int labels t (N,),
/// or -sum(t log(...)) / N for float targets (N, C). The clip makes it differ from the
/// fused loss where a probability is below 1e-15. Int labels index with a tensor, which
/// dz::compile refuses; the fused softmax_cross_entropy compiles.
Variable softmax_cross_entropy_simple(const Variable &x, const Variable &t);
/// sum((x0 - x1)^2) / len(x0 - x1).
Variable mean_squared_error_simple(const Variable &x0, const Variable &x1);

} // namespace dz::functions
