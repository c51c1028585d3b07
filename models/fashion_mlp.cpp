// models/fashion_mlp.cpp - the book's MNIST MLP (step 51) on Fashion-MNIST, the MNIST-format
// data set Debian ships (apt-get install dataset-fashion-mnist): MLP(1000, 1000, 10) with
// ReLU, Adam, batch 100.
//
// Usage: fashion_mlp [--epochs 5] [--batch-size 100] [--lr 0.001] [--out DIR] [--data DIR]
//                    [--eager] [--device cpu|cuda] [--seed 0] [--quiet] [--distributed]
// Expected: test accuracy >= 0.87 after 5 epochs (with the default settings); exits
// non-zero otherwise.
//
// Data parallel: `mpirun -np 2 build/models/fashion_mlp --distributed` trains on 2
// processes. --batch-size stays the global batch (each rank takes batch / ranks samples of
// it), so the run follows the one-process run's batches and reaches its accuracy; rank 0
// prints and writes the results. --device cuda uses GPU local_rank on each machine.
#include "common.h"

namespace F = dz::functions;
namespace M = dz::models;
namespace O = dz::optimizers;

int main(int argc, char **argv) try {
  example::Cli cli("fashion_mlp", "Step 51 of the book on Fashion-MNIST: MLP(1000, 1000, 10) "
                                  "with ReLU, trained with Adam.");
  cli.training(/*epochs=*/5, /*batch_size=*/100, /*lr=*/0.001).data();
  bool distributed = false;
  cli.app().add_flag("--distributed", distributed,
                     "data parallel over the processes of mpirun (mpirun -np 2 fashion_mlp "
                     "--distributed); one process without mpirun");
  example::Options args = cli.parse(argc, argv);
  namespace D = dz::distributed;
  int ranks = 1;
  if (distributed) {
    D::init();
    ranks = D::world_size();
    if (args.batch_size % ranks != 0) {
      std::fprintf(stderr, "fashion_mlp: --batch-size %lld is not a multiple of the %d ranks\n",
                   (long long)args.batch_size, ranks);
      return 2;
    }
    if (!args.device.is_cpu()) // one process per GPU
      args.device = dz::Device::cuda(D::local_rank());
    if (D::rank() != 0)
      args.quiet = true;
  }
  const dz::DataLoaderOptions shard{.rank = distributed ? D::rank() : 0, .world_size = ranks};
  dz::manual_seed(args.seed);
  dz::datasets::FashionMNIST train_set(true, args.data), test_set(false, args.data);
  dz::DataLoader train_loader(train_set, args.batch_size / ranks, true, args.seed, shard),
      test_loader(test_set, args.batch_size / ranks, false, std::nullopt, shard);
  M::MLP model({1000, 1000, 10}, F::relu);
  model.to(args.device); // the book's GPU step: the model and the batches on the device
  train_loader.to(args.device);
  test_loader.to(args.device);
  O::Adam optimizer(args.lr);
  optimizer.setup(model);
  std::unique_ptr<D::DataParallel> dp;
  if (distributed) {
    model(dz::Variable(dz::zeros({1, 784}, dz::f32).to(args.device))); // sizes the layers
    dp = std::make_unique<D::DataParallel>(model);
  }
  example::Trainer trainer(model, optimizer, !args.eager, dp.get());
  if (distributed && !args.quiet)
    std::printf("data parallel: %s, %lld samples per rank and step\n", D::backend().c_str(),
                (long long)(args.batch_size / ranks));
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
  if (distributed)
    D::finalize();
  if (distributed && D::rank() != 0)
    return 0; // rank 0 reports
  std::printf("training: %s on %s%s\n", trainer.mode().c_str(), args.device.str().c_str(),
              ranks > 1 ? (", data parallel over " + std::to_string(ranks) + " processes").c_str()
                        : "");
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
