// RUN: dz-opt %s --split-input-file | FileCheck %s
// RUN: dz-opt %s --split-input-file --canonicalize --cse | FileCheck %s --check-prefix=KEPT

// dz.all_reduce round-trips with its reduction and communicator, for every reduction and
// element type it takes.
// CHECK-LABEL: func.func @round_trip
// CHECK: dz.all_reduce %{{.+}} {comm = 0 : i64, reduction = "sum"} : tensor<4x3xf32>
// CHECK: dz.all_reduce %{{.+}} {comm = 0 : i64, reduction = "mean"} : tensor<5xf64>
// CHECK: dz.all_reduce %{{.+}} {comm = 0 : i64, reduction = "max"} : tensor<2xi64>
// CHECK: dz.all_reduce %{{.+}} {comm = 0 : i64, reduction = "max"} : tensor<2xi1>
// CHECK: dz.all_reduce %{{.+}} {comm = 0 : i64, reduction = "sum"} : tensor<i32>
func.func @round_trip(%a: tensor<4x3xf32>, %b: tensor<5xf64>, %c: tensor<2xi64>,
                      %d: tensor<2xi1>, %e: tensor<i32>)
    -> (tensor<4x3xf32>, tensor<5xf64>, tensor<2xi64>, tensor<2xi1>, tensor<i32>) {
  %0 = dz.all_reduce %a {comm = 0 : i64, reduction = "sum"} : tensor<4x3xf32>
  %1 = dz.all_reduce %b {comm = 0 : i64, reduction = "mean"} : tensor<5xf64>
  %2 = dz.all_reduce %c {comm = 0 : i64, reduction = "max"} : tensor<2xi64>
  %3 = dz.all_reduce %d {comm = 0 : i64, reduction = "max"} : tensor<2xi1>
  %4 = dz.all_reduce %e {comm = 0 : i64, reduction = "sum"} : tensor<i32>
  return %0, %1, %2, %3, %4 : tensor<4x3xf32>, tensor<5xf64>, tensor<2xi64>, tensor<2xi1>, tensor<i32>
}

// -----

// A collective is not pure: every rank must call it, in order. Canonicalize and CSE keep
// an all-reduce whose result is unused and do not merge two of the same operand.
// KEPT-LABEL: func.func @not_pure
// KEPT-NEXT: dz.all_reduce %{{.+}} {comm = 0 : i64, reduction = "sum"}
// KEPT-NEXT: dz.all_reduce %{{.+}} {comm = 0 : i64, reduction = "sum"}
// KEPT-NEXT: dz.all_reduce %{{.+}} {comm = 0 : i64, reduction = "sum"}
// KEPT-NEXT: return
func.func @not_pure(%x: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>) {
  %unused = dz.all_reduce %x {comm = 0 : i64, reduction = "sum"} : tensor<3xf32>
  %0 = dz.all_reduce %x {comm = 0 : i64, reduction = "sum"} : tensor<3xf32>
  %1 = dz.all_reduce %x {comm = 0 : i64, reduction = "sum"} : tensor<3xf32>
  return %0, %1 : tensor<3xf32>, tensor<3xf32>
}
