// Compiled mode never silently differs from eager: a differential harness. Each pattern
// builds its world (model, optimizer, state) twice from one seed, runs it eagerly for many
// calls and then through dz::compile for the same calls, and requires every output and
// every observed piece of state to agree after every call, in float64, to 1e-12 relative.
// The patterns are the ways a function reaches outside itself: recurrent state rebound
// across calls, hyperparameter schedules, reseeding and dropout, mode switches, gradient
// accumulation, parameters replaced between calls; plus random programs. What the tracer
// cannot honour it refuses, and the refusals are tested too.
#include <dzc/dzc.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <memory>
#include <random>

namespace F = dz::functions;
namespace L = dz::layers;
namespace O = dz::optimizers;
using dz::Shape;
using dz::Tensor;
using dz::Variable;

namespace {

/// One world of a pattern: the function, its arguments and what to observe. Closures hold
/// the world's objects (shared), so that a Pattern owns everything it touches.
struct Pattern {
  std::function<std::vector<Variable>(const std::vector<Variable> &)> fn;
  std::function<std::vector<Variable>(int)> args;
  std::function<void(int)> before;              // host-side changes before call i
  std::function<std::vector<Tensor>()> observe; // state compared after each call
};

void expect_equal(const Tensor &got, const Tensor &want, double rtol, const std::string &what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  std::vector<double> g = got.to_vector(), w = want.to_vector();
  double scale = 0;
  for (double v : w)
    if (std::isfinite(v))
      scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(w[i]) || std::isinf(w[i])) {
      ASSERT_TRUE(std::isnan(w[i]) ? std::isnan(g[i]) : g[i] == w[i])
          << what << " at " << i << ": " << g[i] << " vs " << w[i];
      continue;
    }
    ASSERT_LE(std::abs(g[i] - w[i]), rtol * std::max(std::abs(w[i]), 1e-3 * scale) + 1e-15)
        << what << " at " << i << ": compiled " << g[i] << ", eager " << w[i];
  }
}

struct Outcome {
  int traces = 0;
  std::vector<std::vector<Tensor>> outputs; // of the compiled calls
};

/// Runs make()'s world eagerly for `calls` calls, then a fresh world compiled, both after
/// dz::manual_seed(seed), and compares outputs and observed state after every call.
Outcome expect_compiled_equals_eager(const std::function<Pattern()> &make, int calls,
                                     const std::string &what, double rtol = 1e-12,
                                     uint64_t seed = 1234) {
  std::vector<std::vector<Tensor>> eager_out, eager_obs;
  dz::manual_seed(seed);
  {
    Pattern r = make();
    for (int i = 0; i < calls; ++i) {
      if (r.before)
        r.before(i);
      std::vector<Tensor> out;
      for (const Variable &y : r.fn(r.args(i)))
        out.push_back(y.defined() ? y.data().copy() : Tensor());
      eager_out.push_back(std::move(out));
      std::vector<Tensor> obs;
      if (r.observe)
        for (const Tensor &t : r.observe())
          obs.push_back(t.defined() ? t.copy() : Tensor());
      eager_obs.push_back(std::move(obs));
    }
  }
  Outcome o;
  dz::manual_seed(seed);
  Pattern r = make();
  dz::CompiledFunction f({.warn_retraces = false});
  for (int i = 0; i < calls; ++i) {
    if (r.before)
      r.before(i);
    std::vector<Variable> ys = f.call(r.args(i), r.fn);
    const std::string at = what + ", call " + std::to_string(i);
    EXPECT_EQ(ys.size(), eager_out[size_t(i)].size()) << at;
    if (ys.size() != eager_out[size_t(i)].size())
      break;
    std::vector<Tensor> got;
    for (size_t k = 0; k < ys.size(); ++k) {
      const Tensor &want = eager_out[size_t(i)][k];
      EXPECT_EQ(ys[k].defined(), want.defined()) << at << ", output " << k;
      if (want.defined() && ys[k].defined())
        expect_equal(ys[k].data(), want, rtol, at + ", output " + std::to_string(k));
      got.push_back(ys[k].defined() ? ys[k].data().copy() : Tensor());
    }
    o.outputs.push_back(std::move(got));
    if (r.observe) {
      std::vector<Tensor> obs = r.observe();
      for (size_t k = 0; k < obs.size(); ++k) {
        const Tensor &want = eager_obs[size_t(i)][k];
        EXPECT_EQ(obs[k].defined(), want.defined()) << at << ", state " << k;
        if (want.defined() && obs[k].defined())
          expect_equal(obs[k], want, rtol, at + ", state " + std::to_string(k));
      }
    }
    if (::testing::Test::HasFatalFailure())
      break;
  }
  o.traces = f.retraces();
  return o;
}

