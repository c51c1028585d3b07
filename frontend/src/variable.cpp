// variable.cpp - Variable, Function::apply, the backward engine (generation order, each
// function once, out-of-place accumulation), Config and the arithmetic operators.
#include "gradient_ready.h"
#include "rebinding.h"
#include "tracer.h"
#include <dzc/functions.h>

#include <algorithm>
#include <ostream>
#include <queue>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace dz {

namespace F = functions;

// ---- Config -------------------------------------------------------------------------------

namespace {
// Per thread, as PyTorch's grad mode: a guard or a backward pass in one thread never
// changes what another thread records. Every thread starts from these defaults.
thread_local bool g_enable_backprop = true;
thread_local bool g_train = true;

bool *config_slot(const std::string &name) {
  if (name == "enable_backprop")
    return &g_enable_backprop;
  if (name == "train")
    return &g_train;
  throw Error("using_config: unknown setting '" + name + "' (valid: 'enable_backprop', 'train')");
}
} // namespace

bool Config::enable_backprop() { return g_enable_backprop; }
bool Config::train() { return g_train; }
void Config::set_enable_backprop(bool v) { g_enable_backprop = v; }
void Config::set_train(bool v) { g_train = v; }

UsingConfig::UsingConfig(const std::string &name, bool value) : slot_(config_slot(name)) {
  old_ = *slot_;
  *slot_ = value;
}
UsingConfig::~UsingConfig() { *slot_ = old_; }

// ---- Variable -------------------------------------------------------------------------------

namespace {
const VariableNode &checked(const std::shared_ptr<VariableNode> &n, const char *what) {
  if (!n)
    throw Error(std::string(what) + ": the Variable is null (default-constructed)");
  return *n;
}
} // namespace

Variable::Variable(Tensor data, std::string name)
    : node_(std::make_shared<VariableNode>(std::move(data), std::move(name))) {
  if (detail::handle_watchers.load(std::memory_order_relaxed))
    if (detail::HandleListener *l = detail::handle_listener())
      l->node_made(node_.get());
}

Variable::~Variable() {
  if (detail::handle_watchers.load(std::memory_order_relaxed)) [[unlikely]]
    detail::handle_destroyed(this);
}

Variable Variable::constant(const Tensor &data) {
  Variable v(data);
  v.node_->requires_grad = false;
  return v;
}

Parameter::Parameter(const Tensor &data, std::string name) : Variable(data, std::move(name)) {
  node()->is_param = true;
}

const Tensor &Variable::data() const { return checked(node_, "Variable::data").data; }
void Variable::set_data(const Tensor &t) {
  checked(node_, "Variable::set_data");
  if (auto *tracer = detail::Tracer::recording())
    tracer->set_data(*this, t);
  node_->data = t;
}
const std::string &Variable::name() const { return checked(node_, "Variable::name").name; }
void Variable::set_name(std::string name) {
  checked(node_, "Variable::set_name");
  node_->name = std::move(name);
}
bool Variable::has_grad() const {
  if (!node_)
    return false;
  if (auto *tracer = detail::Tracer::recording())
    tracer->grad_read(*this);
  return node_->grad.defined();
}
Variable Variable::grad() const {
  if (!node_)
    return Variable();
  if (auto *tracer = detail::Tracer::recording())
    tracer->grad_read(*this);
  return node_->grad;
}
void Variable::set_grad(const Variable &g) {
  checked(node_, "Variable::set_grad");
  if (auto *tracer = detail::Tracer::recording())
    tracer->grad_assigned(*this);
  detail::QuietAssignments quiet;
  node_->grad = g;
}
void Variable::cleargrad() {
  if (auto *tracer = detail::Tracer::recording(); tracer && node_)
    tracer->grad_assigned(*this);
  detail::QuietAssignments quiet;
  if (node_)
    node_->grad = Variable();
}
std::shared_ptr<Function> Variable::creator() const { return node_ ? node_->creator : nullptr; }
void Variable::set_creator(const std::shared_ptr<Function> &f) {
  checked(node_, "Variable::set_creator");
  node_->creator = f;
  node_->generation = f ? f->generation() + 1 : 0;
}
int Variable::generation() const { return node_ ? node_->generation : 0; }

void Variable::backward(BackwardOptions opts) const {
  checked(node_, "backward");
  if (auto *tracer = detail::Tracer::recording())
    tracer->backward(*this, opts);
  else
    detail::run_backward(*this, opts);
}

namespace {
thread_local detail::GradientReadyListener *tl_gradient_ready = nullptr;
} // namespace

