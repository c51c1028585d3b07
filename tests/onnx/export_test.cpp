// export_test.cpp - dz::onnx::export_model and import_model (dzc/onnx.h), and dzc
// --emit=onnx: trained MLP, CNN and LSTM models exported, checked by ONNX's checker and
// shape inference, imported back and run at the traced and at another batch size against
// the eager model, and run in onnxruntime (skipped with the reason where it is missing);
// the errors (unwritable path, unsupported op, opset out of range).
#include <dzc/dzc.h>
#include <dzc/onnx.h>

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#ifdef DZ_NODE
#include "ort.h"
#endif

namespace F = dz::functions;
namespace L = dz::layers;
namespace M = dz::models;
namespace O = dz::optimizers;
namespace fs = std::filesystem;
using dz::Tensor;
using dz::Variable;

using dz::testing::TempDir;

namespace {

::onnx::ModelProto readModel(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  ::onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromIstream(&in)) << path;
  return m;
}

/// ONNX's checker and strict shape inference on the written file; returns the model.
::onnx::ModelProto checkedModel(const std::string &path) {
  ::onnx::ModelProto m = readModel(path);
  EXPECT_NO_THROW(::onnx::checker::check_model(m)) << path;
  EXPECT_NO_THROW(::onnx::shape_inference::InferShapes(
      m, ::onnx::OpSchemaRegistry::Instance(), ::onnx::ShapeInferenceOptions(true, 1, false)))
      << path;
  return m;
}

/// |a - b| <= atol + rtol |b| everywhere, same shape.
void expectClose(const Tensor &got, const Tensor &want, double rtol = 1e-4, double atol = 1e-5) {
  ASSERT_EQ(got.shape(), want.shape());
  std::vector<double> g = got.to_vector(), w = want.to_vector();
  double worst = 0;
  for (size_t i = 0; i < g.size(); ++i)
    worst = std::max(worst, std::abs(g[i] - w[i]) - rtol * std::abs(w[i]));
  EXPECT_LE(worst, atol) << "got " << got << "\nwant " << want;
}

Tensor eager(dz::Layer &model, const Tensor &x) {
  dz::TestMode test;
  dz::NoGrad no_grad;
  return model(std::vector<Variable>{Variable(x)}).at(0).data();
}

/// A few SGD steps on random targets, so that the exported weights are trained ones.
void train(dz::Layer &model, const Tensor &x, const Tensor &t, bool classes) {
  O::SGD sgd(0.1);
  sgd.setup(model);
  for (int step = 0; step < 3; ++step) {
    Variable y = model(std::vector<Variable>{Variable(x)}).at(0);
    Variable loss = classes ? F::softmax_cross_entropy(y, t) : F::mean_squared_error(y, t);
    model.cleargrads();
    loss.backward();
    sgd.update();
  }
}

struct Cnn : dz::Model {
  L::Conv2d conv1{8, 3, {.stride = 1, .pad = 1}}, conv2{16, 3, {.stride = 1, .pad = 0}};
  L::Linear fc{10};
  Cnn() {
    register_layer("conv1", conv1);
    register_layer("conv2", conv2);
    register_layer("fc", fc);
  }
  Variable forward(const Variable &x) override {
    Variable h = F::pooling(F::relu(conv1(x)), 2, 2);
    h = F::pooling(F::relu(conv2(h)), 2, 2);
    return fc(h.reshape({h.shape()[0], 576}));
  }
  using Layer::forward;
};

/// dz::layers::LSTM over T steps of x: (N, T, 1), as models/lstm_sin.cpp, unrolled.
struct Lstm : dz::Model {
  L::LSTM rnn{8};
  L::Linear fc{1};
  Lstm() {
    register_layer("rnn", rnn);
    register_layer("fc", fc);
  }
  Variable forward(const Variable &x) override {
    rnn.reset_state();
    Variable y;
    for (int64_t t = 0; t < x.shape()[1]; ++t)
      y = fc(rnn(F::get_item(x, {dz::Slice(), t, dz::Slice()})));
    return y;
  }
  using Layer::forward;
};

/// Exports `model` at batch `x`, checks the file, imports it and compares with the eager
/// model at `x` and at `x2` (another batch size); returns the path.
void roundTrip(dz::Layer &model, const Tensor &x, const Tensor &x2, const std::string &path,
               const std::vector<std::string> &initializers) {
  dz::onnx::export_model(model, {Variable(x)}, path);
  ::onnx::ModelProto m = checkedModel(path);
  ASSERT_EQ(m.graph().input_size(), 1);
  EXPECT_EQ(m.graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "N");
  EXPECT_EQ(m.graph().output(0).type().tensor_type().shape().dim(0).dim_param(), "N");
  EXPECT_EQ(m.opset_import(0).version(), 13);
  std::set<std::string> names;
  for (const auto &t : m.graph().initializer())
    names.insert(t.name());
  for (const std::string &n : initializers)
    EXPECT_TRUE(names.count(n)) << "no initializer " << n;

  dz::onnx::ImportedModel g = dz::onnx::import_model(path);
  for (const Tensor &input : {x, x2}) {
    std::vector<Tensor> outs = g({input});
    ASSERT_EQ(outs.size(), 1u);
    expectClose(outs[0], eager(model, input));
  }
  EXPECT_EQ(g.compilations(), 2);
}

