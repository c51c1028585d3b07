// PrintMemoryPlan.cpp - `--dz-print-memory-plan`: prints the memory plan (MemoryPlan.h)
// of every func.func of the module on stdout, in the module's order. The IR is unchanged.
#include <dzc/passes/MemoryPlan.h>
#include <dzc/passes/Passes.h>

#include <mlir/IR/BuiltinOps.h>
#include <mlir/Pass/Pass.h>

namespace dz::passes {

#define GEN_PASS_DECL_PRINTMEMORYPLAN
#define GEN_PASS_DEF_PRINTMEMORYPLAN
#include "Passes.h.inc"

using namespace mlir;

namespace {

class PrintMemoryPlanPass : public impl::PrintMemoryPlanBase<PrintMemoryPlanPass> {
public:
  using PrintMemoryPlanBase::PrintMemoryPlanBase;

  void runOnOperation() override {
    markAllAnalysesPreserved();
    MemoryPlanOptions options;
    options.in_place = inPlace;
    for (func::FuncOp fn : getOperation().getOps<func::FuncOp>()) {
      if (fn.isExternal())
        continue;
      FailureOr<MemoryPlan> plan = planMemory(fn, options);
      if (failed(plan))
        return signalPassFailure();
      printMemoryPlan(fn, *plan, llvm::outs());
    }
    llvm::outs().flush();
  }
};

} // namespace

} // namespace dz::passes
