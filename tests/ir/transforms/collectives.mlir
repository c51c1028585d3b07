// RUN: dz-opt %s --dz-autodiff --split-input-file | FileCheck %s
// RUN: dz-opt %s --dz-print-memory-plan --split-input-file -o /dev/null | FileCheck %s --check-prefix=PLAN

// The gradient of an all-reduce "sum" (or "mean") is the same all-reduce of the
// cotangent: every rank's x reaches every rank's result. The forward all-reduce stays.
// CHECK-LABEL: func.func @sum
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<3xf32>)
// CHECK-NEXT: %[[Y:.+]] = dz.all_reduce %[[X]] {comm = 0 : i64, reduction = "sum"} : tensor<3xf32>
// CHECK:      %[[G:.+]] = dz.all_reduce %{{.+}} {comm = 0 : i64, reduction = "sum"} : tensor<3xf32>
// CHECK:      return %[[G]]
// CHECK-NOT: dz.grad
func.func @sum(%x: tensor<3xf32>) -> tensor<3xf32> {
  %r = dz.all_reduce %x {comm = 0 : i64, reduction = "sum"} : tensor<3xf32>
  %y = dz.exp %r : tensor<3xf32>
  %g = dz.grad %y wrt %x : tensor<3xf32>, tensor<3xf32>
  return %g : tensor<3xf32>
}

// -----

// CHECK-LABEL: func.func @mean
// CHECK:      dz.all_reduce %{{.+}} {comm = 0 : i64, reduction = "mean"} : tensor<2x2xf64>
// CHECK:      %[[G:.+]] = dz.all_reduce %{{.+}} {comm = 0 : i64, reduction = "mean"} : tensor<2x2xf64>
// CHECK:      return %[[G]]
func.func @mean(%x: tensor<2x2xf64>) -> tensor<2x2xf64> {
  %r = dz.all_reduce %x {comm = 0 : i64, reduction = "mean"} : tensor<2x2xf64>
  %y = dz.square %r : tensor<2x2xf64>
  %g = dz.grad %y wrt %x : tensor<2x2xf64>, tensor<2x2xf64>
  return %g : tensor<2x2xf64>
}

// -----

// The memory plan: an all-reduce of an intermediate that dies there reduces that
// intermediate's buffer in place (%1 joins %0); one whose operand lives on (%0, read again
// by the mul) gets a buffer of its own.
// PLAN-LABEL: memory plan @in_place: 2 values, 1 buffers, 1 in place, alignment 64
// PLAN-NEXT: %0 400 0 [0, 1]
// PLAN-NEXT: %1 400 0 [1, 2] in-place %0
// PLAN-NEXT: peak 448 naive 896
func.func @in_place(%x: tensor<100xf32>) -> tensor<100xf32> {
  %0 = dz.exp %x : tensor<100xf32>
  %1 = dz.all_reduce %0 {comm = 0 : i64, reduction = "sum"} : tensor<100xf32>
  %2 = dz.neg %1 : tensor<100xf32>
  return %2 : tensor<100xf32>
}

// -----

// PLAN-LABEL: memory plan @operand_lives_on: 3 values, 2 buffers, 1 in place, alignment 64
// PLAN-NEXT: %0 400 0 [0, 2]
// PLAN-NEXT: %1 400 448 [1, 2]
// PLAN-NEXT: %2 400 0 [2, 3] in-place %0
// PLAN-NEXT: peak 896 naive 1344
func.func @operand_lives_on(%x: tensor<100xf32>) -> tensor<100xf32> {
  %0 = dz.exp %x : tensor<100xf32>
  %1 = dz.all_reduce %0 {comm = 0 : i64, reduction = "sum"} : tensor<100xf32>
  %2 = dz.mul %0, %1 : (tensor<100xf32>, tensor<100xf32>) -> tensor<100xf32>
  %3 = dz.neg %2 : tensor<100xf32>
  return %3 : tensor<100xf32>
}
