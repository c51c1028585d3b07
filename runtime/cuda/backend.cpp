// backend.cpp - the DeviceBackend of cuda:0 (dzc/device_backend.h): a caching allocator
// over the Gpu's memory, and the primitives as launches of the eager kernels
// (eager_kernels.h). libdzc_runtime finds it through dzc_cuda_backend(), below.
//
// DZ_CUDA_EMULATION=1 makes cuda:0 the host emulation (gpu.h) whether or not a GPU is
// present: the tests of the eager GPU path run everywhere that way.
#include "eager_kernels.h"
#include "gpu.h"

#include <dzc/cuda/launch.h>

#include <dzc/device_backend.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace dz::cuda {

namespace {

using eager::kMaxDims;

/// Released device blocks are kept by size class (eight per power of two from 512 bytes)
/// and handed out again: cuMemAlloc and cuMemFree synchronize the device, so a training
/// loop must not call them every step.
class DeviceAllocator {
public:
  explicit DeviceAllocator(Gpu &gpu) : gpu_(gpu) {}

  static size_t size_class(size_t bytes) {
    if (bytes <= 512)
      return 512;
    const size_t top = std::bit_floor(bytes), step = std::max<size_t>(top / 8, 512);
    return (bytes + step - 1) / step * step;
  }

  void *allocate(size_t bytes) {
    const size_t cls = size_class(bytes);
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(cls);
      if (it != free_.end() && !it->second.empty()) {
        void *p = it->second.back();
        it->second.pop_back();
        cached_ -= cls;
        allocated_ += cls;
        ++hits_;
        return p;
      }
      ++misses_;
    }
    void *p = nullptr;
    try {
      p = gpu_.alloc(cls);
    } catch (const Error &) {
      empty(); // give the cache back and try once more
      p = gpu_.alloc(cls);
    }
    std::lock_guard<std::mutex> lock(mu_);
    allocated_ += cls;
    return p;
  }

  void release(void *p, size_t bytes) noexcept {
    const size_t cls = size_class(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    try {
      free_[cls].push_back(p);
    } catch (...) {
      gpu_.free(p); // no memory for the list: give the block back
      allocated_ -= cls;
      return;
    }
    allocated_ -= cls;
    cached_ += cls;
  }

  void empty() {
    gpu_.synchronize();
    std::lock_guard<std::mutex> lock(mu_);
    for (auto &[cls, blocks] : free_)
      for (void *p : blocks)
        gpu_.free(p);
    free_.clear();
    cached_ = 0;
  }

  AllocatorStats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return {allocated_, cached_, hits_, misses_};
  }

private:
  Gpu &gpu_;
  mutable std::mutex mu_;
  std::unordered_map<size_t, std::vector<void *>> free_;
  size_t allocated_ = 0, cached_ = 0, hits_ = 0, misses_ = 0;
};

/// Merges adjacent dimensions that every operand steps through contiguously and drops
/// dimensions of extent 1: a contiguous elementwise op becomes one flat loop.
void merge_dims(Shape &shape, std::vector<Shape> &strides) {
  Shape s;
  std::vector<Shape> st(strides.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1)
      continue;
    bool merge = !s.empty();
    for (size_t k = 0; merge && k < strides.size(); ++k)
      merge = st[k].back() == strides[k][d] * shape[d];
    if (merge) {
      s.back() *= shape[d];
      for (size_t k = 0; k < strides.size(); ++k)
        st[k].back() = strides[k][d];
    } else {
      s.push_back(shape[d]);
      for (size_t k = 0; k < strides.size(); ++k)
        st[k].push_back(strides[k][d]);
    }
  }
  shape = std::move(s);
  strides = std::move(st);
}

[[noreturn]] void too_many_dims(const char *what, const Shape &shape) {
  throw Error(std::string(what) + " on the GPU: shape " + shape_str(shape) + " has more than " +
              std::to_string(kMaxDims) +
              " dimensions that cannot be merged (reshape it to fewer first)");
}

class CudaBackend final : public DeviceBackend {
public:
  explicit CudaBackend(std::unique_ptr<Gpu> gpu) : gpu_(std::move(gpu)), memory_(*gpu_) {}

