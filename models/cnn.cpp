// models/cnn.cpp - a small convolutional network on Fashion-MNIST: two blocks of
// conv 3x3 (pad 1) - ReLU - max pooling 2x2, then a linear classifier. Adam, batch 100.
//
// Usage: cnn [--epochs 5] [--batch-size 100] [--lr 0.001] [--out DIR] [--data DIR] [--eager]
//            [--device cpu|cuda] [--seed 0] [--quiet]
// Expected: test accuracy >= 0.89 after 5 epochs (0.891 after 3) with the default settings;
// exits non-zero otherwise.
#include "common.h"

namespace F = dz::functions;
namespace L = dz::layers;
namespace O = dz::optimizers;
namespace T = dz::transforms;

struct CNN : dz::Model {
  L::Conv2d conv1{16, 3, {.stride = 1, .pad = 1}};
  L::Conv2d conv2{32, 3, {.stride = 1, .pad = 1}};
  L::Linear fc{10};
  CNN() {
    register_layer("conv1", conv1);
    register_layer("conv2", conv2);
    register_layer("fc", fc);
  }
  dz::Variable forward(const dz::Variable &x) override {
    dz::Variable h = F::pooling(F::relu(conv1(x)), 2, 2); // (N, 16, 14, 14)
    h = F::pooling(F::relu(conv2(h)), 2, 2);              // (N, 32, 7, 7)
    return fc(F::flatten(h));
  }
};

int main(int argc, char **argv) try {
  example::Cli cli("cnn", "A small CNN on Fashion-MNIST: two blocks of conv 3x3 - ReLU - max "
                          "pooling 2x2, then a linear classifier; Adam.");
  cli.training(/*epochs=*/5, /*batch_size=*/100, /*lr=*/0.001).data();
  const example::Options &args = cli.parse(argc, argv);
  dz::manual_seed(args.seed);
  // Images stay (1, 28, 28): no Flatten in the transform.
  T::Transform to_image = T::Compose{T::ToFloat(), T::Normalize(0, 255)};
  dz::datasets::FashionMNIST train_set(true, args.data, to_image),
      test_set(false, args.data, to_image);
  dz::DataLoader train_loader(train_set, args.batch_size, true, args.seed),
      test_loader(test_set, args.batch_size, false);
  CNN model;
  model.to(args.device);
  train_loader.to(args.device);
  test_loader.to(args.device);
  O::Adam optimizer(args.lr);
  optimizer.setup(model);
  example::Trainer trainer(model, optimizer, !args.eager);

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
  example::save_curves(history, args, "cnn", "Fashion-MNIST CNN, Adam lr " + example::num(args.lr));
  std::printf("test accuracy %.4f\n", test_acc);
  if (cli.documented_settings() && test_acc < 0.89) {
    std::fprintf(stderr, "cnn: test accuracy %.4f is below the expected 0.89\n", test_acc);
    return 1;
  }
  return 0;
} catch (...) {
  return example::exit_status("cnn");
}
