// dz::compile on the book's models and higher-order examples: each runs compiled and
// eagerly side by side and must agree (float32 within 1e-5 relative, float64 within 1e-12).
#include "../support/side_by_side.h"

#include <dzc/dzc.h>

#include <gtest/gtest.h>

#include <cmath>

namespace F = dz::functions;
namespace M = dz::models;
namespace O = dz::optimizers;
using dz::Tensor;
using dz::Variable;

namespace {

double max_rel_diff(const Tensor &a, const Tensor &b, double atol) {
  EXPECT_EQ(a.shape(), b.shape());
  std::vector<double> x = a.to_vector(), y = b.to_vector();
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i)
    worst = std::max(worst, std::abs(x[i] - y[i]) / (atol + std::abs(y[i])));
  return worst;
}

/// Trains two copies of an MLP on the spiral data set, one eagerly and one through
/// dz::compile, and compares the loss of every step and the final weights.
template <typename Opt> void spiral_compiled_matches_eager(Opt eager_opt, Opt compiled_opt) {
  dz::datasets::Spiral train_set(true);
  auto make = [] {
    dz::manual_seed(0);
    M::MLP m({10, 3});
    m(Tensor(dz::zeros({1, 2}, dz::f32)));
    return m;
  };
  M::MLP eager_model = make(), compiled_model = make();
  dz::testing::SideBySide train(eager_model, eager_opt, compiled_model, compiled_opt);
  dz::DataLoader loader(train_set, 30, true, 0);
  int steps = 0;
  double worst = 0;
  while (steps < 100) {
    for (auto [x, t] : loader) {
      auto [eager_loss, loss] = train.step(x.to(dz::f32), t);
      worst = std::max(worst, max_rel_diff(loss.data(), eager_loss.data(), 1e-7));
      if (++steps == 100)
        break;
    }
  }
  EXPECT_LT(worst, 1e-5) << "worst relative difference of a step's loss";
  EXPECT_EQ(train.compiled().retraces(), 1);
  int i = 0;
  for (auto [pe, pc] : train.params())
    EXPECT_LT(max_rel_diff(pc.data(), pe.data(), 1e-6), 1e-4) << "parameter " << i++;
}

} // namespace

TEST(CompileModels, SpiralMlpSgdHundredStepsMatchEager) {
  spiral_compiled_matches_eager(O::SGD(1.0), O::SGD(1.0));
}

TEST(CompileModels, SpiralMlpAdamHundredStepsMatchEager) {
  spiral_compiled_matches_eager(O::Adam(0.01), O::Adam(0.01));
}

TEST(CompileModels, MnistShapedMlpStepMatchesEager) {
  // MLP(1000, 10) with ReLU on batches shaped like MNIST's (100 x 784), MomentumSGD.
  auto make = [] {
    dz::manual_seed(2);
    M::MLP m({100, 10}, F::relu);
    m(Tensor(dz::zeros({1, 784}, dz::f32)));
    return m;
  };
  M::MLP eager_model = make(), compiled_model = make();
  O::MomentumSGD eager_opt(0.05), compiled_opt(0.05);
  dz::testing::SideBySide train(eager_model, eager_opt, compiled_model, compiled_opt);
  for (int i = 0; i < 5; ++i) {
    Tensor x = dz::rand({100, 784}, dz::f32, uint64_t(10 + i));
    std::vector<int64_t> labels(100);
    for (int64_t k = 0; k < 100; ++k)
      labels[size_t(k)] = (k * 3 + i) % 10;
    auto [eager_loss, loss] = train.step(x, Tensor::from_i64(labels));
    EXPECT_LT(max_rel_diff(loss.data(), eager_loss.data(), 1e-7), 1e-5) << "step " << i;
  }
  int i = 0;
  for (auto [pe, pc] : train.params())
    EXPECT_LT(max_rel_diff(pc.data(), pe.data(), 1e-6), 1e-4) << "parameter " << i++;
}

