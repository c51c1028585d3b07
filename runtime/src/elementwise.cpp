// elementwise.cpp - the elementwise ops of the registry (dzc/ops.def) on tensors: the
// broadcasting CPU loops over each op's scalar code (scalar_ops.h) or the device's map
// kernel, and what the registry does not hold: where, clip, pow with a scalar exponent,
// softmax / logsumexp, and the closeness checks.
#include "device_ops.h"
#include "kernels.h"
#include "scalar_ops.h"

#include <dzc/direct_kernels.h>
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
                                   broadcast_strides(b.shape(), shape), contiguous_strides(shape)});
  const T *pa = static_cast<const T *>(a.raw());
  const T *pb = static_cast<const T *>(b.raw());
  O *po = static_cast<O *>(out.raw());
  const int64_t rows = plan.outer(), inner = plan.inner();
  const int64_t sa = plan.strides[0].back(), sb = plan.strides[1].back();
  // Work items: (row, chunk of the inner loop), so one long row still splits over threads.
  const int64_t chunk = rows >= 16 ? inner : std::min<int64_t>(inner, 16384);
  const int64_t chunks = (inner + chunk - 1) / chunk;
  auto item = [&](int64_t w) {
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
  };
  parallel_for(rows * chunks, n > kParallelGrain, item);
}

/// Calls fn(ops::NAME{}) for the registry op `op`.
template <typename Fn> void with_op(MapOp op, Fn &&fn) {
  switch (op) {
#define DZ_UNARY(name, ...)                                                                        \
  case MapOp::name:                                                                                \
    return fn(ops::name{});
#define DZ_BINARY(name, ...)                                                                       \
  case MapOp::name:                                                                                \
    return fn(ops::name{});
#include <dzc/ops.def>
  default:
    throw Error(std::string("internal: ") + map_op_name(op) + " is not a registry op");
  }
}

/// Calls fn(TypeTag<T>{}) for the dtypes of an op of domain D: float32/float64 for Float
/// and Predicate, every dtype but bool for Numeric, every dtype for Compare and Mask.
template <OpDomain D, typename Fn> void visit_domain(DType dt, const char *op, Fn &&fn) {
  if constexpr (D == OpDomain::Float || D == OpDomain::Predicate) {
    visit_float(dt, op, fn);
  } else if constexpr (D == OpDomain::Numeric) {
    visit_numeric(dt, op, [&](auto tag) {
      if constexpr (!std::is_same_v<typename decltype(tag)::type, bool>)
        fn(tag);
    });
  } else {
    visit_dtype(dt, fn);
  }
}

/// The dtype a binary op computes in for operands of dtypes a and b (NumPy's promotion;
/// Float ops compute integers in float64, as NumPy's true division).
DType binary_dtype(MapOp op, DType a, DType b) {
  const OpInfo &info = op_info(op);
  DType dt = promote(a, b);
  if (info.domain == OpDomain::Float && !is_floating(dt))
    return f64;
  if (info.domain == OpDomain::Numeric && dt == b8)
    throw Error(std::string(info.name) +
                ": not defined for two bool tensors (convert with astype first)");
  return dt;
}

/// out = op(a, b) over the broadcast of a and b; a and b have the compute dtype.
void binary_cpu(MapOp op, const Tensor &a, const Tensor &b, Tensor &out) {
  with_op(op, [&](auto o) {
    using Op = decltype(o);
    if constexpr (Op::arity == 2)
      visit_domain<Op::domain>(a.dtype(), op_info(op).name, [&](auto tag) {
        using T = typename decltype(tag)::type;
        using R = ops::result_t<Op::domain, T>;
        binary_loop<R, T>(a, b, out, [](T x, T y) { return Op::apply(x, y); });
      });
  });
}

Tensor binary(MapOp op, const Tensor &a0, const Tensor &b0) {
  TraceScope trace;
  const char *name = op_info(op).name;
  DType dt = binary_dtype(op, a0.dtype(), b0.dtype());
  DType out_dtype = op_info(op).bool_result() ? b8 : dt;
  Shape shape = broadcast_shapes(a0.shape(), b0.shape(), name);
  Tensor out;
  if (Device dev = device::op_device(name, {&a0, &b0}); !dev.is_cpu()) {
    out = device::map(dev, op, out_dtype, shape, {a0.to(dt), b0.to(dt)});
  } else {
    Tensor a = a0.to(dt), b = b0.to(dt);
    out = Tensor(shape, out_dtype);
    binary_cpu(op, a, b, out);
  }
  if (trace)
    trace->op(name, {&a0, &b0}, out, {});
  return out;
}

