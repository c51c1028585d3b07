// bench/gpu_bandwidth.cpp - the bandwidth of a large fused elementwise kernel on cuda:0 as
// a fraction of a device-to-device copy's (issue 7's target: at least 0.8).
//
// Usage: dz_bench_gpu_bandwidth [ELEMENTS=67108864] [REPS=20]
// y = relu(x * a + b) over float32 vectors, compiled with dz::compile: one generated CUDA
// kernel that reads x and writes y (8 bytes an element), against Tensor::copy of x (also
// 8 bytes an element, cuMemcpyDtoD). Both are timed after a warm-up, each repetition ended
// by dz::synchronize; the median is reported. Prints one JSON object. Needs a GPU: on the
// host emulation (DZ_CUDA_EMULATION=1) it runs, but its numbers mean nothing.
#include "cli.h"

#include <dzc/device_backend.h>
#include <dzc/dzc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace F = dz::functions;
using dz::Tensor;
using dz::Variable;

namespace {

template <typename Fn> double median_ms(int reps, Fn fn, dz::Device dev) {
  fn();
  dz::synchronize(dev);
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    dz::synchronize(dev);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

} // namespace

int main(int argc, char **argv) try {
  example::Cli cli("dz_bench_gpu_bandwidth",
                   "The bandwidth of a fused elementwise kernel, relu(x * 1.5 + 0.25) over "
                   "float32, on cuda:0 against a device-to-device copy; prints one JSON object.");
  int64_t n = int64_t(1) << 26;
  int reps = 20;
  cli.app().add_option("ELEMENTS", n, "elements of x")->check(example::Cli::whole<int64_t>(1));
  cli.app()
      .add_option("REPS", reps, "timed repetitions of each")
      ->check(example::Cli::whole<int>(1));
  cli.parse(argc, argv);
  const dz::Device dev = dz::Device::cuda(0);
  std::string why;
  if (!dz::device_available(dev, &why))
    cli.usage_error("cuda:0 is not available: " + why);
  Tensor x = dz::randn({n}, dz::f32, 0).to(dev);
  auto fused = dz::compile([](Variable v) { return F::relu(v * 1.5 + 0.25); });
  Variable xv(x);
  Tensor y;
  const double fused_ms = median_ms(
      reps, [&] { y = fused(xv).data(); }, dev);
  Tensor c;
  const double copy_ms = median_ms(
      reps, [&] { c = x.copy(); }, dev);
  const double bytes = 8.0 * double(n);
  std::printf("{\"device\": \"%s\", \"elements\": %lld, \"fused_ms\": %.4f, \"copy_ms\": %.4f, "
              "\"fused_gb_s\": %.1f, \"copy_gb_s\": %.1f, \"fraction_of_copy\": %.3f, "
              "\"summary\": \"%s\"}\n",
              dz::device_backend(dev).describe().c_str(), (long long)n, fused_ms, copy_ms,
              bytes / fused_ms / 1e6, bytes / copy_ms / 1e6, copy_ms / fused_ms,
              fused.stats().summary.c_str());
  return 0;
} catch (...) {
  return example::exit_status("dz_bench_gpu_bandwidth");
}