TEST(CompileModels, Step36DoubleBackpropIs100) {
  // y = x^2; gx = dy/dx; z = gx^3 + y; dz/dx at x = 2 is 100.
  auto f = dz::compile([](Variable x) {
    Variable y = dz::pow(x, 2);
    y.backward({.create_graph = true});
    Variable gx = x.grad();
    x.cleargrad();
    Variable z = dz::pow(gx, 3) + y;
    z.backward();
    Variable result = x.grad();
    x.cleargrad();
    return result;
  });
  Variable x(2.0);
  EXPECT_EQ(f(x).item<double>(), 100.0);
  EXPECT_EQ(f(x).item<double>(), 100.0); // the compiled call
  EXPECT_EQ(f.retraces(), 1);
}

TEST(CompileModels, TanhDerivativesOneToFourEqualEager) {
  // Step 35: d^n tanh(x)/dx^n at x = 1 by repeated create_graph backward.
  auto derivative = [](Variable x, int order) {
    Variable y = F::tanh(x);
    y.backward({.create_graph = true});
    for (int i = 1; i < order; ++i) {
      Variable gx = x.grad();
      x.cleargrad();
      gx.backward({.create_graph = true});
    }
    Variable g = x.grad();
    x.cleargrad();
    return g;
  };
  for (int order = 1; order <= 4; ++order) {
    Variable x(1.0);
    double expected = derivative(x, order).item<double>();
    auto f = dz::compile([&](Variable v) { return derivative(v, order); });
    f(x);
    double compiled = f(x).item<double>();
    EXPECT_NEAR(compiled, expected, 1e-12 * std::abs(expected)) << "order " << order;
  }
}

namespace {
/// A float64 critic D(x) = l2(tanh(l1(x))).
struct Critic : dz::Model {
  dz::layers::Linear l1{8, {.dtype = dz::f64}}, l2{1, {.dtype = dz::f64}};
  Critic() {
    register_layer("l1", l1);
    register_layer("l2", l2);
  }
  Variable forward(const Variable &x) override { return l2(F::tanh(l1(x))); }
};
} // namespace

TEST(CompileModels, GradientPenaltyIntoTheCriticsWeightsEqualsEager) {
  // WGAN-GP: gp = (|dD/dx|^2 - 1)^2 averaged, backpropagated into D's weights; the inner
  // gradient is taken with create_graph, so the outer backward is a double backprop.
  auto make = [] {
    dz::manual_seed(4);
    Critic d;
    d(Variable(dz::zeros({1, 3}, dz::f64)));
    return d;
  };
  Critic eager_d = make(), compiled_d = make();
  auto penalty = [](Critic &d, Variable x) {
    Variable score = F::sum(d(x));
    d.cleargrads();
    score.backward({.create_graph = true});
    Variable gx = x.grad();
    x.cleargrad();
    Variable norm2 = F::sum(gx * gx, {1});
    Variable gp = F::mean(dz::pow(norm2 - 1.0, 2));
    d.cleargrads();
    gp.backward();
    return gp;
  };
  auto step = dz::compile([&](Variable x) { return penalty(compiled_d, x); });
  for (int i = 0; i < 3; ++i) {
    Variable xe(dz::randn({5, 3}, dz::f64, uint64_t(20 + i)));
    Variable xc(xe.data().copy());
    Variable gp_eager = penalty(eager_d, xe);
    Variable gp = step(xc);
    EXPECT_NEAR(gp.item<double>(), gp_eager.item<double>(), 1e-12) << "step " << i;
    auto pe = eager_d.params(), pc = compiled_d.params();
    for (size_t k = 0; k < pe.size(); ++k) {
      // The last layer's bias does not reach dD/dx: neither side gives it a gradient.
      ASSERT_EQ(pc[k].has_grad(), pe[k].has_grad()) << "weight " << k << " of step " << i;
      if (pe[k].has_grad()) {
        EXPECT_LT(max_rel_diff(pc[k].grad().data(), pe[k].grad().data(), 1e-12), 1e-10)
            << "weight gradient " << k << " of step " << i;
      }
    }
  }
}

