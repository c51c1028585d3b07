// dz::distributed under mpirun (-np 2 and -np 3, tests/distributed/run_mpi.sh) and without a
// launcher (a world of one): every rank runs every test, in the same order, so each
// collective is matched on every rank.
#include <dzc/device_backend.h>
#include <dzc/dzc.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

using namespace dz;
namespace D = dz::distributed;
namespace F = dz::functions;
namespace L = dz::layers;

namespace {

/// Element i of rank r's input: distinct per rank and element, exact in every dtype.
double value(int r, int64_t i, DType dt) {
  const double v = double((i * 7 + r * 3) % 23) - 11;
  return dt == u8 ? double((i + r) % 50) : v;
}

Tensor rank_tensor(int r, int64_t n, DType dt) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[size_t(i)] = value(r, i, dt);
  return Tensor::from(v, {n}, dt);
}

} // namespace

TEST(Distributed, WorldMatchesTheLauncher) {
  const char *size = std::getenv("OMPI_COMM_WORLD_SIZE");
  EXPECT_EQ(D::world_size(), size ? std::atoi(size) : 1);
  EXPECT_GE(D::rank(), 0);
  EXPECT_LT(D::rank(), D::world_size());
  if (size) {
    EXPECT_NE(D::backend().find("OpenMPI"), std::string::npos) << D::backend();
  }
}

TEST(Distributed, AllReduceAgreesWithHandComputedSums) {
  const int w = D::world_size(), r = D::rank();
  for (DType dt : {f32, f64, i32, i64, u8})
    for (int64_t n : {int64_t(0), int64_t(1), int64_t(7), int64_t(1000), int64_t(100003)})
      for (D::ReduceOp op : {D::ReduceOp::Sum, D::ReduceOp::Mean, D::ReduceOp::Max}) {
        if (op == D::ReduceOp::Mean && dt != f32 && dt != f64)
          continue;
        SCOPED_TRACE(std::string(dtype_name(dt)) + " n=" + std::to_string(n) +
                     " op=" + std::to_string(int(op)));
        Tensor t = rank_tensor(r, n, dt);
        D::all_reduce(t, op);
        ASSERT_EQ(t.shape(), (Shape{n}));
        ASSERT_EQ(t.dtype(), dt);
        for (int64_t i = 0; i < n; ++i) {
          double want = op == D::ReduceOp::Max ? -1e300 : 0;
          for (int k = 0; k < w; ++k)
            want =
                op == D::ReduceOp::Max ? std::max(want, value(k, i, dt)) : want + value(k, i, dt);
          if (op == D::ReduceOp::Mean)
            want /= w;
          if (dt == u8)
            want = double(uint8_t(int64_t(want)));
          if (dt == f32)
            ASSERT_FLOAT_EQ(float(t.at(i)), float(want)) << i;
          else
            ASSERT_EQ(t.at(i), want) << i;
        }
      }
}

TEST(Distributed, BoolMaxIsAnyAndIntegerMeanIsRefused) {
  Tensor b = Tensor::from({0, double(D::rank() == D::world_size() - 1)}, {2}, b8);
  D::all_reduce(b, D::ReduceOp::Max);
  EXPECT_EQ(b.to_vector(), (std::vector<double>{0, 1}));
  EXPECT_THROW(D::all_reduce(b, D::ReduceOp::Sum), Error);
  Tensor i = Tensor::from_i64({1, 2});
  try {
    D::all_reduce(i, D::ReduceOp::Mean);
    FAIL() << "integer Mean accepted";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("ReduceOp::Sum"), std::string::npos) << e.what();
  }
}

TEST(Distributed, BroadcastFromEveryRoot) {
  for (int root = 0; root < D::world_size(); ++root)
    for (DType dt : {f32, f64, i64}) {
      Tensor t = rank_tensor(D::rank(), 33, dt);
      D::broadcast(t, root);
      EXPECT_EQ(t.to_vector(), rank_tensor(root, 33, dt).to_vector());
    }
  Tensor t = Tensor::from({1}, {1});
  EXPECT_THROW(D::broadcast(t, D::world_size()), Error);
  D::barrier();
}

