// ort_test.cpp - onnxruntime as a reference (ort.h): ONNX backend node tests run through
// onnxruntime and through dzc's importer + pipeline + CPU executor give the same outputs,
// both those of the test data; run_ort reports its failures as dz::Error. Every test that
// needs onnxruntime is skipped, with the reason, where node or onnxruntime-node is missing.
#include "ort.h"

#include <dzc/codegen/ExecutorBuild.h>
#include <dzc/onnx/Import.h>
#include <dzc/onnx/Model.h>
#include <dzc/passes/Passes.h>

#include <mlir/IR/MLIRContext.h>
#include <mlir/Pass/PassManager.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace {

const fs::path kNodeTests = "/usr/share/libonnx-testdata/data/node";

#define SKIP_WITHOUT_ORT()                                                                         \
  do {                                                                                             \
    if (std::string why = dz::testing::ort_unavailable_reason(); !why.empty())                     \
      GTEST_SKIP() << "onnxruntime unavailable: " << why;                                          \
  } while (0)

std::vector<dz::Tensor> load_all(const fs::path &dir, const std::string &prefix) {
  std::vector<dz::Tensor> out;
  for (int i = 0; fs::exists(dir / (prefix + std::to_string(i) + ".pb")); ++i)
    out.push_back(dz::onnx::load_tensor_pb((dir / (prefix + std::to_string(i) + ".pb")).string()));
  return out;
}

/// Empty when `got` matches `want` by the rule of ONNX's backend tests (same dtype and
/// shape, |a - b| <= 1e-7 + 1e-3 |b|; integers exactly), else what differs.
std::string compare(const dz::Tensor &got, const dz::Tensor &want) {
  if (got.dtype() != want.dtype())
    return std::string("dtype ") + dz::dtype_name(got.dtype()) + ", expected " +
           dz::dtype_name(want.dtype());
  if (got.shape() != want.shape())
    return "shape " + dz::codegen::type_str({got.shape(), got.dtype()}) + ", expected " +
           dz::codegen::type_str({want.shape(), want.dtype()});
  const dz::Tensor a = got.to(dz::f64), b = want.to(dz::f64);
  for (int64_t i = 0; i < b.size(); ++i) {
    const double x = a.data<double>()[i], y = b.data<double>()[i];
    const bool same =
        x == y || (std::isnan(x) && std::isnan(y)) ||
        (dz::is_floating(want.dtype()) && std::abs(x - y) <= 1e-7 + 1e-3 * std::abs(y));
    if (!same)
      return "element " + std::to_string(i) + " is " + std::to_string(x) + ", expected " +
             std::to_string(y);
  }
  return "";
}

/// The outputs of `model` run by dzc as `dzc run` does: import with the input values,
/// the whole pipeline, the CPU executor.
std::vector<dz::Tensor> run_dzc(const fs::path &model, const std::vector<dz::Tensor> &inputs) {
  mlir::MLIRContext ctx(mlir::MLIRContext::Threading::DISABLED);
  dz::onnx::ImportOptions options;
  options.input_values = inputs;
  options.evaluate = [](mlir::func::FuncOp fn) {
    return dz::codegen::buildProgramOrThrow(fn).run({}).at(0);
  };
  mlir::OwningOpRef<mlir::ModuleOp> module = dz::onnx::importOnnx(ctx, model.string(), options);
  mlir::PassManager pm(&ctx);
  dz::passes::buildPipeline(pm);
  if (mlir::failed(pm.run(*module)))
    throw dz::Error("the pipeline failed on '" + model.string() + "'");
  auto fn = *module->getOps<mlir::func::FuncOp>().begin();
  return dz::codegen::buildProgramOrThrow(fn).run(inputs);
}

class OrtNodeTest : public ::testing::TestWithParam<const char *> {};

