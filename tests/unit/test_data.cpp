// test_data.cpp - datasets (Spiral, SinCurve, the IDX loader on files written here, the
// installed Fashion-MNIST), transforms, DataLoader batching/reshuffling, SeqDataLoader.
#include <dzc/dzc.h>

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numbers>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace D = dz::datasets;
namespace T = dz::transforms;
namespace fs = std::filesystem;
using dz::Tensor;

namespace {

/// A dataset whose sample i is the value i (shape (1,)) with target i (int64).
D::Dataset counting(int64_t n) {
  return D::Dataset(dz::arange(double(n), dz::f64).reshape({n, 1}), dz::arange(double(n)));
}

std::vector<int64_t> values_of(const Tensor &t) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < t.size(); ++i)
    v.push_back(int64_t(t.at(i)));
  return v;
}

// ---- writing IDX files (plain and gzip) -----------------------------------------------------

using Bytes = std::string;

void put_be32(Bytes &b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8)
    b.push_back(char((v >> s) & 0xff));
}

Bytes idx_images(int n, int rows, int cols) {
  Bytes b;
  put_be32(b, 2051);
  put_be32(b, uint32_t(n));
  put_be32(b, uint32_t(rows));
  put_be32(b, uint32_t(cols));
  for (int k = 0; k < n * rows * cols; ++k)
    b.push_back(char((k * 7) % 256)); // pixel k = 7k mod 256
  return b;
}

Bytes idx_labels(const std::vector<int> &labels) {
  Bytes b;
  put_be32(b, 2049);
  put_be32(b, uint32_t(labels.size()));
  for (int l : labels)
    b.push_back(char(l));
  return b;
}

