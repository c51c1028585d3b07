// dz-opt.cpp - mlir-opt for dz IR: the dz, func and arith dialects, MLIR's builtin
// transforms (--canonicalize, --cse, ...) and, when built, dzc's passes.
#include "dzc/ir/DzOps.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

#ifdef DZ_HAVE_PASSES
#include "dzc/passes/Passes.h"
#endif

int main(int argc, char **argv) {
  mlir::registerTransformsPasses();
#ifdef DZ_HAVE_PASSES
  dz::passes::registerPasses();
#endif
  mlir::DialectRegistry registry;
  dz::ir::registerAllDialects(registry);
  return mlir::asMainReturnCode(mlir::MlirOptMain(argc, argv, "dz optimizer driver\n", registry));
}
