// models/newton.cpp - step 33 of the book: Newton's method on f(x) = x^4 - 2x^2 from x = 2,
// with f'' computed by backpropagating through the graph of f' (create_graph).
//
// Expected: x reaches the minimum 1.0 in 7 updates. Exits non-zero when it does not.
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

int main() {
  dz::Variable x(2.0);
  const int iters = 10;

  for (int i = 0; i < iters; ++i) {
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
  if (std::abs(final_x - 1.0) > 1e-12) {
    std::fprintf(stderr, "newton: expected x = 1 (the minimum of x^4 - 2x^2 near 2)\n");
    return 1;
  }
  return 0;
}
