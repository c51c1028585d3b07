// dzc/cuda/launch.h - running a generated kernel (codegen/cuda) on cuda:0, whatever cuda:0
// is: the GPU, or the host emulation under DZ_CUDA_EMULATION=1 (see docs/cuda.md). For the
// executor of compiled programs; the eager operations go through dzc/device_backend.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dz::cuda {

/// Kernel `name` of the CUDA C module `source`, compiled and loaded on cuda:0 when made
/// (a module is compiled once for all its kernels, and its PTX cached). Throws dz::Error
/// when cuda:0 is unavailable or the source does not compile.
class GeneratedKernel {
public:
  GeneratedKernel(const std::string &source, const std::string &name);
  /// Launches it on a 1-d grid with pointer parameters, device addresses of tensors on
  /// cuda:0. Asynchronous like every device operation.
  void launch(int64_t grid, int block, const std::vector<const void *> &pointers) const;
  const std::string &name() const { return name_; }

private:
  std::string name_;
  const void *handle_; // the Gpu's kernel
};

} // namespace dz::cuda
