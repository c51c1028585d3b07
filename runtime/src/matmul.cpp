// matmul.cpp - matrix products: float32 through oneDNN's sgemm, other dtypes through a
// blocked loop; NumPy matmul semantics (1-d operands, broadcast batch dimensions) and a
// transposed-operand form that the gradients use to avoid copies.
#include "device_ops.h"
#include "kernels.h"
#include "scalar_ops.h"

#include <dzc/io.h>
#include <dzc/direct_kernels.h>
#include <dzc/trace_hook.h>

#include <dlfcn.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <limits>
#include <string_view>
#include <vector>

namespace dz {

using namespace detail;

namespace {

/// Fortran BLAS's sgemm (column-major).
using BlasSgemm = void (*)(const char *transa, const char *transb, const int *m, const int *n,
                           const int *k, const float *alpha, const float *a, const int *lda,
                           const float *b, const int *ldb, const float *beta, float *c,
                           const int *ldc);

/// Products of at most this many multiply-adds go to OpenBLAS's small-matrix kernels: a
/// oneDNN sgemm call costs about 0.3 us whatever its size, OpenBLAS's 0.05-0.45 us up to
/// here, and beyond it oneDNN is as fast or faster (docs/performance.md).
constexpr int64_t kSmallGemm = 16384;

/// OpenBLAS's sgemm from its OpenMP build (Debian's libopenblas0-openmp, whose threads are
/// the OpenMP threads dzc and oneDNN use), loaded on first use; null where it is missing or
/// $DZ_DISABLE names small-gemm, and then oneDNN runs every product.
BlasSgemm small_sgemm() {
  static const BlasSgemm fn = []() -> BlasSgemm {
    if (env_list_has("DZ_DISABLE", "small-gemm"))
      return nullptr;
    void *lib =
        dlopen("/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    return lib ? reinterpret_cast<BlasSgemm>(dlsym(lib, "sgemm_")) : nullptr;
  }();
  return fn;
}

/// C[M,N] = alpha * op(A) op(B) + beta * C, row-major; lda/ldb are the stored row lengths.
template <typename T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T *A, const T *B, T *C, T beta) {
  if constexpr (std::is_same_v<T, float>) {
    int64_t lda = ta ? M : K, ldb = tb ? K : N;
    if (M * N * K <= kSmallGemm && M > 0 && N > 0 && K > 0) {
      if (BlasSgemm blas = small_sgemm()) {
        // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T.
        const int m = int(N), n = int(M), k = int(K), ia = int(ldb), ib = int(lda), ic = int(N);
        const float one = 1.0f;
        const char transa = tb ? 'T' : 'N', transb = ta ? 'T' : 'N';
        blas(&transa, &transb, &m, &n, &k, &one, B, &ia, A, &ib, &beta, C, &ic);
        return;
      }
    }
    dnnl_status_t st =
        dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, 1.0f, A, lda, B, ldb, beta, C, N);
    if (st != dnnl_success)
      throw Error("matmul: oneDNN sgemm failed with status " + std::to_string(int(st)));
  } else {
    auto a = [&](int64_t i, int64_t k) { return ta ? A[k * M + i] : A[i * K + k]; };
    auto b = [&](int64_t k, int64_t j) { return tb ? B[j * K + k] : B[k * N + j]; };
#pragma omp parallel for if (M * N * K > 262144 && !omp_in_parallel())
    for (int64_t i = 0; i < M; ++i) {
      T *c = C + i * N;
      if (beta == T(0))
        std::fill(c, c + N, T(0));
      for (int64_t k = 0; k < K; ++k) {
        T av = a(i, k);
        if (!tb) {
          const T *brow = B + k * N;
#pragma omp simd
          for (int64_t j = 0; j < N; ++j)
            c[j] += av * brow[j];
        } else {
          for (int64_t j = 0; j < N; ++j)
            c[j] += av * b(k, j);
        }
      }
    }
  }
}

std::string operands(const Tensor &a, const Tensor &b) {
  return shape_str(a.shape()) + " @ " + shape_str(b.shape());
}

} // namespace