  std::string describe() const override { return "cuda:0 (" + gpu_->describe() + ")"; }

  void *allocate(size_t bytes) override { return memory_.allocate(bytes); }
  void release(void *p, size_t bytes) noexcept override { memory_.release(p, bytes); }
  AllocatorStats stats() const override { return memory_.stats(); }
  void empty_cache() override { memory_.empty(); }

  void copy_to_device(void *dst, const void *src, size_t bytes) override {
    count(uploads_), count(upload_bytes_, bytes);
    gpu_->upload(dst, src, bytes);
  }
  void copy_to_host(void *dst, const void *src, size_t bytes) override {
    count(downloads_), count(download_bytes_, bytes);
    gpu_->download(dst, src, bytes);
  }
  void copy_on_device(void *dst, const void *src, size_t bytes) override {
    count(device_copies_);
    gpu_->copy(dst, src, bytes);
  }
  void synchronize() override {
    count(synchronizations_);
    gpu_->synchronize();
  }
  DeviceCounters counters() const override {
    auto r = [](const std::atomic<uint64_t> &c) { return c.load(std::memory_order_relaxed); };
    return {r(launches_),  r(generated_launches_), r(uploads_),       r(upload_bytes_),
            r(downloads_), r(download_bytes_),     r(device_copies_), r(synchronizations_)};
  }
  /// A generated kernel's launch (GeneratedKernel), counted with the backend's own.
  void count_generated_launch() { count(launches_), count(generated_launches_); }

  Gpu &gpu() { return *gpu_; }

  void map(MapOp op, void *out, DType out_dtype, const Shape &shape0,
           const std::vector<MapOperand> &in) override {
    Shape shape = shape0;
    std::vector<Shape> strides;
    std::vector<DType> dtypes;
    for (const MapOperand &o : in) {
      strides.push_back(o.strides);
      dtypes.push_back(o.dtype);
    }
    merge_dims(shape, strides);
    if (shape.size() > size_t(kMaxDims))
      too_many_dims(map_op_name(op), shape0);
    eager::MapArgs args{};
    args.n = shape_size(shape);
    args.ndim = int64_t(shape.size());
    for (size_t d = 0; d < shape.size(); ++d) {
      args.shape[d] = shape[d];
      for (size_t k = 0; k < in.size(); ++k)
        args.strides[k][d] = strides[k][d];
    }
    std::vector<bool> scalar;
    for (size_t k = 0; k < in.size(); ++k) {
      args.in[k] = in[k].data;
      args.imm_f[k] = in[k].value.f;
      args.imm_i[k] = in[k].value.i;
      scalar.push_back(in[k].data == nullptr);
    }
    args.out = out;
    const bool flat = args.ndim <= 1;
    std::string key = std::string("map ") + map_op_name(op) + char('0' + int(out_dtype));
    for (size_t k = 0; k < in.size(); ++k)
      key += std::string(1, char('0' + int(dtypes[k]))) + (scalar[k] ? "s" : "");
    if (flat)
      key += 'f';
    run(
        key, [&] { return eager::map_kernel(op, out_dtype, dtypes, scalar, flat); },
        elementwise_grid(args.n), gpu_->block(), args);
  }

