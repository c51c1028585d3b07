// Session.h - one compilation of a .mlir file or an ONNX model by the dzc CLI: parse and
// verify (or import), run the pipeline, print the module, build the CPU program of one
// function.
//
// Every step reports its problems on stderr (MLIR diagnostics with the file position and
// the source line; other problems as "dzc: error: ...") and returns false / nullopt; no
// step throws. This header has no MLIR in it: the MLIR context lives behind a pointer.
#pragma once

#include <dzc/codegen/Executor.h>
#include <dzc/onnx.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dz::cli {

class Session {
public:
  Session();
  ~Session();
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  /// Parses and verifies `path` ("-" is stdin). False after the diagnostics.
  bool load(const std::string &path);
  /// Imports the ONNX model `path` (dzc/onnx/Import.h), with `input_values` as the
  /// importer's ImportOptions::input_values (empty, or one per graph input). False after
  /// the error.
  bool importOnnx(const std::string &path, const std::vector<Tensor> &input_values);
  /// The pipeline of compiled mode over the whole module: with `optimize`, all of it
  /// (autodiff, canonicalize, CSE, convolution lowering, fusion: what dz::compile and
  /// `dzc run` use, dzc --emit=fused), else its first part (autodiff, canonicalize, CSE;
  /// --emit=opt). With `print_ir_after_all`, the module after each pass goes to stderr.
  bool runPipeline(bool print_ir_after_all, bool optimize);
  /// The module as MLIR text, ending in a newline.
  std::string str() const;
  /// The memory plan of every function (dzc/passes/MemoryPlan.h) as text; nullopt after
  /// the error.
  std::optional<std::string> memoryPlan() const;
  /// The optimised LLVM IR of each function's fused kernels (after runPipeline(_, true));
  /// nullopt after the error.
  std::optional<std::string> llvmIR() const;
  /// The CUDA C source of the module's kernels (codegen/cuda); nullopt after the error,
  /// or when this dzc has no CUDA code generator.
  std::optional<std::string> cudaSource() const;
  /// True when the module still has dz.grad ops (the first part of the pipeline expands
  /// them).
  bool hasGradOps() const;
  /// The func.func named `function` (or the only one) as a serialized ONNX model
  /// (codegen/onnx); nullopt after the error.
  std::optional<std::string> onnxModel(const std::string &function,
                                       const onnx::ExportOptions &options);
  /// The CPU program of the func.func named `function`, or of the only one when
  /// `function` is empty. nullopt after the error.
  /// The Program of `function` on `device` (on cuda:0 with the fused groups as generated
  /// kernels where this dzc has the CUDA back end).
  std::optional<codegen::Program> buildProgram(const std::string &function,
                                               Device device = Device::cpu());

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace dz::cli
