// eager_kernels.h - the CUDA C of the eager backend's kernels (backend.cpp), made per
// operation and dtype, and the argument structs they take.
//
// Shapes and strides are arguments, not literals: one kernel per (operation, dtypes)
// serves every shape, so a training loop compiles a few dozen kernels once (and the PTX
// cache keeps them across runs). Each kernel takes one struct by value; the structs are
// defined once below, for the host and, as text, for the kernels, so both sides agree on
// the layout (only 8-byte fields).
#pragma once

#include <dzc/device_backend.h>

#include <string>
#include <vector>

namespace dz::cuda::eager {

/// Dimensions a kernel handles after merging: operands of more dimensions are merged or
/// rejected.
inline constexpr int kMaxDims = 8;

#define DZ_EAGER_STRUCTS(...)                                                                      \
  __VA_ARGS__                                                                                      \
  inline constexpr const char *kStructSource = #__VA_ARGS__;

DZ_EAGER_STRUCTS(
    struct MapArgs {
      long long n;
      long long ndim;
      long long shape[8];
      long long strides[3][8];
      const void *in[3];
      void *out;
      double imm_f[3];    // the scalar operands (in[k] null): floats
      long long imm_i[3]; // integers and bools
    };
    struct ReduceArgs {
      long long n_out, n_red;
      long long kdims, kshape[8], kstride[8];
      long long rdims, rshape[8], rstride[8];
      const void *in;
      void *out;
    };
    struct SoftmaxArgs {
      long long rows, cols;
      const void *in;
      void *out;
    };
    struct CrossEntropyArgs {
      long long rows, cols;
      const void *x;
      const long long *labels;
      void *out;
    };
    struct DropoutArgs {
      long long n;
      unsigned long long seed, offset;
      double ratio, scale;
      void *out;
    };
    struct GemmArgs {
      long long batch, m, n, k, stride_a, stride_b, ta, tb;
      double beta;
      const void *a, *b;
      void *c;
    };
    struct GatherArgs {
      long long n;
      const long long *offsets;
      const void *x;
      void *y;
    };)
#undef DZ_EAGER_STRUCTS

/// A kernel's source and its entry's name.
struct KernelSource {
  std::string name, source;
};

/// out = op(in...) with MapArgs; throws dz::Error for an op the dtypes do not allow.
/// Operand k with `scalar[k]` set is read from MapArgs::imm_f / imm_i, not memory. With
/// `flat` (MapArgs::ndim at most 1: a contiguous op after merging, the usual case) the
/// offsets are i * stride, without the per-dimension divisions of the general kernel.
KernelSource map_kernel(MapOp op, DType out, const std::vector<DType> &in,
                        const std::vector<bool> &scalar = {}, bool flat = false);
/// ReduceArgs; the block must be a power of two from 32 to 256.
KernelSource reduce_kernel(ReduceOp op, DType out, DType in);
/// SoftmaxArgs: softmax of each row, or its logsumexp; f32, f64; block as reduce_kernel.
KernelSource softmax_rows_kernel(DType dtype, bool logsumexp);
/// CrossEntropyArgs: one block, a thread per row (strided), the rows' terms summed in
/// float64 through a shared-memory tree; block as reduce_kernel.
KernelSource cross_entropy_kernel(DType dtype);
/// DropoutArgs: Philox4x32-10 as runtime/src/random.cpp, a thread per counter (4 elements).
KernelSource dropout_mask_kernel(DType dtype);
KernelSource gemm_kernel(DType dtype);
/// GatherArgs; elements of `elem_bytes` (1, 4 or 8) bytes.
KernelSource gather_kernel(size_t elem_bytes);
/// GatherArgs with x the source and y the destination of y[offsets[i]] += x[i].
KernelSource scatter_add_kernel(DType dtype);

/// Every kernel the backend can make, for the test that compiles them all with NVRTC.
std::vector<KernelSource> all_kernels();

} // namespace dz::cuda::eager
