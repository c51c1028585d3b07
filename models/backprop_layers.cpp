// models/backprop_layers.cpp - chapter 5 of "Deep Learning from Scratch" (the first book):
// backpropagation written by hand, layer by layer, without dzc's autograd. MulLayer and
// AddLayer on numbers (the apple and apple + orange shopping examples), then Relu, Sigmoid,
// Affine and SoftmaxWithLoss on float64 tensors, each with its forward and backward side by
// side, and the chapter's TwoLayerNet (784-50-10): its gradients by backprop are checked
// against central differences (h = 1e-5) on 3 digits in float64, then it trains (in float32)
// with SGD on mini-batches drawn at random, one-hot targets as the chapter uses them.
//
// Usage: backprop_layers [--iters 10000] [--batch-size 100] [--lr 0.1] [--train-size N]
//                        [--min-accuracy X] [--data DIR] [--seed 0] [--quiet]
// Expected: the book's numbers (220; 2.2, 110, 200; 715; 110, 2.2, 3.3, 165, 650), a mean
// absolute difference <= 1e-10 between the two gradients of every parameter, and test
// accuracy >= 0.93 after 10000 iterations (with the default settings); exits non-zero
// otherwise.
#include "common.h"

#include <cmath>
#include <map>

namespace {

using dz::Tensor;

// ---- layers on numbers ---------------------------------------------------------------------

class MulLayer {
public:
  double forward(double x, double y) {
    x_ = x;
    y_ = y;
    return x * y;
  }
  std::pair<double, double> backward(double dout) const { return {dout * y_, dout * x_}; }

private:
  double x_ = 0, y_ = 0;
};

class AddLayer {
public:
  double forward(double x, double y) const { return x + y; }
  std::pair<double, double> backward(double dout) const { return {dout, dout}; }
};

// ---- layers on tensors ---------------------------------------------------------------------

class Relu {
public:
  Tensor forward(const Tensor &x) {
    mask_ = x <= 0.0;
    return dz::where(mask_, dz::zeros_like(x), x);
  }
  Tensor backward(const Tensor &dout) const { return dz::where(mask_, dz::zeros_like(dout), dout); }

private:
  Tensor mask_;
};

class Sigmoid {
public:
  Tensor forward(const Tensor &x) {
    out_ = 1.0 / (1.0 + dz::exp(-x));
    return out_;
  }
  Tensor backward(const Tensor &dout) const { return dout * (1.0 - out_) * out_; }

private:
  Tensor out_;
};

class Affine {
public:
  Affine(Tensor &W, Tensor &b) : W_(W), b_(b) {}
  Tensor forward(const Tensor &x) {
    x_ = x;
    return dz::matmul(x, W_) + b_;
  }
  Tensor backward(const Tensor &dout) {
    dW = dz::matmul(x_.T(), dout);
    db = dout.sum({0});
    return dz::matmul(dout, W_.T());
  }
  Tensor dW, db;

private:
  Tensor &W_, &b_; // the network's parameters, changed in place by the numerical gradient
  Tensor x_;
};

/// -sum(t log y) / N for one-hot t, with log y = x - logsumexp(x) taken from the scores x.
/// (The chapter writes log(y + 1e-7); the backward below is the derivative of the exact
/// loss, so the 1e-7 would show as a 1e-7 difference in the gradient check.)
double cross_entropy_error(const Tensor &x, const Tensor &t) {
  return -(t * (x - dz::logsumexp(x, 1))).sum().item<double>() / double(x.shape(0));
}

class SoftmaxWithLoss {
public:
  double forward(const Tensor &x, const Tensor &t) {
    t_ = t;
    y_ = dz::softmax(x, 1);
    return cross_entropy_error(x, t_);
  }
  Tensor backward() const { return (y_ - t_) / double(t_.shape(0)); }

private:
  Tensor y_, t_;
};

// ---- the chapter's two-layer network ----------------------------------------------------------

class TwoLayerNet {
public:
  TwoLayerNet(int64_t input, int64_t hidden, int64_t output, dz::Generator &gen,
              double weight_init_std = 0.01) {
    params["W1"] = dz::randn({input, hidden}, dz::f64, gen) * weight_init_std;
    params["b1"] = dz::zeros({hidden}, dz::f64);
    params["W2"] = dz::randn({hidden, output}, dz::f64, gen) * weight_init_std;
    params["b2"] = dz::zeros({output}, dz::f64);
  }

  /// Converts the parameters to `dtype` (float32 trains several times faster than float64).
  void to(dz::DType dtype) {
    for (auto &entry : params)
      entry.second = entry.second.to(dtype);
  }

