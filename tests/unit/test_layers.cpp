// test_layers.cpp - dz::Layer and dz::Model: registration and flattened names, lazy shape
// inference and initialisation scale, handles that share state, recurrent state,
// BatchNorm in train and test mode, the models' structure, and save_weights/load_weights
// (bitwise round trips, errors that list what does not match, atomic writes, NumPy).
#include <dzc/dzc.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <numbers>
#include <sys/resource.h>

namespace F = dz::functions;
namespace L = dz::layers;
namespace M = dz::models;
namespace O = dz::optimizers;
using dz::Parameter;
using dz::Tensor;
using dz::Variable;

namespace {

bool same(const Tensor &a, const Tensor &b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && a.nbytes() == b.nbytes() &&
         (a.nbytes() == 0 || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
}

std::string error_of(const std::function<void()> &f) {
  try {
    f();
  } catch (const dz::Error &e) {
    return e.what();
  }
  return "no error";
}

std::vector<std::string> names_of(const dz::Layer &layer) {
  std::vector<std::string> out;
  for (const auto &[name, p] : layer.named_params())
    out.push_back(name);
  return out;
}

int64_t count_params(const dz::Layer &layer) {
  int64_t n = 0;
  for (const Parameter &p : layer.params())
    n += p.data().defined() ? p.size() : 0;
  return n;
}

std::string slurp(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

Variable input(dz::Shape shape, uint64_t seed = 1) {
  return Variable(dz::randn(shape, dz::f32, seed));
}

// The book's user model (API.md): members registered in the constructor.
struct Net : dz::Model {
  L::Linear l1{100}, l2{10};
  Parameter scale{Tensor::scalar(1.0, dz::f32), "scale"};
  Net() {
    register_layer("l1", l1);
    register_layer("l2", l2);
    register_param("scale", scale);
  }
  Variable forward(const Variable &x) override { return l2(F::sigmoid(l1(x))) * scale; }
};

} // namespace

// ---- Layer: registration, names, handles -------------------------------------------------

TEST(Layers, LinearTakesInSizeFromTheFirstInput) {
  L::Linear fc(5);
  EXPECT_FALSE(fc.W.data().defined());
  EXPECT_TRUE(same(fc.b.data(), dz::zeros({5}, dz::f32)));
  ASSERT_EQ(fc.params().size(), 2u); // W is listed before it has data
  const Variable y = fc(input({4, 3}));
  EXPECT_EQ(fc.W.shape(), (dz::Shape{3, 5}));
  EXPECT_EQ(fc.W.dtype(), dz::f32);
  EXPECT_EQ(y.shape(), (dz::Shape{4, 5}));
  EXPECT_EQ(fc.W.name(), "W");
  EXPECT_EQ(fc.b.name(), "b");
  // y = x W + b
  const Tensor x = dz::randn({4, 3}, dz::f32, 1);
  EXPECT_TRUE(dz::allclose(y.data(), dz::matmul(x, fc.W.data()) + fc.b.data(), 1e-6, 1e-6));
}

TEST(Layers, LinearInitialScaleIsSqrtOneOverInSize) {
  L::Linear fc(500, {.in_size = 400});
  ASSERT_TRUE(fc.W.data().defined()); // sized at construction
  const Tensor W = fc.W.data().to(dz::f64);
  const double mean = W.mean().item<double>();
  const double sd = std::sqrt(dz::square(W - mean).mean().item<double>());
  EXPECT_NEAR(mean, 0.0, 0.002);
  EXPECT_NEAR(sd, std::sqrt(1.0 / 400), 0.01 * std::sqrt(1.0 / 400));
}

TEST(Layers, LinearNobiasHasOnlyW) {
  L::Linear fc(10, {.nobias = true, .in_size = 3});
  EXPECT_FALSE(fc.b.defined());
  EXPECT_EQ(names_of(fc), (std::vector<std::string>{"W"}));
  EXPECT_EQ(fc(input({2, 3})).shape(), (dz::Shape{2, 10}));
  L::Linear f64fc(2, {.in_size = 3, .dtype = dz::f64});
  EXPECT_EQ(f64fc.W.dtype(), dz::f64);
  EXPECT_EQ(f64fc.b.dtype(), dz::f64);
}

TEST(Layers, LinearRejectsAnInputOfAnotherWidth) {
  L::Linear fc(4, {.in_size = 3});
  const std::string e = error_of([&] { fc(input({2, 5})); });
  EXPECT_NE(e.find("Linear: the input has 5 features"), std::string::npos) << e;
  EXPECT_NE(e.find("in_size 3"), std::string::npos) << e;
  EXPECT_NE(error_of([] { L::Linear bad(0); }).find("out_size must be positive"),
            std::string::npos);
}

TEST(Layers, ManualSeedMakesInitialisationReproducible) {
  dz::manual_seed(7);
  M::MLP a({8, 3});
  a(input({2, 4}));
  dz::manual_seed(7);
  M::MLP b({8, 3});
  b(input({2, 4}));
  const auto pa = a.params(), pb = b.params();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i)
    EXPECT_TRUE(same(pa[i].data(), pb[i].data())) << i;
  M::MLP c({8, 3});
  c(input({2, 4}));
  EXPECT_FALSE(same(c.params()[0].data(), pa[0].data()));
}

TEST(Layers, NestedModelFlattensNamesWithSlashes) {
  Net net;
  EXPECT_EQ(names_of(net), (std::vector<std::string>{"l1/W", "l1/b", "l2/W", "l2/b", "scale"}));
  const Variable y = net(input({3, 7}));
  EXPECT_EQ(y.shape(), (dz::Shape{3, 10}));
  EXPECT_EQ(net.params().size(), 5u);
  EXPECT_EQ(count_params(net), 7 * 100 + 100 + 100 * 10 + 10 + 1);
  EXPECT_TRUE(net.params()[0].same_node(net.l1.W));
}

TEST(Layers, CleargradsClearsEveryParameter) {
  Net net;
  F::sum(net(input({2, 3}))).backward();
  for (const Parameter &p : net.params())
    EXPECT_TRUE(p.has_grad()) << p.name();
  net.cleargrads();
  for (const Parameter &p : net.params())
    EXPECT_FALSE(p.has_grad()) << p.name();
}

TEST(Layers, CopiesShareParametersAndLazyInitialisation) {
  L::Linear a(4);
  L::Linear b = a;
  a(input({2, 3}));
  ASSERT_TRUE(b.W.data().defined());
  EXPECT_TRUE(a.W.same_node(b.W));
  Net net;
  Net copy = net;
  copy(input({1, 6}));
  EXPECT_EQ(net.l1.W.shape(), (dz::Shape{6, 100}));
  EXPECT_TRUE(net.params()[0].same_node(copy.params()[0]));
  // A copy sees parameters registered later.
  dz::Layer base;
  dz::Layer alias = base;
  base.register_param("p", Parameter(Tensor::scalar(1.0)));
  EXPECT_EQ(alias.params().size(), 1u);
}

TEST(Layers, RegisterRejectsBadNamesDuplicatesAndCycles) {
  dz::Layer layer;
  Parameter p(Tensor::scalar(1.0));
  EXPECT_NE(error_of([&] { layer.register_param("a/b", p); }).find("invalid name 'a/b'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { layer.register_param("", p); }).find("invalid name ''"),
            std::string::npos);
  layer.register_param("p", p);
  EXPECT_NE(error_of([&] { layer.register_layer("p", dz::Layer()); }).find("already registered"),
            std::string::npos);
  EXPECT_NE(error_of([&] { layer.register_param("q", Parameter()); }).find("null Parameter"),
            std::string::npos);
  dz::Layer child;
  layer.register_layer("child", child);
  EXPECT_NE(error_of([&] { child.register_layer("parent", layer); }).find("contain itself"),
            std::string::npos);
  EXPECT_NE(error_of([&] { layer.register_layer("self", layer); }).find("contain itself"),
            std::string::npos);
}

TEST(Layers, ASharedParameterIsListedOnceButNamedEachTime) {
  L::Linear shared(3, {.in_size = 2});
  dz::Model m;
  m.register_layer("a", shared);
  m.register_layer("b", shared);
  EXPECT_EQ(names_of(m), (std::vector<std::string>{"a/W", "a/b", "b/W", "b/b"}));
  EXPECT_EQ(m.params().size(), 2u);
}

namespace {
struct TwoInOneOut : dz::Layer {
  using dz::Layer::forward;
  std::vector<Variable> forward(const std::vector<Variable> &xs) override {
    return {xs.size() == 1 ? xs[0] * 2.0 : xs[0] + xs[1]};
  }
};
} // namespace

TEST(Layers, UnaryAndMultiInputForwardDefaultToEachOther) {
  TwoInOneOut multi;
  EXPECT_DOUBLE_EQ(multi(Variable(3.0)).item<double>(), 6.0);
  EXPECT_DOUBLE_EQ(multi({Variable(3.0), Variable(4.0)})[0].item<double>(), 7.0);
  L::Linear fc(2, {.in_size = 2});
  EXPECT_EQ(fc(std::vector<Variable>{input({1, 2})}).size(), 1u);
  EXPECT_NE(error_of([&] {
              fc({input({1, 2}), input({1, 2})});
            }).find("takes one input, got 2"),
            std::string::npos);
  dz::Layer nothing;
  EXPECT_NE(error_of([&] { nothing(Variable(1.0)); }).find("overrides neither"), std::string::npos);
}

TEST(Layers, OptimizersSkipParametersThatHaveNoDataYet) {
  M::MLP mlp({4, 2});
  O::SGD sgd(0.1);
  sgd.setup(mlp);
  sgd.update(); // nothing has data or grad yet
  const Variable x = input({5, 3});
  F::sum(mlp(x)).backward();
  const Tensor before = mlp.layers[0].W.data().copy();
  sgd.update();
  EXPECT_FALSE(same(mlp.layers[0].W.data(), before));

  // FreezeParam takes a layer: its parameters stay, the others train.
  sgd.add_hook(O::FreezeParam(mlp.layers[0]));
  const Tensor w0 = mlp.layers[0].W.data().copy(), w1 = mlp.layers[1].W.data().copy();
  F::sum(mlp(x)).backward();
  sgd.update();
  EXPECT_TRUE(same(mlp.layers[0].W.data(), w0));
  EXPECT_FALSE(same(mlp.layers[1].W.data(), w1));
}

// ---- recurrent layers ------------------------------------------------------------------

TEST(Layers, RNNCarriesItsHiddenStateUntilReset) {
  L::RNN rnn(4);
  EXPECT_EQ(names_of(rnn), (std::vector<std::string>{"x2h/W", "x2h/b", "h2h/W"}));
  EXPECT_FALSE(rnn.h().defined());
  const Variable x = input({2, 3});
  const Variable h1 = rnn(x);
  EXPECT_EQ(h1.shape(), (dz::Shape{2, 4}));
  EXPECT_TRUE(rnn.h().same_node(h1));
  EXPECT_EQ(rnn.h2h.W.shape(), (dz::Shape{4, 4}));
  const Variable h2 = rnn(x);
  const Tensor want = dz::tanh(dz::matmul(x.data(), rnn.x2h.W.data()) + rnn.x2h.b.data() +
                               dz::matmul(h1.data(), rnn.h2h.W.data()));
  EXPECT_TRUE(dz::allclose(h2.data(), want, 1e-5, 1e-6));
  // Gradients flow back through both steps.
  F::sum(h2).backward();
  EXPECT_TRUE(rnn.h2h.W.has_grad());
  // A copy shares the state; reset_state() on a model reaches its sub-layers.
  L::RNN alias = rnn;
  dz::Model model;
  model.register_layer("rnn", rnn);
  model.reset_state();
  EXPECT_FALSE(alias.h().defined());
  EXPECT_TRUE(same(rnn(x).data(), h1.data()));
}

TEST(Layers, LSTMMatchesDeZeroEquationsAndResets) {
  L::LSTM lstm(5, {.in_size = 3});
  EXPECT_EQ(lstm.params().size(), 12u); // 4 x2* (W, b) + 4 h2* (W)
  const Variable x = input({2, 3});
  const Variable h1 = lstm(x);
  EXPECT_EQ(h1.shape(), (dz::Shape{2, 5}));
  EXPECT_EQ(lstm.c().shape(), (dz::Shape{2, 5}));
  const Tensor c1 = lstm.c().data();
  const Variable h2 = lstm(x);

  auto lin = [&](const L::Linear &xl, const L::Linear &hl) {
    return dz::matmul(x.data(), xl.W.data()) + xl.b.data() + dz::matmul(h1.data(), hl.W.data());
  };
  const Tensor f = dz::sigmoid(lin(lstm.x2f, lstm.h2f)), i = dz::sigmoid(lin(lstm.x2i, lstm.h2i));
  const Tensor o = dz::sigmoid(lin(lstm.x2o, lstm.h2o)), u = dz::tanh(lin(lstm.x2u, lstm.h2u));
  const Tensor c2 = f * c1 + i * u;
  EXPECT_TRUE(dz::allclose(lstm.c().data(), c2, 1e-5, 1e-6));
  EXPECT_TRUE(dz::allclose(h2.data(), o * dz::tanh(c2), 1e-5, 1e-6));

  lstm.reset_state();
  EXPECT_FALSE(lstm.h().defined());
  EXPECT_FALSE(lstm.c().defined());
  EXPECT_TRUE(same(lstm(x).data(), h1.data()));
}

TEST(Layers, GRUMatchesItsEquationsAndResets) {
  L::GRU gru(5, {.in_size = 3});
  EXPECT_EQ(names_of(gru), (std::vector<std::string>{"x2z/W", "x2z/b", "x2r/W", "x2r/b", "x2h/W",
                                                     "x2h/b", "h2z/W", "h2r/W", "h2h/W"}));
  EXPECT_FALSE(gru.h().defined());
  const Variable x = input({2, 3});
  const Variable h1 = gru(x);
  EXPECT_EQ(h1.shape(), (dz::Shape{2, 5}));
  EXPECT_TRUE(gru.h().same_node(h1));
  auto xl = [&](const L::Linear &l) { return dz::matmul(x.data(), l.W.data()) + l.b.data(); };
  // The first step: h_prev = 0.
  const Tensor z1 = dz::sigmoid(xl(gru.x2z));
  EXPECT_TRUE(dz::allclose(h1.data(), (1.0 - z1) * dz::tanh(xl(gru.x2h)), 1e-5, 1e-6));
  const Variable h2 = gru(x);
  const Tensor h = h1.data();
  const Tensor z = dz::sigmoid(xl(gru.x2z) + dz::matmul(h, gru.h2z.W.data()));
  const Tensor r = dz::sigmoid(xl(gru.x2r) + dz::matmul(h, gru.h2r.W.data()));
  const Tensor n = dz::tanh(xl(gru.x2h) + dz::matmul(r * h, gru.h2h.W.data()));
  EXPECT_TRUE(dz::allclose(h2.data(), (1.0 - z) * n + z * h, 1e-5, 1e-6));
  gru.reset_state();
  EXPECT_FALSE(gru.h().defined());
  EXPECT_TRUE(same(gru(x).data(), h1.data()));
}

TEST(Layers, GRUGradientsMatchCentralDifferencesInFloat64) {
  dz::manual_seed(7);
  L::GRU gru(4, {.in_size = 3, .dtype = dz::f64});
  const Tensor xs = dz::randn({3, 2, 3}, dz::f64, 5); // 3 steps of a batch of 2
  // Three steps from no state; each step's h weighted differently, so every step counts.
  auto run = [&](const Variable &x) {
    gru.reset_state();
    Variable y;
    for (int64_t t = 0; t < 3; ++t) {
      Variable h = gru(F::get_item(x, {t})) * double(t + 1);
      y = y.defined() ? y + h : h;
    }
    return y;
  };
  const dz::utils::GradCheckOptions tol{.rtol = 1e-4, .atol = 1e-5, .eps = 1e-4};
  dz::utils::GradCheckResult in = dz::utils::gradient_check(run, xs, tol);
  EXPECT_TRUE(in) << in.report;
  for (dz::Parameter p : gru.params()) {
    SCOPED_TRACE(p.name());
    const Tensor saved = p.data();
    gru.cleargrads();
    F::sum(run(Variable(xs))).backward();
    ASSERT_TRUE(p.has_grad());
    const Tensor analytic = p.grad().data();
    const Tensor numeric = dz::utils::numerical_diff(
        [&](const Variable &v) {
          p.set_data(v.data());
          return run(Variable(xs));
        },
        saved, tol.eps);
    p.set_data(saved);
    EXPECT_TRUE(dz::allclose(analytic, numeric, tol.rtol, tol.atol))
        << "max difference " << dz::max_abs_diff(analytic, numeric);
  }
}

// ---- models: Sequential, MLP --------------------------------------------------------------

TEST(Models, SequentialRunsLayersAndFunctionsInOrder) {
  L::Linear first(6, {.in_size = 3});
  M::Sequential seq({first, F::relu, L::Linear(2), [](const Variable &v) { return v * 3.0; }});
  EXPECT_EQ(seq.size(), 4u);
  EXPECT_EQ(seq.layer(1), nullptr);
  const Variable x = input({4, 3});
  const Variable y = seq(x);
  EXPECT_EQ(y.shape(), (dz::Shape{4, 2}));
  EXPECT_EQ(names_of(seq), (std::vector<std::string>{"0/W", "0/b", "2/W", "2/b"}));
  EXPECT_TRUE(seq.params()[0].same_node(first.W)); // the step shares the layer's parameters
  auto second = std::dynamic_pointer_cast<L::Linear>(seq.layer(2));
  ASSERT_TRUE(second);
  const Tensor want =
      3.0 * (dz::matmul(dz::relu(dz::matmul(x.data(), first.W.data()) + first.b.data()),
                        second->W.data()) +
             second->b.data());
  EXPECT_TRUE(dz::allclose(y.data(), want, 1e-5, 1e-6));
  seq.append(L::Linear(1));
  EXPECT_EQ(seq(x).shape(), (dz::Shape{4, 1}));
  // Nested models are steps too.
  M::Sequential outer({seq, F::sigmoid});
  EXPECT_EQ(names_of(outer).front(), "0/0/W");
}

TEST(Models, MLPShapesNamesAndActivation) {
  M::MLP mlp({10, 3});
  const Variable x = input({5, 2});
  EXPECT_EQ(mlp(x).shape(), (dz::Shape{5, 3}));
  EXPECT_EQ(names_of(mlp), (std::vector<std::string>{"l0/W", "l0/b", "l1/W", "l1/b"}));
  EXPECT_EQ(count_params(mlp), 2 * 10 + 10 + 10 * 3 + 3);
  const auto &l0 = mlp.layers[0], &l1 = mlp.layers[1];
  const Tensor sig = dz::sigmoid(dz::matmul(x.data(), l0.W.data()) + l0.b.data());
  EXPECT_TRUE(dz::allclose(mlp(x).data(), dz::matmul(sig, l1.W.data()) + l1.b.data(), 1e-5, 1e-6));

  M::MLP relu({8, 8, 4}, F::relu);
  EXPECT_EQ(relu(x).shape(), (dz::Shape{5, 4}));
  EXPECT_EQ(relu.params().size(), 6u);
  EXPECT_NE(error_of([] { M::MLP bad({}); }).find("fc_output_sizes is empty"), std::string::npos);
}

TEST(Models, MLPLearnsAToyRegression) {
  dz::manual_seed(0);
  const Tensor xs = dz::rand({100, 1}, dz::f32, 0);
  const Tensor ts = dz::sin(2 * std::numbers::pi * xs) + dz::rand({100, 1}, dz::f32, 1) * 0.1;
  M::MLP mlp({10, 1});
  O::SGD sgd(0.2);
  sgd.setup(mlp);
  double first = 0, last = 0;
  for (int i = 0; i < 300; ++i) {
    Variable loss = F::mean_squared_error(mlp(Variable(xs)), Variable(ts));
    mlp.cleargrads();
    loss.backward();
    sgd.update();
    (i == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_LT(last, first * 0.5);
}

// ---- save_weights / load_weights -----------------------------------------------------------

TEST(Layers, SaveLoadRoundTripIsBitwiseIntoAFreshModel) {
  for (bool compressed : {false, true}) {
    Net net;
    const Variable x = input({4, 6});
    const Tensor y = net(x).data();
    net.scale.set_data(Tensor::scalar(0.75, dz::f32));
    net.save_weights("layers_roundtrip.npz", compressed);

    Net fresh; // lazily sized: the shapes come from the file
    fresh.load_weights("layers_roundtrip.npz");
    const auto a = net.named_params(), b = fresh.named_params();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].first, b[i].first);
      EXPECT_TRUE(same(a[i].second.data(), b[i].second.data())) << a[i].first;
    }
    EXPECT_TRUE(same(fresh(x).data(), net(x).data()));
    EXPECT_FALSE(same(fresh(x).data(), y)); // the new scale came along
  }
}

TEST(Layers, LoadIntoASizedModelCopiesInPlace) {
  M::MLP a({3, 2}), b({3, 2});
  const Variable x = input({1, 4});
  a(x);
  b(x);
  a.save_weights("layers_inplace.npz");
  const Tensor storage = b.layers[0].W.data();
  b.load_weights("layers_inplace.npz");
  EXPECT_TRUE(b.layers[0].W.data().shares_storage(storage)); // same buffer, new values
  EXPECT_TRUE(same(storage, a.layers[0].W.data()));
}

TEST(Layers, LoadErrorsListMissingUnexpectedAndMismatchedKeys) {
  M::MLP small({10, 3});
  small(input({2, 3}));
  small.save_weights("layers_mismatch.npz");

  M::MLP wider({10, 3, 5});
  wider(input({2, 4}));
  const Tensor before = wider.layers[1].W.data().copy();
  const std::string e = error_of([&] { wider.load_weights("layers_mismatch.npz"); });
  EXPECT_NE(e.find("load_weights: 'layers_mismatch.npz' does not match the model"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("missing keys (in the model, not in the file): l2/W, l2/b"), std::string::npos)
      << e;
  EXPECT_NE(e.find("l0/W: file (3, 10) vs model (4, 10)"), std::string::npos) << e;
  EXPECT_EQ(e.find("l1/W:"), std::string::npos) << e; // l1 matches
  EXPECT_TRUE(same(wider.layers[1].W.data(), before)) << "nothing is loaded on error";

  M::MLP one({10});
  one(input({2, 3}));
  const std::string u = error_of([&] { one.load_weights("layers_mismatch.npz"); });
  EXPECT_NE(u.find("unexpected keys (in the file, not in the model): l1/W, l1/b"),
            std::string::npos)
      << u;

  L::Linear f64(3, {.in_size = 10, .dtype = dz::f64});
  dz::Model m;
  m.register_layer("l1", f64);
  dz::save_npz("layers_dtype.npz",
               {{"l1/W", dz::zeros({10, 3}, dz::f32)}, {"l1/b", dz::zeros({3}, dz::f64)}});
  const std::string d = error_of([&] { m.load_weights("layers_dtype.npz"); });
  EXPECT_NE(d.find("l1/W: file float32 vs model float64"), std::string::npos) << d;
}

TEST(Layers, SaveWeightsOfAnUnsizedModelSaysToRunForwardFirst) {
  M::MLP mlp({4});
  const std::string e = error_of([&] { mlp.save_weights("layers_unsized.npz"); });
  EXPECT_NE(e.find("l0/W has no data yet"), std::string::npos) << e;
  EXPECT_NE(e.find("run a forward pass first"), std::string::npos) << e;
}

TEST(Layers, FailedSaveWeightsLeavesTheOldFileLoadable) {
  M::MLP old_model({3, 2});
  old_model(input({1, 2}));
  old_model.save_weights("layers_atomic.npz");
  const std::string before = slurp("layers_atomic.npz");

  M::MLP big({300, 300});
  big(input({1, 300}));
  std::string e;
  {
    // RLIMIT_FSIZE: writes past 64 KiB fail with EFBIG, a disk error on demand (root
    // ignores file permissions, so they cannot force a failure).
    rlimit old_limit{};
    getrlimit(RLIMIT_FSIZE, &old_limit);
    auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = old_limit;
    limit.rlim_cur = 64 * 1024;
    setrlimit(RLIMIT_FSIZE, &limit);
    e = error_of([&] { big.save_weights("layers_atomic.npz"); });
    setrlimit(RLIMIT_FSIZE, &old_limit);
    std::signal(SIGXFSZ, old_handler);
  }
  EXPECT_NE(e.find("cannot write 'layers_atomic.npz'"), std::string::npos) << e;
  EXPECT_EQ(slurp("layers_atomic.npz"), before);
  M::MLP reloaded({3, 2});
  reloaded.load_weights("layers_atomic.npz");
  EXPECT_TRUE(same(reloaded.layers[0].W.data(), old_model.layers[0].W.data()));

  const std::string d = error_of([&] { old_model.save_weights("layers_no_dir/w.npz"); });
  EXPECT_NE(d.find("layers_no_dir/w.npz"), std::string::npos) << d;
}

TEST(Layers, NumpyLoadsSaveWeights) {
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
  Net net;
  net(input({2, 3}));
  net.save_weights("layers_numpy.npz");
  dz::save_npy("layers_numpy_l1W.npy", net.l1.W.data());
  std::ofstream("layers_numpy.py") << R"PY(
import numpy as np
z = np.load("layers_numpy.npz")
assert sorted(z.files) == ["l1/W", "l1/b", "l2/W", "l2/b", "scale"], z.files
assert z["l1/W"].shape == (3, 100) and z["l1/W"].dtype == np.float32
assert np.array_equal(z["l1/W"], np.load("layers_numpy_l1W.npy"))
assert z["scale"].shape == () and z["scale"] == 1.0
)PY";
  EXPECT_EQ(std::system("/usr/bin/python3 layers_numpy.py"), 0);
}

// ---- convolution, batch normalisation, embedding ----------------------------------------

TEST(Layers, Conv2dTakesInChannelsFromTheFirstInput) {
  L::Conv2d conv(8, 3, {.stride = 1, .pad = 1});
  EXPECT_FALSE(conv.W.data().defined());
  EXPECT_EQ(names_of(conv), (std::vector<std::string>{"W", "b"}));
  const Variable x = input({2, 3, 5, 5});
  const Variable y = conv(x);
  EXPECT_EQ(conv.W.shape(), (dz::Shape{8, 3, 3, 3}));
  EXPECT_EQ(conv.b.shape(), (dz::Shape{8}));
  EXPECT_EQ(y.shape(), (dz::Shape{2, 8, 5, 5}));
  EXPECT_TRUE(same(y.data(), F::conv2d(x, conv.W, conv.b, 1, 1).data()));

  L::Conv2d wide(64, {2, 3}, {.stride = {2, 1}, .nobias = true, .in_channels = 50});
  ASSERT_TRUE(wide.W.data().defined());
  EXPECT_EQ(wide.W.shape(), (dz::Shape{64, 50, 2, 3}));
  EXPECT_FALSE(wide.b.defined());
  const Tensor W = wide.W.data().to(dz::f64);
  const double sd = std::sqrt(dz::square(W).mean().item<double>());
  EXPECT_NEAR(sd, std::sqrt(1.0 / (50 * 2 * 3)), 0.03 * std::sqrt(1.0 / 300));
  EXPECT_EQ(wide(input({1, 50, 6, 6})).shape(), (dz::Shape{1, 64, 3, 4}));
  const std::string e = error_of([&] { wide(input({1, 3, 6, 6})); });
  EXPECT_NE(e.find("Conv2d: the input has 3 channels"), std::string::npos) << e;
  EXPECT_NE(error_of([&] { conv(input({3, 5, 5})); }).find("must be 4-d"), std::string::npos);
}

TEST(Layers, Deconv2dWeightIsInByOutChannels) {
  L::Deconv2d deconv(4, 3, {.stride = 2, .pad = 1});
  const Variable x = input({1, 2, 5, 5});
  const Variable y = deconv(x);
  EXPECT_EQ(deconv.W.shape(), (dz::Shape{2, 4, 3, 3}));
  EXPECT_EQ(y.shape(), (dz::Shape{1, 4, 9, 9})); // 2 (5 - 1) + 3 - 2
  EXPECT_TRUE(same(y.data(), F::deconv2d(x, deconv.W, deconv.b, 2, 1).data()));
  L::Deconv2d sized(4, 3, {.stride = 2, .pad = 1, .outsize = dz::Size2(10, 10)});
  EXPECT_EQ(sized(x).shape(), (dz::Shape{1, 4, 10, 10}));
}

TEST(Layers, BatchNormUsesBatchStatisticsInTrainingAndRunningOnesInTest) {
  L::BatchNorm bn;
  EXPECT_EQ(names_of(bn), (std::vector<std::string>{"avg_mean", "avg_var", "gamma", "beta"}));
  const Tensor xt = dz::randn({16, 3}, dz::f64, 3) * 2.0 + 5.0;
  const Variable x(xt);
  const Variable y = bn(x);
  EXPECT_EQ(bn.gamma.dtype(), dz::f64);
  const Tensor mean = xt.mean({0}), var = dz::square(xt - mean).mean({0});
  EXPECT_TRUE(dz::allclose(y.data(), (xt - mean) / dz::sqrt(var + 2e-5), 1e-10, 1e-10));
  EXPECT_TRUE(dz::allclose(bn.avg_mean.data(), 0.1 * mean, 1e-12, 1e-12));
  EXPECT_TRUE(dz::allclose(bn.avg_var.data(), 0.9 + 0.1 * var * (16.0 / 15.0), 1e-12, 1e-12));

  // The running averages are parameters without gradients: optimizers leave them alone.
  F::sum(y * y).backward();
  EXPECT_TRUE(bn.gamma.has_grad());
  EXPECT_FALSE(bn.avg_mean.has_grad());
  const Tensor avg_mean = bn.avg_mean.data().copy();
  O::SGD sgd(0.1);
  sgd.setup(bn);
  sgd.update();
  EXPECT_TRUE(same(bn.avg_mean.data(), avg_mean));

  dz::TestMode test_mode;
  const Variable yt = bn(x);
  const Tensor want =
      (xt - bn.avg_mean.data()) / dz::sqrt(bn.avg_var.data() + 2e-5) * bn.gamma.data() +
      bn.beta.data();
  EXPECT_TRUE(dz::allclose(yt.data(), want, 1e-10, 1e-10));
  EXPECT_TRUE(same(bn.avg_mean.data(), avg_mean)); // test mode does not update them
}

TEST(Layers, BatchNormNormalisesEachChannelOfImages) {
  L::BatchNorm bn;
  const Variable y = bn(Variable(dz::randn({4, 2, 3, 3}, dz::f32, 5) * 3.0 + 1.0));
  EXPECT_EQ(bn.gamma.shape(), (dz::Shape{2}));
  const Tensor m = y.data().mean({0, 2, 3});
  EXPECT_LT(dz::abs(m).max().item<double>(), 1e-5);
}

TEST(Layers, EmbedIDLooksUpRows) {
  L::EmbedID embed(10, 4);
  EXPECT_EQ(embed.W.shape(), (dz::Shape{10, 4}));
  const Tensor ids = Tensor::from_i64({1, 5, 1, 9, 0, 3}, {2, 3});
  const Variable y = embed(Variable(ids));
  EXPECT_EQ(y.shape(), (dz::Shape{2, 3, 4}));
  EXPECT_TRUE(same(y.data()[{1, 0}], embed.W.data()[{9}]));
  F::sum(y).backward();
  EXPECT_DOUBLE_EQ((embed.W.grad().data()[{1, 0}].item<double>()), 2.0); // id 1 appears twice
}

// ---- VGG16, ResNet ----------------------------------------------------------------------

TEST(Models, VGG16HasDeZeroLayersAndSizesFc6FromTheInput) {
  M::VGG16 vgg;
  const auto names = names_of(vgg);
  ASSERT_EQ(names.size(), 32u);
  EXPECT_EQ(names.front(), "conv1_1/W");
  EXPECT_EQ(names[25], "conv5_3/b");
  EXPECT_EQ(names.back(), "fc8/b");
  // The 13 convolutions (14,714,688), fc6.b, fc7 and fc8 are sized; fc6.W waits for the
  // input.
  EXPECT_EQ(count_params(vgg), 14714688 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000);
  EXPECT_FALSE(vgg.fc6.W.data().defined());
  dz::TestMode test_mode;
  const Variable y = vgg(input({1, 3, 32, 32}));
  EXPECT_EQ(y.shape(), (dz::Shape{1, 1000}));
  EXPECT_EQ(vgg.fc6.W.shape(), (dz::Shape{512, 4096})); // 512 x 1 x 1 after five poolings

  const Tensor image = dz::full({2, 2, 3}, 200.0, dz::u8);
  const Tensor pre = M::VGG16::preprocess(image);
  EXPECT_EQ(pre.shape(), (dz::Shape{3, 2, 2}));
  EXPECT_EQ(pre.dtype(), dz::f32);
  EXPECT_FLOAT_EQ(pre.at(0), float(200 - 103.939)); // B first
  EXPECT_FLOAT_EQ(pre.at(8), float(200 - 123.68));  // R last
  EXPECT_NE(error_of([] { M::VGG16 v(std::string("models_no_such.npz")); }).find("cannot open"),
            std::string::npos);
}

TEST(Models, ResNetAcceptsOnly50_101_152) {
  const std::string e = error_of([] { M::ResNet r(34); });
  EXPECT_NE(e.find("n_layers must be 50, 101 or 152, got 34"), std::string::npos) << e;
  EXPECT_EQ(M::ResNet::stage_sizes(101), (std::array<int, 4>{3, 4, 23, 3}));
  EXPECT_EQ(M::ResNet::stage_sizes(152), (std::array<int, 4>{3, 8, 36, 3}));
}

TEST(Models, ResNet50StructureForwardAndWeightsRoundTrip) {
  dz::manual_seed(0);
  M::ResNet50 net;
  EXPECT_EQ(net.res4.b.size(), 5u);
  const Variable x = input({2, 3, 32, 32});
  const Variable y = net(x); // train mode: fills the BatchNorm parameters
  EXPECT_EQ(y.shape(), (dz::Shape{2, 1000}));

  const auto named = net.named_params();
  EXPECT_EQ(named.size(), 268u); // conv1 2 + bn1 4 + 4 x BottleneckA 20 + 12 x BottleneckB 15
  EXPECT_EQ(named[0].first, "conv1/W");
  EXPECT_EQ(named[2].first, "bn1/avg_mean");
  EXPECT_EQ(named[6].first, "res2/a/conv1/W");
  EXPECT_EQ(named[26].first, "res2/b1/conv1/W");
  EXPECT_EQ(named.back().first, "fc6/b");
  int64_t trainable = 0;
  for (const auto &[name, p] : named)
    if (name.find("avg_") == std::string::npos)
      trainable += p.size();
  EXPECT_EQ(trainable, 25557032 + 64); // torchvision's ResNet-50 plus conv1's bias

  net.save_weights("models_resnet50.npz");
  M::ResNet50 loaded(std::string("models_resnet50.npz"));
  for (size_t i = 0; i < named.size(); ++i)
    ASSERT_TRUE(same(loaded.named_params()[i].second.data(), named[i].second.data()))
        << named[i].first;
  dz::TestMode test_mode;
  EXPECT_TRUE(same(loaded(x).data(), net(x).data()));
  std::remove("models_resnet50.npz");
}

TEST(Models, PlotDrawsTheGraphOfForward) {
  M::MLP mlp({4, 2});
  mlp.plot(input({3, 5}), "models_plot.dot"); // .dot: the DOT source only, no Graphviz needed
  const std::string dot = slurp("models_plot.dot");
  EXPECT_EQ(dot.rfind("digraph", 0), 0u) << dot;
  EXPECT_NE(dot.find("(3, 2)"), std::string::npos) << dot; // the output's shape, verbose
}
