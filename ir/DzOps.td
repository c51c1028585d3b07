//===- DzOps.td - the ops of the dz dialect ---------------------------------===//
//
// One op per DeZero function. Every op is Pure and infers its result type
// (InferTypeOpAdaptor); the C++ of inference, verification and folding is in
// lib/DzOps.cpp. docs/ir.md is the overview and the contract with the tracer.
//
//===----------------------------------------------------------------------===//

#ifndef DZ_OPS_TD
#define DZ_OPS_TD

include "DzDialect.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

// Verifies the operands and attributes with the op's own type inference before the
// generic InferTypeOpInterface check runs, so that a bad op reports one error, the
// one that names the mismatch (not also "failed to infer returned types").
def Dz_InferredTypesCheck : NativeOpTrait<"InferredTypesCheck"> {
  let cppNamespace = "::dz::ir::OpTrait";
}

// Computes each element of its result from the elements of its operands at the same
// (broadcast) index.
def Dz_Elementwise : NativeOpTrait<"Elementwise"> {
  let cppNamespace = "::dz::ir::OpTrait";
}
// Has a scalar form in the fused kernels (codegen/cpu/FusedKernels.cpp,
// codegen/cuda/CudaSource.cpp): --dz-fuse may put it in a dz.fused group.
def Dz_Fusible : NativeOpTrait<"Fusible"> {
  let cppNamespace = "::dz::ir::OpTrait";
}
// A reduction the fused kernels compute (a group's root).
def Dz_FusibleReduction : NativeOpTrait<"FusibleReduction"> {
  let cppNamespace = "::dz::ir::OpTrait";
}
// Its result may share its operand's storage (a view, or the operand itself when nothing
// changes): the CPU executor's kernel may return the operand.
def Dz_ViewLike : NativeOpTrait<"ViewLike"> {
  let cppNamespace = "::dz::ir::OpTrait";
}

class Dz_Op<string mnemonic, list<Trait> traits = []>
    : Op<Dz_Dialect, mnemonic,
         !listconcat([Pure, Dz_InferredTypesCheck, InferTypeOpAdaptor], traits)>;

//===----------------------------------------------------------------------===//
// Constant
//===----------------------------------------------------------------------===//

def Dz_ConstantOp : Dz_Op<"constant", [ConstantLike, Dz_Fusible]> {
  let summary = "a tensor constant";
  let description = [{
    The tensor `value`; the result has the type of `value`.

    ```mlir
    %c = dz.constant dense<2.0> : tensor<f32>
    %w = dz.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
    ```
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs Dz_AnyTensor:$result);
  let assemblyFormat = "$value attr-dict";
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Binary elementwise ops (NumPy broadcasting)
//===----------------------------------------------------------------------===//

class Dz_BinaryOp<string mnemonic, string what, list<Trait> traits = []>
    : Dz_Op<mnemonic, traits> {
  let summary = "elementwise " # what # " with NumPy broadcasting";
  let description = [{
    Elementwise }] # what # [{ of `lhs` and `rhs`. The shapes broadcast as in
    NumPy (aligned on the right, a dimension of 1 stretches); both operands and
    the result have one element type.

    ```mlir
    %0 = dz.}] # mnemonic # [{ %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
    ```
  }];
  let arguments = (ins Dz_Tensor:$lhs, Dz_Tensor:$rhs);
  let results = (outs Dz_Tensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}


//===----------------------------------------------------------------------===//
// Comparisons and logic (NumPy broadcasting, i1 results)
//===----------------------------------------------------------------------===//

class Dz_CompareOp<string mnemonic, string what, list<Trait> traits = []>
    : Dz_Op<mnemonic, traits> {
  let summary = "elementwise test lhs " # what # " rhs with NumPy broadcasting, i1 result";
  let description = [{
    True where `lhs` }] # what # [{ `rhs`. The shapes broadcast as in NumPy; both
    operands have one element type; the result is an i1 tensor of the broadcast shape.
    It has no gradient (it is piecewise constant).

    ```mlir
    %0 = dz.}] # mnemonic # [{ %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
    ```
  }];
  let arguments = (ins Dz_Tensor:$lhs, Dz_Tensor:$rhs);
  let results = (outs Dz_BoolTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}


