// models/finetune_onnx.cpp - fine-tuning an ONNX model trained elsewhere: import it with
// dz::onnx::import_trainable (its initializers become Parameters), train it on
// Fashion-MNIST for an epoch through dz::compile, report the test accuracy before and after,
// and export it again with the tuned weights under the original names.
//
// Usage: finetune_onnx [--model FILE] [--epochs 1] [--batch-size 100] [--lr 0.1] [--out DIR]
//                      [--data DIR] [--eager] [--seed 0] [--quiet]
// --model takes an MLP or CNN for Fashion-MNIST with one input, (N, 784) floats, and one
// output, (N, 10) class scores: models/make_torch_mlp.py writes one from PyTorch. Without
// it, a dz MLP(100, 10) trained for 30 steps is exported to DIR/pretrained.onnx and used.
// Writes DIR/finetuned.onnx. Expected (the defaults, no --model): test accuracy from about
// 0.67 to about 0.81 after the epoch; exits non-zero below 0.78, when it did not improve, or
// when the exported file computes something else than the tuned model.
#include "common.h"

#include <dzc/onnx.h>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace F = dz::functions;
namespace M = dz::models;
namespace O = dz::optimizers;

int main(int argc, char **argv) try {
  example::Cli cli("finetune_onnx", "Fine-tune an ONNX classifier on Fashion-MNIST with "
                                    "dz::onnx::import_trainable and export it again.");
  cli.training(/*epochs=*/1, /*batch_size=*/100, /*lr=*/0.1).data();
  std::string model_path;
  cli.app()
      .add_option("--model", model_path,
                  "ONNX model to fine-tune: input (N, 784) floats, output (N, 10) scores")
      ->type_name("FILE");
  const example::Options &args = cli.parse(argc, argv);
  dz::manual_seed(args.seed);
  dz::datasets::FashionMNIST train_set(true, args.data), test_set(false, args.data);
  dz::DataLoader train_loader(train_set, args.batch_size, true, args.seed),
      test_loader(test_set, args.batch_size, false);

  if (model_path.empty()) {
    // A model "trained elsewhere": a few steps of a dz MLP, exported as ONNX.
    M::MLP mlp({100, 10}, F::relu);
    O::SGD sgd(0.1);
    sgd.setup(mlp);
    int steps = 0;
    for (auto [x, t] : train_loader) {
      dz::Variable loss = F::softmax_cross_entropy(mlp(dz::Variable::constant(x)), t);
      mlp.cleargrads();
      loss.backward();
      sgd.update();
      if (++steps == 30)
        break;
    }
    model_path = args.out + "/pretrained.onnx";
    dz::onnx::export_model(mlp, {dz::Variable(dz::zeros({args.batch_size, 784}))}, model_path);
    std::printf("pretrained: a dz MLP(100, 10) after %d SGD steps, exported to %s\n", steps,
                model_path.c_str());
  }

  const auto t0 = std::chrono::steady_clock::now();
  dz::onnx::TrainableModel model = dz::onnx::import_trainable(model_path);
  const double import_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("imported %s in %.1f ms: %zu parameters (", model_path.c_str(), import_ms,
              model.params().size());
  for (size_t i = 0; i < model.parameter_names().size(); ++i)
    std::printf("%s%s", i ? ", " : "", model.parameter_names()[i].c_str());
  std::printf(")\n");

  auto [loss_before, acc_before] = example::evaluate(model, test_loader);
  std::printf("before: test loss %.4f, accuracy %.4f\n", loss_before, acc_before);

  O::MomentumSGD optimizer(args.lr);
  optimizer.setup(model);
  example::Trainer trainer(model, optimizer, !args.eager);
  double acc_after = 0;
  for (int epoch = 1; epoch <= args.epochs; ++epoch) {
    example::Progress bar("epoch " + std::to_string(epoch) + "/" + std::to_string(args.epochs),
                          train_loader.max_iter(), !args.quiet);
    auto [train_loss, train_acc] = trainer.epoch(train_loader, &bar);
    auto [test_loss, acc] = example::evaluate(model, test_loader);
    acc_after = acc;
    if (!args.quiet)
      bar.finish("epoch " + std::to_string(epoch) + "  train loss " + example::fixed(train_loss) +
                 " acc " + example::fixed(train_acc) + "  test loss " + example::fixed(test_loss) +
                 " acc " + example::fixed(acc) + "  (" + example::fixed(bar.elapsed(), 1) + " s)");
  }
  std::printf("training: %s\n", trainer.mode().c_str());
  std::printf("after: test accuracy %.4f\n", acc_after);

  // The tuned weights under the original names; the exported file computes what the
  // tuned model computes.
  const std::string tuned = args.out + "/finetuned.onnx";
  dz::Tensor x = test_set[0].first.reshape({1, 784});
  dz::onnx::export_model(model, {dz::Variable(x)}, tuned);
  dz::onnx::ImportedModel check = dz::onnx::import_model(tuned);
  double worst = 0;
  {
    dz::NoGrad no_grad;
    dz::TestMode test;
    for (auto [bx, bt] : test_loader) {
      std::vector<double> a = model(dz::Variable::constant(bx)).data().to_vector();
      std::vector<double> b = check({bx}).at(0).to_vector();
      for (size_t i = 0; i < a.size(); ++i)
        worst = std::max(worst, std::abs(a[i] - b[i]));
      break;
    }
  }
  std::printf("exported %s: its outputs differ from the tuned model's by at most %.3g\n",
              tuned.c_str(), worst);
  if (worst > 1e-4) {
    std::fprintf(stderr, "finetune_onnx: the exported model differs from the tuned one\n");
    return 1;
  }
  if (cli.documented_settings() && !cli.given("--model") &&
      (acc_after < 0.78 || acc_after <= acc_before)) {
    std::fprintf(stderr, "finetune_onnx: test accuracy %.4f (before %.4f) is below 0.78\n",
                 acc_after, acc_before);
    return 1;
  }
  return 0;
} catch (...) {
  return example::exit_status("finetune_onnx");
}
