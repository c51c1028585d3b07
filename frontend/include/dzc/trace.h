// dzc/trace.h - what dz::compile's tracer records, handed to the compiler.
//
// A trace::Graph is a straight-line program of dz ops (docs/ir.md) over numbered values
// with known shapes and dtypes: the MLIR-free form of a traced function. The compiler
// (ir/, passes/, codegen/) turns it into a `dz` module, runs the pipeline and returns an
// Executable. Nothing here includes MLIR, so the eager headers stay light.
#pragma once
#include <dzc/tensor.h>
#include <dzc/trace_hook.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

namespace dz::trace {

using AttrValue = decltype(TraceAttr::value);

struct Attr {
  std::string name;
  AttrValue value;
};

/// One traced value: its type. Values are numbered by their index in Graph::values.
struct ValueType {
  Shape shape;
  DType dtype;
};

/// One op: `outputs = op(inputs) {attrs}`; "constant" ops carry their tensor.
struct Node {
  std::string op; // a dz op name without the "dz." prefix, e.g. "add", "grad"
  std::vector<int> inputs, outputs;
  std::vector<Attr> attrs;
  Tensor constant; // the value of a "constant" node
};

struct Graph {
  std::vector<ValueType> values;
  std::vector<int> arguments; // the function's arguments, in order
  std::vector<Node> nodes;    // in program order
  std::vector<int> results;   // the function's results, in order
};

/// A Graph compiled for one device: runs with the tensors of Graph::arguments and returns
/// those of Graph::results.
class Executable {
public:
  virtual ~Executable() = default;
  virtual std::vector<Tensor> run(const std::vector<Tensor> &args) = 0;
  /// run() with the arguments by pointer and the results in `results`. `into`, when not
  /// empty, has one entry per result: null, or a buffer of exactly that result's bytes
  /// that the caller owns, that overlaps no argument and that nobody reads during the run.
  /// A result the executable computes there is left undefined in `results`; any other
  /// result is there as run() would return it (the default: run() itself).
  virtual void run_into(std::span<const Tensor *const> args, std::vector<Tensor> &results,
                        std::span<const Tensor *const> into) {
    (void)into;
    std::vector<Tensor> copies;
    copies.reserve(args.size());
    for (const Tensor *a : args)
      copies.push_back(*a);
    results = run(copies);
  }
  /// The `dz` module as traced (before any pass), as text.
  virtual const std::string &traced_ir() const = 0;
  /// The module after the pipeline, as text.
  virtual const std::string &optimized_ir() const = 0;
  /// What the compiler made (steps, fused kernels, time per stage), one line.
  virtual std::string summary() const { return {}; }
};

struct CompileOptions {
  std::string name = "traced"; // the func.func's name
  std::string dump_dir;        // when set: write the IR after tracing and after each pass
  // CompileConfig's switches
  bool fuse = true, lower_conv = false, jit = true, arena = true, direct = true;
  /// Where the program runs: the device of its arguments (parameters included).
  Device device = Device::cpu();
  /// Arguments that stay on the CPU on a device (dropout's RNG state; BuildOptions::
  /// host_args).
  std::vector<int> host_args;
  /// (result, argument) pairs: after each call the caller copies that result into that
  /// argument's buffer (parameter and optimizer-state updates), so the compiled program
  /// may compute it there (codegen::BuildOptions::donations).
  std::vector<std::pair<int, int>> donations;
};

/// Compiles a traced graph (implemented by the compiler library; throws dz::Error with the
/// compiler's diagnostics when the graph does not verify or an op cannot be run).
std::unique_ptr<Executable> compile_graph(const Graph &graph, const CompileOptions &opts);

} // namespace dz::trace
