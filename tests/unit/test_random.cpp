// test_random.cpp - Philox4x32-10 known answers and the rand/randn/uniform creators.
#include <dzc/tensor.h>
#include <gtest/gtest.h>

#include <cmath>

using namespace dz;

namespace {

std::vector<uint32_t> philox(uint64_t lo, uint64_t hi, uint64_t seed) {
  uint32_t out[4];
  philox4x32(lo, hi, seed, out);
  return {out[0], out[1], out[2], out[3]};
}

double mean_of(const Tensor &t) {
  double s = 0;
  for (int64_t i = 0; i < t.size(); ++i)
    s += t.at(i);
  return s / double(t.size());
}

double std_of(const Tensor &t) {
  const double m = mean_of(t);
  double s = 0;
  for (int64_t i = 0; i < t.size(); ++i)
    s += (t.at(i) - m) * (t.at(i) - m);
  return std::sqrt(s / double(t.size()));
}

bool same_values(const Tensor &a, const Tensor &b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype())
    return false;
  for (int64_t i = 0; i < a.size(); ++i)
    if (a.at(i) != b.at(i))
      return false;
  return true;
}

} // namespace

// The known-answer vectors of Random123 (kat_vectors: philox4x32 10 rounds).
TEST(Philox, KnownAnswerZeros) {
  EXPECT_EQ(philox(0, 0, 0),
            (std::vector<uint32_t>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
}

TEST(Philox, KnownAnswerAllOnes) {
  EXPECT_EQ(philox(~0ull, ~0ull, ~0ull),
            (std::vector<uint32_t>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
}

TEST(Philox, KnownAnswerPiDigits) {
  // counter {243f6a88, 85a308d3, 13198a2e, 03707344}, key {a4093822, 299f31d0}.
  EXPECT_EQ(philox(0x85a308d3243f6a88ull, 0x0370734413198a2eull, 0x299f31d0a4093822ull),
            (std::vector<uint32_t>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(Random, SameSeedSameNumbers) {
  EXPECT_TRUE(same_values(rand({3, 5}, f32, 42), rand({3, 5}, f32, 42)));
  EXPECT_TRUE(same_values(randn({7}, f64, 7), randn({7}, f64, 7)));
  EXPECT_FALSE(same_values(rand({16}, f32, 1), rand({16}, f32, 2)));
}

TEST(Random, ManualSeedResetsTheDefaultGenerator) {
  manual_seed(123);
  const Tensor a = randn({10});
  const Tensor b = randn({10});
  EXPECT_FALSE(same_values(a, b));
  manual_seed(123);
  EXPECT_TRUE(same_values(a, randn({10})));
  EXPECT_TRUE(same_values(b, randn({10})));
}

TEST(Random, DrawReservesCeilQuarterCounters) {
  Generator gen(5);
  rand({10}, f32, gen);
  EXPECT_EQ(gen.offset(), 3u);
  randn({4}, f64, gen);
  EXPECT_EQ(gen.offset(), 4u);
}

TEST(Random, ElementReadsWordOfItsCounter) {
  Generator gen(99);
  gen.advance(7);
  const Tensor t = rand({6}, f32, gen);
  for (int64_t i = 0; i < 6; ++i) {
    uint32_t w[4];
    philox4x32(7 + uint64_t(i / 4), 0, 99, w);
    EXPECT_EQ(t.data<float>()[i], float(w[i % 4] >> 8) * 0x1.0p-24f) << "element " << i;
  }
}

TEST(Random, LargeDrawEqualsPrefixOfSmallOnes) {
  // Parallel and serial draws agree: the first elements of a big draw (OpenMP path) are the
  // same as a small draw from the same generator state.
  const Tensor big = rand({200000}, f32, 3);
  const Tensor small = rand({100}, f32, 3);
  for (int64_t i = 0; i < 100; ++i)
    ASSERT_EQ(big.data<float>()[i], small.data<float>()[i]);
}

TEST(Random, RandIsUniformInUnitInterval) {
  for (DType dt : {f32, f64}) {
    const Tensor t = rand({100000}, dt, 11);
    EXPECT_EQ(t.dtype(), dt);
    double lo = 1, hi = 0;
    for (int64_t i = 0; i < t.size(); ++i)
      lo = std::min(lo, t.at(i)), hi = std::max(hi, t.at(i));
    EXPECT_GE(lo, 0.0);
    EXPECT_LT(hi, 1.0);
    EXPECT_NEAR(mean_of(t), 0.5, 0.01);
    EXPECT_NEAR(std_of(t), std::sqrt(1.0 / 12.0), 0.01);
  }
}

TEST(Random, RandnHasMeanZeroStdOne) {
  for (DType dt : {f32, f64}) {
    const Tensor t = randn({100000}, dt, 12);
    EXPECT_NEAR(mean_of(t), 0.0, 0.02);
    EXPECT_NEAR(std_of(t), 1.0, 0.02);
    for (int64_t i = 0; i < t.size(); ++i)
      ASSERT_TRUE(std::isfinite(t.at(i)));
  }
}

TEST(Random, UniformCoversLowHigh) {
  const Tensor t = uniform({100000}, -2.0, 6.0, f64, 13);
  double lo = 1e9, hi = -1e9;
  for (int64_t i = 0; i < t.size(); ++i)
    lo = std::min(lo, t.at(i)), hi = std::max(hi, t.at(i));
  EXPECT_GE(lo, -2.0);
  EXPECT_LT(hi, 6.0);
  EXPECT_NEAR(mean_of(t), 2.0, 0.05);
  EXPECT_NEAR(std_of(t), 8.0 / std::sqrt(12.0), 0.05);
}

TEST(Random, EmptyShapeDrawsNothing) {
  Generator gen(1);
  const Tensor t = rand({0, 3}, f32, gen);
  EXPECT_EQ(t.size(), 0);
  EXPECT_EQ(gen.offset(), 0u);
}

TEST(Random, IntegerDtypeIsAnError) {
  try {
    rand({2}, i64, 0);
    FAIL() << "no error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("rand"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("float32 or float64"), std::string::npos) << e.what();
  }
  EXPECT_THROW(randn({2}, b8, 0), Error);
  EXPECT_THROW(uniform({2}, 0, 1, i32, 0), Error);
}
