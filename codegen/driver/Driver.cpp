// Driver.cpp - dz::trace::compile_graph: traced graph -> dz module -> pipeline (autodiff,
// canonicalize, CSE) -> CPU program. MLIR reports problems as diagnostics; they are
// collected while MLIR runs and thrown as one dz::Error once control is back in our code
// (exceptions never cross MLIR frames).
#include "TraceImport.h"

#include <dzc/codegen/ExecutorBuild.h>
#ifdef DZ_HAVE_CUDA_CODEGEN
#include <dzc/codegen/CudaExecutor.h>
#endif
#include <dzc/ir/DzOps.h>
#include <dzc/passes/Passes.h>
#include <dzc/trace.h>

#include <mlir/IR/Diagnostics.h>
#include <mlir/IR/DialectRegistry.h>
#include <mlir/IR/Verifier.h>
#include <mlir/Pass/PassManager.h>

#include <llvm/Support/FileSystem.h>
#include <llvm/Support/raw_ostream.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace dz::codegen {
namespace {

std::string print(mlir::Operation *op) {
  std::string s;
  llvm::raw_string_ostream os(s);
  op->print(os);
  return s;
}

/// Collects the diagnostics MLIR emits while it is alive.
class DiagnosticCollector {
public:
  explicit DiagnosticCollector(mlir::MLIRContext &ctx)
      : handler_(&ctx, [this](mlir::Diagnostic &d) {
          llvm::raw_string_ostream os(text_);
          os << d.getLocation() << ": " << d << "\n";
          for (const mlir::Diagnostic &note : d.getNotes())
            os << "  note: " << note << "\n";
          return mlir::success();
        }) {}
  const std::string &text() const { return text_; }

private:
  std::string text_;
  mlir::ScopedDiagnosticHandler handler_;
};

class CpuExecutable final : public trace::Executable {
public:
  CpuExecutable(Program program, std::string traced, std::string optimized, std::string summary)
      : program_(std::move(program)), traced_(std::move(traced)), optimized_(std::move(optimized)),
        summary_(std::move(summary)) {}
  std::vector<Tensor> run(const std::vector<Tensor> &args) override { return program_.run(args); }
  void run_into(std::span<const Tensor *const> args, std::vector<Tensor> &results,
                std::span<const Tensor *const> into) override {
    program_.run(args, results, into);
  }
  const std::string &traced_ir() const override { return traced_; }
  const std::string &optimized_ir() const override { return optimized_; }
  std::string summary() const override { return summary_; }

private:
  Program program_;
  std::string traced_, optimized_, summary_;
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

/// "import 1.2 ms, passes 9.8 ms, codegen 41 ms: 15 steps, 6 fused kernels, 4 results
/// in place".
std::string summarize(const Program &p, double import_ms, double passes_ms, double codegen_ms) {
  char text[320];
  std::snprintf(text, sizeof text,
                "import %.1f ms, passes %.1f ms, codegen %.1f ms: %zu steps, %zu fused kernels, "
                "%zu results in place, arena %.2f MB for %zu values (%.2f MB without reuse)",
                import_ms, passes_ms, codegen_ms, p.steps().size(), p.num_fused_kernels(),
                p.num_donated(), double(p.arena_bytes()) / 1e6, p.num_arena_values(),
                double(p.arena_naive_bytes()) / 1e6);
  std::string notes = p.codegen_notes();
  while (!notes.empty() && notes.back() == '\n')
    notes.pop_back();
  for (char &c : notes)
    c = c == '\n' ? ';' : c;
  return notes.empty() ? std::string(text) : std::string(text) + " (" + notes + ")";
}

void write_file(const std::string &dir, const std::string &name, const std::string &text) {
  std::filesystem::create_directories(dir);
  std::ofstream(std::filesystem::path(dir) / name) << text;
}

/// The generated CUDA kernels of `fn`'s fused groups, for a program on a CUDA device, or a
/// note saying why there are none.
std::string deviceKernels(mlir::func::FuncOp fn, BuildOptions &build) {
#ifdef DZ_HAVE_CUDA_CODEGEN
  return cuda::attachDeviceKernels(fn, build);
#else
  return "no generated kernels: this dzc was built without the CUDA back end (codegen/cuda)";
#endif
}

} // namespace
} // namespace dz::codegen

