// test_fusion.cpp - --dz-fuse keeps programs exact: dz IR through --dz-pipeline, then once
// without and once with --dz-fuse, built into CPU programs and run on the same inputs;
// the results must be equal bit for bit (the executor runs a dz.fused op by op with the
// kernels of the unfused ops, so fusion changes the grouping, never the arithmetic).
#include "ir_programs.h"
#include "mlp_step_ir.h"

#include <dzc/codegen/ExecutorBuild.h>
#include <dzc/ir/DzOps.h>
#include <dzc/passes/Passes.h>

#include <mlir/IR/BuiltinOps.h>
#include <mlir/IR/Diagnostics.h>
#include <mlir/IR/MLIRContext.h>
#include <mlir/Parser/Parser.h>
#include <mlir/Pass/PassManager.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <unistd.h>
#include <fstream>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using dz::Tensor;
using dz::codegen::Program;

/// A program compiled from dz IR, how many dz.fused ops its function has and how many
/// of them run as JIT-compiled kernels.
struct Compiled {
  Program program;
  int fused_ops = 0;
  int compiled = 0;
};

/// How a test compiles: unfused, fused with each group run op by op by the runtime's
/// kernels (bit for bit what unfused computes), or fused with generated code.
enum class Mode { Unfused, FusedOpByOp, FusedJit };

/// Runs --dz-pipeline (without the convolution lowering) on `ir`, with --dz-fuse unless
/// Unfused, and builds the Program of each func.func. Throws dz::Error with the
/// diagnostics when a stage fails.
std::vector<Compiled> compile_all(const std::string &ir, Mode mode,
                                  const std::vector<std::pair<int, int>> &donations = {}) {
  dz::codegen::BuildOptions options;
  options.jit_fused = mode == Mode::FusedJit;
  options.donations = donations;
  std::vector<int> fused_ops;
  std::vector<Program> programs = dz::testing::build_programs(
      ir,
      [&](mlir::PassManager &pm) {
        dz::passes::buildPipeline(pm, {.lower_conv = false, .fuse = mode != Mode::Unfused});
      },
      [&](mlir::func::FuncOp fn) {
        int n = 0;
        fn.walk([&](dz::ir::FusedOp) { ++n; });
        fused_ops.push_back(n);
      },
      options);
  std::vector<Compiled> out;
  for (size_t i = 0; i < programs.size(); ++i) {
    int compiled = int(programs[i].num_fused_kernels());
    out.push_back({std::move(programs[i]), fused_ops[i], compiled});
  }
  return out;
}

Compiled compile(const std::string &ir, Mode mode) {
  return std::move(compile_all(ir, mode).at(0));
}

void expect_bitwise_equal(const Tensor &got, const Tensor &want, size_t i) {
  ASSERT_EQ(got.shape(), want.shape()) << "result " << i;
  ASSERT_EQ(got.dtype(), want.dtype()) << "result " << i;
  EXPECT_EQ(std::memcmp(got.raw(), want.raw(), got.nbytes()), 0) << "result " << i << ": fused\n"
                                                                 << got << "\nunfused\n"
                                                                 << want;
}

/// Runs `ir` unfused and fused on `args`; checks that fusion made at least
/// The generated kernels evaluate f32 exp/log/tanh/sin/cos by MLIR's polynomial
/// approximations and reduce in loop order: close to the runtime's kernels, not equal.
void expect_jit_close(const Tensor &got, const Tensor &want, size_t i) {
  ASSERT_EQ(got.shape(), want.shape()) << "result " << i;
  ASSERT_EQ(got.dtype(), want.dtype()) << "result " << i;
  double tol = want.dtype() == dz::f64 ? 1e-12 : 2e-6;
  EXPECT_TRUE(dz::allclose(got, want, tol, tol)) << "result " << i << ": generated code\n"
                                                 << got << "\nruntime kernels\n"
                                                 << want;
}

