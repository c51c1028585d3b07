// GradientVocabulary.h - the gradient vocabulary of dzc/ops.def on IR values: a registry
// op's gradient expression, compiled here with GV operands, builds the dz ops that compute
// it (so that it is differentiable in turn), as frontend/src/functions.cpp evaluates the
// same expression on Variables. Internal to passes/.
#pragma once

#include "GradientRules.h"

#include <dzc/ir/DzOps.h>

#include <mlir/IR/BuiltinTypes.h>

namespace dz::passes::vocabulary {

struct Site {
  mlir::OpBuilder &b;
  mlir::Location loc;
};

/// A tensor value; null for "no gradient" (NONE).
struct GV {
  Site *s;
  mlir::Value v;

  template <typename OpTy, typename... Args> GV make(Args &&...args) const {
    return {s, OpTy::create(s->b, s->loc, std::forward<Args>(args)...)};
  }
  /// The 0-d constant c of this value's element type (binary ops broadcast it).
  GV scalar(double c) const {
    auto element = llvm::cast<mlir::RankedTensorType>(v.getType()).getElementType();
    return {s, buildSplat(s->b, s->loc, mlir::RankedTensorType::get({}, element), c)};
  }
};

/// K(c): the number c, in the element type of the tensor it meets.
struct Konst {
  double c;
};
inline Konst K(double c) { return {c}; }

inline GV operator+(GV a, GV b) { return a.make<ir::AddOp>(a.v, b.v); }
inline GV operator-(GV a, GV b) { return a.make<ir::SubOp>(a.v, b.v); }
inline GV operator*(GV a, GV b) { return a.make<ir::MulOp>(a.v, b.v); }
inline GV operator/(GV a, GV b) { return a.make<ir::DivOp>(a.v, b.v); }
inline GV operator-(GV a) { return a.make<ir::NegOp>(a.v); }
#define DZ_VOCABULARY_KONST(op)                                                                    \
  inline GV operator op(GV a, Konst k) { return a op a.scalar(k.c); }                              \
  inline GV operator op(Konst k, GV b) { return b.scalar(k.c) op b; }
DZ_VOCABULARY_KONST(+)
DZ_VOCABULARY_KONST(-)
DZ_VOCABULARY_KONST(*)
DZ_VOCABULARY_KONST(/)
#undef DZ_VOCABULARY_KONST

// Every registry op by its Title: Cos(x), Pow(a, b), Step(x), EqualMask(a, b), ...
#define DZ_UNARY(name, Title, ...)                                                                 \
  inline GV Title(GV x) { return x.make<ir::Title##Op>(x.v); }
#define DZ_BINARY(name, Title, ...)                                                                \
  inline GV Title(GV a, GV b) { return a.make<ir::Title##Op>(a.v, b.v); }
#include <dzc/ops.def>

} // namespace dz::passes::vocabulary
