// onnx_trainable.cpp - dz::onnx::import_trainable and TrainableModel (dzc/onnx.h): an ONNX
// model as a dz::Model whose initializers are Parameters.
//
// 1. import_trainable reads the file's trainable initializers (the compiler library,
//    libdzc_codegen_onnx.so, parses it) and registers one Parameter per initializer.
// 2. The first call with new input shapes imports the graph with the parameters as
//    arguments after the inputs, as a trace::Graph (GraphProgram).
// 3. A call applies one GraphFunction to (inputs..., parameters...). Eagerly its forward is
//    the graph compiled as dz::compile compiles a trace; its backward is another
//    GraphFunction: the graph, the output gradients as arguments, and one dz.grad of
//    sum(y_k * gy_k) whose expansion by --dz-autodiff is the vector-Jacobian product (so the
//    backward is differentiable in turn). Inside dz::compile the tracer records the graph's
//    ops in place (FunctionTrace::Graph) and the outer trace is differentiated as a whole.
#include <dzc/onnx.h>

#include "tracer.h"

#include <dzc/dynamic_library.h>

#include <algorithm>
#include <cctype>
#include <dlfcn.h>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <tuple>

namespace dz::onnx {

namespace {

using ReadEntry = void (*)(const std::string &, const TrainableOptions &, TrainableSource &);
using ImportEntry = void (*)(const std::string &, const std::vector<std::string> &,
                             const std::vector<std::string> &, const std::vector<Tensor> &, bool,
                             ImportedGraph &);
using WriteEntry = void (*)(const std::string &, const std::vector<std::string> &,
                            const std::vector<Tensor> &, const std::string &);

struct Library {
  ReadEntry read = nullptr;
  ImportEntry import = nullptr;
  WriteEntry write = nullptr;
};

const Library &library() {
  static Library lib;
  static std::string failure;
  static std::once_flag once;
  std::call_once(once, [] {
    const char *read = "dzc_onnx_read_trainable", *import = "dzc_onnx_import_graph",
               *write = "dzc_onnx_write_initializers";
    void *h = detail::load_dzc_library("DZ_ONNX_LIBRARY", "libdzc_codegen_onnx.so",
                                       reinterpret_cast<void *>(&library), {read, import, write},
                                       failure);
    if (!h)
      return;
    lib.read = reinterpret_cast<ReadEntry>(dlsym(h, read));
    lib.import = reinterpret_cast<ImportEntry>(dlsym(h, import));
    lib.write = reinterpret_cast<WriteEntry>(dlsym(h, write));
  });
  if (!lib.read)
    throw Error("dz::onnx: cannot load dzc's ONNX library (built with -DDZ_BUILD_COMPILER=ON; "
                "set DZ_ONNX_LIBRARY to the path of libdzc_codegen_onnx.so). Tried:" +
                failure);
  return lib;
}

/// A graph and its compiled programs (one per device), and the graphs of its
/// vector-Jacobian products (one per choice of inputs and outputs).
class GraphProgram {
public:
  /// `origins` names each node's ONNX node, `arguments` each argument ("input 'x'");
  /// argument `rng` (or none: -1) is an RNG state, which stays on the CPU.
  GraphProgram(trace::Graph graph, std::vector<std::string> origins,
               std::vector<std::string> arguments, std::string what, int rng)
      : graph_(std::move(graph)), origins_(std::move(origins)), arguments_(std::move(arguments)),
        what_(std::move(what)), rng_(rng) {}

  const trace::Graph &graph() const { return graph_; }
  const std::string &what() const { return what_; }
  int rng_argument() const { return rng_; }

