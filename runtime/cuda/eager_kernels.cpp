// eager_kernels.cpp - CUDA C of the eager kernels (eager_kernels.h).
#include "eager_kernels.h"

#include <sstream>

namespace dz::cuda::eager {

namespace {

/// Every kernel starts with this: the entry macro (the host emulation defines its own
/// first) and the argument structs.
std::string prelude() {
  return std::string(R"(// dzc eager kernel
#ifndef DZ_KERNEL
#define DZ_KERNEL(name, Args) extern "C" __global__ void __launch_bounds__(256) name(const Args a)
#endif
)") + kStructSource +
         "\n";
}

const char *ctype(DType t) {
  switch (t) {
  case DType::f32:
    return "float";
  case DType::f64:
    return "double";
  case DType::i64:
    return "long long";
  case DType::i32:
    return "int";
  case DType::u8:
    return "unsigned char";
  case DType::b8:
    return "bool";
  case DType::i8:
    return "signed char";
  case DType::i16:
    return "short";
  case DType::u16:
    return "unsigned short";
  case DType::u32:
    return "unsigned int";
  case DType::u64:
    return "unsigned long long";
  case DType::f16:
  case DType::bf16:
    break;
  }
  throw Error(std::string("CUDA kernels: dtype ") + dtype_name(t) +
              " is stored but not computed on; convert it on the CPU first");
}

/// A short dtype tag for kernel names: f32, f64, i64, i32, u8, b8.
const char *tag(DType t) {
  switch (t) {
  case DType::f32:
    return "f32";
  case DType::f64:
    return "f64";
  case DType::i64:
    return "i64";
  case DType::i32:
    return "i32";
  case DType::u8:
    return "u8";
  case DType::b8:
    return "b8";
  case DType::i8:
    return "i8";
  case DType::i16:
    return "i16";
  case DType::u16:
    return "u16";
  case DType::u32:
    return "u32";
  case DType::u64:
    return "u64";
  case DType::f16:
    return "f16";
  case DType::bf16:
    return "bf16";
  }
  return "?";
}

/// A math function of the C library for `t`: expf for float32, exp for float64.
std::string math(const char *fn, DType t) { return t == DType::f32 ? std::string(fn) + "f" : fn; }

[[noreturn]] void unsupported(MapOp op, DType t) {
  throw Error(std::string(map_op_name(op)) + ": not supported for " + dtype_name(t) +
              " tensors on the GPU");
}

/// The expression of `op` over x0, x1, x2 of compute type `c` (type name `C`): the
/// registry's device function (dzc/op_registry.h) for its ops.
std::string expression(MapOp op, DType c) {
  if (op == MapOp::cast)
    return "x0";
  if (op == MapOp::where)
    return "(x0 ? x1 : x2)";
  const OpInfo &info = op_info(op);
  if ((info.domain == OpDomain::Float || info.domain == OpDomain::Predicate) && !is_floating(c))
    unsupported(op, c);
  if (info.domain == OpDomain::Numeric && c == DType::b8)
    unsupported(op, c);
  return std::string("dz_op_") + info.name + (info.arity == 1 ? "(x0)" : "(x0, x1)");
}

/// Whether `op` computes in its operands' dtype rather than the output's (bool results).
bool is_compare(MapOp op) { return op_info(op).bool_result(); }

} // namespace

KernelSource map_kernel(MapOp op, DType out, const std::vector<DType> &in,
                        const std::vector<bool> &scalar, bool flat) {
  const int n = map_arity(op);
  auto is_scalar = [&](int k) { return size_t(k) < scalar.size() && scalar[size_t(k)]; };
  if (int(in.size()) != n)
    throw Error(std::string("internal: map_kernel ") + map_op_name(op) + " with " +
                std::to_string(in.size()) + " operands");
  // The compute type: the operands' for comparisons, else the output's. Each operand is
  // loaded and converted to it (the condition of `where` stays bool).
  const DType c = is_compare(op) ? in[0] : out;
  if (is_compare(op) && n == 2 && in[1] != in[0])
    throw Error("internal: map_kernel comparison of two dtypes");
  if (is_compare(op) && out != DType::b8)
    throw Error("internal: map_kernel comparison into a non-bool tensor");
  std::string expr = expression(op, c);
  std::ostringstream name;
  name << "dz_map_" << map_op_name(op) << "_" << tag(out);
  for (int k = 0; k < n; ++k)
    name << "_" << tag(in[size_t(k)]) << (is_scalar(k) ? "s" : "");
  if (flat)
    name << "_flat";

  std::ostringstream s;
  s << prelude() << "typedef " << ctype(c) << " C;\n" << cuda_op_source({op});
  s << "DZ_KERNEL(" << name.str() << ", MapArgs) {\n"
    << "  const long long step = (long long)gridDim.x * blockDim.x;\n"
    << "  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < a.n; i += "
       "step) {\n";
  if (flat) { // one dimension at most (a contiguous op after merging): no divisions
    for (int k = 0; k < n; ++k)
      if (!is_scalar(k))
        s << "    const long long o" << k << " = i * a.strides[" << k << "][0];\n";
  } else {
    s << "    long long r = i";
    for (int k = 0; k < n; ++k)
      if (!is_scalar(k))
        s << ", o" << k << " = 0";
    s << ";\n"
      << "    for (int d = (int)a.ndim - 1; d >= 0; --d) {\n"
      << "      const long long q = r / a.shape[d], c = r - q * a.shape[d];\n"
      << "      r = q;\n";
    for (int k = 0; k < n; ++k)
      if (!is_scalar(k))
        s << "      o" << k << " += c * a.strides[" << k << "][d];\n";
    s << "    }\n";
  }
  for (int k = 0; k < n; ++k) {
    const bool cond = op == MapOp::where && k == 0;
    const char *T = ctype(in[size_t(k)]), *X = cond ? "bool" : "C";
    s << "    const " << X << " x" << k << " = (" << X << ")";
    if (is_scalar(k)) // the scalar in its own type first, as a loaded element would be
      s << "(" << T << ")a." << (is_floating(in[size_t(k)]) ? "imm_f" : "imm_i") << "[" << k
        << "];\n";
    else
      s << "((const " << T << " *)a.in[" << k << "])[o" << k << "];\n";
  }
  s << "    ((" << ctype(out) << " *)a.out)[i] = (" << ctype(out) << ")(" << expr << ");\n"
    << "  }\n}\n";
  return {name.str(), s.str()};
}

KernelSource reduce_kernel(ReduceOp op, DType out, DType in) {
  static const char *kNames[] = {"sum", "max", "min", "argmax"};
  std::string name = std::string("dz_reduce_") + kNames[int(op)] + "_" + tag(out) + "_" + tag(in);
  // The accumulator: float64 for float32 sums (as the CPU kernels), int64 for integer
  // sums, the input's type otherwise. `flag` is per thread: whether it has a value (max,
  // min) or the index of its best value (argmax; -1 for none).
  DType acc = in;
  if (op == ReduceOp::sum)
    acc = is_floating(in) ? DType::f64 : DType::i64;
  if (op == ReduceOp::sum && in == DType::f64)
    acc = DType::f64;
  if (op != ReduceOp::argmax && op != ReduceOp::sum && out != in)
    throw Error("internal: reduce_kernel max/min into another dtype");
  if (op == ReduceOp::argmax && out != DType::i64)
    throw Error("internal: reduce_kernel argmax into a non-int64 tensor");
  if (op != ReduceOp::sum && in == DType::b8)
    throw Error(std::string(kNames[int(op)]) + ": not supported for bool tensors on the GPU");

  std::string better; // does v (index j) replace the accumulator (index flag)?
  switch (op) {
  case ReduceOp::sum:
    break;
  case ReduceOp::max:
    better = "(v > acc || v != v)";
    break;
  case ReduceOp::min:
    better = "(v < acc || v != v)";
    break;
  case ReduceOp::argmax: // the first maximum, a NaN above everything (NumPy)
    better = "(acc == acc && (v > acc || v != v))";
    break;
  }
  std::ostringstream s;
  s << prelude() << "typedef " << ctype(acc) << " A;\n";
  s << "DZ_KERNEL(" << name << ", ReduceArgs) {\n"
    << "  __shared__ A s_acc[256];\n"
    << "  __shared__ long long s_flag[256];\n"
    << "  const " << ctype(in) << " *in = (const " << ctype(in) << " *)a.in;\n"
    << "  for (long long o = blockIdx.x; o < a.n_out; o += gridDim.x) {\n"
    << "    long long base = 0, r = o;\n"
    << "    for (int d = (int)a.kdims - 1; d >= 0; --d) {\n"
    << "      const long long q = r / a.kshape[d];\n"
    << "      base += (r - q * a.kshape[d]) * a.kstride[d];\n"
    << "      r = q;\n"
    << "    }\n"
    << "    A acc = (A)0;\n"
    << "    long long flag = -1;\n"
    << "    for (long long j = threadIdx.x; j < a.n_red; j += blockDim.x) {\n"
    << "      long long off = base, q = j;\n"
    << "      for (int d = (int)a.rdims - 1; d >= 0; --d) {\n"
    << "        const long long t = q / a.rshape[d];\n"
    << "        off += (q - t * a.rshape[d]) * a.rstride[d];\n"
    << "        q = t;\n"
    << "      }\n"
    << "      const A v = (A)in[off];\n";
  if (op == ReduceOp::sum)
    s << "      acc += v;\n";
  else
    s << "      if (flag < 0 || " << better << ") { acc = v; flag = j; }\n";
  s << "    }\n"
    << "    s_acc[threadIdx.x] = acc;\n"
    << "    s_flag[threadIdx.x] = flag;\n"
    << "    __syncthreads();\n"
    << "    for (unsigned w = blockDim.x / 2; w > 0; w >>= 1) {\n"
    << "      if (threadIdx.x < w) {\n"
    << "        const A v = s_acc[threadIdx.x + w];\n"
    << "        const long long f = s_flag[threadIdx.x + w];\n";
  if (op == ReduceOp::sum) {
    s << "        s_acc[threadIdx.x] += v;\n";
  } else {
    // Thread t's elements precede those of t + w within each stride, but not overall,
    // so argmax breaks ties (two NaN too) by the smaller index explicitly.
    std::string tie =
        op == ReduceOp::argmax ? " || ((v == a0 || (v != v && a0 != a0)) && f < f0)" : "";
    s << "        const A a0 = s_acc[threadIdx.x];\n"
      << "        const long long f0 = s_flag[threadIdx.x];\n"
      << "        const A acc = a0;\n"
      << "        if (f >= 0 && (f0 < 0 || " << better << tie << ")) {\n"
      << "          s_acc[threadIdx.x] = v;\n"
      << "          s_flag[threadIdx.x] = f;\n"
      << "        }\n";
  }
  s << "      }\n"
    << "      __syncthreads();\n"
    << "    }\n"
    << "    if (threadIdx.x == 0)\n"
    << "      ((" << ctype(out) << " *)a.out)[o] = (" << ctype(out) << ")("
    << (op == ReduceOp::argmax ? "s_flag[0]" : "s_acc[0]") << ");\n"
    << "    __syncthreads();\n"
    << "  }\n}\n";
  return {name, s.str()};
}

namespace {

/// The source's start for a kernel of float type T (`op` names it in the error for
/// another dtype): the prelude and T's typedef.
std::string float_kernel_start(DType dtype, const std::string &op) {
  if (!is_floating(dtype))
    throw Error(op + ": dtype " + dtype_name(dtype) +
                " is not supported on the GPU (use float32 or float64)");
  return prelude() + "typedef " + ctype(dtype) + " T;\n";
}

/// A shared-memory tree over `array`'s blockDim.x entries (a power of two), at `indent`:
/// `step` combines `array[threadIdx.x + w]` into `array[threadIdx.x]`; the block meets
/// after each level, so array[0] holds the result after it.
std::string block_tree(const std::string &indent, const std::string &step) {
  return indent + "__syncthreads();\n" + indent +
         "for (unsigned w = blockDim.x / 2; w > 0; w >>= 1) {\n" + indent +
         "  if (threadIdx.x < w) " + step + "\n" + indent + "  __syncthreads();\n" + indent + "}\n";
}

/// -infinity of `t` as a CUDA expression (no <math.h> in NVRTC).
const char *negative_infinity(DType t) {
  return t == DType::f32 ? "__int_as_float(0xff800000u)"
                         : "__longlong_as_double(0xfff0000000000000ULL)";
}

} // namespace

KernelSource softmax_rows_kernel(DType dtype, bool logsumexp) {
  const std::string start = float_kernel_start(dtype, logsumexp ? "logsumexp" : "softmax");
  const std::string name =
      std::string(logsumexp ? "dz_logsumexp_rows_" : "dz_softmax_rows_") + tag(dtype);
  const std::string exp = math("exp", dtype), log = math("log", dtype);
  const char *neg_inf = negative_infinity(dtype);
  // Like the CPU's rows (softmax_rows in elementwise.cpp): the maximum (NaN wins), the sum
  // of exp(x - max) in T, then each output; a row per block, a tree for each reduction.
  // logsumexp shifts by 0 where the maximum is not finite (as SciPy: +inf in the row gives
  // +inf, a row of -inf gives -inf); softmax keeps NumPy's exp(x - max) / sum, NaN there.
  std::ostringstream s;
  s << start << "DZ_KERNEL(" << name << ", SoftmaxArgs) {\n"
    << "  __shared__ T s_part[256];\n"
    << "  for (long long r = blockIdx.x; r < a.rows; r += gridDim.x) {\n"
    << "    const T *x = (const T *)a.in + r * a.cols;\n"
    << "    T m = " << neg_inf << ";\n"
    << "    for (long long j = threadIdx.x; j < a.cols; j += blockDim.x) {\n"
    << "      const T v = x[j];\n"
    << "      if (v > m || v != v) m = v;\n"
    << "    }\n"
    << "    s_part[threadIdx.x] = m;\n"
    << block_tree("    ",
                  "{\n        const T v = s_part[threadIdx.x + w];\n"
                  "        if (v > s_part[threadIdx.x] || v != v) s_part[threadIdx.x] = v;\n"
                  "      }")
    << "    m = s_part[0];\n"
    << (logsumexp ? "    if (m - m != (T)0) m = (T)0;\n" : "") << "    __syncthreads();\n"
    << "    T sum = (T)0;\n"
    << "    for (long long j = threadIdx.x; j < a.cols; j += blockDim.x)\n"
    << "      sum += " << exp << "(x[j] - m);\n"
    << "    s_part[threadIdx.x] = sum;\n"
    << block_tree("    ", "s_part[threadIdx.x] += s_part[threadIdx.x + w];")
    << "    sum = s_part[0];\n";
  if (logsumexp)
    s << "    if (threadIdx.x == 0) ((T *)a.out)[r] = m + " << log << "(sum);\n";
  else
    s << "    const T inv = (T)1 / sum;\n"
      << "    T *y = (T *)a.out + r * a.cols;\n"
      << "    for (long long j = threadIdx.x; j < a.cols; j += blockDim.x)\n"
      << "      y[j] = " << exp << "(x[j] - m) * inv;\n";
  s << "    __syncthreads();\n"
    << "  }\n}\n";
  return {name, s.str()};
}

KernelSource cross_entropy_kernel(DType dtype) {
  const std::string start = float_kernel_start(dtype, "softmax_cross_entropy");
  const std::string name = std::string("dz_cross_entropy_") + tag(dtype);
  const std::string exp = math("exp", dtype), log = math("log", dtype);
  const char *neg_inf = negative_infinity(dtype);
  // Each row as the CPU's (losses.cpp): its logsumexp in T (max, then the sum of
  // exp(x - max) in T; shifted by 0 where the max is not finite, as logsumexp), then
  // x[t] - lse in float64; the rows' terms summed in float64.
  std::ostringstream s;
  s << start << "DZ_KERNEL(" << name << ", CrossEntropyArgs) {\n"
    << "  __shared__ double s_part[256];\n"
    << "  double total = 0;\n"
    << "  for (long long r = threadIdx.x; r < a.rows; r += blockDim.x) {\n"
    << "    const T *x = (const T *)a.x + r * a.cols;\n"
    << "    T m = " << neg_inf << ";\n"
    << "    for (long long j = 0; j < a.cols; ++j)\n"
    << "      m = x[j] > m ? x[j] : m;\n"
    << "    if (m - m != (T)0) m = (T)0;\n"
    << "    T sum = (T)0;\n"
    << "    for (long long j = 0; j < a.cols; ++j)\n"
    << "      sum += " << exp << "(x[j] - m);\n"
    << "    const T lse = m + " << log << "(sum);\n"
    << "    total += (double)x[a.labels[r]] - (double)lse;\n"
    << "  }\n"
    << "  s_part[threadIdx.x] = total;\n"
    << block_tree("  ", "s_part[threadIdx.x] += s_part[threadIdx.x + w];")
    << "  if (blockIdx.x == 0 && threadIdx.x == 0)\n"
    << "    *(T *)a.out = (T)(-s_part[0] / (double)a.rows);\n" // no rows: NaN
    << "}\n";
  return {name, s.str()};
}

KernelSource dropout_mask_kernel(DType dtype) {
  const std::string start = float_kernel_start(dtype, "dropout");
  const std::string name = std::string("dz_dropout_mask_") + tag(dtype);
  const bool f32 = dtype == DType::f32;
  // philox4x32 and the uniforms of random.cpp: element i is word i % 4 of counter
  // offset + i / 4 (float64: 53 bits from that word and the same word of the counter with
  // its high half 1). Compared in T like the CPU's rand(...) > ratio.
  std::ostringstream s;
  s << start << "static __device__ void dz_philox(unsigned long long lo, unsigned long long hi,\n"
    << "                                 unsigned long long seed, unsigned *w) {\n"
    << "  unsigned c0 = (unsigned)lo, c1 = (unsigned)(lo >> 32);\n"
    << "  unsigned c2 = (unsigned)hi, c3 = (unsigned)(hi >> 32);\n"
    << "  unsigned k0 = (unsigned)seed, k1 = (unsigned)(seed >> 32);\n"
    << "  for (int round = 0; round < 10; ++round) {\n"
    << "    if (round > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }\n"
    << "    const unsigned long long p0 = 0xD2511F53ull * c0, p1 = 0xCD9E8D57ull * c2;\n"
    << "    const unsigned hi0 = (unsigned)(p0 >> 32), lo0 = (unsigned)p0;\n"
    << "    const unsigned hi1 = (unsigned)(p1 >> 32), lo1 = (unsigned)p1;\n"
    << "    c0 = hi1 ^ c1 ^ k0; c1 = lo1; c2 = hi0 ^ c3 ^ k1; c3 = lo0;\n"
    << "  }\n"
    << "  w[0] = c0; w[1] = c1; w[2] = c2; w[3] = c3;\n"
    << "}\n"
    << "DZ_KERNEL(" << name << ", DropoutArgs) {\n"
    << "  const long long groups = (a.n + 3) / 4, step = (long long)gridDim.x * blockDim.x;\n"
    << "  const T ratio = (T)a.ratio, scale = (T)a.scale;\n"
    << "  for (long long g = (long long)blockIdx.x * blockDim.x + threadIdx.x; g < groups;\n"
    << "       g += step) {\n"
    << "    unsigned w[4], w2[4];\n"
    << "    dz_philox(a.offset + (unsigned long long)g, 0ull, a.seed, w);\n";
  if (!f32)
    s << "    dz_philox(a.offset + (unsigned long long)g, 1ull, a.seed, w2);\n";
  s << "    for (int j = 0; j < 4 && g * 4 + j < a.n; ++j) {\n";
  if (f32)
    s << "      const T u = (T)(w[j] >> 8) * 5.9604644775390625e-8f; // 2^-24\n";
  else
    s << "      const T u = (T)(((unsigned long long)(w[j] >> 5) << 26) | (w2[j] >> 6)) *\n"
      << "                  1.1102230246251565e-16; // 2^-53\n";
  s << "      ((T *)a.out)[g * 4 + j] = u > ratio ? scale : (T)0;\n"
    << "    }\n"
    << "  }\n}\n";
  return {name, s.str()};
}

KernelSource gemm_kernel(DType dtype) {
  const std::string start = float_kernel_start(dtype, "matmul");
  std::string name = std::string("dz_gemm_") + tag(dtype);
  std::ostringstream s;
  // One thread per element of C, a dot product over k: the fallback where cuBLAS is
  // missing (and the emulation's GEMM). Consecutive threads take consecutive columns, so
  // B's loads coalesce.
  s << start << "DZ_KERNEL(" << name << ", GemmArgs) {\n"
    << "  const long long mn = a.m * a.n, total = a.batch * mn;\n"
    << "  const long long step = (long long)gridDim.x * blockDim.x;\n"
    << "  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += "
       "step) {\n"
    << "    const long long b = i / mn, e = i - b * mn, row = e / a.n, col = e - row * a.n;\n"
    << "    const T *A = (const T *)a.a + b * a.stride_a;\n"
    << "    const T *B = (const T *)a.b + b * a.stride_b;\n"
    << "    T *Cm = (T *)a.c + b * mn;\n"
    << "    T acc = (T)0;\n"
    << "    for (long long p = 0; p < a.k; ++p)\n"
    << "      acc += A[a.ta ? p * a.m + row : row * a.k + p] * B[a.tb ? col * a.k + p : p * a.n + "
       "col];\n"
    << "    Cm[e] = a.beta != 0 ? (T)(acc + (T)a.beta * Cm[e]) : acc;\n"
    << "  }\n}\n";
  return {name, s.str()};
}

KernelSource gather_kernel(size_t elem_bytes) {
  const char *t = elem_bytes == 1   ? "unsigned char"
                  : elem_bytes == 4 ? "unsigned int"
                                    : "unsigned long long";
  std::string name = "dz_gather_" + std::to_string(elem_bytes * 8);
  std::ostringstream s;
  s << prelude() << "DZ_KERNEL(" << name << ", GatherArgs) {\n"
    << "  const long long step = (long long)gridDim.x * blockDim.x;\n"
    << "  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < a.n; i += "
       "step)\n"
    << "    ((" << t << " *)a.y)[i] = ((const " << t << " *)a.x)[a.offsets[i]];\n"
    << "}\n";
  return {name, s.str()};
}

KernelSource scatter_add_kernel(DType dtype) {
  // atomicAdd has float, double, int and unsigned long long forms; an int64 add is the
  // same bits as an unsigned one.
  const char *t = dtype == DType::f32   ? "float"
                  : dtype == DType::f64 ? "double"
                  : dtype == DType::i32 ? "int"
                  : dtype == DType::i64 ? "unsigned long long"
                                        : nullptr;
  if (!t)
    throw Error(std::string("scatter_add: dtype ") + dtype_name(dtype) +
                " is not supported on the GPU (valid: float32, float64, int64, int32)");
  std::string name = std::string("dz_scatter_add_") + tag(dtype);
  std::ostringstream s;
  s << prelude() << "DZ_KERNEL(" << name << ", GatherArgs) {\n"
    << "  const long long step = (long long)gridDim.x * blockDim.x;\n"
    << "  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < a.n; i += "
       "step)\n"
    << "    atomicAdd((" << t << " *)a.y + a.offsets[i], ((const " << t << " *)a.x)[i]);\n"
    << "}\n";
  return {name, s.str()};
}

std::vector<KernelSource> all_kernels() {
  std::vector<KernelSource> all;
  const DType every[] = {DType::f32, DType::f64, DType::i64, DType::i32, DType::u8, DType::b8};
  const DType floats[] = {DType::f32, DType::f64};
  for (int o = 0; o <= int(MapOp::where); ++o) {
    MapOp op = MapOp(o);
    for (DType t : every) {
      try {
        if (op == MapOp::cast)
          for (DType from : every)
            all.push_back(map_kernel(op, t, {from}));
        else if (is_compare(op))
          all.push_back(map_arity(op) == 1 ? map_kernel(op, DType::b8, {t})
                                           : map_kernel(op, DType::b8, {t, t}));
        else if (op == MapOp::where)
          all.push_back(map_kernel(op, t, {DType::b8, t, t}));
        else if (map_arity(op) == 2)
          all.push_back(map_kernel(op, t, {t, t}));
        else
          all.push_back(map_kernel(op, t, {t}));
      } catch (const Error &) {
        // the op is not defined for this dtype
      }
    }
  }
  // Scalar operands (x * 0.9, 1 - x, fills): the template's other branch, for a few dtypes.
  for (int o = 0; o <= int(MapOp::where); ++o) {
    MapOp op = MapOp(o);
    for (DType t : {DType::f32, DType::i64, DType::b8}) {
      try {
        if (op == MapOp::cast)
          all.push_back(map_kernel(op, t, {t}, {true})); // a fill
        else if (op == MapOp::where)
          all.push_back(map_kernel(op, t, {DType::b8, t, t}, {false, true, false}));
        else if (map_arity(op) == 2) {
          DType out = is_compare(op) ? DType::b8 : t;
          all.push_back(map_kernel(op, out, {t, t}, {false, true}));
          all.push_back(map_kernel(op, out, {t, t}, {true, false}));
          if (t == DType::f32) // the flat variant (a contiguous op)
            all.push_back(map_kernel(op, out, {t, t}, {false, false}, /*flat=*/true));
        }
      } catch (const Error &) {
      }
    }
  }
  for (DType t : every) {
    all.push_back(reduce_kernel(ReduceOp::sum, is_floating(t) ? t : DType::i64, t));
    if (t != DType::b8) {
      all.push_back(reduce_kernel(ReduceOp::max, t, t));
      all.push_back(reduce_kernel(ReduceOp::min, t, t));
      all.push_back(reduce_kernel(ReduceOp::argmax, DType::i64, t));
    }
  }
  for (DType t : floats) {
    all.push_back(gemm_kernel(t));
    all.push_back(softmax_rows_kernel(t, false));
    all.push_back(softmax_rows_kernel(t, true));
    all.push_back(dropout_mask_kernel(t));
    all.push_back(cross_entropy_kernel(t));
  }
  for (size_t bytes : {1, 4, 8})
    all.push_back(gather_kernel(bytes));
  for (DType t : {DType::f32, DType::f64, DType::i64, DType::i32})
    all.push_back(scatter_add_kernel(t));
  return all;
}

} // namespace dz::cuda::eager
