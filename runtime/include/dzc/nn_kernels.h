// dzc/nn_kernels.h - CPU kernels of the neural-network functions on NCHW tensors:
// im2col/col2im, convolution (forward, weight gradient, transposed), max and average
// pooling with their gradients.
//
// They follow DeZero's array functions (dezero/functions_conv.py), so results match the
// book: padding is zero for convolutions and average pooling. Max pooling departs from
// DeZero's im2col-with-zeros: a tap on the padding never wins the maximum (it is -inf, as
// in Chainer, PyTorch and ONNX's MaxPool), and a NaN in a window is its maximum. float32
// and float64 only; bad shapes or dtypes throw dz::Error naming the operation.
#pragma once

#include <dzc/tensor.h>

#include <cstdint>

namespace dz {

/// A height/width pair: kernel size, stride or padding. `Size2 s = 3` means 3x3.
struct Size2 {
  int64_t h, w;
  Size2(int64_t v) : h(v), w(v) {}
  Size2(int64_t h_, int64_t w_) : h(h_), w(w_) {}
  bool operator==(const Size2 &) const = default;
};

/// Output length of a convolution: (in + 2 pad - kernel) / stride + 1 (floor).
int64_t get_conv_outsize(int64_t input_size, int64_t kernel_size, int64_t stride, int64_t pad);
/// Output length of a transposed convolution: stride (in - 1) + kernel - 2 pad.
int64_t get_deconv_outsize(int64_t input_size, int64_t kernel_size, int64_t stride, int64_t pad);

/// x (N, C, H, W) -> col (N, C, KH, KW, OH, OW), or with to_matrix (N*OH*OW, C*KH*KW):
/// col[n, c, kh, kw, oh, ow] = x[n, c, oh*SH - PH + kh, ow*SW - PW + kw] (0 outside x).
Tensor im2col(const Tensor &x, Size2 kernel, Size2 stride, Size2 pad, bool to_matrix);
/// The adjoint of im2col: every col entry is added back to the pixel it was read from
/// (overlapping windows accumulate; entries that fell on the padding are dropped).
Tensor col2im(const Tensor &col, const Shape &x_shape, Size2 kernel, Size2 stride, Size2 pad,
              bool to_matrix);

/// How conv2d computes its forward: Auto picks by the measurements in conv.cpp
/// (im2col + GEMM for few input taps C*KH*KW, oneDNN's direct convolution for many).
/// float64 always runs im2col + GEMM (oneDNN has no float64 convolution).
enum class ConvAlgo { Auto, Im2colGemm, OneDNN };

/// y (N, OC, OH, OW) = convolution of x (N, C, H, W) with W (OC, C, KH, KW), plus b (OC)
/// when given.
Tensor conv2d(const Tensor &x, const Tensor &W, const Tensor *b, Size2 stride, Size2 pad,
              ConvAlgo algo = ConvAlgo::Auto);
/// The weight gradient of conv2d: gW (OC, C, KH, KW) from x (N, C, H, W) and
/// gy (N, OC, OH, OW).
Tensor conv2d_grad_w(const Tensor &x, const Tensor &gy, Size2 kernel, Size2 stride, Size2 pad);
/// Transposed convolution (the input gradient of conv2d): x (N, C, H, W) with
/// W (C, OC, KH, KW) gives y (N, OC, OH, OW), OH = outsize.h (default get_deconv_outsize),
/// plus b (OC) when given. outsize must convolve back to H x W.
Tensor deconv2d(const Tensor &x, const Tensor &W, const Tensor *b, Size2 stride, Size2 pad,
                Size2 outsize);

/// Max pooling: y (N, C, OH, OW), and the position of each maximum in its window
/// (kh * KW + kw, int64; the first one on ties). Padding never wins; a window wholly on
/// the padding (pad >= kernel) gives -inf.
struct MaxPoolResult {
  Tensor y, indexes;
};
MaxPoolResult max_pool2d(const Tensor &x, Size2 kernel, Size2 stride, Size2 pad);
/// The maxima of max_pool2d alone (the same values), for where no gradient needs the
/// indexes (inference): a row of windows at a time, so the loops vectorise.
Tensor max_pool2d_values(const Tensor &x, Size2 kernel, Size2 stride, Size2 pad);
/// Reads x at the window positions `indexes` (the derivative of max pooling applied to x).
Tensor max_pool2d_gather(const Tensor &x, const Tensor &indexes, Size2 kernel, Size2 stride,
                         Size2 pad);
/// The adjoint of max_pool2d_gather: gx of x_shape with each gy added at its window's index.
Tensor max_pool2d_grad(const Tensor &gy, const Tensor &indexes, const Shape &x_shape, Size2 kernel,
                       Size2 stride, Size2 pad);

/// Average pooling: the mean over each KH x KW window, padding zeros included (DeZero).
Tensor avg_pool2d(const Tensor &x, Size2 kernel, Size2 stride, Size2 pad);
/// The adjoint of avg_pool2d: each gy / (KH KW) spread over its window.
Tensor avg_pool2d_grad(const Tensor &gy, const Shape &x_shape, Size2 kernel, Size2 stride,
                       Size2 pad);

} // namespace dz
