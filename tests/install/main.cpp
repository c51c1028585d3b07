// tests/install/main.cpp - uses an installed dzc: the gradient of y = x^2 at x = 3 is 6,
// eagerly and through dz::compile (which loads the installed compiler library).
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

  auto grad = dz::compile([](dz::Variable v) {
    dz::Variable w = v * v;
    w.backward();
    return v.grad();
  });
  grad(dz::Variable(3.0)); // traced
  double compiled = grad(dz::Variable(3.0)).item<double>();
  std::cout << "compiled dy/dx = " << compiled << "\n";
  if (compiled != 6.0) {
    std::cerr << "FAIL: expected the compiled dy/dx = 6\n";
    return 1;
  }
  return 0;
}
