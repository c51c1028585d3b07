// models/fashion_mlp.cpp - the book's MNIST MLP (step 51) on Fashion-MNIST, the MNIST-format
// data set Debian ships (apt-get install dataset-fashion-mnist): MLP(1000, 1000, 10) with
// ReLU, Adam, batch 100.
//
// Usage: fashion_mlp [--epochs 5] [--batch-size 100] [--lr 0.001] [--out DIR] [--data DIR]
//                    [--eager] [--device cpu|cuda] [--seed 0] [--quiet]
// Expected: test accuracy >= 0.87 after 5 epochs (with the default settings); exits
// non-zero otherwise.
#include "common.h"

namespace F = dz::functions;
namespace M = dz::models;
namespace O = dz::optimizers;

int main(int argc, char **argv) try {
  example::Cli cli("fashion_mlp", "Step 51 of the book on Fashion-MNIST: MLP(1000, 1000, 10) "
                                  "with ReLU, trained with Adam.");
  cli.training(/*epochs=*/5, /*batch_size=*/100, /*lr=*/0.001).data();
  const example::Options &args = cli.parse(argc, argv);
  dz::manual_seed(args.seed);
  dz::datasets::FashionMNIST train_set(true, args.data), test_set(false, args.data);
  dz::DataLoader train_loader(train_set, args.batch_size, true, args.seed),
      test_loader(test_set, args.batch_size, false);
  M::MLP model({1000, 1000, 10}, F::relu);
  model.to(args.device); // the book's GPU step: the model and the batches on the device
  train_loader.to(args.device);
  test_loader.to(args.device);
  O::Adam optimizer(args.lr);
  optimizer.setup(model);
  example::Trainer trainer(model, optimizer, !args.eager);
  if (!args.quiet)
    std::printf("Fashion-MNIST: %lld train, %lld test samples\n", (long long)train_set.size(),
                (long long)test_set.size());

  dz::utils::History history;
  double test_acc = 0;
  for (int epoch = 1; epoch <= args.epochs; ++epoch) {
    example::Progress bar("epoch " + std::to_string(epoch) + "/" + std::to_string(args.epochs),
                          train_loader.max_iter(), !args.quiet);
    auto [train_loss, train_acc] = trainer.epoch(train_loader, &bar);
    auto [test_loss, acc] = example::evaluate(model, test_loader);
    test_acc = acc;
    if (!args.quiet)
      bar.finish("epoch " + std::to_string(epoch) + "  train loss " + example::fixed(train_loss) +
                 " acc " + example::fixed(train_acc) + "  test loss " + example::fixed(test_loss) +
                 " acc " + example::fixed(test_acc) + "  (" + example::fixed(bar.elapsed(), 1) +
                 " s)");
    history.record(epoch, {{"train_loss", train_loss},
                           {"test_loss", test_loss},
                           {"train_acc", train_acc},
                           {"test_acc", test_acc}});
  }
  std::printf("training: %s on %s\n", trainer.mode().c_str(), args.device.str().c_str());
  example::save_curves(history, args, "fashion_mlp",
                       "Fashion-MNIST MLP(1000, 1000, 10), Adam lr " + example::num(args.lr));
  std::printf("test accuracy %.4f\n", test_acc);
  if (cli.documented_settings() && test_acc < 0.87) {
    std::fprintf(stderr, "fashion_mlp: test accuracy %.4f is below the expected 0.87\n", test_acc);
    return 1;
  }
  return 0;
} catch (...) {
  return example::exit_status("fashion_mlp");
}
