// models/sin_derivatives.cpp - step 34 of the book: y = sin(x) over linspace(-7, 7, 200)
// and its first three derivatives by repeated backprop with create_graph, plotted as the
// book's figure (--function tanh: the same for tanh).
//
// Usage: sin_derivatives [--function sin|tanh] [--order 3] [--out DIR] [--quiet]
// Writes DIR/FUNCTION_derivatives.svg and .csv. Exits non-zero when a derivative differs
// from its closed form (cos, -sin, -cos; for tanh 1 - t^2, ...) by more than 1e-12.
#include "cli.h"
#include "plot.h"

#include <dzc/dzc.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace F = dz::functions;

namespace {

/// The n-th derivative of sin or tanh at x, in closed form.
double exact(const std::string &fn, int n, double x) {
  if (fn == "sin") {
    static const std::function<double(double)> d[] = {
        [](double v) { return std::sin(v); }, [](double v) { return std::cos(v); },
        [](double v) { return -std::sin(v); }, [](double v) { return -std::cos(v); }};
    return d[n % 4](x);
  }
  const double t = std::tanh(x), s = 1 - t * t; // tanh' = 1 - tanh^2
  switch (n) {
  case 0:
    return t;
  case 1:
    return s;
  case 2:
    return -2 * t * s;
  case 3:
    return s * (6 * t * t - 2);
  default:
    return NAN; // not checked
  }
}

} // namespace

int main(int argc, char **argv) try {
  example::Cli cli("sin_derivatives", "Step 34 of the book: sin(x) and its first derivatives "
                                      "by repeated backprop with create_graph, plotted.");
  cli.out().quiet();
  std::string fn = "sin";
  int order = 3;
  cli.app()
      .add_option("--function", fn, "the function: sin or tanh")
      ->check(CLI::IsMember({"sin", "tanh"}));
  cli.app()
      .add_option("--order", order, "derivatives to take, 1 to 6")
      ->type_name("N")
      ->check(CLI::Range(1, 6).description(""));
  const example::Options &args = cli.parse(argc, argv);

  dz::Variable x(dz::linspace(-7, 7, 200));
  dz::Variable y = fn == "sin" ? F::sin(x) : F::tanh(x);
  y.backward({.create_graph = true});
  std::vector<dz::Tensor> logs{y.data()};
  for (int i = 0; i < order; ++i) {
    logs.push_back(x.grad().data());
    if (i + 1 == order)
      break;
    dz::Variable gx = x.grad();
    x.cleargrad();
    gx.backward({.create_graph = true});
  }
  x.cleargrad(); // the last gradient's graph refers back to x: break the cycle

  const std::vector<double> xs = x.data().to_vector();
  std::vector<example::Series> series;
  double worst = 0;
  for (size_t n = 0; n < logs.size(); ++n) {
    example::Series s{n == 0 ? "y = " + fn + "(x)" : "y" + std::string(n, '\''), xs,
                      logs[n].to_vector()};
    for (size_t i = 0; i < xs.size(); ++i)
      if (n <= 3)
        worst = std::max(worst, std::abs(s.y[i] - exact(fn, int(n), xs[i])));
    series.push_back(std::move(s));
  }
  if (!args.quiet)
    for (size_t i = 0; i < xs.size(); i += 33) {
      std::printf("x %+7.3f", xs[i]);
      for (size_t n = 0; n < series.size(); ++n)
        std::printf("  %s %+.6f", series[n].name.c_str(), series[n].y[i]);
      std::printf("\n");
    }

  const std::string base = args.out + "/" + fn + "_derivatives";
  {
    std::ofstream csv(base + ".csv");
    csv << "x";
    for (const auto &s : series)
      csv << "," << s.name;
    csv << "\n";
    for (size_t i = 0; i < xs.size(); ++i) {
      csv << xs[i];
      for (const auto &s : series)
        csv << "," << s.y[i];
      csv << "\n";
    }
    if (!csv.flush())
      throw dz::Error(base + ".csv: cannot write");
  }
  example::save_xy_svg(base + ".svg", fn + "(x) and its derivatives by backprop", series);
  std::printf("plot: %s.svg, %s.csv\n", base.c_str(), base.c_str());
  std::printf("largest difference from the closed forms (orders 0-3): %.3g\n", worst);
  if (worst > 1e-12) {
    std::fprintf(stderr, "sin_derivatives: a derivative differs from its closed form\n");
    return 1;
  }
  return 0;
} catch (...) {
  return example::exit_status("sin_derivatives");
}
