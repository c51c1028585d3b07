// dzc from several threads: per-thread mode flags, a shared default generator, separate
// trainings (eager and compiled) equal to sequential runs bit for bit, one compiled function
// called from many threads, and the prefetching DataLoader. Built and run under
// ThreadSanitizer by `scripts/test.sh --tsan` (label `threads`).
#include <dzc/dzc.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <latch>
#include <thread>
#include <vector>

namespace F = dz::functions;
namespace L = dz::layers;
namespace M = dz::models;
namespace O = dz::optimizers;
using dz::Tensor;
using dz::Variable;

namespace {

/// Whether dz::compile can load the compiler: built here, or named by
/// $DZ_COMPILER_LIBRARY (the ThreadSanitizer run of CI loads the Release build's).
bool have_compiler() {
  static const bool yes = [] {
    try {
      dz::compile([](Variable x) { return x * 2.0; })(Tensor::scalar(1.0));
      return true;
    } catch (const dz::Error &) {
      return false;
    }
  }();
  return yes;
}
#define SKIP_WITHOUT_COMPILER()                                                                    \
  if (!have_compiler())                                                                            \
  GTEST_SKIP() << "dz::compile cannot load the compiler (built with DZ_BUILD_COMPILER=OFF)"

/// Bitwise equality of two tensors (NaN payloads and signed zeros included).
::testing::AssertionResult same_bits(const Tensor &a, const Tensor &b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype())
    return ::testing::AssertionFailure()
           << "shape/dtype " << dz::shape_str(a.shape()) << " " << dz::dtype_name(a.dtype())
           << " vs " << dz::shape_str(b.shape()) << " " << dz::dtype_name(b.dtype());
  if (a.nbytes() && std::memcmp(a.raw(), b.raw(), a.nbytes()) != 0) {
    std::vector<double> x = a.to_vector(), y = b.to_vector();
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i)
      worst = std::max(worst, std::abs(x[i] - y[i]));
    return ::testing::AssertionFailure() << "values differ, max |a - b| = " << worst;
  }
  return ::testing::AssertionSuccess();
}

/// Runs fn(0), ..., fn(n - 1) on n threads at once and joins them; an exception in a
/// thread fails the test with its message.
void run_threads(int n, const std::function<void(int)> &fn) {
  std::vector<std::thread> threads;
  std::vector<std::string> errors(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      try {
        fn(i);
      } catch (const std::exception &e) {
        errors[size_t(i)] = e.what();
      }
    });
  for (auto &t : threads)
    t.join();
  for (int i = 0; i < n; ++i)
    EXPECT_EQ(errors[size_t(i)], "") << "thread " << i;
}

/// A classification problem: x (n, in) float64 from its own generator, labels i % classes.
struct Problem {
  Tensor x, t;
};
Problem problem(int64_t n, int64_t in, int64_t classes, uint64_t seed) {
  dz::Generator gen(seed);
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < n; ++i)
    labels.push_back(i % classes);
  return {dz::randn({n, in}, dz::f64, gen), Tensor::from_i64(labels)};
}

/// An MLP whose weights exist (made by a first forward in the calling thread, from the
/// default generator seeded with `seed`): two calls give two models with equal weights.
M::MLP made_mlp(uint64_t seed, std::vector<int64_t> sizes, const Tensor &example) {
  dz::manual_seed(seed);
  M::MLP model(std::move(sizes));
  dz::NoGrad no_grad;
  model(example);
  return model;
}

std::vector<Tensor> weights(M::MLP &model) {
  std::vector<Tensor> w;
  for (auto &p : model.params())
    w.push_back(p.data().copy());
  return w;
}

/// Eager Adam training of `model` on `pb` for `steps` steps; returns how many steps left
/// some parameter without a gradient after backward().
int train_eager(M::MLP &model, const Problem &pb, int steps) {
  O::Adam opt;
  opt.setup(model);
  int missing = 0;
  for (int s = 0; s < steps; ++s) {
    Variable loss = F::softmax_cross_entropy(model(pb.x), pb.t);
    model.cleargrads();
    loss.backward();
    bool all = true;
    for (auto &p : model.params())
      all = all && p.has_grad();
    missing += all ? 0 : 1;
    opt.update();
  }
  return missing;
}

// ---- mode flags ----------------------------------------------------------------------------