// Float convolution, GEMM with every attribute, ReLU, softmax; an int64 input (Gather's
// indices) and an int64 output (ArgMax): the dtypes run_ort passes both ways.
TEST_P(OrtNodeTest, OnnxruntimeAndDzcAgreeWithTheTestData) {
  SKIP_WITHOUT_ORT();
  const fs::path dir = kNodeTests / GetParam();
  if (!fs::exists(dir / "model.onnx"))
    GTEST_SKIP() << "no ONNX node test data at " << dir << " (apt-get install libonnx-testdata)";
  const std::vector<dz::Tensor> inputs = load_all(dir / "test_data_set_0", "input_");
  const std::vector<dz::Tensor> expected = load_all(dir / "test_data_set_0", "output_");
  ASSERT_FALSE(expected.empty());

  const std::vector<dz::Tensor> ort = dz::testing::run_ort((dir / "model.onnx").string(), inputs);
  const std::vector<dz::Tensor> dzc = run_dzc(dir / "model.onnx", inputs);
  ASSERT_EQ(ort.size(), expected.size());
  ASSERT_EQ(dzc.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(compare(ort[i], expected[i]), "") << "onnxruntime, output " << i;
    EXPECT_EQ(compare(dzc[i], ort[i]), "") << "dzc vs onnxruntime, output " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(NodeTests, OrtNodeTest,
                         ::testing::Values("test_relu", "test_gemm_all_attributes",
                                           "test_conv_with_strides_padding", "test_softmax_axis_1",
                                           "test_gather_0", "test_argmax_default_axis_random"),
                         [](const auto &info) { return std::string(info.param).substr(5); });

TEST(Ort, WrongInputCountIsAnErrorWithOnnxruntimesReason) {
  SKIP_WITHOUT_ORT();
  const std::string model = (kNodeTests / "test_relu" / "model.onnx").string();
  if (!fs::exists(model))
    GTEST_SKIP() << "no ONNX node test data at " << kNodeTests;
  try {
    dz::testing::run_ort(model, {});
    FAIL() << "run_ort with no input returned";
  } catch (const dz::Error &e) {
    EXPECT_NE(std::string(e.what()).find("takes 1 input(s) (x), got 0 --input"), std::string::npos)
        << e.what();
  }
}

TEST(Ort, ModelThatDoesNotParseIsAnErrorNamingIt) {
  SKIP_WITHOUT_ORT();
  const fs::path bad = fs::temp_directory_path() / "dz-ort-test-not-a-model.onnx";
  std::ofstream(bad) << "not a protobuf";
  try {
    dz::testing::run_ort(bad.string(), {dz::zeros({2})});
    fs::remove(bad);
    FAIL() << "run_ort of a garbage file returned";
  } catch (const dz::Error &e) {
    fs::remove(bad);
    const std::string what = e.what();
    EXPECT_NE(what.find("onnxruntime cannot load '" + bad.string() + "'"), std::string::npos)
        << what;
  }
}

// Runs node (when there is one) but not onnxruntime: checked everywhere.
TEST(Ort, UnavailableReasonNamesTheMissingInstall) {
  const char *old = std::getenv("DZ_ORT_DIR");
  const std::string saved = old ? old : "";
  setenv("DZ_ORT_DIR", "/nonexistent/dz-ort", 1);
  const std::string why = dz::testing::ort_detail::probe();
  if (old)
    setenv("DZ_ORT_DIR", saved.c_str(), 1);
  else
    unsetenv("DZ_ORT_DIR");
  const std::string node = dz::testing::ort_detail::node_path();
  if (node.empty() || access(node.c_str(), X_OK) != 0)
    EXPECT_EQ(why.rfind("node not found", 0), 0u) << why;
  else
    EXPECT_EQ(why, "onnxruntime-node not installed at '/nonexistent/dz-ort/node_modules/"
                   "onnxruntime-node' (scripts/install-deps.sh installs it; DZ_ORT_DIR "
                   "overrides the place)");
}

} // namespace
