// IR that parses but does not verify: the verifier's message at the op, exit status 1.
// RUN: sh -c 'dzc %s --emit=dz; echo "exit=$?"' 2>&1 | FileCheck %s
// RUN: sh -c 'dzc %s --emit=opt; echo "exit=$?"' 2>&1 | FileCheck %s
// CHECK: dzc-verify-error.mlir:[[@LINE+4]]:8: error: 'dz.add' op operands are not broadcast-compatible: tensor<2x3xf32> and tensor<4xf32>
// CHECK-NOT: func.func
// CHECK: exit=1
func.func @f(%a: tensor<2x3xf32>, %b: tensor<4xf32>) -> tensor<2x3xf32> {
  %0 = dz.add %a, %b : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}
