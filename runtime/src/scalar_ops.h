// scalar_ops.h - the scalar vocabulary of dzc/ops.def in C++ (the CPU's eager kernels and
// the float64 reference), and one function object per op: `ops::exp::apply(x)`,
// `ops::add::apply(a, b)`, over any dtype its domain admits. Internal to the runtime.
#pragma once

#include "kernels.h"

#include <dzc/op_registry.h>

#include <cmath>
#include <type_traits>

namespace dz::scalar {

template <typename T> inline constexpr bool kFloat = std::is_floating_point_v<T>;

template <typename T> inline T Sel(bool c, T a, T b) { return c ? a : b; }
template <typename T> inline bool IsNan(T x) {
  if constexpr (kFloat<T>)
    return x != x;
  else
    return false;
}
template <typename T> inline bool IsInf(T x) {
  if constexpr (kFloat<T>)
    return std::isinf(x);
  else
    return false;
}
template <typename T> inline T Abs(T x) {
  if constexpr (kFloat<T>)
    return std::fabs(x);
  else if constexpr (std::is_signed_v<T>)
    return x < 0 ? T(-x) : x;
  else
    return x;
}
/// NumPy's remainder: fmod, moved into the sign of b; 0 for an integer b of 0.
template <typename T> inline T Mod(T a, T b) {
  if constexpr (kFloat<T>) {
    T r = std::fmod(a, b);
    if (r != 0) {
      if ((b < 0) != (r < 0))
        r += b;
    } else {
      r = std::copysign(T(0), b);
    }
    return r;
  } else {
    if (b == 0)
      return T(0);
    if constexpr (std::is_signed_v<T>)
      if (b == T(-1))
        return T(0); // also for the minimum, where a % -1 overflows
    T r = T(a % b);
    if (r != 0 && ((r < 0) != (b < 0)))
      r = T(r + b);
    return r;
  }
}

/// C's remainder: fmod, or % for integers; 0 for an integer b of 0 (or -1, where % overflows).
template <typename T> inline T Fmod(T a, T b) {
  if constexpr (kFloat<T>) {
    return std::fmod(a, b);
  } else {
    if (b == 0)
      return T(0);
    if constexpr (std::is_signed_v<T>)
      if (b == T(-1))
        return T(0);
    return T(a % b);
  }
}

/// C's integer quotient (toward zero); 0 for an integer b of 0, -a (wrapping) for b of -1.
/// Floats: a / b rounded toward zero.
template <typename T> inline T TruncDiv(T a, T b) {
  if constexpr (kFloat<T>) {
    return std::trunc(a / b);
  } else {
    if (b == 0)
      return T(0);
    if constexpr (std::is_signed_v<T>)
      if (b == T(-1))
        return T(std::make_unsigned_t<T>(0) - std::make_unsigned_t<T>(a));
    return T(a / b);
  }
}

/// NumPy's floor_divide (//): the quotient rounded toward -inf, so that
/// FloorDiv(a, b) * b + Mod(a, b) == a. Integers: 0 for b of 0; floats: NumPy's divmod
/// (a / b where b is 0).
template <typename T> inline T FloorDiv(T a, T b) {
  if constexpr (kFloat<T>) {
    if (b == 0)
      return a / b;
    T mod = std::fmod(a, b);
    T div = (a - mod) / b;
    if (mod != 0 && ((b < 0) != (mod < 0)))
      div -= T(1);
    if (div == 0)
      return std::copysign(T(0), a / b);
    T floordiv = std::floor(div);
    return div - floordiv > T(0.5) ? floordiv + T(1) : floordiv;
  } else {
    T q = TruncDiv(a, b);
    if constexpr (std::is_signed_v<T>)
      if (b != 0 && b != T(-1) && T(a % b) != 0 && ((a < 0) != (b < 0)))
        q = T(q - 1);
    return q;
  }
}

// exp and tanh for float32 are the vectorising approximations of kernels.h; the rest is
// <cmath> in the operand's type.
inline float Exp(float x) { return detail::fast_expf(x); }
inline double Exp(double x) { return std::exp(x); }
inline float Tanh(float x) { return detail::fast_tanhf(x); }
inline double Tanh(double x) { return std::tanh(x); }
#define DZ_SCALAR_CMATH(Name, fn)                                                                  \
  template <typename T> inline T Name(T x) { return std::fn(x); }
DZ_SCALAR_CMATH(Log, log)
DZ_SCALAR_CMATH(Sin, sin)
DZ_SCALAR_CMATH(Cos, cos)
DZ_SCALAR_CMATH(Tan, tan)
DZ_SCALAR_CMATH(Sqrt, sqrt)
DZ_SCALAR_CMATH(Erf, erf)
DZ_SCALAR_CMATH(Asin, asin)
DZ_SCALAR_CMATH(Acos, acos)
DZ_SCALAR_CMATH(Atan, atan)
DZ_SCALAR_CMATH(Sinh, sinh)
DZ_SCALAR_CMATH(Cosh, cosh)
DZ_SCALAR_CMATH(Asinh, asinh)
DZ_SCALAR_CMATH(Acosh, acosh)
DZ_SCALAR_CMATH(Atanh, atanh)
DZ_SCALAR_CMATH(Ceil, ceil)
DZ_SCALAR_CMATH(Floor, floor)
DZ_SCALAR_CMATH(Rint, nearbyint)
#undef DZ_SCALAR_CMATH
template <typename T> inline T Pow(T a, T b) { return std::pow(a, b); }

} // namespace dz::scalar

namespace dz::ops {

/// The result type of an op of `domain` over operands of type T.
template <OpDomain D, typename T>
using result_t = std::conditional_t<D == OpDomain::Predicate || D == OpDomain::Compare, bool, T>;

// One struct per op: `domain`, and `apply` evaluating the registry's value expression.
#define DZ_UNARY(name_, Title, domain_, summary, value, grad, onnx)                                \
  struct name_ {                                                                                   \
    static constexpr OpDomain domain = OpDomain::domain_;                                          \
    static constexpr int arity = 1;                                                                \
    template <typename T> static result_t<domain, T> apply(T x) {                                  \
      using namespace dz::scalar;                                                                  \
      [[maybe_unused]] auto K = [](double v) { return T(v); };                                     \
      return result_t<domain, T>(value);                                                           \
    }                                                                                              \
  };
#define DZ_BINARY(name_, Title, domain_, traits, summary, value, grad_a, grad_b, onnx)             \
  struct name_ {                                                                                   \
    static constexpr OpDomain domain = OpDomain::domain_;                                          \
    static constexpr int arity = 2;                                                                \
    template <typename T> static result_t<domain, T> apply(T a, T b) {                             \
      using namespace dz::scalar;                                                                  \
      [[maybe_unused]] auto K = [](double v) { return T(v); };                                     \
      return result_t<domain, T>(value);                                                           \
    }                                                                                              \
  };
#include <dzc/ops.def>

} // namespace dz::ops
