// kernels.h - internal helpers of the CPU kernels: dtype dispatch, broadcast iteration
// plans, parallel thresholds. Not installed.
#pragma once

#include <dzc/tensor.h>

#include <array>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

namespace dz::detail {

/// Elements below which a memory-bound loop runs on one thread: waking the OpenMP team
/// costs more than the loop (measured: one float add streams ~10 elements/ns here).
inline constexpr int64_t kParallelGrain = 1 << 18;
/// The same for loops with a transcendental function per element.
inline constexpr int64_t kParallelGrainMath = 1 << 15;

/// exp for float32 that vectorises: Cephes' range reduction and degree-5 polynomial
/// (relative error below 2e-7), with overflow to inf, underflow to 0 and NaN kept.
#pragma omp declare simd
inline float fast_expf(float x) {
  float xc = x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x);
  float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f; // round to nearest
  float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * r * r + r + 1.0f;
  int32_t bits = (int32_t(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  y *= scale;
  y = x > 88.72f ? __builtin_inff() : y;
  y = x < -103.9f ? 0.0f : y;
  return x != x ? x : y;
}

/// Calls f(i) for each i in [0, n): split over the OpenMP team when `parallel`, else on the
/// calling thread without entering an OpenMP region (entering one costs more than a small
/// loop). f must not throw.
template <typename F> void parallel_for(int64_t n, bool parallel, F &&f) {
  if (!parallel) {
    for (int64_t i = 0; i < n; ++i)
      f(i);
    return;
  }
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i)
    f(i);
}

template <typename T> struct TypeTag { using type = T; };

/// Calls fn(TypeTag<T>{}) for the C++ type of `dt`.
template <typename Fn> decltype(auto) visit_dtype(DType dt, Fn &&fn) {
  switch (dt) {
  case DType::f32:
    return fn(TypeTag<float>{});
  case DType::f64:
    return fn(TypeTag<double>{});
  case DType::i64:
    return fn(TypeTag<int64_t>{});
  case DType::i32:
    return fn(TypeTag<int32_t>{});
  case DType::u8:
    return fn(TypeTag<uint8_t>{});
  case DType::b8:
    return fn(TypeTag<bool>{});
  default:
    throw Error(std::string("dtype ") + dtype_name(dt) +
                " is stored but not computed on: convert it first (astype float32, float64 or "
                "int64)");
  }
}

/// A float16 or bfloat16 element: its bits (see float_to_f16_bits).
struct Float16 {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

/// Calls fn(TypeTag<T>{}) for the C++ type of any dtype, the storage-only ones included
/// (Float16 / BFloat16 for the 16-bit floats): for copies and conversions.
template <typename Fn> decltype(auto) visit_all(DType dt, Fn &&fn) {
  switch (dt) {
  case DType::i8:
    return fn(TypeTag<int8_t>{});
  case DType::i16:
    return fn(TypeTag<int16_t>{});
  case DType::u16:
    return fn(TypeTag<uint16_t>{});
  case DType::u32:
    return fn(TypeTag<uint32_t>{});
  case DType::u64:
    return fn(TypeTag<uint64_t>{});
  case DType::f16:
    return fn(TypeTag<Float16>{});
  case DType::bf16:
    return fn(TypeTag<BFloat16>{});
  default:
    return visit_dtype(dt, std::forward<Fn>(fn));
  }
}

/// Calls fn(TypeTag<T>{}) with an unsigned integer type of the dtype's size: for moves.
template <typename Fn> decltype(auto) visit_bytes(DType dt, Fn &&fn) {
  switch (dtype_size(dt)) {
  case 1:
    return fn(TypeTag<uint8_t>{});
  case 2:
    return fn(TypeTag<uint16_t>{});
  case 4:
    return fn(TypeTag<uint32_t>{});
  default:
    return fn(TypeTag<uint64_t>{});
  }
}

template <typename T> inline double to_double(T v) { return double(v); }
template <> inline double to_double(Float16 v) { return f16_bits_to_float(v.bits); }
template <> inline double to_double(BFloat16 v) { return bf16_bits_to_float(v.bits); }

/// A float to an integer type: truncated toward zero; NaN gives 0 and values outside the
/// type's range its nearest end (C++ leaves both undefined).
template <typename D> inline D float_to_integer(double v) {
  if (v != v)
    return D(0);
  if (v <= double(std::numeric_limits<D>::lowest()))
    return std::numeric_limits<D>::lowest();
  if (v >= double(std::numeric_limits<D>::max()))
    return std::numeric_limits<D>::max();
  return static_cast<D>(v);
}

/// One element converted as Tensor::to does: C++'s conversion (integers wrap around,
/// floats truncate toward zero, nonzero is true; a float outside an integer type's range
/// saturates, NaN gives 0); to and from the 16-bit floats through float32 (float64 to
/// float16 rounds twice, exactly in all but halfway cases).
template <typename D, typename S> inline D convert_element(S v) {
  constexpr bool from_float =
      std::is_floating_point_v<S> || std::is_same_v<S, Float16> || std::is_same_v<S, BFloat16>;
  if constexpr (std::is_same_v<D, Float16>) {
    return Float16{float_to_f16_bits(float(to_double(v)))};
  } else if constexpr (std::is_same_v<D, BFloat16>) {
    return BFloat16{float_to_bf16_bits(float(to_double(v)))};
  } else if constexpr (from_float && std::is_integral_v<D> && !std::is_same_v<D, bool>) {
    return float_to_integer<D>(to_double(v));
  } else if constexpr (std::is_same_v<S, Float16> || std::is_same_v<S, BFloat16>) {
    return static_cast<D>(float(to_double(v)));
  } else {
    return static_cast<D>(v);
  }
}

/// The same for float32/float64 only; other dtypes throw naming `op`.
template <typename Fn> decltype(auto) visit_float(DType dt, const char *op, Fn &&fn) {
  switch (dt) {
  case DType::f32:
    return fn(TypeTag<float>{});
  case DType::f64:
    return fn(TypeTag<double>{});
  default:
    throw Error(std::string(op) + ": expected a float32 or float64 tensor, got " + dtype_name(dt));
  }
}

/// Numeric dtypes (everything but bool).
template <typename Fn> decltype(auto) visit_numeric(DType dt, const char *op, Fn &&fn) {
  if (dt == DType::b8)
    throw Error(std::string(op) + ": not defined for bool tensors (convert with astype first)");
  return visit_dtype(dt, std::forward<Fn>(fn));
}

/// Row-major strides (in elements) of a contiguous tensor of `shape`.
Shape contiguous_strides(const Shape &shape);
/// Strides with which a contiguous tensor of `in` is read when broadcast to `out`
/// (0 along broadcast axes). `in` must broadcast to `out`.
Shape broadcast_strides(const Shape &in, const Shape &out);
/// The shape of a reduction of `s` over the sorted axes `axes` (kept as 1 with keepdims).
Shape reduced_shape(const Shape &s, const std::vector<int64_t> &axes, bool keepdims);

/// An n-ary strided iteration over an output shape, with adjacent dimensions merged
/// where every operand allows it. The last dimension is the inner loop.
template <size_t N> struct StridedPlan {
  Shape shape;                  // merged output shape (at least one dimension)
  std::array<Shape, N> strides; // per operand, in elements
  int64_t inner() const { return shape.back(); }
  int64_t outer() const {
    int64_t n = 1;
    for (size_t i = 0; i + 1 < shape.size(); ++i)
      n *= shape[i];
    return n;
  }
  /// Element offsets of operand k at the start of outer row `row`.
  std::array<int64_t, N> row_offsets(int64_t row) const {
    std::array<int64_t, N> off{};
    for (int64_t d = int64_t(shape.size()) - 2; d >= 0; --d) {
      int64_t i = row % shape[d];
      row /= shape[d];
      for (size_t k = 0; k < N; ++k)
        off[k] += i * strides[k][d];
    }
    return off;
  }
};

template <size_t N>
StridedPlan<N> make_plan(const Shape &out, const std::array<Shape, N> &strides) {
  StridedPlan<N> p;
  for (size_t d = 0; d < out.size(); ++d) {
    if (out[d] == 1)
      continue; // size-1 axes do not move any operand
    bool merge = !p.shape.empty();
    for (size_t k = 0; merge && k < N; ++k)
      merge = p.strides[k].back() == strides[k][d] * out[d];
    if (merge) {
      p.shape.back() *= out[d];
      for (size_t k = 0; k < N; ++k)
        p.strides[k].back() = strides[k][d];
    } else {
      p.shape.push_back(out[d]);
      for (size_t k = 0; k < N; ++k)
        p.strides[k].push_back(strides[k][d]);
    }
  }
  if (p.shape.empty()) {
    p.shape.push_back(1);
    for (size_t k = 0; k < N; ++k)
      p.strides[k].push_back(0);
  }
  return p;
}

/// Copies `src` read with `src_strides` (elements) into a contiguous tensor of `out_shape`.
Tensor strided_copy(const Tensor &src, const Shape &src_strides, const Shape &out_shape);

/// Normalises an axis of a tensor of `shape` into [0, ndim); throws naming `op` and the shape.
int64_t normalize_axis(int64_t axis, const Shape &shape, const char *op);

/// tanh for float32 that vectorises: Eigen's 13/6 rational approximation on [-9, 9]
/// (|error| of a few ulp; outside, tanh is +-1 in float32), NaN kept.
#pragma omp declare simd
inline float fast_tanhf(float x) {
  float xc = x < -9.0f ? -9.0f : (x > 9.0f ? 9.0f : x);
  float x2 = xc * xc;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 - 8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  p = p * xc;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  float y = p / q;
  y = (x < 0.0004f && x > -0.0004f) ? x : y;
  return x != x ? x : y;
}

} // namespace dz::detail
