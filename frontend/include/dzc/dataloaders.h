// dzc/dataloaders.h - DeZero's DataLoader (mini-batches, reshuffled each epoch) and
// SeqDataLoader (strided batches for truncated BPTT).
//
//   dz::DataLoader loader(train_set, 30);          // shuffle=true
//   for (int epoch = 0; epoch < 300; ++epoch)
//     for (auto [x, t] : loader) { ... }           // ceil(N / 30) batches per epoch
//
// A batch stacks the samples (after the dataset's transforms) along a new first axis:
// x (B, ...sample shape), t (B, ...target shape); the last batch of an epoch may be
// smaller. Each begin() starts a new epoch: with shuffle on, a fresh permutation comes
// from the loader's generator, so the order is a function of (seed, epoch). Without a
// seed, the seed is drawn from dz::default_generator() (dz::manual_seed makes it
// repeatable).
//
// How the loader holds its dataset: the library's array datasets (Dataset, Spiral,
// SinCurve, MNIST, FashionMNIST) it copies (copies share the sample tensors), so it may
// outlive the one it was made from. Any other subclass (a lazy dataset that overrides
// size() and get(i)) it refers to, calling it through the base class: that dataset must
// outlive the loader. Pass a temporary (the loader takes it) or a std::shared_ptr to
// share ownership instead:
//
//   BigData big;                                     // loads sample i in get(i)
//   dz::DataLoader loader(big, 100);                 // refers to big
//   dz::DataLoader owned(std::make_shared<BigData>(), 100);
//
// Prefetching: with {.prefetch = N} a background thread builds the next N batches of the
// epoch while the loop computes on the current one (the same batches, in the same order
// and shuffle, as without):
//
//   dz::DataLoader loader(train_set, 100, true, 0, {.prefetch = 2});
//
// The dataset's transforms then run on that thread, so they must not touch state the loop
// changes (docs/threads.md); an error they throw reaches the loop at its batch.
//
// Sharding for data-parallel training (dzc/distributed.h): with {.rank = r, .world_size =
// W} the loader yields rank r's share of each epoch. Every rank must use the same seed, so
// all draw the same order; the epoch is cut into global batches of W * batch_size
// consecutive samples of that order, and rank r takes the r-th of W equal parts of each
// (batch_size samples), so the ranks' batches k together are exactly batch k of a loader of
// batch W * batch_size on one process. Every rank runs ceil(N / (W * batch_size)) batches
// per epoch, and every sample is in exactly one rank's batch. The remainder: the last
// global batch of G < W * batch_size samples is split into parts of floor or ceil of G / W
// samples (rank r takes samples [r G / W, (r + 1) G / W) of it), so its batches differ by at
// most one sample between ranks; when G < W some ranks' last batch is empty (a first axis
// of 0). Choose N a multiple of W * batch_size for batches of one size everywhere.
//
//   dz::DataLoader loader(train, 100, true, seed, {.rank = r, .world_size = n});
#pragma once

#include <dzc/datasets.h>

#include <concepts>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace dz {

using Batch = std::pair<Tensor, Tensor>;

struct DataLoaderOptions {
  /// Batches built ahead on a background thread; 0 builds each when the loop asks for it.
  int64_t prefetch = 0;
  /// This process's shard: rank in 0 .. world_size - 1 (see the file comment).
  int64_t rank = 0;
  int64_t world_size = 1;
};

namespace detail {
class Prefetcher;
}

class DataLoader {
public:
  DataLoader(const datasets::Dataset &dataset, int64_t batch_size, bool shuffle = true,
             std::optional<uint64_t> seed = std::nullopt, DataLoaderOptions options = {});
  /// Shares ownership of the dataset.
  DataLoader(std::shared_ptr<const datasets::Dataset> dataset, int64_t batch_size,
             bool shuffle = true, std::optional<uint64_t> seed = std::nullopt,
             DataLoaderOptions options = {});
  /// Takes a temporary dataset (of any subclass) into shared ownership.
  template <typename D>
  requires(std::derived_from<D, datasets::Dataset> && !std::is_lvalue_reference_v<D>)
      DataLoader(D &&dataset, int64_t batch_size, bool shuffle = true,
                 std::optional<uint64_t> seed = std::nullopt, DataLoaderOptions options = {})
      : DataLoader(std::shared_ptr<const datasets::Dataset>(
                       std::make_shared<std::remove_cv_t<D>>(std::move(dataset))),
                   batch_size, shuffle, seed, options) {}
  virtual ~DataLoader();
  /// A copy starts with no batches prefetched; it prefetches from its next epoch on.
  DataLoader(const DataLoader &other);
  DataLoader &operator=(const DataLoader &other);

  /// An input iterator over the batches of one epoch; dereferencing builds the batch.
  class iterator {
  public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = Batch;

