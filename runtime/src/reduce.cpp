// reduce.cpp - reductions over any set of axes with keepdims: sum, mean, max, min,
// argmax.
//
// A reduction over several axes is done one run of adjacent reduced axes at a time. Each
// step sees the input as (outer, reduced, inner) and runs one of two loops: a contiguous
// reduction per output (inner == 1) or a row accumulation (inner > 1).
#include "device_ops.h"
#include "kernels.h"

#include <dzc/direct_kernels.h>
#include <dzc/trace_hook.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace dz {

using namespace detail;

namespace {

enum class Red { Sum, Max, Min };

/// Accumulator type: double for float32 sums (pairwise error is not worth it here), T
/// otherwise; int64 for integer sums.
template <typename T, Red R> struct Acc {
  using type = T;
};
template <> struct Acc<float, Red::Sum> {
  using type = double;
};
template <> struct Acc<int32_t, Red::Sum> {
  using type = int64_t;
};
template <> struct Acc<uint8_t, Red::Sum> {
  using type = int64_t;
};
template <> struct Acc<bool, Red::Sum> {
  using type = int64_t;
};

template <typename T> inline bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>)
    return std::isnan(v);
  else
    return false;
}

template <Red R, typename A> inline A combine(A a, A b) {
  if constexpr (R == Red::Sum)
    return a + b;
  else if constexpr (R == Red::Max)
    return (a > b || a != a) ? a : b;
  else
    return (a < b || a != a) ? a : b;
}

/// Reduces x viewed as (outer, red, inner) over the middle axis into out (outer, inner).
template <typename T, typename O, Red R>
void reduce_3d(const T *x, O *out, int64_t outer, int64_t red, int64_t inner) {
  using A = typename Acc<T, R>::type;
  if (inner == 1) {
    auto one = [&](int64_t o) {
      const T *p = x + o * red;
      A acc = A(p[0]);
      for (int64_t r = 1; r < red; ++r)
        acc = combine<R, A>(acc, A(p[r]));
      out[o] = O(acc);
    };
    return parallel_for(outer, outer * red > kParallelGrain, one);
  }
  // Rows: out[o, :] = combine over r of x[o, r, :]; parallel over (o, inner chunks).
  const int64_t chunk = std::min<int64_t>(inner, 4096);
  const int64_t chunks = (inner + chunk - 1) / chunk;
  auto rows = [&](int64_t w) {
    int64_t o = w / chunks, j0 = (w % chunks) * chunk, j1 = std::min(inner, j0 + chunk);
    A acc[4096];
    const T *p = x + o * red * inner;
    for (int64_t j = j0; j < j1; ++j)
      acc[j - j0] = A(p[j]);
    for (int64_t r = 1; r < red; ++r) {
      const T *row = p + r * inner;
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j)
        acc[j - j0] = combine<R, A>(acc[j - j0], A(row[j]));
    }
    O *dst = out + o * inner;
    for (int64_t j = j0; j < j1; ++j)
      dst[j] = O(acc[j - j0]);
  };
  parallel_for(outer * chunks, outer * red * inner > kParallelGrain, rows);
}

/// The reduced axes of a tensor of rank `ndim` as a sorted, de-duplicated list
/// (all axes when `axes` is empty).
std::vector<int64_t> resolve_axes(const std::vector<int64_t> &axes, const Shape &shape,
                                  const char *op) {
  int64_t ndim = int64_t(shape.size());
  std::vector<int64_t> r;
  if (axes.empty()) {
    for (int64_t i = 0; i < ndim; ++i)
      r.push_back(i);
    return r;
  }
  for (int64_t a : axes) {
    if (ndim == 0 && (a == 0 || a == -1))
      continue;
    r.push_back(normalize_axis(a, shape, op));
  }
  std::sort(r.begin(), r.end());
  if (std::adjacent_find(r.begin(), r.end()) != r.end())
    throw Error(std::string(op) + ": axis repeated in " + shape_str(axes));
  return r;
}


