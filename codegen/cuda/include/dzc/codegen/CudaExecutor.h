// dzc/codegen/CudaExecutor.h - the generated CUDA kernels of a function's fused groups, made
// ready for a Program on cuda:0 (codegen::BuildOptions::device_kernels): used by dz::compile
// (codegen/driver) and `dzc run --device cuda` (tools/dzc). Library dzc_cuda_executor: the
// generator (dzc_codegen_cuda), the executor (dzc_codegen_cpu) and the device
// (dzc_cuda_runtime) together.
#pragma once

#include <dzc/codegen/ExecutorBuild.h>

#include <mlir/Dialect/Func/IR/FuncOps.h>

#include <string>

namespace dz::codegen::cuda {

/// Generates the CUDA kernels of `fn`, compiles them (NVRTC, or the host compiler under the
/// emulation) and loads them on cuda:0, and adds one DeviceKernel per dz.fused group to
/// `build.device_kernels`. Returns "" or, where generation failed (an element type the
/// CUDA back end lacks), a note saying why the groups run op by op; never throws through
/// MLIR frames, but a module that does not compile throws dz::Error.
std::string attachDeviceKernels(mlir::func::FuncOp fn, BuildOptions &build);

} // namespace dz::codegen::cuda
