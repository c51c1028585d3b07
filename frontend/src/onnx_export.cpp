// onnx_export.cpp - dz::onnx::export_model and import_model (dzc/onnx.h): the eager side.
// The model's forward is traced as dz::compile traces a function (tracer.h), in test mode;
// writing ONNX and compiling an imported model is the compiler library's part
// (codegen/onnx, libdzc_codegen_onnx.so), loaded with dlopen on first use so that eager
// programs never load MLIR or protobuf.
#include <dzc/onnx.h>

#include "tracer.h"

#include <dzc/dynamic_library.h>

#include <dlfcn.h>
#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>

namespace dz::onnx {

namespace {

using ExportEntry = void (*)(const trace::Graph &, const GraphArguments &, const std::string &,
                             const ExportOptions &);
using CheckEntry = void (*)(const std::string &, const ModelImportOptions &);
using CompileEntry = trace::Executable *(*)(const std::string &, const std::vector<Tensor> &,
                                            const ModelImportOptions &);

struct Library {
  ExportEntry export_graph = nullptr;
  CheckEntry check_model = nullptr;
  CompileEntry compile_model = nullptr;
};

/// libdzc_codegen_onnx.so: $DZ_ONNX_LIBRARY, else next to this library, else wherever the
/// dynamic loader finds it.
const Library &library() {
  static Library lib;
  static std::string failure;
  static std::once_flag once;
  std::call_once(once, [] {
    const char *export_graph = "dzc_onnx_export_graph", *check_model = "dzc_onnx_check_model",
               *compile_model = "dzc_onnx_compile_model";
    void *h = detail::load_dzc_library("DZ_ONNX_LIBRARY", "libdzc_codegen_onnx.so",
                                       reinterpret_cast<void *>(&library),
                                       {export_graph, check_model, compile_model}, failure);
    if (!h)
      return;
    lib.export_graph = reinterpret_cast<ExportEntry>(dlsym(h, export_graph));
    lib.check_model = reinterpret_cast<CheckEntry>(dlsym(h, check_model));
    lib.compile_model = reinterpret_cast<CompileEntry>(dlsym(h, compile_model));
  });
  if (!lib.export_graph)
    throw Error("dz::onnx: cannot load dzc's ONNX library (built with -DDZ_BUILD_COMPILER=ON; "
                "set DZ_ONNX_LIBRARY to the path of libdzc_codegen_onnx.so). Tried:" +
                failure);
  return lib;
}

std::string default_name(const std::vector<std::string> &names, size_t i, const char *prefix) {
  return i < names.size() ? names[i] : prefix + std::to_string(i);
}

/// Runs `fn` with recording on, in test mode and without backprop, and writes the trace.
void trace_and_export(const TracedFunction &fn, const std::vector<Variable> &example_inputs,
                      const std::unordered_map<const VariableNode *, std::string> &param_names,
                      const std::string &path, const ExportOptions &options) {
  if (detail::Tracer::recording())
    throw Error("dz::onnx::export_model: called while a dz::compile function is being traced; "
                "export outside the compiled function");
  std::vector<Variable> args;
  for (size_t i = 0; i < example_inputs.size(); ++i) {
    if (!example_inputs[i].defined())
      throw Error("dz::onnx::export_model: example input " + std::to_string(i) +
                  " is a null Variable");
    args.push_back(Variable::constant(example_inputs[i].data()));
  }
  if (options.input_names.size() > args.size())
    throw Error("dz::onnx::export_model: " + std::to_string(options.input_names.size()) +
                " input names for " + std::to_string(args.size()) + " example inputs");

  // A layer that makes its parameters at the first call (Linear without in_size) sets
  // their data inside the trace: they exist afterwards, and a second trace is pure.
  detail::TraceResult trace;
  for (int attempt = 0;; ++attempt) {
    {
      TestMode test;
      NoGrad no_grad;
      detail::Tracer tracer(args);
      tracer.keep_initial();
      std::vector<Variable> outs = fn(args);
      if (outs.empty())
        throw Error("dz::onnx::export_model: the model returned no output");
      trace = tracer.finish(std::move(outs));
    }
    // Exporting is not a step: a recurrent layer's state stays as it was.
    for (auto &[handle, node] : trace.initial_bindings)
      *handle = Variable(node);
    trace.rebindings.clear();
    bool only_set_data = true;
    for (const detail::WriteBack &wb : trace.write_backs)
      only_set_data = only_set_data && wb.kind == detail::WriteBack::SetData;
    if (trace.write_backs.empty())
      break;
    if (attempt > 0 || !only_set_data)
      throw Error("dz::onnx::export_model: the forward pass assigns gradients or data of "
                  "Variables outside it (an optimizer step, backward()); export a pure forward");
  }

  // The model's outputs only: a recurrent layer's state that the forward rebinds (an
  // RNN's h) is a result of the trace for dz::compile, not an output of the exported model.
  trace.graph.results.resize(trace.num_outputs);

  GraphArguments ga;
  ga.inputs = args.size();
  for (size_t i = 0; i < args.size(); ++i)
    ga.names.push_back(default_name(options.input_names, i, "input_"));
  std::map<std::string, int> used; // keeps initializer names unique
  for (size_t i = 0; i < trace.state.size(); ++i) {
    const detail::StateBinding &s = trace.state[i];
    std::shared_ptr<VariableNode> var = s.var.lock();
    auto it = var ? param_names.find(var.get()) : param_names.end();
    std::string name = it != param_names.end() ? it->second : "state_" + std::to_string(i);
    if (used[name]++)
      name += "_" + std::to_string(used[name] - 1);
    ga.names.push_back(name);
    ga.initializers.push_back(var ? var->data : s.tensor);
  }
  library().export_graph(trace.graph, ga, path, options);
}

} // namespace

void export_function(const TracedFunction &fn, const std::vector<Variable> &example_inputs,
                     const std::string &path, const ExportOptions &options) {
  trace_and_export(fn, example_inputs, {}, path, options);
}

void export_model(Layer &model, const std::vector<Variable> &example_inputs,
                  const std::string &path, const ExportOptions &options) {
  std::unordered_map<const VariableNode *, std::string> names;
  for (const auto &[name, p] : model.named_params())
    names.emplace(p.node().get(), name); // the first name of a shared parameter
  trace_and_export([&model](const std::vector<Variable> &xs) { return model(xs); }, example_inputs,
                   names, path, options);
}

void export_graph(const trace::Graph &graph, const GraphArguments &args, const std::string &path,
                  const ExportOptions &options) {
  library().export_graph(graph, args, path, options);
}

void check_model(const std::string &path, const ModelImportOptions &options) {
  library().check_model(path, options);
}

std::unique_ptr<trace::Executable> compile_model(const std::string &path,
                                                 const std::vector<Tensor> &inputs,
                                                 const ModelImportOptions &options) {
  return std::unique_ptr<trace::Executable>(library().compile_model(path, inputs, options));
}

// ---- ImportedModel ----

struct ImportedModel::Impl {
  std::string path;
  ModelImportOptions options;
  std::mutex mutex;
  std::map<std::vector<std::tuple<Shape, DType>>, std::unique_ptr<trace::Executable>> compiled;
  const trace::Executable *last = nullptr;
};

std::vector<Tensor> ImportedModel::operator()(const std::vector<Tensor> &inputs) {
  std::vector<std::tuple<Shape, DType>> sig;
  std::vector<Tensor> cpu;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined())
      throw Error("dz::onnx::import_model('" + impl_->path + "'): input " + std::to_string(i) +
                  " is an undefined Tensor");
    cpu.push_back(inputs[i].device().is_cpu() ? inputs[i] : inputs[i].to(Device::cpu()));
    sig.emplace_back(inputs[i].shape(), inputs[i].dtype());
  }
  trace::Executable *exe = nullptr;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    auto it = impl_->compiled.find(sig);
    if (it == impl_->compiled.end()) // checks the count, shapes and dtypes of the inputs
      it = impl_->compiled.emplace(sig, compile_model(impl_->path, cpu, impl_->options)).first;
    exe = it->second.get();
    impl_->last = exe;
  }
  return exe->run(cpu);
}

int ImportedModel::compilations() const { return int(impl_->compiled.size()); }

std::string ImportedModel::optimized_ir() const {
  return impl_->last ? impl_->last->optimized_ir() : std::string();
}

const std::string &ImportedModel::path() const { return impl_->path; }

ImportedModel import_model(const std::string &path, const ModelImportOptions &options) {
  check_model(path, options);
  ImportedModel m;
  m.impl_ = std::make_shared<ImportedModel::Impl>();
  m.impl_->path = path;
  m.impl_->options = options;
  return m;
}

} // namespace dz::onnx
