// nvrtc.cpp - CUDA C to PTX (nvrtc.h): libnvrtc opened with dlopen, one compile per call,
// and the kernel cache in memory and on disk.
//
// <nvrtc.h> gives the types and prototypes; nothing links libnvrtc, so binaries start
// where the toolkit is missing. The library is looked up by its soname first (an
// LD_LIBRARY_PATH or ld.so.conf entry wins), then in the toolkit's lib64 that CMake
// found (DZ_CUDA_LIBRARY_DIR). The cache key hashes everything the PTX depends on: the
// source, the architecture, the options and NVRTC's version.
#include <dzc/cuda/nvrtc.h>
#include <dzc/io.h>

#include "dynlib.h"

#include <dzc/tensor.h>

#include <nvrtc.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#ifndef DZ_CUDA_LIBRARY_DIR
#define DZ_CUDA_LIBRARY_DIR "/usr/local/cuda/lib64"
#endif
#ifndef DZ_NVRTC_SONAME
#define DZ_NVRTC_SONAME "libnvrtc.so.13"
#endif

namespace dz::cuda {

namespace {

struct Nvrtc {
  decltype(&::nvrtcVersion) version = nullptr;
  decltype(&::nvrtcGetErrorString) get_error_string = nullptr;
  decltype(&::nvrtcCreateProgram) create_program = nullptr;
  decltype(&::nvrtcDestroyProgram) destroy_program = nullptr;
  decltype(&::nvrtcCompileProgram) compile_program = nullptr;
  decltype(&::nvrtcGetProgramLogSize) get_program_log_size = nullptr;
  decltype(&::nvrtcGetProgramLog) get_program_log = nullptr;
  decltype(&::nvrtcGetPTXSize) get_ptx_size = nullptr;
  decltype(&::nvrtcGetPTX) get_ptx = nullptr;
  std::string version_text; // "13.0"
  std::string reason;       // why NVRTC is unavailable; empty when loaded
};

std::unique_ptr<Nvrtc> load() {
  auto n = std::make_unique<Nvrtc>();
  static detail::DynamicLibrary lib({DZ_NVRTC_SONAME, DZ_CUDA_LIBRARY_DIR "/" DZ_NVRTC_SONAME,
                                     "libnvrtc.so", DZ_CUDA_LIBRARY_DIR "/libnvrtc.so"});
  if (!lib.handle()) {
    n->reason = "libnvrtc not found: the CUDA toolkit is not installed here (" + lib.error() + ")";
    return n;
  }
  bool ok = lib.resolve(n->version, "nvrtcVersion") &&
            lib.resolve(n->get_error_string, "nvrtcGetErrorString") &&
            lib.resolve(n->create_program, "nvrtcCreateProgram") &&
            lib.resolve(n->destroy_program, "nvrtcDestroyProgram") &&
            lib.resolve(n->compile_program, "nvrtcCompileProgram") &&
            lib.resolve(n->get_program_log_size, "nvrtcGetProgramLogSize") &&
            lib.resolve(n->get_program_log, "nvrtcGetProgramLog") &&
            lib.resolve(n->get_ptx_size, "nvrtcGetPTXSize") &&
            lib.resolve(n->get_ptx, "nvrtcGetPTX");
  if (!ok) {
    n->reason = "libnvrtc is too old for dzc: " + lib.error();
    return n;
  }
  int major = 0, minor = 0;
  n->version(&major, &minor);
  n->version_text = std::to_string(major) + "." + std::to_string(minor);
  return n;
}

const Nvrtc &nvrtc() {
  static const std::unique_ptr<Nvrtc> n = load();
  return *n;
}

/// The options of every compile (part of the cache key).
const char *const kOptions[] = {"--std=c++17"};

} // namespace

std::string content_hash(const std::string &text) {
  uint64_t h1 = 14695981039346656037ull, h2 = 1099511628211ull * 31 + 7;
  for (unsigned char c : text) {
    h1 = (h1 ^ c) * 1099511628211ull;
    h2 = (h2 ^ c) * 1099511628211ull + 0x9e3779b97f4a7c15ull;
  }
  char out[33];
  std::snprintf(out, sizeof out, "%016llx%016llx", (unsigned long long)h1, (unsigned long long)h2);
  return out;
}

namespace {

std::string cache_key(const std::string &source, const std::string &arch) {
  std::string material = arch + "\n" + nvrtc_version() + "\n";
  for (const char *o : kOptions)
    material += std::string(o) + "\n";
  return content_hash(material + source);
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

bool nvrtc_available() { return nvrtc().reason.empty(); }

const std::string &nvrtc_unavailable_reason() { return nvrtc().reason; }

std::string nvrtc_version() { return nvrtc().version_text; }

std::string nvrtc_compile(const std::string &source, const std::string &arch) {
  const Nvrtc &n = nvrtc();
  if (!n.reason.empty())
    throw Error("NVRTC unavailable: " + n.reason);
  nvrtcProgram prog = nullptr;
  nvrtcResult r = n.create_program(&prog, source.c_str(), "dzc_kernels.cu", 0, nullptr, nullptr);
  if (r != NVRTC_SUCCESS)
    throw Error(std::string("nvrtcCreateProgram failed: ") + n.get_error_string(r));
  struct Destroy {
    const Nvrtc &n;
    nvrtcProgram &p;
    ~Destroy() { n.destroy_program(&p); }
  } destroy{n, prog};

  std::string arch_option = "--gpu-architecture=" + arch;
  std::vector<const char *> options{arch_option.c_str()};
  options.insert(options.end(), std::begin(kOptions), std::end(kOptions));
  r = n.compile_program(prog, int(options.size()), options.data());
  if (r != NVRTC_SUCCESS) {
    size_t size = 0;
    std::string log;
    if (n.get_program_log_size(prog, &size) == NVRTC_SUCCESS && size > 1) {
      log.resize(size);
      n.get_program_log(prog, log.data());
      log.resize(size - 1); // the terminating NUL
    }
    throw Error(std::string("NVRTC ") + nvrtc_version() +
                " could not compile the CUDA source for " + arch + ": " + n.get_error_string(r) +
                "\n" + log);
  }
  size_t size = 0;
  std::string ptx;
  if (n.get_ptx_size(prog, &size) != NVRTC_SUCCESS || size == 0)
    throw Error("nvrtcGetPTXSize failed after a successful compile for " + arch);
  ptx.resize(size);
  if (n.get_ptx(prog, ptx.data()) != NVRTC_SUCCESS)
    throw Error("nvrtcGetPTX failed after a successful compile for " + arch);
  ptx.resize(size - 1);
  return ptx;
}

KernelCache::KernelCache(std::filesystem::path dir) : dir_(std::move(dir)) {}

std::filesystem::path KernelCache::default_dir() { return dz::cache_dir(); }

std::filesystem::path KernelCache::file_of(const std::string &source,
                                           const std::string &arch) const {
  return dir_ / (cache_key(source, arch) + ".ptx");
}

KernelCache::Result KernelCache::ptx(const std::string &source, const std::string &arch) {
  auto t0 = std::chrono::steady_clock::now();
  std::string key = cache_key(source, arch);
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = memory_.find(key); it != memory_.end())
    return {it->second, From::Memory, ms_since(t0)};

  std::filesystem::path file = dir_ / (key + ".ptx");
  if (std::ifstream in{file, std::ios::binary}) {
    std::ostringstream text;
    text << in.rdbuf();
    if (in && !text.str().empty()) {
      auto &ptx = memory_[key] = text.str();
      return {ptx, From::Disk, ms_since(t0)};
    }
  }

  std::string ptx = nvrtc_compile(source, arch);
  // Written under a name of this process and renamed: a reader sees the whole file or
  // none. Failing to write only costs the next process a compile.
  static std::atomic<unsigned> counter{0};
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  std::filesystem::path tmp =
      dir_ / (key + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++));
  bool written = false;
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    written = bool(out << ptx) && bool(out.flush());
  }
  if (written)
    std::filesystem::rename(tmp, file, ec);
  if (!written || ec)
    std::filesystem::remove(tmp, ec);
  auto &stored = memory_[key] = std::move(ptx);
  return {stored, From::Compiler, ms_since(t0)};
}

KernelCache &default_kernel_cache() {
  static KernelCache cache(KernelCache::default_dir());
  return cache;
}

std::string compile_to_ptx(const std::string &source, const std::string &arch) {
  return default_kernel_cache().ptx(source, arch).ptx;
}

} // namespace dz::cuda
