// test_cuda_codegen.cpp - CUDA kernels generated from dz IR: dz IR text through
// --dz-pipeline and --dz-fuse, one kernel per dz.fused group and per elementwise op or
// reduction left alone, each compiled by NVRTC to PTX for compute_90 (no GPU needed).
// The kernels of whole functions then run, each value in its own buffer, and must agree
// with the CPU executor: on the GPU where there is one, and everywhere on cuda:0 emulated
// on the host (DZ_CUDA_EMULATION, runtime/cuda/emulator.cpp), so that the generated
// indexing and reductions are checked on machines without a GPU too.
#include <dzc/codegen/CudaSource.h>
#include <dzc/codegen/ExecutorBuild.h>
#include <dzc/cuda/driver.h>
#include <dzc/cuda/launch.h>
#include <dzc/cuda/nvrtc.h>
#include <dzc/device_backend.h>
#include <dzc/ir/DzOps.h>
#include <dzc/passes/Passes.h>

#include "mlp_step_ir.h" // tests/compiler

#include <mlir/IR/BuiltinOps.h>
#include <mlir/IR/Diagnostics.h>
#include <mlir/IR/MLIRContext.h>
#include <mlir/Parser/Parser.h>
#include <mlir/Pass/PassManager.h>

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

using dz::Tensor;
using dz::codegen::cuda::CudaFunction;
using dz::codegen::cuda::CudaKernel;

/// dz IR after --dz-pipeline and --dz-fuse, with its context.
struct FusedModule {
  std::unique_ptr<mlir::MLIRContext> ctx;
  mlir::OwningOpRef<mlir::ModuleOp> module;

  mlir::func::FuncOp first() { return *module->getOps<mlir::func::FuncOp>().begin(); }
};

FusedModule fuse(const std::string &ir) {
  mlir::DialectRegistry registry;
  dz::ir::registerAllDialects(registry);
  FusedModule m{std::make_unique<mlir::MLIRContext>(registry), {}};
  m.ctx->loadAllAvailableDialects();
  std::string errors;
  bool passed = false;
  {
    mlir::ScopedDiagnosticHandler collect(m.ctx.get(), [&](mlir::Diagnostic &d) {
      llvm::raw_string_ostream os(errors);
      os << d.getLocation() << ": " << d << "\n";
      return mlir::success();
    });
    m.module =
        mlir::parseSourceString<mlir::ModuleOp>(ir, mlir::ParserConfig(m.ctx.get()), "test.mlir");
    if (m.module) {
      mlir::PassManager pm(m.ctx.get());
      dz::passes::buildPipeline(pm);
      pm.addPass(dz::passes::createFusionPass());
      passed = mlir::succeeded(pm.run(*m.module));
    }
  }
  if (!passed)
    throw dz::Error("IR does not parse or pass the passes:\n" + errors);
  return m;
}

int countFused(mlir::func::FuncOp fn) {
  int n = 0;
  fn.walk([&](dz::ir::FusedOp) { ++n; });
  return n;
}

/// Checks that `f.source` defines every kernel and that NVRTC compiles it into a PTX with
/// an .entry per kernel; returns the PTX (empty when NVRTC is unavailable).
std::string expectCompiles(const CudaFunction &f) {
  for (const CudaKernel &k : f.kernels) {
    std::string def = "extern \"C\" __global__ void __launch_bounds__(" + std::to_string(k.block) +
                      ") " + k.name + "(";
    EXPECT_NE(f.source.find(def), std::string::npos) << def << "\n" << f.source;
    EXPECT_GE(k.grid, 1);
    EXPECT_FALSE(k.outputs.empty()) << k.name;
    for (const auto &t : k.inputs)
      EXPECT_LT(t.slot, f.num_slots) << k.name;
  }
  if (!dz::cuda::nvrtc_available())
    return "";
  std::string ptx;
  try {
    ptx = dz::cuda::compile_to_ptx(f.source, "compute_90");
  } catch (const dz::Error &e) {
    ADD_FAILURE() << e.what() << "\n" << f.source;
    return "";
  }
  for (const CudaKernel &k : f.kernels)
    EXPECT_NE(ptx.find(".visible .entry " + k.name + "("), std::string::npos) << k.name;
  return ptx;
}

