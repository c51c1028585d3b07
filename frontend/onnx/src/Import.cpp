// Import.cpp - the graph walk of the ONNX importer (dzc/onnx/Import.h).
//
// 1. Parse the ModelProto and check it (Proto.h; ONNX's shape inference is not run).
// 2. Refuse, in one error, every node whose op type has no entry in the op table (or that
//    asks for more outputs than its entry gives).
// 3. Graph inputs that are not initializers become the func.func's arguments, with the
//    declared static shape (or the shape of the given value).
// 4. Walk the nodes in order: each converter (OpTable.cpp) builds its node's output;
//    initializers become dz.constant ops at their first use. Each result is checked
//    against the type the model declares (value_info, outputs) to catch shape conflicts.
// 5. Return the graph outputs and verify the module. MLIR diagnostics are collected
//    into a string and thrown as dz::Error here, outside MLIR's frames.
#include "Convert.h"

#include <dzc/onnx/Import.h>

#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/IR/Diagnostics.h>
#include <mlir/IR/IRMapping.h>
#include <mlir/IR/Verifier.h>

#include <llvm/ADT/SetVector.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <cctype>
#include <map>

namespace dz::onnx {

namespace {

/// The graph's name as a symbol name: [A-Za-z0-9_], not starting with a digit.
std::string function_name(const std::string &graph) {
  std::string name;
  for (char ch : graph)
    name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  if (name.empty())
    return "main";
  return std::isdigit(static_cast<unsigned char>(name[0])) ? "_" + name : name;
}

std::string str(mlir::Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

class Importer {
public:
  Importer(mlir::MLIRContext &ctx, const ::onnx::ModelProto &model, const ImportOptions &options)
      : ctx(ctx), graph(model.graph()), options(options),
        opset(std::max<int64_t>(opset_of(model, ""), 1)), b(&ctx), model(model) {
    for (const ::onnx::TensorProto &t : graph.initializer())
      initializers[t.name()] = &t;
    for (const ::onnx::ValueInfoProto &v : graph.value_info())
      declared[v.name()] = &v;
    for (const ::onnx::ValueInfoProto &v : graph.output())
      declared[v.name()] = &v;
  }

  mlir::OwningOpRef<mlir::ModuleOp> run();

private:
  std::string label(int index) const {
    const std::string &name = graph.node(index).name();
    return name.empty() ? "#" + std::to_string(index) : name;
  }
  void check_supported() const;
  mlir::RankedTensorType argument_type(const ::onnx::ValueInfoProto &input,
                                       const Tensor *given) const;
  Value value_of(const std::string &name, const std::string &user);
  void convert(int index);
  void check_declared(const std::string &name, Value v, const std::string &who) const;
  /// v converted to the element type `to` (a constant at import time, else dz.cast).
  Value convert_element_type(Value v, mlir::Type to, mlir::Location loc);
  std::optional<Tensor> evaluate(Value v) const;
  /// Records in ImportOptions::values_read that graph input i's value was read.
  void mark_read(size_t i) const {
    if (!options.values_read)
      return;
    if (options.values_read->size() <= i)
      options.values_read->resize(i + 1, false);
    (*options.values_read)[i] = true;
  }

  mlir::MLIRContext &ctx;
  const ::onnx::GraphProto &graph;
  const ImportOptions &options;
  const int64_t opset;
  mlir::OpBuilder b;
  const ::onnx::ModelProto &model;
  std::string diagnostics;
  std::map<std::string, Value> values;
  std::map<std::string, const ::onnx::TensorProto *> initializers;
  std::map<std::string, size_t> argument_of;
  std::map<std::string, const ::onnx::ValueInfoProto *> declared;
  Value rng_state; // ImportOptions::Dropout::Training: the state the next Dropout draws from
};

void Importer::check_supported() const {
  std::map<std::string, std::string> unknown; // "Det (opset 11)" -> "'a', 'b'"
  std::string ops, extra;
  for (int i = 0; i < graph.node_size(); ++i) {
    const ::onnx::NodeProto &node = graph.node(i);
    const std::string key = op_key(node);
    const OpEntry *entry = find_op(key); // domain-qualified keys for other domains
    if (!entry) {
      const std::string entry =
          key + " (opset " + std::to_string(opset_of(model, node.domain())) + ")";
      if (!unknown.count(entry))
        ops += (ops.empty() ? "" : ", ") + key;
      std::string &nodes = unknown[entry];
      nodes += (nodes.empty() ? "'" : ", '") + label(i) + "'";
      continue;
    }
    for (int k = entry->outputs; k < node.output_size(); ++k)
      if (!node.output(k).empty())
        extra += "\n  " + key + " node '" + label(i) + "': output #" + std::to_string(k) + " '" +
                 node.output(k) + "' (dz supports " + std::to_string(entry->outputs) + ")";
  }
  if (unknown.empty() && extra.empty())
    return;
  std::string message = "the model uses what dz does not support:";
  for (const auto &[entry, nodes] : unknown)
    message +=
        "\n  " + entry + ": node" + (nodes.find(',') == std::string::npos ? " " : "s ") + nodes;
  throw UnsupportedError(message + extra, ops.empty() ? "a second output" : "op " + ops);
}

mlir::RankedTensorType Importer::argument_type(const ::onnx::ValueInfoProto &input,
                                               const Tensor *given) const {
  const std::string what = "graph input '" + input.name() + "'";
  if (!input.type().has_tensor_type())
    throw UnsupportedError(what + " is not a tensor (a sequence, map or optional)",
                           "non-tensor input");
  const ::onnx::TypeProto_Tensor &tensor = input.type().tensor_type();
  mlir::Type element = dz_element_type(ctx, tensor.elem_type());
  if (!element)
    throw UnsupportedError(what + " has element type " + dtype_name(tensor.elem_type()) +
                               " (dz has the numeric types and bool)",
                           "dtype " + dtype_name(tensor.elem_type()));
  llvm::SmallVector<int64_t> shape;
  std::string symbolic;
  for (const ::onnx::TensorShapeProto_Dimension &d : tensor.shape().dim()) {
    if (!d.has_dim_value() || d.dim_value() < 0)
      symbolic = d.has_dim_param() ? d.dim_param() : "?";
    shape.push_back(d.has_dim_value() ? d.dim_value() : -1);
  }
  if (!given && !element_count(shape) && symbolic.empty())
    throw dz::Error(what + " is too large (more than 2^40 elements)");
  if (given) {
    // bfloat16 may come as the uint16 of its bits, as ONNX's test data store it.
    const bool bf16_bits =
        tensor.elem_type() == ::onnx::TensorProto::BFLOAT16 && given->dtype() == u16;
    if (tensor_dtype(tensor.elem_type()) != given->dtype() && !bf16_bits)
      throw dz::Error(what + " is " + dtype_name(tensor.elem_type()) + ", its given value " +
                      dz::dtype_name(given->dtype()));
    bool fits = !tensor.has_shape() || shape.size() == given->shape().size();
    for (size_t d = 0; fits && tensor.has_shape() && d < shape.size(); ++d)
      fits = shape[d] < 0 || shape[d] == given->shape()[d];
    if (!fits) {
      auto dims = [](llvm::ArrayRef<int64_t> s) {
        std::string out;
        for (int64_t d : s)
          out += (out.empty() ? "" : ", ") + (d < 0 ? std::string("?") : std::to_string(d));
        return "(" + out + ")";
      };
      throw dz::Error(what + " has the shape " + dims(shape) + ", its given value " +
                      dims(given->shape()));
    }
    return mlir::RankedTensorType::get(given->shape(), element);
  }
  if (!tensor.has_shape() || !symbolic.empty())
    throw UnsupportedError(what +
                               (tensor.has_shape()
                                    ? " has the symbolic dimension '" + symbolic + "'"
                                    : std::string(" has no shape")) +
                               "; dz needs static shapes (give the input's value)",
                           "symbolic input shape");
  return mlir::RankedTensorType::get(shape, element);
}

Value Importer::value_of(const std::string &name, const std::string &user) {
  if (auto it = values.find(name); it != values.end())
    return it->second;
  auto it = initializers.find(name);
  if (it == initializers.end())
    throw dz::Error(user + ": '" + name +
                    "' is not defined by an earlier node, an initializer "
                    "or a graph input");
  Tensor t = tensor_from_proto(*it->second, "initializer '" + name + "'");
  mlir::Location loc = mlir::NameLoc::get(b.getStringAttr(name));
  Value c = ir::ConstantOp::create(b, loc, mlir::ElementsAttr(elements_of(ctx, t)));
  values[name] = c;
  return c;
}

namespace {

/// Ops that take a narrow element type (ir: Dz_AnyTensor) as it is.
bool takes_narrow(const std::string &op) {
  return op == "Cast" || op == "CastLike" || op == "Identity" || op == "QuantizeLinear" ||
         op == "DequantizeLinear" || op == "DynamicQuantizeLinear" || op == "MatMulInteger" ||
         op == "ConvInteger" || op == "QLinearMatMul" || op == "QLinearConv";
}

/// Ops whose converters compute on floats only: narrow integers widen to float64 (exact up
/// to 32 bits) instead of int64.
bool computes_on_floats(const std::string &op) { return op == "Clip" || op == "MaxPool"; }

/// Outputs that keep their own type whatever the inputs' (indices, shapes, counts).
bool index_output(const std::string &op, int k) {
  return op == "Shape" || op == "Size" || op == "ArgMax" || op == "ArgMin" || op == "NonZero" ||
         (k == 1 && (op == "TopK" || op == "MaxPool")) || (k >= 1 && op == "Unique");
}

} // namespace

Value Importer::convert_element_type(Value v, mlir::Type to, mlir::Location loc) {
  auto type = llvm::cast<mlir::RankedTensorType>(v.getType());
  if (type.getElementType() == to)
    return v;
  // A constant converts at import time (a converter may read it as a constant).
  if (auto c = v.getDefiningOp<ir::ConstantOp>())
    if (auto dense = llvm::dyn_cast<mlir::DenseElementsAttr>(c.getValue());
        dense && dense.getNumElements() <= kMaxConstantRead)
      if (std::optional<DType> d = dtype_of_element(to))
        return ir::ConstantOp::create(
            b, loc, mlir::ElementsAttr(elements_of(ctx, tensor_of(dense).to(*d))));
  return ir::CastOp::create(b, loc, v, mlir::TypeAttr::get(to));
}

void Importer::convert(int index) {
  const ::onnx::NodeProto &node = graph.node(index);
  const std::string name = label(index);
  std::vector<Value> inputs;
  for (const std::string &in : node.input())
    inputs.push_back(in.empty() ? Value()
                                : value_of(in, "node '" + name + "' (" + node.op_type() + ")"));
  // Narrow element types (int8, int16, uint8 to uint64, float16, bfloat16) are computed on
  // in a wide type (int64, float64 or float32): the inputs widen here, the results narrow
  // below, with the conversion's wrap-around and rounding to nearest even.
  const mlir::Location loc = mlir::NameLoc::get(b.getStringAttr(name));
  const std::string &op = node.op_type();
  mlir::Type narrow; // the first narrow input's element type
  const bool float_compute = computes_on_floats(op);
  if (!takes_narrow(op) && (node.domain().empty() || node.domain() == "ai.onnx"))
    for (Value &v : inputs) {
      if (!v)
        continue;
      mlir::Type e = llvm::cast<mlir::RankedTensorType>(v.getType()).getElementType();
      if (!is_narrow(e))
        continue;
      if (!narrow)
        narrow = e;
      v = convert_element_type(v, wide_type(e, float_compute), loc);
    }
  auto known = [this, &node, inputs](size_t i) -> std::optional<Tensor> {
    auto it = argument_of.find(node.input(int(i)));
    if (it == argument_of.end())
      return evaluate(inputs[i]);
    if (options.input_values.empty())
      return std::nullopt;
    mark_read(it->second);
    return options.input_values[it->second];
  };
  NodeContext c(node, name, opset, b, mlir::NameLoc::get(b.getStringAttr(name)), inputs, known,
                diagnostics);
  c.dropout = options.dropout;
  c.rng_state = rng_state ? &rng_state : nullptr;
  // Output #0 may be left out ("") when a later one is named (LSTM's Y_h without Y).
  if (std::all_of(node.output().begin(), node.output().end(),
                  [](const std::string &out) { return out.empty(); }))
    c.fail("the node has no output");
  for (const std::string &out : node.output())
    if (!out.empty() && (values.count(out) || initializers.count(out)))
      c.fail("its output '" + out + "' is defined twice");
  std::vector<Value> outs = {find_op(op_key(node))->convert(c)};
  outs.insert(outs.end(), c.added_outputs().begin(), c.added_outputs().end());
  for (int k = 0; k < node.output_size(); ++k) {
    if (node.output(k).empty())
      continue;
    if (size_t(k) < outs.size() && outs[size_t(k)]) {
      // Back to the narrow type: the declared one, else the inputs' when the result has
      // their wide type.
      Value &out = outs[size_t(k)];
      mlir::Type e = llvm::cast<mlir::RankedTensorType>(out.getType()).getElementType();
      mlir::Type to;
      if (auto it = declared.find(node.output(k));
          it != declared.end() && it->second->type().has_tensor_type()) {
        mlir::Type d = dz_element_type(ctx, it->second->type().tensor_type().elem_type());
        if (d && is_narrow(d) && wide_type(d, float_compute) == e)
          to = d;
      } else if (narrow && !index_output(op, k) && wide_type(narrow, float_compute) == e) {
        to = narrow;
      }
      if (to)
        out = convert_element_type(out, to, loc);
    }
    check_declared(node.output(k), outs[size_t(k)], c.where());
    values[node.output(k)] = outs[size_t(k)];
  }
}

/// The ops `v` is computed from, in order, and the function arguments they read (into
/// `args`); false when it reads an argument and `args` is null.
bool collect_constant_ops(Value v, llvm::SetVector<mlir::Operation *> &ops,
                          llvm::SetVector<mlir::BlockArgument> *args) {
  mlir::Operation *def = v.getDefiningOp();
  if (!def) {
    if (!args)
      return false;
    args->insert(llvm::cast<mlir::BlockArgument>(v));
    return true;
  }
  if (ops.contains(def))
    return true;
  for (Value operand : def->getOperands())
    if (!collect_constant_ops(operand, ops, args))
      return false;
  ops.insert(def);
  return true;
}

/// `v` evaluated by ImportOptions::evaluate on a function of the ops it is computed
/// from, when they read constants and graph inputs with a given value only and it is
/// small (the given values become constants of that function).
std::optional<Tensor> Importer::evaluate(Value v) const {
  auto type = llvm::cast<mlir::RankedTensorType>(v.getType());
  llvm::SetVector<mlir::Operation *> ops;
  llvm::SetVector<mlir::BlockArgument> args;
  const bool given = !options.input_values.empty();
  if (!options.evaluate || type.getNumElements() > kMaxConstantRead ||
      !collect_constant_ops(v, ops, &args))
    return std::nullopt;
  const size_t num_inputs = argument_of.size();
  for (mlir::BlockArgument arg : args)
    if ((arg.getArgNumber() < num_inputs && !given) ||
        arg.getArgNumber() >= num_inputs + options.initializer_arguments.size()) // the RNG state
      return std::nullopt;
  mlir::OpBuilder fb(&ctx);
  mlir::OwningOpRef<mlir::ModuleOp> scratch = mlir::ModuleOp::create(fb.getUnknownLoc());
  fb.setInsertionPointToEnd(scratch->getBody());
  auto fn =
      mlir::func::FuncOp::create(fb, fb.getUnknownLoc(), "fold", fb.getFunctionType({}, {type}));
  fb.setInsertionPointToEnd(fn.addEntryBlock());
  mlir::IRMapping map;
  auto value_of_argument = [this, num_inputs](unsigned i) -> Tensor {
    if (i < num_inputs)
      return options.input_values[i];
    const std::string &name = options.initializer_arguments.at(i - num_inputs);
    return tensor_from_proto(*initializers.at(name), "initializer '" + name + "'");
  };
  for (mlir::BlockArgument arg : args)
    if (value_of_argument(arg.getArgNumber()).size() > kMaxConstantRead)
      return std::nullopt;
  for (mlir::BlockArgument arg : args) {
    const Tensor value = value_of_argument(arg.getArgNumber());
    mark_read(arg.getArgNumber());
    map.map(Value(arg), Value(ir::ConstantOp::create(fb, fb.getUnknownLoc(),
                                                     mlir::ElementsAttr(elements_of(ctx, value)))));
  }
  for (mlir::Operation *op : ops)
    fb.clone(*op, map);
  mlir::func::ReturnOp::create(fb, fb.getUnknownLoc(), map.lookup(v));
  return options.evaluate(fn);
}

void Importer::check_declared(const std::string &name, Value v, const std::string &who) const {
  auto it = declared.find(name);
  if (it == declared.end() || !it->second->type().has_tensor_type())
    return;
  const ::onnx::TypeProto_Tensor &declared_type = it->second->type().tensor_type();
  auto type = llvm::cast<mlir::RankedTensorType>(v.getType());
  bool same = declared_type.elem_type() == ::onnx::TensorProto::UNDEFINED ||
              dz_element_type(ctx, declared_type.elem_type()) == type.getElementType();
  if (declared_type.has_shape()) {
    const auto &dims = declared_type.shape().dim();
    same = same && dims.size() == type.getRank();
    for (int d = 0; same && d < dims.size(); ++d)
      same = !dims[d].has_dim_value() || dims[d].dim_value() == type.getDimSize(d);
  }
  if (!same) {
    std::string dims;
    for (const auto &d : declared_type.shape().dim())
      dims += (dims.empty() ? "" : "x") + (d.has_dim_value() ? std::to_string(d.dim_value()) : "?");
    throw dz::Error(who + ": its output '" + name + "' is " + str(type) +
                    ", but the model declares " + dtype_name(declared_type.elem_type()) +
                    " of shape (" + dims + ")");
  }
}

mlir::OwningOpRef<mlir::ModuleOp> Importer::run() {
  check_supported();
  mlir::ScopedDiagnosticHandler collect(&ctx, [this](mlir::Diagnostic &d) {
    llvm::raw_string_ostream os(diagnostics);
    os << d.getLocation() << ": " << d << "\n";
    return mlir::success();
  });

  std::vector<const ::onnx::ValueInfoProto *> inputs;
  for (const ::onnx::ValueInfoProto &v : graph.input())
    if (!initializers.count(v.name()))
      inputs.push_back(&v);
  const std::vector<Tensor> &given = options.input_values;
  if (!given.empty() && given.size() != inputs.size())
    throw dz::Error(std::to_string(given.size()) + " input values given, the graph has " +
                    std::to_string(inputs.size()) + " inputs");
  llvm::SmallVector<mlir::Type> argument_types;
  for (size_t i = 0; i < inputs.size(); ++i)
    argument_types.push_back(argument_type(*inputs[i], given.empty() ? nullptr : &given[i]));

  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::ModuleOp::create(b.getUnknownLoc());
  b.setInsertionPointToEnd(module->getBody());
  const std::string name =
      options.function_name.empty() ? function_name(graph.name()) : options.function_name;
  auto fn =
      mlir::func::FuncOp::create(b, b.getUnknownLoc(), name, b.getFunctionType(argument_types, {}));
  mlir::Block *body = fn.addEntryBlock();
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!values.emplace(inputs[i]->name(), body->getArgument(unsigned(i))).second)
      throw dz::Error("graph input '" + inputs[i]->name() + "' is listed twice");
    argument_of[inputs[i]->name()] = i;
  }
  for (const std::string &name : options.initializer_arguments) {
    auto it = initializers.find(name);
    if (it == initializers.end())
      throw dz::Error("'" + name + "' is not an initializer of the graph");
    if (values.count(name))
      throw dz::Error("initializer '" + name + "' is listed twice");
    Tensor t = tensor_from_proto(*it->second, "initializer '" + name + "'");
    auto type = mlir::RankedTensorType::get(t.shape(), elements_of(ctx, t).getElementType());
    argument_types.push_back(type);
    values[name] = body->addArgument(type, mlir::NameLoc::get(b.getStringAttr(name)));
  }
  if (options.dropout == ImportOptions::Dropout::Training) {
    auto type = mlir::RankedTensorType::get({2}, b.getI64Type());
    argument_types.push_back(type);
    rng_state = body->addArgument(type, mlir::NameLoc::get(b.getStringAttr("dz_rng_state")));
  }
  b.setInsertionPointToEnd(body);
  for (int i = 0; i < graph.node_size(); ++i)
    convert(i);

