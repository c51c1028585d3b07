// Spectral.cpp - the converters of DFT and STFT. A discrete Fourier transform of a known
// length is linear: the signal (real, or complex as a trailing (re, im) pair) flattened
// per transform to n · components values times an (n · components, bins · 2) matrix of
// cosines and sines computed here gives (re, im) per frequency bin (one dz.matmul).
// STFT gathers its frames with one dz.get_item, multiplies them by the window and
// transforms them the same way. Both are differentiable in the signal.
#include "Convert.h"

#include <cmath>

namespace dz::onnx::spectral_ops {

using Shp = llvm::SmallVector<int64_t>;
using llvm::ArrayRef;

namespace {

/// The (n · comps, bins · 2) matrix of the DFT of length `length` over the first
/// min(n, length) input points (zero padding beyond n): row m · comps + (0: re, 1: im),
/// column k · 2 + (0: re, 1: im). Inverse: e^{+iθ} / length.
std::vector<double> dft_matrix(int64_t n, int64_t comps, int64_t length, int64_t bins,
                               bool inverse) {
  std::vector<double> w(static_cast<size_t>(n * comps * bins * 2), 0.0);
  const double sign = inverse ? 1 : -1, scale = inverse ? 1.0 / double(length) : 1.0;
  for (int64_t m = 0; m < std::min(n, length); ++m)
    for (int64_t k = 0; k < bins; ++k) {
      // (re + i im)(cos θ + i sign sin θ), θ = 2π k m / length (k m reduced mod length)
      const double theta = 2 * M_PI * double((k * m) % length) / double(length);
      const double co = std::cos(theta) * scale, si = sign * std::sin(theta) * scale;
      const size_t re_row = size_t(m * comps), col = size_t(k * 2);
      const size_t stride = size_t(bins * 2);
      w[re_row * stride + col] = co;     // re · cos
      w[re_row * stride + col + 1] = si; // re · i sign sin
      if (comps == 2) {
        w[(re_row + 1) * stride + col] = -si;    // i im · i sign sin
        w[(re_row + 1) * stride + col + 1] = co; // i im · cos
      }
    }
  return w;
}

DType float_dtype(NodeContext &c, Value x) {
  return c.type(x).getElementType().isF32() ? f32 : f64;
}

} // namespace

/// DFT (opset 17): along `axis` of (..., n, ..., 1 or 2), length dft_length (known) or
/// n; onesided keeps bins 0 .. length / 2; inverse divides by the length.
Value dft(NodeContext &c) {
  Value x = c.in(0);
  c.require_float(x);
  const int64_t r = c.rank(x);
  if (r < 2 || (c.shape(x)[size_t(r - 1)] != 1 && c.shape(x)[size_t(r - 1)] != 2))
    c.fail("the input must be (..., signal, ..., 1 or 2), got " + dims_str(c.shape(x)));
  const int64_t comps = c.shape(x)[size_t(r - 1)];
  const int64_t a = c.axis(c.int_attr("axis", 1), r - 1); // the complex axis is not one
  const int64_t n = c.shape(x)[size_t(a)];
  int64_t length = n;
  if (c.has(1)) {
    std::vector<int64_t> l = c.ints_input(1, "dft_length");
    if (l.size() != 1 || l[0] < 1)
      c.fail("dft_length must be one positive value");
    length = l[0];
  }
  const bool inverse = c.int_attr("inverse", 0) != 0, onesided = c.int_attr("onesided", 0) != 0;
  if (inverse && onesided)
    c.fail("inverse and onesided cannot both be set");
  const int64_t bins = onesided ? length / 2 + 1 : length;
  std::optional<int64_t> cells = element_count({n * comps, bins * 2});
  if (!cells || *cells > kMaxConstantRead)
    c.unsupported("its matrix (" + std::to_string(n * comps) + " × " + std::to_string(bins * 2) +
                      ") is too large",
                  "DFT too large to decompose");
  // (..., n, ..., comps) -> (others, n, comps)
  Shp perm;
  for (int64_t d = 0; d < r - 1; ++d)
    if (d != a)
      perm.push_back(d);
  perm.push_back(a);
  perm.push_back(r - 1);
  bool moved = false;
  for (size_t d = 0; d < perm.size(); ++d)
    moved = moved || perm[d] != int64_t(d);
  Value y = moved ? c.transpose(x, perm) : x;
  Shp moved_shape(c.shape(y));
  const int64_t rows = product(moved_shape) / std::max<int64_t>(n * comps, 1);
  Value w = c.constant_of(Tensor::from(dft_matrix(n, comps, length, bins, inverse),
                                       {n * comps, bins * 2}, float_dtype(c, x)));
  y = c.make<ir::MatmulOp>(c.reshape(y, {rows, n * comps}), w, c.b.getBoolAttr(false),
                           c.b.getBoolAttr(false));
  moved_shape[size_t(r - 2)] = bins;
  moved_shape[size_t(r - 1)] = 2;
  y = c.reshape(y, moved_shape);
  if (!moved)
    return y;
  Shp inv(static_cast<size_t>(r), 0);
  for (int64_t d = 0; d < r; ++d)
    inv[size_t(perm[size_t(d)])] = d;
  return c.transpose(y, inv);
}

/// STFT (opset 17): signal (batch, length, 1 or 2), a known frame_step, an optional
/// window (multiplied in at run time) and frame_length; frames of the signal gathered,
/// windowed, transformed; onesided (default) keeps bins 0 .. frame_length / 2.
Value stft(NodeContext &c) {
  Value x = c.in(0);
  c.require_float(x);
  if (c.rank(x) != 3 || (c.shape(x)[2] != 1 && c.shape(x)[2] != 2))
    c.fail("the signal must be (batch, length, 1 or 2), got " + dims_str(c.shape(x)));
  const int64_t batch = c.shape(x)[0], length = c.shape(x)[1], comps = c.shape(x)[2];
  std::vector<int64_t> step_v = c.ints_input(1, "frame_step");
  if (step_v.size() != 1 || step_v[0] < 1)
    c.fail("frame_step must be one positive value");
  const int64_t step = step_v[0];
  Value window = c.has(2) ? c.in(2) : Value();
  int64_t frame = 0;
  if (c.has(3)) {
    std::vector<int64_t> f = c.ints_input(3, "frame_length");
    if (f.size() != 1 || f[0] < 1)
      c.fail("frame_length must be one positive value");
    frame = f[0];
  } else if (window) {
    frame = product(c.shape(window));
  } else {
    c.fail("one of window and frame_length is required");
  }
  if (window && (c.rank(window) != 1 || c.shape(window)[0] != frame))
    c.fail("the window must be (" + std::to_string(frame) + "), got " + dims_str(c.shape(window)));
  if (frame > length)
    c.fail("frame_length " + std::to_string(frame) + " exceeds the signal's " +
           std::to_string(length));
  const bool onesided = c.int_attr("onesided", 1) != 0;
  if (onesided && comps == 2)
    c.fail("onesided needs a real signal");
  const int64_t frames = (length - frame) / step + 1, bins = onesided ? frame / 2 + 1 : frame;
  std::optional<int64_t> table = element_count({batch, frames, frame, comps});
  std::optional<int64_t> cells = element_count({frame * comps, bins * 2});
  if (!table || *table > kMaxConstantRead || !cells || *cells > kMaxConstantRead)
    c.unsupported("its frames or matrix are too large", "STFT too large to decompose");
  std::vector<int64_t> offsets;
  offsets.reserve(size_t(*table));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t f = 0; f < frames; ++f)
      for (int64_t m = 0; m < frame; ++m)
        for (int64_t k = 0; k < comps; ++k)
          offsets.push_back((b * length + f * step + m) * comps + k);
  Value y = c.make<ir::GetItemOp>(x, c.b.getDenseI64ArrayAttr({batch, frames, frame, comps}),
                                  c.b.getDenseI64ArrayAttr(offsets));
  if (window)
    y = c.mul(y, c.reshape(window, {frame, 1}));
  Value w = c.constant_of(Tensor::from(dft_matrix(frame, comps, frame, bins, false),
                                       {frame * comps, bins * 2}, float_dtype(c, x)));
  y = c.make<ir::MatmulOp>(c.reshape(y, {batch * frames, frame * comps}), w, c.b.getBoolAttr(false),
                           c.b.getBoolAttr(false));
  return c.reshape(y, {batch, frames, bins, 2});
}

} // namespace dz::onnx::spectral_ops
