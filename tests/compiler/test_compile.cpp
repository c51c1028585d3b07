// dz::compile end to end: traced steps run compiled and agree with the same steps run
// eagerly (values, gradients, state written back), retracing, and the errors of code that
// cannot be compiled.
#include "../support/side_by_side.h"

#include <dzc/dzc.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace F = dz::functions;
namespace M = dz::models;
namespace O = dz::optimizers;
using dz::Tensor;
using dz::Variable;

namespace {

void expect_close(const Tensor &a, const Tensor &b, double rtol, double atol,
                  const std::string &what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  std::vector<double> x = a.to_vector(), y = b.to_vector();
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_NEAR(x[i], y[i], atol + rtol * std::abs(y[i])) << what << " at " << i;
}

struct Batch {
  Tensor x, t;
};

Batch batch(int64_t n, uint64_t seed) {
  Tensor x = dz::randn({n, 20}, dz::f32, seed);
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < n; ++i)
    labels.push_back((i * 7 + int64_t(seed)) % 5);
  return {x, Tensor::from_i64(labels)};
}

} // namespace

namespace {

/// An MLP whose layers have made their weights (at the first forward), from `seed`: two
/// calls with the same arguments give two models with the same weights.
M::MLP initialised_mlp(uint64_t seed, std::vector<int64_t> sizes, dz::models::Activation act) {
  dz::manual_seed(seed);
  M::MLP model(std::move(sizes), std::move(act));
  model(batch(1, 0).x);
  return model;
}

/// Trains `eager_model` eagerly and `compiled_model` through dz::compile on the same
/// `steps` batches of `n` samples (softmax cross entropy) and checks that the loss of
/// every step agrees. Returns how often the step was traced.
template <typename Opt>
int train_side_by_side(M::MLP &eager_model, M::MLP &compiled_model, Opt &eager_opt,
                       Opt &compiled_opt, int steps, int64_t n) {
  dz::testing::SideBySide train(eager_model, eager_opt, compiled_model, compiled_opt);
  for (int i = 0; i < steps; ++i) {
    Batch b = batch(n, uint64_t(i));
    auto [eager_loss, loss] = train.step(b.x, b.t);
    expect_close(loss.data(), eager_loss.data(), 1e-5, 1e-6, "loss of step " + std::to_string(i));
  }
  return train.compiled().retraces();
}

} // namespace

TEST(Compile, MlpSgdStepsMatchEagerAndWriteBackTheWeights) {
  M::MLP eager_model = initialised_mlp(3, {32, 5}, F::sigmoid);
  M::MLP compiled_model = initialised_mlp(3, {32, 5}, F::sigmoid);
  O::SGD eager_opt(0.5), compiled_opt(0.5);
  EXPECT_EQ(train_side_by_side(eager_model, compiled_model, eager_opt, compiled_opt, 5, 16), 1);
  auto pe = eager_model.params(), pc = compiled_model.params();
  ASSERT_EQ(pe.size(), pc.size());
  for (size_t i = 0; i < pe.size(); ++i) {
    expect_close(pc[i].data(), pe[i].data(), 1e-4, 1e-6, "parameter " + std::to_string(i));
    ASSERT_TRUE(pc[i].has_grad()) << "compiled steps leave the gradients on the parameters";
    expect_close(pc[i].grad().data(), pe[i].grad().data(), 1e-4, 1e-6,
                 "gradient of parameter " + std::to_string(i));
  }
}

