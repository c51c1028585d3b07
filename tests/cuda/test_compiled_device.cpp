// test_compiled_device.cpp - dz::compile on cuda:0: a training step traced with the model
// and the data on the device runs there (its fused groups as generated CUDA kernels, the
// other steps as the runtime's device kernels) and follows the eager CPU steps; a CNN
// (convolution, pooling) trained eagerly and compiled on the device follows the CPU;
// double backprop compiled on the device; an LSTM (truncated BPTT) and batch normalisation
// (its running averages updated on the device) follow the CPU. ctest runs it on the GPU (skipped
// without one) and with --emulate on the host emulation, like the other tests of the eager GPU
// path.
#include "../support/side_by_side.h"
#include "device_test.h"

#include <dzc/cuda/launch.h>
#include <dzc/cuda/nvrtc.h>
#include <dzc/device_backend.h>
#include <dzc/dzc.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

namespace {

namespace F = dz::functions;
namespace L = dz::layers;
using dz::Device;
using dz::Tensor;
using dz::Variable;

using dz::testing::kGpu;

using CompiledDevice = dz::testing::OnDevice;

dz::models::MLP mlp_on(Device dev) {
  dz::manual_seed(4);
  dz::models::MLP model({16, 3}, F::relu);
  model(Variable(dz::zeros({1, 2}, dz::f32))); // makes the weights, on the CPU
  model.to(dev);
  return model;
}

TEST_F(CompiledDevice, MlpTrainingStepFollowsTheEagerCpuSteps) {
  dz::models::MLP eager = mlp_on(Device::cpu()), compiled = mlp_on(kGpu);
  dz::optimizers::MomentumSGD eager_opt(0.1), compiled_opt(0.1);
  dz::testing::SideBySide train(eager, eager_opt, compiled, compiled_opt);
  dz::datasets::Spiral data(/*train=*/true);
  dz::DataLoader loader(data, 30, /*shuffle=*/true, /*seed=*/2);
  int i = 0;
  for (auto [x, t] : loader) {
    x = x.to(dz::f32);
    Variable eager_loss = train.eager_step(x, t);
    Variable xd(x.to(kGpu)), td(t.to(kGpu));
    const dz::DeviceCounters before = dz::device_counters(kGpu);
    Variable loss = train.compiled_step(xd, td);
    const dz::DeviceCounters c = dz::device_counters(kGpu) - before;
    ASSERT_EQ(loss.device(), kGpu);
    if (i > 0) { // a compiled call (the first traces): nothing goes up, the labels come
                 // back once for their check, and each fused group is one launch
      EXPECT_EQ(c.uploads, 0u) << "step " << i;
      EXPECT_EQ(c.downloads, 1u) << "step " << i;
      EXPECT_EQ(c.generated_launches, 6u) << "step " << i;
      if (i == 1)
        std::cout << "compiled MLP step on cuda:0: " << c.launches << " launches ("
                  << c.generated_launches << " generated), " << c.uploads << " uploads, "
                  << c.downloads << " downloads, " << c.device_copies << " device copies\n";
    }
    EXPECT_NEAR(loss.item<double>(), eager_loss.item<double>(), 1e-4) << "step " << i;
    if (++i == 6)
      break;
  }
  EXPECT_EQ(train.compiled().retraces(), 1);
  // The fused groups (bias + ReLU, the loss scaling, the ReLU gradient, the momentum
  // updates) are generated CUDA kernels, one launch each.
  const std::string summary = train.compiled().stats().summary;
  EXPECT_NE(summary.find("generated kernels on cuda:0"), std::string::npos) << summary;
  // The intermediates live in one device arena (the memory plan's offsets).
  EXPECT_NE(summary.find("arena "), std::string::npos) << summary;
  EXPECT_EQ(summary.find(" for 0 values"), std::string::npos) << summary;
  // The parameter and velocity updates are computed into the parameters' buffers.
  EXPECT_EQ(summary.find(" 0 results in place"), std::string::npos) << summary;
  std::cout << summary << "\n";
  size_t k = 0;
  for (auto [pe, pc] : train.params()) {
    ASSERT_EQ(pc.data().device(), kGpu) << "the update wrote back on the device";
    Tensor got = pc.data().to(Device::cpu());
    EXPECT_TRUE(dz::allclose(got, pe.data(), 1e-4, 1e-5))
        << "parameter " << k << ": max |diff| " << dz::max_abs_diff(got, pe.data());
    ++k;
  }
}

TEST_F(CompiledDevice, DoubleBackpropOnTheDevice) {
  auto derivatives = dz::compile([](Variable x) {
    Variable y = dz::pow(x, 4) - 2.0 * dz::pow(x, 2);
    y.backward({.create_graph = true});
    Variable gx = x.grad();
    x.cleargrad();
    gx.backward();
    Variable gx2 = x.grad();
    x.cleargrad();
    return std::vector<Variable>{gx, gx2};
  });
  for (double x0 : {2.0, -1.5}) {
    std::vector<Variable> d = derivatives(Variable(Tensor::scalar(x0).to(kGpu)));
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[0].device(), kGpu);
    EXPECT_NEAR(d[0].item<double>(), 4 * std::pow(x0, 3) - 4 * x0, 1e-12) << x0;
    EXPECT_NEAR(d[1].item<double>(), 12 * x0 * x0 - 4, 1e-12) << x0;
  }
}

