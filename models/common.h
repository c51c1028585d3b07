// models/common.h - what every example program shares: a small command line
// (--epochs N, --out DIR, --data DIR, --eager, --device cpu|cuda), the training step of a
// classifier (compiled with dz::compile unless --eager) and the end-of-run report (CSV + SVG
// curves).
#pragma once

#include <dzc/device_backend.h>
#include <dzc/dzc.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace example {

struct Args {
  int epochs = 0;
  std::string out = "."; // where the loss curves go
  std::string data;      // dataset directory ("" = the dataset's default)
  bool eager = false;    // train eagerly instead of through dz::compile
  dz::Device device;     // where the model and the batches live (--device cuda: cuda:0)
};

/// Parses --epochs N, --out DIR and --data DIR; prints usage and exits on anything else.
inline Args parse_args(int argc, char **argv, int default_epochs, const char *usage) {
  Args a;
  a.epochs = default_epochs;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s: %s needs a value\n%s", argv[0], k.c_str(), usage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (k == "--epochs")
      a.epochs = std::atoi(value().c_str());
    else if (k == "--out")
      a.out = value();
    else if (k == "--data")
      a.data = value();
    else if (k == "--eager")
      a.eager = true;
    else if (k == "--device") {
      std::string d = value();
      if (d != "cpu" && d != "cuda" && d != "cuda:0") {
        std::fprintf(stderr, "%s: unknown --device %s (valid: cpu, cuda)\n", argv[0], d.c_str());
        std::exit(2);
      }
      a.device = d == "cpu" ? dz::Device::cpu() : dz::Device::cuda(0);
      std::string why;
      if (!dz::device_available(a.device, &why)) {
        std::fprintf(stderr, "%s: --device %s: %s\n", argv[0], d.c_str(), why.c_str());
        std::exit(2);
      }
    } else {
      std::fprintf(stderr, "%s", usage);
      std::exit(k == "--help" || k == "-h" ? 0 : 2);
    }
  }
  return a;
}

/// Writes <out>/<name>.csv and <out>/<name>.svg and says where they are.
inline void save_curves(const dz::utils::History &h, const Args &a, const std::string &name,
                        const std::string &title) {
  h.save_csv(a.out + "/" + name + ".csv");
  h.save_svg(a.out + "/" + name + ".svg", title);
  std::printf("curves: %s/%s.csv, %s/%s.svg\n", a.out.c_str(), name.c_str(), a.out.c_str(),
              name.c_str());
}

/// Trains a classifier: forward, softmax cross entropy, backward, update for every batch,
/// the step compiled with dz::compile (traced once per batch shape) or run eagerly.
template <typename Model, typename Optimizer> class Trainer {
public:
  Trainer(Model &model, Optimizer &optimizer, bool compiled) {
    auto body = [&model, &optimizer](dz::Variable x, dz::Variable t) {
      dz::Variable y = model(x);
      dz::Variable loss = dz::functions::softmax_cross_entropy(y, t);
      model.cleargrads();
      loss.backward();
      optimizer.update();
      return std::vector<dz::Variable>{loss, y};
    };
    if (compiled) {
      auto step = std::make_shared<decltype(dz::compile(body))>(dz::compile(body));
      step_ = [step](const dz::Tensor &x, const dz::Tensor &t) { return (*step)(x, t); };
      retraces_ = [step] { return step->retraces(); };
    } else {
      step_ = [body](const dz::Tensor &x, const dz::Tensor &t) {
        return body(dz::Variable::constant(x), dz::Variable::constant(t));
      };
    }
  }

  /// One epoch; the mean loss and accuracy over its samples. Prints the batch loss every
  /// `progress_every` batches when non-zero.
  std::pair<double, double> epoch(dz::DataLoader &loader, int64_t progress_every = 0) {
    namespace F = dz::functions;
    double loss_sum = 0, acc_sum = 0;
    int64_t n = 0, batches = 0;
    for (auto [x, t] : loader) {
      std::vector<dz::Variable> out = step_(x, t);
      const double loss = out[0].template item<double>();
      int64_t b = t.shape(0);
      loss_sum += loss * double(b);
      acc_sum += F::accuracy(out[1], t).template item<double>() * double(b);
      n += b;
      if (progress_every && ++batches % progress_every == 0)
        std::printf("  batch %lld  loss %.4f\n", (long long)batches, loss);
    }
    return {loss_sum / double(n), acc_sum / double(n)};
  }

  /// "compiled (N traces)" or "eager", for the report.
  std::string mode() const {
    return retraces_ ? "compiled with dz::compile (" + std::to_string(retraces_()) + " traces)"
                     : std::string("eager");
  }

private:
  std::function<std::vector<dz::Variable>(const dz::Tensor &, const dz::Tensor &)> step_;
  std::function<int()> retraces_;
};

/// Mean loss and accuracy of `model` over a loader, in test mode without a graph.
template <typename Model> std::pair<double, double> evaluate(Model &model, dz::DataLoader &loader) {
  namespace F = dz::functions;
  dz::NoGrad no_grad;
  dz::TestMode test_mode;
  double loss = 0, acc = 0;
  int64_t n = 0;
  for (auto [x, t] : loader) {
    dz::Variable y = model(x);
    int64_t b = t.shape(0);
    loss += F::softmax_cross_entropy(y, t).template item<double>() * double(b);
    acc += F::accuracy(y, t).template item<double>() * double(b);
    n += b;
  }
  return {loss / double(n), acc / double(n)};
}

} // namespace example
