// WindowOps.cpp - what the importer's window ops share (WindowOps.h). The window ops
// (Conv, ConvTranspose: WindowConv.cpp; MaxPool, AveragePool: WindowPool.cpp) take any
// rank, padding, dilation and group, built from dz ops so that they stay differentiable.
//
// The fast paths are the dz ops themselves (dz.conv2d, dz.deconv2d, dz.max_pooling,
// dz.average_pooling: 2-D, symmetric zero padding). Everything else is rewritten into them
// or around them at import time:
// - 1-D windows are 2-D ones with H = 1;
// - asymmetric or -inf padding is an explicit pad (a dz.get_item_grad scatter of x into
//   the padded shape, plus a constant border holding the fill value), then pad 0; a crop
//   is a dz.get_item;
// - ceil_mode pads the end so that the last windows fit;
// - AveragePool's count_include_pad=0 (and ceil_mode's partial windows) multiply the
//   windowed mean by a constant K / count computed here;
// - dilated kernels are scattered into a kernel of the dilated span (zeros between taps);
// - grouped Conv is dz.im2col + a batched dz.matmul of the groups; grouped ConvTranspose
//   a block-diagonal kernel;
// - 3-D (and dilated pooling) windows are gathered with one dz.get_item into a tap axis,
//   then reduced (pooling) or multiplied with the kernel by dz.matmul (Conv); a 3-D
//   ConvTranspose is the dz.matmul of the kernel and x scattered back by dz.get_item_grad.
#include "WindowOps.h"

#include <algorithm>