Tensor randn64(const Shape &s, uint64_t seed) { return dz::randn(s, dz::f64, seed); }

/// Two float64 Linear layers with a tanh between them.
struct Net : dz::Model {
  L::Linear l1, l2;
  explicit Net(int64_t hidden = 6, int64_t out = 1)
      : l1(hidden, {.dtype = dz::f64}), l2(out, {.dtype = dz::f64}) {
    register_layer("l1", l1);
    register_layer("l2", l2);
  }
  Variable forward(const Variable &x) override { return l2(F::tanh(l1(x))); }
};

std::vector<Tensor> param_data(dz::Layer &m) {
  std::vector<Tensor> out;
  for (const dz::Parameter &p : m.params())
    out.push_back(p.defined() && p.data().defined() ? p.data() : Tensor());
  return out;
}

std::vector<Tensor> param_grads(dz::Layer &m) {
  std::vector<Tensor> out;
  for (const dz::Parameter &p : m.params())
    out.push_back(p.has_grad() ? p.grad().data() : Tensor());
  return out;
}

} // namespace

// ---- state rebound across calls ---------------------------------------------------------------

TEST(CompileSemantics, AccumulatorRebindingIsReplayed) {
  auto make = [] {
    auto h = std::make_shared<Variable>(dz::zeros({2}, dz::f64));
    Pattern r;
    r.fn = [h](const std::vector<Variable> &a) {
      *h = *h * 0.5 + a[0];
      return std::vector<Variable>{F::sum(*h)};
    };
    r.args = [](int) { return std::vector<Variable>{Variable(dz::ones({2}, dz::f64))}; };
    r.observe = [h] { return std::vector<Tensor>{h->data()}; };
    return r;
  };
  Outcome o = expect_compiled_equals_eager(make, 8, "accumulator");
  EXPECT_EQ(o.traces, 1);
  // The numbers: 2, 3, 3.5, 3.75, 3.875.
  ASSERT_GE(o.outputs.size(), 5u);
  EXPECT_DOUBLE_EQ(o.outputs[4][0].item<double>(), 3.875);
}

TEST(CompileSemantics, AccumulatorUnderNoGradAndWrittenButNotRead) {
  // `last` is written but never read; `acc` is read and written; under NoGrad no graph.
  auto make = [] {
    auto acc = std::make_shared<Variable>(dz::zeros({3}, dz::f64));
    auto last = std::make_shared<Variable>();
    Pattern r;
    r.fn = [acc, last](const std::vector<Variable> &a) {
      dz::NoGrad no_grad;
      *last = a[0] * 2.0;
      *acc = *acc + *last;
      return std::vector<Variable>{F::sum(*acc * *acc)};
    };
    r.args = [](int i) { return std::vector<Variable>{Variable(randn64({3}, uint64_t(i)))}; };
    r.observe = [acc, last] { return std::vector<Tensor>{acc->data(), last->data()}; };
    return r;
  };
  // Twice: `last` is null at the first call and set from the second on (a function may
  // branch on whether a handle is null, as LSTM does on its state).
  EXPECT_EQ(expect_compiled_equals_eager(make, 7, "no-grad accumulator").traces, 2);
}

TEST(CompileSemantics, StateReadButNotWrittenIsReadAtEveryCall) {
  auto make = [] {
    auto scale = std::make_shared<Variable>(Tensor::from({1.0, 2.0}));
    Pattern r;
    r.fn = [scale](const std::vector<Variable> &a) {
      return std::vector<Variable>{F::sum(a[0] * *scale)};
    };
    r.args = [](int i) { return std::vector<Variable>{Variable(randn64({2}, uint64_t(i)))}; };
    // The user changes the captured Variable's values, and once rebinds the handle (the
    // old Variable goes: the program traces again rather than read it).
    r.before = [scale](int i) {
      if (i == 4)
        *scale = Variable(Tensor::from({-1.0, 0.5}));
      else
        scale->set_data(Tensor::from({double(i), 1.0 - i}));
    };
    return r;
  };
  EXPECT_EQ(expect_compiled_equals_eager(make, 8, "state read").traces, 2);
}

