// nn_geom.h - internal: the geometry of a sliding window over NCHW images, shared by the
// convolution (conv.cpp) and pooling (pool.cpp) kernels. Not installed.
#pragma once

#include "kernels.h"

#include <dzc/nn_kernels.h>

#include <algorithm>
#include <initializer_list>
#include <string>

namespace dz::detail {

/// An image (N, C, H, W) seen through KH x KW windows with stride and zero padding;
/// (OH, OW) is the grid of window positions.
struct WindowGeom {
  int64_t N, C, H, W, KH, KW, SH, SW, PH, PW, OH, OW;
  int64_t plane() const { return H * W; }
  int64_t out_plane() const { return OH * OW; }
  int64_t window() const { return KH * KW; }
};

inline std::string size2_str(Size2 s) { return std::to_string(s.h) + "x" + std::to_string(s.w); }

/// Checks kernel/stride/pad and that the window fits the padded image; throws naming op.
inline WindowGeom make_geom(const char *op, const Shape &x_shape, Size2 kernel, Size2 stride,
                            Size2 pad) {
  if (x_shape.size() != 4)
    throw Error(std::string(op) + ": input must be 4-d (N, C, H, W), got shape " +
                shape_str(x_shape));
  if (kernel.h < 1 || kernel.w < 1 || stride.h < 1 || stride.w < 1 || pad.h < 0 || pad.w < 0)
    throw Error(std::string(op) + ": kernel " + size2_str(kernel) + ", stride " +
                size2_str(stride) + ", pad " + size2_str(pad) +
                " are invalid (need kernel >= 1, stride >= 1, pad >= 0)");
  WindowGeom g{x_shape[0], x_shape[1], x_shape[2], x_shape[3], kernel.h, kernel.w,
               stride.h,   stride.w,   pad.h,      pad.w,      0,        0};
  if (g.H + 2 * g.PH < g.KH || g.W + 2 * g.PW < g.KW)
    throw Error(std::string(op) + ": kernel " + size2_str(kernel) +
                " is larger than the padded input " + std::to_string(g.H + 2 * g.PH) + "x" +
                std::to_string(g.W + 2 * g.PW) + " (input " + shape_str(x_shape) + ", pad " +
                size2_str(pad) + ")");
  g.OH = get_conv_outsize(g.H, g.KH, g.SH, g.PH);
  g.OW = get_conv_outsize(g.W, g.KW, g.SW, g.PW);
  return g;
}

/// The window positions o in [lo, hi) of [0, O) whose tap k reads inside [0, L):
/// 0 <= o S - P + k < L.
inline void valid_range(int64_t O, int64_t S, int64_t P, int64_t k, int64_t L, int64_t &lo,
                        int64_t &hi) {
  int64_t a = P - k, b = L + P - k;
  lo = a <= 0 ? 0 : (a + S - 1) / S;
  hi = b <= 0 ? 0 : (b + S - 1) / S;
  lo = std::min(lo, O);
  hi = std::clamp(hi, lo, O);
}

/// The common float dtype of the operands (float32 or float64); other dtypes throw.
inline DType float_operands(const char *op,
                            std::initializer_list<std::pair<const char *, const Tensor *>> ts) {
  DType dt = f32;
  bool first = true;
  for (auto [name, t] : ts) {
    if (!t)
      continue;
    if (!is_floating(t->dtype()))
      throw Error(std::string(op) + ": " + name + " has dtype " + dtype_name(t->dtype()) +
                  "; expected float32 or float64");
    dt = first ? t->dtype() : promote(dt, t->dtype());
    first = false;
  }
  return dt;
}

/// Runs body(i) for i in [0, n) on the OpenMP team when `work` elements justify waking it.
template <typename Body> void parallel_for(int64_t n, int64_t work, Body &&body) {
#pragma omp parallel for schedule(static) if (work > kParallelGrain && n > 1)
  for (int64_t i = 0; i < n; ++i)
    body(i);
}

} // namespace dz::detail