/// A small CNN (the book's layers: conv, ReLU, max pooling, linear) with its weights made.
struct SmallCnn : dz::Model {
  L::Conv2d conv{4, 3, {.pad = 1}};
  L::Linear fc{5};
  SmallCnn() {
    register_layer("conv", conv);
    register_layer("fc", fc);
  }
  Variable forward(const Variable &x) override {
    Variable h = F::pooling(F::relu(conv(x)), 2, 2);
    return fc(F::reshape(h, {x.shape()[0], -1}));
  }
};

SmallCnn cnn_on(Device dev) {
  dz::manual_seed(6);
  SmallCnn model;
  model(Variable(dz::zeros({1, 1, 8, 8})));
  model.to(dev);
  return model;
}

TEST_F(CompiledDevice, CnnTrainingStepsFollowTheCpuEagerAndCompiled) {
  SmallCnn cpu = cnn_on(Device::cpu()), eager = cnn_on(kGpu), compiled = cnn_on(kGpu);
  dz::optimizers::SGD cpu_opt(0.1), eager_opt(0.1), compiled_opt(0.1);
  cpu_opt.setup(cpu);
  dz::testing::SideBySide train(eager, eager_opt, compiled, compiled_opt);
  for (int i = 0; i < 4; ++i) {
    Tensor x = dz::uniform({6, 1, 8, 8}, -1, 1, dz::f32, uint64_t(30 + i));
    Tensor t = dz::Tensor::from_i64({0, 1, 2, 3, 4, 0});
    Variable want = dz::testing::train_step(cpu, cpu_opt, dz::testing::ClassificationLoss(), x, t);
    auto [got, got_compiled] = train.step(Variable(x.to(kGpu)), Variable(t.to(kGpu)));
    EXPECT_NEAR(got.item<double>(), want.item<double>(), 1e-4) << "eager step " << i;
    EXPECT_NEAR(got_compiled.item<double>(), want.item<double>(), 1e-4) << "compiled step " << i;
  }
  auto pc = cpu.params(), pe = eager.params(), pd = compiled.params();
  for (size_t k = 0; k < pc.size(); ++k) {
    EXPECT_TRUE(dz::allclose(pe[k].data().to(Device::cpu()), pc[k].data(), 1e-4, 1e-5))
        << "eager parameter " << k;
    EXPECT_TRUE(dz::allclose(pd[k].data().to(Device::cpu()), pc[k].data(), 1e-4, 1e-5))
        << "compiled parameter " << k;
  }
}

/// The last `steps` losses of an LSTM (truncated BPTT over a whole sequence per step) and a
/// linear head, trained with SGD on `dev`: eagerly, or each step through dz::compile.
struct LstmRun {
  std::vector<double> losses;
  std::vector<Tensor> params; // on the CPU
  int retraces = 0;
};

