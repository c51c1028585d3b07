// test_optimizers.cpp - three steps of each optimizer on a known quadratic, checked against
// first steps derived by hand and an independent plain-double implementation; the hooks;
// which parameters update() touches.
#include <dzc/dzc.h>

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <vector>

namespace F = dz::functions;
namespace O = dz::optimizers;
using dz::Parameter;
using dz::Tensor;
using dz::Variable;

namespace {

// f(w, b) = sum(c * w^2) + (sum(w) + b)^2 with c = (1, 3): a quadratic with cross terms.
//   df/dw_i = 2 c_i w_i + 2 (w_0 + w_1 + b),   df/db = 2 (w_0 + w_1 + b).
// At w = (1, -2), b = 0.5: s = -0.5, grads (1, -13) and -1.
constexpr double kC[2] = {1.0, 3.0};

Variable f(const Parameter &w, const Parameter &b) {
  const Variable c(Tensor::from({kC[0], kC[1]}));
  const Variable s = F::sum(w) + b;
  return F::sum(c * w * w) + s * s;
}

std::vector<double> grads_by_hand(const std::vector<double> &p) { // p = (w0, w1, b)
  const double s = p[0] + p[1] + p[2];
  return {2 * kC[0] * p[0] + 2 * s, 2 * kC[1] * p[1] + 2 * s, 2 * s};
}

struct Problem {
  Parameter w{Tensor::from({1.0, -2.0}), "w"};
  Parameter b{Tensor::scalar(0.5), "b"};
  std::vector<double> values() const { return {w.data().at(0), w.data().at(1), b.data().at(0)}; }
  void step(O::Optimizer &opt) {
    w.cleargrad();
    b.cleargrad();
    f(w, b).backward();
    opt.update();
  }
};

/// One step of a reference rule: p and g are (w0, w1, b); state is per element.
using RefStep = std::function<void(std::vector<double> &p, const std::vector<double> &g)>;

/// Runs `opt` and `ref` side by side for three steps; the values must agree after each.
void expect_three_steps_match(O::Optimizer &opt, RefStep ref, double tol = 1e-13) {
  Problem pb;
  opt.setup({pb.w, pb.b});
  std::vector<double> p = pb.values();
  for (int step = 1; step <= 3; ++step) {
    pb.step(opt);
    ref(p, grads_by_hand(p));
    const std::vector<double> got = pb.values();
    for (size_t i = 0; i < 3; ++i)
      EXPECT_NEAR(got[i], p[i], tol) << "step " << step << ", value " << i;
  }
}

// ---- independent reference rules in plain double (DeZero's formulas) ------------------------

RefStep ref_sgd(double lr) {
  return [=](std::vector<double> &p, const std::vector<double> &g) {
    for (size_t i = 0; i < p.size(); ++i)
      p[i] -= lr * g[i];
  };
}

RefStep ref_momentum(double lr, double momentum) {
  return [=, v = std::vector<double>(3, 0.0)](std::vector<double> &p,
                                              const std::vector<double> &g) mutable {
    for (size_t i = 0; i < p.size(); ++i) {
      v[i] = momentum * v[i] - lr * g[i];
      p[i] += v[i];
    }
  };
}

RefStep ref_adagrad(double lr, double eps) {
  return [=, h = std::vector<double>(3, 0.0)](std::vector<double> &p,
                                              const std::vector<double> &g) mutable {
    for (size_t i = 0; i < p.size(); ++i) {
      h[i] += g[i] * g[i];
      p[i] -= lr * g[i] / (std::sqrt(h[i]) + eps);
    }
  };
}

RefStep ref_adadelta(double rho, double eps) {
  return [=, msg = std::vector<double>(3, 0.0), msdx = std::vector<double>(3, 0.0)](
             std::vector<double> &p, const std::vector<double> &g) mutable {
    for (size_t i = 0; i < p.size(); ++i) {
      msg[i] = rho * msg[i] + (1 - rho) * g[i] * g[i];
      const double dx = std::sqrt((msdx[i] + eps) / (msg[i] + eps)) * g[i];
      msdx[i] = rho * msdx[i] + (1 - rho) * dx * dx;
      p[i] -= dx;
    }
  };
}

RefStep ref_adam(double alpha, double beta1, double beta2, double eps) {
  return [=, t = 0, m = std::vector<double>(3, 0.0), v = std::vector<double>(3, 0.0)](
             std::vector<double> &p, const std::vector<double> &g) mutable {
    ++t;
    // Exponential moving averages of g and g^2; the bias correction is folded into lr, so
    // eps is added to sqrt(v), not to sqrt(v_hat) (DeZero's placement).
    const double lr = alpha * std::sqrt(1 - std::pow(beta2, t)) / (1 - std::pow(beta1, t));
    for (size_t i = 0; i < p.size(); ++i) {
      m[i] = beta1 * m[i] + (1 - beta1) * g[i];
      v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
      p[i] -= lr * m[i] / (std::sqrt(v[i]) + eps);
    }
  };
}

} // namespace

