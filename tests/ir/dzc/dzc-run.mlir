// dzc run: the pipeline, the CPU program of the function, the --input .npy files in, one
// output_<i>.npy per result out. f(x, y) = (sum(x * y), d/dx sum(x * y) = y); the inputs
// are x = [1, 2, 3], y = [4, 5, 6] (float32; tests/ir/dzc/Inputs).
// RUN: rm -rf %t && mkdir -p %t
// RUN: dzc run %s --input %S/Inputs/dzc-x-3xf32.npy --input %S/Inputs/dzc-y-3xf32.npy --output-dir %t/out | count 0
// RUN: od -A n -j 128 -t f4 %t/out/output_0.npy | FileCheck %s --check-prefix=SUM
// SUM: {{^ +}}32{{ *$}}
// RUN: od -A n -j 128 -t f4 %t/out/output_1.npy | FileCheck %s --check-prefix=GRAD
// GRAD: {{^ +}}4{{ +}}5{{ +}}6{{ *$}}
// RUN: head -c 128 %t/out/output_0.npy | FileCheck %s --check-prefix=HEADER0
// HEADER0: NUMPY{{.*}}{'descr': '<f4', 'fortran_order': False, 'shape': (), }
// RUN: head -c 128 %t/out/output_1.npy | FileCheck %s --check-prefix=HEADER1
// HEADER1: NUMPY{{.*}}{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }

// An output is a valid input: sum(y * y) = 77.
// RUN: dzc run %s --input %t/out/output_1.npy --input %t/out/output_1.npy --output-dir %t/again
// RUN: od -A n -j 128 -t f4 %t/again/output_0.npy | FileCheck %s --check-prefix=AGAIN
// AGAIN: {{^ +}}77{{ *$}}

// --bench N: N runs, the mean and the fastest; --function names the only function too;
// --print-ir-after-all goes to stderr.
// RUN: dzc run %s --function f --input %S/Inputs/dzc-x-3xf32.npy --input %S/Inputs/dzc-y-3xf32.npy --output-dir %t/bench --bench 3 | FileCheck %s --check-prefix=BENCH
// BENCH: @f: 3 runs, median {{[0-9.]+}} ms, mean {{[0-9.]+}} ms, min {{[0-9.]+}} ms per run
// RUN: test -f %t/bench/output_1.npy
// RUN: dzc run %s --input %S/Inputs/dzc-x-3xf32.npy --input %S/Inputs/dzc-y-3xf32.npy --output-dir %t/ir --print-ir-after-all 2>&1 >/dev/null | FileCheck %s --check-prefix=PASSES
// PASSES: IR Dump After {{.*}}dz-autodiff
// PASSES: IR Dump After {{.*}}cse

// Wrong inputs: the message names the --input and the argument's type; exit status 1.
// RUN: sh -c 'dzc run %s --input %S/Inputs/dzc-x-3xf32.npy --output-dir %t/e; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=COUNT
// COUNT: dzc: error: @f takes 2 input(s) (tensor<3xf32>, tensor<3xf32>), got 1 --input
// COUNT-NEXT: exit=1
// RUN: sh -c 'dzc run %s --input %S/Inputs/dzc-x-3xf32.npy --input %S/Inputs/dzc-x-2xf32.npy --output-dir %t/e; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=SHAPE
// SHAPE: dzc: error: --input #2 ('{{.*}}dzc-x-2xf32.npy') is tensor<2xf32>, but argument 1 of @f is tensor<3xf32>
// SHAPE-NEXT: exit=1
// RUN: sh -c 'dzc run %s --input %S/Inputs/dzc-x-3xf64.npy --input %S/Inputs/dzc-y-3xf32.npy --output-dir %t/e; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=DTYPE
// DTYPE: dzc: error: --input #1 ('{{.*}}dzc-x-3xf64.npy') is tensor<3xf64>, but argument 0 of @f is tensor<3xf32>
// DTYPE-NEXT: exit=1
// RUN: sh -c 'dzc run %s --input %t/none.npy --input %S/Inputs/dzc-y-3xf32.npy --output-dir %t/e; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=NOINPUT
// NOINPUT: dzc: error: --input #1 ('{{.*}}none.npy'): load_npy: cannot open '{{.*}}none.npy': No such file or directory
// NOINPUT-NEXT: exit=1
// RUN: sh -c 'dzc run %s --input %s --input %S/Inputs/dzc-y-3xf32.npy --output-dir %t/e; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=NOTNPY
// NOTNPY: dzc: error: --input #1 ('{{.*}}dzc-run.mlir'): {{.*}}not a .npy file
// NOTNPY-NEXT: exit=1

// An output folder that cannot be made (below a plain file): exit status 1, no run.
// RUN: touch %t/file
// RUN: sh -c 'dzc run %s --input %S/Inputs/dzc-x-3xf32.npy --input %S/Inputs/dzc-y-3xf32.npy --output-dir %t/file/out; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=OUTDIR
// OUTDIR: dzc: error: --output-dir '{{.*}}file/out': cannot create the folder: Not a directory
// OUTDIR-NEXT: exit=1

// Usage errors: exit status 2.
// RUN: sh -c 'dzc run %s --input %S/Inputs/dzc-x-3xf32.npy; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=NODIR
// NODIR: dzc: error: --output-dir is required
// NODIR: exit=2
// RUN: sh -c 'dzc run %s --output-dir %t/e --bench 0; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=BENCH0
// BENCH0: dzc: error: --bench: Value 0 not in range 1
// BENCH0: exit=2

func.func @f(%x: tensor<3xf32>, %y: tensor<3xf32>) -> (tensor<f32>, tensor<3xf32>) {
  %p = dz.mul %x, %y : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %s = dz.sum %p {axes = array<i64>, keepdims = false} : tensor<3xf32> -> tensor<f32>
  %g = dz.grad %s wrt %x : tensor<f32>, tensor<3xf32>
  return %s, %g : tensor<f32>, tensor<3xf32>
}
