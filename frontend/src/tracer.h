// tracer.h - dz::compile's tracer: runs the user's function once on real data and records
// what it computes as a trace::Graph.
//
// 1. Every tensor the trace sees is a value, found by its identity (storage, offset,
//    shape, dtype). The call's arguments are the first values.
// 2. A Function with a dz op is recorded whole (its forward runs with recording off); the
//    other tensor operations record themselves through the runtime's TraceHook.
// 3. A tensor first seen as an operand (a parameter, an optimizer moment, a scalar made on
//    the spot) is a leaf. When the trace ends, a leaf that is still alive outside the
//    trace is state (an argument bound to that live buffer, and written back when the
//    trace overwrote it in place); any other leaf is a constant.
// 4. backward() emits one dz.grad for the leaves it reaches (the eager backward still
//    runs, with recording off, so that the first call returns real values).
// 5. Variables that outlive the trace and whose gradient or data the trace reassigned get
//    write-back actions, carried out after every compiled call.
// 6. Handles that outlive the trace and that it rebound (`state_->h = h_new`, `acc = acc +
//    x`) are rebound after every compiled call to that call's result; the value they held
//    when the trace began is state read through the handle (rebinding.h).
// 7. Host numbers the framework owns (optimizer hyperparameters) are inputs read at every
//    call (host_input), and dropout's RNG state reserves its counters from the Generator at
//    every call, so that manual_seed means the same in both modes.
#pragma once
#include "rebinding.h"

#include <dzc/trace.h>
#include <dzc/variable.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace dz::detail {

/// The eager backward algorithm (Variable::backward when no trace is recording).
void run_backward(const Variable &y, BackwardOptions opts);

/// The Generator whose compiled-mode RNG state `t` is (functions.cpp), or null.
Generator *rng_generator_of(const Tensor &t);

/// An RNG state (seed, first counter) of `groups` Philox counters reserved from `gen`, as
/// dz.dropout_mask reads it (functions.cpp). Eagerly (`trace` null) a fresh tensor; while
/// `trace` records (the hook a TraceScope suspended), the Generator's traced state for this
/// thread, set to the reserved counters: each compiled call reserves them anew. After the
/// ops that draw from it, advance_rng_state records the state's advance past them.
Tensor reserve_rng_state(Generator &gen, int64_t groups, TraceHook *trace);
void advance_rng_state(const Tensor &state, int64_t groups, TraceHook *trace);

/// Reads a host number the framework owns (an optimizer's learning rate) at each call.
using HostRead = std::function<Tensor()>;

/// Where a compiled call reads a state argument from.
struct StateBinding {
  std::weak_ptr<VariableNode> var;     // read var->data when the Variable is alive
  Tensor tensor;                       // else this buffer
  std::weak_ptr<VariableNode> grad_of; // or the gradient of this Variable (zeros if none)
  std::shared_ptr<SlotWatch> slot;     // or the data of the Variable this handle holds now
  HostRead host;                       // or this host value
  Generator *rng = nullptr;            // or (seed, offset) of counters reserved from it
  uint64_t rng_draws = 0;              //   this many per call
  bool by_var = false;                 // var was alive at the trace: a call without it traces
  Shape shape;                         // what the program was traced for
  DType dtype = f32;
  std::string what; // for messages: "parameter 'W'", "the learning rate of Adam", ...
};

/// A handle the program rebinds after each call (rebinding.h).
struct Rebinding {
  std::shared_ptr<SlotWatch> watch;
  int result = -1;                    // to a new Variable holding this result
  std::shared_ptr<VariableNode> node; // else to this node (a null one: a null handle)
  // Whether the handle was null when the trace began; a call where it differs traces
  // again (the value it held, where the function reads it, is a state binding whose shape
  // and dtype are checked).
  bool was_defined = false;
};

/// A condition the trace depends on beyond the signature: whether a Variable had a
/// gradient when backward() ran (eager mode accumulates onto it). A call where it differs
/// traces again.
struct Guard {
  std::weak_ptr<VariableNode> var;
  int argument = -1; // or the call's argument i
  bool had_grad = false;
};