namespace {
Tensor matmul_transposed(const Tensor &a0, const Tensor &b0, bool ta, bool tb);
Tensor linear_impl(const Tensor &x0, const Tensor &W0, const Tensor *b0);
} // namespace

Tensor matmul(const Tensor &a0, const Tensor &b0, bool ta, bool tb) {
  TraceScope trace;
  Tensor out = matmul_transposed(a0, b0, ta, tb);
  if (trace)
    trace->op("matmul", {&a0, &b0}, out, {{"transpose_a", ta}, {"transpose_b", tb}});
  return out;
}

Tensor linear(const Tensor &x0, const Tensor &W0, const Tensor *b0) {
  TraceScope trace;
  Tensor out = linear_impl(x0, W0, b0);
  if (trace) {
    if (b0)
      trace->op("linear", {&x0, &W0, b0}, out, {});
    else
      trace->op("linear", {&x0, &W0}, out, {});
  }
  return out;
}

namespace {
Tensor matmul_transposed(const Tensor &a0, const Tensor &b0, bool ta, bool tb) {
  if (a0.ndim() < 2 || b0.ndim() < 2 || a0.ndim() > 3 || a0.ndim() != b0.ndim())
    throw Error("matmul: transposed form needs two 2-d or two 3-d operands, got " +
                operands(a0, b0));
  DType dt = promote(a0.dtype(), b0.dtype());
  Tensor a = a0.to(dt), b = b0.to(dt);
  int64_t batch = a.ndim() == 3 ? a.shape(0) : 1;
  if (a.ndim() == 3 && b.shape(0) != batch)
    throw Error("matmul: batch sizes differ in " + operands(a, b));
  int64_t M = ta ? a.shape(-1) : a.shape(-2), K = ta ? a.shape(-2) : a.shape(-1);
  int64_t Kb = tb ? b.shape(-1) : b.shape(-2), N = tb ? b.shape(-2) : b.shape(-1);
  if (K != Kb)
    throw Error("matmul: inner dimensions differ: " + operands(a, b) +
                (ta || tb ? std::string(" (with transposes a:") + (ta ? "T" : "N") +
                                " b:" + (tb ? "T" : "N") + ")"
                          : std::string()) +
                " has K = " + std::to_string(K) + " vs " + std::to_string(Kb));
  if (device::op_device("matmul", {&a0, &b0}) != Device::cpu())
    return device::matmul(a, b, ta, tb);
  Shape out_shape = a.ndim() == 3 ? Shape{batch, M, N} : Shape{M, N};
  Tensor out(out_shape, dt);
  visit_numeric(dt, "matmul", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> ||
                  std::is_same_v<T, int64_t> || std::is_same_v<T, int32_t>) {
      const T *pa = static_cast<const T *>(a.raw());
      const T *pb = static_cast<const T *>(b.raw());
      T *pc = static_cast<T *>(out.raw());
      if (K == 0) {
        std::fill(pc, pc + out.size(), T(0));
        return;
      }
      // Many products (a batched matmul, the per-image GEMMs of a lowered convolution):
      // one product at a time per thread, each on one thread (a nested OpenMP region runs
      // on one), instead of waking the whole team for every small product.
      const int threads = omp_get_max_threads();
      const bool outer = threads > 1 && batch >= threads && !omp_in_parallel() &&
                         batch * M * N * K > kParallelGrain;
      if (!outer) {
        for (int64_t i = 0; i < batch; ++i)
          gemm<T>(ta, tb, M, N, K, pa + i * M * K, pb + i * K * N, pc + i * M * N, T(0));
        return;
      }
      std::exception_ptr failure; // an exception must not leave the parallel region
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < batch; ++i) {
        try {
          gemm<T>(ta, tb, M, N, K, pa + i * M * K, pb + i * K * N, pc + i * M * N, T(0));
        } catch (...) {
#pragma omp critical(dz_matmul_failure)
          failure = std::current_exception();
        }
      }
      if (failure)
        std::rethrow_exception(failure);
    } else {
      throw Error(std::string("matmul: dtype ") + dtype_name(dt) + " is not supported");
    }
  });
  return out;
}

} // namespace

