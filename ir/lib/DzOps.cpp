// DzOps.cpp - the dz ops: type inference (which is also their verifier) and folders.
//
// Every op infers its result type from its operands and attributes with the NumPy
// rules of docs/ir.md; a failure names the op and the mismatch. The generated
// InferTypeOpInterface verifier then rejects a written result type that differs.
#include "dzc/ir/DzOps.h"

#include "OpSupport.h"

#include <string>
#include <type_traits>

#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/STLExtras.h"

using namespace mlir;

namespace dz::ir {
namespace {

using namespace support;

bool isDzElementType(Type type) {
  return type.isF32() || type.isF64() || type.isInteger(64) || type.isInteger(32) ||
         type.isInteger(1);
}

/// The element types dz.constant and dz.cast take besides those: ONNX's other numbers.
bool isDzStorageType(Type type) {
  if (isDzElementType(type) || type.isF16() || type.isBF16())
    return true;
  auto i = dyn_cast<IntegerType>(type);
  return i && (i.isUnsigned() ? (i.getWidth() == 8 || i.getWidth() == 16 || i.getWidth() == 32 ||
                                 i.getWidth() == 64)
                              : i.isSignless() && (i.getWidth() == 8 || i.getWidth() == 16));
}

bool isBool(RankedTensorType t) { return t.getElementType().isInteger(1); }

bool isIdentityPermutation(llvm::ArrayRef<int64_t> perm) {
  for (size_t i = 0; i < perm.size(); ++i)
    if (perm[i] != static_cast<int64_t>(i))
      return false;
  return true;
}

/// True when `attr` is a dense splat whose every element equals `value`.
bool isSplatOf(Attribute attr, double value) {
  auto dense = llvm::dyn_cast_if_present<DenseElementsAttr>(attr);
  if (!dense || !dense.isSplat())
    return false;
  Type element = dense.getElementType();
  if (llvm::isa<FloatType>(element))
    return dense.getSplatValue<llvm::APFloat>().convertToDouble() == value;
  if (llvm::isa<IntegerType>(element))
    return static_cast<double>(dense.getSplatValue<llvm::APInt>().getSExtValue()) == value;
  return false;
}

template <typename OpTy>
LogicalResult inferSameType(std::optional<Location> loc, Value x, SmallVectorImpl<Type> &types) {
  auto type = tensorOf(x);
  if (!type)
    return fail<OpTy>(loc, "operand must be a ranked tensor");
  types.push_back(type);
  return success();
}

template <typename OpTy>
LogicalResult inferBroadcast(std::optional<Location> loc, Value lhs, Value rhs,
                             SmallVectorImpl<Type> &types) {
  auto a = tensorOf(lhs), b = tensorOf(rhs);
  if (!a || !b)
    return fail<OpTy>(loc, "operands must be ranked tensors");
  if (a.getElementType() != b.getElementType())
    return fail<OpTy>(loc, "operands have different element types: ", a, " and ", b);
  auto result = broadcastTypes(a, b);
  if (!result)
    return fail<OpTy>(loc, "operands are not broadcast-compatible: ", a, " and ", b);
  types.push_back(result);
  return success();
}

/// The arithmetic binary ops: no i1 operands (cast them first, as NumPy's bool
/// arithmetic is not dz's).
template <typename OpTy>
LogicalResult inferArithmetic(std::optional<Location> loc, Value lhs, Value rhs,
                              SmallVectorImpl<Type> &types) {
  if (failed(inferBroadcast<OpTy>(loc, lhs, rhs, types)))
    return failure();
  if (isBool(cast<RankedTensorType>(types.back())))
    return fail<OpTy>(loc, "is not defined on i1 tensors (", lhs.getType(),
                      "): dz.cast them to a number type, or use dz.and / dz.or / dz.xor");
  return success();
}

/// The comparisons: the broadcast shape of i1.
template <typename OpTy>
LogicalResult inferCompare(std::optional<Location> loc, Value lhs, Value rhs,
                           SmallVectorImpl<Type> &types) {
  if (failed(inferBroadcast<OpTy>(loc, lhs, rhs, types)))
    return failure();
  auto shape = cast<RankedTensorType>(types.back()).getShape();
  types.back() = RankedTensorType::get(shape, IntegerType::get(lhs.getContext(), 1));
  return success();
}

/// The unary tests (isnan, ...): the operand's shape of i1.
template <typename OpTy>
LogicalResult inferPredicate(std::optional<Location> loc, Value x, SmallVectorImpl<Type> &types) {
  auto type = tensorOf(x);
  if (!type)
    return fail<OpTy>(loc, "operand must be a ranked tensor");
  types.push_back(RankedTensorType::get(type.getShape(), IntegerType::get(x.getContext(), 1)));
  return success();
}

template <typename OpTy>
LogicalResult inferReduce(std::optional<Location> loc, typename OpTy::Adaptor adaptor,
                          SmallVectorImpl<Type> &types) {
  auto x = tensorOf(adaptor.getX());
  auto axesAttr = DZ_ATTR(adaptor, axes);
  auto keepdimsAttr = DZ_ATTR(adaptor, keepdims);
  if (!x || !axesAttr || !keepdimsAttr)
    return fail<OpTy>(loc, "needs a ranked tensor operand and the attributes axes, keepdims");
  auto axes = normalizeAxes(axesAttr.asArrayRef(), x.getRank());
  if (!axes)
    return fail<OpTy>(loc, "axes ", formatShape(axesAttr.asArrayRef()),
                      " are out of range or repeated for ", x, " (rank ", x.getRank(), ")");
  types.push_back(RankedTensorType::get(reducedShape(x.getShape(), *axes, keepdimsAttr.getValue()),
                                        x.getElementType()));
  return success();
}

template <typename OpTy>
LogicalResult inferSoftmax(std::optional<Location> loc, typename OpTy::Adaptor adaptor,
                           SmallVectorImpl<Type> &types) {
  auto x = tensorOf(adaptor.getX());
  auto axisAttr = DZ_ATTR(adaptor, axis);
  if (!x || !axisAttr)
    return fail<OpTy>(loc, "needs a ranked tensor operand and the attribute axis");
  int64_t axis = axisAttr.getInt(), rank = x.getRank();
  if (axis < -rank || axis >= rank)
    return fail<OpTy>(loc, "axis ", axis, " is out of range for ", x);
  types.push_back(x);
  return success();
}

} // namespace

//===----------------------------------------------------------------------===//
// Type inference
//===----------------------------------------------------------------------===//

DZ_INFER(ConstantOp) {
  auto value = DZ_ATTR(adaptor, value);
  if (!value)
    return fail<ConstantOp>(loc, "needs the attribute value");
  auto type = llvm::dyn_cast<RankedTensorType>(value.getType());
  if (!type)
    return fail<ConstantOp>(loc, "value must be a ranked tensor, not ", value.getType());
  types.push_back(type);
  return success();
}

#define DZ_INFER_BROADCAST(OP, HOW)                                                                \
  DZ_INFER(OP) { return HOW<OP>(loc, adaptor.getLhs(), adaptor.getRhs(), types); }
DZ_INFER_BROADCAST(AndOp, inferBroadcast) // the operand types are i1 (ODS checks)
DZ_INFER_BROADCAST(OrOp, inferBroadcast)
DZ_INFER_BROADCAST(XorOp, inferBroadcast)
// The registry's binary ops (dzc/ops.def): arithmetic, or a comparison with an i1 result.
#define DZ_INFER_BINARY_Float inferArithmetic
#define DZ_INFER_BINARY_Numeric inferArithmetic
#define DZ_INFER_BINARY_Mask inferArithmetic
#define DZ_INFER_BINARY_Compare inferCompare
#define DZ_BINARY(name, Title, domain, ...) DZ_INFER_BROADCAST(Title##Op, DZ_INFER_BINARY_##domain)
#include <dzc/ops.def>
#undef DZ_INFER_BROADCAST

DZ_INFER(SelectOp) {
  auto cond = tensorOf(adaptor.getCond()), a = tensorOf(adaptor.getA()),
       b = tensorOf(adaptor.getB());
  if (!cond || !a || !b)
    return fail<SelectOp>(loc, "operands must be ranked tensors");
  if (!isBool(cond))
    return fail<SelectOp>(loc, "the condition must be an i1 tensor, not ", cond);
  if (a.getElementType() != b.getElementType())
    return fail<SelectOp>(loc, "the choices have different element types: ", a, " and ", b);
  auto shape = broadcastShapes(cond.getShape(), a.getShape());
  if (shape)
    shape = broadcastShapes(*shape, b.getShape());
  if (!shape)
    return fail<SelectOp>(loc, "operands are not broadcast-compatible: ", cond, ", ", a, " and ",
                          b);
  types.push_back(RankedTensorType::get(*shape, a.getElementType()));
  return success();
}

#define DZ_INFER_SAME(OP)                                                                          \
  DZ_INFER(OP) { return inferSameType<OP>(loc, adaptor.getX(), types); }
DZ_INFER_SAME(NotOp)
DZ_INFER_SAME(PowScalarOp)
DZ_INFER_SAME(LeakyReluOp)
// The registry's unary ops: the operand's type, or for a predicate its shape of i1.
#define DZ_INFER_UNARY_Float(OP) DZ_INFER_SAME(OP)
#define DZ_INFER_UNARY_Numeric(OP) DZ_INFER_SAME(OP)
#define DZ_INFER_UNARY_Predicate(OP)                                                               \
  DZ_INFER(OP) { return inferPredicate<OP>(loc, adaptor.getX(), types); }
#define DZ_UNARY(name, Title, domain, ...) DZ_INFER_UNARY_##domain(Title##Op)
#include <dzc/ops.def>
#undef DZ_INFER_SAME

template <typename OpTy>
static LogicalResult inferClip(std::optional<Location> loc, typename OpTy::Adaptor adaptor,
                               SmallVectorImpl<Type> &types) {
  auto min = DZ_ATTR(adaptor, min), max = DZ_ATTR(adaptor, max);
  if (!min || !max)
    return fail<OpTy>(loc, "needs the attributes min, max");
  if (min.getValueAsDouble() > max.getValueAsDouble())
    return fail<OpTy>(loc, "min ", min.getValueAsDouble(), " is greater than max ",
                      max.getValueAsDouble());
  return inferSameType<OpTy>(loc, adaptor.getX(), types);
}
DZ_INFER(ClipOp) { return inferClip<ClipOp>(loc, adaptor, types); }
DZ_INFER(ClipMaskOp) { return inferClip<ClipMaskOp>(loc, adaptor, types); }

DZ_INFER(CastOp) {
  auto x = tensorOf(adaptor.getX());
  auto dtype = DZ_ATTR(adaptor, dtype);
  if (!x || !dtype)
    return fail<CastOp>(loc, "needs a ranked tensor operand and the attribute dtype");
  if (!isDzStorageType(dtype.getValue()))
    return fail<CastOp>(loc,
                        "dtype must be f32, f64, i64, i32, i1, i8, i16, ui8, ui16, ui32, ui64, "
                        "f16 or bf16, not ",
                        dtype.getValue());
  types.push_back(RankedTensorType::get(x.getShape(), dtype.getValue()));
  return success();
}

DZ_INFER(ReshapeOp) {
  auto x = tensorOf(adaptor.getX());
  auto shapeAttr = DZ_ATTR(adaptor, shape);
  if (!x || !shapeAttr)
    return fail<ReshapeOp>(loc, "needs a ranked tensor operand and the attribute shape");
  llvm::ArrayRef<int64_t> shape = shapeAttr.asArrayRef();
  if (llvm::any_of(shape, [](int64_t d) { return d < 0; }))
    return fail<ReshapeOp>(loc, "shape ", formatShape(shape), " has a negative dimension");
  if (numElements(shape) != x.getNumElements())
    return fail<ReshapeOp>(loc, "cannot reshape ", x, " (", x.getNumElements(), " elements) to ",
                           formatShape(shape), " (", numElements(shape), " elements)");
  types.push_back(RankedTensorType::get(shape, x.getElementType()));
  return success();
}

DZ_INFER(TransposeOp) {
  auto x = tensorOf(adaptor.getX());
  auto permAttr = DZ_ATTR(adaptor, perm);
  if (!x || !permAttr)
    return fail<TransposeOp>(loc, "needs a ranked tensor operand and the attribute perm");
  llvm::ArrayRef<int64_t> perm = permAttr.asArrayRef();
  int64_t rank = x.getRank();
  llvm::SmallVector<bool> seen(rank, false);
  bool valid = static_cast<int64_t>(perm.size()) == rank;
  for (int64_t p : perm) {
    if (!valid || p < 0 || p >= rank || seen[p]) {
      valid = false;
      break;
    }
    seen[p] = true;
  }
  if (!valid)
    return fail<TransposeOp>(loc, "perm ", formatShape(perm), " is not a permutation of the ", rank,
                             " axes of ", x);
  llvm::SmallVector<int64_t> shape;
  for (int64_t p : perm)
    shape.push_back(x.getDimSize(p));
  types.push_back(RankedTensorType::get(shape, x.getElementType()));
  return success();
}

DZ_INFER(BroadcastToOp) {
  auto x = tensorOf(adaptor.getX());
  auto shapeAttr = DZ_ATTR(adaptor, shape);
  if (!x || !shapeAttr)
    return fail<BroadcastToOp>(loc, "needs a ranked tensor operand and the attribute shape");
  if (!isBroadcastableTo(x.getShape(), shapeAttr.asArrayRef()))
    return fail<BroadcastToOp>(loc, "cannot broadcast ", x, " to ",
                               formatShape(shapeAttr.asArrayRef()));
  types.push_back(RankedTensorType::get(shapeAttr.asArrayRef(), x.getElementType()));
  return success();
}

DZ_INFER(SumToOp) {
  auto x = tensorOf(adaptor.getX());
  auto shapeAttr = DZ_ATTR(adaptor, shape);
  if (!x || !shapeAttr)
    return fail<SumToOp>(loc, "needs a ranked tensor operand and the attribute shape");
  if (!isBroadcastableTo(shapeAttr.asArrayRef(), x.getShape()))
    return fail<SumToOp>(loc, "cannot sum ", x, " to ", formatShape(shapeAttr.asArrayRef()),
                         ": that shape does not broadcast to the operand's");
  types.push_back(RankedTensorType::get(shapeAttr.asArrayRef(), x.getElementType()));
  return success();
}

DZ_INFER(SumOp) { return inferReduce<SumOp>(loc, adaptor, types); }
DZ_INFER(MaxOp) { return inferReduce<MaxOp>(loc, adaptor, types); }
DZ_INFER(MinOp) { return inferReduce<MinOp>(loc, adaptor, types); }

DZ_INFER(MatmulOp) {
  auto a = tensorOf(adaptor.getA()), b = tensorOf(adaptor.getB());
  if (!a || !b)
    return fail<MatmulOp>(loc, "operands must be ranked tensors");
  if (a.getRank() < 2 || b.getRank() < 2)
    return fail<MatmulOp>(loc, "operands must have rank >= 2: ", a, " and ", b);
  if (a.getElementType() != b.getElementType())
    return fail<MatmulOp>(loc, "operands have different element types: ", a, " and ", b);
  auto transposeA = DZ_ATTR(adaptor, transpose_a), transposeB = DZ_ATTR(adaptor, transpose_b);
  bool ta = transposeA && transposeA.getValue(), tb = transposeB && transposeB.getValue();
  llvm::ArrayRef<int64_t> as = a.getShape(), bs = b.getShape();
  int64_t m = ta ? as.back() : as[as.size() - 2];
  int64_t ka = ta ? as[as.size() - 2] : as.back();
  int64_t kb = tb ? bs.back() : bs[bs.size() - 2];
  int64_t n = tb ? bs[bs.size() - 2] : bs.back();
  if (ka != kb)
    return fail<MatmulOp>(loc, "inner dimensions differ: ", a, (ta ? " transposed" : ""),
                          " has K = ", ka, ", ", b, (tb ? " transposed" : ""), " has K = ", kb);
  auto batch = broadcastShapes(as.drop_back(2), bs.drop_back(2));
  if (!batch)
    return fail<MatmulOp>(loc, "batch dimensions are not broadcast-compatible: ", a, " and ", b);
  batch->append({m, n});
  types.push_back(RankedTensorType::get(*batch, a.getElementType()));
  return success();
}

DZ_INFER(LinearOp) {
  auto x = tensorOf(adaptor.getX()), w = tensorOf(adaptor.getW());
  if (!x || !w)
    return fail<LinearOp>(loc, "operands must be ranked tensors");
  if (x.getRank() != 2 || w.getRank() != 2)
    return fail<LinearOp>(loc, "x and W must have rank 2: ", x, " and ", w);
  if (x.getElementType() != w.getElementType())
    return fail<LinearOp>(loc, "operands have different element types: ", x, " and ", w);
  if (x.getDimSize(1) != w.getDimSize(0))
    return fail<LinearOp>(loc, "inner dimensions differ: ", x, " and ", w);
  if (Value bias = adaptor.getB()) {
    auto b = tensorOf(bias);
    if (!b || b.getRank() != 1 || b.getDimSize(0) != w.getDimSize(1) ||
        b.getElementType() != w.getElementType())
      return fail<LinearOp>(loc, "bias must be tensor<", w.getDimSize(1), "x", w.getElementType(),
                            "> for ", w, ", not ", bias.getType());
  }
  types.push_back(RankedTensorType::get({x.getDimSize(0), w.getDimSize(1)}, x.getElementType()));
  return success();
}

DZ_INFER(SoftmaxOp) { return inferSoftmax<SoftmaxOp>(loc, adaptor, types); }
DZ_INFER(LogSoftmaxOp) { return inferSoftmax<LogSoftmaxOp>(loc, adaptor, types); }

DZ_INFER(SoftmaxCrossEntropyOp) {
  auto x = tensorOf(adaptor.getX()), t = tensorOf(adaptor.getT());
  if (!x || !t)
    return fail<SoftmaxCrossEntropyOp>(loc, "operands must be ranked tensors");
  if (x.getRank() != 2 || t.getRank() != 1 || x.getDimSize(0) != t.getDimSize(0))
    return fail<SoftmaxCrossEntropyOp>(loc, "expects x (N, C) and t (N), not ", x, " and ", t);
  types.push_back(RankedTensorType::get({}, x.getElementType()));
  return success();
}

DZ_INFER(OneHotOp) {
  auto t = tensorOf(adaptor.getT());
  auto classes = DZ_ATTR(adaptor, num_classes);
  auto dtype = DZ_ATTR(adaptor, dtype);
  if (!t || !classes || !dtype)
    return fail<OneHotOp>(loc, "needs a ranked tensor operand and the attributes "
                               "num_classes, dtype");
  if (t.getRank() != 1)
    return fail<OneHotOp>(loc, "labels must have rank 1, not ", t);
  if (classes.getInt() <= 0)
    return fail<OneHotOp>(loc, "num_classes must be positive, not ", classes.getInt());
  Type e = dtype.getValue();
  if (!e.isF32() && !e.isF64() && !e.isInteger(64))
    return fail<OneHotOp>(loc, "dtype must be f32, f64 or i64, not ", e);
  types.push_back(RankedTensorType::get({t.getDimSize(0), classes.getInt()}, dtype.getValue()));
  return success();
}

DZ_INFER(MeanSquaredErrorOp) {
  auto a = tensorOf(adaptor.getA()), b = tensorOf(adaptor.getB());
  if (!a || !b)
    return fail<MeanSquaredErrorOp>(loc, "operands must be ranked tensors");
  if (a != b)
    return fail<MeanSquaredErrorOp>(loc, "operands must have one type: ", a, " and ", b);
  types.push_back(RankedTensorType::get({}, a.getElementType()));
  return success();
}

DZ_INFER(GradOp) {
  if (adaptor.getXs().empty())
    return fail<GradOp>(loc, "needs at least one x to differentiate with respect to");
  if (!tensorOf(adaptor.getY()))
    return fail<GradOp>(loc, "y must be a ranked tensor");
  for (Value x : adaptor.getXs()) {
    if (!tensorOf(x))
      return fail<GradOp>(loc, "every x must be a ranked tensor");
    types.push_back(x.getType());
  }
  return success();
}

#undef DZ_INFER

//===----------------------------------------------------------------------===//
// Folders
//===----------------------------------------------------------------------===//

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValueAttr(); }

