// test_numerics.cpp - NaN, +-Inf, +-0 and denormals through every elementwise op and
// reduction of the eager API, on the four paths: CPU eager, CPU compiled (dz::compile, each
// op once on its own and once fused after a negation), CUDA eager and CUDA compiled (on the
// GPU where there is one; ctest also runs it with --emulate on the host emulation). Every
// path is compared with a float64 reference written with <cmath> that follows NumPy (and
// SciPy's logsumexp): NaN where the reference is NaN and nowhere else, infinities exactly
// with their sign, the sign of a zero where NumPy fixes it, finite values within a
// tolerance for the dtype (the float32 exp/tanh/log... approximations are not exact).
//
// The ops are three tables (unary, binary, over rows; the loss has a table of cases); each
// entry names the paths that apply to it. Each path runs all ops of a dtype at once: one tensor of
// every special value per op, and one compiled function per dtype and device.
#include "device_test.h"

#include <dzc/dzc.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace F = dz::functions;
using dz::Device;
using dz::DType;
using dz::Tensor;
using dz::Variable;
using dz::testing::kGpu;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- the paths ----------------------------------------------------------------------------

enum Path : unsigned { kCpuEager = 1, kCpuCompiled = 2, kCudaEager = 4, kCudaCompiled = 8 };
constexpr unsigned kEagerPaths = kCpuEager | kCudaEager;
constexpr unsigned kAllPaths = kCpuEager | kCpuCompiled | kCudaEager | kCudaCompiled;

const char *path_name(unsigned p) {
  switch (p) {
  case kCpuEager:
    return "cpu eager";
  case kCpuCompiled:
    return "cpu compiled";
  case kCudaEager:
    return "cuda eager";
  default:
    return "cuda compiled";
  }
}

// ---- the float64 references (NumPy's semantics) -------------------------------------------

double np_maximum(double a, double b) { return a > b || std::isnan(a) ? a : b; }
double np_minimum(double a, double b) { return a < b || std::isnan(a) ? a : b; }
double np_sigmoid(double x) { return 1 / (1 + std::exp(-x)); }
// np.remainder: fmod moved into the sign of b; a zero takes b's sign.
double np_remainder(double a, double b) {
  double r = std::fmod(a, b);
  if (r == 0)
    return std::copysign(0.0, b);
  return (b < 0) != (r < 0) ? r + b : r;
}

// np.floor_divide: NumPy's divmod (npy_divmod), a / b where b is 0.
double np_floor_divide(double a, double b) {
  if (b == 0)
    return a / b;
  const double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0 && (b < 0) != (mod < 0))
    div -= 1;
  if (div == 0)
    return std::copysign(0.0, a / b);
  const double floordiv = std::floor(div);
  return div - floordiv > 0.5 ? floordiv + 1 : floordiv;
}

std::vector<double> row_softmax(const std::vector<double> &x) {
  double m = x[0];
  for (double v : x)
    m = np_maximum(m, v);
  std::vector<double> e;
  double s = 0;
  for (double v : x)
    s += e.emplace_back(std::exp(v - m));
  for (double &v : e)
    v /= s;
  return e;
}

// scipy.special.logsumexp: shifted by the maximum, or by 0 where that is not finite.
std::vector<double> row_logsumexp(const std::vector<double> &x) {
  double m = x[0];
  for (double v : x)
    m = np_maximum(m, v);
  if (!std::isfinite(m))
    m = 0;
  double s = 0;
  for (double v : x)
    s += std::exp(v - m);
  return {std::log(s) + m};
}

// ---- the op tables ------------------------------------------------------------------------

struct UnaryOp {
  const char *name;
  Tensor (*eager)(const Tensor &);
  double (*reference)(double);
  unsigned paths;
  bool zero_sign; // NumPy fixes the sign of a zero result (max/min/clip ties it does not)
};

