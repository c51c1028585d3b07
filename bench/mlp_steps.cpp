// bench/mlp_steps.cpp - a fixed number of MLP 784-1000-10 training steps (batch 100, f32,
// SGD), eager or compiled, for instruction counts (valgrind --tool=callgrind) and wall
// time where Google Benchmark's adaptive loop does not fit.
//
// Usage: dz_mlp_steps eager|compiled STEPS
// Prints the median wall time of a step. The compiled mode traces before timing.
#include "cli.h"

#include <dzc/dzc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace F = dz::functions;

int main(int argc, char **argv) try {
  example::Cli cli("dz_mlp_steps", "A fixed number of MLP 784-1000-10 training steps (batch "
                                   "100, f32, SGD), eager or compiled; prints the median wall "
                                   "time of a step.");
  std::string mode;
  int steps = 0;
  cli.app()
      .add_option("MODE", mode, "eager, or compiled (traced before the timed steps)")
      ->required()
      ->check(CLI::IsMember({"eager", "compiled"}));
  cli.app()
      .add_option("STEPS", steps, "how many steps to time")
      ->required()
      ->check(example::Cli::whole<int>(1));
  cli.parse(argc, argv);
  const bool compiled = mode == "compiled";
  dz::Generator gen{0};
  const int64_t batch = 100, in = 784, hidden = 1000, out = 10;
  dz::Tensor x = dz::randn({batch, in}, dz::f32, gen);
  std::vector<int64_t> labels(batch);
  for (int64_t i = 0; i < batch; ++i)
    labels[size_t(i)] = i % out;
  dz::Tensor t = dz::Tensor::from_i64(labels);
  dz::Parameter W1(dz::randn({in, hidden}, dz::f32, gen) * std::sqrt(1.0 / in), "W1");
  dz::Parameter b1(dz::zeros({hidden}, dz::f32), "b1");
  dz::Parameter W2(dz::randn({hidden, out}, dz::f32, gen) * std::sqrt(1.0 / hidden), "W2");
  dz::Parameter b2(dz::zeros({out}, dz::f32), "b2");
  auto step = [&](dz::Variable xb, dz::Variable tb) {
    dz::Variable h = F::relu(F::linear(xb, W1, b1));
    dz::Variable loss = F::softmax_cross_entropy(F::linear(h, W2, b2), tb);
    for (dz::Parameter *p : {&W1, &b1, &W2, &b2})
      p->cleargrad();
    loss.backward();
    for (dz::Parameter *p : {&W1, &b1, &W2, &b2}) {
      dz::Tensor w = p->data();
      w -= 0.01 * p->grad().data();
    }
    return loss;
  };
  auto compiled_step = dz::compile(step);
  if (compiled)
    compiled_step(x, t);
  std::vector<double> ms;
  double loss = 0;
  for (int i = 0; i < steps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    dz::Variable l = compiled ? compiled_step(x, t) : step(dz::Variable::constant(x), t);
    loss = l.item<double>();
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("%s: %d steps, median %.3f ms per step, loss %.6f\n", mode.c_str(), steps,
              ms.empty() ? 0.0 : ms[ms.size() / 2], loss);
  return 0;
} catch (...) {
  return example::exit_status("dz_mlp_steps");
}
