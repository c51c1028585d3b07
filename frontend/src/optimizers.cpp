// optimizers.cpp - the Optimizer driver (collect, hooks, update_one), DeZero's five update
// rules written with in-place Tensor arithmetic, and the three gradient hooks.
#include <dzc/optimizers.h>

#include "tracer.h"

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

Tensor Optimizer::hyper(const Tensor &like, const char *what, std::function<double()> value) const {
  const DType dt = is_floating(like.dtype()) ? like.dtype() : f64;
  const double v0 = value();
  Tensor t = Tensor::scalar(v0, dt);
  if (auto *tracer = detail::Tracer::recording())
    tracer->host_input(
        t,
        // The value of the last call is kept: a learning rate changes rarely, and a compiled
        // step reads it at every call.
        [alive = std::weak_ptr<const int>(alive_), value = std::move(value), dt,
         last = std::make_shared<std::pair<double, Tensor>>(v0, Tensor::scalar(v0, dt))]() {
          if (alive.expired())
            return Tensor();
          const double v = value();
          if (!(v == last->first)) // a NaN is never equal: read anew
            *last = {v, Tensor::scalar(v, dt)};
          return last->second;
        },
        what);
  return t;
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
  const Tensor grad = grad_of(param);
  w -= hyper(grad, "SGD's lr", [this] { return lr; }) * grad;
}

void MomentumSGD::update_one(const Parameter &param) {
  Tensor &v = vs_.get(param);
  const Tensor grad = grad_of(param);
  v *= hyper(v, "MomentumSGD's momentum", [this] { return momentum; });
  v -= hyper(grad, "MomentumSGD's lr", [this] { return lr; }) * grad;
  Tensor w = param.data();
  w += v;
}

void AdaGrad::update_one(const Parameter &param) {
  const Tensor grad = grad_of(param);
  Tensor &h = hs_.get(param);
  h += grad * grad;
  Tensor w = param.data();
  w -= hyper(grad, "AdaGrad's lr", [this] { return lr; }) * grad /
       (sqrt(h) + hyper(h, "AdaGrad's eps", [this] { return eps; }));
}

void AdaDelta::update_one(const Parameter &param) {
  const Tensor grad = grad_of(param);
  Tensor &msg = msg_.get(param);
  Tensor &msdx = msdx_.get(param);
  const Tensor rho_t = hyper(msg, "AdaDelta's rho", [this] { return rho; });
  const Tensor one_minus_rho = hyper(grad, "AdaDelta's 1 - rho", [this] { return 1 - rho; });
  const Tensor eps_t = hyper(msdx, "AdaDelta's eps", [this] { return eps; });
  msg *= rho_t;
  msg += one_minus_rho * grad * grad;
  const Tensor dx = sqrt((msdx + eps_t) / (msg + eps_t)) * grad;
  msdx *= rho_t;
  msdx += one_minus_rho * dx * dx;
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
  const Tensor fix1 =
      1.0 - exp(t_ * hyper(t_, "Adam's log(beta1)", [this] { return std::log(beta1); }));
  const Tensor fix2 =
      1.0 - exp(t_ * hyper(t_, "Adam's log(beta2)", [this] { return std::log(beta2); }));
  lr_t_ = hyper(fix2, "Adam's alpha", [this] { return alpha; }) * sqrt(fix2) / fix1;
}

void Adam::update_one(const Parameter &param) {
  const Tensor grad = grad_of(param);
  Tensor &m = ms_.get(param);
  Tensor &v = vs_.get(param);
  m += hyper(grad, "Adam's 1 - beta1", [this] { return 1 - beta1; }) * (grad - m);
  v += hyper(grad, "Adam's 1 - beta2", [this] { return 1 - beta2; }) * (grad * grad - v);
  Tensor w = param.data();
  w -= lr_t_.to(w.dtype()) * m / (sqrt(v) + hyper(v, "Adam's eps", [this] { return eps; }));
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