const UnaryOp kUnaryOps[] = {
    {"neg", [](const Tensor &x) { return -x; }, [](double x) { return -x; }, kAllPaths, true},
    {"exp", [](const Tensor &x) { return dz::exp(x); }, [](double x) { return std::exp(x); },
     kAllPaths, true},
    {"log", [](const Tensor &x) { return dz::log(x); }, [](double x) { return std::log(x); },
     kAllPaths, true},
    {"sin", [](const Tensor &x) { return dz::sin(x); }, [](double x) { return std::sin(x); },
     kAllPaths, true},
    {"cos", [](const Tensor &x) { return dz::cos(x); }, [](double x) { return std::cos(x); },
     kAllPaths, true},
    {"tanh", [](const Tensor &x) { return dz::tanh(x); }, [](double x) { return std::tanh(x); },
     kAllPaths, true},
    {"sqrt", [](const Tensor &x) { return dz::sqrt(x); }, [](double x) { return std::sqrt(x); },
     kAllPaths, true},
    {"abs", [](const Tensor &x) { return dz::abs(x); }, [](double x) { return std::fabs(x); },
     kAllPaths, true},
    {"square", [](const Tensor &x) { return dz::square(x); }, [](double x) { return x * x; },
     kAllPaths, true},
    {"erf", [](const Tensor &x) { return dz::erf(x); }, [](double x) { return std::erf(x); },
     kAllPaths, true},
    {"sigmoid", [](const Tensor &x) { return dz::sigmoid(x); }, np_sigmoid, kAllPaths, true},
    {"relu", [](const Tensor &x) { return dz::relu(x); },
     [](double x) { return np_maximum(x, 0.0); }, kAllPaths, true},
    {"pow 0.5", [](const Tensor &x) { return dz::pow(x, 0.5); },
     [](double x) { return std::pow(x, 0.5); }, kAllPaths, true},
    {"pow 3", [](const Tensor &x) { return dz::pow(x, 3.0); },
     [](double x) { return std::pow(x, 3.0); }, kAllPaths, true},
    {"pow -1", [](const Tensor &x) { return dz::pow(x, -1.0); },
     [](double x) { return std::pow(x, -1.0); }, kAllPaths, true},
    {"pow 2", [](const Tensor &x) { return dz::pow(x, 2.0); },
     [](double x) { return std::pow(x, 2.0); }, kAllPaths, true},
    {"clip", [](const Tensor &x) { return dz::clip(x, -1.0, 2.0); },
     [](double x) { return np_minimum(np_maximum(x, -1.0), 2.0); }, kAllPaths, false},
    {"leaky_relu", [](const Tensor &x) { return F::leaky_relu(Variable(x), 0.2).data(); },
     [](double x) { return x > 0 ? x : x * 0.2; }, kAllPaths, true},
    {"tan", [](const Tensor &x) { return dz::tan(x); }, [](double x) { return std::tan(x); },
     kAllPaths, true},
    {"asin", [](const Tensor &x) { return dz::asin(x); }, [](double x) { return std::asin(x); },
     kAllPaths, true},
    {"acos", [](const Tensor &x) { return dz::acos(x); }, [](double x) { return std::acos(x); },
     kAllPaths, true},
    {"atan", [](const Tensor &x) { return dz::atan(x); }, [](double x) { return std::atan(x); },
     kAllPaths, true},
    {"sinh", [](const Tensor &x) { return dz::sinh(x); }, [](double x) { return std::sinh(x); },
     kAllPaths, true},
    {"cosh", [](const Tensor &x) { return dz::cosh(x); }, [](double x) { return std::cosh(x); },
     kAllPaths, true},
    {"asinh", [](const Tensor &x) { return dz::asinh(x); }, [](double x) { return std::asinh(x); },
     kAllPaths, true},
    {"acosh", [](const Tensor &x) { return dz::acosh(x); }, [](double x) { return std::acosh(x); },
     kAllPaths, true},
    {"atanh", [](const Tensor &x) { return dz::atanh(x); }, [](double x) { return std::atanh(x); },
     kAllPaths, true},
    {"ceil", [](const Tensor &x) { return dz::ceil(x); }, [](double x) { return std::ceil(x); },
     kAllPaths, true},
    {"floor", [](const Tensor &x) { return dz::floor(x); }, [](double x) { return std::floor(x); },
     kAllPaths, true},
    {"round", [](const Tensor &x) { return dz::round(x); },
     [](double x) { return std::nearbyint(x); }, kAllPaths, true},
    {"sign", [](const Tensor &x) { return dz::sign(x); },
     [](double x) { return x > 0    ? 1.0
                           : x < 0  ? -1.0
                           : x == 0 ? 0.0
                                    : x; }, kAllPaths, true},
    {"isnan", [](const Tensor &x) { return dz::isnan(x); },
     [](double x) { return double(std::isnan(x)); }, kAllPaths, true},
    {"isinf", [](const Tensor &x) { return dz::isinf(x); },
     [](double x) { return double(std::isinf(x)); }, kAllPaths, true},
};

struct BinaryOp {
  const char *name;
  Tensor (*eager)(const Tensor &, const Tensor &);
  double (*reference)(double, double);
  unsigned paths;
  bool zero_sign;
};

