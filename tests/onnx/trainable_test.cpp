// trainable_test.cpp - dz::onnx::import_trainable (dzc/onnx.h): an ONNX model as a dz::Model
// whose initializers are Parameters. A model built here with ONNX's protobuf classes and
// one exported by PyTorch (data/torch_mlp.onnx, data/make_torch_mlp.py): parameter names
// and shapes, values against PyTorch, gradients of every parameter against central
// differences in float64, 20 SGD steps eager and compiled, the Model API (optimizer hooks,
// save/load_weights, to, on cuda:0 where it is available or emulated), export of the tuned
// weights (onnx::checker, import_model, onnxruntime where installed), BatchNormalization and
// Dropout in training mode, and the errors.
#include <dzc/device_backend.h>
#include <dzc/dzc.h>
#include <dzc/npz.h>
#include <dzc/onnx.h>

#include <onnx/checker.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "onnx_model_builder.h"
#include "ort.h"

namespace F = dz::functions;
namespace O = dz::optimizers;
using dz::Tensor;
using dz::Variable;

using dz::testing::TempDir;

namespace {

using dz::onnx_test::int_attr;
using dz::onnx_test::ModelBuilder;
constexpr int32_t kDouble = ::onnx::TensorProto::DOUBLE;

/// n smooth values in [-0.8, 0.8], different for each seed.
std::vector<double> wave(int64_t n, uint32_t seed) {
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i)
    v.push_back(std::sin(double(seed * 131 + uint32_t(i) * 17)) * 0.8);
  return v;
}

/// x (N, 3) -> Gemm(fc1.weight, fc1.bias) -> Tanh -> MatMul(head/W) -> Add(head/b) ->
/// Reshape(shape, an int64 initializer) -> y (N, 2).
void write_mlp(const std::string &path) {
  ModelBuilder b(kDouble);
  b.input("x", {-1, 3}).output("y", {-1, 2});
  b.initializer("fc1.weight", {4, 3}, wave(12, 1)).initializer("fc1.bias", {4}, wave(4, 2));
  b.initializer("head/W", {4, 2}, wave(8, 3)).initializer("head/b", {2}, wave(2, 4));
  b.int_initializer("shape", {2}, {-1, 2});
  int_attr(b.node("Gemm", {"x", "fc1.weight", "fc1.bias"}, {"h1"}, "fc1"), "transB", 1);
  b.node("Tanh", {"h1"}, {"h2"}, "act");
  b.node("MatMul", {"h2", "head/W"}, {"h3"}, "head_mm");
  b.node("Add", {"h3", "head/b"}, {"h4"}, "head_add");
  b.node("Reshape", {"h4", "shape"}, {"y"}, "flatten");
  b.save(path);
}

/// x (N, 4) -> Mul(w) -> Dropout(ratio, an initializer; opset 13) -> Tanh -> y (N, 4), and
/// Dropout's mask as the output `mask` when `mask` is set.
void write_dropout(const std::string &path, double ratio, bool mask = false) {
  ModelBuilder b(kDouble);
  b.input("x", {-1, 4}).output("y", {-1, 4});
  if (mask)
    b.output("mask", {-1, 4}, ::onnx::TensorProto::BOOL);
  b.initializer("w", {4}, wave(4, 5)).initializer("ratio", {}, {ratio});
  b.node("Mul", {"x", "w"}, {"h"}, "scale");
  std::vector<std::string> outs = {"d"};
  if (mask)
    outs.push_back("mask");
  b.node("Dropout", {"h", "ratio"}, outs, "drop");
  b.node("Tanh", {"d"}, {"y"}, "act");
  b.save(path);
}

Tensor ramp(const dz::Shape &shape, double scale, double shift = 0.0) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i)
    v.push_back(std::cos(double(i) * 1.3 + shift) * scale);
  return Tensor::from(v, shape, dz::f64);
}

void expectClose(const Tensor &got, const Tensor &want, double rtol = 1e-4, double atol = 1e-5) {
  ASSERT_EQ(got.shape(), want.shape());
  std::vector<double> g = got.to_vector(), w = want.to_vector();
  for (size_t i = 0; i < g.size(); ++i)
    EXPECT_LE(std::abs(g[i] - w[i]), atol + rtol * std::abs(w[i])) << "element " << i;
}

std::string message_of(const std::function<void()> &f) {
  try {
    f();
  } catch (const dz::Error &e) {
    return e.what();
  }
  return "(no dz::Error)";
}

#ifndef DZ_TEST_DATA
#error "DZ_TEST_DATA names tests/onnx/data"
#endif
const std::string kTorchMlp = std::string(DZ_TEST_DATA) + "/torch_mlp.onnx";

} // namespace

