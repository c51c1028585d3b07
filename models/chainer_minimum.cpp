// models/chainer_minimum.cpp - the one-file Chainer MLP in dzc's Define-and-Run form: a
// 784-100-100-10 network with ReLU, He initialisation (randn * sqrt(2 / fan_in)), one-hot
// targets with the softmax cross entropy written out (-sum(t * log_softmax(y)) / N), and
// plain SGD written by hand (p <- p - lr * grad). The whole training step is compiled with
// dz::compile; the validation accuracy is reported after every epoch.
//
// Usage: chainer_minimum [--epochs 20] [--batch-size 100] [--lr 0.1] [--train-size N]
//                        [--test-size N] [--min-accuracy X] [--data DIR] [--out DIR] [--eager]
//                        [--seed 0] [--quiet]
// Expected: validation accuracy >= 0.95 after 20 epochs on the MNIST digits that
// scripts/install-deps.sh installs (with the default settings); exits non-zero otherwise.
#include "common.h"

#include <cmath>

namespace F = dz::functions;

namespace {

/// The parameters of the three layers, initialised as He et al.: W ~ N(0, 2 / fan_in), b = 0.
struct Net {
  std::vector<dz::Parameter> params;
  Net(const std::vector<int64_t> &sizes, uint64_t seed) {
    dz::Generator gen(seed);
    for (size_t i = 0; i + 1 < sizes.size(); ++i) {
      const double scale = std::sqrt(2.0 / double(sizes[i]));
      params.emplace_back(dz::randn({sizes[i], sizes[i + 1]}, dz::f32, gen) * scale,
                          "W" + std::to_string(i + 1));
      params.emplace_back(dz::zeros({sizes[i + 1]}, dz::f32), "b" + std::to_string(i + 1));
    }
  }
  dz::Variable operator()(dz::Variable h) const {
    for (size_t i = 0; i < params.size(); i += 2) {
      h = F::linear(h, params[i], params[i + 1]);
      if (i + 2 < params.size())
        h = F::relu(h);
    }
    return h;
  }
};

/// Softmax cross entropy against one-hot (or soft) targets t (N, C).
dz::Variable cross_entropy_one_hot(const dz::Variable &y, const dz::Variable &t) {
  return -F::sum(t * F::log_softmax(y)) / double(y.shape()[0]);
}

/// The fraction of rows whose largest score sits where the one-hot target has its 1.
double accuracy_one_hot(const dz::Tensor &y, const dz::Tensor &t) {
  return (y.argmax(1) == t.argmax(1)).to(dz::f64).mean().item<double>();
}

} // namespace

