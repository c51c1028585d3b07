// dzc run on a module of several functions: --function chooses one; without it, or with
// a name that is not there, the message lists the functions. A function the CPU back end
// cannot run is reported at its op.
// RUN: rm -rf %t && mkdir -p %t
// RUN: dzc run %s --function twice --input %S/Inputs/dzc-x-3xf32.npy --output-dir %t/twice
// RUN: od -A n -j 128 -t f4 %t/twice/output_0.npy | FileCheck %s --check-prefix=TWICE
// TWICE: {{^ +}}2{{ +}}4{{ +}}6{{ *$}}
// RUN: sh -c 'dzc run %s --input %S/Inputs/dzc-x-3xf32.npy --output-dir %t/e; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=SEVERAL
// SEVERAL: dzc: error: '{{.*}}dzc-run-functions.mlir' has 3 functions (@twice, @square, @uses_arith): choose one with --function NAME
// SEVERAL-NEXT: exit=1
// RUN: sh -c 'dzc run %s --function nope --input %S/Inputs/dzc-x-3xf32.npy --output-dir %t/e; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=NOPE
// NOPE: dzc: error: --function nope: '{{.*}}dzc-run-functions.mlir' has no func.func @nope; its functions: @twice, @square, @uses_arith
// NOPE-NEXT: exit=1
// RUN: sh -c 'dzc run %s --function uses_arith --input %S/Inputs/dzc-x-3xf32.npy --output-dir %t/e; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=BACKEND
// BACKEND: dzc-run-functions.mlir:{{[0-9]+}}:{{[0-9]+}}: error: {{.*}}arith.
// BACKEND: exit=1

func.func @twice(%x: tensor<3xf32>) -> tensor<3xf32> {
  %y = dz.add %x, %x : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return %y : tensor<3xf32>
}

func.func @square(%x: tensor<3xf32>) -> tensor<3xf32> {
  %y = dz.mul %x, %x : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return %y : tensor<3xf32>
}

func.func @uses_arith(%x: tensor<3xf32>) -> tensor<3xf32> {
  %c = arith.constant dense<1.0> : tensor<3xf32>
  %y = dz.add %x, %c : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return %y : tensor<3xf32>
}
