// CudaExpressions.cpp - what each dz op computes in CUDA C (CudaExpressions.h): the
// registry's device functions (dzc/op_registry.h) and the op -> expression table of the
// other ops, the C types and the literals of the generated kernels.
#include "CudaExpressions.h"

#include <dzc/codegen/CudaSource.h>

#include <dzc/ir/DzOps.h>
#include <dzc/op_registry.h>

#include <mlir/IR/BuiltinAttributes.h>
#include <mlir/IR/BuiltinTypes.h>

#include <llvm/ADT/StringMap.h>

#include <cmath>
#include <cstdio>
#include <limits>

namespace dz::codegen::cuda {

using namespace mlir;

namespace {

// ---- the op -> CUDA expression table ----------------------------------------------------
// The registry's ops (dzc/ops.def) call their device function dz_op_NAME, the same one the
// eager kernels call (cuda_op_source); the table holds the other ops.
// {0}, {1}: the operands (names of registers); {T}: the C type of the result; {f}: "f"
// when the result is f32 (expf, powf), else empty; {NAME}: the F64 attribute NAME of
// the op as a literal of the result type. Each entry becomes `const T v = EXPR;`.
struct OpExpression {
  const char *op;
  const char *expr;
};

// clang-format off
const OpExpression kExpressions[] = {
    {"dz.pow_scalar", "pow{f}({0}, {exponent})"},
    {"dz.leaky_relu", "{0} > ({T})0 ? {0} : {0} * {slope}"},
    {"dz.clip", "{0} < {min} ? {min} : {0} > {max} ? {max} : {0}"},
    {"dz.clip_mask", "{0} >= {min} && {0} <= {max} ? ({T})1 : ({T})0"},
    {"dz.cast", "({T}){0}"},
    {"dz.broadcast_to", "{0}"},
    // The reductions: how an accumulator {0} takes in a value {1} (start: identityOf).
    {"dz.sum", "{0} + {1}"},
    {"dz.max", "{1} > {0} || {1} != {1} ? {1} : {0}"},
    {"dz.min", "{1} < {0} || {1} != {1} ? {1} : {0}"},
};
// clang-format on

} // namespace

const char *expressionOf(StringRef op) {
  static const llvm::StringMap<std::string> table = [] {
    llvm::StringMap<std::string> m;
    for (const OpExpression &e : kExpressions)
      m[e.op] = e.expr;
    for (const OpInfo &info : registry_ops())
      m[std::string("dz.") + info.name] =
          std::string("dz_op_") + info.name + (info.arity == 1 ? "({0})" : "({0}, {1})");
    return m;
  }();
  auto it = table.find(op);
  return it == table.end() ? nullptr : it->second.c_str();
}

std::string registrySource(Operation *root) {
  std::vector<MapOp> ops;
  root->walk([&](Operation *op) {
    StringRef name = op->getName().getStringRef();
    if (name.consume_front("dz."))
      if (std::optional<MapOp> m = find_op(std::string_view(name.data(), name.size())))
        if (!llvm::is_contained(ops, *m))
          ops.push_back(*m);
  });
  return cuda_op_source(ops);
}

// ---- types and literals -----------------------------------------------------------------

std::optional<DType> dtypeOf(Type t) {
  if (t.isF32())
    return f32;
  if (t.isF64())
    return f64;
  if (t.isSignlessInteger(64))
    return i64;
  return std::nullopt;
}

const char *cType(DType t) { return t == f32 ? "float" : t == f64 ? "double" : "long long"; }

namespace {

std::string floatLiteral(double v, DType t) {
  char buf[64];
  if (std::isnan(v))
    return t == f32 ? "__int_as_float(0x7fc00000)" : "__longlong_as_double(0x7ff8000000000000LL)";
  if (std::isinf(v)) {
    if (t == f32)
      return v > 0 ? "__int_as_float(0x7f800000)" : "__int_as_float(0xff800000)";
    return v > 0 ? "__longlong_as_double(0x7ff0000000000000LL)"
                 : "__longlong_as_double(0xfff0000000000000ULL)";
  }
  if (t == f32)
    std::snprintf(buf, sizeof buf, "%.9gf", double(float(v)));
  else
    std::snprintf(buf, sizeof buf, "%.17g", v);
  std::string s = buf;
  if (s.find_first_of(".e") == std::string::npos) // "2" -> "2.0", "2f" -> "2.0f"
    s.insert(t == f32 ? s.size() - 1 : s.size(), ".0");
  return s;
}

std::string intLiteral(int64_t v) {
  if (v == std::numeric_limits<int64_t>::min())
    return "(-9223372036854775807LL - 1)";
  return std::to_string(v) + "LL";
}

std::string literal(double v, DType t) {
  return t == i64 ? intLiteral(int64_t(v)) : floatLiteral(v, t);
}

} // namespace

/// The start value of a reduction's accumulator.
std::string identityOf(StringRef op, DType t) {
  if (op == "dz.sum")
    return t == i64 ? "0LL" : floatLiteral(0.0, t);
  bool max = op == "dz.max";
  if (t == i64)
    return intLiteral(max ? std::numeric_limits<int64_t>::min()
                          : std::numeric_limits<int64_t>::max());
  return floatLiteral(max ? -HUGE_VAL : HUGE_VAL, t);
}

/// The value of a splat dz.constant as a literal; nullopt for any other value.
std::optional<std::string> splatLiteral(Value v) {
  auto constant = v.getDefiningOp<ir::ConstantOp>();
  if (!constant)
    return std::nullopt;
  auto dense = dyn_cast<DenseElementsAttr>(constant.getValue());
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!dense || !dense.isSplat() || !type)
    return std::nullopt;
  std::optional<DType> dt = dtypeOf(type.getElementType());
  if (!dt)
    return std::nullopt;
  if (*dt == i64)
    return intLiteral(dense.getSplatValue<APInt>().getSExtValue());
  return floatLiteral(dense.getSplatValue<APFloat>().convertToDouble(), *dt);
}

/// Expands the placeholders of a kExpressions pattern; failure for an unknown one or a
/// missing attribute (after a diagnostic at `op`).
FailureOr<std::string> expand(StringRef pattern, ArrayRef<std::string> operands, DType type,
                              Operation *op) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '{') {
      out += pattern[i];
      continue;
    }
    size_t close = pattern.find('}', i);
    StringRef key = pattern.slice(i + 1, close);
    i = close;
    unsigned index = 0;
    if (!key.getAsInteger(10, index) && index < operands.size())
      out += operands[index];
    else if (key == "T")
      out += cType(type);
    else if (key == "f")
      out += type == f32 ? "f" : "";
    else if (auto attr = op->getAttrOfType<FloatAttr>(key))
      out += literal(attr.getValueAsDouble(), type);
    else
      return op->emitOpError() << "has no F64 attribute '" << key << "' for its CUDA expression";
  }
  return out;
}

bool hasCudaExpression(llvm::StringRef op_name) {
  return op_name == "dz.constant" || expressionOf(op_name);
}

} // namespace dz::codegen::cuda
