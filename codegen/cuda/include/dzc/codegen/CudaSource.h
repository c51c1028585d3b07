// dzc/codegen/CudaSource.h - CUDA C kernels generated from a func.func of dz ops: one
// `extern "C" __global__` kernel per dz.fused group (--dz-fuse) and per elementwise op
// or reduction left outside a group, with the host-side description of each (its value
// slots, shapes and launch dimensions) that a GPU executor needs to run it.
//
// Shapes are static, so every kernel is specialised to its shapes: loop bounds and the
// broadcasting strides of each operand are literals in the source. NVRTC compiles the
// source (dzc/cuda/nvrtc.h); nothing here needs CUDA. The ops no kernel covers (GEMMs,
// softmax, losses, shape and NN ops) are listed in `host_ops`: a device executor runs
// them another way (cuBLAS, later kernels). Generation never throws through MLIR frames:
// errors are diagnostics at the offending op.
#pragma once

#include <dzc/tensor.h>

#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/IR/BuiltinOps.h>

#include <llvm/Support/raw_ostream.h>

#include <cstdint>
#include <string>
#include <vector>

namespace dz::codegen::cuda {

/// A kernel parameter: the value slot it reads or writes and that value's type. Slots
/// number the function's values: its arguments 0..n-1, then each result of each op of
/// the body, in program order.
struct KernelTensor {
  int32_t slot = -1;
  Shape shape;
  DType dtype = f32;
};

/// One generated kernel. Its parameters are the device pointers of `inputs`, then those
/// of `outputs`, in order; it runs on a 1-d grid of `grid` blocks of `block` threads.
struct CudaKernel {
  std::string name; // the extern "C" name: the .entry of the PTX
  std::string op;   // what it implements: "dz.fused at loc(\"step.mlir\":7:9)"
  std::vector<KernelTensor> inputs, outputs;
  int64_t grid = 1, block = 256;
  /// The op it implements and the values of its parameters (valid while the function
  /// lives), for an executor that runs it in place of the op.
  mlir::Operation *anchor = nullptr;
  std::vector<mlir::Value> input_values, output_values;
  /// Per output: stored at the flat index of the kernel's domain, once, after the loads of
  /// that point (so it may overwrite an input of the domain's shape); false for the
  /// result of a reduction.
  std::vector<bool> pointwise;
};

/// The kernels of one function.
struct CudaFunction {
  std::string name;                  // the func.func's symbol name
  std::string source;                // CUDA C of all its kernels, one NVRTC module
  std::vector<CudaKernel> kernels;   // in program order
  std::vector<std::string> host_ops; // ops no kernel covers, "dz.matmul at loc(...)"
  std::vector<int32_t> result_slots; // the func.return operands
  int32_t num_slots = 0;
};

/// The kernels of `fn`; failure after an error diagnostic at the op that cannot be
/// generated (a dynamic shape, an element type other than f32 / f64 / i64).
mlir::FailureOr<CudaFunction> generateCuda(mlir::func::FuncOp fn);

/// The same for C++ callers outside MLIR frames: the diagnostics are thrown as one
/// dz::Error.
CudaFunction generateCudaOrThrow(mlir::func::FuncOp fn);

/// Whether generated kernels have a CUDA expression for the op named `op_name`.
bool hasCudaExpression(llvm::StringRef op_name);

/// `dzc --emit=cuda`: the CUDA source of every func.func of `module`, in module order,
/// to `os`. Each kernel is preceded by a comment with its description; the ops left to
/// the host close each function's part. Failure after a diagnostic (see generateCuda).
mlir::LogicalResult emitCudaSource(mlir::ModuleOp module, llvm::raw_ostream &os);

} // namespace dz::codegen::cuda