template <Red R> Tensor reduce(const Tensor &x, const std::vector<int64_t> &axes_in,
                               bool keepdims, const char *op) {
  auto axes = resolve_axes(axes_in, x.shape(), op);
  Shape out_shape = reduced_shape(x.shape(), axes, keepdims);
  if (R != Red::Sum && x.size() == 0) {
    // As NumPy: an empty result is fine (reducing (0, 3) over axis 1 gives (0,)), but a
    // reduction over an empty axis has no value to give.
    bool empty_axis = false;
    for (int64_t a : axes)
      empty_axis = empty_axis || x.shape()[size_t(a)] == 0;
    if (empty_axis)
      throw Error(std::string(op) + ": zero-size tensor of shape " + shape_str(x.shape()) +
                  " reduced over an empty axis: this reduction has no identity (reduce over "
                  "non-empty axes only)");
    return Tensor(out_shape, x.dtype(), x.device());
  }
  DType out_dt = x.dtype();
  if (R == Red::Sum && !is_floating(out_dt))
    out_dt = i64;
  if (!x.device().is_cpu()) {
    if (axes.empty())
      return x.to(out_dt).reshape(out_shape);
    constexpr ReduceOp kOps[] = {ReduceOp::sum, ReduceOp::max, ReduceOp::min};
    return device::reduce(kOps[int(R)], x, axes, keepdims, out_dt);
  }
  if (x.size() == 0)
    return zeros(out_shape, out_dt);
  // Reduce one run of adjacent axes at a time, from the last run to the first, keeping
  // dims so the remaining axis numbers stay valid.
  Tensor cur = x;
  size_t i = axes.size();
  while (i > 0) {
    size_t j = i - 1;
    while (j > 0 && axes[j - 1] == axes[j] - 1)
      --j;
    int64_t first = axes[j], last = axes[i - 1];
    const Shape &s = cur.shape();
    int64_t outer = 1, red = 1, inner = 1;
    for (int64_t d = 0; d < first; ++d)
      outer *= s[size_t(d)];
    for (int64_t d = first; d <= last; ++d)
      red *= s[size_t(d)];
    for (int64_t d = last + 1; d < int64_t(s.size()); ++d)
      inner *= s[size_t(d)];
    Shape ns = s;
    for (int64_t d = first; d <= last; ++d)
      ns[size_t(d)] = 1;
    DType dt = (R == Red::Sum) ? out_dt : cur.dtype();
    Tensor next(ns, dt);
    visit_dtype(cur.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      visit_dtype(dt, [&](auto otag) {
        using O = typename decltype(otag)::type;
        if constexpr (R == Red::Sum || std::is_same_v<T, O>)
          reduce_3d<T, O, R>(static_cast<const T *>(cur.raw()), static_cast<O *>(next.raw()),
                             outer, red, inner);
      });
    });
    cur = next;
    i = j;
  }
  return cur.reshape(out_shape);
}

} // namespace

Tensor Tensor::sum(const std::vector<int64_t> &axes, bool keepdims) const {
  TraceScope trace;
  Tensor out = reduce<Red::Sum>(*this, axes, keepdims, "sum");
  if (trace)
    trace->op("sum", {this}, out, {{"axes", axes}, {"keepdims", keepdims}});
  return out;
}

Tensor Tensor::mean(const std::vector<int64_t> &axes, bool keepdims) const {
  auto ax = resolve_axes(axes, shape_, "mean");
  int64_t count = 1;
  for (int64_t a : ax)
    count *= shape_[size_t(a)];
  Tensor s = (is_floating(dtype_) ? *this : to(f64)).sum(axes, keepdims);
  return s / double(count); // the mean of nothing is NaN (0 / 0), as in NumPy
}

