// compile.cpp - dz::compile's driver: the cache of traced signatures, and the compiled
// call (bind arguments and state, run, write back).
#include <dzc/compile.h>

#include "tracer.h"

#include <dzc/dynamic_library.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <iostream>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <unistd.h>

namespace dz {

namespace {

/// What makes a trace reusable: argument types and the configuration.
struct Signature {
  std::vector<std::tuple<Shape, DType, Device>> args;
  bool train, backprop;
  bool operator==(const Signature &) const = default;
};

Signature signature_of(const std::vector<Variable> &args) {
  Signature s{{}, Config::train(), Config::enable_backprop()};
  for (size_t i = 0; i < args.size(); ++i) {
    if (!args[i].defined())
      throw Error("dz::compile: argument " + std::to_string(i) + " is a null Variable");
    s.args.emplace_back(args[i].shape(), args[i].dtype(), args[i].device());
  }
  return s;
}

/// signature_of(args) == s, without making a Signature (defined arguments).
bool matches(const Signature &s, const std::vector<Variable> &args) {
  if (s.args.size() != args.size() || s.train != Config::train() ||
      s.backprop != Config::enable_backprop())
    return false;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto &[shape, dtype, device] = s.args[i];
    const Tensor &t = args[i].data();
    if (t.dtype() != dtype || t.device() != device || t.shape() != shape)
      return false;
  }
  return true;
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

/// The Variable a guard or a write-back is about: the call's argument `argument`, or
/// `var` (null when it no longer exists).
std::shared_ptr<VariableNode> variable_of(int argument, const std::weak_ptr<VariableNode> &var,
                                          const std::vector<Variable> &args) {
  return argument >= 0 ? args[size_t(argument)].node() : var.lock();
}

struct Program {
  Signature sig;
  std::unique_ptr<trace::Executable> exe;
  detail::TraceResult trace; // bindings and write-backs (the graph itself is not needed)
  uint64_t last_used = 0;
  Device device = Device::cpu();
  // Host values of a program on a device, as last uploaded: uploaded again only when they
  // change (a learning rate is the same for most calls).
  mutable std::map<size_t, std::pair<Tensor, Tensor>> uploaded; // binding -> (host, device)
  size_t resident_bytes = 0; // what compiling it added to the process's resident memory
  // Per result: whether its only use is to become one Variable's gradient (SetGrad), so
  // that the previous call's gradient buffer, when nobody else holds it, can take it.
  std::vector<bool> grad_only;
  // A call's scratch, kept between calls so that a call allocates none of it: the
  // arguments (the call's, then the state's) by pointer, the state tensors made for this
  // call (not read from a live Variable), the results, and their buffers (see run_into).
  std::vector<const Tensor *> in;
  std::vector<Tensor> made, results;
  std::vector<const Tensor *> into;
};

/// Program::grad_only for a trace.
std::vector<bool> grad_only_results(const detail::TraceResult &trace, size_t num_results) {
  std::vector<int> uses(num_results, 0);
  std::vector<bool> by_set_grad(num_results, false);
  for (const detail::WriteBack &wb : trace.write_backs)
    if (wb.result >= 0 && size_t(wb.result) < num_results) {
      ++uses[size_t(wb.result)];
      by_set_grad[size_t(wb.result)] = wb.kind == detail::WriteBack::SetGrad;
    }
  for (const detail::Rebinding &rb : trace.rebindings)
    if (rb.result >= 0 && size_t(rb.result) < num_results)
      uses[size_t(rb.result)] += 2;
  std::vector<bool> only(num_results, false);
  for (size_t r = trace.num_outputs; r < num_results; ++r)
    only[r] = uses[r] == 1 && by_set_grad[r];
  return only;
}

/// The process's resident memory in bytes (0 where /proc is missing).
size_t resident_bytes() {
  std::FILE *f = std::fopen("/proc/self/statm", "r");
  if (!f)
    return 0;
  long pages = 0, resident = 0;
  const int n = std::fscanf(f, "%ld %ld", &pages, &resident);
  std::fclose(f);
  return n == 2 && resident > 0 ? size_t(resident) * size_t(sysconf(_SC_PAGESIZE)) : 0;
}

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
    const detail::StateBinding &b = trace.state[i];
    if (b.rng)
      host_args.push_back(int(args.size() + i));
    else if (b.host)
      continue; // made on the CPU at each call and moved to the program's device
    else
      see(b.tensor, "state tensor " + std::to_string(i) + " (" + b.what + ")");
  }
  return dev.value_or(Device::cpu());
}