int main(int argc, char **argv) try {
  example::Cli cli("chainer_minimum",
                   "The one-file Chainer MLP (784-100-100-10, ReLU, He init, one-hot targets, "
                   "SGD by hand) on MNIST, its training step compiled with dz::compile.");
  cli.training(/*epochs=*/20, /*batch_size=*/100, /*lr=*/0.1).data();
  int64_t train_size = 0, test_size = 0;
  cli.app()
      .add_option("--train-size", train_size, "training digits to use (0: all)")
      ->type_name("N")
      ->check(example::Cli::whole<int64_t>(0));
  cli.app()
      .add_option("--test-size", test_size, "validation digits to use (0: all)")
      ->type_name("N")
      ->check(example::Cli::whole<int64_t>(0));
  double min_accuracy = 0;
  example::min_accuracy_option(cli, min_accuracy);
  const example::Options &args = cli.parse(argc, argv);
  dz::manual_seed(args.seed);

  const dz::datasets::MNIST mnist_train(true, args.data), mnist_test(false, args.data);
  // One-hot targets, made by hand: label k becomes the row with a 1 in column k.
  auto one_hot = [](const dz::Tensor &label) { return dz::one_hot(label, 10, dz::f32); };
  const dz::datasets::Dataset train_set = example::first_samples(mnist_train, train_size);
  const dz::datasets::Dataset test_set = example::first_samples(mnist_test, test_size);
  dz::datasets::Dataset train_one_hot(train_set.data(), one_hot(train_set.label()), true,
                                      train_set.transform());
  dz::datasets::Dataset test_one_hot(test_set.data(), one_hot(test_set.label()), false,
                                     test_set.transform());
  dz::DataLoader train_loader(train_one_hot, args.batch_size, true, args.seed),
      test_loader(test_one_hot, args.batch_size, false);

  Net net({784, 100, 100, 10}, args.seed);
  const double lr = args.lr;
  auto body = [&net, lr](dz::Variable x, dz::Variable t) {
    dz::Variable y = net(x);
    dz::Variable loss = cross_entropy_one_hot(y, t);
    for (dz::Parameter &p : net.params)
      p.cleargrad();
    loss.backward();
    for (dz::Parameter &p : net.params)
      p.set_data(p.data() - lr * p.grad().data());
    return std::vector<dz::Variable>{loss, y};
  };
  auto step = dz::compile(body, {.name = "chainer_minimum step"});
  if (!args.quiet)
    std::printf("MNIST: %lld training, %lld validation digits; 784-100-100-10, SGD lr %g\n",
                (long long)train_set.size(), (long long)test_set.size(), lr);

  dz::utils::History history;
  double val_acc = 0;
  for (int epoch = 1; epoch <= args.epochs; ++epoch) {
    example::Progress bar("epoch " + std::to_string(epoch) + "/" + std::to_string(args.epochs),
                          train_loader.max_iter(), !args.quiet);
    double loss_sum = 0, acc_sum = 0;
    int64_t n = 0;
    for (auto [x, t] : train_loader) {
      std::vector<dz::Variable> out =
          args.eager ? body(dz::Variable::constant(x), dz::Variable::constant(t)) : step(x, t);
      const double loss = out[0].item<double>();
      const int64_t b = x.shape(0);
      loss_sum += loss * double(b);
      acc_sum += accuracy_one_hot(out[1].data(), t) * double(b);
      n += b;
      bar.step("loss " + example::fixed(loss));
    }
    double val_loss = 0, val_sum = 0;
    int64_t m = 0;
    {
      dz::NoGrad no_grad;
      for (auto [x, t] : test_loader) {
        dz::Variable y = net(dz::Variable::constant(x));
        const int64_t b = x.shape(0);
        val_loss += cross_entropy_one_hot(y, dz::Variable::constant(t)).item<double>() * double(b);
        val_sum += accuracy_one_hot(y.data(), t) * double(b);
        m += b;
      }
    }
    val_acc = val_sum / double(m);
    history.record(epoch, {{"train_loss", loss_sum / double(n)},
                           {"val_loss", val_loss / double(m)},
                           {"train_acc", acc_sum / double(n)},
                           {"val_acc", val_acc}});
    if (!args.quiet)
      bar.finish("epoch " + std::to_string(epoch) + "  train loss " +
                 example::fixed(loss_sum / double(n)) + " acc " +
                 example::fixed(acc_sum / double(n)) + "  validation loss " +
                 example::fixed(val_loss / double(m)) + " acc " + example::fixed(val_acc) + "  (" +
                 example::fixed(bar.elapsed(), 1) + " s)");
  }
  std::printf(
      "training: %s\n",
      args.eager
          ? "eager"
          : ("compiled with dz::compile (" + std::to_string(step.retraces()) + " traces)").c_str());
  example::save_curves(history, args, "chainer_minimum",
                       "Chainer's minimal MLP on MNIST, SGD lr " + example::num(lr));
  std::printf("validation accuracy %.4f\n", val_acc);
  if (val_acc < min_accuracy) {
    std::fprintf(stderr, "chainer_minimum: accuracy %.4f is below --min-accuracy %g\n", val_acc,
                 min_accuracy);
    return 1;
  }
  if (cli.documented_settings() && train_size == 0 && test_size == 0 && val_acc < 0.95) {
    std::fprintf(stderr, "chainer_minimum: validation accuracy %.4f is below the expected 0.95\n",
                 val_acc);
    return 1;
  }
  return 0;
} catch (...) {
  return example::exit_status("chainer_minimum");
}