Tensor Tensor::max(const std::vector<int64_t> &axes, bool keepdims) const {
  TraceScope trace;
  Tensor out = reduce<Red::Max>(*this, axes, keepdims, "max");
  if (trace)
    trace->op("max", {this}, out, {{"axes", axes}, {"keepdims", keepdims}});
  return out;
}

Tensor Tensor::min(const std::vector<int64_t> &axes, bool keepdims) const {
  TraceScope trace;
  Tensor out = reduce<Red::Min>(*this, axes, keepdims, "min");
  if (trace)
    trace->op("min", {this}, out, {{"axes", axes}, {"keepdims", keepdims}});
  return out;
}

Tensor Tensor::argmax() const { return reshape({-1}).argmax(0); }

Tensor Tensor::argmax(int64_t axis, bool keepdims) const {
  int64_t ax = normalize_axis(axis, shape_, "argmax");
  if (ndim() == 0)
    return zeros({}, i64);
  if (shape_[size_t(ax)] == 0)
    throw Error("argmax: axis " + std::to_string(axis) + " of shape " + shape_str(shape_) +
                " is empty");
  int64_t outer = 1, red = shape_[size_t(ax)], inner = 1;
  for (int64_t d = 0; d < ax; ++d)
    outer *= shape_[size_t(d)];
  for (int64_t d = ax + 1; d < ndim(); ++d)
    inner *= shape_[size_t(d)];
  if (!device().is_cpu())
    return device::argmax(*this, ax, keepdims);
  Tensor out(reduced_shape(shape_, {ax}, keepdims), i64);
  int64_t *o = out.data<int64_t>();
  visit_dtype(dtype_, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *x = static_cast<const T *>(raw());
#pragma omp parallel for if (size() > kParallelGrain)
    for (int64_t oi = 0; oi < outer; ++oi)
      for (int64_t j = 0; j < inner; ++j) {
        const T *p = x + oi * red * inner + j;
        // The first maximum; a NaN is above everything, so the first NaN wins (NumPy).
        int64_t best = 0;
        for (int64_t r = 1; r < red && !is_nan(p[best * inner]); ++r)
          if (p[r * inner] > p[best * inner] || is_nan(p[r * inner]))
            best = r;
        o[oi * inner + j] = best;
      }
  });
  return out;
}

namespace direct {

void sum_3d(DType dt, const void *x, void *out, int64_t outer, int64_t red, int64_t inner) {
  if (outer * red * inner == 0) { // as the eager sum of an empty tensor: zeros
    const DType out_dt = is_floating(dt) ? dt : i64;
    std::fill_n(static_cast<char *>(out), size_t(outer * inner) * dtype_size(out_dt), char(0));
    return;
  }
  visit_dtype(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<T>)
      reduce_3d<T, T, Red::Sum>(static_cast<const T *>(x), static_cast<T *>(out), outer, red,
                                inner);
    else
      reduce_3d<T, int64_t, Red::Sum>(static_cast<const T *>(x), static_cast<int64_t *>(out),
                                      outer, red, inner);
  });
}

// The eager mean_squared_error is three kernels (a - b, its square, the sum), each rounding
// to T; contracting the square and the sum into a fused multiply-add would round once.
__attribute__((optimize("fp-contract=off"))) void
mean_squared_error(DType dt, const void *a, const void *b, void *out, int64_t n, int64_t len) {
  visit_float(dt, "mean_squared_error", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = typename Acc<T, Red::Sum>::type;
    const T *pa = static_cast<const T *>(a), *pb = static_cast<const T *>(b);
    auto square = [&](int64_t i) {
      const T d = pa[i] - pb[i];
      return T(d * d);
    };
    T sum = T(0);
    if (n > 0) {
      A acc = A(square(0));
      for (int64_t i = 1; i < n; ++i)
        acc = acc + A(square(i));
      sum = T(acc);
    }
    *static_cast<T *>(out) = sum / T(len);
  });
}

} // namespace direct

} // namespace dz
