// Convert.cpp - NodeContext (Convert.h): a node's inputs, attributes and constants as
// the converters read them, and the conversions between tensors and IR constants.
#include "Convert.h"

#include <cstring>
#include <numeric>

#include <llvm/Support/raw_ostream.h>

namespace dz::onnx {

using mlir::RankedTensorType;

std::string NodeContext::where() const {
  return "node '" + label_ + "' (" + op_key(node) + ", opset " + std::to_string(opset) + ")";
}

void NodeContext::fail(const std::string &problem) const {
  throw dz::Error(where() + ": " + problem);
}

void NodeContext::unsupported(const std::string &problem, const std::string &reason) const {
  throw UnsupportedError(where() + ": " + problem, reason);
}

Value NodeContext::in(size_t i) const {
  if (!has(i))
    fail("input #" + std::to_string(i) + " is required");
  return inputs_[i];
}

std::optional<Tensor> NodeContext::constant(size_t i) const {
  if (!has(i))
    return std::nullopt;
  // Operands read as constants (shapes, axes, indices) are small; a big splat is not
  // expanded into a tensor.
  if (auto c = inputs_[i].getDefiningOp<ir::ConstantOp>())
    if (auto dense = llvm::dyn_cast<mlir::DenseElementsAttr>(c.getValue());
        dense && dense.getNumElements() <= kMaxConstantRead)
      return tensor_of(dense);
  return std::nullopt;
}

Tensor NodeContext::required_constant(size_t i, const char *what) const {
  if (!has(i))
    fail(std::string("its ") + what + " (input #" + std::to_string(i) + ") is missing");
  std::optional<Tensor> t = constant(i);
  if (!t)
    t = known_(i);
  if (!t)
    unsupported(std::string("its ") + what + " (input #" + std::to_string(i) + " '" +
                    node.input(int(i)) +
                    "') must be known at import time (an initializer, a "
                    "Constant node or a graph input with a given value)",
                node.op_type() + " with a computed " + what);
  return *t;
}

std::vector<int64_t> NodeContext::ints_input(size_t i, const char *what) const {
  Tensor t = required_constant(i, what);
  std::optional<std::vector<int64_t>> v = integers_of(t);
  if (!v)
    fail(std::string("its ") + what + " must be integers, got " + dz::dtype_name(t.dtype()));
  return *v;
}

const ::onnx::AttributeProto *NodeContext::find(const std::string &name) const {
  for (const ::onnx::AttributeProto &a : node.attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

const ::onnx::AttributeProto &
NodeContext::expect(const std::string &name, ::onnx::AttributeProto::AttributeType type) const {
  const ::onnx::AttributeProto *a = find(name);
  // Files written before IR version 0.0.2 may leave `type` unset.
  if (a->type() != type && a->type() != ::onnx::AttributeProto::UNDEFINED)
    fail("attribute '" + name + "' must be " + ::onnx::AttributeProto_AttributeType_Name(type) +
         ", got " + ::onnx::AttributeProto_AttributeType_Name(a->type()));
  return *a;
}

int64_t NodeContext::int_attr(const std::string &name, int64_t dflt) const {
  return has_attr(name) ? expect(name, ::onnx::AttributeProto::INT).i() : dflt;
}

double NodeContext::float_attr(const std::string &name, double dflt) const {
  return has_attr(name) ? expect(name, ::onnx::AttributeProto::FLOAT).f() : dflt;
}

std::string NodeContext::string_attr(const std::string &name, const std::string &dflt) const {
  return has_attr(name) ? expect(name, ::onnx::AttributeProto::STRING).s() : dflt;
}

std::optional<std::vector<int64_t>> NodeContext::ints_attr(const std::string &name) const {
  if (!has_attr(name))
    return std::nullopt;
  const auto &ints = expect(name, ::onnx::AttributeProto::INTS).ints();
  return std::vector<int64_t>(ints.begin(), ints.end());
}

std::optional<std::vector<double>> NodeContext::floats_attr(const std::string &name) const {
  if (!has_attr(name))
    return std::nullopt;
  const auto &floats = expect(name, ::onnx::AttributeProto::FLOATS).floats();
  return std::vector<double>(floats.begin(), floats.end());
}

std::optional<std::vector<std::string>> NodeContext::strings_attr(const std::string &name) const {
  if (!has_attr(name))
    return std::nullopt;
  const auto &strings = expect(name, ::onnx::AttributeProto::STRINGS).strings();
  return std::vector<std::string>(strings.begin(), strings.end());
}

const ::onnx::TensorProto *NodeContext::tensor_attr(const std::string &name) const {
  return has_attr(name) ? &expect(name, ::onnx::AttributeProto::TENSOR).t() : nullptr;
}

void NodeContext::require_float(Value v) const {
  if (!is_float(v)) {
    std::string type_name;
    llvm::raw_string_ostream os(type_name);
    os << type(v).getElementType();
    unsupported("dz defines it on float tensors only, got " + type_name,
                node.op_type() + " of " + type_name);
  }
}

int64_t NodeContext::axis(int64_t axis, int64_t rank) const {
  if (axis < -rank || axis >= rank)
    fail("axis " + std::to_string(axis) + " is outside [-" + std::to_string(rank) + ", " +
         std::to_string(rank) + ")");
  return axis < 0 ? axis + rank : axis;
}

Value NodeContext::constant_of(const Tensor &t) {
  return make<ir::ConstantOp>(mlir::ElementsAttr(elements_of(*b.getContext(), t)));
}

Value NodeContext::scalar(double value, Value like) {
  mlir::Type element = type(like).getElementType();
  auto t = RankedTensorType::get({}, element);
  mlir::Attribute v = llvm::isa<mlir::FloatType>(element)
                          ? mlir::Attribute(b.getFloatAttr(element, value))
                          : mlir::Attribute(b.getIntegerAttr(element, int64_t(value)));
  return make<ir::ConstantOp>(
      mlir::ElementsAttr(mlir::DenseElementsAttr::get(t, llvm::ArrayRef<mlir::Attribute>(v))));
}

Value NodeContext::broadcast(Value x, llvm::ArrayRef<int64_t> to) {
  if (shape(x) == to)
    return x;
  return make<ir::BroadcastToOp>(x, b.getDenseI64ArrayAttr(to));
}

Value NodeContext::reshape(Value x, llvm::ArrayRef<int64_t> to) {
  if (shape(x) == to)
    return x;
  return make<ir::ReshapeOp>(x, b.getDenseI64ArrayAttr(to));
}

int64_t product(llvm::ArrayRef<int64_t> shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t(1), std::multiplies<>());
}

std::string dims_str(llvm::ArrayRef<int64_t> shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + ")";
}

std::optional<int64_t> element_count(llvm::ArrayRef<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n) || n > kMaxElements)
      return std::nullopt;
  return n;
}

