// dzc --emit=memplan|llvm|cuda: the memory plan, the LLVM IR of the JIT-compiled fused
// kernels, and the CUDA C of the GPU back end, each after the whole pipeline.
// RUN: dzc %s --emit=memplan | FileCheck %s --check-prefix=PLAN
// RUN: dzc %s --emit=llvm | FileCheck %s --check-prefix=LLVM
// RUN: dzc %s --emit=cuda | FileCheck %s --check-prefix=CUDA
// RUN: dzc %s --emit=fused | FileCheck %s --check-prefix=FUSED

// Bias add, ReLU, exp and a product fuse into one group; its result is returned, so the
// plan has no intermediate. The group's inputs are the domain's shape and a broadcast
// bias, so its kernel is a loop nest over 4x8 (not the flat form).
// FUSED-LABEL: func.func @f
// FUSED:         dz.fused (%{{.*}} = %arg0, %{{.*}} = %arg1) : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
// FUSED-NOT:     dz.fused
// FUSED-LABEL: func.func @g
// FUSED:         dz.fused (%{{.*}} = %arg0, %{{.*}} = %arg1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>

// PLAN:      memory plan @f: 0 values, 0 buffers, 0 in place, alignment 64
// PLAN-NEXT: peak 0 naive 0
// PLAN:      memory plan @g: 2 values, 1 buffers, 1 in place, alignment 64
// PLAN-NEXT: %0 16 0 [0, 1]
// PLAN-NEXT: %1 16 0 [1, 2] in-place %0
// PLAN-NEXT: peak 64 naive 128

// @f's loop nest takes the range of its outer loop (%3, %4), then the domain's sizes
// (%5, %6: 4 and 8 at run time), so one kernel serves every batch size; @g's flat loop
// only the range.
// LLVM:      ; the fused kernels of @f
// LLVM:      define void @fused_0(ptr noalias {{.*}}%0, ptr noalias {{.*}}%1, ptr noalias {{.*}}%2, i64 %3, i64 %4, i64 %5, i64 %6)
// LLVM:      define void @_mlir_fused_0(ptr
// LLVM:      ; the fused kernels of @g
// LLVM:      define void @fused_0(ptr noalias {{.*}}%0, ptr noalias {{.*}}%1, ptr noalias {{.*}}%2, i64 %3, i64 %4)

// CUDA:      // CUDA kernels of @f
// CUDA:      grid 1 x block 256, 4 elements a thread where aligned
// CUDA:      extern "C" __global__ void {{.*}}f_k0_fused(const float *__restrict__ in0, const float *__restrict__ in1, float *__restrict__ out0)
// The vector loop: x and the result 16 bytes at a time where aligned (the bias, broadcast,
// one element a lane), then the scalar loop from where it ended.
// CUDA:      if ((((unsigned long long)in0 | (unsigned long long)out0) & 15ULL) == 0) {
// CUDA:        v_in0.v = reinterpret_cast<const float4 *>(in0)[q];
// CUDA:          const float x1 = in1[c1];
// CUDA:        reinterpret_cast<float4 *>(out0)[q] = v_out0.v;
// CUDA:      scalar_from = 32LL;
// CUDA:      for (long long i = scalar_from +
// CUDA:      out0[i] =

func.func @f(%x: tensor<4x8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %0 = dz.add %x, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %1 = dz.relu %0 : tensor<4x8xf32>
  %2 = dz.exp %1 : tensor<4x8xf32>
  %3 = dz.mul %2, %x : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %3 : tensor<4x8xf32>
}

// A 4-element chain (flat form) whose result goes to a matmul through a reshape: the
// group's result and the reshape share one buffer.
func.func @g(%x: tensor<4xf32>, %y: tensor<4xf32>, %w: tensor<1x4xf32>) -> tensor<1x1xf32> {
  %0 = dz.sub %x, %y : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %1 = dz.square %0 : tensor<4xf32>
  %2 = dz.reshape %1 {shape = array<i64: 4, 1>} : tensor<4xf32> -> tensor<4x1xf32>
  %3 = dz.matmul %w, %2 : (tensor<1x4xf32>, tensor<4x1xf32>) -> tensor<1x1xf32>
  return %3 : tensor<1x1xf32>
}