// CUDA tensors: NCCL on a GPU; on the host emulation of the device (DZ_CUDA_EMULATION=1,
// set by ctest) through host memory and MPI. Skips, saying why, where neither exists.
TEST(Distributed, CudaTensorsReduceAndBroadcast) {
  try {
    device_backend(Device::cuda());
  } catch (const Error &e) {
    GTEST_SKIP() << "no CUDA device: " << e.what();
  }
  const int w = D::world_size(), r = D::rank();
  for (DType dt : {f32, f64, i64}) {
    Tensor t = rank_tensor(r, 1001, dt).to(Device::cuda());
    D::all_reduce(t, D::ReduceOp::Sum);
    ASSERT_FALSE(t.device().is_cpu());
    const std::vector<double> got = t.to(Device::cpu()).to_vector();
    for (int64_t i = 0; i < 1001; ++i) {
      double want = 0;
      for (int k = 0; k < w; ++k)
        want += value(k, i, dt);
      ASSERT_EQ(got[size_t(i)], want) << dtype_name(dt) << " " << i;
    }
    Tensor b = rank_tensor(r, 17, dt).to(Device::cuda());
    D::broadcast(b, w - 1);
    EXPECT_EQ(b.to(Device::cpu()).to_vector(), rank_tensor(w - 1, 17, dt).to_vector());
  }
}

namespace {

/// A two-layer float64 MLP with its weights drawn from `seed`.
class TwoLayer : public Model {
public:
  explicit TwoLayer(uint64_t seed, int64_t hidden = 6) {
    manual_seed(seed);
    l1 = L::Linear(hidden, {.in_size = 3, .dtype = f64});
    l2 = L::Linear(4, {.in_size = hidden, .dtype = f64});
    register_layer("l1", l1);
    register_layer("l2", l2);
  }
  Variable forward(const Variable &x) override { return l2(F::tanh(l1(x))); }
  using Layer::forward;
  L::Linear l1{1}, l2{1};
};

datasets::Dataset data(int64_t n) {
  manual_seed(99);
  Tensor x = randn({n, 3}, f64);
  std::vector<int64_t> t;
  for (int64_t i = 0; i < n; ++i)
    t.push_back((i * 5) % 4);
  return datasets::Dataset(x, Tensor::from_i64(t, {n}));
}

std::vector<Tensor> weights(const Layer &m) {
  std::vector<Tensor> w;
  for (const Parameter &p : m.params())
    w.push_back(p.data().copy());
  return w;
}

void expect_close(const std::vector<Tensor> &a, const std::vector<Tensor> &b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t k = 0; k < a.size(); ++k) {
    ASSERT_EQ(a[k].shape(), b[k].shape());
    for (int64_t i = 0; i < a[k].size(); ++i)
      ASSERT_NEAR(a[k].at(i), b[k].at(i), tol) << "parameter " << k << " element " << i;
  }
}

/// One process training on the union of the shards: batches of W * B.
std::vector<Tensor> reference(int64_t n, int64_t b, int steps) {
  TwoLayer ref(1); // rank 0's initial weights
  optimizers::SGD opt(0.1);
  opt.setup(ref);
  DataLoader loader(data(n), b * D::world_size(), true, 1234);
  loader.reset();
  for (int s = 0; s < steps; ++s) {
    auto [x, t] = *loader.next();
    Variable loss = F::softmax_cross_entropy(ref(Variable(x)), Variable(t));
    ref.cleargrads();
    loss.backward();
    opt.update();
  }
  return weights(ref);
}

} // namespace

TEST(Distributed, TenSgdStepsEqualOneProcessOnTheUnionOfShards) {
  const int64_t n = 120, b = 4; // 120 = 10 steps of 12 at 3 ranks, 15 of 8 at 2
  // Each rank starts from other weights: DataParallel broadcasts rank 0's.
  TwoLayer model(uint64_t(D::rank()) + 1);
  D::DataParallel dp(model, {.bucket_bytes = 200}); // several buckets, split unevenly
  EXPECT_GT(dp.stats().buckets, 1);
  optimizers::SGD opt(0.1);
  opt.setup(model);
  DataLoader loader(data(n), b, true, 1234, {.rank = D::rank(), .world_size = D::world_size()});
  loader.reset();
  for (int s = 0; s < 10; ++s) {
    auto [x, t] = *loader.next();
    ASSERT_EQ(x.shape(0), b);
    Variable loss = F::softmax_cross_entropy(model(Variable(x)), Variable(t));
    model.cleargrads();
    loss.backward();
    dp.all_reduce_grads();
    opt.update();
  }
  EXPECT_EQ(dp.stats().calls, 10);
  expect_close(weights(model), reference(n, b, 10), 1e-10);
}