/// Binds a call of `p`: p.in gets the arguments, then the state tensors read from the live
/// buffers (p.made holds those made for this call). False (with the reason in `why`) when
/// the program does not apply: a Variable's gradient was set or cleared since the trace, a
/// handle it rebinds was reassigned to another shape or to null, a parameter's shape
/// changed, or a handle it rebinds no longer exists (`dead`). Draws nothing: the RNG
/// states are reserved by reserve_rng once the program is chosen. The pointers stay valid
/// until a Variable the state was read from is changed (the write-backs).
bool bind_state(Program &p, const std::vector<Variable> &args, std::string &why, bool &dead) {
  const detail::TraceResult &trace = p.trace;
  for (const detail::Guard &g : trace.guards) {
    std::shared_ptr<VariableNode> node = variable_of(g.argument, g.var, args);
    if (node && node->grad.defined() != g.had_grad) {
      why = std::string("a Variable's gradient was ") + (g.had_grad ? "cleared" : "set") +
            " since the trace (backward() accumulates onto it)";
      return false;
    }
  }
  for (const detail::Rebinding &rb : trace.rebindings) {
    Variable *slot = rb.watch->slot();
    if (!slot) {
      dead = true;
      why = "a Variable the function rebinds no longer exists";
      return false;
    }
    if (slot->defined() != rb.was_defined) {
      why = std::string("a Variable the function rebinds is ") +
            (rb.was_defined ? "null" : "no longer null") + " (it was " +
            (rb.was_defined ? "set" : "null") + " when traced)";
      return false;
    }
  }
  p.in.clear();
  p.made.clear();
  p.made.reserve(trace.state.size()); // p.in points into it
  for (const Variable &a : args)
    p.in.push_back(&a.data());
  for (size_t i = 0; i < trace.state.size(); ++i) {
    const detail::StateBinding &b = trace.state[i];
    const Tensor *t = nullptr;
    if (b.slot) {
      Variable *slot = b.slot->slot();
      if (!slot || !slot->defined()) {
        dead = !slot;
        why = "a Variable the function rebinds is null";
        return false;
      }
      t = &slot->data();
    } else if (b.host) {
      const Tensor &host = p.made.emplace_back(b.host());
      t = &host;
      if (!host.defined()) {
        why = b.what + " is gone (its owner was destroyed)";
        return false;
      }
      if (host.device() != p.device) {
        auto &[before, dev] = p.uploaded[i];
        if (!before.defined() ||
            std::memcmp(before.raw(), host.raw(), dtype_size(host.dtype())) != 0) {
          before = host;
          dev = host.to(p.device);
        }
        t = &dev;
      }
    } else if (b.rng) {
      t = &b.tensor; // a (seed, offset) pair; reserve_rng makes this call's
    } else if (auto owner = b.grad_of.lock()) {
      t = owner->grad.defined() ? &owner->grad.data() : &p.made.emplace_back(zeros_like(b.tensor));
    } else if (auto var = b.var.lock()) {
      t = &var->data; // the node stays alive: the trace's state or a live Variable holds it
    } else if (b.by_var) {
      why = b.what + ", which the function read, no longer exists (a handle to it was rebound "
                     "or destroyed since the trace)";
      return false;
    } else {
      t = &b.tensor;
    }
    if (t->shape() != b.shape || t->dtype() != b.dtype) {
      why = b.what + " is " + shape_str(t->shape()) + " " + dtype_name(t->dtype()) +
            " where the trace had " + shape_str(b.shape) + " " + dtype_name(b.dtype);
      return false;
    }
    p.in.push_back(t);
  }
  return true;
}

/// Reserves this call's random counters from each Generator the program draws from, as
/// the eager function's draws would: (seed, first counter) is the RNG state argument.
void reserve_rng(Program &p, size_t num_args) {
  for (size_t i = 0; i < p.trace.state.size(); ++i)
    if (Generator *gen = p.trace.state[i].rng) {
      const Generator::Position at = gen->reserve(p.trace.state[i].rng_draws);
      p.in[num_args + i] =
          &p.made.emplace_back(Tensor::from_i64({int64_t(at.seed), int64_t(at.offset)}));
    }
}

