//===- DzNNOps.td - the neural-network ops of the dz dialect ----------------===//
//
// Indexing, embedding, convolution and pooling: one op per eager Function of
// frontend/src/functions.cpp (GetItem, GetItemGrad) and functions_nn.cpp. Included by
// DzOps.td (uses its Dz_Op); the C++ of inference and verification is lib/DzNNOps.cpp.
// Images are NCHW; `kernel`, `stride`, `pad` are (h, w) pairs; padding is zero, as in
// DeZero's functions_conv.py.
//
//===----------------------------------------------------------------------===//

#ifndef DZ_NN_OPS_TD
#define DZ_NN_OPS_TD

//===----------------------------------------------------------------------===//
// Indexing
//===----------------------------------------------------------------------===//

def Dz_GetItemOp : Dz_Op<"get_item"> {
  let summary = "elements of x at fixed flat offsets (basic and advanced indexing)";
  let description = [{
    The index expression resolved at trace time (the runtime's IndexPlan): the result
    has the shape `shape`, and its element i (row-major) is the element of `x` at flat
    offset `offsets[i]`. `offsets` has one entry per result element, each in
    [0, size of x). `x[1:3, 0]` of a 4x2 tensor:

    ```mlir
    %0 = dz.get_item %x {offsets = array<i64: 2, 4>, shape = array<i64: 2>} : tensor<4x2xf32> -> tensor<2xf32>
    ```
  }];
  let arguments = (ins Dz_Tensor:$x, DenseI64ArrayAttr:$shape, DenseI64ArrayAttr:$offsets);
  let results = (outs Dz_Tensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x) `->` type($result)";
}

def Dz_GetItemGradOp : Dz_Op<"get_item_grad"> {
  let summary = "the adjoint of get_item: gy added at flat offsets into zeros";
  let description = [{
    Zeros of shape `shape` with element i of `gy` (row-major) added at flat offset
    `offsets[i]`; repeated offsets accumulate. `offsets` has one entry per element of
    `gy`, each in [0, size of the result).

    ```mlir
    %0 = dz.get_item_grad %gy {offsets = array<i64: 2, 4>, shape = array<i64: 4, 2>} : tensor<2xf32> -> tensor<4x2xf32>
    ```
  }];
  let arguments = (ins Dz_Tensor:$gy, DenseI64ArrayAttr:$shape, DenseI64ArrayAttr:$offsets);
  let results = (outs Dz_Tensor:$result);
  let assemblyFormat = "$gy attr-dict `:` type($gy) `->` type($result)";
}

def Dz_EmbedIdOp : Dz_Op<"embed_id"> {
  let summary = "rows of W selected by integer ids";
  let description = [{
    `ids` of any shape S (i64, each in [0, V)) and `W: (V, D)`; the result `S x D` holds
    row `W[ids[s]]` at `s`. The ids are an operand: they may change from call to call.

    ```mlir
    %0 = dz.embed_id %ids, %W : (tensor<2x3xi64>, tensor<10x4xf32>) -> tensor<2x3x4xf32>
    ```
  }];
  let arguments = (ins Dz_IndexTensor:$ids, Dz_FloatTensor:$W);
  let results = (outs Dz_FloatTensor:$result);
  let assemblyFormat = "$ids `,` $W attr-dict `:` functional-type(operands, results)";
}

def Dz_EmbedIdGradOp : Dz_Op<"embed_id_grad"> {
  let summary = "the adjoint of embed_id in W: rows of gy added at the ids";
  let description = [{
    `ids` of shape S and `gy: S x D`; the result of shape `shape` = (V, D) is zeros with
    row `gy[s]` added to row `ids[s]` (repeated ids accumulate).

    ```mlir
    %0 = dz.embed_id_grad %ids, %gy {shape = array<i64: 10, 4>} : (tensor<2x3xi64>, tensor<2x3x4xf32>) -> tensor<10x4xf32>
    ```
  }];
  let arguments = (ins Dz_IndexTensor:$ids, Dz_FloatTensor:$gy, DenseI64ArrayAttr:$shape);
  let results = (outs Dz_FloatTensor:$result);
  let assemblyFormat = "$ids `,` $gy attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// im2col / col2im
//===----------------------------------------------------------------------===//

def Dz_Im2colOp : Dz_Op<"im2col"> {
  let summary = "the windows of an image as columns";
  let description = [{
    `x: (N, C, H, W)` -> `(N, C, KH, KW, OH, OW)`, or with `to_matrix`
    `(N*OH*OW, C*KH*KW)`: col[n, c, kh, kw, oh, ow] = x[n, c, oh*SH - PH + kh,
    ow*SW - PW + kw] (0 outside x); OH = (H + 2 PH - KH) / SH + 1.

    ```mlir
    %0 = dz.im2col %x {kernel = array<i64: 3, 3>, pad = array<i64: 1, 1>, stride = array<i64: 1, 1>, to_matrix = true} : tensor<2x3x5x5xf32> -> tensor<50x27xf32>
    ```
  }];
  let arguments = (ins Dz_FloatTensor:$x, DenseI64ArrayAttr:$kernel, DenseI64ArrayAttr:$stride,
                   DenseI64ArrayAttr:$pad, BoolAttr:$to_matrix);
  let results = (outs Dz_FloatTensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x) `->` type($result)";
}

def Dz_Col2imOp : Dz_Op<"col2im"> {
  let summary = "the adjoint of im2col: columns added back into an image";
  let description = [{
    `col` as im2col makes it for an image of shape `shape` = (N, C, H, W); every entry
    is added to the pixel it was read from (overlaps accumulate, padding is dropped).

    ```mlir
    %0 = dz.col2im %col {kernel = array<i64: 3, 3>, pad = array<i64: 1, 1>, shape = array<i64: 2, 3, 5, 5>, stride = array<i64: 1, 1>, to_matrix = true} : tensor<50x27xf32> -> tensor<2x3x5x5xf32>
    ```
  }];
  let arguments = (ins Dz_FloatTensor:$col, DenseI64ArrayAttr:$shape, DenseI64ArrayAttr:$kernel,
                   DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$pad, BoolAttr:$to_matrix);
  let results = (outs Dz_FloatTensor:$result);
  let assemblyFormat = "$col attr-dict `:` type($col) `->` type($result)";
}

//===----------------------------------------------------------------------===//
// Convolutions
//===----------------------------------------------------------------------===//

def Dz_Conv2dOp : Dz_Op<"conv2d"> {
  let summary = "2-d convolution (cross-correlation) plus an optional bias";
  let description = [{
    `x: (N, C, H, W)`, `W: (OC, C, KH, KW)`, `b: (OC)` (optional) ->
    `(N, OC, OH, OW)`, OH = (H + 2 PH - KH) / SH + 1 (floor), OW likewise.

    ```mlir
    %0 = dz.conv2d %x, %W, %b {pad = array<i64: 1, 1>, stride = array<i64: 1, 1>} : (tensor<2x1x8x8xf32>, tensor<4x1x3x3xf32>, tensor<4xf32>) -> tensor<2x4x8x8xf32>
    %1 = dz.conv2d %x, %W {pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : (tensor<2x1x8x8xf32>, tensor<4x1x3x3xf32>) -> tensor<2x4x3x3xf32>
    ```
  }];
  let arguments = (ins Dz_FloatTensor:$x, Dz_FloatTensor:$W, Optional<Dz_FloatTensor>:$b,
                   DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$pad);
  let results = (outs Dz_FloatTensor:$result);
  let assemblyFormat = "$x `,` $W (`,` $b^)? attr-dict `:` functional-type(operands, results)";
}

def Dz_Deconv2dOp : Dz_Op<"deconv2d"> {
  let summary = "2-d transposed convolution (the input gradient of conv2d)";
  let description = [{
    `x: (N, C, H, W)`, `W: (C, OC, KH, KW)`, `b: (OC)` (optional) ->
    `(N, OC, outsize[0], outsize[1])`. `outsize` must convolve back to H x W:
    (outsize[0] + 2 PH - KH) / SH + 1 = H (DeZero's default outsize is
    SH (H - 1) + KH - 2 PH).

    ```mlir
    %0 = dz.deconv2d %x, %W {outsize = array<i64: 8, 8>, pad = array<i64: 1, 1>, stride = array<i64: 1, 1>} : (tensor<2x4x8x8xf32>, tensor<4x1x3x3xf32>) -> tensor<2x1x8x8xf32>
    ```
  }];
  let arguments = (ins Dz_FloatTensor:$x, Dz_FloatTensor:$W, Optional<Dz_FloatTensor>:$b,
                   DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$pad,
                   DenseI64ArrayAttr:$outsize);
  let results = (outs Dz_FloatTensor:$result);
  let assemblyFormat = "$x `,` $W (`,` $b^)? attr-dict `:` functional-type(operands, results)";
}

def Dz_Conv2dGradWOp : Dz_Op<"conv2d_grad_w"> {
  let summary = "the weight gradient of conv2d";
  let description = [{
    `x: (N, C, H, W)` and `gy: (N, OC, OH, OW)` (OH, OW those of conv2d with `kernel`,
    `stride`, `pad`) -> `(OC, C, KH, KW)`: the sum over n, oh, ow of gy times the
    x window.

    ```mlir
    %0 = dz.conv2d_grad_w %x, %gy {kernel = array<i64: 3, 3>, pad = array<i64: 1, 1>, stride = array<i64: 1, 1>} : (tensor<2x1x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<4x1x3x3xf32>
    ```
  }];
  let arguments = (ins Dz_FloatTensor:$x, Dz_FloatTensor:$gy, DenseI64ArrayAttr:$kernel,
                   DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$pad);
  let results = (outs Dz_FloatTensor:$result);
  let assemblyFormat = "$x `,` $gy attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Pooling
//===----------------------------------------------------------------------===//

class Dz_PoolOp<string mnemonic, string what, string example> : Dz_Op<mnemonic> {
  let summary = what;
  let description = [{
    The }] # what # [{ of `x: (N, C, H, W)` over KH x KW windows; the result is
    `(N, C, OH, OW)` as for conv2d. Average pooling counts the padding's zeros in the
    mean (DeZero's im2col); max pooling never takes a tap on the padding (-inf, as ONNX's
    MaxPool), and a NaN in a window is its maximum.

    ```mlir
    }] # example # [{
    ```
  }];
  let arguments = (ins Dz_FloatTensor:$x, DenseI64ArrayAttr:$kernel, DenseI64ArrayAttr:$stride,
                   DenseI64ArrayAttr:$pad);
  let assemblyFormat = "$x attr-dict `:` type($x) `->` type($result)";
}

def Dz_MaxPoolingOp : Dz_PoolOp<"max_pooling", "max pooling",
    "%0 = dz.max_pooling %x {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : tensor<2x4x8x8xf32> -> tensor<2x4x4x4xf32>"> {
  let results = (outs Dz_FloatTensor:$result);
}

def Dz_MaxPoolingIndexesOp : Dz_PoolOp<"max_pooling_indexes",
    "window position (kh * KW + kw, i64; the first on ties) of the maximum",
    "%0 = dz.max_pooling_indexes %x {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : tensor<2x4x8x8xf32> -> tensor<2x4x4x4xi64>"> {
  let results = (outs Dz_IndexTensor:$result);
}

def Dz_AveragePoolingOp : Dz_PoolOp<"average_pooling", "average pooling",
    "%0 = dz.average_pooling %x {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : tensor<2x4x8x8xf32> -> tensor<2x4x4x4xf32>"> {
  let results = (outs Dz_FloatTensor:$result);
}

def Dz_MaxPoolingWithIndexesOp : Dz_Op<"max_pooling_with_indexes"> {
  let summary = "x read at given window positions (the derivative of max pooling applied to x)";
  let description = [{
    `x: (N, C, H, W)` and `indexes: (N, C, OH, OW)` i64 window positions (as
    dz.max_pooling_indexes makes them) -> `(N, C, OH, OW)`: each window of x read at its
    index.

    ```mlir
    %0 = dz.max_pooling_with_indexes %x, %idx {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, stride = array<i64: 2, 2>} : (tensor<2x4x8x8xf32>, tensor<2x4x4x4xi64>) -> tensor<2x4x4x4xf32>
    ```
  }];
  let arguments = (ins Dz_FloatTensor:$x, Dz_IndexTensor:$indexes, DenseI64ArrayAttr:$kernel,
                   DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$pad);
  let results = (outs Dz_FloatTensor:$result);
  let assemblyFormat = "$x `,` $indexes attr-dict `:` functional-type(operands, results)";
}

def Dz_MaxPoolingGradOp : Dz_Op<"max_pooling_grad"> {
  let summary = "the gradient of max pooling: gy scattered to each window's maximum";
  let description = [{
    `gy: (N, C, OH, OW)` and `indexes` of that shape -> zeros of `shape` = (N, C, H, W)
    with each gy added at the window position its index names (the adjoint of
    dz.max_pooling_with_indexes).

    ```mlir
    %0 = dz.max_pooling_grad %gy, %idx {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, shape = array<i64: 2, 4, 8, 8>, stride = array<i64: 2, 2>} : (tensor<2x4x4x4xf32>, tensor<2x4x4x4xi64>) -> tensor<2x4x8x8xf32>
    ```
  }];
  let arguments = (ins Dz_FloatTensor:$gy, Dz_IndexTensor:$indexes, DenseI64ArrayAttr:$shape,
                   DenseI64ArrayAttr:$kernel, DenseI64ArrayAttr:$stride,
                   DenseI64ArrayAttr:$pad);
  let results = (outs Dz_FloatTensor:$result);
  let assemblyFormat = "$gy `,` $indexes attr-dict `:` functional-type(operands, results)";
}

def Dz_AveragePoolingGradOp : Dz_Op<"average_pooling_grad"> {
  let summary = "the gradient of average pooling: each gy / (KH KW) spread over its window";
  let description = [{
    `gy: (N, C, OH, OW)` -> `shape` = (N, C, H, W) (the adjoint of
    dz.average_pooling).

    ```mlir
    %0 = dz.average_pooling_grad %gy {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0>, shape = array<i64: 2, 4, 8, 8>, stride = array<i64: 2, 2>} : tensor<2x4x4x4xf32> -> tensor<2x4x8x8xf32>
    ```
  }];
  let arguments = (ins Dz_FloatTensor:$gy, DenseI64ArrayAttr:$shape, DenseI64ArrayAttr:$kernel,
                   DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$pad);
  let results = (outs Dz_FloatTensor:$result);
  let assemblyFormat = "$gy attr-dict `:` type($gy) `->` type($result)";
}

//===----------------------------------------------------------------------===//
// Random masks (dropout)
//===----------------------------------------------------------------------===//

def Dz_DropoutMaskOp : Dz_Op<"dropout_mask"> {
  let summary = "the scaled keep-mask of dropout, drawn from an explicit RNG state";
  let description = [{
    `state: tensor<2xi64>` = (seed, offset) of the runtime's counter-based Philox
    generator. The result of shape `shape` and element type `dtype` (f32 or f64) is
    `(u > ratio) / (1 - ratio)` for the uniforms u that `dz::rand` draws from a Generator
    at that state: the same numbers as an eager `F::dropout` at that state. The state
    is an operand (not an attribute), so each call of a compiled step draws a new mask;
    dz.rng_next gives the state after the draw.

    ```mlir
    %m = dz.dropout_mask %state {dtype = f32, ratio = 5.000000e-01 : f64, shape = array<i64: 4, 10>} : tensor<2xi64> -> tensor<4x10xf32>
    ```
  }];
  let arguments = (ins Dz_IndexTensor:$state, F64Attr:$ratio, DenseI64ArrayAttr:$shape,
                   TypeAttr:$dtype);
  let results = (outs Dz_FloatTensor:$result);
  let assemblyFormat = "$state attr-dict `:` type($state) `->` type($result)";
}

def Dz_RngNextOp : Dz_Op<"rng_next"> {
  let summary = "the RNG state after drawing `groups` Philox counters";
  let description = [{
    `state: tensor<2xi64>` = (seed, offset) -> (seed, offset + groups). A draw of n
    numbers uses ceil(n / 4) counters.

    ```mlir
    %next = dz.rng_next %state {groups = 10 : i64} : tensor<2xi64>
    ```
  }];
  let arguments = (ins Dz_IndexTensor:$state, I64Attr:$groups);
  let results = (outs Dz_IndexTensor:$result);
  let assemblyFormat = "$state attr-dict `:` type($state)";
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

def Dz_AttentionOp : Dz_Op<"attention"> {
  let summary = "softmax(scale * q k + mask) v: scaled dot-product attention in one kernel";
  let description = [{
    `q: (..., M, D)`, `k: (..., D, N)` (the keys already transposed, as the right operand
    of the scores' matrix product), `v: (..., N, E)` with the same leading (batch)
    dimensions and element type, and an optional additive `mask` of that element type
    that broadcasts to the scores' shape `(..., M, N)`. The result `(..., M, E)` is
    `matmul(softmax(scale * matmul(q, k) + mask, axis = -1), v)`.

    `--dz-fuse-attention` makes it from that chain of ops (after `--dz-autodiff`); the
    CPU kernel computes a block of query rows at a time, so the `(..., M, N)` scores are
    never stored whole. Its gradient rule is the unfused chain's.

    ```mlir
    %0 = dz.attention %q, %k, %v, %mask {scale = 0.125 : f64} : (tensor<16x128x64xf32>, tensor<16x64x128xf32>, tensor<16x128x64xf32>, tensor<128x128xf32>) -> tensor<16x128x64xf32>
    %1 = dz.attention %q, %k, %v {scale = 1.0 : f64} : (tensor<4x6x8xf32>, tensor<4x8x6xf32>, tensor<4x6x8xf32>) -> tensor<4x6x8xf32>
    ```
  }];
  let arguments = (ins Dz_FloatTensor:$q, Dz_FloatTensor:$k, Dz_FloatTensor:$v,
                   Optional<Dz_FloatTensor>:$mask, F64Attr:$scale);
  let results = (outs Dz_FloatTensor:$result);
  let assemblyFormat = "$q `,` $k `,` $v (`,` $mask^)? attr-dict `:` functional-type(operands, results)";
}

#endif // DZ_NN_OPS_TD