TEST(Distributed, OverlappedReductionsEqualOneProcessOnTheUnionOfShards) {
  // Buckets of 200 bytes start their all-reduce during backward(), on DataParallel's
  // thread: the same sums as without overlap.
  const int64_t n = 120, b = 4;
  TwoLayer model(uint64_t(D::rank()) + 1);
  D::DataParallel dp(model, {.bucket_bytes = 200, .overlap = true});
  optimizers::SGD opt(0.1);
  opt.setup(model);
  DataLoader loader(data(n), b, true, 1234, {.rank = D::rank(), .world_size = D::world_size()});
  loader.reset();
  for (int s = 0; s < 10; ++s) {
    auto [x, t] = *loader.next();
    Variable loss = F::softmax_cross_entropy(model(Variable(x)), Variable(t));
    model.cleargrads();
    loss.backward();
    dp.all_reduce_grads();
    opt.update();
  }
  expect_close(weights(model), reference(n, b, 10), 1e-10);
  if (D::world_size() > 1) {
    // A second backward() before all_reduce_grads() would reduce partial gradients.
    loader.reset();
    auto [x, t] = *loader.next();
    model.cleargrads();
    F::softmax_cross_entropy(model(Variable(x)), Variable(t)).backward();
    try {
      F::softmax_cross_entropy(model(Variable(x)), Variable(t)).backward();
      FAIL() << "a second backward() was accepted";
    } catch (const Error &e) {
      EXPECT_NE(std::string(e.what()).find("second backward()"), std::string::npos) << e.what();
    }
    dp.all_reduce_grads(); // the buckets the first backward() started, and the rest
  }
}

TEST(Distributed, TenCompiledStepsEqualOneProcessOnTheUnionOfShards) {
  // The forward and backward pass compiled; the all-reduce and the update outside.
  const int64_t n = 120, b = 4;
  TwoLayer model(uint64_t(D::rank()) + 1);
  D::DataParallel dp(model);
  EXPECT_EQ(dp.stats().buckets, 1);
  optimizers::SGD opt(0.1);
  opt.setup(model);
  auto grads = compile([&](Variable x, Variable t) {
    Variable loss = F::softmax_cross_entropy(model(x), t);
    model.cleargrads();
    loss.backward();
    return loss;
  });
  DataLoader loader(data(n), b, true, 1234, {.rank = D::rank(), .world_size = D::world_size()});
  loader.reset();
  for (int s = 0; s < 10; ++s) {
    auto [x, t] = *loader.next();
    grads(Variable(x), Variable(t));
    dp.all_reduce_grads();
    opt.update();
  }
  expect_close(weights(model), reference(n, b, 10), 1e-10);
}

TEST(Distributed, TenCompiledStepsWithTheAllReduceInsideEqualOneProcess) {
  // The whole step compiled: forward, backward, all_reduce_grads() (a dz.all_reduce per
  // gradient) and the update. Buckets of 200 bytes, as the eager test.
  const int64_t n = 120, b = 4;
  TwoLayer model(uint64_t(D::rank()) + 1);
  D::DataParallel dp(model, {.bucket_bytes = 200});
  optimizers::SGD opt(0.1);
  opt.setup(model);
  auto step = compile([&](Variable x, Variable t) {
    Variable loss = F::softmax_cross_entropy(model(x), t);
    model.cleargrads();
    loss.backward();
    dp.all_reduce_grads();
    opt.update();
    return loss;
  });
  DataLoader loader(data(n), b, true, 1234, {.rank = D::rank(), .world_size = D::world_size()});
  loader.reset();
  for (int s = 0; s < 10; ++s) {
    auto [x, t] = *loader.next();
    step(Variable(x), Variable(t));
  }
  EXPECT_EQ(step.retraces(), 1); // traced once, run compiled 9 times
  const std::string ir = step.ir();
  size_t reduces = 0;
  for (size_t at = ir.find("dz.all_reduce"); at != std::string::npos;
       at = ir.find("dz.all_reduce", at + 1))
    ++reduces;
  EXPECT_EQ(reduces, model.params().size()) << ir;
  EXPECT_NE(ir.find("reduction = \"mean\""), std::string::npos) << ir;
  expect_close(weights(model), reference(n, b, 10), 1e-10);
}