LstmRun train_lstm(Device dev, bool compiled, int steps) {
  struct Net : dz::Model {
    L::LSTM lstm{6};
    L::Linear fc{1};
    Net() {
      register_layer("lstm", lstm);
      register_layer("fc", fc);
    }
    Variable loss(Variable xs, Variable ts) {
      lstm.reset_state();
      Variable total;
      for (int64_t t = 0; t < xs.shape()[0]; ++t) {
        Variable y = fc(lstm(F::get_item(xs, {t})));
        Variable l = F::mean_squared_error(y, F::get_item(ts, {t}));
        total = total ? total + l : l;
      }
      return total;
    }
  };
  dz::manual_seed(21);
  Net net;
  net.loss(Variable(dz::zeros({1, 2, 3})), Variable(dz::zeros({1, 2, 1}))); // the weights
  net.to(dev);
  dz::optimizers::SGD opt(0.1);
  opt.setup(net);
  auto body = [&](Variable xs, Variable ts) {
    Variable loss = net.loss(xs, ts);
    net.cleargrads();
    loss.backward();
    opt.update();
    return loss;
  };
  auto step = dz::compile(body);
  LstmRun out;
  for (int i = 0; i < steps; ++i) {
    Tensor xs = dz::randn({5, 2, 3}, dz::f32, uint64_t(60 + i)).to(dev);
    Tensor ts = dz::randn({5, 2, 1}, dz::f32, uint64_t(70 + i)).to(dev);
    Variable loss = compiled ? step(Variable(xs), Variable(ts)) : body(Variable(xs), Variable(ts));
    EXPECT_EQ(loss.device(), dev);
    out.losses.push_back(loss.item<double>());
  }
  for (const dz::Parameter &p : net.params())
    out.params.push_back(p.data().to(Device::cpu()));
  out.retraces = compiled ? step.retraces() : 0;
  return out;
}

TEST_F(CompiledDevice, LstmTrainingStepFollowsTheCpu) {
  LstmRun cpu = train_lstm(Device::cpu(), /*compiled=*/false, 3);
  LstmRun gpu = train_lstm(kGpu, /*compiled=*/true, 3);
  EXPECT_EQ(gpu.retraces, 1);
  ASSERT_EQ(gpu.losses.size(), cpu.losses.size());
  for (size_t i = 0; i < cpu.losses.size(); ++i)
    EXPECT_NEAR(gpu.losses[i], cpu.losses[i], 1e-4) << "step " << i;
  ASSERT_EQ(gpu.params.size(), cpu.params.size());
  for (size_t k = 0; k < cpu.params.size(); ++k)
    EXPECT_TRUE(dz::allclose(gpu.params[k], cpu.params[k], 1e-4, 1e-5))
        << "parameter " << k << ": max |diff| " << dz::max_abs_diff(gpu.params[k], cpu.params[k]);
}

TEST_F(CompiledDevice, BatchNormStepsFollowTheCpuEagerAndCompiled) {
  // The layers make gamma, beta and the running averages at their first forward, on the
  // device they were moved to (for `compiled`, inside the trace).
  for (dz::Shape shape : {dz::Shape{6, 3}, dz::Shape{4, 3, 2, 2}}) {
    std::string at = dz::shape_str(shape);
    L::BatchNorm cpu, eager, compiled;
    eager.to(kGpu);
    compiled.to(kGpu);
    auto loss_of = [](L::BatchNorm &bn, Variable x) {
      Variable y = bn(x);
      return F::sum(F::square(F::reshape(y, {y.shape()[0], -1}))) * F::sum(F::sigmoid(x));
    };
    dz::optimizers::SGD cpu_opt(0.05), eager_opt(0.05), compiled_opt(0.05);
    cpu_opt.setup(cpu);
    dz::testing::SideBySide train(eager, eager_opt, compiled, compiled_opt, loss_of);
    for (int i = 0; i < 3; ++i) {
      Tensor x = dz::randn(shape, dz::f64, uint64_t(40 + i)) * 2.0 + 0.5;
      double want = dz::testing::train_step(cpu, cpu_opt, loss_of, x).item<double>();
      EXPECT_NEAR(train.eager_step(x.to(kGpu)).item<double>(), want, 1e-9 * std::abs(want))
          << "eager " << at << " step " << i;
      Variable got = train.compiled_step(Variable(x.to(kGpu)));
      ASSERT_EQ(got.device(), kGpu);
      EXPECT_NEAR(got.item<double>(), want, 1e-9 * std::abs(want))
          << "compiled " << at << " step " << i;
    }
    EXPECT_EQ(train.compiled().retraces(), 1);
    auto pc = cpu.params(), pe = eager.params(), pd = compiled.params();
    ASSERT_EQ(pc.size(), 4u); // avg_mean, avg_var, gamma, beta
    for (size_t k = 0; k < pc.size(); ++k) {
      EXPECT_EQ(pd[k].data().device(), kGpu) << pc[k].name();
      // beta's gradient is zero up to rounding (y's sum is), so beta is rounding noise of
      // ~1e-11 that the summation order changes: atol 1e-9.
      EXPECT_TRUE(dz::allclose(pe[k].data().to(Device::cpu()), pc[k].data(), 1e-9, 1e-9))
          << "eager " << pc[k].name() << " " << at << ": max |diff| "
          << dz::max_abs_diff(pe[k].data().to(Device::cpu()), pc[k].data());
      EXPECT_TRUE(dz::allclose(pd[k].data().to(Device::cpu()), pc[k].data(), 1e-9, 1e-9))
          << "compiled " << pc[k].name() << " " << at << ": max |diff| "
          << dz::max_abs_diff(pd[k].data().to(Device::cpu()), pc[k].data());
    }
    // Test mode: the running averages normalise (and stay as they are).
    dz::TestMode test;
    Tensor x = dz::randn(shape, dz::f64, 50);
    Tensor want = cpu(Variable(x)).data();
    EXPECT_TRUE(
        dz::allclose(eager(Variable(x.to(kGpu))).data().to(Device::cpu()), want, 1e-9, 1e-12))
        << "eager test mode " << at;
    auto forward = dz::compile([&](Variable v) { return compiled(v); });
    EXPECT_TRUE(
        dz::allclose(forward(Variable(x.to(kGpu))).data().to(Device::cpu()), want, 1e-9, 1e-12))
        << "compiled test mode " << at;
  }
}

