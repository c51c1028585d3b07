// gpu_device.cpp - the Gpu of gpu.h on the device: memory and launches through the driver
// (driver.h), kernels compiled by NVRTC for the device's architecture through the PTX
// cache (nvrtc.h), GEMM in cuBLAS. libcublas is opened with dlopen like the driver; where
// it is missing the backend runs its own GEMM kernel.
#include "gpu.h"

#include "dynlib.h"

#include <dzc/cuda/driver.h>
#include <dzc/cuda/nvrtc.h>
#include <dzc/tensor.h>

#include <cublas_v2.h>

#include <deque>
#include <mutex>
#include <unordered_map>

#ifndef DZ_CUDA_LIBRARY_DIR
#define DZ_CUDA_LIBRARY_DIR "/usr/local/cuda/lib64"
#endif
#ifndef DZ_CUBLAS_SONAME
#define DZ_CUBLAS_SONAME "libcublas.so.13"
#endif

namespace dz::cuda {

namespace {

/// cuBLAS, loaded on first use; `reason` says why it is not there.
struct Cublas {
  decltype(&::cublasCreate_v2) create = nullptr;
  decltype(&::cublasSetStream_v2) set_stream = nullptr;
  decltype(&::cublasSgemmStridedBatched) sgemm = nullptr;
  decltype(&::cublasDgemmStridedBatched) dgemm = nullptr;
  cublasHandle_t handle = nullptr;
  std::string reason;

  Cublas() {
    static detail::DynamicLibrary lib(
        {DZ_CUBLAS_SONAME, DZ_CUDA_LIBRARY_DIR "/" DZ_CUBLAS_SONAME, "libcublas.so"});
    if (!lib.handle()) {
      reason = "libcublas not found (" + lib.error() + ")";
      return;
    }
    if (!lib.resolve(create, "cublasCreate_v2") || !lib.resolve(set_stream, "cublasSetStream_v2") ||
        !lib.resolve(sgemm, "cublasSgemmStridedBatched") ||
        !lib.resolve(dgemm, "cublasDgemmStridedBatched")) {
      reason = lib.error();
      return;
    }
    if (create(&handle) != CUBLAS_STATUS_SUCCESS) {
      reason = "cublasCreate failed";
      handle = nullptr;
      return;
    }
    set_stream(handle, static_cast<cudaStream_t>(stream()));
  }
};

class DeviceGpu final : public Gpu {
public:
  DeviceGpu() : info_(device_info()) {}

  std::string describe() const override {
    return info_.name + ", " + info_.arch() +
           (blas().handle ? ", cuBLAS" : ", no cuBLAS: " + blas().reason);
  }

  void *alloc(size_t bytes) override { return reinterpret_cast<void *>(mem_alloc(bytes)); }
  void free(void *p) noexcept override { mem_free(reinterpret_cast<uint64_t>(p)); }
  void upload(void *dst, const void *src, size_t bytes) override {
    copy_htod(reinterpret_cast<uint64_t>(dst), src, bytes);
  }
  void download(void *dst, const void *src, size_t bytes) override {
    copy_dtoh(dst, reinterpret_cast<uint64_t>(src), bytes);
  }
  void copy(void *dst, const void *src, size_t bytes) override {
    copy_dtod(reinterpret_cast<uint64_t>(dst), reinterpret_cast<uint64_t>(src), bytes);
  }
  void synchronize() override { cuda::synchronize(); }

  const void *kernel(const std::string &source, const std::string &name) override {
    // One module per source (a module of several kernels is loaded once), one entry per
    // kernel of it.
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string key = name + '\n' + source;
    if (auto it = kernels_.find(key); it != kernels_.end())
      return it->second;
    std::unique_ptr<Module> &module = modules_[source];
    if (!module)
      module = std::make_unique<Module>(compile_to_ptx(source, info_.arch()));
    loaded_.push_back({module.get(), name});
    return kernels_[key] = &loaded_.back();
  }

  void launch(const void *kernel, int64_t grid, int block, const void *args,
              size_t args_size) override {
    const Loaded *k = static_cast<const Loaded *>(kernel);
    k->module->launch(k->name, grid, block, {const_cast<void *>(args)});
  }

  void launch_pointers(const void *kernel, int64_t grid, int block,
                       const std::vector<const void *> &pointers) override {
    const Loaded *k = static_cast<const Loaded *>(kernel);
    std::vector<const void *> values = pointers; // cuLaunchKernel reads each through a pointer
    std::vector<void *> params;
    for (const void *&v : values)
      params.push_back(&v);
    k->module->launch(k->name, grid, block, std::move(params));
  }

  int64_t max_grid() const override { return 65535; }
  int block() const override { return 256; }

  bool blas_gemm(bool f64, bool ta, bool tb, int64_t batch, int64_t m, int64_t n, int64_t k,
                 const void *a, int64_t stride_a, const void *b, int64_t stride_b, double beta,
                 void *c) override {
    const Cublas &cb = blas();
    if (!cb.handle)
      return false;
    // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
    // A row-major matrix is its transpose in column-major, so the op flags stay.
    const cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    const int lda = int(ta ? m : k), ldb = int(tb ? k : n), ldc = int(n);
    cublasStatus_t st;
    if (f64) {
      const double alpha = 1, bt = beta;
      st = cb.dgemm(cb.handle, opb, opa, int(n), int(m), int(k), &alpha,
                    static_cast<const double *>(b), ldb, stride_b, static_cast<const double *>(a),
                    lda, stride_a, &bt, static_cast<double *>(c), ldc, m * n, int(batch));
    } else {
      const float alpha = 1, bt = float(beta);
      st = cb.sgemm(cb.handle, opb, opa, int(n), int(m), int(k), &alpha,
                    static_cast<const float *>(b), ldb, stride_b, static_cast<const float *>(a),
                    lda, stride_a, &bt, static_cast<float *>(c), ldc, m * n, int(batch));
    }
    if (st != CUBLAS_STATUS_SUCCESS)
      throw Error("cuBLAS gemm (" + std::to_string(m) + " x " + std::to_string(k) + " @ " +
                  std::to_string(k) + " x " + std::to_string(n) + ", batch " +
                  std::to_string(batch) + ") failed with status " + std::to_string(int(st)));
    return true;
  }

private:
  struct Loaded {
    const Module *module;
    std::string name;
  };

  static const Cublas &blas() {
    static const Cublas cb;
    return cb;
  }

  DeviceInfo info_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::unique_ptr<Module>> modules_; // source -> module
  std::unordered_map<std::string, Loaded *> kernels_;                // name + source -> kernel
  std::deque<Loaded> loaded_;                                        // stable addresses
};

} // namespace

std::unique_ptr<Gpu> make_device_gpu(std::string &why) {
  if (!available()) {
    why = unavailable_reason();
    return nullptr;
  }
  if (!nvrtc_available()) {
    why = "NVRTC, which compiles dzc's kernels, is missing: " + nvrtc_unavailable_reason();
    return nullptr;
  }
  return std::make_unique<DeviceGpu>();
}

} // namespace dz::cuda
