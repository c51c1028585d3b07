// test_eager_training.cpp - the book's GPU step: an MLP trained eagerly on cuda:0 (the
// model moved with Model::to, the batches with DataLoader::to) follows the same losses
// and ends with the same weights as on the CPU; double backprop runs on the device. Like
// test_eager_device.cpp, ctest runs it on the GPU (skipped without one) and with
// --emulate on the host emulation.
#include "device_test.h"

#include <dzc/device_backend.h>
#include <dzc/dzc.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace {

namespace F = dz::functions;
namespace L = dz::layers;
using dz::Device;
using dz::Tensor;
using dz::Variable;

using dz::testing::kGpu;

using EagerTraining = dz::testing::OnDevice;

/// Losses of `steps` SGD steps of a 2-layer MLP on `dev`, and the final weights (CPU).
std::pair<std::vector<double>, std::vector<Tensor>> train(Device dev, int steps) {
  dz::manual_seed(0);
  dz::models::MLP model({16, 3});
  model.to(dev);
  dz::optimizers::SGD opt(0.5);
  opt.setup(model);
  dz::datasets::Spiral data(/*train=*/true);
  dz::DataLoader loader(data, 30, /*shuffle=*/true, /*seed=*/1);
  loader.to(dev);
  std::vector<double> losses;
  for (auto [x, t] : loader) {
    EXPECT_EQ(x.device(), dev);
    Variable loss = F::softmax_cross_entropy(model(Variable(x)), Variable(t));
    EXPECT_EQ(loss.device(), dev);
    model.cleargrads();
    loss.backward();
    opt.update();
    losses.push_back(loss.data().item<double>());
    if (int(losses.size()) == steps)
      break;
  }
  std::vector<Tensor> weights;
  for (const dz::Parameter &p : model.params()) {
    EXPECT_EQ(p.data().device(), dev);
    weights.push_back(p.data().to(Device::cpu()));
  }
  return {losses, weights};
}

TEST_F(EagerTraining, MlpOnTheDeviceFollowsTheCpu) {
  auto [cpu_losses, cpu_w] = train(Device::cpu(), 8);
  auto [dev_losses, dev_w] = train(kGpu, 8);
  ASSERT_EQ(cpu_losses.size(), dev_losses.size());
  for (size_t i = 0; i < cpu_losses.size(); ++i)
    EXPECT_NEAR(dev_losses[i], cpu_losses[i], 1e-4 * (1 + std::abs(cpu_losses[i]))) << "step " << i;
  EXPECT_LT(dev_losses.back(), dev_losses.front()); // it learns
  ASSERT_EQ(cpu_w.size(), dev_w.size());
  for (size_t i = 0; i < cpu_w.size(); ++i)
    EXPECT_TRUE(dz::allclose(dev_w[i], cpu_w[i], 1e-4, 1e-5))
        << "parameter " << i << ": max |diff| " << dz::max_abs_diff(dev_w[i], cpu_w[i]);
}

TEST_F(EagerTraining, DoubleBackpropOnTheDevice) {
  // y = x^4 - 2x^2: dy/dx = 4x^3 - 4x, d2y/dx2 = 12x^2 - 4 (the book's step 33).
  Variable x(Tensor::from({2.0, -0.5}, {2}).to(kGpu));
  Variable y = F::pow(x, 4) - 2 * F::pow(x, 2);
  y.backward({.create_graph = true});
  Variable gx = x.grad();
  EXPECT_EQ(gx.device(), kGpu);
  EXPECT_TRUE(dz::allclose(gx.data().to(Device::cpu()), Tensor::from({24.0, 1.5}, {2}), 1e-12));
  x.cleargrad();
  gx.backward();
  EXPECT_TRUE(
      dz::allclose(x.grad().data().to(Device::cpu()), Tensor::from({44.0, -1.0}, {2}), 1e-12));
}

TEST_F(EagerTraining, DropoutDrawsTheCpuStream) {
  // The device draws its mask with a Philox kernel: the CPU's bits, exactly, in f32 and
  // f64, for sizes that end inside a counter's four words, at ratios f32 cannot hold.
  for (dz::DType dt : {dz::f64, dz::f32})
    for (double ratio : {0.5, 0.3, 0.9})
      for (int64_t n : {64, 4097}) {
        dz::Generator a(5), b(5);
        Tensor x = dz::ones({n}, dt);
        Variable on_cpu = F::dropout(Variable(x), ratio, a);
        Variable on_dev = F::dropout(Variable(x.to(kGpu)), ratio, b);
        EXPECT_EQ(on_dev.device(), kGpu);
        EXPECT_EQ(on_dev.data().to_vector(), on_cpu.data().to_vector())
            << dz::dtype_name(dt) << " ratio " << ratio << " n " << n;
        EXPECT_EQ(a.offset(), b.offset()) << "the same counters were reserved";
        // The next draw continues the stream on both.
        EXPECT_EQ(F::dropout(Variable(x.to(kGpu)), ratio, b).data().to_vector(),
                  F::dropout(Variable(x), ratio, a).data().to_vector());
      }
}

} // namespace

int main(int argc, char **argv) { return dz::testing::device_test_main(argc, argv); }
