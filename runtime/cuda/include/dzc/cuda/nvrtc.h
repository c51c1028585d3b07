// dzc/cuda/nvrtc.h - CUDA C source to PTX with NVRTC, loaded at run time, and the kernel
// cache.
//
// NVRTC needs no GPU: with --gpu-architecture=compute_90 it compiles on any machine
// where the CUDA toolkit is installed, so code generation is tested everywhere. Like
// the driver, libnvrtc is loaded with dlopen on first use (a binary of dzc starts where
// CUDA is missing; nvrtc_available() is then false). Compiling takes tens of
// milliseconds per module, so the PTX is cached by hash(source, arch, NVRTC version): in
// memory, and on disk under $XDG_CACHE_HOME/dzc (default ~/.cache/dzc), one file per
// module written to a temporary name and renamed, so concurrent processes never read a
// half-written file.
#pragma once

#include <filesystem>
#include <mutex>
#include <string>
#include <unordered_map>

namespace dz::cuda {

/// Whether libnvrtc could be loaded; nvrtc_unavailable_reason() says why not.
bool nvrtc_available();
const std::string &nvrtc_unavailable_reason();
/// "13.0": the version of the loaded NVRTC (part of the cache key).
std::string nvrtc_version();

/// Compiles `source` for `arch` (a virtual architecture, "compute_90") without any cache.
/// Throws dz::Error when NVRTC is unavailable, or when the source does not compile, with
/// NVRTC's log in the message.
std::string nvrtc_compile(const std::string &source, const std::string &arch = "compute_90");

/// The PTX of CUDA sources, from memory, from disk or from NVRTC.
class KernelCache {
public:
  /// A cache whose files live in `dir` (created on first write).
  explicit KernelCache(std::filesystem::path dir);

  enum class From { Memory, Disk, Compiler };
  struct Result {
    std::string ptx;
    From from = From::Compiler;
    double ms = 0; // time this lookup took, compile included
  };

  /// The PTX of `source` for `arch`; compiles and stores it on a miss. Throws dz::Error
  /// as nvrtc_compile() does. A cache file that cannot be written is not an error (the
  /// PTX is still returned and kept in memory).
  Result ptx(const std::string &source, const std::string &arch = "compute_90");

  /// The file that holds (or would hold) the PTX of `source` for `arch`.
  std::filesystem::path file_of(const std::string &source, const std::string &arch) const;
  const std::filesystem::path &dir() const { return dir_; }

  /// $XDG_CACHE_HOME/dzc, else $HOME/.cache/dzc, else a dzc folder in the temp dir.
  static std::filesystem::path default_dir();

private:
  std::filesystem::path dir_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::string> memory_; // key -> PTX
};

/// The process-wide cache in KernelCache::default_dir().
KernelCache &default_kernel_cache();

/// 128 bits of FNV-1a (two 64-bit streams with different offsets) of `text`, as 32 hex
/// digits: the names of the cache's files.
std::string content_hash(const std::string &text);

/// default_kernel_cache().ptx(source, arch).ptx
std::string compile_to_ptx(const std::string &source, const std::string &arch = "compute_90");

} // namespace dz::cuda