Tensor matmul(const Tensor &a0, const Tensor &b0) {
  if (a0.ndim() == 0 || b0.ndim() == 0)
    throw Error("matmul: operands must have at least one dimension, got " + operands(a0, b0));
  // 1-d operands: promote to matrices and drop the added axis afterwards (NumPy).
  Tensor a = a0.ndim() == 1 ? a0.reshape({1, a0.shape(0)}) : a0;
  Tensor b = b0.ndim() == 1 ? b0.reshape({b0.shape(0), 1}) : b0;
  if (a.shape(-1) != b.shape(-2))
    throw Error("matmul: inner dimensions differ: " + operands(a0, b0) + " (" +
                std::to_string(a.shape(-1)) + " vs " + std::to_string(b.shape(-2)) + ")");
  Tensor out;
  if (a.ndim() == 2 && b.ndim() == 2) {
    out = matmul(a, b, false, false);
  } else if (b.ndim() == 2) {
    // (..., M, K) x (K, N): the batch dimensions fold into M, one GEMM without broadcast
    // copies of b.
    Shape os = a.shape();
    os.back() = b.shape(1);
    const int64_t rows = shape_size(Shape(a.shape().begin(), a.shape().end() - 1));
    out = matmul(a.reshape({rows, a.shape(-1)}), b, false, false).reshape(os);
  } else {
    // Broadcast the batch dimensions, then run one GEMM per batch.
    Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
    Shape batch;
    try {
      batch = broadcast_shapes(ba, bb, "matmul");
    } catch (const Error &) {
      throw Error("matmul: batch dimensions of " + operands(a0, b0) +
                  " cannot be broadcast together (" + shape_str(ba) + " vs " + shape_str(bb) + ")");
    }
    int64_t M = a.shape(-2), K = a.shape(-1), N = b.shape(-1), nb = shape_size(batch);
    Shape sa = batch, sb = batch;
    sa.insert(sa.end(), {M, K});
    sb.insert(sb.end(), {K, N});
    Tensor a3 = a.broadcast_to(sa).reshape({nb, M, K});
    Tensor b3 = b.broadcast_to(sb).reshape({nb, K, N});
    Shape os = batch;
    os.insert(os.end(), {M, N});
    out = matmul(a3, b3, false, false).reshape(os);
  }
  if (a0.ndim() == 1 || b0.ndim() == 1) {
    Shape s = out.shape();
    if (b0.ndim() == 1)
      s.erase(s.end() - 1);
    if (a0.ndim() == 1)
      s.erase(s.end() - (b0.ndim() == 1 ? 1 : 2));
    out = out.reshape(s);
  }
  return out;
}

namespace {
Tensor linear_impl(const Tensor &x0, const Tensor &W0, const Tensor *b0) {
  if (x0.ndim() != 2 || W0.ndim() != 2 || x0.shape(1) != W0.shape(0))
    throw Error("linear: x " + shape_str(x0.shape()) + " and W " + shape_str(W0.shape()) +
                " do not fit (need x (N, K) and W (K, M))");
  int64_t N = x0.shape(0), K = x0.shape(1), M = W0.shape(1);
  if (b0 && b0->size() != M)
    throw Error("linear: bias of shape " + shape_str(b0->shape()) + " does not match W " +
                shape_str(W0.shape()) + " (need " + std::to_string(M) + " elements)");
  DType dt = promote(x0.dtype(), W0.dtype());
  if (b0)
    dt = promote(dt, b0->dtype());
  if (device::op_device("linear", {&x0, &W0, b0}) != Device::cpu())
    return device::linear(x0.to(dt), W0.to(dt), b0);
  if (!is_floating(dt))
    throw Error(std::string("linear: dtype ") + dtype_name(dt) +
                " is not supported (use float32 or float64)");
  Tensor x = x0.to(dt), W = W0.to(dt), out({N, M}, dt);
  Tensor b = b0 ? b0->to(dt) : Tensor();
  direct::linear(dt, N, K, M, x.raw(), W.raw(), b0 ? b.raw() : nullptr, out.raw());
  return out;
}

} // namespace

// ---- attention ----------------------------------------------------------------------------

