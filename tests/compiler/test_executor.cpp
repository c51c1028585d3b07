// test_executor.cpp - the CPU executor (codegen/cpu) against eager dzc: each op family
// parsed from IR text, built into a Program, run, and compared with the eager F::
// function (or runtime kernel) on the same inputs; argument and build errors; an MLP
// forward + loss and its hand-written backward against eager backward().
//
// The IR is written in MLIR's generic form, which parses with the registered dz dialect
// (then verified by it).
#include <dzc/codegen/ExecutorBuild.h>
#include <dzc/functions.h>
#include <dzc/ir/DzOps.h>

#include <mlir/IR/BuiltinOps.h>
#include <mlir/IR/Diagnostics.h>
#include <mlir/IR/MLIRContext.h>
#include <mlir/Parser/Parser.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace F = dz::functions;
using dz::Tensor;
using dz::Variable;
using dz::codegen::Program;

/// Parses `ir` (a module with one func.func) and builds its Program; the MLIR context is
/// gone when this returns, so the Program must not need it. Throws dz::Error with the
/// parser's or the builder's diagnostics.
Program compile(const std::string &ir, const dz::codegen::BuildOptions &options = {}) {
  mlir::DialectRegistry registry;
  dz::ir::registerAllDialects(registry);
  mlir::MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();
  std::string errors;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  {
    mlir::ScopedDiagnosticHandler collect(&ctx, [&](mlir::Diagnostic &d) {
      llvm::raw_string_ostream os(errors);
      os << d.getLocation() << ": " << d << "\n";
      return mlir::success();
    });
    module = mlir::parseSourceString<mlir::ModuleOp>(ir, mlir::ParserConfig(&ctx), "test.mlir");
  }
  if (!module)
    throw dz::Error("IR does not parse:\n" + errors);
  auto fns = module->getOps<mlir::func::FuncOp>();
  if (fns.empty())
    throw dz::Error("IR has no func.func");
  return dz::codegen::buildProgramOrThrow(*fns.begin(), options);
}

Tensor run1(const Program &p, const std::vector<Tensor> &args) {
  std::vector<Tensor> out = p.run(args);
  EXPECT_EQ(out.size(), 1u);
  return out.at(0);
}

/// Same shape, dtype and values: exactly when rtol is 0 (the same runtime kernel ran),
/// else within rtol.
void expect_same(const Tensor &got, const Tensor &want, double rtol = 0) {
  ASSERT_EQ(got.shape(), want.shape())
      << dz::shape_str(got.shape()) << " vs " << dz::shape_str(want.shape());
  ASSERT_EQ(got.dtype(), want.dtype())
      << dz::dtype_name(got.dtype()) << " vs " << dz::dtype_name(want.dtype());
  if (rtol == 0)
    EXPECT_EQ(dz::max_abs_diff(got, want), 0.0) << "got\n" << got << "\nwant\n" << want;
  else
    EXPECT_TRUE(dz::allclose(got, want, rtol, rtol)) << "got\n" << got << "\nwant\n" << want;
}

Tensor randn(const dz::Shape &s, dz::DType dt, uint64_t seed) { return dz::randn(s, dt, seed); }
Tensor positive(const dz::Shape &s, dz::DType dt, uint64_t seed) {
  return dz::rand(s, dt, seed) + 0.5;
}
Tensor eager(const Variable &v) { return v.data(); }

/// A one-op function of x (2x3) with result type `result`; `op` is the generic-form op
/// text after the `=`, reading %x.
std::string unary_ir(const std::string &op, const std::string &type = "tensor<2x3xf32>",
                     const std::string &result = "") {
  const std::string &r = result.empty() ? type : result;
  return "func.func @f(%x: " + type + ") -> " + r + " {\n  %0 = " + op + " : (" + type + ") -> " +
         r + "\n  func.return %0 : " + r + "\n}\n";
}

// ---- constants ----------------------------------------------------------------------------

TEST(Executor, ConstantsSplatAndDenseOfEachDtype) {
  Program p = compile(R"(
func.func @c() -> (tensor<2x2xf32>, tensor<3xf64>, tensor<2xi64>, tensor<f32>) {
  %a = "dz.constant"() {value = dense<1.5> : tensor<2x2xf32>} : () -> tensor<2x2xf32>
  %b = "dz.constant"() {value = dense<[0.1, -2.0, 3.25]> : tensor<3xf64>} : () -> tensor<3xf64>
  %c = "dz.constant"() {value = dense<[7, -9000000000000]> : tensor<2xi64>} : () -> tensor<2xi64>
  %d = "dz.constant"() {value = dense<-0.5> : tensor<f32>} : () -> tensor<f32>
  func.return %a, %b, %c, %d : tensor<2x2xf32>, tensor<3xf64>, tensor<2xi64>, tensor<f32>
})");
  std::vector<Tensor> out = p.run({});
  ASSERT_EQ(out.size(), 4u);
  expect_same(out[0], dz::full({2, 2}, 1.5, dz::f32));
  expect_same(out[1], Tensor::from({0.1, -2.0, 3.25}, {3}, dz::f64));
  expect_same(out[2], Tensor::from_i64({7, -9000000000000}, {2}));
  EXPECT_EQ(out[2].data<int64_t>()[1], -9000000000000);
  expect_same(out[3], Tensor::scalar(-0.5, dz::f32));
}