/// What differs between two signatures, for the retrace warning.
std::string signature_change(const Signature &now, const Signature &before) {
  if (now.args.size() != before.args.size())
    return std::to_string(now.args.size()) + " arguments instead of " +
           std::to_string(before.args.size());
  for (size_t i = 0; i < now.args.size(); ++i) {
    const auto &[shape, dtype, dev] = now.args[i];
    const auto &[shape0, dtype0, dev0] = before.args[i];
    const std::string arg = "argument " + std::to_string(i);
    if (shape != shape0)
      return arg + " has shape " + shape_str(shape) + " instead of " + shape_str(shape0);
    if (dtype != dtype0)
      return arg + " is " + dtype_name(dtype) + " instead of " + dtype_name(dtype0);
    if (dev != dev0)
      return arg + " is on " + dev.str() + " instead of " + dev0.str();
  }
  if (now.train != before.train)
    return std::string("Config::train() is ") + (now.train ? "true" : "false") + " (test mode " +
           (now.train ? "off" : "on") + ")";
  if (now.backprop != before.backprop)
    return std::string("Config::enable_backprop() is ") + (now.backprop ? "true" : "false");
  return "the same signature, but a guard failed";
}

} // namespace

struct CompiledFunction::Impl {
  CompileConfig config;
  std::mutex mu; // one call at a time: the programs, their arenas and the write-backs
  std::list<Program> programs;
  int traces = 0, evicted = 0;
  uint64_t clock = 0;
  const Program *last = nullptr;
  double trace_ms = 0, compile_ms = 0; // of the last trace
  std::string last_reason;

  std::string name() const {
    return config.name.empty() ? "a compiled function" : "'" + config.name + "'";
  }
  void warn(const std::string &line) const {
    if (config.warn_retraces)
      std::cerr << "dz::compile: warning: " << line << "\n";
  }
};

CompiledFunction::CompiledFunction(CompileConfig config) : impl_(std::make_shared<Impl>()) {
  if (config.dump_ir_dir.empty())
    if (const char *d = std::getenv("DZ_DUMP_IR"))
      config.dump_ir_dir = d;
  if (const char *v = std::getenv("DZ_VERBOSE"))
    config.verbose = config.verbose || std::string(v) == "1";
  if (const char *q = std::getenv("DZ_QUIET"); q && std::string(q) == "1")
    config.warn_retraces = false;
  if (config.max_signatures < 1)
    throw Error("dz::compile: CompileConfig::max_signatures must be at least 1, got " +
                std::to_string(config.max_signatures));
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
      else if (name == "direct")
        config.direct = on;
      else if (name == "fuse-attention")
        ; // the pipeline's (passes/Pipeline.cpp): dz.attention
      else if (name == "small-gemm")
        ; // the runtime's (matmul.cpp): products of a few thousand multiply-adds through OpenBLAS
      else if (name == "kernel-cache")
        ; // the code generator's (FusedKernels.cpp): the kernels' object code kept on disk
      else if (!name.empty())
        throw Error(std::string(variable) + ": unknown optimisation '" + name +
                    "'; the ones that can be switched are fuse, fuse-attention, lower-conv, jit, "
                    "arena, direct, small-gemm and kernel-cache");
      start = end + 1;
    }
  }
  impl_->config = std::move(config);
}

int CompiledFunction::retraces() const {
  std::lock_guard lock(impl_->mu);
  return impl_->traces;
}

std::string CompiledFunction::ir() const {
  std::lock_guard lock(impl_->mu);
  return impl_->last ? impl_->last->exe->traced_ir() : std::string();
}

std::string CompiledFunction::optimized_ir() const {
  std::lock_guard lock(impl_->mu);
  return impl_->last ? impl_->last->exe->optimized_ir() : std::string();
}

CompileStats CompiledFunction::stats() const {
  std::lock_guard lock(impl_->mu);
  CompileStats s;
  s.traces = impl_->traces;
  s.trace_ms = impl_->trace_ms;
  s.compile_ms = impl_->compile_ms;
  s.summary = impl_->last ? impl_->last->exe->summary() : std::string();
  s.programs = int(impl_->programs.size());
  s.evicted = impl_->evicted;
  for (const Program &p : impl_->programs)
    s.memory_bytes += p.resident_bytes;
  s.last_retrace_reason = impl_->last_reason;
  return s;
}