namespace {
/// conv 3x3 -> batch norm -> relu -> max pool 2 -> dropout (its own generator) -> linear.
struct ConvBnDropoutNet : dz::Model {
  // No conv bias: batch norm removes it, so its true gradient is 0 and Adam would turn
  // the rounding noise of that 0 into full steps of either sign.
  dz::layers::Conv2d conv{6, 3, {.stride = 1, .pad = 1, .nobias = true}};
  dz::layers::BatchNorm bn;
  dz::layers::Linear fc{5};
  dz::Generator gen{123};
  ConvBnDropoutNet() {
    register_layer("conv", conv);
    register_layer("bn", bn);
    register_layer("fc", fc);
  }
  Variable forward(const Variable &x) override {
    Variable h = F::pooling(F::relu(bn(conv(x))), 2, 2);
    h = F::dropout(h, 0.3, gen);
    return fc(F::reshape(h, {h.shape()[0], -1}));
  }
};
} // namespace

TEST(CompileModels, CnnWithBatchNormAndDropoutAdamStepsMatchEager) {
  // Train mode: batch statistics, running averages written back, dropout masks drawn from
  // a generator of each model's own with the same seed; then one test-mode forward.
  auto make = [] {
    dz::manual_seed(21);
    ConvBnDropoutNet m;
    {
      dz::TestMode test; // creates the weights without drawing dropout masks
      m(Variable(dz::zeros({1, 1, 8, 8}, dz::f32)));
    }
    return m;
  };
  ConvBnDropoutNet eager_model = make(), compiled_model = make();
  O::Adam eager_opt(0.01), compiled_opt(0.01);
  dz::testing::SideBySide train(eager_model, eager_opt, compiled_model, compiled_opt);
  for (int i = 0; i < 4; ++i) {
    Tensor x = dz::randn({4, 1, 8, 8}, dz::f32, uint64_t(40 + i));
    Tensor t = Tensor::from_i64({int64_t(i % 5), 1, 2, int64_t((i + 3) % 5)});
    auto [eager_loss, loss] = train.step(x, t);
    EXPECT_LT(max_rel_diff(loss.data(), eager_loss.data(), 1e-7), 1e-5) << "step " << i;
  }
  EXPECT_EQ(train.compiled().retraces(), 1);
  for (auto [pe, pc] : train.params())
    EXPECT_LT(max_rel_diff(pc.data(), pe.data(), 1e-6), 1e-4) << pc.name();

  dz::TestMode test;
  auto infer = dz::compile([&](Variable x) { return compiled_model(x); });
  Tensor x = dz::randn({3, 1, 8, 8}, dz::f32, 77);
  infer(x);
  EXPECT_LT(max_rel_diff(infer(x).data(), eager_model(x).data(), 1e-6), 1e-5);
}

TEST(CompileModels, RetainGradNoGradAndTestModeBehaveAsInEagerMode) {
  auto body = [](Variable x, Variable w) {
    Variable y = F::tanh(x * w);
    Variable z = F::sum(y * y);
    z.backward({.retain_grad = true});
    Variable gy = y.grad(); // an intermediate gradient, kept by retain_grad
    Variable frozen;
    {
      dz::NoGrad no_grad; // recorded into the program, but no graph
      frozen = F::exp(x) * 2.0;
    }
    Variable dropped;
    {
      dz::TestMode test; // dropout is the identity
      dropped = F::dropout(x, 0.5);
    }
    return std::vector<Variable>{gy, frozen, dropped, w.grad()};
  };
  Tensor xt = dz::randn({3, 4}, dz::f64, 1), wt = dz::randn({4}, dz::f64, 2);
  std::vector<Variable> expected = body(Variable(xt), Variable(wt));
  auto f = dz::compile(body);
  Variable w(wt);
  f(Variable(xt), w);
  w.cleargrad();
  std::vector<Variable> got = f(Variable(xt), w);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_LT(max_rel_diff(got[i].data(), expected[i].data(), 1e-12), 1e-12) << "output " << i;
  EXPECT_FALSE(got[1].creator()) << "outputs of a compiled call carry no graph";
  EXPECT_EQ(f.retraces(), 1);
}