// ---- first steps by hand --------------------------------------------------------------------

TEST(OptimizerSteps, GradientsOfTheTestFunctionMatchTheHandDerivation) {
  Problem pb;
  f(pb.w, pb.b).backward();
  EXPECT_DOUBLE_EQ(pb.w.grad().data().at(0), 1.0);
  EXPECT_DOUBLE_EQ(pb.w.grad().data().at(1), -13.0);
  EXPECT_DOUBLE_EQ(pb.b.grad().data().at(0), -1.0);
}

TEST(OptimizerSteps, SGDFirstStepIsMinusLrTimesGrad) {
  // (1, -2, 0.5) - 0.1 * (1, -13, -1) = (0.9, -0.7, 0.6)
  Problem pb;
  O::SGD sgd(0.1);
  sgd.setup({pb.w, pb.b});
  pb.step(sgd);
  EXPECT_NEAR(pb.w.data().at(0), 0.9, 1e-15);
  EXPECT_NEAR(pb.w.data().at(1), -0.7, 1e-15);
  EXPECT_NEAR(pb.b.data().at(0), 0.6, 1e-15);
}

TEST(OptimizerSteps, MomentumSGDSecondStepAddsMomentumTimesFirst) {
  // Step 1: v = -0.1 g0 = (-0.1, 1.3, 0.1), p = (0.9, -0.7, 0.6).
  // Step 2: s = 0.8, g1 = (1.8 + 1.6, -4.2 + 1.6, 1.6) = (3.4, -2.6, 1.6);
  //         v = 0.9 v - 0.1 g1 = (-0.43, 1.43, -0.07); p = (0.47, 0.73, 0.53).
  Problem pb;
  O::MomentumSGD opt(0.1, 0.9);
  opt.setup({pb.w, pb.b});
  pb.step(opt);
  pb.step(opt);
  EXPECT_NEAR(pb.w.data().at(0), 0.47, 1e-14);
  EXPECT_NEAR(pb.w.data().at(1), 0.73, 1e-14);
  EXPECT_NEAR(pb.b.data().at(0), 0.53, 1e-14);
}

TEST(OptimizerSteps, AdamFirstStepMovesEachValueByAlphaAgainstTheGradientSign) {
  // t = 1: m = 0.1 g, v = 0.001 g^2, lr = alpha sqrt(0.001) / 0.1, so the step is
  // alpha * g / (|g| + eps / sqrt(0.001)) = alpha * sign(g) up to ~3e-7 relative.
  Problem pb;
  O::Adam adam(0.1);
  adam.setup({pb.w, pb.b});
  pb.step(adam);
  EXPECT_EQ(adam.t(), 1);
  EXPECT_NEAR(adam.lr(), 0.1 * std::sqrt(1 - 0.999) / (1 - 0.9), 1e-15);
  EXPECT_NEAR(pb.w.data().at(0), 0.9, 1e-6);
  EXPECT_NEAR(pb.w.data().at(1), -1.9, 1e-6);
  EXPECT_NEAR(pb.b.data().at(0), 0.6, 1e-6);
}

