// Resize.cpp - the converters of Resize, Upsample and GridSample (at the end). The interpolation is
// separable: along each axis whose size or sampling changes, output j is a fixed combination of the
// input's points (nearest: one; linear: two; cubic: four, with edge padding, and with
// exclude_outside renormalized), or, for tf_crop_and_resize outside the input, the
// extrapolation value. With scales or sizes known at import time those combinations are
// an (out, in) weight matrix computed here, applied by one dz.matmul per axis (the axis
// moved last); the coordinates follow ONNX's reference (coordinate_transformation_mode,
// nearest_mode, cubic_coeff_a). The result is differentiable in the input through
// dz.matmul's gradient.
#include "Convert.h"

#include <cmath>

namespace dz::onnx::resize_ops {

using Shp = llvm::SmallVector<int64_t>;
using llvm::ArrayRef;

namespace {

struct Mode {
  std::string mode = "nearest", transform = "half_pixel", nearest = "round_prefer_floor";
  double cubic_a = -0.75, extrapolation = 0;
  bool exclude_outside = false;
};

/// The weights of the points around x_ori for the mode, given the ratio (x_ori's
/// fractional part, 1 when x_ori is an integer).
std::vector<double> coefficients(const Mode &m, double ratio, bool integer) {
  if (m.mode == "nearest") {
    if (integer)
      return {0, 1};
    if (m.nearest == "round_prefer_ceil")
      return {ratio < 0.5 ? 1.0 : 0.0, ratio >= 0.5 ? 1.0 : 0.0};
    if (m.nearest == "floor")
      return {1, 0};
    if (m.nearest == "ceil")
      return {0, 1};
    return {ratio <= 0.5 ? 1.0 : 0.0, ratio > 0.5 ? 1.0 : 0.0}; // round_prefer_floor
  }
  if (m.mode == "linear")
    return {1 - ratio, ratio};
  const double a = m.cubic_a, r = ratio, s = 1 - ratio;
  return {((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a,
          ((a + 2) * r - (a + 3)) * r * r + 1, ((a + 2) * s - (a + 3)) * s * s + 1,
          ((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a};
}

/// The (out, in) weights and the (out) bias of one axis.
void axis_weights(const Mode &m, int64_t in, int64_t out, double scale, double roi_start,
                  double roi_end, std::vector<double> &w, std::vector<double> &bias) {
  w.assign(size_t(out * in), 0.0);
  bias.assign(size_t(out), 0.0);
  const double width = scale * double(in); // the reference's output_width (not rounded)
  for (int64_t x = 0; x < out; ++x) {
    const double xd = double(x);
    double x_ori;
    if (m.transform == "align_corners") {
      x_ori = width == 1 ? 0 : xd * double(in - 1) / (width - 1);
    } else if (m.transform == "asymmetric") {
      x_ori = xd / scale;
    } else if (m.transform == "tf_crop_and_resize") {
      x_ori = width == 1 ? (roi_end - roi_start) * double(in - 1) / 2
                         : xd * (roi_end - roi_start) * double(in - 1) / (width - 1);
      x_ori += roi_start * double(in - 1);
      if (x_ori < 0 || x_ori > double(in - 1)) {
        bias[size_t(x)] = m.extrapolation;
        continue;
      }
    } else if (m.transform == "pytorch_half_pixel") {
      x_ori = width == 1 ? -0.5 : (xd + 0.5) / scale - 0.5;
    } else if (m.transform == "tf_half_pixel_for_nn") {
      x_ori = (xd + 0.5) / scale;
    } else { // half_pixel
      x_ori = (xd + 0.5) / scale - 0.5;
    }
    // Far outside the input every tap reads an edge (or is excluded): keep x_ori near it.
    x_ori = std::isnan(x_ori) ? 0 : std::clamp(x_ori, -double(in) - 4, double(in) + 4);
    const double fl = std::floor(x_ori);
    const bool integer = x_ori == fl;
    const double ratio = integer ? 1 : x_ori - fl;
    std::vector<double> c = coefficients(m, ratio, integer);
    const int64_t n = int64_t(c.size());
    // The n points nearest x_ori (ties to the lower index): from base - n/2 + 1 on,
    // where base is the point below x_ori (x_ori - 1 when it is an integer).
    const int64_t first = int64_t(fl) - (integer ? 1 : 0) - n / 2 + 1;
    if (m.exclude_outside) {
      double sum = 0;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t idx = first + i;
        if (idx < 0 || idx >= in)
          c[size_t(i)] = 0;
        sum += c[size_t(i)];
      }
      for (double &v : c)
        v = sum != 0 ? v / sum : 0;
    }
    for (int64_t i = 0; i < n; ++i) {
      const int64_t idx = std::clamp<int64_t>(first + i, 0, in - 1); // edge padding
      w[size_t(x * in + idx)] += c[size_t(i)];
    }
  }
}

/// x resized to `out` with per-axis `scales` and the roi (starts then ends, or empty).
Value resize(NodeContext &c, Value x, const Mode &m, ArrayRef<int64_t> out,
             const std::vector<double> &scales, const std::vector<double> &roi) {
  c.require_float(x);
  const int64_t r = c.rank(x);
  mlir::Type element = c.type(x).getElementType();
  const DType dt = element.isF32() ? f32 : f64;
  for (int64_t a = 0; a < r; ++a) {
    const int64_t in = c.shape(x)[size_t(a)], n = out[size_t(a)];
    if (n < 0 || (in == 0 && n > 0))
      c.fail("cannot resize axis " + std::to_string(a) + " of size " + std::to_string(in) + " to " +
             std::to_string(n));
    std::optional<int64_t> cells = element_count({in, n});
    if (!cells || *cells > kMaxConstantRead)
      c.unsupported("axis " + std::to_string(a) + " (" + std::to_string(in) + " -> " +
                        std::to_string(n) + ") is too large to decompose",
                    "Resize too large to decompose");
    std::vector<double> w, bias;
    axis_weights(m, in, n, scales[size_t(a)], roi.empty() ? 0 : roi[size_t(a)],
                 roi.empty() ? 1 : roi[size_t(a + r)], w, bias);
    bool identity = in == n;
    for (int64_t i = 0; i < n && identity; ++i)
      for (int64_t j = 0; j < in && identity; ++j)
        identity = w[size_t(i * in + j)] == (i == j ? 1.0 : 0.0) && bias[size_t(i)] == 0;
    if (identity)
      continue;
    Shp perm;
    for (int64_t d = 0; d < r; ++d)
      if (d != a)
        perm.push_back(d);
    perm.push_back(a);
    Value moved = a == r - 1 ? x : c.transpose(x, perm);
    Shp moved_shape(c.shape(moved));
    const int64_t rows = product(moved_shape) / std::max<int64_t>(in, 1);
    Value y = c.make<ir::MatmulOp>(c.reshape(moved, {rows, in}),
                                   c.constant_of(Tensor::from(w, {n, in}, dt)),
                                   c.b.getBoolAttr(false), c.b.getBoolAttr(true));
    if (std::any_of(bias.begin(), bias.end(), [](double v) { return v != 0; }))
      y = c.add(y, c.constant_of(Tensor::from(bias, {1, n}, dt)));
    moved_shape.back() = n;
    y = c.reshape(y, moved_shape);
    if (a != r - 1) {
      Shp inverse(static_cast<size_t>(r), 0);
      for (int64_t d = 0; d < r; ++d)
        inverse[size_t(perm[size_t(d)])] = d;
      y = c.transpose(y, inverse);
    }
    x = y;
  }
  return x;
}

std::vector<double> doubles(const Tensor &t) {
  Tensor d = t.to(f64);
  return std::vector<double>(d.data<double>(), d.data<double>() + d.size());
}

/// The output shape and per-axis scales from `scales` (floor(in · scale), the roi's
/// extent for tf_crop_and_resize) or from `sizes` (scale = out / in).
void shape_and_scales(NodeContext &c, Value x, const std::vector<double> *scales,
                      const std::vector<int64_t> *sizes, const std::vector<double> &roi, bool crop,
                      Shp &out, std::vector<double> &scale) {
  const int64_t r = c.rank(x);
  ArrayRef<int64_t> s = c.shape(x);
  if (sizes) {
    if (int64_t(sizes->size()) != r)
      c.fail("sizes has " + std::to_string(sizes->size()) + " values for an input of rank " +
             std::to_string(r));
    for (int64_t d = 0; d < r; ++d) {
      out.push_back((*sizes)[size_t(d)]);
      scale.push_back(s[size_t(d)] ? double(out.back()) / double(s[size_t(d)]) : 1.0);
    }
  } else {
    if (int64_t(scales->size()) != r)
      c.fail("scales has " + std::to_string(scales->size()) + " values for an input of rank " +
             std::to_string(r));
    for (int64_t d = 0; d < r; ++d) {
      const double sc = (*scales)[size_t(d)];
      if (!(sc > 0) || !std::isfinite(sc))
        c.fail("scales must be positive, got " + std::to_string(sc));
      const double extent = crop && !roi.empty() ? roi[size_t(d + r)] - roi[size_t(d)] : 1.0;
      const double size = std::floor(double(s[size_t(d)]) * extent * sc);
      if (size > double(kMaxElements))
        c.fail("the scale " + std::to_string(sc) + " makes axis " + std::to_string(d) +
               " too large");
      out.push_back(int64_t(size));
      scale.push_back(sc);
    }
  }
  if (!element_count(out))
    c.fail("the output shape " + dims_str(out) + " is too large");
}

} // namespace

Value resize(NodeContext &c) {
  Value x = c.in(0);
  Mode m;
  m.mode = c.string_attr("mode", "nearest");
  if (m.mode != "nearest" && m.mode != "linear" && m.mode != "cubic")
    c.fail("unknown mode '" + m.mode + "' (nearest, linear, cubic)");
  if (c.opset < 11) { // Resize-10: (X, scales), Upsample's sampling
    if (m.mode == "cubic")
      c.fail("mode cubic needs opset 11");
    m.transform = "asymmetric";
    m.nearest = "floor";
    std::vector<double> scales = doubles(c.required_constant(1, "scales"));
    Shp out;
    std::vector<double> scale;
    shape_and_scales(c, x, &scales, nullptr, {}, false, out, scale);
    return resize(c, x, m, out, scale, {});
  }
  m.transform = c.string_attr("coordinate_transformation_mode", "half_pixel");
  m.nearest = c.string_attr("nearest_mode", "round_prefer_floor");
  m.cubic_a = c.float_attr("cubic_coeff_a", -0.75);
  m.exclude_outside = c.int_attr("exclude_outside", 0) != 0;
  m.extrapolation = c.float_attr("extrapolation_value", 0);
  static const char *const transforms[] = {"half_pixel",           "pytorch_half_pixel",
                                           "align_corners",        "asymmetric",
                                           "tf_half_pixel_for_nn", "tf_crop_and_resize"};
  if (std::find(std::begin(transforms), std::end(transforms), m.transform) == std::end(transforms))
    c.fail("unknown coordinate_transformation_mode '" + m.transform + "'");
  static const char *const nearest[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
  if (std::find(std::begin(nearest), std::end(nearest), m.nearest) == std::end(nearest))
    c.fail("unknown nearest_mode '" + m.nearest + "'");
  const bool crop = m.transform == "tf_crop_and_resize";
  std::vector<double> roi;
  if (crop && c.has(1)) {
    roi = doubles(c.required_constant(1, "roi"));
    if (int64_t(roi.size()) != 2 * c.rank(x))
      c.fail("roi has " + std::to_string(roi.size()) + " values, 2 per axis (" +
             std::to_string(2 * c.rank(x)) + ") expected");
  }
  std::optional<std::vector<double>> scales;
  std::optional<std::vector<int64_t>> sizes;
  if (c.has(2)) {
    Tensor t = c.required_constant(2, "scales");
    if (t.size() > 0)
      scales = doubles(t);
  }
  if (c.has(3)) {
    Tensor t = c.required_constant(3, "sizes");
    if (t.size() > 0) {
      sizes = integers_of(t);
      if (!sizes)
        c.fail("sizes must be int64");
    }
  }
  if (scales.has_value() == sizes.has_value())
    c.fail("exactly one of scales and sizes must be given");
  Shp out;
  std::vector<double> scale;
  shape_and_scales(c, x, scales ? &*scales : nullptr, sizes ? &*sizes : nullptr, roi, crop, out,
                   scale);
  return resize(c, x, m, out, scale, roi);
}

/// Upsample (opsets 7 and 9; scales an attribute, then an input): asymmetric sampling,
/// nearest rounds down.
Value upsample(NodeContext &c) {
  Value x = c.in(0);
  Mode m;
  m.mode = c.string_attr("mode", "nearest");
  if (m.mode != "nearest" && m.mode != "linear" && m.mode != "bilinear")
    c.fail("unknown mode '" + m.mode + "' (nearest, linear)");
  if (m.mode == "bilinear")
    m.mode = "linear";
  m.transform = "asymmetric";
  m.nearest = "floor";
  std::vector<double> scales;
  if (c.opset < 9) {
    std::optional<std::vector<double>> attr = c.floats_attr("scales");
    if (!attr)
      c.fail("the scales attribute is required");
    scales = *attr;
  } else {
    scales = doubles(c.required_constant(1, "scales"));
  }
  Shp out;
  std::vector<double> scale;
  shape_and_scales(c, x, &scales, nullptr, {}, false, out, scale);
  return resize(c, x, m, out, scale, {});
}

namespace {

/// PyTorch's reflect_coordinates: x reflected into [twice_low / 2, twice_high / 2].
double reflect(double x, double twice_low, double twice_high) {
  if (twice_low == twice_high)
    return 0;
  const double low = twice_low / 2, span = (twice_high - twice_low) / 2;
  x = std::abs(x - low);
  const double extra = std::fmod(x, span);
  const bool even = std::fmod(std::floor(x / span), 2.0) == 0;
  return even ? extra + low : span - extra + low;
}

/// A sampling coordinate after the padding mode (border: clamped; reflection: mirrored,
/// then clamped; zeros: as it is).
double pad_coordinate(double x, int64_t size, const std::string &padding, bool align) {
  if (padding == "border")
    return std::clamp(x, 0.0, double(size - 1));
  if (padding == "reflection") {
    x = align ? reflect(x, 0, 2.0 * double(size - 1)) : reflect(x, -1, 2.0 * double(size) - 1);
    return std::clamp(x, 0.0, double(size - 1));
  }
  return x;
}

double cubic1(double x, double a) { return ((a + 2) * x - (a + 3)) * x * x + 1; }
double cubic2(double x, double a) { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a; }

} // namespace

/// GridSample (4-D) with a known grid: per batch item, a (H·W, Ho·Wo) matrix of the
/// sampling weights (PyTorch's grid_sample: bilinear, nearest or bicubic; zeros, border
/// or reflection padding; align_corners), applied by one batched dz.matmul.
Value grid_sample(NodeContext &c) {
  Value x = c.in(0);
  c.require_float(x);
  if (c.rank(x) != 4)
    c.unsupported("an input of rank " + std::to_string(c.rank(x)) + " (dz samples 4-D inputs)",
                  "GridSample rank " + std::to_string(c.rank(x)));
  Tensor grid_t = c.required_constant(1, "grid");
  const Shape gs = grid_t.shape();
  const int64_t n = c.shape(x)[0], ch = c.shape(x)[1], h = c.shape(x)[2], w = c.shape(x)[3];
  if (gs.size() != 4 || gs[0] != n || gs[3] != 2)
    c.fail("the grid must be (N, H_out, W_out, 2) with N = " + std::to_string(n) + ", got " +
           dims_str(gs));
  const int64_t ho = gs[1], wo = gs[2];
  const std::string mode = c.string_attr("mode", "bilinear"),
                    padding = c.string_attr("padding_mode", "zeros");
  const bool align = c.int_attr("align_corners", 0) != 0;
  if (mode != "bilinear" && mode != "nearest" && mode != "bicubic")
    c.fail("unknown mode '" + mode + "' (bilinear, nearest, bicubic)");
  if (padding != "zeros" && padding != "border" && padding != "reflection")
    c.fail("unknown padding_mode '" + padding + "' (zeros, border, reflection)");
  const int64_t in = h * w, out = ho * wo;
  std::optional<int64_t> cells = element_count({n, in, out});
  if (!cells || *cells > kMaxConstantRead)
    c.unsupported("its sampling matrix (" + std::to_string(n) + " × " + std::to_string(in) + " × " +
                      std::to_string(out) + ") is too large",
                  "GridSample too large to decompose");
  Tensor g64 = grid_t.to(f64);
  const double *g = g64.data<double>();
  std::vector<double> m(static_cast<size_t>(*cells), 0.0);
  auto unnormalize = [&](double v, int64_t size) {
    return align ? (v + 1) / 2 * double(size - 1) : ((v + 1) * double(size) - 1) / 2;
  };
  for (int64_t b = 0; b < n; ++b)
    for (int64_t o = 0; o < out; ++o) {
      const double gx = g[size_t((b * out + o) * 2)], gy = g[size_t((b * out + o) * 2 + 1)];
      if (!std::isfinite(gx) || !std::isfinite(gy))
        continue; // samples nothing: 0
      // Bounded so that the taps convert to integers (no grid of a real model reaches it).
      double ix = std::clamp(unnormalize(gx, w), -1e12, 1e12),
             iy = std::clamp(unnormalize(gy, h), -1e12, 1e12);
      auto add = [&](int64_t yy, int64_t xx, double weight) {
        if (mode == "bicubic") { // each tap padded on its own
          const double px = pad_coordinate(double(xx), w, padding, align),
                       py = pad_coordinate(double(yy), h, padding, align);
          xx = int64_t(px);
          yy = int64_t(py);
        }
        if (xx < 0 || xx >= w || yy < 0 || yy >= h || weight == 0)
          return;
        m[size_t((b * in + yy * w + xx) * out + o)] += weight;
      };
      if (mode == "bicubic") {
        const double x0 = std::floor(ix), y0 = std::floor(iy), tx = ix - x0, ty = iy - y0;
        const double a = -0.75;
        const double cx[4] = {cubic2(tx + 1, a), cubic1(tx, a), cubic1(1 - tx, a),
                              cubic2(2 - tx, a)};
        const double cy[4] = {cubic2(ty + 1, a), cubic1(ty, a), cubic1(1 - ty, a),
                              cubic2(2 - ty, a)};
        for (int64_t i = 0; i < 4; ++i)
          for (int64_t j = 0; j < 4; ++j)
            add(int64_t(y0) - 1 + i, int64_t(x0) - 1 + j, cy[i] * cx[j]);
        continue;
      }
      ix = pad_coordinate(ix, w, padding, align);
      iy = pad_coordinate(iy, h, padding, align);
      if (mode == "nearest") {
        add(int64_t(std::nearbyint(iy)), int64_t(std::nearbyint(ix)), 1);
        continue;
      }
      const double x0 = std::floor(ix), y0 = std::floor(iy), tx = ix - x0, ty = iy - y0;
      add(int64_t(y0), int64_t(x0), (1 - ty) * (1 - tx));
      add(int64_t(y0), int64_t(x0) + 1, (1 - ty) * tx);
      add(int64_t(y0) + 1, int64_t(x0), ty * (1 - tx));
      add(int64_t(y0) + 1, int64_t(x0) + 1, ty * tx);
    }
  const DType dt = c.type(x).getElementType().isF32() ? f32 : f64;
  Value y = c.make<ir::MatmulOp>(c.reshape(x, {n, ch, in}),
                                 c.constant_of(Tensor::from(m, {n, in, out}, dt)),
                                 c.b.getBoolAttr(false), c.b.getBoolAttr(false));
  return c.reshape(y, {n, ch, ho, wo});
}

} // namespace dz::onnx::resize_ops
