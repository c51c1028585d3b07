// device.cpp - finding the backend of a device (device_backend.h): libdzc_cuda_runtime.so
// is dlopened on first use, from $DZ_CUDA_RUNTIME_LIBRARY, else next to this library, else
// wherever the dynamic loader finds it. The library stays loaded for the process (its
// backends hold device memory that tensors may still own at exit).
#include <dzc/device_backend.h>
#include <dzc/dynamic_library.h>

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

namespace dz {

namespace {

struct CudaLibrary {
  DzDeviceBackendEntry entry = nullptr;
  std::string failure; // why the library did not load
};

const CudaLibrary &cuda_library() {
  static CudaLibrary lib;
  static std::once_flag once;
  std::call_once(once, [] {
    std::string tried;
    if (void *h = detail::load_dzc_library("DZ_CUDA_RUNTIME_LIBRARY", "libdzc_cuda_runtime.so",
                                           reinterpret_cast<void *>(&cuda_library),
                                           {"dzc_cuda_backend"}, tried)) {
      lib.entry = reinterpret_cast<DzDeviceBackendEntry>(dlsym(h, "dzc_cuda_backend"));
      return;
    }
    lib.failure = "dzc's CUDA runtime library (libdzc_cuda_runtime.so, built when CMake finds "
                  "the CUDA toolkit; set DZ_CUDA_RUNTIME_LIBRARY to its path) did not load. "
                  "Tried:" +
                  tried;
  });
  return lib;
}

/// The backend of cuda:index, or null with the reason.
DeviceBackend *find_cuda(int index, std::string &why) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  const CudaLibrary &lib = cuda_library();
  if (!lib.entry) {
    why = lib.failure;
    return nullptr;
  }
  const char *reason = nullptr;
  DeviceBackend *b = lib.entry(index, &reason);
  if (!b)
    why = reason ? reason : "the CUDA runtime gave no reason";
  return b;
}

} // namespace

bool device_available(Device dev, std::string *why) {
  if (dev.is_cpu())
    return true;
  std::string reason;
  bool ok = dev.index >= 0 && find_cuda(dev.index, reason) != nullptr;
  if (dev.index < 0)
    reason = "negative device index";
  if (why)
    *why = reason;
  return ok;
}

DeviceBackend &device_backend(Device dev) {
  if (dev.is_cpu())
    throw Error("internal: device_backend() of the CPU");
  std::string why;
  if (dev.index < 0)
    throw Error("device " + dev.str() + " is not valid: the index must be 0 or more");
  DeviceBackend *b = find_cuda(dev.index, why);
  if (!b)
    throw Error("device " + dev.str() + " is not available: " + why);
  return *b;
}

DeviceCounters operator-(const DeviceCounters &a, const DeviceCounters &b) {
  return {a.launches - b.launches,
          a.generated_launches - b.generated_launches,
          a.uploads - b.uploads,
          a.upload_bytes - b.upload_bytes,
          a.downloads - b.downloads,
          a.download_bytes - b.download_bytes,
          a.device_copies - b.device_copies,
          a.synchronizations - b.synchronizations};
}

DeviceCounters device_counters(Device dev) {
  return dev.is_cpu() ? DeviceCounters{} : device_backend(dev).counters();
}

AllocatorStats allocator_stats(Device dev) {
  return dev.is_cpu() ? allocator_stats() : device_backend(dev).stats();
}

void empty_cache(Device dev) {
  if (dev.is_cpu())
    empty_cache();
  else
    device_backend(dev).empty_cache();
}

void synchronize(Device dev) {
  if (!dev.is_cpu())
    device_backend(dev).synchronize();
}

} // namespace dz
