// dzc/cuda/driver.h - the CUDA device of dzc through the driver API, loaded at run time.
//
// libcuda.so.1 exists only where an NVIDIA driver is installed, so nothing links it: the
// first call dlopens it and resolves the few cu* entry points dzc uses. Where that fails
// (no driver, no device, an error from cuInit) the device is simply unavailable:
// available() is false and unavailable_reason() says why, so that GPU tests skip with
// the reason and every other binary starts as usual. One device (ordinal 0), its primary
// context and one stream; no MLIR, no other dzc library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace dz::cuda {

/// Whether the driver loaded and device 0 can be used.
bool available();
/// Why the device is unavailable ("libcuda.so.1 not found: no NVIDIA driver on this
/// machine", "cuInit failed: CUDA_ERROR_NO_DEVICE ..."); empty when it is available.
const std::string &unavailable_reason();

/// Device 0 as the driver reports it. Throws dz::Error when the device is unavailable.
struct DeviceInfo {
  std::string name;
  int compute_major = 0, compute_minor = 0;
  /// The NVRTC architecture of the device, "compute_90" for an H100 / H200.
  std::string arch() const;
};
const DeviceInfo &device_info();

/// Device memory: allocated on construction, freed on destruction (move only).
class DeviceBuffer {
public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer &&other) noexcept;
  DeviceBuffer &operator=(DeviceBuffer &&other) noexcept;
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;

  void upload(const void *host, size_t bytes);
  void download(void *host, size_t bytes) const;
  uint64_t device_ptr() const { return ptr_; } // a CUdeviceptr
  size_t size() const { return bytes_; }

private:
  uint64_t ptr_ = 0;
  size_t bytes_ = 0;
};

/// A module loaded from PTX (the driver JIT-compiles it for the device), unloaded on
/// destruction. launch() runs one of its `extern "C"` kernels on dzc's stream.
class Module {
public:
  explicit Module(const std::string &ptx);
  ~Module();
  Module(const Module &) = delete;
  Module &operator=(const Module &) = delete;

  /// Launches `kernel` with a 1-d grid; `params` point at the kernel's arguments (for a
  /// buffer, at its device_ptr()), as cuLaunchKernel takes them. Asynchronous.
  void launch(const std::string &kernel, int64_t grid, int64_t block,
              std::vector<void *> params) const;

private:
  void *module_ = nullptr; // CUmodule
  mutable std::unordered_map<std::string, void *> functions_; // name -> CUfunction
  mutable std::mutex mutex_;
};

/// Waits until everything launched so far has finished; throws dz::Error on a fault.
void synchronize();

// ---- raw memory, for the eager backend's caching allocator -----------------------------------
/// cuMemAlloc; throws dz::Error (out of memory names the size) when it fails.
uint64_t mem_alloc(size_t bytes);
/// cuMemFree; errors (a context torn down at exit) are ignored.
void mem_free(uint64_t ptr) noexcept;
/// Host to device, synchronous for the host (ordered after earlier launches).
void copy_htod(uint64_t dst, const void *src, size_t bytes);
/// Device to host, after everything launched so far.
void copy_dtoh(void *dst, uint64_t src, size_t bytes);
/// Device to device, asynchronous on dzc's stream.
void copy_dtod(uint64_t dst, uint64_t src, size_t bytes);
/// dzc's stream (a CUstream), for libraries such as cuBLAS that launch work of their own.
void *stream();

} // namespace dz::cuda
