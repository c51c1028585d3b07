// elementwise.cpp - broadcasting elementwise CPU kernels: arithmetic, comparisons,
// where, clip, unary math, softmax / logsumexp, and the closeness checks.
#include "device_ops.h"
#include "kernels.h"

#include <dzc/trace_hook.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace dz {

using namespace detail;

namespace {

/// Runs out[i] = op(a[i], b[i]) over the broadcast of a and b into `out` (whose shape
/// is the broadcast shape). a and b have dtype T, out has dtype O. out may alias a.
template <typename O, typename T, typename Op>
void binary_loop(const Tensor &a, const Tensor &b, Tensor &out, Op op) {
  int64_t n = out.size();
  if (n == 0)
    return;
  const Shape &shape = out.shape();
  auto plan = make_plan<3>(shape, {broadcast_strides(a.shape(), shape),
                                   broadcast_strides(b.shape(), shape),
                                   contiguous_strides(shape)});
  const T *pa = static_cast<const T *>(a.raw());
  const T *pb = static_cast<const T *>(b.raw());
  O *po = static_cast<O *>(out.raw());
  const int64_t rows = plan.outer(), inner = plan.inner();
  const int64_t sa = plan.strides[0].back(), sb = plan.strides[1].back();
  // Work items: (row, chunk of the inner loop), so one long row still splits over threads.
  const int64_t chunk = rows >= 16 ? inner : std::min<int64_t>(inner, 16384);
  const int64_t chunks = (inner + chunk - 1) / chunk;
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t w = 0; w < rows * chunks; ++w) {
    int64_t r = w / chunks, j0 = (w % chunks) * chunk, j1 = std::min(inner, j0 + chunk);
    auto off = plan.row_offsets(r);
    const T *x = pa + off[0];
    const T *y = pb + off[1];
    O *o = po + off[2];
    if (sa == 1 && sb == 1) {
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j)
        o[j] = op(x[j], y[j]);
    } else if (sa == 1 && sb == 0) {
      const T yv = y[0];
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j)
        o[j] = op(x[j], yv);
    } else if (sa == 0 && sb == 1) {
      const T xv = x[0];
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j)
        o[j] = op(xv, y[j]);
    } else {
      for (int64_t j = j0; j < j1; ++j)
        o[j] = op(x[j * sa], y[j * sb]);
    }
  }
}

enum class Arith { Add, Sub, Mul, Div, Pow, Max, Min };
enum class Cmp { Eq, Ne, Lt, Le, Gt, Ge };

const char *arith_name(Arith k) {
  switch (k) {
  case Arith::Add:
    return "add";
  case Arith::Sub:
    return "sub";
  case Arith::Mul:
    return "mul";
  case Arith::Div:
    return "div";
  case Arith::Pow:
    return "pow";
  case Arith::Max:
    return "maximum";
  case Arith::Min:
    return "minimum";
  }
  return "?";
}

template <typename T> void arith_loop(Arith k, const Tensor &a, const Tensor &b, Tensor &out) {
  switch (k) {
  case Arith::Add:
    return binary_loop<T, T>(a, b, out, [](T x, T y) { return T(x + y); });
  case Arith::Sub:
    return binary_loop<T, T>(a, b, out, [](T x, T y) { return T(x - y); });
  case Arith::Mul:
    return binary_loop<T, T>(a, b, out, [](T x, T y) { return T(x * y); });
  case Arith::Div:
    return binary_loop<T, T>(a, b, out, [](T x, T y) { return T(x / y); });
  case Arith::Pow:
    return binary_loop<T, T>(a, b, out, [](T x, T y) { return T(std::pow(x, y)); });
  case Arith::Max:
    return binary_loop<T, T>(a, b, out, [](T x, T y) { return x > y || x != x ? x : y; });
  case Arith::Min:
    return binary_loop<T, T>(a, b, out, [](T x, T y) { return x < y || x != x ? x : y; });
  }
}

DType arith_dtype(Arith k, DType a, DType b) {
  DType dt = promote(a, b);
  if ((k == Arith::Div || k == Arith::Pow) && !is_floating(dt))
    return f64; // true division, as NumPy
  if (dt == b8)
    throw Error(std::string(arith_name(k)) +
                ": not defined for two bool tensors (convert with astype first)");
  return dt;
}