TEST_F(CompiledDevice, DropoutDrawsTheCpuMasksAndContinuesTheStream) {
  // The RNG state (seed, offset) stays on the CPU; each compiled call draws its mask
  // there from the eager stream and uploads it, as eager dropout on the device does.
  Tensor x = dz::ones({64, 50}, dz::f32);
  auto body = [](Variable v) { return F::dropout(F::tanh(v), 0.3); };
  std::vector<Tensor> want;
  dz::manual_seed(5);
  for (int i = 0; i < 4; ++i)
    want.push_back(body(Variable(x)).data());
  dz::manual_seed(5);
  auto step = dz::compile(body);
  for (int i = 0; i < 3; ++i) {
    Variable y = step(Variable(x.to(kGpu)));
    ASSERT_EQ(y.device(), kGpu);
    EXPECT_TRUE(dz::allclose(y.data().to(Device::cpu()), want[size_t(i)], 1e-6, 0)) << "call " << i;
  }
  EXPECT_EQ(step.retraces(), 1);
  EXPECT_NE(step.ir().find("dz.dropout_mask"), std::string::npos) << step.ir();
  // An eager draw on the device after the compiled calls continues the stream.
  Tensor next = body(Variable(x.to(kGpu))).data().to(Device::cpu());
  EXPECT_TRUE(dz::allclose(next, want[3], 1e-6, 0));
}

TEST_F(CompiledDevice, MlpWithDropoutTrainsLikeTheCpu) {
  struct Net : dz::Model {
    L::Linear l1{16}, l2{3};
    Net() {
      register_layer("l1", l1);
      register_layer("l2", l2);
    }
    Variable forward(const Variable &x) override { return l2(F::dropout(F::relu(l1(x)), 0.25)); }
  };
  auto make = [](Device dev) {
    dz::manual_seed(8);
    Net n;
    {
      dz::TestMode no_draws; // makes the weights without drawing a mask
      n(Variable(dz::zeros({1, 2}, dz::f32)));
    }
    n.to(dev);
    return n;
  };
  Net cpu = make(Device::cpu()), gpu = make(kGpu);
  dz::optimizers::SGD cpu_opt(0.1), gpu_opt(0.1);
  cpu_opt.setup(cpu);
  gpu_opt.setup(gpu);
  auto train = [](Net &net, dz::optimizers::SGD &opt, Variable x, Variable t) {
    Variable loss = F::softmax_cross_entropy(net(x), t);
    net.cleargrads();
    loss.backward();
    opt.update();
    return loss;
  };
  auto step = dz::compile([&](Variable x, Variable t) { return train(gpu, gpu_opt, x, t); });
  dz::datasets::Spiral data(/*train=*/true);
  dz::DataLoader loader(data, 30, /*shuffle=*/false);
  std::vector<double> cpu_losses;
  dz::manual_seed(9); // the dropout masks
  for (auto [x, t] : loader) {
    cpu_losses.push_back(train(cpu, cpu_opt, Variable(x.to(dz::f32)), Variable(t)).item<double>());
    if (cpu_losses.size() == 4)
      break;
  }
  dz::manual_seed(9);
  loader.to(kGpu);
  size_t i = 0;
  for (auto [x, t] : loader) {
    Variable loss = step(Variable(x.to(dz::f32)), Variable(t));
    EXPECT_NEAR(loss.item<double>(), cpu_losses[i], 1e-5) << "step " << i;
    if (++i == cpu_losses.size())
      break;
  }
  EXPECT_EQ(step.retraces(), 1);
  auto pc = cpu.params(), pg = gpu.params();
  for (size_t k = 0; k < pc.size(); ++k)
    EXPECT_TRUE(dz::allclose(pg[k].data().to(Device::cpu()), pc[k].data(), 1e-4, 1e-5))
        << "parameter " << k;
}