uint32_t crc32(const Bytes &b) {
  uint32_t c = 0xffffffffu;
  for (unsigned char byte : b) {
    c ^= byte;
    for (int k = 0; k < 8; ++k)
      c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}

/// A gzip member holding `data` in stored (uncompressed) deflate blocks (RFC 1951/1952).
Bytes gzip_stored(const Bytes &data) {
  Bytes g{'\x1f', '\x8b', '\x08', '\0', '\0', '\0', '\0', '\0', '\0', '\xff'};
  size_t pos = 0;
  do {
    const size_t len = std::min<size_t>(data.size() - pos, 65535);
    const bool last = pos + len == data.size();
    g.push_back(char(last ? 1 : 0));
    g.push_back(char(len & 0xff));
    g.push_back(char(len >> 8));
    g.push_back(char(~len & 0xff));
    g.push_back(char((~len >> 8) & 0xff));
    g.append(data, pos, len);
    pos += len;
  } while (pos < data.size());
  const uint32_t crc = crc32(data), size = uint32_t(data.size());
  for (int s = 0; s < 32; s += 8)
    g.push_back(char((crc >> s) & 0xff));
  for (int s = 0; s < 32; s += 8)
    g.push_back(char((size >> s) & 0xff));
  return g;
}

void write_file(const fs::path &p, const Bytes &b) {
  std::ofstream(p, std::ios::binary).write(b.data(), std::streamsize(b.size()));
}

/// A scratch directory removed at the end of the test.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string &name)
      : path(fs::temp_directory_path() / ("dzc_" + name + "_" + std::to_string(getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

const std::vector<int> kTrainLabels{5, 0, 4, 1, 9};
const std::vector<int> kTestLabels{7, 2, 1};

/// train-* gzip-compressed, t10k-* plain: 5 and 3 images of 28x28.
void write_small_mnist(const fs::path &dir) {
  write_file(dir / "train-images-idx3-ubyte.gz", gzip_stored(idx_images(5, 28, 28)));
  write_file(dir / "train-labels-idx1-ubyte.gz", gzip_stored(idx_labels(kTrainLabels)));
  write_file(dir / "t10k-images-idx3-ubyte", idx_images(3, 28, 28));
  write_file(dir / "t10k-labels-idx1-ubyte", idx_labels(kTestLabels));
}

std::string error_of(const std::function<void()> &f) {
  try {
    f();
  } catch (const dz::Error &e) {
    return e.what();
  }
  return "(no dz::Error)";
}

} // namespace

// ---- transforms -----------------------------------------------------------------------------

TEST(DataTransforms, ComposeAppliesInOrder) {
  const T::Compose c{[](const Tensor &x) { return x + 1.0; },
                     [](const Tensor &x) { return x * 10.0; }};
  EXPECT_DOUBLE_EQ(c(Tensor::scalar(1.0)).item<double>(), 20.0);
}

TEST(DataTransforms, NormalizeScalarAndPerChannel) {
  const Tensor x = dz::arange(12, dz::f32).reshape({3, 2, 2});
  const Tensor y = T::Normalize(2.0, 4.0)(x);
  EXPECT_EQ(y.dtype(), dz::f32);
  EXPECT_DOUBLE_EQ(y.at(10), 2.0); // (10 - 2) / 4
  const Tensor z = T::Normalize({0.0, 4.0, 8.0}, {1.0, 2.0, 4.0})(x);
  EXPECT_DOUBLE_EQ(z.at(1), 1.0);   // channel 0: (1 - 0) / 1
  EXPECT_DOUBLE_EQ(z.at(5), 0.5);   // channel 1: (5 - 4) / 2
  EXPECT_DOUBLE_EQ(z.at(11), 0.75); // channel 2: (11 - 8) / 4
  EXPECT_THROW(T::Normalize({0.0, 1.0}, {1.0, 1.0})(x), dz::Error);
}

TEST(DataTransforms, NormalizeOfBytesIsFloat32) {
  const Tensor x = Tensor::from({0, 51, 255}, {3}).to(dz::u8);
  const Tensor y = T::Normalize(0, 255)(x);
  EXPECT_EQ(y.dtype(), dz::f32);
  EXPECT_FLOAT_EQ(float(y.at(1)), 0.2f);
  EXPECT_FLOAT_EQ(float(y.at(2)), 1.0f);
}

TEST(DataTransforms, FlattenAsTypeToInt) {
  const Tensor x = dz::arange(6, dz::f64).reshape({1, 2, 3}) + 0.5;
  EXPECT_EQ(T::Flatten()(x).shape(), (dz::Shape{6}));
  EXPECT_EQ(T::AsType(dz::f32)(x).dtype(), dz::f32);
  EXPECT_EQ(T::ToFloat()(x).dtype(), dz::f32);
  const Tensor i = T::ToInt()(x);
  EXPECT_EQ(i.dtype(), dz::i64);
  EXPECT_EQ(i.at(5), 5.0);
  EXPECT_EQ(T::ToInt(dz::i32)(x).dtype(), dz::i32);
  EXPECT_THROW((void)T::ToInt(dz::f32), dz::Error);
}

TEST(DataTransforms, DatasetAppliesTransformAndTargetTransform) {
  D::Dataset ds = counting(4);
  ds.set_transform([](const Tensor &x) { return x * 2.0; });
  ds.set_target_transform(T::AsType(dz::f32));
  auto [x, t] = ds[3];
  EXPECT_DOUBLE_EQ(x.item<double>(), 6.0);
  EXPECT_EQ(t.dtype(), dz::f32);
  EXPECT_DOUBLE_EQ(t.item<double>(), 3.0);
  EXPECT_DOUBLE_EQ(ds.data().at(3), 3.0); // stored samples are untouched
}

TEST(DataSets, IndexOutOfRangeAndMismatchedLabelsAreErrors) {
  const D::Dataset ds = counting(4);
  EXPECT_THROW(ds[4], dz::Error);
  EXPECT_THROW(ds[-1], dz::Error);
  EXPECT_THROW(D::Dataset(dz::zeros({3, 2}), dz::zeros({4})), dz::Error);
}

TEST(DataSets, DatasetWithoutLabelsGivesEmptyTargets) {
  const D::Dataset ds(dz::zeros({3, 2}));
  EXPECT_FALSE(ds.has_label());
  EXPECT_EQ(ds[1].second.size(), 0);
  EXPECT_THROW(ds.label(), dz::Error);
}

// ---- Spiral, SinCurve -----------------------------------------------------------------------

TEST(DataSpiral, ShapesDtypesAndClassBalance) {
  const D::Spiral train(true);
  EXPECT_TRUE(train.train());
  EXPECT_EQ(train.size(), 300);
  EXPECT_EQ(train.data().shape(), (dz::Shape{300, 2}));
  EXPECT_EQ(train.data().dtype(), dz::f32);
  EXPECT_EQ(train.label().shape(), (dz::Shape{300}));
  EXPECT_EQ(train.label().dtype(), dz::i64);
  std::array<int, 3> count{};
  for (int64_t v : values_of(train.label()))
    ++count.at(size_t(v));
  EXPECT_EQ(count, (std::array<int, 3>{100, 100, 100}));
  auto [x, t] = train[0];
  EXPECT_EQ(x.shape(), (dz::Shape{2}));
  EXPECT_EQ(t.ndim(), 0);
}

TEST(DataSpiral, RadiiOfEachClassAreIOver100) {
  // Point i of each class lies at radius i / 100 (only the angle is noisy).
  const D::Spiral train(true);
  std::array<std::vector<double>, 3> radii;
  for (int64_t k = 0; k < 300; ++k) {
    const double a = train.data().at(2 * k), b = train.data().at(2 * k + 1);
    radii[size_t(train.label().at(k))].push_back(std::hypot(a, b));
  }
  for (auto &r : radii) {
    std::sort(r.begin(), r.end());
    for (size_t i = 0; i < r.size(); ++i)
      EXPECT_NEAR(r[i], double(i) / 100, 1e-6);
  }
}

TEST(DataSpiral, DeterministicPerSplitAndShuffled) {
  const D::Spiral a(true), b(true), test(false);
  EXPECT_TRUE(dz::allclose(a.data(), b.data(), 0, 0));
  EXPECT_EQ(values_of(a.label()), values_of(b.label()));
  EXPECT_FALSE(dz::allclose(a.data(), test.data()));
  EXPECT_FALSE(test.train());
  // Shuffled: the labels are not in class blocks.
  const std::vector<int64_t> t = values_of(a.label());
  EXPECT_FALSE(std::is_sorted(t.begin(), t.end()));
  const auto [x2, t2] = D::get_spiral(true);
  EXPECT_TRUE(dz::allclose(x2, a.data(), 0, 0));
}

TEST(DataSinCurve, ShapesAndNextStepTargets) {
  const D::SinCurve train(true), test(false);
  for (const D::SinCurve *ds : {&train, &test}) {
    EXPECT_EQ(ds->size(), 999);
    EXPECT_EQ(ds->data().shape(), (dz::Shape{999, 1}));
    EXPECT_EQ(ds->label().shape(), (dz::Shape{999, 1}));
    EXPECT_EQ(ds->data().dtype(), dz::f32);
    for (int64_t i = 0; i + 1 < 999; ++i)
      ASSERT_EQ(ds->label().at(i), ds->data().at(i + 1)) << i;
  }
  const double step = 2 * std::numbers::pi / 999;
  for (int64_t i = 0; i < 999; ++i) {
    EXPECT_NEAR(test.data().at(i), std::cos(double(i) * step), 1e-6);
    EXPECT_LE(std::abs(train.data().at(i) - std::sin(double(i) * step)), 0.05 + 1e-6);
  }
  EXPECT_NEAR(test.label().at(998), 1.0, 1e-6);                            // cos(2 pi)
  EXPECT_TRUE(dz::allclose(train.data(), D::SinCurve(true).data(), 0, 0)); // seeded
}

// ---- IDX loader (MNIST format) --------------------------------------------------------------

TEST(DataMNIST, LoadsGzipAndPlainIdxFiles) {
  TempDir dir("mnist_ok");
  write_small_mnist(dir.path);
  const D::MNIST train(true, dir.path.string());
  EXPECT_EQ(train.size(), 5);
  EXPECT_EQ(train.data().shape(), (dz::Shape{5, 1, 28, 28}));
  EXPECT_EQ(train.data().dtype(), dz::u8);
  EXPECT_EQ(train.label().dtype(), dz::i64);
  EXPECT_EQ(values_of(train.label()), (std::vector<int64_t>{5, 0, 4, 1, 9}));
  // The default transform: flatten, float32, / 255.
  auto [x, t] = train[2];
  EXPECT_EQ(x.shape(), (dz::Shape{784}));
  EXPECT_EQ(x.dtype(), dz::f32);
  const int k = 2 * 784 + 100; // pixel 100 of image 2
  EXPECT_FLOAT_EQ(float(x.at(100)), float((k * 7) % 256) / 255.0f);
  EXPECT_EQ(t.item<int64_t>(), 4);

  const D::MNIST test(false, dir.path.string());
  EXPECT_EQ(test.size(), 3);
  EXPECT_EQ(values_of(test.label()), (std::vector<int64_t>{7, 2, 1}));
  EXPECT_EQ(test.data().at(1), 7.0); // pixel 1 = 7

  const D::MNIST raw(true, dir.path.string(), T::Transform{});
  EXPECT_EQ(raw[0].first.shape(), (dz::Shape{1, 28, 28}));
  EXPECT_EQ(D::MNIST::labels().size(), 10u);
}

TEST(DataMNIST, FindsFilesThroughDzData) {
  TempDir dir("mnist_env");
  write_small_mnist(dir.path);
  const char *old = std::getenv("DZ_DATA");
  const std::string saved = old ? old : "";
  setenv("DZ_DATA", dir.path.c_str(), 1);
  const int64_t n = D::MNIST(true).size();
  if (old)
    setenv("DZ_DATA", saved.c_str(), 1);
  else
    unsetenv("DZ_DATA");
  EXPECT_EQ(n, 5);
}

namespace {
/// Sets an environment variable for a scope and restores it (or its absence) afterwards.
class ScopedEnvVar {
public:
  ScopedEnvVar(const char *name, const std::string &value) : name_(name) {
    if (const char *old = std::getenv(name))
      saved_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnvVar() {
    if (saved_)
      setenv(name_, saved_->c_str(), 1);
    else
      unsetenv(name_);
  }
  ScopedEnvVar(const ScopedEnvVar &) = delete;
  ScopedEnvVar &operator=(const ScopedEnvVar &) = delete;

private:
  const char *name_;
  std::optional<std::string> saved_;
};
} // namespace

TEST(DataMNIST, FindsTheInstalledDigitsAfterDzDataAndHome) {
  TempDir installed("mnist_installed"), home("mnist_home");
  write_small_mnist(installed.path);
  ScopedEnvVar data("DZ_DATA", ""), h("HOME", home.path.string()),
      mnist_dir("DZ_MNIST_DIR", installed.path.string());
  EXPECT_EQ(D::MNIST(true).size(), 5);
  EXPECT_EQ(D::MNIST(false).size(), 3);
  // Searched last: the error for a missing file lists ~/.dezero before it.
  fs::remove(installed.path / "t10k-labels-idx1-ubyte.gz");
  fs::remove(installed.path / "t10k-labels-idx1-ubyte");
  const std::string msg = error_of([] { D::MNIST(false); });
  const size_t in_home = msg.find((home.path / ".dezero").string());
  const size_t in_installed = msg.find(installed.path.string());
  ASSERT_NE(in_home, std::string::npos) << msg;
  ASSERT_NE(in_installed, std::string::npos) << msg;
  EXPECT_LT(in_home, in_installed) << msg;
  EXPECT_NE(msg.find("install-deps.sh"), std::string::npos) << msg;
}

TEST(DataMNIST, InstalledDigitsAreSplit8000And2000) {
  const fs::path dir = std::getenv("DZ_MNIST_DIR") ? std::getenv("DZ_MNIST_DIR") : "/opt/dzc/mnist";
  if (!fs::exists(dir / "train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "no MNIST digits in " << dir << " (scripts/install-deps.sh installs them)";
  const D::MNIST train(true, dir.string()), test(false, dir.string());
  EXPECT_EQ(train.size(), 8000);
  EXPECT_EQ(test.size(), 2000);
  // Every class in both splits, pixels spanning 0..255.
  for (const D::MNIST *ds : {&train, &test}) {
    std::vector<int64_t> count(10, 0);
    for (int64_t v : values_of(ds->label()))
      ++count.at(size_t(v));
    for (int64_t c : count)
      EXPECT_GT(c, ds->size() / 20);
    EXPECT_EQ(ds->data().max().item<double>(), 255.0);
    EXPECT_EQ(ds->data().min().item<double>(), 0.0);
  }
}

TEST(DataMNIST, MissingFilesErrorListsPathsAndHowToGetThem) {
  const std::string msg = error_of([] { D::MNIST(true, "/nonexistent/dzc-data"); });
  EXPECT_NE(msg.find("/nonexistent/dzc-data/train-images-idx3-ubyte.gz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("/nonexistent/dzc-data/train-images-idx3-ubyte\n"), std::string::npos) << msg;
  EXPECT_NE(msg.find("DZ_DATA"), std::string::npos) << msg;
  const std::string fmsg = error_of([] { D::FashionMNIST(false, "/nonexistent/dzc-data"); });
  EXPECT_NE(fmsg.find("/nonexistent/dzc-data/t10k-images-idx3-ubyte.gz"), std::string::npos)
      << fmsg;
  EXPECT_NE(fmsg.find("apt-get install dataset-fashion-mnist"), std::string::npos) << fmsg;
}

TEST(DataMNIST, TruncatedOrCorruptFilesAreErrors) {
  TempDir dir("mnist_bad");
  write_small_mnist(dir.path);
  const fs::path gz = dir.path / "train-images-idx3-ubyte.gz";
  const Bytes good = gzip_stored(idx_images(5, 28, 28));
  // A gzip stream cut in half.
  write_file(gz, good.substr(0, good.size() / 2));
  std::string msg = error_of([&] { D::MNIST(true, dir.path.string()); });
  EXPECT_NE(msg.find("train-images-idx3-ubyte.gz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  // A plain file missing its last image.
  const Bytes plain = idx_images(3, 28, 28);
  write_file(dir.path / "t10k-images-idx3-ubyte", plain.substr(0, plain.size() - 784));
  msg = error_of([&] { D::MNIST(false, dir.path.string()); });
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  // Labels where images belong (wrong magic), and a count mismatch.
  write_file(dir.path / "t10k-images-idx3-ubyte", idx_labels(kTestLabels));
  msg = error_of([&] { D::MNIST(false, dir.path.string()); });
  EXPECT_NE(msg.find("magic"), std::string::npos) << msg;
  write_file(dir.path / "t10k-images-idx3-ubyte", idx_images(4, 28, 28));
  msg = error_of([&] { D::MNIST(false, dir.path.string()); });
  EXPECT_NE(msg.find("4 images"), std::string::npos) << msg;
  // Corrupt compressed data (a bad CRC).
  Bytes bad_crc = good;
  bad_crc[bad_crc.size() - 8] ^= 0x5a;
  write_file(gz, bad_crc);
  EXPECT_THROW(D::MNIST(true, dir.path.string()), dz::Error);
}

TEST(DataFashionMNIST, LoadsTheDebianPackage) {
  const fs::path dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(dir / "train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << dir << " is not installed (apt-get install dataset-fashion-mnist)";
  const D::FashionMNIST train(true), test(false);
  EXPECT_EQ(train.size(), 60000);
  EXPECT_EQ(test.size(), 10000);
  EXPECT_EQ(train.data().shape(), (dz::Shape{60000, 1, 28, 28}));
  std::array<int, 10> count{};
  for (int64_t v : values_of(test.label()))
    ++count.at(size_t(v));
  EXPECT_EQ(count,
            (std::array<int, 10>{1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}));
  auto [x, t] = train[0];
  EXPECT_EQ(x.shape(), (dz::Shape{784}));
  EXPECT_GE(x.min().item<double>(), 0.0);
  EXPECT_LE(x.max().item<double>(), 1.0);
  EXPECT_GT(x.max().item<double>(), 0.5);
  EXPECT_EQ(D::FashionMNIST::labels().at(9), "Ankle boot");
}

// ---- DataLoader -----------------------------------------------------------------------------

TEST(DataLoader, BatchCountIsCeilOfNOverBatch) {
  const D::Spiral train(true);
  for (int64_t batch : {1, 7, 30, 299, 300, 301}) {
    dz::DataLoader loader(train, batch, true, 0);
    const int64_t expected = (300 + batch - 1) / batch;
    EXPECT_EQ(loader.max_iter(), expected);
    int64_t n = 0, samples = 0;
    for (auto [x, t] : loader) {
      ++n;
      samples += x.shape(0);
      EXPECT_EQ(x.shape(0), t.shape(0));
      EXPECT_EQ(x.shape(1), 2);
    }
    EXPECT_EQ(n, expected) << "batch " << batch;
    EXPECT_EQ(samples, 300);
  }
}

TEST(DataLoader, BatchesStackSamplesAlongANewAxis) {
  const D::Spiral train(true);
  dz::DataLoader loader(train, 30, false);
  auto [x, t] = *loader.begin();
  EXPECT_EQ(x.shape(), (dz::Shape{30, 2}));
  EXPECT_EQ(x.dtype(), dz::f32);
  EXPECT_EQ(t.shape(), (dz::Shape{30}));
  EXPECT_EQ(t.dtype(), dz::i64);
  EXPECT_EQ(x.at(3), train.data().at(3)); // unshuffled: batch 0 is samples 0..29
}

TEST(DataLoader, ReshufflesEachEpochOverTheSameSamples) {
  const D::Dataset ds = counting(100);
  dz::DataLoader loader(ds, 8, true, 42);
  std::vector<std::vector<int64_t>> epochs;
  for (int e = 0; e < 3; ++e) {
    std::vector<int64_t> seen;
    for (auto [x, t] : loader) {
      const std::vector<int64_t> xv = values_of(x), tv = values_of(t);
      EXPECT_EQ(xv, tv);
      seen.insert(seen.end(), xv.begin(), xv.end());
    }
    epochs.push_back(seen);
  }
  EXPECT_EQ(loader.epoch(), 3);
  EXPECT_NE(epochs[0], epochs[1]);
  EXPECT_NE(epochs[1], epochs[2]);
  for (auto &seen : epochs) {
    std::sort(seen.begin(), seen.end());
    for (int64_t i = 0; i < 100; ++i)
      ASSERT_EQ(seen[size_t(i)], i);
  }
}

TEST(DataLoader, SameSeedSameOrder) {
  const D::Dataset ds = counting(50);
  dz::DataLoader a(ds, 10, true, 7), b(ds, 10, true, 7), c(ds, 10, true, 8);
  for (int e = 0; e < 2; ++e) {
    a.reset(), b.reset(), c.reset();
    EXPECT_EQ(a.order(), b.order());
    EXPECT_NE(a.order(), c.order());
  }
  dz::manual_seed(3);
  dz::DataLoader d(ds, 10);
  dz::manual_seed(3);
  dz::DataLoader e(ds, 10);
  d.reset(), e.reset();
  EXPECT_EQ(d.order(), e.order());
}

TEST(DataLoader, NextYieldsAnEpochThenNulloptThenStartsAgain) {
  const D::Dataset ds = counting(10);
  dz::DataLoader loader(ds, 4, false);
  std::vector<int64_t> sizes;
  while (auto b = loader.next())
    sizes.push_back(b->first.shape(0));
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));
  auto again = loader.next();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(values_of(again->first), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(loader.epoch(), 2);
}

TEST(DataLoader, KeepsItsOwnCopyOfTheDataset) {
  std::optional<dz::DataLoader> loader;
  {
    const D::Dataset ds = counting(6);
    loader.emplace(ds, 3, false);
  }
  int64_t total = 0;
  for (auto [x, t] : *loader)
    total += x.shape(0);
  EXPECT_EQ(total, 6);
}

TEST(DataLoader, AppliesTheDatasetTransform) {
  TempDir dir("mnist_loader");
  write_small_mnist(dir.path);
  const D::MNIST train(true, dir.path.string());
  dz::DataLoader loader(train, 2, false);
  auto [x, t] = *loader.begin();
  EXPECT_EQ(x.shape(), (dz::Shape{2, 784}));
  EXPECT_EQ(x.dtype(), dz::f32);
  EXPECT_EQ(values_of(t), (std::vector<int64_t>{5, 0}));
}

TEST(DataLoader, InvalidBatchSizeIsAnError) {
  const D::Dataset ds = counting(6);
  EXPECT_THROW(dz::DataLoader(ds, 0), dz::Error);
  EXPECT_THROW(dz::SeqDataLoader(ds, -1), dz::Error);
}

// ---- SeqDataLoader --------------------------------------------------------------------------

TEST(DataSeqLoader, Length1000Batch2StartsAt0And500) {
  const D::Dataset ds = counting(1000);
  dz::SeqDataLoader loader(ds, 2);
  EXPECT_EQ(loader.max_iter(), 500);
  int64_t k = 0;
  for (auto [x, t] : loader) {
    EXPECT_EQ(x.shape(), (dz::Shape{2, 1}));
    ASSERT_EQ(values_of(x), (std::vector<int64_t>{k, 500 + k})) << "iteration " << k;
    ++k;
  }
  EXPECT_EQ(k, 500);
}

TEST(DataSeqLoader, SinCurveBatchesFollowDeZero) {
  // N = 999, batch 30: jump 33, ceil(999 / 30) = 34 iterations (DeZero's count).
  const D::SinCurve train(true);
  dz::SeqDataLoader loader(train, 30);
  EXPECT_EQ(loader.max_iter(), 34);
  int64_t k = 0;
  for (auto [x, t] : loader) {
    EXPECT_EQ(x.shape(), (dz::Shape{30, 1}));
    EXPECT_EQ(x.at(1), train.data().at((33 + k) % 999));
    EXPECT_EQ(t.at(29), train.label().at((29 * 33 + k) % 999));
    ++k;
  }
  EXPECT_EQ(k, 34);
}
