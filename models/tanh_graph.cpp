// models/tanh_graph.cpp - step 35 of the book: the n-th derivative of tanh at x = 1 by
// repeated backprop with create_graph, and the graph of that derivative drawn with Graphviz.
//
// Usage: tanh_graph [order=4] [out_file=tanh.png]
// Writes the DOT source next to out_file; renders it when Graphviz `dot` is installed.
#include <dzc/dzc.h>

#include <cstdio>
#include <iostream>
#include <string>

namespace F = dz::functions;

int main(int argc, char **argv) {
  const int order = argc > 1 ? std::stoi(argv[1]) : 4;
  const std::string out = argc > 2 ? argv[2] : "tanh.png";

  dz::Variable x(1.0);
  x.set_name("x");
  dz::Variable y = F::tanh(x);
  y.set_name("y");
  y.backward({.create_graph = true});
  for (int i = 0; i < order - 1; ++i) {
    dz::Variable gx = x.grad();
    x.cleargrad();
    gx.backward({.create_graph = true});
  }
  dz::Variable gx = x.grad();
  gx.set_name("gx" + std::to_string(order));
  std::cout << "d^" << order << " tanh(x)/dx^" << order << " at x = 1: " << gx << "\n";

  try {
    dz::utils::plot_dot_graph(gx, false, out);
    std::cout << "graph drawn to " << out << "\n";
  } catch (const dz::Error &e) {
    std::cout << "graph not drawn: " << e.what() << "\n";
  }
  // The last backward stored a create_graph gradient on x, and that gradient's graph
  // refers back to x: a reference cycle (as in DeZero and PyTorch). Clearing the gradient
  // breaks it, so everything is freed (LeakSanitizer checks this in CI).
  x.cleargrad();
  return 0;
}
