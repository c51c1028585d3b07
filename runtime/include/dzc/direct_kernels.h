// dzc/direct_kernels.h - CPU kernels over raw, contiguous buffers of known sizes, for code
// that has planned its memory and checked its shapes before it runs (the compiled
// executor's direct mode, codegen/cpu). Each computes what the eager function of the same
// name computes on contiguous CPU tensors, with the same loops in the same order, so a
// program run through these is bitwise equal to the eager step. They allocate nothing
// (softmax_cross_entropy takes its scratch), check no shapes, and still check values where
// the eager function does: an out-of-range label throws dz::Error.
#pragma once

#include <dzc/op_registry.h>
#include <dzc/tensor.h>

#include <cstdint>

namespace dz::direct {

/// C[M,N] = op(A) op(B), row-major (op: transposed when ta / tb); `batch` products of
/// consecutive matrices. float32, float64, int64, int32 (the eager matmul's dtypes).
void matmul(DType dt, bool ta, bool tb, int64_t batch, int64_t M, int64_t N, int64_t K,
            const void *A, const void *B, void *C);

/// out[N,M] = x[N,K] W[K,M] (+ b[M]); float32 or float64.
void linear(DType dt, int64_t N, int64_t K, int64_t M, const void *x, const void *W, const void *b,
            void *out);

/// True when `unary` runs registry op `op` on dtype `dt` with a result of the same dtype.
bool has_unary(MapOp op, DType dt);
/// out[i] = op(x[i]) for i < n (has_unary(op, dt) must hold).
void unary(MapOp op, DType dt, const void *x, void *out, int64_t n);

/// True when `binary` runs registry op `op` on operands and a result of dtype `dt`.
bool has_binary(MapOp op, DType dt);
/// out[i] = op(a[i * sa], b[i * sb]) for i < n, sa and sb 1 (an operand of n elements) or 0
/// (one element broadcast); has_binary(op, dt) must hold.
void binary(MapOp op, DType dt, const void *a, int64_t sa, const void *b, int64_t sb, void *out,
            int64_t n);

/// Softmax over the rows of x viewed as (rows, cols); float32 or float64.
void softmax_rows(DType dt, const void *x, void *out, int64_t rows, int64_t cols);

/// logsumexp over the rows of x viewed as (rows, cols), into out (rows); float32 or float64.
void lse_rows(DType dt, const void *x, void *out, int64_t rows, int64_t cols);

/// Sum of x viewed as (outer, red, inner) over its middle axis, into out (outer, inner):
/// Tensor::sum_to and Tensor::sum when the summed axes are adjacent. Sums accumulate in
/// float64 for float32, in int64 for integer dtypes (out then has dtype int64).
void sum_3d(DType dt, const void *x, void *out, int64_t outer, int64_t red, int64_t inner);

/// Mean over the rows of logsumexp(x[n, :]) - x[n, labels[n]] into the 0-d out; float32 or
/// float64. scratch holds N values of dtype dt. Throws dz::Error for a label outside
/// [0, C).
void softmax_cross_entropy(DType dt, const void *x, const int64_t *labels, void *out, int64_t N,
                           int64_t C, void *scratch);

/// out[N, C] = the one-hot rows of labels, in dtype dt (numeric); with `check`, throws
/// dz::Error for a label outside [0, C).
void one_hot(DType dt, const int64_t *labels, void *out, int64_t N, int64_t C, bool check);

/// sum((a - b)^2) / len over n elements, len the size of a's first axis (1 for a 0-d a):
/// the eager mean_squared_error; float32 or float64, into the 0-d out.
void mean_squared_error(DType dt, const void *a, const void *b, void *out, int64_t n,
                        int64_t len);

/// y[i] = x[plan.offsets[i]] (dz::gather); elements of `elem_bytes` bytes.
void gather(const IndexPlan &plan, size_t elem_bytes, const void *x, void *y);

} // namespace dz::direct
