// bench/distributed_step.cpp - the Fashion-MNIST MLP's training step, data parallel: forward
// and backward compiled with dz::compile, the gradients averaged by DataParallel, an SGD
// update; random inputs. Run it with 1 and with N processes (one thread each):
//
//   OMP_NUM_THREADS=1 build/bench/dz_bench_distributed_step
//   mpirun -np 2 -x OMP_NUM_THREADS=1 build/bench/dz_bench_distributed_step
//
// Usage: dz_bench_distributed_step [STEPS=200] [GLOBAL_BATCH=100] [--per-rank]
//                                  [--mode=split|eager|overlap|whole] [--bucket-bytes=N]
//   GLOBAL_BATCH samples per step over all ranks (each takes GLOBAL_BATCH / ranks); with
//   --per-rank every rank takes GLOBAL_BATCH (the global batch grows with the ranks).
//   --mode: split (the default): forward and backward compiled, all_reduce_grads() and the
//   update eager; eager: everything eager; overlap: everything eager, DataParallel's
//   overlap option on (buckets reduced during backward); whole: the whole step compiled,
//   the all-reduces inside (the all-reduce time is then not measured apart).
//   --bucket-bytes: DataParallelOptions::bucket_bytes (default 25 MB: one bucket here).
// Prints, from rank 0: ranks, the median step time, samples/s over all ranks, the median
// times of the compiled forward+backward and of all_reduce_grads() (the rest of the step is
// the eager SGD update), and the gradient bytes each rank exchanges per step. Each median is
// over the steps of the slowest rank's times.
#include <dzc/dzc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace D = dz::distributed;
namespace F = dz::functions;

int main(int argc, char **argv) try {
  int steps = 200;
  int64_t batch = 100;
  bool per_rank = false;
  std::string mode = "split";
  int64_t bucket_bytes = 25 << 20;
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--per-rank") == 0)
      per_rank = true;
    else if (std::strncmp(argv[i], "--mode=", 7) == 0)
      mode = argv[i] + 7;
    else if (std::strncmp(argv[i], "--bucket-bytes=", 15) == 0)
      bucket_bytes = std::atoll(argv[i] + 15);
    else if (std::strcmp(argv[i], "--help") == 0) {
      std::printf("usage: dz_bench_distributed_step [STEPS=200] [GLOBAL_BATCH=100] [--per-rank] "
                  "[--mode=split|eager|overlap|whole] [--bucket-bytes=N]\n");
      return 0;
    } else
      pos.push_back(argv[i]);
  }
  if (pos.size() > 2 || (pos.size() > 0 && (steps = std::atoi(pos[0].c_str())) < 10) ||
      (pos.size() > 1 && (batch = std::atoll(pos[1].c_str())) < 1)) {
    std::fprintf(stderr, "dz_bench_distributed_step: STEPS >= 10 and GLOBAL_BATCH >= 1 expected\n");
    return 2;
  }
  if (mode != "split" && mode != "eager" && mode != "overlap" && mode != "whole") {
    std::fprintf(stderr,
                 "dz_bench_distributed_step: --mode is split, eager, overlap or whole, "
                 "not '%s'\n",
                 mode.c_str());
    return 2;
  }
  if (bucket_bytes < 1) {
    std::fprintf(stderr, "dz_bench_distributed_step: --bucket-bytes must be positive\n");
    return 2;
  }
  D::init();
  const int w = D::world_size();
  if (!per_rank && batch % w != 0) {
    std::fprintf(stderr, "dz_bench_distributed_step: GLOBAL_BATCH %lld is not a multiple of %d\n",
                 (long long)batch, w);
    return 2;
  }
  const int64_t local = per_rank ? batch : batch / w;
  dz::manual_seed(0);
  dz::models::MLP model({1000, 1000, 10}, F::relu);
  dz::Tensor x = dz::randn({local, 784}, dz::f32);
  dz::Tensor t = dz::Tensor::from_i64(std::vector<int64_t>(size_t(local), 3), {local});
  model(dz::Variable(x)); // sizes the layers
  D::DataParallel dp(model, {.bucket_bytes = bucket_bytes, .overlap = mode == "overlap"});
  dz::optimizers::SGD opt(0.01);
  opt.setup(model);
  auto fwd_bwd = dz::compile([&](dz::Variable xv, dz::Variable tv) {
    dz::Variable loss = F::softmax_cross_entropy(model(xv), tv);
    model.cleargrads();
    loss.backward();
    return loss;
  });
  auto whole = dz::compile([&](dz::Variable xv, dz::Variable tv) {
    dz::Variable loss = F::softmax_cross_entropy(model(xv), tv);
    model.cleargrads();
    loss.backward();
    dp.all_reduce_grads();
    opt.update();
    return loss;
  });
  const bool eager = mode == "eager" || mode == "overlap";
  std::vector<double> step_s, reduce_s, compute_s; // compute: until all_reduce_grads()
  for (int s = 0; s < steps + 5; ++s) {
    D::barrier(); // every rank starts the step together
    const auto t0 = std::chrono::steady_clock::now();
    if (mode == "whole") {
      whole(dz::Variable(x), dz::Variable(t));
    } else if (eager) {
      dz::Variable loss = F::softmax_cross_entropy(model(dz::Variable(x)), dz::Variable(t));
      model.cleargrads();
      loss.backward();
    } else {
      fwd_bwd(dz::Variable(x), dz::Variable(t));
    }
    const auto t1 = std::chrono::steady_clock::now();
    if (mode != "whole") {
      dp.all_reduce_grads();
      opt.update();
    }
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s >= 5) { // after the trace and warm-up
      step_s.push_back(dt);
      reduce_s.push_back(dp.stats().last_seconds);
      compute_s.push_back(std::chrono::duration<double>(t1 - t0).count());
    }
  }
  // The slowest rank's times: max over ranks, step by step.
  dz::Tensor ts = dz::Tensor::from(step_s, {int64_t(step_s.size())});
  dz::Tensor rs = dz::Tensor::from(reduce_s, {int64_t(reduce_s.size())});
  dz::Tensor cs = dz::Tensor::from(compute_s, {int64_t(compute_s.size())});
  D::all_reduce(ts, D::ReduceOp::Max);
  D::all_reduce(rs, D::ReduceOp::Max);
  D::all_reduce(cs, D::ReduceOp::Max);
  auto median = [](const dz::Tensor &v) {
    std::vector<double> s = v.to_vector();
    std::sort(s.begin(), s.end());
    return s[s.size() / 2];
  };
  const double step = median(ts), red = median(rs), compute = median(cs);
  const std::vector<double> rv = rs.to_vector();
  const double red_best = *std::min_element(rv.begin(), rv.end());
  if (D::rank() == 0)
    std::printf(
        "mode %s  ranks %d  batch %lld per rank  step %.2f ms  %.0f samples/s  forward+backward "
        "%.2f ms  all-reduce %.2f ms (%.0f%% of the step; fastest %.2f ms)  %lld gradient "
        "bytes per rank and step in %lld buckets\n",
        mode.c_str(), w, (long long)local, step * 1e3, double(local * w) / step, compute * 1e3,
        red * 1e3, 100 * red / step, red_best * 1e3, (long long)(w > 1 ? dp.stats().bytes : 0),
        (long long)dp.stats().buckets);
  D::finalize();
  return 0;
} catch (const std::exception &e) {
  std::fprintf(stderr, "dz_bench_distributed_step: %s\n", e.what());
  return 1;
}
