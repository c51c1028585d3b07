// Session.cpp - the MLIR side of the dzc CLI: parse + verify a .mlir file or import a
// .onnx model, run the pipeline of compiled mode, print, build the CPU program of a
// function. Diagnostics go to stderr through MLIR's SourceMgr handler ("file:line:col:
// error: ..." and the source line); nothing here throws, so no exception crosses an MLIR
// frame.
#include "Session.h"

#include <dzc/codegen/ExecutorBuild.h>
#include <dzc/codegen/OnnxExport.h>
#ifdef DZ_HAVE_CUDA_EXECUTOR
#include <dzc/codegen/CudaExecutor.h>
#endif
#ifdef DZ_HAVE_CUDA_CODEGEN
#include <dzc/codegen/CudaSource.h>
#endif
#include <dzc/ir/DzOps.h>
#include <dzc/onnx/Import.h>
#include <dzc/passes/MemoryPlan.h>
#include <dzc/passes/Passes.h>

#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/IR/BuiltinOps.h>
#include <mlir/IR/Diagnostics.h>
#include <mlir/IR/DialectRegistry.h>
#include <mlir/IR/MLIRContext.h>
#include <mlir/Parser/Parser.h>
#include <mlir/Pass/PassManager.h>
#include <mlir/Support/FileUtilities.h>

#include <llvm/Support/SourceMgr.h>
#include <llvm/Support/raw_ostream.h>

#include <vector>

namespace dz::cli {
namespace {

void reportError(const std::string &message) { llvm::errs() << "dzc: error: " << message << "\n"; }

mlir::DialectRegistry dzRegistry() {
  mlir::DialectRegistry registry;
  dz::ir::registerAllDialects(registry);
  return registry;
}

} // namespace

struct Session::Impl {
  mlir::MLIRContext ctx{dzRegistry()};
  llvm::SourceMgr sources;
  mlir::SourceMgrDiagnosticHandler printer{sources, &ctx, llvm::errs()};
  // Registered after the printer, so it sees each diagnostic first and passes it on.
  int errors = 0;
  mlir::ScopedDiagnosticHandler counter{&ctx, [this](mlir::Diagnostic &d) {
                                          if (d.getSeverity() == mlir::DiagnosticSeverity::Error)
                                            ++errors;
                                          return mlir::failure();
                                        }};
  std::string path;
  mlir::OwningOpRef<mlir::ModuleOp> module;

