// models/mnist_save_load.cpp - step 53 of the book: MLP(1000, 10) on the MNIST digits with
// SGD; when the weights file exists the model loads it first and training resumes from
// there; at the end the weights are saved (.npz, as NumPy writes it). The saved file is
// then loaded into a fresh model, which must compute exactly what the trained one does.
//
// Usage: mnist_save_load [--epochs 3] [--batch-size 100] [--lr 0.01] [--weights FILE]
//                        [--fresh] [--train-size N] [--data DIR] [--out DIR] [--eager]
//                        [--seed 0] [--quiet]
// Run it twice: the second run prints "resumed from FILE" and starts from a lower loss.
// Exits non-zero when the reloaded model's outputs differ from the trained model's.
#include "common.h"

#include <filesystem>

namespace F = dz::functions;
namespace M = dz::models;
namespace O = dz::optimizers;

int main(int argc, char **argv) try {
  example::Cli cli("mnist_save_load", "Step 53 of the book: MLP(1000, 10) on MNIST with SGD, "
                                      "its weights saved after training and loaded to resume.");
  cli.training(/*epochs=*/3, /*batch_size=*/100, /*lr=*/0.01).data();
  std::string weights;
  bool fresh = false;
  int64_t train_size = 0;
  cli.app()
      .add_option("--weights", weights, "the weights file (default: OUT/my_mlp.npz)")
      ->type_name("FILE");
  cli.app().add_flag("--fresh", fresh, "start from new weights even when the file exists");
  cli.app()
      .add_option("--train-size", train_size, "training digits to use (0: all)")
      ->type_name("N")
      ->check(example::Cli::whole<int64_t>(0));
  const example::Options &args = cli.parse(argc, argv);
  if (weights.empty())
    weights = args.out + "/my_mlp.npz";
  dz::manual_seed(args.seed);
  const dz::datasets::MNIST mnist_train(true, args.data), test_set(false, args.data);
  const dz::datasets::Dataset train_set = example::first_samples(mnist_train, train_size);
  dz::DataLoader train_loader(train_set, args.batch_size, true, args.seed),
      test_loader(test_set, args.batch_size, false);
  M::MLP model({1000, 10});
  if (!fresh && std::filesystem::exists(weights)) {
    model.load_weights(weights);
    auto [loss, acc] = example::evaluate(model, train_loader);
    std::printf("resumed from %s: training loss %.4f, accuracy %.4f\n", weights.c_str(), loss, acc);
  } else {
    std::printf("new weights (%s %s)\n", weights.c_str(),
                fresh ? "ignored: --fresh" : "does not exist yet");
  }
  O::SGD optimizer(args.lr);
  optimizer.setup(model);
  example::Trainer trainer(model, optimizer, !args.eager);

  for (int epoch = 1; epoch <= args.epochs; ++epoch) {
    example::Progress bar("epoch " + std::to_string(epoch) + "/" + std::to_string(args.epochs),
                          train_loader.max_iter(), !args.quiet);
    auto [loss, acc] = trainer.epoch(train_loader, &bar);
    if (!args.quiet)
      bar.finish("epoch: " + std::to_string(epoch) + ", loss: " + example::fixed(loss) +
                 ", accuracy: " + example::fixed(acc));
  }
  model.save_weights(weights);
  std::printf("saved %s\n", weights.c_str());

  // A fresh model from the file computes what the trained one does.
  M::MLP reloaded({1000, 10});
  reloaded.load_weights(weights);
  double worst = 0;
  {
    dz::NoGrad no_grad;
    for (auto [x, t] : test_loader) {
      (void)t;
      const dz::Variable xv(x);
      worst = std::max(worst, dz::abs(model(xv).data() - reloaded(xv).data()).max().item<double>());
    }
  }
  auto [test_loss, test_acc] = example::evaluate(reloaded, test_loader);
  std::printf("reloaded model: test loss %.4f, accuracy %.4f; largest difference from the "
              "trained model %g\n",
              test_loss, test_acc, worst);
  if (worst != 0) {
    std::fprintf(stderr, "mnist_save_load: the reloaded weights compute something else\n");
    return 1;
  }
  return 0;
} catch (...) {
  return example::exit_status("mnist_save_load");
}
