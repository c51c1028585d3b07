// A file that does not parse: the parser's diagnostic with the file position and the
// source line, exit status 1, for --emit and for run.
// RUN: sh -c 'dzc %s --emit=dz; echo "exit=$?"' 2>&1 | FileCheck %s
// RUN: sh -c 'dzc run %s --input %s --output-dir %t; echo "exit=$?"' 2>&1 | FileCheck %s
// CHECK: dzc-parse-error.mlir:[[@LINE+5]]:18: error: expected SSA operand
// CHECK-NEXT: %y = dz.add %x, : tensor<3xf32>
// CHECK-NEXT: ^
// CHECK-NEXT: exit=1
func.func @f(%x: tensor<3xf32>) -> tensor<3xf32> {
  %y = dz.add %x, : tensor<3xf32>
  return %y : tensor<3xf32>
}
