// RUN: dz-opt %s | dz-opt | FileCheck %s

// The registry's ops (runtime/include/dzc/ops.def) parse, print and infer their types:
// float ops, numeric ops, the tests with i1 results, binary ops with broadcasting.
// CHECK-LABEL: func.func @registry
// CHECK: dz.tan %{{.*}} : tensor<2x3xf32>
// CHECK: dz.acosh %{{.*}} : tensor<2x3xf32>
// CHECK: dz.round %{{.*}} : tensor<2x3xf32>
// CHECK: dz.sign %{{.*}} : tensor<2x3xi64>
// CHECK: dz.isnan %{{.*}} : tensor<2x3xf32> -> tensor<2x3xi1>
// CHECK: dz.isinf %{{.*}} : tensor<2x3xf32> -> tensor<2x3xi1>
// CHECK: dz.mod %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK: dz.minimum %{{.*}}, %{{.*}} : (tensor<2x3xi64>, tensor<2x3xi64>) -> tensor<2x3xi64>
// CHECK: dz.not_equal %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
func.func @registry(%x: tensor<2x3xf32>, %r: tensor<3xf32>, %i: tensor<2x3xi64>)
    -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xi64>, tensor<2x3xi1>,
        tensor<2x3xi1>, tensor<2x3xf32>, tensor<2x3xi64>, tensor<2x3xi1>) {
  %0 = dz.tan %x : tensor<2x3xf32>
  %1 = dz.acosh %x : tensor<2x3xf32>
  %2 = dz.round %x : tensor<2x3xf32>
  %3 = dz.sign %i : tensor<2x3xi64>
  %4 = dz.isnan %x : tensor<2x3xf32> -> tensor<2x3xi1>
  %5 = dz.isinf %x : tensor<2x3xf32> -> tensor<2x3xi1>
  %6 = dz.mod %x, %r : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %7 = dz.minimum %i, %i : (tensor<2x3xi64>, tensor<2x3xi64>) -> tensor<2x3xi64>
  %8 = dz.not_equal %x, %r : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  return %0, %1, %2, %3, %4, %5, %6, %7, %8 : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>,
      tensor<2x3xi64>, tensor<2x3xi1>, tensor<2x3xi1>, tensor<2x3xf32>, tensor<2x3xi64>, tensor<2x3xi1>
}

// Integer quotients keep the integer type (dz.div is float only).
// CHECK-LABEL: func.func @quotients
// CHECK: dz.trunc_divide %{{.*}}, %{{.*}} : (tensor<2x3xi64>, tensor<3xi64>) -> tensor<2x3xi64>
// CHECK: dz.floor_divide %{{.*}}, %{{.*}} : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
func.func @quotients(%i: tensor<2x3xi64>, %j: tensor<3xi64>, %k: tensor<4xi32>)
    -> (tensor<2x3xi64>, tensor<4xi32>) {
  %0 = dz.trunc_divide %i, %j : (tensor<2x3xi64>, tensor<3xi64>) -> tensor<2x3xi64>
  %1 = dz.floor_divide %k, %k : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  return %0, %1 : tensor<2x3xi64>, tensor<4xi32>
}