TEST(Export, MlpRoundTripMatchesEagerAtTwoBatchSizes) {
  TempDir dir("dz-export");
  M::MLP mlp({10, 3});
  Tensor x = dz::randn({5, 4}, dz::f32, 1), t = dz::randn({5, 3}, dz::f32, 2);
  train(mlp, x, t, false);
  roundTrip(mlp, x, dz::randn({7, 4}, dz::f32, 3), dir.file("mlp.onnx"),
            {"l0/W", "l0/b", "l1/W", "l1/b"});
}

TEST(Export, CnnRoundTripMatchesEagerAtTwoBatchSizes) {
  TempDir dir("dz-export");
  Cnn cnn;
  Tensor x = dz::randn({3, 1, 28, 28}, dz::f32, 4);
  train(cnn, x, Tensor::from_i64(std::vector<int64_t>{1, 4, 7}), true);
  roundTrip(cnn, x, dz::randn({2, 1, 28, 28}, dz::f32, 5), dir.file("cnn.onnx"),
            {"conv1/W", "conv1/b", "conv2/W", "fc/W", "fc/b"});
}

TEST(Export, LstmRoundTripMatchesEagerAtTwoBatchSizes) {
  TempDir dir("dz-export");
  Lstm lstm;
  Tensor x = dz::randn({4, 3, 1}, dz::f32, 6), t = dz::randn({4, 1}, dz::f32, 7);
  train(lstm, x, t, false);
  roundTrip(lstm, x, dz::randn({6, 3, 1}, dz::f32, 8), dir.file("lstm.onnx"),
            {"rnn/x2f/W", "rnn/h2f/W", "fc/W"});
}

TEST(Export, StaticBatchAndOpset17) {
  TempDir dir("dz-export");
  M::MLP mlp({6, 2}, F::relu);
  Tensor x = dz::randn({3, 4}, dz::f32, 9);
  dz::onnx::ExportOptions options;
  options.opset = 17;
  options.dynamic_batch = false;
  options.input_names = {"x"};
  options.output_names = {"y"};
  dz::onnx::export_model(mlp, {Variable(x)}, dir.file("mlp.onnx"), options);
  ::onnx::ModelProto m = checkedModel(dir.file("mlp.onnx"));
  EXPECT_EQ(m.opset_import(0).version(), 17);
  EXPECT_EQ(m.ir_version(), 8);
  EXPECT_EQ(m.graph().input(0).name(), "x");
  EXPECT_EQ(m.graph().output(0).name(), "y");
  EXPECT_EQ(m.graph().input(0).type().tensor_type().shape().dim(0).dim_value(), 3);
  expectClose(dz::onnx::import_model(dir.file("mlp.onnx"))({x}).at(0), eager(mlp, x));
}

TEST(Export, LinearOnNDInputAppliesToTheLastAxis) {
  // F::linear of x (2, 5, 4) with W (4, 3): PyTorch's rule, exported as Reshape, Gemm and
  // Reshape, and a Linear layer on the same input.
  TempDir dir("dz-export");
  Variable W(dz::randn({4, 3}, dz::f32, 20)), b(dz::randn({3}, dz::f32, 21));
  auto fn = [&](const std::vector<Variable> &xs) -> std::vector<Variable> {
    return {F::linear(xs[0], W, b)};
  };
  Tensor x = dz::randn({2, 5, 4}, dz::f32, 22);
  dz::onnx::export_function(fn, {Variable(x)}, dir.file("linear.onnx"));
  checkedModel(dir.file("linear.onnx"));
  Tensor want;
  {
    dz::NoGrad ng;
    want = fn({Variable(x)})[0].data();
  }
  ASSERT_EQ(want.shape(), (dz::Shape{2, 5, 3}));
  expectClose(dz::onnx::import_model(dir.file("linear.onnx"))({x}).at(0), want);
  L::Linear fc(6);
  dz::onnx::export_model(fc, {Variable(x)}, dir.file("fc.onnx"));
  checkedModel(dir.file("fc.onnx"));
  expectClose(dz::onnx::import_model(dir.file("fc.onnx"))({x}).at(0), eager(fc, x));
}

