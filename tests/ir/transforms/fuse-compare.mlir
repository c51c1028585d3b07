// --dz-fuse with the ops of i1 values: dz.erf and dz.pow fuse like the other
// elementwise ops; a comparison, dz.select and any op on i32 stay outside the groups
// (the fused kernels have no i1 or i32 form).
// RUN: dz-opt %s --dz-fuse --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @chain
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<4x3xf32>, %[[P:[a-z0-9]+]]: tensor<3xf32>)
// CHECK-NEXT: %[[F:.+]] = dz.fused (%[[A:.+]] = %[[X]], %[[B:.+]] = %[[P]])
// CHECK-NEXT: %[[E:.+]] = dz.erf %[[A]]
// CHECK-NEXT: %[[W:.+]] = dz.pow %[[E]], %[[B]]
// CHECK-NEXT: dz.yield %[[W]]
// CHECK-NEXT: }
// CHECK-NEXT: %[[C:.+]] = dz.greater %[[F]], %[[X]]
// CHECK-NEXT: %[[S:.+]] = dz.select %[[C]], %[[F]], %[[X]]
// CHECK-NEXT: dz.fused (%{{.+}} = %[[S]], %{{.+}} = %[[X]])
// CHECK-NEXT: dz.exp
// CHECK-NEXT: dz.mul
func.func @chain(%x: tensor<4x3xf32>, %p: tensor<3xf32>) -> tensor<4x3xf32> {
  %0 = dz.erf %x : tensor<4x3xf32>
  %1 = dz.pow %0, %p : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<4x3xf32>
  %c = dz.greater %1, %x : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xi1>
  %2 = dz.select %c, %1, %x : (tensor<4x3xi1>, tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  %3 = dz.exp %2 : tensor<4x3xf32>
  %4 = dz.mul %3, %x : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  return %4 : tensor<4x3xf32>
}

// -----

// CHECK-LABEL: func.func @int32
// CHECK-NOT: dz.fused
func.func @int32(%i: tensor<4xi32>, %j: tensor<4xi32>) -> tensor<4xi32> {
  %0 = dz.add %i, %j : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  %1 = dz.mul %0, %j : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  return %1 : tensor<4xi32>
}
