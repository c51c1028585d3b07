// bench/eager_mlp.cpp - eager-mode benchmarks: one training step of an MLP 784-1000-10
// (batch 100, float32, ReLU hidden layer, softmax cross entropy, plain SGD) and the
// elementwise kernels it leans on. bench/compare_torch.py runs the same work in PyTorch.
//
// Times are wall-clock (UseRealTime): the kernels run on OpenMP/oneDNN threads.
#include "cli.h"

#include <dzc/dzc.h>

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace F = dz::functions;

namespace {

// The DeZero MLP step, written as a user writes it with F::. Hidden activation: ReLU
// (PyTorch's side uses ReLU too).
struct MLP {
  static constexpr int64_t batch = 100, in = 784, hidden = 1000, out = 10;
  dz::Generator gen{0};
  dz::Tensor x; // a batch as a data loader yields it: a Tensor, so no gradient is kept
  dz::Variable t;
  dz::Parameter W1, b1, W2, b2;

  MLP() {
    x = dz::randn({batch, in}, dz::f32, gen);
    std::mt19937 rng(0);
    std::vector<int64_t> labels(batch);
    for (auto &l : labels)
      l = int64_t(rng() % out);
    t = dz::Variable(dz::Tensor::from_i64(labels, {batch}));
    W1 = dz::Parameter(dz::randn({in, hidden}, dz::f32, gen) * std::sqrt(1.0 / in), "W1");
    b1 = dz::Parameter(dz::zeros({hidden}, dz::f32), "b1");
    W2 = dz::Parameter(dz::randn({hidden, out}, dz::f32, gen) * std::sqrt(1.0 / hidden), "W2");
    b2 = dz::Parameter(dz::zeros({out}, dz::f32), "b2");
  }

  dz::Variable step(double lr) { return step(dz::Variable::constant(x), lr); }
  dz::Variable step(const dz::Variable &xb, double lr) {
    dz::Variable h = F::relu(F::linear(xb, W1, b1));
    dz::Variable y = F::linear(h, W2, b2);
    dz::Variable loss = F::softmax_cross_entropy(y, t);
    for (dz::Parameter *p : {&W1, &b1, &W2, &b2})
      p->cleargrad();
    loss.backward();
    dz::NoGrad no_grad;
    for (dz::Parameter *p : {&W1, &b1, &W2, &b2})
      p->set_data(p->data() - lr * p->grad().data());
    return loss;
  }
};

void BM_EagerMLPTrainStep(benchmark::State &state) {
  MLP mlp;
  double loss = 0;
  for (auto _ : state) {
    dz::Variable l = mlp.step(0.01);
    loss = l.item<double>(); // also waits for the result
  }
  state.counters["loss"] = loss;
  state.SetItemsProcessed(state.iterations() * MLP::batch);
}
BENCHMARK(BM_EagerMLPTrainStep)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same step through dz::compile: traced once (outside the timed loop), then the
// compiled program (autodiff on the IR, canonicalize, CSE, one kernel per op).
void BM_CompiledMLPTrainStep(benchmark::State &state) {
  MLP mlp;
  auto step = dz::compile([&](dz::Variable xb) { return mlp.step(xb, 0.01); });
  step(mlp.x);
  double loss = 0;
  for (auto _ : state) {
    dz::Variable l = step(mlp.x);
    loss = l.item<double>();
  }
  state.counters["loss"] = loss;
  state.SetItemsProcessed(state.iterations() * MLP::batch);
}
BENCHMARK(BM_CompiledMLPTrainStep)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- elementwise kernels (float32) ---------------------------------------------------------
constexpr int64_t kN = 1'000'000;

template <typename Op> void elementwise(benchmark::State &state, int inputs, Op op) {
  dz::Generator gen(1);
  dz::Tensor a = dz::randn({kN}, dz::f32, gen), b = dz::randn({kN}, dz::f32, gen);
  for (auto _ : state) {
    dz::Tensor c = op(a, b);
    benchmark::DoNotOptimize(c.raw());
  }
  state.SetBytesProcessed(state.iterations() * (inputs + 1) * kN * int64_t(sizeof(float)));
}

void BM_Add(benchmark::State &state) {
  elementwise(state, 2, [](const dz::Tensor &a, const dz::Tensor &b) { return a + b; });
}
void BM_Mul(benchmark::State &state) {
  elementwise(state, 2, [](const dz::Tensor &a, const dz::Tensor &b) { return a * b; });
}
void BM_Exp(benchmark::State &state) {
  elementwise(state, 1, [](const dz::Tensor &a, const dz::Tensor &) { return dz::exp(a); });
}
BENCHMARK(BM_Add)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_Mul)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_Exp)->Unit(benchmark::kMicrosecond)->UseRealTime();

// (1000, 1000) + (1000,): the bias add of a layer.
void BM_BroadcastAdd(benchmark::State &state) {
  dz::Generator gen(2);
  dz::Tensor a = dz::randn({1000, 1000}, dz::f32, gen), b = dz::randn({1000}, dz::f32, gen);
  for (auto _ : state) {
    dz::Tensor c = a + b;
    benchmark::DoNotOptimize(c.raw());
  }
  state.SetBytesProcessed(state.iterations() * (2 * 1000 * 1000 + 1000) * int64_t(sizeof(float)));
}
BENCHMARK(BM_BroadcastAdd)->Unit(benchmark::kMicrosecond)->UseRealTime();

// The same add through the autograd layer: kernel + graph recording.
void BM_VariableAdd(benchmark::State &state) {
  dz::Generator gen(3);
  dz::Variable a(dz::randn({kN}, dz::f32, gen)), b(dz::randn({kN}, dz::f32, gen));
  for (auto _ : state) {
    dz::Variable c = a + b;
    benchmark::DoNotOptimize(c.data().raw());
  }
  state.SetBytesProcessed(state.iterations() * 3 * kN * int64_t(sizeof(float)));
}
BENCHMARK(BM_VariableAdd)->Unit(benchmark::kMicrosecond)->UseRealTime();

} // namespace

// Google Benchmark's command line (--help lists it); an unknown option is a usage error
// (exit status 2), an exception one line and exit status 1, as in every program of dzc.
int main(int argc, char **argv) try {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return example::kUsageError;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
} catch (...) {
  return example::exit_status("dz_bench_eager");
}
