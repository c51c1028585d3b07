// tracer.cpp - dz::compile's tracer (the algorithm is in tracer.h).
#include "tracer.h"
#include "gradient_ready.h"

#include <dzc/op_registry.h>
#include <dzc/tensor.h>

#include <algorithm>
#include <set>
#include <unordered_set>

namespace dz::detail {

namespace {

/// The dtype the dz op `op` wants operand `k` of dtype `in` in, for a result of dtype `out`
/// (the runtime promotes; the IR wants one element type): the registry's ops by their
/// domain, the other elementwise ops the result's dtype, other ops' float operands too.
DType operand_dtype(const std::string &op, size_t k, DType in, DType promoted, DType out) {
  if (std::optional<MapOp> m = find_op(op)) {
    switch (op_info(*m).domain) {
    case OpDomain::Compare:
      return promoted;
    case OpDomain::Predicate:
      return is_floating(in) ? in : f64;
    default:
      return out;
    }
  }
  if (op == "select")
    return k == 0 ? b8 : out;
  if (op == "pow_scalar" || op == "leaky_relu" || op == "clip" || is_floating(in))
    return out;
  return in;
}

/// Tensor operations the runtime reports that have no dz op yet.
bool has_no_dz_op(const std::string &op) { return op == "logsumexp"; }

/// Whether a weak and a shared pointer share one control block (the same Storage, even
/// after the weak one expired and the address was reused).
bool same_owner(const std::weak_ptr<Storage> &a, const std::shared_ptr<Storage> &b) {
  return !a.owner_before(b) && !b.owner_before(a);
}

std::vector<trace::Attr> to_attrs(std::initializer_list<TraceAttr> attrs) {
  std::vector<trace::Attr> out;
  for (const TraceAttr &a : attrs)
    out.push_back({a.name, a.value});
  return out;
}

} // namespace

size_t Tracer::KeyHash::operator()(const Key &k) const {
  size_t h = std::hash<const void *>()(k.storage) ^ (k.offset * 0x9e3779b97f4a7c15ull);
  for (int64_t d : k.shape)
    h = h * 31 + size_t(d);
  return h ^ size_t(k.dtype);
}

Tracer::Tracer(const std::vector<Variable> &args) {
  for (const Variable &a : args) {
    int v = new_value(a.shape(), a.dtype());
    graph_.arguments.push_back(v);
    bind(a.data(), v);
    args_.push_back(a.node().get());
    touch(a);
  }
  previous_ = set_trace_hook(this);
  installed_ = true;
  set_handle_listener(this);
  listening_ = true;
}

Tracer::~Tracer() {
  if (installed_)
    set_trace_hook(previous_);
  if (listening_)
    set_handle_listener(nullptr);
}

// ---- handles ---------------------------------------------------------------------------------

void Tracer::assigned(Variable *slot, const std::shared_ptr<VariableNode> &old_node,
                      const std::shared_ptr<VariableNode> &new_node) noexcept {
  (void)new_node;
  // Only the user's code: not the library's recorded ops nor the eager backward, which run
  // with the hook taken (TraceScope).
  if (trace_hook() != this || slots_.count(slot))
    return;
  try {
    Slot s;
    if (old_node) {
      s.initial = old_node;
      s.initial_storage = old_node->data.storage();
      s.initial_key = key_of(old_node->data);
      s.was_defined = true;
      if (keep_initial_)
        s.kept = old_node;
    }
    slots_.emplace(slot, std::move(s));
  } catch (...) {
    out_of_memory_ = true;
  }
}

void Tracer::destroyed(const Variable *slot) noexcept {
  slots_.erase(const_cast<Variable *>(slot));
}

void Tracer::node_made(const VariableNode *n) noexcept {
  try {
    nodes_made_.insert(n);
  } catch (...) {
    out_of_memory_ = true;
  }
}

void Tracer::function_made(const Function *f) noexcept {
  try {
    functions_.insert(f);
  } catch (...) {
    out_of_memory_ = true;
  }
}

Tracer *Tracer::recording() { return dynamic_cast<Tracer *>(trace_hook()); }

// ---- values ---------------------------------------------------------------------------------

Tracer::Key Tracer::key_of(const Tensor &t) {
  return Key{t.storage().get(), t.offset(), t.shape(), t.dtype()};
}

int Tracer::lookup(const Tensor &t) const {
  auto it = values_.find(key_of(t));
  if (it == values_.end())
    return -1;
  auto live = it->second.storage.lock();
  return live == t.storage() ? it->second.value : -1;
}

int Tracer::new_value(const Shape &shape, DType dtype) {
  graph_.values.push_back({shape, dtype});
  return int(graph_.values.size()) - 1;
}

void Tracer::bind(const Tensor &t, int value) { values_[key_of(t)] = Entry{t.storage(), value}; }

int Tracer::value_of(const Tensor &t, const std::shared_ptr<VariableNode> &via) {
  if (int v = lookup(t); v >= 0)
    return v;
  // A leaf: state or a constant, decided in finish().
  int v = new_value(t.shape(), t.dtype());
  bind(t, v);
  Leaf leaf{v, t, Tensor(), via, false, {}, {}, {}, false};
  for (const std::weak_ptr<Storage> &r : random_)
    leaf.random = leaf.random || same_owner(r, t.storage());
  if (!via)
    for (const GradRead &g : grad_reads_)
      if (same_owner(g.storage, t.storage()) && g.key == key_of(t)) {
        read_as_gradient(leaf, g.owner);
        break;
      }
  leaf_index_[v] = leaves_.size();
  leaves_.push_back(std::move(leaf));
  return v;
}

void Tracer::grad_read(const Variable &v) {
  const std::shared_ptr<VariableNode> &node = v.node();
  if (!node->grad.defined()) {
    guard_gradient(node, false);
    return;
  }
  const Tensor &g = node->grad.data();
  if (int value = lookup(g); value >= 0) {
    if (auto it = leaf_index_.find(value); it != leaf_index_.end())
      read_as_gradient(leaves_[it->second], node);
    return; // else computed by the trace
  }
  guard_gradient(node, true);
  for (const GradRead &r : grad_reads_)
    if (!r.owner.owner_before(node) && !node.owner_before(r.owner) &&
        same_owner(r.storage, g.storage()) && r.key == key_of(g))
      return;
  grad_reads_.push_back(GradRead{g.storage(), key_of(g), node});
}

void Tracer::guard_gradient(const std::shared_ptr<VariableNode> &node, bool had_grad) {
  auto touched = touched_index_.find(node.get());
  if (touched != touched_index_.end() && touched_[touched->second].grad_assigned)
    return; // the trace set or cleared it itself: the same at every call
  auto arg = std::find(args_.begin(), args_.end(), node.get());
  const int argument = arg == args_.end() ? -1 : int(arg - args_.begin());
  for (const Guard &g : guards_) // one guard per Variable
    if (g.had_grad == had_grad &&
        (argument >= 0 ? g.argument == argument
                       : !g.var.owner_before(node) && !node.owner_before(g.var)))
      return;
  guards_.push_back(Guard{argument < 0 ? node : std::weak_ptr<VariableNode>(), argument, had_grad});
}

void Tracer::read_as_gradient(Leaf &leaf, const std::weak_ptr<VariableNode> &owner) {
  std::shared_ptr<VariableNode> node = owner.lock();
  if (!node || !leaf.var.expired() || !leaf.grad_of.expired())
    return; // a parameter's data, or already read as a gradient
  leaf.grad_of = node;
  // The program reads the gradient, so it needs one: a call where the Variable has none
  // (eagerly, an optimizer skips it) traces again.
  guard_gradient(node, true);
}

int Tracer::emit(const std::string &op, std::vector<int> inputs, const Shape &shape, DType dtype,
                 std::vector<trace::Attr> attrs) {
  int out = new_value(shape, dtype);
  graph_.nodes.push_back(trace::Node{op, std::move(inputs), {out}, std::move(attrs), Tensor()});
  return out;
}

int Tracer::cast_to(int value, DType dtype) {
  const trace::ValueType t = graph_.values[size_t(value)];
  if (t.dtype == dtype)
    return value;
  return emit("cast", {value}, t.shape, dtype, {{"dtype", dtype}});
}

int Tracer::broadcast_to(int value, const Shape &shape) {
  const trace::ValueType t = graph_.values[size_t(value)];
  if (t.shape == shape)
    return value;
  return emit("broadcast_to", {value}, shape, t.dtype, {{"shape", shape}});
}

void Tracer::unsupported(const std::string &what) const {
  throw Error("dz::compile: " + what +
              " cannot be compiled yet (it has no dz op: see docs/ops.md for the ops that "
              "exist); call it outside the compiled function, or run the step eagerly");
}

void Tracer::touch(const Variable &v) {
  const VariableNode *n = v.node().get();
  if (!n || touched_index_.count(n))
    return;
  touched_index_[n] = touched_.size();
  auto arg = std::find(args_.begin(), args_.end(), n);
  touched_.push_back(Touched{v.node(), v.node()->grad,
                             arg == args_.end() ? -1 : int(arg - args_.begin()), false, false});
}

// ---- recording ------------------------------------------------------------------------------

void Tracer::op(const char *op_name, std::initializer_list<const Tensor *> ins, const Tensor &out,
                std::initializer_list<TraceAttr> attrs) {
  const std::string op = op_name;
  if (op == "random") {
    random_.push_back(out.storage());
    return;
  }
  if (op == "identity") {
    bind(out, value_of(**ins.begin()));
    return;
  }
  if (has_no_dz_op(op))
    unsupported("the tensor operation '" + op + "'");
  DType promoted = (*ins.begin())->dtype();
  for (const Tensor *t : ins)
    promoted = promote(promoted, t->dtype());
  std::vector<int> inputs;
  for (const Tensor *t : ins)
    inputs.push_back(
        cast_to(value_of(*t), operand_dtype(op, inputs.size(), t->dtype(), promoted, out.dtype())));
  bind(out, emit(op, std::move(inputs), out.shape(), out.dtype(), to_attrs(attrs)));
}

void Tracer::inplace(const char *op_name, const Tensor &target, const Tensor &operand) {
  const std::string op = op_name;
  const bool assign = op == "assign";
  if (!assign && has_no_dz_op(op))
    unsupported("the in-place tensor operation '" + op + "'");
  // What target holds before the write. An assign does not read it, so it only looks it up.
  const int before = assign ? lookup(target) : value_of(target);
  int result;
  if (assign) {
    result = broadcast_to(cast_to(value_of(operand), target.dtype()), target.shape());
  } else {
    int b = cast_to(value_of(operand), target.dtype());
    result = emit(op, {cast_to(before, target.dtype()), b}, target.shape(), target.dtype());
  }
  written_in_place(before, target, result);
}

void Tracer::inplace_unary(const char *op, const Tensor &target, std::vector<trace::Attr> attrs) {
  const int before = value_of(target);
  written_in_place(before, target,
                   emit(op, {before}, target.shape(), target.dtype(), std::move(attrs)));
}

void Tracer::written_in_place(int before, const Tensor &target, int result) {
  // A leaf overwritten in place keeps its first content (a constant needs it) and is
  // marked, so that state is written back after each call. A tensor the trace has not seen
  // and that is written whole (creation, or an outside buffer reset) becomes such a leaf,
  // so that an outside buffer is written back. The snapshots are not part of the trace.
  TraceScope off;
  if (auto it = leaf_index_.find(before); it != leaf_index_.end()) {
    Leaf &leaf = leaves_[it->second];
    if (!leaf.written) {
      leaf.written = true;
      leaf.initial = target.copy();
    }
  } else if (before < 0) {
    int v = new_value(target.shape(), target.dtype());
    leaf_index_[v] = leaves_.size();
    leaves_.push_back(Leaf{v, target, target.copy(), {}, true, {}, {}, {}, false});
  }
  bind(target, result);
}

void Tracer::host_read(const Tensor &t, const char *what) {
  int v = lookup(t);
  if (v < 0 || leaf_index_.count(v))
    return; // a tensor the trace did not compute: its value is known now
  throw Error(std::string("dz::compile: ") + what +
              " reads a value computed inside the compiled function. Compiled code runs "
              "without the host looking at tensor values, so it cannot print them or branch "
              "on them; return the value from the function and read it after the call");
}

void Tracer::use_parameter(const Variable &p) {
  // A parameter is state from its first use in the trace on, even when the trace itself
  // made its data (a layer creates its weights on the first forward): later calls must
  // read the trained weights, not recompute the initial ones.
  if (!parameters_.insert(p.node().get()).second)
    return;
  const Tensor &data = p.node()->data;
  int v = lookup(data);
  if (v >= 0 && leaf_index_.count(v)) {
    leaves_[leaf_index_[v]].var = p.node();
    return;
  }
  int leaf = new_value(data.shape(), data.dtype());
  bind(data, leaf);
  leaf_index_[leaf] = leaves_.size();
  leaves_.push_back(Leaf{leaf, data, Tensor(), p.node(), false, {}, {}, {}, false});
}

void Tracer::host_input(const Tensor &t, HostRead read, std::string what) {
  const int v = value_of(t);
  auto it = leaf_index_.find(v);
  if (it == leaf_index_.end())
    return; // already computed by the trace: nothing to read from the host
  leaves_[it->second].host = std::move(read);
  leaves_[it->second].host_what = std::move(what);
}

void Tracer::use_inputs(const std::vector<Variable> &inputs) {
  for (const Variable &x : inputs) {
    touch(x);
    if (x.node()->is_param)
      use_parameter(x);
  }
}

void Tracer::record_function(const Function &f, const FunctionTrace &desc,
                             const std::vector<Variable> &inputs,
                             const std::vector<Tensor> &outputs) {
  use_inputs(inputs); // again: the forward may have made parameters
  if (desc.kind == FunctionTrace::Graph) {
    record_graph(f, *desc.graph, inputs, outputs);
    return;
  }
  if (desc.kind == FunctionTrace::Decompose) {
    for (const Tensor &y : outputs)
      if (lookup(y) < 0)
        unsupported("F::" + f.name() +
                    " (its forward uses a tensor operation that is not "
                    "recorded)");
    return;
  }
  if (outputs.size() != 1)
    unsupported("F::" + f.name() + " (a function with several outputs)");
  const Tensor &y = outputs[0];
  DType promoted = inputs.empty() ? y.dtype() : inputs[0].dtype();
  for (const Variable &x : inputs)
    promoted = promote(promoted, x.dtype());
  std::vector<int> ins;
  for (const Variable &x : inputs)
    ins.push_back(cast_to(value_of(x.data(), x.node()),
                          operand_dtype(desc.op, ins.size(), x.dtype(), promoted, y.dtype())));
  for (const Tensor &t : desc.operands)
    ins.push_back(value_of(t));
  std::vector<trace::Attr> attrs;
  for (const TraceAttr &a : desc.attrs) {
    trace::Attr attr{a.name, a.value};
    if (attr.name == "shape") // resolved (reshape's -1)
      attr.value = y.shape();
    if (attr.name == "perm") { // resolved: {} reverses the axes, negative axes count back
      auto perm = std::get<std::vector<int64_t>>(attr.value);
      const int64_t n = inputs[0].ndim();
      if (perm.empty())
        for (int64_t i = n - 1; i >= 0; --i)
          perm.push_back(i);
      for (int64_t &p : perm)
        p = p < 0 ? p + n : p;
      attr.value = perm;
    }
    attrs.push_back(std::move(attr));
  }
  bind(y, emit(desc.op, std::move(ins), y.shape(), y.dtype(), std::move(attrs)));
}

void Tracer::record_graph(const Function &f, const trace::Graph &g,
                          const std::vector<Variable> &inputs, const std::vector<Tensor> &outputs) {
  if (g.arguments.size() != inputs.size() || g.results.size() != outputs.size())
    throw Error("dz::compile: F::" + f.name() + " has " + std::to_string(inputs.size()) +
                " inputs and " + std::to_string(outputs.size()) + " outputs, its graph " +
                std::to_string(g.arguments.size()) + " arguments and " +
                std::to_string(g.results.size()) + " results (a bug in dzc; please report it)");
  std::vector<int> map(g.values.size(), -1);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const trace::ValueType &t = g.values[size_t(g.arguments[i])];
    if (inputs[i].shape() != t.shape)
      throw Error("dz::compile: F::" + f.name() + ": input " + std::to_string(i) + " is " +
                  shape_str(inputs[i].shape()) + ", its graph takes " + shape_str(t.shape));
    map[size_t(g.arguments[i])] = cast_to(value_of(inputs[i].data(), inputs[i].node()), t.dtype);
  }
  for (const trace::Node &n : g.nodes) {
    trace::Node copy{n.op, {}, {}, n.attrs, n.constant};
    for (int v : n.inputs)
      copy.inputs.push_back(map.at(size_t(v)));
    for (int v : n.outputs) {
      const trace::ValueType &t = g.values[size_t(v)];
      map[size_t(v)] = new_value(t.shape, t.dtype);
      copy.outputs.push_back(map[size_t(v)]);
    }
    graph_.nodes.push_back(std::move(copy));
  }
  for (size_t k = 0; k < outputs.size(); ++k)
    bind(outputs[k], map.at(size_t(g.results[k])));
}

