// emulator.cpp - the host emulation of a GPU (gpu.h): device memory is host memory, and a
// kernel's CUDA C is compiled by the host C++ compiler into a shared library, with a
// prelude that defines the CUDA built-ins the eager kernels use (threadIdx, blockIdx,
// blockDim, gridDim, __shared__, __syncthreads, atomicAdd). A launch runs the blocks one
// after another and a block's threads as std::threads, __syncthreads being a std::barrier
// of this library;
// __shared__ arrays become function statics, shared by the threads of the one block that
// runs at a time, as on the device. One launch at a time.
//
// Slow (a thread per CUDA thread) and meant for tests: it checks what the kernels compute
// from their indexes, not the device's floating-point functions (expf is the host's) nor
// its memory model. Where NVRTC loads, each source is also compiled to PTX for compute_90
// (through the PTX cache), so a kernel the emulation runs but the GPU's compiler rejects
// fails there too.
#include "gpu.h"

#include <dzc/cuda/nvrtc.h>

#include <dzc/tensor.h>

#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <vector>

#ifndef DZ_HOST_CXX
#define DZ_HOST_CXX "c++"
#endif

namespace dz::cuda {

namespace {

// The prelude includes only <math.h>, so that a kernel compiles in a fraction of a
// second: the threads and the block barrier live in this library, and the kernel's
// library gets them through dz_emulate_enter (its thread's indexes) and a __syncthreads
// that calls back here.
const char *kPrelude = R"(// The CUDA built-ins of dzc's eager kernels, on the host.
#include <math.h>

struct dz_dim3 { unsigned x; };
static thread_local dz_dim3 threadIdx, blockIdx;
static dz_dim3 blockDim, gridDim;
static void (*dz_barrier)(void *);
static thread_local void *dz_barrier_state;
static void __syncthreads() { dz_barrier(dz_barrier_state); }
static float __int_as_float(unsigned v) { float f; __builtin_memcpy(&f, &v, 4); return f; }
static double __longlong_as_double(unsigned long long v) {
  double d; __builtin_memcpy(&d, &v, 8); return d;
}
template <typename T> static T atomicAdd(T *p, T v) {
  if constexpr (static_cast<T>(0.5) == 0) { // an integer
    return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
  } else {
    T old, want;
    __atomic_load(p, &old, __ATOMIC_SEQ_CST);
    do
      want = old + v;
    while (!__atomic_compare_exchange(p, &old, &want, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
    return old;
  }
}
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) double2 { double x, y; };
struct alignas(16) longlong2 { long long x, y; };
#define __global__
#define __device__
#define __launch_bounds__(n)
#define __restrict__ __restrict
#define __shared__ static
#define DZ_KERNEL(name, Args)                                                   \
  static void name##_body(const Args &a);                                       \
  extern "C" void name(const void *p) { name##_body(*static_cast<const Args *>(p)); } \
  static void name##_body(const Args &a)
)";

const char *kEnter = R"(
extern "C" void dz_emulate_enter(unsigned block, unsigned thread, unsigned block_dim,
                                 unsigned grid_dim, void (*barrier)(void *), void *state) {
  blockIdx.x = block;
  threadIdx.x = thread;
  blockDim.x = block_dim;
  gridDim.x = grid_dim;
  dz_barrier = barrier;
  dz_barrier_state = state;
}
)";

/// dz_call_pointers(kernel, n, p): calls a kernel of n pointer parameters (the generated
/// kernels of codegen/cuda), appended to every emulated library. Every parameter is a
/// pointer, so one cast per count serves every kernel.
std::string pointer_caller() {
  constexpr int kMax = 32;
  std::string s = "\nextern \"C\" void dz_call_pointers(void *k, int n, void *const *p) {\n"
                  "  switch (n) {\n";
  for (int n = 1; n <= kMax; ++n) {
    std::string types, args;
    for (int i = 0; i < n; ++i) {
      types += std::string(i ? ", " : "") + "void *";
      args += std::string(i ? ", " : "") + "p[" + std::to_string(i) + "]";
    }
    s += "  case " + std::to_string(n) + ": ((void (*)(" + types + "))k)(" + args + "); break;\n";
  }
  return s + "  }\n}\n";
}

using KernelFn = void (*)(const void *);
using EnterFn = void (*)(unsigned, unsigned, unsigned, unsigned, void (*)(void *), void *);
using CallPointersFn = void (*)(void *, int, void *const *);

void arrive_and_wait(void *barrier) { static_cast<std::barrier<> *>(barrier)->arrive_and_wait(); }

class EmulatedGpu final : public Gpu {
public:
  explicit EmulatedGpu(std::string cxx) : cxx_(std::move(cxx)) {}

