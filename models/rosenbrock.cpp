// models/rosenbrock.cpp - step 28 of the book: gradient descent on the Rosenbrock function
// y = 100 (x1 - x0^2)^2 + (1 - x0)^2 from (0, 2), lr 0.001. Writes the path as CSV/SVG.
//
// Usage: rosenbrock [--iters 50000] [--lr 0.001] [--out DIR] [--quiet]
// Expected: the minimum (1, 1) within 1e-3. Exits non-zero when it is not reached (with the
// default settings).
#include "cli.h"

#include <dzc/dzc.h>

#include <cmath>
#include <cstdio>
#include <string>

int main(int argc, char **argv) try {
  example::Cli cli("rosenbrock", "Step 28 of the book: gradient descent on the Rosenbrock "
                                 "function from (0, 2); writes the path as CSV and SVG.");
  cli.iters(50000).lr(0.001).out().quiet();
  const example::Options &args = cli.parse(argc, argv);
  dz::Variable x0(0.0), x1(2.0);
  dz::utils::History history;

  for (int i = 0; i < args.iters; ++i) {
    dz::Variable y = 100.0 * dz::pow(x1 - dz::pow(x0, 2), 2) + dz::pow(1.0 - x0, 2);
    x0.cleargrad();
    x1.cleargrad();
    y.backward();
    if (i % 1000 == 0) {
      if (!args.quiet)
        std::printf("iter %5d  x0 %.8f  x1 %.8f  y %.3e\n", i, x0.item<double>(), x1.item<double>(),
                    y.item<double>());
      history.record(i, {{"x0", x0.item<double>()},
                         {"x1", x1.item<double>()},
                         {"log10_y", std::log10(y.item<double>() + 1e-300)}});
    }
    x0.set_data(x0.data() - args.lr * x0.grad().data());
    x1.set_data(x1.data() - args.lr * x1.grad().data());
  }
  std::printf("final x0 %.8f  x1 %.8f\n", x0.item<double>(), x1.item<double>());
  const std::string out = args.out + "/rosenbrock";
  history.save_csv(out + ".csv");
  history.save_svg(out + ".svg", "Rosenbrock: gradient descent from (0, 2)",
                   {.panels = {{"x0", "x1"}, {"log10_y"}}, .x_label = "iteration"});
  std::printf("wrote %s.csv and %s.svg\n", out.c_str(), out.c_str());
  if (cli.documented_settings() &&
      (std::abs(x0.item<double>() - 1) > 1e-3 || std::abs(x1.item<double>() - 1) > 1e-3)) {
    std::fprintf(stderr, "rosenbrock: did not reach (1, 1); run more iterations\n");
    return 1;
  }
  return 0;
} catch (...) {
  return example::exit_status("rosenbrock");
}