namespace {
std::map<std::string, Tensor> torch_io() {
  std::map<std::string, Tensor> io;
  for (auto &[name, t] : dz::load_npz(std::string(DZ_TEST_DATA) + "/torch_mlp_io.npz"))
    io[name] = t;
  return io;
}

/// The model's BatchNormalization statistics as written by export_model.
std::map<std::string, Tensor> exported_statistics(dz::onnx::TrainableModel &m, const Variable &x,
                                                  const std::string &path) {
  dz::onnx::export_model(m, {x}, path);
  ::onnx::ModelProto proto;
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(proto.ParseFromIstream(&f));
  std::map<std::string, Tensor> out;
  for (const ::onnx::TensorProto &t : proto.graph().initializer())
    if (t.name() == "bn.running_mean" || t.name() == "bn.running_var") {
      EXPECT_EQ(t.raw_data().size(), 6 * sizeof(double)) << t.name();
      out[t.name()] = Tensor::from_buffer(t.raw_data().data(), {6}, dz::f64);
    }
  return out;
}

/// The gradients of sum(m(x) * k) with respect to every parameter of `m` and to x against
/// central differences (float64, eagerly, in the current Config mode).
void expect_gradients_match(dz::onnx::TrainableModel &m, const Tensor &xt) {
  Variable x(xt);
  const dz::Shape y_shape = m(Variable(xt)).shape();
  const Variable k = Variable::constant(ramp(y_shape, 1.0, 0.5));
  auto loss_of = [&](const Variable &input) { return F::sum(m(input) * k); };
  m.cleargrads();
  loss_of(x).backward();
  std::vector<std::pair<std::string, Variable>> checked;
  for (const auto &[name, p] : m.named_params())
    checked.push_back({name, p});
  checked.push_back({"x", x});
  for (const auto &[name, v] : checked) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(v.has_grad());
    const Tensor analytic = v.grad().data();
    Tensor data = v.data(); // shares the storage
    double *p = static_cast<double *>(data.raw());
    std::vector<double> numeric(size_t(data.size()));
    dz::NoGrad no_grad;
    for (size_t i = 0; i < numeric.size(); ++i) {
      const double keep = p[i], eps = 1e-4;
      p[i] = keep + eps;
      // x is read through `xt`, which shares its storage
      const double up = loss_of(Variable::constant(xt)).data().item<double>();
      p[i] = keep - eps;
      const double down = loss_of(Variable::constant(xt)).data().item<double>();
      p[i] = keep;
      numeric[i] = (up - down) / (2 * eps);
    }
    expectClose(analytic, Tensor::from(numeric, data.shape(), dz::f64), 1e-4, 1e-5);
  }
}

/// One SGD step on the mean squared error of m(x) against t.
Variable sgd_step(dz::onnx::TrainableModel &m, O::SGD &opt, const Variable &x, const Variable &t) {
  Variable loss = F::mean_squared_error(m(x), t);
  m.cleargrads();
  loss.backward();
  opt.update();
  return loss;
}

/// `steps` SGD steps of the model in `path` eagerly and inside dz::compile (one trace), on
/// inputs of `in` and targets of `out` columns, each after manual_seed(seed + step): the
/// same losses (1e-6 relative) and weights; `hook` adds a hook to both optimizers. Returns
/// the two models.
std::pair<dz::onnx::TrainableModel, dz::onnx::TrainableModel>
expect_eager_and_compiled_agree(const std::string &path, int steps, double lr, int64_t in,
                                int64_t out, const std::function<void(O::SGD &)> &hook = nullptr) {
  dz::onnx::TrainableModel eager = dz::onnx::import_trainable(path);
  dz::onnx::TrainableModel compiled = dz::onnx::import_trainable(path);
  O::SGD sgd_e(lr), sgd_c(lr);
  sgd_e.setup(eager);
  sgd_c.setup(compiled);
  if (hook) {
    hook(sgd_e);
    hook(sgd_c);
  }
  auto compiled_step = dz::compile(
      [&](const Variable &x, const Variable &t) { return sgd_step(compiled, sgd_c, x, t); });
  for (int i = 0; i < steps; ++i) {
    const Variable x(ramp({8, in}, 1.0, i)), t(ramp({8, out}, 0.5, 2 * i));
    dz::manual_seed(uint64_t(100 + i));
    const double le = sgd_step(eager, sgd_e, x, t).item<double>();
    dz::manual_seed(uint64_t(100 + i));
    const double lc = compiled_step(x, t).item<double>();
    EXPECT_NEAR(lc, le, 1e-6 * std::abs(le)) << "step " << i;
  }
  EXPECT_EQ(compiled_step.retraces(), 1);
  for (const std::string &name : eager.parameter_names())
    expectClose(compiled.param(name).data(), eager.param(name).data(), 1e-9, 1e-12);
  // The weights moved.
  dz::onnx::TrainableModel fresh = dz::onnx::import_trainable(path);
  const std::string last = eager.parameter_names().back();
  EXPECT_GT(
      std::abs(fresh.param(last).data().to_vector()[0] - eager.param(last).data().to_vector()[0]),
      1e-5);
  return {eager, compiled};
}
} // namespace