  std::string file() const { return path == "-" ? std::string("<stdin>") : path; }
  /// The func.func named `function`, or the only one; null after the error.
  mlir::func::FuncOp choose(const std::string &function);
};

Session::Session() : impl_(std::make_unique<Impl>()) { impl_->ctx.loadAllAvailableDialects(); }
Session::~Session() = default;

bool Session::load(const std::string &path) {
  impl_->path = path;
  std::string why;
  std::unique_ptr<llvm::MemoryBuffer> buffer = mlir::openInputFile(path, &why);
  if (!buffer) {
    reportError(why);
    return false;
  }
  impl_->sources.AddNewSourceBuffer(std::move(buffer), llvm::SMLoc());
  // The parser verifies the module too; both report through the printer.
  impl_->module = mlir::parseSourceFile<mlir::ModuleOp>(impl_->sources, &impl_->ctx);
  if (!impl_->module && impl_->errors == 0)
    reportError("cannot parse '" + impl_->file() + "' as a module of the dz dialect");
  return bool(impl_->module);
}

bool Session::importOnnx(const std::string &path, const std::vector<Tensor> &input_values) {
  impl_->path = path;
  dz::onnx::ImportOptions options = codegen::runImportOptions(input_values);
  try { // the importer throws outside MLIR's frames, after collecting the diagnostics
    impl_->module = dz::onnx::importOnnx(impl_->ctx, path, options);
  } catch (const dz::Error &e) {
    reportError(e.what());
    return false;
  }
  return true;
}

bool Session::runPipeline(bool print_ir_after_all, bool optimize) {
  mlir::PassManager pm(&impl_->ctx);
  dz::passes::buildPipeline(pm, {.lower_conv = optimize, .fuse = optimize});
  if (print_ir_after_all) {
    impl_->ctx.disableMultithreading(); // module-scope printing needs it
    pm.enableIRPrinting([](mlir::Pass *, mlir::Operation *) { return false; },
                        [](mlir::Pass *, mlir::Operation *) { return true; },
                        /*printModuleScope=*/true, /*printAfterOnlyOnChange=*/false,
                        /*printAfterOnlyOnFailure=*/false, llvm::errs());
  }
  const int before = impl_->errors;
  if (mlir::succeeded(pm.run(*impl_->module)))
    return true;
  if (impl_->errors == before)
    reportError("the pipeline failed on '" + impl_->file() + "'");
  return false;
}

std::string Session::str() const {
  std::string text;
  llvm::raw_string_ostream os(text);
  impl_->module->print(os);
  if (text.empty() || text.back() != '\n')
    text += '\n';
  return text;
}

std::optional<std::string> Session::memoryPlan() const {
  std::string text;
  llvm::raw_string_ostream os(text);
  for (mlir::func::FuncOp fn : impl_->module->getOps<mlir::func::FuncOp>()) {
    if (fn.isExternal())
      continue;
    mlir::FailureOr<dz::passes::MemoryPlan> plan = dz::passes::planMemory(fn);
    if (mlir::failed(plan))
      return std::nullopt; // the diagnostic was printed
    dz::passes::printMemoryPlan(fn, *plan, os);
  }
  return text;
}

std::optional<std::string> Session::llvmIR() const {
  std::string text;
  for (mlir::func::FuncOp fn : impl_->module->getOps<mlir::func::FuncOp>()) {
    if (fn.isExternal())
      continue;
    mlir::FailureOr<std::string> ir = codegen::emitFusedLLVMIR(fn);
    if (mlir::failed(ir))
      return std::nullopt; // the diagnostic was printed
    text += "; the fused kernels of @" + fn.getSymName().str() + "\n" + *ir;
  }
  return text;
}

std::optional<std::string> Session::cudaSource() const {
#ifdef DZ_HAVE_CUDA_CODEGEN
  std::string text;
  llvm::raw_string_ostream os(text);
  if (mlir::failed(codegen::cuda::emitCudaSource(*impl_->module, os)))
    return std::nullopt; // the diagnostic was printed
  return text;
#else
  reportError("--emit=cuda: this dzc was built without the CUDA toolkit (codegen/cuda)");
  return std::nullopt;
#endif
}

mlir::func::FuncOp Session::Impl::choose(const std::string &function) {
  std::vector<mlir::func::FuncOp> fns;
  for (mlir::func::FuncOp fn : module->getOps<mlir::func::FuncOp>())
    fns.push_back(fn);
  std::string names;
  for (mlir::func::FuncOp fn : fns)
    names += (names.empty() ? "@" : ", @") + fn.getSymName().str();

  if (!function.empty()) {
    for (mlir::func::FuncOp fn : fns)
      if (fn.getSymName() == function)
        return fn;
    reportError("--function " + function + ": '" + file() + "' has no func.func @" + function +
                (fns.empty() ? "" : "; its functions: " + names));
    return {};
  }
  if (fns.size() == 1)
    return fns.front();
  reportError(fns.empty() ? "'" + file() + "' has no func.func"
                          : "'" + file() + "' has " + std::to_string(fns.size()) + " functions (" +
                                names + "): choose one with --function NAME");
  return {};
}

bool Session::hasGradOps() const {
  bool found = false;
  impl_->module->walk([&found](dz::ir::GradOp) { found = true; });
  return found;
}

std::optional<std::string> Session::onnxModel(const std::string &function,
                                              const onnx::ExportOptions &options) {
  mlir::func::FuncOp chosen = impl_->choose(function);
  if (!chosen)
    return std::nullopt;
  try { // the exporter walks the IR in our frames and throws after it
    return codegen::exportOnnx(chosen, options);
  } catch (const dz::Error &e) {
    reportError(e.what());
    return std::nullopt;
  }
}

std::optional<codegen::Program> Session::buildProgram(const std::string &function,
                                                      Device device) {
  mlir::func::FuncOp chosen = impl_->choose(function);
  if (!chosen)
    return std::nullopt;
  const int before = impl_->errors;
  codegen::BuildOptions options;
  options.device = device;
  try {
#ifdef DZ_HAVE_CUDA_EXECUTOR
    if (!device.is_cpu())
      if (std::string note = codegen::cuda::attachDeviceKernels(chosen, options); !note.empty())
        llvm::errs() << "dzc: note: " << note << "\n";
#endif
    mlir::FailureOr<codegen::Program> program = codegen::buildProgram(chosen, options);
    if (mlir::succeeded(program))
      return std::move(*program);
  } catch (const dz::Error &e) {
    reportError(e.what());
    return std::nullopt;
  }
  if (impl_->errors == before)
    reportError("the executor cannot run @" + chosen.getSymName().str() + " on " + device.str());
  return std::nullopt;
}

} // namespace dz::cli