TEST(OptimizerSteps, AdaGradAndAdaDeltaFirstSteps) {
  // AdaGrad: h = g^2, step lr * g / (|g| + eps) = lr * sign(g).
  {
    Problem pb;
    O::AdaGrad opt(0.1);
    opt.setup({pb.w, pb.b});
    pb.step(opt);
    EXPECT_NEAR(pb.w.data().at(0), 0.9, 1e-7);
    EXPECT_NEAR(pb.w.data().at(1), -1.9, 1e-7);
    EXPECT_NEAR(pb.b.data().at(0), 0.6, 1e-7);
  }
  // AdaDelta: msg = 0.05 g^2, dx = sqrt(1e-6 / (0.05 g^2 + 1e-6)) g; for g = -13:
  // sqrt(1e-6 / 8.450001) * 13 = 4.47213e-3 (to 6 digits).
  {
    Problem pb;
    O::AdaDelta opt;
    opt.setup({pb.w, pb.b});
    pb.step(opt);
    EXPECT_NEAR(pb.w.data().at(1), -2.0 + std::sqrt(1e-6 / (0.05 * 169 + 1e-6)) * 13, 1e-15);
    EXPECT_NEAR(pb.w.data().at(1) + 2.0, 4.47213e-3, 1e-8);
  }
}

// ---- three steps against the plain-double reference -----------------------------------------

TEST(OptimizerSteps, SGDThreeStepsMatchReference) {
  O::SGD opt(0.05);
  expect_three_steps_match(opt, ref_sgd(0.05));
}

TEST(OptimizerSteps, MomentumSGDThreeStepsMatchReference) {
  O::MomentumSGD opt(0.05, 0.8);
  expect_three_steps_match(opt, ref_momentum(0.05, 0.8));
}

TEST(OptimizerSteps, AdaGradThreeStepsMatchReference) {
  O::AdaGrad opt(0.2);
  expect_three_steps_match(opt, ref_adagrad(0.2, 1e-8));
}

TEST(OptimizerSteps, AdaDeltaThreeStepsMatchReference) {
  O::AdaDelta opt(0.9, 1e-4);
  expect_three_steps_match(opt, ref_adadelta(0.9, 1e-4));
}

TEST(OptimizerSteps, AdamThreeStepsMatchReference) {
  O::Adam opt(0.1, 0.8, 0.99, 1e-8);
  expect_three_steps_match(opt, ref_adam(0.1, 0.8, 0.99, 1e-8));
  EXPECT_EQ(opt.t(), 3);
}

TEST(OptimizerSteps, DefaultsAreDeZeros) {
  EXPECT_EQ(O::SGD().lr, 0.01);
  EXPECT_EQ(O::MomentumSGD().lr, 0.01);
  EXPECT_EQ(O::MomentumSGD().momentum, 0.9);
  EXPECT_EQ(O::AdaGrad().lr, 0.001);
  EXPECT_EQ(O::AdaGrad().eps, 1e-8);
  EXPECT_EQ(O::AdaDelta().rho, 0.95);
  EXPECT_EQ(O::AdaDelta().eps, 1e-6);
  const O::Adam adam;
  EXPECT_EQ(adam.alpha, 0.001);
  EXPECT_EQ(adam.beta1, 0.9);
  EXPECT_EQ(adam.beta2, 0.999);
  EXPECT_EQ(adam.eps, 1e-8);
}

TEST(OptimizerSteps, Float32ParametersStayFloat32) {
  Parameter w(Tensor::from({1.0, -2.0}, {2}, dz::f32));
  O::Adam opt(0.1);
  opt.setup({w});
  F::sum(w * w).backward();
  opt.update();
  EXPECT_EQ(w.dtype(), dz::f32);
  EXPECT_NEAR(w.data().at(0), 0.9, 1e-6);
  EXPECT_NEAR(w.data().at(1), -1.9, 1e-6);
}

// ---- what update() touches ------------------------------------------------------------------

