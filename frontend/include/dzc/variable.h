// dzc/variable.h - the DeZero core: Variable, Parameter, Function, the backward engine
// and Config with its RAII guards.
//
// Variable and Parameter are reference-counted handles: copies share one node, as Python
// references do. A Function holds its inputs strongly and its outputs weakly, so a graph
// lives exactly as long as some output Variable of it does.
#pragma once

#include <dzc/tensor.h>
#include <dzc/trace_hook.h>

#include <atomic>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace dz {

class Function;
class Variable;
struct VariableNode;
namespace trace {
struct Graph;
}

struct BackwardOptions {
  bool retain_grad = false;  // keep the gradients of intermediate variables
  bool create_graph = false; // record the backward pass itself (higher-order derivatives)
};

namespace detail {
/// Non-zero while Variable handles are watched: some thread traces a dz::compile'd function,
/// or a compiled function replays the rebinding of a handle that outlives it (`h = h_new` in
/// an RNN, see docs/compile.md). Only then do assignments and destructions of handles report
/// to the two functions below; otherwise they cost one relaxed atomic load.
extern std::atomic<int> handle_watchers;
void handle_assigned(Variable *slot, const std::shared_ptr<VariableNode> &old_node,
                     const std::shared_ptr<VariableNode> &new_node) noexcept;
void handle_destroyed(const Variable *slot) noexcept;
} // namespace detail

class Variable {
public:
  Variable() = default; // a null handle (DeZero's None)
  Variable(const Variable &) = default;
  Variable(Variable &&) noexcept = default;
  Variable &operator=(const Variable &o) {
    if (detail::handle_watchers.load(std::memory_order_relaxed)) [[unlikely]]
      detail::handle_assigned(this, node_, o.node_);
    node_ = o.node_;
    return *this;
  }
  Variable &operator=(Variable &&o) noexcept {
    if (detail::handle_watchers.load(std::memory_order_relaxed)) [[unlikely]]
      detail::handle_assigned(this, node_, o.node_);
    node_ = std::move(o.node_);
    return *this;
  }
  ~Variable();
  Variable(Tensor data, std::string name = "");
  explicit Variable(double v) : Variable(Tensor::scalar(v)) {}
  explicit Variable(std::shared_ptr<VariableNode> node) : node_(std::move(node)) {}
  /// A constant of the graph: backward never accumulates a gradient into it. The library
  /// makes its scalars, masks and gradient seeds this way, so no gradient graph can hold
  /// a reference back to itself through them (a cycle that reference counting leaks).
  static Variable constant(const Tensor &data);

  bool defined() const { return node_ != nullptr; }
  explicit operator bool() const { return defined(); }

  const Tensor &data() const;
  void set_data(const Tensor &t);
  const std::string &name() const;
  void set_name(std::string name);

  const Shape &shape() const { return data().shape(); }
  int64_t ndim() const { return data().ndim(); }
  int64_t size() const { return data().size(); }
  int64_t len() const { return data().len(); }
  DType dtype() const { return data().dtype(); }
  Device device() const { return data().device(); }
  template <typename T> T item() const { return data().item<T>(); }

  bool has_grad() const;
  Variable grad() const; // null when there is no gradient
  void set_grad(const Variable &g);
  void cleargrad();

  std::shared_ptr<Function> creator() const;
  void set_creator(const std::shared_ptr<Function> &f);
  int generation() const;

  /// Backpropagates from this variable, seeding ones_like(data).
  void backward(BackwardOptions opts = {}) const;
  /// Cuts the link to the creator (this variable becomes a leaf).
  void unchain() const;
  /// Unchains every variable of the graph that produced this one.
  void unchain_backward() const;

  Variable reshape(const Shape &shape) const;
  Variable transpose(std::vector<int64_t> axes = {}) const;
  Variable T() const { return transpose(); }
  Variable sum(std::vector<int64_t> axes = {}, bool keepdims = false) const;
  Variable max(std::vector<int64_t> axes = {}, bool keepdims = false) const;
  Variable min(std::vector<int64_t> axes = {}, bool keepdims = false) const;
  Variable matmul(const Variable &o) const;
  Variable pow(double c) const;
  Variable operator[](const IndexList &index) const;
  Variable get_item(const IndexList &index) const { return (*this)[index]; }
  Variable to(Device dev) const;

  const std::shared_ptr<VariableNode> &node() const { return node_; }
  bool same_node(const Variable &o) const { return node_ == o.node_; }

private:
  std::shared_ptr<VariableNode> node_;
};

/// A Variable that a Layer owns and an optimizer updates.
class Parameter : public Variable {
public:
  Parameter() = default;
  Parameter(const Tensor &data, std::string name = "");
};

struct VariableNode {
  Tensor data;
  std::string name;
  Variable grad;
  std::shared_ptr<Function> creator;
  int generation = 0;
  bool is_param = false;
  bool requires_grad = true; // false for constants (Variable::constant)
};

