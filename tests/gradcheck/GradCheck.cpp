// GradCheck.cpp - dz-gradcheck: checks the gradients --dz-autodiff builds against central
// finite differences, every function run on the CPU executor (codegen/cpu) in float64.
//
// For every func.func of the input (float arguments get deterministic pseudo-random
// values in [0.3, 1.3), i64 arguments the labels i % 3), three runs must agree to 1e-5
// relative to max(|value|, 1) (1e-3 for a function that computes in float32 somewhere,
// with a step of 1e-2 instead of 1e-4: its rounding would swamp the smaller step):
// - the reference: each dz.grad %y wrt %x is d(sum y)/dx by central differences, each
//   side one executor run of the function that computes y from the arguments and x
//   (the ops before the dz.grad). Where y depends on another dz.grad (a second
//   derivative), that function is expanded by --dz-autodiff first, so the outer
//   differences check the derivative of the inner gradient as autodiff built it (the
//   inner one is checked on its own). The rest of the function then runs with the
//   dz.grad results as arguments;
// - the function after --dz-autodiff;
// - the function after --dz-pipeline (fusion included: the fused kernels are JIT-compiled
//   for float64).
// Prints one line per function, and on a mismatch which result and element differ.
// Exit status 1 when one does not agree or cannot run, 2 on a bad command line or input.
#include <dzc/codegen/ExecutorBuild.h>
#include <dzc/ir/DzOps.h>
#include <dzc/passes/Passes.h>

#include <llvm/Support/raw_ostream.h>
#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/IR/Builders.h>
#include <mlir/IR/BuiltinOps.h>
#include <mlir/IR/DialectRegistry.h>
#include <mlir/IR/IRMapping.h>
#include <mlir/IR/MLIRContext.h>
#include <mlir/Parser/Parser.h>
#include <mlir/Pass/PassManager.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

using namespace mlir;
using dz::Tensor;
using llvm::SmallVector;

namespace {

/// The central differences' step and the tolerance: float64 throughout, or a function
/// that computes in float32 somewhere (whose rounding, about 1e-7, the step divides).
struct Precision {
  double eps, tolerance;
};
constexpr Precision kF64{1e-4, 1e-5}, kF32{1e-2, 1e-3};

Precision precisionOf(func::FuncOp fn) {
  bool f32 = false;
  auto check = [&](TypeRange types) {
    for (Type t : types)
      if (auto tensor = dyn_cast<RankedTensorType>(t))
        f32 |= tensor.getElementType().isF32();
  };
  check(fn.getArgumentTypes());
  fn.walk([&](Operation *op) { check(op->getResultTypes()); });
  return f32 ? kF32 : kF64;
}

/// A new func.func @name at the end of `module`: the ops of `fn` before `end`, where the
/// values `replaced` are read from new arguments after fn's own (the ops that define
/// them, dz.grad ops included, are left out), returning `results`.
func::FuncOp slice(ModuleOp module, func::FuncOp fn, Operation *end, ArrayRef<Value> replaced,
                   ArrayRef<Value> results, StringRef name) {
  OpBuilder b(module.getContext());
  b.setInsertionPointToEnd(module.getBody());
  SmallVector<Type> inputs(fn.getArgumentTypes());
  for (Value v : replaced)
    inputs.push_back(v.getType());
  SmallVector<Type> outputs;
  for (Value v : results)
    outputs.push_back(v.getType());
  auto sliced = func::FuncOp::create(b, fn.getLoc(), name, b.getFunctionType(inputs, outputs));
  Block *entry = sliced.addEntryBlock();
  IRMapping map;
  unsigned n = fn.getNumArguments();
  for (unsigned i = 0; i < n; ++i)
    map.map(fn.getArgument(i), entry->getArgument(i));
  auto mapReplaced = [&] {
    for (auto [i, v] : llvm::enumerate(replaced))
      map.map(v, entry->getArgument(n + unsigned(i)));
  };
  mapReplaced();
  b.setInsertionPointToEnd(entry);
  for (Operation &op : llvm::make_range(fn.front().begin(), end->getIterator())) {
    bool allReplaced = op.getNumResults() > 0 && llvm::all_of(op.getResults(), [&](Value r) {
                         return llvm::is_contained(replaced, r);
                       });
    if (allReplaced)
      continue;
    b.clone(op, map);
    mapReplaced(); // a clone maps all its results
  }
  SmallVector<Value> returned;
  for (Value v : results)
    returned.push_back(map.lookup(v));
  func::ReturnOp::create(b, fn.getLoc(), returned);
  return sliced;
}

/// Runs `pm` on `module`; false after its diagnostics when it fails.
bool runPasses(MLIRContext &context, ModuleOp module,
               const std::function<void(OpPassManager &)> &build) {
  PassManager pm(&context);
  build(pm);
  return succeeded(pm.run(module));
}

std::optional<dz::codegen::Program> build(func::FuncOp fn) {
  FailureOr<dz::codegen::Program> program = dz::codegen::buildProgram(fn);
  if (failed(program))
    return std::nullopt;
  return std::move(*program);
}

std::vector<Tensor> makeArgs(func::FuncOp func) {
  std::vector<Tensor> args;
  uint64_t state = 0x9E3779B97F4A7C15ull;
  for (Type type : func.getArgumentTypes()) {
    auto tensor = cast<RankedTensorType>(type);
    dz::Shape shape(tensor.getShape().begin(), tensor.getShape().end());
    std::vector<double> values(size_t(tensor.getNumElements()));
    for (size_t i = 0; i < values.size(); ++i) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      double u = double(state >> 11) / double(1ull << 53); // [0, 1)
      values[i] = isa<FloatType>(tensor.getElementType()) ? 0.3 + u : double(i % 3);
    }
    args.push_back(
        isa<FloatType>(tensor.getElementType())
            ? Tensor::from(values, shape, tensor.getElementType().isF32() ? dz::f32 : dz::f64)
            : Tensor::from_i64(std::vector<int64_t>(values.begin(), values.end()), shape));
  }
  return args;
}

