// driver.cpp - dz::cuda's device (driver.h): libcuda.so.1 opened with dlopen, the driver
// API entry points resolved by their versioned symbol names, device 0's primary context
// and one stream. The stream is a blocking one (it waits for the legacy default stream),
// so the synchronous cuMemcpyHtoD before a launch is ordered before the kernel.
//
// <cuda.h> is included for its types and prototypes only (decltype of a prototype gives
// each pointer's exact type); nothing links libcuda. Its macros map cuMemAlloc to
// cuMemAlloc_v2 and so on, which is why each symbol is named explicitly below.
#include <dzc/cuda/driver.h>

#include "dynlib.h"

#include <dzc/tensor.h>

#include <cuda.h>

#include <memory>

namespace dz::cuda {

namespace {

struct Driver {
  decltype(&::cuInit) init = nullptr;
  decltype(&::cuGetErrorName) get_error_name = nullptr;
  decltype(&::cuGetErrorString) get_error_string = nullptr;
  decltype(&::cuDeviceGetCount) device_get_count = nullptr;
  decltype(&::cuDeviceGet) device_get = nullptr;
  decltype(&::cuDeviceGetName) device_get_name = nullptr;
  decltype(&::cuDeviceGetAttribute) device_get_attribute = nullptr;
  decltype(&::cuDevicePrimaryCtxRetain) primary_ctx_retain = nullptr;
  decltype(&::cuCtxSetCurrent) ctx_set_current = nullptr;
  decltype(&::cuStreamCreate) stream_create = nullptr;
  decltype(&::cuStreamSynchronize) stream_synchronize = nullptr;
  decltype(&::cuMemAlloc) mem_alloc = nullptr;
  decltype(&::cuMemFree) mem_free = nullptr;
  decltype(&::cuMemcpyHtoD) memcpy_htod = nullptr;
  decltype(&::cuMemcpyDtoH) memcpy_dtoh = nullptr;
  decltype(&::cuMemcpyDtoDAsync) memcpy_dtod_async = nullptr;
  decltype(&::cuModuleLoadData) module_load_data = nullptr;
  decltype(&::cuModuleUnload) module_unload = nullptr;
  decltype(&::cuModuleGetFunction) module_get_function = nullptr;
  decltype(&::cuLaunchKernel) launch_kernel = nullptr;

  CUdevice device = 0;
  CUcontext context = nullptr; // device 0's primary context, retained for the process
  CUstream stream = nullptr;
  DeviceInfo info;
  std::string reason; // why the device is unavailable; empty when it is ready

