// A short end-to-end training run: the book's spiral MLP (step 48) learns, in eager mode.
#include <dzc/dzc.h>

#include <gtest/gtest.h>

namespace F = dz::functions;
namespace M = dz::models;
namespace O = dz::optimizers;

TEST(Training, SpiralMlpLossFallsAndAccuracyPassesNinetyPercent) {
  dz::manual_seed(0);
  dz::datasets::Spiral train_set(true);
  dz::DataLoader loader(train_set, 30, true, 0);
  M::MLP model({10, 3});
  O::SGD optimizer(1.0);
  optimizer.setup(model);

  // SGD with lr 1.0 on mini-batches is noisy from one epoch to the next, so the loss is
  // compared over blocks of 20 epochs: each block's mean must be below the previous one.
  const int epochs = 300, block = 20;
  std::vector<double> block_loss;
  double block_sum = 0, accuracy = 0;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    double loss_sum = 0, acc_sum = 0;
    for (auto [x, t] : loader) {
      dz::Variable y = model(x);
      dz::Variable loss = F::softmax_cross_entropy(y, t);
      model.cleargrads();
      loss.backward();
      optimizer.update();
      loss_sum += loss.item<double>() * double(t.shape(0));
      acc_sum += F::accuracy(y, t).item<double>() * double(t.shape(0));
    }
    block_sum += loss_sum / double(train_set.size());
    accuracy = acc_sum / double(train_set.size());
    if (epoch % block == 0) {
      block_loss.push_back(block_sum / block);
      block_sum = 0;
    }
  }
  for (size_t i = 1; i < block_loss.size(); ++i)
    EXPECT_LT(block_loss[i], block_loss[i - 1]) << "block " << i;
  EXPECT_GT(accuracy, 0.9);
  EXPECT_LT(block_loss.back(), 0.2);
}
