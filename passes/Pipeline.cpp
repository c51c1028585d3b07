// Pipeline.cpp - `--dz-pipeline`, the pipeline of compiled mode (autodiff, canonicalize,
// CSE), and the registration of every dz pass for dz-opt.
#include <dzc/passes/Passes.h>

#include <mlir/Pass/Pass.h>
#include <mlir/Pass/PassManager.h>
#include <mlir/Pass/PassRegistry.h>
#include <mlir/Transforms/Passes.h>

namespace dz::passes {

#define GEN_PASS_DECL
#define GEN_PASS_REGISTRATION
#include "Passes.h.inc"

void buildPipeline(mlir::OpPassManager &pm) {
  pm.addPass(createAutodiffPass());
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createCSEPass());
}

void registerPasses() {
  // MLIR refuses a pipeline registered twice; callers need not know whether it was.
  static const bool registered = [] {
    registerDzPasses();
    mlir::PassPipelineRegistration<>(
        "dz-pipeline", "The pipeline of compiled mode: dz-autodiff, canonicalize, cse",
        buildPipeline);
    return true;
  }();
  (void)registered;
}

} // namespace dz::passes