namespace {

/// Query rows per block of the attention kernel: the block's scores (rows x N) stay in
/// the cache between the two products.
constexpr int64_t kAttentionRows = 64;

/// One block of query rows of one batch: S = q k (rows x N), S = softmax(scale S + mask),
/// out = S v. `mask` points at the block's first row (null: none), with strides mr (rows)
/// and mn (columns), 0 along broadcast axes.
template <typename T>
void attention_block(const T *q, const T *k, const T *v, const T *mask, int64_t mr, int64_t mn,
                     T *out, T *S, int64_t rows, int64_t D, int64_t N, int64_t E, T scale) {
  gemm<T>(false, false, rows, N, D, q, k, S, T(0));
  for (int64_t i = 0; i < rows; ++i) {
    T *s = S + i * N;
    if (mask) {
      const T *mrow = mask + i * mr;
      if (mn == 1) {
#pragma omp simd
        for (int64_t j = 0; j < N; ++j)
          s[j] = s[j] * scale + mrow[j];
      } else {
        for (int64_t j = 0; j < N; ++j)
          s[j] = s[j] * scale + mrow[j * mn];
      }
    } else {
#pragma omp simd
      for (int64_t j = 0; j < N; ++j)
        s[j] *= scale;
    }
    // softmax of the row, as dz::softmax computes it
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t j = 0; j < N; ++j)
      m = std::max(m, s[j]);
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < N; ++j) {
      s[j] = scalar::Exp(s[j] - m);
      sum += s[j];
    }
    const T inv = T(1) / sum;
#pragma omp simd
    for (int64_t j = 0; j < N; ++j)
      s[j] *= inv;
  }
  gemm<T>(false, false, rows, E, N, S, v, out, T(0));
}

} // namespace

Tensor attention(const Tensor &q0, const Tensor &k0, const Tensor &v0, const Tensor *mask0,
                 double scale) {
  const int64_t r = q0.ndim();
  auto shapes = [&] {
    return shape_str(q0.shape()) + ", " + shape_str(k0.shape()) + ", " + shape_str(v0.shape()) +
           (mask0 ? " and mask " + shape_str(mask0->shape()) : std::string());
  };
  if (r < 2 || k0.ndim() != r || v0.ndim() != r)
    throw Error("attention: q (..., M, D), k (..., D, N) and v (..., N, E) need one rank >= 2, "
                "got " +
                shapes());
  const Shape batch(q0.shape().begin(), q0.shape().end() - 2);
  if (Shape(k0.shape().begin(), k0.shape().end() - 2) != batch ||
      Shape(v0.shape().begin(), v0.shape().end() - 2) != batch)
    throw Error("attention: q, k and v need the same batch dimensions, got " + shapes());
  const int64_t M = q0.shape(-2), D = q0.shape(-1), N = k0.shape(-1), E = v0.shape(-1);
  if (k0.shape(-2) != D || v0.shape(-2) != N)
    throw Error("attention: need q (..., M, D), k (..., D, N), v (..., N, E), got " + shapes());
  Shape scores = batch, out_shape = batch;
  scores.insert(scores.end(), {M, N});
  out_shape.insert(out_shape.end(), {M, E});
  bool mask_fits = !mask0 || mask0->ndim() <= r;
  if (mask0 && mask_fits) {
    try {
      mask_fits = broadcast_shapes(mask0->shape(), scores, "attention") == scores;
    } catch (const Error &) {
      mask_fits = false;
    }
  }
  if (!mask_fits)
    throw Error("attention: the mask does not broadcast to the scores' shape " + shape_str(scores) +
                ", got " + shapes());
  DType dt = promote(promote(q0.dtype(), k0.dtype()), v0.dtype());
  if (mask0)
    dt = promote(dt, mask0->dtype());
  const bool cpu = device::op_device("attention", {&q0, &k0, &v0, mask0}) == Device::cpu();
  if (!cpu || !is_floating(dt)) { // the unfused chain, on the operands' device
    Tensor s = matmul(q0.to(dt), k0.to(dt)) * scale;
    if (mask0)
      s = s + mask0->to(dt);
    return matmul(softmax(s, -1), v0.to(dt));
  }
  Tensor q = q0.to(dt), k = k0.to(dt), v = v0.to(dt), mask = mask0 ? mask0->to(dt) : Tensor();
  Tensor out(out_shape, dt);
  const int64_t nb = shape_size(batch);
  // The mask's strides in the scores' index space (0 along broadcast axes).
  std::vector<int64_t> mstride(size_t(r), 0);
  if (mask0) {
    int64_t st = 1;
    for (int64_t d = mask.ndim() - 1, e = r - 1; d >= 0; --d, --e) {
      if (mask.shape(d) != 1)
        mstride[size_t(e)] = st;
      st *= mask.shape(d);
    }
  }
  std::vector<int64_t> mbase(size_t(nb), 0); // per batch, the mask's offset
  for (int64_t b = 0; b < nb && mask0; ++b) {
    int64_t rem = b, off = 0;
    for (int64_t d = r - 3; d >= 0; --d) {
      off += (rem % batch[size_t(d)]) * mstride[size_t(d)];
      rem /= batch[size_t(d)];
    }
    mbase[size_t(b)] = off;
  }
  if (out.size() == 0)
    return out;
  visit_float(dt, "attention", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *pq = q.data<T>(), *pk = k.data<T>(), *pv = v.data<T>();
    const T *pm = mask0 ? mask.data<T>() : nullptr;
    T *po = out.data<T>();
    const int64_t blocks = (M + kAttentionRows - 1) / kAttentionRows, tasks = nb * blocks;
    const bool parallel = tasks > 1 && !omp_in_parallel() && nb * M * N * (D + E) > kParallelGrain;
    std::exception_ptr failure; // an exception must not leave the parallel region
#pragma omp parallel if (parallel)
    {
      std::vector<T> S(size_t(std::min(M, kAttentionRows) * N));
#pragma omp for schedule(static)
      for (int64_t t = 0; t < tasks; ++t) {
        const int64_t b = t / blocks, i0 = (t % blocks) * kAttentionRows;
        const int64_t rows = std::min(kAttentionRows, M - i0);
        try {
          attention_block<T>(pq + (b * M + i0) * D, pk + b * D * N, pv + b * N * E,
                             pm ? pm + mbase[size_t(b)] + i0 * mstride[size_t(r - 2)] : nullptr,
                             mstride[size_t(r - 2)], mstride[size_t(r - 1)], po + (b * M + i0) * E,
                             S.data(), rows, D, N, E, T(scale));
        } catch (...) {
#pragma omp critical(dz_attention_failure)
          failure = std::current_exception();
        }
      }
    }
    if (failure)
      std::rethrow_exception(failure);
  });
  return out;
}