TEST(Export, PaddedMaxPoolingRoundTripsThroughMaxPool) {
  // dz.max_pooling and ONNX's MaxPool agree on padding (it never wins): the exported MaxPool
  // with pads, imported again, equals eager F::pooling on all-negative input.
  TempDir dir("dz-export");
  auto pool = [](const std::vector<Variable> &xs) -> std::vector<Variable> {
    return {F::pooling(xs[0] - 3.0, 3, 2, 1)};
  };
  Tensor x = dz::randn({2, 2, 5, 5}, dz::f32, 24);
  dz::onnx::export_function(pool, {Variable(x)}, dir.file("pool.onnx"));
  ::onnx::ModelProto m = checkedModel(dir.file("pool.onnx"));
  int maxpools = 0, others = 0;
  for (const auto &n : m.graph().node()) {
    maxpools += n.op_type() == "MaxPool";
    others += n.op_type() == "Max" || n.op_type() == "Pad"; // no correction of the padding
  }
  EXPECT_EQ(maxpools, 1);
  EXPECT_EQ(others, 0);
  Tensor want;
  {
    dz::NoGrad ng;
    want = pool({Variable(x)})[0].data();
  }
  EXPECT_LT(want.max().item<double>(), 0.0); // no window sees a 0 from the padding
  expectClose(dz::onnx::import_model(dir.file("pool.onnx"))({x}).at(0), want, 0, 0);
}

TEST(Export, FunctionWithSeveralOutputsAndOps) {
  // Ops beyond the models': broadcasting, reductions, transposed matmul, softmax, clip.
  TempDir dir("dz-export");
  Variable w(dz::randn({4, 4}, dz::f32, 10));
  auto fn = [&](const std::vector<Variable> &xs) -> std::vector<Variable> {
    Variable x = xs[0];
    Variable a = F::softmax(F::matmul(x, F::transpose(w, {1, 0})), 1);
    Variable b = F::sum(F::clip(x, -0.5, 0.5) * 2.0 - F::exp(x), {1}, true);
    Variable c = F::tanh(a) + b;
    return {c, F::sum(c, {}, false)};
  };
  Tensor x = dz::randn({5, 4}, dz::f32, 11);
  dz::onnx::export_function(fn, {Variable(x)}, dir.file("fn.onnx"));
  checkedModel(dir.file("fn.onnx"));
  std::vector<Tensor> want;
  {
    dz::NoGrad ng;
    for (const Variable &v : fn({Variable(x)}))
      want.push_back(v.data());
  }
  std::vector<Tensor> got = dz::onnx::import_model(dir.file("fn.onnx"))({x});
  ASSERT_EQ(got.size(), 2u);
  expectClose(got[0], want[0]);
  expectClose(got[1], want[1], 1e-4, 1e-4);
}

/// Ops of the table beyond the three models, traced from F:: functions: inputs x (N, 3, 6,
/// 6) f32, t (N) i64 labels, ids (N, 2) i64; one output per op family.
struct ManyOps {
  Variable Wd{dz::randn({3, 2, 3, 3}, dz::f32, 20)}, bd{dz::randn({2}, dz::f32, 21)};
  Variable E{dz::randn({10, 4}, dz::f32, 22)}, bias{dz::randn({3, 1, 1}, dz::f32, 23)};
  Variable Wf{dz::randn({108, 5}, dz::f32, 24)};

  std::vector<Variable> operator()(const std::vector<Variable> &in) const {
    const Variable &x = in[0], &t = in[1], &ids = in[2];
    const int64_t n = x.shape()[0];
    Variable avg = F::average_pooling(x, 2, 2, 1); // AveragePool with pads
    Variable up = F::deconv2d(x, Wd, bd, 2, 1);    // ConvTranspose
    Variable moved = F::leaky_relu(x + F::broadcast_to(bias, x.shape()), 0.1); // Expand
    Variable per_channel = F::sum_to(F::pow(moved, 2.0), {3, 1, 1}); // ReduceSum + Reshape
    Variable logits = F::linear(F::reshape(x, {n, 108}), Wf);
    Variable ls = F::log_softmax(logits, 1);
    Variable spread = F::max(ls, {1}, false) - F::min(ls, {1}, false);
    Variable picked = F::get_item(E, {dz::Slice(std::nullopt, std::nullopt, -3)}); // Gather
    Variable loss =
        F::softmax_cross_entropy(logits, t) + F::mean_squared_error(F::sum(ls, {1}, false), spread);
    Variable emb = F::embed_id(ids, E);
    return {avg, up, per_channel, spread, picked, loss, emb};
  }
};

std::vector<Tensor> manyOpsInputs(int64_t n, uint64_t seed) {
  std::vector<int64_t> t, ids;
  for (int64_t i = 0; i < n; ++i) {
    t.push_back(i % 5);
    ids.push_back((3 * i) % 10);
    ids.push_back((7 * i + 1) % 10);
  }
  return {dz::randn({n, 3, 6, 6}, dz::f32, seed), Tensor::from_i64(t),
          Tensor::from_i64(ids, {n, 2})};
}

std::vector<Tensor> eagerOf(const ManyOps &f, const std::vector<Tensor> &inputs) {
  dz::NoGrad ng;
  std::vector<Variable> in;
  for (const Tensor &t : inputs)
    in.emplace_back(t);
  std::vector<Tensor> out;
  for (const Variable &v : f(in))
    out.push_back(v.data());
  return out;
}

