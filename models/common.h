// models/common.h - what the example programs that train share: the command line
// (cli.h), the progress of an epoch (progress.h), the training step of a classifier
// (compiled with dz::compile unless --eager), the end-of-run report (CSV + SVG curves) and
// subsets of a data set for short runs.
#pragma once

#include "cli.h"
#include "progress.h"

#include <dzc/dzc.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace example {

/// A number as %g writes it ("1", "0.001"), for titles and messages.
inline std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

/// Writes <out>/<name>.csv and <out>/<name>.svg and says where they are.
inline void save_curves(const dz::utils::History &h, const Options &a, const std::string &name,
                        const std::string &title, const std::string &x_label = "epoch") {
  h.save_csv(a.out + "/" + name + ".csv");
  dz::utils::SvgOptions plot;
  plot.x_label = x_label;
  h.save_svg(a.out + "/" + name + ".svg", title, plot);
  std::printf("curves: %s/%s.csv, %s/%s.svg\n", a.out.c_str(), name.c_str(), a.out.c_str(),
              name.c_str());
}

/// Every rank's sums added up, when `loader` is one rank's shard of a data-parallel job.
inline void sum_over_ranks(const dz::DataLoader &loader, double &a, double &b, int64_t &n) {
  if (loader.world_size() == 1)
    return;
  dz::Tensor s = dz::Tensor::from({a, b, double(n)}, {3});
  dz::distributed::all_reduce(s);
  a = s.at(0);
  b = s.at(1);
  n = int64_t(s.at(2));
}

/// Trains a classifier: forward, softmax cross entropy, backward, update for every batch,
/// the step compiled with dz::compile (traced once per batch shape) or run eagerly. With a
/// DataParallel, the gradients are averaged over the ranks between backward and update
/// (then only forward and backward are compiled), and epoch() reports all ranks' means.
template <typename Model, typename Optimizer> class Trainer {
public:
  Trainer(Model &model, Optimizer &optimizer, bool compiled,
          dz::distributed::DataParallel *dp = nullptr) {
    auto body = [&model, &optimizer, dp](dz::Variable x, dz::Variable t) {
      dz::Variable y = model(x);
      dz::Variable loss = dz::functions::softmax_cross_entropy(y, t);
      model.cleargrads();
      loss.backward();
      if (!dp)
        optimizer.update();
      return std::vector<dz::Variable>{loss, y};
    };
    if (dp)
      after_ = [&model, &optimizer, dp](int64_t batch) {
        if (batch == 0) // an empty last batch of this shard: no gradient, but the exchange
          model.cleargrads();
        dp->all_reduce_grads();
        optimizer.update();
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

  /// One epoch; the mean loss and accuracy over its samples. Steps `progress` (when given)
  /// after every batch, with the batch loss.
  std::pair<double, double> epoch(dz::DataLoader &loader, Progress *progress = nullptr) {
    namespace F = dz::functions;
    double loss_sum = 0, acc_sum = 0;
    int64_t n = 0;
    for (auto [x, t] : loader) {
      const int64_t b = t.shape(0);
      double loss = 0;
      if (b > 0) {
        std::vector<dz::Variable> out = step_(x, t);
        loss = out[0].template item<double>();
        loss_sum += loss * double(b);
        acc_sum += F::accuracy(out[1], t).template item<double>() * double(b);
        n += b;
      }
      if (after_)
        after_(b);
      if (progress)
        progress->step("loss " + fixed(loss));
    }
    sum_over_ranks(loader, loss_sum, acc_sum, n);
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
  std::function<void(int64_t)> after_; // the gradients' exchange and the update (DataParallel)
};

/// --min-accuracy X: a program that trains a classifier exits 1 when its final accuracy is
/// below X (for short runs, whose result is not the documented one).
inline void min_accuracy_option(Cli &cli, double &min_accuracy) {
  cli.app()
      .add_option("--min-accuracy", min_accuracy,
                  "exit 1 when the final test accuracy is below X (0: only the documented check)")
      ->type_name("X")
      ->check(CLI::Range(0.0, 1.0).description(""));
}

/// The first `n` samples of `ds` (all of them when n <= 0 or n >= its size), with its
/// transforms: for short runs and tests.
inline dz::datasets::Dataset first_samples(const dz::datasets::Dataset &ds, int64_t n) {
  if (n <= 0 || n >= ds.size())
    return ds;
  return dz::datasets::Dataset(ds.data()[{dz::Slice(0, n)}], ds.label()[{dz::Slice(0, n)}],
                               ds.train(), ds.transform(), ds.target_transform());
}

/// Mean loss and accuracy of `model` over a loader, in test mode without a graph (over all
/// ranks' shards when the loader is one).
template <typename Model> std::pair<double, double> evaluate(Model &model, dz::DataLoader &loader) {
  namespace F = dz::functions;
  dz::NoGrad no_grad;
  dz::TestMode test_mode;
  double loss = 0, acc = 0;
  int64_t n = 0;
  for (auto [x, t] : loader) {
    int64_t b = t.shape(0);
    if (b == 0)
      continue;
    dz::Variable y = model(x);
    loss += F::softmax_cross_entropy(y, t).template item<double>() * double(b);
    acc += F::accuracy(y, t).template item<double>() * double(b);
    n += b;
  }
  sum_over_ranks(loader, loss, acc, n);
  return {loss / double(n), acc / double(n)};
}

} // namespace example
