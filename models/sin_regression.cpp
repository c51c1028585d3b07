// models/sin_regression.cpp - steps 43-46 of the book: a two-layer network (10 sigmoid
// units) fits 100 noisy points of y = sin(2 pi x) + U(0, 1) by gradient descent on the mean
// squared error, lr 0.2, 10000 iterations. --step picks the book's version of the code:
//   43  the parameters W1, b1, W2, b2 by hand, updated by hand
//   44  two L::Linear layers, their parameters updated by hand
//   45  a dz::Model subclass holding the layers (TwoLayerNet), model.params() updated by hand
//   46  M::MLP({10, 1}) and O::SGD
//
// Usage: sin_regression [--step 46] [--iters 10000] [--lr 0.2] [--seed 0] [--out DIR] [--quiet]
// Writes DIR/sin_regression.svg (the data and the fitted curve). Expected: loss < 0.1 (the
// noise alone has variance 1/12 = 0.083); the book prints 0.077 (its random numbers differ
// from dzc's). Exits non-zero otherwise (with the default settings).
#include "cli.h"
#include "plot.h"

#include <dzc/dzc.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <numbers>

namespace F = dz::functions;
namespace L = dz::layers;
namespace M = dz::models;
namespace O = dz::optimizers;

namespace {

struct TwoLayerNet : dz::Model {
  L::Linear l1, l2;
  TwoLayerNet(int64_t hidden, int64_t out) : l1(hidden), l2(out) {
    register_layer("l1", l1);
    register_layer("l2", l2);
  }
  dz::Variable forward(const dz::Variable &x) override { return l2(F::sigmoid(l1(x))); }
};

void sgd_by_hand(std::vector<dz::Parameter> params, double lr) {
  for (dz::Parameter &p : params)
    if (p.has_grad())
      p.set_data(p.data() - lr * p.grad().data());
}

} // namespace

int main(int argc, char **argv) try {
  example::Cli cli("sin_regression", "Steps 43-46 of the book: a two-layer network fits a noisy "
                                     "sine curve by gradient descent.");
  cli.iters(10000).lr(0.2).seed().out().quiet();
  int step = 46;
  cli.app()
      .add_option("--step", step, "the book's version of the code: 43, 44, 45 or 46")
      ->check(CLI::IsMember({43, 44, 45, 46}));
  const example::Options &args = cli.parse(argc, argv);
  dz::manual_seed(args.seed);
  dz::Generator gen(args.seed);
  const dz::Tensor x_data = dz::rand({100, 1}, dz::f32, gen);
  const dz::Tensor y_data =
      dz::sin(2 * std::numbers::pi * x_data) + dz::rand({100, 1}, dz::f32, gen);
  const dz::Variable x(x_data), y(y_data);
  const int64_t H = 10;

  // The model of each step, as one predict function and one update.
  std::function<dz::Variable(const dz::Variable &)> predict;
  std::function<void()> cleargrads, update;
  // step 43
  dz::Parameter W1(0.01 * dz::randn({1, H}, dz::f32, gen), "W1"), b1(dz::zeros({H}), "b1");
  dz::Parameter W2(0.01 * dz::randn({H, 1}, dz::f32, gen), "W2"), b2(dz::zeros({1}), "b2");
  // steps 44-46
  L::Linear l1(H), l2(1);
  TwoLayerNet net(H, 1);
  M::MLP mlp({H, 1});
  O::SGD sgd(args.lr);
  switch (step) {
  case 43:
    predict = [&](const dz::Variable &v) {
      return F::linear(F::sigmoid(F::linear(v, W1, b1)), W2, b2);
    };
    cleargrads = [&] {
      for (dz::Parameter *p : {&W1, &b1, &W2, &b2})
        p->cleargrad();
    };
    update = [&] { sgd_by_hand({W1, b1, W2, b2}, args.lr); };
    break;
  case 44:
    predict = [&](const dz::Variable &v) { return l2(F::sigmoid(l1(v))); };
    cleargrads = [&] {
      l1.cleargrads();
      l2.cleargrads();
    };
    update = [&] {
      sgd_by_hand(l1.params(), args.lr);
      sgd_by_hand(l2.params(), args.lr);
    };
    break;
  case 45:
    predict = [&](const dz::Variable &v) { return net(v); };
    cleargrads = [&] { net.cleargrads(); };
    update = [&] { sgd_by_hand(net.params(), args.lr); };
    break;
  default:
    sgd.setup(mlp);
    predict = [&](const dz::Variable &v) { return mlp(v); };
    cleargrads = [&] { mlp.cleargrads(); };
    update = [&] { sgd.update(); };
  }

  double loss_value = 0;
  for (int i = 0; i < args.iters; ++i) {
    dz::Variable loss = F::mean_squared_error(y, predict(x));
    cleargrads();
    loss.backward();
    update();
    loss_value = loss.item<double>();
    if (!args.quiet && (i % 1000 == 0 || i + 1 == args.iters))
      std::printf("iter %5d  loss %.6f\n", i, loss_value);
  }

  // The book's figure: the data and the curve the network learned.
  example::Series fit{"prediction", {}, {}};
  {
    dz::NoGrad no_grad;
    const dz::Tensor t = dz::linspace(0, 1, 100, dz::f32).reshape({100, 1});
    fit.x = t.to_vector();
    fit.y = predict(dz::Variable(t)).data().to_vector();
  }
  const std::string svg = args.out + "/sin_regression.svg";
  example::save_xy_svg(
      svg, "step " + std::to_string(step) + ": a two-layer net fits sin(2 pi x)",
      {example::Series{"data", x_data.to_vector(), y_data.to_vector(), true}, fit});
  std::printf("plot: %s\n", svg.c_str());
  std::printf("step %d: loss %.6f after %d iterations\n", step, loss_value, args.iters);
  if (cli.documented_settings() && loss_value >= 0.1) {
    std::fprintf(stderr, "sin_regression: loss %.6f is not below 0.1\n", loss_value);
    return 1;
  }
  return 0;
} catch (...) {
  return example::exit_status("sin_regression");
}