  /// Runs the graph. `quick`: for the one eager run of a dz::compile trace, compiled
  /// without native code for the fused groups (their ops run one by one), which compiles
  /// in a fraction of the time.
  std::vector<Tensor> run(const std::vector<Tensor> &args, bool quick) {
    const Device dev = args.empty() ? Device::cpu() : args[0].device();
    for (size_t i = 0; i < args.size(); ++i)
      if (args[i].device() != dev && int(i) != rng_)
        throw Error(what_ + ": argument 0 is on " + dev.str() + " but argument " +
                    std::to_string(i) + " is on " + args[i].device().str() +
                    "; move the model and the data to one device first");
    std::lock_guard lock(mu_);
    std::unique_ptr<trace::Executable> &exe = programs_[{dev.str(), quick}];
    if (!exe) {
      trace::CompileOptions opts;
      opts.name = "onnx_graph";
      opts.device = dev;
      opts.jit = !quick;
      if (rng_ >= 0)
        opts.host_args.push_back(rng_);
      try {
        exe = trace::compile_graph(graph_, opts);
      } catch (const Error &e) {
        throw Error(what_ + ": " + with_origins(e.what(), opts.name));
      }
    }
    return exe->run(args);
  }

  /// The program of the vector-Jacobian product: arguments are the graph's, then one
  /// output gradient per output in `outs`; results the gradients of the arguments in `ins`.
  std::shared_ptr<GraphProgram> vjp(const std::vector<size_t> &ins,
                                    const std::vector<size_t> &outs) {
    std::lock_guard lock(mu_);
    std::shared_ptr<GraphProgram> &p = vjps_[{ins, outs}];
    if (!p) {
      check_differentiable(ins, outs);
      trace::Graph g = graph_;
      std::vector<std::string> origins = origins_;
      auto add = [&](const std::string &op, std::vector<int> inputs, const Shape &shape,
                     DType dtype, std::vector<trace::Attr> attrs, const char *origin) {
        g.values.push_back({shape, dtype});
        const int v = int(g.values.size()) - 1;
        g.nodes.push_back({op, std::move(inputs), {v}, std::move(attrs), Tensor()});
        origins.push_back(origin);
        return v;
      };
      int total = -1;
      std::vector<int> results;
      for (size_t k : outs) {
        const int y = graph_.results[k];
        const trace::ValueType t = graph_.values[size_t(y)];
        g.values.push_back(t);
        const int gy = int(g.values.size()) - 1;
        g.arguments.push_back(gy);
        const int prod = add("mul", {y, gy}, t.shape, t.dtype, {}, "the output gradient");
        int s = add("sum", {prod}, {}, t.dtype,
                    {{"axes", std::vector<int64_t>{}}, {"keepdims", false}}, "the output gradient");
        if (total >= 0 && g.values[size_t(total)].dtype != t.dtype)
          s = add("cast", {s}, {}, g.values[size_t(total)].dtype,
                  {{"dtype", g.values[size_t(total)].dtype}}, "the output gradient");
        total = total < 0 ? s
                          : add("add", {total, s}, {}, g.values[size_t(s)].dtype, {},
                                "the output gradient");
      }
      trace::Node grad{"grad", {total}, {}, {}, Tensor()};
      for (size_t i : ins) {
        const int x = graph_.arguments[i];
        grad.inputs.push_back(x);
        g.values.push_back(graph_.values[size_t(x)]);
        grad.outputs.push_back(int(g.values.size()) - 1);
      }
      g.results = grad.outputs;
      g.nodes.push_back(std::move(grad));
      origins.push_back("the backward");
      std::vector<std::string> arguments = arguments_;
      for (size_t k : outs)
        arguments.push_back("the gradient of output " + std::to_string(k));
      p = std::make_shared<GraphProgram>(std::move(g), std::move(origins), std::move(arguments),
                                         what_ + " (backward)", rng_);
    }
    return p;
  }

private:
  /// The message of a compiler error with "onnx_graph:<n>" locations followed by the ONNX
  /// node of op n.
  std::string with_origins(const std::string &message, const std::string &name) const {
    std::string out;
    const std::string key = name + ":";
    size_t at = 0;
    std::set<size_t> named;
    for (size_t pos; (pos = message.find(key, at)) != std::string::npos;) {
      size_t end = pos + key.size();
      size_t n = 0;
      bool digits = false;
      while (end < message.size() && std::isdigit(static_cast<unsigned char>(message[end]))) {
        n = n * 10 + size_t(message[end] - '0');
        ++end;
        digits = true;
      }
      out += message.substr(at, end - at);
      if (digits && n < origins_.size())
        out += " [" + origins_[n] + "]";
      at = end;
    }
    return out + message.substr(at);
  }

