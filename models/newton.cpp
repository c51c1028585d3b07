// models/newton.cpp - step 33 of the book: Newton's method on f(x) = x^4 - 2x^2 from x = 2,
// with f'' computed by backpropagating through the graph of f' (create_graph).
//
// Usage: newton [--iters 10] [--quiet]
// Expected: x reaches the minimum 1.0 in 7 updates. Exits non-zero when it does not (after
// at least the default 10).
#include "cli.h"

#include <dzc/dzc.h>

#include <charconv>
#include <cmath>
#include <cstdio>

namespace {

dz::Variable f(const dz::Variable &x) { return dz::pow(x, 4) - 2.0 * dz::pow(x, 2); }

// Shortest text that reads back as the same double (as Python prints floats).
std::string str(double v) {
  char buf[32];
  auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  return std::string(buf, end);
}

} // namespace

int main(int argc, char **argv) try {
  example::Cli cli("newton", "Step 33 of the book: Newton's method on f(x) = x^4 - 2x^2 from "
                             "x = 2, with f'' by double backprop.");
  cli.iters(10).quiet();
  const example::Options &args = cli.parse(argc, argv);
  dz::Variable x(2.0);

  for (int i = 0; i < args.iters; ++i) {
    if (!args.quiet)
      std::printf("%d %s\n", i, str(x.item<double>()).c_str());

    dz::Variable y = f(x);
    x.cleargrad();
    y.backward({.create_graph = true});

    dz::Variable gx = x.grad(); // f'(x) = 4x^3 - 4x, itself a graph
    x.cleargrad();
    gx.backward();
    dz::Variable gx2 = x.grad(); // f''(x) = 12x^2 - 4

    x.set_data(x.data() - gx.data() / gx2.data());
  }

  double final_x = x.item<double>();
  std::printf("final x = %s\n", str(final_x).c_str());
  if (cli.documented_settings() && std::abs(final_x - 1.0) > 1e-12) {
    std::fprintf(stderr, "newton: expected x = 1 (the minimum of x^4 - 2x^2 near 2)\n");
    return 1;
  }
  return 0;
} catch (...) {
  return example::exit_status("newton");
}
