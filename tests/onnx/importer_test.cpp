// importer_test.cpp - the ONNX importer's behaviour on models built here with protobuf:
// a small model imports and runs, every kind of bad input is one dz::Error naming the
// problem, and a seeded mutation loop over valid models gets only dz::Error out.
#include <dzc/codegen/ExecutorBuild.h>
#include <dzc/onnx/Import.h>

#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/IR/MLIRContext.h>

#include <onnx/onnx_pb.h>

#include <gtest/gtest.h>

#include "onnx_model_builder.h"

#include <cstdlib>
#include <fstream>
#include <random>

namespace {

using dz::onnx::importOnnxBytes;

using dz::onnx_test::ModelBuilder;

/// A float32 model named `name`.
ModelBuilder model(const std::string &name, int64_t opset = 13) {
  ModelBuilder m(onnx::TensorProto::FLOAT, opset);
  m.name(name);
  return m;
}

void set_attr(onnx::NodeProto &n, const std::string &name, float value) {
  onnx::AttributeProto *a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(value);
}

/// relu(x + w): x (2, 3) an input, w (3) an initializer.
std::string relu_add_model() {
  ModelBuilder m = model("relu-add net");
  m.input("x", {2, 3}).initializer("w", {3}, {1, -2, 3}).output("y", {2, 3});
  m.node("Add", {"x", "w"}, {"s"}, "add");
  m.node("Relu", {"s"}, {"y"}, "relu");
  return m.bytes();
}

/// The message of the dz::Error `fn` throws (a failed expectation when none or another).
template <typename Fn> std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const dz::Error &e) {
    return e.what();
  }
  ADD_FAILURE() << "no dz::Error thrown";
  return "";
}

struct ImporterTest : ::testing::Test {
  mlir::MLIRContext ctx{mlir::MLIRContext::Threading::DISABLED};
};

TEST_F(ImporterTest, ReluAddImportsAsOneFunctionAndRuns) {
  mlir::OwningOpRef<mlir::ModuleOp> module =
      importOnnxBytes(ctx, relu_add_model(), "relu_add.onnx");
  auto fns = module->getOps<mlir::func::FuncOp>();
  ASSERT_EQ(std::distance(fns.begin(), fns.end()), 1);
  mlir::func::FuncOp fn = *fns.begin();
  EXPECT_EQ(fn.getSymName(), "relu_add_net");
  EXPECT_EQ(fn.getNumArguments(), 1u); // w is an initializer, not an argument
  dz::codegen::Program program = dz::codegen::buildProgramOrThrow(fn);
  dz::Tensor x = dz::Tensor::from({-5, 1, 1, 0, 3, -4}, {2, 3}, dz::f32);
  std::vector<dz::Tensor> y = program.run({x});
  ASSERT_EQ(y.size(), 1u);
  const std::vector<float> want = {0, 0, 4, 1, 1, 0};
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_EQ(y[0].data<float>()[i], want[i]) << "element " << i;
}

TEST_F(ImporterTest, MissingFileNamesThePath) {
  EXPECT_NE(error_of([&] {
              dz::onnx::importOnnx(ctx, "/nonexistent/model.onnx");
            }).find("/nonexistent/model.onnx"),
            std::string::npos);
}

TEST_F(ImporterTest, NonProtobufBytesAreNotAModel) {
  EXPECT_NE(error_of([&] {
              importOnnxBytes(ctx, "\xff\xff\xff garbage", "junk.onnx");
            }).find("is not an ONNX model"),
            std::string::npos);
}

TEST_F(ImporterTest, TruncatedModelIsAnError) {
  const std::string bytes = relu_add_model();
  error_of([&] { importOnnxBytes(ctx, bytes.substr(0, bytes.size() / 2), "cut.onnx"); });
}

TEST_F(ImporterTest, DanglingInputNamesTheNodeAndTheName) {
  ModelBuilder m = model("g");
  m.input("x", {2}).output("y", {2});
  m.node("Relu", {"nowhere"}, {"y"}, "r1");
  dz::onnx::ImportOptions unchecked;
  unchecked.check = false;
  const std::string msg = error_of([&] { importOnnxBytes(ctx, m.bytes(), "m.onnx", unchecked); });
  EXPECT_NE(msg.find("node 'r1'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'nowhere' is not defined"), std::string::npos) << msg;
}