  /// Throws when a gradient must reach an argument in `ins` from an output in `outs`
  /// through a node that passes none (its result is not a float: ArgMax, a cast to
  /// integers, a comparison), naming that node. Arguments that no output depends on get
  /// zeros, and paths that pass no gradient beside a differentiable one are fine, as in
  /// eager dz.
  void check_differentiable(const std::vector<size_t> &ins, const std::vector<size_t> &outs) const {
    const size_t words = (ins.size() + 63) / 64;
    using Bits = std::vector<uint64_t>;
    std::vector<Bits> any(graph_.values.size(), Bits(words)), diff = any;
    auto is_float = [&](int v) { return is_floating(graph_.values[size_t(v)].dtype); };
    for (size_t k = 0; k < ins.size(); ++k) {
      const int x = graph_.arguments[ins[k]];
      any[size_t(x)][k / 64] |= uint64_t(1) << (k % 64);
      if (is_float(x))
        diff[size_t(x)][k / 64] |= uint64_t(1) << (k % 64);
    }
    std::vector<int> blocker(ins.size(), -1); // the first node that stops a gradient of x_k
    for (size_t n = 0; n < graph_.nodes.size(); ++n) {
      const trace::Node &node = graph_.nodes[n];
      Bits a(words), d(words);
      for (int v : node.inputs)
        for (size_t w = 0; w < words; ++w) {
          a[w] |= any[size_t(v)][w];
          d[w] |= diff[size_t(v)][w];
        }
      for (int v : node.outputs) {
        any[size_t(v)] = a;
        if (is_float(v))
          diff[size_t(v)] = d;
      }
      if (!node.outputs.empty() && !is_float(node.outputs[0]))
        for (size_t k = 0; k < ins.size(); ++k)
          if (blocker[k] < 0 && (d[k / 64] >> (k % 64) & 1))
            blocker[k] = int(n);
    }
    for (size_t k = 0; k < ins.size(); ++k) {
      bool depends = false, differentiable = false;
      size_t out = 0;
      for (size_t o : outs) {
        const size_t y = size_t(graph_.results[o]);
        differentiable = differentiable || (diff[y][k / 64] >> (k % 64) & 1);
        if (!depends && (any[y][k / 64] >> (k % 64) & 1)) {
          depends = true;
          out = o;
        }
      }
      if (!depends || differentiable)
        continue;
      const std::string node =
          blocker[k] >= 0 ? origins_[size_t(blocker[k])] : std::string("a node");
      throw Error(what_ + ": backward() needs the gradient of output " + std::to_string(out) +
                  " with respect to " + arguments_.at(ins[k]) +
                  ", but it depends on it only through " + node +
                  ", whose result is not a float tensor and so passes no gradient; backpropagate "
                  "from an output that a differentiable path leads to");
    }
  }