TEST(Executor, DenseResourceConstantIsRead) {
  // What an importer writes for big weights: the bytes in a resource blob (4-byte
  // alignment header, then little-endian floats 1.0, 2.0).
  Program p = compile(R"(
func.func @c() -> tensor<2xf32> {
  %a = "dz.constant"() {value = dense_resource<w> : tensor<2xf32>} : () -> tensor<2xf32>
  func.return %a : tensor<2xf32>
}
{-#
  dialect_resources: {
    builtin: {
      w: "0x040000000000803F00000040"
    }
  }
#-}
)");
  expect_same(run1(p, {}), Tensor::from({1, 2}, {2}, dz::f32));
}

TEST(Executor, ReturnedConstantIsACopyCallersCannotWriteInto) {
  Program p = compile(R"(
func.func @c() -> tensor<3xf32> {
  %a = "dz.constant"() {value = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>} : () -> tensor<3xf32>
  %b = "dz.reshape"(%a) {shape = array<i64: 3>} : (tensor<3xf32>) -> tensor<3xf32>
  func.return %b : tensor<3xf32>
})");
  Tensor first = run1(p, {});
  first.fill_(0.0);
  expect_same(run1(p, {}), Tensor::from({1, 2, 3}, {3}, dz::f32));
}

// ---- elementwise ----------------------------------------------------------------------------

struct BinaryCase {
  const char *op;
  Tensor (*eager)(const Tensor &, const Tensor &);
};

TEST(Executor, BinaryOpsBroadcastLikeEager) {
  const BinaryCase cases[] = {
      {"dz.add", [](const Tensor &a, const Tensor &b) { return eager(F::add(a, b)); }},
      {"dz.sub", [](const Tensor &a, const Tensor &b) { return eager(F::sub(a, b)); }},
      {"dz.mul", [](const Tensor &a, const Tensor &b) { return eager(F::mul(a, b)); }},
      {"dz.div", [](const Tensor &a, const Tensor &b) { return eager(F::div(a, b)); }},
      {"dz.maximum", [](const Tensor &a, const Tensor &b) { return dz::maximum(a, b); }},
      {"dz.equal_mask", [](const Tensor &a, const Tensor &b) { return (a == b).to(a.dtype()); }},
  };
  for (const char *ty : {"f32", "f64"}) {
    dz::DType dt = std::string(ty) == "f32" ? dz::f32 : dz::f64;
    std::string a = std::string("tensor<4x1x3x") + ty + ">",
                b = std::string("tensor<5x1x") + ty + ">",
                r = std::string("tensor<4x5x3x") + ty + ">";
    Tensor x = randn({4, 1, 3}, dt, 1), y = positive({5, 1}, dt, 2);
    for (const BinaryCase &c : cases) {
      SCOPED_TRACE(std::string(c.op) + " " + ty);
      Program p = compile("func.func @f(%a: " + a + ", %b: " + b + ") -> " + r + " {\n  %0 = \"" +
                          c.op + "\"(%a, %b) : (" + a + ", " + b + ") -> " + r +
                          "\n  func.return %0 : " + r + "\n}\n");
      expect_same(run1(p, {x, y}), c.eager(x, y));
    }
  }
}

TEST(Executor, EqualIsOneWhereEqual) {
  Program p = compile(R"(
func.func @f(%a: tensor<4xf64>, %b: tensor<4xf64>) -> tensor<4xf64> {
  %0 = "dz.equal_mask"(%a, %b) : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
  func.return %0 : tensor<4xf64>
})");
  expect_same(run1(p, {Tensor::from({1, 2, 3, 4}), Tensor::from({1, 0, 3, 0})}),
              Tensor::from({1, 0, 1, 0}));
}

TEST(Executor, UnaryOpsMatchEager) {
  struct Case {
    const char *op;
    bool positive_input;
    Tensor (*eager)(const Tensor &);
  };
  const Case cases[] = {
      {"dz.neg", false, [](const Tensor &x) { return eager(F::neg(x)); }},
      {"dz.exp", false, [](const Tensor &x) { return eager(F::exp(x)); }},
      {"dz.log", true, [](const Tensor &x) { return eager(F::log(x)); }},
      {"dz.sin", false, [](const Tensor &x) { return eager(F::sin(x)); }},
      {"dz.cos", false, [](const Tensor &x) { return eager(F::cos(x)); }},
      {"dz.tanh", false, [](const Tensor &x) { return eager(F::tanh(x)); }},
      {"dz.sqrt", true, [](const Tensor &x) { return eager(F::sqrt(x)); }},
      {"dz.square", false, [](const Tensor &x) { return eager(F::square(x)); }},
      {"dz.sigmoid", false, [](const Tensor &x) { return eager(F::sigmoid(x)); }},
      {"dz.relu", false, [](const Tensor &x) { return eager(F::relu(x)); }},
      {"dz.step", false, [](const Tensor &x) { return (x > 0.0).to(x.dtype()); }},
  };
  for (const char *ty : {"f32", "f64"}) {
    dz::DType dt = std::string(ty) == "f32" ? dz::f32 : dz::f64;
    std::string type = std::string("tensor<3x7x") + ty + ">";
    for (const Case &c : cases) {
      SCOPED_TRACE(std::string(c.op) + " " + ty);
      Tensor x = c.positive_input ? positive({3, 7}, dt, 3) : randn({3, 7}, dt, 3);
      Program p = compile(unary_ir(std::string("\"") + c.op + "\"(%x)", type));
      expect_same(run1(p, {x}), c.eager(x));
    }
  }
}

TEST(Executor, StepIsOneAboveZero) {
  Program p = compile(unary_ir("\"dz.step\"(%x)", "tensor<4xf64>"));
  expect_same(run1(p, {Tensor::from({-1, 0, 0.5, 2})}), Tensor::from({0, 0, 1, 1}));
}

TEST(Executor, PowLeakyReluClipAndClipMaskMatchEager) {
  Tensor x = randn({2, 3}, dz::f32, 4);
  expect_same(run1(compile(unary_ir("\"dz.pow_scalar\"(%x) {exponent = 3.0 : f64}")), {x}),
              eager(F::pow(x, 3.0)));
  expect_same(run1(compile(unary_ir("\"dz.pow_scalar\"(%x) {exponent = 2.0 : f64}")), {x}),
              eager(F::pow(x, 2.0)));
  expect_same(run1(compile(unary_ir("\"dz.leaky_relu\"(%x) {slope = 0.1 : f64}")), {x}),
              eager(F::leaky_relu(x, 0.1)));
  expect_same(run1(compile(unary_ir("\"dz.clip\"(%x) {max = 0.5 : f64, min = -0.25 : f64}")), {x}),
              eager(F::clip(x, -0.25, 0.5)));
  Tensor mask = (x >= -0.25).to(dz::f32) * (x <= 0.5).to(dz::f32);
  expect_same(
      run1(compile(unary_ir("\"dz.clip_mask\"(%x) {max = 0.5 : f64, min = -0.25 : f64}")), {x}),
      mask);
  // The mask is the eager Clip's gradient.
  Variable vx(x);
  F::clip(vx, -0.25, 0.5).sum().backward();
  expect_same(mask, vx.grad().data());
}

// ---- shapes and types -----------------------------------------------------------------------

TEST(Executor, CastReshapeTransposeBroadcastToSumToMatchEager) {
  Tensor x = randn({2, 3}, dz::f32, 5);
  expect_same(
      run1(compile(unary_ir("\"dz.cast\"(%x) {dtype = f64}", "tensor<2x3xf32>", "tensor<2x3xf64>")),
           {x}),
      x.to(dz::f64));
  Tensor labels = Tensor::from_i64({0, 2, 1});
  expect_same(
      run1(compile(unary_ir("\"dz.cast\"(%x) {dtype = f32}", "tensor<3xi64>", "tensor<3xf32>")),
           {labels}),
      labels.to(dz::f32));
  expect_same(run1(compile(unary_ir("\"dz.reshape\"(%x) {shape = array<i64: 3, 1, 2>}",
                                    "tensor<2x3xf32>", "tensor<3x1x2xf32>")),
                   {x}),
              eager(F::reshape(x, {3, 1, 2})));
  expect_same(run1(compile(unary_ir("\"dz.transpose\"(%x) {perm = array<i64: 1, 0>}",
                                    "tensor<2x3xf32>", "tensor<3x2xf32>")),
                   {x}),
              eager(F::transpose(x)));
  Tensor x3 = randn({2, 3, 4}, dz::f64, 6);
  expect_same(run1(compile(unary_ir("\"dz.transpose\"(%x) {perm = array<i64: 2, 0, 1>}",
                                    "tensor<2x3x4xf64>", "tensor<4x2x3xf64>")),
                   {x3}),
              eager(F::transpose(x3, {2, 0, 1})));
  Tensor row = randn({1, 3}, dz::f32, 7);
  expect_same(run1(compile(unary_ir("\"dz.broadcast_to\"(%x) {shape = array<i64: 4, 2, 3>}",
                                    "tensor<1x3xf32>", "tensor<4x2x3xf32>")),
                   {row}),
              eager(F::broadcast_to(row, {4, 2, 3})));
  Tensor big = randn({4, 2, 3}, dz::f32, 8);
  expect_same(run1(compile(unary_ir("\"dz.sum_to\"(%x) {shape = array<i64: 1, 3>}",
                                    "tensor<4x2x3xf32>", "tensor<1x3xf32>")),
                   {big}),
              eager(F::sum_to(big, {1, 3})));
}

TEST(Executor, ReductionsWithAxesAndKeepdimsMatchEager) {
  Tensor x = randn({3, 4, 5}, dz::f64, 9);
  struct Case {
    const char *attrs;
    std::vector<int64_t> axes;
    bool keepdims;
    const char *result;
  };
  const Case cases[] = {
      {"{axes = array<i64: 1>, keepdims = false}", {1}, false, "tensor<3x5xf64>"},
      {"{axes = array<i64: 0, 2>, keepdims = true}", {0, 2}, true, "tensor<1x4x1xf64>"},
      {"{axes = array<i64: -1>, keepdims = false}", {-1}, false, "tensor<3x4xf64>"},
      {"{axes = array<i64>, keepdims = false}", {}, false, "tensor<f64>"},
      {"{axes = array<i64>, keepdims = true}", {}, true, "tensor<1x1x1xf64>"},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.attrs);
    std::string ty = "tensor<3x4x5xf64>";
    expect_same(
        run1(compile(unary_ir(std::string("\"dz.sum\"(%x) ") + c.attrs, ty, c.result)), {x}),
        eager(F::sum(x, c.axes, c.keepdims)));
    expect_same(
        run1(compile(unary_ir(std::string("\"dz.max\"(%x) ") + c.attrs, ty, c.result)), {x}),
        eager(F::max(x, c.axes, c.keepdims)));
    expect_same(
        run1(compile(unary_ir(std::string("\"dz.min\"(%x) ") + c.attrs, ty, c.result)), {x}),
        eager(F::min(x, c.axes, c.keepdims)));
  }
}