/// The kernels of a function on the GPU: device buffers, the module loaded from PTX.
class DeviceBackend {
public:
  using Buffer = dz::cuda::DeviceBuffer;
  explicit DeviceBackend(const CudaFunction &f)
      : module_(dz::cuda::compile_to_ptx(f.source, dz::cuda::device_info().arch())) {}

  Buffer upload(const Tensor &t) {
    Buffer b(t.nbytes());
    b.upload(t.raw(), t.nbytes());
    return b;
  }
  Buffer allocate(const dz::Shape &shape, dz::DType dtype) {
    return Buffer(size_t(dz::shape_size(shape)) * dz::dtype_size(dtype));
  }
  void launch(const CudaKernel &k, const std::vector<Buffer *> &buffers) {
    std::vector<uint64_t> ptrs;
    for (Buffer *b : buffers)
      ptrs.push_back(b->device_ptr());
    std::vector<void *> params;
    for (uint64_t &p : ptrs)
      params.push_back(&p);
    module_.launch(k.name, k.grid, k.block, params);
  }
  Tensor download(Buffer &b, const dz::Shape &shape, dz::DType dtype) {
    Tensor t(shape, dtype);
    b.download(t.raw(), t.nbytes());
    return t;
  }

private:
  dz::cuda::Module module_;
};

/// cuda:0 as the host emulation (docs/cuda.md), whether or not a GPU is present: set
/// before the process first uses cuda:0. Empty, or why it is unavailable.
std::string emulate_cuda0() {
  setenv("DZ_CUDA_EMULATION", "1", 1);
  std::string why;
  if (!dz::device_available(dz::Device::cuda(0), &why))
    return why.empty() ? "unavailable" : why;
  if (dz::device_backend(dz::Device::cuda(0)).describe().find("emulated") == std::string::npos)
    return "cuda:0 was already in use as a GPU in this process";
  return "";
}

/// The kernels of a function on the emulated cuda:0: the emulation's device tensors, each
/// kernel loaded through dz::cuda::GeneratedKernel (the module compiled once). With
/// `misaligned`, every buffer starts one element past a 16-byte boundary, so the vector
/// loops of the kernels (16-byte loads where every flat pointer is aligned) are skipped
/// and their scalar loops compute everything.
template <bool misaligned> class EmulatedBackend {
public:
  struct Buffer {
    Tensor t; // on cuda:0; with `misaligned` one element more, the data after the first
    void *data() const {
      return static_cast<char *>(t.raw()) + (misaligned ? dz::dtype_size(t.dtype()) : 0);
    }
  };
  explicit EmulatedBackend(const CudaFunction &f) : source_(f.source) {}

  Buffer upload(const Tensor &t) {
    if (!misaligned)
      return {t.to(kCuda0)};
    Tensor padded({t.size() + 1}, t.dtype());
    std::memcpy(static_cast<char *>(padded.raw()) + dz::dtype_size(t.dtype()), t.raw(), t.nbytes());
    return {padded.to(kCuda0)};
  }
  Buffer allocate(const dz::Shape &shape, dz::DType dtype) {
    return {misaligned ? Tensor({dz::shape_size(shape) + 1}, dtype, kCuda0)
                       : Tensor(shape, dtype, kCuda0)};
  }
  void launch(const CudaKernel &k, const std::vector<Buffer *> &buffers) {
    std::vector<const void *> ptrs;
    for (Buffer *b : buffers) {
      const bool aligned = reinterpret_cast<uintptr_t>(b->data()) % 16 == 0;
      EXPECT_EQ(aligned, !misaligned) << k.name;
      ptrs.push_back(b->data());
    }
    dz::cuda::GeneratedKernel(source_, k.name).launch(k.grid, int(k.block), ptrs);
  }
  Tensor download(Buffer &b, const dz::Shape &shape, dz::DType dtype) {
    Tensor host = b.t.to(dz::Device::cpu());
    Tensor out(shape, dtype);
    std::memcpy(out.raw(),
                static_cast<char *>(host.raw()) + (misaligned ? dz::dtype_size(dtype) : 0),
                out.nbytes());
    return out;
  }

private:
  static inline const dz::Device kCuda0 = dz::Device::cuda(0);
  std::string source_;
};