  trace::Graph graph_;
  std::vector<std::string> origins_, arguments_;
  std::string what_;
  int rng_ = -1;
  std::mutex mu_;
  std::map<std::pair<std::string, bool>, std::unique_ptr<trace::Executable>> programs_;
  std::map<std::pair<std::vector<size_t>, std::vector<size_t>>, std::shared_ptr<GraphProgram>>
      vjps_;
};

/// One application of a graph: forward runs its program, backward applies its VJP graph.
class GraphFunction final : public Function {
public:
  /// `tracing`: applied while dz::compile traces (its values are needed once).
  GraphFunction(std::shared_ptr<GraphProgram> program, bool tracing)
      : program_(std::move(program)), tracing_(tracing) {}
  std::string name() const override { return "onnx_graph"; }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    // The backward recomputes the forward: it draws the same masks from the RNG state as it
    // was here (inside dz::compile the state itself moves on after the call).
    if (const int r = program_->rng_argument(); r >= 0) {
      TraceScope off;
      rng_state_ = xs.at(size_t(r)).copy();
    }
    return program_->run(xs, tracing_);
  }
  FunctionTrace trace() const override {
    FunctionTrace t;
    t.kind = FunctionTrace::Graph;
    t.graph = &program_->graph();
    return t;
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    const trace::Graph &g = program_->graph();
    std::vector<size_t> ins, outs;
    for (size_t i = 0; i < inputs().size(); ++i)
      if (needs_input_grad(i) && is_floating(inputs()[i].dtype()))
        ins.push_back(i);
    for (size_t k = 0; k < gys.size(); ++k)
      if (gys[k].defined())
        outs.push_back(k);
    std::vector<Variable> grads(inputs().size());
    if (ins.empty() || outs.empty())
      return grads;
    for (size_t k : outs)
      if (!is_floating(g.values[size_t(g.results[k])].dtype))
        throw Error(program_->what() + ": backward() from output " + std::to_string(k) + ", a " +
                    dtype_name(g.values[size_t(g.results[k])].dtype) +
                    " tensor: an integer result passes no gradient");
    std::shared_ptr<GraphProgram> vjp = program_->vjp(ins, outs);
    std::vector<Variable> args(inputs().begin(), inputs().end());
    if (const int r = program_->rng_argument(); r >= 0)
      args[size_t(r)] = Variable::constant(rng_state_);
    for (size_t k : outs) {
      const trace::ValueType &t = g.values[size_t(g.results[k])];
      Variable gy = gys[k];
      if (gy.dtype() != t.dtype || gy.shape() != t.shape)
        throw Error(program_->what() + ": the gradient of output " + std::to_string(k) + " is " +
                    shape_str(gy.shape()) + " " + dtype_name(gy.dtype()) + ", the output " +
                    shape_str(t.shape) + " " + dtype_name(t.dtype));
      args.push_back(gy);
    }
    std::vector<Variable> gs = call<GraphFunction>(std::move(args), vjp, tracing_);
    for (size_t j = 0; j < ins.size(); ++j)
      grads[ins[j]] = gs[j];
    return grads;
  }

private:
  std::shared_ptr<GraphProgram> program_;
  bool tracing_;
  Tensor rng_state_;
};

/// Registers `p` under `name` in `root`; '/' separates sub-layers (made as needed).
void register_path(Layer &root, std::map<std::string, Layer> &layers, const std::string &name,
                   const Parameter &p, const std::string &path) {
  Layer *at = &root;
  std::string prefix;
  size_t start = 0;
  for (size_t slash; (slash = name.find('/', start)) != std::string::npos; start = slash + 1) {
    const std::string part = name.substr(start, slash - start);
    if (part.empty())
      break;
    prefix += (prefix.empty() ? "" : "/") + part;
    auto it = layers.find(prefix);
    if (it == layers.end()) {
      it = layers.emplace(prefix, Layer()).first;
      at->register_layer(part, it->second);
    }
    at = &it->second;
  }
  const std::string leaf = name.substr(start);
  if (leaf.empty() || leaf.find('/') != std::string::npos)
    throw Error("dz::onnx::import_trainable('" + path + "'): initializer '" + name +
                "' cannot be a parameter name (an empty part between '/'); leave it out with "
                "TrainableOptions::parameters");
  try {
    at->register_param(leaf, p);
  } catch (const Error &e) {
    throw Error("dz::onnx::import_trainable('" + path + "'): initializer '" + name +
                "' as a parameter: " + e.what());
  }
}

} // namespace

