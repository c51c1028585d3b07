// dzc/onnx.h - ONNX in and out from eager code: export a trained model, import a model as
// a callable compiled function (docs/onnx.md).
//
//   dz::onnx::export_model(mlp, {example_x}, "mlp.onnx");   // traced in test mode
//   dz::onnx::ImportedModel g = dz::onnx::import_model("mlp.onnx");
//   std::vector<dz::Tensor> outs = g({x});
//
// Fine-tuning: import_trainable gives a dz::Model whose floating initializers are
// Parameters; export_model of it writes the original file with the tuned weights.
//
//   dz::onnx::TrainableModel m = dz::onnx::import_trainable("mlp.onnx");
//   dz::Variable y = m(x);                           // eager or inside dz::compile
//   dz::onnx::export_model(m, {x}, "tuned.onnx");
//
// No MLIR and no protobuf here: as with dz::compile, the frontend traces and the compiler
// library (libdzc_codegen_onnx.so, codegen/onnx) is loaded on first use to write or
// compile the model.
#pragma once
#include <dzc/layers.h>
#include <dzc/models.h>
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

struct TrainableOptions {
  /// The initializers that become Parameters, by name; empty: every float and double
  /// initializer but BatchNormalization's running mean and variance. The others stay
  /// constants of the graph.
  std::vector<std::string> parameters;
  bool check = true; // run onnx::checker on the file (models ONNX 1.12 knows)
};

/// An ONNX model as a dz::Model: its trainable initializers are Parameters named as in the
/// file ("fc1.weight"; a name with '/' is a path of sub-layers, as in named_params()), so
/// params(), cleargrads(), the optimizers, save_weights/load_weights and to(device) work as
/// on any model. Calling it runs the graph as one Function: eagerly, the graph compiled by
/// the pipeline of dz::compile, with a backward compiled from the IR's autodiff (itself
/// differentiable: create_graph works); inside dz::compile, its ops become part of the
/// trace. The graph is imported and compiled once for each new set of input shapes.
///
/// Training mode (Config::train()): BatchNormalization normalizes with the batch's
/// statistics and updates its running ones (ONNX's training_mode; written back after each
/// compiled call inside dz::compile); in TestMode it uses them. Dropout drops with its ratio
/// in training mode, its masks drawn from dz::default_generator() as F::dropout draws them
/// (the same masks eagerly and compiled after the same manual_seed); in TestMode it is the
/// identity.
/// backward() throws dz::Error naming the node when a gradient must reach a parameter or
/// input through a node that passes none (ArgMax, Shape, a cast to integers).
/// Copies share the model (parameters and compiled programs).
class TrainableModel : public Model {
public:
  /// Inputs in the order of the graph's inputs (initializers excluded); outputs in the
  /// order of its outputs.
  std::vector<Variable> forward(const std::vector<Variable> &xs) override;
  using Layer::forward;
  const std::string &path() const;
  /// The graph's input and output names, and the initializers that are Parameters (file
  /// order).
  const std::vector<std::string> &input_names() const;
  const std::vector<std::string> &output_names() const;
  const std::vector<std::string> &parameter_names() const;
  /// The Parameter of the initializer `name`; dz::Error when there is none.
  Parameter param(const std::string &name) const;
  /// How many input signatures were imported so far.
  int compilations() const;

private:
  TrainableModel() = default;
  friend TrainableModel import_trainable(const std::string &, const TrainableOptions &);
  friend void export_model(TrainableModel &, const std::vector<Variable> &, const std::string &,
                           const ExportOptions &);
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

/// Reads `path` now: a missing file, a file that is not ONNX, an op dz cannot import, a
/// name in `options.parameters` that is not a floating initializer, or a model without any
/// floating initializer is a dz::Error here.
TrainableModel import_trainable(const std::string &path, const TrainableOptions &options = {});

/// Writes the model's file again with the current values of its Parameters as the
/// initializers of the same names; the graph, its names and opsets stay the original's
/// (`options` is not used). `example_inputs` must match the graph's inputs in number. The
/// file is written atomically. Throws dz::Error.
void export_model(TrainableModel &model, const std::vector<Variable> &example_inputs,
                  const std::string &path, const ExportOptions &options = {});

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

/// What import_trainable reads from the file (codegen/onnx).
struct TrainableSource {
  std::vector<std::string> inputs, outputs;  // graph input (not initializer) and output names
  std::vector<std::string> parameters;       // the trainable initializers
  std::vector<Tensor> values;                // their values
  std::vector<std::string> statistics;       // BatchNormalization's running means and variances
  std::vector<Tensor> statistic_values;      // their values
  std::vector<std::string> dropout_nodes;    // "node 'drop' (Dropout)"
  std::vector<std::string> train_mode_nodes; // nodes with no training form
};
TrainableSource read_trainable(const std::string &path, const TrainableOptions &options);

/// The model's graph for inputs of these shapes: arguments are the graph inputs, the
/// parameters, the statistics, then (`rng_state`) an RNG state; results the graph outputs,
/// then (`training`) the new value of each statistic named in `updates`; `origins` names
/// each node's ONNX node ("node 'fc1' (Gemm)"). `frozen` lists the parameters the import
/// read as constants. `training`: BatchNormalization normalizes with the batch's statistics
/// and updates the running ones (its training_mode), and Dropout drops: its masks are drawn
/// from the RNG state (seed, first counter; int64, on the CPU) as F::dropout draws them,
/// `rng_groups` Philox counters in all.
struct ImportedGraph {
  trace::Graph graph;
  std::vector<std::string> origins;
  std::vector<std::string> frozen;
  std::vector<std::string> updates;
  bool rng_state = false;
  int64_t rng_groups = 0;
};
ImportedGraph import_graph(const std::string &path, const std::vector<std::string> &parameters,
                           const std::vector<std::string> &statistics,
                           const std::vector<Tensor> &inputs, bool training);

/// Writes the model of `source` to `path` with these initializers replaced.
void write_initializers(const std::string &source, const std::vector<std::string> &names,
                        const std::vector<Tensor> &values, const std::string &path);

} // namespace dz::onnx
