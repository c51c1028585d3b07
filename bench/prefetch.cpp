// bench/prefetch.cpp - how much of a Fashion-MNIST training epoch the DataLoader's
// prefetching hides: the book's MLP(1000, 1000, 10), ReLU, Adam, batch 100, the step
// compiled with dz::compile (or eager), over one epoch of the training set.
//
// Usage: dz_bench_prefetch [--prefetch N] [--batches B] [--repeat R] [--eager] [--data DIR]
//   --prefetch N  batches built ahead on the loader's thread (default 2)
//   --batches B   stop each epoch after B batches (default: the whole epoch, 600)
//   --repeat R    runs of each measurement, the fastest kept (default 3)
// Measures, each after a warm-up: `data`, an epoch of the loader alone (batches built,
// nothing computed); `compute`, the steps alone on batches built beforehand; `plain`, the
// epoch with the loader building each batch when the loop asks; `prefetch`, the same with
// {.prefetch = N} (plain and prefetch alternate). Prints one JSON object with the four
// times in ms (the fastest of R runs) and hidden = (plain - prefetch) / data: the share of
// the loader's time that no longer adds to the epoch. The trained weights of the two
// epochs are checked to be equal (the same batches in the same order), else it exits 1.
#include <dzc/dzc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace F = dz::functions;
namespace M = dz::models;
namespace O = dz::optimizers;
using dz::Tensor;
using dz::Variable;

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

struct Trainer {
  M::MLP model;
  O::Adam opt;
  std::function<Variable(const Tensor &, const Tensor &)> step;

  Trainer(const Tensor &example, bool eager) : model(made(example)) {
    opt.setup(model);
    auto body = [this](Variable x, Variable t) {
      Variable loss = F::softmax_cross_entropy(model(x), t);
      model.cleargrads();
      loss.backward();
      opt.update();
      return loss;
    };
    if (eager) {
      step = [body](const Tensor &x, const Tensor &t) {
        return body(Variable::constant(x), Variable::constant(t));
      };
    } else {
      auto compiled = std::make_shared<decltype(dz::compile(body))>(dz::compile(body));
      step = [compiled](const Tensor &x, const Tensor &t) { return (*compiled)(x, t); };
    }
  }

  static M::MLP made(const Tensor &example) {
    dz::manual_seed(0);
    M::MLP m({1000, 1000, 10}, F::relu);
    dz::NoGrad no_grad;
    m(example);
    return m;
  }

  std::vector<Tensor> weights() {
    std::vector<Tensor> w;
    for (auto &p : model.params())
      w.push_back(p.data().copy());
    return w;
  }
};

/// One epoch (or its first `limit` batches) of `loader`, each batch handed to `use`.
void epoch(dz::DataLoader &loader, int64_t limit,
           const std::function<void(const dz::Batch &)> &use) {
  int64_t n = 0;
  for (auto b : loader) {
    if (n++ == limit)
      break;
    use(b);
  }
}

} // namespace

int main(int argc, char **argv) {
  int64_t depth = 2, limit = -1, repeat = 3;
  bool eager = false;
  std::string data;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s: %s needs a value\n", argv[0], a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    try {
      if (a == "--prefetch")
        depth = std::stoll(value());
      else if (a == "--batches")
        limit = std::stoll(value());
      else if (a == "--repeat")
        repeat = std::max<int64_t>(1, std::stoll(value()));
      else if (a == "--eager")
        eager = true;
      else if (a == "--data")
        data = value();
      else {
        std::fprintf(stderr,
                     "usage: %s [--prefetch N] [--batches B] [--repeat R] [--eager] [--data DIR]\n",
                     argv[0]);
        return a == "--help" || a == "-h" ? 0 : 2;
      }
    } catch (const std::logic_error &) {
      std::fprintf(stderr, "%s: %s: not a number\n", argv[0], a.c_str());
      return 2;
    }
  }
  try {
    dz::datasets::FashionMNIST train(true, data);
    dz::DataLoader warm(train, 100, true, 1);
    const dz::Batch first = *warm.begin();

    // The loader alone (a first epoch warms the allocator's cache).
    epoch(warm, limit, [](const dz::Batch &) {});
    double data_ms = 1e300;
    for (int64_t r = 0; r < repeat; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      epoch(warm, limit, [](const dz::Batch &) {});
      data_ms = std::min(data_ms, ms_since(t0));
    }

    // The steps alone, on batches built beforehand.
    std::vector<dz::Batch> built;
    epoch(warm, limit, [&](const dz::Batch &b) { built.push_back(b); });
    double compute_ms = 1e300;
    for (int64_t r = 0; r < repeat; ++r) {
      Trainer t(first.first, eager);
      t.step(first.first, first.second); // traces and compiles
      auto t0 = std::chrono::steady_clock::now();
      for (const dz::Batch &b : built)
        t.step(b.first, b.second).item<double>();
      compute_ms = std::min(compute_ms, ms_since(t0));
    }

    // Loader and steps together, without and with prefetching: a fresh model and loader
    // (seed 0) for each run, so every run trains the same weights.
    auto train_epoch = [&](const dz::DataLoaderOptions &options, std::vector<Tensor> &weights) {
      dz::DataLoader loader(train, 100, true, 0, options);
      Trainer t(first.first, eager);
      t.step(first.first, first.second);
      auto start = std::chrono::steady_clock::now();
      epoch(loader, limit, [&](const dz::Batch &b) { t.step(b.first, b.second).item<double>(); });
      const double ms = ms_since(start);
      weights = t.weights();
      return ms;
    };
    std::vector<Tensor> w_plain, w_ahead;
    double plain_ms = 1e300, ahead_ms = 1e300;
    for (int64_t r = 0; r < repeat; ++r) {
      plain_ms = std::min(plain_ms, train_epoch({}, w_plain));
      ahead_ms = std::min(ahead_ms, train_epoch({.prefetch = depth}, w_ahead));
    }
    for (size_t k = 0; k < w_plain.size(); ++k)
      if (std::memcmp(w_plain[k].raw(), w_ahead[k].raw(), w_plain[k].nbytes()) != 0) {
        std::fprintf(stderr, "%s: the prefetched epoch trained different weights\n", argv[0]);
        return 1;
      }
    std::printf("{\"mode\": \"%s\", \"batches\": %zu, \"prefetch\": %lld, \"data_ms\": %.1f, "
                "\"compute_ms\": %.1f, \"plain_ms\": %.1f, \"prefetch_ms\": %.1f, "
                "\"hidden\": %.3f}\n",
                eager ? "eager" : "compiled", built.size(), (long long)depth, data_ms, compute_ms,
                plain_ms, ahead_ms, (plain_ms - ahead_ms) / data_ms);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 1;
  }
  return 0;
}