TEST(ImportTrainable, ParametersAreTheFloatingInitializersNamedAsInTheFile) {
  TempDir dir("dz-trainable");
  write_mlp(dir.file("mlp.onnx"));
  dz::onnx::TrainableModel m = dz::onnx::import_trainable(dir.file("mlp.onnx"));
  std::vector<std::pair<std::string, dz::Shape>> want = {
      {"fc1.weight", {4, 3}}, {"fc1.bias", {4}}, {"head/W", {4, 2}}, {"head/b", {2}}};
  auto named = m.named_params();
  ASSERT_EQ(named.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(named[i].first, want[i].first);
    EXPECT_EQ(named[i].second.shape(), want[i].second);
    EXPECT_EQ(named[i].second.dtype(), dz::f64);
  }
  EXPECT_EQ(m.params().size(), 4u);
  EXPECT_EQ(m.input_names(), std::vector<std::string>{"x"});
  EXPECT_EQ(m.output_names(), std::vector<std::string>{"y"});
  EXPECT_TRUE(m.param("head/W").same_node(named[2].second));

  // A list picks the trainable ones; the others stay constants.
  dz::onnx::TrainableModel head =
      dz::onnx::import_trainable(dir.file("mlp.onnx"), {.parameters = {"head/W", "head/b"}});
  EXPECT_EQ(head.params().size(), 2u);
  const Tensor x = ramp({5, 3}, 1.0);
  dz::NoGrad no_grad;
  expectClose(head(Variable(x)).data(), m(Variable(x)).data(), 0, 1e-12);
}

TEST(ImportTrainable, ValuesMatchPyTorch) {
  dz::onnx::TrainableModel m = dz::onnx::import_trainable(kTorchMlp);
  std::vector<std::string> names;
  for (const auto &[name, p] : m.named_params())
    names.push_back(name);
  // BatchNormalization's running mean and variance are not Parameters.
  EXPECT_EQ(names, (std::vector<std::string>{"fc1.weight", "fc1.bias", "bn.weight", "bn.bias",
                                             "fc2.weight", "fc2.bias"}));
  EXPECT_EQ(m.param("fc1.weight").shape(), (dz::Shape{6, 4}));
  EXPECT_EQ(m.param("fc2.bias").shape(), (dz::Shape{3}));
  std::map<std::string, Tensor> io = torch_io();
  dz::TestMode test;
  expectClose(m(Variable(io.at("x"))).data(), io.at("y"), 1e-12, 1e-12);
}

// Every parameter's gradient (and the input's) against central differences, float64, for
// the model built here and for PyTorch's (in test mode: BatchNormalization on its running
// statistics), eagerly; the second-order gradient through the compiled backward too.

// Every parameter's gradient (and the input's) against central differences, float64, for
// the model built here, for PyTorch's (in test mode: BatchNormalization on its running
// statistics), and for a model with Dropout in test mode and with a ratio of 0 in training
// mode (both the identity), eagerly.
TEST(ImportTrainable, GradientsMatchCentralDifferences) {
  TempDir dir("dz-trainable");
  write_mlp(dir.file("mlp.onnx"));
  write_dropout(dir.file("dropout.onnx"), 0.5);
  write_dropout(dir.file("dropout0.onnx"), 0.0);
  for (const std::string &path : {dir.file("mlp.onnx"), kTorchMlp, dir.file("dropout.onnx")}) {
    SCOPED_TRACE(path);
    dz::TestMode test;
    dz::onnx::TrainableModel m = dz::onnx::import_trainable(path);
    const int64_t in = path == dir.file("mlp.onnx") ? 3 : 4;
    expect_gradients_match(m, ramp({5, in}, 0.9));
  }
  dz::onnx::TrainableModel m = dz::onnx::import_trainable(dir.file("dropout0.onnx"));
  expect_gradients_match(m, ramp({5, 4}, 0.9));
}