detail::GradientReadyListener *
detail::set_gradient_ready_listener(GradientReadyListener *listener) {
  GradientReadyListener *previous = tl_gradient_ready;
  tl_gradient_ready = listener;
  return previous;
}
detail::GradientReadyListener *detail::gradient_ready_listener() { return tl_gradient_ready; }

void detail::run_backward(const Variable &y, BackwardOptions opts) {
  const std::shared_ptr<VariableNode> &node_ = y.node();
  // With a listener: how many functions of the graph read each leaf that needs a
  // gradient; the leaf's gradient is final when the last of them has run its backward.
  GradientReadyListener *const listener = tl_gradient_ready;
  std::unordered_map<const VariableNode *, int> pending;
  if (listener && node_->creator) {
    std::vector<const Function *> stack{node_->creator.get()};
    std::unordered_set<const Function *> reached{node_->creator.get()};
    while (!stack.empty()) {
      const Function *f = stack.back();
      stack.pop_back();
      for (const Variable &x : f->inputs()) {
        if (!x.node()->requires_grad)
          continue;
        if (std::shared_ptr<Function> c = x.creator()) {
          if (reached.insert(c.get()).second)
            stack.push_back(c.get());
        } else {
          ++pending[x.node().get()];
        }
      }
    }
  }
  if (!node_->grad.defined()) {
    node_->grad = Variable::constant(ones_like(node_->data));
  }
  auto later = [](const std::shared_ptr<Function> &a, const std::shared_ptr<Function> &b) {
    return a->generation() < b->generation();
  };
  std::priority_queue<std::shared_ptr<Function>, std::vector<std::shared_ptr<Function>>,
                      decltype(later)>
      funcs(later);
  std::unordered_set<const Function *> seen;
  auto add_func = [&](const std::shared_ptr<Function> &f) {
    if (f && seen.insert(f.get()).second)
      funcs.push(f);
  };
  add_func(node_->creator);

  while (!funcs.empty()) {
    std::shared_ptr<Function> f = funcs.top();
    funcs.pop();
    std::vector<Variable> outputs(f->num_outputs()), gys(f->num_outputs());
    for (size_t i = 0; i < outputs.size(); ++i) {
      outputs[i] = f->output(i);
      if (outputs[i].defined())
        gys[i] = outputs[i].grad();
    }
    {
      UsingConfig cfg("enable_backprop", opts.create_graph);
      std::vector<Variable> gxs = f->backward(gys);
      const auto &inputs = f->inputs();
      if (gxs.size() != inputs.size())
        throw Error("internal: backward of " + f->name() + " returned " +
                    std::to_string(gxs.size()) + " gradients for " + std::to_string(inputs.size()) +
                    " inputs");
      for (size_t i = 0; i < inputs.size(); ++i) {
        const Variable &x = inputs[i];
        const Variable &gx = gxs[i];
        if (!gx.defined() || !x.node()->requires_grad)
          continue;
        if (gx.shape() != x.shape())
          throw Error("internal: backward of " + f->name() + " gave a gradient of shape " +
                      shape_str(gx.shape()) + " for input " + std::to_string(i) + " of shape " +
                      shape_str(x.shape()));
        // Out of place, so a gradient shared with another variable is never modified.
        x.node()->grad = x.has_grad() ? x.grad() + gx : gx;
        add_func(x.creator());
      }
      if (listener)
        for (const Variable &x : inputs)
          if (auto it = pending.find(x.node().get()); it != pending.end() && --it->second == 0)
            listener->gradient_ready(x.node());
    }
    if (!opts.retain_grad)
      for (auto &y : outputs)
        if (y.defined())
          y.node()->grad = Variable();
  }
}

void Variable::unchain() const {
  if (node_) {
    node_->creator = nullptr;
  }
}

void Variable::unchain_backward() const {
  if (!node_ || !node_->creator)
    return;
  std::vector<std::shared_ptr<Function>> funcs{node_->creator};
  std::unordered_set<const Function *> seen{node_->creator.get()};
  while (!funcs.empty()) {
    auto f = funcs.back();
    funcs.pop_back();
    for (const Variable &x : f->inputs()) {
      if (auto c = x.creator(); c && seen.insert(c.get()).second)
        funcs.push_back(c);
      x.unchain();
    }
  }
}

