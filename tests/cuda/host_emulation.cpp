// host_emulation.cpp - dz::testing::HostEmulation (host_emulation.h).
#include "host_emulation.h"

#include <dzc/tensor.h>

#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <sstream>

#ifndef DZ_HOST_CXX
#error "DZ_HOST_CXX (the host C++ compiler) must be defined"
#endif

namespace dz::testing {

namespace {

const char *kPrelude = R"(// The CUDA built-ins of dzc's generated kernels, on the host.
#include <barrier>
#include <cmath>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

struct dz_dim3 { unsigned x = 0; };
static thread_local dz_dim3 threadIdx, blockIdx;
static dz_dim3 blockDim, gridDim;
static std::barrier<> *dz_block_barrier;
static void __syncthreads() { dz_block_barrier->arrive_and_wait(); }
static float __int_as_float(unsigned v) { float f; std::memcpy(&f, &v, 4); return f; }
static double __longlong_as_double(unsigned long long v) { double d; std::memcpy(&d, &v, 8); return d; }
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) double2 { double x, y; };
struct alignas(16) longlong2 { long long x, y; };
#define __global__
#define __launch_bounds__(n)
#define __restrict__ __restrict
#define __shared__ static
)";

// Calls a kernel with N pointer arguments: every parameter of a generated kernel is a
// pointer, passed the same way whatever it points at.
const char *kLauncher = R"(
template <size_t... I> static void dz_call(void *k, void **p, std::index_sequence<I...>) {
  reinterpret_cast<void (*)(decltype((void)I, (void *)nullptr)...)>(k)(p[I]...);
}
template <size_t... N> static void dz_dispatch(void *k, int n, void **p, std::index_sequence<N...>) {
  (void)((n == int(N) ? (dz_call(k, p, std::make_index_sequence<N>{}), true) : false) || ...);
}
extern "C" void dz_emulate_launch(void *kernel, int n, void **params, long long grid,
                                  long long block) {
  blockDim.x = unsigned(block);
  gridDim.x = unsigned(grid);
  for (long long b = 0; b < grid; ++b) {
    std::barrier<> barrier(block);
    dz_block_barrier = &barrier;
    std::vector<std::thread> threads;
    for (long long t = 0; t < block; ++t)
      threads.emplace_back([=] {
        blockIdx.x = unsigned(b);
        threadIdx.x = unsigned(t);
        dz_dispatch(kernel, n, params, std::make_index_sequence<33>{});
      });
    for (std::thread &t : threads)
      t.join();
  }
}
)";

using LaunchFn = void (*)(void *, int, void **, long long, long long);

} // namespace

bool HostEmulation::compiler_available() { return ::access(DZ_HOST_CXX, X_OK) == 0; }

HostEmulation::HostEmulation(const std::string &cuda_source) {
  static std::atomic<int> counter{0};
  dir_ = std::filesystem::temp_directory_path() /
         ("dzc-host-emulation-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::create_directories(dir_);
  std::filesystem::path src = dir_ / "kernels.cpp", lib = dir_ / "kernels.so",
                        log = dir_ / "compile.log";
  std::ofstream(src) << kPrelude << cuda_source << kLauncher;
  std::string cmd = std::string(DZ_HOST_CXX) + " -std=c++20 -O1 -w -shared -fPIC -pthread -o " +
                    lib.string() + " " + src.string() + " > " + log.string() + " 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    std::stringstream text;
    text << std::ifstream(log).rdbuf();
    throw Error("host compile of the generated kernels failed: " + cmd + "\n" + text.str());
  }
  library_ = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library_)
    throw Error(std::string("dlopen of the emulated kernels failed: ") + dlerror());
}

HostEmulation::~HostEmulation() {
  if (library_)
    dlclose(library_);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void HostEmulation::launch(const std::string &name, int64_t grid, int64_t block,
                           std::vector<void *> pointers) const {
  void *kernel = dlsym(library_, name.c_str());
  auto run = reinterpret_cast<LaunchFn>(dlsym(library_, "dz_emulate_launch"));
  if (!kernel || !run)
    throw Error("the emulated kernels have no " + name);
  if (pointers.size() > 32)
    throw Error(name + " has " + std::to_string(pointers.size()) + " parameters; emulated: 32");
  run(kernel, int(pointers.size()), pointers.data(), grid, block);
}

} // namespace dz::testing