TEST(ImportTrainable, DoubleBackpropThroughTheCompiledBackward) {
  TempDir dir("dz-trainable");
  write_mlp(dir.file("mlp.onnx"));
  dz::onnx::TrainableModel m = dz::onnx::import_trainable(dir.file("mlp.onnx"));
  const Tensor xt = ramp({2, 3}, 0.7);
  // g(x) = d sum(y^2) / dx; then d sum(g) / dx against central differences of sum(g).
  auto g_sum = [&](Variable x, bool create) {
    Variable y = m(x);
    Variable l = F::sum(y * y);
    x.cleargrad();
    l.backward({.create_graph = create});
    return F::sum(x.grad());
  };
  Variable x(xt.copy());
  Variable s = g_sum(x, true);
  x.cleargrad();
  s.backward();
  const Tensor analytic = x.grad().data();
  std::vector<double> numeric;
  for (int64_t i = 0; i < xt.size(); ++i) {
    const double eps = 1e-4;
    std::vector<double> v = xt.to_vector();
    v[size_t(i)] += eps;
    const double up = g_sum(Variable(Tensor::from(v, xt.shape(), dz::f64)), false).item<double>();
    v[size_t(i)] -= 2 * eps;
    const double down = g_sum(Variable(Tensor::from(v, xt.shape(), dz::f64)), false).item<double>();
    numeric.push_back((up - down) / (2 * eps));
  }
  expectClose(analytic, Tensor::from(numeric, xt.shape(), dz::f64), 1e-4, 1e-5);
}

// The same 20 SGD steps (with a weight-decay hook) eagerly and inside dz::compile: the same
// losses and weights; the compiled step traces once.

// The same 20 SGD steps (with a weight-decay hook) eagerly and inside dz::compile: the same
// losses and weights; the compiled step traces once.
TEST(ImportTrainable, SgdStepsEagerAndCompiledAgree) {
  TempDir dir("dz-trainable");
  write_mlp(dir.file("mlp.onnx"));
  expect_eager_and_compiled_agree(dir.file("mlp.onnx"), 20, 0.1, 3, 2,
                                  [](O::SGD &opt) { opt.add_hook(O::WeightDecay(1e-3)); });
}

TEST(ImportTrainable, ModelApiSaveLoadCleargradsTo) {
  TempDir dir("dz-trainable");
  write_mlp(dir.file("mlp.onnx"));
  dz::onnx::TrainableModel m = dz::onnx::import_trainable(dir.file("mlp.onnx"));
  const Variable x(ramp({4, 3}, 1.0));
  F::sum(m(x)).backward();
  for (const dz::Parameter &p : m.params())
    EXPECT_TRUE(p.has_grad());
  m.cleargrads();
  for (const dz::Parameter &p : m.params())
    EXPECT_FALSE(p.has_grad());

  const Tensor before = m(x).data().copy();
  m.save_weights(dir.file("w.npz"));
  std::set<std::string> saved;
  for (const auto &[name, t] : dz::load_npz(dir.file("w.npz")))
    saved.insert(name);
  EXPECT_EQ(saved, (std::set<std::string>{"fc1.weight", "fc1.bias", "head/W", "head/b"}));
  m.param("fc1.weight").set_data(dz::zeros({4, 3}, dz::f64));
  EXPECT_GT(std::abs(m(x).data().to_vector()[0] - before.to_vector()[0]), 1e-6);
  m.load_weights(dir.file("w.npz"));
  expectClose(m(x).data(), before, 0, 0);

  m.to(dz::Device::cpu());
  EXPECT_EQ(m.param("fc1.bias").device(), dz::Device::cpu());
  expectClose(m(x).data(), before, 0, 0);
  EXPECT_EQ(m.compilations(), 1);
}