TEST(Export, ManyOpsRoundTripAtTwoBatchSizes) {
  TempDir dir("dz-export");
  ManyOps f;
  std::vector<Tensor> in4 = manyOpsInputs(4, 30), in3 = manyOpsInputs(3, 31);
  std::vector<Variable> example;
  for (const Tensor &t : in4)
    example.emplace_back(t);
  dz::onnx::export_function(f, example, dir.file("ops.onnx"));
  ::onnx::ModelProto m = checkedModel(dir.file("ops.onnx"));
  std::set<std::string> types;
  for (const auto &node : m.graph().node())
    types.insert(node.op_type());
  for (const char *t :
       {"AveragePool", "ConvTranspose", "Expand", "ReduceSum", "LeakyRelu", "Pow", "LogSoftmax",
        "ReduceMax", "ReduceMin", "Gather", "SoftmaxCrossEntropyLoss"})
    EXPECT_TRUE(types.count(t)) << "no " << t << " node";
  dz::onnx::ImportedModel g = dz::onnx::import_model(dir.file("ops.onnx"));
  for (const auto &in : {in4, in3}) {
    std::vector<Tensor> got = g(in), want = eagerOf(f, in);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      SCOPED_TRACE("output " + std::to_string(i));
      expectClose(got[i], want[i], 1e-4, 1e-4);
    }
  }
}

// ---- errors ----

template <typename Fn> std::string errorOf(Fn fn) {
  try {
    fn();
  } catch (const dz::Error &e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ExportErrors, UnwritablePathNamesItAndLeavesNoFile) {
  TempDir dir("dz-export");
  M::MLP mlp({3});
  Tensor x = dz::randn({2, 4}, dz::f32, 12);
  const std::string missing = dir.file("no/such/dir/m.onnx");
  std::string e = errorOf([&] { dz::onnx::export_model(mlp, {Variable(x)}, missing); });
  EXPECT_NE(e.find(missing), std::string::npos) << e;
  fs::create_directory(dir.file("taken"));
  fs::create_directory(dir.file("taken/sub")); // a non-empty directory: the rename fails
  e = errorOf([&] { dz::onnx::export_model(mlp, {Variable(x)}, dir.file("taken")); });
  EXPECT_NE(e.find(dir.file("taken")), std::string::npos) << e;
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"taken"}); // no temporary file left
}

TEST(ExportErrors, UnsupportedOpsAreListedAndNothingIsWritten) {
  TempDir dir("dz-export");
  const std::string path = dir.file("m.onnx");
  { std::ofstream(path) << "old"; }
  auto fn = [](const std::vector<Variable> &xs) -> std::vector<Variable> {
    Variable col = F::im2col(xs[0], 2, 1, 0, true);
    return {F::sum(col, {}, false)};
  };
  std::string e = errorOf([&] {
    dz::onnx::export_function(fn, {Variable(dz::randn({1, 1, 3, 3}, dz::f32, 1))}, path);
  });
  EXPECT_NE(e.find("dz.im2col"), std::string::npos) << e;
  EXPECT_NE(e.find("no ONNX mapping"), std::string::npos) << e;
  EXPECT_EQ(dz::read_file(path, "test"), "old"); // the old file is untouched
}

TEST(ExportErrors, OpsetOutOfRange) {
  TempDir dir("dz-export");
  M::MLP mlp({3});
  Tensor x = dz::randn({2, 4}, dz::f32, 13);
  for (int opset : {12, 18}) {
    dz::onnx::ExportOptions options;
    options.opset = opset;
    std::string e =
        errorOf([&] { dz::onnx::export_model(mlp, {Variable(x)}, dir.file("m.onnx"), options); });
    EXPECT_NE(e.find("opset " + std::to_string(opset)), std::string::npos) << e;
    EXPECT_NE(e.find("13 to 17"), std::string::npos) << e;
  }
  EXPECT_TRUE(dir.entries().empty());
}

TEST(ExportErrors, ImportOfAMissingFileOrWrongInputs) {
  TempDir dir("dz-export");
  std::string e = errorOf([&] { dz::onnx::import_model(dir.file("none.onnx")); });
  EXPECT_NE(e.find("none.onnx"), std::string::npos) << e;

  M::MLP mlp({3});
  Tensor x = dz::randn({2, 4}, dz::f32, 14);
  dz::onnx::export_model(mlp, {Variable(x)}, dir.file("m.onnx"));
  dz::onnx::ImportedModel g = dz::onnx::import_model(dir.file("m.onnx"));
  e = errorOf([&] { g({x, x}); });
  EXPECT_NE(e.find("2 input"), std::string::npos) << e;
  e = errorOf([&] { g({dz::randn({2, 5}, dz::f32, 1)}); });
  EXPECT_NE(e.find("input_0"), std::string::npos) << e;
  EXPECT_NE(e.find("(2, 5)"), std::string::npos) << e;
}

