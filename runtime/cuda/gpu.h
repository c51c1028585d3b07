// gpu.h - what the eager CUDA backend (backend.cpp) needs of a GPU: raw memory, copies,
// and kernels made from CUDA C source. Two implementations:
//   - the device: the driver API and NVRTC (gpu_device.cpp), with cuBLAS for GEMM;
//   - the host emulation (emulator.cpp): memory is host memory, the kernel source is
//     compiled by the host C++ compiler with a prelude that defines the CUDA built-ins,
//     and a launch runs the blocks one after another with a block's threads as threads.
//     It runs every eager kernel on machines without a GPU (DZ_CUDA_EMULATION=1), so the
//     kernels' indexing, broadcasting, reductions and atomics are tested everywhere; not
//     the device's arithmetic, its memory model or the launch path.
//
// The kernels follow one convention (eager_kernels.h): each takes one argument struct by
// value, declared as DZ_KERNEL(name, Args) { ... a.field ... }, and every kernel is
// correct for any grid and any power-of-two block from 32 to 256 (grid-stride loops), so
// the emulation may launch a small grid.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dz::cuda {

class Gpu {
public:
  virtual ~Gpu() = default;
  /// "NVIDIA H200, compute_90" / "emulated on the host (no GPU)".
  virtual std::string describe() const = 0;

  virtual void *alloc(size_t bytes) = 0;
  virtual void free(void *p) noexcept = 0;
  virtual void upload(void *dst, const void *src_host, size_t bytes) = 0;
  virtual void download(void *dst_host, const void *src, size_t bytes) = 0;
  virtual void copy(void *dst, const void *src, size_t bytes) = 0;
  virtual void synchronize() = 0;

  /// An opaque handle of kernel `name` in `source`, compiled and loaded on the first
  /// request for that source; later requests return the same handle. Throws dz::Error
  /// with the compiler's log when the source does not compile.
  virtual const void *kernel(const std::string &source, const std::string &name) = 0;
  /// Launches a kernel with its argument struct (copied at the call).
  virtual void launch(const void *kernel, int64_t grid, int block, const void *args,
                      size_t args_size) = 0;
  /// Launches a kernel whose parameters are all pointers (the generated kernels of
  /// codegen/cuda): `pointers` are their values, device addresses.
  virtual void launch_pointers(const void *kernel, int64_t grid, int block,
                               const std::vector<const void *> &pointers) = 0;
  /// The largest grid worth launching, and the threads of a block (a power of two, 32 to
  /// 256).
  virtual int64_t max_grid() const = 0;
  virtual int block() const = 0;

  /// C = op(A) op(B) + beta C in cuBLAS, when it is loaded (see DeviceBackend::gemm);
  /// false when it is not, and the caller runs its own kernel.
  virtual bool blas_gemm(bool f64, bool ta, bool tb, int64_t batch, int64_t m, int64_t n, int64_t k,
                         const void *a, int64_t stride_a, const void *b, int64_t stride_b,
                         double beta, void *c) {
    return false;
  }
};

/// The GPU through the driver, or null with `why` set when there is none.
std::unique_ptr<Gpu> make_device_gpu(std::string &why);
/// The host emulation, or null with `why` set when no host compiler runs.
std::unique_ptr<Gpu> make_emulated_gpu(std::string &why);

} // namespace dz::cuda