  Tensor predict(const Tensor &x) { return affine2_.forward(relu1_.forward(affine1_.forward(x))); }
  double loss(const Tensor &x, const Tensor &t) { return last_.forward(predict(x), t); }
  double accuracy(const Tensor &x, const Tensor &t) {
    return (predict(x).argmax(1) == t.argmax(1)).to(dz::f64).mean().item<double>();
  }

  /// The gradients by backpropagation: forward, then every layer's backward in reverse.
  std::map<std::string, Tensor> gradient(const Tensor &x, const Tensor &t) {
    loss(x, t);
    Tensor dout = last_.backward();
    dout = affine2_.backward(dout);
    dout = relu1_.backward(dout);
    affine1_.backward(dout);
    return {{"W1", affine1_.dW}, {"b1", affine1_.db}, {"W2", affine2_.dW}, {"b2", affine2_.db}};
  }

  /// The gradients by central differences, one element at a time (the chapter's
  /// numerical_gradient). The chapter's h = 1e-4 leaves b2 1.2e-10 off (the truncation
  /// error, h^2/6 times the third derivative); h = 1e-5 brings every mean difference to
  /// about 1e-12.
  std::map<std::string, Tensor> numerical_gradient(const Tensor &x, const Tensor &t,
                                                   double h = 1e-5) {
    std::map<std::string, Tensor> grads;
    for (auto &[name, p] : params) {
      Tensor g = dz::zeros_like(p);
      double *v = p.data<double>();
      double *gv = g.data<double>();
      for (int64_t i = 0; i < p.size(); ++i) {
        const double old = v[i];
        v[i] = old + h;
        const double f1 = loss(x, t);
        v[i] = old - h;
        const double f2 = loss(x, t);
        v[i] = old;
        gv[i] = (f1 - f2) / (2 * h);
      }
      grads[name] = g;
    }
    return grads;
  }

  std::map<std::string, Tensor> params;

private:
  Affine affine1_{params["W1"], params["b1"]};
  Relu relu1_;
  Affine affine2_{params["W2"], params["b2"]};
  SoftmaxWithLoss last_;
};

bool near(double v, double expected) { return std::abs(v - expected) <= 1e-9 * std::abs(expected); }

/// Prints "name value" and returns whether the value is the book's.
bool show(const char *name, double v, double expected) {
  std::printf("  %-12s %.17g%s\n", name, v, near(v, expected) ? "" : "   (expected differs)");
  return near(v, expected);
}

} // namespace

