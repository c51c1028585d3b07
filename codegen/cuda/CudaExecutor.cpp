// CudaExecutor.cpp - attachDeviceKernels (dzc/codegen/CudaExecutor.h).
#include <dzc/codegen/CudaExecutor.h>

#include <dzc/codegen/CudaSource.h>
#include <dzc/cuda/launch.h>
#include <dzc/ir/DzOps.h>

#include <mlir/IR/Diagnostics.h>

#include <memory>

namespace dz::codegen::cuda {

std::string attachDeviceKernels(mlir::func::FuncOp fn, BuildOptions &build) {
  std::string errors;
  mlir::FailureOr<CudaFunction> generated = mlir::failure();
  {
    mlir::ScopedDiagnosticHandler quiet(fn.getContext(), [&](mlir::Diagnostic &d) {
      errors += d.str() + "\n";
      return mlir::success();
    });
    generated = generateCuda(fn);
  }
  if (mlir::failed(generated))
    return "no generated kernels (the fused groups run op by op): " + errors;
  // Compiled and loaded now, so that a kernel that does not compile fails the build of the
  // program, not its first run.
  for (const CudaKernel &k : generated->kernels)
    if (k.anchor && llvm::isa<ir::FusedOp>(k.anchor)) {
      auto loaded = std::make_shared<const dz::cuda::GeneratedKernel>(generated->source, k.name);
      build.device_kernels.push_back(
          {k.anchor,
           {k.name, k.input_values, k.output_values, k.pointwise,
            [loaded, grid = k.grid, block = int(k.block)](const std::vector<const void *> &p) {
              loaded->launch(grid, block, p);
            }}});
    }
  return "";
}

} // namespace dz::codegen::cuda