/// What happens with a result beyond the function's own outputs.
struct WriteBack {
  enum Kind { CopyIntoState, SetGrad, ClearGrad, SetData } kind;
  int result = -1;                 // index into Graph::results (not for ClearGrad)
  size_t state = 0;                // CopyIntoState: index into the state bindings
  int argument = -1;               // SetGrad/ClearGrad/SetData on the call's argument i, or
  std::weak_ptr<VariableNode> var; // on this Variable
};

/// A finished trace: the graph and how a compiled call binds and writes back.
struct TraceResult {
  trace::Graph graph;
  size_t num_outputs = 0;          // the function's own outputs come first in results
  std::vector<StateBinding> state; // arguments after the call's own, in order
  std::vector<WriteBack> write_backs;
  std::vector<Guard> guards;
  std::vector<Rebinding> rebindings;
  /// With Tracer::keep_initial(): each rebound handle and the node it held before the
  /// trace (null for a null handle), for a caller that undoes the rebinding (ONNX export).
  std::vector<std::pair<Variable *, std::shared_ptr<VariableNode>>> initial_bindings;
  std::vector<Tensor> outputs; // the values of this (eager) first call
};

class Tracer final : public TraceHook, public HandleListener {
public:
  /// Installs the tracer as the runtime's hook until finish() or destruction.
  explicit Tracer(const std::vector<Variable> &args);
  ~Tracer() override;
  Tracer(const Tracer &) = delete;
  Tracer &operator=(const Tracer &) = delete;

  /// The tracer recording now (the hook is ours and not suspended), or null.
  static Tracer *recording();

  // ---- called by the frontend ----
  /// Records f (already run) as one dz op, or checks that its decomposition was recorded.
  void record_function(const Function &f, const FunctionTrace &desc,
                       const std::vector<Variable> &inputs, const std::vector<Tensor> &outputs);
  /// Records the ops of `g` (FunctionTrace::Graph) on the inputs' values.
  void record_graph(const Function &f, const trace::Graph &g, const std::vector<Variable> &inputs,
                    const std::vector<Tensor> &outputs);
  void backward(const Variable &y, BackwardOptions opts);
  void set_data(const Variable &v, const Tensor &t);
  /// v.cleargrad() or v.set_grad(...) inside the trace.
  void grad_assigned(const Variable &v);
  /// v.grad() or v.has_grad() inside the trace: the program depends on whether v has a
  /// gradient (a guard), and when the trace reads that gradient's tensor without having
  /// computed it (an optimizer's update after an eager backward), the tensor is the
  /// gradient v has at each call, not the buffer it has now.
  void grad_read(const Variable &v);
  void touch(const Variable &v);
  void use_parameter(const Variable &p);
  /// Before a Function's forward: its inputs are touched, parameters become state.
  void use_inputs(const std::vector<Variable> &inputs);
  /// `t` (made now from a host number) is an input of the program that `read` makes
  /// afresh at every call; `what` names it in messages.
  void host_input(const Tensor &t, HostRead read, std::string what);

  /// `target` is overwritten in place by the unary dz op `op` of itself, with `attrs` (a
  /// collective: dz.all_reduce): recorded as inplace() records an in-place tensor update.
  void inplace_unary(const char *op, const Tensor &target, std::vector<trace::Attr> attrs);

  /// Keeps the node each rebound handle held before the trace, for initial_bindings.
  void keep_initial() { keep_initial_ = true; }

  /// Stops recording, turns leaves into state or constants, and returns the trace.
  TraceResult finish(std::vector<Variable> &&outputs);

  // ---- TraceHook (called by the runtime) ----
  void op(const char *op, std::initializer_list<const Tensor *> ins, const Tensor &out,
          std::initializer_list<TraceAttr> attrs) override;
  void inplace(const char *op, const Tensor &target, const Tensor &operand) override;
  void host_read(const Tensor &t, const char *what) override;