/// How dz::compile records a Function (the ops are in docs/ir.md).
struct FunctionTrace {
  enum Kind {
    Unsupported, // cannot be compiled yet: dz::compile reports it
    Op,          // one dz op `op` with `attrs`, whose operands are the inputs in order
    Decompose,   // the tensor operations of its forward are recorded one by one
    Graph,       // the ops of `graph` (dzc/trace.h), whose arguments are the inputs in order
                 // and whose results are the outputs (an imported ONNX model)
  } kind = Unsupported;
  const char *op = "";
  std::vector<TraceAttr> attrs;
  std::vector<Tensor> operands;        // tensors the function holds, after the inputs (labels)
  const trace::Graph *graph = nullptr; // Graph: owned by the function
};

/// A differentiable operation. Subclasses implement forward on tensors and backward on
/// Variables built from dz::functions, so that every backward is itself differentiable.
class Function : public std::enable_shared_from_this<Function> {
public:
  virtual ~Function() = default;
  virtual std::string name() const = 0;
  virtual std::vector<Tensor> forward(const std::vector<Tensor> &xs) = 0;
  /// Gradients for the inputs given those of the outputs; a null Variable means "no
  /// gradient flows to this input". A null entry in gys means zero.
  virtual std::vector<Variable> backward(const std::vector<Variable> &gys) = 0;
  /// How dz::compile records this function; by default it cannot be compiled.
  virtual FunctionTrace trace() const { return {}; }

  const std::vector<Variable> &inputs() const { return inputs_; }
  Variable input(size_t i) const { return inputs_.at(i); }
  /// The i-th output while something still holds it, else a null Variable.
  Variable output(size_t i) const;
  size_t num_outputs() const { return outputs_.size(); }
  /// False when input i is a leaf held by nothing but this function (a temporary made
  /// from a Tensor): its gradient can never be read, so backward may skip computing it.
  /// Call it before copying the input into a local Variable.
  bool needs_input_grad(size_t i) const;
  int generation() const { return generation_; }

  /// Runs forward and, when backprop is enabled, records this function as the creator
  /// of its outputs.
  std::vector<Variable> apply(std::vector<Variable> inputs);
  /// Drops the references to inputs (unchain_backward).
  void release_inputs() { inputs_.clear(); }

private:
  std::vector<Variable> inputs_;
  std::vector<std::weak_ptr<VariableNode>> outputs_;
  int generation_ = 0;
};

/// Creates a Fn from args and applies it to inputs: `call<Exp>({x})[0]`.
template <typename Fn, typename... Args>
std::vector<Variable> call(std::vector<Variable> inputs, Args &&...args) {
  return std::make_shared<Fn>(std::forward<Args>(args)...)->apply(std::move(inputs));
}

// ---- configuration --------------------------------------------------------------------
/// The mode flags, one set per thread: a thread starts with enable_backprop and train on,
/// whatever other threads have set, and a guard or a backward pass changes only the flags
/// of the thread it runs in (docs/threads.md).
struct Config {
  static bool enable_backprop();
  static bool train();
  static void set_enable_backprop(bool v);
  static void set_train(bool v);
};

/// Sets a Config entry ("enable_backprop" or "train") of the calling thread for the guard's
/// lifetime; destroy it in the thread that made it (a scope does).
class UsingConfig {
public:
  UsingConfig(const std::string &name, bool value);
  ~UsingConfig();
  UsingConfig(const UsingConfig &) = delete;
  UsingConfig &operator=(const UsingConfig &) = delete;

private:
  bool *slot_;
  bool old_;
};
[[nodiscard]] inline UsingConfig using_config(const std::string &name, bool value) {
  return UsingConfig(name, value);
}
struct NoGrad : UsingConfig {
  NoGrad() : UsingConfig("enable_backprop", false) {}
};
struct TestMode : UsingConfig {
  TestMode() : UsingConfig("train", false) {}
};

// ---- operators --------------------------------------------------------------------------
Variable operator+(const Variable &a, const Variable &b);
Variable operator-(const Variable &a, const Variable &b);
Variable operator*(const Variable &a, const Variable &b);
Variable operator/(const Variable &a, const Variable &b);
Variable operator-(const Variable &a);
Variable operator+(const Variable &a, double b);
Variable operator-(const Variable &a, double b);
Variable operator*(const Variable &a, double b);
Variable operator/(const Variable &a, double b);
Variable operator+(double a, const Variable &b);
Variable operator-(double a, const Variable &b);
Variable operator*(double a, const Variable &b);
Variable operator/(double a, const Variable &b);
Variable pow(const Variable &x, double c);

/// "variable([1. 2.])", as DeZero prints; "variable(None)" for a null handle.
std::ostream &operator<<(std::ostream &os, const Variable &v);

} // namespace dz
