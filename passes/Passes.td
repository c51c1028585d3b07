// Passes.td - the passes of dzc's compiler over the dz dialect (flags `dz-<verb>`).
#ifndef DZC_PASSES_TD
#define DZC_PASSES_TD

include "mlir/Pass/PassBase.td"

def Autodiff : Pass<"dz-autodiff"> {
  let summary = "Expands every dz.grad into the dz ops of its reverse-mode gradient";
  let description = [{
    Each `dz.grad %y wrt %xs` is replaced, in program order, by the gradients of
    sum(y) with respect to the xs: a seed of ones shaped like y, then the rule of each
    op between the xs and y in reverse order (GradientRules.cpp), gradients of one value
    summed with `dz.add`, broadcasting undone with `dz.sum_to`. An x that y does not
    depend on gets zeros. Because earlier dz.grad ops are already expanded when a later
    one is, a dz.grad of a gradient (double backprop) differentiates ordinary ops.

    ```mlir
    %y = dz.mul %x, %x : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    %g = dz.grad %y wrt %x : tensor<3xf32>, tensor<3xf32>
    // becomes: %one = dz.constant dense<1.0>, %g = dz.add (dz.mul %one, %x), (dz.mul %one, %x)
    ```

    An op on the path without a gradient rule is an error on that op.
  }];
  let dependentDialects = ["::dz::ir::DzDialect"];
}

def PrintMemoryPlan : Pass<"dz-print-memory-plan", "::mlir::ModuleOp"> {
  let summary = "Prints the memory plan (liveness, arena offsets) of every function";
  let description = [{
    For every func.func, in the module's order, prints on stdout the plan of
    `dzc/passes/MemoryPlan.h`: each intermediate value (an op result that is neither a
    dz.constant nor returned) with its size in bytes, its offset in one arena and its
    live range in op indices of the program order, then the arena size and the sum of
    all intermediates (no reuse). The IR is unchanged.

    ```
    memory plan @chain: 2 values, 1 buffers, 1 in place, alignment 64
    %0 400 0 [0, 1]
    %1 400 0 [1, 2] in-place %0
    peak 448 naive 896
    ```
  }];
  let options = [
    Option<"inPlace", "in-place", "bool", /*default=*/"true",
           "let an elementwise op or a reshape write into an operand that dies there">
  ];
}

def Fusion : Pass<"dz-fuse"> {
  let summary = "Groups chains of elementwise dz ops (and a trailing reduction) into dz.fused";
  let description = [{
    Greedy producer-consumer fusion (algorithm at the top of Fusion.cpp): from the last
    op back, each elementwise op or reduction roots a group that absorbs the elementwise
    ops that produce its operands when all their other users come after the group; a
    value read outside becomes an output and must have the group's shape; splat
    constants are cloned in; reductions only end a group; GEMMs, shape ops and the rest
    stay outside. Runs after --dz-autodiff (a dz.grad left is an error). The last pass of
    --dz-pipeline; the CPU back end compiles each dz.fused into one native kernel.

    ```mlir
    %0 = dz.add %h, %b : (tensor<4x5xf32>, tensor<5xf32>) -> tensor<4x5xf32>
    %1 = dz.relu %0 : tensor<4x5xf32>
    // becomes
    %1 = dz.fused (%x = %h, %y = %b) : (tensor<4x5xf32>, tensor<5xf32>) -> tensor<4x5xf32> {
      %0 = dz.add %x, %y : (tensor<4x5xf32>, tensor<5xf32>) -> tensor<4x5xf32>
      %r = dz.relu %0 : tensor<4x5xf32>
      dz.yield %r : tensor<4x5xf32>
    }
    ```
  }];
  let dependentDialects = ["::dz::ir::DzDialect"];
}

def FuseAttention : Pass<"dz-fuse-attention"> {
  let summary = "Rewrites matmul, scale, mask add, softmax, matmul into one dz.attention";
  let description = [{
    The scaled dot-product attention of a transformer: `matmul(softmax(scale * matmul(q,
    k) + mask, -1), v)`, with the scale an optional multiplication or division by a
    one-element constant of q or of the scores and the additive mask optional, becomes a
    `dz.attention` (ir/DzNNOps.td), whose CPU kernel computes a block of query rows at a
    time without storing the scores. Only chains whose intermediates have no other reader
    are rewritten, and only q, k, v of one rank with equal batch dimensions. Part of
    --dz-pipeline after autodiff, before dz-fuse (so a training step's forward, whose
    scores the backward reads, is left as it is).

    ```mlir
    %a = dz.div %q, %c : (tensor<8x16x4xf32>, tensor<f32>) -> tensor<8x16x4xf32>
    %s = dz.matmul %a, %k : (tensor<8x16x4xf32>, tensor<8x4x16xf32>) -> tensor<8x16x16xf32>
    %m = dz.add %s, %mask : (tensor<8x16x16xf32>, tensor<16x16xf32>) -> tensor<8x16x16xf32>
    %p = dz.softmax %m {axis = 2 : i64} : tensor<8x16x16xf32>
    %o = dz.matmul %p, %v : (tensor<8x16x16xf32>, tensor<8x16x4xf32>) -> tensor<8x16x4xf32>
    // becomes (%c = 2.0)
    %o = dz.attention %q, %k, %v, %mask {scale = 5.000000e-01 : f64} : (...) -> tensor<8x16x4xf32>
    ```
  }];
  let dependentDialects = ["::dz::ir::DzDialect"];
}

