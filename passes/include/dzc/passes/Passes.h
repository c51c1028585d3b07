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

/// The passes of the pipeline that can be turned off (dz::CompileConfig, dzc's
/// --disable-pass, dz-opt's `--dz-pipeline="fuse=false lower-conv=false"`).
struct PipelineOptions {
  /// --dz-lower-conv=policy=auto, then canonicalize and CSE. Off by default: on the CNN
  /// step of docs/performance.md the lowered (batched GEMM) convolutions were slower than
  /// the runtime's convolution kernels, which choose im2col + GEMM or oneDNN per shape.
  bool lower_conv = false;
  bool fuse = true; // --dz-fuse
  /// --dz-fuse-attention, before --dz-fuse (off with fuse).
  bool fuse_attention = true;
};

/// The pipeline of compiled mode, shared by dz::compile, dzc and dz-opt's
/// --dz-pipeline: autodiff, canonicalize, CSE, the pooling-index sharing, then the
/// convolution lowering (and canonicalize, CSE) when asked for, and fusion unless turned
/// off.
void buildPipeline(mlir::OpPassManager &pm, const PipelineOptions &options = {});

/// `--dz-autodiff`: expands every dz.grad (docs/ir.md, "Autodiff").
std::unique_ptr<mlir::Pass> createAutodiffPass();

/// `--dz-fuse`: groups chains of elementwise ops into dz.fused (docs/ir.md, "Fusion").
std::unique_ptr<mlir::Pass> createFusionPass();

/// `--dz-fuse-attention`: matmul, scale, mask add, softmax, matmul as one dz.attention.
std::unique_ptr<mlir::Pass> createFuseAttentionPass();

/// `--dz-share-pooling-indexes`: one window argmax for a max pooling and its gradient.
std::unique_ptr<mlir::Pass> createSharePoolingIndexesPass();

/// Which convolutions `--dz-lower-conv` rewrites into im2col + GEMM: all, or (Auto) all
/// but the float32 conv2d ops that oneDNN's direct convolution runs faster
/// (docs/performance.md, "Convolution: im2col + GEMM vs oneDNN's direct convolution").
enum class ConvLoweringPolicy { All, Auto };

/// `--dz-lower-conv`: conv2d, conv2d_grad_w and deconv2d as dz.im2col / dz.col2im +
/// dz.matmul (passes/LowerConvolution.cpp).
std::unique_ptr<mlir::Pass>
createLowerConvPass(ConvLoweringPolicy policy = ConvLoweringPolicy::Auto);

/// Whether --dz-autodiff has a gradient rule for the op named `name` (one saying that no
/// gradient flows counts).
bool hasGradientRule(mlir::OperationName name);

} // namespace dz::passes