// to(cuda:0): the parameters move, and the forward, the gradients, a compiled SGD step and
// Dropout's masks (the same Philox stream on every device) match the CPU's. ctest runs it
// on the host emulation of a GPU (onnx.trainable.emulated_cuda) and, where there is one, on
// the GPU.
TEST(ImportTrainable, ToCudaMatchesTheCpu) {
  const dz::Device gpu = dz::Device::cuda(0);
  std::string why;
  if (!dz::device_available(gpu, &why))
    GTEST_SKIP() << "cuda:0 is not available: " << why;
  TempDir dir("dz-trainable");
  write_mlp(dir.file("mlp.onnx"));
  write_dropout(dir.file("dropout.onnx"), 0.4);
  for (const std::string &path : {dir.file("mlp.onnx"), kTorchMlp, dir.file("dropout.onnx")}) {
    SCOPED_TRACE(path);
    const int64_t in = path == dir.file("mlp.onnx") ? 3 : 4;
    dz::onnx::TrainableModel cpu = dz::onnx::import_trainable(path);
    dz::onnx::TrainableModel dev = dz::onnx::import_trainable(path);
    dev.to(gpu);
    for (const dz::Parameter &p : dev.params())
      EXPECT_EQ(p.device(), gpu) << p.name();
    const Tensor xt = ramp({6, in}, 1.0);
    Variable xc(xt.copy()), xg(xt.to(gpu));
    dz::manual_seed(7);
    Variable yc = cpu(xc);
    dz::manual_seed(7);
    Variable yg = dev(xg);
    EXPECT_EQ(yg.device(), gpu);
    expectClose(yg.data().to(dz::Device::cpu()), yc.data(), 1e-9, 1e-12);
    F::sum(yc * yc).backward();
    F::sum(yg * yg).backward();
    expectClose(xg.grad().data().to(dz::Device::cpu()), xc.grad().data(), 1e-9, 1e-12);
    for (const std::string &name : cpu.parameter_names())
      expectClose(dev.param(name).grad().data().to(dz::Device::cpu()),
                  cpu.param(name).grad().data(), 1e-9, 1e-12);
    // One compiled SGD step on each.
    O::SGD sgd_c(0.1), sgd_g(0.1);
    sgd_c.setup(cpu);
    sgd_g.setup(dev);
    auto step_c = dz::compile(
        [&](const Variable &x, const Variable &t) { return sgd_step(cpu, sgd_c, x, t); });
    auto step_g = dz::compile(
        [&](const Variable &x, const Variable &t) { return sgd_step(dev, sgd_g, x, t); });
    const Tensor tt = ramp(yc.shape(), 0.5, 1.0);
    dz::manual_seed(8);
    const double lc = step_c(Variable(xt), Variable(tt)).item<double>();
    dz::manual_seed(8);
    const double lg = step_g(Variable(xt.to(gpu)), Variable(tt.to(gpu))).item<double>();
    EXPECT_NEAR(lg, lc, 1e-9 * std::abs(lc));
    for (const std::string &name : cpu.parameter_names())
      expectClose(dev.param(name).data().to(dz::Device::cpu()), cpu.param(name).data(), 1e-9,
                  1e-12);
  }
}

namespace {
/// The model of `path` (inputs of `in` columns) after 3 SGD steps in test mode, exported to
/// `out`; its outputs for `x`.
Tensor tune_and_export(const std::string &path, const Variable &x, const std::string &out,
                       dz::onnx::TrainableModel *tuned = nullptr) {
  dz::TestMode test; // PyTorch's model has BatchNormalization
  dz::onnx::TrainableModel m = dz::onnx::import_trainable(path);
  O::SGD sgd(0.2);
  sgd.setup(m);
  for (int i = 0; i < 3; ++i) {
    Variable loss = F::sum(m(x) * m(x));
    m.cleargrads();
    loss.backward();
    sgd.update();
  }
  dz::onnx::export_model(m, {x}, out);
  if (tuned)
    *tuned = m;
  dz::NoGrad no_grad;
  return m(x).data();
}

/// The models the export tests tune: built here (an MLP, and one with Dropout) and PyTorch's,
/// each with the number of its input columns.
std::vector<std::pair<std::string, int64_t>> export_sources(const TempDir &dir) {
  write_mlp(dir.file("mlp.onnx"));
  write_dropout(dir.file("dropout.onnx"), 0.3);
  return {{dir.file("mlp.onnx"), 3}, {dir.file("dropout.onnx"), 4}, {kTorchMlp, 4}};
}
} // namespace

// Export writes the tuned weights under the original names into the original graph: ONNX's
// checker accepts it, import_model and import_trainable compute what the tuned model computes.
TEST(ImportTrainable, ExportWritesTheTunedWeights) {
  TempDir dir("dz-trainable");
  for (const auto &[path, in] : export_sources(dir)) {
    SCOPED_TRACE(path);
    const Variable x(ramp({6, in}, 1.0));
    const std::string out = dir.file("tuned.onnx");
    dz::onnx::TrainableModel m = dz::onnx::import_trainable(path);
    const Tensor want = tune_and_export(path, x, out, &m);
    ::onnx::ModelProto proto;
    {
      std::ifstream f(out, std::ios::binary);
      ASSERT_TRUE(proto.ParseFromIstream(&f));
    }
    EXPECT_NO_THROW(::onnx::checker::check_model(proto));
    int found = 0;
    for (const ::onnx::TensorProto &t : proto.graph().initializer())
      for (const std::string &name : m.parameter_names())
        if (t.name() == name) {
          ++found;
          const Tensor p = m.param(name).data();
          ASSERT_EQ(t.raw_data().size(), p.nbytes()) << name;
          EXPECT_EQ(std::memcmp(t.raw_data().data(), p.raw(), p.nbytes()), 0) << name;
        }
    EXPECT_EQ(found, int(m.parameter_names().size()));

    dz::TestMode test;
    dz::onnx::ImportedModel g = dz::onnx::import_model(out);
    expectClose(g({x.data()}).at(0), want, 1e-12, 1e-12);
    dz::onnx::TrainableModel again = dz::onnx::import_trainable(out);
    expectClose(again(x).data(), want, 1e-12, 1e-12);
  }
}

