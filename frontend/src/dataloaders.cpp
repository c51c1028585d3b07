// dataloaders.cpp - DataLoader / SeqDataLoader batching and the seeded permutation.
#include <dzc/dataloaders.h>
#include <dzc/device_backend.h>

#include "random_permutation.h"

#include <algorithm>
#include <cstring>
#include <numeric>

namespace dz {

namespace detail {

std::vector<int64_t> random_permutation(int64_t n, Generator &gen) {
  std::vector<int64_t> p(size_t(std::max<int64_t>(n, 0)));
  std::iota(p.begin(), p.end(), int64_t(0));
  if (n < 2)
    return p;
  const Tensor u = rand({n}, f64, gen);
  const double *pu = u.data<double>();
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = std::min(i, int64_t(pu[i] * double(i + 1)));
    std::swap(p[size_t(i)], p[size_t(j)]);
  }
  return p;
}

} // namespace detail

namespace {

uint64_t seed_from_default_generator() {
  Generator &g = default_generator();
  uint32_t w[4];
  philox4x32(g.advance(1), 0, g.seed(), w);
  return uint64_t(w[0]) | uint64_t(w[1]) << 32;
}

int64_t checked_batch_size(int64_t batch_size, const char *who) {
  if (batch_size <= 0)
    throw Error(std::string(who) + ": batch_size must be positive, got " +
                std::to_string(batch_size));
  return batch_size;
}

/// ceil(n / batch_size): DeZero's max_iter, for DataLoader and SeqDataLoader alike.
int64_t batches_per_epoch(int64_t n, int64_t batch_size, const char *who) {
  return (n + checked_batch_size(batch_size, who) - 1) / batch_size;
}

} // namespace

Tensor stack(const std::vector<Tensor> &xs) {
  if (xs.empty())
    throw Error("stack: no tensors to stack");
  const Tensor &first = xs.front();
  Shape shape{int64_t(xs.size())};
  shape.insert(shape.end(), first.shape().begin(), first.shape().end());
  Tensor out(shape, first.dtype());
  char *dst = static_cast<char *>(out.raw());
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor &x = xs[i];
    if (x.shape() != first.shape() || x.dtype() != first.dtype())
      throw Error("stack: tensor " + std::to_string(i) + " is " + shape_str(x.shape()) + " " +
                  dtype_name(x.dtype()) + " but tensor 0 is " + shape_str(first.shape()) + " " +
                  dtype_name(first.dtype()) + "; all must have one shape and dtype");
    const Tensor src = x.device().is_cpu() ? x : x.to(Device::cpu());
    if (src.nbytes())
      std::memcpy(dst + i * first.nbytes(), src.raw(), src.nbytes());
  }
  return out;
}

// ---- DataLoader -----------------------------------------------------------------------------

DataLoader::DataLoader(const datasets::Dataset &dataset, int64_t batch_size, bool shuffle,
                       std::optional<uint64_t> seed)
    : DataLoader(dataset, batch_size, shuffle, seed,
                 batches_per_epoch(dataset.size(), batch_size, "DataLoader")) {}

DataLoader::DataLoader(const datasets::Dataset &dataset, int64_t batch_size, bool shuffle,
                       std::optional<uint64_t> seed, int64_t max_iter)
    : dataset_(dataset), batch_size_(checked_batch_size(batch_size, "DataLoader")),
      shuffle_(shuffle), data_size_(dataset.size()), max_iter_(max_iter),
      gen_(seed ? *seed : seed_from_default_generator()) {}

void DataLoader::reset() {
  ++epoch_;
  iteration_ = 0;
  in_epoch_ = true;
  if (shuffle_) {
    order_ = detail::random_permutation(data_size_, gen_);
  } else {
    order_.resize(size_t(data_size_));
    std::iota(order_.begin(), order_.end(), int64_t(0));
  }
}

DataLoader::iterator DataLoader::begin() {
  reset();
  return iterator(this, 0);
}

std::optional<Batch> DataLoader::next() {
  if (!in_epoch_)
    reset();
  if (iteration_ >= max_iter_) {
    in_epoch_ = false;
    return std::nullopt;
  }
  return batch(iteration_++);
}

std::vector<int64_t> DataLoader::batch_index(int64_t iteration) const {
  const int64_t lo = iteration * batch_size_;
  const int64_t hi = std::min(lo + batch_size_, data_size_);
  return {order_.begin() + lo, order_.begin() + hi};
}

Batch DataLoader::batch(int64_t iteration) const {
  if (iteration < 0 || iteration >= max_iter_)
    throw Error("DataLoader: batch " + std::to_string(iteration) + " of an epoch of " +
                std::to_string(max_iter_) + " batches");
  if (epoch_ == 0)
    throw Error("DataLoader: no epoch started; iterate with begin()/end() or next()");
  std::vector<Tensor> xs, ts;
  for (int64_t i : batch_index(iteration)) {
    auto [x, t] = dataset_[i];
    xs.push_back(std::move(x));
    ts.push_back(std::move(t));
  }
  if (!dataset_.has_label())
    return {stack(xs).to(device_), Tensor()};
  return {stack(xs).to(device_), stack(ts).to(device_)};
}

DataLoader &DataLoader::to(Device dev) {
  if (!dev.is_cpu())
    device_backend(dev); // throws now, naming the reason, rather than at the first batch
  device_ = dev;
  return *this;
}

// ---- SeqDataLoader --------------------------------------------------------------------------

SeqDataLoader::SeqDataLoader(const datasets::Dataset &dataset, int64_t batch_size)
    : DataLoader(dataset, batch_size, /*shuffle=*/false, /*seed=*/0,
                 batches_per_epoch(dataset.size(), batch_size, "SeqDataLoader")) {}

std::vector<int64_t> SeqDataLoader::batch_index(int64_t iteration) const {
  const int64_t n = data_size(), b = batch_size();
  const int64_t jump = n / b;
  std::vector<int64_t> idx(static_cast<size_t>(b));
  for (int64_t i = 0; i < b; ++i)
    idx[size_t(i)] = (i * jump + iteration) % n;
  return idx;
}

} // namespace dz
