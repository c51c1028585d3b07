// CudaExpressions.h - what each dz op computes in CUDA C: the one table of op -> C
// expression of the code generator (CudaSource.cpp) and the C types and literals it needs.
// Internal to codegen/cuda.
#pragma once

#include <dzc/tensor.h>

#include <mlir/IR/Operation.h>
#include <mlir/IR/Value.h>
#include <mlir/Support/LLVM.h>

#include <optional>
#include <string>

namespace dz::codegen::cuda {

/// The expression pattern of an elementwise op, or for a reduction how an accumulator
/// {0} takes in a value {1}; null for an op without one. Placeholders: {0}, {1} the
/// operands, {T} the C type of the result, {f} "f" for an f32 result (expf), {NAME} the
/// F64 attribute NAME of the op as a literal of the result type.
const char *expressionOf(llvm::StringRef op);

/// The device functions (dzc/op_registry.h's cuda_op_source) of the registry ops that
/// `root` holds, for the top of a kernel source.
std::string registrySource(mlir::Operation *root);

/// `pattern` with its placeholders filled in; failure (after a diagnostic at `op`) for a
/// missing attribute.
mlir::FailureOr<std::string> expand(llvm::StringRef pattern, llvm::ArrayRef<std::string> operands,
                                    DType type, mlir::Operation *op);

/// f32 / f64 / i64, or nullopt for an element type the kernels do not take.
std::optional<DType> dtypeOf(mlir::Type t);
/// "float", "double", "long long".
const char *cType(DType t);
/// The start value of the accumulator of the reduction `op` (dz.sum, dz.max, dz.min).
std::string identityOf(llvm::StringRef op, DType t);
/// The value of a splat dz.constant as a C literal; nullopt for any other value.
std::optional<std::string> splatLiteral(mlir::Value v);

} // namespace dz::codegen::cuda