const BinaryOp kBinaryOps[] = {
    {"add", [](const Tensor &a, const Tensor &b) { return a + b; },
     [](double a, double b) { return a + b; }, kAllPaths, true},
    {"sub", [](const Tensor &a, const Tensor &b) { return a - b; },
     [](double a, double b) { return a - b; }, kAllPaths, true},
    {"mul", [](const Tensor &a, const Tensor &b) { return a * b; },
     [](double a, double b) { return a * b; }, kAllPaths, true},
    {"div", [](const Tensor &a, const Tensor &b) { return a / b; },
     [](double a, double b) { return a / b; }, kAllPaths, true},
    {"pow", [](const Tensor &a, const Tensor &b) { return dz::pow(a, b); },
     [](double a, double b) { return std::pow(a, b); }, kAllPaths, true},
    {"maximum", [](const Tensor &a, const Tensor &b) { return dz::maximum(a, b); }, np_maximum,
     kAllPaths, false},
    {"minimum", [](const Tensor &a, const Tensor &b) { return dz::minimum(a, b); }, np_minimum,
     kAllPaths, false},
    {"equal", [](const Tensor &a, const Tensor &b) { return a == b; },
     [](double a, double b) { return double(a == b); }, kAllPaths, true},
    {"not_equal", [](const Tensor &a, const Tensor &b) { return a != b; },
     [](double a, double b) { return double(a != b); }, kAllPaths, true},
    {"less", [](const Tensor &a, const Tensor &b) { return a < b; },
     [](double a, double b) { return double(a < b); }, kAllPaths, true},
    {"less_equal", [](const Tensor &a, const Tensor &b) { return a <= b; },
     [](double a, double b) { return double(a <= b); }, kAllPaths, true},
    {"greater", [](const Tensor &a, const Tensor &b) { return a > b; },
     [](double a, double b) { return double(a > b); }, kAllPaths, true},
    {"greater_equal", [](const Tensor &a, const Tensor &b) { return a >= b; },
     [](double a, double b) { return double(a >= b); }, kAllPaths, true},
    {"where", [](const Tensor &a, const Tensor &b) { return dz::where(a > 0.0, a, b); },
     [](double a, double b) { return a > 0 ? a : b; }, kAllPaths, true},
    {"mod", [](const Tensor &a, const Tensor &b) { return dz::mod(a, b); }, np_remainder, kAllPaths,
     true},
    {"fmod", [](const Tensor &a, const Tensor &b) { return dz::fmod(a, b); },
     [](double a, double b) { return std::fmod(a, b); }, kAllPaths, true},
    {"floor_divide", [](const Tensor &a, const Tensor &b) { return dz::floor_divide(a, b); },
     np_floor_divide, kAllPaths, true},
    {"trunc_divide", [](const Tensor &a, const Tensor &b) { return dz::trunc_divide(a, b); },
     [](double a, double b) { return std::trunc(a / b); }, kAllPaths, true},
};

/// Ops over the rows of a (rows, cols) tensor along `axis` (1: the rows as stored; 0: the
/// test passes the transpose). The reference maps a row to its result (one value for a
/// reduction, a row for softmax).
struct RowOp {
  const char *name;
  Tensor (*eager)(const Tensor &, int64_t axis);
  std::vector<double> (*reference)(const std::vector<double> &);
  unsigned paths;
};

const RowOp kRowOps[] = {
    {"sum", [](const Tensor &x, int64_t axis) { return x.sum({axis}, true); },
     [](const std::vector<double> &x) {
       double s = 0;
       for (double v : x)
         s += v;
       return std::vector<double>{s};
     },
     kAllPaths},
    {"max", [](const Tensor &x, int64_t axis) { return x.max({axis}, true); },
     [](const std::vector<double> &x) {
       double m = x[0];
       for (double v : x)
         m = np_maximum(m, v);
       return std::vector<double>{m};
     },
     kAllPaths},
    {"min", [](const Tensor &x, int64_t axis) { return x.min({axis}, true); },
     [](const std::vector<double> &x) {
       double m = x[0];
       for (double v : x)
         m = np_minimum(m, v);
       return std::vector<double>{m};
     },
     kAllPaths},
    {"mean", [](const Tensor &x, int64_t axis) { return x.mean({axis}, true); },
     [](const std::vector<double> &x) {
       double s = 0;
       for (double v : x)
         s += v;
       return std::vector<double>{s / double(x.size())};
     },
     kAllPaths},
    {"argmax", [](const Tensor &x, int64_t axis) { return x.argmax(axis, true); },
     [](const std::vector<double> &x) { // the first NaN, else the first maximum
       size_t best = 0;
       for (size_t j = 1; j < x.size(); ++j)
         if (!std::isnan(x[best]) && (x[j] > x[best] || std::isnan(x[j])))
           best = j;
       return std::vector<double>{double(best)};
     },
     kEagerPaths},
    {"softmax", [](const Tensor &x, int64_t axis) { return dz::softmax(x, axis); }, row_softmax,
     kAllPaths},
    {"logsumexp", [](const Tensor &x, int64_t axis) { return dz::logsumexp(x, axis, true); },
     row_logsumexp, kEagerPaths},
};

