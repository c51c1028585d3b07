// models/hessian_vector.cpp - Hessian-vector products by double backprop (the book's
// step 36 application): Hv = grad_x( grad_x f(x) . v ), without forming the Hessian. First
// the Rosenbrock function at (x0, x1) = (0, 2), whose Hessian is known in closed form; then
// the mean squared error of a small two-layer network in float64, where Hv is checked
// against central differences of the gradient, (grad f(x + eps v) - grad f(x - eps v)) / 2 eps.
//
// Usage: hessian_vector [--quiet]
// Exits non-zero when Hv differs from the closed form by more than 1e-12, or from the
// differences of gradients by more than 1e-6 (relative).
#include "cli.h"

#include <dzc/dzc.h>

#include <cmath>
#include <cstdio>
#include <functional>

namespace F = dz::functions;

namespace {

using Objective = std::function<dz::Variable(const dz::Variable &)>;

/// grad f(x) (a tensor, no graph).
dz::Tensor gradient(const Objective &f, const dz::Tensor &x) {
  dz::Variable v(x);
  f(v).backward();
  return v.grad().data();
}

/// H(x) v by double backprop: backward with create_graph gives grad f as a graph, its dot
/// product with v is differentiated once more.
dz::Tensor hessian_vector(const Objective &f, const dz::Tensor &x, const dz::Tensor &v) {
  dz::Variable xv(x);
  dz::Variable y = f(xv);
  y.backward({.create_graph = true});
  dz::Variable gx = xv.grad();
  xv.cleargrad();
  dz::Variable gv = F::sum(gx * dz::Variable(v));
  gv.backward();
  dz::Tensor hv = xv.grad().data();
  xv.cleargrad(); // the first gradient's graph refers back to x: break the cycle
  return hv;
}

} // namespace

int main(int argc, char **argv) try {
  example::Cli cli("hessian_vector", "Hessian-vector products by double backprop, checked "
                                     "against the closed form and against differences of "
                                     "gradients.");
  cli.quiet();
  const example::Options &args = cli.parse(argc, argv);
  bool ok = true;

  // Rosenbrock: f = 100 (x1 - x0^2)^2 + (1 - x0)^2 on x = (x0, x1).
  {
    Objective rosenbrock = [](const dz::Variable &x) {
      dz::Variable x0 = F::get_item(x, {0}), x1 = F::get_item(x, {1});
      return 100.0 * dz::pow(x1 - x0 * x0, 2) + dz::pow(1.0 - x0, 2);
    };
    const dz::Tensor x = dz::Tensor::from({0.0, 2.0});
    std::printf("Rosenbrock at (0, 2): Hv against the closed-form Hessian\n");
    for (const auto &vec :
         {std::vector<double>{1, 0}, std::vector<double>{0, 1}, std::vector<double>{0.5, -2}}) {
      const dz::Tensor v = dz::Tensor::from(vec);
      const dz::Tensor hv = hessian_vector(rosenbrock, x, v);
      const double x0 = 0, x1 = 2;
      const double h00 = 1200 * x0 * x0 - 400 * x1 + 2, h01 = -400 * x0, h11 = 200;
      const double e0 = h00 * vec[0] + h01 * vec[1] + 0.0, e1 = h01 * vec[0] + h11 * vec[1] + 0.0;
      const double err = std::max(std::abs(hv.at(0) - e0), std::abs(hv.at(1) - e1));
      std::printf("  v = (%g, %g): Hv = (%g, %g), expected (%g, %g)\n", vec[0], vec[1], hv.at(0),
                  hv.at(1), e0, e1);
      ok &= err <= 1e-12;
    }
  }

  // A two-layer network's loss as a function of its flattened first-layer weights.
  {
    dz::Generator gen(0);
    const dz::Tensor X = dz::randn({16, 4}, dz::f64, gen), T = dz::randn({16, 1}, dz::f64, gen);
    const dz::Tensor W2 = dz::randn({8, 1}, dz::f64, gen);
    Objective loss = [&](const dz::Variable &w) {
      dz::Variable W1 = F::reshape(w, {4, 8});
      dz::Variable h = F::tanh(F::matmul(dz::Variable(X), W1));
      return F::mean_squared_error(F::matmul(h, dz::Variable(W2)), dz::Variable(T));
    };
    const dz::Tensor w = dz::randn({32}, dz::f64, gen) * 0.5;
    const dz::Tensor v = dz::randn({32}, dz::f64, gen);
    const dz::Tensor hv = hessian_vector(loss, w, v);
    const double eps = 1e-5;
    const dz::Tensor fd = (gradient(loss, w + eps * v) - gradient(loss, w - eps * v)) / (2 * eps);
    const double rel = dz::abs(hv - fd).max().item<double>() / dz::abs(fd).max().item<double>();
    std::printf("two-layer net, 32 weights: |Hv - differences of gradients| / |Hv| = %.3g\n", rel);
    if (!args.quiet)
      std::printf("  Hv[0:4] = %.9f %.9f %.9f %.9f\n", hv.at(0), hv.at(1), hv.at(2), hv.at(3));
    ok &= rel <= 1e-6;
  }
  if (!ok) {
    std::fprintf(stderr, "hessian_vector: a product differs from its reference (see above)\n");
    return 1;
  }
  std::printf("all Hessian-vector products agree\n");
  return 0;
} catch (...) {
  return example::exit_status("hessian_vector");
}