OpFoldResult AddOp::fold(FoldAdaptor adaptor) {
  if (isSplatOf(adaptor.getRhs(), 0.0) && getLhs().getType() == getType())
    return getLhs();
  if (isSplatOf(adaptor.getLhs(), 0.0) && getRhs().getType() == getType())
    return getRhs();
  return {};
}

OpFoldResult MulOp::fold(FoldAdaptor adaptor) {
  if (isSplatOf(adaptor.getRhs(), 1.0) && getLhs().getType() == getType())
    return getLhs();
  if (isSplatOf(adaptor.getLhs(), 1.0) && getRhs().getType() == getType())
    return getRhs();
  return {};
}

OpFoldResult ReshapeOp::fold(FoldAdaptor adaptor) {
  if (getX().getType() == getType())
    return getX();
  if (auto dense = llvm::dyn_cast_if_present<DenseElementsAttr>(adaptor.getX()))
    return dense.reshape(getType());
  if (auto inner = getX().getDefiningOp<ReshapeOp>()) {
    if (inner.getX().getType() == getType())
      return inner.getX();
    getXMutable().assign(inner.getX());
    return getResult();
  }
  return {};
}

OpFoldResult TransposeOp::fold(FoldAdaptor) {
  if (isIdentityPermutation(getPerm()))
    return getX();
  if (auto inner = getX().getDefiningOp<TransposeOp>()) {
    // result dim i = inner dim perm[i] = x dim innerPerm[perm[i]].
    llvm::SmallVector<int64_t> composed;
    for (int64_t p : getPerm())
      composed.push_back(inner.getPerm()[p]);
    if (isIdentityPermutation(composed))
      return inner.getX();
    getXMutable().assign(inner.getX());
    setPermAttr(DenseI64ArrayAttr::get(getContext(), composed));
    return getResult();
  }
  return {};
}

OpFoldResult BroadcastToOp::fold(FoldAdaptor adaptor) {
  if (getX().getType() == getType())
    return getX();
  if (auto dense = llvm::dyn_cast_if_present<DenseElementsAttr>(adaptor.getX()))
    if (dense.isSplat())
      return DenseElementsAttr::get(getType(), dense.getSplatValue<Attribute>());
  return {};
}

OpFoldResult SumToOp::fold(FoldAdaptor) {
  if (getX().getType() == getType())
    return getX();
  return {};
}

} // namespace dz::ir

#define GET_OP_CLASSES
#include "dzc/ir/DzOps.cpp.inc"