/// softmax_cross_entropy of one row and its label: logsumexp(row) - row[label].
struct LossCase {
  std::vector<double> row;
  int64_t label;
};

const LossCase kLossCases[] = {{{1, 2, 3}, 2},     {{kInf, 1, 2}, 1},      {{kInf, 1, 2}, 0},
                               {{-kInf, 1, 2}, 1}, {{-kInf, 1, 2}, 0},     {{kNaN, 1, 2}, 1},
                               {{50, 50, -50}, 0}, {{-kInf, -kInf, 3}, 2}, {{kInf, kInf, 1}, 2}};

// ---- the inputs ---------------------------------------------------------------------------

/// The smallest positive denormal's order of magnitude for the dtype, times a few.
double denormal(DType dt) { return dt == dz::f32 ? 3e-41 : 3e-310; }

/// Every special value and a few ordinary ones (some large enough to overflow exp).
std::vector<double> unary_values(DType dt) {
  const double d = denormal(dt);
  return {kNaN,  kInf, -kInf, 0.0,   -0.0, d,     -d,  1.0,    -1.0, 0.5,    -2.5, 3.0,  -7.0, 20.0,
          100.0, -100, 1000,  -1000, 1e-3, -1e-3, 710, -745.5, 89.0, -104.0, 1e6,  -3e8, 1e15};
}

std::vector<double> binary_values(DType dt) {
  const double d = denormal(dt);
  return {kNaN, kInf, -kInf, 0.0, -0.0, d, -d, 1.0, -1.0, 2.5, -3.0, 0.5, 1000.0};
}

/// Rows of 4 for the reductions and softmax.
std::vector<std::vector<double>> rows(DType dt) {
  const double d = denormal(dt);
  return {{1, 2, 3, 4},
          {kNaN, 1, 2, 3},
          {1, kNaN, -kInf, kInf},
          {kInf, 1, 2, 3},
          {-kInf, 1, 2, 3},
          {kInf, -kInf, 1, 2},
          {-kInf, -kInf, -kInf, -kInf},
          {kInf, kInf, 1, 2},
          {kNaN, kNaN, kNaN, kNaN},
          {-0.0, -0.0, -0.0, -0.0},
          {1000, 1000, -1000, 0},
          {d, -d, 0, 1},
          {-3, -1, -2, -5},
          {kInf, kInf, kInf, kInf}};
}

/// The values as the dtype holds them, in float64.
std::vector<double> rounded(std::vector<double> v, DType dt) {
  if (dt == dz::f32)
    for (double &x : v) {
      // Past the largest float, round to nearest by hand (the conversion would be
      // undefined): up to half an ulp above it stays, beyond is inf.
      const double big = std::numeric_limits<float>::max(), half_ulp = std::ldexp(1.0, 103);
      if (std::isfinite(x) && std::abs(x) > big)
        x = std::abs(x) < big + half_ulp ? std::copysign(big, x) : std::copysign(kInf, x);
      else
        x = double(float(x));
    }
  return v;
}

std::vector<double> values_of(const Tensor &t) {
  Tensor c = t.to(Device::cpu()).to(dz::f64);
  const double *p = c.data<double>();
  return std::vector<double>(p, p + c.size());
}

// ---- the comparison -----------------------------------------------------------------------

struct Tolerance {
  double rtol, atol;
};
Tolerance tolerance(DType dt) {
  return dt == dz::f32 ? Tolerance{2e-5, 1e-6} : Tolerance{1e-12, 1e-15};
}

/// Compares `got` with `want` (the float64 reference, to be rounded to dt); every
/// difference is added to `errors` with `what` and the inputs `where(i)` describes.
void compare(const std::vector<double> &got, std::vector<double> want, DType dt, bool zero_sign,
             const std::string &what, const std::function<std::string(size_t)> &where,
             std::vector<std::string> &errors) {
  want = rounded(std::move(want), dt);
  if (got.size() != want.size()) {
    errors.push_back(what + ": " + std::to_string(got.size()) + " values, expected " +
                     std::to_string(want.size()));
    return;
  }
  const Tolerance tol = tolerance(dt);
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    bool ok;
    if (std::isnan(w) || std::isinf(w))
      ok = std::isnan(w) ? std::isnan(g) : g == w;
    else if (!std::isfinite(g))
      ok = false;
    else
      ok = std::abs(g - w) <= tol.atol + tol.rtol * std::abs(w) &&
           !(zero_sign && g == 0 && w == 0 && std::signbit(g) != std::signbit(w));
    if (!ok) {
      std::ostringstream s;
      s.precision(9);
      s << what << " at " << where(i) << ": got " << g << ", NumPy gives " << w;
      errors.push_back(s.str());
    }
  }
}

