// dzc/onnx.h - ONNX in and out from eager code: export a trained model, import a model as
// a callable compiled function (docs/onnx.md).
//
//   dz::onnx::export_model(mlp, {example_x}, "mlp.onnx");   // traced in test mode
//   dz::onnx::ImportedModel g = dz::onnx::import_model("mlp.onnx");
//   std::vector<dz::Tensor> outs = g({x});
//
// No MLIR and no protobuf here: as with dz::compile, the frontend traces and the compiler
// library (libdzc_codegen_onnx.so, codegen/onnx) is loaded on first use to write or
// compile the model.
#pragma once
#include <dzc/layers.h>
#include <dzc/trace.h>
#include <dzc/variable.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace dz::onnx {

/// The opsets the exporter writes (ONNX 1.12 knows up to 17).
inline constexpr int kMinExportOpset = 13, kMaxExportOpset = 17;

struct ExportOptions {
  int opset = 13; // default-domain opset, kMinExportOpset..kMaxExportOpset
  /// Dimension 0 of the inputs and outputs becomes the symbolic dimension "N" (values
  /// computed from the inputs keep it), so the model runs at any batch size.
  bool dynamic_batch = true;
  /// Names of the graph inputs and outputs; empty: "input_<i>" / "output_<i>".
  std::vector<std::string> input_names, output_names;
  std::string graph_name = "dz";
};

/// Traces `model`'s forward on `example_inputs` in test mode without backprop (dropout
/// off, batch norm on its running statistics) and writes it to `path` as ONNX: the
/// parameters become initializers under their names ("l1/W"). The forward runs once
/// eagerly: stateful layers (RNN, LSTM) advance as in any call, so reset_state() first
/// when the model should start from no state. The file is written atomically: a failed
/// export leaves no file (nor an older one changed). Throws dz::Error.
void export_model(Layer &model, const std::vector<Variable> &example_inputs,
                  const std::string &path, const ExportOptions &options = {});

/// The same for any function of Variables (its free Variables that are not parameters of
/// a model become initializers named "state_<i>").
using TracedFunction = std::function<std::vector<Variable>(const std::vector<Variable> &)>;
void export_function(const TracedFunction &fn, const std::vector<Variable> &example_inputs,
                     const std::string &path, const ExportOptions &options = {});

struct ModelImportOptions {
  bool check = true; // run onnx::checker on the file (models ONNX 1.12 knows)
};

/// An ONNX model compiled for the CPU as dz::compile compiles a trace (the importer, the
/// pipeline, the executor). The model is compiled on the first call with each set of input
/// shapes (a symbolic dimension, such as a dynamic batch, takes the input's size).
class ImportedModel {
public:
  /// Runs the model: `inputs` in the order of the graph's inputs (initializers excluded),
  /// outputs in the order of its outputs. Throws dz::Error (wrong count, shape or dtype).
  std::vector<Tensor> operator()(const std::vector<Tensor> &inputs);
  /// How many input signatures were compiled so far.
  int compilations() const;
  /// The dz module of the last compilation after the pipeline, as text.
  std::string optimized_ir() const;
  const std::string &path() const;

private:
  friend ImportedModel import_model(const std::string &, const ModelImportOptions &);
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

/// Reads `path` now (a missing file, a file that is not ONNX or has an op dz cannot run is
/// a dz::Error here) and returns the callable.
ImportedModel import_model(const std::string &path, const ModelImportOptions &options = {});

// ---- the boundary with the compiler library (implemented by codegen/onnx) ----

/// What the exporter knows of a traced function's arguments: the first `inputs` are the
/// graph inputs, each later one is an initializer of this value.
struct GraphArguments {
  std::vector<std::string> names; // one per Graph::arguments entry
  size_t inputs = 0;
  std::vector<Tensor> initializers; // one per argument after the inputs
};

/// Writes a traced graph as ONNX (codegen/onnx). Throws dz::Error.
void export_graph(const trace::Graph &graph, const GraphArguments &args, const std::string &path,
                  const ExportOptions &options);

/// Throws dz::Error when `path` cannot be read, is not a valid model or has ops dz lacks.
void check_model(const std::string &path, const ModelImportOptions &options);

/// An ONNX model compiled for inputs of these shapes (the first call of ImportedModel).
std::unique_ptr<trace::Executable> compile_model(const std::string &path,
                                                 const std::vector<Tensor> &inputs,
                                                 const ModelImportOptions &options);

} // namespace dz::onnx
