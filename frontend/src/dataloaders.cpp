// dataloaders.cpp - DataLoader / SeqDataLoader batching and the seeded permutation.
#include <dzc/dataloaders.h>
#include <dzc/device_backend.h>

#include "random_permutation.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <numeric>
#include <thread>
#include <typeinfo>

namespace dz {

namespace detail {

/// Builds the batches of one epoch, in order, on its own thread, keeping at most `depth`
/// of them ready ahead of the loop. The batches' sample indices are computed before the
/// thread starts, so it reads nothing of the loader that the loop may change. An error
/// from building a batch is kept and rethrown when that batch is taken.
class Prefetcher {
public:
  using Build = std::function<Batch(const std::vector<int64_t> &)>;

  Prefetcher(Build build, int64_t first, std::vector<std::vector<int64_t>> index, int64_t depth)
      : build_(std::move(build)), index_(std::move(index)), first_(first), next_take_(first),
        depth_(depth), thread_([this] { run(); }) {}

  ~Prefetcher() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    room_.notify_all();
    thread_.join();
  }

  Prefetcher(const Prefetcher &) = delete;
  Prefetcher &operator=(const Prefetcher &) = delete;

  /// Batch `i`, waiting for it; batches before it that were not taken are dropped.
  /// nullopt when `i` was taken already or lies outside this epoch's range.
  std::optional<Batch> take(int64_t i) {
    std::unique_lock<std::mutex> lock(mu_);
    if (i < next_take_ || i >= first_ + int64_t(index_.size()))
      return std::nullopt;
    for (;;) {
      ready_cv_.wait(lock, [&] { return !ready_.empty(); });
      Item item = std::move(ready_.front());
      ready_.pop_front();
      next_take_ = item.iteration + 1;
      room_.notify_all();
      if (item.iteration < i)
        continue;
      if (item.error)
        std::rethrow_exception(item.error);
      return std::move(item.batch);
    }
  }

  /// The first batch not taken yet.
  int64_t next() {
    std::lock_guard<std::mutex> lock(mu_);
    return next_take_;
  }

private:
  struct Item {
    int64_t iteration;
    Batch batch;
    std::exception_ptr error;
  };

  void run() {
    for (size_t k = 0; k < index_.size(); ++k) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        room_.wait(lock, [&] { return stop_ || int64_t(ready_.size()) < depth_; });
        if (stop_)
          return;
      }
      Item item{first_ + int64_t(k), {}, nullptr};
      try {
        item.batch = build_(index_[k]);
      } catch (...) {
        item.error = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        ready_.push_back(std::move(item));
      }
      ready_cv_.notify_all();
    }
  }

  const Build build_;
  const std::vector<std::vector<int64_t>> index_; // of batches first_, first_ + 1, ...
  const int64_t first_;
  std::mutex mu_;
  std::condition_variable ready_cv_, room_;
  std::deque<Item> ready_;
  int64_t next_take_;
  const int64_t depth_;
  bool stop_ = false;
  std::thread thread_; // last: starts once the members above exist
};

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
  const Generator::Position p = default_generator().reserve(1);
  uint32_t w[4];
  philox4x32(p.offset, 0, p.seed, w);
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

namespace {

DataLoaderOptions checked_options(DataLoaderOptions options, const char *who) {
  if (options.prefetch < 0)
    throw Error(std::string(who) +
                ": prefetch must be 0 (off) or a positive number of batches, "
                "got " +
                std::to_string(options.prefetch));
  if (options.world_size < 1 || options.rank < 0 || options.rank >= options.world_size)
    throw Error(std::string(who) + ": rank " + std::to_string(options.rank) + " of world_size " +
                std::to_string(options.world_size) +
                " is not a shard; world_size must be at least 1 and rank in 0 .. world_size - 1");
  return options;
}

} // namespace

std::shared_ptr<const datasets::Dataset> DataLoader::hold(const datasets::Dataset &dataset) {
  // The library's datasets are their arrays, which copies share: a copy (as the base class)
  // is the same dataset. A user's subclass may load its samples in an overridden get(i)
  // (or keep other state), so the loader calls that object itself.
  const std::type_info &type = typeid(dataset);
  if (type == typeid(datasets::Dataset) || type == typeid(datasets::Spiral) ||
      type == typeid(datasets::SinCurve) || type == typeid(datasets::MNIST) ||
      type == typeid(datasets::FashionMNIST))
    return std::make_shared<const datasets::Dataset>(dataset);
  return std::shared_ptr<const datasets::Dataset>(&dataset, [](const datasets::Dataset *) {});
}