/// Runs the kernels of `f` in order on `args`, each value in a buffer of `backend`: every
/// value a kernel reads must be an argument or the output of an earlier kernel. Returns
/// the function's results.
template <typename Backend>
std::vector<Tensor> runKernels(const CudaFunction &f, const std::vector<Tensor> &args) {
  Backend backend(f);
  std::vector<std::optional<typename Backend::Buffer>> slots(size_t(f.num_slots));
  std::vector<const dz::codegen::cuda::KernelTensor *> types(size_t(f.num_slots));
  for (size_t a = 0; a < args.size(); ++a)
    slots[a].emplace(backend.upload(args[a]));
  for (const CudaKernel &k : f.kernels) {
    std::vector<typename Backend::Buffer *> buffers;
    for (const auto &in : k.inputs) {
      if (!slots[size_t(in.slot)])
        throw dz::Error(k.name + " reads %" + std::to_string(in.slot) +
                        ", which no kernel wrote (a host op's value)");
      buffers.push_back(&*slots[size_t(in.slot)]);
    }
    for (const auto &out : k.outputs) {
      slots[size_t(out.slot)].emplace(backend.allocate(out.shape, out.dtype));
      types[size_t(out.slot)] = &out;
      buffers.push_back(&*slots[size_t(out.slot)]);
    }
    backend.launch(k, buffers);
  }
  std::vector<Tensor> results;
  for (int32_t s : f.result_slots) {
    if (s < int32_t(args.size()))
      results.push_back(args[size_t(s)].copy());
    else if (!types[size_t(s)])
      throw dz::Error("result %" + std::to_string(s) + " is not the output of a kernel");
    else
      results.push_back(
          backend.download(*slots[size_t(s)], types[size_t(s)]->shape, types[size_t(s)]->dtype));
  }
  return results;
}

/// Runs `ir`'s first function with the generated kernels on `Backend` and with the CPU
/// executor on `args` and compares every result.
template <typename Backend>
void expectKernelsMatchCpu(const std::string &ir, const std::vector<Tensor> &args, double rtol,
                           double atol) {
  FusedModule m = fuse(ir);
  CudaFunction f = dz::codegen::cuda::generateCudaOrThrow(m.first());
  ASSERT_TRUE(f.host_ops.empty()) << f.host_ops.front();
  std::vector<Tensor> got = runKernels<Backend>(f, args);
  std::vector<Tensor> want = dz::codegen::buildProgramOrThrow(m.first()).run(args);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].shape(), want[i].shape()) << "result " << i;
    EXPECT_TRUE(dz::allclose(got[i], want[i], rtol, atol)) << "result " << i << ": kernels\n"
                                                           << got[i] << "\nCPU\n"
                                                           << want[i];
  }
}

using dz::testing::kMlpStep; // tests/compiler/mlp_step_ir.h

// A softmax written out (max; sub + exp + sum fused; div) and a mean squared error
// (sub + square + sum fused; div by a splat), in f64: only kernels, no host op.
const char *kSoftmaxLoss = R"(
func.func @softmax_mse(%x: tensor<6x5xf64>, %y: tensor<6x5xf64>) -> (tensor<6x5xf64>, tensor<f64>) {
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
})";

// Every other elementwise op of ir/FusibleOps.h, f32 with i64 labels cast in, a smaller
// value read outside its group, a splat, and a reduction over the leading axis.
const char *kElementwise = R"(
func.func @elementwise(%x: tensor<4x3xf32>, %b: tensor<3xf32>, %k: tensor<4x3xi64>)
    -> (tensor<4x3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<4x3xf32>) {
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
  %4 = dz.min %3 {axes = array<i64: 0>, keepdims = false} : tensor<4x3xf32> -> tensor<3xf32>
  %5 = dz.sigmoid %x : tensor<4x3xf32>
  %6 = dz.tanh %5 : tensor<4x3xf32>
  %7 = dz.sin %6 : tensor<4x3xf32>
  %8 = dz.cos %7 : tensor<4x3xf32>
  %9 = dz.sqrt %8 : tensor<4x3xf32>
  %10 = dz.log %9 : tensor<4x3xf32>
  %11 = dz.neg %10 : tensor<4x3xf32>
  %12 = dz.relu %11 : tensor<4x3xf32>
  %13 = dz.clip %12 {max = 0.5 : f64, min = 0.0 : f64} : tensor<4x3xf32>
  %14 = dz.sub %13, %x : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  %15 = dz.div %14, %eb : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  return %2, %e, %4, %15 : tensor<4x3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<4x3xf32>
})";

