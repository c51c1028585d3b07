// models/spiral.cpp - steps 48 and 50 of the book: a two-layer MLP classifies the spiral
// data set (3 classes x 100 points), SGD lr 1.0, batch 30; the test split is scored after
// every epoch (step 50), and the decision regions are drawn with the points on top.
//
// Usage: spiral [--epochs 300] [--batch-size 30] [--lr 1.0] [--out DIR] [--eager]
//               [--device cpu|cuda] [--seed 0] [--quiet]
// Writes DIR/spiral.csv and .svg (loss and accuracy per epoch) and DIR/spiral_boundary.svg.
// Expected: train accuracy >= 0.95 and test accuracy >= 0.9 after 300 epochs (with the
// default settings); exits non-zero otherwise.
#include "common.h"
#include "plot.h"

namespace F = dz::functions;
namespace M = dz::models;
namespace O = dz::optimizers;

int main(int argc, char **argv) try {
  example::Cli cli("spiral", "Steps 48 and 50 of the book: a two-layer MLP classifies the "
                             "spiral data set (3 classes x 100 points) with SGD, scored on its "
                             "test split, its decision regions drawn.");
  cli.training(/*epochs=*/300, /*batch_size=*/30, /*lr=*/1.0);
  const example::Options &args = cli.parse(argc, argv);
  dz::manual_seed(args.seed);
  dz::datasets::Spiral train_set(true), test_set(false);
  dz::DataLoader loader(train_set, args.batch_size, /*shuffle=*/true, args.seed),
      test_loader(test_set, args.batch_size, /*shuffle=*/false);
  M::MLP model({10, 3});
  model.to(args.device);
  loader.to(args.device);
  test_loader.to(args.device);
  O::SGD optimizer(args.lr);
  optimizer.setup(model);
  example::Trainer trainer(model, optimizer, !args.eager);

  dz::utils::History history;
  double acc = 0, test_acc = 0;
  for (int epoch = 1; epoch <= args.epochs; ++epoch) {
    auto [loss, train_acc] = trainer.epoch(loader);
    auto [test_loss, t_acc] = example::evaluate(model, test_loader);
    acc = train_acc;
    test_acc = t_acc;
    history.record(epoch, {{"train_loss", loss},
                           {"test_loss", test_loss},
                           {"train_acc", acc},
                           {"test_acc", test_acc}});
    if (!args.quiet && (epoch % 10 == 0 || epoch == 1))
      std::printf("epoch %3d  train loss %.4f accuracy %.4f  test loss %.4f accuracy %.4f\n", epoch,
                  loss, acc, test_loss, test_acc);
  }
  std::printf("training: %s on %s\n", trainer.mode().c_str(), args.device.str().c_str());
  example::save_curves(history, args, "spiral",
                       "Spiral MLP(10, 3), SGD lr " + example::num(args.lr));

  // The decision regions: the predicted class on a grid over the points (the book's figure).
  {
    dz::NoGrad no_grad;
    dz::TestMode test_mode;
    const int64_t n = 100;
    const double lo = -1.1, hi = 1.1;
    std::vector<double> grid;
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < n; ++c) {
        grid.push_back(lo + (hi - lo) * (double(c) + 0.5) / double(n));
        grid.push_back(lo + (hi - lo) * (double(r) + 0.5) / double(n));
      }
    const dz::Tensor xs = dz::Tensor::from(grid, {n * n, 2}, dz::f32).to(args.device);
    const dz::Tensor cls = model(dz::Variable(xs)).data().to(dz::Device::cpu()).argmax(1);
    std::vector<int64_t> classes(cls.data<int64_t>(), cls.data<int64_t>() + cls.size());
    const dz::Tensor &pts = train_set.data();
    std::vector<double> px, py;
    for (int64_t i = 0; i < pts.shape(0); ++i) {
      px.push_back(pts.at(2 * i));
      py.push_back(pts.at(2 * i + 1));
    }
    const dz::Tensor &labels = train_set.label();
    std::vector<int64_t> pc(labels.data<int64_t>(), labels.data<int64_t>() + labels.size());
    const std::string path = args.out + "/spiral_boundary.svg";
    example::save_decision_svg(path, "Spiral: decision regions of MLP(10, 3)", lo, hi, lo, hi, n,
                               classes, px, py, pc);
    std::printf("decision regions: %s\n", path.c_str());
  }
  std::printf("train accuracy %.4f\n", acc);
  std::printf("test accuracy %.4f\n", test_acc);
  if (cli.documented_settings() && (acc < 0.95 || test_acc < 0.9)) {
    std::fprintf(stderr,
                 "spiral: train accuracy %.4f / test accuracy %.4f below the expected "
                 "0.95 / 0.9\n",
                 acc, test_acc);
    return 1;
  }
  return 0;
} catch (...) {
  return example::exit_status("spiral");
}