void binary_inplace(MapOp op, Tensor &a, const Tensor &b0) {
  TraceScope trace;
  const char *name = op_info(op).name;
  DType dt = binary_dtype(op, a.dtype(), b0.dtype());
  Shape shape = broadcast_shapes(a.shape(), b0.shape(), name);
  if (dt != a.dtype() || shape != a.shape())
    throw Error(std::string("in-place ") + name + ": the result (" + shape_str(shape) + ", " +
                dtype_name(dt) + ") does not fit the left operand (" + shape_str(a.shape()) + ", " +
                dtype_name(a.dtype()) + ")");
  if (trace) // before the write: the tracer may keep the old value
    trace->inplace(name, a, b0);
  Tensor b = b0.to(dt);
  if (Device dev = device::op_device(name, {&a, &b0}); !dev.is_cpu())
    return device::map_into(a, op, {a, b});
  binary_cpu(op, a, b, a);
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
template <typename T, typename R, typename Op>
void map_loop(const T *p, R *o, int64_t n, int64_t grain, Op op) {
  if (n <= grain) { // no OpenMP region at all: entering one costs more than a small loop
#pragma omp simd
    for (int64_t i = 0; i < n; ++i)
      o[i] = op(p[i]);
    return;
  }
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

/// out = op(x) elementwise for a unary registry op: Float and Predicate ops compute
/// integer inputs in float64, Numeric ops refuse bool.
Tensor unary(MapOp op, const Tensor &x0) {
  TraceScope trace;
  const OpInfo &info = op_info(op);
  const bool floating = info.domain == OpDomain::Float || info.domain == OpDomain::Predicate;
  Tensor x = floating && !is_floating(x0.dtype()) ? x0.to(f64) : x0;
  if (info.domain == OpDomain::Numeric && x.dtype() == b8)
    throw Error(std::string(info.name) +
                ": not defined for bool tensors (convert with astype first)");
  const DType out_dtype = info.bool_result() ? b8 : x.dtype();
  Tensor out;
  if (!x.device().is_cpu()) {
    out = device::map(x.device(), op, out_dtype, x.shape(), {x});
  } else {
    out = Tensor(x.shape(), out_dtype);
    const int64_t n = x.size();
    const int64_t grain = info.domain == OpDomain::Float ? kParallelGrainMath : kParallelGrain;
    with_op(op, [&](auto o) {
      using Op = decltype(o);
      if constexpr (Op::arity == 1)
        visit_domain<Op::domain>(x.dtype(), info.name, [&](auto tag) {
          using T = typename decltype(tag)::type;
          using R = ops::result_t<Op::domain, T>;
          map_loop(static_cast<const T *>(x.raw()), static_cast<R *>(out.raw()), n, grain,
                   [](T v) { return Op::apply(v); });
        });
    });
  }
  if (trace)
    trace->op(info.name, {&x0}, out, {});
  return out;
}

} // namespace

// ---- the registry's ops: dz::NAME ---------------------------------------------------------

#define DZ_UNARY(name, ...)                                                                        \
  Tensor name(const Tensor &x) { return unary(MapOp::name, x); }
#define DZ_BINARY(name, ...)                                                                       \
  Tensor name(const Tensor &a, const Tensor &b) { return binary(MapOp::name, a, b); }
#include <dzc/ops.def>

// ---- arithmetic -------------------------------------------------------------------------------

Tensor operator+(const Tensor &a, const Tensor &b) { return add(a, b); }
Tensor operator-(const Tensor &a, const Tensor &b) { return sub(a, b); }
Tensor operator*(const Tensor &a, const Tensor &b) { return mul(a, b); }
Tensor operator/(const Tensor &a, const Tensor &b) { return div(a, b); }
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

Tensor operator-(const Tensor &a) { return neg(a); }

Tensor pow(const Tensor &a, double b) {
  if (b == 2.0)
    return square(a);
  if (!is_floating(a.dtype()))
    return pow(a, scalar_like(a, b));
  TraceScope trace;
  Tensor out;
  if (!a.device().is_cpu()) {
    out = pow(a, Tensor::scalar(b, a.dtype()));
  } else {
    out = Tensor(a.shape(), a.dtype());
    visit_float(a.dtype(), "pow", [&](auto tag) {
      using T = typename decltype(tag)::type;
      map_loop(a.data<T>(), out.data<T>(), a.size(), kParallelGrainMath,
               [e = T(b)](T v) { return ops::pow::apply(v, e); });
    });
  }
  if (trace)
    trace->op("pow_scalar", {&a}, out, {{"exponent", b}});
  return out;
}

Tensor &Tensor::operator+=(const Tensor &o) {
  binary_inplace(MapOp::add, *this, o);
  return *this;
}
Tensor &Tensor::operator-=(const Tensor &o) {
  binary_inplace(MapOp::sub, *this, o);
  return *this;
}
Tensor &Tensor::operator*=(const Tensor &o) {
  binary_inplace(MapOp::mul, *this, o);
  return *this;
}
Tensor &Tensor::operator/=(const Tensor &o) {
  binary_inplace(MapOp::div, *this, o);
  return *this;
}
Tensor &Tensor::operator+=(double v) { return *this += scalar_like(*this, v); }
Tensor &Tensor::operator-=(double v) { return *this -= scalar_like(*this, v); }
Tensor &Tensor::operator*=(double v) { return *this *= scalar_like(*this, v); }
Tensor &Tensor::operator/=(double v) { return *this /= scalar_like(*this, v); }

// ---- comparisons, where, clip -------------------------------------------------------------

Tensor operator==(const Tensor &a, const Tensor &b) { return equal(a, b); }
Tensor operator!=(const Tensor &a, const Tensor &b) { return not_equal(a, b); }
Tensor operator<(const Tensor &a, const Tensor &b) { return less(a, b); }
Tensor operator<=(const Tensor &a, const Tensor &b) { return less_equal(a, b); }
Tensor operator>(const Tensor &a, const Tensor &b) { return greater(a, b); }
Tensor operator>=(const Tensor &a, const Tensor &b) { return greater_equal(a, b); }
Tensor operator==(const Tensor &a, double b) { return a == scalar_like(a, b); }
Tensor operator<(const Tensor &a, double b) { return a < scalar_like(a, b); }
Tensor operator<=(const Tensor &a, double b) { return a <= scalar_like(a, b); }
Tensor operator>(const Tensor &a, double b) { return a > scalar_like(a, b); }
Tensor operator>=(const Tensor &a, double b) { return a >= scalar_like(a, b); }

Tensor where(const Tensor &cond0, const Tensor &a0, const Tensor &b0) {
  TraceScope trace;
  DType dt = promote(a0.dtype(), b0.dtype());
  Shape shape =
      broadcast_shapes(broadcast_shapes(cond0.shape(), a0.shape(), "where"), b0.shape(), "where");
  Tensor cond = cond0.dtype() == b8 ? cond0 : (cond0 != Tensor::scalar(0, cond0.dtype()));
  Tensor out;
  if (Device dev = device::op_device("where", {&cond0, &a0, &b0}); !dev.is_cpu()) {
    out = device::map(dev, MapOp::where, dt, shape, {cond, a0.to(dt), b0.to(dt)});
    if (trace)
      trace->op("select", {&cond0, &a0, &b0}, out, {});
    return out;
  }
  Tensor a = a0.to(dt), b = b0.to(dt);
  out = Tensor(shape, dt);
  if (out.size() == 0) {
    if (trace)
      trace->op("select", {&cond0, &a0, &b0}, out, {});
    return out;
  }
  auto plan = make_plan<4>(shape, {broadcast_strides(cond.shape(), shape),
                                   broadcast_strides(a.shape(), shape),
                                   broadcast_strides(b.shape(), shape), contiguous_strides(shape)});
  visit_dtype(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const bool *pc = static_cast<const bool *>(cond.raw());
    const T *pa = static_cast<const T *>(a.raw());
    const T *pb = static_cast<const T *>(b.raw());
    T *po = static_cast<T *>(out.raw());
    int64_t inner = plan.inner();
    int64_t sc = plan.strides[0].back(), sa = plan.strides[1].back(), sb = plan.strides[2].back();
#pragma omp parallel for if (out.size() > kParallelGrain)
    for (int64_t r = 0; r < plan.outer(); ++r) {
      auto off = plan.row_offsets(r);
      for (int64_t j = 0; j < inner; ++j)
        po[off[3] + j] = pc[off[0] + j * sc] ? pa[off[1] + j * sa] : pb[off[2] + j * sb];
    }
  });
  if (trace)
    trace->op("select", {&cond0, &a0, &b0}, out, {});
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
    Tensor out = minimum(maximum(x, Tensor::scalar(lo, x.dtype())), Tensor::scalar(hi, x.dtype()));
    if (trace)
      trace->op("clip", {&x}, out, {{"min", lo}, {"max", hi}});
    return out;
  }
  Tensor out(x.shape(), x.dtype());
  visit_numeric(x.dtype(), "clip", [&](auto tag) {
    using T = typename decltype(tag)::type;
    // NaN stays NaN (NumPy's clip).
    map_loop(x.data<T>(), out.data<T>(), x.size(), kParallelGrain,
             [l = T(lo), h = T(hi)](T v) { return v < l ? l : (v > h ? h : v); });
  });
  if (trace)
    trace->op("clip", {&x}, out, {{"min", lo}, {"max", hi}});
  return out;
}