// i64 arithmetic and reductions (labels, counts): a fused mul + sum, a max alone.
const char *kIntegers = R"(
func.func @ints(%a: tensor<4x3xi64>, %b: tensor<3xi64>) -> (tensor<4xi64>, tensor<3xi64>) {
  %0 = dz.mul %a, %b : (tensor<4x3xi64>, tensor<3xi64>) -> tensor<4x3xi64>
  %1 = dz.sum %0 {axes = array<i64: 1>, keepdims = false} : tensor<4x3xi64> -> tensor<4xi64>
  %2 = dz.max %a {axes = array<i64: 0>, keepdims = false} : tensor<4x3xi64> -> tensor<3xi64>
  return %1, %2 : tensor<4xi64>, tensor<3xi64>
})";

// The quotients and remainders: integers (i64, i32) and float32, fused with a product.
const char *kQuotients = R"(
func.func @quotients(%a: tensor<6xi64>, %b: tensor<6xi64>, %c: tensor<6xi32>, %x: tensor<6xf32>)
    -> (tensor<6xi64>, tensor<6xi64>, tensor<6xi32>, tensor<6xf32>) {
  %0 = dz.mul %a, %b : (tensor<6xi64>, tensor<6xi64>) -> tensor<6xi64>
  %1 = dz.trunc_divide %0, %b : (tensor<6xi64>, tensor<6xi64>) -> tensor<6xi64>
  %2 = dz.floor_divide %a, %b : (tensor<6xi64>, tensor<6xi64>) -> tensor<6xi64>
  %3 = dz.mod %2, %b : (tensor<6xi64>, tensor<6xi64>) -> tensor<6xi64>
  %4 = dz.floor_divide %c, %c : (tensor<6xi32>, tensor<6xi32>) -> tensor<6xi32>
  %5 = dz.fmod %4, %c : (tensor<6xi32>, tensor<6xi32>) -> tensor<6xi32>
  %6 = dz.floor_divide %x, %x : (tensor<6xf32>, tensor<6xf32>) -> tensor<6xf32>
  %7 = dz.trunc_divide %6, %x : (tensor<6xf32>, tensor<6xf32>) -> tensor<6xf32>
  return %1, %3, %5, %7 : tensor<6xi64>, tensor<6xi64>, tensor<6xi32>, tensor<6xf32>
})";

// Elementwise chains whose sizes are not multiples of a vector (16 bytes): f32 with a
// broadcast bias, f64, i64.
const char *kVectors = R"(
func.func @vectors(%x: tensor<7x9xf32>, %b: tensor<9xf32>, %y: tensor<5x3xf64>, %k: tensor<11xi64>)
    -> (tensor<7x9xf32>, tensor<5x3xf64>, tensor<11xi64>) {
  %0 = dz.add %x, %b : (tensor<7x9xf32>, tensor<9xf32>) -> tensor<7x9xf32>
  %1 = dz.tanh %0 : tensor<7x9xf32>
  %2 = dz.mul %1, %x : (tensor<7x9xf32>, tensor<7x9xf32>) -> tensor<7x9xf32>
  %3 = dz.exp %y : tensor<5x3xf64>
  %4 = dz.sub %3, %y : (tensor<5x3xf64>, tensor<5x3xf64>) -> tensor<5x3xf64>
  %5 = dz.mul %k, %k : (tensor<11xi64>, tensor<11xi64>) -> tensor<11xi64>
  %6 = dz.add %5, %k : (tensor<11xi64>, tensor<11xi64>) -> tensor<11xi64>
  return %2, %4, %6 : tensor<7x9xf32>, tensor<5x3xf64>, tensor<11xi64>
})";