Tensor Tensor::matmul(const Tensor &o) const { return dz::matmul(*this, o); }

namespace direct {

void matmul(DType dt, bool ta, bool tb, int64_t batch, int64_t M, int64_t N, int64_t K,
            const void *A, const void *B, void *C) {
  visit_numeric(dt, "matmul", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> ||
                  std::is_same_v<T, int64_t> || std::is_same_v<T, int32_t>) {
      const T *pa = static_cast<const T *>(A), *pb = static_cast<const T *>(B);
      T *pc = static_cast<T *>(C);
      if (K == 0)
        return std::fill(pc, pc + batch * M * N, T(0));
      for (int64_t i = 0; i < batch; ++i)
        gemm<T>(ta, tb, M, N, K, pa + i * M * K, pb + i * K * N, pc + i * M * N, T(0));
    } else {
      throw Error(std::string("matmul: dtype ") + dtype_name(dt) + " is not supported");
    }
  });
}

void linear(DType dt, int64_t N, int64_t K, int64_t M, const void *x, const void *W, const void *b,
            void *out) {
  visit_float(dt, "linear", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T *o = static_cast<T *>(out);
    T beta = T(0);
    if (b) {
      const T *pb = static_cast<const T *>(b);
      for (int64_t i = 0; i < N; ++i)
        std::copy(pb, pb + M, o + i * M);
      beta = T(1);
    } else if (K == 0) {
      std::fill(o, o + N * M, T(0));
    }
    if (K > 0)
      gemm<T>(false, false, N, M, K, static_cast<const T *>(x), static_cast<const T *>(W), o, beta);
  });
}

} // namespace direct

} // namespace dz
