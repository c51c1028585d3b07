// FusedKernels.h - native code for the dz.fused ops of a function (private to
// codegen/cpu): each group becomes one loop nest over its domain, lowered through MLIR's
// arith/math/scf/memref dialects to LLVM and JIT-compiled by MLIR's ExecutionEngine.
#pragma once

#include <dzc/codegen/Executor.h>

#include <mlir/Dialect/Func/IR/FuncOps.h>

#include <llvm/ADT/DenseMap.h>

#include <memory>
#include <string>

namespace mlir {
class ExecutionEngine;
} // namespace mlir

namespace dz::codegen {

/// A compiled kernel: fn(args) with args[i] pointing at the i-th argument of the
/// generated function, which are the data pointers of the group's inputs, then of its
/// outputs, then two int64: the range [lo, hi) of the outermost domain loop it runs, then
/// (a loop nest, not the flat form) one int64 per dimension of the domain: its size, then
/// the group's scalar constants (`scalars`).
struct FusedKernel {
  using Fn = void (*)(void **);
  std::string name;       // the symbol ("fused_3")
  Fn fn = nullptr;        // valid while the KernelLibrary lives
  int64_t outer = 1;      // trip count of the outermost loop (1 for a 0-d domain)
  int64_t elements = 1;   // points of the domain
  std::vector<int64_t> sizes;    // the domain's sizes, passed after [lo, hi) (empty: flat)
  std::vector<uint64_t> scalars; // the constants' values (each in its low bytes), last
  bool splittable = true; // iterations of the outermost loop are independent
  bool math = false;      // evaluates a transcendental function per point
  /// Per output: computed elementwise over the domain (point p from the inputs at p, so
  /// it may be written into the buffer of an input of the same type), not a reduction.
  std::vector<bool> pointwise;
};

/// The JIT-compiled kernels of one function. Keeps the ExecutionEngine (and so the
/// code) alive; Programs hold it through a shared_ptr.
class KernelLibrary {
public:
  ~KernelLibrary();
  /// The kernel of a dz.fused op of the function it was built from, or null when the
  /// group has no generated code (see `skipped`).
  const FusedKernel *lookup(mlir::Operation *fused) const;
  /// One line per group left to the op-by-op path, with the reason.
  const std::string &skipped() const { return skipped_; }
  /// The optimised LLVM IR of the kernels (when built with keep_llvm_ir).
  const std::string &llvm_ir() const { return llvm_ir_; }
  /// Milliseconds spent generating and lowering the kernels' MLIR, and in LLVM (the
  /// optimiser and the machine-code generator of the JIT).
  double mlir_ms() const { return mlir_ms_; }
  double llvm_ms() const { return llvm_ms_; }
  /// Functions its groups call: groups whose kernels are the same share one.
  size_t num_functions() const { return num_functions_; }
  /// Of those, the ones compiled earlier in this process (for a program of another
  /// signature or function) and called from there, not compiled again.
  size_t num_reused() const { return num_reused_; }
  /// Of the others, the ones whose object code an earlier process left in the disk cache.
  size_t num_loaded() const { return num_loaded_; }

private:
  friend struct KernelLibraryBuilder;
  /// The engines whose code the kernels call: this library's own, and those of the
  /// kernels it reuses from the process's cache (see buildKernelLibrary).
  std::vector<std::shared_ptr<void>> engines_; // an mlir::ExecutionEngine or an LLJIT
  llvm::DenseMap<mlir::Operation *, FusedKernel> kernels_;
  std::string skipped_, llvm_ir_;
  double mlir_ms_ = 0, llvm_ms_ = 0;
  size_t num_functions_ = 0, num_reused_ = 0, num_loaded_ = 0;
};

struct JitOptions {
  bool keep_llvm_ir = false; // keep the optimised LLVM IR text (dzc --emit=llvm)
};

/// Generates and compiles a kernel for every dz.fused op of `fn` whose ops and dtypes
/// have a scalar form (every elementwise op of FusibleOps.h on f32/f64, most on i64,
/// and a trailing sum/max/min). Groups without one are listed in skipped() and run op
/// by op. A kernel takes the sizes of its domain as arguments, so it depends on the
/// shapes only through which dimensions are broadcast: the process keeps every kernel it
/// compiled (while a library uses it) by its MLIR text, and a later function with the
/// same kernel (the same step traced at another batch size, say) calls that code instead
/// of compiling it again (not with keep_llvm_ir, which compiles everything to print it).
/// The object code of what it compiles is also kept on disk (dz::cache_dir()/cpu), and a
/// later process with the same kernels on the same CPU and LLVM loads it instead of
/// compiling (`DZ_DISABLE=kernel-cache` turns that off). Fails,
/// after an error diagnostic, only when MLIR cannot lower or the JIT cannot compile the module (a
/// bug of this file).
mlir::FailureOr<std::shared_ptr<KernelLibrary>> buildKernelLibrary(mlir::func::FuncOp fn,
                                                                   const JitOptions &options = {});

} // namespace dz::codegen