  llvm::SmallVector<Value> results;
  for (const ::onnx::ValueInfoProto &out : graph.output()) {
    results.push_back(value_of(out.name(), "graph output"));
    check_declared(out.name(), results.back(), "graph output '" + out.name() + "'");
  }
  mlir::func::ReturnOp::create(b, b.getUnknownLoc(), results);
  fn.setType(b.getFunctionType(argument_types, mlir::ValueRange(results).getTypes()));
  diagnostics.clear();
  if (mlir::failed(mlir::verify(*module)))
    throw dz::Error("the imported IR does not verify:\n" + diagnostics);
  return module;
}

} // namespace

mlir::OwningOpRef<mlir::ModuleOp> importOnnxBytes(mlir::MLIRContext &ctx, const std::string &bytes,
                                                  const std::string &name,
                                                  const ImportOptions &options) {
  ctx.getOrLoadDialect<ir::DzDialect>();
  ctx.getOrLoadDialect<mlir::func::FuncDialect>();
  const ::onnx::ModelProto model = parse_model(bytes, name, options.check);
  try {
    return Importer(ctx, model, options).run();
  } catch (const UnsupportedError &e) {
    throw UnsupportedError("'" + name + "': " + e.what(), e.reason());
  } catch (const dz::Error &e) {
    throw dz::Error("'" + name + "': " + e.what());
  }
}

mlir::OwningOpRef<mlir::ModuleOp> importOnnx(mlir::MLIRContext &ctx, const std::string &path,
                                             const ImportOptions &options) {
  return importOnnxBytes(ctx, read_file(path, "ONNX model"), path, options);
}

} // namespace dz::onnx
