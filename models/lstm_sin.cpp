// models/lstm_sin.cpp - step 60 of the book: an LSTM learns the noisy sine curve with
// truncated BPTT (length 30) over a SeqDataLoader (batch 30), Adam; then it predicts the
// cosine test curve one step ahead from its own inputs. Each BPTT chunk (30 steps of the
// 30 sequences, backward, unchain_backward, update) is one call of a dz::compile'd
// function; the LSTM's state is carried from chunk to chunk, as eagerly. --eager runs the
// same chunks eagerly.
//
// Usage: lstm_sin [--epochs 100] [--batch-size 30] [--lr 0.001] [--bptt 30] [--eager] [--out DIR]
//                 [--seed 0] [--quiet]
// Expected: the training loss falls below 0.01 (with the default settings); exits non-zero
// otherwise.
#include "common.h"

namespace F = dz::functions;
namespace L = dz::layers;
namespace O = dz::optimizers;

struct BetterRNN : dz::Model {
  L::LSTM rnn{100};
  L::Linear fc{1};
  BetterRNN() {
    register_layer("rnn", rnn);
    register_layer("fc", fc);
  }
  dz::Variable forward(const dz::Variable &x) override { return fc(rnn(x)); }
};

int main(int argc, char **argv) try {
  example::Cli cli("lstm_sin", "Step 60 of the book: an LSTM learns the noisy sine curve with "
                               "truncated BPTT, Adam; then predicts the cosine curve one step "
                               "ahead.");
  cli.epochs(100).batch_size(30).lr(0.001).eager().out().seed().quiet();
  int bptt_length = 30;
  cli.app()
      .add_option("--bptt", bptt_length, "steps of truncated backpropagation through time")
      ->type_name("N")
      ->check(example::Cli::whole<int>(1));
  const example::Options &args = cli.parse(argc, argv);
  dz::manual_seed(args.seed);
  dz::datasets::SinCurve train_set(true);
  dz::SeqDataLoader loader(train_set, args.batch_size);
  BetterRNN model;
  O::Adam optimizer(args.lr);
  optimizer.setup(model);

  // One truncated-BPTT chunk: xs and ts are (steps, 30, 1).
  auto chunk = [&](dz::Variable xs, dz::Variable ts) {
    dz::Variable loss;
    for (int64_t i = 0; i < xs.shape()[0]; ++i) {
      dz::Variable y = model(F::get_item(xs, {i}));
      dz::Variable l = F::mean_squared_error(y, F::get_item(ts, {i}));
      loss = loss.defined() ? loss + l : l;
    }
    model.cleargrads();
    loss.backward();
    loss.unchain_backward();
    optimizer.update();
    return loss;
  };
  auto compiled_chunk = dz::compile(chunk, {.name = "lstm_sin chunk"});

  dz::utils::History history;
  double avg_loss = 0;
  for (int epoch = 1; epoch <= args.epochs; ++epoch) {
    model.reset_state();
    example::Progress bar("epoch " + std::to_string(epoch) + "/" + std::to_string(args.epochs),
                          loader.max_iter(), !args.quiet);
    std::string last_chunk;
    double sum_loss = 0;
    int count = 0, updates = 0;
    std::vector<dz::Tensor> xs, ts;
    for (auto [x, t] : loader) {
      xs.push_back(x.reshape({x.shape()[0], 1}));
      ts.push_back(t.reshape({t.shape()[0], 1}));
      if (++count % bptt_length == 0 || count == int(train_set.size())) {
        dz::Variable x_chunk(dz::stack(xs)), t_chunk(dz::stack(ts));
        dz::Variable loss = args.eager ? chunk(x_chunk, t_chunk) : compiled_chunk(x_chunk, t_chunk);
        sum_loss += loss.item<double>();
        ++updates;
        last_chunk = "chunk loss " + example::fixed(loss.item<double>() / double(xs.size()), 6);
        xs.clear();
        ts.clear();
      }
      bar.step(last_chunk);
    }
    avg_loss = sum_loss / double(count);
    history.record(epoch, {{"loss", avg_loss}});
    if (!args.quiet)
      bar.finish(epoch % 10 == 0 || epoch == 1
                     ? "epoch " + std::to_string(epoch) + "  loss " + example::fixed(avg_loss, 6) +
                           "  (" + std::to_string(updates) + " updates)"
                     : "");
  }
  if (!args.quiet)
    std::printf("training: %s\n", args.eager
                                      ? "eager"
                                      : ("compiled with dz::compile (" +
                                         std::to_string(compiled_chunk.retraces()) + " traces)")
                                            .c_str());

  // One-step-ahead prediction of the cosine curve.
  dz::datasets::SinCurve test_set(false);
  model.reset_state();
  dz::utils::History curve;
  {
    dz::NoGrad no_grad;
    for (int64_t i = 0; i < test_set.size(); ++i) {
      auto [x, t] = test_set[i];
      dz::Variable y = model(x.reshape({1, 1}));
      curve.record(i, {{"cos (target)", t.item<double>()}, {"prediction", y.item<double>()}});
      if (!args.quiet && i % 100 == 0)
        std::printf("  t %4lld  target %+.4f  prediction %+.4f\n", (long long)i, t.item<double>(),
                    y.item<double>());
    }
  }
  example::save_curves(history, args, "lstm_sin_loss", "LSTM on SinCurve: training loss");
  example::save_curves(curve, args, "lstm_sin_prediction", "LSTM prediction of cos(x)",
                       "time step");
  std::printf("final loss %.6f\n", avg_loss);
  if (cli.documented_settings() && !cli.given("--bptt") && avg_loss >= 0.01) {
    std::fprintf(stderr, "lstm_sin: final loss %.6f is not below 0.01\n", avg_loss);
    return 1;
  }
  return 0;
} catch (...) {
  return example::exit_status("lstm_sin");
}