/// Runs `ir` unfused, fused op by op and fused with generated code on `args`; checks
/// that fusion made at least `min_fused_ops` groups, that every one of them got a
/// kernel, that op by op every result is bit for bit the unfused one and that the
/// generated code's results are close to it. Returns the fused program's results.
std::vector<Tensor> expect_fusion_exact(const std::string &ir, const std::vector<Tensor> &args,
                                        int min_fused_ops) {
  Compiled plain = compile(ir, Mode::Unfused), fused = compile(ir, Mode::FusedOpByOp),
           jit = compile(ir, Mode::FusedJit);
  EXPECT_EQ(plain.fused_ops, 0);
  EXPECT_GE(fused.fused_ops, min_fused_ops);
  EXPECT_EQ(fused.compiled, 0);
  EXPECT_EQ(jit.compiled, jit.fused_ops) << jit.program.str();
  std::vector<Tensor> want = plain.program.run(args), got = fused.program.run(args),
                      generated = jit.program.run(args);
  EXPECT_EQ(got.size(), want.size());
  EXPECT_EQ(generated.size(), want.size());
  for (size_t i = 0; i < got.size() && i < want.size(); ++i)
    expect_bitwise_equal(got[i], want[i], i);
  for (size_t i = 0; i < generated.size() && i < want.size(); ++i)
    expect_jit_close(generated[i], want[i], i);
  return got;
}

using dz::testing::kMlpStep;

TEST(Fusion, MlpTrainingStepMatchesUnfused) {
  std::vector<int64_t> labels(32);
  for (size_t i = 0; i < labels.size(); ++i)
    labels[i] = int64_t(i * 7 % 10);
  std::vector<Tensor> params = {
      dz::randn({20, 64}, dz::f32, 41) * 0.3, dz::randn({64}, dz::f32, 42),
      dz::randn({64, 10}, dz::f32, 43) * 0.3, dz::randn({10}, dz::f32, 44)};
  Tensor x = dz::randn({32, 20}, dz::f32, 40), t = Tensor::from_i64(labels);
  Compiled plain = compile(kMlpStep, Mode::Unfused), fused = compile(kMlpStep, Mode::FusedOpByOp),
           jit = compile(kMlpStep, Mode::FusedJit);
  EXPECT_EQ(fused.fused_ops, 7);
  EXPECT_EQ(jit.compiled, 7) << jit.program.str();
  // Three training steps, each fed the parameters the previous one returned.
  std::vector<Tensor> p_plain = params, p_fused = params, p_jit = params;
  for (int step = 0; step < 3; ++step) {
    std::vector<Tensor> want =
        plain.program.run({x, t, p_plain[0], p_plain[1], p_plain[2], p_plain[3]});
    std::vector<Tensor> got =
        fused.program.run({x, t, p_fused[0], p_fused[1], p_fused[2], p_fused[3]});
    std::vector<Tensor> generated = jit.program.run({x, t, p_jit[0], p_jit[1], p_jit[2], p_jit[3]});
    ASSERT_EQ(got.size(), 5u);
    ASSERT_EQ(want.size(), 5u);
    ASSERT_EQ(generated.size(), 5u);
    for (size_t i = 0; i < 5; ++i) {
      expect_bitwise_equal(got[i], want[i], i);
      expect_jit_close(generated[i], want[i], i);
    }
    p_plain.assign(want.begin() + 1, want.end());
    p_fused.assign(got.begin() + 1, got.end());
    p_jit.assign(generated.begin() + 1, generated.end());
  }
}

