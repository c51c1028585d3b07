// side_by_side.h - the harness of the tests that train a model eagerly and through
// dz::compile side by side: two copies of a model with the same weights, each with its
// optimizer, take the same training step (loss, cleargrads, backward, update) on the
// same inputs, one eagerly and one compiled; the tests compare the losses of every step
// and the parameters at the end, with the tolerances and the messages of their own.
//
//   dz::testing::SideBySide train(eager_model, eager_opt, compiled_model, compiled_opt);
//   for (...) {
//     auto [eager_loss, compiled_loss] = train.step(x, t);
//     EXPECT_... (compiled_loss vs eager_loss);
//   }
//   EXPECT_EQ(train.compiled().retraces(), 1);
//   for (auto [eager_param, compiled_param] : train.params()) ...
//
// The loss is softmax cross entropy of model(x) against the labels t unless another is
// given: a callable (model, inputs...) -> loss.
#pragma once

#include <dzc/dzc.h>

#include <gtest/gtest.h>

#include <utility>
#include <vector>

namespace dz::testing {

/// Softmax cross entropy of model(x) against the labels t.
struct ClassificationLoss {
  template <typename Model>
  Variable operator()(Model &model, const Variable &x, const Variable &t) const {
    return functions::softmax_cross_entropy(model(x), t);
  }
};

/// One training step of `model`: the loss of `inputs`, cleargrads, backward, update.
/// Returns the loss.
template <typename Model, typename Opt, typename LossOf, typename... Inputs>
Variable train_step(Model &model, Opt &opt, const LossOf &loss_of, const Inputs &...inputs) {
  Variable loss = loss_of(model, Variable(inputs)...);
  model.cleargrads();
  loss.backward();
  opt.update();
  return loss;
}

template <typename Model, typename Opt, typename LossOf = ClassificationLoss> class SideBySide {
public:
  struct Losses {
    Variable eager, compiled;
  };

  /// Sets each optimizer up on its model. The models must have their weights already
  /// (the same ones), and outlive this harness, as the optimizers must.
  SideBySide(Model &eager, Opt &eager_opt, Model &compiled, Opt &compiled_opt, LossOf loss_of = {})
      : eager_(eager), compiled_(compiled), eager_opt_(eager_opt), compiled_opt_(compiled_opt),
        loss_of_(std::move(loss_of)), step_(dz::compile(CompiledStep{this})) {
    eager_opt_.setup(eager_);
    compiled_opt_.setup(compiled_);
  }
  SideBySide(const SideBySide &) = delete; // the compiled step points to this
  SideBySide &operator=(const SideBySide &) = delete;

  /// One eager step, then one compiled step, on the same inputs (Tensors or Variables).
  template <typename... Inputs> Losses step(const Inputs &...inputs) {
    Variable eager = eager_step(inputs...);
    return {eager, compiled_step(inputs...)};
  }
  /// The two halves of step(), for inputs that differ between the sides (their devices).
  template <typename... Inputs> Variable eager_step(const Inputs &...inputs) {
    return train_step(eager_, eager_opt_, loss_of_, inputs...);
  }
  template <typename... Inputs> Variable compiled_step(const Inputs &...inputs) {
    return step_(inputs...);
  }

  /// The parameters of the two models, pairwise: (eager, compiled). A test fails when
  /// their numbers differ.
  std::vector<std::pair<Parameter, Parameter>> params() const {
    std::vector<Parameter> pe = eager_.params(), pc = compiled_.params();
    EXPECT_EQ(pe.size(), pc.size()) << "the two models have different parameters";
    std::vector<std::pair<Parameter, Parameter>> out;
    for (size_t i = 0; i < pe.size() && i < pc.size(); ++i)
      out.emplace_back(pe[i], pc[i]);
    return out;
  }

private:
  struct CompiledStep {
    SideBySide *self;
    template <typename... Vs> Variable operator()(const Vs &...vs) const {
      return train_step(self->compiled_, self->compiled_opt_, self->loss_of_, vs...);
    }
  };

public:
  /// The compiled step: retraces(), optimized_ir(), stats().
  const dz::Compiled<CompiledStep> &compiled() const { return step_; }

private:
  Model &eager_, &compiled_;
  Opt &eager_opt_, &compiled_opt_;
  LossOf loss_of_;
  dz::Compiled<CompiledStep> step_;
};

} // namespace dz::testing
