// bench/steps.cpp - the training steps of docs/performance.md, eager or compiled, one
// workload per process so that peak memory is the workload's own.
//
// Usage: dz_bench_steps WORKLOAD eager|compiled|gemm [STEPS=50] [--device cpu|cuda]
//                       [--min-time S [--batches R=5]]
//   mlp  MLP 784-1000-10, ReLU, softmax cross entropy, batch 100, f32, forward + backward
//        + SGD update (lr 0.01)
//   cnn  conv 1->8 3x3 pad 1, ReLU, max pool 2, conv 8->16 3x3, ReLU, max pool 2,
//        linear 576->10, softmax cross entropy, batch 64 of 1x28x28, forward + backward
//   spiral  step 48 of the book: MLP(10, 3), sigmoid, batch 30 of 2 features, softmax
//        cross entropy, SGD lr 1.0 (the book's spiral step)
//   lstm LSTM(100) + Linear(1), one truncated-BPTT chunk of 30 steps, batch 30, mean
//        squared error, Adam (step 60)
//   tanh4 the 4th derivative of tanh at a scalar by repeated create_graph backward (step 35)
//   tiny x * 2 on 4 floats: the fixed cost of a compiled call
//   gemm (mlp only) the step's five matrix products alone, with the runtime's oneDNN
//        GEMM: the floor that no MLP step of this framework can go below
// Prints one JSON object: median and minimum wall time of a step (after 3 warm-up steps;
// the compiled mode traces and compiles in the first call, timed as first_call_ms), the
// loss, and peak_mb: the peak resident set during the timed steps minus the resident set
// before the model was made (so the framework's code and the compiler's libraries are
// not counted, the model, its gradients, activations and allocator caches are).
// Timing: by default each of the STEPS steps is timed on its own (median and minimum over
// the steps). With --min-time S the steps are timed in R batches of N steps (N >= STEPS,
// grown until a batch takes at least S seconds; those calibration batches are more
// warm-up) and the times are the median and minimum over the batches of the batch's time
// divided by N: the way to time a step of a few microseconds, whose own timer calls would
// otherwise be part of it. steps_per_batch and batches say which was done (1 and STEPS by
// default). On the CPU a step is the call and nothing else (its result is kept, its loss
// read after the timing); on a device each step also copies the loss back, which waits for
// the device.
// bench/compare_steps.py runs it next to the same steps in PyTorch. With --device cuda the
// parameters and the batch live on cuda:0 and each timed step ends with the loss copied
// back (which waits for the device); peak_mb is then the host's, and device_mb the bytes
// the device allocator holds after the steps (live and cached); launches, uploads,
// downloads and device_copies are per step (dz::device_counters: the same on a GPU and on
// the host emulation).
#include "cli.h"

#include <dzc/device_backend.h>
#include <dzc/dzc.h>
#include <dzc/models.h>
#include <dzc/optimizers.h>

#include <malloc.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace F = dz::functions;
namespace L = dz::layers;
namespace O = dz::optimizers;
using dz::Parameter;
using dz::Tensor;
using dz::Variable;

namespace {

/// A field of /proc/self/status in MiB ("VmRSS", "VmHWM").
double status_mb(const std::string &field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0)
      return std::stod(line.substr(field.size() + 1)) / 1024.0; // kB
  return 0;
}

/// Resets VmHWM to the current resident set (Linux: clear_refs 5).
void reset_peak() { std::ofstream("/proc/self/clear_refs") << "5"; }

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

struct Workload {
  std::vector<Parameter *> params;
  std::function<Variable(Variable, Variable)> step; // (x, t) -> loss
  Tensor x, t;
};

struct Mlp {
  dz::Generator gen{0};
  Parameter W1{dz::randn({784, 1000}, dz::f32, gen) * std::sqrt(1.0 / 784), "W1"};
  Parameter b1{dz::zeros({1000}, dz::f32), "b1"};
  Parameter W2{dz::randn({1000, 10}, dz::f32, gen) * std::sqrt(1.0 / 1000), "W2"};
  Parameter b2{dz::zeros({10}, dz::f32), "b2"};