def SharePoolingIndexes : Pass<"dz-share-pooling-indexes"> {
  let summary = "Computes a max pooling's window argmax once for forward and backward";
  let description = [{
    The gradient rule of dz.max_pooling recomputes the argmax (dz.max_pooling_indexes) in the
    backward part of a training step. A dz.max_pooling whose operand also feeds a
    dz.max_pooling_indexes with the same kernel, stride and pad (same block) becomes a
    dz.max_pooling_with_indexes of those indexes, which move before it (algorithm at the top
    of SharePoolingIndexes.cpp). Part of --dz-pipeline, after autodiff and CSE.

    ```mlir
    %y = dz.max_pooling %x {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : tensor<1x1x4x4xf32> -> tensor<1x1x2x2xf32>
    ...
    %i = dz.max_pooling_indexes %x {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : tensor<1x1x4x4xf32> -> tensor<1x1x2x2xi64>
    // becomes
    %i = dz.max_pooling_indexes %x {...} : tensor<1x1x4x4xf32> -> tensor<1x1x2x2xi64>
    %y = dz.max_pooling_with_indexes %x, %i {...} : (tensor<1x1x4x4xf32>, tensor<1x1x2x2xi64>) -> tensor<1x1x2x2xf32>
    ```
  }];
  let dependentDialects = ["::dz::ir::DzDialect"];
}

def LowerConv : Pass<"dz-lower-conv"> {
  let summary = "Rewrites convolutions into dz.im2col / dz.col2im + dz.matmul (the GEMM path)";
  let description = [{
    The eager im2col path of runtime/src/conv.cpp written out as dz ops (layouts and
    the policy at the top of LowerConvolution.cpp): conv2d is im2col, reshapes and one
    batched matmul W (OC, C*KH*KW) x col (N, C*KH*KW, OH*OW), plus the bias reshaped to
    (OC, 1, 1); conv2d_grad_w is a batched matmul gy x col^T summed over the images;
    deconv2d is W^T x x and col2im. `policy=auto` (the default) keeps a float32 conv2d
    that oneDNN's direct convolution runs faster (from 64 input taps C*KH*KW and 2^20
    multiply-adds up, except 1x1 stride 1 unpadded; docs/performance.md), `policy=all`
    lowers every one. Part of --dz-pipeline (with policy=auto).

    ```mlir
    %y = dz.conv2d %x, %W {pad = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<2x3x5x5xf32>, tensor<4x3x3x3xf32>) -> tensor<2x4x3x3xf32>
    // becomes
    %col = dz.im2col %x {kernel = array<i64: 3, 3>, pad = array<i64: 0, 0>, stride = array<i64: 1, 1>, to_matrix = false} : tensor<2x3x5x5xf32> -> tensor<2x3x3x3x3x3xf32>
    %c = dz.reshape %col {shape = array<i64: 2, 27, 9>} : tensor<2x3x3x3x3x3xf32> -> tensor<2x27x9xf32>
    %w = dz.reshape %W {shape = array<i64: 4, 27>} : tensor<4x3x3x3xf32> -> tensor<4x27xf32>
    %m = dz.matmul %w, %c : (tensor<4x27xf32>, tensor<2x27x9xf32>) -> tensor<2x4x9xf32>
    %y = dz.reshape %m {shape = array<i64: 2, 4, 3, 3>} : tensor<2x4x9xf32> -> tensor<2x4x3x3xf32>
    ```
  }];
  let options = [
    Option<"policy", "policy", "::dz::passes::ConvLoweringPolicy",
           /*default=*/"::dz::passes::ConvLoweringPolicy::Auto",
           "which convolutions to lower",
           [{::llvm::cl::values(
             clEnumValN(::dz::passes::ConvLoweringPolicy::All, "all",
                        "every conv2d, deconv2d and conv2d_grad_w"),
             clEnumValN(::dz::passes::ConvLoweringPolicy::Auto, "auto",
                        "all but the float32 conv2d ops oneDNN's direct convolution runs faster"))}]>
  ];
  let dependentDialects = ["::dz::ir::DzDialect"];
}

#endif // DZC_PASSES_TD