struct TrainableModel::Impl {
  std::string path;
  TrainableOptions options;
  TrainableSource source;
  std::vector<Parameter> params;  // one per source.parameters entry
  std::vector<Tensor> statistics; // one per source.statistics entry, updated in place
  std::map<std::string, Layer> layers;
  std::mutex mu;
  struct Compiled {
    std::shared_ptr<GraphProgram> program;
    std::vector<size_t> updates; // the statistic each result after the outputs updates
    int64_t rng_groups = 0;      // the Philox counters its Dropouts draw (training)
  };
  // By input shapes and dtypes, and training mode.
  std::map<std::pair<std::vector<std::tuple<Shape, DType>>, bool>, Compiled> programs;

  std::string what() const { return "dz::onnx::TrainableModel('" + path + "')"; }

  const Compiled &program(const std::vector<Variable> &xs, bool training) {
    std::pair<std::vector<std::tuple<Shape, DType>>, bool> sig;
    for (const Variable &x : xs)
      sig.first.emplace_back(x.shape(), x.dtype());
    sig.second = training;
    std::lock_guard lock(mu);
    Compiled &c = programs[sig];
    if (c.program)
      return c;
    TraceScope off; // importing runs programs (shape folding) that are not part of a trace
    std::vector<Tensor> inputs;
    for (const Variable &x : xs)
      inputs.push_back(x.device().is_cpu() ? x.data() : x.data().to(Device::cpu()));
    ImportedGraph g;
    try {
      library().import(path, source.parameters, source.statistics, inputs, training, g);
    } catch (...) {
      programs.erase(sig);
      throw;
    }
    if (!g.frozen.empty()) {
      programs.erase(sig);
      std::string names;
      for (const std::string &n : g.frozen)
        names += (names.empty() ? "'" : ", '") + n + "'";
      throw Error(what() + ": the import needs the values of the initializers " + names +
                  " as constants (an operand such as a shape or a scale), so they cannot be "
                  "Parameters; import with TrainableOptions::parameters listing the others");
    }
    std::vector<std::string> arguments;
    for (const std::string &name : source.inputs)
      arguments.push_back("input '" + name + "'");
    for (const std::string &name : source.parameters)
      arguments.push_back("parameter '" + name + "'");
    for (const std::string &name : source.statistics)
      arguments.push_back("statistic '" + name + "'");
    if (g.rng_state)
      arguments.push_back("the RNG state of Dropout");
    for (const std::string &name : g.updates) {
      auto it = std::find(source.statistics.begin(), source.statistics.end(), name);
      if (it == source.statistics.end()) {
        programs.erase(sig);
        throw Error(what() + ": BatchNormalization's statistic '" + name +
                    "' is not an initializer dz can update in training mode (a Parameter, or "
                    "computed); call the model in dz::TestMode");
      }
      c.updates.push_back(size_t(it - source.statistics.begin()));
    }
    c.rng_groups = g.rng_groups;
    const int rng = g.rng_state ? int(arguments.size()) - 1 : -1;
    c.program = std::make_shared<GraphProgram>(std::move(g.graph), std::move(g.origins),
                                               std::move(arguments), what(), rng);
    return c;
  }
};

