// DzNNOps.cpp - the neural-network ops of DzNNOps.td: type inference, which is also
// their verifier (indexing, embedding, im2col/col2im, convolutions, pooling).
//
// The output-size rules are those of runtime/include/dzc/nn_kernels.h
// (get_conv_outsize); a failure names the op, the operand types and what would be valid.
#include "dzc/ir/DzOps.h"

#include "OpSupport.h"

#include <string>

#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/STLExtras.h"

using namespace mlir;

namespace dz::ir {
namespace {

using namespace support;

/// (in + 2 pad - kernel) / stride + 1, as get_conv_outsize; <= 0 when the window does
/// not fit.
int64_t convOutsize(int64_t in, int64_t kernel, int64_t stride, int64_t pad) {
  int64_t span = in + 2 * pad - kernel;
  return span < 0 ? 0 : span / stride + 1;
}

/// The (h, w) attributes of a window: kernel (> 0), stride (> 0), pad (>= 0).
struct Window {
  int64_t kh, kw, sh, sw, ph, pw;
};

template <typename OpTy>
FailureOr<Window> window(std::optional<Location> loc, DenseI64ArrayAttr kernel,
                         DenseI64ArrayAttr stride, DenseI64ArrayAttr pad) {
  if (!kernel || !stride || !pad)
    return fail<OpTy>(loc, "needs the attributes kernel, stride, pad");
  auto pair = [&](DenseI64ArrayAttr a, const char *name, int64_t min) -> LogicalResult {
    if (a.size() != 2 || a[0] < min || a[1] < min)
      return fail<OpTy>(loc, name, " must be two integers >= ", min, " (h, w), not ",
                        formatShape(a.asArrayRef()));
    return success();
  };
  if (failed(pair(kernel, "kernel", 1)) || failed(pair(stride, "stride", 1)) ||
      failed(pair(pad, "pad", 0)))
    return failure();
  return Window{kernel[0], kernel[1], stride[0], stride[1], pad[0], pad[1]};
}

/// An NCHW image operand.
template <typename OpTy>
FailureOr<RankedTensorType> image(std::optional<Location> loc, Value v, const char *name) {
  auto t = tensorOf(v);
  if (!t || t.getRank() != 4)
    return fail<OpTy>(loc, name, " must be a 4-d (N, C, H, W) tensor, not ",
                      v ? v.getType() : Type());
  return t;
}

/// The (OH, OW) of a window over x; fails when it does not fit.
template <typename OpTy>
FailureOr<std::pair<int64_t, int64_t>> outsize(std::optional<Location> loc, RankedTensorType x,
                                               const Window &w) {
  int64_t oh = convOutsize(x.getDimSize(2), w.kh, w.sh, w.ph);
  int64_t ow = convOutsize(x.getDimSize(3), w.kw, w.sw, w.pw);
  if (oh <= 0 || ow <= 0)
    return fail<OpTy>(loc, "a ", w.kh, "x", w.kw, " window with pad (", w.ph, ", ", w.pw,
                      ") does not fit in ", x);
  return std::make_pair(oh, ow);
}

template <typename OpTy>
LogicalResult checkOffsets(std::optional<Location> loc, llvm::ArrayRef<int64_t> offsets,
                           int64_t count, int64_t size, const char *of) {
  if (int64_t(offsets.size()) != count)
    return fail<OpTy>(loc, "has ", offsets.size(), " offsets for ", count, " elements of ", of);
  for (size_t i = 0; i < offsets.size(); ++i)
    if (offsets[i] < 0 || offsets[i] >= size)
      return fail<OpTy>(loc, "offset ", offsets[i], " (entry ", i, ") is out of range for ", size,
                        " elements");
  return success();
}

template <typename OpTy>
LogicalResult checkBias(std::optional<Location> loc, Value bias, int64_t channels, Type element) {
  if (!bias)
    return success();
  auto b = tensorOf(bias);
  if (!b || b.getRank() != 1 || b.getDimSize(0) != channels || b.getElementType() != element)
    return fail<OpTy>(loc, "bias must be tensor<", channels, "x", element, ">, not ",
                      bias.getType());
  return success();
}

template <typename OpTy>
LogicalResult sameElement(std::optional<Location> loc, RankedTensorType a, RankedTensorType b) {
  if (a.getElementType() != b.getElementType())
    return fail<OpTy>(loc, "operands have different element types: ", a, " and ", b);
  return success();
}

} // namespace

//===----------------------------------------------------------------------===//
// Indexing
//===----------------------------------------------------------------------===//

DZ_INFER(GetItemOp) {
  auto x = tensorOf(adaptor.getX());
  auto shape = DZ_ATTR(adaptor, shape);
  auto offsets = DZ_ATTR(adaptor, offsets);
  if (!x || !shape || !offsets)
    return fail<GetItemOp>(loc, "needs a ranked tensor operand and the attributes shape, offsets");
  if (llvm::any_of(shape.asArrayRef(), [](int64_t d) { return d < 0; }))
    return fail<GetItemOp>(loc, "shape ", formatShape(shape.asArrayRef()),
                           " has a negative dimension");
  if (failed(checkOffsets<GetItemOp>(loc, offsets.asArrayRef(), numElements(shape.asArrayRef()),
                                     x.getNumElements(), "the result")))
    return failure();
  types.push_back(RankedTensorType::get(shape.asArrayRef(), x.getElementType()));
  return success();
}

DZ_INFER(GetItemGradOp) {
  auto gy = tensorOf(adaptor.getGy());
  auto shape = DZ_ATTR(adaptor, shape);
  auto offsets = DZ_ATTR(adaptor, offsets);
  if (!gy || !shape || !offsets)
    return fail<GetItemGradOp>(loc,
                               "needs a ranked tensor operand and the attributes shape, offsets");
  if (llvm::any_of(shape.asArrayRef(), [](int64_t d) { return d < 0; }))
    return fail<GetItemGradOp>(loc, "shape ", formatShape(shape.asArrayRef()),
                               " has a negative dimension");
  if (failed(checkOffsets<GetItemGradOp>(loc, offsets.asArrayRef(), gy.getNumElements(),
                                         numElements(shape.asArrayRef()), "gy")))
    return failure();
  types.push_back(RankedTensorType::get(shape.asArrayRef(), gy.getElementType()));
  return success();
}

DZ_INFER(EmbedIdOp) {
  auto ids = tensorOf(adaptor.getIds()), w = tensorOf(adaptor.getW());
  if (!ids || !w)
    return fail<EmbedIdOp>(loc, "operands must be ranked tensors");
  if (w.getRank() != 2)
    return fail<EmbedIdOp>(loc, "W must be 2-d (V, D), not ", w);
  llvm::SmallVector<int64_t> shape(ids.getShape());
  shape.push_back(w.getDimSize(1));
  types.push_back(RankedTensorType::get(shape, w.getElementType()));
  return success();
}

DZ_INFER(EmbedIdGradOp) {
  auto ids = tensorOf(adaptor.getIds()), gy = tensorOf(adaptor.getGy());
  auto shape = DZ_ATTR(adaptor, shape);
  if (!ids || !gy || !shape)
    return fail<EmbedIdGradOp>(loc, "needs ranked tensor operands and the attribute shape");
  llvm::ArrayRef<int64_t> vd = shape.asArrayRef();
  if (vd.size() != 2 || vd[0] < 0 || vd[1] < 0)
    return fail<EmbedIdGradOp>(loc, "shape must be (V, D), not ", formatShape(vd));
  llvm::SmallVector<int64_t> want(ids.getShape());
  want.push_back(vd[1]);
  if (gy.getShape() != llvm::ArrayRef<int64_t>(want))
    return fail<EmbedIdGradOp>(loc, "gy must have the ids' shape plus D = ", vd[1], ": ",
                               formatShape(want), " for ", ids, ", not ", gy);
  types.push_back(RankedTensorType::get(vd, gy.getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// im2col / col2im
//===----------------------------------------------------------------------===//

/// The column shape of im2col for image shape (N, C, H, W).
static FailureOr<llvm::SmallVector<int64_t>> colShape(std::optional<Location> loc,
                                                      llvm::ArrayRef<int64_t> x, const Window &w,
                                                      bool toMatrix, bool forCol2im) {
  int64_t oh = convOutsize(x[2], w.kh, w.sh, w.ph), ow = convOutsize(x[3], w.kw, w.sw, w.pw);
  if (oh <= 0 || ow <= 0) {
    if (forCol2im)
      return fail<Col2imOp>(loc, "a ", w.kh, "x", w.kw, " window does not fit in the image ",
                            formatShape(x));
    return fail<Im2colOp>(loc, "a ", w.kh, "x", w.kw, " window does not fit in the image ",
                          formatShape(x));
  }
  if (toMatrix)
    return llvm::SmallVector<int64_t>{x[0] * oh * ow, x[1] * w.kh * w.kw};
  return llvm::SmallVector<int64_t>{x[0], x[1], w.kh, w.kw, oh, ow};
}

DZ_INFER(Im2colOp) {
  auto x = image<Im2colOp>(loc, adaptor.getX(), "x");
  if (failed(x))
    return failure();
  auto w = window<Im2colOp>(loc, DZ_ATTR(adaptor, kernel), DZ_ATTR(adaptor, stride),
                            DZ_ATTR(adaptor, pad));
  auto toMatrix = DZ_ATTR(adaptor, to_matrix);
  if (failed(w))
    return failure();
  if (!toMatrix)
    return fail<Im2colOp>(loc, "needs the attribute to_matrix");
  auto shape = colShape(loc, x->getShape(), *w, toMatrix.getValue(), false);
  if (failed(shape))
    return failure();
  types.push_back(RankedTensorType::get(*shape, x->getElementType()));
  return success();
}

DZ_INFER(Col2imOp) {
  auto col = tensorOf(adaptor.getCol());
  auto shape = DZ_ATTR(adaptor, shape);
  auto toMatrix = DZ_ATTR(adaptor, to_matrix);
  if (!col || !shape || !toMatrix)
    return fail<Col2imOp>(loc, "needs a ranked tensor operand and the attributes shape, "
                               "to_matrix");
  auto w = window<Col2imOp>(loc, DZ_ATTR(adaptor, kernel), DZ_ATTR(adaptor, stride),
                            DZ_ATTR(adaptor, pad));
  if (failed(w))
    return failure();
  llvm::ArrayRef<int64_t> x = shape.asArrayRef();
  if (x.size() != 4 || llvm::any_of(x, [](int64_t d) { return d < 0; }))
    return fail<Col2imOp>(loc, "shape must be an image shape (N, C, H, W), not ", formatShape(x));
  auto want = colShape(loc, x, *w, toMatrix.getValue(), true);
  if (failed(want))
    return failure();
  if (col.getShape() != llvm::ArrayRef<int64_t>(*want))
    return fail<Col2imOp>(loc, "col ", col, " is not the im2col shape ", formatShape(*want), " of ",
                          formatShape(x));
  types.push_back(RankedTensorType::get(x, col.getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Convolutions
//===----------------------------------------------------------------------===//

DZ_INFER(Conv2dOp) {
  auto x = image<Conv2dOp>(loc, adaptor.getX(), "x");
  auto W = image<Conv2dOp>(loc, adaptor.getW(), "W (OC, C, KH, KW)");
  if (failed(x) || failed(W) || failed(sameElement<Conv2dOp>(loc, *x, *W)))
    return failure();
  if (x->getDimSize(1) != W->getDimSize(1))
    return fail<Conv2dOp>(loc, "x has ", x->getDimSize(1), " channels but W expects ",
                          W->getDimSize(1), ": ", *x, " and ", *W);
  auto kernel = DenseI64ArrayAttr::get(context, {W->getDimSize(2), W->getDimSize(3)});
  auto w = window<Conv2dOp>(loc, kernel, DZ_ATTR(adaptor, stride), DZ_ATTR(adaptor, pad));
  if (failed(w))
    return failure();
  auto o = outsize<Conv2dOp>(loc, *x, *w);
  int64_t oc = W->getDimSize(0);
  if (failed(o) || failed(checkBias<Conv2dOp>(loc, adaptor.getB(), oc, x->getElementType())))
    return failure();
  types.push_back(
      RankedTensorType::get({x->getDimSize(0), oc, o->first, o->second}, x->getElementType()));
  return success();
}

DZ_INFER(Deconv2dOp) {
  auto x = image<Deconv2dOp>(loc, adaptor.getX(), "x");
  auto W = image<Deconv2dOp>(loc, adaptor.getW(), "W (C, OC, KH, KW)");
  if (failed(x) || failed(W) || failed(sameElement<Deconv2dOp>(loc, *x, *W)))
    return failure();
  if (x->getDimSize(1) != W->getDimSize(0))
    return fail<Deconv2dOp>(loc, "x has ", x->getDimSize(1), " channels but W expects ",
                            W->getDimSize(0), ": ", *x, " and ", *W);
  auto kernel = DenseI64ArrayAttr::get(context, {W->getDimSize(2), W->getDimSize(3)});
  auto w = window<Deconv2dOp>(loc, kernel, DZ_ATTR(adaptor, stride), DZ_ATTR(adaptor, pad));
  auto out = DZ_ATTR(adaptor, outsize);
  if (failed(w))
    return failure();
  if (!out || out.size() != 2 || out[0] <= 0 || out[1] <= 0)
    return fail<Deconv2dOp>(loc, "needs the attribute outsize: two positive integers (h, w)");
  if (convOutsize(out[0], w->kh, w->sh, w->ph) != x->getDimSize(2) ||
      convOutsize(out[1], w->kw, w->sw, w->pw) != x->getDimSize(3))
    return fail<Deconv2dOp>(loc, "outsize ", formatShape(out.asArrayRef()),
                            " does not convolve back to the ", x->getDimSize(2), "x",
                            x->getDimSize(3), " of ", *x);
  int64_t oc = W->getDimSize(1);
  if (failed(checkBias<Deconv2dOp>(loc, adaptor.getB(), oc, x->getElementType())))
    return failure();
  types.push_back(
      RankedTensorType::get({x->getDimSize(0), oc, out[0], out[1]}, x->getElementType()));
  return success();
}

DZ_INFER(Conv2dGradWOp) {
  auto x = image<Conv2dGradWOp>(loc, adaptor.getX(), "x");
  auto gy = image<Conv2dGradWOp>(loc, adaptor.getGy(), "gy");
  if (failed(x) || failed(gy) || failed(sameElement<Conv2dGradWOp>(loc, *x, *gy)))
    return failure();
  auto w = window<Conv2dGradWOp>(loc, DZ_ATTR(adaptor, kernel), DZ_ATTR(adaptor, stride),
                                 DZ_ATTR(adaptor, pad));
  if (failed(w))
    return failure();
  auto o = outsize<Conv2dGradWOp>(loc, *x, *w);
  if (failed(o))
    return failure();
  if (gy->getDimSize(0) != x->getDimSize(0) || gy->getDimSize(2) != o->first ||
      gy->getDimSize(3) != o->second)
    return fail<Conv2dGradWOp>(loc, "gy ", *gy, " is not the (", x->getDimSize(0), ", OC, ",
                               o->first, ", ", o->second, ") output of convolving ", *x);
  types.push_back(RankedTensorType::get({gy->getDimSize(1), x->getDimSize(1), w->kh, w->kw},
                                        x->getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Pooling
//===----------------------------------------------------------------------===//

template <typename OpTy>
static LogicalResult inferPool(std::optional<Location> loc, typename OpTy::Adaptor adaptor,
                               Type element, SmallVectorImpl<Type> &types) {
  auto x = image<OpTy>(loc, adaptor.getX(), "x");
  if (failed(x))
    return failure();
  auto w =
      window<OpTy>(loc, DZ_ATTR(adaptor, kernel), DZ_ATTR(adaptor, stride), DZ_ATTR(adaptor, pad));
  if (failed(w))
    return failure();
  auto o = outsize<OpTy>(loc, *x, *w);
  if (failed(o))
    return failure();
  types.push_back(RankedTensorType::get({x->getDimSize(0), x->getDimSize(1), o->first, o->second},
                                        element ? element : x->getElementType()));
  return success();
}

DZ_INFER(MaxPoolingOp) { return inferPool<MaxPoolingOp>(loc, adaptor, Type(), types); }
DZ_INFER(AveragePoolingOp) { return inferPool<AveragePoolingOp>(loc, adaptor, Type(), types); }
DZ_INFER(MaxPoolingIndexesOp) {
  return inferPool<MaxPoolingIndexesOp>(loc, adaptor, IntegerType::get(context, 64), types);
}

DZ_INFER(MaxPoolingWithIndexesOp) {
  if (failed(inferPool<MaxPoolingWithIndexesOp>(loc, adaptor, Type(), types)))
    return failure();
  auto idx = tensorOf(adaptor.getIndexes());
  auto y = llvm::cast<RankedTensorType>(types.back());
  if (!idx || idx.getShape() != y.getShape())
    return fail<MaxPoolingWithIndexesOp>(loc, "indexes must have the pooled shape ",
                                         formatShape(y.getShape()), ", not ",
                                         adaptor.getIndexes().getType());
  return success();
}

/// The gradients of pooling: gy must be the pooled shape of `shape`.
template <typename OpTy>
static LogicalResult inferPoolGrad(std::optional<Location> loc, typename OpTy::Adaptor adaptor,
                                   SmallVectorImpl<Type> &types) {
  auto gy = image<OpTy>(loc, adaptor.getGy(), "gy");
  auto shape = DZ_ATTR(adaptor, shape);
  if (failed(gy))
    return failure();
  if (!shape || shape.size() != 4 ||
      llvm::any_of(shape.asArrayRef(), [](int64_t d) { return d < 0; }))
    return fail<OpTy>(loc, "shape must be an image shape (N, C, H, W)");
  auto w =
      window<OpTy>(loc, DZ_ATTR(adaptor, kernel), DZ_ATTR(adaptor, stride), DZ_ATTR(adaptor, pad));
  if (failed(w))
    return failure();
  auto x = RankedTensorType::get(shape.asArrayRef(), gy->getElementType());
  auto o = outsize<OpTy>(loc, x, *w);
  if (failed(o))
    return failure();
  llvm::SmallVector<int64_t> pooled{shape[0], shape[1], o->first, o->second};
  if (gy->getShape() != llvm::ArrayRef<int64_t>(pooled))
    return fail<OpTy>(loc, "gy ", *gy, " is not the pooled shape ", formatShape(pooled), " of ",
                      formatShape(shape.asArrayRef()));
  types.push_back(x);
  return success();
}

DZ_INFER(AveragePoolingGradOp) { return inferPoolGrad<AveragePoolingGradOp>(loc, adaptor, types); }

DZ_INFER(MaxPoolingGradOp) {
  if (failed(inferPoolGrad<MaxPoolingGradOp>(loc, adaptor, types)))
    return failure();
  auto idx = tensorOf(adaptor.getIndexes());
  if (!idx || idx.getShape() != tensorOf(adaptor.getGy()).getShape())
    return fail<MaxPoolingGradOp>(loc, "indexes must have the shape of gy ",
                                  adaptor.getGy().getType(), ", not ",
                                  adaptor.getIndexes().getType());
  return success();
}

//===----------------------------------------------------------------------===//
// Random masks
//===----------------------------------------------------------------------===//

template <typename OpTy>
static LogicalResult checkRngState(std::optional<Location> loc, Value state) {
  auto t = tensorOf(state);
  if (!t || t.getShape() != llvm::ArrayRef<int64_t>{2} || !t.getElementType().isInteger(64))
    return fail<OpTy>(loc, "state must be tensor<2xi64> (seed, offset), not ",
                      state ? state.getType() : Type());
  return success();
}

DZ_INFER(DropoutMaskOp) {
  auto ratio = DZ_ATTR(adaptor, ratio);
  auto shape = DZ_ATTR(adaptor, shape);
  auto dtype = DZ_ATTR(adaptor, dtype);
  if (failed(checkRngState<DropoutMaskOp>(loc, adaptor.getState())))
    return failure();
  if (!ratio || !shape || !dtype)
    return fail<DropoutMaskOp>(loc, "needs the attributes ratio, shape, dtype");
  double r = ratio.getValueAsDouble();
  if (!(r >= 0.0 && r < 1.0))
    return fail<DropoutMaskOp>(loc, "ratio must be in [0, 1), not ", r);
  if (!dtype.getValue().isF32() && !dtype.getValue().isF64())
    return fail<DropoutMaskOp>(loc, "dtype must be f32 or f64, not ", dtype.getValue());
  if (llvm::any_of(shape.asArrayRef(), [](int64_t d) { return d < 0; }))
    return fail<DropoutMaskOp>(loc, "shape ", formatShape(shape.asArrayRef()),
                               " has a negative dimension");
  types.push_back(RankedTensorType::get(shape.asArrayRef(), dtype.getValue()));
  return success();
}

DZ_INFER(RngNextOp) {
  auto groups = DZ_ATTR(adaptor, groups);
  if (failed(checkRngState<RngNextOp>(loc, adaptor.getState())))
    return failure();
  if (!groups || groups.getInt() < 0)
    return fail<RngNextOp>(loc, "needs the attribute groups >= 0");
  types.push_back(adaptor.getState().getType());
  return success();
}

DZ_INFER(AttentionOp) {
  auto q = tensorOf(adaptor.getQ()), k = tensorOf(adaptor.getK()), v = tensorOf(adaptor.getV());
  if (!q || !k || !v)
    return fail<AttentionOp>(loc, "q, k and v must be ranked tensors");
  if (q.getRank() < 2 || k.getRank() != q.getRank() || v.getRank() != q.getRank())
    return fail<AttentionOp>(loc,
                             "q (..., M, D), k (..., D, N) and v (..., N, E) must have one "
                             "rank >= 2, got ",
                             q, ", ", k, " and ", v);
  if (failed(sameElement<AttentionOp>(loc, q, k)) || failed(sameElement<AttentionOp>(loc, q, v)))
    return failure();
  const int64_t r = q.getRank();
  if (q.getShape().drop_back(2) != k.getShape().drop_back(2) ||
      q.getShape().drop_back(2) != v.getShape().drop_back(2))
    return fail<AttentionOp>(loc, "q, k and v must have the same batch dimensions, got ", q, ", ",
                             k, " and ", v);
  const int64_t m = q.getDimSize(r - 2), d = q.getDimSize(r - 1), n = k.getDimSize(r - 1);
  if (k.getDimSize(r - 2) != d)
    return fail<AttentionOp>(loc, "k must be (..., D, N) with q's D = ", d, ", got ", q, " and ",
                             k);
  if (v.getDimSize(r - 2) != n)
    return fail<AttentionOp>(loc, "v must be (..., N, E) with k's N = ", n, ", got ", k, " and ",
                             v);
  llvm::SmallVector<int64_t> scores(q.getShape().drop_back(2));
  scores.append({m, n});
  if (Value maskValue = adaptor.getMask()) {
    auto mask = tensorOf(maskValue);
    if (!mask || failed(sameElement<AttentionOp>(loc, q, mask)))
      return failure();
    auto shape = broadcastShapes(mask.getShape(), scores);
    if (mask.getRank() > r || !shape || ArrayRef<int64_t>(*shape) != ArrayRef<int64_t>(scores))
      return fail<AttentionOp>(loc, "mask ", mask, " does not broadcast to the scores' shape ",
                               formatShape(scores));
  }
  llvm::SmallVector<int64_t> out(q.getShape().drop_back(1));
  out.push_back(v.getDimSize(r - 1));
  types.push_back(RankedTensorType::get(out, q.getElementType()));
  return success();
}

DZ_INFER(AllReduceOp) {
  auto x = tensorOf(adaptor.getX());
  auto reduction = DZ_ATTR(adaptor, reduction);
  auto comm = DZ_ATTR(adaptor, comm);
  if (!x || !reduction || !comm)
    return fail<AllReduceOp>(loc, "needs a ranked tensor operand and the attributes reduction, "
                                  "comm");
  const llvm::StringRef r = reduction.getValue();
  if (r != "sum" && r != "mean" && r != "max")
    return fail<AllReduceOp>(loc, "reduction must be \"sum\", \"mean\" or \"max\", not \"", r.str(),
                             "\"");
  if (comm.getInt() < 0)
    return fail<AllReduceOp>(loc, "comm must be a communicator id >= 0 (0: all ranks), not ",
                             comm.getInt());
  if (r == "mean" && !llvm::isa<FloatType>(x.getElementType()))
    return fail<AllReduceOp>(loc, "the mean of ", x,
                             " is not representable in place; use reduction \"sum\"");
  if (r != "max" && x.getElementType().isInteger(1))
    return fail<AllReduceOp>(loc, "an i1 tensor reduces with \"max\" (any rank true) only, not \"",
                             r.str(), "\"");
  types.push_back(x);
  return success();
}

#undef DZ_INFER

} // namespace dz::ir