TEST(Fusion, DonatedParametersAreUpdatedInPlace) {
  // The SGD updates W - lr * g of kMlpStep are results 1-4, which dz::compile copies
  // into arguments 2-5: donated, each fused update writes into its parameter's buffer.
  std::vector<Tensor> args = {
      dz::randn({32, 20}, dz::f32, 40),       Tensor::from_i64(std::vector<int64_t>(32, 3)),
      dz::randn({20, 64}, dz::f32, 41) * 0.3, dz::randn({64}, dz::f32, 42),
      dz::randn({64, 10}, dz::f32, 43) * 0.3, dz::randn({10}, dz::f32, 44)};
  std::vector<Tensor> copies;
  for (const Tensor &a : args)
    copies.push_back(a.copy());
  Compiled plain = compile(kMlpStep, Mode::FusedJit),
           donated = std::move(
               compile_all(kMlpStep, Mode::FusedJit, {{1, 2}, {2, 3}, {3, 4}, {4, 5}}).at(0));
  EXPECT_EQ(plain.program.num_donated(), 0u);
  EXPECT_EQ(donated.program.num_donated(), 4u) << donated.program.str();
  std::vector<Tensor> want = plain.program.run(copies), got = donated.program.run(args);
  ASSERT_EQ(got.size(), 5u);
  for (size_t i = 0; i < 5; ++i)
    expect_bitwise_equal(got[i], want[i], i);
  for (size_t i = 1; i < 5; ++i)
    EXPECT_TRUE(got[i].shares_storage(args[i + 1])) << "result " << i;
  // x (32x20) given as a view of W2's buffer (64x10): W2 shares storage with another
  // argument, so its update is not written into it (x would change under the program).
  Tensor w2 = copies[4].copy();
  std::vector<Tensor> shared = {w2.reshape({32, 20}), copies[1], copies[2].copy(),
                                copies[3].copy(),     w2,        copies[5].copy()};
  std::vector<Tensor> alone = {w2.copy().reshape({32, 20}),
                               copies[1],
                               copies[2].copy(),
                               copies[3].copy(),
                               w2.copy(),
                               copies[5].copy()};
  std::vector<Tensor> with_alias = donated.program.run(shared),
                      want_alias = plain.program.run(alone);
  for (size_t i = 0; i < 5; ++i)
    expect_bitwise_equal(with_alias[i], want_alias[i], i);
  EXPECT_FALSE(with_alias[3].shares_storage(w2));
  EXPECT_TRUE(with_alias[1].shares_storage(shared[2]));
}

TEST(Fusion, SoftmaxAndLossChainsMatchUnfused) {
  // A softmax written out (max, then sub + exp + sum fused, then div) and a mean squared
  // error (sub + square + sum fused, then div), in f64.
  std::vector<Tensor> out =
      expect_fusion_exact(R"(
func.func @f(%x: tensor<6x5xf64>, %y: tensor<6x5xf64>) -> (tensor<6x5xf64>, tensor<f64>) {
  %m = dz.max %x {axes = array<i64: 1>, keepdims = true} : tensor<6x5xf64> -> tensor<6x1xf64>
  %d = dz.sub %x, %m : (tensor<6x5xf64>, tensor<6x1xf64>) -> tensor<6x5xf64>
  %e = dz.exp %d : tensor<6x5xf64>
  %s = dz.sum %e {axes = array<i64: 1>, keepdims = true} : tensor<6x5xf64> -> tensor<6x1xf64>
  %p = dz.div %e, %s : (tensor<6x5xf64>, tensor<6x1xf64>) -> tensor<6x5xf64>
  %n = dz.constant dense<6.0> : tensor<f64>
  %r = dz.sub %p, %y : (tensor<6x5xf64>, tensor<6x5xf64>) -> tensor<6x5xf64>
  %q = dz.square %r : tensor<6x5xf64>
  %l = dz.sum %q {axes = array<i64>, keepdims = false} : tensor<6x5xf64> -> tensor<f64>
  %loss = dz.div %l, %n : (tensor<f64>, tensor<f64>) -> tensor<f64>
  return %p, %loss : tensor<6x5xf64>, tensor<f64>
})",
                          {dz::randn({6, 5}, dz::f64, 50), dz::randn({6, 5}, dz::f64, 51)}, 2);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(dz::allclose(out[0].sum({1}), dz::ones({6}, dz::f64), 1e-12, 1e-12));
}