class Dz_LogicalOp<string mnemonic, string what> : Dz_Op<mnemonic, [Commutative]> {
  let summary = "elementwise logical " # what # " of i1 tensors with NumPy broadcasting";
  let description = [{
    Logical }] # what # [{ of the i1 tensors `lhs` and `rhs`, broadcast as in NumPy.

    ```mlir
    %0 = dz.}] # mnemonic # [{ %p, %q : (tensor<2x3xi1>, tensor<3xi1>) -> tensor<2x3xi1>
    ```
  }];
  let arguments = (ins Dz_BoolTensor:$lhs, Dz_BoolTensor:$rhs);
  let results = (outs Dz_BoolTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

def Dz_AndOp : Dz_LogicalOp<"and", "and">;
def Dz_OrOp : Dz_LogicalOp<"or", "or">;
def Dz_XorOp : Dz_LogicalOp<"xor", "exclusive or">;

def Dz_NotOp : Dz_Op<"not"> {
  let summary = "elementwise logical negation of an i1 tensor";
  let description = [{
    True where `x` is false.

    ```mlir
    %0 = dz.not %p : tensor<2x3xi1>
    ```
  }];
  let arguments = (ins Dz_BoolTensor:$x);
  let results = (outs Dz_BoolTensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x)";
}

def Dz_SelectOp : Dz_Op<"select", [Dz_Elementwise]> {
  let summary = "elementwise choice cond ? a : b with NumPy broadcasting";
  let description = [{
    `a` where the i1 tensor `cond` is true, else `b`. The three shapes broadcast
    together as in NumPy; `a` and `b` have one element type, which the result has.
    The gradient goes to `a` where `cond` holds and to `b` elsewhere.

    ```mlir
    %0 = dz.select %c, %a, %b : (tensor<2x3xi1>, tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
    ```
  }];
  let arguments = (ins Dz_BoolTensor:$cond, Dz_Tensor:$a, Dz_Tensor:$b);
  let results = (outs Dz_Tensor:$result);
  let assemblyFormat = "$cond `,` $a `,` $b attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Unary elementwise ops (result type = operand type)
//===----------------------------------------------------------------------===//

class Dz_UnaryOp<string mnemonic, string what, TypeConstraint operandType = Dz_FloatTensor,
                 dag attrs = (ins), string example = "", list<Trait> traits = []>
    : Dz_Op<mnemonic, traits> {
  let summary = what # ", elementwise";
  let description = [{
    Elementwise }] # what # [{ of `x`; the result has the type of `x`.

    ```mlir
    %0 = dz.}] # mnemonic # [{ %x }] # example # [{: tensor<2x3xf32>
    ```
  }];
  let arguments = !con((ins operandType:$x), attrs);
  let results = (outs Dz_Tensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x)";
}

// The elementwise ops with attributes (the others are the registry's, below).
defvar Dz_ElementwiseTraits = [Dz_Elementwise, Dz_Fusible];
def Dz_PowScalarOp : Dz_UnaryOp<"pow_scalar", "power x ^ exponent", Dz_FloatTensor,
                                (ins F64Attr:$exponent), "{exponent = 3.0 : f64} ",
                                Dz_ElementwiseTraits>;
def Dz_LeakyReluOp : Dz_UnaryOp<"leaky_relu", "leaky ReLU (x where x > 0, else slope * x)",
                                Dz_FloatTensor, (ins F64Attr:$slope),
                                "{slope = 0.2 : f64} ", Dz_ElementwiseTraits>;