std::vector<Variable> TrainableModel::forward(const std::vector<Variable> &xs) {
  Impl &im = *impl_;
  if (xs.size() != im.source.inputs.size())
    throw Error(im.what() + ": the model takes " + std::to_string(im.source.inputs.size()) +
                " inputs, " + std::to_string(xs.size()) + " were given");
  for (size_t i = 0; i < xs.size(); ++i)
    if (!xs[i].defined())
      throw Error(im.what() + ": input " + std::to_string(i) + " is a null Variable");
  if (Config::train() && !im.source.train_mode_nodes.empty()) {
    std::string nodes;
    for (const std::string &n : im.source.train_mode_nodes)
      nodes += (nodes.empty() ? "" : ", ") + n;
    throw Error(im.what() + ": called in training mode, but " + nodes +
                " cannot train; call the model in dz::TestMode to fine-tune it "
                "(BatchNormalization then uses its running statistics), or import it without "
                "its statistics in TrainableOptions::parameters");
  }
  std::vector<Variable> args = xs;
  for (const Parameter &p : im.params)
    args.push_back(p);
  const Device dev = xs.empty() ? Device::cpu() : xs[0].device();
  for (Tensor &t : im.statistics) {
    if (t.device() != dev) {
      TraceScope off;
      t = t.to(dev);
    }
    args.push_back(Variable::constant(t));
  }
  const bool tracing = detail::Tracer::recording() != nullptr;
  const bool training =
      Config::train() && (!im.statistics.empty() || !im.source.dropout_nodes.empty());
  const Impl::Compiled &c = im.program(xs, training);
  // Dropout's masks: counters reserved from the default generator as F::dropout reserves
  // them (inside dz::compile: the generator's traced state, reserved anew at each call).
  std::optional<Tensor> rng;
  if (c.program->rng_argument() >= 0) {
    TraceScope trace;
    rng = detail::reserve_rng_state(default_generator(), c.rng_groups, trace.operator->());
    args.push_back(Variable::constant(*rng));
  }
  std::vector<Variable> ys = call<GraphFunction>(std::move(args), c.program, tracing);
  if (rng) {
    TraceScope trace;
    detail::advance_rng_state(*rng, c.rng_groups, trace.operator->());
  }
  // The running statistics, in place (inside dz::compile: written back after each call).
  const size_t outputs = ys.size() - c.updates.size();
  for (size_t j = 0; j < c.updates.size(); ++j)
    im.statistics[c.updates[j]].copy_(ys[outputs + j].data());
  ys.resize(outputs);
  return ys;
}

const std::string &TrainableModel::path() const { return impl_->path; }
const std::vector<std::string> &TrainableModel::input_names() const { return impl_->source.inputs; }
const std::vector<std::string> &TrainableModel::output_names() const {
  return impl_->source.outputs;
}
const std::vector<std::string> &TrainableModel::parameter_names() const {
  return impl_->source.parameters;
}

Parameter TrainableModel::param(const std::string &name) const {
  const auto &names = impl_->source.parameters;
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name)
      return impl_->params[i];
  throw Error(impl_->what() + ": no parameter '" + name + "' (parameter_names() lists them)");
}

int TrainableModel::compilations() const {
  std::lock_guard lock(impl_->mu);
  return int(impl_->programs.size());
}

TrainableModel import_trainable(const std::string &path, const TrainableOptions &options) {
  if (detail::Tracer::recording())
    throw Error("dz::onnx::import_trainable: called while a dz::compile function is being "
                "traced; import the model outside the compiled function");
  TrainableModel m;
  m.impl_ = std::make_shared<TrainableModel::Impl>();
  TrainableModel::Impl &im = *m.impl_;
  im.path = path;
  im.options = options;
  library().read(path, options, im.source);
  for (size_t i = 0; i < im.source.parameters.size(); ++i) {
    Parameter p(im.source.values[i], im.source.parameters[i]);
    im.params.push_back(p);
    register_path(m, im.layers, im.source.parameters[i], p, path);
  }
  im.statistics = im.source.statistic_values;
  im.source.values.clear(); // the Parameters and statistics hold them
  im.source.statistic_values.clear();
  return m;
}

void export_model(TrainableModel &model, const std::vector<Variable> &example_inputs,
                  const std::string &path, const ExportOptions &) {
  const TrainableModel::Impl &im = *model.impl_;
  if (example_inputs.size() != im.source.inputs.size())
    throw Error("dz::onnx::export_model: the model '" + im.path + "' takes " +
                std::to_string(im.source.inputs.size()) + " inputs, " +
                std::to_string(example_inputs.size()) + " example inputs were given");
  std::vector<Tensor> values;
  for (const Parameter &p : im.params)
    values.push_back(p.data());
  std::vector<std::string> names = im.source.parameters;
  names.insert(names.end(), im.source.statistics.begin(), im.source.statistics.end());
  values.insert(values.end(), im.statistics.begin(), im.statistics.end());
  library().write(im.path, names, values, path);
}

} // namespace dz::onnx