// ---- linear algebra -----------------------------------------------------------------------------

std::string matmul_ir(const std::string &a, const std::string &b, const std::string &r, bool ta,
                      bool tb) {
  std::string attrs = std::string("{transpose_a = ") + (ta ? "true" : "false") +
                      ", transpose_b = " + (tb ? "true" : "false") + "}";
  return "func.func @f(%a: " + a + ", %b: " + b + ") -> " + r +
         " {\n  %0 = \"dz.matmul\"(%a, %b) " + attrs + " : (" + a + ", " + b + ") -> " + r +
         "\n  func.return %0 : " + r + "\n}\n";
}

TEST(Executor, MatmulWithTransposeFlagsMatchesEager) {
  for (int flags = 0; flags < 4; ++flags) {
    bool ta = flags & 1, tb = flags & 2;
    SCOPED_TRACE("transpose_a=" + std::to_string(ta) + " transpose_b=" + std::to_string(tb));
    dz::Shape sa = ta ? dz::Shape{5, 4} : dz::Shape{4, 5},
              sb = tb ? dz::Shape{3, 5} : dz::Shape{5, 3};
    auto ty = [](const dz::Shape &s, const char *e) {
      return "tensor<" + std::to_string(s[0]) + "x" + std::to_string(s[1]) + "x" + e + ">";
    };
    for (const char *e : {"f32", "f64"}) {
      dz::DType dt = std::string(e) == "f32" ? dz::f32 : dz::f64;
      Tensor a = randn(sa, dt, 10), b = randn(sb, dt, 11);
      Program p =
          compile(matmul_ir(ty(sa, e), ty(sb, e), std::string("tensor<4x3x") + e + ">", ta, tb));
      expect_same(run1(p, {a, b}), eager(F::matmul(a, b, ta, tb)));
    }
  }
}

TEST(Executor, BatchedMatmulEqualAndBroadcastBatchMatchesEager) {
  Tensor a = randn({2, 4, 5}, dz::f32, 12), b = randn({2, 5, 3}, dz::f32, 13);
  expect_same(run1(compile(matmul_ir("tensor<2x4x5xf32>", "tensor<2x5x3xf32>", "tensor<2x4x3xf32>",
                                     false, false)),
                   {a, b}),
              eager(F::matmul(a, b)));
  // Broadcast batch dims: (2, 1, 4, 5) x (3, 5, 6) -> (2, 3, 4, 6); with transpose_b the
  // second operand is stored (3, 6, 5).
  Tensor a4 = randn({2, 1, 4, 5}, dz::f64, 14), b3 = randn({3, 5, 6}, dz::f64, 15);
  Tensor want = eager(F::matmul(a4, b3));
  expect_same(run1(compile(matmul_ir("tensor<2x1x4x5xf64>", "tensor<3x5x6xf64>",
                                     "tensor<2x3x4x6xf64>", false, false)),
                   {a4, b3}),
              want);
  Tensor b3t = b3.transpose({0, 2, 1});
  expect_same(run1(compile(matmul_ir("tensor<2x1x4x5xf64>", "tensor<3x6x5xf64>",
                                     "tensor<2x3x4x6xf64>", false, true)),
                   {a4, b3t}),
              want);
}

TEST(Executor, LinearWithAndWithoutBiasMatchesEager) {
  Tensor x = randn({6, 4}, dz::f32, 16), W = randn({4, 3}, dz::f32, 17),
         b = randn({3}, dz::f32, 18);
  Program with_bias = compile(R"(
func.func @f(%x: tensor<6x4xf32>, %W: tensor<4x3xf32>, %b: tensor<3xf32>) -> tensor<6x3xf32> {
  %0 = "dz.linear"(%x, %W, %b) : (tensor<6x4xf32>, tensor<4x3xf32>, tensor<3xf32>) -> tensor<6x3xf32>
  func.return %0 : tensor<6x3xf32>
})");
  expect_same(run1(with_bias, {x, W, b}), eager(F::linear(x, W, Variable(b))));
  Program no_bias = compile(R"(
func.func @f(%x: tensor<6x4xf32>, %W: tensor<4x3xf32>) -> tensor<6x3xf32> {
  %0 = "dz.linear"(%x, %W) : (tensor<6x4xf32>, tensor<4x3xf32>) -> tensor<6x3xf32>
  func.return %0 : tensor<6x3xf32>
})");
  expect_same(run1(no_bias, {x, W}), eager(F::linear(x, W)));
}

// ---- softmax and losses ---------------------------------------------------------------------

TEST(Executor, SoftmaxAndLogSoftmaxOnEachAxisMatchEager) {
  Tensor x = randn({4, 5}, dz::f32, 19);
  for (int64_t axis : {1, 0, -1}) {
    SCOPED_TRACE("axis " + std::to_string(axis));
    std::string attrs = "{axis = " + std::to_string(axis) + " : i64}";
    expect_same(run1(compile(unary_ir("\"dz.softmax\"(%x) " + attrs, "tensor<4x5xf32>")), {x}),
                eager(F::softmax(x, axis)));
    expect_same(run1(compile(unary_ir("\"dz.log_softmax\"(%x) " + attrs, "tensor<4x5xf32>")), {x}),
                eager(F::log_softmax(x, axis)));
  }
}

