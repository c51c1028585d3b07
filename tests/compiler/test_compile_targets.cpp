// dz::compile of the losses and metrics with one-hot and soft targets: the compiled
// softmax_cross_entropy with float (N, C) targets agrees with the eager one in value and
// gradient (targets as arguments that change from call to call, and in a training step),
// and accuracy, which reads an argmax on the host, is refused with a reason rather than
// baked into the program. The book's teaching variants (*_simple) compile as the
// primitives they are built from, except where their labels index with a tensor.
#include <dzc/dzc.h>

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace F = dz::functions;
namespace L = dz::layers;
namespace O = dz::optimizers;
using dz::Shape;
using dz::Tensor;
using dz::Variable;

namespace {

void expect_close(const Tensor &a, const Tensor &b, double tol, const std::string &what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  ASSERT_EQ(a.dtype(), b.dtype()) << what;
  std::vector<double> x = a.to_vector(), y = b.to_vector();
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_NEAR(x[i], y[i], tol * std::max(1.0, std::abs(y[i]))) << what << " at " << i;
}

Tensor soft_targets(const Shape &s, uint64_t seed, dz::DType dt) {
  Tensor w = dz::exp(dz::randn(s, dz::f64, seed));
  return (w / w.sum({1}, true)).to(dt);
}

/// The loss and its gradient in x (with a second derivative: the gradient of |gx|^2).
std::vector<Variable> loss_and_grads(Variable x, Variable t) {
  Variable loss = F::softmax_cross_entropy(x * 2.0, t);
  x.cleargrad();
  loss.backward({.create_graph = true});
  Variable gx = x.grad();
  x.cleargrad();
  Variable pen = F::sum(gx * gx);
  pen.backward();
  Variable ggx = x.grad();
  x.cleargrad();
  return {loss, gx, ggx};
}

} // namespace

TEST(CompileTargets, SoftTargetCrossEntropyMatchesEagerAcrossCalls) {
  for (dz::DType dt : {dz::f64, dz::f32}) {
    const double tol = dt == dz::f64 ? 1e-10 : 1e-5;
    auto compiled = dz::compile([](Variable x, Variable t) { return loss_and_grads(x, t); });
    for (uint64_t c = 0; c < 3; ++c) {
      Tensor x = dz::randn({6, 4}, dt, 10 + c), t = soft_targets({6, 4}, 20 + c, dt);
      std::vector<Variable> want = loss_and_grads(Variable(x.copy()), Variable(t));
      std::vector<Variable> got = compiled(Variable(x.copy()), Variable(t));
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i)
        expect_close(got[i].data(), want[i].data(), tol,
                     std::string(dz::dtype_name(dt)) + " output " + std::to_string(i) +
                         " of call " + std::to_string(c));
    }
    EXPECT_EQ(compiled.retraces(), 1);
  }
}

TEST(CompileTargets, OneHotTrainingStepMatchesEagerSteps) {
  // Two identical models, one trained eagerly and one by a compiled step, on one-hot
  // targets that change every step.
  dz::manual_seed(7);
  L::Linear eager_fc(3, {.in_size = 5, .dtype = dz::f64});
  dz::manual_seed(7);
  L::Linear compiled_fc(3, {.in_size = 5, .dtype = dz::f64});
  O::SGD eager_opt(0.3), compiled_opt(0.3);
  eager_opt.setup(eager_fc);
  compiled_opt.setup(compiled_fc);
  auto step = dz::compile([&](Variable x, Variable t) {
    Variable loss = F::softmax_cross_entropy(compiled_fc(x), t);
    compiled_fc.cleargrads();
    loss.backward();
    compiled_opt.update();
    return loss;
  });
  for (uint64_t s = 0; s < 4; ++s) {
    Tensor x = dz::randn({8, 5}, dz::f64, 30 + s);
    Tensor labels = (dz::rand({8}, dz::f64, 40 + s) * 2.999).to(dz::i64);
    Tensor t = dz::one_hot(labels, 3, dz::f64);
    Variable want = F::softmax_cross_entropy(eager_fc(Variable(x)), Variable(labels));
    eager_fc.cleargrads();
    want.backward();
    eager_opt.update();
    Variable got = step(Variable(x), Variable(t));
    EXPECT_NEAR(got.item<double>(), want.item<double>(), 1e-10) << "step " << s;
    expect_close(compiled_fc.W.data(), eager_fc.W.data(), 1e-10,
                 "W after step " + std::to_string(s));
  }
  EXPECT_EQ(step.retraces(), 1);
}