TEST(Compile, StatsSayWhatTheCompilerMadeAndUpdatesRunInPlace) {
  if (std::getenv("DZ_DISABLE") || std::getenv("DZ_ENABLE"))
    GTEST_SKIP() << "the pipeline's switches are changed by the environment";
  M::MLP model = initialised_mlp(3, {32, 5}, F::sigmoid);
  O::SGD opt(0.5);
  opt.setup(model);
  auto step = dz::compile([&](Variable x, Variable t) {
    Variable loss = F::softmax_cross_entropy(model(x), t);
    model.cleargrads();
    loss.backward();
    opt.update();
    return loss;
  });
  EXPECT_EQ(step.stats().traces, 0);
  EXPECT_TRUE(step.stats().summary.empty());
  Batch b = batch(16, 0);
  step(b.x, b.t);
  dz::CompileStats stats = step.stats();
  EXPECT_EQ(stats.traces, 1);
  EXPECT_GT(stats.trace_ms, 0);
  EXPECT_GT(stats.compile_ms, 0);
  // The four SGD updates w - lr * g are fused kernels computed in the parameters'
  // buffers: nothing is copied back after a call.
  EXPECT_NE(stats.summary.find(" fused kernels"), std::string::npos) << stats.summary;
  EXPECT_NE(stats.summary.find("4 results in place"), std::string::npos) << stats.summary;
  EXPECT_NE(stats.summary.find("JIT "), std::string::npos) << stats.summary;
  std::vector<const void *> buffers;
  for (const auto &p : model.params())
    buffers.push_back(p.data().raw());
  step(b.x, b.t);
  auto params = model.params();
  for (size_t i = 0; i < params.size(); ++i)
    EXPECT_EQ(params[i].data().raw(), buffers[i]) << "parameter " << i << " kept its buffer";
}

TEST(Compile, MlpAdamStepsMatchEagerIncludingTheStepCounter) {
  // Adam's bias correction depends on t: a compiled step must advance it on every call
  // instead of baking in the t of the traced step.
  M::MLP eager_model = initialised_mlp(5, {16, 5}, F::relu);
  M::MLP compiled_model = initialised_mlp(5, {16, 5}, F::relu);
  O::Adam eager_opt(0.01), compiled_opt(0.01);
  train_side_by_side(eager_model, compiled_model, eager_opt, compiled_opt, 6, 8);
  EXPECT_EQ(compiled_opt.t(), 6);
  EXPECT_DOUBLE_EQ(compiled_opt.lr(), eager_opt.lr());
  auto pe = eager_model.params(), pc = compiled_model.params();
  for (size_t i = 0; i < pe.size(); ++i)
    expect_close(pc[i].data(), pe[i].data(), 1e-4, 1e-6, "parameter " + std::to_string(i));
}

TEST(Compile, NewSignatureRetracesAndSameSignatureDoesNot) {
  dz::manual_seed(1);
  M::MLP model({8, 5});
  auto forward = dz::compile([&](Variable x) { return model(x); });
  forward(batch(4, 0).x);
  forward(batch(4, 1).x);
  EXPECT_EQ(forward.retraces(), 1);
  Variable y = forward(batch(6, 2).x);
  EXPECT_EQ(forward.retraces(), 2);
  EXPECT_EQ(y.shape(), (dz::Shape{6, 5}));
  {
    dz::TestMode test;
    forward(batch(6, 2).x);
  }
  EXPECT_EQ(forward.retraces(), 3) << "train and test mode are different signatures";
}

TEST(Compile, DoubleBackpropNewtonStepIsExact) {
  // Step 33: f(x) = x^4 - 2x^2; f'(2) = 24, f''(2) = 44, from dz.grad of dz.grad.
  auto derivatives = dz::compile([](Variable x) {
    Variable y = dz::pow(x, 4) - 2.0 * dz::pow(x, 2);
    y.backward({.create_graph = true});
    Variable gx = x.grad();
    x.cleargrad();
    gx.backward();
    Variable gx2 = x.grad();
    x.cleargrad();
    return std::vector<Variable>{gx, gx2};
  });
  for (double x0 : {2.0, 2.0, -1.5, 0.25}) {
    std::vector<Variable> d = derivatives(Variable(x0));
    ASSERT_EQ(d.size(), 2u);
    EXPECT_NEAR(d[0].item<double>(), 4 * std::pow(x0, 3) - 4 * x0, 1e-12) << x0;
    EXPECT_NEAR(d[1].item<double>(), 12 * x0 * x0 - 4, 1e-12) << x0;
  }
  EXPECT_EQ(derivatives.retraces(), 1) << derivatives.stats().last_retrace_reason;
  EXPECT_NE(derivatives.ir().find("dz.grad"), std::string::npos) << derivatives.ir();
  EXPECT_EQ(derivatives.optimized_ir().find("dz.grad"), std::string::npos)
      << derivatives.optimized_ir();
}