namespace {
const datasets::Dataset &checked_dataset(const std::shared_ptr<const datasets::Dataset> &d,
                                         const char *who) {
  if (!d)
    throw Error(std::string(who) + ": the dataset is a null pointer");
  return *d;
}
} // namespace

DataLoader::DataLoader(const datasets::Dataset &dataset, int64_t batch_size, bool shuffle,
                       std::optional<uint64_t> seed, DataLoaderOptions options)
    : DataLoader(hold(dataset), batch_size, shuffle, seed, options) {}

DataLoader::DataLoader(std::shared_ptr<const datasets::Dataset> dataset, int64_t batch_size,
                       bool shuffle, std::optional<uint64_t> seed, DataLoaderOptions options)
    : DataLoader(dataset, batch_size, shuffle, seed,
                 batches_per_epoch(checked_dataset(dataset, "DataLoader").size(),
                                   checked_batch_size(batch_size, "DataLoader") *
                                       std::max<int64_t>(options.world_size, 1),
                                   "DataLoader"),
                 options) {}

DataLoader::DataLoader(std::shared_ptr<const datasets::Dataset> dataset, int64_t batch_size,
                       bool shuffle, std::optional<uint64_t> seed, int64_t max_iter,
                       DataLoaderOptions options)
    : dataset_(std::move(dataset)), batch_size_(checked_batch_size(batch_size, "DataLoader")),
      shuffle_(shuffle), data_size_(checked_dataset(dataset_, "DataLoader").size()),
      max_iter_(max_iter), gen_(seed ? *seed : seed_from_default_generator()),
      options_(checked_options(options, "DataLoader")) {}

// The prefetching thread reads the dataset: it stops before any member goes.
DataLoader::~DataLoader() { prefetcher_.reset(); }

DataLoader::DataLoader(const DataLoader &other)
    : dataset_(other.dataset_), batch_size_(other.batch_size_), shuffle_(other.shuffle_),
      data_size_(other.data_size_), max_iter_(other.max_iter_), gen_(other.gen_),
      order_(other.order_), epoch_(other.epoch_), iteration_(other.iteration_),
      in_epoch_(other.in_epoch_), device_(other.device_), options_(other.options_) {}

DataLoader &DataLoader::operator=(const DataLoader &other) {
  if (this == &other)
    return *this;
  prefetcher_.reset();
  dataset_ = other.dataset_;
  batch_size_ = other.batch_size_;
  shuffle_ = other.shuffle_;
  data_size_ = other.data_size_;
  max_iter_ = other.max_iter_;
  gen_ = other.gen_;
  order_ = other.order_;
  epoch_ = other.epoch_;
  iteration_ = other.iteration_;
  in_epoch_ = other.in_epoch_;
  device_ = other.device_;
  options_ = other.options_;
  return *this;
}

void DataLoader::reset() {
  prefetcher_.reset();
  ++epoch_;
  iteration_ = 0;
  in_epoch_ = true;
  if (shuffle_) {
    order_ = detail::random_permutation(data_size_, gen_);
  } else {
    order_.resize(size_t(data_size_));
    std::iota(order_.begin(), order_.end(), int64_t(0));
  }
  restart_prefetch(0);
}

void DataLoader::restart_prefetch(int64_t from) {
  prefetcher_.reset();
  if (options_.prefetch == 0 || from < 0 || from >= max_iter_)
    return;
  std::vector<std::vector<int64_t>> index;
  for (int64_t i = from; i < max_iter_; ++i)
    index.push_back(batch_index(i));
  prefetcher_ = std::make_unique<detail::Prefetcher>(
      [this, dev = device_](const std::vector<int64_t> &idx) { return build(idx, dev); }, from,
      std::move(index), options_.prefetch);
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
  return take(iteration_++);
}

