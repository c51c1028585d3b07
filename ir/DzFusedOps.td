//===- DzFusedOps.td - dz.fused and dz.yield: a group of fused ops -----------===//
//
// The region op that `--dz-fuse` (passes/Fusion.cpp) makes of a chain of elementwise
// ops: one kernel's worth of work. The C++ (parser, printer, verifier) is in
// lib/DzFusedOps.cpp. Included from DzOps.td.
//
//===----------------------------------------------------------------------===//

#ifndef DZ_FUSED_OPS_TD
#define DZ_FUSED_OPS_TD

def Dz_FusedOp : Op<Dz_Dialect, "fused", [Pure, IsolatedFromAbove, SingleBlock]> {
  let summary = "a group of elementwise ops that runs as one kernel";
  let description = [{
    The inputs of the group are the operands; the body is one block whose arguments
    are those inputs (the body sees nothing else: `IsolatedFromAbove`), and which ends
    in `dz.yield` of the group's outputs, one per result, of the result types.

    The body holds only elementwise dz ops (the binary and unary ops, `dz.cast`,
    `dz.equal_mask`, `dz.clip_mask`, ...), `dz.broadcast_to`, `dz.constant` (splats cloned
    in by the fusion), and at most one reduction (`dz.sum`, `dz.max`, `dz.min`) whose
    result only the `dz.yield` reads: the trailing reduction of the group. Nested
    `dz.fused` ops, GEMMs, shape ops and `dz.grad` are not allowed.

    ```mlir
    %y, %s = dz.fused (%a = %x, %b = %m) : (tensor<4x3xf32>, tensor<4x1xf32>)
        -> (tensor<4x3xf32>, tensor<4x1xf32>) {
      %0 = dz.sub %a, %b : (tensor<4x3xf32>, tensor<4x1xf32>) -> tensor<4x3xf32>
      %1 = dz.exp %0 : tensor<4x3xf32>
      %2 = dz.sum %1 {axes = array<i64: 1>, keepdims = true} : tensor<4x3xf32> -> tensor<4x1xf32>
      dz.yield %1, %2 : tensor<4x3xf32>, tensor<4x1xf32>
    }
    ```

    The CPU executor runs the body ops one after the other with their own kernels (as
    if unfused); generated code for the whole group comes later.
  }];
  let arguments = (ins Variadic<Dz_Tensor>:$inputs);
  let results = (outs Variadic<Dz_Tensor>:$outputs);
  let regions = (region SizedRegion<1>:$body);
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
  let extraClassDeclaration = [{
    /// The dz.yield that ends the body.
    ::mlir::Operation *getYield() { return getBody().front().getTerminator(); }
  }];
}

def Dz_YieldOp : Op<Dz_Dialect, "yield", [Pure, Terminator, HasParent<"FusedOp">]> {
  let summary = "the outputs of a dz.fused group";
  let description = [{
    Ends the body of `dz.fused`; its operands are the group's results, in order, of
    the result types of the `dz.fused`.

    ```mlir
    dz.yield %1, %2 : tensor<4x3xf32>, tensor<4x1xf32>
    ```
  }];
  let arguments = (ins Variadic<Dz_Tensor>:$values);
  let assemblyFormat = "($values^ `:` type($values))? attr-dict";
}

#endif // DZ_FUSED_OPS_TD
