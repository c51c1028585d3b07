// dzc/onnx/Import.h - the ONNX importer: an ONNX model file as a module holding one
// func.func of dz ops (docs/onnx.md), ready for the pipeline and the back ends.
//
// MLIR-facing (the CLI, the tests); never included by the eager headers. Problems are
// thrown as dz::Error (UnsupportedError for valid models dz cannot express) after the
// MLIR diagnostics are collected: no exception crosses an MLIR frame, nothing half-built
// is returned.
#pragma once

#include <dzc/onnx/Model.h>

#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/IR/BuiltinOps.h>
#include <mlir/IR/OwningOpRef.h>

#include <functional>
#include <string>
#include <vector>

namespace mlir {
class MLIRContext;
}

namespace dz::onnx {

struct ImportOptions {
  /// Run onnx::checker (models of IR version <= 8, the newest ONNX 1.12 knows).
  bool check = true;
  /// Name of the func.func; empty: the graph's name made an identifier, or "main".
  std::string function_name;
  /// Empty, or one value per graph input (in order). A value fixes the shape of an input
  /// whose type has symbolic dimensions, and is baked in where an op needs a constant
  /// operand (Reshape's shape, Clip's bounds, ... given as graph inputs, as the ONNX node
  /// tests do). Every graph input stays an argument of the function.
  std::vector<Tensor> input_values;
  /// When set, entry i (the vector grows as needed) becomes true when the import read the
  /// value of graph input i (directly or through values computed from it): the function
  /// is specialized to that value and must be imported again for another one.
  std::vector<bool> *values_read = nullptr;
  /// Runs a function of dz ops without arguments and returns its one result (the CPU
  /// executor: `codegen::buildProgramOrThrow(fn).run({})[0]`). When set, an operand that
  /// an op needs as a constant but that is computed from constants only (Shape -> Slice
  /// -> Reshape chains) is evaluated at import time. Empty: such operands are unsupported.
  std::function<Tensor(mlir::func::FuncOp)> evaluate;
  /// Initializers that become arguments of the function after the graph inputs, in this
  /// order (fine-tuning: their values are passed at each call), instead of dz.constant
  /// ops. Each must name an initializer of the graph. When an op needs one of them as a
  /// constant operand (a shape, a scale), its value is used there and `values_read` marks
  /// entry (graph inputs + k) for the k-th of them.
  std::vector<std::string> initializer_arguments;
  /// How Dropout nodes compute.
  enum class Dropout {
    /// The identity (its mask all true); a node whose training_mode input is true is
    /// unsupported.
    AsInFile,
    /// The identity, whatever training_mode says (a trainable model in dz::TestMode).
    Inference,
    /// Training form, whatever training_mode says: the function takes one more argument
    /// after the initializer arguments, an RNG state (tensor<2xi64>: seed and first
    /// counter, as dz.dropout_mask reads it). A Dropout of ratio r > 0 multiplies its input
    /// by the dz.dropout_mask of the state (zero with probability r, else 1 / (1 - r)) and
    /// dz.rng_next advances the state past the counters it drew for the next Dropout, in
    /// node order: the masks that successive F::dropout calls draw from a Generator at
    /// that state. A ratio of 0 is the identity and draws nothing.
    Training,
  };
  Dropout dropout = Dropout::AsInFile;
};

/// The model in `path` as a module of one func.func: graph inputs (not initializers)
/// are its arguments, initializers dz.constant ops, graph outputs its results.
mlir::OwningOpRef<mlir::ModuleOp> importOnnx(mlir::MLIRContext &ctx, const std::string &path,
                                             const ImportOptions &options = {});

/// The same for a serialized ModelProto in memory; `name` stands for the file in messages.
mlir::OwningOpRef<mlir::ModuleOp> importOnnxBytes(mlir::MLIRContext &ctx, const std::string &bytes,
                                                  const std::string &name,
                                                  const ImportOptions &options = {});

} // namespace dz::onnx
