// DataLoader sharding ({.rank, .world_size}) and a world of one of dz::distributed, in one
// process: every rank's loader is built here side by side.
#include <dzc/dzc.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

using namespace dz;

namespace {

/// N samples whose value is their index (x: (N, 2): [i, -i]; label i).
datasets::Dataset indexed(int64_t n) {
  std::vector<double> x;
  std::vector<int64_t> t;
  for (int64_t i = 0; i < n; ++i) {
    x.push_back(double(i));
    x.push_back(-double(i));
    t.push_back(i);
  }
  return datasets::Dataset(Tensor::from(x, {n, 2}), Tensor::from_i64(t, {n}));
}

} // namespace

TEST(DataLoaderSharding, EverySampleExactlyOncePerEpochAndUnionIsTheGlobalBatch) {
  // Sizes that divide evenly and not, remainders smaller than the world, world 1 .. 4.
  for (int64_t n : {1, 7, 12, 13, 24, 25, 31})
    for (int64_t w : {1, 2, 3, 4})
      for (int64_t b : {1, 3, 4}) {
        SCOPED_TRACE("n=" + std::to_string(n) + " w=" + std::to_string(w) +
                     " b=" + std::to_string(b));
        const datasets::Dataset data = indexed(n);
        std::vector<DataLoader> ranks;
        for (int64_t r = 0; r < w; ++r)
          ranks.emplace_back(data, b, true, 42, DataLoaderOptions{.rank = r, .world_size = w});
        DataLoader global(data, b * w, true, 42);
        const int64_t steps = (n + b * w - 1) / (b * w);
        for (int epoch = 0; epoch < 3; ++epoch) {
          std::map<int64_t, int> seen;
          for (auto &l : ranks) {
            ASSERT_EQ(l.max_iter(), steps);
            l.reset();
          }
          global.reset();
          for (int64_t k = 0; k < steps; ++k) {
            auto [gx, gt] = *global.next();
            std::vector<int64_t> uni;
            for (int64_t r = 0; r < w; ++r) {
              auto [x, t] = *ranks[size_t(r)].next();
              ASSERT_EQ(x.shape(0), t.shape(0));
              ASSERT_EQ(x.ndim(), 2);
              // batches of one step differ by at most one sample between ranks
              ASSERT_LE(x.shape(0), b);
              for (int64_t i = 0; i < t.size(); ++i) {
                ++seen[int64_t(t.at(i))];
                ASSERT_EQ(x.at(2 * i), double(int64_t(t.at(i))));
                uni.push_back(int64_t(t.at(i)));
              }
            }
            ASSERT_EQ(int64_t(uni.size()), gt.size());
            for (size_t i = 0; i < uni.size(); ++i)
              ASSERT_EQ(uni[i], int64_t(gt.at(int64_t(i)))) << "step " << k;
          }
          for (auto &l : ranks)
            ASSERT_FALSE(l.next().has_value());
          ASSERT_EQ(int64_t(seen.size()), n);
          for (auto [i, c] : seen)
            ASSERT_EQ(c, 1) << "sample " << i;
        }
      }
}

TEST(DataLoaderSharding, EvenSplitGivesEqualBatches) {
  const datasets::Dataset data = indexed(60);
  for (int64_t w : {2, 3})
    for (int64_t r = 0; r < w; ++r) {
      DataLoader l(data, 5, true, 7, {.rank = r, .world_size = w});
      for (auto [x, t] : l)
        EXPECT_EQ(x.shape(0), 5);
    }
}

