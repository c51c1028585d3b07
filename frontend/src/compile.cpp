// compile.cpp - dz::compile's driver: the cache of traced signatures, and the compiled
// call (bind arguments and state, run, write back).
#include <dzc/compile.h>

#include "tracer.h"

#include <dzc/dynamic_library.h>

#include <chrono>
#include <cstdlib>
#include <dlfcn.h>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

namespace dz {

namespace {

/// What makes a trace reusable: argument types and the configuration.
struct Signature {
  std::vector<std::tuple<Shape, DType, std::string>> args;
  bool train, backprop;
  auto operator<=>(const Signature &) const = default;
};

Signature signature_of(const std::vector<Variable> &args) {
  Signature s{{}, Config::train(), Config::enable_backprop()};
  for (size_t i = 0; i < args.size(); ++i) {
    if (!args[i].defined())
      throw Error("dz::compile: argument " + std::to_string(i) + " is a null Variable");
    s.args.emplace_back(args[i].shape(), args[i].dtype(), args[i].device().str());
  }
  return s;
}

std::string signature_str(const Signature &s) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < s.args.size(); ++i)
    os << (i ? ", " : "") << shape_str(std::get<0>(s.args[i])) << " "
       << dtype_name(std::get<1>(s.args[i]));
  os << ") " << (s.train ? "train" : "test");
  return os.str();
}

struct Program {
  std::unique_ptr<trace::Executable> exe;
  detail::TraceResult trace; // bindings and write-backs (the graph itself is not needed)
};

/// The one device of the arguments and the state (parameters, gradients) of a trace: the
/// program runs there. Tensors on two devices throw, naming both. Dropout's RNG state is
/// on the CPU wherever the program runs: its indexes (arguments after `args`) go to
/// `host_args`.
Device program_device(const std::vector<Variable> &args, const detail::TraceResult &trace,
                      std::vector<int> &host_args) {
  std::optional<Device> dev;
  std::string first;
  auto see = [&](const Tensor &t, const std::string &what) {
    if (!t.defined())
      return;
    if (!dev) {
      dev = t.device();
      first = what;
    } else if (t.device() != *dev) {
      throw Error("dz::compile: " + first + " is on " + dev->str() + " but " + what + " is on " +
                  t.device().str() + "; move the model and the data to one device first");
    }
  };
  for (size_t i = 0; i < args.size(); ++i)
    see(args[i].data(), "argument " + std::to_string(i));
  for (size_t i = 0; i < trace.state.size(); ++i) {
    const Tensor &t = trace.state[i].tensor;
    if (t.defined() && t.device().is_cpu() && detail::is_rng_state(t))
      host_args.push_back(int(args.size() + i));
    else
      see(t, "state tensor " + std::to_string(i) + " (a parameter or gradient)");
  }
  return dev.value_or(Device::cpu());
}

/// Whether the Variables that backward() reached still have (or lack) a gradient as they
/// did when the function was traced.
bool guards_hold(const detail::TraceResult &trace, const std::vector<Variable> &args) {
  for (const detail::Guard &g : trace.guards) {
    std::shared_ptr<VariableNode> node =
        g.argument >= 0 ? args[size_t(g.argument)].node() : g.var.lock();
    if (node && node->grad.defined() != g.had_grad)
      return false;
  }
  return true;
}

} // namespace

struct CompiledFunction::Impl {
  CompileConfig config;
  std::map<Signature, Program> programs;
  int traces = 0;
  const Program *last = nullptr;
  double trace_ms = 0, compile_ms = 0; // of the last trace
};

CompiledFunction::CompiledFunction(CompileConfig config) : impl_(std::make_shared<Impl>()) {
  if (config.dump_ir_dir.empty())
    if (const char *d = std::getenv("DZ_DUMP_IR"))
      config.dump_ir_dir = d;
  if (const char *v = std::getenv("DZ_VERBOSE"))
    config.verbose = config.verbose || std::string(v) == "1";
  // $DZ_DISABLE / $DZ_ENABLE: comma-separated optimisations to turn off / on.
  for (auto [variable, on] : {std::pair{"DZ_DISABLE", false}, std::pair{"DZ_ENABLE", true}}) {
    const char *value = std::getenv(variable);
    std::string list = value ? value : "";
    for (size_t start = 0; value && start <= list.size();) {
      size_t end = std::min(list.find(',', start), list.size());
      std::string name = list.substr(start, end - start);
      if (name == "fuse")
        config.fuse = on;
      else if (name == "lower-conv")
        config.lower_conv = on;
      else if (name == "jit")
        config.jit = on;
      else if (name == "arena")
        config.arena = on;
      else if (!name.empty())
        throw Error(std::string(variable) + ": unknown optimisation '" + name +
                    "'; the ones that can be switched are fuse, lower-conv, jit and arena");
      start = end + 1;
    }
  }
  impl_->config = std::move(config);
}

int CompiledFunction::retraces() const { return impl_->traces; }

std::string CompiledFunction::ir() const {
  return impl_->last ? impl_->last->exe->traced_ir() : std::string();
}

std::string CompiledFunction::optimized_ir() const {
  return impl_->last ? impl_->last->exe->optimized_ir() : std::string();
}

CompileStats CompiledFunction::stats() const {
  return {impl_->traces, impl_->trace_ms, impl_->compile_ms,
          impl_->last ? impl_->last->exe->summary() : std::string()};
}