double sum(const Tensor &t) {
  std::vector<double> v = t.to_vector();
  return std::accumulate(v.begin(), v.end(), 0.0);
}

/// The reference results of `fn`: its dz.grad results by central differences, then the
/// function itself on the executor with those as arguments. Functions it builds go into
/// `work`. std::nullopt after a message when a part cannot be built or run.
std::optional<std::vector<Tensor>> reference(MLIRContext &context, func::FuncOp fn,
                                             const std::vector<Tensor> &args, double eps,
                                             ModuleOp work) {
  std::string name = fn.getName().str();
  SmallVector<dz::ir::GradOp> grads;
  for (auto g : fn.front().getOps<dz::ir::GradOp>())
    grads.push_back(g);

  // Per dz.grad and x: the function (args..., x) -> y, and the one args -> x where x is
  // computed, not an argument.
  struct Probe {
    func::FuncOp y, x;
  };
  std::vector<std::vector<Probe>> probes;
  for (auto [gi, g] : llvm::enumerate(grads)) {
    probes.emplace_back();
    for (auto [xi, x] : llvm::enumerate(g.getXs())) {
      std::string tag = name + "_grad" + std::to_string(gi) + "_x" + std::to_string(xi);
      Probe p;
      p.y = slice(work, fn, g, {x}, {g.getY()}, tag + "_y");
      if (!isa<BlockArgument>(x))
        p.x = slice(work, fn, g, {}, {x}, tag + "_x");
      probes.back().push_back(p);
    }
  }
  SmallVector<Value> gradResults;
  for (auto g : grads)
    llvm::append_range(gradResults, g.getGrads());
  Operation *ret = fn.front().getTerminator();
  func::FuncOp rest =
      slice(work, fn, ret, gradResults, SmallVector<Value>(ret->getOperands()), name + "_rest");
  // Expands the dz.grad ops that the probes of second derivatives hold.
  if (!runPasses(context, work,
                 [](OpPassManager &pm) { pm.addPass(dz::passes::createAutodiffPass()); })) {
    llvm::errs() << "dz-gradcheck: @" << name << ": --dz-autodiff fails on its probes\n";
    return std::nullopt;
  }

  std::vector<Tensor> restArgs = args;
  for (auto [gi, g] : llvm::enumerate(grads)) {
    for (auto [xi, x] : llvm::enumerate(g.getXs())) {
      Probe &p = probes[gi][xi];
      std::optional<dz::codegen::Program> y = build(p.y);
      if (!y)
        return std::nullopt;
      Tensor x0;
      if (auto arg = dyn_cast<BlockArgument>(x)) {
        x0 = args[arg.getArgNumber()];
      } else {
        std::optional<dz::codegen::Program> xp = build(p.x);
        if (!xp)
          return std::nullopt;
        x0 = xp->run(args).at(0);
      }
      std::vector<double> base = x0.to_vector(), g(base.size());
      std::vector<Tensor> probeArgs = args;
      probeArgs.emplace_back();
      for (size_t i = 0; i < base.size(); ++i) {
        double sums[2];
        for (int side = 0; side < 2; ++side) {
          std::vector<double> moved = base;
          moved[i] += side ? -eps : eps;
          probeArgs.back() = Tensor::from(moved, x0.shape(), x0.dtype());
          sums[side] = sum(y->run(probeArgs).at(0));
        }
        g[i] = (sums[0] - sums[1]) / (2 * eps);
      }
      restArgs.push_back(Tensor::from(g, x0.shape(), x0.dtype()));
    }
  }
  std::optional<dz::codegen::Program> program = build(rest);
  if (!program)
    return std::nullopt;
  return program->run(restArgs);
}