TEST(CudaCodegen, MlpStepHasAKernelPerFusedGroupAndCompilesToPtx) {
  FusedModule m = fuse(kMlpStep);
  int fused = countFused(m.first());
  EXPECT_EQ(fused, 7);
  CudaFunction f = dz::codegen::cuda::generateCudaOrThrow(m.first());
  int fused_kernels = 0;
  for (const CudaKernel &k : f.kernels)
    fused_kernels += k.op.rfind("dz.fused at ", 0) == 0;
  EXPECT_EQ(fused_kernels, fused);
  std::printf("MLP step: %zu kernels (%d fused groups), %zu host ops\n", f.kernels.size(), fused,
              f.host_ops.size());
  // The GEMMs and the loss are left to the host (cuBLAS, later kernels).
  auto on_host = [&](const std::string &op) {
    for (const std::string &h : f.host_ops)
      if (h.rfind(op + " at ", 0) == 0)
        return true;
    return false;
  };
  EXPECT_TRUE(on_host("dz.matmul"));
  EXPECT_TRUE(on_host("dz.softmax_cross_entropy"));
  // The bias + ReLU group: the 32x64 GEMM result at the flat index, the bias of 64 at
  // the column coordinate.
  EXPECT_NE(f.source.find("const long long c1 = i % 64LL;"), std::string::npos) << f.source;
  EXPECT_NE(f.source.find("[c1];"), std::string::npos) << f.source;
  // The SGD update of W1: lr * g with lr inlined as a literal.
  EXPECT_NE(f.source.find("dz_op_mul(x0, 0.100000001f);"), std::string::npos) << f.source;
  std::string ptx = expectCompiles(f);
  if (ptx.empty() && !dz::cuda::nvrtc_available())
    GTEST_SKIP() << "source checked; not compiled: " << dz::cuda::nvrtc_unavailable_reason();
}

TEST(CudaCodegen, ReductionsBecomeBlockReductions) {
  FusedModule m = fuse(kSoftmaxLoss);
  EXPECT_EQ(countFused(m.first()), 2);
  CudaFunction f = dz::codegen::cuda::generateCudaOrThrow(m.first());
  EXPECT_TRUE(f.host_ops.empty());
  // max (alone), sub+exp+sum (fused), div+sub+square+sum (fused), div by the splat 6.
  ASSERT_EQ(f.kernels.size(), 4u) << f.source;
  EXPECT_EQ(f.kernels[0].name, "softmax_mse_k0_max");
  EXPECT_EQ(f.kernels[1].name, "softmax_mse_k1_fused");
  EXPECT_EQ(f.kernels[3].name, "softmax_mse_k3_div");
  // Six rows of five: one output element per block, 32 threads each.
  EXPECT_EQ(f.kernels[1].grid, 6);
  EXPECT_EQ(f.kernels[1].block, 32);
  ASSERT_EQ(f.kernels[1].outputs.size(), 2u); // exp (6x5) and its row sums (6x1)
  EXPECT_EQ(f.kernels[1].outputs[1].shape, (dz::Shape{6, 1}));
  EXPECT_NE(f.source.find("__shared__ double partial[32];"), std::string::npos);
  EXPECT_NE(f.source.find("__longlong_as_double(0xfff0000000000000ULL)"), std::string::npos)
      << "max starts at -inf";
  EXPECT_NE(f.source.find("dz_op_div(x0, 6.0)"), std::string::npos) << f.source;
  expectCompiles(f);
}

TEST(CudaCodegen, EveryElementwiseOpCompiles) {
  FusedModule m = fuse(kElementwise);
  CudaFunction f = dz::codegen::cuda::generateCudaOrThrow(m.first());
  EXPECT_TRUE(f.host_ops.empty());
  // The registry's ops call their device functions, defined once at the top of the source
  // (the same text the eager kernels compile).
  for (const char *expr :
       {"dz_op_exp(", "dz_op_log(", "dz_op_sin(", "dz_op_cos(", "dz_op_tanh(", "dz_op_sqrt(",
        "powf(", "dz_op_relu(", "#define DZ_OP_relu", "(float)x", "const long long *__restrict__"})
    EXPECT_NE(f.source.find(expr), std::string::npos) << expr << "\n" << f.source;
  expectCompiles(f);
}

TEST(CudaCodegen, IntegerKernelsCompile) {
  FusedModule m = fuse(kIntegers);
  CudaFunction f = dz::codegen::cuda::generateCudaOrThrow(m.first());
  ASSERT_EQ(f.kernels.size(), 2u) << f.source;
  EXPECT_NE(f.source.find("long long acc = 0LL;"), std::string::npos) << f.source;
  EXPECT_NE(f.source.find("long long acc = (-9223372036854775807LL - 1);"), std::string::npos)
      << f.source;
  expectCompiles(f);
}