namespace dz::onnx::window {

// ---- index tables ------------------------------------------------------------------------

int64_t flat_index(ArrayRef<int64_t> idx, ArrayRef<int64_t> shape) {
  int64_t f = 0;
  for (size_t d = 0; d < shape.size(); ++d)
    f = f * shape[d] + idx[d];
  return f;
}

/// The offsets tables of dz.get_item / get_item_grad are attributes: keep them to sizes the
/// importer reads anyway.
void check_table_size(NodeContext &c, ArrayRef<int64_t> shape) {
  std::optional<int64_t> n = element_count(shape);
  if (!n || *n > kMaxConstantRead)
    c.unsupported("its decomposition needs an index table of shape " + dims_str(shape) +
                      "; the importer builds at most 2^24 entries",
                  c.node.op_type() + " too large to decompose");
}

/// A constant of `values` with `shape` and like's element type.
Value table(NodeContext &c, const std::vector<double> &values, ArrayRef<int64_t> shape,
            Value like) {
  const DType dtype = c.type(like).getElementType().isF32() ? f32 : f64;
  return c.constant_of(Tensor::from(values, Shape(shape.begin(), shape.end()), dtype));
}

Value get_item(NodeContext &c, Value x, ArrayRef<int64_t> shape, ArrayRef<int64_t> offsets) {
  return c.make<ir::GetItemOp>(x, c.b.getDenseI64ArrayAttr(shape),
                               c.b.getDenseI64ArrayAttr(offsets));
}

Value scatter(NodeContext &c, Value x, ArrayRef<int64_t> shape, ArrayRef<int64_t> offsets) {
  return c.make<ir::GetItemGradOp>(x, c.b.getDenseI64ArrayAttr(shape),
                                   c.b.getDenseI64ArrayAttr(offsets));
}

/// x (N, C, S...) with each spatial axis d grown by begin[d] elements in front and end[d]
/// behind (cropped where negative); the new elements are `fill`.
Value reframe(NodeContext &c, Value x, ArrayRef<int64_t> begin, ArrayRef<int64_t> end,
              double fill) {
  const size_t n = begin.size();
  Shp from(c.shape(x)), cropped(from), skip(n + 2, 0);
  bool crops = false, pads = false;
  for (size_t d = 0; d < n; ++d) {
    skip[d + 2] = std::max<int64_t>(0, -begin[d]);
    cropped[d + 2] -= skip[d + 2] + std::max<int64_t>(0, -end[d]);
    crops |= begin[d] < 0 || end[d] < 0;
    pads |= begin[d] > 0 || end[d] > 0;
    if (cropped[d + 2] <= 0)
      c.fail("the padding crops spatial axis " + std::to_string(d) + " of " + dims_str(from) +
             " to nothing");
  }
  if (crops) {
    check_table_size(c, cropped);
    std::vector<int64_t> offsets;
    Shp at(n + 2);
    for_each_index(cropped, [&](ArrayRef<int64_t> i) {
      for (size_t d = 0; d < n + 2; ++d)
        at[d] = i[d] + skip[d];
      offsets.push_back(flat_index(at, from));
    });
    x = get_item(c, x, cropped, offsets);
  }
  if (!pads)
    return x;
  Shp inner(c.shape(x)), padded(inner), shift(n + 2, 0);
  for (size_t d = 0; d < n; ++d) {
    shift[d + 2] = std::max<int64_t>(0, begin[d]);
    padded[d + 2] += shift[d + 2] + std::max<int64_t>(0, end[d]);
  }
  check_table_size(c, padded);
  std::vector<int64_t> offsets;
  Shp at(n + 2);
  for_each_index(inner, [&](ArrayRef<int64_t> i) {
    for (size_t d = 0; d < n + 2; ++d)
      at[d] = i[d] + shift[d];
    offsets.push_back(flat_index(at, padded));
  });
  x = scatter(c, x, padded, offsets);
  if (fill == 0)
    return x;
  // The border: `fill` outside the copied block, 0 inside; (1, 1, S'...) broadcasts.
  Shp border_shape(padded);
  border_shape[0] = border_shape[1] = 1;
  std::vector<double> border;
  for_each_index(border_shape, [&](ArrayRef<int64_t> i) {
    bool inside = true;
    for (size_t d = 2; d < n + 2; ++d)
      inside &= i[d] >= shift[d] && i[d] < shift[d] + inner[d];
    border.push_back(inside ? 0 : fill);
  });
  return c.add(x, table(c, border, border_shape, x));
}

/// The kernel (A, B, K...) with its taps `dilation` apart: (A, B, (K - 1) dilation + 1 ...),
/// zeros between the taps.
Value dilate_kernel(NodeContext &c, Value w, ArrayRef<int64_t> dilation) {
  Shp from(c.shape(w)), to(from);
  for (size_t d = 0; d < dilation.size(); ++d)
    to[d + 2] = (from[d + 2] - 1) * dilation[d] + 1;
  if (to == from)
    return w;
  check_table_size(c, to);
  std::vector<int64_t> offsets;
  Shp at(from.size());
  for_each_index(from, [&](ArrayRef<int64_t> i) {
    for (size_t d = 0; d < from.size(); ++d)
      at[d] = d < 2 ? i[d] : i[d] * dilation[d - 2];
    offsets.push_back(flat_index(at, to));
  });
  return scatter(c, w, to, offsets);
}

// ---- window geometry ---------------------------------------------------------------------

/// A per-axis attribute (strides, dilations, output_padding), `dflt` on every axis when
/// absent.
Shp spatial_attr(NodeContext &c, const std::string &name, size_t n, int64_t dflt) {
  std::vector<int64_t> v = c.ints_attr(name).value_or(std::vector<int64_t>(n, dflt));
  if (v.size() != n)
    c.fail("'" + name + "' must have " + std::to_string(n) +
           " values (one per spatial axis), got " + std::to_string(v.size()));
  return Shp(v.begin(), v.end());
}

Windows windows(NodeContext &c, ArrayRef<int64_t> in, ArrayRef<int64_t> kernel) {
  const size_t n = in.size();
  Windows w;
  w.in.assign(in.begin(), in.end());
  w.kernel.assign(kernel.begin(), kernel.end());
  w.stride = spatial_attr(c, "strides", n, 1);
  w.dilation = spatial_attr(c, "dilations", n, 1);
  // Bounded so that the window arithmetic below cannot overflow.
  for (size_t d = 0; d < n; ++d)
    if (w.kernel[d] <= 0 || w.stride[d] <= 0 || w.dilation[d] <= 0 || w.kernel[d] > kMaxWindow ||
        w.stride[d] > kMaxWindow || w.dilation[d] > kMaxWindow)
      c.fail("kernel sizes, strides and dilations must be in [1, 2^24], got kernel " +
             dims_str(w.kernel) + ", strides " + dims_str(w.stride) + ", dilations " +
             dims_str(w.dilation));
  return w;
}

/// begin / end from auto_pad (SAME_UPPER puts the odd element at the end, SAME_LOWER in
/// front) or pads (all begins, then all ends).
void resolve_pads(NodeContext &c, Windows &w) {
  const size_t n = w.in.size();
  const std::string mode = c.string_attr("auto_pad", "NOTSET");
  w.begin.assign(n, 0);
  w.end.assign(n, 0);
  if (mode == "SAME_UPPER" || mode == "SAME_LOWER") {
    for (size_t d = 0; d < n; ++d) {
      const int64_t out = (w.in[d] + w.stride[d] - 1) / w.stride[d];
      const int64_t total = std::max<int64_t>(0, (out - 1) * w.stride[d] + w.span(d) - w.in[d]);
      const bool upper = mode == "SAME_UPPER";
      w.begin[d] = upper ? total / 2 : total - total / 2;
      w.end[d] = total - w.begin[d];
    }
  } else if (mode == "NOTSET") {
    std::vector<int64_t> pads = c.ints_attr("pads").value_or(std::vector<int64_t>(2 * n, 0));
    if (pads.size() != 2 * n)
      c.fail("'pads' must have " + std::to_string(2 * n) + " values (begins, then ends), got " +
             std::to_string(pads.size()));
    for (size_t d = 0; d < n; ++d) {
      if (pads[d] < 0 || pads[d + n] < 0 || pads[d] > kMaxWindow || pads[d + n] > kMaxWindow)
        c.fail("'pads' must be in [0, 2^24], got " + dims_str(pads));
      w.begin[d] = pads[d];
      w.end[d] = pads[d + n];
    }
  } else if (mode != "VALID") {
    c.fail("unknown auto_pad '" + mode + "' (NOTSET, SAME_UPPER, SAME_LOWER, VALID)");
  }
}

/// The number of windows per axis; with ceil_mode the last window may hang past the
/// padding (ONNX's rule, which does not drop a last window that starts past the input).
void resolve_out(NodeContext &c, Windows &w, bool ceil_mode) {
  w.out.clear();
  for (size_t d = 0; d < w.in.size(); ++d) {
    const int64_t room = w.in[d] + w.begin[d] + w.end[d] - w.span(d);
    if (room < 0)
      c.fail("the window " + dims_str(w.kernel) + " (dilations " + dims_str(w.dilation) +
             ") does not fit the padded input " + dims_str(w.in) + " on spatial axis " +
             std::to_string(d));
    w.out.push_back((ceil_mode ? room + w.stride[d] - 1 : room) / w.stride[d] + 1);
  }
}

bool all_zero(ArrayRef<int64_t> v) {
  return std::all_of(v.begin(), v.end(), [](int64_t e) { return e == 0; });
}
bool all_one(ArrayRef<int64_t> v) {
  return std::all_of(v.begin(), v.end(), [](int64_t e) { return e == 1; });
}

/// x (N, C, S...) as (N, C, 1, S) and back: 1-D windows run as 2-D ones.
Value lift_1d(NodeContext &c, Value x) {
  Shp s(c.shape(x));
  s.insert(s.begin() + 2, 1);
  return c.reshape(x, s);
}
Value lower_1d(NodeContext &c, Value y) {
  Shp s(c.shape(y));
  s.erase(s.begin() + 2);
  return c.reshape(y, s);
}

/// The windows of xp (N, C, P...), already padded so that window o's tap k reads
/// o stride + k dilation: (N, C, O..., K) with the taps last, one dz.get_item.
Value gather_windows(NodeContext &c, Value xp, const Windows &w) {
  const size_t n = w.in.size();
  ArrayRef<int64_t> from = c.shape(xp);
  Shp walk = {from[0], from[1]};
  walk.append(w.out.begin(), w.out.end());
  walk.append(w.kernel.begin(), w.kernel.end());
  check_table_size(c, walk);
  std::vector<int64_t> offsets;
  Shp at(n + 2);
  for_each_index(walk, [&](ArrayRef<int64_t> i) {
    at[0] = i[0];
    at[1] = i[1];
    for (size_t d = 0; d < n; ++d)
      at[d + 2] = i[d + 2] * w.stride[d] + i[d + 2 + n] * w.dilation[d];
    offsets.push_back(flat_index(at, from));
  });
  Shp shape = {from[0], from[1]};
  shape.append(w.out.begin(), w.out.end());
  shape.push_back(product(w.kernel));
  return get_item(c, xp, shape, offsets);
}

} // namespace dz::onnx::window