TEST(Executor, SoftmaxCrossEntropyMatchesEager) {
  for (const char *e : {"f32", "f64"}) {
    dz::DType dt = std::string(e) == "f32" ? dz::f32 : dz::f64;
    Tensor x = randn({6, 4}, dt, 20), t = Tensor::from_i64({0, 3, 1, 1, 2, 0});
    std::string xt = std::string("tensor<6x4x") + e + ">", r = std::string("tensor<") + e + ">";
    Program p = compile("func.func @f(%x: " + xt + ", %t: tensor<6xi64>) -> " + r +
                        " {\n  %0 = \"dz.softmax_cross_entropy\"(%x, %t) : (" + xt +
                        ", tensor<6xi64>) -> " + r + "\n  func.return %0 : " + r + "\n}\n");
    expect_same(run1(p, {x, t}), eager(F::softmax_cross_entropy(x, t)));
  }
}

TEST(Executor, OneHotOfEachDtype) {
  Tensor t = Tensor::from_i64({2, 0, 1});
  Tensor want = Tensor::from({0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0}, {3, 4}, dz::f64);
  for (const char *e : {"f32", "f64", "i64"}) {
    SCOPED_TRACE(e);
    dz::DType dt = std::string(e) == "f32" ? dz::f32 : std::string(e) == "f64" ? dz::f64 : dz::i64;
    std::string r = std::string("tensor<3x4x") + e + ">";
    Program p = compile(
        unary_ir(std::string("\"dz.one_hot\"(%x) {dtype = ") + e + ", num_classes = 4 : i64}",
                 "tensor<3xi64>", r));
    expect_same(run1(p, {t}), want.to(dt));
  }
}

TEST(Executor, MeanSquaredErrorMatchesEager) {
  Tensor a = randn({5, 3}, dz::f64, 21), b = randn({5, 3}, dz::f64, 22);
  Program p = compile(R"(
func.func @f(%a: tensor<5x3xf64>, %b: tensor<5x3xf64>) -> tensor<f64> {
  %0 = "dz.mean_squared_error"(%a, %b) : (tensor<5x3xf64>, tensor<5x3xf64>) -> tensor<f64>
  func.return %0 : tensor<f64>
})");
  expect_same(run1(p, {a, b}), eager(F::mean_squared_error(a, b)));
  Program p0 = compile(R"(
func.func @f(%a: tensor<f32>, %b: tensor<f32>) -> tensor<f32> {
  %0 = "dz.mean_squared_error"(%a, %b) : (tensor<f32>, tensor<f32>) -> tensor<f32>
  func.return %0 : tensor<f32>
})");
  expect_same(run1(p0, {Tensor::scalar(3, dz::f32), Tensor::scalar(1, dz::f32)}),
              Tensor::scalar(4, dz::f32));
}

// ---- errors
// --------------------------------------------------------------------------------------

/// Runs `fn` and returns the dz::Error message it throws ("" when it does not throw).
template <typename Fn> std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const dz::Error &e) {
    return e.what();
  }
  return "";
}

const char *kAddIr = R"(
func.func @add(%a: tensor<2x3xf32>, %b: tensor<3xf32>) -> tensor<2x3xf32> {
  %0 = "dz.add"(%a, %b) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  func.return %0 : tensor<2x3xf32>
})";