std::string num(double v) {
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}

// ---- the paths, each over a whole table ------------------------------------------------------

/// The result of every op of a table on one path: eager calls, or one compiled function
/// that computes each op twice, on its own (the op-by-op kernel) and after a negation of a
/// negated copy of the input (a fused kernel, as the fusion pass groups the two).
struct Results {
  std::vector<std::vector<double>> alone, fused; // per op (fused: compiled paths only)
};

/// Runs a compiled function (the first call traces, and runs eagerly: the second runs the
/// program) and checks that every fused group of it has native code for the path (where
/// the environment leaves the pipeline's switches as they are).
std::vector<Variable> run_compiled(dz::CompiledFunction &f, const std::vector<Variable> &args,
                                   const dz::CompiledFunction::Body &body, unsigned path) {
  f.call(args, body);
  std::vector<Variable> out = f.call(args, body);
  EXPECT_EQ(f.retraces(), 1);
  if (std::getenv("DZ_DISABLE") || std::getenv("DZ_ENABLE"))
    return out; // the pipeline's switches are changed by the environment
  const std::string ir = f.optimized_ir(), summary = f.stats().summary;
  size_t groups = 0;
  for (size_t at = ir.find("dz.fused"); at != std::string::npos; at = ir.find("dz.fused", at + 1))
    ++groups;
  EXPECT_GT(groups, 0u) << ir;
  const std::string kernels = path == kCpuCompiled ? "JIT " + std::to_string(groups) + " groups"
                                                   : std::to_string(groups) + " generated kernels";
  EXPECT_NE(summary.find(kernels), std::string::npos) << "expected " << kernels << ": " << summary;
  return out;
}

/// Every op of `ops` that runs on `path`, applied by `apply(op, first, rest)` to the inputs
/// (`first` the first input, `rest` all of them: binary ops read the second). Eager paths run
/// each op alone; compiled paths run one function holding each op alone and each op fused
/// after the negation of a copy of the first input (`neg_first`, negated again in the
/// function, so the values are the same). Ops off the path get empty results.
template <typename Op, size_t N, typename Apply>
Results run_ops(const Op (&ops)[N], unsigned path, const std::vector<Tensor> &inputs,
                const Tensor &neg_first, Apply apply) {
  Results r;
  const bool cuda = path == kCudaEager || path == kCudaCompiled;
  const Device dev = cuda ? kGpu : Device::cpu();
  std::vector<Tensor> in;
  for (const Tensor &t : inputs)
    in.push_back(t.to(dev));
  const Tensor nd = neg_first.to(dev);
  if (path == kCpuEager || path == kCudaEager) {
    for (const Op &op : ops)
      r.alone.push_back(op.paths & path ? values_of(apply(op, in[0], in)) : std::vector<double>{});
    return r;
  }
  std::vector<Variable> args(in.begin(), in.end());
  for (const Op &op : ops)
    if (op.paths & path)
      args.push_back(Variable(nd.copy())); // one input per fused group
  dz::CompiledFunction f({.warn_retraces = false, .name = "numerics"});
  auto body = [&](const std::vector<Variable> &vs) {
    std::vector<Tensor> data;
    for (size_t i = 0; i < in.size(); ++i)
      data.push_back(vs[i].data());
    std::vector<Variable> out;
    size_t k = in.size();
    for (const Op &op : ops)
      if (op.paths & path) {
        out.push_back(Variable(apply(op, data[0], data)));
        out.push_back(Variable(apply(op, -vs[k++].data(), data)));
      }
    return out;
  };
  std::vector<Variable> out = run_compiled(f, args, body, path);
  size_t k = 0;
  for (const Op &op : ops) {
    if (!(op.paths & path)) {
      r.alone.emplace_back();
      r.fused.emplace_back();
      continue;
    }
    r.alone.push_back(values_of(out[k++].data()));
    r.fused.push_back(values_of(out[k++].data()));
  }
  return r;
}

Results run_unary(unsigned path, const Tensor &x, const Tensor &neg_x) {
  return run_ops(kUnaryOps, path, {x}, neg_x,
                 [](const UnaryOp &op, const Tensor &first, const std::vector<Tensor> &) {
                   return op.eager(first);
                 });
}

