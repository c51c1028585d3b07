// Passes.h - the passes over the dz dialect and the pipeline of compiled mode.
#pragma once

#include <mlir/Pass/Pass.h>

#include <memory>

namespace mlir {
class OpPassManager;
} // namespace mlir

namespace dz::passes {

/// Registers every dz pass and the `dz-pipeline` pipeline with MLIR's pass registry
/// (for dz-opt's command line).
void registerPasses();

/// The pipeline of compiled mode: autodiff, canonicalize, CSE.
void buildPipeline(mlir::OpPassManager &pm);

/// `--dz-autodiff`: expands every dz.grad (docs/ir.md, "Autodiff").
std::unique_ptr<mlir::Pass> createAutodiffPass();

/// `--dz-fuse`: groups chains of elementwise ops into dz.fused (docs/ir.md, "Fusion").
/// Opt-in: not part of buildPipeline until fused regions get generated code.
std::unique_ptr<mlir::Pass> createFusionPass();

} // namespace dz::passes