namespace dz::codegen {

std::unique_ptr<trace::Executable> compileGraph(const trace::Graph &graph,
                                                const trace::CompileOptions &opts) {
  mlir::DialectRegistry registry;
  dz::ir::registerAllDialects(registry);
  mlir::MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();
  DiagnosticCollector diags(ctx);

  auto t0 = std::chrono::steady_clock::now();
  mlir::OwningOpRef<mlir::ModuleOp> module = importTrace(ctx, graph, opts.name);
  if (mlir::failed(mlir::verify(*module))) {
    mlir::OpPrintingFlags generic;
    generic.printGenericOpForm();
    std::string text;
    llvm::raw_string_ostream os(text);
    module->print(os, generic);
    throw Error("dz::compile: the traced function does not verify (a bug in dzc's tracer; "
                "please report it with this message):\n" +
                diags.text() + text);
  }
  std::string traced = print(*module);
  if (!opts.dump_dir.empty())
    write_file(opts.dump_dir, opts.name + ".traced.mlir", traced);

  const double import_ms = ms_since(t0);
  t0 = std::chrono::steady_clock::now();
  mlir::PassManager pm(&ctx);
  dz::passes::buildPipeline(pm, {.lower_conv = opts.lower_conv, .fuse = opts.fuse});
  std::string pass_log;
  llvm::raw_string_ostream pass_os(pass_log);
  if (!opts.dump_dir.empty()) {
    ctx.disableMultithreading(); // IR printing after each pass needs it
    pm.enableIRPrinting([](mlir::Pass *, mlir::Operation *) { return false; },
                        [](mlir::Pass *, mlir::Operation *) { return true; },
                        /*printModuleScope=*/true, /*printAfterOnlyOnChange=*/false,
                        /*printAfterOnlyOnFailure=*/false, pass_os);
  }
  const bool ok = mlir::succeeded(pm.run(*module));
  if (!opts.dump_dir.empty())
    write_file(opts.dump_dir, opts.name + ".passes.mlir", pass_log);
  if (!ok)
    throw Error("dz::compile: the compiler's pipeline failed on the traced function:\n" +
                diags.text());
  const double passes_ms = ms_since(t0);
  std::string optimized = print(*module);
  if (!opts.dump_dir.empty())
    write_file(opts.dump_dir, opts.name + ".optimized.mlir", optimized);

  t0 = std::chrono::steady_clock::now();
  auto fn = module->lookupSymbol<mlir::func::FuncOp>(opts.name);
  BuildOptions build;
  build.jit_fused = opts.jit;
  build.keep_llvm_ir = !opts.dump_dir.empty();
  build.donations = opts.donations;
  build.arena = opts.arena;
  build.direct = opts.direct;
  build.device = opts.device;
  build.host_args = opts.host_args;
  std::string device_notes;
  if (!opts.device.is_cpu() && opts.jit)
    device_notes = deviceKernels(fn, build);
  mlir::FailureOr<Program> program = buildProgram(fn, build);
  if (mlir::failed(program))
    throw Error("dz::compile: the executor cannot run the compiled function on " +
                opts.device.str() + ":\n" + diags.text());
  if (!opts.dump_dir.empty() && !program->llvm_ir().empty())
    write_file(opts.dump_dir, opts.name + ".kernels.ll", program->llvm_ir());
  std::string summary = summarize(*program, import_ms, passes_ms, ms_since(t0));
  if (!device_notes.empty())
    summary += " (" + device_notes + ")";
  return std::make_unique<CpuExecutable>(std::move(*program), std::move(traced),
                                         std::move(optimized), std::move(summary));
}

} // namespace dz::codegen

/// The entry point libdzc looks up after loading this library (dz::compile loads the
/// compiler on first use, so eager programs never load MLIR). Throws dz::Error.
extern "C" dz::trace::Executable *dzc_compile_graph(const dz::trace::Graph &graph,
                                                    const dz::trace::CompileOptions &opts) {
  return dz::codegen::compileGraph(graph, opts).release();
}