Results run_binary(unsigned path, const Tensor &a, const Tensor &b, const Tensor &neg_a) {
  return run_ops(kBinaryOps, path, {a, b}, neg_a,
                 [](const BinaryOp &op, const Tensor &first, const std::vector<Tensor> &in) {
                   return op.eager(first, in[1]);
                 });
}

Results run_rows(unsigned path, int64_t axis, const Tensor &x, const Tensor &neg_x) {
  return run_ops(kRowOps, path, {x}, neg_x,
                 [axis](const RowOp &op, const Tensor &first, const std::vector<Tensor> &) {
                   return op.eager(first, axis);
                 });
}

Tensor tensor_of(const std::vector<double> &v, dz::Shape shape, DType dt) {
  return Tensor::from(v, std::move(shape), dt);
}

std::vector<double> negated(std::vector<double> v) {
  for (double &x : v)
    x = -x;
  return v;
}

std::string report(const std::vector<std::string> &errors) {
  std::string s = std::to_string(errors.size()) + " differences from NumPy:\n";
  for (const std::string &e : errors)
    s += "  " + e + "\n";
  return s;
}

void check_unary(unsigned path, DType dt) {
  const std::vector<double> v = rounded(unary_values(dt), dt);
  const int64_t n = int64_t(v.size());
  Results r = run_unary(path, tensor_of(v, {n}, dt), tensor_of(negated(v), {n}, dt));
  std::vector<std::string> errors;
  for (size_t o = 0; o < std::size(kUnaryOps); ++o) {
    const UnaryOp &op = kUnaryOps[o];
    if (!(op.paths & path))
      continue;
    std::vector<double> want;
    for (double x : v)
      want.push_back(op.reference(x));
    auto where = [&](size_t i) { return "x = " + num(v[i]); };
    const std::string what =
        std::string(op.name) + " (" + path_name(path) + ", " + dz::dtype_name(dt) + ")";
    compare(r.alone[o], want, dt, op.zero_sign, what, where, errors);
    if (!r.fused.empty())
      compare(r.fused[o], want, dt, op.zero_sign, what + " fused", where, errors);
  }
  EXPECT_TRUE(errors.empty()) << report(errors);
}

void check_binary(unsigned path, DType dt) {
  const std::vector<double> v = rounded(binary_values(dt), dt);
  std::vector<double> a, b;
  for (double x : v)
    for (double y : v) {
      a.push_back(x);
      b.push_back(y);
    }
  const int64_t n = int64_t(a.size());
  Results r = run_binary(path, tensor_of(a, {n}, dt), tensor_of(b, {n}, dt),
                         tensor_of(negated(a), {n}, dt));
  std::vector<std::string> errors;
  for (size_t o = 0; o < std::size(kBinaryOps); ++o) {
    const BinaryOp &op = kBinaryOps[o];
    if (!(op.paths & path))
      continue;
    std::vector<double> want;
    for (size_t i = 0; i < a.size(); ++i)
      want.push_back(op.reference(a[i], b[i]));
    auto where = [&](size_t i) { return "(" + num(a[i]) + ", " + num(b[i]) + ")"; };
    const std::string what =
        std::string(op.name) + " (" + path_name(path) + ", " + dz::dtype_name(dt) + ")";
    compare(r.alone[o], want, dt, op.zero_sign, what, where, errors);
    if (!r.fused.empty())
      compare(r.fused[o], want, dt, op.zero_sign, what + " fused", where, errors);
  }
  EXPECT_TRUE(errors.empty()) << report(errors);
}