TEST(Fusion, ComparisonsCastsAndBroadcastsMatchUnfused) {
  // equal / cast / clip_mask / step / broadcast_to / pow / leaky_relu in one chain, with a
  // smaller value read outside (it stays out of the 4x3 group) and a splat constant.
  expect_fusion_exact(R"(
func.func @f(%x: tensor<4x3xf32>, %b: tensor<3xf32>, %k: tensor<4x3xi64>) -> (tensor<4x3xf32>, tensor<3xf32>, tensor<4xf32>) {
  %c = dz.constant dense<0.5> : tensor<f32>
  %e = dz.exp %b : tensor<3xf32>
  %eb = dz.broadcast_to %e {shape = array<i64: 4, 3>} : tensor<3xf32> -> tensor<4x3xf32>
  %kf = dz.cast %k {dtype = f32} : tensor<4x3xi64> -> tensor<4x3xf32>
  %z = dz.equal_mask %kf, %eb : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  %m = dz.clip_mask %x {max = 1.0 : f64, min = -1.0 : f64} : tensor<4x3xf32>
  %s = dz.step %x : tensor<4x3xf32>
  %p = dz.pow_scalar %x {exponent = 3.0 : f64} : tensor<4x3xf32>
  %l = dz.leaky_relu %p {slope = 0.1 : f64} : tensor<4x3xf32>
  %0 = dz.add %z, %m : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  %1 = dz.mul %0, %s : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  %2 = dz.maximum %1, %l : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  %3 = dz.mul %2, %c : (tensor<4x3xf32>, tensor<f32>) -> tensor<4x3xf32>
  %4 = dz.sum %3 {axes = array<i64: 1>, keepdims = false} : tensor<4x3xf32> -> tensor<4xf32>
  return %2, %e, %4 : tensor<4x3xf32>, tensor<3xf32>, tensor<4xf32>
})",
                      {dz::randn({4, 3}, dz::f32, 60), dz::randn({3}, dz::f32, 61),
                       Tensor::from_i64({0, 1, 2, 1, 1, 0, 3, 1, 2, 0, 0, 1}).reshape({4, 3})},
                      1);
}