def Dz_ClipOp : Dz_UnaryOp<"clip", "clamp of x into [min, max] (NaN stays NaN)", Dz_FloatTensor,
                           (ins F64Attr:$min, F64Attr:$max),
                           "{max = 1.0 : f64, min = 0.0 : f64} ", Dz_ElementwiseTraits>;
def Dz_ClipMaskOp : Dz_UnaryOp<"clip_mask",
                               "mask of clip's pass-through (1 where min <= x <= max, else 0)",
                               Dz_FloatTensor, (ins F64Attr:$min, F64Attr:$max),
                               "{max = 1.0 : f64, min = 0.0 : f64} ", Dz_ElementwiseTraits>;

//===----------------------------------------------------------------------===//
// The registry's elementwise ops (runtime/include/dzc/ops.def)
//===----------------------------------------------------------------------===//
// One def each in the generated DzRegistryOps.td (ir/DzRegistryOps.td.in); an op's
// domain picks its class. What each computes is the registry's expression; the CPU
// kernels, the CUDA kernels and the gradient rules derive from the same entry.

defvar Dz_RegistryTraits = [Dz_Elementwise, Dz_Fusible];
class Dz_UnaryFloatOp<string mnemonic, string what>
    : Dz_UnaryOp<mnemonic, what, Dz_FloatTensor, (ins), "", Dz_RegistryTraits>;
class Dz_UnaryNumericOp<string mnemonic, string what>
    : Dz_UnaryOp<mnemonic, what, Dz_Tensor, (ins), "", Dz_RegistryTraits>;
class Dz_UnaryPredicateOp<string mnemonic, string what> : Dz_Op<mnemonic, Dz_RegistryTraits> {
  let summary = "elementwise test: " # what # ", i1 result";
  let description = [{
    True where }] # what # [{, for each element `x` of `x`; the result is an i1 tensor
    of the shape of `x`. It has no gradient.

    ```mlir
    %0 = dz.}] # mnemonic # [{ %x : tensor<2x3xf32> -> tensor<2x3xi1>
    ```
  }];
  let arguments = (ins Dz_FloatTensor:$x);
  let results = (outs Dz_BoolTensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x) `->` type($result)";
}
// Float ops take float operands only: integers divide with dz.trunc_divide or
// dz.floor_divide, or are cast first (the tracer casts them to f64, as NumPy's true division).
class Dz_BinaryFloatOp<string mnemonic, string what, list<Trait> traits>
    : Dz_BinaryOp<mnemonic, what, !listconcat(Dz_RegistryTraits, traits)> {
  let arguments = (ins Dz_FloatTensor:$lhs, Dz_FloatTensor:$rhs);
}
class Dz_BinaryNumericOp<string mnemonic, string what, list<Trait> traits>
    : Dz_BinaryOp<mnemonic, what, !listconcat(Dz_RegistryTraits, traits)>;
class Dz_BinaryMaskOp<string mnemonic, string what, list<Trait> traits>
    : Dz_BinaryOp<mnemonic, what, !listconcat(Dz_RegistryTraits, traits)>;
class Dz_BinaryCompareOp<string mnemonic, string what, list<Trait> traits>
    : Dz_CompareOp<mnemonic, what, !listconcat(Dz_RegistryTraits, traits)>;

include "DzRegistryOps.td"

//===----------------------------------------------------------------------===//
// Element type and shape ops
//===----------------------------------------------------------------------===//

def Dz_CastOp : Dz_Op<"cast", [Dz_Elementwise, Dz_Fusible, Dz_ViewLike]> {
  let summary = "elementwise conversion to another element type";
  let description = [{
    `x` converted to the element type `dtype` (f32, f64, i64, i32 or i1, or a storage type:
    i8, i16, ui8, ui16, ui32, ui64, f16, bf16; to i1 a nonzero value is true, from i1 true is
    1; to a narrower integer the value wraps around; to f16 / bf16 it rounds to nearest
    even); the shape stays.

    ```mlir
    %0 = dz.cast %t {dtype = f32} : tensor<8xi64> -> tensor<8xf32>
    ```
  }];
  let arguments = (ins Dz_AnyTensor:$x, TypeAttr:$dtype);
  let results = (outs Dz_AnyTensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x) `->` type($result)";
}

