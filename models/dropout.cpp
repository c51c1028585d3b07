// models/dropout.cpp - step 54 of the book: dropout (inverted, as DeZero's) in training and
// in test mode. The book's lines on x = ones(5), then what they mean over many draws: in
// training each element is kept with probability 1 - ratio and scaled by 1 / (1 - ratio),
// so the mean stays 1; under dz::TestMode the input passes unchanged. Last, an MLP with
// dropout between its layers: two forward passes differ in training and agree in test mode.
//
// Usage: dropout [--ratio 0.5] [--seed 0] [--quiet]
// Exits non-zero when the kept fraction or the mean is off by more than 0.01 over 10^6
// draws, or test mode changes anything.
#include "cli.h"

#include <dzc/dzc.h>

#include <cmath>
#include <cstdio>
#include <iostream>

namespace F = dz::functions;
namespace L = dz::layers;

namespace {

struct DropoutMLP : dz::Model {
  L::Linear l1{100}, l2{10};
  double ratio;
  explicit DropoutMLP(double r) : ratio(r) {
    register_layer("l1", l1);
    register_layer("l2", l2);
  }
  dz::Variable forward(const dz::Variable &x) override {
    return l2(F::dropout(F::relu(l1(x)), ratio));
  }
};

} // namespace

int main(int argc, char **argv) try {
  example::Cli cli("dropout", "Step 54 of the book: dropout in training and in test mode.");
  cli.seed().quiet();
  double ratio = 0.5;
  cli.app()
      .add_option("--ratio", ratio, "the fraction of elements dropped, in [0, 1)")
      ->type_name("X")
      ->check(CLI::Range(0.0, 0.999).description(""));
  const example::Options &args = cli.parse(argc, argv);
  dz::manual_seed(args.seed);
  bool ok = true;

  // The book's lines.
  const dz::Variable x(dz::ones({5}, dz::f64));
  std::cout << "train mode: " << F::dropout(x, ratio) << "\n";
  {
    dz::TestMode test_mode;
    std::cout << "test mode:  " << F::dropout(x, ratio) << "\n";
  }

  // Many draws: the kept fraction and the mean.
  {
    const dz::Variable big(dz::ones({1000000}, dz::f64));
    const dz::Tensor y = F::dropout(big, ratio).data();
    const double kept = (y > 0.0).to(dz::f64).mean().item<double>();
    const double mean = y.mean().item<double>();
    const double scaled = y.max().item<double>();
    std::printf("training, 10^6 ones: kept %.4f (expected %.4f), mean %.4f (expected 1), kept "
                "values %.4f (expected %.4f)\n",
                kept, 1 - ratio, mean, scaled, 1 / (1 - ratio));
    ok &= std::abs(kept - (1 - ratio)) <= 0.01 && std::abs(mean - 1) <= 0.01 &&
          std::abs(scaled - 1 / (1 - ratio)) <= 1e-12;
    dz::TestMode test_mode;
    const dz::Tensor same = F::dropout(big, ratio).data();
    const double changed = dz::abs(same - big.data()).max().item<double>();
    std::printf("test mode: largest change %g (expected 0)\n", changed);
    ok &= changed == 0;
  }

  // In a model.
  {
    DropoutMLP model(ratio);
    const dz::Variable input(dz::randn({4, 20}, dz::f32, 1));
    const double train_diff =
        dz::abs(model(input).data() - model(input).data()).max().item<double>();
    dz::TestMode test_mode;
    const double test_diff =
        dz::abs(model(input).data() - model(input).data()).max().item<double>();
    std::printf("MLP with dropout, two forward passes differ by %.4g in training, %g in test "
                "mode\n",
                train_diff, test_diff);
    ok &= (ratio == 0 || train_diff > 0) && test_diff == 0;
  }
  if (!ok) {
    std::fprintf(stderr, "dropout: a check failed (see above)\n");
    return 1;
  }
  return 0;
} catch (...) {
  return example::exit_status("dropout");
}
