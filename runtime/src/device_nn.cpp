// device_nn.cpp - NN kernels on a device from window tables (device_nn.h).
#include "device_nn.h"

#include "device_ops.h"

#include <array>
#include <limits>
#include <utility>

namespace dz::detail::device {

namespace {

/// The table of window_table, on the host.
Tensor window_offsets(const WindowGeom &g, WindowOrder order) {
  // Strides of (n, c, kh, kw, oh, ow) in the table's layout.
  const int64_t K = g.window(), P = g.out_plane();
  int64_t sN = 0, sC = 0, sKH = 0, sKW = 0, sOH = 0, sOW = 0;
  switch (order) {
  case WindowOrder::Col: // (N, C, KH, KW, OH, OW)
    sOW = 1, sOH = g.OW, sKW = P, sKH = g.KW * P, sC = K * P, sN = g.C * K * P;
    break;
  case WindowOrder::Matrix: // (N, OH, OW, C, KH, KW)
    sKW = 1, sKH = g.KW, sC = K, sOW = g.C * K, sOH = g.OW * g.C * K, sN = P * g.C * K;
    break;
  case WindowOrder::Pool: // (N, C, OH, OW, KH, KW)
    sKW = 1, sKH = g.KW, sOW = K, sOH = g.OW * K, sC = P * K, sN = g.C * P * K;
    break;
  }
  const int64_t pad_slot = g.N * g.C * g.plane();
  Tensor t({g.N * g.C * K * P}, i64);
  int64_t *p = t.data<int64_t>();
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t kh = 0; kh < g.KH; ++kh)
        for (int64_t kw = 0; kw < g.KW; ++kw)
          for (int64_t oh = 0; oh < g.OH; ++oh) {
            const int64_t h = oh * g.SH - g.PH + kh;
            for (int64_t ow = 0; ow < g.OW; ++ow) {
              const int64_t w = ow * g.SW - g.PW + kw;
              const bool inside = h >= 0 && h < g.H && w >= 0 && w < g.W;
              p[n * sN + c * sC + kh * sKH + kw * sKW + oh * sOH + ow * sOW] =
                  inside ? ((n * g.C + c) * g.H + h) * g.W + w : pad_slot;
            }
          }
  return t;
}

/// The offsets of every tap of every window of `g` in `order`, into x flattened with one
/// zero element appended (index N*C*H*W: the padding), as int64 on `dev`. Kept per
/// (geometry, order, device): a training loop builds each table once.
Tensor window_table(const WindowGeom &g, WindowOrder order, Device dev) {
  using Key = std::pair<std::array<int64_t, 12>, int>;
  static KeptOnDevice<Key> tables;
  const Key key{{g.N, g.C, g.H, g.W, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.OH, g.OW}, int(order)};
  return tables.get(key, dev, [&] { return window_offsets(g, order); });
}

} // namespace

Tensor window_gather(const Tensor &x, const WindowGeom &g, WindowOrder order) {
  const int64_t n = x.size();
  // x, then one zero element for the taps on the padding.
  Tensor ext({n + 1}, x.dtype(), x.device());
  copy_bytes(Tensor::on_storage(ext.storage(), 0, x.shape(), x.dtype()), x);
  Tensor last = Tensor::on_storage(ext.storage(), size_t(n) * dtype_size(x.dtype()), {}, x.dtype());
  fill(last, 0);
  Tensor table = window_table(g, order, x.device());
  Tensor y({table.size()}, x.dtype(), x.device());
  if (y.size())
    device_backend(x.device()).gather(y.raw(), ext.raw(), x.dtype(), table.raw(), y.size());
  return y;
}

Tensor window_scatter(const Tensor &taps, const WindowGeom &g, WindowOrder order) {
  const int64_t n = g.N * g.C * g.plane();
  Tensor table = window_table(g, order, taps.device());
  if (taps.size() != table.size())
    throw Error("internal: window_scatter of " + std::to_string(taps.size()) + " taps into " +
                std::to_string(table.size()));
  Tensor ext({n + 1}, taps.dtype(), taps.device());
  fill(ext, 0);
  if (taps.size())
    device_backend(taps.device())
        .scatter_add(ext.raw(), taps.raw(), taps.dtype(), table.raw(), taps.size());
  return Tensor::on_storage(ext.storage(), 0, {g.N, g.C, g.H, g.W}, taps.dtype());
}

Tensor conv2d(const Tensor &x, const Tensor &W, const Tensor *b, const WindowGeom &g) {
  const int64_t OC = W.shape(0);
  Tensor col = window_gather(x, g, WindowOrder::Matrix).reshape({g.N * g.out_plane(), -1});
  Tensor y = dz::matmul(col, W.reshape({OC, -1}), false, true); // (N*OH*OW, OC)
  y = y.reshape({g.N, g.OH, g.OW, OC}).transpose({0, 3, 1, 2});
  if (b)
    y = y + b->to(y.dtype()).reshape({1, OC, 1, 1});
  return y;
}