TEST(CompileTargets, AccuracyIsRefusedWithAReason) {
  for (bool onehot : {false, true}) {
    auto f = dz::compile([](Variable y, Variable t) { return F::accuracy(y, t); });
    Tensor y = dz::randn({4, 3}, dz::f32, 1);
    Tensor labels = Tensor::from_i64({0, 1, 2, 0}, {4});
    Tensor t = onehot ? dz::one_hot(labels, 3, dz::f32) : labels;
    try {
      f(Variable(y), Variable(t));
      FAIL() << "expected dz::Error";
    } catch (const dz::Error &e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("accuracy"), std::string::npos) << msg;
      EXPECT_NE(msg.find("after the call"), std::string::npos) << msg;
    }
  }
}

// ---- the teaching variants compile as the primitives they are built from --------------------

namespace {

/// Runs body(a, b) eagerly and compiled on three calls of new values and compares every
/// output; the body returns a value and gradients.
template <typename Body>
void expect_compiled_matches_eager(Body body, const std::vector<std::vector<Tensor>> &calls,
                                   const std::string &what) {
  auto compiled = dz::compile([&](Variable a, Variable b) { return body(a, b); });
  for (size_t c = 0; c < calls.size(); ++c) {
    std::vector<Variable> want = body(Variable(calls[c][0].copy()), Variable(calls[c][1].copy()));
    std::vector<Variable> got =
        compiled(Variable(calls[c][0].copy()), Variable(calls[c][1].copy()));
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < got.size(); ++i)
      expect_close(got[i].data(), want[i].data(), 1e-10,
                   what + ": output " + std::to_string(i) + " of call " + std::to_string(c));
  }
  EXPECT_EQ(compiled.retraces(), 1) << what;
}

/// y = f(a, b) and the gradients of sum(y * y) in a and b (those that have one).
template <typename Fn> auto with_grads(Fn f) {
  return [f](Variable a, Variable b) {
    Variable y = f(a, b);
    a.cleargrad();
    b.cleargrad();
    F::sum(y * y).backward();
    std::vector<Variable> out{y};
    for (const Variable &v : {a, b})
      if (v.has_grad()) // targets are data: no gradient
        out.push_back(v.grad());
    a.cleargrad();
    b.cleargrad();
    return out;
  };
}

std::vector<std::vector<Tensor>> calls_of(const Shape &a, const Shape &b) {
  std::vector<std::vector<Tensor>> calls;
  for (uint64_t s = 0; s < 3; ++s)
    calls.push_back({dz::randn(a, dz::f64, 50 + s), dz::randn(b, dz::f64, 60 + s)});
  return calls;
}

} // namespace

TEST(CompileTargets, TeachingVariantsMatchEager) {
  expect_compiled_matches_eager(
      with_grads([](Variable x, Variable W) { return F::linear_simple(x, W, F::sum(W, {0})); }),
      calls_of({4, 3}, {3, 5}), "linear_simple");
  expect_compiled_matches_eager(
      with_grads([](Variable a, Variable b) { return F::sigmoid_simple(a * b); }),
      calls_of({3, 4}, {3, 4}), "sigmoid_simple");
  expect_compiled_matches_eager(
      with_grads([](Variable a, Variable b) { return F::softmax_simple(a + b, 0); }),
      calls_of({3, 4}, {3, 4}), "softmax_simple");
  expect_compiled_matches_eager(
      with_grads([](Variable a, Variable b) { return F::mean_squared_error_simple(a, b); }),
      calls_of({5, 2}, {5, 2}), "mean_squared_error_simple");
  expect_compiled_matches_eager(with_grads([](Variable x, Variable t) {
                                  return F::softmax_cross_entropy_simple(x, F::softmax(t, 1));
                                }),
                                calls_of({4, 3}, {4, 3}),
                                "softmax_cross_entropy_simple, soft targets");
  expect_compiled_matches_eager(
      with_grads([](Variable x, Variable W) { return F::conv2d_simple(x, W, std::nullopt, 2, 1); }),
      calls_of({2, 2, 5, 5}, {3, 2, 3, 3}), "conv2d_simple");
  expect_compiled_matches_eager(
      with_grads([](Variable x, Variable b) { return F::pooling_simple(x + b, 2, 2, 0); }),
      calls_of({1, 2, 4, 6}, {1, 2, 4, 6}), "pooling_simple");
}

TEST(CompileTargets, TeachingCrossEntropyWithIntLabelsIsRefusedWithAReason) {
  // Its labels index with a tensor (log_p[arange(N), t]), which a program would fix.
  auto f =
      dz::compile([](Variable x, Variable t) { return F::softmax_cross_entropy_simple(x, t); });
  try {
    f(Variable(dz::randn({4, 3}, dz::f64, 1)), Variable(Tensor::from_i64({0, 1, 2, 0}, {4})));
    FAIL() << "expected dz::Error";
  } catch (const dz::Error &e) {
    EXPECT_NE(std::string(e.what()).find("index tensor"), std::string::npos) << e.what();
  }
}