Variable Variable::reshape(const Shape &shape) const { return F::reshape(*this, shape); }
Variable Variable::transpose(std::vector<int64_t> axes) const {
  return F::transpose(*this, std::move(axes));
}
Variable Variable::sum(std::vector<int64_t> axes, bool keepdims) const {
  return F::sum(*this, std::move(axes), keepdims);
}
Variable Variable::max(std::vector<int64_t> axes, bool keepdims) const {
  return F::max(*this, std::move(axes), keepdims);
}
Variable Variable::min(std::vector<int64_t> axes, bool keepdims) const {
  return F::min(*this, std::move(axes), keepdims);
}
Variable Variable::matmul(const Variable &o) const { return F::matmul(*this, o); }
Variable Variable::pow(double c) const { return F::pow(*this, c); }
Variable Variable::operator[](const IndexList &index) const { return F::get_item(*this, index); }
Variable Variable::to(Device dev) const {
  if (dev == device())
    return *this;
  return Variable(data().to(dev), name());
}

// ---- Function ---------------------------------------------------------------------------------

Variable Function::output(size_t i) const {
  if (i >= outputs_.size())
    return Variable();
  return Variable(outputs_[i].lock());
}

bool Function::needs_input_grad(size_t i) const {
  const Variable &x = inputs_.at(i);
  if (!x.node()->requires_grad)
    return false;
  return x.creator() != nullptr || x.node().use_count() > 1;
}

std::vector<Variable> Function::apply(std::vector<Variable> inputs) {
  std::vector<Tensor> xs;
  xs.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined())
      throw Error(name() + ": input " + std::to_string(i) + " is a null Variable");
    xs.push_back(inputs[i].data());
  }
  std::vector<Tensor> ys;
  if (auto *tracer = detail::Tracer::recording()) {
    tracer->use_inputs(inputs);
    FunctionTrace desc = trace();
    if (desc.kind == FunctionTrace::Unsupported)
      throw Error("dz::compile: F::" + name() +
                  " cannot be compiled yet (no dz op in docs/ops.md); call it outside the "
                  "compiled function, or run the step eagerly");
    if (desc.kind == FunctionTrace::Op || desc.kind == FunctionTrace::Graph) {
      TraceScope off; // recorded whole: its tensor operations are not
      ys = forward(xs);
    } else {
      ys = forward(xs);
    }
    tracer->record_function(*this, desc, inputs, ys);
  } else {
    ys = forward(xs);
  }
  std::vector<Variable> outputs;
  outputs.reserve(ys.size());
  for (auto &y : ys)
    outputs.emplace_back(y);
  if (Config::enable_backprop()) {
    generation_ = 0;
    for (const auto &x : inputs)
      generation_ = std::max(generation_, x.generation());
    auto self = shared_from_this();
    if (detail::handle_watchers.load(std::memory_order_relaxed))
      if (detail::HandleListener *l = detail::handle_listener())
        l->function_made(this);
    for (auto &y : outputs) {
      y.set_creator(self);
      outputs_.push_back(y.node());
    }
    inputs_ = std::move(inputs);
  }
  return outputs;
}

// ---- operators -------------------------------------------------------------------------------

namespace {
/// A Python scalar next to a Variable: a constant of the Variable's float dtype.
Variable scalar_for(const Variable &x, double v) {
  return Variable::constant(Tensor::scalar(v, is_floating(x.dtype()) ? x.dtype() : f64));
}
} // namespace

Variable operator+(const Variable &a, const Variable &b) { return F::add(a, b); }
Variable operator-(const Variable &a, const Variable &b) { return F::sub(a, b); }
Variable operator*(const Variable &a, const Variable &b) { return F::mul(a, b); }
Variable operator/(const Variable &a, const Variable &b) { return F::div(a, b); }
Variable operator-(const Variable &a) { return F::neg(a); }
Variable operator+(const Variable &a, double b) { return F::add(a, scalar_for(a, b)); }
Variable operator-(const Variable &a, double b) { return F::sub(a, scalar_for(a, b)); }
Variable operator*(const Variable &a, double b) { return F::mul(a, scalar_for(a, b)); }
Variable operator/(const Variable &a, double b) { return F::div(a, scalar_for(a, b)); }
Variable operator+(double a, const Variable &b) { return F::add(scalar_for(b, a), b); }
Variable operator-(double a, const Variable &b) { return F::sub(scalar_for(b, a), b); }
Variable operator*(double a, const Variable &b) { return F::mul(scalar_for(b, a), b); }
Variable operator/(double a, const Variable &b) { return F::div(scalar_for(b, a), b); }
Variable pow(const Variable &x, double c) { return F::pow(x, c); }

std::ostream &operator<<(std::ostream &os, const Variable &v) {
  if (!v.defined())
    return os << "variable(None)";
  std::string s = to_string(v.data());
  std::string out;
  for (char c : s) {
    out += c;
    if (c == '\n')
      out += std::string(9, ' ');
  }
  return os << "variable(" << out << ")";
}

} // namespace dz
