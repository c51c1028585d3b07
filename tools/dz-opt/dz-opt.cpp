// dz-opt.cpp - mlir-opt for dz IR: the dz, func and arith dialects, MLIR's builtin
// transforms (--canonicalize, --cse, ...) and dzc's passes. Options and exit
// statuses are mlir-opt's; an exception that reaches main (a dz::Error from dzc's code) is
// one line on stderr and exit status 1.
#include "dzc/ir/DzOps.h"
#include "dzc/passes/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

#include <cstdio>
#include <exception>

int main(int argc, char **argv) try {
  mlir::registerTransformsPasses();
  dz::passes::registerPasses();
  mlir::DialectRegistry registry;
  dz::ir::registerAllDialects(registry);
  return mlir::asMainReturnCode(mlir::MlirOptMain(argc, argv, "dz optimizer driver\n", registry));
} catch (const std::exception &e) {
  std::fprintf(stderr, "dz-opt: error: %s\n", e.what());
  return 1;
} catch (...) {
  std::fprintf(stderr, "dz-opt: error: an unknown exception (a bug; please report it)\n");
  return 1;
}
