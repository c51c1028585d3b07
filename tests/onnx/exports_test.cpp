// exports_test.cpp - ONNX files exported from PyTorch (tests/onnx/exports, written by
// make_exports.py with torch.onnx.export) run through dz::onnx::import_model and `dzc run`
// and match PyTorch's outputs within 1e-5, at the exported shapes and at a second batch
// size or sequence length (their batch and sequence axes are dynamic).
#include <dzc/dzc.h>
#include <dzc/onnx.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

namespace fs = std::filesystem;

namespace {

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const auto &e : fs::directory_iterator(DZ_EXPORTS_DIR))
    if (e.path().extension() == ".onnx")
      names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string file(const std::string &name, const std::string &suffix) {
  return (fs::path(DZ_EXPORTS_DIR) / (name + suffix)).string();
}

} // namespace

TEST(PyTorchExports, EveryModelMatchesPyTorchAtTwoShapes) {
  const std::vector<std::string> names = model_names();
  EXPECT_GE(names.size(), 12u) << "exports missing from " << DZ_EXPORTS_DIR;
  for (const std::string &name : names) {
    SCOPED_TRACE(name);
    dz::onnx::ImportedModel model = dz::onnx::import_model(file(name, ".onnx"));
    for (const std::string shape : {"", "2"}) {
      const dz::Tensor x = dz::load_npy(file(name, ".x" + shape + ".npy"));
      const dz::Tensor want = dz::load_npy(file(name, ".y" + shape + ".npy"));
      std::vector<dz::Tensor> y = model({x});
      ASSERT_EQ(y.size(), 1u);
      ASSERT_EQ(y[0].shape(), want.shape()) << "input " << dz::shape_str(x.shape());
      EXPECT_EQ(y[0].dtype(), want.dtype());
      const double diff = dz::max_abs_diff(y[0], want);
      EXPECT_LE(diff, 1e-5) << "input " << dz::shape_str(x.shape());
      std::printf("%s at %s: max |dzc - PyTorch| = %.2g\n", name.c_str(),
                  dz::shape_str(x.shape()).c_str(), diff);
    }
    EXPECT_EQ(model.compilations(), 2); // one per input shape
  }
}

TEST(PyTorchExports, DzcRunMatchesPyTorch) {
  const fs::path out = fs::temp_directory_path() / ("dz-exports-" + std::to_string(getpid()));
  for (const std::string &name : model_names()) {
    SCOPED_TRACE(name);
    fs::remove_all(out);
    const std::string cmd = std::string(DZ_DZC) + " run " + file(name, ".onnx") + " --input " +
                            file(name, ".x2.npy") + " --output-dir " + out.string() +
                            " 2>/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    const dz::Tensor y = dz::load_npy((out / "output_0.npy").string());
    const dz::Tensor want = dz::load_npy(file(name, ".y2.npy"));
    ASSERT_EQ(y.shape(), want.shape());
    EXPECT_LE(dz::max_abs_diff(y, want), 1e-5);
  }
  fs::remove_all(out);
}