void Tracer::set_data(const Variable &v, const Tensor &t) {
  touch(v);
  touched_[touched_index_[v.node().get()]].data_set = true;
}

void Tracer::grad_assigned(const Variable &v) {
  touch(v);
  touched_[touched_index_[v.node().get()]].grad_assigned = true;
}

void Tracer::backward(const Variable &y, BackwardOptions opts) {
  // 1. The variables that backward gives a gradient: the leaves of y's graph (and every
  //    variable with retain_grad), each with its gradient before this backward.
  std::vector<Variable> vars;
  std::unordered_set<const VariableNode *> seen;
  std::unordered_set<const Function *> seen_f;
  std::vector<std::shared_ptr<Function>> stack;
  auto visit = [&](const Variable &v) {
    if (!v.node()->requires_grad || !seen.insert(v.node().get()).second)
      return;
    backward_reached_.insert(v.node().get());
    if (!v.creator() || opts.retain_grad)
      vars.push_back(v);
    if (auto c = v.creator(); c && seen_f.insert(c.get()).second) {
      if (!functions_.count(c.get()))
        throw Error(
            "dz::compile: backward() reaches a graph built before the compiled function was "
            "called: " +
            std::string(v.name().empty() ? "a Variable" : "Variable '" + v.name() + "'") +
            " of shape " + shape_str(v.shape()) + " was computed by F::" + c->name() +
            " outside this call (recurrent state carried across calls keeps the graph of "
            "earlier calls). A compiled call cannot differentiate through earlier calls: cut "
            "the graph at the end of each call (loss.unchain_backward(), as truncated BPTT "
            "does, or h.unchain()), or run the function eagerly");
      stack.push_back(c);
    }
  };
  visit(y);
  while (!stack.empty()) {
    auto f = stack.back();
    stack.pop_back();
    for (const Variable &x : f->inputs())
      visit(x);
  }
  std::vector<Variable> before;
  for (const Variable &v : vars) {
    touch(v);
    before.push_back(v.node()->grad); // not v.grad(): the tracer's own reads are no guards
    // The trace depends on whether v has a gradient here (backward accumulates onto it).
    guard_gradient(v.node(), v.node()->grad.defined());
  }
  // 2. The eager backward, for the values of this first call.
  {
    TraceScope off;
    // Not a backward pass of the job's steps: DataParallel's overlap must not start
    // all-reduces for it (the traced all_reduce_grads() records its own).
    GradientReadyListener *listener = set_gradient_ready_listener(nullptr);
    try {
      run_backward(y, opts);
    } catch (...) {
      set_gradient_ready_listener(listener);
      throw;
    }
    set_gradient_ready_listener(listener);
  }
  // 3. One dz.grad for the variables whose gradient changed.
  std::vector<size_t> changed;
  for (size_t i = 0; i < vars.size(); ++i) {
    const Variable &g = vars[i].node()->grad;
    if (g.defined() && !g.same_node(before[i]))
      changed.push_back(i);
  }
  if (changed.empty())
    return;
  trace::Node grad{"grad", {value_of(y.data(), y.node())}, {}, {}, Tensor()};
  for (size_t i : changed) {
    const Variable &x = vars[i];
    grad.inputs.push_back(value_of(x.data(), x.node()));
    grad.outputs.push_back(new_value(x.shape(), x.dtype()));
  }
  graph_.nodes.push_back(grad);
  for (size_t k = 0; k < changed.size(); ++k) {
    const Variable &x = vars[changed[k]];
    int g = grad.outputs[k];
    const Variable &old = before[changed[k]];
    if (old.defined()) { // gradients accumulate, as in eager mode
      int ov = lookup(old.data());
      if (ov < 0) { // a gradient from before the trace: read from the Variable at each call
        ov = value_of(old.data());
        leaves_[leaf_index_[ov]].grad_of = x.node();
      }
      g = emit("add", {cast_to(ov, x.dtype()), g}, x.shape(), x.dtype());
    }
    Tensor gt = x.node()->grad.data();
    g = cast_to(g, gt.dtype());
    bind(gt, g);
  }
}