// ---- softmax and logsumexp -------------------------------------------------------------------

namespace {

/// Softmax (lse_only = false) or logsumexp (lse_only = true, one value) of one row.
template <typename T> void softmax_row(const T *xr, T *out, int64_t cols, bool lse_only) {
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t j = 0; j < cols; ++j)
    m = std::max(m, xr[j]);
  if (lse_only) {
    if (std::isinf(m)) // +inf in the row gives +inf, a row of -inf (or none) -inf
      m = T(0);
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < cols; ++j)
      s += scalar::Exp(xr[j] - m);
    *out = m + std::log(s);
  } else {
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < cols; ++j) {
      out[j] = scalar::Exp(xr[j] - m);
      s += out[j];
    }
    T inv = T(1) / s;
    for (int64_t j = 0; j < cols; ++j)
      out[j] *= inv;
  }
}

/// Rows shorter than kShortRow: a class score of a few classes.
inline constexpr int64_t kShortRow = 16;

/// softmax_row over rows shorter than kShortRow, a block of rows at a time: the row maxima,
/// then the exponentials of the whole block in one vector loop (a row alone is too short
/// for the vector units), then each row's sum. The same values as softmax_row, except for
/// the order of a row's sum.
template <typename T>
void softmax_short_rows(const T *x, T *out, int64_t rows, int64_t cols, bool lse_only) {
  constexpr int64_t kRows = 64;
  T shift[kRows * kShortRow], e[kRows * kShortRow];
  for (int64_t r0 = 0; r0 < rows; r0 += kRows) {
    const int64_t nr = std::min(kRows, rows - r0), n = nr * cols;
    const T *xb = x + r0 * cols;
    for (int64_t r = 0; r < nr; ++r) {
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t j = 0; j < cols; ++j)
        m = std::max(m, xb[r * cols + j]);
      if (lse_only && std::isinf(m))
        m = T(0);
      for (int64_t j = 0; j < cols; ++j)
        shift[r * cols + j] = m;
    }
    T *eb = lse_only ? e : out + r0 * cols;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i)
      eb[i] = scalar::Exp(xb[i] - shift[i]);
    for (int64_t r = 0; r < nr; ++r) {
      T s = 0;
      for (int64_t j = 0; j < cols; ++j)
        s += eb[r * cols + j];
      if (lse_only) {
        out[r0 + r] = shift[r * cols] + std::log(s);
      } else {
        const T inv = T(1) / s;
        for (int64_t j = 0; j < cols; ++j)
          eb[r * cols + j] *= inv;
      }
    }
  }
}

