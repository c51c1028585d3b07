// test_compile_registry.cpp - every op of the registry (dzc/ops.def) through dz::compile: the
// values and the gradients (first and second derivatives, built by --dz-autodiff from the
// registry's gradient expression) equal the eager ones, which build theirs on Variables from
// the same expression. Also the tensor operations the tracer records as registry ops
// (comparisons, where as dz.select, pow with a tensor exponent). NaN and infinities on every
// path are tests/cuda/test_numerics.cpp's.
#include <dzc/dzc.h>
#include <dzc/op_registry.h>

#include "../support/registry_ranges.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <string>

namespace F = dz::functions;
using dz::Tensor;
using dz::Variable;

namespace {

using Unary = Variable (*)(const Variable &);
using Binary = Variable (*)(const Variable &, const Variable &);

const std::map<std::string, Unary> kUnary = {
#define DZ_UNARY(name, ...) {#name, F::name},
#include <dzc/ops.def>
};
const std::map<std::string, Binary> kBinary = {
#define DZ_BINARY(name, ...) {#name, F::name},
#include <dzc/ops.def>
};

/// Inputs inside the op's domain, away from kinks and ties.
Tensor sample(const std::string &op, int operand, dz::DType dtype) {
  std::vector<double> v = dz::testing::registry_values(op, operand, 12);
  return Tensor::from(v, {3, 4}, dtype);
}

void expect_equal(const Tensor &compiled, const Tensor &eager, double rtol,
                  const std::string &what) {
  ASSERT_EQ(compiled.shape(), eager.shape()) << what;
  Tensor c = compiled.to(dz::f64), e = eager.to(dz::f64);
  for (int64_t i = 0; i < c.size(); ++i) {
    double a = c.data<double>()[i], b = e.data<double>()[i];
    if (std::isnan(a) && std::isnan(b))
      continue;
    EXPECT_NEAR(a, b, rtol * std::max(1.0, std::abs(b))) << what << " element " << i;
  }
}

} // namespace

TEST(CompileRegistry, EveryOpComputesWhatEagerComputesWithItsGradients) {
  for (dz::DType dtype : {dz::f64, dz::f32}) {
    // float64: the fused kernels call libm as the eager kernels do; float32: MLIR's
    // vectorised approximations against the runtime's, a few ulp apart.
    const double rtol = dtype == dz::f64 ? 1e-12 : 2e-6;
    for (const dz::OpInfo &info : dz::registry_ops()) {
      const std::string name = info.name;
      SCOPED_TRACE(name + " " + dz::dtype_name(dtype));
      const bool grads = info.grad[0] || info.grad[1];
      Variable a(sample(name, 0, dtype)), b(sample(name, 1, dtype));
      auto value = [&](const Variable &x, const Variable &y) {
        return info.arity == 1 ? kUnary.at(name)(x) : kBinary.at(name)(x, y);
      };
      // y, d(sum y * w)/da and, for unary ops, the second derivative through the first.
      auto step = [&](Variable x, Variable y) -> std::vector<Variable> {
        Variable out = value(x * 1.0, y); // x * 1.0: the op sits inside a fused group
        if (!grads)
          return {out};
        Variable w(Tensor::from(std::vector<double>(12, 0.0), {3, 4}, dtype) + 0.75);
        x.cleargrad();
        y.cleargrad();
        F::sum(out * w).backward({.create_graph = true});
        // A gradient that does not flow (NONE, or a second derivative of a linear op) is
        // zeros, on both sides.
        auto or_zeros = [&](const Variable &g) {
          return g.defined() ? g : Variable(dz::zeros({3, 4}, dtype));
        };
        std::vector<Variable> r{out, or_zeros(x.grad())};
        if (info.arity == 2)
          r.push_back(or_zeros(y.grad()));
        else if (name != "relu" && name != "abs") {
          Variable g = x.grad();
          x.cleargrad();
          if (g.defined() && g.creator())
            F::sum(g).backward();
          r.push_back(or_zeros(x.grad()));
        }
        // The gradients built with create_graph refer to the leaves that hold them: clear
        // them, or each leaf and its gradient keep each other alive.
        for (Variable *v : {&x, &y, &w})
          v->cleargrad();
        return r;
      };
      std::vector<Variable> eager = step(Variable(a.data()), Variable(b.data()));
      auto compiled = dz::compile(step);
      std::vector<Variable> got;
      for (int call = 0; call < 2; ++call) // the first call traces, the second runs the program
        got = compiled(Variable(a.data()), Variable(b.data()));
      ASSERT_EQ(got.size(), eager.size());
      for (size_t k = 0; k < got.size(); ++k) {
        if (!eager[k].defined()) {
          EXPECT_FALSE(got[k].defined() && dz::max_abs_diff(got[k].data(), eager[k].data()) > 0);
          continue;
        }
        ASSERT_TRUE(got[k].defined()) << "result " << k;
        expect_equal(got[k].data(), eager[k].data(), rtol, "result " + std::to_string(k));
      }
    }
  }
}

TEST(CompileRegistry, ComparisonsWhereAndATensorExponentCompile) {
  auto f = [](Variable x, Variable y) -> std::vector<Variable> {
    Tensor mask = x.data() > y.data();
    Tensor chosen = dz::where(mask, x.data(), y.data() * 2.0);
    Tensor counted = (x.data() <= 0.25).to(x.dtype()) + (x.data() != y.data()).to(x.dtype());
    Variable p = F::pow(F::abs(x) + 0.5, y);
    return {Variable(chosen), Variable(counted), p, F::minimum(x, y)};
  };
  Tensor x = Tensor::from({0.5, -1.0, 0.25, 2.0}, {4}),
         y = Tensor::from({0.0, 1.0, 0.25, 3.0}, {4});
  std::vector<Variable> eager = f(Variable(x), Variable(y));
  auto compiled = dz::compile(f);
  std::vector<Variable> got;
  for (int call = 0; call < 2; ++call)
    got = compiled(Variable(x), Variable(y));
  ASSERT_EQ(compiled.retraces(), 1); // the first trace only
  ASSERT_EQ(got.size(), eager.size());
  for (size_t k = 0; k < got.size(); ++k)
    expect_equal(got[k].data(), eager[k].data(), 1e-15, "result " + std::to_string(k));
  const std::string ir = compiled.ir();
  for (const char *op : {"dz.greater", "dz.select", "dz.less_equal", "dz.not_equal", "dz.pow",
                         "dz.abs", "dz.minimum"})
    EXPECT_NE(ir.find(op), std::string::npos) << op << " not in\n" << ir;
}