// onnxruntime runs the exported files and computes the tuned model's outputs.
TEST(ImportTrainable, ExportRunsInOnnxRuntime) {
  const std::string why = dz::testing::ort_unavailable_reason();
  if (!why.empty())
    GTEST_SKIP() << "onnxruntime is unavailable: " << why;
  TempDir dir("dz-trainable");
  for (const auto &[path, in] : export_sources(dir)) {
    SCOPED_TRACE(path);
    const Variable x(ramp({6, in}, 1.0));
    const std::string out = dir.file("tuned.onnx");
    const Tensor want = tune_and_export(path, x, out);
    expectClose(dz::testing::run_ort(out, {x.data()}).at(0), want, 1e-9, 1e-9);
  }
}

TEST(ImportTrainable, BatchNormalizationTrainsAsPyTorch) {
  TempDir dir("dz-trainable");
  std::map<std::string, Tensor> io = torch_io();
  dz::onnx::TrainableModel m = dz::onnx::import_trainable(kTorchMlp);
  const Variable x(io.at("x"));
  {
    dz::TestMode test;
    m(x);
  }
  std::map<std::string, Tensor> stats = exported_statistics(m, x, dir.file("a.onnx"));
  ASSERT_EQ(stats.size(), 2u);
  const Tensor rm0 = stats.at("bn.running_mean"), rv0 = stats.at("bn.running_var");
  expectClose(m(x).data(), io.at("y_train"), 1e-10, 1e-12); // training mode
  stats = exported_statistics(m, x, dir.file("b.onnx"));
  // ONNX holds momentum as a float32 attribute (0.9f = 0.899999976): 1e-8 apart.
  expectClose(stats.at("bn.running_mean"), io.at("running_mean"), 1e-6, 2e-8);
  expectClose(stats.at("bn.running_var"), io.at("running_var"), 1e-6, 2e-8);
  EXPECT_GT(std::abs(stats.at("bn.running_mean").to_vector()[0] - rm0.to_vector()[0]), 1e-6);
  // The gradient in training mode goes through the batch statistics.
  F::sum(m(x) * m(x)).backward();
  EXPECT_TRUE(m.param("bn.weight").has_grad());
}

// 10 SGD steps of PyTorch's model in training mode, eagerly and compiled: the same losses,
// weights and running statistics (written back after each compiled call).

// 10 SGD steps of PyTorch's model in training mode, eagerly and compiled: the same losses,
// weights and running statistics (written back after each compiled call).
TEST(ImportTrainable, BatchNormalizationEagerAndCompiledAgree) {
  TempDir dir("dz-trainable");
  auto [eager, compiled] = expect_eager_and_compiled_agree(kTorchMlp, 10, 0.05, 4, 3);
  const Variable x(ramp({2, 4}, 1.0));
  std::map<std::string, Tensor> se = exported_statistics(eager, x, dir.file("e.onnx")),
                                sc = exported_statistics(compiled, x, dir.file("c.onnx"));
  for (const std::string name : {"bn.running_mean", "bn.running_var"})
    expectClose(sc.at(name), se.at(name), 1e-9, 1e-12);
}

// Dropout in training mode: each element of its input is dropped (0) or scaled by
// 1 / (1 - ratio), about `ratio` of them dropped; the mask output says which; the gradient
// is 0 exactly where the output was dropped and scaled by 1 / (1 - ratio) elsewhere. In test
// mode it is the identity, and Dropout's ratio is not a Parameter.
TEST(ImportTrainable, DropoutDropsInTrainingMode) {
  TempDir dir("dz-trainable");
  const double ratio = 0.3, scale = 1 / (1 - ratio);
  write_dropout(dir.file("dropout.onnx"), ratio, /*mask=*/true);
  dz::onnx::TrainableModel m = dz::onnx::import_trainable(dir.file("dropout.onnx"));
  EXPECT_EQ(m.parameter_names(), std::vector<std::string>{"w"});
  const int64_t n = 1000;
  const Tensor xt = ramp({n, 4}, 1.0, 0.1);
  const std::vector<double> w = m.param("w").data().to_vector(), xv = xt.to_vector();
  Variable x(xt.copy());
  std::vector<Variable> ys = m(std::vector<Variable>{x});
  ASSERT_EQ(ys.size(), 2u);
  const std::vector<double> y = ys[0].data().to_vector();
  const Tensor mask = ys[1].data();
  ASSERT_EQ(mask.dtype(), dz::b8);
  F::sum(ys[0]).backward();
  const std::vector<double> gx = x.grad().data().to_vector();
  int64_t dropped = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double h = xv[i] * w[i % 4];
    const bool kept = mask.data<bool>()[i];
    dropped += !kept;
    // y = tanh(h * mask); dy/dx = (1 - y^2) * mask * w
    EXPECT_DOUBLE_EQ(y[i], kept ? std::tanh(h * scale) : 0.0) << i;
    EXPECT_DOUBLE_EQ(gx[i], kept ? (1 - y[i] * y[i]) * scale * w[i % 4] : 0.0) << i;
  }
  // Binomial(4000, 0.3): mean 1200, standard deviation 29; 5 sigma either side.
  EXPECT_NEAR(double(dropped), ratio * double(4 * n), 145.0);
  // Another call draws another mask.
  const std::vector<double> y2 = m(std::vector<Variable>{x})[0].data().to_vector();
  EXPECT_NE(y2, y);

  dz::TestMode test;
  const std::vector<double> ye = m(std::vector<Variable>{x})[0].data().to_vector();
  for (size_t i = 0; i < ye.size(); ++i)
    EXPECT_DOUBLE_EQ(ye[i], std::tanh(xv[i] * w[i % 4])) << i;
}