TEST(ExecutorErrors, WrongArgumentCountNamesExpectedAndActual) {
  Program p = compile(kAddIr);
  std::string msg = error_of([&] { p.run({dz::zeros({2, 3})}); });
  EXPECT_NE(msg.find("@add"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expects 2 arguments, got 1"), std::string::npos) << msg;
}

TEST(ExecutorErrors, WrongShapeNamesArgumentAndBothTypes) {
  Program p = compile(kAddIr);
  std::string msg = error_of([&] { p.run({dz::zeros({2, 3}), dz::zeros({4})}); });
  EXPECT_NE(msg.find("argument 1 (%arg1) expects tensor<3xf32>, got tensor<4xf32>"),
            std::string::npos)
      << msg;
}

TEST(ExecutorErrors, WrongDtypeNamesArgumentAndBothTypes) {
  Program p = compile(kAddIr);
  std::string msg = error_of([&] { p.run({dz::zeros({2, 3}, dz::f64), dz::zeros({3})}); });
  EXPECT_NE(msg.find("argument 0 (%arg0) expects tensor<2x3xf32>, got tensor<2x3xf64>"),
            std::string::npos)
      << msg;
}

TEST(ExecutorErrors, LabelOutOfRangeAtRunTimeNamesTheOp) {
  Program p = compile(R"(
func.func @f(%x: tensor<2x3xf32>, %t: tensor<2xi64>) -> tensor<f32> {
  %0 = "dz.softmax_cross_entropy"(%x, %t) : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<f32>
  func.return %0 : tensor<f32>
})");
  std::string msg = error_of([&] { p.run({dz::zeros({2, 3}), Tensor::from_i64({1, 3})}); });
  EXPECT_NE(msg.find("dz.softmax_cross_entropy at test.mlir:3:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("label 3 at row 1 is out of range for 3 classes"), std::string::npos) << msg;
}

TEST(ExecutorErrors, GradLeftInTheFunctionIsABuildError) {
  std::string msg = error_of([] {
    compile(R"(
func.func @f(%x: tensor<3xf32>) -> tensor<3xf32> {
  %0 = "dz.sum"(%x) {axes = array<i64>, keepdims = false} : (tensor<3xf32>) -> tensor<f32>
  %1 = "dz.grad"(%0, %x) : (tensor<f32>, tensor<3xf32>) -> tensor<3xf32>
  func.return %1 : tensor<3xf32>
})");
  });
  EXPECT_NE(msg.find("'dz.grad' op is left in the function"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--dz-autodiff"), std::string::npos) << msg;
  EXPECT_NE(msg.find("test.mlir:4:"), std::string::npos) << msg;
}

TEST(ExecutorErrors, OpWithoutKernelIsABuildErrorNamingIt) {
  // An op of another dialect: parses everywhere (unregistered ops allowed only here).
  mlir::MLIRContext ctx;
  ctx.getOrLoadDialect<mlir::func::FuncDialect>();
  ctx.allowUnregisteredDialects(true);
  auto module = mlir::parseSourceString<mlir::ModuleOp>(R"(
func.func @f(%x: tensor<3xf32>) -> tensor<3xf32> {
  %0 = "foo.frobnicate"(%x) : (tensor<3xf32>) -> tensor<3xf32>
  func.return %0 : tensor<3xf32>
})",
                                                        mlir::ParserConfig(&ctx));
  ASSERT_TRUE(module);
  std::string msg = error_of(
      [&] { dz::codegen::buildProgramOrThrow(*module->getOps<mlir::func::FuncOp>().begin()); });
  EXPECT_NE(msg.find("'foo.frobnicate' op has no CPU kernel"), std::string::npos) << msg;
}

TEST(ExecutorErrors, UnsupportedElementTypeIsABuildError) {
  mlir::MLIRContext ctx;
  ctx.getOrLoadDialect<mlir::func::FuncDialect>();
  auto module = mlir::parseSourceString<mlir::ModuleOp>(R"(
func.func @f(%x: tensor<3xcomplex<f32>>) -> tensor<3xcomplex<f32>> {
  func.return %x : tensor<3xcomplex<f32>>
})",
                                                        mlir::ParserConfig(&ctx));
  ASSERT_TRUE(module);
  std::string msg = error_of(
      [&] { dz::codegen::buildProgramOrThrow(*module->getOps<mlir::func::FuncOp>().begin()); });
  EXPECT_NE(msg.find("argument 0 has type 'tensor<3xcomplex<f32>>'; the CPU executor runs"),
            std::string::npos)
      << msg;
  EXPECT_EQ(msg.find("see current operation"), std::string::npos) << msg;
}

// ---- liveness
// --------------------------------------------------------------------------------------

TEST(ExecutorLiveness, ChainKeepsTwoValuesLiveAndDropsUnusedArguments) {
  std::string ir = "func.func @f(%x: tensor<8xf32>, %unused: tensor<8xf32>) -> tensor<8xf32> {\n"
                   "  %v0 = \"dz.exp\"(%x) : (tensor<8xf32>) -> tensor<8xf32>\n";
  for (int i = 1; i < 10; ++i)
    ir += "  %v" + std::to_string(i) + " = \"dz.tanh\"(%v" + std::to_string(i - 1) +
          ") : (tensor<8xf32>) -> tensor<8xf32>\n";
  ir += "  func.return %v9 : tensor<8xf32>\n}\n";
  Program p = compile(ir);
  EXPECT_EQ(p.num_slots(), 12u);
  EXPECT_EQ(p.steps().size(), 10u);
  EXPECT_EQ(p.peak_live_slots(), 2u) << p.str();
  EXPECT_EQ(p.steps()[0].release, std::vector<int32_t>{0}) << p.str();
  for (const dz::codegen::Step &s : p.steps()) // the result (slot 11) lives on
    EXPECT_EQ(std::count(s.release.begin(), s.release.end(), 11), 0) << p.str();
  Tensor x = randn({8}, dz::f32, 23);
  Tensor want = dz::exp(x);
  for (int i = 1; i < 10; ++i)
    want = dz::tanh(want);
  expect_same(run1(p, {x, dz::zeros({8})}), want);
}

TEST(ExecutorLiveness, ValueReadTwiceIsDroppedAfterItsLastReader) {
  Program p = compile(R"(
func.func @f(%x: tensor<4xf64>) -> (tensor<4xf64>, tensor<4xf64>) {
  %a = "dz.exp"(%x) : (tensor<4xf64>) -> tensor<4xf64>
  %b = "dz.mul"(%a, %a) : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
  %c = "dz.add"(%b, %a) : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
  %dead = "dz.neg"(%c) : (tensor<4xf64>) -> tensor<4xf64>
  func.return %c, %x : tensor<4xf64>, tensor<4xf64>
})");
  // slots: x 0, a 1, b 2, c 3, dead 4
  ASSERT_EQ(p.steps().size(), 4u);
  EXPECT_TRUE(p.steps()[0].release.empty()) << p.str(); // x is returned
  EXPECT_TRUE(p.steps()[1].release.empty()) << p.str(); // a read again by %c
  EXPECT_EQ(p.steps()[2].release, (std::vector<int32_t>{1, 2})) << p.str();
  EXPECT_EQ(p.steps()[3].release, std::vector<int32_t>{4}) << p.str(); // dead on arrival
  Tensor x = Tensor::from({0, 1, -1, 2});
  std::vector<Tensor> out = p.run({x});
  ASSERT_EQ(out.size(), 2u);
  Tensor a = dz::exp(x);
  expect_same(out[0], a * a + a);
  EXPECT_TRUE(out[1].shares_storage(x));
}

// ---- the arena
// -------------------------------------------------------------------------------------

/// A chain of `n` tanh ops on a tensor of `elements` float32 values, after an exp.
std::string tanh_chain(int n, int64_t elements) {
  const std::string t = "tensor<" + std::to_string(elements) + "xf32>";
  std::string ir = "func.func @f(%x: " + t + ") -> " + t + " {\n" + "  %v0 = \"dz.exp\"(%x) : (" +
                   t + ") -> " + t + "\n";
  for (int i = 1; i < n; ++i)
    ir += "  %v" + std::to_string(i) + " = \"dz.tanh\"(%v" + std::to_string(i - 1) + ") : (" + t +
          ") -> " + t + "\n";
  return ir + "  func.return %v" + std::to_string(n - 1) + " : " + t + "\n}\n";
}

dz::codegen::BuildOptions without_arena() {
  dz::codegen::BuildOptions options;
  options.arena = false;
  return options;
}

/// Buffers the caching allocator handed out (it counts those of at least 64 KiB).
size_t large_allocations() {
  dz::AllocatorStats s = dz::allocator_stats();
  return s.hits + s.misses;
}

TEST(ExecutorArena, ChainAlternatesTwoRegionsAndAllocatesOnlyTheArenaAndTheResult) {
  const int64_t n = 1 << 16; // 256 KiB per value: each buffer goes through the allocator
  Program p = compile(tanh_chain(10, n));
  dz::codegen::BuildOptions tensor_steps;
  tensor_steps.direct = false;
  Program q = compile(tanh_chain(10, n), tensor_steps);
  Program unplanned = compile(tanh_chain(10, n), without_arena());
  EXPECT_TRUE(p.direct()) << p.codegen_notes();
  EXPECT_FALSE(q.direct());
  EXPECT_FALSE(unplanned.direct()) << "direct steps need the arena";
  // v0..v8 are intermediates, each live from its step to the next: two regions suffice.
  EXPECT_EQ(p.num_arena_values(), 9u) << p.str();
  EXPECT_EQ(p.arena_bytes(), 2 * n * 4) << p.str();
  EXPECT_EQ(p.arena_naive_bytes(), 9 * n * 4) << p.str();
  EXPECT_EQ(unplanned.arena_bytes(), 0) << unplanned.str();
  ASSERT_EQ(p.steps().size(), 10u);
  EXPECT_EQ(p.steps()[0].arena, std::vector<int64_t>{0}) << p.str();
  EXPECT_EQ(p.steps()[1].arena, std::vector<int64_t>{n * 4}) << p.str();
  EXPECT_EQ(p.steps()[9].arena, std::vector<int64_t>{-1}) << p.str(); // the result

  Tensor x = randn({n}, dz::f32, 41);
  Tensor want = unplanned.run({x})[0];
  expect_same(p.run({x})[0], want); // the same kernels, so the same bits
  size_t before = large_allocations();
  Tensor got = p.run({x})[0];
  EXPECT_EQ(large_allocations() - before, 1u)
      << "a direct run allocates its result only (its arena is the last run's)";
  expect_same(got, want);
  expect_same(q.run({x})[0], want);
  before = large_allocations();
  got = q.run({x})[0];
  EXPECT_EQ(large_allocations() - before, 2u) << "a run takes the arena and the result only";
  expect_same(got, want);
  before = large_allocations();
  unplanned.run({x});
  EXPECT_EQ(large_allocations() - before, 10u) << "without the arena every step allocates";
}

TEST(ExecutorArena, ResultsAndTheirViewsStayOutOfTheArenaAcrossRuns) {
  // %e is read by a reshape that is returned: %e shares the result's storage, so it must
  // not be placed in the arena (the next run would overwrite the caller's result).
  Program p = compile(R"(
func.func @f(%x: tensor<4x4xf64>) -> (tensor<16xf64>, tensor<4x4xf64>) {
  %e = "dz.exp"(%x) : (tensor<4x4xf64>) -> tensor<4x4xf64>
  %r = "dz.reshape"(%e) {shape = array<i64: 16>} : (tensor<4x4xf64>) -> tensor<16xf64>
  %s = "dz.sin"(%x) : (tensor<4x4xf64>) -> tensor<4x4xf64>
  %c = "dz.cos"(%s) : (tensor<4x4xf64>) -> tensor<4x4xf64>
  func.return %r, %c : tensor<16xf64>, tensor<4x4xf64>
})");
  EXPECT_EQ(p.num_arena_values(), 1u) << p.str(); // only %s
  Tensor x1 = randn({4, 4}, dz::f64, 42), x2 = randn({4, 4}, dz::f64, 43);
  std::vector<Tensor> first = p.run({x1});
  std::vector<Tensor> second = p.run({x2});
  expect_same(first[0], dz::exp(x1).reshape({16}));
  expect_same(first[1], dz::cos(dz::sin(x1)));
  expect_same(second[0], dz::exp(x2).reshape({16}));
  expect_same(second[1], dz::cos(dz::sin(x2)));
}

TEST(ExecutorArena, ModelStepMatchesTheProgramWithoutArena) {
  // Checked in the model tests below with the default options (arena on); here the MLP's
  // forward is compared bit for bit with the unplanned program.
  std::string ir = std::string("func.func @f") +
                   "(%x: tensor<8x5xf32>, %t: tensor<8xi64>, "
                   "%W1: tensor<5x16xf32>, %b1: tensor<16xf32>, %W2: tensor<16x3xf32>, "
                   "%b2: tensor<3xf32>) -> tensor<f32> {" +
                   R"(
  %h = "dz.linear"(%x, %W1, %b1) : (tensor<8x5xf32>, tensor<5x16xf32>, tensor<16xf32>) -> tensor<8x16xf32>
  %a = "dz.sigmoid"(%h) : (tensor<8x16xf32>) -> tensor<8x16xf32>
  %y = "dz.linear"(%a, %W2, %b2) : (tensor<8x16xf32>, tensor<16x3xf32>, tensor<3xf32>) -> tensor<8x3xf32>
  %loss = "dz.softmax_cross_entropy"(%y, %t) : (tensor<8x3xf32>, tensor<8xi64>) -> tensor<f32>
  func.return %loss : tensor<f32>
})";
  Program p = compile(ir), unplanned = compile(ir, without_arena());
  EXPECT_EQ(p.num_arena_values(), 3u) << p.str();
  EXPECT_LT(p.arena_bytes(), p.arena_naive_bytes()) << p.str();
  Tensor x = randn({8, 5}, dz::f32, 30), t = Tensor::from_i64({0, 1, 2, 1, 0, 2, 2, 1});
  Tensor W1 = randn({5, 16}, dz::f32, 31), b1 = randn({16}, dz::f32, 32);
  Tensor W2 = randn({16, 3}, dz::f32, 33), b2 = randn({3}, dz::f32, 34);
  for (int run = 0; run < 2; ++run)
    expect_same(p.run({x, t, W1, b1, W2, b2})[0], unplanned.run({x, t, W1, b1, W2, b2})[0]);
}

// ---- a whole model
// ---------------------------------------------------------------------------------

/// A 2-layer MLP (5 -> 16 -> 3, sigmoid) on a batch of 8 with softmax cross-entropy.
struct Mlp {
  Tensor x = randn({8, 5}, dz::f32, 30), t = Tensor::from_i64({0, 1, 2, 1, 0, 2, 2, 1});
  Tensor W1 = randn({5, 16}, dz::f32, 31) * 0.5, b1 = randn({16}, dz::f32, 32);
  Tensor W2 = randn({16, 3}, dz::f32, 33) * 0.5, b2 = randn({3}, dz::f32, 34);
  std::vector<Tensor> args() const { return {x, t, W1, b1, W2, b2}; }
};

const char *kMlpForward = R"(
  %h = "dz.linear"(%x, %W1, %b1) : (tensor<8x5xf32>, tensor<5x16xf32>, tensor<16xf32>) -> tensor<8x16xf32>
  %a = "dz.sigmoid"(%h) : (tensor<8x16xf32>) -> tensor<8x16xf32>
  %y = "dz.linear"(%a, %W2, %b2) : (tensor<8x16xf32>, tensor<16x3xf32>, tensor<3xf32>) -> tensor<8x3xf32>
  %loss = "dz.softmax_cross_entropy"(%y, %t) : (tensor<8x3xf32>, tensor<8xi64>) -> tensor<f32>
)";
/// The backward of kMlpForward as --dz-autodiff writes it: the eager backward rules of
/// SoftmaxCrossEntropy, Linear and Sigmoid in dz ops.
const char *kMlpBackward = R"(
  %p = "dz.softmax"(%y) {axis = 1 : i64} : (tensor<8x3xf32>) -> tensor<8x3xf32>
  %onehot = "dz.one_hot"(%t) {dtype = f32, num_classes = 3 : i64} : (tensor<8xi64>) -> tensor<8x3xf32>
  %d = "dz.sub"(%p, %onehot) : (tensor<8x3xf32>, tensor<8x3xf32>) -> tensor<8x3xf32>
  %scale = "dz.constant"() {value = dense<0.125> : tensor<f32>} : () -> tensor<f32>
  %gy = "dz.mul"(%d, %scale) : (tensor<8x3xf32>, tensor<f32>) -> tensor<8x3xf32>
  %gW2 = "dz.matmul"(%a, %gy) {transpose_a = true, transpose_b = false} : (tensor<8x16xf32>, tensor<8x3xf32>) -> tensor<16x3xf32>
  %gb2 = "dz.sum_to"(%gy) {shape = array<i64: 3>} : (tensor<8x3xf32>) -> tensor<3xf32>
  %ga = "dz.matmul"(%gy, %W2) {transpose_a = false, transpose_b = true} : (tensor<8x3xf32>, tensor<16x3xf32>) -> tensor<8x16xf32>
  %one = "dz.constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
  %oma = "dz.sub"(%one, %a) : (tensor<f32>, tensor<8x16xf32>) -> tensor<8x16xf32>
  %ga_a = "dz.mul"(%ga, %a) : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x16xf32>
  %gh = "dz.mul"(%ga_a, %oma) : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x16xf32>
  %gW1 = "dz.matmul"(%x, %gh) {transpose_a = true, transpose_b = false} : (tensor<8x5xf32>, tensor<8x16xf32>) -> tensor<5x16xf32>
  %gb1 = "dz.sum_to"(%gh) {shape = array<i64: 16>} : (tensor<8x16xf32>) -> tensor<16xf32>
)";
const char *kMlpSignature =
    "(%x: tensor<8x5xf32>, %t: tensor<8xi64>, %W1: tensor<5x16xf32>, %b1: tensor<16xf32>, "
    "%W2: tensor<16x3xf32>, %b2: tensor<3xf32>)";