TEST(ThreadConfig, ANewThreadStartsFromTheDefaults) {
  dz::NoGrad no_grad;
  dz::TestMode test_mode;
  bool backprop = false, train = false;
  std::thread([&] {
    backprop = dz::Config::enable_backprop();
    train = dz::Config::train();
  }).join();
  EXPECT_TRUE(backprop);
  EXPECT_TRUE(train);
  EXPECT_FALSE(dz::Config::enable_backprop()); // this thread's guards still hold
  EXPECT_FALSE(dz::Config::train());
}

TEST(ThreadConfig, AGuardInAnotherThreadDoesNotStopThisThreadsGraph) {
  // Thread A holds NoGrad and TestMode for the whole of thread B's training step.
  const Problem pb = problem(16, 4, 3, 1);
  M::MLP model = made_mlp(0, {8, 3}, pb.x);
  std::latch guards_on(1), step_done(1);
  bool a_flags_held = false;
  std::thread a([&] {
    dz::NoGrad no_grad;
    dz::TestMode test_mode;
    guards_on.count_down();
    step_done.wait();
    a_flags_held = !dz::Config::enable_backprop() && !dz::Config::train();
  });
  guards_on.wait();
  const bool b_flags = dz::Config::enable_backprop() && dz::Config::train();
  Variable loss = F::softmax_cross_entropy(model(pb.x), pb.t);
  model.cleargrads();
  loss.backward();
  std::vector<std::string> without;
  for (auto &p : model.params())
    if (!p.has_grad())
      without.push_back(p.name());
  step_done.count_down();
  a.join();
  EXPECT_TRUE(b_flags);
  EXPECT_TRUE(a_flags_held); // and B's backward pass did not switch A's flags either
  EXPECT_TRUE(without.empty()) << without.size() << " parameters without a gradient";
}

TEST(ThreadConfig, TrainingNextToNoGradInferenceGetsEveryGradient) {
  // B trains while A runs inference under NoGrad/TestMode in a loop on its own model; each
  // of B's steps must give every parameter a gradient, and B's weights must equal those of
  // the same training run alone.
  const Problem pb = problem(32, 6, 3, 2);
  const int steps = 150;
  M::MLP alone = made_mlp(1, {16, 3}, pb.x);
  ASSERT_EQ(train_eager(alone, pb, steps), 0);

  M::MLP trained = made_mlp(1, {16, 3}, pb.x);
  M::MLP inferring = made_mlp(2, {16, 3}, pb.x);
  std::atomic<bool> done{false};
  std::atomic<int> inferences{0};
  int missing = -1;
  run_threads(2, [&](int i) {
    if (i == 0) {
      while (!done.load()) {
        dz::NoGrad no_grad;
        dz::TestMode test_mode;
        Variable y = inferring(pb.x);
        if (y.creator())
          throw std::runtime_error("a graph was recorded under NoGrad");
        inferences.fetch_add(1);
      }
    } else {
      missing = train_eager(trained, pb, steps);
      done.store(true);
    }
  });
  EXPECT_GT(inferences.load(), 0);
  EXPECT_EQ(missing, 0) << "of " << steps << " steps left a parameter without a gradient";
  std::vector<Tensor> a = weights(alone), b = weights(trained);
  for (size_t k = 0; k < a.size(); ++k)
    EXPECT_TRUE(same_bits(a[k], b[k])) << "parameter " << k;
}

// ---- separate trainings ---------------------------------------------------------------------

TEST(ThreadTraining, TwoEagerTrainingsEqualTheSequentialRunsBitwise) {
  // Adam, float64, 300 steps each, as two threads and one after the other.
  const Problem p0 = problem(32, 8, 4, 10), p1 = problem(32, 8, 4, 11);
  const int steps = 300;
  std::vector<std::vector<Tensor>> sequential;
  for (int i = 0; i < 2; ++i) {
    M::MLP m = made_mlp(20 + uint64_t(i), {16, 4}, p0.x);
    EXPECT_EQ(train_eager(m, i ? p1 : p0, steps), 0);
    sequential.push_back(weights(m));
  }
  std::vector<M::MLP> models{made_mlp(20, {16, 4}, p0.x), made_mlp(21, {16, 4}, p0.x)};
  std::vector<int> missing(2, -1);
  run_threads(
      2, [&](int i) { missing[size_t(i)] = train_eager(models[size_t(i)], i ? p1 : p0, steps); });
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(missing[size_t(i)], 0) << "thread " << i;
    std::vector<Tensor> w = weights(models[size_t(i)]);
    for (size_t k = 0; k < w.size(); ++k)
      EXPECT_TRUE(same_bits(w[k], sequential[size_t(i)][k]))
          << "thread " << i << " parameter " << k;
  }
}

