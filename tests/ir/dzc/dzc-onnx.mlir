// dzc on ONNX models: --emit=dz|opt, run, --op-stats and the errors. The models are built
// with onnx's protobuf classes (field by field, as tests/onnx/importer_test.cpp does):
// Inputs/dzc-onnx-tiny.onnx is relu(x @ W + b), graph "tiny", x a (3) float input,
// W = [[1, 2], [3, 4], [5, 6]] and b = [0.5, -100] initializers (opset 13);
// Inputs/dzc-onnx-unsupported.onnx has a Det node, two Floor nodes and a Relu on a (2, 2)
// input.
// RUN: rm -rf %t && mkdir -p %t

// --emit=dz: the graph as imported, inputs as arguments, initializers as dz.constant, the
// 1-D MatMul operand reshaped to a row and back.
// RUN: dzc %S/Inputs/dzc-onnx-tiny.onnx --emit=dz | FileCheck %s --check-prefix=DZ
// DZ-LABEL: func.func @tiny(%arg0: tensor<3xf32>) -> tensor<2xf32>
// DZ-NEXT: %[[W:.+]] = dz.constant dense<{{\[\[}}1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00], [5.000000e+00, 6.000000e+00]]> : tensor<3x2xf32>
// DZ-NEXT: %[[ROW:.+]] = dz.reshape %arg0 {shape = array<i64: 1, 3>} : tensor<3xf32> -> tensor<1x3xf32>
// DZ-NEXT: %[[MM:.+]] = dz.matmul %[[ROW]], %[[W]] : (tensor<1x3xf32>, tensor<3x2xf32>) -> tensor<1x2xf32>
// DZ-NEXT: %[[V:.+]] = dz.reshape %[[MM]] {shape = array<i64: 2>} : tensor<1x2xf32> -> tensor<2xf32>
// DZ-NEXT: %[[B:.+]] = dz.constant dense<[5.000000e-01, -1.000000e+02]> : tensor<2xf32>
// DZ-NEXT: %[[S:.+]] = dz.add %[[V]], %[[B]]
// DZ-NEXT: %[[Y:.+]] = dz.relu %[[S]] : tensor<2xf32>
// DZ-NEXT: return %[[Y]] : tensor<2xf32>

// --emit=opt (the default) runs the pipeline on it; the output is valid dzc input.
// RUN: dzc %S/Inputs/dzc-onnx-tiny.onnx -o %t/tiny.mlir
// RUN: dzc %t/tiny.mlir --emit=dz | FileCheck %s --check-prefix=OPT
// OPT-LABEL: func.func @tiny
// OPT: dz.matmul
// OPT: dz.relu

// run: x = [1, 2, 3] gives relu([22.5, -72]) = [22.5, 0]; an onnx.TensorProto input
// (Inputs/dzc-onnx-x-3xf32.pb, the same x) works too.
// RUN: dzc run %S/Inputs/dzc-onnx-tiny.onnx --input %S/Inputs/dzc-x-3xf32.npy --output-dir %t/run | count 0
// RUN: od -A n -j 128 -t f4 %t/run/output_0.npy | FileCheck %s --check-prefix=OUT
// RUN: dzc run %S/Inputs/dzc-onnx-tiny.onnx --input %S/Inputs/dzc-onnx-x-3xf32.pb --output-dir %t/runpb
// RUN: od -A n -j 128 -t f4 %t/runpb/output_0.npy | FileCheck %s --check-prefix=OUT
// OUT: {{^ +}}22.5{{ +}}0{{ *$}}

// --op-stats: every op type, its opset and count, and whether dz supports it.
// RUN: dzc --op-stats %S/Inputs/dzc-onnx-unsupported.onnx | FileCheck %s --check-prefix=STATS
// STATS: op opset nodes supported
// STATS-NEXT: Det 13 1 no
// STATS-NEXT: Floor 13 2 yes
// STATS-NEXT: Relu 13 1 yes
// STATS-NEXT: 3 op types, 4 nodes, 1 op types unsupported

// An unsupported model is one error that lists every unsupported op with its nodes.
// RUN: sh -c 'dzc %S/Inputs/dzc-onnx-unsupported.onnx --emit=dz; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=REFUSED
// REFUSED: dzc: error: '{{.*}}dzc-onnx-unsupported.onnx': the model uses what dz does not support:
// REFUSED-NEXT: Det (opset 13): node 'det'
// REFUSED-NEXT: exit=1

// Errors: a missing model, a file that is not ONNX, an input of the wrong shape, --op-stats
// of a file that is not .onnx.
// RUN: sh -c 'dzc %t/none.onnx; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=MISSING
// MISSING: dzc: error: ONNX model '{{.*}}none.onnx': cannot open the file: No such file or directory
// MISSING-NEXT: exit=1
// RUN: cp %S/Inputs/dzc-x-3xf32.npy %t/npy.onnx
// RUN: sh -c 'dzc %t/npy.onnx; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=NOTONNX
// NOTONNX: dzc: error: '{{.*}}npy.onnx' is not an ONNX model
// NOTONNX-NEXT: exit=1
// RUN: sh -c 'dzc run %S/Inputs/dzc-onnx-tiny.onnx --input %S/Inputs/dzc-x-2xf32.npy --output-dir %t/e; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=SHAPE
// SHAPE: dzc: error: '{{.*}}dzc-onnx-tiny.onnx': graph input 'x' has the shape (3), its given value (2)
// SHAPE-NEXT: exit=1
// RUN: sh -c 'dzc --op-stats %s; echo "exit=$?"' 2>&1 | FileCheck %s --check-prefix=STATSUSAGE
// STATSUSAGE: dzc: error: --op-stats reads an ONNX model (FILE.onnx), got '{{.*}}dzc-onnx.mlir'
// STATSUSAGE-NEXT: exit=2