TEST(CudaCodegen, IntegerAndFloatQuotientsCompile) {
  FusedModule m = fuse(kQuotients);
  CudaFunction f = dz::codegen::cuda::generateCudaOrThrow(m.first());
  // i64 and f32 in generated kernels; the int32 ops run on the host
  for (const char *expr :
       {"dz_op_trunc_divide(", "dz_op_floor_divide(", "dz_op_mod(", "TruncDiv(", "FloorDiv("})
    EXPECT_NE(f.source.find(expr), std::string::npos) << expr << "\n" << f.source;
  expectCompiles(f);
}

TEST(CudaCodegen, EmitCudaSourceWritesEveryFunction) {
  FusedModule m = fuse(std::string(kSoftmaxLoss) + kElementwise);
  std::string text;
  llvm::raw_string_ostream os(text);
  ASSERT_TRUE(mlir::succeeded(dz::codegen::cuda::emitCudaSource(*m.module, os)));
  EXPECT_NE(text.find("// CUDA kernels of @softmax_mse"), std::string::npos);
  EXPECT_NE(text.find("// CUDA kernels of @elementwise"), std::string::npos);
  EXPECT_NE(text.find("//   grid 6 x block 32"), std::string::npos) << text;
}

TEST(CudaCodegen, MlpKernelCacheColdCompileAndDiskHit) {
  if (!dz::cuda::nvrtc_available())
    GTEST_SKIP() << dz::cuda::nvrtc_unavailable_reason();
  FusedModule m = fuse(kMlpStep);
  CudaFunction f = dz::codegen::cuda::generateCudaOrThrow(m.first());
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("dzc-mlp-cache-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  dz::cuda::KernelCache cold(dir), warm(dir);
  dz::cuda::KernelCache::Result a = cold.ptx(f.source), b = warm.ptx(f.source);
  EXPECT_EQ(a.from, dz::cuda::KernelCache::From::Compiler);
  EXPECT_EQ(b.from, dz::cuda::KernelCache::From::Disk);
  EXPECT_EQ(a.ptx, b.ptx);
  std::printf("MLP step, %zu kernels: NVRTC compile %.1f ms, disk cache hit %.3f ms\n",
              f.kernels.size(), a.ms, b.ms);
  std::filesystem::remove_all(dir);
}

/// The programs every back end runs: (IR, arguments, rtol, atol).
struct KernelProgram {
  const char *name;
  std::string ir;
  std::vector<Tensor> args;
  double rtol, atol;
};

std::vector<KernelProgram> kernelPrograms() {
  return {
      {"vectors",
       kVectors,
       {dz::randn({7, 9}, dz::f32, 80), dz::randn({9}, dz::f32, 81), dz::randn({5, 3}, dz::f64, 82),
        Tensor::from_i64({3, -1, 4, 1, -5, 9, 2, 6, -5, 3, 5})},
       1e-5,
       1e-6},
      {"softmax_mse",
       kSoftmaxLoss,
       {dz::randn({6, 5}, dz::f64, 50), dz::randn({6, 5}, dz::f64, 51)},
       1e-12,
       1e-12},
      {"elementwise",
       kElementwise,
       {dz::randn({4, 3}, dz::f32, 60), dz::randn({3}, dz::f32, 61),
        Tensor::from_i64({0, 1, 2, 1, 1, 0, 3, 1, 2, 0, 0, 1}).reshape({4, 3})},
       1e-5,
       1e-6},
      {"ints",
       kIntegers,
       {Tensor::from_i64({3, -1, 4, 1, -5, 9, 2, 6, -5, 3, 5, -8}).reshape({4, 3}),
        Tensor::from_i64({7, -2, 3})},
       0,
       0},
      // 48 rows of 1000: blocks of 256 threads, each several elements, a 256-wide tree;
      // the column maxima: 1000 blocks of 64 threads over 48 rows.
      {"rows",
       R"(
func.func @rows(%x: tensor<48x1000xf32>, %b: tensor<1000xf32>)
    -> (tensor<48x1000xf32>, tensor<48xf32>, tensor<1000xf32>) {
  %0 = dz.add %x, %b : (tensor<48x1000xf32>, tensor<1000xf32>) -> tensor<48x1000xf32>
  %1 = dz.tanh %0 : tensor<48x1000xf32>
  %2 = dz.sum %1 {axes = array<i64: 1>, keepdims = false} : tensor<48x1000xf32> -> tensor<48xf32>
  %3 = dz.max %1 {axes = array<i64: 0>, keepdims = false} : tensor<48x1000xf32> -> tensor<1000xf32>
  return %1, %2, %3 : tensor<48x1000xf32>, tensor<48xf32>, tensor<1000xf32>
})",
       {dz::randn({48, 1000}, dz::f32, 70), dz::randn({1000}, dz::f32, 71)},
       1e-4,
       1e-4},
  };
}

