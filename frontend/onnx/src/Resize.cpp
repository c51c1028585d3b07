// Resize.cpp - the converters of Resize and Upsample. The interpolation is separable:
// along each axis whose size or sampling changes, output j is a fixed combination of the
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
    if (in * n > kMaxConstantRead)
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

} // namespace dz::onnx::resize_ops
