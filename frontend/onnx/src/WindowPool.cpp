// WindowPool.cpp - MaxPool and AveragePool of any rank, padding, dilation and ceil_mode
// (the plan in WindowOps.cpp's header).
#include "WindowOps.h"

#include <algorithm>
#include <limits>

namespace dz::onnx {

namespace {

using namespace window;

// ---- pooling -----------------------------------------------------------------------------

/// numerator / (the taps of each window inside the input, or inside the padded input with
/// count_include_pad), over the output positions.
std::vector<double> window_scale(const Windows &w, bool include_pad, double numerator) {
  std::vector<double> scale;
  for_each_index(w.out, [&](ArrayRef<int64_t> o) {
    double count = 1;
    for (size_t d = 0; d < w.in.size(); ++d) {
      const int64_t lo = include_pad ? -w.begin[d] : 0, hi = w.in[d] + (include_pad ? w.end[d] : 0);
      int64_t taps = 0;
      for (int64_t k = 0; k < w.kernel[d]; ++k) {
        const int64_t p = o[d] * w.stride[d] - w.begin[d] + k * w.dilation[d];
        taps += p >= lo && p < hi;
      }
      count *= double(taps);
    }
    scale.push_back(count > 0 ? numerator / count : 0); // a window past the input: 0
  });
  return scale;
}

/// MaxPool's Indices: the flat position in x (N, C, H, W) of each window's maximum, from
/// dz.max_pooling_indexes of the padded xp (the window tap kh KW + kw) through a one-hot
/// lookup (exact in float64).
Value max_indices(NodeContext &c, Value xp, const Windows &w, ArrayRef<int64_t> x_shape,
                  bool column_major) {
  auto attr = [&](ArrayRef<int64_t> v) { return c.b.getDenseI64ArrayAttr(v); };
  Value idx = c.make<ir::MaxPoolingIndexesOp>(xp, attr(w.kernel), attr(w.stride), attr({0, 0}));
  const int64_t C = x_shape[1], H = x_shape[2], W = x_shape[3], taps = product(w.kernel);
  Shp out(c.shape(idx));
  check_table_size(c, out);
  const int64_t m = product(out);
  std::vector<double> tap_offset, base;
  for (int64_t k = 0; k < taps; ++k) {
    const int64_t kh = k / w.kernel[1], kw = k % w.kernel[1];
    tap_offset.push_back(double(column_major ? kh + kw * H : kh * W + kw));
  }
  for_each_index(out, [&](ArrayRef<int64_t> i) {
    const int64_t h = i[2] * w.stride[0] - w.begin[0], x = i[3] * w.stride[1] - w.begin[1];
    base.push_back(double((i[0] * C + i[1]) * H * W + (column_major ? h + x * H : h * W + x)));
  });
  mlir::Type f64 = c.b.getF64Type();
  Value hot = c.make<ir::OneHotOp>(c.reshape(idx, {m}), c.b.getI64IntegerAttr(taps),
                                   mlir::TypeAttr::get(f64));
  Value offset = c.make<ir::MatmulOp>(hot, table(c, tap_offset, {taps, 1}, hot),
                                      c.b.getBoolAttr(false), c.b.getBoolAttr(false));
  Value flat = c.add(c.reshape(offset, {m}), table(c, base, {m}, hot));
  return c.reshape(c.make<ir::CastOp>(flat, mlir::TypeAttr::get(c.b.getI64Type())), out);
}

/// MaxPool's padding: the lowest float of x's type. ONNX pads with -inf; the lowest finite
/// value loses to every element of x as well, and keeps infinities out of the kernels.
double lowest(NodeContext &c, Value x) {
  return c.type(x).getElementType().isF32() ? double(std::numeric_limits<float>::lowest())
                                            : std::numeric_limits<double>::lowest();
}

/// A 2-D (or lifted 1-D) pool without dilation: dz.max_pooling / dz.average_pooling, on x padded
/// explicitly unless the dz op's own padding is ONNX's.
/// `indices`, when not null, receives MaxPool's Indices.
Value pool_2d(NodeContext &c, Value x, const Windows &w, bool is_max, bool include_pad,
              Value *indices) {
  auto attr = [&](ArrayRef<int64_t> v) { return c.b.getDenseI64ArrayAttr(v); };
  const Shp reach = w.reach();
  const bool fits = std::equal(reach.begin(), reach.end(), w.end.begin(),
                               [](int64_t r, int64_t e) { return r <= e; });
  if (is_max) {
    const bool unpadded = all_zero(w.begin) && fits && all_zero(w.end);
    Value xp = unpadded ? x : reframe(c, x, w.begin, reach, lowest(c, x));
    Value y = c.make<ir::MaxPoolingOp>(xp, attr(w.kernel), attr(w.stride), attr({0, 0}));
    if (indices)
      *indices = max_indices(c, xp, w, c.shape(x), c.int_attr("storage_order", 0) != 0);
    return y;
  }
  // dz.average_pooling divides by KH KW, padding included: ONNX's when every window lies in
  // the symmetrically padded input and the padding counts (or there is none).
  if (w.begin == w.end && fits && (include_pad || all_zero(w.begin)))
    return c.make<ir::AveragePoolingOp>(x, attr(w.kernel), attr(w.stride), attr(w.begin));
  Value y = c.make<ir::AveragePoolingOp>(reframe(c, x, w.begin, reach, 0), attr(w.kernel),
                                         attr(w.stride), attr({0, 0}));
  return c.mul(y, table(c, window_scale(w, include_pad, double(product(w.kernel))), w.out, y));
}

template <bool is_max> Value pool(NodeContext &c) {
  Value x = c.in(0);
  c.require_float(x);
  if (c.rank(x) < 3)
    c.fail("the input must be (N, C, D1, ...), got rank " + std::to_string(c.rank(x)));
  const size_t n = size_t(c.rank(x) - 2);
  std::optional<std::vector<int64_t>> k = c.ints_attr("kernel_shape");
  if (!k || k->size() != n)
    c.fail("'kernel_shape' must have " + std::to_string(n) + " values (one per spatial axis)");
  Windows w = windows(c, c.shape(x).drop_front(2), *k);
  resolve_pads(c, w);
  resolve_out(c, w, c.int_attr("ceil_mode", 0) != 0);
  const bool include_pad = c.int_attr("count_include_pad", 0) != 0;
  const bool want_indices = is_max && c.node.output_size() > 1 && !c.node.output(1).empty();
  if (n <= 2 && all_one(w.dilation)) {
    Value indices;
    if (n == 1)
      w.lift();
    Value y = pool_2d(c, n == 1 ? lift_1d(c, x) : x, w, is_max, include_pad,
                      want_indices ? &indices : nullptr);
    if (indices)
      c.add_output(n == 1 ? lower_1d(c, indices) : indices);
    return n == 1 ? lower_1d(c, y) : y;
  }
  if (want_indices)
    c.unsupported("the Indices output of a dilated or 3-D MaxPool", "MaxPool Indices not 2-D");
  // Any rank, dilations: the windows gathered into a tap axis, then reduced.
  Value taps = gather_windows(c, reframe(c, x, w.begin, w.reach(), is_max ? lowest(c, x) : 0), w);
  const int64_t last = int64_t(n) + 2;
  if (is_max)
    return c.make<ir::MaxOp>(taps, c.b.getDenseI64ArrayAttr({last}), c.b.getBoolAttr(false));
  Value sum = c.sum(taps, {last}, false);
  return c.mul(sum, table(c, window_scale(w, include_pad, 1), w.out, sum));
}

} // namespace

namespace window_ops {
Value max_pool(NodeContext &c) { return pool<true>(c); }
Value average_pool(NodeContext &c) { return pool<false>(c); }
} // namespace window_ops

} // namespace dz::onnx