  void reduce(ReduceOp op, void *out, DType out_dtype, const void *in, DType in_dtype,
              const Shape &shape, const std::vector<bool> &reduced) override {
    // The input is contiguous: adjacent dimensions of one kind (kept or reduced) merge.
    Shape kshape, kstride, rshape, rstride;
    Shape cs(shape.size(), 1);
    for (size_t d = shape.size(); d-- > 1;)
      cs[d - 1] = cs[d] * shape[d];
    for (size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] == 1)
        continue;
      Shape &ext = reduced[d] ? rshape : kshape, &str = reduced[d] ? rstride : kstride;
      if (!ext.empty() && str.back() == cs[d] * shape[d]) {
        ext.back() *= shape[d];
        str.back() = cs[d];
      } else {
        ext.push_back(shape[d]);
        str.push_back(cs[d]);
      }
    }
    if (kshape.size() > size_t(kMaxDims) || rshape.size() > size_t(kMaxDims))
      too_many_dims("reduce", shape);
    eager::ReduceArgs args{};
    args.n_out = shape_size(kshape);
    args.n_red = shape_size(rshape);
    args.kdims = int64_t(kshape.size());
    args.rdims = int64_t(rshape.size());
    for (size_t d = 0; d < kshape.size(); ++d)
      args.kshape[d] = kshape[d], args.kstride[d] = kstride[d];
    for (size_t d = 0; d < rshape.size(); ++d)
      args.rshape[d] = rshape[d], args.rstride[d] = rstride[d];
    args.in = in;
    args.out = out;
    const int block = reduction_block(args.n_red);
    std::string key = std::string("reduce") + char('0' + int(op)) + char('0' + int(out_dtype)) +
                      char('0' + int(in_dtype));
    run(
        key, [&] { return eager::reduce_kernel(op, out_dtype, in_dtype); },
        std::min<int64_t>(args.n_out, gpu_->max_grid()), block, args);
  }

  void softmax_rows(void *out, const void *in, DType dtype, int64_t rows, int64_t cols,
                    bool logsumexp) override {
    if (rows == 0 || cols == 0)
      return;
    eager::SoftmaxArgs args{rows, cols, in, out};
    const int block = reduction_block(cols);
    std::string key = std::string(logsumexp ? "logsumexp" : "softmax") + char('0' + int(dtype));
    run(
        key, [&] { return eager::softmax_rows_kernel(dtype, logsumexp); },
        std::min<int64_t>(rows, gpu_->max_grid()), block, args);
  }

  void softmax_cross_entropy(void *out, const void *x, const void *labels, DType dtype,
                             int64_t rows, int64_t cols) override {
    eager::CrossEntropyArgs args{rows, cols, x, static_cast<const long long *>(labels), out};
    const int block = reduction_block(rows);
    std::string key = std::string("cross_entropy") + char('0' + int(dtype));
    run(
        key, [&] { return eager::cross_entropy_kernel(dtype); }, 1, block, args);
  }

  void dropout_mask(void *out, DType dtype, int64_t n, uint64_t seed, uint64_t offset, double ratio,
                    double scale) override {
    if (n == 0)
      return;
    eager::DropoutArgs args{n, seed, offset, ratio, scale, out};
    std::string key = std::string("dropout") + char('0' + int(dtype));
    run(
        key, [&] { return eager::dropout_mask_kernel(dtype); }, elementwise_grid((n + 3) / 4),
        gpu_->block(), args);
  }

  void gemm(DType dtype, bool ta, bool tb, int64_t batch, int64_t m, int64_t n, int64_t k,
            const void *a, int64_t stride_a, const void *b, int64_t stride_b, double beta,
            void *c) override {
    if (dtype != DType::f32 && dtype != DType::f64)
      throw Error(std::string("matmul: dtype ") + dtype_name(dtype) +
                  " is not supported on the GPU (use float32 or float64)");
    if (gpu_->blas_gemm(dtype == DType::f64, ta, tb, batch, m, n, k, a, stride_a, b, stride_b, beta,
                        c))
      return;
    eager::GemmArgs args{batch, m, n, k, stride_a, stride_b, ta, tb, beta, a, b, c};
    std::string key = std::string("gemm") + char('0' + int(dtype));
    run(
        key, [&] { return eager::gemm_kernel(dtype); }, elementwise_grid(batch * m * n),
        gpu_->block(), args);
  }

  void gather(void *y, const void *x, DType dtype, const void *offsets, int64_t count) override {
    const size_t bytes = dtype_size(dtype);
    eager::GatherArgs args{count, static_cast<const long long *>(offsets), x, y};
    run(
        "gather" + std::to_string(bytes), [&] { return eager::gather_kernel(bytes); },
        elementwise_grid(count), gpu_->block(), args);
  }

  void scatter_add(void *y, const void *s, DType dtype, const void *offsets,
                   int64_t count) override {
    eager::GatherArgs args{count, static_cast<const long long *>(offsets), s, y};
    run(
        std::string("scatter") + char('0' + int(dtype)),
        [&] { return eager::scatter_add_kernel(dtype); }, elementwise_grid(count), gpu_->block(),
        args);
  }