TEST(Distributed, CompiledStepMeetsARetracingRank) {
  // 10 samples in batches of 2 per rank: with 3 ranks the last global batch of 4 splits
  // 1/1/2, so ranks 0 and 1 trace a new signature while rank 2 runs its compiled step:
  // the trace's all-reduces meet the compiled ones (the same calls, of the same sizes).
  const int64_t n = 10, b = 2;
  TwoLayer model(uint64_t(D::rank()) + 1);
  D::DataParallel dp(model);
  optimizers::SGD opt(0.1);
  opt.setup(model);
  auto step = compile([&](Variable x, Variable t) {
    Variable loss = F::softmax_cross_entropy(model(x), t);
    model.cleargrads();
    loss.backward();
    dp.all_reduce_grads();
    opt.update();
    return loss;
  });
  DataLoader loader(data(n), b, true, 7, {.rank = D::rank(), .world_size = D::world_size()});
  loader.reset();
  int steps = 0;
  while (auto batch = loader.next()) {
    auto [x, t] = *batch;
    ASSERT_GT(x.shape(0), 0);
    step(Variable(x), Variable(t));
    ++steps;
  }
  // The same as eager data-parallel steps on the same shards.
  TwoLayer eager(uint64_t(D::rank()) + 1);
  D::DataParallel dpe(eager);
  optimizers::SGD opte(0.1);
  opte.setup(eager);
  DataLoader again(data(n), b, true, 7, {.rank = D::rank(), .world_size = D::world_size()});
  again.reset();
  while (auto batch = again.next()) {
    auto [x, t] = *batch;
    eager.cleargrads();
    F::softmax_cross_entropy(eager(Variable(x)), Variable(t)).backward();
    dpe.all_reduce_grads();
    opte.update();
  }
  EXPECT_GT(steps, 1);
  expect_close(weights(model), weights(eager), 1e-12);
}

TEST(Distributed, AllReduceOfATensorInsideCompileRunsAtEveryCall) {
  const int w = D::world_size(), r = D::rank();
  auto f = compile([&](Variable x) {
    Variable y = x * 2.0;
    D::all_reduce(y, D::ReduceOp::Sum);
    Variable m = x + 0.0;
    D::all_reduce(m, D::ReduceOp::Max);
    return y + m;
  });
  for (int call = 0; call < 3; ++call) {
    Variable out = f(Variable(rank_tensor(r + call, 7, f64)));
    for (int64_t i = 0; i < 7; ++i) {
      double sum = 0, max = -1e300;
      for (int k = 0; k < w; ++k) {
        sum += 2 * value(k + call, i, f64);
        max = std::max(max, value(k + call, i, f64));
      }
      ASSERT_EQ(out.data().at(i), sum + max) << "call " << call << " element " << i;
    }
  }
  EXPECT_EQ(f.retraces(), 1);
  EXPECT_NE(f.ir().find("dz.all_reduce"), std::string::npos) << f.ir();
  // uint8 has no dz type: refused inside a trace, with what to do.
  Tensor u = Tensor({3}, u8);
  u.fill_(1);
  auto g = compile([&](Variable x) {
    D::all_reduce(u, D::ReduceOp::Sum);
    return x;
  });
  try {
    g(Variable(rank_tensor(r, 3, f64)));
    FAIL() << "a uint8 all-reduce was traced";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("uint8"), std::string::npos) << e.what();
  }
}

// A compiled program on the CUDA device: its dz.all_reduce reduces a device tensor (NCCL on
// a GPU, through host memory on the emulation). Skips, saying why, where neither exists.
TEST(Distributed, AllReduceInsideACompiledCudaProgram) {
  try {
    device_backend(Device::cuda());
  } catch (const Error &e) {
    GTEST_SKIP() << "no CUDA device: " << e.what();
  }
  const int w = D::world_size(), r = D::rank();
  auto f = compile([&](Variable x) {
    Variable y = x * 3.0;
    D::all_reduce(y, D::ReduceOp::Mean);
    return y;
  });
  for (int call = 0; call < 2; ++call) {
    Variable out = f(Variable(rank_tensor(r + call, 9, f64).to(Device::cuda())));
    ASSERT_FALSE(out.data().device().is_cpu());
    const std::vector<double> got = out.data().to(Device::cpu()).to_vector();
    for (int64_t i = 0; i < 9; ++i) {
      double sum = 0;
      for (int k = 0; k < w; ++k)
        sum += 3 * value(k + call, i, f64);
      ASSERT_DOUBLE_EQ(got[size_t(i)], sum / w) << "call " << call << " element " << i;
    }
  }
}

TEST(Distributed, BroadcastInsideCompileIsAnErrorWithSeveralRanks) {
  if (D::world_size() == 1)
    GTEST_SKIP() << "a world of one has nothing to exchange";
  auto step = compile([&](Variable x) {
    D::broadcast(x, 0);
    return x;
  });
  try {
    step(Variable(rank_tensor(D::rank(), 3, f64)));
    FAIL() << "broadcast was traced silently";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("inside dz::compile"), std::string::npos) << e.what();
  }
}

