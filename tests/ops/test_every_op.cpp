// test_every_op.cpp - every op of the dz dialect has an entry in every table it needs. The
// ops come from the dialect itself (MLIRContext's registered operations), so a new op is
// checked without being listed here; the exemptions below say why an op needs no entry.
#include <dzc/codegen/ExecutorBuild.h>
#include <dzc/codegen/OnnxExport.h>
#include <dzc/ir/DzOps.h>
#include <dzc/onnx/Model.h>
#include <dzc/op_registry.h>
#include <dzc/passes/Passes.h>
#ifdef DZ_TEST_CUDA_CODEGEN
#include <dzc/codegen/CudaSource.h>
#endif

#include <mlir/IR/MLIRContext.h>

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

/// Every op of the dz dialect, by name ("dz.add").
std::vector<mlir::RegisteredOperationName> dzOps(mlir::MLIRContext &context) {
  context.getOrLoadDialect<dz::ir::DzDialect>();
  std::vector<mlir::RegisteredOperationName> ops;
  for (mlir::RegisteredOperationName name : context.getRegisteredOperations())
    if (name.getDialectNamespace() == "dz")
      ops.push_back(name);
  return ops;
}

/// Ops that structure the IR rather than compute: dz.grad (replaced by --dz-autodiff),
/// dz.fused and dz.yield (a group and its terminator; the executor runs the group).
const std::set<std::string> kStructural = {"dz.grad", "dz.fused", "dz.yield"};

/// Ops without an ONNX export, and why. Everything else a traced or imported model can
/// hold must export.
const std::map<std::string, std::string> kNoOnnxExport = {
    // Gradients: a trained model is exported for inference, without them.
    {"dz.get_item_grad", "a gradient"},
    {"dz.embed_id_grad", "a gradient"},
    {"dz.conv2d_grad_w", "a gradient"},
    {"dz.max_pooling_grad", "a gradient"},
    {"dz.average_pooling_grad", "a gradient"},
    // Made by passes after export's pipeline point, or by training only.
    {"dz.im2col", "made by --dz-lower-conv, which export does not run"},
    {"dz.attention", "made by --dz-fuse-attention, which export does not run"},
    {"dz.col2im", "made by --dz-lower-conv, which export does not run"},
    {"dz.max_pooling_indexes", "made by --dz-share-pooling-indexes for training"},
    {"dz.max_pooling_with_indexes", "made by --dz-share-pooling-indexes for training"},
    {"dz.dropout_mask", "dropout is the identity at inference"},
    {"dz.rng_next", "random state, training only"},
    {"dz.all_reduce", "a collective of data-parallel training; a model runs alone"},
};

} // namespace

TEST(EveryOp, TheDialectHoldsEveryRegistryOp) {
  mlir::MLIRContext context;
  std::set<std::string> names;
  for (mlir::RegisteredOperationName op : dzOps(context))
    names.insert(op.getStringRef().str());
  for (const dz::OpInfo &info : dz::registry_ops())
    EXPECT_TRUE(names.count(std::string("dz.") + info.name))
        << "dz." << info.name << " is in dzc/ops.def but not in the dialect";
}

TEST(EveryOp, HasAGradientRule) {
  mlir::MLIRContext context;
  for (mlir::RegisteredOperationName op : dzOps(context)) {
    if (kStructural.count(op.getStringRef().str()))
      continue;
    EXPECT_TRUE(dz::passes::hasGradientRule(op))
        << op.getStringRef().str() << " has no gradient rule (passes/GradientRules.cpp)";
  }
}

TEST(EveryOp, HasACpuKernel) {
  mlir::MLIRContext context;
  for (mlir::RegisteredOperationName op : dzOps(context)) {
    if (kStructural.count(op.getStringRef().str()))
      continue;
    EXPECT_TRUE(dz::codegen::hasCpuKernel(op.getStringRef()))
        << op.getStringRef().str() << " has no CPU kernel (codegen/cpu/KernelTable.cpp)";
  }
}

TEST(EveryOp, FusibleOpsHaveAScalarFormOnTheCpuAndInCuda) {
  mlir::MLIRContext context;
  for (mlir::RegisteredOperationName op : dzOps(context)) {
    if (!op.hasTrait<dz::ir::OpTrait::Fusible>())
      continue;
    EXPECT_TRUE(dz::codegen::hasFusedScalarForm(op.getStringRef()))
        << op.getStringRef().str() << " is fusible but has no scalar form "
        << "(codegen/cpu/FusedKernels.cpp)";
#ifdef DZ_TEST_CUDA_CODEGEN
    EXPECT_TRUE(dz::codegen::cuda::hasCudaExpression(op.getStringRef()))
        << op.getStringRef().str() << " is fusible but has no CUDA expression "
        << "(codegen/cuda/CudaExpressions.cpp)";
#endif
  }
}

TEST(EveryOp, RegistryOpsAreFusibleAndElementwise) {
  mlir::MLIRContext context;
  for (mlir::RegisteredOperationName op : dzOps(context)) {
    std::string name = op.getStringRef().str();
    if (!dz::find_op(name.substr(3)))
      continue;
    EXPECT_TRUE(op.hasTrait<dz::ir::OpTrait::Fusible>()) << name;
    EXPECT_TRUE(op.hasTrait<dz::ir::OpTrait::Elementwise>()) << name;
  }
}

TEST(EveryOp, ExportsToOnnxOrSaysWhyNot) {
  mlir::MLIRContext context;
  for (mlir::RegisteredOperationName op : dzOps(context)) {
    std::string name = op.getStringRef().str();
    if (kStructural.count(name))
      continue;
    bool exported = dz::codegen::hasOnnxExport(name);
    auto exempt = kNoOnnxExport.find(name);
    if (exempt == kNoOnnxExport.end())
      EXPECT_TRUE(exported) << name << " has no ONNX export (codegen/onnx/OpTable.cpp)";
    else
      EXPECT_FALSE(exported) << name << " exports now: remove its exemption (" << exempt->second
                             << ")";
  }
  for (const auto &[name, why] : kNoOnnxExport)
    EXPECT_TRUE(mlir::OperationName(name, &context).isRegistered())
        << "the exemption of " << name << " names no op";
}

TEST(EveryOp, RegistryOpsWithAnOnnxTwinImportAndExport) {
  for (const dz::OpInfo &info : dz::registry_ops()) {
    if (!*info.onnx)
      continue;
    EXPECT_TRUE(dz::onnx::is_supported_op(info.onnx))
        << "dz." << info.name << "'s twin " << info.onnx << " does not import";
    EXPECT_TRUE(dz::codegen::hasOnnxExport(std::string("dz.") + info.name))
        << "dz." << info.name << " does not export to " << info.onnx;
  }
}
