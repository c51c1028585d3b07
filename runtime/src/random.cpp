// random.cpp - Philox4x32-10 and the random tensor creators rand, randn and uniform.
//
// A draw of n elements reserves ceil(n/4) counters from its Generator; element i reads
// word i%4 of philox(counter = offset + i/4, key = seed), so the numbers depend only on
// (seed, offset) and never on the thread count. float64 needs 53 random bits: its second
// word comes from the same counter with the high 64 bits of the counter set to 1.
// randn applies Box-Muller to the word pairs (0, 1) and (2, 3) of each counter.
#include <dzc/device_backend.h>
#include <dzc/tensor.h>
#include <dzc/trace_hook.h>

#include <cmath>
#include <numbers>

namespace dz {

namespace {

constexpr uint32_t kPhiloxM0 = 0xD2511F53, kPhiloxM1 = 0xCD9E8D57;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9, kPhiloxW1 = 0xBB67AE85;

// One uniform in [0, 1) from 24 bits (float32) or 53 bits (float64).
inline float u01_f32(uint32_t a) { return float(a >> 8) * 0x1.0p-24f; }
inline double u01_f64(uint32_t a, uint32_t b) {
  return double((uint64_t(a >> 5) << 26) | (b >> 6)) * 0x1.0p-53;
}

// The four uniforms of counter `ctr`, in [0, 1), as double.
template <typename T> void uniforms4(uint64_t ctr, uint64_t seed, double out[4]) {
  uint32_t w[4];
  philox4x32(ctr, 0, seed, w);
  if constexpr (sizeof(T) == 4) {
    for (int j = 0; j < 4; ++j)
      out[j] = u01_f32(w[j]);
  } else {
    uint32_t w2[4];
    philox4x32(ctr, 1, seed, w2);
    for (int j = 0; j < 4; ++j)
      out[j] = u01_f64(w[j], w2[j]);
  }
}

// Fills n elements of `out` with f(uniforms of each counter) -> four values.
template <typename T, typename F> void fill_groups(T *out, int64_t n, Generator &gen, F f) {
  const int64_t groups = (n + 3) / 4;
  const Generator::Position at = gen.reserve(uint64_t(groups));
  const uint64_t seed = at.seed, offset = at.offset;
#pragma omp parallel for if (n > 65536)
  for (int64_t g = 0; g < groups; ++g) {
    double u[4], v[4];
    uniforms4<T>(offset + uint64_t(g), seed, u);
    f(u, v);
    const int64_t base = g * 4;
    for (int64_t j = 0; j < 4 && base + j < n; ++j)
      out[base + j] = T(v[j]);
  }
}

void check_float_dtype(DType dtype, const char *op) {
  if (dtype != f32 && dtype != f64)
    throw Error(std::string(op) + ": dtype " + dtype_name(dtype) +
                " is not supported; random tensors are float32 or float64");
}

template <typename F> Tensor draw(const Shape &shape, DType dtype, Generator &gen, F f) {
  Tensor t(shape, dtype);
  if (dtype == f32)
    fill_groups(static_cast<float *>(t.raw()), t.size(), gen, f);
  else
    fill_groups(static_cast<double *>(t.raw()), t.size(), gen, f);
  // A draw from a Generator that lives on gives other numbers at every call: the tracer
  // must not keep these as a constant of a compiled program.
  if (TraceHook *h = trace_hook())
    h->op("random", {}, t, {});
  return t;
}

// Box-Muller on (u0, u1) and (u2, u3); 1 - u lies in (0, 1], so the log is finite.
void box_muller(const double u[4], double v[4]) {
  for (int j = 0; j < 4; j += 2) {
    const double r = std::sqrt(-2.0 * std::log(1.0 - u[j]));
    const double theta = 2.0 * std::numbers::pi * u[j + 1];
    v[j] = r * std::cos(theta);
    v[j + 1] = r * std::sin(theta);
  }
}

Generator &pick(std::optional<uint64_t> seed, std::optional<Generator> &fresh) {
  if (!seed)
    return default_generator();
  fresh.emplace(*seed);
  return *fresh;
}

} // namespace

void philox4x32(uint64_t ctr_lo, uint64_t ctr_hi, uint64_t seed, uint32_t out[4]) {
  uint32_t c0 = uint32_t(ctr_lo), c1 = uint32_t(ctr_lo >> 32);
  uint32_t c2 = uint32_t(ctr_hi), c3 = uint32_t(ctr_hi >> 32);
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    if (round > 0)
      k0 += kPhiloxW0, k1 += kPhiloxW1;
    const uint64_t p0 = uint64_t(kPhiloxM0) * c0;
    const uint64_t p1 = uint64_t(kPhiloxM1) * c2;
    const uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
    const uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
  }
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

Generator &default_generator() {
  static Generator gen(0);
  return gen;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

Tensor rand(const Shape &shape, DType dtype, Generator &gen) {
  check_float_dtype(dtype, "rand");
  return draw(shape, dtype, gen, [](const double u[4], double v[4]) {
    for (int j = 0; j < 4; ++j)
      v[j] = u[j];
  });
}

Tensor randn(const Shape &shape, DType dtype, Generator &gen) {
  check_float_dtype(dtype, "randn");
  return draw(shape, dtype, gen, box_muller);
}

Tensor uniform(const Shape &shape, double low, double high, DType dtype, Generator &gen) {
  check_float_dtype(dtype, "uniform");
  const double scale = high - low;
  return draw(shape, dtype, gen, [low, scale](const double u[4], double v[4]) {
    for (int j = 0; j < 4; ++j)
      v[j] = low + scale * u[j];
  });
}

Tensor dropout_mask(const Shape &shape, DType dtype, double ratio, Generator &gen, Device dev) {
  check_float_dtype(dtype, "dropout");
  const double scale = 1.0 / (1.0 - ratio);
  if (dev.is_cpu())
    return (rand(shape, dtype, gen) > ratio).to(dtype) * scale;
  Tensor mask(shape, dtype, dev);
  const Generator::Position at = gen.reserve(uint64_t((mask.size() + 3) / 4));
  device_backend(dev).dropout_mask(mask.raw(), dtype, mask.size(), at.seed, at.offset, ratio,
                                   scale);
  return mask;
}

Tensor rand(const Shape &shape, DType dtype, std::optional<uint64_t> seed) {
  std::optional<Generator> fresh;
  std::optional<TraceScope> same_every_call; // a fresh Generator of a given seed
  if (seed)
    same_every_call.emplace();
  return rand(shape, dtype, pick(seed, fresh));
}

Tensor randn(const Shape &shape, DType dtype, std::optional<uint64_t> seed) {
  std::optional<Generator> fresh;
  std::optional<TraceScope> same_every_call; // a fresh Generator of a given seed
  if (seed)
    same_every_call.emplace();
  return randn(shape, dtype, pick(seed, fresh));
}

Tensor uniform(const Shape &shape, double low, double high, DType dtype,
               std::optional<uint64_t> seed) {
  std::optional<Generator> fresh;
  std::optional<TraceScope> same_every_call;
  if (seed)
    same_every_call.emplace();
  return uniform(shape, low, high, dtype, pick(seed, fresh));
}

} // namespace dz