  /// "CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)"
  std::string describe(CUresult r) const {
    const char *name = nullptr, *text = nullptr;
    if (get_error_name)
      get_error_name(r, &name);
    if (get_error_string)
      get_error_string(r, &text);
    return std::string(name ? name : "CUDA error " + std::to_string(int(r))) + " (" +
           (text ? text : "no description") + ")";
  }
};

/// Loads the library and sets up device 0; on failure `reason` says which step failed.
std::unique_ptr<Driver> load() {
  auto d = std::make_unique<Driver>();
  static detail::DynamicLibrary lib({"libcuda.so.1"});
  if (!lib.handle()) {
    d->reason = "libcuda.so.1 not found: no NVIDIA driver on this machine (" + lib.error() + ")";
    return d;
  }
  bool ok = lib.resolve(d->init, "cuInit") && lib.resolve(d->get_error_name, "cuGetErrorName") &&
            lib.resolve(d->get_error_string, "cuGetErrorString") &&
            lib.resolve(d->device_get_count, "cuDeviceGetCount") &&
            lib.resolve(d->device_get, "cuDeviceGet") &&
            lib.resolve(d->device_get_name, "cuDeviceGetName") &&
            lib.resolve(d->device_get_attribute, "cuDeviceGetAttribute") &&
            lib.resolve(d->primary_ctx_retain, "cuDevicePrimaryCtxRetain") &&
            lib.resolve(d->ctx_set_current, "cuCtxSetCurrent") &&
            lib.resolve(d->stream_create, "cuStreamCreate") &&
            lib.resolve(d->stream_synchronize, "cuStreamSynchronize") &&
            lib.resolve(d->mem_alloc, "cuMemAlloc_v2") &&
            lib.resolve(d->mem_free, "cuMemFree_v2") &&
            lib.resolve(d->memcpy_htod, "cuMemcpyHtoD_v2") &&
            lib.resolve(d->memcpy_dtoh, "cuMemcpyDtoH_v2") &&
            lib.resolve(d->memcpy_dtod_async, "cuMemcpyDtoDAsync_v2") &&
            lib.resolve(d->module_load_data, "cuModuleLoadData") &&
            lib.resolve(d->module_unload, "cuModuleUnload") &&
            lib.resolve(d->module_get_function, "cuModuleGetFunction") &&
            lib.resolve(d->launch_kernel, "cuLaunchKernel");
  if (!ok) {
    d->reason = "libcuda.so.1 is too old for dzc: " + lib.error();
    return d;
  }
  auto step = [&](CUresult r, const char *what) {
    if (r != CUDA_SUCCESS && d->reason.empty())
      d->reason = std::string(what) + " failed: " + d->describe(r);
    return r == CUDA_SUCCESS;
  };
  int count = 0;
  if (!step(d->init(0), "cuInit") || !step(d->device_get_count(&count), "cuDeviceGetCount"))
    return d;
  if (count == 0) {
    d->reason = "the NVIDIA driver reports no CUDA device";
    return d;
  }
  char name[256] = {};
  if (!step(d->device_get(&d->device, 0), "cuDeviceGet") ||
      !step(d->device_get_name(name, sizeof name, d->device), "cuDeviceGetName") ||
      !step(d->device_get_attribute(&d->info.compute_major,
                                    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d->device),
            "cuDeviceGetAttribute") ||
      !step(d->device_get_attribute(&d->info.compute_minor,
                                    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d->device),
            "cuDeviceGetAttribute") ||
      !step(d->primary_ctx_retain(&d->context, d->device), "cuDevicePrimaryCtxRetain") ||
      !step(d->ctx_set_current(d->context), "cuCtxSetCurrent") ||
      !step(d->stream_create(&d->stream, CU_STREAM_DEFAULT), "cuStreamCreate"))
    return d;
  d->info.name = name;
  return d;
}

const Driver &driver() {
  static const std::unique_ptr<Driver> d = load();
  return *d;
}

/// The driver, its context current on this thread; throws when the device is unavailable.
const Driver &ready() {
  const Driver &d = driver();
  if (!d.reason.empty())
    throw Error("CUDA device unavailable: " + d.reason);
  CUresult r = d.ctx_set_current(d.context);
  if (r != CUDA_SUCCESS)
    throw Error("cuCtxSetCurrent failed: " + d.describe(r));
  return d;
}

void check(const Driver &d, CUresult r, const std::string &what) {
  if (r != CUDA_SUCCESS)
    throw Error(what + " failed: " + d.describe(r));
}

} // namespace

bool available() { return driver().reason.empty(); }

const std::string &unavailable_reason() { return driver().reason; }

std::string DeviceInfo::arch() const {
  return "compute_" + std::to_string(compute_major) + std::to_string(compute_minor);
}

const DeviceInfo &device_info() { return ready().info; }

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  const Driver &d = ready();
  CUdeviceptr p = 0;
  check(d, d.mem_alloc(&p, bytes ? bytes : 1), "cuMemAlloc of " + std::to_string(bytes) + " bytes");
  ptr_ = p;
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_) // errors at free (a context torn down at exit) cannot be reported from here
    driver().mem_free(CUdeviceptr(ptr_));
}

DeviceBuffer::DeviceBuffer(DeviceBuffer &&other) noexcept : ptr_(other.ptr_), bytes_(other.bytes_) {
  other.ptr_ = 0;
  other.bytes_ = 0;
}

DeviceBuffer &DeviceBuffer::operator=(DeviceBuffer &&other) noexcept {
  if (this != &other) {
    if (ptr_)
      driver().mem_free(CUdeviceptr(ptr_));
    ptr_ = other.ptr_;
    bytes_ = other.bytes_;
    other.ptr_ = 0;
    other.bytes_ = 0;
  }
  return *this;
}