/// Trains `model` through its own dz::compile'd step; returns every step's loss.
std::vector<double> train_compiled(M::MLP &model, const Problem &pb, int steps) {
  O::Adam opt;
  opt.setup(model);
  auto step = dz::compile([&](Variable x, Variable t) {
    Variable loss = F::softmax_cross_entropy(model(x), t);
    model.cleargrads();
    loss.backward();
    opt.update();
    return loss;
  });
  std::vector<double> losses;
  for (int s = 0; s < steps; ++s)
    losses.push_back(step(pb.x, pb.t).item<double>());
  if (step.retraces() != 1)
    throw std::runtime_error("traced " + std::to_string(step.retraces()) + " times");
  return losses;
}

TEST(ThreadTraining, TwoCompiledTrainingsEqualTheSequentialRunsBitwise) {
  SKIP_WITHOUT_COMPILER();
  // Each thread traces, compiles and runs its own step at the same time as the other.
  const Problem p0 = problem(32, 8, 4, 12), p1 = problem(32, 8, 4, 13);
  const int steps = 40;
  std::vector<std::vector<Tensor>> sequential;
  std::vector<std::vector<double>> sequential_losses;
  for (int i = 0; i < 2; ++i) {
    M::MLP m = made_mlp(30 + uint64_t(i), {16, 4}, p0.x);
    sequential_losses.push_back(train_compiled(m, i ? p1 : p0, steps));
    sequential.push_back(weights(m));
  }
  std::vector<M::MLP> models{made_mlp(30, {16, 4}, p0.x), made_mlp(31, {16, 4}, p0.x)};
  std::vector<std::vector<double>> losses(2);
  run_threads(
      2, [&](int i) { losses[size_t(i)] = train_compiled(models[size_t(i)], i ? p1 : p0, steps); });
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(losses[size_t(i)], sequential_losses[size_t(i)]) << "thread " << i;
    std::vector<Tensor> w = weights(models[size_t(i)]);
    for (size_t k = 0; k < w.size(); ++k)
      EXPECT_TRUE(same_bits(w[k], sequential[size_t(i)][k]))
          << "thread " << i << " parameter " << k;
  }
}

// ---- random numbers -------------------------------------------------------------------------

TEST(ThreadRandom, ConcurrentDrawsFromTheDefaultGeneratorNeverShareACounter) {
  // 4 threads x 200 draws of 8 float64 (2 counters each) from the shared generator take
  // exactly the draws one thread would take, in some order: none repeated, none lost.
  const int threads = 4, draws = 200;
  dz::manual_seed(123);
  std::vector<std::vector<std::vector<double>>> got(threads);
  run_threads(threads, [&](int i) {
    for (int k = 0; k < draws; ++k)
      got[size_t(i)].push_back(dz::rand({8}, dz::f64).to_vector());
  });
  EXPECT_EQ(dz::default_generator().offset(), uint64_t(threads * draws * 2));
  std::vector<std::vector<double>> all, expected;
  for (auto &g : got)
    all.insert(all.end(), g.begin(), g.end());
  dz::Generator one(123);
  for (int k = 0; k < threads * draws; ++k)
    expected.push_back(dz::rand({8}, dz::f64, one).to_vector());
  std::sort(all.begin(), all.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_TRUE(all == expected);
}

TEST(ThreadRandom, DropoutWithItsOwnGeneratorPerThreadIsReproducible) {
  const Tensor x = dz::ones({64, 32}, dz::f64);
  const int calls = 30;
  auto masks = [&](uint64_t seed) {
    dz::Generator gen(seed);
    std::vector<Tensor> out;
    for (int k = 0; k < calls; ++k)
      out.push_back(F::dropout(Variable(x), 0.4, gen).data());
    return out;
  };
  std::vector<std::vector<Tensor>> sequential{masks(5), masks(6)}, threaded(2);
  run_threads(2, [&](int i) { threaded[size_t(i)] = masks(5 + uint64_t(i)); });
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < calls; ++k)
      ASSERT_TRUE(same_bits(threaded[size_t(i)][size_t(k)], sequential[size_t(i)][size_t(k)]))
          << "thread " << i << " call " << k;
  EXPECT_FALSE(same_bits(sequential[0][0], sequential[1][0])); // the seeds matter
}

