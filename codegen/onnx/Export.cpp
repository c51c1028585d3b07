// Export.cpp - a func.func of dz ops as an ONNX ModelProto (dzc/codegen/OnnxExport.h).
//
// 1. Refuse, in one UnsupportedError, every op that has no entry in the table.
// 2. Arguments become graph inputs (dimension 0 symbolic, "N", with a dynamic batch) or
//    initializers; dz.constant ops become initializers.
// 3. Walk the ops in order; each entry of the table writes the ONNX nodes of one op. With a
//    dynamic batch, each value records whether its dimension 0 is the batch (Dim0) or its
//    size otherwise grows with it (Scaled): ops with a shape attribute (reshape,
//    broadcast_to, get_item) write that dimension as 0, -1 or a shape read at run time.
// 4. The returned values become the graph outputs (Identity where one is an input, a
//    constant, or returned twice); ONNX shape inference and the checker must accept the
//    model, and the declared output types must agree with what ONNX infers.
#include "Exporter.h"

#include <dzc/codegen/ExecutorBuild.h>
#include <dzc/ir/DzOps.h>
#include <dzc/onnx/Model.h>
#include <dzc/version.h>

#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>

namespace dz::codegen::onnx_export {

void Exporter::checkSupported() {
  std::map<std::string, int> missing; // op name -> count
  for (Operation &op : fn_.getBody().front())
    if (!llvm::isa<mlir::func::ReturnOp>(op) && !table().count(op.getName().getStringRef()))
      ++missing[op.getName().getStringRef().str()];
  if (missing.empty())
    return;
  std::string list, reason;
  for (const auto &[name, count] : missing) {
    list += "\n  " + name + " (" + std::to_string(count) + (count == 1 ? " op)" : " ops)");
    reason += (reason.empty() ? "op " : ", ") + name;
  }
  throw onnx::UnsupportedError("dz::onnx export of @" + fn_.getSymName().str() + ": " +
                                   std::to_string(missing.size()) +
                                   " op type(s) have no ONNX mapping (docs/onnx.md lists those "
                                   "that have; dz.grad must be expanded by --dz-autodiff "
                                   "first):" +
                                   list,
                               reason);
}

void Exporter::setValueInfo(::onnx::ValueInfoProto &info, Value v, const std::string &n) const {
  info.set_name(n);
  auto *tensor = info.mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(onnxElementType(typeOf(v).getElementType()));
  auto *shape = tensor->mutable_shape();
  const Shape64 dims = shapeOf(v);
  for (size_t d = 0; d < dims.size(); ++d) {
    if (d == 0 && dynamic() && batch(v) == Batch::Dim0)
      shape->add_dim()->set_dim_param("N");
    else
      shape->add_dim()->set_dim_value(dims[d]);
  }
}

void Exporter::addArguments() {
  mlir::Block &body = fn_.getBody().front();
  if (!args_.empty() && args_.size() != body.getNumArguments())
    throw Error("dz::onnx export: " + std::to_string(args_.size()) + " argument names for @" +
                fn_.getSymName().str() + ", which has " + std::to_string(body.getNumArguments()) +
                " arguments");
  // The batch size: dimension 0 of the first input; inputs with that dimension 0 carry it.
  for (unsigned i = 0; i < body.getNumArguments(); ++i) {
    const bool input = args_.empty() || !args_[i].initializer;
    const Shape64 dims = shapeOf(body.getArgument(i));
    if (input && !dims.empty()) {
      batch_size_ = dims[0];
      break;
    }
  }
  for (unsigned i = 0; i < body.getNumArguments(); ++i) {
    Value v = body.getArgument(i);
    std::string n = !args_.empty()                    ? args_[i].name
                    : i < options_.input_names.size() ? options_.input_names[i]
                                                      : "input_" + std::to_string(i);
    if (!used_.insert(n).second)
      throw Error("dz::onnx export: two arguments are named '" + n + "'");
    names_[v] = n;
    if (!args_.empty() && args_[i].initializer) {
      const Tensor &t = *args_[i].initializer;
      const Shape64 want = shapeOf(v);
      if (t.shape() != Shape(want.begin(), want.end()))
        throw Error("dz::onnx export: the value of initializer '" + n + "' has shape " +
                    shape_str(t.shape()) + ", argument " + std::to_string(i) + " is " +
                    shape_str(Shape(want.begin(), want.end())));
      ::onnx::TensorProto &p = initializer(n, onnxElementType(t.dtype()));
      for (int64_t d : t.shape())
        p.add_dims(d);
      Tensor c = t.device().is_cpu() ? t : t.to(Device::cpu());
      p.set_raw_data(std::string(static_cast<const char *>(c.raw()), c.nbytes()));
      continue;
    }
    const Shape64 dims = shapeOf(v);
    if (dynamic() && !dims.empty() && dims[0] == batch_size_) {
      setBatch(v, Batch::Dim0);
      if (batch_input_.empty())
        batch_input_ = n;
    }
    setValueInfo(*graph_->add_input(), v, n);
  }
}

void Exporter::addConstant(Operation *op) {
  auto dense = op->getAttrOfType<mlir::DenseElementsAttr>("value");
  if (!dense)
    throw Error("dz::onnx export: a dz.constant whose value is not a dense elements attribute "
                "(a dense_resource?) cannot be written");
  std::string base = "const";
  if (auto loc = llvm::dyn_cast<mlir::NameLoc>(op->getLoc())) // an ONNX initializer's name
    base = loc.getName().str();
  mlir::Type elem = dense.getElementType();
  ::onnx::TensorProto &t = initializer(fresh(base), onnxElementType(elem));
  for (int64_t d : dense.getType().getShape())
    t.add_dims(d);
  std::string raw;
  auto append = [&raw](auto x) { raw.append(reinterpret_cast<const char *>(&x), sizeof x); };
  if (elem.isF32())
    for (float x : dense.getValues<float>())
      append(x);
  else if (elem.isF64())
    for (double x : dense.getValues<double>())
      append(x);
  else if (elem.isInteger(64))
    for (int64_t x : dense.getValues<int64_t>())
      append(x);
  else if (elem.isInteger(32))
    for (int32_t x : dense.getValues<int32_t>())
      append(x);
  else if (elem.isInteger(1)) // one byte per bool
    for (bool x : dense.getValues<bool>())
      append(uint8_t(x));
  else // i8, i16, ui8, ui16, f16, bf16: the raw little-endian elements, a splat repeated
    for (int64_t i = 0, n = dense.getNumElements(); i < n; ++i)
      raw.append(dense.getRawData().data() +
                     (dense.isSplat() ? 0 : i) * (elem.getIntOrFloatBitWidth() / 8),
                 elem.getIntOrFloatBitWidth() / 8);
  t.set_raw_data(raw);
  names_[op->getResult(0)] = t.name();
}

void Exporter::defaultBatch(Operation *op) {
  // Elementwise semantics: dimension 0 is the batch when an operand of the result's rank
  // has it there; the size grows with the batch when any operand's does.
  for (Value r : op->getResults()) {
    if (batch_.count(r))
      continue;
    Batch b = Batch::None;
    if (shapeOf(r).empty()) { // a 0-d value (a loss) has no batch
      setBatch(r, b);
      continue;
    }
    for (Value x : op->getOperands()) {
      const Batch bx = batch(x);
      if (bx == Batch::Dim0 && shapeOf(x).size() == shapeOf(r).size() && !shapeOf(r).empty())
        b = Batch::Dim0;
      else if (bx != Batch::None && b == Batch::None)
        b = Batch::Scaled;
    }
    setBatch(r, b);
  }
}

void Exporter::addOutputs(mlir::func::ReturnOp ret) {
  std::set<std::string> outputs;
  for (unsigned i = 0; i < ret.getNumOperands(); ++i) {
    Value v = ret.getOperand(i);
    std::string n =
        i < options_.output_names.size() ? options_.output_names[i] : "output_" + std::to_string(i);
    if (!outputs.insert(n).second)
      throw Error("dz::onnx export: two outputs are named '" + n + "'");
    // A value computed by a node takes the output's name (the node is renamed); an input,
    // an initializer or a value returned twice goes through an Identity.
    const std::string current = name(v);
    bool renamed = false;
    if (!used_.count(n) && !llvm::isa<mlir::BlockArgument>(v) &&
        !llvm::isa<ir::ConstantOp>(v.getDefiningOp()) && current.size() && current[0] == 't' &&
        !outputs.count(current)) {
      for (::onnx::NodeProto &node : *graph_->mutable_node()) {
        for (std::string &input : *node.mutable_input())
          if (input == current)
            input = n;
        for (std::string &output : *node.mutable_output())
          if (output == current)
            output = n, renamed = true;
      }
    }
    if (renamed) {
      names_[v] = n;
    } else {
      if (used_.count(n))
        throw Error("dz::onnx export: output name '" + n +
                    "' is already an input's or "
                    "initializer's name");
      node("Identity", {current}, {n});
    }
    used_.insert(n);
    setValueInfo(*graph_->add_output(), v, n);
  }
}

/// The IR version of ONNX that introduced an opset (opset 13, 14: 7; 15 to 17: 8).
int64_t irVersion(int opset) { return opset <= 14 ? 7 : 8; }

::onnx::ModelProto Exporter::run() {
  if (options_.opset < onnx::kMinExportOpset || options_.opset > onnx::kMaxExportOpset)
    throw Error("dz::onnx export: opset " + std::to_string(options_.opset) +
                " is outside the opsets dzc writes, " + std::to_string(onnx::kMinExportOpset) +
                " to " + std::to_string(onnx::kMaxExportOpset));
  checkSupported();
  ::onnx::ModelProto model;
  model.set_ir_version(irVersion(options_.opset));
  model.set_producer_name("dzc");
  model.set_producer_version(dz::version());
  auto *opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(options_.opset);
  graph_ = model.mutable_graph();
  graph_->set_name(options_.graph_name.empty() ? fn_.getSymName().str() : options_.graph_name);

  addArguments();
  for (Operation &op : fn_.getBody().front()) {
    if (auto ret = llvm::dyn_cast<mlir::func::ReturnOp>(op)) {
      addOutputs(ret);
      break;
    }
    if (llvm::isa<ir::ConstantOp>(op)) {
      addConstant(&op);
      setBatch(op.getResult(0), Batch::None);
      continue;
    }
    table().at(op.getName().getStringRef())(*this, &op);
    defaultBatch(&op);
  }
  return model;
}

/// Runs ONNX's own shape inference (strict: a node it cannot infer, or an inferred type
/// that conflicts with a declared output, is an error) and checker on our model.
void validate(::onnx::ModelProto &model) {
  try {
    ::onnx::shape_inference::InferShapes(model, ::onnx::OpSchemaRegistry::Instance(),
                                         ::onnx::ShapeInferenceOptions(true, 1, false));
    ::onnx::checker::check_model(model);
  } catch (const std::exception &e) {
    throw Error(std::string("dz::onnx export: the written model does not pass ONNX's checks "
                            "(a bug in dzc's exporter; please report it): ") +
                e.what());
  }
}

} // namespace dz::codegen::onnx_export

namespace dz::codegen {

std::string exportOnnx(mlir::func::FuncOp fn, const onnx::ExportOptions &options,
                       const std::vector<OnnxArgument> &args) {
  ::onnx::ModelProto model = onnx_export::Exporter(fn, options, args).run();
  onnx_export::validate(model);
  std::string bytes;
  if (!model.SerializeToString(&bytes))
    throw Error("dz::onnx export: the model cannot be serialized (over 2 GB?)");
  return bytes;
}

onnx::ImportOptions runImportOptions(std::vector<Tensor> input_values) {
  onnx::ImportOptions options;
  options.input_values = std::move(input_values);
  options.evaluate = [](mlir::func::FuncOp fn) { // folds shapes computed from constants
    return buildProgramOrThrow(fn).run({}).at(0);
  };
  return options;
}

} // namespace dz::codegen