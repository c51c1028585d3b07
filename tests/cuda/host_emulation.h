// host_emulation.h - runs generated CUDA kernels on the host, for the tests of machines
// without a GPU: the kernels' source is compiled by the host C++ compiler with a prelude
// that defines the few CUDA built-ins they use (threadIdx, blockIdx, blockDim, gridDim,
// __shared__, __syncthreads, __int_as_float, __longlong_as_double), and a launch runs the
// blocks one after another, each block's threads as std::threads, __syncthreads as a
// std::barrier. __shared__ arrays become function statics: shared by the threads of the
// one block that runs at a time, as on the device. Slow (a thread per CUDA thread), exact
// in what it checks: the indexing, broadcasting and reductions of the generated code.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace dz::testing {

class HostEmulation {
public:
  /// Compiles `cuda_source` into a shared library and loads it. Throws dz::Error when the
  /// host compiler fails (with its output) or the library does not load.
  explicit HostEmulation(const std::string &cuda_source);
  ~HostEmulation();
  HostEmulation(const HostEmulation &) = delete;
  HostEmulation &operator=(const HostEmulation &) = delete;

  /// Runs kernel `name` on a 1-d grid; `pointers` are its arguments (host pointers).
  void launch(const std::string &name, int64_t grid, int64_t block,
              std::vector<void *> pointers) const;

  /// Whether the host compiler the tests were configured with exists.
  static bool compiler_available();

private:
  std::filesystem::path dir_;
  void *library_ = nullptr;
};

} // namespace dz::testing