Tensor conv2d_grad_w(const Tensor &x, const Tensor &gy, const WindowGeom &g) {
  const int64_t OC = gy.shape(1);
  Tensor col = window_gather(x, g, WindowOrder::Matrix).reshape({g.N * g.out_plane(), -1});
  Tensor g2 = gy.transpose({0, 2, 3, 1}).reshape({g.N * g.out_plane(), OC});
  return dz::matmul(g2, col, true, false).reshape({OC, g.C, g.KH, g.KW});
}

Tensor deconv2d(const Tensor &x, const Tensor &W, const Tensor *b, const WindowGeom &gy) {
  // DeZero: gcol = tensordot(W, x) as (N, OC, KH, KW, H, W), then col2im to y. Here the
  // taps are made in im2col's matrix order (N, H, W, OC, KH, KW) by one GEMM and added
  // back through y's window table.
  const int64_t N = x.shape(0), C = x.shape(1), H = x.shape(2), Wd = x.shape(3);
  const int64_t OC = W.shape(1);
  Tensor x2 = x.transpose({0, 2, 3, 1}).reshape({N * H * Wd, C});
  Tensor taps = dz::matmul(x2, W.reshape({C, -1}), false, false); // (N*H*W, OC*KH*KW)
  Tensor y = window_scatter(taps, gy, WindowOrder::Matrix);
  if (b)
    y = y + b->to(y.dtype()).reshape({1, OC, 1, 1});
  return y;
}

namespace {
Shape pool_windows(const WindowGeom &g) { return {g.N, g.C, g.OH, g.OW, g.window()}; }

/// Whether each tap of the pooling windows is the one `indexes` names.
Tensor chosen(const Tensor &indexes, const WindowGeom &g, Device dev) {
  Tensor k = on(arange(0, double(g.window()), 1, i64), dev);
  return indexes.to(i64).reshape({g.N, g.C, g.OH, g.OW, 1}) == k;
}
} // namespace

namespace {
/// 0 for the taps of the pooling windows inside the image, -inf for those on the padding:
/// added to the gathered windows, so the padding never wins a maximum.
Tensor padding_mask(const WindowGeom &g, DType dt, Device dev) {
  Tensor m({1, 1, g.OH, g.OW, g.window()}, f64);
  double *p = m.data<double>();
  for (int64_t oh = 0; oh < g.OH; ++oh)
    for (int64_t ow = 0; ow < g.OW; ++ow)
      for (int64_t k = 0; k < g.window(); ++k) {
        const int64_t h = oh * g.SH - g.PH + k / g.KW, w = ow * g.SW - g.PW + k % g.KW;
        *p++ =
            h >= 0 && h < g.H && w >= 0 && w < g.W ? 0.0 : -std::numeric_limits<double>::infinity();
      }
  return on(m.to(dt), dev);
}
} // namespace

MaxPoolResult max_pool2d(const Tensor &x, const WindowGeom &g) {
  Tensor win = window_gather(x, g, WindowOrder::Pool).reshape(pool_windows(g));
  if (g.PH || g.PW)
    win = win + padding_mask(g, x.dtype(), x.device());
  return {win.max({4}), win.argmax(4)};
}

Tensor max_pool2d_gather(const Tensor &x, const Tensor &indexes, const WindowGeom &g) {
  Tensor win = window_gather(x, g, WindowOrder::Pool).reshape(pool_windows(g));
  return where(chosen(indexes, g, x.device()), win, Tensor::scalar(0, x.dtype())).sum({4});
}

Tensor max_pool2d_grad(const Tensor &gy, const Tensor &indexes, const WindowGeom &g) {
  Tensor taps = where(chosen(indexes, g, gy.device()), gy.reshape({g.N, g.C, g.OH, g.OW, 1}),
                      Tensor::scalar(0, gy.dtype()));
  return window_scatter(taps, g, WindowOrder::Pool);
}

Tensor avg_pool2d(const Tensor &x, const WindowGeom &g) {
  Tensor win = window_gather(x, g, WindowOrder::Pool).reshape(pool_windows(g));
  return win.sum({4}) / double(g.window());
}

Tensor avg_pool2d_grad(const Tensor &gy, const WindowGeom &g) {
  Tensor taps = (gy / double(g.window())).reshape({g.N, g.C, g.OH, g.OW, 1});
  return window_scatter(taps.broadcast_to(pool_windows(g)), g, WindowOrder::Pool);
}

} // namespace dz::detail::device