std::vector<Variable> CompiledFunction::call(const std::vector<Variable> &args, const Body &body) {
  if (detail::Tracer::recording())
    throw Error("dz::compile: a compiled function was called while another one is being "
                "traced; call the inner function's body directly");
  Impl &im = *impl_;
  std::lock_guard lock(im.mu);
  for (size_t i = 0; i < args.size(); ++i)
    if (!args[i].defined())
      throw Error("dz::compile: argument " + std::to_string(i) + " is a null Variable");

  // The most recently used program of this signature whose guards hold.
  Program *chosen = nullptr;
  std::string why;
  const Program *same_sig = nullptr, *latest = nullptr;
  for (auto it = im.programs.begin(); it != im.programs.end();) {
    if (!latest || it->last_used > latest->last_used)
      latest = &*it;
    if (!matches(it->sig, args)) {
      ++it;
      continue;
    }
    bool dead = false;
    std::string reason;
    if (bind_state(*it, args, reason, dead)) {
      if (!chosen || it->last_used > chosen->last_used)
        chosen = &*it;
    } else {
      why = reason;
      same_sig = &*it;
    }
    if (dead) {
      if (im.last == &*it)
        im.last = nullptr;
      if (latest == &*it)
        latest = nullptr;
      if (same_sig == &*it)
        same_sig = nullptr;
      it = im.programs.erase(it);
    } else {
      ++it;
    }
  }

  if (!chosen) {
    const Signature sig = signature_of(args);
    // Trace: run the body eagerly with recording on, then compile what it recorded.
    const std::string reason = im.traces == 0 ? "first call"
                               : same_sig     ? why
                               : latest       ? signature_change(sig, latest->sig)
                                              : "a new signature";
    detail::TraceResult trace;
    const auto t0 = std::chrono::steady_clock::now();
    {
      detail::Tracer tracer(args);
      std::vector<Variable> outs = body(args);
      trace = tracer.finish(std::move(outs));
    }
    ++im.traces;
    im.last_reason = reason;
    if (im.traces > 4)
      im.warn(im.name() + " traced again (trace " + std::to_string(im.traces) + "): " + reason +
              "; each trace runs the function eagerly and compiles it anew (CompileConfig::"
              "warn_retraces = false or DZ_QUIET=1 silences this)");
    const auto t1 = std::chrono::steady_clock::now();
    const size_t resident_before = resident_bytes();
    trace::CompileOptions opts;
    opts.name = "traced";
    opts.dump_dir = im.config.dump_ir_dir;
    opts.fuse = im.config.fuse;
    opts.lower_conv = im.config.lower_conv;
    opts.jit = im.config.jit;
    opts.arena = im.config.arena;
    opts.direct = im.config.direct;
    opts.device = program_device(args, trace, opts.host_args);
    for (const detail::WriteBack &wb : trace.write_backs)
      if (wb.kind == detail::WriteBack::CopyIntoState)
        opts.donations.push_back({wb.result, int(args.size() + wb.state)});
    const size_t ops = trace.graph.nodes.size();
    Program p;
    p.sig = sig;
    p.exe = trace::compile_graph(trace.graph, opts);
    p.trace = std::move(trace);
    p.last_used = ++im.clock;
    p.device = opts.device;
    auto ms = [](auto a, auto b) {
      return std::chrono::duration<double, std::milli>(b - a).count();
    };
    im.trace_ms = ms(t0, t1);
    im.compile_ms = ms(t1, std::chrono::steady_clock::now());
    if (im.config.verbose)
      std::cerr << "dz::compile: traced signature " << signature_str(sig) << " (trace " << im.traces
                << ", " << ops << " ops, " << reason << "): trace " << im.trace_ms
                << " ms, compile " << im.compile_ms << " ms (" << p.exe->summary() << ")\n";
    // Host values as the trace saw them, uploaded now rather than at the first call.
    if (p.device != Device::cpu())
      for (size_t i = 0; i < p.trace.state.size(); ++i)
        if (const detail::StateBinding &b = p.trace.state[i]; b.host && b.tensor.defined())
          p.uploaded[i] = {b.tensor, b.tensor.to(p.device)};
    std::vector<Variable> result;
    for (const Tensor &t : p.trace.outputs)
      result.emplace_back(t);
    p.trace.outputs.clear();
    p.grad_only = grad_only_results(p.trace, p.trace.graph.results.size());
    p.trace.graph = trace::Graph();
    // The buffers the tracing run freed sit in the allocator's cache, sized for the eager
    // intermediates; the compiled program keeps its intermediates in its arena and would
    // never reuse them, so they go back to the system.
    if (im.config.arena)
      empty_cache();
    const size_t resident_after = resident_bytes();
    p.resident_bytes = resident_after > resident_before ? resident_after - resident_before : 0;
    im.programs.push_back(std::move(p));
    im.last = &im.programs.back();
    // The bound: drop the least recently used program.
    if (int(im.programs.size()) > im.config.max_signatures) {
      auto lru = std::min_element(
          im.programs.begin(), im.programs.end(),
          [](const Program &a, const Program &b) { return a.last_used < b.last_used; });
      im.warn(im.name() + " keeps at most " + std::to_string(im.config.max_signatures) +
              " compiled programs (CompileConfig::max_signatures); dropped the least recently "
              "used one, for " +
              signature_str(lru->sig));
      im.programs.erase(lru);
      ++im.evicted;
    }
    return result;
  }

  // A compiled call: arguments, then state read from the live buffers.
  Program &p = *chosen;
  p.last_used = ++im.clock;
  im.last = &p;
  reserve_rng(p, args.size());
  // A gradient the program sets is computed into the buffer of the gradient it replaces
  // when nothing but that Variable holds it (the previous call's, typically): no
  // allocation, and nobody can tell, since nobody else can reach the old values.
  p.into.assign(p.grad_only.size(), nullptr);
  for (const detail::WriteBack &wb : p.trace.write_backs) {
    if (wb.kind != detail::WriteBack::SetGrad || !p.grad_only[size_t(wb.result)])
      continue;
    const std::shared_ptr<VariableNode> node = variable_of(wb.argument, wb.var, args);
    if (!node || !node->grad.defined())
      continue;
    const std::shared_ptr<VariableNode> &g = node->grad.node();
    if (g.use_count() == 1 && !g->creator && g->data.storage().use_count() == 1)
      p.into[size_t(wb.result)] = &g->data; // the executor checks its type
  }
  p.exe->run_into(p.in, p.results, p.into);
  std::vector<Tensor> &results = p.results;

  // The write-backs: first into the state's buffers (read through p.in, which the others
  // may invalidate), then the Variables.
  for (const detail::WriteBack &wb : p.trace.write_backs)
    if (wb.kind == detail::WriteBack::CopyIntoState) {
      const Tensor &r = results[size_t(wb.result)];
      const Tensor &st = *p.in[args.size() + wb.state];
      if (!(r.shares_storage(st) && r.offset() == st.offset())) {
        Tensor dst = st; // else computed in place (a donated argument)
        dst.copy_(r);
      }
    }
  for (const detail::WriteBack &wb : p.trace.write_backs) {
    if (wb.kind == detail::WriteBack::CopyIntoState)
      continue;
    std::shared_ptr<VariableNode> node = variable_of(wb.argument, wb.var, args);
    if (!node)
      continue;
    switch (wb.kind) {
    case detail::WriteBack::SetGrad:
      if (results[size_t(wb.result)].defined()) // else computed into node->grad's buffer
        node->grad = Variable(std::move(results[size_t(wb.result)]));
      break;
    case detail::WriteBack::ClearGrad:
      node->grad = Variable();
      break;
    case detail::WriteBack::SetData:
      node->data = results[size_t(wb.result)];
      break;
    default:
      break;
    }
  }
  // Handles the function rebinds, as its eager run would have left them.
  for (const detail::Rebinding &rb : p.trace.rebindings)
    if (Variable *slot = rb.watch->slot())
      *slot = rb.result >= 0 ? Variable(results[size_t(rb.result)])
                             : (rb.node ? Variable(rb.node) : Variable());
  std::vector<Variable> out;
  out.reserve(p.trace.num_outputs);
  for (size_t i = 0; i < p.trace.num_outputs; ++i)
    out.emplace_back(std::move(results[i]));
  for (Tensor &r : results) // the next call's scratch holds no buffer
    r.reset();
  p.made.clear();
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
