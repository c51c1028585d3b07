// ScalarVocabulary.h - the scalar vocabulary of dzc/ops.def as MLIR builders: a registry
// op's value expression, compiled here with SV operands, builds the arith / math ops that
// compute it at one point of a fused kernel. Internal to codegen/cpu.
#pragma once

#include <dzc/op_registry.h>

#include <mlir/Dialect/Arith/IR/Arith.h>
#include <mlir/Dialect/Math/IR/Math.h>
#include <mlir/IR/Builders.h>

#include <cmath>
#include <limits>

namespace dz::codegen::vocabulary {

/// Where the ops go.
struct Site {
  mlir::OpBuilder &b;
  mlir::Location loc;
};

/// A scalar value at the current point: f32, f64, i64, or i1 (a condition).
struct SV {
  Site *s;
  mlir::Value v;

  mlir::Type type() const { return v.getType(); }
  bool isFloat() const { return llvm::isa<mlir::FloatType>(type()); }
  template <typename OpTy, typename... Args> SV make(Args &&...args) const {
    return {s, OpTy::create(s->b, s->loc, std::forward<Args>(args)...)};
  }
  /// The constant `c` of this value's type.
  SV constant(double c) const {
    if (isFloat())
      return make<mlir::arith::ConstantOp>(mlir::FloatAttr::get(type(), c));
    return make<mlir::arith::ConstantOp>(mlir::IntegerAttr::get(type(), int64_t(c)));
  }
  SV cmp(mlir::arith::CmpFPredicate f, mlir::arith::CmpIPredicate i, SV r) const {
    if (isFloat())
      return make<mlir::arith::CmpFOp>(f, v, r.v);
    return make<mlir::arith::CmpIOp>(i, v, r.v);
  }
};

using mlir::arith::CmpFPredicate;
using mlir::arith::CmpIPredicate;

inline SV operator+(SV a, SV b) {
  return a.isFloat() ? a.make<mlir::arith::AddFOp>(a.v, b.v)
                     : a.make<mlir::arith::AddIOp>(a.v, b.v);
}
inline SV operator-(SV a, SV b) {
  return a.isFloat() ? a.make<mlir::arith::SubFOp>(a.v, b.v)
                     : a.make<mlir::arith::SubIOp>(a.v, b.v);
}
inline SV operator*(SV a, SV b) {
  return a.isFloat() ? a.make<mlir::arith::MulFOp>(a.v, b.v)
                     : a.make<mlir::arith::MulIOp>(a.v, b.v);
}
inline SV operator/(SV a, SV b) {
  return a.isFloat() ? a.make<mlir::arith::DivFOp>(a.v, b.v)
                     : a.make<mlir::arith::DivSIOp>(a.v, b.v);
}
inline SV operator-(SV a) {
  return a.isFloat() ? a.make<mlir::arith::NegFOp>(a.v) : a.constant(0) - a;
}
// C's comparisons: ordered (false with a NaN), except != (true with a NaN).
inline SV operator<(SV a, SV b) { return a.cmp(CmpFPredicate::OLT, CmpIPredicate::slt, b); }
inline SV operator<=(SV a, SV b) { return a.cmp(CmpFPredicate::OLE, CmpIPredicate::sle, b); }
inline SV operator>(SV a, SV b) { return a.cmp(CmpFPredicate::OGT, CmpIPredicate::sgt, b); }
inline SV operator>=(SV a, SV b) { return a.cmp(CmpFPredicate::OGE, CmpIPredicate::sge, b); }
inline SV operator==(SV a, SV b) { return a.cmp(CmpFPredicate::OEQ, CmpIPredicate::eq, b); }
inline SV operator!=(SV a, SV b) { return a.cmp(CmpFPredicate::UNE, CmpIPredicate::ne, b); }
inline SV operator||(SV a, SV b) { return a.make<mlir::arith::OrIOp>(a.v, b.v); }
inline SV operator&&(SV a, SV b) { return a.make<mlir::arith::AndIOp>(a.v, b.v); }
inline SV operator!(SV a) {
  return a.make<mlir::arith::XOrIOp>(a.v, a.make<mlir::arith::ConstantIntOp>(a.type(), 1).v);
}

inline SV Sel(SV c, SV t, SV f) { return c.make<mlir::arith::SelectOp>(c.v, t.v, f.v); }
inline SV IsNan(SV x) {
  if (!x.isFloat())
    return x.make<mlir::arith::ConstantIntOp>(x.s->b.getI1Type(), 0);
  return x.cmp(CmpFPredicate::UNO, CmpIPredicate::ne, x);
}
inline SV Abs(SV x) {
  return x.isFloat() ? x.make<mlir::math::AbsFOp>(x.v) : x.make<mlir::math::AbsIOp>(x.v);
}
inline SV IsInf(SV x) {
  if (!x.isFloat())
    return x.make<mlir::arith::ConstantIntOp>(x.s->b.getI1Type(), 0);
  return Abs(x) == x.constant(HUGE_VAL);
}
inline SV Pow(SV a, SV b) { return a.make<mlir::math::PowFOp>(a.v, b.v); }
/// NumPy's remainder: the sign of b; 0 for an integer b of 0 (or -1, where srem overflows).
inline SV Mod(SV a, SV b) {
  SV zero = a.constant(0);
  if (a.isFloat()) {
    SV r = a.make<mlir::arith::RemFOp>(a.v, b.v);
    SV moved = Sel((b < zero) != (r < zero), r + b, r);
    return Sel(r != zero, moved, a.make<mlir::math::CopySignOp>(zero.v, b.v));
  }
  SV none = (b == zero) || (b == a.constant(-1));
  SV r = a.make<mlir::arith::RemSIOp>(a.v, Sel(none, a.constant(1), b).v);
  SV moved = Sel((r != zero) && ((r < zero) != (b < zero)), r + b, r);
  return Sel(none, zero, moved);
}
/// C's remainder: arith.remf (fmod), or srem for integers; 0 for an integer b of 0 or -1.
inline SV Fmod(SV a, SV b) {
  if (a.isFloat())
    return a.make<mlir::arith::RemFOp>(a.v, b.v);
  SV zero = a.constant(0);
  SV none = (b == zero) || (b == a.constant(-1));
  SV r = a.make<mlir::arith::RemSIOp>(a.v, Sel(none, a.constant(1), b).v);
  return Sel(none, zero, r);
}
/// C's integer quotient (toward zero): divsi with 0 for b of 0 and the negation (wrapping)
/// for b of -1, where divsi overflows; floats: a / b rounded toward zero.
inline SV TruncDiv(SV a, SV b) {
  if (a.isFloat()) {
    SV q = a / b;
    return Sel(q < a.constant(0), q.make<mlir::math::CeilOp>(q.v),
               q.make<mlir::math::FloorOp>(q.v));
  }
  SV zero = a.constant(0), minus1 = a.constant(-1);
  SV none = (b == zero) || (b == minus1);
  SV q = a.make<mlir::arith::DivSIOp>(a.v, Sel(none, a.constant(1), b).v);
  return Sel(b == zero, zero, Sel(b == minus1, zero - a, q));
}
/// NumPy's floor_divide: integers as TruncDiv, one less where the remainder is nonzero
/// and the signs differ; floats by NumPy's divmod.
inline SV FloorDiv(SV a, SV b) {
  SV zero = a.constant(0), one = a.constant(1);
  if (a.isFloat()) {
    SV quotient = a / b;
    SV mod = a.make<mlir::arith::RemFOp>(a.v, b.v);
    SV div = (a - mod) / b;
    div = Sel((mod != zero) && ((b < zero) != (mod < zero)), div - one, div);
    SV floordiv = div.make<mlir::math::FloorOp>(div.v);
    floordiv = Sel(div - floordiv > a.constant(0.5), floordiv + one, floordiv);
    SV signedZero = a.make<mlir::math::CopySignOp>(zero.v, quotient.v);
    return Sel(b == zero, quotient, Sel(div == zero, signedZero, floordiv));
  }
  SV none = (b == zero) || (b == a.constant(-1));
  SV r = a.make<mlir::arith::RemSIOp>(a.v, Sel(none, one, b).v);
  SV q = TruncDiv(a, b);
  return Sel(!none && (r != zero) && ((a < zero) != (b < zero)), q - one, q);
}
#define DZ_VOCABULARY_MATH(Name, Op)                                                               \
  inline SV Name(SV x) { return x.make<mlir::math::Op>(x.v); }
DZ_VOCABULARY_MATH(Exp, ExpOp)
DZ_VOCABULARY_MATH(Tan, TanOp)
DZ_VOCABULARY_MATH(Tanh, TanhOp)
DZ_VOCABULARY_MATH(Sqrt, SqrtOp)
DZ_VOCABULARY_MATH(Asin, AsinOp)
DZ_VOCABULARY_MATH(Acos, AcosOp)
DZ_VOCABULARY_MATH(Atan, AtanOp)
DZ_VOCABULARY_MATH(Sinh, SinhOp)
DZ_VOCABULARY_MATH(Cosh, CoshOp)
DZ_VOCABULARY_MATH(Asinh, AsinhOp)
DZ_VOCABULARY_MATH(Acosh, AcoshOp)
DZ_VOCABULARY_MATH(Atanh, AtanhOp)
DZ_VOCABULARY_MATH(Ceil, CeilOp)
DZ_VOCABULARY_MATH(Floor, FloorOp)
DZ_VOCABULARY_MATH(Rint, RoundEvenOp)
#undef DZ_VOCABULARY_MATH

/// `y` (an odd function's value at x), but x itself where x is zero: the float32
/// approximations lose the sign of -0 (erf(-0) = -0 in NumPy).
inline SV keepZero(SV x, SV y) { return Sel(x == x.constant(0), x, y); }

inline SV Erf(SV x) { return keepZero(x, x.make<mlir::math::ErfOp>(x.v)); }

/// log. MLIR's float32 approximation takes denormals for 0 (log(3e-41) gave -87.3, not
/// -93.3): they are scaled by 2^23 first and 23 log 2 taken off.
inline SV Log(SV x) {
  if (!x.type().isF32())
    return x.make<mlir::math::LogOp>(x.v);
  SV tiny = x < x.constant(double(std::numeric_limits<float>::min()));
  SV y = x.make<mlir::math::LogOp>(Sel(tiny, x * x.constant(8388608.0), x).v);
  return Sel(tiny, y - x.constant(23 * 0.69314718055994530942), y);
}

/// sin or cos. MLIR's float32 approximations reduce the argument in float32, which costs
/// digits past |x| of a few hundred (cos(1000.f) was off by 2e-5): the argument is first
/// reduced by 2 pi in float64 (exact to the float up to |x| of about 1e9), then the
/// approximation runs on [-pi, pi]. sin keeps -0. Still vectorised (libm's sinf is 20
/// times slower here).
inline SV periodic(SV x, bool sine) {
  auto apply = [&](SV v) {
    return sine ? v.make<mlir::math::SinOp>(v.v) : v.make<mlir::math::CosOp>(v.v);
  };
  if (!x.type().isF32())
    return apply(x);
  mlir::Type f64 = x.s->b.getF64Type();
  SV wide = x.make<mlir::arith::ExtFOp>(f64, x.v);
  SV turns = wide.make<mlir::math::RoundEvenOp>((wide * wide.constant(0.15915494309189535)).v);
  // x - turns * 2 pi by two fused multiply-adds: 2 pi as a double and its remainder
  SV minus = -turns;
  SV r = wide.make<mlir::math::FmaOp>(minus.v, wide.constant(6.283185307179586).v, wide.v);
  r = wide.make<mlir::math::FmaOp>(minus.v, wide.constant(2.4492935982947064e-16).v, r.v);
  SV y = apply(x.make<mlir::arith::TruncFOp>(x.type(), r.v));
  return sine ? keepZero(x, y) : y;
}
inline SV Sin(SV x) { return periodic(x, true); }
inline SV Cos(SV x) { return periodic(x, false); }

/// The value of registry op `op` at operands `x` (one or two values of one type).
inline mlir::Value build(MapOp op, mlir::OpBuilder &builder, mlir::Location loc,
                         llvm::ArrayRef<mlir::Value> operands) {
  Site site{builder, loc};
  switch (op) {
#define DZ_UNARY(name, Title, domain, summary, value, ...)                                         \
  case MapOp::name: {                                                                              \
    SV x{&site, operands[0]};                                                                      \
    [[maybe_unused]] auto K = [&](double c) { return x.constant(c); };                             \
    return SV(value).v;                                                                            \
  }
#define DZ_BINARY(name, Title, domain, traits, summary, value, ...)                                \
  case MapOp::name: {                                                                              \
    SV a{&site, operands[0]}, b{&site, operands[1]};                                               \
    [[maybe_unused]] auto K = [&](double c) { return a.constant(c); };                             \
    return SV(value).v;                                                                            \
  }
#include <dzc/ops.def>
  default:
    return {};
  }
}

} // namespace dz::codegen::vocabulary
