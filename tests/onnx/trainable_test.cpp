// trainable_test.cpp - dz::onnx::import_trainable (dzc/onnx.h): an ONNX model as a dz::Model
// whose initializers are Parameters. A model built here with ONNX's protobuf classes and
// one exported by PyTorch (data/torch_mlp.onnx, data/make_torch_mlp.py): parameter names
// and shapes, values against PyTorch, gradients of every parameter against central
// differences in float64, 20 SGD steps eager and compiled, the Model API (optimizer hooks,
// save/load_weights, to), export of the tuned weights (onnx::checker, import_model,
// onnxruntime where installed), and the errors.
#include <dzc/dzc.h>
#include <dzc/npz.h>
#include <dzc/onnx.h>

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#ifdef DZ_NODE
#include "ort.h"
#endif

namespace F = dz::functions;
namespace O = dz::optimizers;
namespace fs = std::filesystem;
using dz::Tensor;
using dz::Variable;

using dz::testing::TempDir;

namespace {

using Dims = std::vector<int64_t>;

/// A model built field by field; dimension -1 of an input or output is the symbolic "N".
class Builder {
public:
  explicit Builder(int32_t elem = ::onnx::TensorProto::DOUBLE) : elem_(elem) {
    model_.set_ir_version(8);
    model_.add_opset_import()->set_version(13);
    model_.mutable_graph()->set_name("trainable");
  }
  Builder &input(const std::string &name, const Dims &dims, int32_t elem = -1) {
    value_info(model_.mutable_graph()->add_input(), name, dims, elem < 0 ? elem_ : elem);
    return *this;
  }
  Builder &output(const std::string &name, const Dims &dims, int32_t elem = -1) {
    value_info(model_.mutable_graph()->add_output(), name, dims, elem < 0 ? elem_ : elem);
    return *this;
  }
  Builder &initializer(const std::string &name, const Dims &dims, uint32_t seed) {
    ::onnx::TensorProto *t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(elem_);
    int64_t n = 1;
    for (int64_t d : dims) {
      t->add_dims(d);
      n *= d;
    }
    for (int64_t i = 0; i < n; ++i) {
      const double v = std::sin(double(seed * 131 + uint32_t(i) * 17)) * 0.8;
      elem_ == ::onnx::TensorProto::FLOAT ? t->add_float_data(float(v)) : t->add_double_data(v);
    }
    return *this;
  }
  Builder &ints(const std::string &name, const std::vector<int64_t> &values) {
    ::onnx::TensorProto *t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::INT64);
    t->add_dims(int64_t(values.size()));
    for (int64_t v : values)
      t->add_int64_data(v);
    return *this;
  }
  ::onnx::NodeProto &node(const std::string &op, const std::vector<std::string> &inputs,
                          const std::vector<std::string> &outputs, const std::string &name) {
    ::onnx::NodeProto *n = model_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const std::string &i : inputs)
      n->add_input(i);
    for (const std::string &o : outputs)
      n->add_output(o);
    return *n;
  }
  void save(const std::string &path) const {
    std::ofstream(path, std::ios::binary) << model_.SerializeAsString();
  }

private:
  static void value_info(::onnx::ValueInfoProto *v, const std::string &name, const Dims &dims,
                         int32_t elem) {
    v->set_name(name);
    auto *t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(elem);
    for (int64_t d : dims) {
      auto *dim = t->mutable_shape()->add_dim();
      d < 0 ? dim->set_dim_param("N") : dim->set_dim_value(d);
    }
  }
  int32_t elem_;
  ::onnx::ModelProto model_;
};

void int_attr(::onnx::NodeProto &n, const std::string &name, int64_t v) {
  ::onnx::AttributeProto *a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INT);
  a->set_i(v);
}