void DeviceBuffer::upload(const void *host, size_t bytes) {
  if (bytes > bytes_)
    throw Error("DeviceBuffer::upload: " + std::to_string(bytes) + " bytes into a buffer of " +
                std::to_string(bytes_));
  const Driver &d = ready();
  check(d, d.memcpy_htod(CUdeviceptr(ptr_), host, bytes), "cuMemcpyHtoD");
}

void DeviceBuffer::download(void *host, size_t bytes) const {
  if (bytes > bytes_)
    throw Error("DeviceBuffer::download: " + std::to_string(bytes) + " bytes from a buffer of " +
                std::to_string(bytes_));
  const Driver &d = ready();
  check(d, d.stream_synchronize(d.stream), "cuStreamSynchronize");
  check(d, d.memcpy_dtoh(host, CUdeviceptr(ptr_), bytes), "cuMemcpyDtoH");
}

Module::Module(const std::string &ptx) {
  const Driver &d = ready();
  CUmodule m = nullptr;
  check(d, d.module_load_data(&m, ptx.c_str()), "cuModuleLoadData");
  module_ = m;
}

Module::~Module() {
  if (module_)
    driver().module_unload(CUmodule(module_));
}

void Module::launch(const std::string &kernel, int64_t grid, int64_t block,
                    std::vector<void *> params) const {
  const Driver &d = ready();
  if (grid < 1 || grid > 0x7fffffff || block < 1 || block > 1024)
    throw Error("launch of " + kernel + ": grid " + std::to_string(grid) + " x block " +
                std::to_string(block) + " is out of range (grid 1 to 2^31-1, block 1 to 1024)");
  CUfunction fn = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    void *&cached = functions_[kernel];
    if (!cached) {
      CUresult r = d.module_get_function(&fn, CUmodule(module_), kernel.c_str());
      if (r != CUDA_SUCCESS)
        functions_.erase(kernel);
      check(d, r, "cuModuleGetFunction(" + kernel + ")");
      cached = fn;
    }
    fn = CUfunction(cached);
  }
  check(d,
        d.launch_kernel(fn, unsigned(grid), 1, 1, unsigned(block), 1, 1, 0, d.stream, params.data(),
                        nullptr),
        "cuLaunchKernel(" + kernel + ")");
}

void synchronize() {
  const Driver &d = ready();
  check(d, d.stream_synchronize(d.stream), "cuStreamSynchronize");
}

uint64_t mem_alloc(size_t bytes) {
  const Driver &d = ready();
  CUdeviceptr p = 0;
  CUresult r = d.mem_alloc(&p, bytes ? bytes : 1);
  if (r == CUDA_ERROR_OUT_OF_MEMORY)
    throw Error("cuda:0 is out of memory: cuMemAlloc of " + std::to_string(bytes) +
                " bytes failed (free cached blocks with dz::empty_cache(Device::cuda()), or use a "
                "smaller batch)");
  check(d, r, "cuMemAlloc of " + std::to_string(bytes) + " bytes");
  return p;
}

void mem_free(uint64_t ptr) noexcept {
  if (ptr)
    driver().mem_free(CUdeviceptr(ptr));
}

void copy_htod(uint64_t dst, const void *src, size_t bytes) {
  const Driver &d = ready();
  check(d, d.memcpy_htod(CUdeviceptr(dst), src, bytes), "cuMemcpyHtoD");
}

void copy_dtoh(void *dst, uint64_t src, size_t bytes) {
  const Driver &d = ready();
  check(d, d.stream_synchronize(d.stream), "cuStreamSynchronize");
  check(d, d.memcpy_dtoh(dst, CUdeviceptr(src), bytes), "cuMemcpyDtoH");
}

void copy_dtod(uint64_t dst, uint64_t src, size_t bytes) {
  const Driver &d = ready();
  check(d, d.memcpy_dtod_async(CUdeviceptr(dst), CUdeviceptr(src), bytes, d.stream),
        "cuMemcpyDtoDAsync");
}

void *stream() { return ready().stream; }

} // namespace dz::cuda