TEST(ImportModel, InputsWhoseValuesTheImportReadsAreNotReusedForOtherValues) {
  // GatherElements reads its indices at import: a graph input here. The second call has
  // the same shapes and other indices, and must not run the program of the first.
  ::onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(13);
  ::onnx::GraphProto *g = model.mutable_graph();
  g->set_name("gather");
  auto value = [](::onnx::ValueInfoProto *v, const char *name, int32_t type,
                  std::vector<int64_t> dims) {
    v->set_name(name);
    v->mutable_type()->mutable_tensor_type()->set_elem_type(type);
    for (int64_t d : dims)
      v->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(d);
  };
  value(g->add_input(), "x", ::onnx::TensorProto::FLOAT, {2, 3});
  value(g->add_input(), "i", ::onnx::TensorProto::INT64, {2, 2});
  value(g->add_output(), "y", ::onnx::TensorProto::FLOAT, {2, 2});
  ::onnx::NodeProto *n = g->add_node();
  n->set_op_type("GatherElements");
  n->add_input("x");
  n->add_input("i");
  n->add_output("y");
  TempDir dir("dz-export");
  {
    std::ofstream out(dir.file("gather.onnx"), std::ios::binary);
    model.SerializeToOstream(&out);
  }
  dz::onnx::ImportedModel m = dz::onnx::import_model(dir.file("gather.onnx"));
  Tensor x = Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3}, dz::f32);
  Tensor first = Tensor::from_i64({0, 1, 1, 0}, {2, 2}),
         second = Tensor::from_i64({1, 0, 0, 0}, {2, 2});
  expectClose(m({x, first}).at(0), Tensor::from({1, 5, 4, 2}, {2, 2}, dz::f32), 0, 0);
  expectClose(m({x, second}).at(0), Tensor::from({4, 2, 1, 2}, {2, 2}, dz::f32), 0, 0);
  expectClose(m({x, first}).at(0), Tensor::from({1, 5, 4, 2}, {2, 2}, dz::f32), 0, 0);
  EXPECT_EQ(m.compilations(), 1); // one set of shapes
}

// ---- dzc --emit=onnx ----

int dzc(const std::string &args) {
  return std::system((std::string(DZ_DZC) + " " + args + " 2>/dev/null").c_str());
}

TEST(DzcEmitOnnx, MlirAndOnnxFilesRoundTrip) {
  TempDir dir("dz-export");
  {
    std::ofstream(dir.file("f.mlir")) << R"(
func.func @f(%x: tensor<4x3xf32>, %w: tensor<3x2xf32>) -> tensor<4x2xf32> {
  %0 = dz.matmul %x, %w : (tensor<4x3xf32>, tensor<3x2xf32>) -> tensor<4x2xf32>
  %1 = dz.sigmoid %0 : tensor<4x2xf32>
  return %1 : tensor<4x2xf32>
}
)";
  }
  ASSERT_EQ(dzc(dir.file("f.mlir") + " --emit=onnx --static-batch -o " + dir.file("f.onnx")), 0);
  checkedModel(dir.file("f.onnx"));
  Tensor x = dz::randn({4, 3}, dz::f32, 15), w = dz::randn({3, 2}, dz::f32, 16);
  Tensor want = F::sigmoid(F::matmul(Variable(x), Variable(w))).data();
  expectClose(dz::onnx::import_model(dir.file("f.onnx"))({x, w}).at(0), want);
  // An ONNX model in, ONNX out (opset 15).
  ASSERT_EQ(
      dzc(dir.file("f.onnx") + " --emit=onnx --opset 15 --static-batch -o " + dir.file("g.onnx")),
      0);
  EXPECT_EQ(checkedModel(dir.file("g.onnx")).opset_import(0).version(), 15);
  expectClose(dz::onnx::import_model(dir.file("g.onnx"))({x, w}).at(0), want);
  // Errors: the opset range, and nothing written.
  EXPECT_NE(dzc(dir.file("f.mlir") + " --emit=onnx --opset 18 -o " + dir.file("h.onnx")), 0);
  EXPECT_FALSE(fs::exists(dir.file("h.onnx")));
}

TEST(DzcEmitOnnx, ComparisonsSelectAndErf) {
  TempDir dir("dz-export");
  {
    std::ofstream(dir.file("f.mlir")) << R"(
func.func @f(%x: tensor<4x3xf32>, %y: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %g = dz.greater %x, %y : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xi1>
  %l = dz.less %x, %y : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xi1>
  %n = dz.not %l : tensor<4x3xi1>
  %c = dz.and %g, %n : (tensor<4x3xi1>, tensor<4x3xi1>) -> tensor<4x3xi1>
  %e = dz.erf %x : tensor<4x3xf32>
  %s = dz.select %c, %e, %y : (tensor<4x3xi1>, tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  return %s : tensor<4x3xf32>
}
)";
  }
  ASSERT_EQ(dzc(dir.file("f.mlir") + " --emit=onnx -o " + dir.file("f.onnx")), 0);
  checkedModel(dir.file("f.onnx"));
  Tensor x = dz::randn({4, 3}, dz::f32, 17), y = dz::randn({4, 3}, dz::f32, 18);
  std::vector<double> xs = x.to_vector(), ys = y.to_vector(), want(xs.size());
  for (size_t i = 0; i < xs.size(); ++i)
    want[i] = xs[i] > ys[i] ? std::erf(xs[i]) : ys[i];
  expectClose(dz::onnx::import_model(dir.file("f.onnx"))({x, y}).at(0),
              Tensor::from(want, {4, 3}).to(dz::f32));
}

