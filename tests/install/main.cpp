// tests/install/main.cpp - uses an installed dzc: the gradient of y = x^2 at x = 3 is 6.
#include <dzc/dzc.h>

#include <cmath>
#include <iostream>

int main() {
  dz::Variable x(3.0);
  dz::Variable y = x * x;
  y.backward();
  double gx = x.grad().data().item<double>();
  std::cout << "dzc " << dz::version() << ": y = x^2 at x = 3: y = " << y.data().item<double>()
            << ", dy/dx = " << gx << "\n";
  if (std::abs(gx - 6.0) > 1e-12) {
    std::cerr << "FAIL: expected dy/dx = 6\n";
    return 1;
  }
  return 0;
}
