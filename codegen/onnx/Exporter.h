// Exporter.h - internal to codegen/onnx: the state of one export (value names, the
// initializers, which values carry the batch) and the helpers the op table writes ONNX
// nodes with. Export.cpp walks the function; OpTable.cpp has one entry per dz op.
#pragma once

#include <dzc/codegen/OnnxExport.h>

#include <mlir/IR/BuiltinAttributes.h>
#include <mlir/IR/BuiltinTypes.h>

#include <onnx/onnx_pb.h>

#include <llvm/ADT/DenseMap.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace dz::codegen::onnx_export {

using mlir::Operation;
using mlir::Value;
using Shape64 = std::vector<int64_t>;

enum class Batch { None, Dim0, Scaled };

inline mlir::RankedTensorType typeOf(Value v) {
  return llvm::cast<mlir::RankedTensorType>(v.getType());
}
inline Shape64 shapeOf(Value v) {
  return Shape64(typeOf(v).getShape().begin(), typeOf(v).getShape().end());
}

inline int32_t onnxElementType(mlir::Type t) {
  if (t.isF32())
    return ::onnx::TensorProto::FLOAT;
  if (t.isF64())
    return ::onnx::TensorProto::DOUBLE;
  if (t.isSignlessInteger(64))
    return ::onnx::TensorProto::INT64;
  if (t.isSignlessInteger(32))
    return ::onnx::TensorProto::INT32;
  if (t.isInteger(1))
    return ::onnx::TensorProto::BOOL;
  if (t.isF16())
    return ::onnx::TensorProto::FLOAT16;
  if (t.isBF16())
    return ::onnx::TensorProto::BFLOAT16;
  if (t.isSignlessInteger(8))
    return ::onnx::TensorProto::INT8;
  if (t.isSignlessInteger(16))
    return ::onnx::TensorProto::INT16;
  if (t.isUnsignedInteger(8))
    return ::onnx::TensorProto::UINT8;
  if (t.isUnsignedInteger(16))
    return ::onnx::TensorProto::UINT16;
  if (t.isUnsignedInteger(32))
    return ::onnx::TensorProto::UINT32;
  if (t.isUnsignedInteger(64))
    return ::onnx::TensorProto::UINT64;
  throw Error("dz::onnx export: element type without an ONNX mapping (f32, f64, i64, i32, i1, "
              "i8, i16, ui8 to ui64, f16 and bf16 have one)");
}

inline int32_t onnxElementType(DType d) {
  switch (d) {
  case f32:
    return ::onnx::TensorProto::FLOAT;
  case f64:
    return ::onnx::TensorProto::DOUBLE;
  case i64:
    return ::onnx::TensorProto::INT64;
  case i32:
    return ::onnx::TensorProto::INT32;
  case u8:
    return ::onnx::TensorProto::UINT8;
  case b8:
    return ::onnx::TensorProto::BOOL;
  case i8:
    return ::onnx::TensorProto::INT8;
  case i16:
    return ::onnx::TensorProto::INT16;
  case u16:
    return ::onnx::TensorProto::UINT16;
  case u32:
    return ::onnx::TensorProto::UINT32;
  case u64:
    return ::onnx::TensorProto::UINT64;
  case f16:
    return ::onnx::TensorProto::FLOAT16;
  case bf16:
    return ::onnx::TensorProto::BFLOAT16;
  }
  return ::onnx::TensorProto::UNDEFINED;
}

inline Shape64 i64Array(Operation *op, const char *name) {
  auto a = op->getAttrOfType<mlir::DenseI64ArrayAttr>(name);
  return a ? Shape64(a.asArrayRef().begin(), a.asArrayRef().end()) : Shape64();
}
inline bool boolAttr(Operation *op, const char *name) {
  auto a = op->getAttrOfType<mlir::BoolAttr>(name);
  return a && a.getValue();
}
inline double f64Attr(Operation *op, const char *name) {
  return op->getAttrOfType<mlir::FloatAttr>(name).getValueAsDouble();
}
inline int64_t i64Attr(Operation *op, const char *name) {
  return op->getAttrOfType<mlir::IntegerAttr>(name).getInt();
}

inline void setAttr(::onnx::NodeProto &n, const char *name, int64_t v) {
  auto *a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INT);
  a->set_i(v);
}
inline void setAttr(::onnx::NodeProto &n, const char *name, const Shape64 &v) {
  auto *a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INTS);
  for (int64_t x : v)
    a->add_ints(x);
}
inline void setAttr(::onnx::NodeProto &n, const char *name, double v) {
  auto *a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::FLOAT);
  a->set_f(float(v));
}
inline void setAttr(::onnx::NodeProto &n, const char *name, const char *v) {
  auto *a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::STRING);
  a->set_s(v);
}

class Exporter {
public:
  Exporter(mlir::func::FuncOp fn, const onnx::ExportOptions &options,
           const std::vector<OnnxArgument> &args)
      : fn_(fn), options_(options), args_(args) {}

  ::onnx::ModelProto run();

