// device_nn.h - the NN kernels of nn_kernels.h on a device, from window tables: for an
// image geometry, a table of int64 offsets gives, for every tap of every window, the
// input element it reads, or one extra zero element for a tap on the padding. im2col is a
// gather through the table, col2im a scatter-add, pooling a gather then a reduction, and a
// convolution im2col and one GEMM (DeZero's formulation, as on the CPU). Tables are made on
// the host once per geometry and kept on the device. Not installed.
#pragma once

#include "nn_geom.h"

namespace dz::detail::device {

/// The order of the window dimensions of a table: im2col's (N, C, KH, KW, OH, OW), its
/// matrix (N, OH, OW, C, KH, KW), and pooling's (N, C, OH, OW, KH, KW).
enum class WindowOrder { Col, Matrix, Pool };

/// The taps of x (N, C, H, W) through the windows of `g`, in `order`, flat (0 on padding).
Tensor window_gather(const Tensor &x, const WindowGeom &g, WindowOrder order);
/// Its adjoint: every entry of `taps` (any shape of the table's size) added to the input
/// element it was read from; entries on the padding are dropped. A tensor of (N, C, H, W).
Tensor window_scatter(const Tensor &taps, const WindowGeom &g, WindowOrder order);

Tensor conv2d(const Tensor &x, const Tensor &W, const Tensor *b, const WindowGeom &g);
Tensor conv2d_grad_w(const Tensor &x, const Tensor &gy, const WindowGeom &g);
/// y (N, OC, OH, OW) of x (N, C, H, W) and W (C, OC, KH, KW); `gy` is y's geometry (whose
/// windows cover x's H x W).
Tensor deconv2d(const Tensor &x, const Tensor &W, const Tensor *b, const WindowGeom &gy);

MaxPoolResult max_pool2d(const Tensor &x, const WindowGeom &g);
Tensor max_pool2d_gather(const Tensor &x, const Tensor &indexes, const WindowGeom &g);
Tensor max_pool2d_grad(const Tensor &gy, const Tensor &indexes, const WindowGeom &g);
Tensor avg_pool2d(const Tensor &x, const WindowGeom &g);
Tensor avg_pool2d_grad(const Tensor &gy, const WindowGeom &g);

} // namespace dz::detail::device