/// The dz op (docs/ir.md) of an arithmetic kind, for the tracer; kinds without one get a
/// name the compiler reports as unsupported.
const char *arith_op(Arith k) {
  switch (k) {
  case Arith::Add: return "add";
  case Arith::Sub: return "sub";
  case Arith::Mul: return "mul";
  case Arith::Div: return "div";
  case Arith::Pow: return "pow_tensor";
  case Arith::Max: return "maximum";
  case Arith::Min: return "minimum";
  }
  return "arith";
}

MapOp arith_map(Arith k) {
  constexpr MapOp kOps[] = {MapOp::add, MapOp::sub,     MapOp::mul,    MapOp::div,
                            MapOp::pow, MapOp::maximum, MapOp::minimum};
  return kOps[int(k)];
}

Tensor arith(Arith k, const Tensor &a0, const Tensor &b0) {
  TraceScope trace;
  DType dt = arith_dtype(k, a0.dtype(), b0.dtype());
  Shape shape = broadcast_shapes(a0.shape(), b0.shape(), arith_name(k));
  if (Device dev = device::op_device(arith_name(k), {&a0, &b0}); !dev.is_cpu()) {
    Tensor out = device::map(dev, arith_map(k), dt, shape, {a0.to(dt), b0.to(dt)});
    if (trace)
      trace->op(arith_op(k), {&a0, &b0}, out, {});
    return out;
  }
  Tensor a = a0.to(dt), b = b0.to(dt);
  Tensor out(shape, dt);
  visit_numeric(dt, arith_name(k), [&](auto tag) {
    arith_loop<typename decltype(tag)::type>(k, a, b, out);
  });
  if (trace)
    trace->op(arith_op(k), {&a0, &b0}, out, {});
  return out;
}

void arith_inplace(Arith k, Tensor &a, const Tensor &b0) {
  TraceScope trace;
  DType dt = arith_dtype(k, a.dtype(), b0.dtype());
  Shape shape = broadcast_shapes(a.shape(), b0.shape(), arith_name(k));
  if (dt != a.dtype() || shape != a.shape())
    throw Error(std::string("in-place ") + arith_name(k) + ": the result (" + shape_str(shape) +
                ", " + dtype_name(dt) + ") does not fit the left operand (" +
                shape_str(a.shape()) + ", " + dtype_name(a.dtype()) + ")");
  if (trace) // before the write: the tracer may keep the old value
    trace->inplace(arith_op(k), a, b0);
  Tensor b = b0.to(dt);
  if (Device dev = device::op_device(arith_name(k), {&a, &b0}); !dev.is_cpu())
    return device::map_into(a, arith_map(k), {a, b});
  visit_numeric(dt, arith_name(k), [&](auto tag) {
    arith_loop<typename decltype(tag)::type>(k, a, b, a);
  });
}

Tensor compare(Cmp k, const Tensor &a0, const Tensor &b0) {
  TraceScope trace; // comparisons have no dz op yet: the tracer reports them
  if (trace)
    trace->op("compare", {&a0, &b0}, a0, {});
  DType dt = promote(a0.dtype(), b0.dtype());
  Shape shape = broadcast_shapes(a0.shape(), b0.shape(), "compare");
  Tensor a = a0.to(dt), b = b0.to(dt);
  if (Device dev = device::op_device("compare", {&a0, &b0}); !dev.is_cpu()) {
    constexpr MapOp kOps[] = {MapOp::eq, MapOp::ne, MapOp::lt, MapOp::le, MapOp::gt, MapOp::ge};
    return device::map(dev, kOps[int(k)], b8, shape, {a, b});
  }
  Tensor out(shape, b8);
  visit_dtype(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    switch (k) {
    case Cmp::Eq:
      return binary_loop<bool, T>(a, b, out, [](T x, T y) { return x == y; });
    case Cmp::Ne:
      return binary_loop<bool, T>(a, b, out, [](T x, T y) { return x != y; });
    case Cmp::Lt:
      return binary_loop<bool, T>(a, b, out, [](T x, T y) { return x < y; });
    case Cmp::Le:
      return binary_loop<bool, T>(a, b, out, [](T x, T y) { return x <= y; });
    case Cmp::Gt:
      return binary_loop<bool, T>(a, b, out, [](T x, T y) { return x > y; });
    case Cmp::Ge:
      return binary_loop<bool, T>(a, b, out, [](T x, T y) { return x >= y; });
    }
  });
  return out;
}

