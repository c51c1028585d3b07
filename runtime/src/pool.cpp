// pool.cpp - max and average pooling over NCHW images and their gradients, one channel
// plane per OpenMP iteration. Average pooling reads windows as DeZero's im2col does: taps
// on the padding are zeros and count in the mean. Max pooling never takes the padding
// (it is -inf, as in PyTorch and ONNX's MaxPool), and a NaN in a window is its maximum.
#include "device_nn.h"
#include "device_ops.h"
#include "nn_geom.h"

#include <limits>

namespace dz {

using namespace detail;

namespace {

/// Checks that gy (and indexes) have the pooled shape of x_shape.
void check_pooled(const char *op, const Tensor &gy, const WindowGeom &g, const Shape &x_shape) {
  Shape want{g.N, g.C, g.OH, g.OW};
  if (gy.shape() != want)
    throw Error(std::string(op) + ": tensor of shape " + shape_str(gy.shape()) +
                " does not fit input " + shape_str(x_shape) + " pooled " + size2_str({g.KH, g.KW}) +
                " (expected " + shape_str(want) + ")");
}

void check_indexes(const char *op, const Tensor &indexes, const WindowGeom &g,
                   const Shape &x_shape) {
  check_pooled(op, indexes, g, x_shape);
  if (indexes.dtype() != i64)
    throw Error(std::string(op) + ": indexes must be int64, got " + dtype_name(indexes.dtype()));
  if (!indexes.device().is_cpu())
    return; // the range is not checked on a device (that would copy the indexes back)
  const int64_t *p = indexes.data<int64_t>();
  for (int64_t i = 0; i < indexes.size(); ++i)
    if (p[i] < 0 || p[i] >= g.window())
      throw Error(std::string(op) + ": index " + std::to_string(p[i]) + " is outside a window of " +
                  std::to_string(g.window()) + " taps");
}

/// Row and column of window (oh, ow)'s tap k in the unpadded plane.
struct Tap {
  int64_t ih, iw;
  bool inside;
};
inline Tap tap(const WindowGeom &g, int64_t oh, int64_t ow, int64_t k) {
  int64_t ih = oh * g.SH - g.PH + k / g.KW, iw = ow * g.SW - g.PW + k % g.KW;
  return {ih, iw, ih >= 0 && ih < g.H && iw >= 0 && iw < g.W};
}

/// The common 2x2 window of stride 2 without padding, which has a path of its own: one
/// pass over each output row.
bool is_2x2_stride_2(const WindowGeom &g) {
  return g.KH == 2 && g.KW == 2 && g.SH == 2 && g.SW == 2 && g.PH == 0 && g.PW == 0;
}

template <typename T> struct WindowMax {
  T value;
  int64_t index; // the tap, kh * 2 + kw
};

/// Whether tap value v replaces the window's maximum so far: a larger value (the first of
/// tied maxima stays) or a NaN (NaN propagates, as in NumPy's max).
template <typename T> inline bool takes(T v, T best) { return v > best || v != v; }

/// The maximum of window ow of the row pair (r0, r1) and its tap, the taps in the order of
/// the general loops (the first maximum wins; ties and NaNs come out the same), as selects.
template <typename T> inline WindowMax<T> max_2x2(const T *r0, const T *r1, int64_t ow) {
  T best = r0[2 * ow];
  int64_t arg = 0;
  const T v1 = r0[2 * ow + 1], v2 = r1[2 * ow], v3 = r1[2 * ow + 1];
  const bool t1 = takes(v1, best);
  arg = t1 ? 1 : arg;
  best = t1 ? v1 : best;
  const bool t2 = takes(v2, best);
  arg = t2 ? 2 : arg;
  best = t2 ? v2 : best;
  const bool t3 = takes(v3, best);
  arg = t3 ? 3 : arg;
  best = t3 ? v3 : best;
  return {best, arg};
}

} // namespace

MaxPoolResult max_pool2d(const Tensor &x, Size2 kernel, Size2 stride, Size2 pad) {
  WindowGeom g = make_geom("pooling", x.shape(), kernel, stride, pad);
  DType dt = float_operands("pooling", {{"x", &x}});
  if (!x.device().is_cpu())
    return device::max_pool2d(x, g);
  Tensor y({g.N, g.C, g.OH, g.OW}, dt), idx({g.N, g.C, g.OH, g.OW}, i64);
  visit_float(dt, "pooling", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *px = x.data<T>();
    T *py = y.data<T>();
    int64_t *pi = idx.data<int64_t>();
    parallel_for(g.N * g.C, x.size() + y.size() * g.window(), [&](int64_t nc) {
      // The geometry in locals of the body: the stores through py / pi could alias g's
      // fields (or the closure's), which made the compiler reload them for every tap.
      const int64_t KH = g.KH, KW = g.KW, SH = g.SH, SW = g.SW, PH = g.PH, PW = g.PW, H = g.H,
                    W = g.W, OH = g.OH, OW = g.OW;
      const T *xp = px + nc * g.plane();
      T *yp = py;
      int64_t *ip = pi;
      int64_t o = nc * g.out_plane();
      if (is_2x2_stride_2(g)) {
        for (int64_t oh = 0; oh < OH; ++oh) {
          const T *r0 = xp + 2 * oh * W, *r1 = r0 + W;
          T *yr = yp + o + oh * OW;
          int64_t *ir = ip + o + oh * OW;
          for (int64_t ow = 0; ow < OW; ++ow) {
            const WindowMax<T> m = max_2x2(r0, r1, ow);
            yr[ow] = m.value;
            ir[ow] = m.index;
          }
        }
        return;
      }
      if (PH == 0 && PW == 0 && (OH - 1) * SH + KH <= H && (OW - 1) * SW + KW <= W) {
        // Every tap inside the plane (no padding): no bounds checks.
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow, ++o) {
            const T *window = xp + oh * SH * W + ow * SW;
            T best = window[0];
            int64_t arg = 0;
            for (int64_t kh = 0, k = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw, ++k) {
                const T v = window[kh * W + kw];
                const bool take = takes(v, best);
                best = take ? v : best;
                arg = take ? k : arg;
              }
            yp[o] = best;
            ip[o] = arg;
          }
        return;
      }
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow, ++o) {
          // Taps in window order k = kh * KW + kw; taps on the padding never count (a
          // window wholly on the padding, possible when pad >= kernel, gives -inf).
          T best = -std::numeric_limits<T>::infinity();
          int64_t arg = -1;
          for (int64_t kh = 0, k = 0; kh < KH; ++kh) {
            const int64_t ih = oh * SH - PH + kh;
            if (ih < 0 || ih >= H) {
              k += KW;
              continue;
            }
            for (int64_t kw = 0; kw < KW; ++kw, ++k) {
              const int64_t iw = ow * SW - PW + kw;
              if (iw < 0 || iw >= W)
                continue;
              const T v = xp[ih * W + iw];
              const bool take = arg < 0 || takes(v, best); // as selects
              best = take ? v : best;
              arg = take ? k : arg;
            }
          }
          arg = arg < 0 ? 0 : arg; // no tap inside: a padding tap, which takes no gradient
          yp[o] = best;
          ip[o] = arg;
        }
    });
  });
  return {y, idx};
}