TEST(DzcEmitOnnx, UnsupportedOpsFailWithoutOutput) {
  TempDir dir("dz-export");
  {
    std::ofstream(dir.file("f.mlir")) << R"(
func.func @f(%x: tensor<1x1x3x3xf32>) -> tensor<4x4xf32> {
  %c = dz.im2col %x {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 1, 1>, to_matrix = true} : tensor<1x1x3x3xf32> -> tensor<4x4xf32>
  return %c : tensor<4x4xf32>
}
)";
  }
  const std::string log = dir.file("log");
  EXPECT_EQ(std::system((std::string(DZ_DZC) + " " + dir.file("f.mlir") + " --emit=onnx -o " +
                         dir.file("f.onnx") + " 2>" + log)
                            .c_str()) >>
                8,
            1);
  EXPECT_NE(dz::read_file(log, "test").find("dz.im2col (1 op)"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.file("f.onnx")));
}

// ---- onnxruntime ----

#ifdef DZ_NODE
TEST(ExportOrt, MlpCnnLstmMatchEagerInOnnxruntime) {
  const std::string reason = dz::testing::ort_unavailable_reason();
  if (!reason.empty())
    GTEST_SKIP() << reason;
  TempDir dir("dz-export");
  M::MLP mlp({10, 3});
  Cnn cnn;
  Lstm lstm;
  struct Case {
    dz::Layer *model;
    Tensor x, x2;
    std::string file;
  };
  std::vector<Case> cases = {
      {&mlp, dz::randn({5, 4}, dz::f32, 1), dz::randn({2, 4}, dz::f32, 2), "mlp.onnx"},
      {&cnn, dz::randn({3, 1, 28, 28}, dz::f32, 3), dz::randn({1, 1, 28, 28}, dz::f32, 4),
       "cnn.onnx"},
      {&lstm, dz::randn({4, 3, 1}, dz::f32, 5), dz::randn({7, 3, 1}, dz::f32, 6), "lstm.onnx"}};
  for (Case &c : cases) {
    SCOPED_TRACE(c.file);
    dz::onnx::export_model(*c.model, {Variable(c.x)}, dir.file(c.file));
    for (const Tensor &input : {c.x, c.x2}) {
      std::vector<Tensor> outs = dz::testing::run_ort(dir.file(c.file), {input});
      ASSERT_EQ(outs.size(), 1u);
      expectClose(outs[0], eager(*c.model, input));
    }
  }
}

namespace {

/// A model made of a forward function over layers it registers: one per layer under test.
struct LayerModel : dz::Model {
  std::function<Variable(const Variable &)> f;
  LayerModel(std::function<Variable(const Variable &)> fn,
             std::vector<std::pair<std::string, dz::Layer *>> ls)
      : f(std::move(fn)) {
    for (auto &[name, l] : ls)
      register_layer(name, *l);
  }
  Variable forward(const Variable &x) override { return f(x); }
  using Layer::forward;
};

} // namespace