namespace {

/// A recurrent model trained by truncated BPTT: each call runs a chunk of `len` steps,
/// backward, unchain_backward, update. The state is reset once, at the start.
template <typename Cell> Pattern recurrent_run(int len) {
  struct World : dz::Model {
    Cell cell{8, {.dtype = dz::f64}};
    L::Linear fc{1, {.dtype = dz::f64}};
    O::SGD opt{0.05};
    World() {
      register_layer("cell", cell);
      register_layer("fc", fc);
      opt.setup(*this);
    }
    Variable forward(const Variable &x) override { return fc(cell(x)); }
  };
  auto w = std::make_shared<World>();
  w->reset_state();
  Pattern r;
  r.fn = [w, len](const std::vector<Variable> &a) {
    Variable loss;
    for (int t = 0; t < len; ++t) {
      Variable y = (*w)(F::get_item(a[0], {t}));
      Variable l = F::mean_squared_error(y, F::get_item(a[1], {t}));
      loss = loss.defined() ? loss + l : l;
    }
    w->cleargrads();
    loss.backward();
    loss.unchain_backward();
    w->opt.update();
    return std::vector<Variable>{loss};
  };
  r.args = [len](int i) {
    std::vector<double> xs, ts;
    for (int t = 0; t < len; ++t) {
      const double s = 0.3 * (i * len + t);
      xs.push_back(std::sin(s));
      ts.push_back(std::sin(s + 0.3));
    }
    return std::vector<Variable>{Variable(Tensor::from(xs).reshape({len, 1, 1})),
                                 Variable(Tensor::from(ts).reshape({len, 1, 1}))};
  };
  r.observe = [w] { return param_data(*w); };
  return r;
}

} // namespace

TEST(CompileSemantics, RnnStateCarriesAcrossTruncatedBpttChunks) {
  Outcome o = expect_compiled_equals_eager([] { return recurrent_run<L::RNN>(5); }, 8, "RNN");
  EXPECT_EQ(o.traces, 2); // no state before the first chunk, state from the second on
}

TEST(CompileSemantics, LstmStateCarriesAcrossTruncatedBpttChunks) {
  Outcome o = expect_compiled_equals_eager([] { return recurrent_run<L::LSTM>(5); }, 8, "LSTM");
  EXPECT_EQ(o.traces, 2);
}

TEST(CompileSemantics, GruStateCarriesAcrossTruncatedBpttChunks) {
  Outcome o = expect_compiled_equals_eager([] { return recurrent_run<L::GRU>(5); }, 8, "GRU");
  EXPECT_EQ(o.traces, 2);
}

TEST(CompileSemantics, BackwardIntoAnEarlierCallsGraphIsRefused) {
  // Without unchain_backward the eager backward of chunk 2 goes on into chunk 1's graph
  // (full BPTT across calls); a compiled call cannot, so it refuses.
  auto w = std::make_shared<L::RNN>(4, L::RNNOptions{.dtype = dz::f64});
  dz::CompiledFunction f;
  auto body = [w](const std::vector<Variable> &a) {
    Variable loss = F::sum((*w)(a[0]));
    w->cleargrads();
    loss.backward();
    return std::vector<Variable>{loss};
  };
  std::vector<Variable> x{Variable(randn64({1, 3}, 1))};
  try {
    for (int i = 0; i < 3; ++i)
      f.call(x, body);
    FAIL() << "expected a dz::Error";
  } catch (const dz::Error &e) {
    EXPECT_NE(std::string(e.what()).find("unchain_backward"), std::string::npos) << e.what();
  }
}

