// onnx_trainable_import.cpp - what importing an ONNX model for fine-tuning costs against
// importing it for inference (docs/performance.md): import_model + its first call (import,
// pipeline, CPU program) against import_trainable + the first forward (the same, with the
// initializers as arguments) + the first backward (the vector-Jacobian graph through
// --dz-autodiff and the pipeline), and the first compiled SGD step (dz::compile: trace,
// autodiff of the whole step, pipeline). Each a fresh model, best of --iters runs.
//
// Usage: dz_bench_onnx_trainable_import [--model FILE] [--batch-size 100] [--iters 5]
// Without --model, a dz MLP 784-1000-10 (ReLU) is exported to a temporary file.
#include "cli.h"

#include <dzc/dzc.h>
#include <dzc/onnx.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

namespace F = dz::functions;

namespace {
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
} // namespace

int main(int argc, char **argv) try {
  example::Cli cli("dz_bench_onnx_trainable_import",
                   "import_trainable (forward, backward, a compiled step) against import_model.");
  cli.iters(5).batch_size(100);
  std::string model;
  cli.app().add_option("--model", model, "ONNX model with one input (N, 784)")->type_name("FILE");
  const example::Options &args = cli.parse(argc, argv);
  const std::string tmp = (std::filesystem::temp_directory_path() / "dz_bench_trainable.onnx");
  if (model.empty()) {
    dz::models::MLP mlp({1000, 10}, F::relu);
    dz::onnx::export_model(mlp, {dz::Variable(dz::zeros({2, 784}))}, tmp);
    model = tmp;
  }
  const dz::Tensor x = dz::randn({args.batch_size, 784}, dz::f32, 1);
  const dz::Tensor t = dz::zeros({args.batch_size}, dz::i64);
  double inference = 1e30, read = 1e30, forward = 1e30, backward = 1e30, step = 1e30;
  for (int i = 0; i < args.iters; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    dz::onnx::ImportedModel g = dz::onnx::import_model(model);
    g({x});
    inference = std::min(inference, ms_since(t0));

    t0 = std::chrono::steady_clock::now();
    dz::onnx::TrainableModel m = dz::onnx::import_trainable(model);
    read = std::min(read, ms_since(t0));
    dz::Variable loss = F::softmax_cross_entropy(m(dz::Variable::constant(x)), t);
    forward = std::min(forward, ms_since(t0));
    t0 = std::chrono::steady_clock::now();
    loss.backward();
    backward = std::min(backward, ms_since(t0));

    dz::onnx::TrainableModel mc = dz::onnx::import_trainable(model);
    dz::optimizers::SGD sgd(0.01);
    sgd.setup(mc);
    auto train_step = dz::compile([&](const dz::Variable &xb, const dz::Variable &tb) {
      dz::Variable l = F::softmax_cross_entropy(mc(xb), tb);
      mc.cleargrads();
      l.backward();
      sgd.update();
      return l;
    });
    t0 = std::chrono::steady_clock::now();
    train_step(x, t);
    step = std::min(step, ms_since(t0));
  }
  std::printf("model %s, batch %lld, best of %d (ms)\n", model.c_str(), (long long)args.batch_size,
              args.iters);
  std::printf("import_model + first call              %8.1f\n", inference);
  std::printf("import_trainable alone (reads the file) %7.1f\n", read);
  std::printf("import_trainable + first forward       %8.1f\n", forward);
  std::printf("first backward (VJP graph compiled)    %8.1f\n", backward);
  std::printf("first compiled SGD step (dz::compile)  %8.1f\n", step);
  std::filesystem::remove(tmp);
  return 0;
} catch (...) {
  return example::exit_status("dz_bench_onnx_trainable_import");
}
