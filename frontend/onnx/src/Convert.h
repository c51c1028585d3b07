// Convert.h - internal to dzc_onnx: what the converter of one ONNX node sees (its
// inputs as dz values, its attributes, the constants it may read) and the vocabulary
// the converters build dz ops with. The table of converters is in OpTable.cpp (the
// data-movement converters in ShapeOps.cpp), the graph walk that calls them in Import.cpp.
#pragma once

#include "Proto.h"

#include <dzc/ir/DzOps.h>
#include <dzc/onnx/Import.h>
#include <dzc/onnx/Model.h>

#include <mlir/IR/Builders.h>

#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace dz::onnx {

using mlir::Value;

class NodeContext {
public:
  /// `label` names the node in messages; `inputs[i]` is null for an absent optional
  /// input; `known(i)` is the value of input i that the importer can tell at import time
  /// (a graph input's given value, or a value computed from constants only);
  /// `diagnostics` collects what MLIR reports.
  NodeContext(const ::onnx::NodeProto &node, std::string label, int64_t opset, mlir::OpBuilder &b,
              mlir::Location loc, std::vector<Value> inputs,
              std::function<std::optional<Tensor>(size_t)> known, std::string &diagnostics)
      : node(node), opset(opset), b(b), loc(loc), label_(std::move(label)),
        inputs_(std::move(inputs)), known_(std::move(known)), diagnostics_(diagnostics) {}

  const ::onnx::NodeProto &node;
  const int64_t opset;
  mlir::OpBuilder &b;
  const mlir::Location loc;
  /// How Dropout computes (ImportOptions::dropout), and with Training the RNG state that
  /// the next Dropout draws from (the converter advances it).
  ImportOptions::Dropout dropout = ImportOptions::Dropout::AsInFile;
  Value *rng_state = nullptr;

  // ---- errors: both name the node ----
  /// A malformed node: dz::Error.
  [[noreturn]] void fail(const std::string &problem) const;
  /// A valid node dz cannot express: UnsupportedError with `reason` as its category.
  [[noreturn]] void unsupported(const std::string &problem, const std::string &reason) const;
  /// "node 'name' (Op, opset N)".
  std::string where() const;

  // ---- inputs ----
  size_t num_inputs() const { return inputs_.size(); }
  bool has(size_t i) const { return i < inputs_.size() && inputs_[i]; }
  /// Input i, which the op requires.
  Value in(size_t i) const;
  /// Input i when it is an IR constant (initializer, Constant node, Shape result).
  std::optional<Tensor> constant(size_t i) const;
  /// Input i's value at import time: a constant, a graph input with a given value or a
  /// value computed from constants; UnsupportedError (a shape computed at run time)
  /// otherwise.
  Tensor required_constant(size_t i, const char *what) const;
  /// A required constant of integers (int64 or int32) as a list.
  std::vector<int64_t> ints_input(size_t i, const char *what) const;

  // ---- attributes: typed getters, dz::Error on a wrong attribute type ----
  bool has_attr(const std::string &name) const { return find(name) != nullptr; }
  int64_t int_attr(const std::string &name, int64_t dflt) const;
  double float_attr(const std::string &name, double dflt) const;
  std::string string_attr(const std::string &name, const std::string &dflt) const;
  std::optional<std::vector<int64_t>> ints_attr(const std::string &name) const;
  std::optional<std::vector<double>> floats_attr(const std::string &name) const;
  std::optional<std::vector<std::string>> strings_attr(const std::string &name) const;
  const ::onnx::TensorProto *tensor_attr(const std::string &name) const;

  /// Replaces the inputs (a converter that runs another op's converter on values it made:
  /// ConvInteger runs Conv's on its inputs minus their zero points).
  void set_inputs(std::vector<Value> inputs) { inputs_ = std::move(inputs); }

  /// Output #1, #2, ... of the node, in order (op types whose entry has outputs > 1).
  void add_output(Value v) { outputs_.push_back(v); }
  llvm::ArrayRef<Value> added_outputs() const { return outputs_; }

  // ---- building dz ops ----
  /// Builds OpTy from its operands and attributes with the result type it infers; a
  /// failed inference throws dz::Error with the diagnostic (the generated builders
  /// would abort instead).
  template <typename OpTy, typename... Args> Value make(Args &&...args) {
    mlir::OperationState state(loc, OpTy::getOperationName());
    mlir::Type placeholder = b.getNoneType();
    OpTy::build(b, state, mlir::TypeRange(placeholder), std::forward<Args>(args)...);
    state.types.clear();
    llvm::SmallVector<mlir::Type, 1> types;
    diagnostics_.clear();
    if (mlir::failed(OpTy::inferReturnTypes(b.getContext(), loc, state.operands,
                                            state.attributes.getDictionary(b.getContext()),
                                            state.getRawProperties(), state.regions, types)))
      fail("cannot build " + OpTy::getOperationName().str() + ": " + diagnostics_);
    state.addTypes(types);
    return b.create(state)->getResult(0);
  }

