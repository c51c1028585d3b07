// KernelTable.cpp - the CPU executor's kernel table: one line per dz op (docs/ops.md; the
// registry's ops from dzc/ops.def), each giving a kernel closure over operand slots that
// calls the runtime exactly as the eager function of frontend/src/functions.cpp computes
// its forward.
#include "KernelTable.h"

#include <dzc/codegen/ExecutorBuild.h>
#include <dzc/ir/DzOps.h>

#include <dzc/collectives.h>
#include <dzc/nn_kernels.h>

#include <mlir/IR/BuiltinTypes.h>
#include <mlir/IR/DialectResourceBlobManager.h>

#include <llvm/ADT/StringMap.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <cstring>
#include <numeric>

namespace dz::codegen {

using Slots = std::vector<Tensor>;
using llvm::StringRef;
using mlir::failure;
using mlir::FailureOr;

/// The executor's view of a builtin tensor type; nullopt when it cannot run it.
std::optional<TensorSpec> spec_of(mlir::Type type) {
  auto t = llvm::dyn_cast<mlir::RankedTensorType>(type);
  if (!t || !t.hasStaticShape())
    return std::nullopt;
  TensorSpec spec{Shape(t.getShape().begin(), t.getShape().end()), f32};
  mlir::Type e = t.getElementType();
  if (e.isF32())
    spec.dtype = f32;
  else if (e.isF64())
    spec.dtype = f64;
  else if (e.isSignlessInteger(64))
    spec.dtype = i64;
  else if (e.isSignlessInteger(32))
    spec.dtype = i32;
  else if (e.isSignlessInteger(1))
    spec.dtype = b8;
  else if (e.isSignlessInteger(8))
    spec.dtype = i8;
  else if (e.isSignlessInteger(16))
    spec.dtype = i16;
  else if (e.isUnsignedInteger(8))
    spec.dtype = u8;
  else if (e.isUnsignedInteger(16))
    spec.dtype = u16;
  else if (e.isUnsignedInteger(32))
    spec.dtype = u32;
  else if (e.isUnsignedInteger(64))
    spec.dtype = u64;
  else if (e.isF16())
    spec.dtype = f16;
  else if (e.isBF16())
    spec.dtype = bf16;
  else
    return std::nullopt;
  return spec;
}

namespace {

/// ", got <attr>" for a diagnostic, or "" when the attribute is absent.
std::string got(mlir::Attribute a) {
  if (!a)
    return "";
  std::string s = ", got ";
  llvm::raw_string_ostream os(s);
  a.print(os);
  return s;
}

} // namespace

FailureOr<double> OpView::f64_attr(StringRef name) {
  mlir::Attribute a = attr(name);
  if (auto f = llvm::dyn_cast_or_null<mlir::FloatAttr>(a))
    return f.getValueAsDouble();
  if (auto i = llvm::dyn_cast_or_null<mlir::IntegerAttr>(a))
    return double(i.getInt());
  return error() << "needs the F64Attr attribute '" << name << "'" << got(a);
}

FailureOr<int64_t> OpView::i64_attr(StringRef name) {
  mlir::Attribute a = attr(name);
  if (auto i = llvm::dyn_cast_or_null<mlir::IntegerAttr>(a))
    return i.getInt();
  return error() << "needs the I64Attr attribute '" << name << "'" << got(a);
}

FailureOr<bool> OpView::bool_attr(StringRef name, bool absent) {
  mlir::Attribute a = attr(name);
  if (!a)
    return absent;
  if (auto b = llvm::dyn_cast<mlir::BoolAttr>(a))
    return b.getValue();
  return error() << "attribute '" << name << "' must be a BoolAttr" << got(a);
}

FailureOr<std::vector<int64_t>> OpView::i64_array_attr(StringRef name, bool optional) {
  mlir::Attribute a = attr(name);
  if (!a && optional)
    return std::vector<int64_t>{};
  if (auto arr = llvm::dyn_cast_or_null<mlir::DenseI64ArrayAttr>(a))
    return std::vector<int64_t>(arr.asArrayRef().begin(), arr.asArrayRef().end());
  return error() << "needs the DenseI64ArrayAttr attribute '" << name << "'" << got(a);
}

namespace {

// ---- kernels: closures over operand slots -----------------------------------------------

template <typename F> Kernel unary(const OpView &v, F f) {
  int32_t x = v.in[0];
  return [x, f](const Slots &s) { return f(s[size_t(x)]); };
}

template <typename F> Kernel binary(const OpView &v, F f) {
  int32_t a = v.in[0], b = v.in[1];
  return [a, b, f](const Slots &s) { return f(s[size_t(a)], s[size_t(b)]); };
}

/// The labels operand of softmax_cross_entropy / one_hot: int64 of shape (N).
mlir::LogicalResult check_label_operand(OpView &v, size_t i, int64_t n) {
  const TensorSpec &t = v.in_types[i];
  if (t.dtype != i64 || t.shape.size() != 1 || (n >= 0 && t.shape[0] != n))
    return v.error() << "needs int64 labels of shape (" << (n >= 0 ? std::to_string(n) : "N")
                     << "), got " << type_str(t);
  return mlir::success();
}

// ---- constants --------------------------------------------------------------------------

template <typename T> Tensor filled(const TensorSpec &spec, T value) {
  Tensor t(spec.shape, spec.dtype);
  std::fill_n(t.data<T>(), t.size(), value);
  return t;
}

template <typename T>
std::optional<Tensor> elements_as(mlir::ElementsAttr attr, const TensorSpec &spec) {
  if (auto dense = llvm::dyn_cast<mlir::DenseElementsAttr>(attr)) {
    if (dense.isSplat())
      return filled<T>(spec, dense.getSplatValue<T>());
    llvm::ArrayRef<char> raw = dense.getRawData();
    if constexpr (std::is_same_v<T, bool>) // i1 elements are packed bits: read them one by one
      raw = {};
    if (raw.size() == size_t(shape_size(spec.shape)) * sizeof(T))
      return Tensor::from_buffer(raw.data(), spec.shape, spec.dtype);
  }
  if (auto resource = llvm::dyn_cast<mlir::DenseResourceElementsAttr>(attr)) {
    const mlir::AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob || blob->getData().size() != size_t(shape_size(spec.shape)) * sizeof(T))
      return std::nullopt; // elided or malformed data
    return Tensor::from_buffer(blob->getData().data(), spec.shape, spec.dtype);
  }
  auto it = attr.try_value_begin<T>();
  if (!it)
    return std::nullopt;
  Tensor t(spec.shape, spec.dtype);
  T *p = t.data<T>();
  for (int64_t i = 0, n = t.size(); i < n; ++i, ++*it)
    p[i] = **it;
  return t;
}

/// The elements of a dense constant of a storage dtype (i8, ui16, f16, ...), by their bytes.
std::optional<Tensor> elements_raw(mlir::ElementsAttr attr, const TensorSpec &spec) {
  auto dense = llvm::dyn_cast<mlir::DenseElementsAttr>(attr);
  if (!dense)
    return std::nullopt;
  llvm::ArrayRef<char> raw = dense.getRawData();
  const size_t width = dtype_size(spec.dtype), n = size_t(shape_size(spec.shape));
  if (dense.isSplat() && raw.size() == width) {
    Tensor t(spec.shape, spec.dtype);
    for (size_t i = 0; i < n; ++i)
      std::memcpy(static_cast<char *>(t.raw()) + i * width, raw.data(), width);
    return t;
  }
  if (raw.size() == n * width)
    return Tensor::from_buffer(raw.data(), spec.shape, spec.dtype);
  return std::nullopt;
}

FailureOr<Kernel> lower_constant(OpView &v) {
  auto value = llvm::dyn_cast_or_null<mlir::ElementsAttr>(v.attr("value"));
  if (!value)
    return v.error() << "needs the ElementsAttr attribute 'value'";
  if (spec_of(value.getType()) != v.out)
    return v.error() << "value of type " << value.getType() << " does not match the result "
                     << type_str(v.out);
  std::optional<Tensor> t;
  switch (v.out.dtype) {
  case DType::f32:
    t = elements_as<float>(value, v.out);
    break;
  case DType::f64:
    t = elements_as<double>(value, v.out);
    break;
  case DType::i64:
    t = elements_as<int64_t>(value, v.out);
    break;
  case DType::i32:
    t = elements_as<int32_t>(value, v.out);
    break;
  case DType::b8:
    t = elements_as<bool>(value, v.out);
    break;
  default:
    t = elements_raw(value, v.out);
    break;
  }
  if (!t)
    return v.error() << "cannot read the elements of its value (" << value.getType()
                     << "); dense<...>, and dense_resource<...> whose data is present, are "
                        "supported";
  return Kernel([c = t->to(v.device)](const Slots &) { return c; }); // uploaded once
}

// ---- the lowering of each op ------------------------------------------------------------

FailureOr<Kernel> lower_reduction(OpView &v, bool is_sum, bool is_max) {
  auto axes = v.i64_array_attr("axes", /*optional=*/true);
  auto keepdims = v.bool_attr("keepdims", false);
  if (failed(axes) || failed(keepdims))
    return failure();
  bool k = *keepdims;
  if (is_sum) // the eager sum of int32 is int64 (NumPy's); dz.sum keeps the element type
    return unary(v, [ax = *axes, k](const Tensor &x) { return x.sum(ax, k).to(x.dtype()); });
  if (is_max)
    return unary(v, [ax = *axes, k](const Tensor &x) { return x.max(ax, k); });
  return unary(v, [ax = *axes, k](const Tensor &x) { return x.min(ax, k); });
}

FailureOr<Kernel> lower_clip(OpView &v, bool mask) {
  auto lo = v.f64_attr("min"), hi = v.f64_attr("max");
  if (failed(lo) || failed(hi))
    return failure();
  if (*lo > *hi)
    return v.error() << "min " << *lo << " is above max " << *hi;
  double l = *lo, h = *hi;
  if (mask) // the eager Clip's backward mask
    return unary(
        v, [l, h](const Tensor &x) { return (x >= l).to(x.dtype()) * (x <= h).to(x.dtype()); });
  return unary(v, [l, h](const Tensor &x) { return dz::clip(x, l, h); });
}

/// A registry op (dzc/ops.def): its eager function dz::NAME, converted to the IR's result
/// type where the eager function computes integers in float64 (dz.pow on i64: exact for
/// the integer results a float64 holds).
template <Tensor (*F)(const Tensor &)> FailureOr<Kernel> lower_registry_unary(OpView &v) {
  return unary(v, [dt = v.out.dtype](const Tensor &x) {
    Tensor y = F(x);
    return y.dtype() == dt ? y : y.to(dt);
  });
}
template <Tensor (*F)(const Tensor &, const Tensor &)>
FailureOr<Kernel> lower_registry_binary(OpView &v) {
  return binary(v, [dt = v.out.dtype](const Tensor &a, const Tensor &b) {
    Tensor y = F(a, b);
    return y.dtype() == dt ? y : y.to(dt);
  });
}

/// The logical ops on bool tensors, through where (which broadcasts the three) and the
/// comparisons of bools; `b` is unused for '!'.
Tensor logical(char op, const Tensor &a, const Tensor &b) {
  static const Tensor yes = Tensor::scalar(1, b8), no = Tensor::scalar(0, b8);
  switch (op) {
  case '&':
    return where(a, b, no);
  case '|':
    return where(a, yes, b);
  case '!':
    return a == no;
  default: // '^'
    return a != b;
  }
}

/// The eager MatMul (2-d, or 3-d with equal batch: transpose flags go to the GEMM) and
/// BatchedMatMul (broadcast batch dims; flags become explicit transposes of the last
/// two axes) — chosen here from the static shapes.
FailureOr<Kernel> lower_matmul(OpView &v) {
  auto ta = v.bool_attr("transpose_a", false), tb = v.bool_attr("transpose_b", false);
  if (failed(ta) || failed(tb))
    return failure();
  const Shape &a = v.in_types[0].shape, &b = v.in_types[1].shape;
  if (a.size() < 2 || b.size() < 2)
    return v.error() << "needs operands of rank >= 2, got " << type_str(v.in_types[0]) << " and "
                     << type_str(v.in_types[1]);
  bool fa = *ta, fb = *tb;
  if ((a.size() == 2 && b.size() == 2) || (a.size() == 3 && b.size() == 3 && a[0] == b[0]))
    return binary(v,
                  [fa, fb](const Tensor &x, const Tensor &y) { return dz::matmul(x, y, fa, fb); });
  if (a.size() > 2 && b.size() == 2 && !fa) {
    // (..., M, K) x (K, N): one GEMM over the rows of every batch (no broadcast copies of b).
    Shape rows{shape_size(Shape(a.begin(), a.end() - 1)), a.back()}, out = v.out.shape;
    return binary(v, [fb, rows, out](const Tensor &x, const Tensor &y) {
      return dz::matmul(x.reshape(rows), y, false, fb).reshape(out);
    });
  }
  auto swap_last = [](size_t rank) {
    std::vector<int64_t> perm(rank);
    std::iota(perm.begin(), perm.end(), 0);
    std::swap(perm[rank - 1], perm[rank - 2]);
    return perm;
  };
  return binary(v, [fa, fb, pa = swap_last(a.size()), pb = swap_last(b.size())](const Tensor &x,
                                                                                const Tensor &y) {
    return dz::matmul(fa ? x.transpose(pa) : x, fb ? y.transpose(pb) : y);
  });
}

FailureOr<Kernel> lower_linear(OpView &v) {
  int32_t x = v.in[0], W = v.in[1];
  if (v.in.size() == 3) {
    int32_t b = v.in[2];
    return Kernel([x, W, b](const Slots &s) {
      return dz::linear(s[size_t(x)], s[size_t(W)], &s[size_t(b)]);
    });
  }
  return Kernel([x, W](const Slots &s) { return dz::linear(s[size_t(x)], s[size_t(W)], nullptr); });
}

/// dz.attention: the one-kernel scaled dot-product attention of the runtime.
FailureOr<Kernel> lower_attention(OpView &v) {
  auto scale = v.f64_attr("scale");
  if (failed(scale))
    return failure();
  int32_t q = v.in[0], k = v.in[1], val = v.in[2];
  if (v.in.size() == 4) {
    int32_t m = v.in[3];
    return Kernel([q, k, val, m, c = *scale](const Slots &s) {
      return dz::attention(s[size_t(q)], s[size_t(k)], s[size_t(val)], &s[size_t(m)], c);
    });
  }
  return Kernel([q, k, val, c = *scale](const Slots &s) {
    return dz::attention(s[size_t(q)], s[size_t(k)], s[size_t(val)], nullptr, c);
  });
}

FailureOr<Kernel> lower_softmax(OpView &v, bool log) {
  auto axis = v.i64_attr("axis");
  if (failed(axis))
    return failure();
  int64_t rank = int64_t(v.out.shape.size()), ax = *axis;
  if (ax < -rank || ax >= std::max<int64_t>(rank, 1))
    return v.error() << "axis " << ax << " is out of range for " << type_str(v.out);
  if (log)
    return unary(v, [ax](const Tensor &x) { return x - dz::logsumexp(x, ax, true); });
  return unary(v, [ax](const Tensor &x) { return dz::softmax(x, ax); });
}

/// The eager SoftmaxCrossEntropy forward: mean over rows of logsumexp(x) - x[t],
/// accumulated in float64.
FailureOr<Kernel> lower_softmax_cross_entropy(OpView &v) {
  const TensorSpec &x = v.in_types[0];
  if (x.shape.size() != 2 || x.dtype == i64)
    return v.error() << "needs float scores of shape (N, C), got " << type_str(x);
  if (failed(check_label_operand(v, 1, x.shape[0])))
    return failure();
  return binary(v,
                [](const Tensor &xs, const Tensor &t) { return dz::softmax_cross_entropy(xs, t); });
}

} // namespace