std::optional<std::vector<int64_t>> integers_of(const Tensor &t) {
  if (is_floating(t.dtype()) || t.dtype() == b8)
    return std::nullopt;
  const Tensor wide = t.to(i64); // uint64 above 2^63 wraps to negative
  return std::vector<int64_t>(wide.data<int64_t>(), wide.data<int64_t>() + wide.size());
}

mlir::Type element_type_of(mlir::MLIRContext &ctx, DType dtype) {
  switch (dtype) {
  case f32:
    return mlir::Float32Type::get(&ctx);
  case f64:
    return mlir::Float64Type::get(&ctx);
  case f16:
    return mlir::Float16Type::get(&ctx);
  case bf16:
    return mlir::BFloat16Type::get(&ctx);
  case i64:
    return mlir::IntegerType::get(&ctx, 64);
  case i32:
    return mlir::IntegerType::get(&ctx, 32);
  case i16:
    return mlir::IntegerType::get(&ctx, 16);
  case i8:
    return mlir::IntegerType::get(&ctx, 8);
  case b8:
    return mlir::IntegerType::get(&ctx, 1);
  case u8:
    return mlir::IntegerType::get(&ctx, 8, mlir::IntegerType::Unsigned);
  case u16:
    return mlir::IntegerType::get(&ctx, 16, mlir::IntegerType::Unsigned);
  case u32:
    return mlir::IntegerType::get(&ctx, 32, mlir::IntegerType::Unsigned);
  case u64:
    return mlir::IntegerType::get(&ctx, 64, mlir::IntegerType::Unsigned);
  }
  return {};
}

