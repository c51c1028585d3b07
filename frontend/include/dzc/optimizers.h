// dzc/optimizers.h - DeZero's optimizers (SGD, MomentumSGD, AdaGrad, AdaDelta, Adam) and
// their gradient hooks (WeightDecay, ClipGrad, FreezeParam).
//
//   O::Adam opt(0.001);
//   opt.setup(model);                       // keeps a copy of the handle: params() per update
//   opt.add_hook(O::WeightDecay(1e-4));
//   loss.backward(); opt.update();          // parameters' tensors change in place
//
// update() collects the target's parameters that have a gradient (each once), runs the
// hooks on that list (a hook may change gradients or drop parameters from the list), then
// calls update_one on every parameter that still has a gradient. Updates write into the
// parameter's tensor, so every handle of the parameter (and every tensor sharing its
// storage) sees the new values. Per-parameter state (momentum, moments) is keyed by the
// parameter's node and keeps that node alive as long as the optimizer.
#pragma once

#include <dzc/variable.h>

#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

namespace dz::optimizers {

/// Anything with `params()` returning the parameters to train (dz::Layer, dz::Model, ...).
template <typename T>
concept HasParams = requires(T &t) {
  { t.params() } -> std::convertible_to<std::vector<Parameter>>;
};

/// Produces the current parameter list of a target each time it is called.
using ParamSource = std::function<std::vector<Parameter>()>;

/// A source over a copy of `target`'s handle (copies of layers share their state, so the
/// copy sees parameters created later, e.g. by a lazily initialised Linear).
template <HasParams T> ParamSource param_source(const T &target) {
  return [t = target]() mutable { return std::vector<Parameter>(t.params()); };
}
inline ParamSource param_source(std::vector<Parameter> params) {
  return [ps = std::move(params)]() { return ps; };
}

/// A hook sees the parameters about to be updated; it may change their gradients
/// (set_grad) or remove entries from the list.
using Hook = std::function<void(std::vector<Parameter> &)>;

class Optimizer {
public:
  Optimizer() = default;
  Optimizer(const Optimizer &o) : source_(o.source_), hooks_(o.hooks_) {}
  Optimizer &operator=(const Optimizer &o) {
    source_ = o.source_;
    hooks_ = o.hooks_;
    return *this;
  }
  virtual ~Optimizer() = default;

  /// Trains the parameters of `target` (a layer or model); returns *this.
  template <HasParams T> Optimizer &setup(const T &target) {
    source_ = param_source(target);
    return *this;
  }
  /// Trains a fixed list of parameters (no layer needed).
  Optimizer &setup(std::vector<Parameter> params);

  /// One step over every parameter of the target that has a gradient.
  void update();
  Optimizer &add_hook(Hook f);

  /// The target's parameters that update() would consider now (before the grad filter).
  std::vector<Parameter> target_params() const;

protected:
  /// Runs once per update() before any update_one (Adam advances its step count here).
  virtual void begin_update() {}
  /// Updates one parameter from its gradient, in place and without recording a graph.
  virtual void update_one(const Parameter &param) = 0;

  /// The gradient's tensor in the parameter's dtype.
  static Tensor grad_of(const Parameter &param);

  /// A hyperparameter next to tensor `like`, as `value() * like` would make it: a 0-d
  /// tensor of like's dtype. Inside dz::compile it is an input of the program that is read
  /// again (value() called) at every call, so a schedule that changes `lr` between calls
  /// is honoured without tracing again. `what` names it in messages ("SGD's lr").
  Tensor hyper(const Tensor &like, const char *what, std::function<double()> value) const;

  /// Per-parameter tensors, created as zeros like the parameter on first use.
  class State {
  public:
    Tensor &get(const Parameter &param);
    size_t size() const { return entries_.size(); }