TEST(ThreadRandom, CompiledDropoutWithItsOwnGeneratorPerThreadIsReproducible) {
  SKIP_WITHOUT_COMPILER();
  const Tensor x = dz::ones({64, 32}, dz::f64);
  const int calls = 10;
  auto masks = [&](uint64_t seed) {
    dz::Generator gen(seed);
    auto f = dz::compile([&](Variable v) { return F::dropout(v, 0.4, gen); });
    std::vector<Tensor> out;
    for (int k = 0; k < calls; ++k)
      out.push_back(f(x).data().copy());
    return out;
  };
  std::vector<std::vector<Tensor>> sequential{masks(7), masks(8)}, threaded(2);
  run_threads(2, [&](int i) { threaded[size_t(i)] = masks(7 + uint64_t(i)); });
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < calls; ++k)
      ASSERT_TRUE(same_bits(threaded[size_t(i)][size_t(k)], sequential[size_t(i)][size_t(k)]))
          << "thread " << i << " call " << k;
}

// ---- one compiled function, many threads ----------------------------------------------------

TEST(ThreadCompiled, EightThreadsCallOneCompiledInferenceFunction) {
  SKIP_WITHOUT_COMPILER();
  const Problem pb = problem(16, 8, 4, 3);
  M::MLP model = made_mlp(40, {32, 4}, pb.x);
  auto infer = dz::compile([&](Variable x) { return F::softmax(model(x), 1); });
  const int threads = 8, calls = 12;
  auto input = [](int i, int k) { return dz::randn({16, 8}, dz::f64, uint64_t(100 * i + k)); };
  std::vector<std::vector<Tensor>> expected(threads);
  {
    dz::NoGrad no_grad;
    dz::TestMode test_mode;
    for (int i = 0; i < threads; ++i)
      for (int k = 0; k < calls; ++k)
        expected[size_t(i)].push_back(infer(input(i, k)).data().copy());
  }
  ASSERT_EQ(infer.retraces(), 1);
  std::vector<std::vector<Tensor>> got(threads);
  std::latch start(threads);
  run_threads(threads, [&](int i) {
    dz::NoGrad no_grad; // this thread's flags: the same signature as the first call's
    dz::TestMode test_mode;
    start.arrive_and_wait();
    for (int k = 0; k < calls; ++k)
      got[size_t(i)].push_back(infer(input(i, k)).data().copy());
  });
  EXPECT_EQ(infer.retraces(), 1);
  for (int i = 0; i < threads; ++i)
    for (int k = 0; k < calls; ++k)
      ASSERT_TRUE(same_bits(got[size_t(i)][size_t(k)], expected[size_t(i)][size_t(k)]))
          << "thread " << i << " call " << k;
}

TEST(ThreadCompiled, RacingFirstCallsTraceOnce) {
  SKIP_WITHOUT_COMPILER();
  const Problem pb = problem(16, 8, 4, 4);
  M::MLP model = made_mlp(41, {32, 4}, pb.x);
  auto body = [&](Variable x) { return F::tanh(model(x)) * 2.0; };
  auto reference = dz::compile(body);
  const Tensor expected = reference(pb.x).data().copy();

  auto racing = dz::compile(body);
  const int threads = 8;
  std::vector<Tensor> got(threads);
  std::latch start(threads);
  run_threads(threads, [&](int i) {
    start.arrive_and_wait();
    got[size_t(i)] = racing(pb.x).data().copy();
  });
  EXPECT_EQ(racing.retraces(), 1);
  for (int i = 0; i < threads; ++i)
    EXPECT_TRUE(same_bits(got[size_t(i)], expected)) << "thread " << i;
}

// ---- files ---------------------------------------------------------------------------------

TEST(ThreadFiles, SavesToOnePathFromSeveralThreadsLeaveOneWholeFile) {
  // Each save goes through a temporary file and a rename: four threads saving to the same
  // path never fail and leave exactly one thread's array.
  const std::string path = "threads_same_path.npy";
  const int threads = 4, saves = 25;
  std::vector<Tensor> arrays;
  for (int i = 0; i < threads; ++i)
    arrays.push_back(dz::full({1000 + 100 * i}, double(i), dz::f64));
  run_threads(threads, [&](int i) {
    for (int k = 0; k < saves; ++k)
      dz::save_npy(path, arrays[size_t(i)]);
  });
  const Tensor back = dz::load_npy(path);
  int matches = 0;
  for (const Tensor &a : arrays)
    matches += same_bits(back, a) ? 1 : 0;
  EXPECT_EQ(matches, 1);
}