TEST(ExecutorModel, MlpForwardAndLossMatchEager) {
  Mlp m;
  Program p = compile(std::string("func.func @mlp") + kMlpSignature +
                      " -> (tensor<f32>, tensor<8x3xf32>) {" + kMlpForward +
                      "  func.return %loss, %y : tensor<f32>, tensor<8x3xf32>\n}\n");
  std::vector<Tensor> out = p.run(m.args());
  ASSERT_EQ(out.size(), 2u);
  Variable y = F::linear(F::sigmoid(F::linear(m.x, m.W1, Variable(m.b1))), m.W2, Variable(m.b2));
  Variable loss = F::softmax_cross_entropy(y, m.t);
  expect_same(out[0], loss.data());
  expect_same(out[1], y.data());
  // Running again gives the same numbers (no state left between runs).
  expect_same(p.run(m.args())[0], loss.data());
}

TEST(ExecutorModel, MlpTrainingStepGradientsMatchEagerBackward) {
  // The backward of the MLP as --dz-autodiff writes it: the eager backward rules of
  // SoftmaxCrossEntropy, Linear and Sigmoid in dz ops.
  Mlp m;
  Program p = compile(std::string("func.func @step") + kMlpSignature +
                      " -> (tensor<f32>, tensor<5x16xf32>, tensor<16xf32>, tensor<16x3xf32>, "
                      "tensor<3xf32>) {" +
                      kMlpForward + kMlpBackward + R"(
  func.return %loss, %gW1, %gb1, %gW2, %gb2 : tensor<f32>, tensor<5x16xf32>, tensor<16xf32>, tensor<16x3xf32>, tensor<3xf32>
}
)");
  std::vector<Tensor> out = p.run(m.args());
  ASSERT_EQ(out.size(), 5u);

  Variable W1(m.W1), b1(m.b1), W2(m.W2), b2(m.b2);
  Variable loss =
      F::softmax_cross_entropy(F::linear(F::sigmoid(F::linear(m.x, W1, b1)), W2, b2), m.t);
  loss.backward();
  expect_same(out[0], loss.data());
  expect_same(out[1], W1.grad().data(), 1e-6);
  expect_same(out[2], b1.grad().data(), 1e-6);
  expect_same(out[3], W2.grad().data(), 1e-6);
  expect_same(out[4], b2.grad().data(), 1e-6);
  // Intermediates die early: far fewer live values than the 26 slots of the step.
  EXPECT_LT(p.peak_live_slots(), p.num_slots() / 2) << p.str();
}