/// Row-wise kernel over the last axis of a contiguous tensor viewed as (rows, cols).
/// Writes softmax (lse_only = false) or logsumexp per row (lse_only = true, out has `rows`).
template <typename T>
void softmax_rows(const T *x, T *out, int64_t rows, int64_t cols, bool lse_only) {
  const int64_t step = lse_only ? 1 : cols;
  const bool parallel = rows * cols > kParallelGrainMath;
  if (cols > 0 && cols < kShortRow && !parallel)
    return softmax_short_rows(x, out, rows, cols, lse_only);
  parallel_for(rows, parallel,
               [&](int64_t r) { softmax_row(x + r * cols, out + r * step, cols, lse_only); });
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

// ---- direct kernels (dzc/direct_kernels.h) ---------------------------------------------------

namespace direct {

namespace {
/// Whether registry op `op` of `arity` operands computes in dtype dt with a result of dt.
bool maps_within(MapOp op, int arity, DType dt) {
  const OpInfo &info = op_info(op);
  if (info.arity != arity || info.bool_result())
    return false;
  if (info.domain == OpDomain::Float || info.domain == OpDomain::Predicate)
    return is_floating(dt);
  return info.domain == OpDomain::Numeric && dt != b8;
}
} // namespace

bool has_unary(MapOp op, DType dt) { return maps_within(op, 1, dt); }

void unary(MapOp op, DType dt, const void *x, void *out, int64_t n) {
  const OpInfo &info = op_info(op);
  const int64_t grain = info.domain == OpDomain::Float ? kParallelGrainMath : kParallelGrain;
  with_op(op, [&](auto o) {
    using Op = decltype(o);
    if constexpr (Op::arity == 1)
      visit_domain<Op::domain>(dt, info.name, [&](auto tag) {
        using T = typename decltype(tag)::type;
        using R = ops::result_t<Op::domain, T>;
        if constexpr (std::is_same_v<R, T>)
          map_loop(static_cast<const T *>(x), static_cast<R *>(out), n, grain,
                   [](T v) { return Op::apply(v); });
        else
          throw Error(std::string("internal: direct::unary of ") + info.name +
                      " changes the dtype");
      });
  });
}

bool has_binary(MapOp op, DType dt) { return maps_within(op, 2, dt); }

void binary(MapOp op, DType dt, const void *a, int64_t sa, const void *b, int64_t sb, void *out,
            int64_t n) {
  with_op(op, [&](auto o) {
    using Op = decltype(o);
    if constexpr (Op::arity == 2)
      visit_domain<Op::domain>(dt, op_info(op).name, [&](auto tag) {
        using T = typename decltype(tag)::type;
        using R = ops::result_t<Op::domain, T>;
        if constexpr (std::is_same_v<R, T>) {
          const T *x = static_cast<const T *>(a), *y = static_cast<const T *>(b);
          T *po = static_cast<T *>(out);
          auto range = [&](int64_t j0, int64_t j1) {
            if (sa == 1 && sb == 1) {
#pragma omp simd
              for (int64_t j = j0; j < j1; ++j)
                po[j] = Op::apply(x[j], y[j]);
            } else if (sa == 1) {
              const T yv = y[0];
#pragma omp simd
              for (int64_t j = j0; j < j1; ++j)
                po[j] = Op::apply(x[j], yv);
            } else if (sb == 1) {
              const T xv = x[0];
#pragma omp simd
              for (int64_t j = j0; j < j1; ++j)
                po[j] = Op::apply(xv, y[j]);
            } else {
              for (int64_t j = j0; j < j1; ++j)
                po[j] = Op::apply(x[0], y[0]);
            }
          };
          constexpr int64_t kChunk = 16384;
          parallel_for((n + kChunk - 1) / kChunk, n > kParallelGrain, [&](int64_t c) {
            range(c * kChunk, std::min(n, (c + 1) * kChunk));
          });
        } else {
          throw Error(std::string("internal: direct::binary of ") + op_info(op).name +
                      " changes the dtype");
        }
      });
  });
}

void softmax_rows(DType dt, const void *x, void *out, int64_t rows, int64_t cols) {
  visit_float(dt, "softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    dz::softmax_rows<T>(static_cast<const T *>(x), static_cast<T *>(out), rows, cols, false);
  });
}

void lse_rows(DType dt, const void *x, void *out, int64_t rows, int64_t cols) {
  visit_float(dt, "logsumexp", [&](auto tag) {
    using T = typename decltype(tag)::type;
    dz::softmax_rows<T>(static_cast<const T *>(x), static_cast<T *>(out), rows, cols, true);
  });
}

} // namespace direct

} // namespace dz
