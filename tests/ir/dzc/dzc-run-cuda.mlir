// dzc run --device cuda: the program on cuda:0, here the host emulation of the GPU
// (DZ_CUDA_EMULATION=1, docs/cuda.md): the outputs are the CPU run's, byte for byte, and
// the fused group is a generated kernel. f(x, y) = (sum(x * y), x * x * y + 1): exact
// arithmetic, so that the bytes agree whatever the device's math library.
// RUN: rm -rf %t && mkdir -p %t
// RUN: dzc run %s --input %S/Inputs/dzc-x-3xf32.npy --input %S/Inputs/dzc-y-3xf32.npy --output-dir %t/cpu
// RUN: env DZ_CUDA_EMULATION=1 XDG_CACHE_HOME=%t/cache dzc run %s --device cuda --input %S/Inputs/dzc-x-3xf32.npy --input %S/Inputs/dzc-y-3xf32.npy --output-dir %t/gpu --bench 2 | FileCheck %s --check-prefix=BENCH
// BENCH: @f: 2 runs, median {{[0-9.]+}} ms
// RUN: cmp %t/cpu/output_0.npy %t/gpu/output_0.npy
// RUN: cmp %t/cpu/output_1.npy %t/gpu/output_1.npy
// The kernel of the fused group is what --emit=cuda prints.
// RUN: dzc %s --emit=cuda | FileCheck %s --check-prefix=KERNEL
// KERNEL: extern "C" __global__ void {{.*}}f_k{{[0-9]+}}_fused(

func.func @f(%x: tensor<3xf32>, %y: tensor<3xf32>) -> (tensor<f32>, tensor<3xf32>) {
  %p = dz.mul %x, %y : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %s = dz.sum %p {axes = array<i64>, keepdims = false} : tensor<3xf32> -> tensor<f32>
  %e = dz.mul %x, %x : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %m = dz.mul %e, %y : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %one = dz.constant dense<1.0> : tensor<3xf32>
  %r = dz.add %m, %one : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return %s, %r : tensor<f32>, tensor<3xf32>
}