// ---- direct steps ----------------------------------------------------------------------------

dz::codegen::BuildOptions tensor_steps() {
  dz::codegen::BuildOptions options;
  options.direct = false;
  return options;
}

TEST(ExecutorDirect, TrainingStepRunsDirectAndBitwiseAsTheTensorSteps) {
  Mlp m;
  const std::string ir = std::string("func.func @step") + kMlpSignature +
                         " -> (tensor<f32>, tensor<5x16xf32>, tensor<16xf32>, tensor<16x3xf32>, "
                         "tensor<3xf32>, tensor<8x3xf32>) {" +
                         kMlpForward + kMlpBackward + R"(
  %sq = "dz.square"(%y) : (tensor<8x3xf32>) -> tensor<8x3xf32>
  func.return %loss, %gW1, %gb1, %gW2, %gb2, %sq : tensor<f32>, tensor<5x16xf32>, tensor<16xf32>, tensor<16x3xf32>, tensor<3xf32>, tensor<8x3xf32>
}
)";
  Program p = compile(ir), q = compile(ir, tensor_steps());
  ASSERT_TRUE(p.direct()) << p.codegen_notes() << "\n" << p.str();
  EXPECT_NE(p.codegen_notes().find("direct steps"), std::string::npos) << p.codegen_notes();
  EXPECT_FALSE(q.direct());
  for (int run = 0; run < 3; ++run) { // the arena is reused from the second run on
    std::vector<Tensor> got = p.run(m.args()), want = q.run(m.args());
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i)
      expect_same(got[i], want[i]);
  }
}

TEST(ExecutorDirect, GatherLossReshapedAndConstantResultsMatchTheTensorSteps) {
  // get_item, mean_squared_error, a batched matmul, a reshape of an intermediate and a
  // constant as results (each gets a buffer of its own), and a reshape inside the program.
  const std::string ir = R"(
func.func @f(%x: tensor<3x4xf64>, %y: tensor<3x4xf64>, %a: tensor<2x4x5xf64>, %b: tensor<2x5x3xf64>) -> (tensor<4xf64>, tensor<f64>, tensor<2x4x3xf64>, tensor<12xf64>, tensor<2xf64>, tensor<4x3xf64>) {
  %r = "dz.get_item"(%x) {offsets = array<i64: 4, 5, 6, 7>, shape = array<i64: 4>} : (tensor<3x4xf64>) -> tensor<4xf64>
  %m = "dz.mean_squared_error"(%x, %y) : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<f64>
  %c = "dz.matmul"(%a, %b) : (tensor<2x4x5xf64>, tensor<2x5x3xf64>) -> tensor<2x4x3xf64>
  %e = "dz.exp"(%x) : (tensor<3x4xf64>) -> tensor<3x4xf64>
  %v = "dz.reshape"(%e) {shape = array<i64: 12>} : (tensor<3x4xf64>) -> tensor<12xf64>
  %k = "dz.constant"() {value = dense<[1.5, -2.0]> : tensor<2xf64>} : () -> tensor<2xf64>
  %s = "dz.sin"(%y) : (tensor<3x4xf64>) -> tensor<3x4xf64>
  %t = "dz.reshape"(%s) {shape = array<i64: 4, 3>} : (tensor<3x4xf64>) -> tensor<4x3xf64>
  %u = "dz.tanh"(%t) : (tensor<4x3xf64>) -> tensor<4x3xf64>
  func.return %r, %m, %c, %v, %k, %u : tensor<4xf64>, tensor<f64>, tensor<2x4x3xf64>, tensor<12xf64>, tensor<2xf64>, tensor<4x3xf64>
}
)";
  Program p = compile(ir), q = compile(ir, tensor_steps());
  ASSERT_TRUE(p.direct()) << p.codegen_notes() << "\n" << p.str();
  Tensor x = randn({3, 4}, dz::f64, 50), y = randn({3, 4}, dz::f64, 51);
  Tensor a = randn({2, 4, 5}, dz::f64, 52), b = randn({2, 5, 3}, dz::f64, 53);
  std::vector<Tensor> first = p.run({x, y, a, b});
  for (int run = 0; run < 2; ++run) {
    std::vector<Tensor> got = p.run({x, y, a, b}), want = q.run({x, y, a, b});
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i)
      expect_same(got[i], want[i]);
  }
  // A later run does not write into what an earlier one returned.
  expect_same(first[3], dz::exp(x).reshape({12}));
  expect_same(first[4], Tensor::from({1.5, -2.0}, {2}, dz::f64));
  first[4] += 1.0; // the caller owns its results: the program's constant is not changed
  expect_same(p.run({x, y, a, b})[4], Tensor::from({1.5, -2.0}, {2}, dz::f64));
}

