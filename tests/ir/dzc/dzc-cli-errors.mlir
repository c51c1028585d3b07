// dzc's command line: --help, --version, and the errors that are not in the IR. Each
// error is one message on stderr; the exit status is 1 for a bad file and 2 for a usage
// error or a stage that this version does not have yet.
// RUN: sh -c 'dzc --help; echo "exit=$?"' | FileCheck %s --check-prefix=HELP
// HELP: Usage: dzc [OPTIONS] [FILE] [SUBCOMMAND]
// HELP: --emit
// HELP: --print-ir-after-all
// HELP: run
// HELP: Exit status:
// HELP: exit=0
// RUN: sh -c 'dzc --version; echo "exit=$?"' | FileCheck %s --check-prefix=VERSION
// VERSION: dzc {{[0-9]+\.[0-9]+\.[0-9]+}} (MLIR 22.
// VERSION-NEXT: exit=0

// RUN: sh -c 'dzc %s.missing --emit=dz; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=MISSING
// MISSING: dzc: error: cannot open input file '{{.*}}dzc-cli-errors.mlir.missing': No such file or directory
// MISSING-NEXT: exit=1
// RUN: sh -c 'dzc %S --emit=dz; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=DIR
// DIR: dzc: error: cannot open input file '{{.*}}': Is a directory
// DIR-NEXT: exit=1

// RUN: sh -c 'dzc %s --emit=onnx --opset 18 -o %t.never; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=ONNX
// ONNX: dzc: error: --opset 18: dzc writes opsets 13 to 17
// ONNX-NEXT: exit=2
// RUN: sh -c 'dzc %s --emit=bogus; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=BOGUS
// BOGUS: dzc: error: unknown --emit=bogus; valid: dz, opt, fused, memplan, llvm, cuda
// BOGUS-NEXT: exit=2

// RUN: sh -c 'dzc; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=NOFILE
// NOFILE: dzc: error: no input file
// NOFILE-NEXT: exit=2
// RUN: sh -c 'dzc %s --frobnicate; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// UNKNOWN: dzc: error: The following argument was not expected: --frobnicate
// UNKNOWN: exit=2

// An output file that cannot be written: nothing on stdout, the path and the reason.
// RUN: sh -c 'dzc %s --emit=dz -o %t.nodir/sub/out.mlir; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=UNWRITABLE
// UNWRITABLE: dzc: error: -o: cannot write '{{.*}}.nodir/sub/out.mlir'
// UNWRITABLE-NEXT: exit=1

func.func @f(%x: tensor<f32>) -> tensor<f32> {
  return %x : tensor<f32>
}
