// dzc/functions_nn.h - the neural-network functions of DeZero (functions_conv.py and
// batch_norm/embed_id of functions.py) in dz::functions (F::): convolution, transposed
// convolution, pooling, im2col/col2im, batch normalisation, embedding.
//
// Inputs are NCHW. Every function is differentiable with a backward built from these
// functions, so derivatives of higher order work (batch_norm: first order only). As in
// DeZero, convolutions and average pooling pad with zeros. Max pooling departs from
// DeZero's im2col-with-zeros: the padding never wins the maximum (as in PyTorch and
// ONNX's MaxPool), so a window of negative values gives its largest value, not 0.
#pragma once

#include <dzc/nn_kernels.h>
#include <dzc/variable.h>

#include <optional>

namespace dz::utils {
using dz::get_conv_outsize;
using dz::get_deconv_outsize;
} // namespace dz::utils

namespace dz::functions {

using dz::get_conv_outsize;
using dz::get_deconv_outsize;

/// x (N, C, H, W) -> (N*OH*OW, C*KH*KW) with to_matrix, else (N, C, KH, KW, OH, OW).
Variable im2col(const Variable &x, Size2 kernel, Size2 stride = 1, Size2 pad = 0,
                bool to_matrix = true);
/// The adjoint of im2col: col back to an image of `input_shape`, overlaps summed.
Variable col2im(const Variable &col, const Shape &input_shape, Size2 kernel, Size2 stride = 1,
                Size2 pad = 0, bool to_matrix = true);

/// x (N, C, H, W) convolved with W (OC, C, KH, KW), plus b (OC): (N, OC, OH, OW).
Variable conv2d(const Variable &x, const Variable &W, std::optional<Variable> b = std::nullopt,
                Size2 stride = 1, Size2 pad = 0);
/// Transposed convolution: x (N, C, H, W) with W (C, OC, KH, KW), plus b (OC):
/// (N, OC, OH, OW), OH = outsize or get_deconv_outsize(H, KH, SH, PH).
Variable deconv2d(const Variable &x, const Variable &W, std::optional<Variable> b = std::nullopt,
                  Size2 stride = 1, Size2 pad = 0, std::optional<Size2> outsize = std::nullopt);
/// The weight gradient of conv2d as a function of x and gy: (OC, C, KH, KW). Its own
/// backward makes second derivatives through a convolution work.
Variable conv2d_grad_w(const Variable &x, const Variable &gy, Size2 kernel, Size2 stride = 1,
                       Size2 pad = 0);

/// Max pooling over KH x KW windows: (N, C, OH, OW). Taps on the padding never win; the
/// gradient goes to the first maximum of each window.
Variable pooling(const Variable &x, Size2 kernel, Size2 stride = 1, Size2 pad = 0);
/// Average pooling over KH x KW windows (padding zeros included in the mean).
Variable average_pooling(const Variable &x, Size2 kernel, Size2 stride = 1, Size2 pad = 0);

/// The book's conv2d_simple: im2col(x) to a matrix, linear with W reshaped (OC, C KH KW)
/// and transposed, reshaped back to (N, OC, OH, OW). The same values and gradients as
/// conv2d, with every step in the graph.
Variable conv2d_simple(const Variable &x, const Variable &W,
                       std::optional<Variable> b = std::nullopt, Size2 stride = 1, Size2 pad = 0);
/// The book's pooling_simple: im2col(x), the max of each window's KH KW taps, reshaped
/// to (N, C, OH, OW). im2col pads with zeros, so where a window overlaps the padding a
/// padded 0 can win (DeZero's behaviour); pooling never lets it. Without padding, or on
/// inputs >= 0, the two agree. On a tie max gives each maximum the gradient, pooling the
/// first one only.
Variable pooling_simple(const Variable &x, Size2 kernel, Size2 stride = 1, Size2 pad = 0);

/// Batch normalisation of x (N, C) or (N, C, H, W) per channel: gamma * x_hat + beta.
/// In train mode (Config::train()) x_hat uses the batch's mean and variance, and the
/// running averages are updated in place:
///   running_mean = decay running_mean + (1 - decay) mean
///   running_var  = decay running_var  + (1 - decay) m / (m - 1) var   (m = N H W)
/// In test mode x_hat uses the running averages. Empty (undefined or size-0) running
/// tensors start as zeros and ones of C elements.
Variable batch_norm(const Variable &x, const Variable &gamma, const Variable &beta,
                    Tensor &running_mean, Tensor &running_var, double decay = 0.9,
                    double eps = 2e-5);

/// Rows of W (V, D) for the integer ids x (any shape): x.shape + (D,). Repeated ids add
/// their gradients into the same row.
Variable embed_id(const Variable &x, const Variable &W);

} // namespace dz::functions
