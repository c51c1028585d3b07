// bench/compile_cache.cpp - what a dz::compile'd function keeps per signature: one MLP
// training step (784-100-10, SGD) called with SHAPES different batch sizes, first with room
// for every program, then with CompileConfig::max_signatures = BOUND. Prints the resident
// memory kept per program (from /proc/self/statm, after the allocator's cache is emptied)
// and the time each new signature costs (trace + compile).
//
// Usage: dz_bench_compile_cache [SHAPES=40] [BOUND=8]
#include "cli.h"

#include <dzc/dzc.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <unistd.h>

namespace F = dz::functions;

namespace {

double resident_mb() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return double(resident) * double(sysconf(_SC_PAGESIZE)) / 1e6;
}

struct Result {
  double kept_mb, ms_per_trace; // resident memory the SHAPES calls left behind
  int programs;                 // kept at the end (the first call's included)
};

Result run(int shapes, int bound) {
  dz::Generator gen{0};
  dz::Parameter W1(dz::randn({784, 100}, dz::f32, gen) * std::sqrt(1.0 / 784), "W1");
  dz::Parameter b1(dz::zeros({100}, dz::f32), "b1");
  dz::Parameter W2(dz::randn({100, 10}, dz::f32, gen) * std::sqrt(1.0 / 100), "W2");
  dz::Parameter b2(dz::zeros({10}, dz::f32), "b2");
  auto step = dz::compile(
      [&](dz::Variable x, dz::Variable t) {
        dz::Variable loss =
            F::softmax_cross_entropy(F::linear(F::relu(F::linear(x, W1, b1)), W2, b2), t);
        for (dz::Parameter *p : {&W1, &b1, &W2, &b2})
          p->cleargrad();
        loss.backward();
        for (dz::Parameter *p : {&W1, &b1, &W2, &b2}) {
          dz::Tensor w = p->data();
          w -= 0.01 * p->grad().data();
        }
        return loss;
      },
      {.max_signatures = bound, .warn_retraces = false, .name = "mlp step"});
  auto call = [&](int64_t n) {
    std::vector<int64_t> labels(size_t(n), 3);
    step(dz::randn({n, 784}, dz::f32, gen), dz::Tensor::from_i64(labels));
  };
  call(1); // the libraries and the JIT are loaded once
  dz::empty_cache();
  const double before = resident_mb();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t n = 2; n < 2 + shapes; ++n)
    call(n);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  dz::empty_cache();
  const int programs = step.stats().programs;
  const double kept = resident_mb() - before;
  return {kept, ms / shapes, programs};
}

} // namespace

int main(int argc, char **argv) try {
  example::Cli cli("dz_bench_compile_cache",
                   "Memory kept per compiled program and time per new signature of a "
                   "dz::compile'd MLP step, without and with CompileConfig::max_signatures.");
  int shapes = 40, bound = 8;
  cli.app()
      .add_option("SHAPES", shapes, "batch sizes to call the step with")
      ->capture_default_str()
      ->check(example::Cli::whole<int>(2));
  cli.app()
      .add_option("BOUND", bound, "max_signatures of the bounded run")
      ->capture_default_str()
      ->check(example::Cli::whole<int>(1));
  cli.parse(argc, argv);
  const Result all = run(shapes, shapes + 1);
  const Result bounded = run(shapes, bound);
  std::printf("unbounded: %d programs, %.1f MB resident kept by %d new ones (%.2f MB each), "
              "%.1f ms per new signature\n",
              all.programs, all.kept_mb, shapes, all.kept_mb / shapes, all.ms_per_trace);
  std::printf("max_signatures %d: %d programs, %.1f MB resident kept by %d new signatures\n", bound,
              bounded.programs, bounded.kept_mb, shapes);
  return 0;
} catch (...) {
  return example::exit_status("dz_bench_compile_cache");
}
