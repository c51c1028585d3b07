// WindowConv.cpp - Conv and ConvTranspose of any rank, padding, dilation and group (the
// plan in WindowOps.cpp's header).
#include "WindowOps.h"

#include <algorithm>

namespace dz::onnx {

namespace {

using namespace window;

// ---- convolution -------------------------------------------------------------------------

/// Conv of `group` groups as dz.im2col + one batched dz.matmul: the columns
/// (N, g, C/g KH KW, OH OW) times the kernel (g, M/g, C/g KH KW).
Value grouped_conv2d(NodeContext &c, Value x, Value w, int64_t group, ArrayRef<int64_t> stride,
                     ArrayRef<int64_t> pad) {
  auto attr = [&](ArrayRef<int64_t> v) { return c.b.getDenseI64ArrayAttr(v); };
  ArrayRef<int64_t> ws = c.shape(w);
  Value cols = c.make<ir::Im2colOp>(x, attr(ws.drop_front(2)), attr(stride), attr(pad),
                                    c.b.getBoolAttr(false));
  ArrayRef<int64_t> cs = c.shape(cols); // (N, C, KH, KW, OH, OW)
  const int64_t m = ws[0], taps = ws[1] * ws[2] * ws[3];
  cols = c.reshape(cols, {cs[0], group, taps, cs[4] * cs[5]});
  Value y = c.make<ir::MatmulOp>(c.reshape(w, {group, m / group, taps}), cols,
                                 c.b.getBoolAttr(false), c.b.getBoolAttr(false));
  return c.reshape(y, {cs[0], m, cs[4], cs[5]});
}

/// Conv of 3 or more spatial axes: the windows of the padded x gathered as columns
/// (N, g, C/g K, O), times the kernel (g, M/g, C/g K).
Value conv_nd(NodeContext &c, Value x, Value w, int64_t group, const Windows &win) {
  const size_t n = win.in.size();
  Value xp = reframe(c, x, win.begin, win.reach(), 0);
  ArrayRef<int64_t> from = c.shape(xp);
  const int64_t cg = c.shape(w)[1], m = c.shape(w)[0];
  Shp walk = {from[0], group, cg};
  walk.append(win.kernel.begin(), win.kernel.end());
  walk.append(win.out.begin(), win.out.end());
  check_table_size(c, walk);
  std::vector<int64_t> offsets;
  Shp at(n + 2);
  for_each_index(walk, [&](ArrayRef<int64_t> i) {
    at[0] = i[0];
    at[1] = i[1] * cg + i[2];
    for (size_t d = 0; d < n; ++d)
      at[d + 2] = i[d + 3 + n] * win.stride[d] + i[d + 3] * win.dilation[d];
    offsets.push_back(flat_index(at, from));
  });
  const int64_t taps = cg * product(win.kernel), positions = product(win.out);
  Value cols = get_item(c, xp, {from[0], group, taps, positions}, offsets);
  Value y = c.make<ir::MatmulOp>(c.reshape(w, {group, m / group, taps}), cols,
                                 c.b.getBoolAttr(false), c.b.getBoolAttr(false));
  Shp out = {from[0], m};
  out.append(win.out.begin(), win.out.end());
  return c.reshape(y, out);
}

/// The bias (M) added over (N, M, S...).
Value add_bias(NodeContext &c, Value y, Value bias) {
  if (!bias)
    return y;
  Shp s(size_t(c.rank(y) - 1), 1);
  s[0] = c.shape(y)[1];
  return c.add(y, c.reshape(bias, s));
}

/// kernel_shape, when given, must be the kernel's.
void check_kernel_shape(NodeContext &c, ArrayRef<int64_t> kernel) {
  if (std::optional<std::vector<int64_t>> k = c.ints_attr("kernel_shape"))
    if (!std::equal(k->begin(), k->end(), kernel.begin(), kernel.end()))
      c.fail("'kernel_shape' " + dims_str(*k) + " differs from the weights' " + dims_str(kernel));
}

Value conv(NodeContext &c) {
  Value x = c.in(0), w = c.in(1), bias = c.has(2) ? c.in(2) : Value();
  c.require_float(x);
  const int64_t r = c.rank(x);
  if (r < 3 || c.rank(w) != r)
    c.fail("the input must be (N, C, D1, ...) and the weights (M, C/group, k1, ...) of the same "
           "rank, got " +
           dims_str(c.shape(x)) + " and " + dims_str(c.shape(w)));
  const int64_t group = c.int_attr("group", 1), channels = c.shape(x)[1], m = c.shape(w)[0];
  if (group < 1 || channels % group || m % group || c.shape(w)[1] * group != channels)
    c.fail("group " + std::to_string(group) + " does not fit input channels " +
           std::to_string(channels) + " and weights " + dims_str(c.shape(w)) +
           " (C and M divisible by group, weights (M, C/group, ...))");
  const size_t n = size_t(r - 2);
  check_kernel_shape(c, c.shape(w).drop_front(2));
  Windows win = windows(c, c.shape(x).drop_front(2), c.shape(w).drop_front(2));
  resolve_pads(c, win);
  resolve_out(c, win, false);
  if (n > 2)
    return add_bias(c, conv_nd(c, x, w, group, win), bias);
  if (n == 1) {
    win.lift();
    x = lift_1d(c, x);
    w = lift_1d(c, w);
  }
  w = dilate_kernel(c, w, win.dilation);
  Shp pad = win.begin;
  if (win.begin != win.end) { // dz pads both sides equally: pad x explicitly
    x = reframe(c, x, win.begin, win.reach(), 0);
    pad = {0, 0};
  }
  Value y = group == 1 ? c.make<ir::Conv2dOp>(x, w, bias, c.b.getDenseI64ArrayAttr(win.stride),
                                              c.b.getDenseI64ArrayAttr(pad))
                       : add_bias(c, grouped_conv2d(c, x, w, group, win.stride, pad), bias);
  return n == 1 ? lower_1d(c, y) : y;
}

/// The grouped ConvTranspose kernel (C, M/g, K...) as the dense block-diagonal (C, M, K...)
/// of one group.
Value block_diagonal(NodeContext &c, Value w, int64_t group) {
  Shp from(c.shape(w)), to(from);
  const int64_t cg = from[0] / group, mg = from[1];
  to[1] = mg * group;
  check_table_size(c, to);
  std::vector<int64_t> offsets;
  Shp at(from.size());
  for_each_index(from, [&](ArrayRef<int64_t> i) {
    at.assign(i.begin(), i.end());
    at[1] = i[0] / cg * mg + i[1];
    offsets.push_back(flat_index(at, to));
  });
  return scatter(c, w, to, offsets);
}

/// ConvTranspose of any rank before cropping: the kernel (C, M, K) times x (N, C, I) gives
/// (N, M, K, I), each scattered to position i stride + k dilation (repeats accumulate).
Value deconv_nd(NodeContext &c, Value x, Value w, const Windows &win, ArrayRef<int64_t> full) {
  const size_t n = win.in.size();
  const int64_t batch = c.shape(x)[0], channels = c.shape(x)[1], m = c.shape(w)[1];
  const int64_t taps = product(win.kernel), inputs = product(win.in);
  Value cols = c.make<ir::MatmulOp>(c.reshape(w, {channels, m * taps}),
                                    c.reshape(x, {batch, channels, inputs}), c.b.getBoolAttr(true),
                                    c.b.getBoolAttr(false));
  Shp to = {batch, m};
  to.append(full.begin(), full.end());
  Shp walk = {batch, m};
  walk.append(win.kernel.begin(), win.kernel.end());
  walk.append(win.in.begin(), win.in.end());
  check_table_size(c, walk);
  std::vector<int64_t> offsets;
  Shp at(n + 2);
  for_each_index(walk, [&](ArrayRef<int64_t> i) {
    at[0] = i[0];
    at[1] = i[1];
    for (size_t d = 0; d < n; ++d)
      at[d + 2] = i[d + 2 + n] * win.stride[d] + i[d + 2] * win.dilation[d];
    offsets.push_back(flat_index(at, to));
  });
  return scatter(c, cols, to, offsets);
}

/// floor(a / 2) for negative a too.
int64_t half_down(int64_t a) { return a >= 0 ? a / 2 : -((-a + 1) / 2); }

/// ConvTranspose: the full output stride (I - 1) + output_padding + span, cropped by the
/// pads (or grown, for an output_shape larger than it) and the bias added.
Value conv_transpose(NodeContext &c) {
  Value x = c.in(0), w = c.in(1), bias = c.has(2) ? c.in(2) : Value();
  c.require_float(x);
  const int64_t r = c.rank(x);
  if (r < 3 || c.rank(w) != r)
    c.fail("the input must be (N, C, D1, ...) and the weights (C, M/group, k1, ...) of the same "
           "rank, got " +
           dims_str(c.shape(x)) + " and " + dims_str(c.shape(w)));
  const int64_t group = c.int_attr("group", 1), channels = c.shape(x)[1];
  if (group < 1 || channels % group || c.shape(w)[0] != channels)
    c.fail("group " + std::to_string(group) + " does not fit input channels " +
           std::to_string(channels) + " and weights " + dims_str(c.shape(w)) +
           " (C divisible by group, weights (C, M/group, ...))");
  const size_t n = size_t(r - 2);
  check_kernel_shape(c, c.shape(w).drop_front(2));
  Windows win = windows(c, c.shape(x).drop_front(2), c.shape(w).drop_front(2));
  const Shp extra = spatial_attr(c, "output_padding", n, 0);
  const std::optional<std::vector<int64_t>> output_shape = c.ints_attr("output_shape");
  const std::string mode = c.string_attr("auto_pad", "NOTSET");
  if (output_shape && output_shape->size() < n)
    c.fail("'output_shape' must give the " + std::to_string(n) + " spatial dimensions");
  Shp full(n);
  win.begin.assign(n, 0);
  win.end.assign(n, 0);
  if (!output_shape && mode != "SAME_UPPER" && mode != "SAME_LOWER")
    resolve_pads(c, win);
  for (size_t d = 0; d < n; ++d) {
    if (extra[d] < 0 || extra[d] >= std::max(win.stride[d], win.dilation[d]))
      c.fail("output_padding must be in [0, max(stride, dilation)), got " + dims_str(extra));
    full[d] = win.stride[d] * (win.in[d] - 1) + extra[d] + win.span(d);
    if (output_shape || mode == "SAME_UPPER" || mode == "SAME_LOWER") {
      // ONNX's total padding for a requested size; negative grows the output.
      const int64_t target =
          output_shape ? (*output_shape)[output_shape->size() - n + d] : win.in[d] * win.stride[d];
      const int64_t total = full[d] - target;
      win.begin[d] = mode == "SAME_UPPER" ? half_down(total) : total - half_down(total);
      win.end[d] = total - win.begin[d];
    }
    if (full[d] - win.begin[d] - win.end[d] <= 0)
      c.fail("the pads " + dims_str(win.begin) + " / " + dims_str(win.end) +
             " leave no output of the full size " + std::to_string(full[d]));
  }
  if (group > 1)
    w = block_diagonal(c, w, group);
  auto crop = [&](Value y) {
    Shp b, e;
    for (size_t d = 0; d < win.begin.size(); ++d) {
      b.push_back(-win.begin[d]);
      e.push_back(-win.end[d]);
    }
    return add_bias(c, reframe(c, y, b, e, 0), bias);
  };
  if (n > 2)
    return crop(deconv_nd(c, x, w, win, full));
  if (n == 1) {
    win.lift();
    full.insert(full.begin(), 1);
    x = lift_1d(c, x);
    w = lift_1d(c, w);
  }
  w = dilate_kernel(c, w, win.dilation);
  auto attr = [&](ArrayRef<int64_t> v) { return c.b.getDenseI64ArrayAttr(v); };
  Value y;
  const bool symmetric = win.begin == win.end && std::all_of(win.begin.begin(), win.begin.end(),
                                                             [](int64_t p) { return p >= 0; });
  if (symmetric) {
    Shp out;
    for (size_t d = 0; d < 2; ++d)
      out.push_back(full[d] - 2 * win.begin[d]);
    y = c.make<ir::Deconv2dOp>(x, w, bias, attr(win.stride), attr(win.begin), attr(out));
  } else {
    y = crop(c.make<ir::Deconv2dOp>(x, w, Value(), attr(win.stride), attr({0, 0}), attr(full)));
  }
  return n == 1 ? lower_1d(c, y) : y;
}

} // namespace

namespace window_ops {
Value conv(NodeContext &c) { return onnx::conv(c); }
Value conv_transpose(NodeContext &c) { return onnx::conv_transpose(c); }
} // namespace window_ops

} // namespace dz::onnx