/// A Python-like scalar next to tensor t: it takes t's dtype, except that a
/// non-integral value next to an integer tensor makes float64 (NumPy's rule).
Tensor scalar_like(const Tensor &t, double v) {
  DType dt = t.dtype();
  if (!is_floating(dt)) {
    bool integral = std::nearbyint(v) == v;
    dt = integral ? (dt == b8 ? i64 : dt) : f64;
  }
  return Tensor::scalar(v, dt);
}

/// o[i] = op(p[i]) in chunks: threads split the chunks, each chunk is a vector loop.
template <typename T, typename Op>
void map_loop(const T *p, T *o, int64_t n, int64_t grain, Op op) {
  constexpr int64_t kChunk = 8192;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (n > grain)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t i1 = std::min(n, (c + 1) * kChunk);
#pragma omp simd
    for (int64_t i = c * kChunk; i < i1; ++i)
      o[i] = op(p[i]);
  }
}

/// out = op(x) elementwise; integer inputs are computed in float64.
template <typename Op>
Tensor unary_float(const Tensor &x0, const char *name, MapOp map_op, Op op) {
  TraceScope trace;
  Tensor x = is_floating(x0.dtype()) ? x0 : x0.to(f64);
  if (!x.device().is_cpu()) {
    Tensor out = device::map(x.device(), map_op, x.dtype(), x.shape(), {x});
    if (trace)
      trace->op(name, {&x0}, out, {});
    return out;
  }
  Tensor out(x.shape(), x.dtype());
  int64_t n = x.size();
  visit_float(x.dtype(), name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    map_loop(static_cast<const T *>(x.raw()), static_cast<T *>(out.raw()), n,
             kParallelGrainMath, op);
  });
  if (trace)
    trace->op(name, {&x0}, out, {});
  return out;
}

/// exp that vectorises for float32 (fast_expf) and is std::exp for float64.
template <typename T> inline T vexp(T v) {
  if constexpr (std::is_same_v<T, float>)
    return fast_expf(v);
  else
    return std::exp(v);
}

/// out = op(x) elementwise for every numeric dtype.
template <typename Op>
Tensor unary_numeric(const Tensor &x, const char *name, MapOp map_op, Op op) {
  TraceScope trace;
  if (!x.device().is_cpu()) {
    if (x.dtype() == b8)
      throw Error(std::string(name) +
                  ": not defined for bool tensors (convert with astype first)");
    Tensor out = device::map(x.device(), map_op, x.dtype(), x.shape(), {x});
    if (trace)
      trace->op(name, {&x}, out, {});
    return out;
  }
  Tensor out(x.shape(), x.dtype());
  int64_t n = x.size();
  visit_numeric(x.dtype(), name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    map_loop(static_cast<const T *>(x.raw()), static_cast<T *>(out.raw()), n, kParallelGrain,
             op);
  });
  if (trace)
    trace->op(name, {&x}, out, {});
  return out;
}

} // namespace

// ---- arithmetic -------------------------------------------------------------------------------

Tensor operator+(const Tensor &a, const Tensor &b) { return arith(Arith::Add, a, b); }
Tensor operator-(const Tensor &a, const Tensor &b) { return arith(Arith::Sub, a, b); }
Tensor operator*(const Tensor &a, const Tensor &b) { return arith(Arith::Mul, a, b); }
Tensor operator/(const Tensor &a, const Tensor &b) { return arith(Arith::Div, a, b); }
Tensor pow(const Tensor &a, const Tensor &b) { return arith(Arith::Pow, a, b); }
Tensor maximum(const Tensor &a, const Tensor &b) { return arith(Arith::Max, a, b); }
Tensor minimum(const Tensor &a, const Tensor &b) { return arith(Arith::Min, a, b); }
Tensor maximum(const Tensor &a, double b) { return maximum(a, scalar_like(a, b)); }
Tensor minimum(const Tensor &a, double b) { return minimum(a, scalar_like(a, b)); }

Tensor operator+(const Tensor &a, double b) { return a + scalar_like(a, b); }
Tensor operator-(const Tensor &a, double b) { return a - scalar_like(a, b); }
Tensor operator*(const Tensor &a, double b) { return a * scalar_like(a, b); }
Tensor operator/(const Tensor &a, double b) { return a / scalar_like(a, b); }
Tensor operator+(double a, const Tensor &b) { return scalar_like(b, a) + b; }
Tensor operator-(double a, const Tensor &b) { return scalar_like(b, a) - b; }
Tensor operator*(double a, const Tensor &b) { return scalar_like(b, a) * b; }
Tensor operator/(double a, const Tensor &b) { return scalar_like(b, a) / b; }