Tensor max_pool2d_values(const Tensor &x, Size2 kernel, Size2 stride, Size2 pad) {
  WindowGeom g = make_geom("pooling", x.shape(), kernel, stride, pad);
  DType dt = float_operands("pooling", {{"x", &x}});
  if (!x.device().is_cpu())
    return device::max_pool2d(x, g).y;
  Tensor y({g.N, g.C, g.OH, g.OW}, dt);
  visit_float(dt, "pooling", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *px = x.data<T>();
    T *py = y.data<T>();
    parallel_for(g.N * g.C, x.size() + y.size() * g.window(), [&](int64_t nc) {
      const int64_t KH = g.KH, KW = g.KW, SH = g.SH, SW = g.SW, PH = g.PH, PW = g.PW, H = g.H,
                    W = g.W, OH = g.OH, OW = g.OW;
      const T *xp = px + nc * g.plane();
      T *yp = py + nc * g.out_plane();
      if (is_2x2_stride_2(g)) {
        for (int64_t oh = 0; oh < OH; ++oh) {
          const T *r0 = xp + 2 * oh * W, *r1 = r0 + W;
          T *row = yp + oh * OW;
          for (int64_t ow = 0; ow < OW; ++ow)
            row[ow] = max_2x2(r0, r1, ow).value; // the unused index folds away
        }
        return;
      }
      // Output columns whose taps all fall inside the plane's columns: [ow_lo, ow_hi).
      const int64_t ow_lo = std::min(OW, (PW + SW - 1) / SW);
      const int64_t span = W + PW - KW; // the last column a window may start at, padded
      const int64_t ow_hi = span < 0 ? ow_lo : std::max(ow_lo, std::min(OW, span / SW + 1));
      for (int64_t oh = 0; oh < OH; ++oh) {
        T *row = yp + oh * OW;
        for (int64_t kh = 0; kh < KH; ++kh) {
          const int64_t ih = oh * SH - PH + kh;
          const bool inside = ih >= 0 && ih < H;
          const T *xr = xp + (inside ? ih * W : 0);
          for (int64_t kw = 0; kw < KW; ++kw) {
            const bool first = kh == 0 && kw == 0;
            // Taps on the padding are -inf, as in max_pool2d: they never win.
            auto at = [&](int64_t ow) {
              const int64_t iw = ow * SW - PW + kw;
              return inside && iw >= 0 && iw < W ? xr[iw] : -std::numeric_limits<T>::infinity();
            };
            auto take = [&](int64_t ow) {
              const T v = at(ow);
              row[ow] = first || takes(v, row[ow]) ? v : row[ow];
            };
            for (int64_t ow = 0; ow < ow_lo; ++ow)
              take(ow);
            if (inside) {
              const int64_t shift = kw - PW; // column of window ow's tap: ow * SW + shift
              if (first)
                for (int64_t ow = ow_lo; ow < ow_hi; ++ow)
                  row[ow] = xr[ow * SW + shift];
              else
                for (int64_t ow = ow_lo; ow < ow_hi; ++ow)
                  row[ow] = takes(xr[ow * SW + shift], row[ow]) ? xr[ow * SW + shift] : row[ow];
            } else if (first) {
              for (int64_t ow = ow_lo; ow < ow_hi; ++ow)
                row[ow] = -std::numeric_limits<T>::infinity();
            }
            for (int64_t ow = ow_hi; ow < OW; ++ow)
              take(ow);
          }
        }
      }
    });
  });
  return y;
}