TEST(Compile, NewtonMethodWithCapturedVariableUpdatesItInPlace) {
  // The book's loop with x captured from outside: x is state, set_data is written back.
  Variable x(2.0);
  auto newton = dz::compile([&]() {
    Variable y = dz::pow(x, 4) - 2.0 * dz::pow(x, 2);
    x.cleargrad();
    y.backward({.create_graph = true});
    Variable gx = x.grad();
    x.cleargrad();
    gx.backward();
    Variable gx2 = x.grad();
    x.set_data(x.data() - gx.data() / gx2.data());
    x.cleargrad();
  });
  for (int i = 0; i < 7; ++i)
    newton();
  EXPECT_NEAR(x.item<double>(), 1.0, 1e-12);
  EXPECT_EQ(newton.retraces(), 1);
}

TEST(Compile, ItemInsideTheTraceIsAnErrorThatSaysWhy) {
  auto f = dz::compile([](Variable x) {
    Variable y = x * 2.0;
    if (y.item<double>() > 0) // a host read of a traced value
      return y;
    return -y;
  });
  try {
    f(Variable(1.0));
    FAIL() << "expected dz::Error";
  } catch (const dz::Error &e) {
    EXPECT_NE(std::string(e.what()).find("item()"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cannot"), std::string::npos) << e.what();
  }
}

namespace {
/// A user's Function that does not say how it is traced.
struct Twice : dz::Function {
  std::string name() const override { return "Twice"; }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override { return {xs[0] * 2.0}; }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    return {gys[0] * 2.0};
  }
};
} // namespace

namespace {
/// A user-defined function without a dz op (no trace() override).
struct Cube : dz::Function {
  std::string name() const override { return "Cube"; }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    return {xs[0] * xs[0] * xs[0]};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    return {3.0 * input(0) * input(0) * gys[0]};
  }
};
} // namespace

TEST(Compile, AFunctionWithoutADzOpIsReportedByName) {
  auto f = dz::compile([](Variable x) { return dz::call<Cube>({x})[0]; });
  try {
    f(Variable(2.0));
    FAIL() << "expected dz::Error";
  } catch (const dz::Error &e) {
    EXPECT_NE(std::string(e.what()).find("F::Cube cannot be compiled"), std::string::npos)
        << e.what();
  }
  // The function still works eagerly, and a failed trace leaves nothing cached.
  EXPECT_EQ(dz::call<Cube>({Variable(2.0)})[0].item<double>(), 8.0);
  EXPECT_EQ(f.retraces(), 0);
}

TEST(Compile, ATensorOperationWithoutADzOpIsReportedByName) {
  auto f = dz::compile([](Variable x) { return Variable(dz::logsumexp(x.data(), 0)); });
  try {
    f(Variable(Tensor::from({1.0, -1.0})));
    FAIL() << "expected dz::Error";
  } catch (const dz::Error &e) {
    EXPECT_NE(std::string(e.what()).find("'logsumexp'"), std::string::npos) << e.what();
  }
}

TEST(Compile, CompiledForwardMatchesEagerForEveryTracedFunction) {
  // One function of each dz op family the tracer records, compiled vs eager.
  auto body = [](Variable x, Variable w) {
    Variable h = F::tanh(F::matmul(x, w)) + F::sigmoid(x.sum({1}, true)) * 0.5;
    h = F::relu(h) - F::exp(-F::square(h)) / 3.0 + F::sqrt(F::softmax(h) + 1.0);
    h = F::log_softmax(F::leaky_relu(h, 0.1)) + F::sin(h) * F::cos(h);
    h = F::transpose(F::reshape(h, {2, -1}), {1, 0});
    return F::sum(dz::pow(F::clip(h, -0.5, 0.5), 3.0)) + F::max(h) - F::min(h);
  };
  Tensor x = dz::randn({4, 3}, dz::f64, 7), w = dz::randn({3, 6}, dz::f64, 8);
  Variable expected = body(Variable(x), Variable(w));
  auto f = dz::compile(body);
  f(x, w);              // traced (eager values)
  Variable y = f(x, w); // compiled
  expect_close(y.data(), expected.data(), 1e-12, 1e-12, "compiled forward");
}