Tensor operator-(const Tensor &a) {
  return unary_numeric(a, "neg", MapOp::neg, [](auto v) { return decltype(v)(-v); });
}

Tensor pow(const Tensor &a, double b) {
  if (b == 2.0)
    return square(a);
  if (!is_floating(a.dtype()))
    return pow(a, scalar_like(a, b));
  TraceScope trace;
  Tensor out = !a.device().is_cpu()
                   ? pow(a, Tensor::scalar(b, a.dtype()))
                   : unary_float(a, "pow", MapOp::pow, [b](auto v) {
                       return decltype(v)(std::pow(v, decltype(v)(b)));
                     });
  if (trace)
    trace->op("pow", {&a}, out, {{"exponent", b}});
  return out;
}

Tensor &Tensor::operator+=(const Tensor &o) {
  arith_inplace(Arith::Add, *this, o);
  return *this;
}
Tensor &Tensor::operator-=(const Tensor &o) {
  arith_inplace(Arith::Sub, *this, o);
  return *this;
}
Tensor &Tensor::operator*=(const Tensor &o) {
  arith_inplace(Arith::Mul, *this, o);
  return *this;
}
Tensor &Tensor::operator/=(const Tensor &o) {
  arith_inplace(Arith::Div, *this, o);
  return *this;
}
Tensor &Tensor::operator+=(double v) { return *this += scalar_like(*this, v); }
Tensor &Tensor::operator-=(double v) { return *this -= scalar_like(*this, v); }
Tensor &Tensor::operator*=(double v) { return *this *= scalar_like(*this, v); }
Tensor &Tensor::operator/=(double v) { return *this /= scalar_like(*this, v); }

// ---- comparisons, where, clip -------------------------------------------------------------

Tensor operator==(const Tensor &a, const Tensor &b) { return compare(Cmp::Eq, a, b); }
Tensor operator!=(const Tensor &a, const Tensor &b) { return compare(Cmp::Ne, a, b); }
Tensor operator<(const Tensor &a, const Tensor &b) { return compare(Cmp::Lt, a, b); }
Tensor operator<=(const Tensor &a, const Tensor &b) { return compare(Cmp::Le, a, b); }
Tensor operator>(const Tensor &a, const Tensor &b) { return compare(Cmp::Gt, a, b); }
Tensor operator>=(const Tensor &a, const Tensor &b) { return compare(Cmp::Ge, a, b); }
Tensor operator==(const Tensor &a, double b) { return a == scalar_like(a, b); }
Tensor operator<(const Tensor &a, double b) { return a < scalar_like(a, b); }
Tensor operator<=(const Tensor &a, double b) { return a <= scalar_like(a, b); }
Tensor operator>(const Tensor &a, double b) { return a > scalar_like(a, b); }
Tensor operator>=(const Tensor &a, double b) { return a >= scalar_like(a, b); }

Tensor where(const Tensor &cond0, const Tensor &a0, const Tensor &b0) {
  TraceScope trace; // no dz op yet: the tracer reports it
  if (trace)
    trace->op("where", {&cond0, &a0, &b0}, a0, {});
  DType dt = promote(a0.dtype(), b0.dtype());
  Shape shape = broadcast_shapes(broadcast_shapes(cond0.shape(), a0.shape(), "where"),
                                 b0.shape(), "where");
  Tensor cond = cond0.dtype() == b8 ? cond0 : (cond0 != Tensor::scalar(0, cond0.dtype()));
  if (Device dev = device::op_device("where", {&cond0, &a0, &b0}); !dev.is_cpu())
    return device::map(dev, MapOp::where, dt, shape, {cond, a0.to(dt), b0.to(dt)});
  Tensor a = a0.to(dt), b = b0.to(dt), out(shape, dt);
  if (out.size() == 0)
    return out;
  auto plan = make_plan<4>(shape, {broadcast_strides(cond.shape(), shape),
                                   broadcast_strides(a.shape(), shape),
                                   broadcast_strides(b.shape(), shape),
                                   contiguous_strides(shape)});
  visit_dtype(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const bool *pc = static_cast<const bool *>(cond.raw());
    const T *pa = static_cast<const T *>(a.raw());
    const T *pb = static_cast<const T *>(b.raw());
    T *po = static_cast<T *>(out.raw());
    int64_t inner = plan.inner();
    int64_t sc = plan.strides[0].back(), sa = plan.strides[1].back(),
            sb = plan.strides[2].back();
#pragma omp parallel for if (out.size() > kParallelGrain)
    for (int64_t r = 0; r < plan.outer(); ++r) {
      auto off = plan.row_offsets(r);
      for (int64_t j = 0; j < inner; ++j)
        po[off[3] + j] = pc[off[0] + j * sc] ? pa[off[1] + j * sa] : pb[off[2] + j * sb];
    }
  });
  return out;
}