TEST(CompileSemantics, AReboundHandleThatDiesMakesTheProgramTraceAgain) {
  dz::CompiledFunction f({.warn_retraces = false});
  auto x = std::vector<Variable>{Variable(Tensor::from({1.0}))};
  double sums[2] = {0, 0};
  for (int k = 0; k < 2; ++k) {
    auto h = std::make_unique<Variable>(Tensor::from({10.0 * k}));
    auto body = [&h](const std::vector<Variable> &a) {
      *h = *h + a[0];
      return std::vector<Variable>{*h};
    };
    for (int i = 0; i < 3; ++i)
      sums[k] = f.call(x, body)[0].item<double>();
    EXPECT_DOUBLE_EQ(h->item<double>(), 10.0 * k + 3) << k;
    // h dies here; the program that rebinds it must never write through it again.
  }
  EXPECT_DOUBLE_EQ(sums[0], 3);
  EXPECT_DOUBLE_EQ(sums[1], 13);
  EXPECT_EQ(f.retraces(), 2);
}

// ---- hyperparameters, step counts ---------------------------------------------------------------

namespace {

template <typename Opt> Pattern schedule_run(std::function<void(Opt &, int)> schedule, Opt opt) {
  struct World {
    Net net{5, 2};
    Opt opt;
  };
  auto w = std::make_shared<World>(World{Net(5, 2), opt});
  w->opt.setup(w->net);
  Pattern r;
  r.fn = [w](const std::vector<Variable> &a) {
    Variable loss = F::mean_squared_error(w->net(a[0]), a[1]);
    w->net.cleargrads();
    loss.backward();
    w->opt.update();
    return std::vector<Variable>{loss};
  };
  r.args = [](int i) {
    return std::vector<Variable>{Variable(randn64({4, 3}, uint64_t(i % 7))),
                                 Variable(randn64({4, 2}, uint64_t(100 + i % 7)))};
  };
  r.before = [w, schedule](int i) { schedule(w->opt, i); };
  r.observe = [w] { return param_data(w->net); };
  return r;
}

} // namespace

TEST(CompileSemantics, LearningRateScheduleIsReadAtEveryCall) {
  Outcome o = expect_compiled_equals_eager(
      [] {
        return schedule_run<O::SGD>([](O::SGD &o, int i) { o.lr = 0.1 / (1 + i); }, O::SGD(0.1));
      },
      10, "SGD lr schedule");
  EXPECT_EQ(o.traces, 1); // a schedule must not retrace
}

TEST(CompileSemantics, MomentumScheduleIsReadAtEveryCall) {
  Outcome o = expect_compiled_equals_eager(
      [] {
        return schedule_run<O::MomentumSGD>(
            [](O::MomentumSGD &o, int i) {
              o.lr = 0.05 * (i % 3 + 1);
              o.momentum = 0.5 + 0.04 * i;
            },
            O::MomentumSGD());
      },
      10, "momentum schedule");
  EXPECT_EQ(o.traces, 1);
}

TEST(CompileSemantics, AdamHyperparametersAndStepCountOverManyCalls) {
  Outcome o = expect_compiled_equals_eager(
      [] {
        return schedule_run<O::Adam>(
            [](O::Adam &o, int i) {
              o.alpha = 0.01 / std::sqrt(1.0 + i);
              o.beta1 = i < 150 ? 0.9 : 0.8;
              o.eps = i % 2 ? 1e-8 : 1e-6;
            },
            O::Adam());
      },
      300, "Adam over 300 calls", 1e-10);
  EXPECT_EQ(o.traces, 1);
}

TEST(CompileSemantics, AdaGradAndAdaDeltaHyperparameters) {
  EXPECT_EQ(expect_compiled_equals_eager(
                [] {
                  return schedule_run<O::AdaGrad>(
                      [](O::AdaGrad &o, int i) { o.lr = 0.01 * (1 + i % 4); }, O::AdaGrad());
                },
                8, "AdaGrad")
                .traces,
            1);
  EXPECT_EQ(expect_compiled_equals_eager(
                [] {
                  return schedule_run<O::AdaDelta>(
                      [](O::AdaDelta &o, int i) { o.rho = 0.9 + 0.005 * i; }, O::AdaDelta());
                },
                8, "AdaDelta")
                .traces,
            1);
}

// ---- random numbers
// ------------------------------------------------------------------------------