void check_rows(unsigned path, DType dt) {
  std::vector<std::vector<double>> rs = rows(dt);
  for (auto &row : rs)
    row = rounded(row, dt);
  const int64_t R = int64_t(rs.size()), C = int64_t(rs[0].size());
  std::vector<std::string> errors;
  for (int64_t axis : {1, 0}) {
    // axis 1: (R, C) as stored; axis 0: its transpose (C, R), reduced over axis 0.
    std::vector<double> flat;
    if (axis == 1)
      for (const auto &row : rs)
        flat.insert(flat.end(), row.begin(), row.end());
    else
      for (int64_t j = 0; j < C; ++j)
        for (int64_t i = 0; i < R; ++i)
          flat.push_back(rs[size_t(i)][size_t(j)]);
    dz::Shape shape = axis == 1 ? dz::Shape{R, C} : dz::Shape{C, R};
    Results r =
        run_rows(path, axis, tensor_of(flat, shape, dt), tensor_of(negated(flat), shape, dt));
    for (size_t o = 0; o < std::size(kRowOps); ++o) {
      const RowOp &op = kRowOps[o];
      if (!(op.paths & path))
        continue;
      // The reference per row, laid out as the result is (transposed for axis 0).
      std::vector<std::vector<double>> per_row;
      for (const auto &row : rs)
        per_row.push_back(op.reference(row));
      const size_t k = per_row[0].size();
      std::vector<double> want;
      if (axis == 1)
        for (const auto &w : per_row)
          want.insert(want.end(), w.begin(), w.end());
      else
        for (size_t j = 0; j < k; ++j)
          for (const auto &w : per_row)
            want.push_back(w[j]);
      auto where = [&](size_t i) {
        size_t row = axis == 1 ? i / k : i % size_t(R);
        std::string s = "row {";
        for (size_t j = 0; j < rs[row].size(); ++j)
          s += (j ? ", " : "") + num(rs[row][j]);
        return s + "}";
      };
      const std::string what = std::string(op.name) + " over axis " + std::to_string(axis) + " (" +
                               path_name(path) + ", " + dz::dtype_name(dt) + ")";
      compare(r.alone[o], want, dt, false, what, where, errors);
      if (!r.fused.empty())
        compare(r.fused[o], want, dt, false, what + " fused", where, errors);
    }
  }
  EXPECT_TRUE(errors.empty()) << report(errors);
}

void check_loss(unsigned path, DType dt) {
  const Device dev = path == kCudaEager ? kGpu : Device::cpu();
  std::vector<std::string> errors;
  for (const LossCase &c : kLossCases) {
    const std::vector<double> row = rounded(c.row, dt);
    Tensor x = tensor_of(row, {1, int64_t(row.size())}, dt).to(dev);
    Tensor t = Tensor::from_i64({c.label}).to(dev);
    auto where = [&](size_t) {
      std::string s = "row {";
      for (size_t j = 0; j < row.size(); ++j)
        s += (j ? ", " : "") + num(row[j]);
      return s + "}, label " + std::to_string(c.label);
    };
    compare(values_of(dz::softmax_cross_entropy(x, t)),
            {row_logsumexp(row)[0] - row[size_t(c.label)]}, dt, false,
            std::string("softmax_cross_entropy (") + path_name(path) + ", " + dz::dtype_name(dt) +
                ")",
            where, errors);
  }
  EXPECT_TRUE(errors.empty()) << report(errors);
}

// ---- integers: quotients, remainders and comparisons, exactly -----------------------------

/// The integer ops: NumPy's // and %, C's / and %, true division (float64) and two
/// comparisons. The references compute in 128 bits and wrap into the dtype; a divisor of 0
/// gives 0.
struct IntegerOp {
  const char *name;
  Tensor (*eager)(const Tensor &, const Tensor &);
  __int128 (*reference)(__int128, __int128);
};

__int128 floor_q(__int128 a, __int128 b) {
  if (b == 0)
    return 0;
  __int128 q = a / b;
  return a % b != 0 && ((a < 0) != (b < 0)) ? q - 1 : q;
}

const IntegerOp kIntegerOps[] = {
    {"floor_divide", [](const Tensor &a, const Tensor &b) { return dz::floor_divide(a, b); },
     floor_q},
    {"trunc_divide", [](const Tensor &a, const Tensor &b) { return dz::trunc_divide(a, b); },
     [](__int128 a, __int128 b) { return b == 0 ? __int128(0) : a / b; }},
    {"mod", [](const Tensor &a, const Tensor &b) { return dz::mod(a, b); },
     [](__int128 a, __int128 b) { return b == 0 ? __int128(0) : a - floor_q(a, b) * b; }},
    {"fmod", [](const Tensor &a, const Tensor &b) { return dz::fmod(a, b); },
     [](__int128 a, __int128 b) { return b == 0 ? __int128(0) : a % b; }},
    {"less", [](const Tensor &a, const Tensor &b) { return a < b; },
     [](__int128 a, __int128 b) { return __int128(a < b); }},
    {"equal", [](const Tensor &a, const Tensor &b) { return a == b; },
     [](__int128 a, __int128 b) { return __int128(a == b); }},
};

/// The reference wrapped into `dt` (two's complement), as int64.
int64_t wrapped(__int128 v, DType dt) {
  const auto u = static_cast<uint64_t>(static_cast<unsigned __int128>(v));
  return dt == dz::i32 ? int64_t(int32_t(uint32_t(u))) : int64_t(u);
}