Tensor clip(const Tensor &x, double lo, double hi) {
  TraceScope trace;
  if (lo > hi)
    throw Error("clip: lower bound " + std::to_string(lo) + " is above upper bound " +
                std::to_string(hi));
  if (!x.device().is_cpu()) {
    if (x.dtype() == b8)
      throw Error("clip: not defined for bool tensors (convert with astype first)");
    Tensor out =
        minimum(maximum(x, Tensor::scalar(lo, x.dtype())), Tensor::scalar(hi, x.dtype()));
    if (trace)
      trace->op("clip", {&x}, out, {{"min", lo}, {"max", hi}});
    return out;
  }
  Tensor out = unary_numeric(x, "clip", MapOp::cast, [lo, hi](auto v) {
    using T = decltype(v);
    return v < T(lo) ? T(lo) : (v > T(hi) ? T(hi) : v);
  });
  if (trace)
    trace->op("clip", {&x}, out, {{"min", lo}, {"max", hi}});
  return out;
}

// ---- unary math ---------------------------------------------------------------------------

Tensor exp(const Tensor &x) {
  return unary_float(x, "exp", MapOp::exp, [](auto v) { return vexp(v); });
}
Tensor log(const Tensor &x) {
  return unary_float(x, "log", MapOp::log, [](auto v) { return std::log(v); });
}
Tensor sin(const Tensor &x) {
  return unary_float(x, "sin", MapOp::sin, [](auto v) { return std::sin(v); });
}
Tensor cos(const Tensor &x) {
  return unary_float(x, "cos", MapOp::cos, [](auto v) { return std::cos(v); });
}
Tensor tanh(const Tensor &x) {
  return unary_float(x, "tanh", MapOp::tanh, [](auto v) {
    if constexpr (std::is_same_v<decltype(v), float>)
      return fast_tanhf(v);
    else
      return std::tanh(v);
  });
}
Tensor sqrt(const Tensor &x) {
  return unary_float(x, "sqrt", MapOp::sqrt, [](auto v) { return std::sqrt(v); });
}
Tensor erf(const Tensor &x) {
  return unary_float(x, "erf", MapOp::erf, [](auto v) { return std::erf(v); });
}
Tensor sigmoid(const Tensor &x) {
  return unary_float(x, "sigmoid", MapOp::sigmoid, [](auto v) {
    using T = decltype(v);
    return T(1) / (T(1) + vexp(-v)); // exp overflows to inf for v << 0: the result is 0
  });
}
Tensor abs(const Tensor &x) {
  return unary_numeric(x, "abs", MapOp::abs, [](auto v) {
    if constexpr (std::is_floating_point_v<decltype(v)>)
      return std::fabs(v); // abs(-0) = +0
    else if constexpr (std::is_signed_v<decltype(v)>)
      return v < 0 ? decltype(v)(-v) : v;
    else
      return v;
  });
}
Tensor square(const Tensor &x) {
  return unary_numeric(x, "square", MapOp::square, [](auto v) { return decltype(v)(v * v); });
}
Tensor relu(const Tensor &x) {
  // NaN stays NaN (NumPy's maximum(x, 0)).
  return unary_numeric(x, "relu", MapOp::relu, [](auto v) { return v <= 0 ? decltype(v)(0) : v; });
}

// ---- softmax and logsumexp -------------------------------------------------------------------

namespace {

/// Row-wise kernel over the last axis of a contiguous tensor viewed as (rows, cols).
/// Writes softmax (log_out = false) or logsumexp per row (log_out = true, out has `rows`).
template <typename T>
void softmax_rows(const T *x, T *out, int64_t rows, int64_t cols, bool lse_only) {
#pragma omp parallel for if (rows * cols > kParallelGrainMath)
  for (int64_t r = 0; r < rows; ++r) {
    const T *xr = x + r * cols;
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t j = 0; j < cols; ++j)
      m = std::max(m, xr[j]);
    if (lse_only) {
      if (std::isinf(m)) // +inf in the row gives +inf, a row of -inf (or none) -inf
        m = T(0);
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t j = 0; j < cols; ++j)
        s += vexp(xr[j] - m);
      out[r] = m + std::log(s);
    } else {
      T *o = out + r * cols;
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t j = 0; j < cols; ++j) {
        o[j] = vexp(xr[j] - m);
        s += o[j];
      }
      T inv = T(1) / s;
      for (int64_t j = 0; j < cols; ++j)
        o[j] *= inv;
    }
  }
}

} // namespace