  mlir::RankedTensorType type(Value v) const {
    return llvm::cast<mlir::RankedTensorType>(v.getType());
  }
  llvm::ArrayRef<int64_t> shape(Value v) const { return type(v).getShape(); }
  int64_t rank(Value v) const { return type(v).getRank(); }
  bool is_float(Value v) const { return llvm::isa<mlir::FloatType>(type(v).getElementType()); }
  /// UnsupportedError unless `v` is a float tensor (ops dz defines on floats only).
  void require_float(Value v) const;
  /// `axis` in [-rank, rank) mapped into [0, rank); dz::Error otherwise.
  int64_t axis(int64_t axis, int64_t rank) const;

  Value constant_of(const Tensor &t);
  /// A 0-d constant of like's element type (binary ops broadcast it).
  Value scalar(double value, Value like);
  Value add(Value x, Value y) { return make<ir::AddOp>(x, y); }
  Value sub(Value x, Value y) { return make<ir::SubOp>(x, y); }
  Value mul(Value x, Value y) { return make<ir::MulOp>(x, y); }
  Value div(Value x, Value y) { return make<ir::DivOp>(x, y); }
  /// ONNX's Div: x / y for floats; for integers the quotient truncated toward zero
  /// (dz.trunc_divide; a divisor of 0 gives 0).
  Value quotient(Value x, Value y) {
    return is_float(x) ? div(x, y) : make<ir::TruncDivideOp>(x, y);
  }
  Value neg(Value x) { return make<ir::NegOp>(x); }
  Value relu(Value x) { return make<ir::ReluOp>(x); }
  Value exp(Value x) { return make<ir::ExpOp>(x); }
  Value log(Value x) { return make<ir::LogOp>(x); }
  Value step(Value x) { return make<ir::StepOp>(x); }
  /// |x| = relu(x) + relu(-x), exact for floats and integers.
  Value abs(Value x) { return add(relu(x), relu(neg(x))); }
  Value clip(Value x, double lo, double hi) {
    return make<ir::ClipOp>(x, b.getF64FloatAttr(lo), b.getF64FloatAttr(hi));
  }
  Value sqrt(Value x) { return make<ir::SqrtOp>(x); }
  Value maximum(Value x, Value y) { return make<ir::MaximumOp>(x, y); }
  /// x broadcast to `shape` (no op when it has it).
  Value broadcast(Value x, llvm::ArrayRef<int64_t> shape);
  Value reshape(Value x, llvm::ArrayRef<int64_t> shape);
  Value transpose(Value x, llvm::ArrayRef<int64_t> perm) {
    return make<ir::TransposeOp>(x, b.getDenseI64ArrayAttr(perm));
  }
  Value sum(Value x, llvm::ArrayRef<int64_t> axes, bool keepdims) {
    return make<ir::SumOp>(x, b.getDenseI64ArrayAttr(axes), b.getBoolAttr(keepdims));
  }

private:
  const ::onnx::AttributeProto *find(const std::string &name) const;
  const ::onnx::AttributeProto &expect(const std::string &name,
                                       ::onnx::AttributeProto::AttributeType type) const;

  std::string label_;
  std::vector<Value> inputs_, outputs_;
  std::function<std::optional<Tensor>(size_t)> known_;
  std::string &diagnostics_;
};

/// The product of a shape's dimensions (1 for 0-d).
int64_t product(llvm::ArrayRef<int64_t> shape);
/// "(2, 3)", for messages.
std::string dims_str(llvm::ArrayRef<int64_t> shape);

/// The converter of one ONNX op type: the dz value of the node's first output; the
/// further outputs it supports go through NodeContext::add_output.
using Converter = Value (*)(NodeContext &);

/// OpEntry::outputs of an op with any number of outputs (Split).
constexpr int kAnyOutputs = std::numeric_limits<int>::max();

struct OpEntry {
  const char *op_type;
  Converter convert;
  int outputs = 1; // a node that asks for more (Dropout's mask, ...) is unsupported
};

