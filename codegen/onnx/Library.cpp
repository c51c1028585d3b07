// Library.cpp - what libdzc loads for dzc/onnx.h: a traced graph written as ONNX
// (export_model), and an ONNX model compiled for the CPU (import_model): the importer, the
// pipeline of compiled mode and the CPU program, as `dzc run` does. MLIR diagnostics are
// collected while MLIR runs and thrown as one dz::Error back in our frames.
#include <dzc/codegen/ExecutorBuild.h>
#include <dzc/codegen/OnnxExport.h>
#include <dzc/io.h>
#include <dzc/ir/DzOps.h>
#include <dzc/onnx/Model.h>
#include <dzc/passes/Passes.h>

#include "TraceImport.h" // codegen/driver

#include <mlir/IR/Diagnostics.h>
#include <mlir/IR/DialectRegistry.h>
#include <mlir/IR/Verifier.h>
#include <mlir/Pass/PassManager.h>

#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>

namespace dz::codegen {
namespace {

std::string print(mlir::Operation *op) {
  std::string s;
  llvm::raw_string_ostream os(s);
  op->print(os);
  return s;
}

std::string print(mlir::Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

/// An MLIR context with the dz dialects, whose diagnostics are kept as text.
struct Context {
  mlir::MLIRContext ctx;
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler;

  Context()
      : ctx(registry()), handler(&ctx, [this](mlir::Diagnostic &d) {
          llvm::raw_string_ostream os(diagnostics);
          os << d.getLocation() << ": " << d << "\n";
          return mlir::success();
        }) {
    ctx.loadAllAvailableDialects();
  }
  static mlir::DialectRegistry registry() {
    mlir::DialectRegistry r;
    dz::ir::registerAllDialects(r);
    return r;
  }
};

/// One compilation of an imported model for given inputs: the CPU program, its IR, and
/// the inputs whose values the import read (their values are part of the program).
struct Compiled {
  Program program;
  std::string traced, optimized;
  std::vector<std::pair<size_t, Tensor>> specialized;
};

Compiled compileOnce(const std::string &path, const std::vector<Tensor> &inputs,
                     const onnx::ModelImportOptions &options);

bool sameValues(const Tensor &a, const Tensor &b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

/// An imported model compiled for one set of input shapes. When the import read the
/// values of some inputs (a Reshape's shape, GatherElements' indices, ... given as graph
/// inputs), the program holds those values: a call with other values there compiles
/// again and keeps each compilation.
class ImportedExecutable final : public trace::Executable {
public:
  ImportedExecutable(std::string path, onnx::ModelImportOptions options, Compiled first)
      : path_(std::move(path)), options_(std::move(options)) {
    variants_.push_back(std::make_unique<Compiled>(std::move(first)));
    last_ = variants_.back().get();
  }
  std::vector<Tensor> run(const std::vector<Tensor> &args) override {
    Compiled *use = variants_.front().get();
    if (!use->specialized.empty()) {
      std::lock_guard<std::mutex> lock(mutex_);
      use = nullptr;
      for (const std::unique_ptr<Compiled> &v : variants_)
        if (std::all_of(v->specialized.begin(), v->specialized.end(), [&](const auto &s) {
              return s.first < args.size() && sameValues(args[s.first], s.second);
            }))
          use = v.get();
      if (!use) {
        variants_.push_back(std::make_unique<Compiled>(compileOnce(path_, args, options_)));
        use = variants_.back().get();
      }
      last_ = use;
    }
    return use->program.run(args);
  }
  const std::string &traced_ir() const override { return last_.load()->traced; }
  const std::string &optimized_ir() const override { return last_.load()->optimized; }

private:
  std::string path_;
  onnx::ModelImportOptions options_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Compiled>> variants_;
  std::atomic<const Compiled *> last_; // the IR that traced_ir / optimized_ir show
};

void exportGraph(const trace::Graph &graph, const onnx::GraphArguments &args,
                 const std::string &path, const onnx::ExportOptions &options) {
  if (args.names.size() != graph.arguments.size() ||
      args.inputs + args.initializers.size() != graph.arguments.size())
    throw Error("dz::onnx::export_model: the traced graph has " +
                std::to_string(graph.arguments.size()) + " arguments, but " +
                std::to_string(args.names.size()) + " names and " +
                std::to_string(args.inputs + args.initializers.size()) + " bindings were given");
  Context c;
  mlir::OwningOpRef<mlir::ModuleOp> module = importTrace(c.ctx, graph, "forward");
  if (mlir::failed(mlir::verify(*module)))
    throw Error("dz::onnx::export_model: the traced forward does not verify (a bug in dzc's "
                "tracer; please report it):\n" +
                c.diagnostics);
  std::vector<OnnxArgument> bindings;
  for (size_t i = 0; i < args.names.size(); ++i)
    bindings.push_back({args.names[i], i < args.inputs ? std::nullopt
                                                       : std::optional<Tensor>(
                                                             args.initializers[i - args.inputs])});
  auto fn = module->lookupSymbol<mlir::func::FuncOp>("forward");
  const std::string bytes = exportOnnx(fn, options, bindings);
  write_file_atomic(path, bytes, "dz::onnx::export_model"); // names the path on failure
}

void checkModel(const std::string &path, const onnx::ModelImportOptions &) {
  std::string unsupported, reason;
  for (const onnx::OpUse &use : onnx::op_stats(path)) // dz::Error for unreadable files
    if (!use.supported) {
      unsupported += "\n  " + use.op_type + " (opset " + std::to_string(use.opset) + ", " +
                     std::to_string(use.count) + " nodes)";
      reason += (reason.empty() ? "op " : ", ") + use.op_type;
    }
  if (!unsupported.empty())
    throw onnx::UnsupportedError("dz::onnx::import_model('" + path +
                                     "'): the model has ops dz cannot import:" + unsupported,
                                 reason);
}

Compiled compileOnce(const std::string &path, const std::vector<Tensor> &inputs,
                     const onnx::ModelImportOptions &options) {
  Context c;
  onnx::ImportOptions import = runImportOptions(inputs);
  std::vector<bool> read;
  import.values_read = &read;
  import.check = options.check;
  import.function_name = "model";
  mlir::OwningOpRef<mlir::ModuleOp> module = onnx::importOnnx(c.ctx, path, import);
  auto fn = module->lookupSymbol<mlir::func::FuncOp>("model");
  const auto arg_types = fn.getArgumentTypes();
  if (arg_types.size() != inputs.size())
    throw Error("dz::onnx::import_model('" + path + "'): the model takes " +
                std::to_string(arg_types.size()) + " inputs, " + std::to_string(inputs.size()) +
                " were given");
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto want = llvm::cast<mlir::RankedTensorType>(arg_types[i]);
    const Shape shape(want.getShape().begin(), want.getShape().end());
    if (shape != inputs[i].shape() ||
        elementType(c.ctx, inputs[i].dtype()) != want.getElementType())
      throw Error("dz::onnx::import_model('" + path + "'): input " + std::to_string(i) + " is " +
                  type_str({inputs[i].shape(), inputs[i].dtype()}) + ", the model's input " +
                  std::to_string(i) + " is " + print(mlir::Type(want)));
  }
  std::string traced = print(*module);
  mlir::PassManager pm(&c.ctx);
  dz::passes::buildPipeline(pm, {.lower_conv = true, .fuse = true}); // as `dzc run`
  if (mlir::failed(pm.run(*module)))
    throw Error("dz::onnx::import_model('" + path + "'): the compiler's pipeline failed:\n" +
                c.diagnostics);
  std::string optimized = print(*module);
  mlir::FailureOr<Program> program = buildProgram(fn);
  if (mlir::failed(program))
    throw Error("dz::onnx::import_model('" + path + "'): the CPU back end cannot run it:\n" +
                c.diagnostics);
  Compiled compiled{std::move(*program), std::move(traced), std::move(optimized), {}};
  for (size_t i = 0; i < read.size() && i < inputs.size(); ++i)
    if (read[i]) // a copy: the caller may change its tensor in place
      compiled.specialized.emplace_back(
          i, Tensor::from_buffer(inputs[i].raw(), inputs[i].shape(), inputs[i].dtype()));
  return compiled;
}

std::unique_ptr<trace::Executable> compileModel(const std::string &path,
                                                const std::vector<Tensor> &inputs,
                                                const onnx::ModelImportOptions &options) {
  return std::make_unique<ImportedExecutable>(path, options, compileOnce(path, inputs, options));
}

} // namespace
} // namespace dz::codegen

// The entry points dzc/onnx.h looks up after loading this library. They throw dz::Error.
extern "C" void dzc_onnx_export_graph(const dz::trace::Graph &graph,
                                      const dz::onnx::GraphArguments &args, const std::string &path,
                                      const dz::onnx::ExportOptions &options) {
  dz::codegen::exportGraph(graph, args, path, options);
}

extern "C" void dzc_onnx_check_model(const std::string &path,
                                     const dz::onnx::ModelImportOptions &options) {
  dz::codegen::checkModel(path, options);
}

extern "C" dz::trace::Executable *
dzc_onnx_compile_model(const std::string &path, const std::vector<dz::Tensor> &inputs,
                       const dz::onnx::ModelImportOptions &options) {
  return dz::codegen::compileModel(path, inputs, options).release();
}
