// bench/gemm_rates.cpp - the matrix products of the MLP step of docs/performance.md (784-
// 1000-10, batch 100, f32) one at a time, through the runtime's GEMM (dz::matmul, oneDNN's
// sgemm), next to square products: time and GFLOP/s (2 M N K per product) of each, and
// their sum for the step (the GEMM floor no MLP step of this framework can go below).
//
// Usage: dz_bench_gemm [--min-time S] [--batches R]
// Prints one JSON object per product ("name", "m", "n", "k", "transpose", "median_ms",
// "min_ms", "gflops"): the median and minimum over R batches of (batch time / N), N grown
// until a batch takes at least S seconds; gflops from the median. bench/compare_steps.py
// prints them as a table.
#include "cli.h"

#include <dzc/dzc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace {

struct Product {
  const char *name;
  int64_t m, n, k;
  bool ta, tb;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

int main(int argc, char **argv) try {
  example::Cli cli("dz_bench_gemm", "The MLP step's matrix products and square products through "
                                    "the runtime's GEMM: time and GFLOP/s of each.");
  double min_time = 0.2;
  int batches = 5;
  cli.app()
      .add_option("--min-time", min_time, "time batches of at least S seconds")
      ->type_name("S")
      ->check(CLI::Range(1e-3, 60.0))
      ->capture_default_str();
  cli.app()
      .add_option("--batches", batches, "timed batches")
      ->type_name("R")
      ->check(example::Cli::whole<int>(1))
      ->capture_default_str();
  cli.parse(argc, argv);

  // C (m x n) = op(A) op(B): the step's forward (x W1, h W2) and backward (dh = g W2^T,
  // dW2 = h^T g, dW1 = x^T gh) products, then square ones.
  const std::vector<Product> products = {
      {"mlp x W1", 100, 1000, 784, false, false},  {"mlp h W2", 100, 10, 1000, false, false},
      {"mlp g W2^T", 100, 1000, 10, false, true},  {"mlp h^T g", 1000, 10, 100, true, false},
      {"mlp x^T gh", 784, 1000, 100, true, false}, {"square 256", 256, 256, 256, false, false},
      {"square 512", 512, 512, 512, false, false}, {"square 1024", 1024, 1024, 1024, false, false},
  };
  dz::Generator gen{0};
  for (const Product &p : products) {
    const dz::Tensor a =
        p.ta ? dz::randn({p.k, p.m}, dz::f32, gen) : dz::randn({p.m, p.k}, dz::f32, gen);
    const dz::Tensor b =
        p.tb ? dz::randn({p.n, p.k}, dz::f32, gen) : dz::randn({p.k, p.n}, dz::f32, gen);
    dz::Tensor c;
    auto run = [&](int64_t times) {
      for (int64_t i = 0; i < times; ++i)
        c = dz::matmul(a, b, p.ta, p.tb);
    };
    run(3); // warm-up
    int64_t per_batch = 1;
    for (;;) { // calibrate: grow the batch until it takes min_time
      const auto t0 = std::chrono::steady_clock::now();
      run(per_batch);
      const double s = seconds_since(t0);
      if (s >= min_time)
        break;
      per_batch =
          std::max(2 * per_batch, int64_t(double(per_batch) * min_time / std::max(s, 1e-9) * 1.2));
    }
    std::vector<double> ms;
    for (int r = 0; r < batches; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      run(per_batch);
      ms.push_back(seconds_since(t0) * 1e3 / double(per_batch));
    }
    std::sort(ms.begin(), ms.end());
    const double median = ms[ms.size() / 2];
    const double flops = 2.0 * double(p.m) * double(p.n) * double(p.k);
    std::printf("{\"name\": \"%s\", \"m\": %lld, \"n\": %lld, \"k\": %lld, \"transpose\": \"%s\", "
                "\"median_ms\": %.6f, \"min_ms\": %.6f, \"gflops\": %.1f}\n",
                p.name, (long long)p.m, (long long)p.n, (long long)p.k,
                p.ta ? "a" : (p.tb ? "b" : "none"), median, ms.front(), flops / (median * 1e6));
  }
  return 0;
} catch (...) {
  return example::exit_status("dz_bench_gemm");
}
