// models/rosenbrock.cpp - step 28 of the book: gradient descent on the Rosenbrock function
// y = 100 (x1 - x0^2)^2 + (1 - x0)^2 from (0, 2), lr 0.001. Writes the path as CSV/SVG.
//
// Usage: rosenbrock [iterations=50000] [out_dir=.]
// Expected: the minimum (1, 1) within 1e-3. Exits non-zero when it is not reached.
#include <dzc/dzc.h>

#include <cmath>
#include <cstdio>
#include <string>

int main(int argc, char **argv) {
  const int iters = argc > 1 ? std::stoi(argv[1]) : 50000;
  const std::string out = argc > 2 ? argv[2] : ".";
  dz::Variable x0(0.0), x1(2.0);
  const double lr = 0.001;
  dz::utils::History history;

  for (int i = 0; i < iters; ++i) {
    dz::Variable y = 100.0 * dz::pow(x1 - dz::pow(x0, 2), 2) + dz::pow(1.0 - x0, 2);
    x0.cleargrad();
    x1.cleargrad();
    y.backward();
    if (i % 1000 == 0) {
      std::printf("iter %5d  x0 %.8f  x1 %.8f  y %.3e\n", i, x0.item<double>(), x1.item<double>(),
                  y.item<double>());
      history.record(i, {{"x0", x0.item<double>()},
                         {"x1", x1.item<double>()},
                         {"log10_y", std::log10(y.item<double>() + 1e-300)}});
    }
    x0.set_data(x0.data() - lr * x0.grad().data());
    x1.set_data(x1.data() - lr * x1.grad().data());
  }
  std::printf("final x0 %.8f  x1 %.8f\n", x0.item<double>(), x1.item<double>());
  history.save_csv(out + "/rosenbrock.csv");
  history.save_svg(out + "/rosenbrock.svg", "Rosenbrock: gradient descent from (0, 2)");
  std::printf("wrote %s/rosenbrock.csv and %s/rosenbrock.svg\n", out.c_str(), out.c_str());
  if (std::abs(x0.item<double>() - 1) > 1e-3 || std::abs(x1.item<double>() - 1) > 1e-3) {
    std::fprintf(stderr, "rosenbrock: did not reach (1, 1); run more iterations\n");
    return 1;
  }
  return 0;
}