namespace {

Pattern dropout_run(std::function<void(int)> before) {
  Pattern r;
  r.fn = [](const std::vector<Variable> &a) {
    return std::vector<Variable>{F::dropout(a[0], 0.5), F::dropout(a[0] * 2.0, 0.3)};
  };
  r.args = [](int) { return std::vector<Variable>{Variable(dz::ones({3, 5}, dz::f64))}; };
  r.before = std::move(before);
  // The generator's position after each call: eager and compiled calls draw alike.
  r.observe = [] {
    return std::vector<Tensor>{Tensor::from_i64({int64_t(dz::default_generator().offset())})};
  };
  return r;
}

} // namespace

TEST(CompileSemantics, DropoutDrawsTheEagerStream) {
  Outcome o = expect_compiled_equals_eager([] { return dropout_run(nullptr); }, 8,
                                           "dropout without reseeding");
  EXPECT_EQ(o.traces, 1);
}

TEST(CompileSemantics, ManualSeedBeforeACallGivesTheEagerMask) {
  Outcome o = expect_compiled_equals_eager(
      [] { return dropout_run([](int i) { dz::manual_seed(uint64_t(i % 2)); }); }, 8,
      "dropout with reseeding");
  EXPECT_EQ(o.traces, 1);
  // Reseeding with the same seed gives the same mask in compiled calls too.
  ASSERT_EQ(o.outputs.size(), 8u);
  expect_equal(o.outputs[2][0], o.outputs[4][0], 0, "seed 0 twice");
  expect_equal(o.outputs[3][1], o.outputs[5][1], 0, "seed 1 twice");
}

TEST(CompileSemantics, RandomNumbersDrawnInsideAreRefused) {
  dz::CompiledFunction f;
  auto body = [](const std::vector<Variable> &a) {
    return std::vector<Variable>{a[0] + Variable(dz::randn({2}, dz::f64))};
  };
  try {
    f.call({Variable(dz::zeros({2}, dz::f64))}, body);
    FAIL() << "expected a dz::Error";
  } catch (const dz::Error &e) {
    EXPECT_NE(std::string(e.what()).find("random"), std::string::npos) << e.what();
  }
  // With a seed the numbers are the same every call: a constant is right.
  dz::CompiledFunction g;
  auto seeded = [](const std::vector<Variable> &a) {
    return std::vector<Variable>{a[0] + Variable(dz::randn({2}, dz::f64, 7))};
  };
  Tensor want = dz::randn({2}, dz::f64, 7);
  for (int i = 0; i < 3; ++i)
    expect_equal(g.call({Variable(dz::zeros({2}, dz::f64))}, seeded)[0].data(), want, 0, "seeded");
}

// ---- modes, gradients, outputs
// ---------------------------------------------------------------------

TEST(CompileSemantics, SwitchingTestModeAndNoGradBetweenCalls) {
  auto make = [] {
    struct World : dz::Model {
      L::Linear l1{6, {.dtype = dz::f64}};
      L::BatchNorm bn;
      L::Linear l2{2, {.dtype = dz::f64}};
      World() {
        register_layer("l1", l1);
        register_layer("bn", bn);
        register_layer("l2", l2);
      }
      Variable forward(const Variable &x) override {
        return l2(F::dropout(F::relu(bn(l1(x))), 0.2));
      }
    };
    auto w = std::make_shared<World>();
    auto opt = std::make_shared<O::SGD>(0.1);
    opt->setup(*w);
    Pattern r;
    r.fn = [w, opt](const std::vector<Variable> &a) {
      Variable y = (*w)(a[0]);
      Variable loss = F::sum(y * y);
      if (dz::Config::enable_backprop() && dz::Config::train()) {
        w->cleargrads();
        loss.backward();
        opt->update();
      }
      return std::vector<Variable>{loss, y};
    };
    r.args = [](int i) { return std::vector<Variable>{Variable(randn64({4, 3}, uint64_t(i)))}; };
    r.before = [](int i) {
      dz::Config::set_train(i % 3 != 1);
      dz::Config::set_enable_backprop(i % 4 != 2);
    };
    r.observe = [w] { return param_data(*w); };
    return r;
  };
  Outcome o = expect_compiled_equals_eager(make, 12, "mode switches");
  dz::Config::set_train(true);
  dz::Config::set_enable_backprop(true);
  EXPECT_LE(o.traces, 4); // one per (train, backprop) pair seen
}