std::optional<DType> dtype_of_element(mlir::Type e) {
  if (e.isF32())
    return f32;
  if (e.isF64())
    return f64;
  if (e.isF16())
    return f16;
  if (e.isBF16())
    return bf16;
  auto i = llvm::dyn_cast<mlir::IntegerType>(e);
  if (!i)
    return std::nullopt;
  const unsigned w = i.getWidth();
  if (i.isUnsigned())
    return w == 8    ? std::optional(u8)
           : w == 16 ? std::optional(u16)
           : w == 32 ? std::optional(u32)
           : w == 64 ? std::optional(u64)
                     : std::nullopt;
  if (!i.isSignless())
    return std::nullopt;
  return w == 1    ? std::optional(b8)
         : w == 8  ? std::optional(i8)
         : w == 16 ? std::optional(i16)
         : w == 32 ? std::optional(i32)
         : w == 64 ? std::optional(i64)
                   : std::nullopt;
}

bool is_narrow(mlir::Type e) {
  std::optional<DType> d = dtype_of_element(e);
  return d && (*d == u8 || !is_compute_dtype(*d));
}

mlir::Type wide_type(mlir::Type e, bool float_compute) {
  mlir::MLIRContext &ctx = *e.getContext();
  if (llvm::isa<mlir::FloatType>(e))
    return mlir::Float32Type::get(&ctx);
  return float_compute ? mlir::Type(mlir::Float64Type::get(&ctx))
                       : mlir::Type(mlir::IntegerType::get(&ctx, 64));
}

mlir::Type dz_element_type(mlir::MLIRContext &ctx, int32_t elem_type) {
  std::optional<DType> d = tensor_dtype(elem_type);
  return d ? element_type_of(ctx, *d) : mlir::Type();
}

mlir::DenseElementsAttr elements_of(mlir::MLIRContext &ctx, const Tensor &t) {
  mlir::Type element = element_type_of(ctx, t.dtype());
  auto type = RankedTensorType::get(t.shape(), element);
  if (t.dtype() == b8) { // i1 elements are stored as packed bits, not one byte each
    const bool *p = static_cast<const bool *>(t.raw());
    return mlir::DenseElementsAttr::get(type, llvm::ArrayRef<bool>(p, size_t(t.size())));
  }
  return mlir::DenseElementsAttr::getFromRawBuffer(
      type, llvm::ArrayRef<char>(static_cast<const char *>(t.raw()), t.nbytes()));
}

Tensor tensor_of(mlir::DenseElementsAttr attr) {
  auto type = llvm::cast<RankedTensorType>(attr.getType());
  mlir::Type e = type.getElementType();
  const std::optional<DType> known = dtype_of_element(e);
  if (!known) {
    std::string s;
    llvm::raw_string_ostream os(s);
    os << e;
    throw dz::Error("a constant of element type " + s + ", which dz tensors lack");
  }
  const DType dtype = *known;
  Tensor t(Shape(type.getShape().begin(), type.getShape().end()), dtype);
  if (dtype == b8) { // packed bits
    bool *p = static_cast<bool *>(t.raw());
    int64_t k = 0;
    for (bool v : attr.getValues<bool>())
      p[k++] = v;
    return t;
  }
  llvm::ArrayRef<char> raw = attr.getRawData();
  const size_t width = dtype_size(dtype);
  for (size_t off = 0; off < t.nbytes(); off += width) // a splat holds one element
    std::memcpy(static_cast<char *>(t.raw()) + off, raw.data() + (attr.isSplat() ? 0 : off), width);
  return t;
}

} // namespace dz::onnx
