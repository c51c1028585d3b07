// dz::compile of the neural-network functions (ir/DzNNOps.td): each compiled function
// agrees with the same code run eagerly, in values and gradients (double backprop
// included), and whole training steps (CNN, LSTM, BatchNorm with its running averages)
// match eager steps and write their state back.
#include "../support/side_by_side.h"

#include <dzc/dzc.h>

#include <gtest/gtest.h>

#include <cmath>

namespace F = dz::functions;
namespace L = dz::layers;
namespace O = dz::optimizers;
using dz::Index;
using dz::Shape;
using dz::shape_str;
using dz::Slice;
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

// float32: the compiled program may sum a product in another order than the eager kernel
// (im2col + GEMM for a convolution under lower-conv, OpenBLAS or oneDNN by size), and a
// second derivative through a 27-tap convolution differs by a few 1e-5 relative; float64
// checks the algorithms to 1e-10.
double tolerance(dz::DType dt) { return dt == dz::f64 ? 1e-10 : 5e-5; }

/// Runs `body` eagerly and compiled (traced on the first call, compiled on the next two,
/// with new argument values each time) and compares every output.
template <typename Body>
void expect_compiled_matches_eager(Body body, const std::vector<std::vector<Tensor>> &calls,
                                   const std::string &what) {
  auto compiled = dz::compile([&](Variable a, Variable b) { return body(a, b); });
  for (size_t c = 0; c < calls.size(); ++c) {
    std::vector<Variable> expected = body(Variable(calls[c][0]), Variable(calls[c][1]));
    std::vector<Variable> got = compiled(Variable(calls[c][0]), Variable(calls[c][1]));
    ASSERT_EQ(got.size(), expected.size()) << what;
    for (size_t i = 0; i < got.size(); ++i)
      expect_close(got[i].data(), expected[i].data(), tolerance(expected[i].dtype()),
                   what + ": output " + std::to_string(i) + " of call " + std::to_string(c));
  }
  EXPECT_EQ(compiled.retraces(), 1) << what;
}

std::vector<std::vector<Tensor>> random_calls(const Shape &a, const Shape &b, dz::DType dt) {
  std::vector<std::vector<Tensor>> calls;
  for (uint64_t s = 0; s < 3; ++s)
    calls.push_back({dz::randn(a, dt, 10 + s), dz::randn(b, dt, 20 + s)});
  return calls;
}

/// Loss, gradients of a and b, and the gradient in b of the squared norm of the gradient
/// in a (double backprop) of sum(f(a, b) * f(a, b)).
template <typename Fn> auto with_gradients(Fn f) {
  return [f](Variable a, Variable b) {
    Variable y = f(a, b);
    Variable loss = F::sum(y * y);
    a.cleargrad();
    b.cleargrad();
    loss.backward({.create_graph = true});
    Variable ga = a.grad(), gb = b.grad();
    a.cleargrad();
    b.cleargrad();
    Variable gg = F::sum(ga * ga);
    gg.backward();
    Variable ggb = b.grad();
    a.cleargrad();
    b.cleargrad();
    return std::vector<Variable>{loss, ga, gb, ggb};
  };
}

} // namespace

// ---- indexing ------------------------------------------------------------------------------

TEST(CompileNN, GetItemValuesAndGradientsMatchEager) {
  auto body = with_gradients([](Variable x, Variable w) {
    Variable rows = F::get_item(x, {Slice(1, 4, 2)});                            // (2, 5)
    Variable col = F::get_item(x, {Slice(), 3});                                 // (4,)
    Variable last = F::get_item(x, {-1, Slice(std::nullopt, std::nullopt, -2)}); // (3,)
    return F::sum(rows * w, {1}) + F::sum(col) * F::sum(last * last);
  });
  for (dz::DType dt : {dz::f32, dz::f64})
    expect_compiled_matches_eager(body, random_calls({4, 5}, {2, 5}, dt), "get_item");
}

