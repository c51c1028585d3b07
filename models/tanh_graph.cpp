// models/tanh_graph.cpp - step 35 of the book: the n-th derivative of tanh at x = 1 by
// repeated backprop with create_graph, and the graph of that derivative drawn with Graphviz.
//
// Usage: tanh_graph [--order 4] [--out DIR] [--format png|svg|pdf|dot]
// Writes DIR/tanh.dot, and DIR/tanh.FORMAT when Graphviz `dot` is installed.
#include "cli.h"

#include <dzc/dzc.h>

#include <cstdio>
#include <iostream>
#include <string>

namespace F = dz::functions;

int main(int argc, char **argv) try {
  example::Cli cli("tanh_graph", "Step 35 of the book: the n-th derivative of tanh at x = 1 by "
                                 "repeated backprop, and its graph drawn with Graphviz.");
  cli.out();
  int order = 4;
  std::string format = "png";
  cli.app()
      .add_option("--order", order, "which derivative, 1 to 10")
      ->type_name("N")
      ->check(CLI::Range(1, 10).description(""));
  cli.app()
      .add_option("--format", format,
                  "what to draw: png, svg, pdf (with Graphviz) or dot (the "
                  "source only)")
      ->check(CLI::IsMember({"png", "svg", "pdf", "dot"}));
  const example::Options &args = cli.parse(argc, argv);

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

  const std::string out = args.out + "/tanh." + format;
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
} catch (...) {
  return example::exit_status("tanh_graph");
}