  Workload workload() {
    Workload w;
    w.params = {&W1, &b1, &W2, &b2};
    w.x = dz::randn({100, 784}, dz::f32, gen);
    std::vector<int64_t> labels(100);
    for (size_t i = 0; i < labels.size(); ++i)
      labels[i] = int64_t(i % 10);
    w.t = Tensor::from_i64(labels);
    w.step = [this, params = w.params](Variable x, Variable t) {
      Variable loss = F::softmax_cross_entropy(F::linear(F::relu(F::linear(x, W1, b1)), W2, b2), t);
      for (Parameter *p : params)
        p->cleargrad();
      loss.backward();
      for (Parameter *p : params) {
        Tensor d = p->data();
        d -= 0.01 * p->grad().data();
      }
      return loss;
    };
    return w;
  }
};

struct Cnn {
  dz::Generator gen{0};
  Parameter W1{dz::randn({8, 1, 3, 3}, dz::f32, gen) * std::sqrt(2.0 / 9), "W1"};
  Parameter b1{dz::zeros({8}, dz::f32), "b1"};
  Parameter W2{dz::randn({16, 8, 3, 3}, dz::f32, gen) * std::sqrt(2.0 / 72), "W2"};
  Parameter b2{dz::zeros({16}, dz::f32), "b2"};
  Parameter W3{dz::randn({576, 10}, dz::f32, gen) * std::sqrt(1.0 / 576), "W3"};
  Parameter b3{dz::zeros({10}, dz::f32), "b3"};

  Workload workload() {
    Workload w;
    w.params = {&W1, &b1, &W2, &b2, &W3, &b3};
    w.x = dz::randn({64, 1, 28, 28}, dz::f32, gen);
    std::vector<int64_t> labels(64);
    for (size_t i = 0; i < labels.size(); ++i)
      labels[i] = int64_t(i % 10);
    w.t = Tensor::from_i64(labels);
    w.step = [this, params = w.params](Variable x, Variable t) {
      Variable h = F::pooling(F::relu(F::conv2d(x, W1, b1, 1, 1)), 2, 2);
      h = F::pooling(F::relu(F::conv2d(h, W2, b2, 1, 0)), 2, 2);
      Variable loss = F::softmax_cross_entropy(F::linear(h.reshape({64, 576}), W3, b3), t);
      for (Parameter *p : params)
        p->cleargrad();
      loss.backward();
      return loss;
    };
    return w;
  }
};

struct Spiral {
  dz::models::MLP model{{10, 3}};
  O::SGD optimizer{1.0};

  Workload workload() {
    optimizer.setup(model);
    Workload w;
    w.x = dz::randn({30, 2}, dz::f32, 0);
    std::vector<int64_t> labels(30);
    for (size_t i = 0; i < labels.size(); ++i)
      labels[i] = int64_t(i % 3);
    w.t = Tensor::from_i64(labels);
    w.step = [this](Variable x, Variable t) {
      Variable loss = F::softmax_cross_entropy(model(x), t);
      model.cleargrads();
      loss.backward();
      optimizer.update();
      return loss;
    };
    return w;
  }
};

struct Lstm {
  struct Net : dz::Model {
    L::LSTM rnn{100};
    L::Linear fc{1};
    Net() {
      register_layer("rnn", rnn);
      register_layer("fc", fc);
    }
    Variable forward(const Variable &x) override { return fc(rnn(x)); }
  } model;
  O::Adam optimizer{0.001};

  Workload workload() {
    optimizer.setup(model);
    Workload w;
    w.x = dz::randn({30, 30, 1}, dz::f32, 0);
    w.t = dz::randn({30, 30, 1}, dz::f32, 1);
    // One truncated-BPTT chunk of 30 steps. The state is reset before each chunk, so every
    // call computes the same graph (the chunks of lstm_sin carry it over).
    w.step = [this](Variable xs, Variable ts) {
      model.reset_state();
      Variable loss;
      for (int64_t i = 0; i < xs.shape()[0]; ++i) {
        Variable l = F::mean_squared_error(model(F::get_item(xs, {i})), F::get_item(ts, {i}));
        loss = loss.defined() ? loss + l : l;
      }
      model.cleargrads();
      loss.backward();
      loss.unchain_backward();
      optimizer.update();
      return loss;
    };
    return w;
  }
};