// After the same dz::manual_seed, the imported Dropout draws the masks F::dropout draws, and
// the same ones eagerly and inside dz::compile (where each call draws a new one).
TEST(ImportTrainable, DropoutMasksFollowTheSeedEagerAndCompiled) {
  TempDir dir("dz-trainable");
  write_dropout(dir.file("dropout.onnx"), 0.5);
  dz::onnx::TrainableModel m = dz::onnx::import_trainable(dir.file("dropout.onnx"));
  const Variable x(ramp({16, 4}, 1.0));
  const Variable w = m.param("w");
  dz::manual_seed(42);
  std::vector<Tensor> eager;
  for (int i = 0; i < 3; ++i)
    eager.push_back(m(x).data());
  dz::manual_seed(42);
  for (int i = 0; i < 3; ++i)
    expectClose(eager[size_t(i)], F::tanh(F::dropout(x * w, 0.5)).data(), 1e-12, 1e-15);
  auto f = dz::compile([&](const Variable &input) { return m(input); });
  dz::manual_seed(42);
  for (int i = 0; i < 3; ++i)
    expectClose(f(x).data(), eager[size_t(i)], 1e-12, 1e-15);
  EXPECT_EQ(f.retraces(), 1);
  EXPECT_NE(eager[0].to_vector(), eager[1].to_vector());
}

// Dropout as PyTorch exports it in training mode: the ratio from a Constant node and
// training_mode true. Training mode drops as F::dropout; test mode is the identity.
TEST(ImportTrainable, DropoutWithTrainingModeInput) {
  TempDir dir("dz-trainable");
  ModelBuilder b(kDouble);
  b.input("x", {-1, 4}).output("y", {-1, 4}).initializer("w", {4}, wave(4, 9));
  ::onnx::TensorProto *on = b.model().mutable_graph()->add_initializer();
  on->set_name("training_mode");
  on->set_data_type(::onnx::TensorProto::BOOL);
  on->add_int32_data(1);
  ::onnx::NodeProto &ratio = b.node("Constant", {}, {"ratio"}, "ratio_constant");
  ::onnx::AttributeProto *value = ratio.add_attribute();
  value->set_name("value");
  value->set_type(::onnx::AttributeProto::TENSOR);
  value->mutable_t()->set_data_type(::onnx::TensorProto::FLOAT);
  value->mutable_t()->add_float_data(0.25f);
  b.node("Mul", {"x", "w"}, {"h"}, "scale");
  b.node("Dropout", {"h", "ratio", "training_mode"}, {"y"}, "drop");
  b.save(dir.file("torch_dropout.onnx"));
  dz::onnx::TrainableModel m = dz::onnx::import_trainable(dir.file("torch_dropout.onnx"));
  EXPECT_EQ(m.parameter_names(), std::vector<std::string>{"w"});
  const Variable x(ramp({8, 4}, 1.0)), w = m.param("w");
  dz::manual_seed(3);
  const Tensor y = m(x).data();
  dz::manual_seed(3);
  expectClose(y, F::dropout(x * w, 0.25).data(), 1e-12, 1e-15);
  dz::TestMode test;
  expectClose(m(x).data(), (x * w).data(), 1e-12, 1e-15);
}

// 10 SGD steps through Dropout in training mode, eagerly and compiled after the same seeds.
TEST(ImportTrainable, DropoutSgdStepsEagerAndCompiledAgree) {
  TempDir dir("dz-trainable");
  write_dropout(dir.file("dropout.onnx"), 0.25);
  expect_eager_and_compiled_agree(dir.file("dropout.onnx"), 10, 0.1, 4, 4);
}

TEST(ImportTrainable, TrainModeRefusesStatisticsThatAreParameters) {
  dz::onnx::TrainableModel m =
      dz::onnx::import_trainable(kTorchMlp, {.parameters = {"fc1.weight", "bn.running_mean"}});
  const Variable x(ramp({3, 4}, 1.0));
  const std::string msg = message_of([&] { m(x); });
  EXPECT_NE(msg.find("'bn.running_mean' is a Parameter"), std::string::npos) << msg;
  dz::TestMode test;
  EXPECT_NO_THROW(m(x));
}