TEST(OptimizerUpdate, UpdatesInPlaceSoEveryHandleSeesNewValues) {
  Parameter w(Tensor::from({1.0, 2.0}));
  const Tensor alias = w.data(); // shares storage
  const Parameter other = w;     // shares the node
  O::SGD opt(0.5);
  opt.setup({w});
  F::sum(w * w).backward(); // grad 2w
  opt.update();
  EXPECT_DOUBLE_EQ(alias.at(0), 0.0);
  EXPECT_DOUBLE_EQ(alias.at(1), 0.0);
  EXPECT_DOUBLE_EQ(other.data().at(1), 0.0);
}

TEST(OptimizerUpdate, SkipsParametersWithoutGradient) {
  Parameter w(Tensor::from({1.0, 2.0})), unused(Tensor::from({3.0, 4.0}));
  for (auto make : std::vector<std::function<std::unique_ptr<O::Optimizer>()>>{
           [] { return std::make_unique<O::SGD>(0.1); },
           [] { return std::make_unique<O::MomentumSGD>(0.1); },
           [] { return std::make_unique<O::AdaGrad>(0.1); },
           [] { return std::make_unique<O::AdaDelta>(); },
           [] { return std::make_unique<O::Adam>(0.1); }}) {
    auto opt = make();
    opt->setup({w, unused});
    w.cleargrad();
    F::sum(w * w).backward();
    opt->update();
    EXPECT_FALSE(unused.has_grad());
    EXPECT_DOUBLE_EQ(unused.data().at(0), 3.0);
    EXPECT_DOUBLE_EQ(unused.data().at(1), 4.0);
  }
  EXPECT_LT(w.data().at(0), 1.0);
}

TEST(OptimizerUpdate, ParameterListedTwiceUpdatesOnce) {
  Parameter w(Tensor::from({1.0}));
  O::SGD opt(0.25);
  opt.setup({w, w});
  F::sum(w * w).backward(); // grad 2
  opt.update();
  EXPECT_DOUBLE_EQ(w.data().at(0), 0.5);
}

namespace {
/// Stands in for a dz::Layer: a handle whose params() can grow after setup.
struct FakeLayer {
  std::shared_ptr<std::vector<Parameter>> ps = std::make_shared<std::vector<Parameter>>();
  std::vector<Parameter> params() const { return *ps; }
};
} // namespace

TEST(OptimizerUpdate, SetupWithALayerReadsItsParamsAtEachUpdate) {
  FakeLayer layer;
  O::SGD opt(0.5);
  opt.setup(layer);
  Parameter w(Tensor::from({1.0}));
  layer.ps->push_back(w); // created after setup, as a lazily initialised Linear's W
  F::sum(w * w).backward();
  opt.update();
  EXPECT_DOUBLE_EQ(w.data().at(0), 0.0);
}

TEST(OptimizerUpdate, UpdateWithoutSetupIsAnError) {
  O::SGD opt;
  EXPECT_THROW(opt.update(), dz::Error);
}

// ---- hooks ----------------------------------------------------------------------------------

TEST(OptimizerHooks, WeightDecayAddsRateTimesParamToTheGradient) {
  // SGD lr 0.1 with decay 0.01: p -= 0.1 * (g + 0.01 p), i.e. 0.001 p more than plain SGD.
  Problem plain, decayed;
  O::SGD a(0.1), b(0.1);
  a.setup({plain.w, plain.b});
  b.setup({decayed.w, decayed.b});
  b.add_hook(O::WeightDecay(0.01));
  const std::vector<double> before = plain.values();
  plain.step(a);
  decayed.step(b);
  for (size_t i = 0; i < 3; ++i)
    EXPECT_NEAR(decayed.values()[i], plain.values()[i] - 0.1 * 0.01 * before[i], 1e-15);
}