void check_integers(unsigned path) {
  const bool cuda = path == kCudaEager || path == kCudaCompiled;
  const Device dev = cuda ? kGpu : Device::cpu();
  for (DType dt : {dz::i64, dz::i32}) {
    const int64_t lo = dt == dz::i64 ? std::numeric_limits<int64_t>::min() : INT32_MIN,
                  hi = dt == dz::i64 ? std::numeric_limits<int64_t>::max() : INT32_MAX;
    const std::vector<int64_t> v = {lo, -7, -2, -1, 0, 1, 2, 3, 7, hi};
    std::vector<int64_t> a, b;
    for (int64_t x : v)
      for (int64_t y : v) {
        a.push_back(x);
        b.push_back(y);
      }
    const int64_t n = int64_t(a.size());
    Tensor ta = Tensor::from_i64(a, {n}).to(dt).to(dev),
           tb = Tensor::from_i64(b, {n}).to(dt).to(dev);
    std::vector<Tensor> alone, fused;
    if (path & kEagerPaths) {
      for (const IntegerOp &op : kIntegerOps)
        alone.push_back(op.eager(ta, tb));
    } else {
      dz::CompiledFunction f({.warn_retraces = false, .name = "integers"});
      auto body = [&](const std::vector<Variable> &vs) {
        std::vector<Variable> out;
        for (const IntegerOp &op : kIntegerOps) {
          out.push_back(Variable(op.eager(vs[0].data(), vs[1].data())));
          // fused after maximum(a, a) (the same values, no overflow anywhere)
          out.push_back(Variable(op.eager(dz::maximum(vs[0].data(), vs[0].data()), vs[1].data())));
        }
        return out;
      };
      // int32 runs op by op (the fused kernels compute in f32, f64 and i64)
      std::vector<Variable> args = {Variable(ta), Variable(tb)}, out;
      if (dt == dz::i64) {
        out = run_compiled(f, args, body, path);
      } else {
        f.call(args, body);
        out = f.call(args, body);
      }
      for (size_t k = 0; k < out.size(); ++k)
        (k % 2 ? fused : alone).push_back(out[k].data());
    }
    std::vector<std::string> errors;
    auto check = [&](const IntegerOp &op, const Tensor &got, const std::string &what) {
      const bool predicate = std::string(op.name) == "less" || std::string(op.name) == "equal";
      if (got.dtype() != (predicate ? dz::b8 : dt)) {
        errors.push_back(what + ": dtype " + dz::dtype_name(got.dtype()));
        return;
      }
      Tensor g = got.to(Device::cpu()).to(dz::i64);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t want = wrapped(op.reference(a[size_t(i)], b[size_t(i)]), dt);
        if (g.data<int64_t>()[i] != want)
          errors.push_back(what + " at (" + std::to_string(a[size_t(i)]) + ", " +
                           std::to_string(b[size_t(i)]) + "): got " +
                           std::to_string(g.data<int64_t>()[i]) + ", expected " +
                           std::to_string(want));
      }
    };
    for (size_t o = 0; o < std::size(kIntegerOps); ++o) {
      const std::string what = std::string(kIntegerOps[o].name) + " (" + path_name(path) + ", " +
                               dz::dtype_name(dt) + ")";
      check(kIntegerOps[o], alone[o], what);
      if (!fused.empty())
        check(kIntegerOps[o], fused[o], what + " fused");
    }
    // True division: float64, inf and nan for a divisor of 0.
    Tensor q = ta / tb;
    EXPECT_EQ(q.dtype(), dz::f64);
    std::vector<double> qv = values_of(q);
    for (int64_t i = 0; i < n; ++i) {
      const double want = double(a[size_t(i)]) / double(b[size_t(i)]);
      if (!(qv[size_t(i)] == want || (std::isnan(want) && std::isnan(qv[size_t(i)]))))
        errors.push_back("true division at " + std::to_string(i));
    }
    EXPECT_TRUE(errors.empty()) << report(errors);
  }
}

void check_all(unsigned path) {
  check_integers(path);
  for (DType dt : {dz::f32, dz::f64}) {
    SCOPED_TRACE(dz::dtype_name(dt));
    check_unary(path, dt);
    check_binary(path, dt);
    check_rows(path, dt);
    if (path & kEagerPaths)
      check_loss(path, dt);
  }
}

TEST(Numerics, CpuEagerFollowsNumPy) { check_all(kCpuEager); }
TEST(Numerics, CpuCompiledFollowsNumPy) { check_all(kCpuCompiled); }

using NumericsOnDevice = dz::testing::OnDevice;
TEST_F(NumericsOnDevice, CudaEagerFollowsNumPy) { check_all(kCudaEager); }
TEST_F(NumericsOnDevice, CudaCompiledFollowsNumPy) { check_all(kCudaCompiled); }

} // namespace

int main(int argc, char **argv) { return dz::testing::device_test_main(argc, argv); }