TEST(Fusion, OneKernelServesEverySizeAndEveryConstant) {
  // The same groups at three batch sizes, each with its mean's 1/N as a constant: a
  // broadcast bias, a row reduction and a column reduction (loop nests), and a flat chain
  // with an integer constant. The kernels take the sizes and constants as arguments, so
  // the programs of the second and third size compile nothing and still compute their own
  // results.
  auto ir = [](int n) {
    std::string N = std::to_string(n), inv = std::to_string(1.0 / n);
    return R"(
func.func @f(%x: tensor<)" +
           N + R"(x5xf64>, %b: tensor<5xf64>, %k: tensor<)" + N + R"(x5xi64>) -> (tensor<)" + N +
           R"(xf64>, tensor<5xf64>, tensor<)" + N + R"(x5xi64>) {
  %c = dz.constant dense<)" +
           inv + R"(> : tensor<f64>
  %three = dz.constant dense<3> : tensor<i64>
  %0 = dz.add %x, %b : (tensor<)" +
           N + R"(x5xf64>, tensor<5xf64>) -> tensor<)" + N + R"(x5xf64>
  %1 = dz.tanh %0 : tensor<)" +
           N + R"(x5xf64>
  %2 = dz.mul %1, %c : (tensor<)" +
           N + R"(x5xf64>, tensor<f64>) -> tensor<)" + N + R"(x5xf64>
  %rows = dz.sum %2 {axes = array<i64: 1>, keepdims = false} : tensor<)" +
           N + R"(x5xf64> -> tensor<)" + N + R"(xf64>
  %3 = dz.square %x : tensor<)" +
           N + R"(x5xf64>
  %4 = dz.mul %3, %c : (tensor<)" +
           N + R"(x5xf64>, tensor<f64>) -> tensor<)" + N + R"(x5xf64>
  %cols = dz.sum %4 {axes = array<i64: 0>, keepdims = false} : tensor<)" +
           N + R"(x5xf64> -> tensor<5xf64>
  %5 = dz.mul %k, %three : (tensor<)" +
           N + R"(x5xi64>, tensor<i64>) -> tensor<)" + N + R"(x5xi64>
  %6 = dz.add %5, %k : (tensor<)" +
           N + R"(x5xi64>, tensor<)" + N + R"(x5xi64>) -> tensor<)" + N + R"(x5xi64>
  return %rows, %cols, %6 : tensor<)" +
           N + R"(xf64>, tensor<5xf64>, tensor<)" + N + R"(x5xi64>
})";
  };
  std::vector<Compiled> kept; // the first program keeps the kernels the others reuse
  for (int n : {6, 9, 2}) {
    SCOPED_TRACE("batch " + std::to_string(n));
    Compiled jit = compile(ir(n), Mode::FusedJit), plain = compile(ir(n), Mode::Unfused);
    EXPECT_GE(jit.compiled, 3) << jit.program.str();
    EXPECT_EQ(jit.compiled, jit.fused_ops) << jit.program.str();
    const std::string &notes = jit.program.codegen_notes();
    size_t groups = 0, kernels = 0, before = 0;
    ASSERT_EQ(std::sscanf(notes.c_str(), "JIT %zu groups in %zu kernels (%zu compiled before,",
                          &groups, &kernels, &before),
              3)
        << notes;
    if (!kept.empty()) { // (the first size may meet kernels of the tests run before it)
      EXPECT_EQ(before, kernels) << notes;
    }
    std::vector<int64_t> labels;
    for (int i = 0; i < n * 5; ++i)
      labels.push_back((i * 7 + n) % 9 - 4);
    std::vector<Tensor> args = {dz::randn({n, 5}, dz::f64, 70 + uint64_t(n)),
                                dz::randn({5}, dz::f64, 80 + uint64_t(n)),
                                Tensor::from_i64(labels).reshape({n, 5})};
    std::vector<Tensor> got = jit.program.run(args), want = plain.program.run(args);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i)
      expect_jit_close(got[i], want[i], i);
    kept.push_back(std::move(jit));
  }
}

/// The counts of a program's codegen notes: "JIT G groups in K kernels (B compiled
/// before, D from the disk cache)".
struct JitCounts {
  size_t groups = 0, kernels = 0, before = 0, disk = 0;
};
JitCounts jit_counts(const Program &p) {
  JitCounts c;
  int n = std::sscanf(p.codegen_notes().c_str(),
                      "JIT %zu groups in %zu kernels (%zu compiled before, %zu from the disk cache)",
                      &c.groups, &c.kernels, &c.before, &c.disk);
  EXPECT_EQ(n, 4) << p.codegen_notes();
  return c;
}