TEST_F(ImporterTest, WrongAttributeTypeNamesTheAttribute) {
  ModelBuilder m = model("g");
  m.input("x", {2, 3}).output("y", {2, 3});
  set_attr(m.node("Softmax", {"x"}, {"y"}, "sm"), "axis", 1.0f); // axis is an INT
  dz::onnx::ImportOptions unchecked;
  unchecked.check = false;
  const std::string msg = error_of([&] { importOnnxBytes(ctx, m.bytes(), "m.onnx", unchecked); });
  EXPECT_NE(msg.find("node 'sm'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("attribute 'axis' must be INT, got FLOAT"), std::string::npos) << msg;
}

TEST_F(ImporterTest, DeclaredShapeConflictIsAnError) {
  ModelBuilder m = model("g");
  m.input("x", {2, 3}).output("y", {3, 2});
  m.node("Relu", {"x"}, {"y"}, "r1");
  const std::string msg = error_of([&] { importOnnxBytes(ctx, m.bytes(), "m.onnx"); });
  EXPECT_NE(msg.find("m.onnx"), std::string::npos) << msg;
}

TEST_F(ImporterTest, ShapeConflictWithoutCheckerNamesTheNode) {
  ModelBuilder m = model("g", 18); // newer than ONNX 1.12: neither checked nor shape-inferred
  m.input("x", {2, 3}).output("y", {3, 2});
  m.node("Relu", {"x"}, {"y"}, "r1");
  const std::string msg = error_of([&] { importOnnxBytes(ctx, m.bytes(), "m.onnx"); });
  EXPECT_NE(msg.find("node 'r1'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tensor<2x3xf32>"), std::string::npos) << msg;
}

TEST_F(ImporterTest, UnsupportedOpsAreListedTogether) {
  ModelBuilder m = model("g");
  m.input("x", {2, 2}).output("z", {2, 2});
  m.node("Det", {"x"}, {"d1"}, "det_a");
  m.node("Det", {"x"}, {"d2"}, "det_b");
  m.node("RandomUniformLike", {"x"}, {"f"}, "random");
  m.node("Relu", {"x"}, {"z"}, "relu");
  try {
    importOnnxBytes(ctx, m.bytes(), "m.onnx");
    FAIL() << "no error";
  } catch (const dz::onnx::UnsupportedError &e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("Det (opset 13): nodes 'det_a', 'det_b'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("RandomUniformLike (opset 13): node 'random'"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("Relu"), std::string::npos) << msg;
    EXPECT_EQ(e.reason(), "op Det, RandomUniformLike");
  }
}

/// Reshape's shape as a graph input: unsupported without its value, baked in with it.
TEST_F(ImporterTest, ShapeOperandGivenAsInputNeedsItsValue) {
  ModelBuilder m = model("g");
  m.input("x", {2, 3}).output("y", {3, 2});
  onnx::ValueInfoProto *shape = m.mutable_input("shape");
  shape->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::INT64);
  m.node("Reshape", {"x", "shape"}, {"y"}, "rs");
  try {
    importOnnxBytes(ctx, m.bytes(), "m.onnx");
    FAIL() << "no error";
  } catch (const dz::onnx::UnsupportedError &e) {
    EXPECT_EQ(e.reason(), "Reshape with a computed shape") << e.what();
  }
  dz::onnx::ImportOptions given;
  given.input_values = {dz::zeros({2, 3}), dz::Tensor::from_i64({3, -1})};
  mlir::OwningOpRef<mlir::ModuleOp> module = importOnnxBytes(ctx, m.bytes(), "m.onnx", given);
  mlir::func::FuncOp fn = *module->getOps<mlir::func::FuncOp>().begin();
  EXPECT_EQ(fn.getNumArguments(), 2u); // the shape stays an argument, unused
  EXPECT_EQ(fn.getResultTypes()[0],
            mlir::RankedTensorType::get({3, 2}, mlir::Float32Type::get(&ctx)));
}

/// Valid seed models: those built here and a few ONNX node tests when installed.
std::vector<std::string> seed_models() {
  std::vector<std::string> seeds = {relu_add_model()};
  ModelBuilder conv = model("conv", 11);
  conv.input("x", {1, 1, 5, 5})
      .initializer("w", {1, 1, 3, 3}, std::vector<double>(9, 0.5))
      .output("y", {1, 1, 3, 3});
  conv.node("Conv", {"x", "w"}, {"y"}, "conv");
  seeds.push_back(conv.bytes());
  const std::string node_tests = "/usr/share/libonnx-testdata/data/node/";
  for (const char *name : {"test_gemm_all_attributes", "test_slice", "test_concat_2d_axis_0",
                           "test_batchnorm_example", "test_reshape_negative_dim",
                           "test_softmax_axis_0", "test_gather_0", "test_unsqueeze_two_axes"}) {
    std::ifstream in(node_tests + name + "/model.onnx", std::ios::binary);
    if (in)
      seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return seeds;
}

/// One random edit of the bytes: flip a bit, overwrite a byte, truncate, insert bytes.
void mutate(std::string &bytes, std::mt19937 &rng) {
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n)(rng); };
  const size_t at = bytes.empty() ? 0 : pick(bytes.size() - 1);
  switch (pick(3)) {
  case 0:
    if (!bytes.empty())
      bytes[at] = char(bytes[at] ^ (1 << pick(7)));
    break;
  case 1:
    if (!bytes.empty())
      bytes[at] = char(pick(255));
    break;
  case 2:
    bytes.resize(pick(bytes.size()));
    break;
  default:
    for (size_t k = pick(8); k-- > 0;)
      bytes.insert(bytes.begin() + long(std::min(at, bytes.size())), char(pick(255)));
  }
}

// 5000 mutants (about 1.5 s in Release); DZ_ONNX_FUZZ_ITERATIONS runs a longer campaign.
TEST(ImporterFuzz, MutatedModelsGiveOnlyDzErrors) {
  const std::vector<std::string> seeds = seed_models();
  const char *env = std::getenv("DZ_ONNX_FUZZ_ITERATIONS");
  const int iterations = env ? std::atoi(env) : 5000;
  std::mt19937 rng(20261202);
  int imported = 0, rejected = 0;
  for (int iteration = 0; iteration < iterations; ++iteration) {
    std::string bytes = seeds[size_t(iteration) % seeds.size()];
    for (int edits = 1 + int(rng() % 4); edits-- > 0;)
      mutate(bytes, rng);
    mlir::MLIRContext ctx(mlir::MLIRContext::Threading::DISABLED);
    try {
      importOnnxBytes(ctx, bytes, "mutant.onnx");
      ++imported;
    } catch (const dz::Error &) {
      ++rejected;
    } catch (const std::exception &e) {
      FAIL() << "iteration " << iteration << ": not a dz::Error: " << e.what();
    }
  }
  EXPECT_GT(rejected, 0);
  EXPECT_GT(imported, 0); // some edits keep a valid model (a changed weight, a name)
}

} // namespace
