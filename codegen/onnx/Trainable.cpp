// Trainable.cpp - what libdzc loads for dz::onnx::import_trainable (dzc/onnx.h): the
// trainable initializers of a model, its graph imported with them as arguments and turned
// into a trace::Graph (the form dz::compile traces: the frontend compiles it, derives its
// backward with dz.grad, and inlines it into a trace), and the model written back with new
// initializer values.
#include <dzc/codegen/OnnxExport.h>
#include <dzc/io.h>
#include <dzc/ir/DzOps.h>
#include <dzc/onnx/Import.h>
#include <dzc/onnx/Model.h>

#include "Convert.h" // frontend/onnx/src: ModelProto parsing, constants <-> Tensor

#include <mlir/IR/BuiltinAttributes.h>
#include <mlir/IR/DialectRegistry.h>
#include <mlir/IR/MLIRContext.h>

#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>

namespace dz::codegen {
namespace {

std::string quoted(const std::string &path) { return "dz::onnx::import_trainable('" + path + "')"; }

bool is_trainable_dtype(int32_t elem_type) {
  return elem_type == ::onnx::TensorProto::FLOAT || elem_type == ::onnx::TensorProto::DOUBLE;
}

bool default_domain(const ::onnx::NodeProto &n) {
  return n.domain().empty() || n.domain() == "ai.onnx";
}

/// "node 'name' (Op)", or "node 'name' (Op, <detail>)".
std::string node_label(const ::onnx::NodeProto &n, int index, const std::string &detail = "") {
  return "node '" + (n.name().empty() ? "#" + std::to_string(index) : n.name()) + "' (" +
         n.op_type() + (detail.empty() ? "" : ", " + detail) + ")";
}

onnx::TrainableSource readTrainable(const std::string &path,
                                    const onnx::TrainableOptions &options) {
  const ::onnx::ModelProto model =
      onnx::parse_model(onnx::read_file(path, "ONNX model"), path, options.check);
  std::string unsupported;
  for (const onnx::OpUse &use : onnx::op_stats(path))
    if (!use.supported)
      unsupported += "\n  " + use.op_type + " (opset " + std::to_string(use.opset) + ", " +
                     std::to_string(use.count) + " nodes)";
  if (!unsupported.empty())
    throw onnx::UnsupportedError(
        quoted(path) + ": the model has ops dz cannot import:" + unsupported, "unsupported op");
  const ::onnx::GraphProto &graph = model.graph();
  onnx::TrainableSource src;
  std::map<std::string, const ::onnx::TensorProto *> initializers;
  // BatchNormalization's running mean and variance are statistics, not weights; Dropout's
  // ratio is a setting.
  std::set<std::string> statistics, settings;
  for (int i = 0; i < graph.node_size(); ++i) {
    const ::onnx::NodeProto &n = graph.node(i);
    if (n.op_type() == "BatchNormalization" && default_domain(n))
      for (int k = 3; k < 5 && k < n.input_size(); ++k)
        statistics.insert(n.input(k));
    if (n.op_type() == "Dropout" && default_domain(n)) {
      src.dropout_nodes.push_back(node_label(n, i));
      if (n.input_size() > 1)
        settings.insert(n.input(1));
    }
  }
  std::vector<std::string> floating; // in file order
  for (const ::onnx::TensorProto &t : graph.initializer()) {
    initializers[t.name()] = &t;
    if (is_trainable_dtype(t.data_type()) && !statistics.count(t.name()) &&
        !settings.count(t.name()))
      floating.push_back(t.name());
  }
  for (const ::onnx::ValueInfoProto &v : graph.input())
    if (!initializers.count(v.name()))
      src.inputs.push_back(v.name());
  for (const ::onnx::ValueInfoProto &v : graph.output())
    src.outputs.push_back(v.name());
  if (options.parameters.empty()) {
    if (floating.empty())
      throw Error(quoted(path) +
                  ": the model has no float or double initializer, so nothing to train (" +
                  std::to_string(graph.initializer_size()) +
                  " initializers; weights given as Constant nodes or graph inputs are not "
                  "trainable)");
    src.parameters = floating;
  } else {
    std::set<std::string> seen;
    for (const std::string &name : options.parameters) {
      auto it = initializers.find(name);
      if (it == initializers.end()) {
        std::string valid;
        for (size_t i = 0; i < floating.size() && i < 8; ++i)
          valid += (i ? ", '" : "'") + floating[i] + "'";
        throw Error(quoted(path) + ": TrainableOptions::parameters names '" + name +
                    "', which is not an initializer of the model (its floating initializers: " +
                    (valid.empty() ? "none" : valid) + (floating.size() > 8 ? ", ..." : "") + ")");
      }
      if (!is_trainable_dtype(it->second->data_type()))
        throw Error(quoted(path) + ": initializer '" + name + "' is " +
                    onnx::dtype_name(it->second->data_type()) +
                    "; only float and double initializers can be Parameters");
      if (!seen.insert(name).second)
        throw Error(quoted(path) + ": TrainableOptions::parameters names '" + name + "' twice");
      src.parameters.push_back(name);
    }
  }
  for (const std::string &name : src.parameters)
    src.values.push_back(
        onnx::tensor_from_proto(*initializers.at(name), "initializer '" + name + "'"));
  for (const ::onnx::TensorProto &t : graph.initializer())
    if (statistics.count(t.name()) && is_trainable_dtype(t.data_type()) &&
        std::find(src.parameters.begin(), src.parameters.end(), t.name()) == src.parameters.end()) {
      src.statistics.push_back(t.name());
      src.statistic_values.push_back(onnx::tensor_from_proto(t, "initializer '" + t.name() + "'"));
    }
  // A BatchNormalization whose running statistics were made Parameters cannot update them.
  for (int i = 0; i < graph.node_size(); ++i) {
    const ::onnx::NodeProto &n = graph.node(i);
    if (n.op_type() != "BatchNormalization" || !default_domain(n))
      continue;
    for (int k = 3; k < 5 && k < n.input_size(); ++k)
      if (std::find(src.parameters.begin(), src.parameters.end(), n.input(k)) !=
          src.parameters.end()) {
        src.train_mode_nodes.push_back(
            node_label(n, i, "whose running statistic '" + n.input(k) + "' is a Parameter"));
        break;
      }
  }
  return src;
}

DType dtypeOf(mlir::Type e) {
  if (e.isF32())
    return f32;
  if (e.isF64())
    return f64;
  if (e.isInteger(64))
    return i64;
  if (e.isInteger(32))
    return i32;
  if (e.isUnsignedInteger(8))
    return u8;
  if (e.isInteger(1))
    return b8;
  if (e.isSignlessInteger(8))
    return i8;
  if (e.isSignlessInteger(16))
    return i16;
  if (e.isUnsignedInteger(16))
    return u16;
  if (e.isUnsignedInteger(32))
    return u32;
  if (e.isUnsignedInteger(64))
    return u64;
  if (e.isF16())
    return f16;
  if (e.isBF16())
    return bf16;
  throw Error("dz::onnx::import_trainable: a value of an element type dz tensors lack");
}

trace::ValueType valueType(mlir::Value v) {
  auto type = llvm::cast<mlir::RankedTensorType>(v.getType());
  return {Shape(type.getShape().begin(), type.getShape().end()), dtypeOf(type.getElementType())};
}

/// The attribute as a trace attribute (the kinds dz ops have: bool, i64, f64, i64 arrays,
/// element types, strings).
trace::AttrValue attrValue(mlir::Attribute a, const std::string &where) {
  if (auto b = llvm::dyn_cast<mlir::BoolAttr>(a))
    return b.getValue();
  if (auto i = llvm::dyn_cast<mlir::IntegerAttr>(a))
    return int64_t(i.getInt());
  if (auto f = llvm::dyn_cast<mlir::FloatAttr>(a))
    return f.getValueAsDouble();
  if (auto arr = llvm::dyn_cast<mlir::DenseI64ArrayAttr>(a))
    return std::vector<int64_t>(arr.asArrayRef().begin(), arr.asArrayRef().end());
  if (auto t = llvm::dyn_cast<mlir::TypeAttr>(a))
    return dtypeOf(t.getValue());
  if (auto str = llvm::dyn_cast<mlir::StringAttr>(a))
    return str.getValue().str();
  std::string s;
  llvm::raw_string_ostream os(s);
  os << a;
  throw Error("dz::onnx::import_trainable: " + where + " has the attribute " + s +
              ", which a traced graph cannot hold (a bug in dzc; please report it)");
}

/// The model with every BatchNormalization in training mode (opset 14's training_mode = 1,
/// the default-domain opset raised to 14 where it is lower), its running mean and variance
/// outputs added to the graph's outputs; `updates` gets the statistic each one updates.
std::string trainingModel(const std::string &bytes, const std::string &path,
                          std::vector<std::string> &updates) {
  ::onnx::ModelProto model = onnx::parse_model(bytes, path, false);
  ::onnx::GraphProto &graph = *model.mutable_graph();
  bool any = false;
  for (int i = 0; i < graph.node_size(); ++i) {
    ::onnx::NodeProto &n = *graph.mutable_node(i);
    if (n.op_type() != "BatchNormalization" || !default_domain(n))
      continue;
    if (n.input_size() < 5)
      continue; // malformed: the importer reports it
    any = true;
    bool set = false;
    for (::onnx::AttributeProto &a : *n.mutable_attribute())
      if (a.name() == "training_mode") {
        a.set_i(1);
        set = true;
      }
    if (!set) {
      ::onnx::AttributeProto *a = n.add_attribute();
      a->set_name("training_mode");
      a->set_type(::onnx::AttributeProto::INT);
      a->set_i(1);
    }
    while (n.output_size() < 3)
      n.add_output("");
    for (int k = 1; k < 3; ++k) {
      if (n.output(k).empty())
        n.set_output(k, "dz_running_" + std::to_string(k) + "_of_node_" + std::to_string(i));
      graph.add_output()->set_name(n.output(k));
      updates.push_back(n.input(k + 2));
    }
  }
  if (any)
    for (::onnx::OperatorSetIdProto &op : *model.mutable_opset_import())
      if ((op.domain().empty() || op.domain() == "ai.onnx") && op.version() < 14)
        op.set_version(14);
  return model.SerializeAsString();
}

onnx::ImportedGraph importGraph(const std::string &path, const std::vector<std::string> &parameters,
                                const std::vector<std::string> &statistics,
                                const std::vector<Tensor> &inputs, bool training) {
  mlir::DialectRegistry registry;
  dz::ir::registerAllDialects(registry);
  mlir::MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(&ctx, [&](mlir::Diagnostic &d) {
    llvm::raw_string_ostream os(diagnostics);
    os << d.getLocation() << ": " << d << "\n";
    return mlir::success();
  });

  onnx::ImportedGraph out;
  std::string bytes = onnx::read_file(path, "ONNX model");
  if (training)
    bytes = trainingModel(bytes, path, out.updates);
  std::map<std::string, std::string> op_types; // node label -> op type, for messages
  {
    const ::onnx::ModelProto model = onnx::parse_model(bytes, path, false);
    for (int i = 0; i < model.graph().node_size(); ++i) {
      const ::onnx::NodeProto &n = model.graph().node(i);
      op_types[n.name().empty() ? "#" + std::to_string(i) : n.name()] = n.op_type();
    }
  }
  onnx::ImportOptions import = runImportOptions(inputs);
  std::vector<bool> read;
  import.values_read = &read;
  import.check = false; // import_trainable checked the file
  import.function_name = "model";
  import.initializer_arguments = parameters;
  import.initializer_arguments.insert(import.initializer_arguments.end(), statistics.begin(),
                                      statistics.end());
  import.dropout =
      training ? onnx::ImportOptions::Dropout::Training : onnx::ImportOptions::Dropout::Inference;
  mlir::OwningOpRef<mlir::ModuleOp> module = onnx::importOnnxBytes(ctx, bytes, path, import);
  auto fn = module->lookupSymbol<mlir::func::FuncOp>("model");
  const size_t num_inputs =
      fn.getNumArguments() - parameters.size() - statistics.size() - (training ? 1 : 0);
  if (num_inputs != inputs.size())
    throw Error(quoted(path) + ": the model takes " + std::to_string(num_inputs) + " inputs, " +
                std::to_string(inputs.size()) + " were given");

  for (size_t i = 0; i < read.size(); ++i) {
    if (!read[i])
      continue;
    if (i < num_inputs)
      throw Error(quoted(path) + ": the import reads the value of graph input " +
                  std::to_string(i) +
                  " (an operand such as a shape must be known to dz), so the graph would be "
                  "specialized to this call's value; a trainable model needs data inputs");
    if (i - num_inputs < parameters.size())
      out.frozen.push_back(parameters[i - num_inputs]);
  }
  if (!out.frozen.empty())
    return out; // the caller imports again with these as constants

  trace::Graph &g = out.graph;
  llvm::DenseMap<mlir::Value, int> ids;
  auto add_value = [&](mlir::Value v) {
    g.values.push_back(valueType(v));
    ids[v] = int(g.values.size()) - 1;
    return ids[v];
  };
  for (mlir::BlockArgument a : fn.getArguments())
    g.arguments.push_back(add_value(a));
  for (mlir::Operation &op : fn.getBody().front()) {
    if (auto next = llvm::dyn_cast<ir::RngNextOp>(op))
      out.rng_groups += int64_t(next.getGroups());
    if (auto ret = llvm::dyn_cast<mlir::func::ReturnOp>(op)) {
      for (mlir::Value v : ret.getOperands())
        g.results.push_back(ids.at(v));
      continue;
    }
    std::string origin = "an op of the imported graph";
    if (auto name = llvm::dyn_cast<mlir::NameLoc>(op.getLoc())) {
      const std::string label = name.getName().str();
      auto it = op_types.find(label);
      origin = it != op_types.end() ? "node '" + label + "' (" + it->second + ")"
                                    : "initializer '" + label + "'";
    }
    llvm::StringRef full = op.getName().getStringRef();
    if (!full.consume_front("dz.") || op.getNumRegions() != 0)
      throw Error(quoted(path) + ": " + origin + " was imported as '" +
                  op.getName().getStringRef().str() +
                  "', which a traced graph cannot hold (a bug in dzc; please report it)");
    trace::Node node{full.str(), {}, {}, {}, Tensor()};
    for (mlir::Value v : op.getOperands())
      node.inputs.push_back(ids.at(v));
    for (mlir::Value v : op.getResults())
      node.outputs.push_back(add_value(v));
    for (const mlir::NamedAttribute &a : op.getAttrs()) {
      if (node.op == "constant" && a.getName() == "value") {
        node.constant = onnx::tensor_of(llvm::cast<mlir::DenseElementsAttr>(a.getValue()));
        continue;
      }
      node.attrs.push_back({a.getName().str(), attrValue(a.getValue(), origin)});
    }
    g.nodes.push_back(std::move(node));
    out.origins.push_back(origin);
  }
  // The RNG state argument (training), when no Dropout draws from it.
  if (training) {
    out.rng_state = !fn.getArguments().back().use_empty();
    if (!out.rng_state)
      g.arguments.pop_back();
  }
  return out;
}

/// The tensor's values into `proto` (raw_data, little-endian as dz stores them).
void setValues(::onnx::TensorProto &proto, const Tensor &t0, const std::string &name) {
  const Tensor t = t0.to(Device::cpu());
  std::optional<DType> dtype = onnx::tensor_dtype(proto.data_type());
  if (!dtype || *dtype != t.dtype())
    throw Error("dz::onnx::export_model: initializer '" + name + "' is " +
                onnx::dtype_name(proto.data_type()) + " in the model, its Parameter " +
                dtype_name(t.dtype()));
  Shape dims(proto.dims().begin(), proto.dims().end());
  if (dims != t.shape())
    throw Error("dz::onnx::export_model: initializer '" + name + "' has the shape " +
                shape_str(dims) + " in the model, its Parameter " + shape_str(t.shape()));
  proto.clear_float_data();
  proto.clear_double_data();
  proto.clear_int32_data();
  proto.clear_int64_data();
  proto.clear_external_data();
  proto.clear_data_location();
  proto.set_raw_data(std::string(static_cast<const char *>(t.raw()), t.nbytes()));
}

void writeInitializers(const std::string &source, const std::vector<std::string> &names,
                       const std::vector<Tensor> &values, const std::string &path) {
  ::onnx::ModelProto model =
      onnx::parse_model(onnx::read_file(source, "ONNX model"), source, /*check=*/false);
  std::unordered_map<std::string, ::onnx::TensorProto *> by_name;
  for (::onnx::TensorProto &t : *model.mutable_graph()->mutable_initializer())
    by_name[t.name()] = &t;
  for (size_t i = 0; i < names.size(); ++i) {
    auto it = by_name.find(names[i]);
    if (it == by_name.end())
      throw Error("dz::onnx::export_model: '" + source + "' has no initializer '" + names[i] +
                  "' any more (the file changed since it was imported)");
    setValues(*it->second, values.at(i), names[i]);
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes))
    throw Error("dz::onnx::export_model: the model cannot be serialized (over 2 GB?)");
  write_file_atomic(path, bytes, "dz::onnx::export_model");
}

} // namespace
} // namespace dz::codegen

// The entry points dzc/onnx.h looks up (frontend/src/onnx_trainable.cpp). They throw dz::Error.
extern "C" void dzc_onnx_read_trainable(const std::string &path,
                                        const dz::onnx::TrainableOptions &options,
                                        dz::onnx::TrainableSource &out) {
  out = dz::codegen::readTrainable(path, options);
}

extern "C" void dzc_onnx_import_graph(const std::string &path,
                                      const std::vector<std::string> &parameters,
                                      const std::vector<std::string> &statistics,
                                      const std::vector<dz::Tensor> &inputs, bool training,
                                      dz::onnx::ImportedGraph &out) {
  out = dz::codegen::importGraph(path, parameters, statistics, inputs, training);
}

extern "C" void dzc_onnx_write_initializers(const std::string &source,
                                            const std::vector<std::string> &names,
                                            const std::vector<dz::Tensor> &values,
                                            const std::string &path) {
  dz::codegen::writeInitializers(source, names, values, path);
}