TEST(DataLoaderSharding, RemainderSmallerThanWorldGivesEmptyBatch) {
  // 5 samples, 4 ranks, batch 1: two global batches (4, then 1); ranks 0..2 get an empty
  // last batch with the sample shape.
  const datasets::Dataset data = indexed(5);
  int64_t total = 0;
  for (int64_t r = 0; r < 4; ++r) {
    DataLoader l(data, 1, false, 0, {.rank = r, .world_size = 4});
    ASSERT_EQ(l.max_iter(), 2);
    l.reset();
    auto b0 = *l.next();
    auto b1 = *l.next();
    EXPECT_EQ(b0.first.shape(0), 1);
    EXPECT_EQ(b1.first.shape(), (Shape{r == 3 ? 1 : 0, 2}));
    EXPECT_EQ(b1.second.shape(), (Shape{r == 3 ? 1 : 0}));
    total += b0.first.shape(0) + b1.first.shape(0);
  }
  EXPECT_EQ(total, 5);
}

TEST(DataLoaderSharding, BadShardIsAnError) {
  const datasets::Dataset data = indexed(10);
  for (auto [r, w] : std::vector<std::pair<int64_t, int64_t>>{{2, 2}, {-1, 2}, {0, 0}}) {
    try {
      DataLoader l(data, 2, true, 0, {.rank = r, .world_size = w});
      FAIL() << "accepted rank " << r << " of " << w;
    } catch (const Error &e) {
      EXPECT_NE(std::string(e.what()).find("world_size"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(SeqDataLoader(data, 2, {.rank = 0, .world_size = 2}), Error);
}

TEST(DataLoaderSharding, PrefetchGivesTheSameShard) {
  const datasets::Dataset data = indexed(23);
  DataLoader a(data, 3, true, 5, {.rank = 1, .world_size = 3});
  DataLoader b(data, 3, true, 5, {.prefetch = 2, .rank = 1, .world_size = 3});
  a.reset();
  b.reset();
  for (int64_t k = 0; k < a.max_iter(); ++k) {
    auto x = a.next()->second, y = b.next()->second;
    ASSERT_EQ(x.to_vector(), y.to_vector());
  }
}

// A program started without a launcher is a world of one, and loads no MPI.
TEST(DistributedWorldOfOne, CollectivesLeaveTensorsAndLoadNoMpi) {
  if (std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK"))
    GTEST_SKIP() << "runs under an MPI launcher";
  distributed::init();
  EXPECT_EQ(distributed::rank(), 0);
  EXPECT_EQ(distributed::world_size(), 1);
  EXPECT_EQ(distributed::backend(), "none (a world of one)");
  Tensor t = Tensor::from({1, 2, 3}, {3});
  distributed::all_reduce(t, distributed::ReduceOp::Sum);
  distributed::all_reduce(t, distributed::ReduceOp::Mean);
  distributed::broadcast(t, 0);
  distributed::barrier();
  EXPECT_EQ(t.to_vector(), (std::vector<double>{1, 2, 3}));
  EXPECT_THROW(distributed::broadcast(t, 1), Error);
  EXPECT_THROW(distributed::all_reduce(Tensor::from_i64({1, 2}), distributed::ReduceOp::Mean),
               Error);

  Model m;
  m.register_layer("l", layers::Linear(2, {.in_size = 3}));
  distributed::DataParallel dp(m);
  EXPECT_EQ(dp.stats().buckets, 1);
  dp.all_reduce_grads();

  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    EXPECT_EQ(line.find("libmpi"), std::string::npos) << line;
}

TEST(DistributedWorldOfOne, FinalizeThenInitAgainAndABadTimeoutIsNamed) {
  if (std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK"))
    GTEST_SKIP() << "runs under an MPI launcher";
  distributed::init();
  distributed::finalize();
  EXPECT_FALSE(distributed::initialized());
  EXPECT_THROW(distributed::barrier(), Error); // not initialised
  ::setenv("DZ_DISTRIBUTED_TIMEOUT", "soon", 1);
  try {
    distributed::init();
    FAIL() << "accepted DZ_DISTRIBUTED_TIMEOUT=soon";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("DZ_DISTRIBUTED_TIMEOUT"), std::string::npos);
  }
  ::unsetenv("DZ_DISTRIBUTED_TIMEOUT");
  distributed::init();
  EXPECT_TRUE(distributed::initialized());
  EXPECT_EQ(distributed::world_size(), 1);
}