TEST(CompileSemantics, GradientsAccumulateAcrossCallsWithoutCleargrads) {
  auto make = [] {
    auto net = std::make_shared<Net>(4, 1);
    auto opt = std::make_shared<O::SGD>(0.01);
    opt->setup(*net);
    Pattern r;
    r.fn = [net](const std::vector<Variable> &a) {
      Variable loss = F::sum(F::square((*net)(a[0])));
      loss.backward(); // accumulates onto the gradients of earlier calls
      return std::vector<Variable>{loss};
    };
    r.args = [](int i) { return std::vector<Variable>{Variable(randn64({3, 2}, uint64_t(i)))}; };
    // Every third call the user applies the accumulated gradient and clears it.
    r.before = [net, opt](int i) {
      if (i % 3 == 0 && i > 0) {
        opt->update();
        net->cleargrads();
      }
    };
    r.observe = [net] {
      std::vector<Tensor> s = param_data(*net), g = param_grads(*net);
      s.insert(s.end(), g.begin(), g.end());
      return s;
    };
    return r;
  };
  Outcome o = expect_compiled_equals_eager(make, 10, "gradient accumulation");
  EXPECT_LE(o.traces, 2); // with and without a gradient to accumulate onto
}

TEST(CompileSemantics, RetainGradAndSeveralOutputs) {
  auto make = [] {
    auto W = std::make_shared<dz::Parameter>(randn64({3, 3}, 5), "W");
    Pattern r;
    r.fn = [W](const std::vector<Variable> &a) {
      W->cleargrad();
      Variable x = a[0];
      Variable y = F::tanh(F::matmul(x, *W));
      Variable z = F::sum(y * y);
      z.backward({.retain_grad = true});
      return std::vector<Variable>{z, y.grad(), W->grad(), x.grad(), y};
    };
    r.args = [](int i) { return std::vector<Variable>{Variable(randn64({2, 3}, uint64_t(i)))}; };
    r.observe = [W] { return std::vector<Tensor>{W->grad().data()}; };
    return r;
  };
  EXPECT_EQ(expect_compiled_equals_eager(make, 6, "retain_grad").traces, 1);
}

TEST(CompileSemantics, AParameterReplacedWithANewShapeRetraces) {
  auto make = [] {
    auto W = std::make_shared<dz::Parameter>(randn64({3, 2}, 5), "W");
    Pattern r;
    r.fn = [W](const std::vector<Variable> &a) {
      return std::vector<Variable>{F::sum(F::matmul(a[0], *W))};
    };
    r.args = [](int i) { return std::vector<Variable>{Variable(randn64({2, 3}, uint64_t(i)))}; };
    r.before = [W](int i) {
      if (i == 3)
        W->set_data(randn64({3, 4}, 9)); // a new shape: the program no longer applies
      else if (i > 0)
        W->set_data(W->data() * 0.5); // the same shape: read at the call
    };
    return r;
  };
  EXPECT_EQ(expect_compiled_equals_eager(make, 7, "parameter replaced").traces, 2);
}

// ---- random programs
// -----------------------------------------------------------------------------