/// x (N, 3) -> Gemm(fc1.weight, fc1.bias) -> Tanh -> MatMul(head/W) -> Add(head/b) ->
/// Reshape(shape, an int64 initializer) -> y (N, 2).
void write_mlp(const std::string &path, int32_t elem = ::onnx::TensorProto::DOUBLE) {
  Builder b(elem);
  b.input("x", {-1, 3}).output("y", {-1, 2});
  b.initializer("fc1.weight", {4, 3}, 1).initializer("fc1.bias", {4}, 2);
  b.initializer("head/W", {4, 2}, 3).initializer("head/b", {2}, 4).ints("shape", {-1, 2});
  int_attr(b.node("Gemm", {"x", "fc1.weight", "fc1.bias"}, {"h1"}, "fc1"), "transB", 1);
  b.node("Tanh", {"h1"}, {"h2"}, "act");
  b.node("MatMul", {"h2", "head/W"}, {"h3"}, "head_mm");
  b.node("Add", {"h3", "head/b"}, {"h4"}, "head_add");
  b.node("Reshape", {"h4", "shape"}, {"y"}, "flatten");
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
TEST(ImportTrainable, GradientsMatchCentralDifferences) {
  TempDir dir("dz-trainable");
  write_mlp(dir.file("mlp.onnx"));
  for (const std::string &path : {dir.file("mlp.onnx"), kTorchMlp}) {
    SCOPED_TRACE(path);
    dz::TestMode test;
    dz::onnx::TrainableModel m = dz::onnx::import_trainable(path);
    const int64_t in = path == kTorchMlp ? 4 : 3;
    const Tensor xt = ramp({5, in}, 0.9);
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
TEST(ImportTrainable, SgdStepsEagerAndCompiledAgree) {
  TempDir dir("dz-trainable");
  write_mlp(dir.file("mlp.onnx"));
  dz::onnx::TrainableModel eager = dz::onnx::import_trainable(dir.file("mlp.onnx"));
  dz::onnx::TrainableModel compiled = dz::onnx::import_trainable(dir.file("mlp.onnx"));
  O::SGD sgd_e(0.1), sgd_c(0.1);
  sgd_e.setup(eager).add_hook(O::WeightDecay(1e-3));
  sgd_c.setup(compiled).add_hook(O::WeightDecay(1e-3));
  auto step = [](dz::onnx::TrainableModel &m, O::SGD &opt, const Variable &x, const Variable &t) {
    Variable loss = F::mean_squared_error(m(x), t);
    m.cleargrads();
    loss.backward();
    opt.update();
    return loss;
  };
  auto compiled_step = dz::compile(
      [&](const Variable &x, const Variable &t) { return step(compiled, sgd_c, x, t); });
  for (int i = 0; i < 20; ++i) {
    const Variable x(ramp({8, 3}, 1.0, i)), t(ramp({8, 2}, 0.5, 2 * i));
    const double le = step(eager, sgd_e, x, t).item<double>();
    const double lc = compiled_step(x, t).item<double>();
    EXPECT_NEAR(lc, le, 1e-6 * std::abs(le)) << "step " << i;
  }
  EXPECT_EQ(compiled_step.retraces(), 1);
  for (const std::string &name : eager.parameter_names())
    expectClose(compiled.param(name).data(), eager.param(name).data(), 1e-9, 1e-12);
  // The weights moved.
  dz::onnx::TrainableModel fresh = dz::onnx::import_trainable(dir.file("mlp.onnx"));
  EXPECT_GT(std::abs(fresh.param("head/W").data().to_vector()[0] -
                     eager.param("head/W").data().to_vector()[0]),
            1e-4);
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

// Export writes the tuned weights under the original names into the original graph: ONNX's
// checker accepts it, import_model and onnxruntime compute what the tuned model computes.
TEST(ImportTrainable, ExportWritesTheTunedWeights) {
  TempDir dir("dz-trainable");
  for (const std::string &source : {std::string("code"), kTorchMlp}) {
    SCOPED_TRACE(source);
    std::string path = source;
    if (source == "code") {
      path = dir.file("mlp.onnx");
      write_mlp(path);
    }
    dz::TestMode test; // PyTorch's model has BatchNormalization
    dz::onnx::TrainableModel m = dz::onnx::import_trainable(path);
    const int64_t in = source == kTorchMlp ? 4 : 3;
    const Variable x(ramp({6, in}, 1.0));
    O::SGD sgd(0.2);
    sgd.setup(m);
    for (int i = 0; i < 3; ++i) {
      Variable loss = F::sum(m(x) * m(x));
      m.cleargrads();
      loss.backward();
      sgd.update();
    }
    const std::string out = dir.file("tuned.onnx");
    dz::onnx::export_model(m, {x}, out);
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

    dz::NoGrad no_grad;
    const Tensor want = m(x).data();
    dz::onnx::ImportedModel g = dz::onnx::import_model(out);
    expectClose(g({x.data()}).at(0), want, 1e-12, 1e-12);
    dz::onnx::TrainableModel again = dz::onnx::import_trainable(out);
    expectClose(again(x).data(), want, 1e-12, 1e-12);
#ifdef DZ_NODE
    if (dz::testing::ort_unavailable_reason().empty())
      expectClose(dz::testing::run_ort(out, {x.data()}).at(0), want, 1e-9, 1e-9);
#endif
  }
}

// In training mode BatchNormalization normalizes with the batch's statistics and updates its
// running ones, as PyTorch (the running variance as ONNX defines it, with the biased batch
// variance); in test mode it uses and keeps them.
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
TEST(ImportTrainable, BatchNormalizationEagerAndCompiledAgree) {
  TempDir dir("dz-trainable");
  dz::onnx::TrainableModel eager = dz::onnx::import_trainable(kTorchMlp);
  dz::onnx::TrainableModel compiled = dz::onnx::import_trainable(kTorchMlp);
  O::SGD sgd_e(0.05), sgd_c(0.05);
  sgd_e.setup(eager);
  sgd_c.setup(compiled);
  auto step = [](dz::onnx::TrainableModel &m, O::SGD &opt, const Variable &x, const Variable &t) {
    Variable loss = F::mean_squared_error(m(x), t);
    m.cleargrads();
    loss.backward();
    opt.update();
    return loss;
  };
  auto compiled_step = dz::compile(
      [&](const Variable &x, const Variable &t) { return step(compiled, sgd_c, x, t); });
  for (int i = 0; i < 10; ++i) {
    const Variable x(ramp({8, 4}, 1.0, i)), t(ramp({8, 3}, 0.5, 2 * i));
    const double le = step(eager, sgd_e, x, t).item<double>();
    const double lc = compiled_step(x, t).item<double>();
    EXPECT_NEAR(lc, le, 1e-6 * std::abs(le)) << "step " << i;
  }
  EXPECT_EQ(compiled_step.retraces(), 1);
  const Variable x(ramp({2, 4}, 1.0));
  std::map<std::string, Tensor> se = exported_statistics(eager, x, dir.file("e.onnx")),
                                sc = exported_statistics(compiled, x, dir.file("c.onnx"));
  for (const std::string name : {"bn.running_mean", "bn.running_var"})
    expectClose(sc.at(name), se.at(name), 1e-9, 1e-12);
  for (const std::string &name : eager.parameter_names())
    expectClose(compiled.param(name).data(), eager.param(name).data(), 1e-9, 1e-12);
}

TEST(ImportTrainable, TrainModeRefusesDropoutAndNamesTheNode) {
  TempDir dir("dz-trainable");
  Builder b;
  b.input("x", {-1, 3}).output("y", {-1, 3}).initializer("w", {3}, 5);
  b.node("Mul", {"x", "w"}, {"h"}, "scale");
  b.node("Dropout", {"h"}, {"y"}, "drop");
  b.save(dir.file("dropout.onnx"));
  dz::onnx::TrainableModel m = dz::onnx::import_trainable(dir.file("dropout.onnx"));
  const Variable x(ramp({3, 3}, 1.0));
  const std::string msg = message_of([&] { m(x); });
  EXPECT_NE(msg.find("node 'drop' (Dropout)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("TestMode"), std::string::npos) << msg;
  dz::TestMode test;
  EXPECT_NO_THROW(m(x));
}

// Running statistics made Parameters cannot be updated: training mode names the node.
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
  Builder b;
  b.input("x", {2, 3}).output("y", {3, 2}).ints("perm", {1, 0});
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
  Builder b;
  b.input("x", {-1, 3}).output("y", {-1, 3}).output("idx", {-1, 1}, ::onnx::TensorProto::INT64);
  b.output("z", {-1, 1});
  b.initializer("w", {3}, 7);
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