  // ---- HandleListener ----
  void assigned(Variable *slot, const std::shared_ptr<VariableNode> &old_node,
                const std::shared_ptr<VariableNode> &new_node) noexcept override;
  void destroyed(const Variable *slot) noexcept override;
  void function_made(const Function *f) noexcept override;
  void node_made(const VariableNode *n) noexcept override;

private:
  struct Key {
    const void *storage;
    size_t offset;
    Shape shape;
    DType dtype;
    bool operator==(const Key &) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key &k) const;
  };
  struct Entry {
    std::weak_ptr<Storage> storage; // detects a freed storage whose address was reused
    int value;
  };
  struct Leaf {
    int value;
    Tensor tensor;  // the live tensor (held until finish)
    Tensor initial; // its content when first seen, when the trace overwrote it
    std::weak_ptr<VariableNode> var;
    bool written = false;
    std::weak_ptr<VariableNode> grad_of; // the leaf is this Variable's gradient
    HostRead host;                       // the leaf is a host input (host_input)
    std::string host_what;
    bool random = false; // drawn from a Generator in the trace (other numbers each call)
  };
  /// A handle the trace assigned, with what it held before its first assignment.
  struct Slot {
    std::weak_ptr<VariableNode> initial;
    std::weak_ptr<Storage> initial_storage;
    Key initial_key{nullptr, 0, {}, f32};
    bool was_defined = false;
    std::shared_ptr<VariableNode> kept; // the initial node, with keep_initial()
  };
  struct Touched {
    std::weak_ptr<VariableNode> node;
    Variable grad_before;
    int argument = -1;
    bool data_set = false;
    bool grad_assigned = false; // the trace cleared or set the gradient itself
  };

  static Key key_of(const Tensor &t);
  int lookup(const Tensor &t) const; // -1 when unmapped
  int value_of(const Tensor &t, const std::shared_ptr<VariableNode> &via = nullptr);
  int new_value(const Shape &shape, DType dtype);
  /// The end of an in-place write of `target` (its value `before`) that computed `result`.
  void written_in_place(int before, const Tensor &target, int result);
  void bind(const Tensor &t, int value);
  int emit(const std::string &op, std::vector<int> inputs, const Shape &shape, DType dtype,
           std::vector<trace::Attr> attrs = {});
  int cast_to(int value, DType dtype);
  int broadcast_to(int value, const Shape &shape);
  [[noreturn]] void unsupported(const std::string &what) const;

  TraceHook *previous_ = nullptr;
  bool installed_ = false;
  trace::Graph graph_;
  std::unordered_map<Key, Entry, KeyHash> values_;
  std::vector<Leaf> leaves_;
  struct GradRead { // a gradient grad_read saw, until the trace reads its tensor
    std::weak_ptr<Storage> storage;
    Key key;
    std::weak_ptr<VariableNode> owner;
  };
  std::vector<GradRead> grad_reads_;
  void read_as_gradient(Leaf &leaf, const std::weak_ptr<VariableNode> &owner);
  /// A guard: the program was traced with `node` having a gradient (or none).
  void guard_gradient(const std::shared_ptr<VariableNode> &node, bool had_grad);
  std::unordered_map<int, size_t> leaf_index_; // value -> leaves_ index
  std::vector<Touched> touched_;
  std::unordered_map<const VariableNode *, size_t> touched_index_;
  std::vector<const VariableNode *> args_;
  std::unordered_set<const VariableNode *> parameters_; // used as parameters so far
  std::vector<Guard> guards_;
  std::unordered_map<Variable *, Slot> slots_;     // handles assigned in the trace, still alive
  std::unordered_set<const Function *> functions_; // made during this trace
  std::unordered_set<const VariableNode *> nodes_made_; // made during this trace
  std::unordered_set<const VariableNode *> backward_reached_;
  std::vector<std::weak_ptr<Storage>> random_; // tensors drawn from a Generator in the trace
  bool listening_ = false;
  bool keep_initial_ = false;
  bool out_of_memory_ = false; // a listener call could not record (reported by finish)
};

} // namespace dz::detail