std::vector<int64_t> DataLoader::batch_index(int64_t iteration) const {
  const int64_t w = options_.world_size, r = options_.rank;
  if (w == 1) {
    const int64_t lo = iteration * batch_size_;
    const int64_t hi = std::min(lo + batch_size_, data_size_);
    return {order_.begin() + lo, order_.begin() + hi};
  }
  // Rank r's part of global batch `iteration` (see dataloaders.h).
  const int64_t g_lo = iteration * batch_size_ * w;
  const int64_t g = std::min(g_lo + batch_size_ * w, data_size_) - g_lo;
  const int64_t lo = g_lo + r * g / w, hi = g_lo + (r + 1) * g / w;
  return {order_.begin() + lo, order_.begin() + hi};
}

Batch DataLoader::take(int64_t iteration) const {
  if (iteration < 0 || iteration >= max_iter_)
    throw Error("DataLoader: batch " + std::to_string(iteration) + " of an epoch of " +
                std::to_string(max_iter_) + " batches");
  if (epoch_ == 0)
    throw Error("DataLoader: no epoch started; iterate with begin()/end() or next()");
  if (prefetcher_)
    if (std::optional<Batch> b = prefetcher_->take(iteration))
      return std::move(*b);
  return build(batch_index(iteration), device_);
}

Batch DataLoader::build(const std::vector<int64_t> &index, Device dev) const {
  if (index.empty()) {
    // A shard's empty last batch: sample 0's shapes with a first axis of 0.
    auto [x0, t0] = (*dataset_)[0];
    Shape xs{0}, ts{0};
    xs.insert(xs.end(), x0.shape().begin(), x0.shape().end());
    ts.insert(ts.end(), t0.shape().begin(), t0.shape().end());
    if (!dataset_->has_label() && t0.size() == 0)
      return {Tensor(xs, x0.dtype()).to(dev), Tensor()};
    return {Tensor(xs, x0.dtype()).to(dev), Tensor(ts, t0.dtype()).to(dev)};
  }
  std::vector<Tensor> xs, ts;
  bool any_target = dataset_->has_label();
  for (int64_t i : index) {
    auto [x, t] = (*dataset_)[i];
    any_target = any_target || t.size() > 0;
    xs.push_back(std::move(x));
    ts.push_back(std::move(t));
  }
  if (!any_target) // no labels (a lazy dataset without targets returns empty ones)
    return {stack(xs).to(dev), Tensor()};
  return {stack(xs).to(dev), stack(ts).to(dev)};
}

DataLoader &DataLoader::to(Device dev) {
  if (!dev.is_cpu())
    device_backend(dev); // throws now, naming the reason, rather than at the first batch
  if (prefetcher_) {
    // Batches built ahead went to the old device: build the rest again.
    const int64_t from = prefetcher_->next();
    device_ = dev;
    restart_prefetch(from);
  }
  device_ = dev;
  return *this;
}

// ---- SeqDataLoader --------------------------------------------------------------------------

SeqDataLoader::SeqDataLoader(const datasets::Dataset &dataset, int64_t batch_size,
                             DataLoaderOptions options)
    : SeqDataLoader(hold(dataset), batch_size, options) {}

SeqDataLoader::SeqDataLoader(std::shared_ptr<const datasets::Dataset> dataset, int64_t batch_size,
                             DataLoaderOptions options)
    : DataLoader(dataset, batch_size, /*shuffle=*/false, /*seed=*/0,
                 batches_per_epoch(checked_dataset(dataset, "SeqDataLoader").size(), batch_size,
                                   "SeqDataLoader"),
                 options) {
  if (options.world_size != 1)
    throw Error("SeqDataLoader: no sharding (world_size " + std::to_string(options.world_size) +
                "): its batches are parallel streams over one sequence; give each rank its "
                "own part of the sequence as its dataset instead");
}

std::vector<int64_t> SeqDataLoader::batch_index(int64_t iteration) const {
  const int64_t n = data_size(), b = batch_size();
  const int64_t jump = n / b;
  std::vector<int64_t> idx(static_cast<size_t>(b));
  for (int64_t i = 0; i < b; ++i)
    idx[size_t(i)] = (i * jump + iteration) % n;
  return idx;
}

} // namespace dz