TEST(CompileNN, GetItemGradIsCompiledAndItsGradientIsGetItem) {
  auto body = with_gradients([](Variable gy, Variable w) {
    Variable g = F::get_item_grad(gy * w, {Slice(), Slice(0, 2)}, {3, 4});
    return F::tanh(g) * 2.0;
  });
  expect_compiled_matches_eager(body, random_calls({3, 2}, {3, 2}, dz::f64), "get_item_grad");
}

TEST(CompileNN, GetItemWithAnIndexTensorIsRefusedWithAReason) {
  auto f = dz::compile([](Variable x) {
    return F::get_item(x, {Index(std::vector<int64_t>{0, 0})});
  });
  try {
    f(dz::randn({3, 2}, dz::f64, 1));
    FAIL() << "expected dz::Error";
  } catch (const dz::Error &e) {
    EXPECT_NE(std::string(e.what()).find("index tensor"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("embed_id"), std::string::npos) << e.what();
  }
}

// ---- convolution and pooling ---------------------------------------------------------------

TEST(CompileNN, Conv2dWithBiasMatchesEagerWithDoubleBackprop) {
  for (dz::DType dt : {dz::f32, dz::f64}) {
    Tensor b = dz::randn({4}, dt, 3);
    auto body =
        with_gradients([&](Variable x, Variable W) { return F::conv2d(x, W, Variable(b), 2, 1); });
    expect_compiled_matches_eager(body, random_calls({2, 3, 7, 6}, {4, 3, 3, 3}, dt),
                                  std::string("conv2d ") + dz::dtype_name(dt));
  }
}

TEST(CompileNN, Deconv2dMatchesEagerWithDoubleBackprop) {
  auto body =
      with_gradients([](Variable x, Variable W) { return F::deconv2d(x, W, std::nullopt, 2, 1); });
  expect_compiled_matches_eager(body, random_calls({2, 4, 3, 4}, {4, 2, 3, 3}, dz::f64),
                                "deconv2d");
}

TEST(CompileNN, Conv2dGradWMatchesEagerWithDoubleBackprop) {
  auto body = with_gradients([](Variable x, Variable gy) {
    return F::conv2d_grad_w(x, gy, {3, 2}, 1, {1, 0});
  });
  // x (2, 3, 5, 5), kernel 3x2, pad (1, 0): gy (2, 4, 5, 4).
  expect_compiled_matches_eager(body, random_calls({2, 3, 5, 5}, {2, 4, 5, 4}, dz::f64),
                                "conv2d_grad_w");
}

TEST(CompileNN, Im2colAndCol2imMatchEager) {
  auto im2col =
      with_gradients([](Variable x, Variable w) { return F::im2col(x, 3, 2, 1, true) * w; });
  // x (1, 2, 5, 5), 3x3 stride 2 pad 1: 3x3 windows, col (9, 18).
  expect_compiled_matches_eager(im2col, random_calls({1, 2, 5, 5}, {9, 18}, dz::f64), "im2col");
  auto col2im = with_gradients([](Variable col, Variable w) {
    return F::col2im(col * w, {1, 2, 5, 5}, 3, 2, 1, false);
  });
  expect_compiled_matches_eager(
      col2im, random_calls({1, 2, 3, 3, 3, 3}, {1, 2, 3, 3, 3, 3}, dz::f64), "col2im");
}

TEST(CompileNN, PoolingMatchesEagerWithDoubleBackprop) {
  auto body = with_gradients([](Variable x, Variable w) {
    return F::pooling(x * w, 2, 2, 0) +
           F::pooling(x, 3, 1, 1)[{Slice(), Slice(), Slice(0, 3), Slice(0, 3)}];
  });
  expect_compiled_matches_eager(body, random_calls({2, 3, 6, 6}, {2, 3, 6, 6}, dz::f64),
                                "pooling f64");
  expect_compiled_matches_eager(body, random_calls({2, 3, 6, 6}, {2, 3, 6, 6}, dz::f32),
                                "pooling f32");
}

TEST(CompileNN, AveragePoolingMatchesEagerWithDoubleBackprop) {
  auto body = with_gradients([](Variable x, Variable w) {
    return F::average_pooling(x * w, {2, 3}, {2, 1}, {1, 0});
  });
  expect_compiled_matches_eager(body, random_calls({2, 3, 5, 6}, {2, 3, 5, 6}, dz::f64),
                                "average_pooling");
}

namespace {

/// conv 1->8 3x3 pad 1, relu, maxpool 2, conv 8->16 3x3, relu, maxpool 2, linear -> 10.
struct SmallCnn : dz::Model {
  L::Conv2d c1{8, 3, {.pad = 1}}, c2{16, 3};
  L::Linear fc{10};
  SmallCnn() {
    register_layer("c1", c1);
    register_layer("c2", c2);
    register_layer("fc", fc);
  }
  Variable forward(const Variable &x) override {
    Variable h = F::pooling(F::relu(c1(x)), 2, 2);
    h = F::pooling(F::relu(c2(h)), 2, 2);
    return fc(F::reshape(h, {h.shape()[0], -1}));
  }
};

Tensor labels(int64_t n, int64_t shift) {
  std::vector<int64_t> t;
  for (int64_t i = 0; i < n; ++i)
    t.push_back((i * 3 + shift) % 10);
  return Tensor::from_i64(t);
}

} // namespace

TEST(CompileNN, CnnSgdStepsMatchEagerAndWriteBackTheWeights) {
  dz::manual_seed(11);
  SmallCnn eager_model;
  eager_model(dz::randn({1, 1, 12, 12}, dz::f32, 0));
  dz::manual_seed(11);
  SmallCnn compiled_model;
  compiled_model(dz::randn({1, 1, 12, 12}, dz::f32, 0));
  O::SGD eager_opt(0.1), compiled_opt(0.1);
  dz::testing::SideBySide train(eager_model, eager_opt, compiled_model, compiled_opt);
  for (int i = 0; i < 3; ++i) {
    Tensor x = dz::randn({4, 1, 12, 12}, dz::f32, uint64_t(100 + i));
    auto [eager_loss, loss] = train.step(x, labels(4, i));
    expect_close(loss.data(), eager_loss.data(), 1e-5, "loss of step " + std::to_string(i));
  }
  EXPECT_EQ(train.compiled().retraces(), 1);
  // The input gradient of the convolution is a deconvolution, which the pipeline lowers
  // to a GEMM and col2im (unless the lowering is turned off).
  const std::string ir = train.compiled().optimized_ir();
  EXPECT_TRUE(ir.find("dz.deconv2d") != std::string::npos ||
              ir.find("dz.col2im") != std::string::npos);
  EXPECT_NE(ir.find("dz.max_pooling_grad"), std::string::npos);
  for (auto [pe, pc] : train.params()) {
    expect_close(pc.data(), pe.data(), 1e-5, "parameter " + pc.name());
    expect_close(pc.grad().data(), pe.grad().data(), 1e-5, "gradient of " + pc.name());
  }
}

// ---- embedding -------------------------------------------------------------------------------

TEST(CompileNN, EmbedIdReadsTheIdsOfEachCallAndAccumulatesRepeatedIds) {
  auto body = [](Variable ids, Variable W) {
    Variable y = F::embed_id(ids, W); // (2, 3, 4)
    Variable loss = F::sum(F::tanh(y) * y);
    W.cleargrad();
    loss.backward({.create_graph = true});
    Variable gW = W.grad();
    W.cleargrad();
    F::sum(gW * gW).backward();
    Variable ggW = W.grad();
    W.cleargrad();
    return std::vector<Variable>{y, gW, ggW};
  };
  std::vector<std::vector<Tensor>> calls;
  std::vector<std::vector<int64_t>> id_sets = {
      {0, 1, 2, 3, 4, 5}, {2, 2, 9, 2, 0, 9}, {7, 7, 7, 7, 7, 7}};
  for (size_t i = 0; i < id_sets.size(); ++i)
    calls.push_back({Tensor::from_i64(id_sets[i], {2, 3}), dz::randn({10, 4}, dz::f64, 30 + i)});
  expect_compiled_matches_eager(body, calls, "embed_id");
}

// ---- batch normalisation -------------------------------------------------------------------

TEST(CompileNN, BatchNormTrainStepsUpdateTheRunningAveragesLikeEager) {
  for (Shape shape : {Shape{6, 3}, Shape{4, 3, 2, 2}}) {
    // The layers make gamma, beta and the running averages at their first forward: for
    // compiled_bn, inside the trace.
    L::BatchNorm eager_bn, compiled_bn;
    auto loss_of = [](L::BatchNorm &bn, const Variable &x) {
      Variable y = bn(x);
      return F::sum(F::square(F::reshape(y, {y.shape()[0], -1}))) * F::sum(F::sigmoid(x));
    };
    O::SGD eager_opt(0.05), compiled_opt(0.05);
    dz::testing::SideBySide train(eager_bn, eager_opt, compiled_bn, compiled_opt, loss_of);
    for (int i = 0; i < 3; ++i) {
      Tensor x = dz::randn(shape, dz::f64, uint64_t(40 + i)) * 2.0 + 0.5;
      auto [eager_loss, loss] = train.step(x);
      std::string at = shape_str(shape) + " step " + std::to_string(i);
      expect_close(loss.data(), eager_loss.data(), 1e-10, "loss " + at);
      expect_close(compiled_bn.avg_mean.data(), eager_bn.avg_mean.data(), 1e-10, "avg_mean " + at);
      expect_close(compiled_bn.avg_var.data(), eager_bn.avg_var.data(), 1e-10, "avg_var " + at);
      expect_close(compiled_bn.gamma.data(), eager_bn.gamma.data(), 1e-10, "gamma " + at);
      expect_close(compiled_bn.beta.data(), eager_bn.beta.data(), 1e-10, "beta " + at);
    }
    EXPECT_EQ(train.compiled().retraces(), 1);

    // Test mode: the running averages normalise, and they stay as they are.
    dz::TestMode test;
    Tensor x = dz::randn(shape, dz::f64, 50);
    Tensor before = compiled_bn.avg_mean.data().copy();
    auto forward = dz::compile([&](Variable v) { return compiled_bn(v); });
    forward(x);
    Variable y = forward(x);
    expect_close(y.data(), eager_bn(Variable(x)).data(), 1e-10, "test mode " + shape_str(shape));
    expect_close(compiled_bn.avg_mean.data(), before, 0, "test mode leaves avg_mean");
  }
}

// ---- LSTM ------------------------------------------------------------------------------------

TEST(CompileNN, LstmTruncatedBpttStepMatchesEager) {
  // A whole sequence per call: the step resets the state, so every call starts alike.
  auto run = [](L::LSTM &lstm, L::Linear &fc, Variable xs, Variable ts) {
    lstm.reset_state();
    Variable loss;
    for (int64_t t = 0; t < xs.shape()[0]; ++t) {
      Variable y = fc(lstm(F::get_item(xs, {t})));
      Variable l = F::mean_squared_error(y, F::get_item(ts, {t}));
      loss = loss ? loss + l : l;
    }
    return loss;
  };
  // Two models with the same weights (made at construction and at the first forward).
  struct Net {
    L::LSTM lstm{6};
    L::Linear fc{1};
    dz::Model model;
    void cleargrads() { model.cleargrads(); }
    std::vector<dz::Parameter> params() const { return model.params(); }
  };
  auto make = [&] {
    dz::manual_seed(21);
    Net n;
    run(n.lstm, n.fc, Variable(dz::zeros({1, 2, 3})), Variable(dz::zeros({1, 2, 1})));
    n.model.register_layer("lstm", n.lstm);
    n.model.register_layer("fc", n.fc);
    return n;
  };
  Net eager = make(), compiled = make();
  O::SGD eager_opt(0.1), compiled_opt(0.1);
  auto loss_of = [&](Net &n, Variable xs, Variable ts) { return run(n.lstm, n.fc, xs, ts); };
  dz::testing::SideBySide train(eager, eager_opt, compiled, compiled_opt, loss_of);
  for (int i = 0; i < 3; ++i) {
    Tensor xs = dz::randn({5, 2, 3}, dz::f32, uint64_t(60 + i));
    Tensor ts = dz::randn({5, 2, 1}, dz::f32, uint64_t(70 + i));
    auto [eager_loss, loss] = train.step(xs, ts);
    expect_close(loss.data(), eager_loss.data(), 1e-5, "loss of step " + std::to_string(i));
  }
  EXPECT_EQ(train.compiled().retraces(), 1);
  for (auto [pe, pc] : train.params())
    expect_close(pc.data(), pe.data(), 1e-5, "parameter " + pc.name());
}

// ---- dropout -------------------------------------------------------------------------------

TEST(CompileNN, DropoutDrawsANewMaskEachCallFromTheSameStreamAsEager) {
  // The mask comes from an RNG state operand (dz.dropout_mask, dz.rng_next), not from a
  // constant: compiled calls draw the masks eager calls draw from the same seed.
  Tensor x = dz::ones({64, 50}, dz::f32);
  auto body = [](Variable v) { return F::dropout(v, 0.3); };
  std::vector<Tensor> eager;
  dz::manual_seed(5);
  for (int i = 0; i < 3; ++i)
    eager.push_back(body(Variable(x)).data());
  dz::manual_seed(5);
  auto f = dz::compile(body);
  std::vector<Tensor> compiled;
  for (int i = 0; i < 3; ++i)
    compiled.push_back(f(x).data());
  EXPECT_EQ(f.retraces(), 1);
  EXPECT_NE(f.ir().find("dz.dropout_mask"), std::string::npos) << f.ir();
  for (int i = 0; i < 3; ++i) {
    expect_close(compiled[size_t(i)], eager[size_t(i)], 0, "mask of call " + std::to_string(i));
    std::vector<double> m = compiled[size_t(i)].to_vector();
    double kept = 0;
    for (double v : m) {
      ASSERT_TRUE(v == 0 || std::abs(v - 1 / 0.7) < 1e-6) << v;
      kept += v != 0;
    }
    EXPECT_NEAR(kept / double(m.size()), 0.7, 0.03) << "keep ratio of call " << i;
  }
  EXPECT_GT(dz::abs(compiled[0] - compiled[1]).max().item<double>(), 0)
      << "the masks of two calls differ";
  // An eager draw after compiled calls continues the stream instead of repeating it.
  Tensor next = body(Variable(x)).data();
  EXPECT_GT(dz::abs(next - compiled[2]).max().item<double>(), 0);
  {
    dz::TestMode test; // no mask in test mode
    auto g = dz::compile(body);
    g(x);
    expect_close(g(x).data(), x, 0, "test-mode dropout is the identity");
  }
}

// ---- binary losses (compositions of traced functions) ----------------------------------------

TEST(CompileNN, SigmoidAndBinaryCrossEntropyMatchEagerWithNewTargetsEachCall) {
  auto body = [](Variable x, Variable t) {
    Variable loss = F::sigmoid_cross_entropy(x, t) + F::binary_cross_entropy(F::sigmoid(x), t);
    x.cleargrad();
    loss.backward();
    Variable gx = x.grad();
    x.cleargrad();
    return std::vector<Variable>{loss, gx};
  };
  std::vector<std::vector<Tensor>> calls;
  for (uint64_t s = 0; s < 3; ++s)
    calls.push_back({dz::randn({6, 1}, dz::f64, 80 + s),
                     (dz::rand({6, 1}, dz::f64, 90 + s) > 0.5).to(dz::i64)});
  expect_compiled_matches_eager(body, calls, "sigmoid/binary cross entropy");
}
