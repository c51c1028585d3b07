// dzc/compile.h - dz::compile: Define-and-Run from eager code.
//
//   auto step = dz::compile([&](dz::Variable x, dz::Variable t) {
//     auto loss = F::softmax_cross_entropy(model(x), t);
//     model.cleargrads();
//     loss.backward();
//     optimizer.update();
//     return loss;
//   });
//   dz::Variable loss = step(x_batch, t_batch);
//
// The first call with a new signature (argument shapes, dtypes and devices, train/test mode,
// enable_backprop) runs the function eagerly while recording it as a `dz` module; later
// calls run the compiled program. Parameters and other tensors the function reads from
// outside are state: bound to the live buffers, and written back after each call when the
// function updates them (optimizer steps), so eager code sees the trained weights.
// Gradients the function leaves on outside Variables are set on them after each call too,
// and Variables outside the function that it rebinds (an RNN's state, `acc = acc + x`) are
// rebound to the call's results. Optimizer hyperparameters are read at every call; dropout
// draws from the global generator at every call. docs/compile.md states the contract: what
// is state, what is a constant, what retraces and what is refused.
// The semantics are in shared/ARCHITECTURE.md ("Compiled mode semantics").
#pragma once
#include <dzc/variable.h>

#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace dz {

struct CompileConfig {
  /// Write the IR after tracing and after each pass into this folder (also: $DZ_DUMP_IR).
  std::string dump_ir_dir = "";
  /// Log each trace to stderr (also: $DZ_VERBOSE=1).
  bool verbose = false;
  /// The optimisations of the pipeline. Switch one to compare with it or to work around a
  /// problem; $DZ_DISABLE / $DZ_ENABLE (comma-separated lists of fuse, lower-conv, jit,
  /// arena, direct) switch them without recompiling.
  bool fuse = true;        // elementwise chains (and a trailing reduction) as one kernel
  bool lower_conv = false; // convolutions as explicit im2col + GEMM ops (docs/compile.md)
  bool jit = true;         // native code for each fused group (off: its ops one by one)
  bool arena = true;       // intermediates in one planned arena (off: each kernel allocates)
  /// Run each step as a plain call over the planned buffers where every op of the program
  /// has a direct kernel (no tensor objects, allocation or dispatch per op; off: the
  /// executor's tensor kernels for every program).
  bool direct = true;
  /// The most compiled programs kept (one per signature and guard outcome); past it the
  /// least recently used one is dropped, with a warning. At least 1.
  int max_signatures = 16;
  /// Warn on stderr (one line) at every trace after the 4th and whenever a program is
  /// dropped, naming what changed (also silenced by $DZ_QUIET=1).
  bool warn_retraces = true;
  /// The function's name in messages and warnings ("step", "train_step"); empty: "a
  /// compiled function".
  std::string name = "";
};

/// What the last compilation of a compiled function cost and produced.
struct CompileStats {
  int traces = 0;   // signatures traced so far (retraces())
  int programs = 0; // compiled programs kept now (at most max_signatures)
  int evicted = 0;  // programs dropped by the max_signatures bound so far
  // Resident memory the kept programs added when they were compiled (measured around each
  // compilation from /proc/self/statm; 0 where that is not available): about 1 MB for an
  // MLP step (bench/compile_cache.cpp).
  size_t memory_bytes = 0;
  std::string
      last_retrace_reason; // why the last trace happened ("first call", "argument 0 has shape ...")
  double trace_ms = 0;     // the last trace: running the function with recording on
  double compile_ms = 0;   // the last compilation: import, passes, code generation, JIT
  std::string summary;     // the compiler's account, e.g. "passes 9 ms, 6 fused kernels ..."
};

/// The type-erased core of a compiled function.
class CompiledFunction {
public:
  using Body = std::function<std::vector<Variable>(const std::vector<Variable> &)>;
  explicit CompiledFunction(CompileConfig config = {});

  /// Runs the compiled program for this signature, tracing `body` first when there is none.
  std::vector<Variable> call(const std::vector<Variable> &args, const Body &body);
  /// How many times the function was traced (once per new signature).
  int retraces() const;
  /// The `dz` module of the last trace, as traced (before the passes).
  std::string ir() const;
  /// The module of the last trace after the compiler's pipeline.
  std::string optimized_ir() const;
  CompileStats stats() const;

private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

template <typename Fn> class Compiled {
public:
  Compiled(Fn fn, CompileConfig config) : fn_(std::move(fn)), core_(std::move(config)) {}

  /// Call with Variables or Tensors. A Tensor becomes a Variable that takes no gradient
  /// (nothing outside could read it, as with a Tensor passed to an eager F:: function);
  /// pass a Variable to get the gradient of an argument.
  template <typename... Args> auto operator()(const Args &...args) {
    using Result = std::invoke_result_t<Fn &, decltype(argument(args))...>;
    std::vector<Variable> in{argument(args)...};
    auto body = [this](const std::vector<Variable> &vs) {
      return invoke(vs, std::index_sequence_for<Args...>{});
    };
    std::vector<Variable> out = core_.call(in, body);
    if constexpr (std::is_void_v<Result>)
      return;
    else if constexpr (std::is_convertible_v<Result, Variable>)
      return out.at(0);
    else
      return out;
  }

  int retraces() const { return core_.retraces(); }
  std::string ir() const { return core_.ir(); }
  std::string optimized_ir() const { return core_.optimized_ir(); }
  CompileStats stats() const { return core_.stats(); }

private:
  static Variable argument(const Variable &v) { return v; }
  static Variable argument(const Tensor &t) { return Variable::constant(t); }
  static Variable argument(double v) { return Variable(v); }

  template <size_t... I>
  std::vector<Variable> invoke(const std::vector<Variable> &vs, std::index_sequence<I...>) {
    using Result = std::invoke_result_t<Fn &, decltype((void)I, vs[0])...>;
    if constexpr (std::is_void_v<Result>) {
      fn_(vs[I]...);
      return {};
    } else if constexpr (std::is_convertible_v<Result, Variable>) {
      return {Variable(fn_(vs[I]...))};
    } else {
      return std::vector<Variable>(fn_(vs[I]...));
    }
  }

  Fn fn_;
  CompiledFunction core_;
};

/// Compiles `fn` (a callable taking Variables and returning a Variable, a
/// std::vector<Variable> or nothing).
template <typename Fn> Compiled<Fn> compile(Fn fn, CompileConfig config = {}) {
  return Compiled<Fn>(std::move(fn), std::move(config));
}

} // namespace dz
