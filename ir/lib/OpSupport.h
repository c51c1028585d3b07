// OpSupport.h - what the op implementations of ir/lib share (private to ir/lib): types
// as they read in IR, inherent attributes during inference, "'dz.op' op ..." errors.
#pragma once

#include <optional>
#include <string>
#include <type_traits>

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Value.h"
#include "llvm/Support/raw_ostream.h"

namespace dz::ir::support {

/// A type as it reads in IR, for messages (Diagnostic would quote it).
inline std::string str(mlir::Type type) {
  std::string out;
  llvm::raw_string_ostream os(out);
  type.print(os);
  return out;
}

/// An inherent attribute of the op being inferred: from the properties of a built
/// op, or from the attribute dictionary while the parser infers the result types
/// (the properties are not filled in yet then). Null when absent.
template <typename AttrT>
AttrT inherentAttr(AttrT fromProperties, mlir::DictionaryAttr attributes, llvm::StringRef name) {
  if (fromProperties || !attributes)
    return fromProperties;
  return llvm::dyn_cast_if_present<AttrT>(attributes.get(name));
}
#define DZ_ATTR(adaptor, name)                                                                     \
  ::dz::ir::support::inherentAttr((adaptor).getProperties().name, (adaptor).getAttributes(),     \
                                  #name)

/// The signature of an op's InferTypeOpAdaptor inference (in a file that uses namespace
/// mlir): `DZ_INFER(AddOp) { ... }`.
#define DZ_INFER(OP)                                                                               \
  LogicalResult OP::inferReturnTypes(MLIRContext *context, std::optional<Location> loc,            \
                                     Adaptor adaptor, SmallVectorImpl<Type> &types)

/// Types go into messages as they read in IR; everything else as it is.
template <typename T> decltype(auto) forMessage(T &&value) {
  if constexpr (std::is_convertible_v<std::decay_t<T>, mlir::Type>)
    return str(mlir::Type(value));
  else
    return std::forward<T>(value);
}

/// Emits "'dz.op' op <message>" at `loc` (when there is one) and fails.
template <typename OpTy, typename... Args>
mlir::LogicalResult fail(std::optional<mlir::Location> loc, Args &&...args) {
  return mlir::emitOptionalError(loc, "'", OpTy::getOperationName(), "' op ",
                                 forMessage(std::forward<Args>(args))...);
}

inline mlir::RankedTensorType tensorOf(mlir::Value value) {
  return value ? llvm::dyn_cast<mlir::RankedTensorType>(value.getType())
               : mlir::RankedTensorType();
}

inline std::string formatShape(llvm::ArrayRef<int64_t> shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

inline int64_t numElements(llvm::ArrayRef<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

} // namespace dz::ir::support
