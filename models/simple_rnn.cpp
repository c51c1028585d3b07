// models/simple_rnn.cpp - step 59 of the book: a SimpleRNN (L::RNN(100) + L::Linear(1))
// learns the noisy sine curve one point at a time, eagerly, with truncated BPTT (length 30:
// backward, unchain_backward and an Adam update every 30 steps); then it predicts the
// cosine curve one step ahead and the prediction is plotted.
//
// Usage: simple_rnn [--epochs 100] [--lr 0.001] [--bptt 30] [--hidden 100] [--max-loss X]
//                   [--out DIR] [--seed 0] [--quiet]
// Prints the book's "| epoch N | loss L" lines. Expected: the last epoch's loss below
// 0.01 (with the default settings), or below --max-loss when given; exits non-zero otherwise.
#include "common.h"
#include "plot.h"

#include <cmath>
#include <numbers>

namespace F = dz::functions;
namespace L = dz::layers;
namespace O = dz::optimizers;

namespace {

struct SimpleRNN : dz::Model {
  L::RNN rnn;
  L::Linear fc;
  SimpleRNN(int64_t hidden, int64_t out) : rnn(hidden), fc(out) {
    register_layer("rnn", rnn);
    register_layer("fc", fc);
  }
  dz::Variable forward(const dz::Variable &x) override { return fc(rnn(x)); }
};

} // namespace

int main(int argc, char **argv) try {
  example::Cli cli("simple_rnn", "Step 59 of the book: a SimpleRNN learns the noisy sine curve "
                                 "with truncated BPTT, then predicts the cosine curve.");
  cli.epochs(100).lr(0.001).out().seed().quiet();
  int bptt_length = 30;
  int64_t hidden = 100;
  double max_loss = 0;
  cli.app()
      .add_option("--bptt", bptt_length, "steps of truncated backpropagation through time")
      ->type_name("N")
      ->check(example::Cli::whole<int>(1));
  cli.app()
      .add_option("--hidden", hidden, "units of the RNN")
      ->type_name("N")
      ->check(example::Cli::whole<int64_t>(1));
  cli.app()
      .add_option("--max-loss", max_loss, "exit 1 unless the last epoch's loss is below X")
      ->type_name("X")
      ->check(example::Cli::finite_positive());
  const example::Options &args = cli.parse(argc, argv);
  dz::manual_seed(args.seed);
  const dz::datasets::SinCurve train_set(true);
  const int64_t seqlen = train_set.size();
  SimpleRNN model(hidden, 1);
  O::Adam optimizer(args.lr);
  optimizer.setup(model);

  dz::utils::History history;
  double avg_loss = 0;
  for (int epoch = 1; epoch <= args.epochs; ++epoch) {
    model.reset_state();
    dz::Variable loss(dz::Tensor::scalar(0.0, dz::f32));
    double total = 0; // the book's loss.data: the sum over the epoch
    int64_t count = 0;
    for (int64_t i = 0; i < seqlen; ++i) {
      auto [x, t] = train_set[i];
      dz::Variable y = model(dz::Variable(x.reshape({1, 1})));
      loss = loss + F::mean_squared_error(y, dz::Variable(t.reshape({1, 1})));
      ++count;
      if (count % bptt_length == 0 || count == seqlen) {
        model.cleargrads();
        loss.backward();
        loss.unchain_backward();
        optimizer.update();
        total += loss.item<double>();
        loss = dz::Variable(dz::Tensor::scalar(0.0, dz::f32));
      }
    }
    avg_loss = total / double(count);
    history.record(epoch, {{"loss", avg_loss}});
    if (!args.quiet)
      std::printf("| epoch %d | loss %f\n", epoch, avg_loss);
  }

  // One step ahead on cos(x) over [0, 4 pi], from the model's own state.
  example::Series target{"cos (input)", {}, {}}, pred{"prediction", {}, {}};
  {
    dz::NoGrad no_grad;
    model.reset_state();
    const dz::Tensor xs = dz::linspace(0, 4 * std::numbers::pi, 1000, dz::f32);
    for (int64_t i = 0; i < xs.size(); ++i) {
      const double v = xs.at(i);
      dz::Variable y = model(dz::Variable(dz::Tensor::from({std::cos(v)}, {1, 1}, dz::f32)));
      target.x.push_back(double(i));
      target.y.push_back(std::cos(v));
      pred.x.push_back(double(i));
      pred.y.push_back(y.item<double>());
    }
  }
  example::save_curves(history, args, "simple_rnn_loss", "SimpleRNN on SinCurve: loss per epoch");
  const std::string svg = args.out + "/simple_rnn_prediction.svg";
  example::save_xy_svg(svg, "SimpleRNN: one step ahead on cos(x)", {target, pred}, "time step");
  std::printf("prediction: %s\n", svg.c_str());
  std::printf("final loss %.6f\n", avg_loss);
  const double limit = max_loss > 0 ? max_loss : cli.documented_settings() ? 0.01 : INFINITY;
  if (!(avg_loss < limit)) {
    std::fprintf(stderr, "simple_rnn: final loss %.6f is not below %g\n", avg_loss, limit);
    return 1;
  }
  return 0;
} catch (...) {
  return example::exit_status("simple_rnn");
}