// Every layer and model the library offers exports, in test mode, to a graph onnxruntime
// runs to the eager model's values: BatchNorm with trained running averages (2-d and 4-d),
// dropout (the identity in test mode), convolutions and deconvolutions, both poolings,
// EmbedID, RNN and LSTM (one step from a state, and a sequence), VGG16 and ResNet-50.
TEST(ExportOrt, EveryLayerAndModelMatchesEagerInOnnxruntime) {
  const std::string reason = dz::testing::ort_unavailable_reason();
  if (!reason.empty())
    GTEST_SKIP() << reason;
  TempDir dir("dz-export");
  L::Linear fc1{6}, fc2{3}, fc3{2};
  L::BatchNorm bn1, bn2;
  L::Conv2d conv{4, 3, {.stride = 1, .pad = 1}};
  L::Deconv2d deconv{2, 4, {.stride = 2, .pad = 1}};
  L::EmbedID embed{10, 4};
  L::RNN rnn{5};
  L::LSTM lstm{5};
  LayerModel batchnorm([&](const Variable &x) { return fc2(F::relu(bn1(fc1(x)))); },
                       {{"fc1", &fc1}, {"bn1", &bn1}, {"fc2", &fc2}});
  LayerModel conv_bn(
      [&](const Variable &x) {
        Variable h = F::relu(bn2(conv(x)));
        h = F::pooling(h, 2, 2) + F::average_pooling(h, 2, 2);
        return deconv(h);
      },
      {{"conv", &conv}, {"bn2", &bn2}, {"deconv", &deconv}});
  LayerModel dropout([&](const Variable &x) { return fc3(F::dropout(F::tanh(x), 0.5)); },
                     {{"fc3", &fc3}});
  LayerModel embedding([&](const Variable &ids) { return F::sum(embed(ids), {1}); },
                       {{"embed", &embed}});
  // One step of a recurrent layer from the state it holds (a constant of the export).
  LayerModel rnn_step([&](const Variable &x) { return rnn(x); }, {{"rnn", &rnn}});
  LayerModel lstm_step([&](const Variable &x) { return lstm(x); }, {{"lstm", &lstm}});
  Lstm lstm_seq;
  // Registry ops whose ONNX form is not one node of the same name: mod of floats (Mod with
  // fmod = 1 moved into the divisor's sign), fmod, not_equal; and a few one-to-one twins.
  LayerModel elementwise(
      [&](const Variable &x) {
        Variable c(Tensor::scalar(-1.7, dz::f32));
        Variable moved = F::mod(x * 3.0, c) + F::fmod(x * 3.0, c);
        Variable ne(F::not_equal(F::floor(x * 2.0), F::ceil(x * 2.0)).data().to(dz::f32));
        return moved + ne + F::atan(x) + F::sign(x) * F::minimum(F::abs(x), F::cosh(x));
      },
      {});

  // Trained a few steps (BatchNorm's running averages move), in train mode.
  train(batchnorm, dz::randn({8, 4}, dz::f32, 1), dz::randn({8, 3}, dz::f32, 2), false);
  train(conv_bn, dz::randn({2, 3, 6, 6}, dz::f32, 3), dz::randn({2, 2, 6, 6}, dz::f32, 4), false);
  (void)rnn(Variable(dz::randn({2, 3}, dz::f32, 5))); // a state to step from
  (void)lstm(Variable(dz::randn({2, 3}, dz::f32, 6)));
  M::VGG16 vgg;
  M::ResNet50 resnet;

  struct Case {
    dz::Layer *model;
    Tensor x;
    std::optional<Tensor> x2; // another batch size
    std::string file;
    double tol = 1e-4;
  };
  const Tensor ids = Tensor::from_i64({1, 5, 9, 0, 3, 3}).reshape({2, 3});
  std::vector<Case> cases = {
      {&batchnorm, dz::randn({5, 4}, dz::f32, 7), dz::randn({2, 4}, dz::f32, 8), "bn.onnx"},
      {&conv_bn, dz::randn({2, 3, 6, 6}, dz::f32, 9), dz::randn({1, 3, 6, 6}, dz::f32, 10),
       "conv_bn.onnx"},
      {&dropout, dz::randn({3, 4}, dz::f32, 11), dz::randn({1, 4}, dz::f32, 12), "dropout.onnx"},
      {&embedding, ids, std::nullopt, "embed.onnx"},
      {&rnn_step, dz::randn({2, 3}, dz::f32, 13), std::nullopt, "rnn_step.onnx"},
      {&lstm_step, dz::randn({2, 3}, dz::f32, 14), std::nullopt, "lstm_step.onnx"},
      {&lstm_seq, dz::randn({2, 5, 1}, dz::f32, 15), dz::randn({3, 5, 1}, dz::f32, 16),
       "lstm_seq.onnx"},
      {&vgg, dz::randn({1, 3, 32, 32}, dz::f32, 17), std::nullopt, "vgg16.onnx", 1e-3},
      {&resnet, dz::randn({1, 3, 32, 32}, dz::f32, 18), std::nullopt, "resnet50.onnx", 1e-3},
      {&elementwise, dz::randn({4, 5}, dz::f32, 19), dz::randn({2, 5}, dz::f32, 20),
       "elementwise.onnx"}};
  for (Case &c : cases)
    try {
      SCOPED_TRACE(c.file);
      // Exporting leaves a recurrent layer's state as it was: the eager reference after it
      // starts from the same state as the exported step.
      dz::onnx::export_model(*c.model, {Variable(c.x)}, dir.file(c.file));
      const Tensor want = eager(*c.model, c.x);
      checkedModel(dir.file(c.file));
      std::vector<Tensor> outs = dz::testing::run_ort(dir.file(c.file), {c.x});
      ASSERT_EQ(outs.size(), 1u);
      expectClose(outs[0], want, c.tol, c.tol);
      if (c.x2)
        expectClose(dz::testing::run_ort(dir.file(c.file), {*c.x2}).at(0), eager(*c.model, *c.x2),
                    c.tol, c.tol);
    } catch (const std::exception &e) {
      ADD_FAILURE() << c.file << ": " << e.what();
    }
}