class Dz_ShapeOp<string mnemonic, string attrDoc, string example, list<Trait> traits = []>
    : Dz_Op<mnemonic, traits> {
  let description = attrDoc # "\n\n```mlir\n" # example # "\n```\n";
  let results = (outs Dz_Tensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x) `->` type($result)";
}

def Dz_ReshapeOp : Dz_ShapeOp<"reshape",
    "`x` with the shape `shape` (same number of elements, no -1), elements in row-major order.",
    "%0 = dz.reshape %x {shape = array<i64: 3, 2>} : tensor<2x3xf32> -> tensor<3x2xf32>",
    [Dz_ViewLike]> {
  let summary = "the same elements in another shape";
  let arguments = (ins Dz_Tensor:$x, DenseI64ArrayAttr:$shape);
  let hasFolder = 1;
}

def Dz_TransposeOp : Dz_ShapeOp<"transpose",
    "Permutes the axes of `x`: result dimension i is dimension perm[i] of `x`.",
    "%0 = dz.transpose %x {perm = array<i64: 1, 0>} : tensor<2x3xf32> -> tensor<3x2xf32>"> {
  let summary = "permutation of the axes";
  let arguments = (ins Dz_Tensor:$x, DenseI64ArrayAttr:$perm);
  let hasFolder = 1;
}

def Dz_BroadcastToOp : Dz_ShapeOp<"broadcast_to",
    "`x` broadcast (NumPy rules) to the shape `shape`.",
    "%0 = dz.broadcast_to %b {shape = array<i64: 4, 3>} : tensor<3xf32> -> tensor<4x3xf32>",
    [Dz_Fusible, Dz_ViewLike]> {
  let summary = "NumPy broadcast to a shape";
  let arguments = (ins Dz_Tensor:$x, DenseI64ArrayAttr:$shape);
  let hasFolder = 1;
}

def Dz_SumToOp : Dz_ShapeOp<"sum_to",
    "Sums `x` down to the shape `shape` from which it broadcasts: the leading axes "
    "and the axes where `shape` has 1 (the gradient of `broadcast_to`).",
    "%0 = dz.sum_to %g {shape = array<i64: 3>} : tensor<4x3xf32> -> tensor<3xf32>",
    [Dz_ViewLike]> {
  let summary = "sum over the broadcast axes down to a shape";
  let arguments = (ins Dz_Tensor:$x, DenseI64ArrayAttr:$shape);
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

class Dz_ReduceOp<string mnemonic, string what> : Dz_Op<mnemonic, [Dz_FusibleReduction]> {
  let summary = what # " over axes";
  let description = [{
    The }] # what # [{ of `x` over `axes` (empty: all axes; negative axes count from
    the end). With `keepdims` the reduced axes stay as dimensions of 1.

    ```mlir
    %0 = dz.}] # mnemonic # [{ %x {axes = array<i64: 1>, keepdims = false} : tensor<2x3xf32> -> tensor<2xf32>
    %1 = dz.}] # mnemonic # [{ %x {axes = array<i64: -1>, keepdims = true} : tensor<2x3xf32> -> tensor<2x1xf32>
    %2 = dz.}] # mnemonic # [{ %x {axes = array<i64>, keepdims = false} : tensor<2x3xf32> -> tensor<f32>
    ```
  }];
  let arguments = (ins Dz_Tensor:$x, DenseI64ArrayAttr:$axes, BoolAttr:$keepdims);
  let results = (outs Dz_Tensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x) `->` type($result)";
}

def Dz_SumOp : Dz_ReduceOp<"sum", "sum">;
def Dz_MaxOp : Dz_ReduceOp<"max", "maximum">;
def Dz_MinOp : Dz_ReduceOp<"min", "minimum">;