/// The converters of ShapeOps.cpp: data movement, selection and constants.
namespace shape_ops {
Value reshape(NodeContext &c);
Value flatten(NodeContext &c);
Value transpose(NodeContext &c);
Value squeeze(NodeContext &c);
Value unsqueeze(NodeContext &c);
Value expand(NodeContext &c);
Value concat(NodeContext &c);
Value gather(NodeContext &c);
Value slice(NodeContext &c);
Value split(NodeContext &c);
Value depth_to_space(NodeContext &c);
Value space_to_depth(NodeContext &c);
Value tile(NodeContext &c);
Value shape(NodeContext &c);
Value constant_of_shape(NodeContext &c);
Value constant(NodeContext &c);
} // namespace shape_ops

/// The converters of IndexOps.cpp: selections, scatters and generators by index whose
/// indices are known at import time.
namespace index_ops {
Value gather_elements(NodeContext &c);
Value scatter_elements(NodeContext &c);
Value gather_nd(NodeContext &c);
Value scatter_nd(NodeContext &c);
Value one_hot(NodeContext &c);
Value trilu(NodeContext &c);
Value cum_sum(NodeContext &c);
Value compress(NodeContext &c);
Value non_zero(NodeContext &c);
Value unique(NodeContext &c);
Value non_max_suppression(NodeContext &c);
Value tfidf_vectorizer(NodeContext &c);
Value range(NodeContext &c);
Value eye_like(NodeContext &c);
Value pad(NodeContext &c);
Value einsum(NodeContext &c);
Value lrn(NodeContext &c);
Value reverse_sequence(NodeContext &c);
Value max_unpool(NodeContext &c);
/// 0: HannWindow, 1: HammingWindow, 2: BlackmanWindow.
template <int kind> Value window(NodeContext &c);
} // namespace index_ops

/// The converters of Resize.cpp: Resize and Upsample as one weight matrix per axis,
/// GridSample with a known grid as one sampling matrix per batch item.
namespace resize_ops {
Value resize(NodeContext &c);
Value upsample(NodeContext &c);
Value grid_sample(NodeContext &c);
} // namespace resize_ops

/// The converters of Spectral.cpp: DFT and STFT of known lengths as one matmul.
namespace spectral_ops {
Value dft(NodeContext &c);
Value stft(NodeContext &c);
} // namespace spectral_ops

/// The converters of WindowOps.cpp: convolutions and pooling of any rank, padding,
/// dilation and group.
namespace window_ops {
Value conv(NodeContext &c);
Value conv_transpose(NodeContext &c);
Value max_pool(NodeContext &c);
Value average_pool(NodeContext &c);
} // namespace window_ops

/// The converters of Recurrent.cpp: LSTM, GRU and RNN unrolled over the sequence.
namespace recurrent {
Value lstm(NodeContext &c);
Value rnn_or_gru(NodeContext &c);
} // namespace recurrent

/// The entry of `op_type` (default ONNX domain), or null.
const OpEntry *find_op(const std::string &op_type);

/// The element type of a dz tensor for an ONNX element type; null when dz has none.
mlir::Type dz_element_type(mlir::MLIRContext &ctx, int32_t elem_type);

/// The most elements a tensor of an imported model may have (2^40).
constexpr int64_t kMaxElements = int64_t(1) << 40;
/// The most elements of a constant that a converter reads at import time (2^24).
constexpr int64_t kMaxConstantRead = int64_t(1) << 24;
/// The element count of a shape; nullopt when a dimension is negative or the count
/// exceeds kMaxElements.
std::optional<int64_t> element_count(llvm::ArrayRef<int64_t> shape);

/// The values of an integer tensor (any width and signedness); nullopt for other dtypes.
std::optional<std::vector<int64_t>> integers_of(const Tensor &t);

/// The MLIR element type of a dtype (uint8 to uint64 as unsigned integers), and back.
mlir::Type element_type_of(mlir::MLIRContext &ctx, DType dtype);
std::optional<DType> dtype_of_element(mlir::Type e);
/// An element type that dz ops other than dz.constant and dz.cast do not take (int8,
/// int16, uint8 to uint64, float16, bfloat16): "narrow". The importer computes on such
/// values in wide_type and converts the results back.
bool is_narrow(mlir::Type e);
/// float32 for the 16-bit floats; int64 for the integers, or float64 when the op
/// computes on floats only (float_compute).
mlir::Type wide_type(mlir::Type e, bool float_compute);

/// The IR constant of a tensor (any dtype), and back.
mlir::DenseElementsAttr elements_of(mlir::MLIRContext &ctx, const Tensor &t);
Tensor tensor_of(mlir::DenseElementsAttr attr);

} // namespace dz::onnx
