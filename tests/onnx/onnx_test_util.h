// onnx_test_util.h - what the importer's gtests share: the model builder of
// onnx_model_builder.h, and the gradient check of an imported model (--dz-autodiff against
// central differences, float64).
#pragma once

#include "onnx_model_builder.h"

#include <dzc/codegen/ExecutorBuild.h>
#include <dzc/ir/DzOps.h>
#include <dzc/onnx/Import.h>
#include <dzc/passes/Passes.h>

#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/IR/Builders.h>
#include <mlir/IR/MLIRContext.h>
#include <mlir/Pass/PassManager.h>

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace dz::onnx_test {

/// The model y = sum(f(x) * weights) in float64, its gradient by --dz-autodiff (a
/// dz.grad appended to the imported function) and by central differences. The model
/// has x as its input and the weights as initializer `k`; `build` adds the nodes from x
/// to `p`.
inline void expect_gradient_matches(mlir::MLIRContext &ctx, const Dims &x_dims,
                                    const std::function<void(ModelBuilder &)> &build,
                                    const Dims &y_dims, const std::string &op, int64_t opset = 13) {
  ModelBuilder m(::onnx::TensorProto::DOUBLE, opset);
  m.input("x", x_dims).initializer("k", y_dims, uniform(size_t(numel(y_dims)), 11));
  m.output("y", y_dims);
  build(m); // the nodes from x to p
  m.node("Mul", {"p", "k"}, {"y"}, "weigh");
  const std::string bytes = m.bytes();
  // Distinct values well apart, so that no window has a tie and the max is smooth.
  std::vector<double> xs(size_t(numel(x_dims)));
  for (size_t i = 0; i < xs.size(); ++i)
    xs[i] = double((i * 37) % xs.size()) / double(xs.size()) - 0.5;
  const dz::Shape shape(x_dims.begin(), x_dims.end());

  mlir::OwningOpRef<mlir::ModuleOp> module = dz::onnx::importOnnxBytes(ctx, bytes, "pool.onnx");
  auto fn = *module->getOps<mlir::func::FuncOp>().begin();
  dz::codegen::Program forward = dz::codegen::buildProgramOrThrow(fn);
  auto loss = [&](const std::vector<double> &v) {
    dz::Tensor y = forward.run({dz::Tensor::from(v, shape, dz::f64)}).at(0);
    double s = 0;
    for (int64_t i = 0; i < y.size(); ++i)
      s += y.data<double>()[i];
    return s;
  };
  // dz.grad of y with respect to the argument x, returned instead of y.
  mlir::Operation *ret = fn.getBody().front().getTerminator();
  mlir::OpBuilder b(ret);
  mlir::OperationState state(ret->getLoc(), dz::ir::GradOp::getOperationName());
  state.addOperands({ret->getOperand(0), fn.getArgument(0)});
  state.addTypes(fn.getArgument(0).getType());
  mlir::Value grad = b.create(state)->getResult(0);
  ret->setOperands(grad);
  fn.setFunctionType(b.getFunctionType(fn.getArgumentTypes(), {grad.getType()}));
  mlir::PassManager pm(&ctx);
  dz::passes::buildPipeline(pm);
  ASSERT_TRUE(mlir::succeeded(pm.run(*module)));
  dz::Tensor g =
      dz::codegen::buildProgramOrThrow(fn).run({dz::Tensor::from(xs, shape, dz::f64)}).at(0);
  const double eps = 1e-4;
  int nonzero = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    std::vector<double> up(xs), down(xs);
    up[i] += eps;
    down[i] -= eps;
    const double numeric = (loss(up) - loss(down)) / (2 * eps);
    const double analytic = g.data<double>()[i];
    EXPECT_NEAR(analytic, numeric, 1e-5 + 1e-4 * std::abs(numeric)) << op << " element " << i;
    nonzero += numeric != 0;
  }
  EXPECT_GT(nonzero, 0) << "the check must see some gradient";
}

} // namespace dz::onnx_test
