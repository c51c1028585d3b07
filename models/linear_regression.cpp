// models/linear_regression.cpp - step 42 of the book: fit y = W x + b to 100 noisy points of
// y = 5 + 2x + U(0, 1) by gradient descent on the mean squared error.
//
// Usage: linear_regression [--iters 100] [--lr 0.1] [--seed 0] [--quiet]
// Prints the data and the model it fits, W, b and the loss every 10 steps, and last the
// least-squares line of the same points, where gradient descent is heading. The points
// come from dz::Generator, not NumPy, so the values differ from the book's.
// Expected: W close to 2 and b close to 5.5 (the noise has mean 0.5), loss about 0.08.
// Exits non-zero when the fit is far from that (with the default settings).
#include "cli.h"

#include <dzc/dzc.h>

#include <cmath>
#include <cstdio>

namespace F = dz::functions;

int main(int argc, char **argv) try {
  example::Cli cli("linear_regression", "Step 42 of the book: fit y = W x + b to 100 noisy "
                                        "points of y = 5 + 2x by gradient descent.");
  cli.iters(100).lr(0.1).seed().quiet();
  const example::Options &args = cli.parse(argc, argv);
  dz::Generator gen(args.seed);
  dz::Tensor x_data = dz::rand({100, 1}, dz::f64, gen);
  dz::Tensor y_data = 5.0 + 2.0 * x_data + dz::rand({100, 1}, dz::f64, gen);
  dz::Variable x(x_data), y(y_data);
  if (!args.quiet)
    std::printf("data: 100 points x ~ U(0, 1), y = 5 + 2x + U(0, 1) (dz::Generator, seed %llu; "
                "the book draws them with NumPy, so its points and printed values differ)\n"
                "model: y = x W + b from W = 0, b = 0; loss: mean squared error; %d steps of "
                "gradient descent with lr %g\n",
                (unsigned long long)args.seed, args.iters, args.lr);

  dz::Variable W(dz::zeros({1, 1}, dz::f64), "W");
  dz::Variable b(dz::zeros({1}, dz::f64), "b");

  auto predict = [&](const dz::Variable &x) { return F::matmul(x, W) + b; };
  auto mean_squared_error = [](const dz::Variable &x0, const dz::Variable &x1) {
    dz::Variable diff = x0 - x1;
    return F::sum(dz::pow(diff, 2)) / double(diff.len());
  };

  const double lr = args.lr;
  const int iters = args.iters;
  double loss_value = 0;
  for (int i = 0; i < iters; ++i) {
    dz::Variable y_pred = predict(x);
    dz::Variable loss = mean_squared_error(y, y_pred);

    W.cleargrad();
    b.cleargrad();
    loss.backward();

    W.set_data(W.data() - lr * W.grad().data());
    b.set_data(b.data() - lr * b.grad().data());

    loss_value = loss.item<double>();
    if (!args.quiet && (i % 10 == 0 || i == iters - 1))
      std::printf("iter %3d  W = %.8f  b = %.8f  loss = %.8f\n", i, W.item<double>(),
                  b.item<double>(), loss_value);
  }

  double w = W.item<double>(), bias = b.item<double>();
  std::printf("W = %.8f, b = %.8f, loss = %.8f\n", w, bias, loss_value);
  // Where gradient descent is heading: the least-squares line of the same points.
  const double mx = x_data.mean().item<double>(), my = y_data.mean().item<double>();
  const double sxy = ((x_data - mx) * (y_data - my)).sum().item<double>();
  const double sxx = ((x_data - mx) * (x_data - mx)).sum().item<double>();
  const double w_ls = sxy / sxx, b_ls = my - w_ls * mx;
  const double loss_ls = dz::pow(y_data - (w_ls * x_data + b_ls), 2).mean().item<double>();
  std::printf("least squares: W = %.8f, b = %.8f, loss = %.8f\n", w_ls, b_ls, loss_ls);
  if (cli.documented_settings() &&
      (std::abs(w - 2.0) > 0.5 || std::abs(bias - 5.5) > 0.5 || loss_value > 0.2)) {
    std::fprintf(stderr, "linear_regression: expected W ~ 2, b ~ 5.5, loss < 0.2\n");
    return 1;
  }
  return 0;
} catch (...) {
  return example::exit_status("linear_regression");
}
