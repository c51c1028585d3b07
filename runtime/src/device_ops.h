// device_ops.h - the runtime's tensor operations on a device tensor, built from the
// primitives of a DeviceBackend (device_backend.h). The public operations (elementwise.cpp,
// reduce.cpp, matmul.cpp, index.cpp, tensor.cpp) check where their operands live with
// op_device() and come here when that is not the CPU; the CPU kernels never see a device
// pointer. Not installed.
#pragma once

#include <dzc/device_backend.h>

#include <initializer_list>
#include <map>
#include <mutex>
#include <utility>

namespace dz::detail::device {

/// Where an operation over `ts` runs: the CPU when every tensor is on the CPU, else the
/// one device they are on. A 0-d CPU tensor (a Python-like scalar) may join tensors of a
/// device; any other mix throws, naming `op` and both devices.
Device op_device(const char *op, std::initializer_list<const Tensor *> ts);

/// `t` on `dev`: itself, or a 0-d CPU tensor copied there (op_device() allowed it).
Tensor on(const Tensor &t, Device dev);

/// A new contiguous tensor of `shape` and `dtype` on `dev`: map(op) of `in` broadcast to
/// `shape` (each operand is converted to the dtype the op computes in by the caller).
Tensor map(Device dev, MapOp op, DType dtype, const Shape &shape, std::initializer_list<Tensor> in);
/// The same into an existing contiguous tensor (which may be one of the operands).
void map_into(Tensor &out, MapOp op, std::initializer_list<Tensor> in);
/// `src` read with `strides` (elements, 0 = broadcast) into a new tensor of `shape`.
Tensor strided_copy(const Tensor &src, const Shape &strides, const Shape &shape);

/// Sum / max / min over sorted, distinct `axes` (non-empty), keepdims as asked.
Tensor reduce(ReduceOp op, const Tensor &x, const std::vector<int64_t> &axes, bool keepdims,
              DType out_dtype);
Tensor argmax(const Tensor &x, int64_t axis, bool keepdims);

/// Softmax along the last axis of a float tensor (same shape), or with `logsumexp` its
/// logsumexp (the last axis kept, of size 1): one kernel.
Tensor softmax_last(const Tensor &x, bool logsumexp);

/// a @ b of two 2-d or two 3-d tensors of one float dtype, with transposes.
Tensor matmul(const Tensor &a, const Tensor &b, bool ta, bool tb);
/// x @ W (+ b).
Tensor linear(const Tensor &x, const Tensor &W, const Tensor *b);

/// get_item and its gradient from an index plan (the offsets go to the device).
Tensor gather(const Tensor &x, const IndexPlan &plan);
Tensor scatter_add(const IndexPlan &plan, const Tensor &src);

void fill(Tensor &t, double v);
/// 0, 1, ..., n - 1 as int64 on `dev`, made once per (n, device) and kept (one_hot's class
/// ids): a training step uploads nothing for it.
Tensor cached_arange(int64_t n, Device dev);

/// Tensors made on the host once and kept on a device (window tables, class ids), by key:
/// a training loop uploads each once. At most 64 are kept (the cache starts over when it
/// is full, e.g. with varying batch sizes); they are placed outside any result's region
/// (PlacedAllocations::Pause), since they outlive the call that makes them.
template <typename Key> class KeptOnDevice {
public:
  /// The tensor of `key` on `dev`, made on the host by `make` the first time.
  template <typename Make> Tensor get(const Key &key, Device dev, Make make) {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = kept_.find({key, dev.index}); it != kept_.end())
      return it->second;
    if (kept_.size() >= 64)
      kept_.clear();
    const Tensor host = make();
    PlacedAllocations::Pause keep;
    return kept_.emplace(std::make_pair(key, dev.index), on(host, dev)).first->second;
  }

private:
  std::mutex mu_;
  std::map<std::pair<Key, int>, Tensor> kept_;
};
/// Copies between any two devices (one of them may be the CPU); same size.
void copy_bytes(const Tensor &dst, const Tensor &src);

} // namespace dz::detail::device
