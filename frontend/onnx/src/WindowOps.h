// WindowOps.h - internal to dzc_onnx: what the window-op converters share (WindowOps.cpp):
// index tables for dz.get_item / dz.get_item_grad, explicit padding and cropping, the
// window geometry of an ONNX node (kernel, strides, dilations, pads, output size), and
// the gather of windows into a tap axis. The converters are in WindowPool.cpp (MaxPool,
// AveragePool) and WindowConv.cpp (Conv, ConvTranspose).
#pragma once

#include "Convert.h"

namespace dz::onnx::window {

using Shp = llvm::SmallVector<int64_t>;
using llvm::ArrayRef;

// ---- index tables ------------------------------------------------------------------------

/// Calls fn(index) for every multi-index of `shape`, in row-major order.
template <typename Fn> void for_each_index(ArrayRef<int64_t> shape, Fn fn) {
  if (product(shape) == 0)
    return;
  Shp idx(shape.size(), 0);
  for (;;) {
    fn(ArrayRef<int64_t>(idx));
    size_t d = shape.size();
    while (d > 0 && ++idx[d - 1] == shape[d - 1])
      idx[--d] = 0;
    if (d == 0)
      return;
  }
}

/// The row-major flat position of `idx` in `shape`.
int64_t flat_index(ArrayRef<int64_t> idx, ArrayRef<int64_t> shape);

/// The offsets tables of dz.get_item / get_item_grad are attributes: keep them to sizes the
/// importer reads anyway (UnsupportedError past 2^24 entries).
void check_table_size(NodeContext &c, ArrayRef<int64_t> shape);

/// A constant of `values` with `shape` and like's element type.
Value table(NodeContext &c, const std::vector<double> &values, ArrayRef<int64_t> shape, Value like);

/// dz.get_item (a gather at flat offsets) and dz.get_item_grad (a scatter-add into zeros).
Value get_item(NodeContext &c, Value x, ArrayRef<int64_t> shape, ArrayRef<int64_t> offsets);
Value scatter(NodeContext &c, Value x, ArrayRef<int64_t> shape, ArrayRef<int64_t> offsets);

/// x (N, C, S...) with each spatial axis d grown by begin[d] elements in front and end[d]
/// behind (cropped where negative); the new elements are `fill`.
Value reframe(NodeContext &c, Value x, ArrayRef<int64_t> begin, ArrayRef<int64_t> end, double fill);

/// The kernel (A, B, K...) with its taps `dilation` apart: (A, B, (K - 1) dilation + 1 ...),
/// zeros between the taps.
Value dilate_kernel(NodeContext &c, Value w, ArrayRef<int64_t> dilation);

// ---- window geometry ---------------------------------------------------------------------

/// The largest kernel size, stride, dilation and pad (2^24).
constexpr int64_t kMaxWindow = int64_t(1) << 24;

/// The windows of one op along its spatial axes (all vectors have one entry per axis).
struct Windows {
  Shp in, kernel, stride, dilation, begin, end, out;

  int64_t span(size_t d) const { return (kernel[d] - 1) * dilation[d] + 1; }
  /// How far past the input the last window reads (the end padding the windows use;
  /// negative when they stop short of the input's end).
  int64_t reach(size_t d) const { return (out[d] - 1) * stride[d] + span(d) - in[d] - begin[d]; }
  Shp reach() const {
    Shp r;
    for (size_t d = 0; d < in.size(); ++d)
      r.push_back(reach(d));
    return r;
  }
  /// Axis d = 0 prepended with one position, no padding: a 1-D op as a 2-D one (H = 1).
  void lift() {
    for (Shp *v : {&in, &kernel, &stride, &dilation, &out})
      v->insert(v->begin(), 1);
    begin.insert(begin.begin(), 0);
    end.insert(end.begin(), 0);
  }
};

/// A per-axis attribute (strides, dilations, output_padding), `dflt` on every axis when
/// absent.
Shp spatial_attr(NodeContext &c, const std::string &name, size_t n, int64_t dflt);

/// The input sizes and the kernel with the node's strides and dilations (pads and output
/// sizes still unset); dz::Error for values outside [1, 2^24].
Windows windows(NodeContext &c, ArrayRef<int64_t> in, ArrayRef<int64_t> kernel);

/// begin / end from auto_pad (SAME_UPPER puts the odd element at the end, SAME_LOWER in
/// front) or pads (all begins, then all ends).
void resolve_pads(NodeContext &c, Windows &w);

/// The number of windows per axis; with ceil_mode the last window may hang past the
/// padding (ONNX's rule, which does not drop a last window that starts past the input).
void resolve_out(NodeContext &c, Windows &w, bool ceil_mode);

bool all_zero(ArrayRef<int64_t> v);
bool all_one(ArrayRef<int64_t> v);

/// x (N, C, S) as (N, C, 1, S), and back: 1-D windows run as 2-D ones.
Value lift_1d(NodeContext &c, Value x);
Value lower_1d(NodeContext &c, Value y);

/// The windows of xp (N, C, P...), already padded so that window o's tap k reads
/// o stride + k dilation: (N, C, O..., K) with the taps last, one dz.get_item.
Value gather_windows(NodeContext &c, Value xp, const Windows &w);

} // namespace dz::onnx::window