struct Mismatch {
  double error = 0; // max |want - got| / max(|want|, 1)
  size_t result = 0, element = 0;
  double want = 0, got = 0;
  bool shapes = false; // the shapes differ
};

Mismatch compare(const std::vector<Tensor> &want, const std::vector<Tensor> &got) {
  Mismatch worst;
  for (size_t r = 0; r < want.size(); ++r) {
    if (r >= got.size() || want[r].shape() != got[r].shape())
      return {std::numeric_limits<double>::infinity(), r, 0, 0, 0, true};
    std::vector<double> w = want[r].to_vector(), g = got[r].to_vector();
    for (size_t i = 0; i < w.size(); ++i) {
      double e = std::abs(w[i] - g[i]) / std::max(std::abs(w[i]), 1.0);
      if (!(e <= worst.error)) // NaN counts as the worst
        worst = {
            std::isnan(e) ? std::numeric_limits<double>::infinity() : e, r, i, w[i], g[i], false};
    }
  }
  return worst;
}

double maxAbs(const std::vector<Tensor> &ts) {
  double m = 0;
  for (const Tensor &t : ts)
    for (double v : t.to_vector())
      m = std::max(m, std::abs(v));
  return m;
}

void explain(func::FuncOp fn, const char *what, const Mismatch &m, double tolerance) {
  if (m.error < tolerance)
    return;
  auto type = cast<RankedTensorType>(fn.getResultTypes()[m.result]);
  std::string shape;
  for (int64_t d : type.getShape())
    shape += std::to_string(d) + "x";
  if (m.shapes) {
    std::printf("     @%s result #%zu (tensor<%sf64>): %s gives another shape\n",
                fn.getName().str().c_str(), m.result, shape.c_str(), what);
    return;
  }
  std::printf("     @%s result #%zu (tensor<%sf64>) element %zu: finite differences %.9g, "
              "%s %.9g\n",
              fn.getName().str().c_str(), m.result, shape.c_str(), m.element, m.want, what, m.got);
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: dz-gradcheck FILE.mlir\n");
    return 2;
  }
  DialectRegistry registry;
  dz::ir::registerAllDialects(registry);
  MLIRContext context(registry);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(argv[1], &context);
  if (!module)
    return 2;

  // The same module after --dz-autodiff and after --dz-pipeline.
  auto transformed = [&](std::function<void(OpPassManager &)> passes) {
    OwningOpRef<ModuleOp> copy = module->clone();
    if (!runPasses(context, *copy, passes))
      copy = nullptr;
    return copy;
  };
  OwningOpRef<ModuleOp> autodiff =
      transformed([](OpPassManager &pm) { pm.addPass(dz::passes::createAutodiffPass()); });
  OwningOpRef<ModuleOp> pipeline =
      transformed([](OpPassManager &pm) { dz::passes::buildPipeline(pm); });
  if (!autodiff || !pipeline)
    return 1;

  int failures = 0;
  for (auto fn : module->getOps<func::FuncOp>()) {
    std::string name = fn.getName().str();
    std::vector<Tensor> args = makeArgs(fn);
    OwningOpRef<ModuleOp> work = ModuleOp::create(fn.getLoc());
    try {
      Precision precision = precisionOf(fn);
      std::optional<std::vector<Tensor>> want = reference(context, fn, args, precision.eps, *work);
      std::optional<dz::codegen::Program> a = build(autodiff->lookupSymbol<func::FuncOp>(name));
      std::optional<dz::codegen::Program> p = build(pipeline->lookupSymbol<func::FuncOp>(name));
      if (!want || !a || !p) {
        std::printf("FAIL %-24s cannot be run (see above)\n", name.c_str());
        ++failures;
        continue;
      }
      Mismatch e1 = compare(*want, a->run(args)), e2 = compare(*want, p->run(args));
      double tolerance = precision.tolerance;
      bool ok = e1.error < tolerance && e2.error < tolerance;
      failures += !ok;
      std::printf("%-4s %-24s error: autodiff %.1e, pipeline %.1e (max |gradient| %.2g%s)\n",
                  ok ? "ok" : "FAIL", name.c_str(), e1.error, e2.error, maxAbs(*want),
                  tolerance == kF64.tolerance ? "" : ", computes in f32: tolerance 1e-3");
      explain(fn, "--dz-autodiff", e1, tolerance);
      explain(fn, "--dz-pipeline", e2, tolerance);
    } catch (const dz::Error &e) {
      std::printf("FAIL %-24s %s\n", name.c_str(), e.what());
      ++failures;
    }
  }
  return failures ? 1 : 0;
}