TEST(ExecutorDirect, ValuesOfNoElementsHaveNoBuffersAndSumToZeros) {
  const std::string ir = R"(
func.func @f(%x: tensor<0x3xf32>) -> (tensor<3x0xf32>, tensor<3xf32>, tensor<0x3xf32>) {
  %e = "dz.exp"(%x) : (tensor<0x3xf32>) -> tensor<0x3xf32>
  %r = "dz.reshape"(%e) {shape = array<i64: 3, 0>} : (tensor<0x3xf32>) -> tensor<3x0xf32>
  %s = "dz.sum_to"(%e) {shape = array<i64: 3>} : (tensor<0x3xf32>) -> tensor<3xf32>
  %k = "dz.constant"() {value = dense<> : tensor<0x3xf32>} : () -> tensor<0x3xf32>
  func.return %r, %s, %k : tensor<3x0xf32>, tensor<3xf32>, tensor<0x3xf32>
}
)";
  Program p = compile(ir), q = compile(ir, tensor_steps());
  ASSERT_TRUE(p.direct()) << p.codegen_notes() << "\n" << p.str();
  Tensor x({0, 3}, dz::f32);
  std::vector<Tensor> got = p.run({x}), want = q.run({x});
  ASSERT_EQ(got.size(), 3u);
  for (size_t i = 0; i < got.size(); ++i)
    expect_same(got[i], want[i]);
  expect_same(got[1], dz::zeros({3}, dz::f32));
}

TEST(ExecutorDirect, AResultIsComputedIntoTheCallersBufferOnlyWhereThatIsSafe) {
  const std::string ir = R"(
func.func @f(%x: tensor<3x4xf64>, %y: tensor<3x4xf64>) -> (tensor<3x4xf64>, tensor<3x4xf64>, tensor<3x4xf64>, tensor<3x4xf64>) {
  %e = "dz.exp"(%x) : (tensor<3x4xf64>) -> tensor<3x4xf64>
  %s = "dz.sin"(%y) : (tensor<3x4xf64>) -> tensor<3x4xf64>
  func.return %e, %s, %s, %y : tensor<3x4xf64>, tensor<3x4xf64>, tensor<3x4xf64>, tensor<3x4xf64>
}
)";
  Program p = compile(ir), q = compile(ir, tensor_steps());
  ASSERT_TRUE(p.direct()) << p.codegen_notes() << "\n" << p.str();
  Tensor x = randn({3, 4}, dz::f64, 60), y = randn({3, 4}, dz::f64, 61);
  const Tensor *args[] = {&x, &y};
  std::vector<Tensor> want = q.run({x, y});

  // Result 0 goes into the caller's buffer; results 1 and 2 are one value (each needs its
  // tensor), result 3 is an argument: those ignore the buffers offered.
  Tensor buf0({3, 4}, dz::f64), buf1({3, 4}, dz::f64), buf2({3, 4}, dz::f64), buf3({3, 4}, dz::f64);
  const Tensor *into[] = {&buf0, &buf1, &buf2, &buf3};
  std::vector<Tensor> got;
  p.run(args, got, into);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_FALSE(got[0].defined());
  expect_same(buf0, want[0]);
  for (size_t i = 1; i < 4; ++i) {
    ASSERT_TRUE(got[i].defined()) << i;
    expect_same(got[i], want[i]);
    EXPECT_FALSE(got[i].shares_storage(*into[i])) << i;
  }
  EXPECT_TRUE(got[3].shares_storage(y));

  // A buffer that overlaps an argument, or of another type, is not written into.
  Tensor wrong({4, 3}, dz::f64);
  for (const Tensor *offered : std::initializer_list<const Tensor *>{&x, &wrong}) {
    const Tensor before = offered->copy();
    const Tensor *into2[] = {offered, nullptr, nullptr, nullptr};
    p.run(args, got, into2);
    ASSERT_TRUE(got[0].defined());
    expect_same(got[0], want[0]);
    expect_same(*offered, before);
  }

  // The tensor steps take no buffer: every result comes back as run() returns it.
  q.run(args, got, into);
  for (size_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(got[i].defined()) << i;
    expect_same(got[i], want[i]);
  }
}

TEST(ExecutorDirect, AnOpWithoutDirectKernelRunsEveryStepAsATensorKernel) {
  Program p = compile(R"(
func.func @f(%x: tensor<3x4xf32>) -> tensor<4x3xf32> {
  %e = "dz.exp"(%x) : (tensor<3x4xf32>) -> tensor<3x4xf32>
  %t = "dz.transpose"(%e) {perm = array<i64: 1, 0>} : (tensor<3x4xf32>) -> tensor<4x3xf32>
  func.return %t : tensor<4x3xf32>
}
)");
  EXPECT_FALSE(p.direct());
  EXPECT_NE(p.codegen_notes().find("dz.transpose"), std::string::npos) << p.codegen_notes();
  Tensor x = randn({3, 4}, dz::f32, 60);
  expect_same(p.run({x})[0], dz::exp(x).transpose({1, 0}));
}

TEST(ExecutorDirect, LabelOutOfRangeThrowsNamingTheOpAndTheProgramRunsAfterIt) {
  Program p = compile(std::string("func.func @f") + kMlpSignature + " -> tensor<f32> {" +
                      kMlpForward + "  func.return %loss : tensor<f32>\n}\n");
  ASSERT_TRUE(p.direct()) << p.codegen_notes();
  Mlp m;
  std::vector<Tensor> args = m.args();
  args[1] = Tensor::from_i64({0, 1, 2, 3, 0, 2, 2, 1});
  try {
    p.run(args);
    FAIL() << "label 3 of 3 classes was accepted";
  } catch (const dz::Error &e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("dz.softmax_cross_entropy"), std::string::npos) << msg;
    EXPECT_NE(msg.find("label 3 at row 3"), std::string::npos) << msg;
  }
  Variable y = F::linear(F::sigmoid(F::linear(m.x, m.W1, Variable(m.b1))), m.W2, Variable(m.b2));
  expect_same(p.run(m.args())[0], F::softmax_cross_entropy(y, m.t).data());
}

TEST(ExecutorDirect, RunsFromSeveralThreadsAtOnceEachTakeTheirOwnArena) {
  const int64_t n = 4096;
  Program p = compile(tanh_chain(6, n));
  ASSERT_TRUE(p.direct()) << p.codegen_notes();
  ASSERT_GT(p.arena_bytes(), 0);
  std::vector<Tensor> xs, want;
  for (int i = 0; i < 4; ++i) {
    xs.push_back(randn({n}, dz::f32, uint64_t(70 + i)));
    Tensor v = dz::exp(xs.back());
    for (int k = 1; k < 6; ++k)
      v = dz::tanh(v);
    want.push_back(v);
  }
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      for (int run = 0; run < 50; ++run)
        mismatches[size_t(i)] += dz::max_abs_diff(p.run({xs[size_t(i)]})[0], want[size_t(i)]) != 0;
    });
  for (std::thread &t : threads)
    t.join();
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(mismatches[size_t(i)], 0) << "thread " << i;
}

} // namespace