  std::string describe() const override {
    return "emulated on the host (no GPU; kernels compiled by " + cxx_ + ")";
  }

  void *alloc(size_t bytes) override {
    void *p = std::aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);
    if (!p)
      throw Error("the emulated GPU is out of host memory (" + std::to_string(bytes) + " bytes)");
    return p;
  }
  void free(void *p) noexcept override { std::free(p); }
  void upload(void *dst, const void *src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void download(void *dst, const void *src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy(void *dst, const void *src, size_t bytes) override { std::memmove(dst, src, bytes); }
  void synchronize() override {}

  const void *kernel(const std::string &source, const std::string &name) override {
    // One library per source (a module of several kernels is compiled once), one entry
    // per kernel of it.
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string key = name + '\n' + source;
    if (auto it = kernels_.find(key); it != kernels_.end())
      return &it->second;
    void *&lib = libraries_[source];
    if (!lib) {
      check_compiles_for_the_gpu(source);
      lib = compile(source); // open for the process, reachable (for LeakSanitizer)
    }
    Loaded k;
    k.fn = reinterpret_cast<KernelFn>(dlsym(lib, name.c_str()));
    k.enter = reinterpret_cast<EnterFn>(dlsym(lib, "dz_emulate_enter"));
    k.call_pointers = reinterpret_cast<CallPointersFn>(dlsym(lib, "dz_call_pointers"));
    if (!k.fn || !k.enter || !k.call_pointers)
      throw Error("the emulated kernel library has no kernel " + name);
    k.barrier = source.find("__syncthreads") != std::string::npos;
    return &(kernels_[key] = k);
  }

  void launch(const void *kernel, int64_t grid, int block, const void *args,
              size_t args_size) override {
    // Blocks one after another (a kernel's __shared__ statics serve one block at a time),
    // a block's threads at once.
    const Loaded *k = static_cast<const Loaded *>(kernel);
    run_blocks(k, grid, block, [&] { k->fn(args); });
  }

  void launch_pointers(const void *kernel, int64_t grid, int block,
                       const std::vector<const void *> &pointers) override {
    const Loaded *k = static_cast<const Loaded *>(kernel);
    if (pointers.empty() || pointers.size() > 32)
      throw Error("the emulated GPU launches kernels of 1 to 32 pointer parameters, not " +
                  std::to_string(pointers.size()));
    std::vector<void *> p(pointers.size());
    for (size_t i = 0; i < p.size(); ++i)
      p[i] = const_cast<void *>(pointers[i]);
    // Grid-stride kernels: a small grid computes the same (the blocks run one at a time).
    run_blocks(k, std::min<int64_t>(grid, max_grid()), block,
               [&] { k->call_pointers(reinterpret_cast<void *>(k->fn), int(p.size()), p.data()); });
  }

  int64_t max_grid() const override { return 3; }
  int block() const override { return 32; }

private:
  struct Loaded {
    KernelFn fn = nullptr;
    EnterFn enter = nullptr;
    CallPointersFn call_pointers = nullptr;
    bool barrier = false; // the kernel's source calls __syncthreads
  };

  /// Runs the blocks one after another. A kernel without __syncthreads runs its threads
  /// one after another on one worker thread (nothing can tell the difference); one with
  /// it, as real threads that meet at the barrier. Kernels never run on the caller's
  /// thread: the kernel libraries' thread_local indexes then live only in threads that
  /// have ended (LeakSanitizer's scan of a live thread's many dlopened TLS blocks crashed).
  template <typename Call> void run_blocks(const Loaded *k, int64_t grid, int block, Call call) {
    std::lock_guard<std::mutex> lock(launch_mutex_);
    if (!k->barrier) {
      std::thread worker([&] {
        for (int64_t b = 0; b < grid; ++b)
          for (int t = 0; t < block; ++t) {
            k->enter(unsigned(b), unsigned(t), unsigned(block), unsigned(grid), nullptr, nullptr);
            call();
          }
      });
      worker.join();
      return;
    }
    for (int64_t b = 0; b < grid; ++b) {
      std::barrier<> barrier(block);
      std::vector<std::thread> threads;
      threads.reserve(size_t(block));
      for (int t = 0; t < block; ++t)
        threads.emplace_back([&, b, t] {
          k->enter(unsigned(b), unsigned(t), unsigned(block), unsigned(grid), arrive_and_wait,
                   &barrier);
          call();
        });
      for (std::thread &t : threads)
        t.join();
    }
  }

  /// Throws where NVRTC is present and rejects `source` for compute_90 (the source a GPU
  /// would be given: no prelude).
  static void check_compiles_for_the_gpu(const std::string &source) {
    if (!nvrtc_available())
      return;
    try {
      default_kernel_cache().ptx(source, "compute_90");
    } catch (const Error &e) {
      throw Error(std::string("an emulated kernel does not compile for the GPU (NVRTC, "
                              "compute_90): ") +
                  e.what());
    }
  }

  /// Compiles one kernel source into a library and loads it. Libraries are cached on disk
  /// like PTX (nvrtc.h), under KernelCache::default_dir()/emulated, keyed by the hash of
  /// the whole translation unit and the compile command, and written under a temporary
  /// name then renamed. The library stays mapped for the process.
  void *compile(const std::string &source) {
    static std::atomic<int> counter{0};
    namespace fs = std::filesystem;
    const std::string unit = std::string(kPrelude) + source + kEnter + pointer_caller();
    const std::string flags = " -std=c++20 -O1 -w -shared -fPIC -pthread";
    const fs::path cache = KernelCache::default_dir() / "emulated";
    const fs::path cached = cache / (content_hash(cxx_ + flags + "\n" + unit) + ".so");
    std::error_code ec;
    if (fs::exists(cached, ec))
      if (void *handle = dlopen(cached.c_str(), RTLD_NOW | RTLD_LOCAL))
        return handle;
    fs::path dir = fs::temp_directory_path() / ("dzc-emulated-gpu-" + std::to_string(::getpid()) +
                                                "-" + std::to_string(counter++));
    fs::create_directories(dir);
    fs::path src = dir / "kernel.cpp", lib = dir / "kernel.so", log = dir / "compile.log";
    std::ofstream(src) << unit;
    std::string cmd =
        cxx_ + flags + " -o " + lib.string() + " " + src.string() + " > " + log.string() + " 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      std::stringstream t;
      t << std::ifstream(log).rdbuf();
      fs::remove_all(dir, ec);
      throw Error("the host compile of an emulated kernel failed: " + cmd + "\n" + t.str() +
                  "\nsource:\n" + source);
    }
    fs::path from = lib;
    fs::create_directories(cache, ec);
    if (!ec) {
      fs::rename(lib, cached, ec); // a concurrent process may win: same content
      if (!ec)
        from = cached;
    }
    void *handle = dlopen(from.c_str(), RTLD_NOW | RTLD_LOCAL);
    const char *dl_error = handle ? nullptr : dlerror();
    std::string reason = dl_error ? dl_error : "unknown error";
    fs::remove_all(dir, ec);
    if (!handle)
      throw Error("dlopen of an emulated kernel failed: " + reason);
    return handle;
  }

  std::string cxx_;
  std::mutex mutex_, launch_mutex_;
  std::unordered_map<std::string, Loaded> kernels_;   // name + source -> kernel (stable)
  std::unordered_map<std::string, void *> libraries_; // source -> its library
};

} // namespace

std::unique_ptr<Gpu> make_emulated_gpu(std::string &why) {
  const char *env = std::getenv("DZ_CUDA_EMULATION_CXX");
  std::string cxx = env && *env ? env : DZ_HOST_CXX;
  std::string probe = cxx + " --version > /dev/null 2>&1";
  if (std::system(probe.c_str()) != 0) {
    why = "the host emulation of the GPU needs a C++ compiler, and `" + cxx +
          " --version` failed (set DZ_CUDA_EMULATION_CXX to one)";
    return nullptr;
  }
  return std::make_unique<EmulatedGpu>(cxx);
}

} // namespace dz::cuda