TEST(Compile, ErfAndItsTwoDerivativesMatchEager) {
  // F::erf traces as dz.erf; its gradient rule and the gradient of that rule run compiled.
  auto derivatives = [](Variable x) {
    Variable y = F::sum(F::erf(x * 0.7) * x);
    y.backward({.create_graph = true});
    Variable gx = x.grad();
    x.cleargrad();
    F::sum(gx * gx).backward();
    Variable gx2 = x.grad();
    x.cleargrad();
    return std::vector<Variable>{y, gx, gx2};
  };
  Tensor x = dz::randn({2, 5}, dz::f64, 9);
  Variable eager_x(x);
  std::vector<Variable> expected = derivatives(eager_x);
  auto f = dz::compile(derivatives);
  f(Variable(x));                             // traced (eager values)
  std::vector<Variable> got = f(Variable(x)); // compiled
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i)
    expect_close(got[i].data(), expected[i].data(), 1e-12, 1e-12, "output " + std::to_string(i));
  EXPECT_NE(f.ir().find("dz.erf"), std::string::npos) << f.ir();
}

TEST(Compile, GradientsAccumulateAcrossCallsWithoutCleargradsAsInEagerMode) {
  // No cleargrads in the step: every backward adds to the parameters' gradients. The
  // first trace saw no gradient; the second call has one, so it traces once more (a guard)
  // and from then on adds the live gradient read from the parameters.
  auto make = [] {
    dz::manual_seed(9);
    M::MLP m({6, 5});
    m(batch(1, 0).x);
    return m;
  };
  M::MLP eager_model = make(), compiled_model = make();
  auto step = dz::compile([&](Variable x, Variable t) {
    Variable loss = F::softmax_cross_entropy(compiled_model(x), t);
    loss.backward();
    return loss;
  });
  for (int i = 0; i < 4; ++i) {
    Batch b = batch(8, uint64_t(i));
    F::softmax_cross_entropy(eager_model(b.x), b.t).backward();
    step(b.x, b.t);
  }
  EXPECT_EQ(step.retraces(), 2);
  auto pe = eager_model.params(), pc = compiled_model.params();
  for (size_t i = 0; i < pe.size(); ++i)
    expect_close(pc[i].grad().data(), pe[i].grad().data(), 1e-5, 1e-6,
                 "accumulated gradient " + std::to_string(i));
}

TEST(Compile, AGradientNobodyElseHoldsIsReusedAndAHeldOneIsNeverOverwritten) {
  // A compiled step computes a parameter's new gradient into the buffer of the gradient
  // it replaces when nothing but the parameter holds that one; a gradient the caller kept
  // (as a Variable or as a Tensor) keeps its values, as in eager mode.
  M::MLP eager_model = initialised_mlp(4, {8, 5}, F::sigmoid);
  M::MLP compiled_model = initialised_mlp(4, {8, 5}, F::sigmoid);
  O::SGD eager_opt(0.5), compiled_opt(0.5);
  eager_opt.setup(eager_model);
  compiled_opt.setup(compiled_model);
  auto body = [](M::MLP &m, O::SGD &opt, Variable x, Variable t) {
    Variable loss = F::softmax_cross_entropy(m(x), t);
    m.cleargrads();
    loss.backward();
    opt.update();
    return loss;
  };
  auto step =
      dz::compile([&](Variable x, Variable t) { return body(compiled_model, compiled_opt, x, t); });
  const bool direct = !std::getenv("DZ_DISABLE") && !std::getenv("DZ_ENABLE");
  Variable w = compiled_model.params()[0], w_eager = eager_model.params()[0];
  Variable held;
  Tensor held_tensor, held_values, held_tensor_values;
  for (int i = 0; i < 8; ++i) {
    Batch b = batch(6, uint64_t(i));
    body(eager_model, eager_opt, b.x, b.t);
    const dz::VariableNode *before = w.has_grad() ? w.grad().node().get() : nullptr;
    step(b.x, b.t);
    const std::string at = "step " + std::to_string(i);
    expect_close(w.grad().data(), w_eager.grad().data(), 1e-5, 1e-6, "gradient at " + at);
    if (i == 3 && direct) {
      EXPECT_EQ(w.grad().node().get(), before) << "the unshared gradient is reused at " << at;
    }
    if (i == 4) {
      ASSERT_TRUE(held.defined());
      EXPECT_NE(w.grad().node().get(), held.node().get()) << at;
      EXPECT_EQ(dz::max_abs_diff(held.data(), held_values), 0.0) << "a held gradient changed";
    }
    if (i == 6) {
      ASSERT_TRUE(held_tensor.defined());
      EXPECT_FALSE(w.grad().data().shares_storage(held_tensor)) << at;
      EXPECT_EQ(dz::max_abs_diff(held_tensor, held_tensor_values), 0.0)
          << "a held gradient tensor changed";
    }
    if (i == 3) {
      held = w.grad();
      held_values = held.data().copy();
    }
    if (i == 5) {
      held_tensor = w.grad().data();
      held_tensor_values = held_tensor.copy();
    }
  }
  EXPECT_EQ(step.retraces(), 1);
}