// ---- prefetching DataLoader -----------------------------------------------------------------

std::vector<dz::Batch> epochs(dz::DataLoader &loader, int n) {
  std::vector<dz::Batch> out;
  for (int e = 0; e < n; ++e)
    for (auto b : loader)
      out.push_back(b);
  return out;
}

void expect_same_batches(const std::vector<dz::Batch> &a, const std::vector<dz::Batch> &b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(same_bits(a[i].first, b[i].first)) << "batch " << i;
    EXPECT_TRUE(same_bits(a[i].second, b[i].second)) << "batch " << i;
  }
}

TEST(Prefetch, GivesTheSameBatchesInTheSameOrderAsWithout) {
  dz::datasets::Spiral train(true);
  for (int64_t depth : {1, 3, 50}) {
    dz::DataLoader plain(train, 32, true, 7), ahead(train, 32, true, 7, {.prefetch = depth});
    EXPECT_EQ(ahead.prefetch(), depth);
    expect_same_batches(epochs(ahead, 3), epochs(plain, 3));
    EXPECT_EQ(ahead.order(), plain.order());
  }
  dz::datasets::SinCurve curve(true);
  dz::SeqDataLoader seq_plain(curve, 30), seq_ahead(curve, 30, {.prefetch = 2});
  expect_same_batches(epochs(seq_ahead, 2), epochs(seq_plain, 2));
}

TEST(Prefetch, NextBreakAndCopyFollowThePlainLoader) {
  dz::datasets::Spiral train(true);
  dz::DataLoader plain(train, 40, true, 3), ahead(train, 40, true, 3, {.prefetch = 2});
  // next() across an epoch boundary.
  for (int k = 0; k < 12; ++k) {
    std::optional<dz::Batch> a = ahead.next(), p = plain.next();
    ASSERT_EQ(a.has_value(), p.has_value()) << k;
    if (a) {
      EXPECT_TRUE(same_bits(a->first, p->first)) << k;
      EXPECT_TRUE(same_bits(a->second, p->second)) << k;
    }
  }
  // Leaving a loop early, then a full epoch.
  for (dz::DataLoader *l : {&plain, &ahead})
    for (auto b : *l) {
      (void)b;
      break;
    }
  expect_same_batches(epochs(ahead, 1), epochs(plain, 1));
  // A copy made mid-epoch continues where the original is.
  ahead.reset(), plain.reset();
  (void)ahead.next(), (void)plain.next();
  dz::DataLoader copy = ahead;
  std::vector<dz::Batch> a, p;
  while (auto b = copy.next())
    a.push_back(*b);
  while (auto b = plain.next())
    p.push_back(*b);
  expect_same_batches(a, p);
}

TEST(Prefetch, AnErrorFromATransformReachesTheLoopAtItsBatch) {
  // Samples 0..9 in order, batches of 2: the transform throws for sample 5 (batch 2).
  dz::datasets::Dataset ds(dz::arange(10, dz::f64).reshape({10, 1}), std::nullopt, true,
                           [](const Tensor &x) {
                             if (x.at(0) == 5)
                               throw dz::Error("transform: sample 5 is bad");
                             return x;
                           });
  dz::DataLoader loader(ds, 2, false, 0, {.prefetch = 3});
  int k = 0;
  auto it = loader.begin();
  for (; k < 2; ++k, ++it)
    EXPECT_EQ((*it).first.at(0), 2.0 * k);
  EXPECT_THROW(*it, dz::Error);
  ++it;
  EXPECT_EQ((*it).first.at(0), 6.0); // the loop may go on after the error
}

TEST(Prefetch, ALoaderDestroyedMidEpochStopsItsThread) {
  dz::datasets::Spiral train(true);
  for (int k = 0; k < 20; ++k) {
    dz::DataLoader loader(train, 10, true, uint64_t(k), {.prefetch = 4});
    auto it = loader.begin();
    (void)*it;
  }
}

TEST(Prefetch, ANegativeDepthIsAnError) {
  dz::datasets::Spiral train(true);
  try {
    dz::DataLoader loader(train, 10, true, 0, {.prefetch = -1});
    FAIL() << "no error";
  } catch (const dz::Error &e) {
    EXPECT_NE(std::string(e.what()).find("prefetch"), std::string::npos) << e.what();
  }
}

} // namespace
