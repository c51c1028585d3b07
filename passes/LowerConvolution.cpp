// LowerConvolution.cpp - `--dz-lower-conv`: dz.conv2d, dz.conv2d_grad_w and dz.deconv2d
// rewritten into dz.im2col / dz.col2im + dz.matmul, the im2col path of the eager kernels
// (runtime/src/conv.cpp) written out as dz ops, so that the GEMM path carries them.
//
// Layouts: col = im2col(x, to_matrix = false) is (N, C, KH, KW, OH, OW), seen as
// (N, C*KH*KW, OH*OW): image n's columns are the (C*KH*KW, OH*OW) matrix that the eager
// kernel builds per image, taps in (c, kh, kw) order, the order of W's last three axes.
//  1. conv2d(x, W, b) = reshape(matmul(reshape(W, (OC, CKK)), col), (N, OC, OH, OW))
//     + reshape(b, (OC, 1, 1)): one GEMM per image with W shared (batch dims broadcast),
//     the bias broadcast over the pixels.
//  2. conv2d_grad_w(x, gy) = reshape(sum_n(matmul(reshape(gy, (N, OC, OH*OW)), col,
//     transpose_b)), (OC, C, KH, KW)): per image gy_n col_n^T, summed over the images, as
//     the eager kernel accumulates them. After CSE, conv2d and its weight gradient read
//     one im2col of x.
//  3. deconv2d(x, W, b) = col2im(reshape(matmul(reshape(W, (C, OC*KH*KW)),
//     reshape(x, (N, C, H*W)), transpose_a), (N, OC, KH, KW, H, W)), outsize) + bias:
//     W^T x_n per image, its columns added back into the output image.
//  A 1x1 kernel with stride 1 and no padding is its own im2col / col2im: x (or the
//  matmul's result) is only reshaped, as the eager kernels skip the copy.
//
// Policy (option `policy`): `all` lowers every convolution. `auto` (the default) keeps a
// dz.conv2d that the executor runs faster with oneDNN's direct convolution, by the rule
// that dz::ConvAlgo::Auto applies in eager mode, measured in docs/performance.md
// ("Convolution: im2col + GEMM vs oneDNN's direct convolution"): float32, at least 64
// input taps C*KH*KW and at least 2^20 multiply-adds N*OC*OH*OW*C*KH*KW, and not a 1x1
// kernel with stride 1 and no padding. float64 is always lowered (oneDNN has no float64
// convolution), and so are conv2d_grad_w and deconv2d: their kernels are im2col/col2im +
// GEMM in any case. A change of the thresholds in runtime/src/conv.cpp belongs here too.
#include <dzc/passes/Passes.h>

#include <dzc/ir/DzOps.h>

#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/IR/Builders.h>
#include <mlir/Pass/Pass.h>

namespace dz::passes {

#define GEN_PASS_DECL_LOWERCONV
#define GEN_PASS_DEF_LOWERCONV
#include "Passes.h.inc"

using namespace mlir;

namespace {

// The thresholds of dz::ConvAlgo::Auto (runtime/src/conv.cpp, kOneDnnMinTaps/MinMacs).
constexpr int64_t kDirectMinTaps = 64;
constexpr int64_t kDirectMinMacs = int64_t(1) << 20;

RankedTensorType tensorType(Value v) { return cast<RankedTensorType>(v.getType()); }
ArrayRef<int64_t> shapeOf(Value v) { return tensorType(v).getShape(); }

/// The window of one convolution: kernel, stride and pad as (h, w) attributes.
struct Window {
  DenseI64ArrayAttr kernel, stride, pad;

  /// A 1x1 kernel with stride 1 and no padding: im2col is the identity.
  bool pointwise() const {
    return kernel[0] == 1 && kernel[1] == 1 && stride[0] == 1 && stride[1] == 1 && pad[0] == 0 &&
           pad[1] == 0;
  }
};

/// Builds the dz ops of the lowered convolutions at one insertion point and location.
class Emit {
public:
  Emit(OpBuilder &b, Location loc) : b(b), loc(loc) {}

  Value reshape(Value x, ArrayRef<int64_t> shape) {
    if (shapeOf(x) == shape)
      return x;
    return ir::ReshapeOp::create(b, loc, x, b.getDenseI64ArrayAttr(shape));
  }
  Value matmul(Value x, Value y, bool ta, bool tb) {
    return ir::MatmulOp::create(b, loc, x, y, b.getBoolAttr(ta), b.getBoolAttr(tb));
  }
  Value sumImages(Value x) {
    return ir::SumOp::create(b, loc, x, b.getDenseI64ArrayAttr({0}), b.getBoolAttr(false));
  }
  /// y (N, OC, H, W) + b reshaped to (OC, 1, 1); y alone without a bias.
  Value addBias(Value y, Value bias) {
    if (!bias)
      return y;
    int64_t oc = shapeOf(bias)[0];
    return ir::AddOp::create(b, loc, y, reshape(bias, {oc, 1, 1}));
  }

  /// The columns of image x (N, C, H, W) as (N, C*KH*KW, OH*OW).
  Value columns(Value x, const Window &w, int64_t oh, int64_t ow) {
    ArrayRef<int64_t> s = shapeOf(x);
    int64_t n = s[0], ckk = s[1] * w.kernel[0] * w.kernel[1];
    if (w.pointwise())
      return reshape(x, {n, ckk, oh * ow});
    Value col = ir::Im2colOp::create(b, loc, x, w.kernel, w.stride, w.pad, b.getBoolAttr(false));
    return reshape(col, {n, ckk, oh * ow});
  }

