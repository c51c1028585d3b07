//===- DzDialect.td - the dz dialect ----------------------------------------===//
//
// The dialect of dzc's compiled mode: DeZero functions as ops on static-shape
// builtin tensors of f32, f64, i64, i32 or i1. See docs/ir.md for the overview.
//
//===----------------------------------------------------------------------===//

#ifndef DZ_DIALECT_TD
#define DZ_DIALECT_TD

include "mlir/IR/OpBase.td"

def Dz_Dialect : Dialect {
  let name = "dz";
  let cppNamespace = "::dz::ir";
  let summary = "DeZero functions on ranked, static-shape tensors";
  let description = [{
    A traced step, an imported ONNX model and a `.mlir` file are all a `func.func`
    of `dz` ops on builtin tensors:

    ```mlir
    func.func @step(%x: tensor<4x3xf32>, %w: tensor<3x5xf32>) -> tensor<f32> {
      %0 = dz.matmul %x, %w : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
      %1 = dz.sum %0 {axes = array<i64>, keepdims = false} : tensor<4x5xf32> -> tensor<f32>
      return %1 : tensor<f32>
    }
    ```

    Every op infers its result type; a written result type that differs is an error.
  }];
  let hasConstantMaterializer = 1;
}

// Element types: f32, f64, i64 (labels, indices), i32 (imported integers) and i1
// (the results of comparisons, the conditions of dz.select).
def Dz_Element : AnyTypeOf<[F32, F64, I64, I32, I1]>;
def Dz_Tensor : StaticShapeTensorOf<[F32, F64, I64, I32, I1]>;
def Dz_FloatTensor : StaticShapeTensorOf<[F32, F64]>;
def Dz_IndexTensor : StaticShapeTensorOf<[I64]>;
def Dz_BoolTensor : StaticShapeTensorOf<[I1]>;
// Storage types: the rest of ONNX's numeric types (i8, i16, ui8 to ui64, f16, bf16). Only
// dz.constant and dz.cast take them: imported values of these types are computed on in a
// wider type and converted back.
def Dz_AnyTensor : StaticShapeTensorOf<[F32, F64, I64, I32, I1, I8, I16, UI8, UI16, UI32, UI64,
                                        F16, BF16]>;

#endif // DZ_DIALECT_TD
