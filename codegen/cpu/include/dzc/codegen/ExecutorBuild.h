// dzc/codegen/ExecutorBuild.h - builds a dz::codegen::Program from a func.func of dz ops.
//
// The function must have static ranked tensor types of f32, f64 or i64 and contain only
// dz ops of docs/ir.md and one func.return; dz.grad must have been expanded
// (--dz-autodiff) first. Building reads every attribute, materialises constants and
// computes each value's last use once, so running the Program touches no IR.
#pragma once

#include <dzc/codegen/Executor.h>

#include <mlir/Dialect/Func/IR/FuncOps.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace dz::codegen {

/// A kernel generated for a device (codegen/cuda) that computes one op of the function,
/// typically a dz.fused group, loaded there: `launch` runs it with the device addresses
/// of `inputs`, then of `outputs` (the op's results, in any order).
struct DeviceKernel {
  std::string name; // the kernel's entry, for messages
  std::vector<mlir::Value> inputs, outputs;
  /// Per output: computed at each point from the inputs at that point only, so it may be
  /// computed into the buffer of an input of its shape (a donated parameter).
  std::vector<bool> pointwise;
  std::function<void(const std::vector<const void *> &pointers)> launch;
};

struct BuildOptions {
  /// JIT-compile each dz.fused group into one native kernel (FusedKernels.h); off, every
  /// group runs op by op with the runtime's kernels (the reference for tests).
  bool jit_fused = true;
  /// Keep the optimised LLVM IR of the fused kernels (Program::llvm_ir(); DZ_DUMP_IR).
  bool keep_llvm_ir = false;
  /// (result, argument) pairs: after each call the caller copies that result into that
  /// argument (dz::compile's parameter and optimizer-state updates). Where it is safe
  /// (the result comes out of a fused kernel elementwise, and nothing after that kernel
  /// reads the argument) the result is computed in the argument's buffer, and the
  /// caller's copy becomes a no-op. Arguments that share storage with another argument
  /// at run time are not written into.
  std::vector<std::pair<int, int>> donations;
  /// Put the intermediates in one arena per run, at offsets planned from the steps'
  /// liveness (dz::passes::placeBuffers); off, each kernel allocates its results.
  bool arena = true;
  /// On the CPU, with the arena: where every op of the function has a direct kernel
  /// (dzc/direct_kernels.h, a JIT-compiled group, a reshape, a constant), each step also
  /// gets its direct form, and Program::run calls those over raw buffers (Program::direct).
  bool direct = true;
  /// Where the program runs: its arguments and results live there and its constants are
  /// put there when it is built. On a CUDA device each step is a generated kernel (see
  /// device_kernels) or a runtime call on device tensors (the eager GPU kernels), and the
  /// arena is one device buffer.
  Device device = Device::cpu();
  /// Arguments that stay on the CPU in a program on a device: dropout's RNG state (seed,
  /// offset), which only the host side of its steps reads (the mask kernel takes the
  /// seed and offset as arguments).
  std::vector<int> host_args;
  /// On a device: generated kernels by the op they compute. An op with one runs as one
  /// launch (a dz.fused group: one kernel instead of its ops one by one); the others run
  /// as runtime calls.
  std::vector<std::pair<mlir::Operation *, DeviceKernel>> device_kernels;
};

/// The Program of `fn`, or failure after an error diagnostic at the offending op that
/// names it and says what is wrong (an unknown op, a dz.grad left, a bad type).
mlir::FailureOr<Program> buildProgram(mlir::func::FuncOp fn, const BuildOptions &options = {});

/// The same for C++ callers outside MLIR frames: the diagnostics of a failed build are
/// collected and thrown as one dz::Error.
Program buildProgramOrThrow(mlir::func::FuncOp fn, const BuildOptions &options = {});

/// The optimised LLVM IR of the fused kernels of `fn` (dzc --emit=llvm), or failure
/// after an error diagnostic.
mlir::FailureOr<std::string> emitFusedLLVMIR(mlir::func::FuncOp fn);

/// Whether the CPU executor has a kernel for the op named `op_name` ("dz.add").
bool hasCpuKernel(llvm::StringRef op_name);
/// Whether the fused kernels have a scalar form of the elementwise op `op_name`.
bool hasFusedScalarForm(llvm::StringRef op_name);

} // namespace dz::codegen