  /// The image of shape `image` (N, OC, OH, OW) whose im2col columns are cols
  /// (N, OC*KH*KW, H*W): their sum back at the pixels they were read from.
  Value image(Value cols, ArrayRef<int64_t> image, const Window &w, int64_t h, int64_t wd) {
    if (w.pointwise())
      return reshape(cols, image);
    Value col = reshape(cols, {image[0], image[1], w.kernel[0], w.kernel[1], h, wd});
    return ir::Col2imOp::create(b, loc, col, b.getDenseI64ArrayAttr(image), w.kernel, w.stride,
                                w.pad, b.getBoolAttr(false));
  }

private:
  OpBuilder &b;
  Location loc;
};

/// The window of a convolution with weights W (.., .., KH, KW).
Window windowOf(Value W, DenseI64ArrayAttr stride, DenseI64ArrayAttr pad) {
  return {DenseI64ArrayAttr::get(W.getContext(), shapeOf(W).drop_front(2)), stride, pad};
}

/// 1. conv2d as im2col + one GEMM per image with W shared, plus the bias.
Value lowerConv2d(OpBuilder &b, ir::Conv2dOp op) {
  Emit e(b, op.getLoc());
  ArrayRef<int64_t> y = shapeOf(op.getResult()), W = shapeOf(op.getW());
  Window w = windowOf(op.getW(), op.getStrideAttr(), op.getPadAttr());
  Value cols = e.columns(op.getX(), w, y[2], y[3]);
  Value weights = e.reshape(op.getW(), {W[0], W[1] * W[2] * W[3]});
  Value gemm = e.matmul(weights, cols, false, false);
  return e.addBias(e.reshape(gemm, y), op.getB());
}

/// 2. conv2d_grad_w as gy_n col_n^T per image, summed over the images.
Value lowerConv2dGradW(OpBuilder &b, ir::Conv2dGradWOp op) {
  Emit e(b, op.getLoc());
  ArrayRef<int64_t> gy = shapeOf(op.getGy());
  Window w{op.getKernelAttr(), op.getStrideAttr(), op.getPadAttr()};
  Value cols = e.columns(op.getX(), w, gy[2], gy[3]);
  Value grads = e.reshape(op.getGy(), {gy[0], gy[1], gy[2] * gy[3]});
  Value perImage = e.matmul(grads, cols, false, true);
  return e.reshape(e.sumImages(perImage), shapeOf(op.getResult()));
}

/// 3. deconv2d as W^T x_n per image, col2im, plus the bias.
Value lowerDeconv2d(OpBuilder &b, ir::Deconv2dOp op) {
  Emit e(b, op.getLoc());
  ArrayRef<int64_t> x = shapeOf(op.getX()), W = shapeOf(op.getW());
  Window w = windowOf(op.getW(), op.getStrideAttr(), op.getPadAttr());
  Value weights = e.reshape(op.getW(), {W[0], W[1] * W[2] * W[3]});
  Value pixels = e.reshape(op.getX(), {x[0], x[1], x[2] * x[3]});
  Value cols = e.matmul(weights, pixels, true, false);
  Value y = e.image(cols, shapeOf(op.getResult()), w, x[2], x[3]);
  return e.addBias(y, op.getB());
}

/// The `auto` rule: true when oneDNN's direct convolution runs this conv2d faster than
/// im2col + GEMM (see the top of the file).
bool directConvolutionWins(ir::Conv2dOp op) {
  auto x = tensorType(op.getX());
  if (!x.getElementType().isF32())
    return false;
  ArrayRef<int64_t> W = shapeOf(op.getW()), y = shapeOf(op.getResult());
  int64_t taps = W[1] * W[2] * W[3];
  int64_t macs = y[0] * y[1] * y[2] * y[3] * taps;
  return taps >= kDirectMinTaps && macs >= kDirectMinMacs &&
         !windowOf(op.getW(), op.getStrideAttr(), op.getPadAttr()).pointwise();
}

class LowerConvPass : public impl::LowerConvBase<LowerConvPass> {
public:
  using LowerConvBase::LowerConvBase;

  void runOnOperation() override {
    SmallVector<Operation *> convs;
    getOperation()->walk([&](Operation *op) {
      if (auto conv = dyn_cast<ir::Conv2dOp>(op)) {
        if (policy == ConvLoweringPolicy::All || !directConvolutionWins(conv))
          convs.push_back(op);
      } else if (isa<ir::Conv2dGradWOp, ir::Deconv2dOp>(op)) {
        convs.push_back(op);
      }
    });
    OpBuilder b(&getContext());
    for (Operation *op : convs) {
      b.setInsertionPoint(op);
      Value lowered;
      if (auto conv = dyn_cast<ir::Conv2dOp>(op))
        lowered = lowerConv2d(b, conv);
      else if (auto gradW = dyn_cast<ir::Conv2dGradWOp>(op))
        lowered = lowerConv2dGradW(b, gradW);
      else
        lowered = lowerDeconv2d(b, cast<ir::Deconv2dOp>(op));
      op->getResult(0).replaceAllUsesWith(lowered);
      op->erase();
    }
  }
};

} // namespace

std::unique_ptr<Pass> createLowerConvPass(ConvLoweringPolicy policy) {
  LowerConvOptions options;
  options.policy = policy;
  return createLowerConv(options);
}

} // namespace dz::passes