TEST(OptimizerHooks, WeightDecayOnGradientsSharedByTwoParametersAppliesOncePerParameter) {
  // backward of a + b hands one gradient to both inputs; each must decay by its own value:
  // a = 1 - (1 + 0.5 * 1) = -0.5, b = 2 - (1 + 0.5 * 2) = 0.
  Parameter a(Tensor::from({1.0})), b(Tensor::from({2.0}));
  O::SGD opt(1.0);
  opt.setup({a, b});
  opt.add_hook(O::WeightDecay(0.5));
  F::sum(a + b).backward();
  opt.update();
  EXPECT_DOUBLE_EQ(a.data().at(0), -0.5);
  EXPECT_DOUBLE_EQ(b.data().at(0), 0.0);
}

TEST(OptimizerHooks, ClipGradCapsTheGlobalNorm) {
  // Grads (1, -13) and -1 have norm sqrt(171) = 13.08; with max_norm 1 and SGD lr 1 the
  // step is the clipped gradient: norm 1 / (1 + 1e-6 / 13.08), direction unchanged.
  Problem pb;
  O::SGD opt(1.0);
  opt.setup({pb.w, pb.b});
  opt.add_hook(O::ClipGrad(1.0));
  const std::vector<double> before = pb.values();
  pb.step(opt);
  const std::vector<double> after = pb.values();
  const double norm = std::sqrt(171.0);
  const double rate = 1.0 / (norm + 1e-6);
  const std::vector<double> g{1, -13, -1};
  double step_norm = 0;
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(before[i] - after[i], rate * g[i], 1e-15);
    step_norm += (before[i] - after[i]) * (before[i] - after[i]);
  }
  EXPECT_NEAR(std::sqrt(step_norm), 1.0, 1e-6);
}

TEST(OptimizerHooks, ClipGradLeavesSmallGradientsAlone) {
  Problem clipped, plain;
  O::SGD a(0.1), b(0.1);
  a.setup({plain.w, plain.b});
  b.setup({clipped.w, clipped.b});
  b.add_hook(O::ClipGrad(100.0));
  plain.step(a);
  clipped.step(b);
  EXPECT_EQ(clipped.values(), plain.values());
}

TEST(OptimizerHooks, FreezeParamKeepsFrozenValuesAndUpdatesTheRest) {
  Problem pb;
  O::Adam opt(0.1);
  opt.setup({pb.w, pb.b});
  opt.add_hook(O::FreezeParam(pb.b));
  for (int i = 0; i < 3; ++i)
    pb.step(opt);
  EXPECT_DOUBLE_EQ(pb.b.data().at(0), 0.5);
  EXPECT_FALSE(pb.b.has_grad());
  EXPECT_NE(pb.w.data().at(0), 1.0);
}

TEST(OptimizerHooks, FreezeParamOfALayerFreezesAllItsParams) {
  FakeLayer frozen, trained;
  Parameter a(Tensor::from({1.0})), b(Tensor::from({2.0})), c(Tensor::from({3.0}));
  frozen.ps->push_back(a);
  frozen.ps->push_back(b);
  trained.ps->push_back(c);
  O::SGD opt(0.5);
  opt.setup({a, b, c});
  opt.add_hook(O::FreezeParam(frozen));
  F::sum(a * a + b * b + c * c).backward();
  opt.update();
  EXPECT_DOUBLE_EQ(a.data().at(0), 1.0);
  EXPECT_DOUBLE_EQ(b.data().at(0), 2.0);
  EXPECT_DOUBLE_EQ(c.data().at(0), 0.0);
}

TEST(OptimizerHooks, HooksRunInOrderOnTheParamsWithGradients) {
  Parameter w(Tensor::from({1.0})), unused(Tensor::from({1.0}));
  std::vector<size_t> seen;
  O::SGD opt;
  opt.setup({w, unused});
  opt.add_hook([&](std::vector<Parameter> &ps) { seen.push_back(ps.size()); });
  opt.add_hook([&](std::vector<Parameter> &ps) { seen.push_back(10 + ps.size()); });
  F::sum(w * w).backward();
  opt.update();
  EXPECT_EQ(seen, (std::vector<size_t>{1, 11}));
}