  // ---- what the table's entries use ----
  // Names by value: a later name() may grow the map under a reference.
  std::string in(Operation *op, unsigned i) { return name(op->getOperand(i)); }
  std::string out(Operation *op, unsigned i = 0) { return name(op->getResult(i)); }
  ::onnx::NodeProto &node(const char *type, std::vector<std::string> ins,
                          std::vector<std::string> outs) {
    ::onnx::NodeProto &n = *graph_->add_node();
    n.set_op_type(type);
    n.set_name(std::string(type) + "_" + std::to_string(graph_->node_size() - 1));
    for (std::string &s : ins)
      n.add_input(std::move(s));
    for (std::string &s : outs)
      n.add_output(std::move(s));
    return n;
  }
  /// A fresh value name.
  std::string temp() { return "t" + std::to_string(next_temp_++); }
  /// An int64 initializer (1-d, or 0-d with `scalar`).
  std::string i64s(const Shape64 &v, bool scalar = false) {
    ::onnx::TensorProto &t = initializer(fresh("c"), ::onnx::TensorProto::INT64);
    if (!scalar)
      t.add_dims(int64_t(v.size()));
    for (int64_t x : v)
      t.add_int64_data(x);
    return t.name();
  }
  /// A 1-d initializer of element type `elem` (f32, f64, i64); 0-d with `scalar`.
  std::string constant(const std::vector<double> &v, mlir::Type elem, bool scalar = false) {
    ::onnx::TensorProto &t = initializer(fresh("c"), onnxElementType(elem));
    if (!scalar)
      t.add_dims(int64_t(v.size()));
    for (double x : v) {
      if (elem.isF32())
        t.add_float_data(float(x));
      else if (elem.isF64())
        t.add_double_data(x);
      else
        t.add_int64_data(int64_t(x));
    }
    return t.name();
  }
  std::string scalar(double v, mlir::Type elem) { return constant({v}, elem, true); }
  /// `x` cast to `elem` (ONNX Cast), into `to`.
  void castTo(const std::string &x, mlir::Type elem, const std::string &to) {
    setAttr(node("Cast", {x}, {to}), "to", int64_t(onnxElementType(elem)));
  }

  /// A batch of 1 is not told apart from the dimensions of 1 that broadcast: traced so, the
  /// model keeps its static shapes.
  bool dynamic() const { return options_.dynamic_batch && batch_size_ > 1; }
  int64_t batchSize() const { return batch_size_; }
  Batch batch(Value v) const {
    auto it = batch_.find(v);
    return it == batch_.end() ? Batch::None : it->second;
  }
  void setBatch(Value v, Batch b) { batch_[v] = b; }
  /// A 1-d int64 tensor holding the batch size, read from an input at run time.
  const std::string &batchTensor() {
    if (batch_tensor_.empty()) {
      std::string shape = temp();
      node("Shape", {batch_input_}, {shape});
      batch_tensor_ = temp();
      node("Slice", {shape, i64s({0}), i64s({1})}, {batch_tensor_});
    }
    return batch_tensor_;
  }
  /// A shape attribute as an int64 tensor, with dimension 0 `dim0` where given.
  std::string shapeWith(Shape64 shape, std::optional<int64_t> dim0) {
    if (dim0 && !shape.empty())
      shape[0] = *dim0;
    return i64s(shape);
  }
  /// A shape whose dimension 0 is the batch, read at run time: Concat(batch, rest).
  std::string dynamicShape(const Shape64 &shape) {
    std::string s = temp();
    setAttr(node("Concat", {batchTensor(), i64s(Shape64(shape.begin() + 1, shape.end()))}, {s}),
            "axis", int64_t(0));
    return s;
  }

private:
  std::string name(Value v) {
    auto it = names_.find(v);
    if (it == names_.end())
      it = names_.try_emplace(v, temp()).first;
    return it->second;
  }
  std::string fresh(const std::string &base) {
    std::string n = base;
    for (int i = 1; !used_.insert(n).second; ++i)
      n = base + "_" + std::to_string(i);
    return n;
  }
  ::onnx::TensorProto &initializer(const std::string &n, int32_t elem) {
    ::onnx::TensorProto &t = *graph_->add_initializer();
    t.set_name(n);
    t.set_data_type(elem);
    return t;
  }
  void checkSupported();
  void addArguments();
  void addConstant(Operation *op);
  void addOutputs(mlir::func::ReturnOp ret);
  void defaultBatch(Operation *op);
  void setValueInfo(::onnx::ValueInfoProto &info, Value v, const std::string &n) const;

  mlir::func::FuncOp fn_;
  const onnx::ExportOptions &options_;
  const std::vector<OnnxArgument> &args_;
  ::onnx::GraphProto *graph_ = nullptr;
  llvm::DenseMap<Value, std::string> names_;
  llvm::DenseMap<Value, Batch> batch_;
  std::set<std::string> used_;
  int next_temp_ = 0;
  int64_t batch_size_ = -1;
  std::string batch_input_, batch_tensor_;
};

/// Writes the ONNX nodes of one op.
using Rule = void (*)(Exporter &, Operation *);

/// The op table (OpTable.cpp): dz op name -> its rule; dz.constant maps to null (it becomes
/// an initializer, Exporter::addConstant).
const std::map<std::string_view, Rule> &table();

} // namespace dz::codegen::onnx_export