private:
  int64_t elementwise_grid(int64_t n) const {
    const int64_t b = gpu_->block();
    return std::clamp<int64_t>((n + b - 1) / b, 1, gpu_->max_grid());
  }

  /// The block of a kernel whose threads share `extent` elements and then combine them in
  /// a shared-memory tree: as wide as the extent needs, a power of two from 32 to the
  /// device's block.
  int reduction_block(int64_t extent) const {
    return int(std::clamp<int64_t>(int64_t(std::bit_ceil(uint64_t(std::max<int64_t>(extent, 1)))),
                                   32, gpu_->block()));
  }

  /// Launches the kernel known by `key`, made by `make` on first use.
  template <typename Make, typename Args>
  void run(const std::string &key, Make make, int64_t grid, int block, const Args &args) {
    const void *k = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = kernels_.find(key);
      if (it != kernels_.end())
        k = it->second;
    }
    if (!k) {
      eager::KernelSource src = make();
      k = gpu_->kernel(src.source, src.name);
      std::lock_guard<std::mutex> lock(mu_);
      kernels_[key] = k;
    }
    count(launches_);
    gpu_->launch(k, grid, block, &args, sizeof args);
  }

  static void count(std::atomic<uint64_t> &c, uint64_t n = 1) {
    c.fetch_add(n, std::memory_order_relaxed);
  }

  std::atomic<uint64_t> launches_{0}, generated_launches_{0}, uploads_{0}, upload_bytes_{0},
      downloads_{0}, download_bytes_{0}, device_copies_{0}, synchronizations_{0};
  std::unique_ptr<Gpu> gpu_;
  DeviceAllocator memory_;
  std::mutex mu_;
  std::unordered_map<std::string, const void *> kernels_; // key -> Gpu kernel handle
};

bool emulation_requested() {
  const char *e = std::getenv("DZ_CUDA_EMULATION");
  return e && *e && std::strcmp(e, "0") != 0;
}

/// cuda:0's backend, made on first use and never destroyed (tensors still on the device at
/// exit release into it), or null with the reason.
CudaBackend *the_backend(const std::string **why) {
  struct Made {
    CudaBackend *backend = nullptr;
    std::string why;
  };
  static Made made = [] {
    Made m;
    std::unique_ptr<Gpu> gpu =
        emulation_requested() ? make_emulated_gpu(m.why) : make_device_gpu(m.why);
    if (gpu)
      m.backend = new CudaBackend(std::move(gpu));
    return m;
  }();
  *why = &made.why;
  return made.backend;
}

} // namespace

namespace {
CudaBackend &backend_or_throw() {
  const std::string *why = nullptr;
  CudaBackend *b = the_backend(&why);
  if (!b)
    throw Error("cuda:0 is not available: " + *why);
  return *b;
}
} // namespace

GeneratedKernel::GeneratedKernel(const std::string &source, const std::string &name)
    : name_(name), handle_(backend_or_throw().gpu().kernel(source, name)) {}

void GeneratedKernel::launch(int64_t grid, int block,
                             const std::vector<const void *> &pointers) const {
  CudaBackend &b = backend_or_throw();
  b.count_generated_launch();
  b.gpu().launch_pointers(handle_, grid, block, pointers);
}

} // namespace dz::cuda

/// cuda:index's backend for libdzc_runtime (device_backend.h).
extern "C" dz::DeviceBackend *dzc_cuda_backend(int index, const char **why) {
  using namespace dz::cuda;
  static const std::string one_device =
      "dzc drives one GPU, cuda:0 (multi-GPU use is not implemented)";
  if (index != 0) {
    *why = one_device.c_str();
    return nullptr;
  }
  const std::string *reason = nullptr;
  CudaBackend *b = the_backend(&reason);
  if (!b)
    *why = reason->c_str();
  return b;
}