namespace {
Tensor softmax_impl(const Tensor &x, int64_t axis) {
  int64_t ax = normalize_axis(axis, x.shape(), "softmax");
  if (x.ndim() > 0 && ax == x.ndim() - 1 && is_floating(x.dtype()) && x.device().is_cpu()) {
    Tensor out(x.shape(), x.dtype());
    int64_t cols = x.shape().back();
    visit_float(x.dtype(), "softmax", [&](auto tag) {
      using T = typename decltype(tag)::type;
      softmax_rows<T>(x.data<T>(), out.data<T>(), cols ? x.size() / cols : 0, cols, false);
    });
    return out;
  }
  if (x.ndim() > 0 && ax == x.ndim() - 1 && is_floating(x.dtype()))
    return device::softmax_last(x, false); // one kernel on the device
  Tensor e = exp(x - x.max({ax}, true));
  return e / e.sum({ax}, true);
}

Tensor logsumexp_impl(const Tensor &x, int64_t axis, bool keepdims) {
  int64_t ax = normalize_axis(axis, x.shape(), "logsumexp");
  if (x.ndim() == 0) // a 0-d tensor is its own only element: log(exp(x)) = x
    return is_floating(x.dtype()) ? x.copy() : x.to(f64);
  Shape kept = x.shape();
  kept[size_t(ax)] = 1;
  Tensor out;
  if (ax == x.ndim() - 1 && is_floating(x.dtype()) && x.device().is_cpu()) {
    out = Tensor(kept, x.dtype());
    int64_t cols = x.shape().back();
    visit_float(x.dtype(), "logsumexp", [&](auto tag) {
      using T = typename decltype(tag)::type;
      softmax_rows<T>(x.data<T>(), out.data<T>(), cols ? x.size() / cols : 0, cols, true);
    });
  } else if (ax == x.ndim() - 1 && is_floating(x.dtype())) {
    out = device::softmax_last(x, true); // one kernel on the device
  } else {
    // Shifted by the maximum, or by 0 where it is infinite (+inf in the row gives +inf,
    // a row of -inf gives -inf), as SciPy's logsumexp; an empty row gives -inf.
    Tensor m = x.shape(int(ax)) == 0 ? zeros(kept, x.dtype()) : x.max({ax}, true);
    m = where(abs(m) == std::numeric_limits<double>::infinity(), zeros({}, m.dtype()), m);
    out = m + log(exp(x - m).sum({ax}, true));
  }
  if (!keepdims)
    out = out.squeeze(ax);
  return out;
}

} // namespace

Tensor softmax(const Tensor &x, int64_t axis) {
  TraceScope trace;
  Tensor out = softmax_impl(x, axis);
  if (trace)
    trace->op("softmax", {&x}, out, {{"axis", axis}});
  return out;
}

Tensor logsumexp(const Tensor &x, int64_t axis, bool keepdims) {
  TraceScope trace; // no dz op of its own: the tracer reports it
  if (trace)
    trace->op("logsumexp", {&x}, x, {});
  return logsumexp_impl(x, axis, keepdims);
}

// ---- closeness ---------------------------------------------------------------------------------

bool allclose(const Tensor &a, const Tensor &b, double rtol, double atol) {
  if (a.shape() != b.shape())
    return false;
  Tensor x = a.to(Device::cpu()).to(f64), y = b.to(Device::cpu()).to(f64);
  const double *px = x.data<double>(), *py = y.data<double>();
  for (int64_t i = 0; i < x.size(); ++i) {
    if (std::isnan(px[i]) || std::isnan(py[i]))
      return false;
    if (std::abs(px[i] - py[i]) > atol + rtol * std::abs(py[i]))
      return false;
  }
  return true;
}

double max_abs_diff(const Tensor &a, const Tensor &b) {
  Tensor d = abs(a.to(f64) - b.to(f64));
  return d.size() ? d.max().item<double>() : 0.0;
}

} // namespace dz