/// d^4/dx^4 tanh(x) at x = 1 by four create_graph backward passes.
Workload tanh4() {
  Workload w;
  w.x = Tensor::scalar(1.0, dz::f32);
  w.t = Tensor::scalar(0.0, dz::f32);
  w.step = [](Variable x, Variable) {
    Variable xv = Variable(x.data()); // the differentiated input: a Variable of the step
    Variable y = F::tanh(xv);
    for (int i = 0; i < 4; ++i) {
      xv.cleargrad();
      y.backward({.create_graph = true});
      y = xv.grad();
    }
    return y;
  };
  return w;
}

/// x * 2 on 4 floats: what a call of a compiled function costs beyond its kernels.
Workload tiny() {
  Workload w;
  w.x = dz::ones({4}, dz::f32);
  w.t = dz::zeros({4}, dz::f32);
  w.step = [](Variable x, Variable) { return x * 2.0; };
  return w;
}

} // namespace

int main(int argc, char **argv) try {
  example::Cli cli("dz_bench_steps",
                   "The training steps of docs/performance.md, eager or compiled, one workload "
                   "per process; prints one JSON object (time, compile time, peak memory).");
  cli.device();
  std::vector<std::string> a(2);
  int steps = 50;
  cli.app()
      .add_option("WORKLOAD", a[0], "mlp, cnn, spiral, lstm, tanh4 or tiny")
      ->required()
      ->check(CLI::IsMember({"mlp", "cnn", "spiral", "lstm", "tanh4", "tiny"}));
  cli.app()
      .add_option("MODE", a[1], "eager, compiled, or gemm (mlp only: the step's matrix products)")
      ->required()
      ->check(CLI::IsMember({"eager", "compiled", "gemm"}));
  cli.app().add_option("STEPS", steps, "timed steps")->check(example::Cli::whole<int>(1));
  double min_time = 0;
  int batches = 5;
  cli.app()
      .add_option("--min-time", min_time,
                  "time batches of at least S seconds (of N >= STEPS steps each) and "
                  "report a batch's time / N (0: time each step alone)")
      ->type_name("S")
      ->check(CLI::Validator(
          [](std::string &s) -> std::string {
            double v = 0;
            const char *end = s.data() + s.size();
            auto [ptr, ec] = std::from_chars(s.data(), end, v);
            if (s.empty() || ec != std::errc() || ptr != end || !std::isfinite(v) || v < 0)
              return "'" + s + "' is not a finite number >= 0";
            return {};
          },
          ""));
  auto *batches_opt = cli.app()
                          .add_option("--batches", batches, "timed batches with --min-time")
                          ->type_name("R")
                          ->check(example::Cli::whole<int>(1))
                          ->capture_default_str();
  const dz::Device dev = cli.parse(argc, argv).device;
  if (a[1] == "gemm" && a[0] != "mlp")
    cli.usage_error("the gemm mode times the MLP's matrix products: dz_bench_steps mlp gemm");
  if (batches_opt->count() > 0 && min_time == 0)
    cli.usage_error("--batches counts the batches of --min-time: give --min-time S too");
  const bool compiled = a[1] == "compiled";
  if (compiled) // load and run the compiler (a fused kernel through the JIT) before the
                // baseline: its code is not the step's memory
    dz::compile([](Variable x) { return x * 2.0 + 1.0; })(Tensor(dz::ones({4}, dz::f32)));
  const double base_mb = status_mb("VmRSS");

  Mlp mlp;
  Cnn cnn;
  Spiral spiral;
  Lstm lstm;
  Workload w = a[0] == "mlp"      ? mlp.workload()
               : a[0] == "cnn"    ? cnn.workload()
               : a[0] == "spiral" ? spiral.workload()
               : a[0] == "lstm"   ? lstm.workload()
               : a[0] == "tanh4"  ? tanh4()
                                  : tiny();
  if (!dev.is_cpu()) {
    for (Parameter *p : w.params)
      p->set_data(p->data().to(dev));
    w.x = w.x.to(dev);
    w.t = w.t.to(dev);
  }
  // The products of forward (x W1, h W2) and backward (dh, dW2, dW1).
  Tensor h = dz::randn({100, 1000}, dz::f32, 1), g = dz::randn({100, 10}, dz::f32, 2),
         gh = dz::randn({100, 1000}, dz::f32, 3);
  h = h.to(dev), g = g.to(dev), gh = gh.to(dev);
  if (a[1] == "gemm") {
    w.step = [&, W1 = mlp.W1.data(), W2 = mlp.W2.data()](Variable, Variable) {
      Tensor y1 = dz::matmul(w.x, W1), y2 = dz::matmul(h, W2), dh = dz::matmul(g, W2, false, true),
             dW2 = dz::matmul(h, g, true, false), dW1 = dz::matmul(w.x, gh, true, false);
      (void)y1, (void)dh, (void)dW2, (void)dW1; // computed, not needed
      return Variable(y2.sum());
    };
  }
  auto compiled_step = dz::compile(w.step);
  auto run = [&] {
    return compiled ? compiled_step(w.x, w.t) : w.step(Variable::constant(w.x), w.t);
  };
  auto t0 = std::chrono::steady_clock::now();
  double loss = run().data().sum().item<double>();
  const double first_ms = ms_since(t0);
  for (int i = 0; i < 3; ++i)
    run();

  // `n` steps back to back. On the CPU a step is the call: the result is computed when it
  // returns; its data stays in `out` (the graph of an eager step is freed, as in PyTorch when
  // the step's loss is dropped). On a device the loss's copy back waits for the step.
  Tensor out;
  auto run_steps = [&](int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      if (dev.is_cpu())
        out = run().data();
      else
        loss = run().data().sum().item<double>();
    }
  };
  int64_t per_batch = 1, n_batches = steps;
  if (min_time > 0) { // calibrate: grow the batch until it takes min_time (more warm-up)
    per_batch = steps, n_batches = batches;
    for (;;) {
      t0 = std::chrono::steady_clock::now();
      run_steps(per_batch);
      const double s = ms_since(t0) / 1e3;
      if (s >= min_time)
        break;
      per_batch =
          std::max(2 * per_batch, int64_t(double(per_batch) * min_time / std::max(s, 1e-9) * 1.2));
    }
  }

  malloc_trim(0); // what the compiler freed is not the step's memory
  reset_peak();
  std::vector<double> ms;
  const dz::DeviceCounters before = dz::device_counters(dev);
  for (int64_t b = 0; b < n_batches; ++b) {
    t0 = std::chrono::steady_clock::now();
    run_steps(per_batch);
    ms.push_back(ms_since(t0) / double(per_batch));
  }
  if (dev.is_cpu())
    loss = out.sum().item<double>();
  const int64_t timed = per_batch * n_batches;
  const double peak_mb = status_mb("VmHWM") - base_mb;
  // Per step, the loss's copy back included (the same counts on a GPU and emulated).
  const dz::DeviceCounters c = dz::device_counters(dev) - before;
  auto per_step = [&](uint64_t n) { return double(n) / double(timed); };
  std::sort(ms.begin(), ms.end());
  const double device_mb = dev.is_cpu() ? 0.0
                                        : double(dz::allocator_stats(dev).allocated_bytes +
                                                 dz::allocator_stats(dev).cached_bytes) /
                                              1e6;
  std::printf("{\"workload\": \"%s\", \"mode\": \"%s\", \"device\": \"%s\", \"steps\": %lld, "
              "\"steps_per_batch\": %lld, \"batches\": %lld, \"median_ms\": %.6f, \"min_ms\": "
              "%.6f, \"first_call_ms\": %.2f, \"peak_mb\": %.2f, "
              "\"device_mb\": %.2f, \"launches\": %.1f, \"generated_launches\": %.1f, "
              "\"uploads\": %.1f, \"downloads\": %.1f, \"device_copies\": %.1f, \"loss\": %.6f}\n",
              a[0].c_str(), a[1].c_str(), dev.str().c_str(), static_cast<long long>(timed),
              static_cast<long long>(per_batch), static_cast<long long>(n_batches),
              ms[ms.size() / 2], ms.front(), first_ms, peak_mb, device_mb, per_step(c.launches),
              per_step(c.generated_launches), per_step(c.uploads), per_step(c.downloads),
              per_step(c.device_copies), loss);
  return 0;
} catch (...) {
  return example::exit_status("dz_bench_steps");
}
