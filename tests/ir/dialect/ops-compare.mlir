// Round trip of the comparisons (i1 results, NumPy broadcasting), the logical ops on i1,
// dz.select, dz.erf, dz.pow, and casts to and from i1 and i32.
// RUN: dz-opt %s | dz-opt | FileCheck %s

// CHECK-LABEL: func.func @compare
// CHECK-SAME: (%[[A:.*]]: tensor<2x3xf32>, %[[B:.*]]: tensor<3xf32>)
func.func @compare(%a: tensor<2x3xf32>, %b: tensor<3xf32>) -> tensor<2x3xi1> {
  // CHECK: %[[GT:.*]] = dz.greater %[[A]], %[[B]] : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  %0 = dz.greater %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  // CHECK: %[[GE:.*]] = dz.greater_equal %[[B]], %[[A]] : (tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xi1>
  %1 = dz.greater_equal %b, %a : (tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xi1>
  // CHECK: %[[LT:.*]] = dz.less %[[A]], %[[A]] : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xi1>
  %2 = dz.less %a, %a : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xi1>
  // CHECK: %[[LE:.*]] = dz.less_equal %[[B]], %[[B]] : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xi1>
  %3 = dz.less_equal %b, %b : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xi1>
  // CHECK: %[[EQ:.*]] = dz.equal %[[A]], %[[B]] : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  %4 = dz.equal %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  // CHECK: %[[AND:.*]] = dz.and %[[GT]], %[[GE]] : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
  %5 = dz.and %0, %1 : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
  // CHECK: %[[OR:.*]] = dz.or %[[AND]], %[[LE]] : (tensor<2x3xi1>, tensor<3xi1>) -> tensor<2x3xi1>
  %6 = dz.or %5, %3 : (tensor<2x3xi1>, tensor<3xi1>) -> tensor<2x3xi1>
  // CHECK: %[[XOR:.*]] = dz.xor %[[OR]], %[[LT]] : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
  %7 = dz.xor %6, %2 : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
  // CHECK: %[[NOT:.*]] = dz.not %[[XOR]] : tensor<2x3xi1>
  %8 = dz.not %7 : tensor<2x3xi1>
  // CHECK: dz.and %[[NOT]], %[[EQ]]
  %9 = dz.and %8, %4 : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
  return %9 : tensor<2x3xi1>
}

// CHECK-LABEL: func.func @integers
func.func @integers(%i: tensor<4xi32>, %j: tensor<2x1xi32>, %p: tensor<4xi1>, %q: tensor<4xi1>) -> (tensor<2x4xi1>, tensor<4xi1>, tensor<2x4xi32>) {
  // CHECK: dz.less %{{.*}}, %{{.*}} : (tensor<4xi32>, tensor<2x1xi32>) -> tensor<2x4xi1>
  %0 = dz.less %i, %j : (tensor<4xi32>, tensor<2x1xi32>) -> tensor<2x4xi1>
  // CHECK: dz.equal %{{.*}}, %{{.*}} : (tensor<4xi1>, tensor<4xi1>) -> tensor<4xi1>
  %1 = dz.equal %p, %q : (tensor<4xi1>, tensor<4xi1>) -> tensor<4xi1>
  // CHECK: dz.floor_divide %{{.*}}, %{{.*}} : (tensor<4xi32>, tensor<2x1xi32>) -> tensor<2x4xi32>
  %2 = dz.floor_divide %i, %j : (tensor<4xi32>, tensor<2x1xi32>) -> tensor<2x4xi32>
  return %0, %1, %2 : tensor<2x4xi1>, tensor<4xi1>, tensor<2x4xi32>
}

// CHECK-LABEL: func.func @select_erf_power
func.func @select_erf_power(%c: tensor<2x1xi1>, %a: tensor<3xf64>, %b: tensor<f64>) -> (tensor<2x3xf64>, tensor<3xf64>, tensor<3xf64>) {
  // CHECK: dz.select %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x1xi1>, tensor<3xf64>, tensor<f64>) -> tensor<2x3xf64>
  %0 = dz.select %c, %a, %b : (tensor<2x1xi1>, tensor<3xf64>, tensor<f64>) -> tensor<2x3xf64>
  // CHECK: dz.erf %{{.*}} : tensor<3xf64>
  %1 = dz.erf %a : tensor<3xf64>
  // CHECK: dz.pow %{{.*}}, %{{.*}} : (tensor<3xf64>, tensor<f64>) -> tensor<3xf64>
  %2 = dz.pow %1, %b : (tensor<3xf64>, tensor<f64>) -> tensor<3xf64>
  return %0, %1, %2 : tensor<2x3xf64>, tensor<3xf64>, tensor<3xf64>
}

// CHECK-LABEL: func.func @casts
func.func @casts(%x: tensor<4xf32>) -> (tensor<4xi1>, tensor<4xi32>, tensor<4xf64>, tensor<4xi1>) {
  // CHECK: dz.cast %{{.*}} {dtype = i1} : tensor<4xf32> -> tensor<4xi1>
  %0 = dz.cast %x {dtype = i1} : tensor<4xf32> -> tensor<4xi1>
  // CHECK: dz.cast %{{.*}} {dtype = i32} : tensor<4xi1> -> tensor<4xi32>
  %1 = dz.cast %0 {dtype = i32} : tensor<4xi1> -> tensor<4xi32>
  // CHECK: dz.cast %{{.*}} {dtype = f64} : tensor<4xi32> -> tensor<4xf64>
  %2 = dz.cast %1 {dtype = f64} : tensor<4xi32> -> tensor<4xf64>
  // CHECK: dz.constant dense<[true, false, true, true]> : tensor<4xi1>
  %3 = dz.constant dense<[true, false, true, true]> : tensor<4xi1>
  return %0, %1, %2, %3 : tensor<4xi1>, tensor<4xi32>, tensor<4xf64>, tensor<4xi1>
}
