// test_dtypes.cpp - the storage dtypes (int8, int16, uint16/32/64, float16, bfloat16):
// float16 / bfloat16 rounding to nearest even with NaN and infinities as NumPy has them,
// integer conversions that wrap around, NumPy's promotion, .npy round trips, and the
// error when a kernel is asked to compute on a storage dtype.
#include <dzc/tensor.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

using namespace dz;

namespace {

float from_bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

/// The tensor's bytes as elements of T (T's size may differ from the dtype's: raw bytes).
template <typename T> std::vector<T> values(const Tensor &t) {
  std::vector<T> v(t.nbytes() / sizeof(T));
  std::memcpy(v.data(), t.raw(), t.nbytes());
  return v;
}

TEST(Dtypes, Float16RoundsToNearestEven) {
  EXPECT_EQ(float_to_f16_bits(1.0f), 0x3c00);
  EXPECT_EQ(float_to_f16_bits(-2.0f), 0xc000);
  EXPECT_EQ(float_to_f16_bits(-0.0f), 0x8000);
  EXPECT_EQ(float_to_f16_bits(0.1f), 0x2e66); // NumPy: np.float16(0.1).view(np.uint16)
  // Halfway between 1 and 1 + 2^-10 goes to the even 1; halfway above 1 + 2^-10 to 1 + 2^-9.
  EXPECT_EQ(float_to_f16_bits(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(float_to_f16_bits(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(float_to_f16_bits(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3c01);
  // The largest float16, the overflow threshold (halfway to 2^16 rounds up) and beyond.
  EXPECT_EQ(float_to_f16_bits(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_f16_bits(65519.0f), 0x7bff);
  EXPECT_EQ(float_to_f16_bits(65520.0f), 0x7c00);
  EXPECT_EQ(float_to_f16_bits(1e10f), 0x7c00);
  EXPECT_EQ(float_to_f16_bits(-1e10f), 0xfc00);
  // Subnormals: 2^-24 is the smallest; 2^-25 is halfway to 0 (even), 1.5 * 2^-24 to 2 units.
  EXPECT_EQ(float_to_f16_bits(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(float_to_f16_bits(std::ldexp(1.0f, -25)), 0x0000);
  EXPECT_EQ(float_to_f16_bits(1.5f * std::ldexp(1.0f, -24)), 0x0002);
  EXPECT_EQ(float_to_f16_bits(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -30)), 0x0400);
  EXPECT_EQ(float_to_f16_bits(INFINITY), 0x7c00);
  EXPECT_EQ(float_to_f16_bits(-INFINITY), 0xfc00);
  const uint16_t nan = float_to_f16_bits(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x03ff, 0);
  // A signalling NaN whose payload sits below float16's mantissa stays a NaN.
  EXPECT_TRUE(std::isnan(f16_bits_to_float(float_to_f16_bits(from_bits(0x7f800001u)))));
}

TEST(Dtypes, Float16ToFloatIsExact) {
  EXPECT_EQ(f16_bits_to_float(0x3c00), 1.0f);
  EXPECT_EQ(f16_bits_to_float(0x7bff), 65504.0f);
  EXPECT_EQ(f16_bits_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_bits_to_float(0x03ff), 1023 * std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_bits_to_float(0xfc00), -INFINITY);
  EXPECT_TRUE(std::isnan(f16_bits_to_float(0x7e00)));
  EXPECT_TRUE(std::signbit(f16_bits_to_float(0x8000)));
  for (uint32_t h = 0; h < 0x10000; ++h) { // every non-NaN float16 survives the round trip
    const float f = f16_bits_to_float(uint16_t(h));
    if (!std::isnan(f)) {
      ASSERT_EQ(float_to_f16_bits(f), h) << h;
    }
  }
}

TEST(Dtypes, BFloat16RoundsToNearestEven) {
  EXPECT_EQ(float_to_bf16_bits(1.0f), 0x3f80);
  EXPECT_EQ(float_to_bf16_bits(1.0f + std::ldexp(1.0f, -8)), 0x3f80); // halfway: even
  EXPECT_EQ(float_to_bf16_bits(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_EQ(float_to_bf16_bits(std::numeric_limits<float>::max()), 0x7f80); // rounds to inf
  EXPECT_EQ(float_to_bf16_bits(-INFINITY), 0xff80);
  EXPECT_TRUE(std::isnan(bf16_bits_to_float(float_to_bf16_bits(from_bits(0x7f800001u)))));
  EXPECT_EQ(bf16_bits_to_float(0x4049), 3.140625f);
}

TEST(Dtypes, IntegerConversionsWrapAround) {
  const Tensor x = Tensor::from_i64({300, -1, 256, 127, 128});
  EXPECT_EQ(values<uint8_t>(x.to(u8)), (std::vector<uint8_t>{44, 255, 0, 127, 128}));
  EXPECT_EQ(values<int8_t>(x.to(i8)), (std::vector<int8_t>{44, -1, 0, 127, -128}));
  EXPECT_EQ(values<uint16_t>(x.to(u16)), (std::vector<uint16_t>{300, 65535, 256, 127, 128}));
  EXPECT_EQ(values<uint64_t>(Tensor::from_i64({-1}).to(u64))[0],
            std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(values<int16_t>(Tensor::from_i64({40000}).to(i16))[0], int16_t(40000 - 65536));
  // Back to int64: uint32 zero-extends, int16 sign-extends.
  EXPECT_EQ(Tensor::from_i64({-1}).to(u32).to(i64).at(0), 4294967295.0);
  EXPECT_EQ(Tensor::from_i64({-5}).to(i16).to(i64).at(0), -5.0);
}

TEST(Dtypes, FloatConversionsFollowNumPy) {
  const Tensor x = Tensor::from({0.1, -2.5, 65520.0, INFINITY, -INFINITY, NAN}, {6}, f32);
  const Tensor h = x.to(f16);
  EXPECT_EQ(h.dtype(), f16);
  EXPECT_EQ(h.nbytes(), 12u);
  EXPECT_EQ(values<uint16_t>(h), (std::vector<uint16_t>{0x2e66, 0xc100, 0x7c00, 0x7c00, 0xfc00,
                                                        values<uint16_t>(h)[5]}));
  const Tensor back = h.to(f64);
  EXPECT_EQ(back.at(0), 0.0999755859375);
  EXPECT_EQ(back.at(1), -2.5);
  EXPECT_EQ(back.at(3), INFINITY);
  EXPECT_EQ(back.at(4), -INFINITY);
  EXPECT_TRUE(std::isnan(back.at(5)));
  const Tensor b = Tensor::from({3.14159, -0.0}, {2}, f64).to(bf16);
  EXPECT_EQ(values<uint16_t>(b), (std::vector<uint16_t>{0x4049, 0x8000}));
  EXPECT_EQ(b.at(0), 3.140625);
  // Floats outside an integer type's range saturate, NaN gives 0 (C++ leaves both undefined).
  const Tensor wild = Tensor::from({300.0, -1.0, NAN, INFINITY, -1e30, 1e30}, {6}, f64);
  EXPECT_EQ(values<uint8_t>(wild.to(u8)), (std::vector<uint8_t>{255, 0, 0, 255, 0, 255}));
  EXPECT_EQ(values<int64_t>(wild.to(i64))[4], std::numeric_limits<int64_t>::lowest());
  EXPECT_EQ(values<int64_t>(wild.to(i64))[5], std::numeric_limits<int64_t>::max());
  // float16 to an integer truncates toward zero, to bool: nonzero.
  EXPECT_EQ(Tensor::from({-2.75, 3.5}, {2}, f16).to(i8).at(0), -2.0);
  EXPECT_EQ(Tensor::from({0.0, 0.5}, {2}, f16).to(b8).at(1), 1.0);
}

TEST(Dtypes, PromotionFollowsNumPy) {
  EXPECT_EQ(promote(u8, i8), i16);
  EXPECT_EQ(promote(u16, i16), i32);
  EXPECT_EQ(promote(u32, i32), i64);
  EXPECT_EQ(promote(u64, i64), f64);
  EXPECT_EQ(promote(i8, i16), i16);
  EXPECT_EQ(promote(u8, i32), i32); // as before: uint8 < int32
  EXPECT_EQ(promote(u16, u64), u64);
  EXPECT_EQ(promote(f16, bf16), f32);
  EXPECT_EQ(promote(f16, f64), f64);
  EXPECT_EQ(promote(i8, f16), f16);
  EXPECT_EQ(promote(b8, u16), u16);
  EXPECT_EQ(promote(i64, f32), f32);
}

TEST(Dtypes, NpyRoundTripsEveryDtype) {
  for (DType d : {i8, i16, u16, u32, u64, f16}) {
    const Tensor t = Tensor::from({1, 2, 3, 100, 0, 7}, {2, 3}, d);
    const Tensor r = from_npy_bytes(to_npy_bytes(t), "round trip");
    EXPECT_EQ(r.dtype(), d) << dtype_name(d);
    EXPECT_EQ(r.shape(), t.shape());
    EXPECT_EQ(values<uint8_t>(r), values<uint8_t>(t)) << dtype_name(d);
  }
  EXPECT_NE(to_npy_bytes(Tensor::from({1.0}, {1}, f16)).find("'descr': '<f2'"), std::string::npos);
  // bfloat16 (NumPy has none) is written as the uint16 of its bits.
  const Tensor b = from_npy_bytes(to_npy_bytes(Tensor::from({1.0}, {1}, bf16)), "bf16");
  EXPECT_EQ(b.dtype(), u16);
  EXPECT_EQ(values<uint16_t>(b)[0], 0x3f80);
}

TEST(Dtypes, KernelsRefuseStorageDtypesWithTheReason) {
  const Tensor a = Tensor::from({1, 2}, {2}, f16);
  try {
    (void)(a + a);
    FAIL() << "expected dz::Error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("float16"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)(Tensor::from({1, 2}, {2}, u32) * Tensor::from({1, 2}, {2}, u32)), Error);
  // Moves work on every dtype.
  const Tensor t = Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3}, u16).transpose();
  EXPECT_EQ(values<uint16_t>(t), (std::vector<uint16_t>{1, 4, 2, 5, 3, 6}));
}

} // namespace
