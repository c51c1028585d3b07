// onnx_test_util.h - what the importer's gtests share: a builder of one-node models
// (float32 or float64 tensors, int64 initializers), attribute setters, seeded data, and
// the gradient check of an imported model (--dz-autodiff against central differences,
// float64).
#pragma once

#include <dzc/codegen/ExecutorBuild.h>
#include <dzc/ir/DzOps.h>
#include <dzc/onnx/Import.h>
#include <dzc/passes/Passes.h>

#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/IR/Builders.h>
#include <mlir/IR/MLIRContext.h>
#include <mlir/Pass/PassManager.h>

#include <onnx/onnx_pb.h>

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace dz::onnx_test {

using Dims = std::vector<int64_t>;

/// A model of one node, built field by field (float32 or float64 tensors).
class ModelBuilder {
public:
  explicit ModelBuilder(int32_t elem = ::onnx::TensorProto::FLOAT, int64_t opset = 13)
      : elem_(elem) {
    model_.set_ir_version(8);
    model_.add_opset_import()->set_version(opset);
    model_.mutable_graph()->set_name("window_ops");
  }
  ModelBuilder &input(const std::string &name, const Dims &dims) {
    value_info(model_.mutable_graph()->add_input(), name, dims);
    return *this;
  }
  ModelBuilder &output(const std::string &name, const Dims &dims) {
    value_info(model_.mutable_graph()->add_output(), name, dims);
    return *this;
  }
  ModelBuilder &initializer(const std::string &name, const Dims &dims,
                            const std::vector<double> &values) {
    ::onnx::TensorProto *t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(elem_);
    for (int64_t d : dims)
      t->add_dims(d);
    for (double v : values)
      elem_ == ::onnx::TensorProto::FLOAT ? t->add_float_data(float(v)) : t->add_double_data(v);
    return *this;
  }
  /// An int64 initializer (indices, axes, repeats).
  ModelBuilder &int_initializer(const std::string &name, const Dims &dims,
                                const std::vector<int64_t> &values) {
    ::onnx::TensorProto *t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::INT64);
    for (int64_t d : dims)
      t->add_dims(d);
    for (int64_t v : values)
      t->add_int64_data(v);
    return *this;
  }
  ::onnx::NodeProto &node(const std::string &op, const std::vector<std::string> &inputs,
                          const std::vector<std::string> &outputs, const std::string &name) {
    ::onnx::NodeProto *n = model_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const std::string &i : inputs)
      n->add_input(i);
    for (const std::string &o : outputs)
      n->add_output(o);
    return *n;
  }
  std::string bytes() const { return model_.SerializeAsString(); }
  ::onnx::ModelProto &model() { return model_; }

private:
  void value_info(::onnx::ValueInfoProto *v, const std::string &name, const Dims &dims) {
    v->set_name(name);
    auto *t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(elem_);
    for (int64_t d : dims)
      t->mutable_shape()->add_dim()->set_dim_value(d);
  }
  int32_t elem_;
  ::onnx::ModelProto model_;
};

inline void ints(::onnx::NodeProto &n, const std::string &name, const Dims &values) {
  ::onnx::AttributeProto *a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INTS);
  for (int64_t v : values)
    a->add_ints(v);
}
inline void int_attr(::onnx::NodeProto &n, const std::string &name, int64_t value) {
  ::onnx::AttributeProto *a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INT);
  a->set_i(value);
}
inline void string_attr(::onnx::NodeProto &n, const std::string &name, const std::string &value) {
  ::onnx::AttributeProto *a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::STRING);
  a->set_s(value);
}

inline std::vector<double> uniform(size_t n, uint32_t seed, double lo = -1, double hi = 1) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(n);
  for (double &e : v)
    e = u(gen);
  return v;
}

inline int64_t numel(const Dims &d) {
  int64_t n = 1;
  for (int64_t e : d)
    n *= e;
  return n;
}

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
