// optimizers.cpp - the Optimizer driver (collect, hooks, update_one), DeZero's five update
// rules written with in-place Tensor arithmetic, and the three gradient hooks.
#include <dzc/optimizers.h>

#include <cmath>
#include <unordered_set>

namespace dz::optimizers {

// ---- Optimizer ------------------------------------------------------------------------------

Optimizer &Optimizer::setup(std::vector<Parameter> params) {
  source_ = param_source(std::move(params));
  return *this;
}

Optimizer &Optimizer::add_hook(Hook f) {
  if (!f)
    throw Error("Optimizer::add_hook: the hook is empty");
  hooks_.push_back(std::move(f));
  return *this;
}

std::vector<Parameter> Optimizer::target_params() const {
  if (!source_)
    throw Error("Optimizer: no target; call setup(model) or setup({params...}) before update()");
  return source_();
}

void Optimizer::update() {
  // 1. The parameters with a gradient, each once (a layer may register one twice).
  std::vector<Parameter> params;
  std::unordered_set<const VariableNode *> seen;
  for (const Parameter &p : target_params())
    if (p.defined() && p.has_grad() && seen.insert(p.node().get()).second)
      params.push_back(p);
  // 2. Hooks, in the order they were added; 3. one step per parameter still with a grad.
  NoGrad no_grad;
  for (const Hook &hook : hooks_)
    hook(params);
  begin_update();
  for (const Parameter &p : params)
    if (p.has_grad())
      update_one(p);
}

Tensor Optimizer::grad_of(const Parameter &param) {
  const Tensor &g = param.grad().data();
  if (g.shape() != param.shape())
    throw Error("Optimizer: the gradient of parameter '" + param.name() + "' has shape " +
                shape_str(g.shape()) + " but the parameter has shape " + shape_str(param.shape()));
  return g.to(param.dtype());
}

Tensor &Optimizer::State::get(const Parameter &param) {
  auto [it, inserted] = entries_.try_emplace(param.node().get());
  if (inserted)
    it->second = Entry{param.node(), zeros_like(param.data())};
  return it->second.value;
}

// ---- update rules (DeZero's, line for line) -------------------------------------------------

void SGD::update_one(const Parameter &param) {
  Tensor w = param.data();
  w -= lr * grad_of(param);
}

void MomentumSGD::update_one(const Parameter &param) {
  Tensor &v = vs_.get(param);
  v *= momentum;
  v -= lr * grad_of(param);
  Tensor w = param.data();
  w += v;
}

void AdaGrad::update_one(const Parameter &param) {
  const Tensor grad = grad_of(param);
  Tensor &h = hs_.get(param);
  h += grad * grad;
  Tensor w = param.data();
  w -= lr * grad / (sqrt(h) + eps);
}

void AdaDelta::update_one(const Parameter &param) {
  const Tensor grad = grad_of(param);
  Tensor &msg = msg_.get(param);
  Tensor &msdx = msdx_.get(param);
  msg *= rho;
  msg += (1 - rho) * grad * grad;
  const Tensor dx = sqrt((msdx + eps) / (msg + eps)) * grad;
  msdx *= rho;
  msdx += (1 - rho) * dx * dx;
  Tensor w = param.data();
  w -= dx;
}

double Adam::lr() const {
  const double t = t_.item<double>();
  const double fix1 = 1.0 - std::pow(beta1, t);
  const double fix2 = 1.0 - std::pow(beta2, t);
  return alpha * std::sqrt(fix2) / fix1;
}

void Adam::begin_update() {
  // The step counter and the step size are tensors, not host numbers: a compiled step
  // must not bake in the t of the step it was traced at. beta^t = exp(t log beta).
  t_ += 1.0;
  const Tensor fix1 = 1.0 - exp(t_ * std::log(beta1));
  const Tensor fix2 = 1.0 - exp(t_ * std::log(beta2));
  lr_t_ = alpha * sqrt(fix2) / fix1;
}

void Adam::update_one(const Parameter &param) {
  const Tensor grad = grad_of(param);
  Tensor &m = ms_.get(param);
  Tensor &v = vs_.get(param);
  m += (1 - beta1) * (grad - m);
  v += (1 - beta2) * (grad * grad - v);
  Tensor w = param.data();
  w -= lr_t_.to(w.dtype()) * m / (sqrt(v) + eps);
}

// ---- hooks ----------------------------------------------------------------------------------
// Gradients are replaced rather than changed in place: backward may hand the same gradient
// tensor to several parameters (the two inputs of an add), and an in-place change would
// apply twice.

void WeightDecay::operator()(std::vector<Parameter> &params) const {
  for (Parameter &p : params)
    if (p.has_grad())
      p.set_grad(Variable(p.grad().data() + rate_ * p.data().to(p.grad().dtype())));
}

void ClipGrad::operator()(std::vector<Parameter> &params) const {
  double total = 0;
  for (const Parameter &p : params)
    if (p.has_grad())
      total += square(p.grad().data()).sum().item_double();
  const double rate = max_norm_ / (std::sqrt(total) + 1e-6);
  if (rate >= 1)
    return;
  for (Parameter &p : params)
    if (p.has_grad())
      p.set_grad(Variable(p.grad().data() * rate));
}

void FreezeParam::operator()(std::vector<Parameter> &params) const {
  std::unordered_set<const VariableNode *> frozen;
  for (const ParamSource &source : sources_)
    for (Parameter &p : source())
      if (p.defined()) {
        p.cleargrad();
        frozen.insert(p.node().get());
      }
  std::erase_if(params, [&](const Parameter &p) { return frozen.count(p.node().get()) > 0; });
}

} // namespace dz::optimizers