namespace {

/// A random straight-line program over two arguments: a chain of elementwise, broadcasting
/// and reducing ops; maybe backward (maybe with create_graph and a second backward); maybe
/// a state accumulator that outlives the function.
Pattern random_program(uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return int(rng() % uint64_t(n)); };
  const Shape shapes[] = {{}, {3}, {2, 3}, {2, 1}, {1, 3}, {4, 2, 3}};
  const Shape a_shape = shapes[pick(6)], b_shape = shapes[pick(6)];
  std::vector<int> ops;
  const int n = 3 + pick(6);
  for (int i = 0; i < n; ++i)
    ops.push_back(pick(12));
  const int grad_mode = pick(3); // 0 none, 1 backward, 2 backward with create_graph twice
  const bool accumulate = pick(2) == 1;
  auto acc = std::make_shared<Variable>(dz::zeros({}, dz::f64));
  Pattern r;
  r.fn = [=](const std::vector<Variable> &a) {
    Variable x = a[0], y = a[1];
    std::vector<Variable> vals{x, y};
    for (int op : ops) {
      const Variable &u = vals[vals.size() - 1], &v = vals[vals.size() - 2];
      Variable w;
      switch (op) {
      case 0:
        w = u + v;
        break;
      case 1:
        w = u * v;
        break;
      case 2:
        w = u - v * 0.5;
        break;
      case 3:
        w = F::tanh(u);
        break;
      case 4:
        w = F::sin(u) + F::cos(v);
        break;
      case 5:
        w = F::exp(F::tanh(u));
        break;
      case 6:
        w = F::sigmoid(u) * v;
        break;
      case 7:
        w = F::square(u) / (1.0 + F::square(v));
        break;
      case 8:
        w = u.ndim() > 0 ? F::sum(u, {-1}, true) * v : u * 2.0;
        break;
      case 9:
        w = F::pow(F::sigmoid(u), 3.0);
        break;
      case 10:
        w = F::clip(u, -0.5, 0.7) + F::relu(v);
        break;
      default:
        w = F::log(1.0 + F::exp(u));
        break;
      }
      vals.push_back(w);
    }
    Variable out = F::sum(vals.back());
    std::vector<Variable> results{out};
    if (grad_mode > 0) {
      x.cleargrad();
      y.cleargrad();
      out.backward({.create_graph = grad_mode == 2});
      Variable gx = x.grad().defined() ? x.grad() : Variable(dz::zeros_like(x.data()));
      results.push_back(gx);
      if (grad_mode == 2) {
        Variable gg = F::sum(gx * gx);
        x.cleargrad();
        y.cleargrad();
        gg.backward();
        results.push_back(y.grad().defined() ? y.grad() : F::sum(gx));
      }
    }
    if (accumulate) {
      *acc = *acc * 0.9 + out;
      results.push_back(*acc);
    }
    return results;
  };
  r.args = [=](int i) {
    return std::vector<Variable>{Variable(randn64(a_shape, seed * 100 + uint64_t(i))),
                                 Variable(randn64(b_shape, seed * 100 + 50 + uint64_t(i)))};
  };
  r.observe = [acc] { return std::vector<Tensor>{acc->data()}; };
  return r;
}

} // namespace

TEST(CompileSemantics, RandomPrograms) {
  // A failure names its seed: RandomProgramSeed=<n> reruns that program alone.
  uint64_t first = 0, count = 100;
  if (const char *s = std::getenv("RandomProgramSeed"))
    first = std::stoull(s), count = 1;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    Outcome o = expect_compiled_equals_eager([seed] { return random_program(seed); }, 6,
                                             "random program " + std::to_string(seed), 1e-12);
    EXPECT_EQ(o.traces, 1) << "random program " << seed;
    if (HasFailure())
      break;
  }
}

// ---- the example programs' steps
// -------------------------------------------------------------------

namespace {

/// A classifier's step as the examples in models/ write it: forward, softmax cross
/// entropy, cleargrads, backward, update; the scores as a second output.
template <typename Model, typename Opt>
Pattern classifier_run(std::shared_ptr<Model> model, std::shared_ptr<Opt> opt, Shape x_shape,
                       int classes) {
  opt->setup(*model);
  Pattern r;
  r.fn = [model, opt](const std::vector<Variable> &a) {
    Variable y = (*model)(a[0]);
    Variable loss = F::softmax_cross_entropy(y, a[1]);
    model->cleargrads();
    loss.backward();
    opt->update();
    return std::vector<Variable>{loss, y};
  };
  r.args = [x_shape, classes](int i) {
    std::vector<int64_t> labels;
    for (int64_t k = 0; k < x_shape[0]; ++k)
      labels.push_back((k * 7 + i) % classes);
    return std::vector<Variable>{Variable(randn64(x_shape, uint64_t(i % 5))),
                                 Variable(Tensor::from_i64(labels))};
  };
  r.observe = [model] { return param_data(*model); };
  return r;
}

} // namespace

TEST(CompileSemantics, SpiralMlpStepsFor20Calls) {
  auto make = [] {
    struct Mlp : dz::Model {
      L::Linear l1{10, {.dtype = dz::f64}}, l2{3, {.dtype = dz::f64}};
      Mlp() {
        register_layer("l1", l1);
        register_layer("l2", l2);
      }
      Variable forward(const Variable &x) override { return l2(F::sigmoid(l1(x))); }
    };
    return classifier_run(std::make_shared<Mlp>(), std::make_shared<O::SGD>(1.0), {30, 2}, 3);
  };
  EXPECT_EQ(expect_compiled_equals_eager(make, 20, "spiral MLP").traces, 1);
}

