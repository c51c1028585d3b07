// test_eager_device.cpp - the runtime's tensor operations on cuda:0 against the same
// operations on the CPU. ctest runs this binary twice: on the GPU (every test skips with
// the reason where there is none) and with --emulate (DZ_CUDA_EMULATION=1), where cuda:0
// is the host emulation of runtime/cuda/emulator.cpp, so the kernels' indexing,
// broadcasting, reductions and atomics are checked on every machine.
#include "device_test.h"

#include <dzc/device_backend.h>
#include <dzc/nn_kernels.h>
#include <dzc/tensor.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>

namespace {

using dz::Device;
using dz::Tensor;

using dz::testing::kGpu;

/// x rounded to a multiple of 0.5 (comparisons and max then see ties).
Tensor round_half(const Tensor &x) {
  std::vector<double> v = x.to_vector();
  for (double &e : v)
    e = std::round(e * 2) / 2;
  return Tensor::from(v, x.shape(), x.dtype());
}

bool emulated() {
  const char *e = std::getenv("DZ_CUDA_EMULATION");
  return e && *e && std::string(e) != "0";
}

using EagerDevice = dz::testing::OnDevice;

/// `f` on the CPU and on cuda:0 (its operands moved there) agree within the tolerance.
void expect_same(const std::function<Tensor(const std::vector<Tensor> &)> &f,
                 const std::vector<Tensor> &cpu_in, double rtol = 1e-6, double atol = 1e-6,
                 const std::string &what = "") {
  std::vector<Tensor> dev_in;
  for (const Tensor &t : cpu_in)
    dev_in.push_back(t.to(kGpu));
  Tensor want = f(cpu_in), got = f(dev_in);
  ASSERT_EQ(got.device(), kGpu) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  Tensor back = got.to(Device::cpu());
  if (!dz::is_floating(want.dtype())) {
    EXPECT_EQ(back.to_vector(), want.to_vector()) << what;
    return;
  }
  EXPECT_TRUE(dz::allclose(back, want, rtol, atol))
      << what << ": max |diff| " << dz::max_abs_diff(back, want) << "\ngot  " << back << "\nwant "
      << want;
}

TEST(EagerDeviceUnavailable, SaysWhy) {
  std::string why;
  if (dz::device_available(kGpu, &why))
    GTEST_SKIP() << "cuda:0 is available";
  EXPECT_FALSE(why.empty());
  try {
    Tensor t = dz::ones({2, 3}).to(kGpu);
    FAIL() << "a tensor was moved to an unavailable device";
  } catch (const dz::Error &e) {
    EXPECT_NE(std::string(e.what()).find("cuda:0 is not available"), std::string::npos) << e.what();
  }
}

TEST(EagerDeviceIndex, OnlyCudaZeroIsDriven) {
  std::string why;
  EXPECT_FALSE(dz::device_available(Device::cuda(1), &why));
  EXPECT_FALSE(why.empty());
  try {
    Tensor t = dz::ones({2}).to(Device::cuda(-1));
    FAIL() << "cuda:-1 made a tensor";
  } catch (const dz::Error &e) {
    EXPECT_NE(std::string(e.what()).find("cuda:-1"), std::string::npos) << e.what();
  }
}

TEST_F(EagerDevice, DescribesItself) {
  std::string d = dz::device_backend(kGpu).describe();
  EXPECT_EQ(d.rfind("cuda:0 (", 0), 0u) << d;
  if (emulated()) {
    EXPECT_NE(d.find("emulated"), std::string::npos) << d;
  }
  std::cout << "backend: " << d << "\n";
}

TEST_F(EagerDevice, CopiesEveryDtypeThereAndBack) {
  for (dz::DType dt : {dz::f32, dz::f64, dz::i64, dz::i32, dz::u8, dz::b8}) {
    Tensor x = dz::arange(0, 24, 1, dz::i64).reshape({2, 3, 4}).to(dt);
    Tensor g = x.to(kGpu);
    EXPECT_EQ(g.device(), kGpu);
    EXPECT_EQ(g.dtype(), dt);
    EXPECT_EQ(g.to(Device::cpu()).to_vector(), x.to_vector()) << dz::dtype_name(dt);
    EXPECT_EQ(g.copy().to_vector(), x.to_vector());
    EXPECT_EQ(g.at(5), x.at(5));
  }
  Tensor s = dz::Tensor::scalar(2.5, dz::f32).to(kGpu);
  EXPECT_EQ(s.item<double>(), 2.5);
  EXPECT_EQ(dz::to_string(dz::arange(3).to(kGpu)), "[0 1 2]");
  // A view (offset into the storage) copies from its offset.
  Tensor v = dz::arange(10, dz::f64).to(kGpu)[{dz::Slice(3, 6)}];
  EXPECT_EQ(v.to_vector(), (std::vector<double>{3, 4, 5}));
}

TEST_F(EagerDevice, DataOfADeviceTensorThrows) {
  Tensor g = dz::ones({2}).to(kGpu);
  EXPECT_THROW(g.data<float>(), dz::Error);
}

TEST_F(EagerDevice, MixingDevicesThrowsButScalarsJoin) {
  Tensor a = dz::ones({3}).to(kGpu), b = dz::ones({3});
  try {
    Tensor c = a + b;
    FAIL() << "cuda + cpu ran";
  } catch (const dz::Error &e) {
    std::string m = e.what();
    EXPECT_NE(m.find("different devices"), std::string::npos) << m;
    EXPECT_NE(m.find("cuda:0"), std::string::npos) << m;
  }
  Tensor c = a * dz::Tensor::scalar(3.0, dz::f32) + 1.0;
  EXPECT_EQ(c.device(), kGpu);
  EXPECT_EQ(c.to_vector(), (std::vector<double>{4, 4, 4}));
}

TEST_F(EagerDevice, ScalarOperandsGoWithTheLaunch) {
  // A CPU scalar is an argument of the kernel, not a tensor uploaded first: two maps
  // allocate their two results and nothing else.
  Tensor a = dz::arange(0, 6, 1, dz::f32).to(kGpu);
  dz::AllocatorStats before = dz::allocator_stats(kGpu);
  Tensor c = 2.0 - a * 0.5;
  dz::AllocatorStats after = dz::allocator_stats(kGpu);
  EXPECT_EQ(after.hits + after.misses - before.hits - before.misses, 2u);
  EXPECT_EQ(c.to_vector(), (std::vector<double>{2, 1.5, 1, 0.5, 0, -0.5}));
  // Exact in the scalar's own dtype: an int64 past 2^53, a bool condition.
  const int64_t big = (int64_t(1) << 53) + 1;
  Tensor i = Tensor::from_i64({0, 1, 2}).to(kGpu) + Tensor::from_i64({big}).reshape({});
  Tensor got = i.to(Device::cpu());
  for (int64_t k = 0; k < 3; ++k)
    EXPECT_EQ(got.data<int64_t>()[k], big + k);
  Tensor w = dz::where(Tensor::scalar(1, dz::b8), a, dz::zeros_like(a));
  EXPECT_EQ(w.to_vector(), a.to_vector());
  // Fills of every dtype.
  for (dz::DType dt : {dz::f32, dz::f64, dz::i64, dz::i32, dz::u8, dz::b8}) {
    Tensor f = dz::full_like(Tensor({2, 3}, dt, kGpu), 1);
    EXPECT_EQ(f.to_vector(), std::vector<double>(6, 1.0)) << dz::dtype_name(dt);
  }
}

TEST_F(EagerDevice, ConvolutionAndPoolingMatchTheCpu) {
  struct Case {
    dz::Shape x;
    dz::Size2 kernel, stride, pad;
  };
  const std::vector<Case> cases = {{{2, 3, 7, 6}, 3, 1, 1},
                                   {{1, 2, 8, 8}, {2, 3}, {2, 1}, {0, 1}},
                                   {{3, 1, 5, 5}, 2, 2, 0},
                                   {{2, 2, 4, 5}, 3, 2, 2}};
  for (const Case &c : cases)
    for (dz::DType dt : {dz::f32, dz::f64}) {
      const double tol = dt == dz::f32 ? 1e-5 : 1e-12;
      std::string what = dz::shape_str(c.x) + " " + dz::dtype_name(dt);
      Tensor x = round_half(dz::uniform(c.x, -2, 2, dt, 21)); // ties for the maxima
      const int64_t C = c.x[1], OC = 4;
      Tensor W = dz::uniform({OC, C, c.kernel.h, c.kernel.w}, -1, 1, dt, 22);
      Tensor b = dz::uniform({OC}, -1, 1, dt, 23);
      for (bool m : {false, true})
        expect_same([&](auto &v) { return dz::im2col(v[0], c.kernel, c.stride, c.pad, m); }, {x}, 0,
                    0, "im2col " + what);
      expect_same([&](auto &v) { return dz::conv2d(v[0], v[1], &v[2], c.stride, c.pad); },
                  {x, W, b}, tol, tol, "conv2d " + what);
      Tensor y = dz::conv2d(x, W, &b, c.stride, c.pad);
      Tensor gy = dz::uniform(y.shape(), -1, 1, dt, 24);
      expect_same([&](auto &v) { return dz::conv2d_grad_w(v[0], v[1], c.kernel, c.stride, c.pad); },
                  {x, gy}, tol, tol, "conv2d_grad_w " + what);
      // The input gradient: a transposed convolution back to x's size.
      Tensor Wt = dz::uniform({OC, C, c.kernel.h, c.kernel.w}, -1, 1, dt, 25);
      dz::Size2 out{c.x[2], c.x[3]};
      expect_same([&](auto &v) { return dz::deconv2d(v[0], v[1], nullptr, c.stride, c.pad, out); },
                  {gy, Wt}, tol, tol, "deconv2d " + what);
      for (bool m : {false, true}) {
        Tensor col =
            dz::uniform(dz::im2col(x, c.kernel, c.stride, c.pad, m).shape(), -1, 1, dt, 26);
        expect_same([&](auto &v) { return dz::col2im(v[0], c.x, c.kernel, c.stride, c.pad, m); },
                    {col}, tol, tol, "col2im " + what);
      }
      expect_same([&](auto &v) { return dz::max_pool2d(v[0], c.kernel, c.stride, c.pad).y; }, {x},
                  0, 0, "max_pool2d " + what);
      expect_same([&](auto &v) { return dz::max_pool2d(v[0], c.kernel, c.stride, c.pad).indexes; },
                  {x}, 0, 0, "max_pool2d indexes " + what);
      Tensor idx = dz::max_pool2d(x, c.kernel, c.stride, c.pad).indexes;
      Tensor gp = dz::uniform(idx.shape(), -1, 1, dt, 27);
      expect_same(
          [&](auto &v) { return dz::max_pool2d_gather(v[0], v[1], c.kernel, c.stride, c.pad); },
          {x, idx}, 0, 0, "max_pool2d_gather " + what);
      expect_same(
          [&](auto &v) { return dz::max_pool2d_grad(v[0], v[1], c.x, c.kernel, c.stride, c.pad); },
          {gp, idx}, tol, tol, "max_pool2d_grad " + what);
      expect_same([&](auto &v) { return dz::avg_pool2d(v[0], c.kernel, c.stride, c.pad); }, {x},
                  tol, tol, "avg_pool2d " + what);
      expect_same(
          [&](auto &v) { return dz::avg_pool2d_grad(v[0], c.x, c.kernel, c.stride, c.pad); }, {gp},
          tol, tol, "avg_pool2d_grad " + what);
    }
}

TEST_F(EagerDevice, UnaryOpsMatchTheCpu) {
  using F = Tensor (*)(const Tensor &);
  const std::vector<std::pair<const char *, F>> ops = {
      {"exp", dz::exp},   {"log", dz::log},   {"sin", dz::sin},         {"cos", dz::cos},
      {"tanh", dz::tanh}, {"sqrt", dz::sqrt}, {"abs", dz::abs},         {"square", dz::square},
      {"erf", dz::erf},   {"relu", dz::relu}, {"sigmoid", dz::sigmoid},
  };
  for (dz::DType dt : {dz::f32, dz::f64}) {
    Tensor x = dz::uniform({3, 5, 7}, 0.1, 3.0, dt, 7);
    Tensor y = dz::uniform({3, 5, 7}, -3.0, 3.0, dt, 8);
    for (auto [name, f] : ops) {
      bool positive = std::string(name) == "log" || std::string(name) == "sqrt";
      expect_same([f](auto &v) { return f(v[0]); }, {positive ? x : y}, 2e-6, 1e-6,
                  std::string(name) + " " + dz::dtype_name(dt));
    }
    expect_same([](auto &v) { return -v[0]; }, {y}, 0, 0, "neg");
    expect_same([](auto &v) { return dz::clip(v[0], -1.0, 0.5); }, {y}, 0, 0, "clip");
    expect_same([](auto &v) { return dz::pow(v[0], 1.5); }, {x}, 2e-6, 1e-6, "pow scalar");
  }
  // Integers: exp computes in float64, abs and relu stay integer.
  Tensor i = dz::arange(-5, 5, 1, dz::i64);
  expect_same([](auto &v) { return dz::exp(v[0]); }, {i}, 1e-12, 0, "exp int");
  expect_same([](auto &v) { return dz::abs(v[0]); }, {i}, 0, 0, "abs int");
  expect_same([](auto &v) { return dz::relu(v[0]); }, {i}, 0, 0, "relu int");
}

TEST_F(EagerDevice, BinaryOpsBroadcastAsOnTheCpu) {
  using F = Tensor (*)(const Tensor &, const Tensor &);
  const std::vector<std::pair<const char *, F>> ops = {
      {"add", [](const Tensor &a, const Tensor &b) { return a + b; }},
      {"sub", [](const Tensor &a, const Tensor &b) { return a - b; }},
      {"mul", [](const Tensor &a, const Tensor &b) { return a * b; }},
      {"div", [](const Tensor &a, const Tensor &b) { return a / b; }},
      {"pow", [](const Tensor &a, const Tensor &b) { return dz::pow(dz::abs(a), b); }},
      {"maximum", [](const Tensor &a, const Tensor &b) { return dz::maximum(a, b); }},
      {"minimum", [](const Tensor &a, const Tensor &b) { return dz::minimum(a, b); }},
      {"eq", [](const Tensor &a, const Tensor &b) { return a == b; }},
      {"ne", [](const Tensor &a, const Tensor &b) { return a != b; }},
      {"lt", [](const Tensor &a, const Tensor &b) { return a < b; }},
      {"le", [](const Tensor &a, const Tensor &b) { return a <= b; }},
      {"gt", [](const Tensor &a, const Tensor &b) { return a > b; }},
      {"ge", [](const Tensor &a, const Tensor &b) { return a >= b; }},
  };
  const std::vector<std::pair<dz::Shape, dz::Shape>> shapes = {
      {{4, 5}, {4, 5}}, {{3, 1, 4}, {2, 1}}, {{6}, {}}, {{}, {2, 3}}, {{2, 3, 4, 5}, {1, 3, 1, 5}}};
  for (dz::DType dt : {dz::f32, dz::f64}) {
    for (auto &[sa, sb] : shapes) {
      // Values on a grid of halves, so that comparisons see ties.
      Tensor a = round_half(dz::uniform(sa, -2, 2, dt, 1));
      Tensor b = round_half(dz::uniform(sb, -2, 2, dt, 2)) + 0.25;
      for (auto [name, f] : ops)
        expect_same([f](auto &v) { return f(v[0], v[1]); }, {a, b}, 2e-6, 1e-6,
                    std::string(name) + " " + dz::shape_str(sa) + " " + dz::shape_str(sb));
    }
  }
  // Mixed dtypes promote; integer division is true division.
  Tensor ai = dz::arange(1, 7, 1, dz::i64).reshape({2, 3}), bf = dz::full({3}, 4.0, dz::f32);
  expect_same([](auto &v) { return v[0] + v[1]; }, {ai, bf}, 0, 0, "int + float");
  expect_same([](auto &v) { return v[0] / v[0]; }, {ai}, 0, 0, "int / int");
  expect_same([](auto &v) { return v[0] * 3 - v[0]; }, {ai}, 0, 0, "int arithmetic");
  expect_same([](auto &v) { return dz::where(v[0] > 2.0, v[0], v[1]); }, {ai, bf}, 0, 0, "where");
}

TEST_F(EagerDevice, InPlaceFillAndCasts) {
  Tensor a = dz::uniform({4, 3}, -1, 1, dz::f32, 3), b = dz::uniform({3}, -1, 1, dz::f32, 4);
  Tensor g = a.to(kGpu);
  g += b.to(kGpu);
  g *= 2.0;
  Tensor want = (a + b) * 2.0;
  EXPECT_TRUE(dz::allclose(g.to(Device::cpu()), want, 1e-6, 1e-6));
  g.fill_(1.5);
  EXPECT_EQ(g.to_vector(), std::vector<double>(12, 1.5));
  g.copy_(b.to(kGpu)); // broadcast into the rows
  EXPECT_TRUE(dz::allclose(g.to(Device::cpu()), b.broadcast_to({4, 3})));
  EXPECT_EQ(dz::zeros_like(g).device(), kGpu);
  EXPECT_EQ(dz::ones_like(g).to_vector(), std::vector<double>(12, 1.0));
  for (dz::DType from : {dz::f32, dz::f64, dz::i64, dz::i32, dz::u8, dz::b8})
    for (dz::DType to : {dz::f32, dz::f64, dz::i64, dz::i32, dz::u8, dz::b8}) {
      Tensor x = dz::arange(0, 12, 1, dz::i64).reshape({3, 4}).to(from);
      expect_same([to](auto &v) { return v[0].to(to); }, {x}, 0, 0,
                  std::string("cast ") + dz::dtype_name(from) + " -> " + dz::dtype_name(to));
    }
}

TEST_F(EagerDevice, ShapeOpsMatchTheCpu) {
  Tensor x = dz::uniform({2, 3, 4}, -1, 1, dz::f64, 5);
  expect_same([](auto &v) { return v[0].transpose(); }, {x}, 0, 0, "transpose");
  expect_same([](auto &v) { return v[0].transpose({1, 0, 2}); }, {x}, 0, 0, "transpose 102");
  expect_same([](auto &v) { return v[0].reshape({4, 6}).T(); }, {x}, 0, 0, "reshape T");
  expect_same([](auto &v) { return v[0].broadcast_to({5, 2, 3, 4}); }, {x}, 0, 0, "broadcast");
  expect_same([](auto &v) { return v[0].sum_to({3, 1}); }, {x}, 1e-12, 1e-12, "sum_to");
  expect_same([](auto &v) { return v[0].expand_dims(1).squeeze(1); }, {x}, 0, 0, "dims");
}

TEST_F(EagerDevice, ReductionsMatchTheCpu) {
  const std::vector<std::vector<int64_t>> axes = {{}, {0}, {1}, {2}, {0, 2}, {1, 2}, {0, 1, 2}};
  for (dz::DType dt : {dz::f32, dz::f64, dz::i64}) {
    Tensor x = round_half(dz::uniform({5, 7, 3}, -4, 4, dz::f64, 6)).to(dt);
    for (const auto &ax : axes)
      for (bool keep : {false, true}) {
        std::string what = std::string(dz::dtype_name(dt)) + " axes " + dz::shape_str(ax) +
                           (keep ? " keepdims" : "");
        expect_same([&](auto &v) { return v[0].sum(ax, keep); }, {x}, 1e-6, 1e-6, "sum " + what);
        expect_same([&](auto &v) { return v[0].max(ax, keep); }, {x}, 0, 0, "max " + what);
        expect_same([&](auto &v) { return v[0].min(ax, keep); }, {x}, 0, 0, "min " + what);
        if (dz::is_floating(dt))
          expect_same([&](auto &v) { return v[0].mean(ax, keep); }, {x}, 1e-6, 1e-6,
                      "mean " + what);
      }
    // Ties: the first index of the maximum, as the CPU.
    for (int64_t a = 0; a < 3; ++a)
      expect_same([a](auto &v) { return v[0].argmax(a); }, {x}, 0, 0,
                  "argmax axis " + std::to_string(a));
    expect_same([](auto &v) { return v[0].argmax(); }, {x}, 0, 0, "argmax flat");
  }
  // A long reduction: more elements than a block has threads, in float32.
  Tensor big = dz::uniform({3, 5000}, 0, 1, dz::f32, 9);
  expect_same([](auto &v) { return v[0].sum({1}); }, {big}, 1e-5, 1e-4, "long sum");
  expect_same([](auto &v) { return v[0].max({1}); }, {big}, 0, 0, "long max");
  Tensor bools = dz::uniform({40}, 0, 1, dz::f64, 10) > 0.5;
  expect_same([](auto &v) { return v[0].sum(); }, {bools}, 0, 0, "sum of bools");
}

TEST_F(EagerDevice, MatmulAndLinearMatchTheCpu) {
  for (dz::DType dt : {dz::f32, dz::f64}) {
    double tol = dt == dz::f32 ? 1e-5 : 1e-12;
    Tensor a = dz::uniform({7, 5}, -1, 1, dt, 11), b = dz::uniform({5, 9}, -1, 1, dt, 12);
    expect_same([](auto &v) { return dz::matmul(v[0], v[1]); }, {a, b}, tol, tol, "2-d");
    Tensor at = a.T(), bt = b.T();
    expect_same([](auto &v) { return dz::matmul(v[0], v[1], true, false); }, {at, b}, tol, tol,
                "T N");
    expect_same([](auto &v) { return dz::matmul(v[0], v[1], false, true); }, {a, bt}, tol, tol,
                "N T");
    expect_same([](auto &v) { return dz::matmul(v[0], v[1], true, true); }, {at, bt}, tol, tol,
                "T T");
    Tensor a3 = dz::uniform({4, 7, 5}, -1, 1, dt, 13);
    expect_same([](auto &v) { return dz::matmul(v[0], v[1]); }, {a3, b}, tol, tol, "batched");
    Tensor v1 = dz::uniform({5}, -1, 1, dt, 14);
    expect_same([](auto &v) { return dz::matmul(v[0], v[1]); }, {a, v1}, tol, tol, "1-d");
    Tensor bias = dz::uniform({9}, -1, 1, dt, 15);
    expect_same([](auto &v) { return dz::linear(v[0], v[1], &v[2]); }, {a, b, bias}, tol, tol,
                "linear");
    expect_same([](auto &v) { return dz::linear(v[0], v[1], nullptr); }, {a, b}, tol, tol,
                "linear without bias");
  }
}

TEST_F(EagerDevice, SoftmaxGetItemAndScatterAdd) {
  Tensor x = dz::uniform({6, 10}, -5, 5, dz::f32, 16);
  expect_same([](auto &v) { return dz::softmax(v[0], -1); }, {x}, 1e-5, 1e-7, "softmax");
  expect_same([](auto &v) { return dz::softmax(v[0], 0); }, {x}, 1e-5, 1e-7, "softmax axis 0");
  expect_same([](auto &v) { return dz::logsumexp(v[0], 1, false); }, {x}, 1e-5, 1e-5, "lse");
  // The row kernel (one block a row): rows longer than a block, of odd length, in 3-d, in
  // f64, a row of one element, and -inf and +inf entries.
  for (dz::Shape shape : {dz::Shape{3, 1000}, dz::Shape{2, 5, 37}, dz::Shape{4, 1}})
    for (dz::DType dt : {dz::f32, dz::f64}) {
      Tensor y = dz::uniform(shape, -20, 20, dt, 17);
      std::string what = dz::shape_str(shape) + " " + dz::dtype_name(dt);
      expect_same([](auto &v) { return dz::softmax(v[0], -1); }, {y}, 1e-5, 1e-9,
                  "softmax " + what);
      expect_same([](auto &v) { return dz::logsumexp(v[0], -1, true); }, {y}, 1e-6, 1e-6,
                  "logsumexp " + what);
    }
  // The loss: one kernel, a thread per row; many rows, long rows, both float types.
  for (dz::Shape shape : {dz::Shape{600, 10}, dz::Shape{3, 1000}, dz::Shape{1, 1}})
    for (dz::DType dt : {dz::f32, dz::f64}) {
      Tensor scores = dz::uniform(shape, -8, 8, dt, 18);
      std::vector<int64_t> ids;
      for (int64_t r = 0; r < shape[0]; ++r)
        ids.push_back((r * 7) % shape[1]);
      Tensor labels = Tensor::from_i64(ids);
      expect_same([](auto &v) { return dz::softmax_cross_entropy(v[0], v[1]); }, {scores, labels},
                  dt == dz::f32 ? 1e-5 : 1e-12, 1e-7,
                  "softmax_cross_entropy " + dz::shape_str(shape) + " " + dz::dtype_name(dt));
    }
  Tensor inf = Tensor::from({1, -INFINITY, 2, 3, INFINITY, 0}, {2, 3}, dz::f32);
  Tensor got = dz::softmax(inf.to(kGpu), -1).to(Device::cpu());
  Tensor want = dz::softmax(inf, -1);
  for (int64_t i = 0; i < 6; ++i) {
    double g = got.to_vector()[size_t(i)], w = want.to_vector()[size_t(i)];
    EXPECT_TRUE(std::isnan(w) ? std::isnan(g) : std::abs(g - w) < 1e-6)
        << i << ": " << g << " " << w;
  }
  Tensor rows = dz::Tensor::from_i64({0, 2, 2, 5}), cols = dz::Tensor::from_i64({1, 9, 9, 0});
  expect_same(
      [&](auto &v) {
        return v[0][{dz::Index(rows), dz::Index(cols)}];
      },
      {x}, 0, 0, "fancy index");
  expect_same([](auto &v) { return v[0][{dz::Slice(1, 5, 2), dz::Slice()}]; }, {x}, 0, 0, "slice");
  // Repeated offsets accumulate (atomics).
  dz::IndexPlan plan = dz::plan_index(x.shape(), {dz::Index(rows), dz::Index(cols)});
  for (dz::DType dt : {dz::f32, dz::f64, dz::i64, dz::i32}) {
    Tensor src = dz::Tensor::from({1, 2, 3, 4}, {4}, dt);
    expect_same([&](auto &v) { return dz::scatter_add(plan, v[0]); }, {src}, 0, 0,
                std::string("scatter_add ") + dz::dtype_name(dt));
  }
  // Many threads adding into one element.
  dz::IndexPlan one{{1}, {3000}, std::vector<int64_t>(3000, 0)};
  Tensor ones = dz::ones({3000}, dz::f64);
  expect_same([&](auto &v) { return dz::scatter_add(one, v[0]); }, {ones}, 0, 0, "contended");
}

TEST_F(EagerDevice, TheAllocatorReusesBlocks) {
  dz::empty_cache(kGpu);
  { Tensor a = dz::ones({1000}).to(kGpu); }
  dz::AllocatorStats before = dz::allocator_stats(kGpu);
  { Tensor b = dz::ones({1000}).to(kGpu); }
  dz::AllocatorStats after = dz::allocator_stats(kGpu);
  EXPECT_EQ(after.misses, before.misses);
  EXPECT_GT(after.hits, before.hits);
  EXPECT_GT(after.cached_bytes, 0u);
  dz::empty_cache(kGpu);
  EXPECT_EQ(dz::allocator_stats(kGpu).cached_bytes, 0u);
}

} // namespace

int main(int argc, char **argv) { return dz::testing::device_test_main(argc, argv); }