bool labelsCheckedBefore(mlir::Operation *one_hot) {
  const int64_t classes =
      mlir::cast<mlir::ShapedType>(one_hot->getResult(0).getType()).getDimSize(1);
  mlir::Value labels = one_hot->getOperand(0);
  for (mlir::Operation *user : labels.getUsers())
    if (user->getName().getStringRef() == "dz.softmax_cross_entropy" &&
        user->getOperand(1) == labels && user->getBlock() == one_hot->getBlock() &&
        user->isBeforeInBlock(one_hot) &&
        mlir::cast<mlir::ShapedType>(user->getOperand(0).getType()).getDimSize(1) == classes)
      return true;
  return false;
}

namespace {

FailureOr<Kernel> lower_one_hot(OpView &v) {
  if (failed(check_label_operand(v, 0, -1)))
    return failure();
  if (v.out.shape.size() != 2 || v.out.shape[0] != v.in_types[0].shape[0])
    return v.error() << "result " << type_str(v.out) << " is not (N, num_classes) for labels "
                     << type_str(v.in_types[0]);
  auto c = v.i64_attr("num_classes");
  if (failed(c))
    return failure();
  if (*c != v.out.shape[1])
    return v.error() << "num_classes " << *c << " differs from the result " << type_str(v.out);
  int64_t classes = v.out.shape[1];
  DType dt = v.out.dtype;
  LabelCheck check = labelsCheckedBefore(v.op) ? LabelCheck::Checked : LabelCheck::Check;
  return unary(
      v, [classes, dt, check](const Tensor &t) { return dz::one_hot(t, classes, dt, check); });
}

// ---- neural networks (ir/DzNNOps.td): the kernels of frontend/src/functions_nn.cpp -------

using In = const Tensor &;

/// A (h, w) attribute: kernel, stride, pad or outsize.
FailureOr<Size2> size2_attr(OpView &v, StringRef name) {
  auto a = v.i64_array_attr(name, /*optional=*/false);
  if (failed(a))
    return failure();
  if (a->size() != 2)
    return v.error() << "attribute '" << name << "' must be two integers (h, w)";
  return Size2{(*a)[0], (*a)[1]};
}

struct Geometry {
  Size2 kernel, stride, pad;
};

/// kernel (absent for the convolutions, whose kernel is W's), stride and pad.
FailureOr<Geometry> geometry(OpView &v, bool with_kernel) {
  auto s = size2_attr(v, "stride"), p = size2_attr(v, "pad");
  if (failed(s) || failed(p))
    return failure();
  Geometry g{Size2(0), *s, *p};
  if (with_kernel) {
    auto k = size2_attr(v, "kernel");
    if (failed(k))
      return failure();
    g.kernel = *k;
  }
  return g;
}

/// get_item / get_item_grad: the IndexPlan the tracer resolved (the eager GetItem's).
FailureOr<Kernel> lower_get_item(OpView &v, bool grad) {
  auto offsets = v.i64_array_attr("offsets", /*optional=*/false);
  if (failed(offsets))
    return failure();
  const Shape &in = v.in_types[0].shape;
  if (int64_t(offsets->size()) != shape_size(grad ? in : v.out.shape))
    return v.error() << "has " << offsets->size() << " offsets for "
                     << type_str(grad ? v.in_types[0] : v.out);
  IndexPlan plan{grad ? v.out.shape : in, grad ? in : v.out.shape, std::move(*offsets)};
  if (grad)
    return unary(v, [plan](const Tensor &gy) { return scatter_add(plan, gy); });
  const int64_t in_size = shape_size(in);
  std::shared_ptr<GatherRuns> runs = std::all_of(plan.offsets.begin(), plan.offsets.end(),
                                                 [&](int64_t o) { return o >= 0 && o < in_size; })
                                         ? gatherRuns(plan.offsets, dtype_size(v.out.dtype))
                                         : nullptr; // out-of-range offsets: gather's error
  if (runs)
    return unary(v, [plan, runs](const Tensor &x) {
      if (!x.device().is_cpu() || x.shape() != plan.in_shape)
        return gather(x, plan); // the device's gather; or the shape error
      Tensor y(plan.out_shape, x.dtype());
      runs->copy(x.raw(), y.raw());
      return y;
    });
  return unary(v, [plan](const Tensor &x) { return gather(x, plan); });
}

/// embed_id(ids, W) = W[ids] (the eager embed_id's get_item); embed_id_grad scatters gy.
FailureOr<Kernel> lower_embed_id(OpView &v, bool grad) {
  if (v.in_types[0].dtype != i64)
    return v.error() << "needs int64 ids, got " << type_str(v.in_types[0]);
  if (grad)
    return binary(v, [vd = v.out.shape](const Tensor &ids, const Tensor &gy) {
      return scatter_add(plan_index(vd, {Index(ids)}), gy);
    });
  return binary(v, [](const Tensor &ids, const Tensor &W) {
    return gather(W, plan_index(W.shape(), {Index(ids)}));
  });
}

FailureOr<Kernel> lower_im2col(OpView &v, bool adjoint) {
  auto g = geometry(v, true);
  auto m = v.bool_attr("to_matrix", false);
  if (failed(g) || failed(m))
    return failure();
  Geometry geo = *g;
  bool to_matrix = *m;
  if (adjoint)
    return unary(v, [geo, to_matrix, shape = v.out.shape](const Tensor &col) {
      return dz::col2im(col, shape, geo.kernel, geo.stride, geo.pad, to_matrix);
    });
  return unary(v, [geo, to_matrix](const Tensor &x) {
    return dz::im2col(x, geo.kernel, geo.stride, geo.pad, to_matrix);
  });
}

/// conv2d / deconv2d with an optional bias (the eager Conv2d / Deconv2d forward).
FailureOr<Kernel> lower_conv(OpView &v, bool transposed) {
  auto g = geometry(v, false);
  if (failed(g))
    return failure();
  Size2 s = g->stride, p = g->pad, out{v.out.shape[2], v.out.shape[3]};
  int32_t x = v.in[0], W = v.in[1], b = v.in.size() > 2 ? v.in[2] : -1;
  return Kernel([=](const Slots &sl) {
    const Tensor *bias = b >= 0 ? &sl[size_t(b)] : nullptr;
    if (transposed)
      return dz::deconv2d(sl[size_t(x)], sl[size_t(W)], bias, s, p, out);
    return dz::conv2d(sl[size_t(x)], sl[size_t(W)], bias, s, p);
  });
}

FailureOr<Kernel> lower_conv2d_grad_w(OpView &v) {
  auto g = geometry(v, true);
  if (failed(g))
    return failure();
  Geometry geo = *g;
  return binary(v, [geo](const Tensor &x, const Tensor &gy) {
    return dz::conv2d_grad_w(x, gy, geo.kernel, geo.stride, geo.pad);
  });
}

enum class Pool { Max, Indexes, WithIndexes, MaxGrad, Average, AverageGrad };

/// The pooling ops and their gradients (the eager Pooling, Pooling2DWithIndexes,
/// Pooling2DGrad, AveragePooling and AveragePoolingGrad forwards).
FailureOr<Kernel> lower_pool(OpView &v, Pool kind) {
  auto g = geometry(v, true);
  if (failed(g))
    return failure();
  Size2 k = g->kernel, s = g->stride, p = g->pad;
  const Shape x_shape = v.out.shape; // for the gradients: the shape of the pooled x
  switch (kind) {
  case Pool::Max:
    return unary(v, [=](In x) { return dz::max_pool2d_values(x, k, s, p); }); // no indexes
  case Pool::Indexes:
    return unary(v, [=](In x) { return dz::max_pool2d(x, k, s, p).indexes; });
  case Pool::WithIndexes:
    return binary(v, [=](In x, In idx) { return dz::max_pool2d_gather(x, idx, k, s, p); });
  case Pool::MaxGrad:
    return binary(v, [=](In gy, In idx) { return dz::max_pool2d_grad(gy, idx, x_shape, k, s, p); });
  case Pool::Average:
    return unary(v, [=](In x) { return dz::avg_pool2d(x, k, s, p); });
  case Pool::AverageGrad:
    return unary(v, [=](In gy) { return dz::avg_pool2d_grad(gy, x_shape, k, s, p); });
  }
  return failure();
}

/// The eager F::dropout mask at the state (seed, offset): rand > ratio, scaled.
FailureOr<Kernel> lower_dropout_mask(OpView &v) {
  auto ratio = v.f64_attr("ratio");
  if (failed(ratio))
    return failure();
  if (v.in_types[0] != TensorSpec{{2}, i64})
    return v.error() << "needs the state tensor<2xi64>, got " << type_str(v.in_types[0]);
  double r = *ratio;
  return unary(v, [r, spec = v.out, dev = v.device](In state) {
    // The eager dropout's stream, drawn on the program's device. The state stays on the
    // CPU in a device program (BuildOptions::host_args).
    const Tensor host = state.to(Device::cpu());
    const int64_t *s = host.data<int64_t>();
    Generator gen{uint64_t(s[0])};
    gen.advance(uint64_t(s[1]));
    return dz::dropout_mask(spec.shape, spec.dtype, r, gen, dev);
  });
}

FailureOr<Kernel> lower_rng_next(OpView &v) {
  auto groups = v.i64_attr("groups");
  if (failed(groups))
    return failure();
  return unary(v, [n = *groups](In state) {
    const Tensor host = state.to(Device::cpu());
    const int64_t *s = host.data<int64_t>();
    return Tensor::from_i64({s[0], s[1] + n}).to(state.device());
  });
}

/// dz.all_reduce: the job's collective (dzc/collectives.h, installed by
/// dz::distributed::init()), in program order. In place on the operand's tensor when
/// reducesOperandInPlace (the step then shares the operand's storage); else on a copy.
FailureOr<Kernel> lower_all_reduce(OpView &v) {
  auto reduction = llvm::dyn_cast_or_null<mlir::StringAttr>(v.attr("reduction"));
  if (!reduction)
    return v.error() << "needs the StrAttr attribute 'reduction'" << got(v.attr("reduction"));
  CollectiveReduce op;
  if (reduction.getValue() == "sum")
    op = CollectiveReduce::Sum;
  else if (reduction.getValue() == "mean")
    op = CollectiveReduce::Mean;
  else if (reduction.getValue() == "max")
    op = CollectiveReduce::Max;
  else
    return v.error() << "reduction must be \"sum\", \"mean\" or \"max\", not " << reduction;
  auto comm = v.i64_attr("comm");
  if (failed(comm))
    return failure();
  if (*comm != 0)
    return v.error() << "comm " << *comm
                     << " does not exist; the only communicator is 0 (all the ranks of the job)";
  const bool in_place = reducesOperandInPlace(v.op);
  return unary(v, [op, c = *comm, in_place](In x) {
    Tensor y = in_place ? x : x.copy();
    all_reduce_in_place(y, op, c);
    return y;
  });
}

#define DZ_KERNEL_UNARY(expr)                                                                      \
  [](OpView &v) -> FailureOr<Kernel> { return unary(v, [](In x) { return expr; }); }
#define DZ_KERNEL_BINARY(expr)                                                                     \
  [](OpView &v) -> FailureOr<Kernel> { return binary(v, [](In a, In b) { return expr; }); }

// clang-format off
const OpLowering kLowerings[] = {
    {"dz.constant", 0, 0, lower_constant},
    // The registry's ops (dzc/ops.def): the eager function of each.
#define DZ_UNARY(name, ...) {"dz." #name, 1, 1, lower_registry_unary<dz::name>},
#define DZ_BINARY(name, ...) {"dz." #name, 2, 2, lower_registry_binary<dz::name>},
#include <dzc/ops.def>
    {"dz.and", 2, 2, DZ_KERNEL_BINARY(logical('&', a, b))},
    {"dz.or", 2, 2, DZ_KERNEL_BINARY(logical('|', a, b))},
    {"dz.xor", 2, 2, DZ_KERNEL_BINARY(logical('^', a, b))},
    {"dz.not", 1, 1, DZ_KERNEL_UNARY(logical('!', x, x))},
    {"dz.select", 3, 3,
     [](OpView &v) -> FailureOr<Kernel> {
       int32_t c = v.in[0], a = v.in[1], b = v.in[2];
       return Kernel([c, a, b](const Slots &s) {
         return where(s[size_t(c)], s[size_t(a)], s[size_t(b)]);
       });
     }},
    {"dz.pow_scalar", 1, 1,
     [](OpView &v) -> FailureOr<Kernel> {
       auto c = v.f64_attr("exponent");
       if (failed(c))
         return failure();
       return unary(v, [c = *c](In x) { return dz::pow(x, c); });
     }},
    {"dz.leaky_relu", 1, 1,
     [](OpView &v) -> FailureOr<Kernel> {
       auto slope = v.f64_attr("slope");
       if (failed(slope))
         return failure();
       return unary(v, [s = *slope](In x) { return where(x > 0.0, x, x * s); });
     }},
    {"dz.clip", 1, 1, [](OpView &v) { return lower_clip(v, false); }},
    {"dz.clip_mask", 1, 1, [](OpView &v) { return lower_clip(v, true); }},
    // Shapes and element types come from the result type, which the verifier ties to
    // the attributes (shape, dtype).
    {"dz.cast", 1, 1,
     [](OpView &v) -> FailureOr<Kernel> {
       return unary(v, [dt = v.out.dtype](In x) { return x.to(dt); });
     }},
    {"dz.reshape", 1, 1,
     [](OpView &v) -> FailureOr<Kernel> {
       return unary(v, [s = v.out.shape](In x) { return x.reshape(s); });
     }},
    {"dz.broadcast_to", 1, 1,
     [](OpView &v) -> FailureOr<Kernel> {
       return unary(v, [s = v.out.shape](In x) { return x.broadcast_to(s); });
     }},
    {"dz.sum_to", 1, 1,
     [](OpView &v) -> FailureOr<Kernel> {
       return unary(v, [s = v.out.shape](In x) { return x.sum_to(s); });
     }},
    {"dz.transpose", 1, 1,
     [](OpView &v) -> FailureOr<Kernel> {
       auto perm = v.i64_array_attr("perm", /*optional=*/false);
       if (failed(perm))
         return failure();
       return unary(v, [p = *perm](In x) { return x.transpose(p); });
     }},
    {"dz.sum", 1, 1, [](OpView &v) { return lower_reduction(v, true, false); }},
    {"dz.max", 1, 1, [](OpView &v) { return lower_reduction(v, false, true); }},
    {"dz.min", 1, 1, [](OpView &v) { return lower_reduction(v, false, false); }},
    {"dz.matmul", 2, 2, lower_matmul},
    {"dz.linear", 2, 3, lower_linear},
    {"dz.attention", 3, 4, lower_attention},
    {"dz.softmax", 1, 1, [](OpView &v) { return lower_softmax(v, false); }},
    {"dz.log_softmax", 1, 1, [](OpView &v) { return lower_softmax(v, true); }},
    {"dz.softmax_cross_entropy", 2, 2, lower_softmax_cross_entropy},
    {"dz.one_hot", 1, 1, lower_one_hot},
    {"dz.mean_squared_error", 2, 2,
     DZ_KERNEL_BINARY(dz::square(a - b).sum() / double(a.ndim() ? a.len() : 1))},
    // neural networks (ir/DzNNOps.td)
    {"dz.get_item", 1, 1, [](OpView &v) { return lower_get_item(v, false); }},
    {"dz.get_item_grad", 1, 1, [](OpView &v) { return lower_get_item(v, true); }},
    {"dz.embed_id", 2, 2, [](OpView &v) { return lower_embed_id(v, false); }},
    {"dz.embed_id_grad", 2, 2, [](OpView &v) { return lower_embed_id(v, true); }},
    {"dz.im2col", 1, 1, [](OpView &v) { return lower_im2col(v, false); }},
    {"dz.col2im", 1, 1, [](OpView &v) { return lower_im2col(v, true); }},
    {"dz.conv2d", 2, 3, [](OpView &v) { return lower_conv(v, false); }},
    {"dz.deconv2d", 2, 3, [](OpView &v) { return lower_conv(v, true); }},
    {"dz.conv2d_grad_w", 2, 2, lower_conv2d_grad_w},
    {"dz.max_pooling", 1, 1, [](OpView &v) { return lower_pool(v, Pool::Max); }},
    {"dz.max_pooling_indexes", 1, 1, [](OpView &v) { return lower_pool(v, Pool::Indexes); }},
    {"dz.max_pooling_with_indexes", 2, 2,
     [](OpView &v) { return lower_pool(v, Pool::WithIndexes); }},
    {"dz.max_pooling_grad", 2, 2, [](OpView &v) { return lower_pool(v, Pool::MaxGrad); }},
    {"dz.average_pooling", 1, 1, [](OpView &v) { return lower_pool(v, Pool::Average); }},
    {"dz.average_pooling_grad", 1, 1, [](OpView &v) { return lower_pool(v, Pool::AverageGrad); }},
    {"dz.dropout_mask", 1, 1, lower_dropout_mask},
    {"dz.rng_next", 1, 1, lower_rng_next},
    {"dz.all_reduce", 1, 1, lower_all_reduce},
};
// clang-format on
#undef DZ_KERNEL_UNARY
#undef DZ_KERNEL_BINARY

} // namespace

bool reducesOperandInPlace(mlir::Operation *op) {
  if (op->getName().getStringRef() != "dz.all_reduce" || op->getNumOperands() != 1)
    return false;
  mlir::Value x = op->getOperand(0);
  mlir::Operation *def = x.getDefiningOp();
  // An argument (the caller's tensor), a constant, or a view (of either, perhaps) keeps
  // its values; so does an operand that other ops read too.
  return def && x.hasOneUse() && def->getName().getStringRef() != "dz.constant" &&
         !def->hasTrait<dz::ir::OpTrait::ViewLike>();
}

const OpLowering *find_lowering(StringRef name) {
  static const llvm::StringMap<const OpLowering *> table = [] {
    llvm::StringMap<const OpLowering *> m;
    for (const OpLowering &l : kLowerings)
      m[l.name] = &l;
    return m;
  }();
  auto it = table.find(name);
  return it == table.end() ? nullptr : it->second;
}

bool hasCpuKernel(StringRef op_name) { return find_lowering(op_name) != nullptr; }

} // namespace dz::codegen