Tensor max_pool2d_gather(const Tensor &x, const Tensor &indexes, Size2 kernel, Size2 stride,
                         Size2 pad) {
  WindowGeom g = make_geom("pooling_with_indexes", x.shape(), kernel, stride, pad);
  check_indexes("pooling_with_indexes", indexes, g, x.shape());
  DType dt = float_operands("pooling_with_indexes", {{"x", &x}});
  if (device::op_device("pooling_with_indexes", {&x, &indexes}) != Device::cpu())
    return device::max_pool2d_gather(x, indexes, g);
  Tensor y({g.N, g.C, g.OH, g.OW}, dt);
  visit_float(dt, "pooling_with_indexes", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *px = x.data<T>();
    const int64_t *pi = indexes.data<int64_t>();
    T *py = y.data<T>();
    parallel_for(g.N * g.C, x.size() + y.size(), [&](int64_t nc) {
      int64_t p = nc * g.out_plane();
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow, ++p) {
          Tap t = tap(g, oh, ow, pi[p]);
          py[p] = t.inside ? px[nc * g.plane() + t.ih * g.W + t.iw] : T(0);
        }
    });
  });
  return y;
}

Tensor max_pool2d_grad(const Tensor &gy, const Tensor &indexes, const Shape &x_shape, Size2 kernel,
                       Size2 stride, Size2 pad) {
  WindowGeom g = make_geom("pooling_grad", x_shape, kernel, stride, pad);
  check_pooled("pooling_grad", gy, g, x_shape);
  check_indexes("pooling_grad", indexes, g, x_shape);
  DType dt = float_operands("pooling_grad", {{"gy", &gy}});
  if (device::op_device("pooling_grad", {&gy, &indexes}) != Device::cpu())
    return device::max_pool2d_grad(gy, indexes, g);
  Tensor gx = zeros(x_shape, dt);
  visit_float(dt, "pooling_grad", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *pg = gy.data<T>();
    const int64_t *pi = indexes.data<int64_t>();
    T *px = gx.data<T>();
    parallel_for(g.N * g.C, gx.size() + gy.size(), [&](int64_t nc) {
      int64_t p = nc * g.out_plane();
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow, ++p) {
          Tap t = tap(g, oh, ow, pi[p]);
          if (t.inside)
            px[nc * g.plane() + t.ih * g.W + t.iw] += pg[p];
        }
    });
  });
  return gx;
}

Tensor avg_pool2d(const Tensor &x, Size2 kernel, Size2 stride, Size2 pad) {
  WindowGeom g = make_geom("average_pooling", x.shape(), kernel, stride, pad);
  DType dt = float_operands("average_pooling", {{"x", &x}});
  if (!x.device().is_cpu())
    return device::avg_pool2d(x, g);
  Tensor y({g.N, g.C, g.OH, g.OW}, dt);
  visit_float(dt, "average_pooling", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *px = x.data<T>();
    T *py = y.data<T>();
    const T scale = T(1) / T(g.window());
    parallel_for(g.N * g.C, x.size() + y.size() * g.window(), [&](int64_t nc) {
      const T *xp = px + nc * g.plane();
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          T s = T(0);
          for (int64_t k = 0; k < g.window(); ++k) {
            Tap t = tap(g, oh, ow, k);
            if (t.inside)
              s += xp[t.ih * g.W + t.iw];
          }
          py[nc * g.out_plane() + oh * g.OW + ow] = s * scale;
        }
    });
  });
  return y;
}

Tensor avg_pool2d_grad(const Tensor &gy, const Shape &x_shape, Size2 kernel, Size2 stride,
                       Size2 pad) {
  WindowGeom g = make_geom("average_pooling_grad", x_shape, kernel, stride, pad);
  check_pooled("average_pooling_grad", gy, g, x_shape);
  DType dt = float_operands("average_pooling_grad", {{"gy", &gy}});
  if (!gy.device().is_cpu())
    return device::avg_pool2d_grad(gy, g);
  Tensor gx = zeros(x_shape, dt);
  visit_float(dt, "average_pooling_grad", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *pg = gy.data<T>();
    T *px = gx.data<T>();
    const T scale = T(1) / T(g.window());
    parallel_for(g.N * g.C, gx.size() + gy.size() * g.window(), [&](int64_t nc) {
      T *xp = px + nc * g.plane();
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          T v = pg[nc * g.out_plane() + oh * g.OW + ow] * scale;
          for (int64_t k = 0; k < g.window(); ++k) {
            Tap t = tap(g, oh, ow, k);
            if (t.inside)
              xp[t.ih * g.W + t.iw] += v;
          }
        }
    });
  });
  return gx;
}

} // namespace dz
