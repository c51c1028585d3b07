// models/spiral.cpp - step 48 of the book: a two-layer MLP classifies the spiral data set
// (3 classes x 100 points), SGD lr 1.0, batch 30.
//
// Usage: spiral [--epochs 300] [--batch-size 30] [--lr 1.0] [--out DIR] [--eager]
//               [--device cpu|cuda] [--seed 0] [--quiet]
// Expected: train accuracy >= 0.95 after 300 epochs (with the default settings); exits
// non-zero otherwise.
#include "common.h"

namespace F = dz::functions;
namespace M = dz::models;
namespace O = dz::optimizers;

int main(int argc, char **argv) try {
  example::Cli cli("spiral", "Step 48 of the book: a two-layer MLP classifies the spiral data "
                             "set (3 classes x 100 points) with SGD.");
  cli.training(/*epochs=*/300, /*batch_size=*/30, /*lr=*/1.0);
  const example::Options &args = cli.parse(argc, argv);
  dz::manual_seed(args.seed);
  dz::datasets::Spiral train_set(true);
  dz::DataLoader loader(train_set, args.batch_size, /*shuffle=*/true, args.seed);
  M::MLP model({10, 3});
  model.to(args.device);
  loader.to(args.device);
  O::SGD optimizer(args.lr);
  optimizer.setup(model);
  example::Trainer trainer(model, optimizer, !args.eager);

  dz::utils::History history;
  double acc = 0;
  for (int epoch = 1; epoch <= args.epochs; ++epoch) {
    auto [loss, train_acc] = trainer.epoch(loader);
    acc = train_acc;
    history.record(epoch, {{"loss", loss}, {"accuracy", acc}});
    if (!args.quiet && (epoch % 10 == 0 || epoch == 1))
      std::printf("epoch %3d  loss %.4f  accuracy %.4f\n", epoch, loss, acc);
  }
  std::printf("training: %s on %s\n", trainer.mode().c_str(), args.device.str().c_str());
  example::save_curves(history, args, "spiral",
                       "Spiral MLP(10, 3), SGD lr " + example::num(args.lr));
  std::printf("train accuracy %.4f\n", acc);
  if (cli.documented_settings() && acc < 0.95) {
    std::fprintf(stderr, "spiral: train accuracy %.4f is below the expected 0.95\n", acc);
    return 1;
  }
  return 0;
} catch (...) {
  return example::exit_status("spiral");
}