TEST(CudaDevice, KernelsMatchTheCpuExecutor) {
  if (!dz::cuda::available())
    GTEST_SKIP() << dz::cuda::unavailable_reason();
  if (!dz::cuda::nvrtc_available())
    GTEST_SKIP() << dz::cuda::nvrtc_unavailable_reason();
  for (const KernelProgram &p : kernelPrograms()) {
    SCOPED_TRACE(p.name);
    expectKernelsMatchCpu<DeviceBackend>(p.ir, p.args, p.rtol, p.atol);
  }
}

TEST(CudaHostEmulation, KernelsMatchTheCpuExecutor) {
  if (std::string why = emulate_cuda0(); !why.empty())
    GTEST_SKIP() << "the emulated cuda:0 is unavailable: " << why;
  for (const KernelProgram &p : kernelPrograms()) {
    SCOPED_TRACE(p.name);
    expectKernelsMatchCpu<EmulatedBackend<false>>(p.ir, p.args, p.rtol, p.atol);
  }
}

TEST(CudaHostEmulation, KernelsOnMisalignedBuffersMatchTheCpuExecutor) {
  if (std::string why = emulate_cuda0(); !why.empty())
    GTEST_SKIP() << "the emulated cuda:0 is unavailable: " << why;
  for (const KernelProgram &p : kernelPrograms()) {
    if (std::string(p.name) != "vectors" && std::string(p.name) != "elementwise")
      continue;
    SCOPED_TRACE(p.name);
    expectKernelsMatchCpu<EmulatedBackend<true>>(p.ir, p.args, p.rtol, p.atol);
  }
}

TEST(CudaCodegen, ElementwiseKernelsLoadSixteenBytesWhereAligned) {
  FusedModule m = fuse(kVectors);
  CudaFunction f = dz::codegen::cuda::generateCudaOrThrow(m.first());
  ASSERT_EQ(f.kernels.size(), 3u) << f.source;
  // 63 f32 (15 float4 and a tail of 3), 15 f64 (7 double2 and 1), 11 i64 (5 and 1). The
  // bias is broadcast, so it is read one element a lane.
  for (const char *want :
       {"union { float4 v; float s[4]; } v_in0;", "reinterpret_cast<const float4 *>(in0)[q]",
        "const float x1 = in1[c1];", "reinterpret_cast<float4 *>(out0)[q] = v_out0.v;", "q < 15LL;",
        "scalar_from = 60LL;", "reinterpret_cast<const double2 *>(in0)[q]", "q < 7LL;",
        "scalar_from = 14LL;", "reinterpret_cast<const longlong2 *>(in0)[q]", "q < 5LL;",
        "scalar_from = 10LL;"})
    EXPECT_NE(f.source.find(want), std::string::npos) << want << "\n" << f.source;
  // The bias is not a flat pointer, so it is not in the alignment test.
  EXPECT_NE(f.source.find("(((unsigned long long)in0 | (unsigned long long)out0) & 15ULL) == 0"),
            std::string::npos)
      << f.source;
  EXPECT_EQ(f.kernels[0].grid, 1);
  expectCompiles(f);
}

TEST(CudaCodegen, KernelsOfMixedElementSizesReductionsAndUnderAVectorAreScalar) {
  // exp of 3 f32 (under one vector); the group with the i64 labels cast to f32 (8 and 4
  // bytes) and a reduction; the chain of 12 f32, which loads float4s.
  FusedModule m = fuse(kElementwise);
  CudaFunction f = dz::codegen::cuda::generateCudaOrThrow(m.first());
  ASSERT_EQ(f.kernels.size(), 3u) << f.source;
  for (size_t i = 0; i < f.kernels.size(); ++i) {
    const CudaKernel &k = f.kernels[i];
    size_t at = f.source.find("void __launch_bounds__(" + std::to_string(k.block) + ") " + k.name);
    ASSERT_NE(at, std::string::npos) << k.name;
    std::string body = f.source.substr(at, f.source.find("\n}\n", at) - at);
    EXPECT_EQ(body.find("scalar_from") != std::string::npos, i == 2) << body;
  }
}

} // namespace
