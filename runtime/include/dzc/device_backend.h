// dzc/device_backend.h - what a device other than the CPU gives the runtime: memory and a
// handful of kernel primitives. The runtime's tensor operations run on a device tensor by
// calling these (runtime/src/device_ops.cpp composes softmax, linear, sum_to, get_item
// and the rest from them); a backend knows nothing of autograd, layers or the compiler.
//
// The CUDA backend lives in libdzc_cuda_runtime.so (runtime/cuda). libdzc_runtime does
// not link it: the first tensor made on Device::cuda(n) dlopens it (see device_backend()),
// so every dzc program starts on a machine without the CUDA toolkit or a GPU and only a
// program that asks for the GPU learns whether it has one.
//
// Pointers handed to a backend are its own device addresses (Storage::data() of a device
// tensor), already offset to the first element. Every primitive is asynchronous with
// respect to the host except copy_to_host; primitives run in the order they are called.
#pragma once

#include <dzc/op_registry.h>
#include <dzc/tensor.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dz {

enum class ReduceOp : uint8_t { sum, max, min, argmax };

/// One operand of a map: its data, dtype and, for each dimension of the output, the
/// stride (in elements) with which it is read; 0 along a broadcast dimension. With `data`
/// null the operand is a scalar passed with the launch (`value`), so that `x * 0.9` or a
/// fill copies nothing to the device first.
struct MapOperand {
  const void *data;
  DType dtype;
  Shape strides;
  /// The scalar, exact in its dtype: a float in `f`, an integer or bool in `i`.
  struct Immediate {
    double f = 0;
    int64_t i = 0;
  } value{};
};

/// What a device has been asked to do since the process began (counted by its backend,
/// so the same on a GPU and on the host emulation): kernel launches (eager primitives and
/// generated kernels), copies between host and device, and waits. The difference of two
/// readings is the work of what ran between them, e.g. per training step.
struct DeviceCounters {
  uint64_t launches = 0;                      // every kernel launch
  uint64_t generated_launches = 0;            // of which generated kernels (codegen/cuda)
  uint64_t uploads = 0, upload_bytes = 0;     // host to device
  uint64_t downloads = 0, download_bytes = 0; // device to host (each waits for the device)
  uint64_t device_copies = 0;                 // device to device
  uint64_t synchronizations = 0;              // explicit waits (synchronize())
};
DeviceCounters operator-(const DeviceCounters &a, const DeviceCounters &b);
/// The counters of `dev` (all zero for the CPU).
DeviceCounters device_counters(Device dev);

class DeviceBackend {
public:
  virtual ~DeviceBackend() = default;
  /// "cuda:0 (NVIDIA H200, compute_90)".
  virtual std::string describe() const = 0;

  // ---- memory -----------------------------------------------------------------------------
  /// Device memory of at least `bytes` bytes (a caching allocator: a released block of
  /// the same size class is reused). Throws dz::Error when the device is out of memory.
  virtual void *allocate(size_t bytes) = 0;
  virtual void release(void *p, size_t bytes) noexcept = 0;
  virtual AllocatorStats stats() const = 0;
  /// Gives cached blocks back to the device (after waiting for the device).
  virtual void empty_cache() = 0;

  virtual void copy_to_device(void *dst, const void *src_host, size_t bytes) = 0;
  /// Waits for every primitive called before, then copies.
  virtual void copy_to_host(void *dst_host, const void *src, size_t bytes) = 0;
  virtual void copy_on_device(void *dst, const void *src, size_t bytes) = 0;
  /// Waits until everything called so far has finished; throws dz::Error on a fault.
  virtual void synchronize() = 0;
  virtual DeviceCounters counters() const = 0;

  // ---- kernels ----------------------------------------------------------------------------
  /// out[i] = op(in[0][...], ...) for every element i of `shape` (out is contiguous and of
  /// `out_dtype`); operand k is read at sum over d of coordinate(i, d) * in[k].strides[d].
  /// Arithmetic is done in the output's dtype (comparisons in the operands', which agree).
  virtual void map(MapOp op, void *out, DType out_dtype, const Shape &shape,
                   const std::vector<MapOperand> &in) = 0;

  /// Reduces a contiguous tensor of `shape` over the axes where `reduced` is true; the
  /// result is contiguous over the kept axes in order. sum writes `out_dtype` (the input's
  /// dtype, or int64 for integers and bool), max/min the input's dtype, argmax (exactly one
  /// reduced axis) int64, the first index of the maximum. No reduced axis may be empty
  /// for max, min and argmax.
  virtual void reduce(ReduceOp op, void *out, DType out_dtype, const void *in, DType in_dtype,
                      const Shape &shape, const std::vector<bool> &reduced) = 0;

  /// Softmax over each row of a contiguous (rows, cols) float tensor into `out` (rows,
  /// cols), or with `logsumexp` max + log(sum(exp(x - max))) of each row into `out`
  /// (rows): one block per row, the maximum and the sum as block reductions. f32, f64.
  virtual void softmax_rows(void *out, const void *in, DType dtype, int64_t rows, int64_t cols,
                            bool logsumexp) = 0;

  /// The mean over rows of logsumexp(x[r]) - x[r, labels[r]] for contiguous float scores
  /// x (rows, cols) and int64 labels (rows,), already checked to lie in [0, cols), into
  /// the one element `out` of `dtype`; summed in float64 as on the CPU, in one launch.
  virtual void softmax_cross_entropy(void *out, const void *x, const void *labels, DType dtype,
                                     int64_t rows, int64_t cols) = 0;

  /// Dropout's mask: out[i] = u(i) > ratio ? scale : 0 for i < n, u(i) the uniform that
  /// rand() draws for element i from counters offset, offset + 1, ... of Philox with key
  /// `seed` (random.cpp), compared in `dtype` as on the CPU. f32, f64.
  virtual void dropout_mask(void *out, DType dtype, int64_t n, uint64_t seed, uint64_t offset,
                            double ratio, double scale) = 0;

  /// C[b] = op(A[b]) op(B[b]) + beta C[b] for b < batch, row-major, op a transpose where
  /// ta / tb; A[b] starts at a + b * stride_a (elements; 0 repeats one matrix), B and C
  /// alike (C's stride is m * n). f32 and f64.
  virtual void gemm(DType dtype, bool ta, bool tb, int64_t batch, int64_t m, int64_t n, int64_t k,
                    const void *a, int64_t stride_a, const void *b, int64_t stride_b, double beta,
                    void *c) = 0;

  /// y[i] = x[offsets[i]] for i < count; `offsets` is device memory of `count` int64.
  virtual void gather(void *y, const void *x, DType dtype, const void *offsets, int64_t count) = 0;
  /// y[offsets[i]] += s[i] for i < count, with atomics (several i may share an offset).
  /// f32, f64, i32, i64.
  virtual void scatter_add(void *y, const void *s, DType dtype, const void *offsets,
                           int64_t count) = 0;
};

/// The backend of `dev` (loaded on first use). Throws dz::Error saying why the device is
/// unavailable ("cuda:0 is not available: libcuda.so.1 not found: no NVIDIA driver on this
/// machine ..."). Not for Device::cpu().
DeviceBackend &device_backend(Device dev);
/// Whether `dev` can be used; when not, `why` (if given) receives the reason.
bool device_available(Device dev, std::string *why = nullptr);

} // namespace dz

/// The entry point a backend library exports: the backend of device `index`, or null with
/// `*why` set (a static string of the library) when that device cannot be used.
extern "C" {
using DzDeviceBackendEntry = dz::DeviceBackend *(*)(int index, const char **why);
}