TEST(Fusion, ALaterCompileLoadsTheKernelsFromTheDiskCacheAndACorruptFileIsRecompiled) {
  // Kernels of their own (sin, cos and erf appear in no other test's groups; f64 erf
  // calls libm, which a loaded object finds in the process) in a cache folder of this test. Once no program of the process holds them, compiling again
  // loads their object code from disk, as another process would; a corrupt file is
  // compiled again and replaced; DZ_DISABLE=kernel-cache writes nothing.
  const std::string ir = R"(
func.func @f(%x: tensor<7x3xf64>, %y: tensor<3xf32>) -> (tensor<7x3xf64>, tensor<3xf32>) {
  %0 = dz.sin %x : tensor<7x3xf64>
  %1 = dz.erf %0 : tensor<7x3xf64>
  %2 = dz.mul %1, %x : (tensor<7x3xf64>, tensor<7x3xf64>) -> tensor<7x3xf64>
  %3 = dz.cos %y : tensor<3xf32>
  %4 = dz.sin %3 : tensor<3xf32>
  return %2, %4 : tensor<7x3xf64>, tensor<3xf32>
})";
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("dz-kernel-cache-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const char *old = std::getenv("XDG_CACHE_HOME");
  const std::string saved = old ? old : "";
  ::setenv("XDG_CACHE_HOME", dir.c_str(), 1);
  std::vector<Tensor> args = {dz::randn({7, 3}, dz::f64, 5), dz::randn({3}, dz::f32, 6)};
  std::vector<Tensor> want = compile(ir, Mode::Unfused).program.run(args);
  auto check = [&](const Program &p) {
    std::vector<Tensor> got = p.run(args);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i)
      expect_jit_close(got[i], want[i], i);
  };
  auto objects = [&] {
    std::vector<fs::path> files;
    for (const auto &e : fs::directory_iterator(dir / "dzc" / "cpu"))
      files.push_back(e.path());
    return files;
  };
  {
    Compiled first = compile(ir, Mode::FusedJit);
    JitCounts c = jit_counts(first.program);
    EXPECT_EQ(c.before + c.disk, 0u) << first.program.codegen_notes();
    check(first.program);
  }
  ASSERT_EQ(objects().size(), 1u);
  {
    Compiled loaded = compile(ir, Mode::FusedJit);
    JitCounts c = jit_counts(loaded.program);
    EXPECT_EQ(c.disk, c.kernels) << loaded.program.codegen_notes();
    check(loaded.program);
  }
  const fs::path file = objects().at(0);
  const auto size = fs::file_size(file);
  { std::ofstream(file, std::ios::binary | std::ios::trunc) << "not an object file"; }
  {
    Compiled recompiled = compile(ir, Mode::FusedJit);
    JitCounts c = jit_counts(recompiled.program);
    EXPECT_EQ(c.disk, 0u) << recompiled.program.codegen_notes();
    check(recompiled.program);
  }
  EXPECT_EQ(fs::file_size(file), size); // written again, whole
  fs::remove_all(dir);
  ::setenv("DZ_DISABLE", "kernel-cache", 1);
  {
    Compiled uncached = compile(ir, Mode::FusedJit);
    check(uncached.program);
  }
  ::unsetenv("DZ_DISABLE");
  EXPECT_FALSE(fs::exists(dir / "dzc" / "cpu"));
  if (old)
    ::setenv("XDG_CACHE_HOME", saved.c_str(), 1);
  else
    ::unsetenv("XDG_CACHE_HOME");
}

TEST(Fusion, EveryGradientRuleOfGradcheckMatchesUnfused) {
  // tests/gradcheck/rules.mlir: one function per gradient rule, first and second
  // derivatives (double backprop), f64 inputs in [0.3, 1.3), i64 labels 0.
  const std::string rules = dz::testing::gradcheck_rules();
  std::vector<Compiled> plain = compile_all(rules, Mode::Unfused),
                        fused = compile_all(rules, Mode::FusedOpByOp),
                        jit = compile_all(rules, Mode::FusedJit);
  ASSERT_EQ(plain.size(), fused.size());
  ASSERT_EQ(plain.size(), jit.size());
  int groups = 0, compiled = 0;
  for (size_t f = 0; f < plain.size(); ++f) {
    SCOPED_TRACE("@" + plain[f].program.name());
    std::vector<Tensor> args = dz::testing::gradcheck_args(plain[f].program, 70 + f);
    std::vector<Tensor> want = plain[f].program.run(args), got = fused[f].program.run(args),
                        generated = jit[f].program.run(args);
    ASSERT_EQ(got.size(), want.size());
    ASSERT_EQ(generated.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      expect_bitwise_equal(got[i], want[i], i);
      expect_jit_close(generated[i], want[i], i);
    }
    groups += fused[f].fused_ops;
    compiled += jit[f].compiled;
  }
  EXPECT_GT(groups, 20);
  EXPECT_EQ(compiled, groups);
}

} // namespace
