// dzc/codegen/OnnxExport.h - the ONNX back end: a func.func of dz ops (as traced, before
// autodiff) as an ONNX model (docs/onnx.md, "Export"), and an ONNX model compiled for
// the CPU the way dz::compile compiles a trace.
//
// MLIR-facing (dzc, the library behind dzc/onnx.h); protobuf stays inside. Every problem is
// a dz::Error thrown from our own frames (nothing is thrown through MLIR's).
#pragma once

#include <dzc/codegen/Executor.h>
#include <dzc/onnx.h>
#include <dzc/onnx/Import.h>

#include <mlir/Dialect/Func/IR/FuncOps.h>

#include <optional>
#include <string>
#include <vector>

namespace dz::codegen {

/// One argument of the exported function: a graph input, or an initializer of this value
/// (a trained weight).
struct OnnxArgument {
  std::string name;
  std::optional<Tensor> initializer;
};

/// The ONNX model of `fn`, serialized, after onnx::checker and ONNX shape inference
/// accepted it. `args` names each argument of `fn` (empty: all are inputs, "input_<i>" or
/// ExportOptions::input_names). Throws dz::onnx::UnsupportedError listing every op that
/// has no ONNX mapping, dz::Error for a bad option.
std::string exportOnnx(mlir::func::FuncOp fn, const onnx::ExportOptions &options,
                       const std::vector<OnnxArgument> &args = {});

/// The importer's options for a model that is to be run: operands computed from constants
/// only (Shape -> Slice -> Concat -> Reshape) are folded by the CPU executor.
onnx::ImportOptions runImportOptions(std::vector<Tensor> input_values);

/// Whether the exporter maps the op named `op_name` ("dz.add") to ONNX.
bool hasOnnxExport(llvm::StringRef op_name);

} // namespace dz::codegen