TEST(Distributed, GradientsAveragedInUnevenBuckets) {
  // Parameters of 18, 6, 24 and 4 float64 values with buckets of 7 * 8 bytes: buckets
  // hold parameters whole, so they split as [4], [24], [6], [18].
  TwoLayer model(5);
  for (int64_t bucket : {int64_t(56), int64_t(200), int64_t(1) << 20})
    for (bool overlap : {false, true}) {
      SCOPED_TRACE(overlap ? "overlap" : "no overlap");
      D::DataParallel dp(model, {.bucket_bytes = bucket, .overlap = overlap});
      const int w = D::world_size(), r = D::rank();
      const std::vector<Parameter> ps = model.params();
      for (size_t k = 0; k < ps.size(); ++k) {
        Parameter p = ps[k];
        if (k == 1 && r != 0) // l1/b has a gradient on rank 0 only
          p.cleargrad();
        else
          p.set_grad(Variable(full(p.shape(), double(r + 1) * double(k + 1), f64)));
      }
      dp.all_reduce_grads();
      for (size_t k = 0; k < ps.size(); ++k) {
        ASSERT_TRUE(ps[k].has_grad()) << k;
        const double want = k == 1 ? double(k + 1) / w : double(k + 1) * (w + 1) / 2.0;
        for (int64_t i = 0; i < ps[k].size(); ++i)
          ASSERT_DOUBLE_EQ(ps[k].grad().data().at(i), want)
              << "bucket " << bucket << " param " << k;
      }
      // No rank has a gradient: none after the reduction either.
      for (Parameter p : ps)
        p.cleargrad();
      dp.all_reduce_grads();
      for (const Parameter &p : ps)
        EXPECT_FALSE(p.has_grad());
    }
}

TEST(Distributed, MismatchedModelsAreAnErrorNamingRankAndParameter) {
  if (D::world_size() == 1)
    GTEST_SKIP() << "needs two ranks";
  const int last = D::world_size() - 1;
  {
    TwoLayer model(1, D::rank() == last ? 7 : 6);
    try {
      D::DataParallel dp(model);
      FAIL() << "mismatched shapes accepted";
    } catch (const Error &e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("rank " + std::to_string(last)), std::string::npos) << m;
      EXPECT_NE(m.find("l1/W"), std::string::npos) << m;
      EXPECT_NE(m.find("(3, 7)"), std::string::npos) << m;
    }
  }
  {
    Model model;
    model.register_layer("l1", L::Linear(2, {.in_size = 3, .dtype = f64}));
    if (D::rank() == last)
      model.register_layer("extra", L::Linear(2, {.in_size = 2, .dtype = f64}));
    try {
      D::DataParallel dp(model);
      FAIL() << "mismatched parameter counts accepted";
    } catch (const Error &e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("rank " + std::to_string(last) + " has 4 parameters but rank 0 has 2"),
                std::string::npos)
          << m;
    }
  }
}

TEST(Distributed, CheckpointWrittenByRankZeroAndReadByAll) {
  namespace fs = std::filesystem;
  // One folder for the job: named by rank 0's process id, which every rank receives.
  Tensor pid = Tensor::from_i64({int64_t(::getpid())}, {1});
  D::broadcast(pid, 0);
  const fs::path dir =
      fs::temp_directory_path() / ("dz_dist_ckpt_" + std::to_string(int64_t(pid.at(0))));
  if (D::rank() == 0)
    fs::create_directories(dir);
  D::barrier();
  // A file name per rank: only rank 0's is written.
  TwoLayer model(1);
  D::DataParallel dp(model);
  const std::string mine = (dir / ("w" + std::to_string(D::rank()) + ".npz")).string();
  dp.save_weights(mine);
  D::barrier();
  for (int k = 0; k < D::world_size(); ++k)
    EXPECT_EQ(fs::exists(dir / ("w" + std::to_string(k) + ".npz")), k == 0) << k;
  const std::vector<Tensor> saved = weights(model);
  TwoLayer other(77);
  D::DataParallel dp2(other);
  dp2.load_weights((dir / "w0.npz").string());
  expect_close(weights(other), saved, 0);
  // A file missing on every rank is an error on every rank.
  EXPECT_THROW(dp2.load_weights((dir / "none.npz").string()), Error);
  D::barrier();
  if (D::rank() == 0)
    fs::remove_all(dir);
}

int main(int argc, char **argv) {
  ::testing::InitGoogleTest(&argc, argv);
  D::init();
  const int rc = RUN_ALL_TESTS();
  // Each rank's verdict reaches every rank: the job fails when any rank fails.
  Tensor failed = Tensor::from_i64({rc != 0}, {1});
  D::all_reduce(failed, D::ReduceOp::Max);
  D::finalize();
  return failed.at(0) != 0 ? 1 : 0;
}