TEST(ExportOrt, ManyOpsAndPaddedMaxPoolingMatchEager) {
  const std::string reason = dz::testing::ort_unavailable_reason();
  if (!reason.empty())
    GTEST_SKIP() << reason;
  TempDir dir("dz-export");
  ManyOps f;
  std::vector<Variable> example;
  for (const Tensor &t : manyOpsInputs(4, 40))
    example.emplace_back(t);
  dz::onnx::export_function(f, example, dir.file("ops.onnx"));
  for (const auto &in : {manyOpsInputs(4, 41), manyOpsInputs(2, 42)}) {
    std::vector<Tensor> got = dz::testing::run_ort(dir.file("ops.onnx"), in), want = eagerOf(f, in);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      SCOPED_TRACE("output " + std::to_string(i));
      expectClose(got[i], want[i], 1e-4, 1e-4);
    }
  }
  // Padded max pooling: all-negative windows at the border must not see the padding.
  auto pool = [](const std::vector<Variable> &xs) -> std::vector<Variable> {
    return {F::pooling(xs[0] - 3.0, 3, 2, 1)};
  };
  Tensor x = dz::randn({2, 2, 5, 5}, dz::f32, 43);
  dz::onnx::export_function(pool, {Variable(x)}, dir.file("pool.onnx"));
  checkedModel(dir.file("pool.onnx"));
  dz::NoGrad ng;
  expectClose(dz::testing::run_ort(dir.file("pool.onnx"), {x}).at(0),
              pool({Variable(x)})[0].data());
}
#endif

#ifdef DZ_NODE
// The ops that traces of forward passes rarely hold (gradient masks, one-hot, casts,
// batched and transposed matmuls, sum_to), from a .mlir file: onnxruntime on the exported
// model against `dzc run` (dz's CPU executor) on the same file.
TEST(ExportOrt, MaskOpsFromMlirMatchDzcRun) {
  const std::string reason = dz::testing::ort_unavailable_reason();
  if (!reason.empty())
    GTEST_SKIP() << reason;
  TempDir dir("dz-export");
  {
    std::ofstream(dir.file("f.mlir")) << R"(
func.func @f(%x: tensor<4x3xf32>, %t: tensor<4xi64>, %b: tensor<2x3x5xf32>) -> (tensor<4x3xf32>, tensor<4x3xf32>, tensor<4x3xf32>, tensor<4x5xf32>, tensor<4x3xi64>, tensor<2x5x4xf32>, tensor<1x5xf32>) {
  %s = dz.step %x : tensor<4x3xf32>
  %m = dz.clip_mask %x {max = 0.5 : f64, min = -0.5 : f64} : tensor<4x3xf32>
  %e = dz.equal_mask %x, %s : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  %o = dz.one_hot %t {dtype = f32, num_classes = 5 : i64} : tensor<4xi64> -> tensor<4x5xf32>
  %k = dz.mul %x, %x : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  %c = dz.cast %k {dtype = i64} : tensor<4x3xf32> -> tensor<4x3xi64>
  %xx = dz.broadcast_to %x {shape = array<i64: 2, 4, 3>} : tensor<4x3xf32> -> tensor<2x4x3xf32>
  %mt = dz.matmul %b, %xx {transpose_a = true, transpose_b = true} : (tensor<2x3x5xf32>, tensor<2x4x3xf32>) -> tensor<2x5x4xf32>
  %mm = dz.matmul %xx, %b : (tensor<2x4x3xf32>, tensor<2x3x5xf32>) -> tensor<2x4x5xf32>
  %st = dz.sum_to %mm {shape = array<i64: 1, 5>} : tensor<2x4x5xf32> -> tensor<1x5xf32>
  return %s, %m, %e, %o, %c, %mt, %st : tensor<4x3xf32>, tensor<4x3xf32>, tensor<4x3xf32>, tensor<4x5xf32>, tensor<4x3xi64>, tensor<2x5x4xf32>, tensor<1x5xf32>
}
)";
  }
  std::vector<Tensor> in = {dz::randn({4, 3}, dz::f32, 50) * 2.0,
                            Tensor::from_i64(std::vector<int64_t>{4, 0, 2, 2}),
                            dz::randn({2, 3, 5}, dz::f32, 51)};
  in[0].data<float>()[0] = 0.0f; // step(0) = 0, equal(0, 0) = 1
  std::string inputs;
  for (size_t i = 0; i < in.size(); ++i) {
    dz::save_npy(dir.file("in" + std::to_string(i) + ".npy"), in[i]);
    inputs += " --input " + dir.file("in" + std::to_string(i) + ".npy");
  }
  ASSERT_EQ(dzc("run " + dir.file("f.mlir") + inputs + " --output-dir " + dir.file("out")), 0);
  ASSERT_EQ(dzc(dir.file("f.mlir") + " --emit=onnx -o " + dir.file("f.onnx")), 0);
  checkedModel(dir.file("f.onnx"));
  std::vector<Tensor> got = dz::testing::run_ort(dir.file("f.onnx"), in);
  ASSERT_EQ(got.size(), 7u);
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("output " + std::to_string(i));
    Tensor want = dz::load_npy(dir.file("out/output_" + std::to_string(i) + ".npy"));
    EXPECT_EQ(got[i].dtype(), want.dtype());
    expectClose(got[i], want);
  }
}
#endif

} // namespace