std::vector<Variable> CompiledFunction::call(const std::vector<Variable> &args, const Body &body) {
  if (detail::Tracer::recording())
    throw Error("dz::compile: a compiled function was called while another one is being "
                "traced; call the inner function's body directly");
  Signature sig = signature_of(args);
  auto it = impl_->programs.find(sig);
  if (it != impl_->programs.end() && !guards_hold(it->second.trace, args)) {
    if (impl_->config.verbose)
      std::cerr << "dz::compile: a Variable's gradient was "
                << "set or cleared since the "
                << "trace; tracing again\n";
    impl_->last = nullptr;
    impl_->programs.erase(it);
    it = impl_->programs.end();
  }

  if (it == impl_->programs.end()) {
    // Trace: run the body eagerly with recording on, then compile what it recorded.
    detail::TraceResult trace;
    const auto t0 = std::chrono::steady_clock::now();
    {
      detail::Tracer tracer(args);
      std::vector<Variable> outs = body(args);
      trace = tracer.finish(std::move(outs));
    }
    ++impl_->traces;
    const auto t1 = std::chrono::steady_clock::now();
    trace::CompileOptions opts;
    opts.name = "traced";
    opts.dump_dir = impl_->config.dump_ir_dir;
    opts.fuse = impl_->config.fuse;
    opts.lower_conv = impl_->config.lower_conv;
    opts.jit = impl_->config.jit;
    opts.arena = impl_->config.arena;
    opts.device = program_device(args, trace, opts.host_args);
    for (const detail::WriteBack &wb : trace.write_backs)
      if (wb.kind == detail::WriteBack::CopyIntoState)
        opts.donations.push_back({wb.result, int(args.size() + wb.state)});
    const size_t ops = trace.graph.nodes.size();
    Program p{trace::compile_graph(trace.graph, opts), std::move(trace)};
    auto ms = [](auto a, auto b) {
      return std::chrono::duration<double, std::milli>(b - a).count();
    };
    impl_->trace_ms = ms(t0, t1);
    impl_->compile_ms = ms(t1, std::chrono::steady_clock::now());
    if (impl_->config.verbose)
      std::cerr << "dz::compile: traced signature " << signature_str(sig) << " (trace "
                << impl_->traces << ", " << ops << " ops): trace " << impl_->trace_ms
                << " ms, compile " << impl_->compile_ms << " ms (" << p.exe->summary() << ")\n";
    std::vector<Variable> result;
    for (const Tensor &t : p.trace.outputs)
      result.emplace_back(t);
    p.trace.outputs.clear();
    p.trace.graph = trace::Graph();
    // The buffers the tracing run freed sit in the allocator's cache, sized for the eager
    // intermediates; the compiled program keeps its intermediates in its arena and would
    // never reuse them, so they go back to the system.
    if (impl_->config.arena)
      empty_cache();
    it = impl_->programs.emplace(sig, std::move(p)).first;
    impl_->last = &it->second;
    return result;
  }

  // A compiled call: arguments, then state read from the live buffers.
  const Program &p = it->second;
  impl_->last = &p;
  std::vector<Tensor> in;
  in.reserve(args.size() + p.trace.state.size());
  for (const Variable &a : args)
    in.push_back(a.data());
  std::vector<Tensor> state;
  for (const detail::StateBinding &b : p.trace.state) {
    if (auto owner = b.grad_of.lock())
      state.push_back(owner->grad.defined() ? owner->grad.data() : zeros_like(b.tensor));
    else if (auto var = b.var.lock())
      state.push_back(var->data);
    else
      state.push_back(b.tensor);
    in.push_back(state.back());
  }
  std::vector<Tensor> results = p.exe->run(in);

  for (const detail::WriteBack &wb : p.trace.write_backs) {
    std::shared_ptr<VariableNode> node =
        wb.argument >= 0 ? args[size_t(wb.argument)].node() : wb.var.lock();
    switch (wb.kind) {
    case detail::WriteBack::CopyIntoState: {
      const Tensor &r = results[size_t(wb.result)];
      if (!(r.shares_storage(state[wb.state]) && r.offset() == state[wb.state].offset()))
        state[wb.state].copy_(r); // else computed in place (a donated argument)
      break;
    }
    case detail::WriteBack::SetGrad:
      if (node)
        node->grad = Variable(results[size_t(wb.result)]);
      break;
    case detail::WriteBack::ClearGrad:
      if (node)
        node->grad = Variable();
      break;
    case detail::WriteBack::SetData:
      if (node)
        node->data = results[size_t(wb.result)];
      break;
    }
  }
  std::vector<Variable> out;
  for (size_t i = 0; i < p.trace.num_outputs; ++i)
    out.emplace_back(results[i]);
  return out;
}

} // namespace dz

namespace dz::trace {

namespace {

using CompileEntry = Executable *(*)(const Graph &, const CompileOptions &);

/// The compiler library, loaded on first use: $DZ_COMPILER_LIBRARY, else
/// libdzc_compiler.so next to this library, else wherever the dynamic loader finds it.
CompileEntry load_compiler() {
  static CompileEntry entry = nullptr;
  static std::string failure;
  static std::once_flag once;
  std::call_once(once, [] {
    if (void *h = detail::load_dzc_library("DZ_COMPILER_LIBRARY", "libdzc_compiler.so",
                                           reinterpret_cast<void *>(&load_compiler),
                                           {"dzc_compile_graph"}, failure))
      entry = reinterpret_cast<CompileEntry>(dlsym(h, "dzc_compile_graph"));
  });
  if (!entry)
    throw Error("dz::compile: cannot load dzc's compiler library (built with "
                "-DDZ_BUILD_COMPILER=ON; set DZ_COMPILER_LIBRARY to its path). Tried:" +
                failure);
  return entry;
}

} // namespace

std::unique_ptr<Executable> compile_graph(const Graph &graph, const CompileOptions &opts) {
  return std::unique_ptr<Executable>(load_compiler()(graph, opts));
}

} // namespace dz::trace