//===----------------------------------------------------------------------===//
// Linear algebra
//===----------------------------------------------------------------------===//

def Dz_MatmulOp : Dz_Op<"matmul"> {
  let summary = "batched matrix product";
  let description = [{
    `(..., M, K) x (..., K, N) -> (..., M, N)`. Both operands have rank >= 2; the
    batch dimensions broadcast as in NumPy. `transpose_a` / `transpose_b` swap the
    last two dimensions of that operand first.

    ```mlir
    %0 = dz.matmul %x, %w : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
    %1 = dz.matmul %x, %v {transpose_b = true} : (tensor<4x3xf32>, tensor<5x3xf32>) -> tensor<4x5xf32>
    %2 = dz.matmul %p, %q : (tensor<7x1x4x3xf32>, tensor<2x3x5xf32>) -> tensor<7x2x4x5xf32>
    ```
  }];
  let arguments = (ins Dz_FloatTensor:$a, Dz_FloatTensor:$b,
                   DefaultValuedAttr<BoolAttr, "false">:$transpose_a,
                   DefaultValuedAttr<BoolAttr, "false">:$transpose_b);
  let results = (outs Dz_FloatTensor:$result);
  let assemblyFormat = "$a `,` $b attr-dict `:` functional-type(operands, results)";
}

def Dz_LinearOp : Dz_Op<"linear"> {
  let summary = "affine map x W + b";
  let description = [{
    `(N, K) x (K, M) [+ (M)] -> (N, M)`: the matrix product of `x` and `W`, plus the
    bias `b` (optional) broadcast over the rows.

    ```mlir
    %0 = dz.linear %x, %W, %b : (tensor<4x3xf32>, tensor<3x5xf32>, tensor<5xf32>) -> tensor<4x5xf32>
    %1 = dz.linear %x, %W : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
    ```
  }];
  let arguments = (ins Dz_FloatTensor:$x, Dz_FloatTensor:$W, Optional<Dz_FloatTensor>:$b);
  let results = (outs Dz_FloatTensor:$result);
  let assemblyFormat = "$x `,` $W (`,` $b^)? attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Softmax and losses
//===----------------------------------------------------------------------===//

class Dz_SoftmaxLikeOp<string mnemonic, string what> : Dz_Op<mnemonic> {
  let summary = what # " along an axis";
  let description = [{
    The }] # what # [{ of `x` along `axis` (negative counts from the end); the result
    has the type of `x`.

    ```mlir
    %0 = dz.}] # mnemonic # [{ %x {axis = 1 : i64} : tensor<4x10xf32>
    ```
  }];
  let arguments = (ins Dz_FloatTensor:$x, I64Attr:$axis);
  let results = (outs Dz_FloatTensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x)";
}

def Dz_SoftmaxOp : Dz_SoftmaxLikeOp<"softmax", "softmax">;
def Dz_LogSoftmaxOp : Dz_SoftmaxLikeOp<"log_softmax", "log-softmax">;

def Dz_SoftmaxCrossEntropyOp : Dz_Op<"softmax_cross_entropy"> {
  let summary = "mean cross entropy of softmax(x) and integer labels";
  let description = [{
    `x: (N, C)` float logits, `t: (N)` i64 labels in [0, C). The result is 0-d:
    the mean over the N rows of `-log softmax(x)[n, t[n]]`.

    ```mlir
    %loss = dz.softmax_cross_entropy %x, %t : (tensor<100x10xf32>, tensor<100xi64>) -> tensor<f32>
    ```
  }];
  let arguments = (ins Dz_FloatTensor:$x, Dz_IndexTensor:$t);
  let results = (outs Dz_FloatTensor:$result);
  let assemblyFormat = "$x `,` $t attr-dict `:` functional-type(operands, results)";
}