TEST(Compile, AnUpdateAloneReadsTheGradientsOfEachCallNotTheTracedOnes) {
  // The gradients come from an eager backward before each call: the compiled update reads
  // the gradient each parameter has at the call (a new tensor every time), and a call
  // where a parameter has none traces again (eagerly, the optimizer skips it).
  auto make = [] {
    dz::manual_seed(0);
    M::MLP m({4, 5}, F::sigmoid);
    m(batch(1, 0).x);
    return m;
  };
  M::MLP eager_model = make(), compiled_model = make();
  O::MomentumSGD eager_opt(0.1), compiled_opt(0.1);
  eager_opt.setup(eager_model);
  compiled_opt.setup(compiled_model);
  auto update = dz::compile([&](Variable x) {
    compiled_opt.update();
    return x;
  });
  auto backward = [](M::MLP &m, const Batch &b) {
    m.cleargrads();
    F::softmax_cross_entropy(m(b.x), b.t).backward();
  };
  for (int i = 0; i < 5; ++i) {
    Batch b = batch(6, uint64_t(i));
    backward(eager_model, b);
    backward(compiled_model, b);
    if (i == 3) { // one parameter without a gradient at this call
      eager_model.params()[0].cleargrad();
      compiled_model.params()[0].cleargrad();
    }
    eager_opt.update();
    update(b.x);
    auto pe = eager_model.params(), pc = compiled_model.params();
    for (size_t k = 0; k < pe.size(); ++k)
      expect_close(pc[k].data(), pe[k].data(), 1e-5, 1e-6,
                   "parameter " + std::to_string(k) + " after update " + std::to_string(i));
  }
  EXPECT_EQ(update.retraces(), 2) << "the call without a gradient traces again";
}

TEST(Compile, DumpIrWritesTheTracedAndOptimizedModules) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("dzc-dump-ir-" + std::to_string(::getpid())))
          .string();
  std::filesystem::remove_all(dir);
  auto f = dz::compile(
      [](Variable x) {
        Variable y = F::sum(x * x);
        y.backward();
        return x.grad();
      },
      {.dump_ir_dir = dir});
  Variable g = f(Variable(Tensor::from({1.0, 2.0})));
  expect_close(g.data(), Tensor::from({2.0, 4.0}), 0, 0, "gradient");
  auto read = [&](const std::string &name) {
    std::ifstream in(std::filesystem::path(dir) / name);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_NE(read("traced.traced.mlir").find("dz.grad"), std::string::npos);
  EXPECT_NE(read("traced.passes.mlir").find("IR Dump After"), std::string::npos);
  EXPECT_EQ(read("traced.optimized.mlir").find("dz.grad"), std::string::npos);
  EXPECT_NE(read("traced.optimized.mlir").find("func.func @traced"), std::string::npos);
  std::filesystem::remove_all(dir);
}
