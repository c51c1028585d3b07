// ir_programs.cpp - the helpers of ir_programs.h.
#include "ir_programs.h"

#include <dzc/codegen/ExecutorBuild.h>
#include <dzc/ir/DzOps.h>

#include <mlir/IR/BuiltinOps.h>
#include <mlir/IR/Diagnostics.h>
#include <mlir/IR/MLIRContext.h>
#include <mlir/Parser/Parser.h>
#include <mlir/Pass/PassManager.h>

#include <fstream>
#include <sstream>

namespace dz::testing {

std::vector<codegen::Program>
build_programs(const std::string &ir, const std::function<void(mlir::PassManager &)> &add_passes,
               const std::function<void(mlir::func::FuncOp)> &inspect,
               const codegen::BuildOptions &options) {
  mlir::DialectRegistry registry;
  dz::ir::registerAllDialects(registry);
  mlir::MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();
  std::string errors;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  bool passed = false;
  {
    mlir::ScopedDiagnosticHandler collect(&ctx, [&](mlir::Diagnostic &d) {
      llvm::raw_string_ostream os(errors);
      os << d.getLocation() << ": " << d << "\n";
      return mlir::success();
    });
    module = mlir::parseSourceString<mlir::ModuleOp>(ir, mlir::ParserConfig(&ctx), "test.mlir");
    if (module) {
      mlir::PassManager pm(&ctx);
      add_passes(pm);
      passed = mlir::succeeded(pm.run(*module));
    }
  }
  if (!module || !passed)
    throw dz::Error("IR does not " + std::string(module ? "pass the passes" : "parse") + ":\n" +
                    errors);
  std::vector<codegen::Program> out;
  for (mlir::func::FuncOp fn : module->getOps<mlir::func::FuncOp>()) {
    if (inspect)
      inspect(fn);
    out.push_back(codegen::buildProgramOrThrow(fn, options));
  }
  return out;
}

std::string gradcheck_rules() {
  std::ifstream in(DZ_GRADCHECK_RULES);
  std::stringstream text;
  text << in.rdbuf();
  if (!in || text.str().empty())
    throw dz::Error(std::string("cannot read ") + DZ_GRADCHECK_RULES);
  return text.str();
}

std::vector<Tensor> gradcheck_args(const codegen::Program &p, uint64_t seed) {
  std::vector<Tensor> args;
  for (const codegen::TensorSpec &spec : p.arg_types())
    args.push_back(spec.dtype == i64 ? zeros(spec.shape, i64)
                                     : rand(spec.shape, spec.dtype, seed) + 0.3);
  return args;
}

} // namespace dz::testing