int main(int argc, char **argv) try {
  example::Cli cli("backprop_layers",
                   "Chapter 5 of 'Deep Learning from Scratch': MulLayer/AddLayer, Relu, "
                   "Sigmoid, Affine and SoftmaxWithLoss with backward by hand; a TwoLayerNet "
                   "checked against numerical gradients and trained on MNIST.");
  cli.iters(10000).batch_size(100).lr(0.1).seed().quiet().data();
  int64_t train_size = 0;
  cli.app()
      .add_option("--train-size", train_size, "training digits to use (0: all)")
      ->type_name("N")
      ->check(example::Cli::whole<int64_t>(0));
  double min_accuracy = 0;
  example::min_accuracy_option(cli, min_accuracy);
  const example::Options &args = cli.parse(argc, argv);
  bool ok = true;

  // The apple example: 2 apples of 100 with 10% tax.
  {
    MulLayer mul_apple, mul_tax;
    const double apple = 100, apple_num = 2, tax = 1.1;
    const double price = mul_tax.forward(mul_apple.forward(apple, apple_num), tax);
    auto [dapple_price, dtax] = mul_tax.backward(1);
    auto [dapple, dapple_num] = mul_apple.backward(dapple_price);
    std::printf("apple: price and its gradients\n");
    ok &= show("price", price, 220);
    ok &= show("dapple", dapple, 2.2);
    ok &= show("dapple_num", dapple_num, 110);
    ok &= show("dtax", dtax, 200);
  }
  // 2 apples of 100 and 3 oranges of 150 with 10% tax.
  {
    MulLayer mul_apple, mul_orange, mul_tax;
    AddLayer add_fruit;
    const double apple = 100, apple_num = 2, orange = 150, orange_num = 3, tax = 1.1;
    const double apple_price = mul_apple.forward(apple, apple_num);
    const double orange_price = mul_orange.forward(orange, orange_num);
    const double all_price = add_fruit.forward(apple_price, orange_price);
    const double price = mul_tax.forward(all_price, tax);
    auto [dall_price, dtax] = mul_tax.backward(1);
    auto [dapple_price, dorange_price] = add_fruit.backward(dall_price);
    auto [dorange, dorange_num] = mul_orange.backward(dorange_price);
    auto [dapple, dapple_num] = mul_apple.backward(dapple_price);
    std::printf("apple and orange: price and its gradients\n");
    ok &= show("price", price, 715);
    ok &= show("dapple_num", dapple_num, 110);
    ok &= show("dapple", dapple, 2.2);
    ok &= show("dorange", dorange, 3.3);
    ok &= show("dorange_num", dorange_num, 165);
    ok &= show("dtax", dtax, 650);
  }
  // Sigmoid's backward against its derivative y (1 - y) at a few points.
  {
    Sigmoid sigmoid;
    const Tensor x = dz::Tensor::from({-2.0, -0.5, 0.0, 1.0, 3.0});
    const Tensor y = sigmoid.forward(x);
    const Tensor dx = sigmoid.backward(dz::ones_like(x));
    double worst = 0;
    for (int64_t i = 0; i < x.size(); ++i) {
      const double s = 1 / (1 + std::exp(-x.at(i)));
      worst = std::max({worst, std::abs(y.at(i) - s), std::abs(dx.at(i) - s * (1 - s))});
    }
    std::printf("sigmoid: largest difference from 1/(1+e^-x) and its derivative %.3g\n", worst);
    ok &= worst <= 1e-15;
  }

  // TwoLayerNet on the MNIST digits, one-hot targets.
  const dz::datasets::MNIST mnist_train(true, args.data), mnist_test(false, args.data);
  const dz::datasets::Dataset train_set = example::first_samples(mnist_train, train_size);
  auto images = [](const dz::datasets::Dataset &ds) {
    return ds.data().reshape({ds.size(), 784}).to(dz::f64) / 255.0;
  };
  Tensor x_train = images(train_set), x_test = images(mnist_test);
  Tensor t_train = dz::one_hot(train_set.label(), 10, dz::f64);
  Tensor t_test = dz::one_hot(mnist_test.label(), 10, dz::f64);

  dz::Generator gen(args.seed);
  TwoLayerNet net(784, 50, 10, gen);
  {
    // In float64, as NumPy computes.
    example::Progress timer("", 0, false);
    const Tensor x_batch = x_train[{dz::Slice(0, 3)}], t_batch = t_train[{dz::Slice(0, 3)}];
    auto numerical = net.numerical_gradient(x_batch, t_batch);
    auto backprop = net.gradient(x_batch, t_batch);
    std::printf("gradient check on 3 digits (%.1f s): mean |backprop - numerical| per parameter\n",
                timer.elapsed());
    for (const char *name : {"W1", "b1", "W2", "b2"}) {
      const double diff = dz::abs(backprop[name] - numerical[name]).mean().item<double>();
      std::printf("  %s: %.3g\n", name, diff);
      ok &= diff <= 1e-10;
    }
  }

  // Training in float32.
  net.to(dz::f32);
  x_train = x_train.to(dz::f32), x_test = x_test.to(dz::f32);
  t_train = t_train.to(dz::f32), t_test = t_test.to(dz::f32);
  const int64_t n = x_train.shape(0);
  const int64_t iter_per_epoch = std::max<int64_t>(n / args.batch_size, 1);
  double test_acc = 0;
  for (int64_t i = 0; i < args.iters; ++i) {
    // A mini-batch drawn at random (with replacement, as np.random.choice).
    const Tensor pick = (dz::rand({args.batch_size}, dz::f64, gen) * double(n)).to(dz::i64);
    const Tensor x_batch = x_train[{pick}], t_batch = t_train[{pick}];
    auto grads = net.gradient(x_batch, t_batch);
    for (auto &[name, p] : net.params)
      p -= args.lr * grads[name];
    if ((i + 1) % iter_per_epoch == 0 || i + 1 == args.iters) {
      const double train_acc = net.accuracy(x_train, t_train);
      test_acc = net.accuracy(x_test, t_test);
      const double loss = net.loss(x_batch, t_batch);
      if (!args.quiet)
        std::printf("iter %5lld  batch loss %.4f  train acc %.4f  test acc %.4f\n",
                    (long long)(i + 1), loss, train_acc, test_acc);
    }
  }
  std::printf("test accuracy %.4f\n", test_acc);
  if (!ok) {
    std::fprintf(stderr, "backprop_layers: a value differs from the book's (see above)\n");
    return 1;
  }
  if (test_acc < min_accuracy) {
    std::fprintf(stderr, "backprop_layers: accuracy %.4f is below --min-accuracy %g\n", test_acc,
                 min_accuracy);
    return 1;
  }
  if (cli.documented_settings() && train_size == 0 && test_acc < 0.93) {
    std::fprintf(stderr, "backprop_layers: test accuracy %.4f is below the expected 0.93\n",
                 test_acc);
    return 1;
  }
  return 0;
} catch (...) {
  return example::exit_status("backprop_layers");
}