def Dz_OneHotOp : Dz_Op<"one_hot"> {
  let summary = "one-hot rows of integer labels";
  let description = [{
    `t: (N)` i64 labels; the result `(N, num_classes)` of element type `dtype` has 1
    at `[n, t[n]]` and 0 elsewhere.

    ```mlir
    %0 = dz.one_hot %t {dtype = f32, num_classes = 10 : i64} : tensor<100xi64> -> tensor<100x10xf32>
    ```
  }];
  let arguments = (ins Dz_IndexTensor:$t, I64Attr:$num_classes, TypeAttr:$dtype);
  let results = (outs Dz_Tensor:$result);
  let assemblyFormat = "$t attr-dict `:` type($t) `->` type($result)";
}

def Dz_MeanSquaredErrorOp : Dz_Op<"mean_squared_error"> {
  let summary = "sum of squared differences over the first dimension's length";
  let description = [{
    `a` and `b` of one type; the result is 0-d: `sum((a - b)^2) / len(a)`, where
    `len` is the first dimension (1 for a 0-d operand).

    ```mlir
    %loss = dz.mean_squared_error %y, %t : (tensor<100x1xf32>, tensor<100x1xf32>) -> tensor<f32>
    ```
  }];
  let arguments = (ins Dz_FloatTensor:$a, Dz_FloatTensor:$b);
  let results = (outs Dz_FloatTensor:$result);
  let assemblyFormat = "$a `,` $b attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Collectives (data-parallel training, <dzc/distributed.h>)
//===----------------------------------------------------------------------===//

// Not Pure: every rank must run the same collectives in the same order, so canonicalize,
// CSE and DCE neither remove, merge nor move it (a result nobody reads is still reduced).
def Dz_AllReduceOp : Op<Dz_Dialect, "all_reduce",
    [Dz_InferredTypesCheck, InferTypeOpAdaptor, MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "reduction of a tensor over the ranks of a data-parallel job";
  let description = [{
    Every rank of the communicator `comm` (0: all the ranks of the job, the only one
    there is) passes its `x`; every rank's result is their elementwise `reduction`:
    `"sum"`, `"mean"` (float types only) or `"max"` (i1: any rank true; `"sum"` and
    `"mean"` of i1 are errors). The executor calls the collective of `dz::distributed`
    (OpenMPI for host tensors, NCCL for CUDA ones) in program order; in a world of one
    the result is `x`. It works in place: the result takes `x`'s buffer when this is
    `x`'s last use (the memory plan joins them).

    The gradient of a `"sum"` or `"mean"` is the same all-reduce of the cotangent;
    `"max"` has none (the autodiff pass refuses it).

    ```mlir
    %g = dz.all_reduce %grad {comm = 0 : i64, reduction = "mean"} : tensor<4x3xf32>
    ```
  }];
  let arguments = (ins Dz_Tensor:$x, StrAttr:$reduction, I64Attr:$comm);
  let results = (outs Dz_Tensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x)";
}

//===----------------------------------------------------------------------===//
// Gradients
//===----------------------------------------------------------------------===//

def Dz_GradOp : Dz_Op<"grad"> {
  let summary = "gradients of sum(y) with respect to xs";
  let description = [{
    One result per `x`, of the type of that `x`: d(sum y)/dx. `--dz-autodiff`
    replaces it by the reverse-mode derivative built from `dz` ops; an `x` that `y`
    does not depend on gets zeros.

    ```mlir
    %g:2 = dz.grad %loss wrt %w, %b : tensor<f32>, tensor<3x5xf32>, tensor<5xf32>
    ```
  }];
  let arguments = (ins Dz_FloatTensor:$y, Variadic<Dz_FloatTensor>:$xs);
  let results = (outs Variadic<Dz_FloatTensor>:$grads);
  let assemblyFormat = "$y `wrt` $xs attr-dict `:` type($y) `,` type($xs)";
}

// The neural-network ops (indexing, embedding, convolution, pooling).
include "DzNNOps.td"
// dz.fused and dz.yield: a group of fused elementwise ops (--dz-fuse).
include "DzFusedOps.td"

#endif // DZ_OPS_TD