TEST(ImportTrainableErrors, NoFloatingInitializers) {
  TempDir dir("dz-trainable");
  ModelBuilder b(kDouble);
  b.input("x", {2, 3}).output("y", {3, 2}).int_initializer("perm", {2}, {1, 0});
  b.node("Transpose", {"x"}, {"y"}, "t");
  b.save(dir.file("none.onnx"));
  const std::string msg = message_of([&] { dz::onnx::import_trainable(dir.file("none.onnx")); });
  EXPECT_NE(msg.find("no float or double initializer"), std::string::npos) << msg;
  EXPECT_NE(msg.find("none.onnx"), std::string::npos) << msg;
}

TEST(ImportTrainableErrors, NotAnOnnxFileOrMissing) {
  TempDir dir("dz-trainable");
  std::ofstream(dir.file("junk.onnx")) << "this is not a protobuf \x01\x02\xff";
  std::string msg = message_of([&] { dz::onnx::import_trainable(dir.file("junk.onnx")); });
  EXPECT_NE(msg.find("junk.onnx"), std::string::npos) << msg;
  msg = message_of([&] { dz::onnx::import_trainable(dir.file("missing.onnx")); });
  EXPECT_NE(msg.find("missing.onnx"), std::string::npos) << msg;
  write_mlp(dir.file("mlp.onnx"));
  msg = message_of(
      [&] { dz::onnx::import_trainable(dir.file("mlp.onnx"), {.parameters = {"fc9.weight"}}); });
  EXPECT_NE(msg.find("'fc9.weight'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fc1.weight"), std::string::npos) << msg; // what would be valid
  msg = message_of(
      [&] { dz::onnx::import_trainable(dir.file("mlp.onnx"), {.parameters = {"shape"}}); });
  EXPECT_NE(msg.find("int64"), std::string::npos) << msg;
}

// A gradient that must pass through ArgMax is an error naming the node; a path through it
// beside a differentiable one, and an output that needs no gradient, are fine.
TEST(ImportTrainableErrors, GradientThroughArgMaxNamesTheNode) {
  TempDir dir("dz-trainable");
  ModelBuilder b(kDouble);
  b.input("x", {-1, 3}).output("y", {-1, 3}).output("idx", {-1, 1}, ::onnx::TensorProto::INT64);
  b.output("z", {-1, 1});
  b.initializer("w", {3}, wave(3, 7));
  b.node("Mul", {"x", "w"}, {"h"}, "scale");
  b.node("Identity", {"h"}, {"y"}, "copy");
  int_attr(b.node("ArgMax", {"h"}, {"idx"}, "pick"), "axis", 1);
  int_attr(b.node("Cast", {"idx"}, {"z"}, "to_float"), "to", ::onnx::TensorProto::DOUBLE);
  b.save(dir.file("argmax.onnx"));
  dz::onnx::TrainableModel m = dz::onnx::import_trainable(dir.file("argmax.onnx"));
  const Variable x(ramp({4, 3}, 1.0));
  std::vector<Variable> ys = m(std::vector<Variable>{x});
  ASSERT_EQ(ys.size(), 3u);
  EXPECT_NO_THROW(F::sum(ys[0]).backward()); // y: differentiable
  m.cleargrads();
  std::vector<Variable> again = m(std::vector<Variable>{x});
  const std::string msg = message_of([&] { F::sum(again[2]).backward(); });
  EXPECT_NE(msg.find("node 'pick' (ArgMax)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("input 'x'"), std::string::npos) << msg;
  // Both: the gradient flows through y; z adds nothing.
  m.cleargrads();
  std::vector<Variable> both = m(std::vector<Variable>{x});
  EXPECT_NO_THROW(F::sum(both[0] + both[2]).backward());
  EXPECT_TRUE(m.param("w").has_grad());
}

// A Dropout ratio outside [0, 1) is an error naming the node when training mode needs it.
TEST(ImportTrainableErrors, DropoutRatioOutOfRangeNamesTheNode) {
  TempDir dir("dz-trainable");
  write_dropout(dir.file("dropout.onnx"), 1.0);
  dz::onnx::TrainableModel m = dz::onnx::import_trainable(dir.file("dropout.onnx"));
  const Variable x(ramp({2, 4}, 1.0));
  const std::string msg = message_of([&] { m(x); });
  EXPECT_NE(msg.find("node 'drop' (Dropout"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[0, 1)"), std::string::npos) << msg;
  dz::TestMode test;
  EXPECT_NO_THROW(m(x));
}