TEST(CompileSemantics, CnnStepsWithDropoutFor20Calls) {
  auto make = [] {
    struct Cnn : dz::Model {
      L::Conv2d conv{4, 3, {.stride = 1, .pad = 1, .dtype = dz::f64}};
      L::Linear fc{5, {.dtype = dz::f64}};
      Cnn() {
        register_layer("conv", conv);
        register_layer("fc", fc);
      }
      Variable forward(const Variable &x) override {
        Variable h = F::pooling(F::relu(conv(x)), 2, 2);
        return fc(F::dropout(h.reshape({h.shape()[0], -1}), 0.25));
      }
    };
    return classifier_run(std::make_shared<Cnn>(), std::make_shared<O::Adam>(), {4, 1, 6, 6}, 5);
  };
  EXPECT_EQ(expect_compiled_equals_eager(make, 20, "CNN with dropout", 1e-11).traces, 1);
}

// ---- the program cache
// ------------------------------------------------------------------------------

TEST(CompileSemantics, ProgramCacheIsBoundedLeastRecentlyUsedAndWarns) {
  dz::CompiledFunction f({.jit = false, .max_signatures = 8, .name = "poly"});
  auto body = [](const std::vector<Variable> &a) { return std::vector<Variable>{F::sum(a[0])}; };
  auto call = [&](int64_t n) {
    return f.call({Variable(dz::ones({n}, dz::f64))}, body)[0].item<double>();
  };
  ::testing::internal::CaptureStderr();
  for (int64_t n = 1; n <= 40; ++n)
    EXPECT_EQ(call(n), double(n));
  const std::string err = ::testing::internal::GetCapturedStderr();
  dz::CompileStats s = f.stats();
  EXPECT_EQ(s.traces, 40);
  EXPECT_EQ(s.programs, 8);
  EXPECT_EQ(s.evicted, 32);
  EXPECT_EQ(s.last_retrace_reason, "argument 0 has shape (40,) instead of (39,)");
  auto count = [&](const std::string &needle) {
    size_t n = 0;
    for (size_t at = err.find(needle); at != std::string::npos; at = err.find(needle, at + 1))
      ++n;
    return n;
  };
  EXPECT_EQ(count("warning: 'poly' traced again"), 36u) << err; // from the fifth trace on
  EXPECT_EQ(count("keeps at most 8 compiled programs"), 32u) << err;
  EXPECT_NE(err.find("(trace 5): argument 0 has shape (5,) instead of (4,)"), std::string::npos)
      << err;
  // The most recent eight are kept: no trace for them, a trace for an evicted one.
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(call(33), 33.0);
  EXPECT_EQ(f.retraces(), 40);
  EXPECT_EQ(call(1), 1.0);
  EXPECT_EQ(f.retraces(), 41);
  ::testing::internal::GetCapturedStderr();
  // Silenced.
  dz::CompiledFunction quiet({.jit = false, .max_signatures = 2, .warn_retraces = false});
  ::testing::internal::CaptureStderr();
  for (int64_t n = 1; n <= 8; ++n)
    quiet.call({Variable(dz::ones({n}, dz::f64))}, body);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  EXPECT_THROW(dz::CompiledFunction({.max_signatures = 0}), dz::Error);
  // What the kept programs cost: JIT-compiled kernels live in pages mapped for them.
  dz::CompiledFunction jit;
  auto fused = [](const std::vector<Variable> &a) {
    return std::vector<Variable>{F::sum(F::tanh(a[0]) * F::exp(a[0]) + 1.0)};
  };
  for (int64_t n = 1; n <= 2; ++n)
    jit.call({Variable(dz::ones({n}, dz::f64))}, fused);
  EXPECT_EQ(jit.stats().programs, 2);
  if (!std::getenv("DZ_DISABLE")) { // with fuse or jit off there is no JIT-compiled code
    EXPECT_GT(jit.stats().memory_bytes, 0u);
  }
}