    iterator() = default;
    Batch operator*() const { return loader_->take(pos_); }
    iterator &operator++() {
      ++pos_;
      return *this;
    }
    void operator++(int) { ++pos_; }
    bool operator==(const iterator &o) const { return pos_ == o.pos_; }

  private:
    friend class DataLoader;
    iterator(const DataLoader *loader, int64_t pos) : loader_(loader), pos_(pos) {}
    const DataLoader *loader_ = nullptr;
    int64_t pos_ = 0;
  };

  /// Starts a new epoch (reset()) and returns its first batch position. Two loops over
  /// one loader must not be interleaved: the inner one would restart the epoch.
  iterator begin();
  iterator end() const { return iterator(this, max_iter_); }

  /// DeZero's next(): the next batch of the current epoch, starting one when none is under
  /// way; nullopt after the last batch (the following call starts the next epoch).
  std::optional<Batch> next();
  /// Starts a new epoch: iteration 0, a new order when shuffling.
  void reset();

  int64_t max_iter() const { return max_iter_; } // batches per epoch
  int64_t size() const { return max_iter_; }
  int64_t data_size() const { return data_size_; }
  int64_t batch_size() const { return batch_size_; }
  bool shuffle() const { return shuffle_; }
  int64_t prefetch() const { return options_.prefetch; }
  int64_t rank() const { return options_.rank; }
  int64_t world_size() const { return options_.world_size; }
  int64_t epoch() const { return epoch_; } // epochs started so far
  /// The sample order of the current epoch.
  const std::vector<int64_t> &order() const { return order_; }
  const datasets::Dataset &dataset() const { return *dataset_; }

  /// DeZero's to_gpu() / to_cpu(): every batch from now on is moved to `dev` (the CPU by
  /// default). Throws dz::Error when the device is unavailable.
  DataLoader &to(Device dev);
  Device device() const { return device_; }

protected:
  /// Used by SeqDataLoader, whose batch count and positions differ.
  DataLoader(std::shared_ptr<const datasets::Dataset> dataset, int64_t batch_size, bool shuffle,
             std::optional<uint64_t> seed, int64_t max_iter, DataLoaderOptions options);
  /// How a loader holds `dataset` (see the file comment): a copy of a library array
  /// dataset, else a non-owning reference.
  static std::shared_ptr<const datasets::Dataset> hold(const datasets::Dataset &dataset);
  /// The dataset indices of batch `iteration` of the current epoch.
  virtual std::vector<int64_t> batch_index(int64_t iteration) const;

private:
  /// Batch `iteration` of the current epoch: the prefetched one when it is ready or being
  /// built, else built now.
  Batch take(int64_t iteration) const;
  /// Stacks the samples `index` into a batch on `dev` (on the loop's thread or the
  /// prefetching one).
  Batch build(const std::vector<int64_t> &index, Device dev) const;
  /// Stops the prefetching thread and, with `from` >= 0, starts it again at batch `from`.
  void restart_prefetch(int64_t from);

  std::shared_ptr<const datasets::Dataset> dataset_;
  int64_t batch_size_;
  bool shuffle_;
  int64_t data_size_;
  int64_t max_iter_;
  Generator gen_;
  std::vector<int64_t> order_;
  int64_t epoch_ = 0;
  int64_t iteration_ = 0; // next() position
  bool in_epoch_ = false; // next() has an epoch under way
  Device device_;         // where batches go
  DataLoaderOptions options_;
  // The thread building the current epoch's next batches (null without prefetch, between
  // epochs and in a fresh copy). Reached from take(), which iterators call through const.
  mutable std::unique_ptr<detail::Prefetcher> prefetcher_;
};

/// DeZero's SeqDataLoader: batch_size parallel streams over the sequence, never shuffled.
/// With jump = N / batch_size, row i of batch k is sample (i * jump + k) % N, so for N =
/// 1000 and batch 2 the streams start at 0 and 500. Batches per epoch: ceil(N / batch_size)
/// (DeZero inherits DataLoader's count).
class SeqDataLoader : public DataLoader {
public:
  SeqDataLoader(const datasets::Dataset &dataset, int64_t batch_size,
                DataLoaderOptions options = {});
  SeqDataLoader(std::shared_ptr<const datasets::Dataset> dataset, int64_t batch_size,
                DataLoaderOptions options = {});
  template <typename D>
  requires(std::derived_from<D, datasets::Dataset> && !std::is_lvalue_reference_v<D>)
      SeqDataLoader(D &&dataset, int64_t batch_size, DataLoaderOptions options = {})
      : SeqDataLoader(std::shared_ptr<const datasets::Dataset>(
                          std::make_shared<std::remove_cv_t<D>>(std::move(dataset))),
                      batch_size, options) {}

protected:
  std::vector<int64_t> batch_index(int64_t iteration) const override;
};

/// Stacks equally shaped tensors of one dtype along a new first axis.
Tensor stack(const std::vector<Tensor> &xs);

} // namespace dz