// ---- the end of the trace -------------------------------------------------------------------

TraceResult Tracer::finish(std::vector<Variable> &&outputs) {
  set_trace_hook(previous_);
  installed_ = false;
  set_handle_listener(nullptr);
  listening_ = false;
  if (out_of_memory_)
    throw Error("dz::compile: out of memory while recording the Variables the function "
                "rebinds");
  TraceResult r;

  // 1. The function's outputs; then their Variables (and the graphs they hold) are dropped,
  //    so that what is still alive afterwards is alive outside the trace.
  for (const Variable &y : outputs) {
    graph_.results.push_back(value_of(y.data()));
    r.outputs.push_back(y.data());
  }
  r.num_outputs = outputs.size();
  outputs.clear();

  // 2. Variables that outlive the trace and whose gradient or data it reassigned.
  for (const Touched &t : touched_) {
    std::shared_ptr<VariableNode> node = t.node.lock();
    if (!node)
      continue;
    WriteBack wb{WriteBack::SetGrad, -1, 0, t.argument,
                 t.argument < 0 ? t.node : std::weak_ptr<VariableNode>()};
    if (!node->grad.same_node(t.grad_before)) {
      if (node->grad.defined()) {
        wb.result = int(graph_.results.size());
        graph_.results.push_back(value_of(node->grad.data()));
      } else {
        wb.kind = WriteBack::ClearGrad;
      }
      r.write_backs.push_back(wb);
    }
    if (t.data_set && t.argument < 0) {
      wb.kind = WriteBack::SetData;
      wb.result = int(graph_.results.size());
      graph_.results.push_back(value_of(node->data));
      r.write_backs.push_back(wb);
    }
  }

  // 3. Handles that outlive the trace and that it rebound: rebound after each call. A
  //    Parameter made in the trace is a layer's lazy initialisation (later calls find it
  //    made): it is state, not rebound.
  struct SlotState {
    const Slot *slot;
    std::shared_ptr<SlotWatch> watch;
  };
  std::vector<SlotState> rebound;
  for (auto &[handle, slot] : slots_) {
    const std::shared_ptr<VariableNode> &now = handle->node();
    std::shared_ptr<VariableNode> initial = slot.initial.lock();
    if (slot.was_defined ? (initial && now == initial) : !now)
      continue; // holds what it held
    if (now && now->is_param)
      continue;
    if (now && now->creator && now->requires_grad && Config::enable_backprop() &&
        slot.was_defined && backward_reached_.count(initial.get()))
      throw Error(
          "dz::compile: the function rebinds a Variable that outlives it to a value with a "
          "graph (" +
          shape_str(now->data.shape()) +
          ", e.g. recurrent state), and its backward() reached the value that Variable held "
          "before: eagerly, the next call's backward() would go on into this call's graph, "
          "which a compiled call cannot do. Cut the graph at the end of each call "
          "(loss.unchain_backward(), as truncated BPTT does), or run the function eagerly");
    Rebinding rb;
    rb.watch = std::make_shared<SlotWatch>(handle);
    rb.was_defined = slot.was_defined;
    if (now) {
      if (int v = lookup(now->data); v >= 0) {
        rb.result = int(graph_.results.size());
        graph_.results.push_back(v);
      } else {
        rb.node = now; // a Variable the trace did not compute (another one outside)
      }
    }
    rebound.push_back({&slot, rb.watch});
    if (keep_initial_)
      r.initial_bindings.emplace_back(handle, slot.kept);
    r.rebindings.push_back(std::move(rb));
  }
  auto slot_of = [&](const Tensor &t) -> std::shared_ptr<SlotWatch> {
    for (const SlotState &s : rebound) {
      if (s.slot->was_defined && same_owner(s.slot->initial_storage, t.storage()) &&
          key_of(t) == s.slot->initial_key)
        return s.watch;
    }
    return nullptr;
  };

  // 4. Leaves: state when something outside the trace still holds them (or a handle the
  //    trace rebinds held them, or the host makes them), else constants.
  std::unordered_map<const void *, long> held;
  for (const Leaf &leaf : leaves_)
    ++held[leaf.tensor.storage().get()];
  for (const Tensor &t : r.outputs)
    ++held[t.storage().get()];
  std::vector<trace::Node> constants;
  for (const Leaf &leaf : leaves_) {
    const auto &storage = leaf.tensor.storage();
    const bool alive_outside = storage && storage.use_count() > held[storage.get()];
    std::shared_ptr<SlotWatch> slot = slot_of(leaf.tensor);
    if (alive_outside || leaf.var.lock() || leaf.grad_of.lock() || slot || leaf.host) {
      graph_.arguments.push_back(leaf.value);
      StateBinding b;
      b.var = leaf.var;
      b.tensor = leaf.tensor;
      b.grad_of = leaf.grad_of;
      b.shape = leaf.tensor.shape();
      b.dtype = leaf.tensor.dtype();
      if (slot) {
        b.slot = slot;
        b.what = "the Variable the function rebinds (" + shape_str(b.shape) + ")";
      } else if (leaf.host) {
        b.host = leaf.host;
        b.what = leaf.host_what;
      } else if (Generator *gen = rng_generator_of(leaf.tensor)) {
        b.rng = gen;
        if (leaf.written) // the counters this trace drew: its (seed, offset) moved by that
          b.rng_draws = uint64_t(leaf.tensor.data<int64_t>()[1] - leaf.initial.data<int64_t>()[1]);
        b.what = "the random generator's state";
      } else if (auto var = leaf.var.lock()) {
        // A Variable from before the trace (a parameter, a captured Variable): when it is
        // gone at a call, the handle that held it was rebound or destroyed.
        b.by_var = !nodes_made_.count(var.get());
        b.what = var->is_param ? "parameter" : "Variable";
        if (!var->name.empty())
          b.what += " '" + var->name + "'";
      } else {
        b.what =
            leaf.grad_of.lock() ? "a gradient from before the call" : "a tensor read from outside";
      }
      r.state.push_back(std::move(b));
      if (leaf.written) {
        int final_value = lookup(leaf.tensor);
        if (final_value != leaf.value) {
          r.write_backs.push_back(WriteBack{
              WriteBack::CopyIntoState, int(graph_.results.size()), r.state.size() - 1, -1, {}});
          graph_.results.push_back(final_value);
        }
      }
    } else {
      constants.push_back(
          trace::Node{"constant", {}, {leaf.value}, {}, leaf.written ? leaf.initial : leaf.tensor});
    }
  }
  graph_.nodes.insert(graph_.nodes.begin(), constants.begin(), constants.end());

  // 5. A constant drawn from a Generator in the trace that the results depend on: eagerly,
  //    every call would draw other numbers. (A layer's lazily drawn initial weights are
  //    not: later calls read the parameter, which is state.)
  std::vector<bool> live(graph_.values.size(), false);
  for (int v : graph_.results)
    live[size_t(v)] = true;
  for (auto it = graph_.nodes.rbegin(); it != graph_.nodes.rend(); ++it)
    if (std::any_of(it->outputs.begin(), it->outputs.end(), [&](int v) { return live[size_t(v)]; }))
      for (int v : it->inputs)
        live[size_t(v)] = true;
  for (const trace::Node &c : constants)
    if (auto li = leaf_index_.find(c.outputs[0]);
        li != leaf_index_.end() && leaves_[li->second].random && live[size_t(c.outputs[0])])
      throw Error("dz::compile: the function draws random numbers (dz::rand, randn or uniform "
                  "from a Generator) and computes its results from them; a compiled program "
                  "would keep the first call's numbers, where the eager function draws new "
                  "ones at every call. Draw them outside and pass them in as an argument, or "
                  "use F::dropout, whose masks are drawn at every call (or pass a seed: "
                  "dz::randn(shape, dtype, seed) gives the same numbers every time)");
  r.guards = std::move(guards_);
  r.graph = std::move(graph_);
  leaves_.clear();
  values_.clear();
  touched_.clear();
  return r;
}

} // namespace dz::detail