  private:
    struct Entry {
      std::shared_ptr<VariableNode> node; // keeps the key's address from being reused
      Tensor value;
    };
    std::unordered_map<const VariableNode *, Entry> entries_;
  };

private:
  ParamSource source_;
  std::vector<Hook> hooks_;
  // Expires with this object (a copy or a move gets its own): a compiled program that
  // reads this optimizer's hyperparameters sees that it is gone.
  std::shared_ptr<const int> alive_ = std::make_shared<const int>(0);
};

/// param -= lr * grad
class SGD : public Optimizer {
public:
  explicit SGD(double lr = 0.01) : lr(lr) {}
  double lr;

protected:
  void update_one(const Parameter &param) override;
};

/// v = momentum * v - lr * grad;  param += v
class MomentumSGD : public Optimizer {
public:
  explicit MomentumSGD(double lr = 0.01, double momentum = 0.9) : lr(lr), momentum(momentum) {}
  double lr, momentum;

protected:
  void update_one(const Parameter &param) override;

private:
  State vs_;
};

/// h += grad^2;  param -= lr * grad / (sqrt(h) + eps)
class AdaGrad : public Optimizer {
public:
  explicit AdaGrad(double lr = 0.001, double eps = 1e-8) : lr(lr), eps(eps) {}
  double lr, eps;

protected:
  void update_one(const Parameter &param) override;

private:
  State hs_;
};

/// msg = rho msg + (1-rho) grad^2;  dx = sqrt((msdx + eps) / (msg + eps)) * grad;
/// msdx = rho msdx + (1-rho) dx^2;  param -= dx
class AdaDelta : public Optimizer {
public:
  explicit AdaDelta(double rho = 0.95, double eps = 1e-6) : rho(rho), eps(eps) {}
  double rho, eps;

protected:
  void update_one(const Parameter &param) override;

private:
  State msg_, msdx_;
};

/// t += 1 per update();  m += (1-beta1)(grad - m);  v += (1-beta2)(grad^2 - v);
/// param -= lr() * m / (sqrt(v) + eps)  with  lr() = alpha sqrt(1-beta2^t) / (1-beta1^t)
class Adam : public Optimizer {
public:
  explicit Adam(double alpha = 0.001, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
      : alpha(alpha), beta1(beta1), beta2(beta2), eps(eps) {}
  double alpha, beta1, beta2, eps;

  /// The number of update() calls so far (DeZero's `t`). A 0-d tensor, updated in place,
  /// so that dz::compile sees it as state: a compiled step advances it on every call.
  int64_t t() const { return int64_t(t_.item<double>()); }
  /// The bias-corrected step size of the current step t (DeZero's `lr` property).
  double lr() const;

protected:
  void begin_update() override;
  void update_one(const Parameter &param) override;

private:
  Tensor t_ = Tensor::scalar(0.0);
  Tensor lr_t_; // lr() of this step as a 0-d tensor, computed from t_ by tensor operations
  State ms_, vs_;
};

// ---- hooks ----------------------------------------------------------------------------------

/// grad += rate * param (L2 regularisation of rate/2 * |param|^2).
class WeightDecay {
public:
  explicit WeightDecay(double rate) : rate_(rate) {}
  void operator()(std::vector<Parameter> &params) const;

private:
  double rate_;
};

/// Scales all gradients by max_norm / (norm + 1e-6) when that is below 1, where norm is
/// the L2 norm of all gradients together.
class ClipGrad {
public:
  explicit ClipGrad(double max_norm) : max_norm_(max_norm) {}
  void operator()(std::vector<Parameter> &params) const;

private:
  double max_norm_;
};

/// Keeps the given parameters (or all parameters of the given layers, looked up at each
/// update) fixed: their gradients are cleared and they are removed from the update list.
class FreezeParam {
public:
  template <typename... Ts> explicit FreezeParam(const Ts &...targets) { (add(targets), ...); }
  explicit FreezeParam(std::vector<Parameter> params) { add(std::move(params)); }
  void operator()(std::vector<Parameter> &params) const;

private:
  void add(const Parameter &p) { sources_.push_back(param_source(std::vector<Parameter>{p})); }
  void add(std::vector<Parameter> ps) { sources_.push_back(param_source(std::move(ps))); }
  template <HasParams T> void add(const T &target) { sources_.push_back(param_source(target)); }
  std::vector<ParamSource> sources_;
};

} // namespace dz::optimizers
