// dzc FILE.mlir --print-memory-plan: the memory plan of every function after the pipeline
// of compiled mode, in the module's order, instead of the module; -o writes it to a file.
// RUN: dzc %s --print-memory-plan | FileCheck %s
// RUN: rm -f %t.txt && dzc %s --print-memory-plan -o %t.txt | count 0
// RUN: FileCheck %s < %t.txt
// RUN: sh -c 'dzc %s --print-memory-plan --emit=dz; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=EMIT

// x^3 and its gradient after the pipeline: %0 = x * x, %1 = x2 * x (returned), then
// 3 x2 = %3 = %2 + x2 with %2 = x2 + x2 (%3 is returned). x2 lives until %3, so %2 cannot
// take its buffer, and returned values are not in the arena: no reuse. Every 0-d f32
// takes 64 bytes.
// CHECK-LABEL: memory plan @cube: 2 values, 2 buffers, 0 in place, alignment 64
// CHECK-NEXT: %0 4 0 [0, 3]
// CHECK-NEXT: %2 4 64 [2, 3]
// CHECK-NEXT: peak 128 naive 128
func.func @cube(%x: tensor<f32>) -> (tensor<f32>, tensor<f32>) {
  %x2 = dz.mul %x, %x : (tensor<f32>, tensor<f32>) -> tensor<f32>
  %y = dz.mul %x2, %x : (tensor<f32>, tensor<f32>) -> tensor<f32>
  %gy = dz.grad %y wrt %x : tensor<f32>, tensor<f32>
  return %y, %gy : tensor<f32>, tensor<f32>
}

// A second function comes second; a function with no intermediates has an empty plan.
// CHECK-LABEL: memory plan @chain: 2 values, 1 buffers, 1 in place, alignment 64
// CHECK-NEXT: %0 24 0 [0, 1]
// CHECK-NEXT: %1 24 0 [1, 2] in-place %0
// CHECK-NEXT: peak 64 naive 128
// CHECK-LABEL: memory plan @identity: 0 values, 0 buffers, 0 in place, alignment 64
// CHECK-NEXT: peak 0 naive 0
func.func @chain(%x: tensor<3xf64>) -> tensor<3xf64> {
  %0 = dz.exp %x : tensor<3xf64>
  %1 = dz.neg %0 : tensor<3xf64>
  %2 = dz.tanh %1 : tensor<3xf64>
  return %2 : tensor<3xf64>
}
func.func @identity(%x: tensor<3xf64>) -> tensor<3xf64> {
  return %x : tensor<3xf64>
}

// EMIT: dzc: error: --print-memory-plan plans the module after the pipeline (--emit=opt or fused), not --emit=dz
// EMIT: exit=2