TEST_F(CompiledDevice, LabelsOutOfRangeAreNamedEagerAndCompiled) {
  // The labels are checked once a step (the loss's forward; its gradient's one_hot
  // trusts that check), on the host after one download.
  dz::models::MLP model = mlp_on(kGpu);
  auto step = dz::compile([&](Variable x, Variable t) {
    Variable loss = F::softmax_cross_entropy(model(x), t);
    model.cleargrads();
    loss.backward();
    return loss;
  });
  Tensor x = dz::ones({3, 2}, dz::f32).to(kGpu);
  Tensor good = Tensor::from_i64({0, 2, 1}).to(kGpu), bad = Tensor::from_i64({0, 7, 1}).to(kGpu);
  EXPECT_TRUE(std::isfinite(step(Variable(x), Variable(good)).item<double>()));
  for (bool compiled : {false, true}) {
    try {
      if (compiled)
        step(Variable(x), Variable(bad));
      else
        F::softmax_cross_entropy(model(Variable(x)), Variable(bad));
      FAIL() << "label 7 of 3 classes passed, compiled " << compiled;
    } catch (const dz::Error &e) {
      std::string m = e.what();
      EXPECT_NE(m.find("label 7 at row 1 is out of range for 3 classes"), std::string::npos) << m;
    }
  }
}

TEST_F(CompiledDevice, AKernelTheGpuCompilerRejectsFailsToLoad) {
  // expl (long double) exists on the host, not in CUDA: the emulation's host compile
  // would take it, but every emulated source also goes through NVRTC.
  if (!dz::cuda::nvrtc_available())
    GTEST_SKIP() << dz::cuda::nvrtc_unavailable_reason();
  const std::string source = "extern \"C\" __global__ void host_only(double *x) {\n"
                             "  x[threadIdx.x] = expl(x[threadIdx.x]);\n}\n";
  try {
    dz::cuda::GeneratedKernel k(source, "host_only");
    FAIL() << "a kernel calling expl loaded on " << dz::device_backend(kGpu).describe();
  } catch (const dz::Error &e) {
    std::string m = e.what();
    EXPECT_NE(m.find("expl"), std::string::npos) << m;
    if (dz::device_backend(kGpu).describe().find("emulated") != std::string::npos) {
      EXPECT_NE(m.find("does not compile for the GPU"), std::string::npos) << m;
    }
  }
}

TEST_F(CompiledDevice, TensorsOnTwoDevicesAreRefused) {
  dz::models::MLP model = mlp_on(kGpu);
  auto forward = dz::compile([&](Variable v) { return model(v); });
  try {
    forward(Variable(dz::ones({2, 2}, dz::f32))); // data on the CPU, weights on cuda:0
    FAIL() << "a step over two devices ran";
  } catch (const dz::Error &e) {
    std::string m = e.what();
    EXPECT_NE(m.find("cuda:0"), std::string::npos) << m;
    EXPECT_NE(m.find("cpu"), std::string::npos) << m;
  }
}

} // namespace

int main(int argc, char **argv) { return dz::testing::device_test_main(argc, argv); }
