// dzc/utils.h - numerical differentiation, gradient checking and DOT export of graphs.
#pragma once

#include <dzc/variable.h>

#include <functional>
#include <string>
#include <vector>

namespace dz::utils {

using UnaryFn = std::function<Variable(const Variable &)>;
using MultiFn = std::function<Variable(const std::vector<Variable> &)>;

/// Gradient of sum(f(x)) with respect to x by central differences, computed in float64:
/// (f(x + eps) - f(x - eps)) / (2 eps) per element. The result has x's shape, float64.
/// f runs with backprop as the caller has it, so it may call backward itself (double
/// backprop: a gradient penalty, a Hessian-vector product).
Tensor numerical_diff(const UnaryFn &f, const Tensor &x, double eps = 1e-4);
/// The same for input i of a function of several inputs.
Tensor numerical_diff(const MultiFn &f, const std::vector<Tensor> &xs, size_t i,
                      double eps = 1e-4);

struct GradCheckOptions {
  double rtol = 1e-4;
  double atol = 1e-5;
  double eps = 1e-4;
};

struct GradCheckResult {
  bool ok = true;
  double max_abs_error = 0; // largest |backprop - numerical| over all inputs
  std::string report;       // per input: shapes and the worst element when it fails
  operator bool() const { return ok; }
};

/// Compares backprop (sum(f(x)).backward()) with numerical_diff, both in float64.
GradCheckResult gradient_check(const UnaryFn &f, const Tensor &x, GradCheckOptions opts = {});
GradCheckResult gradient_check(const MultiFn &f, const std::vector<Tensor> &xs,
                               GradCheckOptions opts = {});

/// Graphviz DOT source of the graph that produced `output`, drawn as the book draws it:
/// variables as orange ellipses (with shape and dtype when verbose), functions as blue
/// boxes.
std::string get_dot_graph(const Variable &output, bool verbose = true);
/// Writes the DOT source next to `to_file` and runs Graphviz `dot` to render it (format
/// from the extension: png, svg, pdf). Throws dz::Error when `dot` is not installed.
void plot_dot_graph(const Variable &output, bool verbose = true,
                    const std::string &to_file = "graph.png");

} // namespace dz::utils
