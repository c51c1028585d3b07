// Pipeline.cpp - `--dz-pipeline`, the pipeline of compiled mode (autodiff, canonicalize,
// CSE, convolution lowering, canonicalize, CSE, fusion), and the registration of every dz
// pass for dz-opt.
#include <dzc/passes/Passes.h>

#include <mlir/Pass/Pass.h>
#include <mlir/Pass/PassManager.h>
#include <mlir/Pass/PassRegistry.h>
#include <mlir/Transforms/Passes.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>

namespace dz::passes {

#define GEN_PASS_DECL
#define GEN_PASS_REGISTRATION
#include "Passes.h.inc"

namespace {

/// Whether $DZ_DISABLE (comma-separated) names `what`.
bool disabledByEnvironment(std::string_view what) {
  const char *value = std::getenv("DZ_DISABLE");
  const std::string_view list = value ? value : "";
  for (size_t start = 0; value && start <= list.size();) {
    const size_t end = std::min(list.find(',', start), list.size());
    if (list.substr(start, end - start) == what)
      return true;
    start = end + 1;
  }
  return false;
}

} // namespace

void buildPipeline(mlir::OpPassManager &pm, const PipelineOptions &options) {
  pm.addPass(createAutodiffPass());
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createCSEPass());
  pm.addPass(createSharePoolingIndexesPass());
  if (options.lower_conv) {
    pm.addPass(createLowerConvPass(ConvLoweringPolicy::Auto));
    pm.addPass(mlir::createCanonicalizerPass()); // reshape chains the lowering leaves
    pm.addPass(mlir::createCSEPass());           // one im2col where two convs share it
  }
  if (options.fuse && options.fuse_attention && !disabledByEnvironment("fuse-attention"))
    pm.addPass(createFuseAttentionPass());
  if (options.fuse)
    pm.addPass(createFusionPass());
}

namespace {

/// `--dz-pipeline="fuse=false lower-conv=false"`: dz-opt's spelling of PipelineOptions.
struct PipelineCLOptions : mlir::PassPipelineOptions<PipelineCLOptions> {
  Option<bool> fuse{*this, "fuse", llvm::cl::desc("group elementwise chains (--dz-fuse)"),
                    llvm::cl::init(true)};
  Option<bool> fuseAttention{*this, "fuse-attention",
                             llvm::cl::desc("rewrite attention chains into dz.attention "
                                            "(--dz-fuse-attention; with fuse)"),
                             llvm::cl::init(true)};
  Option<bool> lowerConv{*this, "lower-conv",
                         llvm::cl::desc("lower convolutions to im2col + GEMM (--dz-lower-conv)"),
                         llvm::cl::init(false)};
};

} // namespace

void registerPasses() {
  // MLIR refuses a pipeline registered twice; callers need not know whether it was.
  static const bool registered = [] {
    registerDzPasses();
    mlir::PassPipelineRegistration<PipelineCLOptions>(
        "dz-pipeline",
        "The pipeline of compiled mode: dz-autodiff, canonicalize, cse, "
        "dz-share-pooling-indexes, [dz-lower-conv, canonicalize, cse,] dz-fuse-attention, "
        "dz-fuse",
        [](mlir::OpPassManager &pm, const PipelineCLOptions &cl) {
          buildPipeline(pm, PipelineOptions{.lower_conv = cl.lowerConv,
                                            .fuse = cl.fuse,
                                            .fuse_attention = cl.fuseAttention});
        });
    return true;
  }();
  (void)registered;
}

} // namespace dz::passes
