// ShapeOps.cpp - the converters of the ONNX ops that move, select or make data: Reshape,
// Flatten, Transpose, Squeeze, Unsqueeze, Expand, Concat, Gather, Slice, Shape and the
// constants. Selections (Slice, Gather with constant indices, Concat's scatters) are
// dz.get_item / dz.get_item_grad with flat offsets computed here at import time. The
// table that maps the ONNX ops to these converters is in OpTable.cpp.
#include "Convert.h"

#include <algorithm>
#include <limits>
#include <numeric>

namespace dz::onnx::shape_ops {

using Shp = llvm::SmallVector<int64_t>;
using llvm::ArrayRef;

namespace {

/// The flat offsets into a row-major `src` of each element of a strided view: view
/// element `idx` is `src[start + idx * step]` (per dimension).
std::vector<int64_t> view_offsets(ArrayRef<int64_t> src, ArrayRef<int64_t> view,
                                  ArrayRef<int64_t> start, ArrayRef<int64_t> step) {
  const size_t r = src.size();
  std::vector<int64_t> stride(r, 1), idx(r, 0), out;
  for (size_t d = r; d-- > 1;)
    stride[d - 1] = stride[d] * src[d];
  const int64_t n = product(view);
  out.reserve(size_t(n));
  for (int64_t k = 0; k < n; ++k) {
    int64_t off = 0;
    for (size_t d = 0; d < r; ++d)
      off += (start[d] + idx[d] * step[d]) * stride[d];
    out.push_back(off);
    for (size_t d = r; d-- > 0;) {
      if (++idx[d] < view[d])
        break;
      idx[d] = 0;
    }
  }
  return out;
}

} // namespace

Value reshape(NodeContext &c) {
  Value x = c.in(0);
  std::vector<int64_t> spec = c.opset < 5 ? c.ints_attr("shape").value_or(std::vector<int64_t>{})
                                          : c.ints_input(1, "shape");
  const bool allowzero = c.int_attr("allowzero", 0) != 0;
  const int64_t total = product(c.shape(x));
  Shp out;
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < spec.size(); ++i) {
    int64_t d = spec[i];
    if (d == 0 && !allowzero) {
      if (i >= c.shape(x).size())
        c.fail("shape[" + std::to_string(i) + "] = 0 copies a dimension the input lacks");
      d = c.shape(x)[i];
    }
    if (d == -1) {
      if (infer >= 0)
        c.fail("the shape has more than one -1");
      infer = int64_t(i);
      d = 1;
    } else if (d < 0 || __builtin_mul_overflow(known, d, &known)) {
      c.fail("invalid dimension " + std::to_string(spec[i]) + " in the shape");
    }
    out.push_back(d);
  }
  if (infer >= 0 && known != 0 && total % known == 0)
    out[size_t(infer)] = total / known;
  if (product(out) != total)
    c.fail("cannot reshape " + dims_str(c.shape(x)) + " to " + dims_str(spec));
  return {c.reshape(x, out)};
}

Value flatten(NodeContext &c) {
  Value x = c.in(0);
  const int64_t r = c.rank(x);
  int64_t a = c.int_attr("axis", 1);
  if (a < -r || a > r)
    c.fail("axis " + std::to_string(a) + " is outside [-rank, rank]");
  a = a < 0 ? a + r : a;
  ArrayRef<int64_t> s = c.shape(x);
  return {c.reshape(x, {product(s.take_front(size_t(a))), product(s.drop_front(size_t(a)))})};
}

Value transpose(NodeContext &c) {
  Value x = c.in(0);
  Shp perm;
  if (std::optional<std::vector<int64_t>> p = c.ints_attr("perm"))
    perm.assign(p->begin(), p->end());
  else
    for (int64_t d = c.rank(x); d-- > 0;)
      perm.push_back(d);
  return {c.transpose(x, perm)};
}

namespace {

/// The axes of Squeeze / Unsqueeze: an attribute before opset 13, an input from 13 on.
std::optional<std::vector<int64_t>> squeeze_axes(NodeContext &c) {
  if (c.opset < 13)
    return c.ints_attr("axes");
  if (c.has(1))
    return c.ints_input(1, "axes");
  return std::nullopt;
}

} // namespace

Value squeeze(NodeContext &c) {
  Value x = c.in(0);
  ArrayRef<int64_t> s = c.shape(x);
  std::vector<bool> drop(s.size(), false);
  if (std::optional<std::vector<int64_t>> axes = squeeze_axes(c)) {
    for (int64_t a : *axes) {
      const int64_t n = c.axis(a, c.rank(x));
      if (s[size_t(n)] != 1)
        c.fail("cannot squeeze axis " + std::to_string(a) + " of size " +
               std::to_string(s[size_t(n)]));
      drop[size_t(n)] = true;
    }
  } else {
    for (size_t d = 0; d < s.size(); ++d)
      drop[d] = s[d] == 1;
  }
  Shp out;
  for (size_t d = 0; d < s.size(); ++d)
    if (!drop[d])
      out.push_back(s[d]);
  return {c.reshape(x, out)};
}

Value unsqueeze(NodeContext &c) {
  Value x = c.in(0);
  std::optional<std::vector<int64_t>> axes = squeeze_axes(c);
  if (!axes)
    c.fail("the axes are required");
  const int64_t rank = c.rank(x) + int64_t(axes->size());
  std::vector<bool> inserted(size_t(rank), false);
  for (int64_t a : *axes) {
    const int64_t n = c.axis(a, rank);
    if (inserted[size_t(n)])
      c.fail("axis " + std::to_string(a) + " is repeated");
    inserted[size_t(n)] = true;
  }
  Shp out;
  size_t next = 0;
  for (int64_t d = 0; d < rank; ++d)
    out.push_back(inserted[size_t(d)] ? 1 : c.shape(x)[next++]);
  return {c.reshape(x, out)};
}

Value expand(NodeContext &c) {
  Value x = c.in(0);
  std::vector<int64_t> to = c.ints_input(1, "shape");
  std::optional<Shp> out = ir::broadcastShapes(c.shape(x), to);
  if (!out || !element_count(*out))
    c.fail("cannot expand " + dims_str(c.shape(x)) + " to " + dims_str(to));
  return {c.broadcast(x, *out)};
}

/// Concat as a sum of scatters: each input added into zeros of the result's shape at
/// its place (dz has no concat op).
Value concat(NodeContext &c) {
  Value first = c.in(0);
  if (!c.has_attr("axis"))
    c.fail("the axis is required");
  const int64_t r = c.rank(first), a = c.axis(c.int_attr("axis", 0), r);
  Shp out(c.shape(first));
  out[size_t(a)] = 0;
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    ArrayRef<int64_t> s = c.shape(c.in(i));
    for (int64_t d = 0; d < std::max<int64_t>(r, int64_t(s.size())); ++d)
      if (s.size() != size_t(r) || (d != a && s[size_t(d)] != out[size_t(d)]))
        c.fail("input #" + std::to_string(i) + " " + dims_str(s) + " does not concatenate with " +
               dims_str(c.shape(first)) + " along axis " + std::to_string(a));
    out[size_t(a)] += s[size_t(a)];
  }
  if (c.num_inputs() == 1)
    return {first};
  Value sum;
  Shp start(size_t(r), 0), unit(size_t(r), 1);
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    Value v = c.in(i);
    Value piece = c.make<ir::GetItemGradOp>(
        v, c.b.getDenseI64ArrayAttr(out),
        c.b.getDenseI64ArrayAttr(view_offsets(out, c.shape(v), start, unit)));
    sum = sum ? c.add(sum, piece) : piece;
    start[size_t(a)] += c.shape(v)[size_t(a)];
  }
  return {sum};
}

namespace {

/// Gather with indices known at run time only: the rows of dz.embed_id, with `axis`
/// moved to the front and back.
Value gather_rows(NodeContext &c, Value data, Value ids, int64_t a) {
  const int64_t r = c.rank(data), q = c.rank(ids);
  Shp front_perm = {a};
  for (int64_t d = 0; d < r; ++d)
    if (d != a)
      front_perm.push_back(d);
  Value front = a == 0 ? data : c.transpose(data, front_perm);
  Shp rest(c.shape(front).drop_front(1));
  Value rows = c.make<ir::EmbedIdOp>(ids, c.reshape(front, {c.shape(front)[0], product(rest)}));
  Shp full(c.shape(ids));
  full.append(rest.begin(), rest.end());
  Value y = c.reshape(rows, full);
  if (a == 0)
    return y;
  Shp perm; // (ids..., pre..., post...) -> (pre..., ids..., post...)
  for (int64_t d = 0; d < a; ++d)
    perm.push_back(q + d);
  for (int64_t d = 0; d < q; ++d)
    perm.push_back(d);
  for (int64_t d = q + a; d < q + r - 1; ++d)
    perm.push_back(d);
  return c.transpose(y, perm);
}

} // namespace

Value gather(NodeContext &c) {
  Value data = c.in(0);
  const int64_t a = c.axis(c.int_attr("axis", 0), c.rank(data));
  std::optional<Tensor> indices = c.constant(1);
  if (!indices && c.is_float(data) && c.type(c.in(1)).getElementType().isInteger(64))
    return {gather_rows(c, data, c.in(1), a)};
  Tensor t = indices ? *indices : c.required_constant(1, "indices");
  std::optional<std::vector<int64_t>> ids = integers_of(t);
  if (!ids)
    c.fail("the indices must be integers");
  ArrayRef<int64_t> s = c.shape(data);
  const int64_t dim = s[size_t(a)], outer = product(s.take_front(size_t(a))),
                inner = product(s.drop_front(size_t(a) + 1));
  for (int64_t &id : *ids) {
    if (id < -dim || id >= dim)
      c.fail("index " + std::to_string(id) + " is outside [-" + std::to_string(dim) + ", " +
             std::to_string(dim) + ")");
    id = id < 0 ? id + dim : id;
  }
  Shp out(s.take_front(size_t(a)));
  out.append(t.shape().begin(), t.shape().end());
  out.append(s.begin() + a + 1, s.end());
  std::vector<int64_t> offsets;
  offsets.reserve(size_t(outer) * ids->size() * size_t(inner));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t id : *ids)
      for (int64_t i = 0; i < inner; ++i)
        offsets.push_back((o * dim + id) * inner + i);
  return {c.make<ir::GetItemOp>(data, c.b.getDenseI64ArrayAttr(out),
                                c.b.getDenseI64ArrayAttr(offsets))};
}

Value slice(NodeContext &c) {
  Value x = c.in(0);
  const int64_t r = c.rank(x);
  auto list = [&](size_t input, const char *name) -> std::optional<std::vector<int64_t>> {
    if (c.opset < 10)
      return c.ints_attr(name);
    if (c.has(input))
      return c.ints_input(input, name);
    return std::nullopt;
  };
  std::optional<std::vector<int64_t>> starts = list(1, "starts"), ends = list(2, "ends"),
                                      axes = list(3, "axes"), steps = list(4, "steps");
  if (!starts || !ends || starts->size() != ends->size())
    c.fail("starts and ends are required and must have one value per sliced axis");
  const size_t n = starts->size();
  if (!axes) {
    axes.emplace(n);
    std::iota(axes->begin(), axes->end(), 0);
  }
  steps = steps.value_or(std::vector<int64_t>(n, 1));
  if (axes->size() != n || steps->size() != n)
    c.fail("starts, ends, axes and steps must have the same length");
  Shp view(c.shape(x)), start(size_t(r), 0), step(size_t(r), 1);
  std::vector<bool> seen(size_t(r), false);
  for (size_t k = 0; k < n; ++k) {
    const size_t a = size_t(c.axis((*axes)[k], r));
    if (seen[a])
      c.fail("axis " + std::to_string((*axes)[k]) + " is sliced twice");
    seen[a] = true;
    const int64_t dim = view[a], st = (*steps)[k];
    if (st == 0)
      c.fail("a step is 0");
    int64_t s = (*starts)[k], e = (*ends)[k];
    s = s < 0 ? s + dim : s; // no overflow: dim >= 0
    e = e < 0 ? e + dim : e;
    int64_t len;
    if (st > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      len = e > s ? (e - s - 1) / st + 1 : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      const int64_t mag =
          st == std::numeric_limits<int64_t>::min() ? std::numeric_limits<int64_t>::max() : -st;
      len = s > e ? (s - e - 1) / mag + 1 : 0;
    }
    start[a] = len > 0 ? s : 0;
    step[a] = st;
    view[a] = len;
  }
  return {
      c.make<ir::GetItemOp>(x, c.b.getDenseI64ArrayAttr(view),
                            c.b.getDenseI64ArrayAttr(view_offsets(c.shape(x), view, start, step)))};
}

/// Split along `axis` into the node's outputs: equal parts, or the sizes of `split` (an
/// attribute before opset 13, an input from 13 on); each part a dz.get_item.
Value split(NodeContext &c) {
  Value x = c.in(0);
  const int64_t r = c.rank(x), a = c.axis(c.int_attr("axis", 0), r), dim = c.shape(x)[size_t(a)];
  const int64_t parts = c.node.output_size();
  std::vector<int64_t> sizes;
  if (c.opset < 13)
    sizes = c.ints_attr("split").value_or(std::vector<int64_t>{});
  else if (c.has(1))
    sizes = c.ints_input(1, "split");
  if (sizes.empty()) {
    if (dim % parts)
      c.fail("axis " + std::to_string(a) + " of size " + std::to_string(dim) +
             " does not split into " + std::to_string(parts) + " equal parts");
    sizes.assign(size_t(parts), dim / parts);
  }
  if (int64_t(sizes.size()) != parts ||
      std::any_of(sizes.begin(), sizes.end(), [](int64_t s) { return s < 0; }) ||
      std::accumulate(sizes.begin(), sizes.end(), int64_t(0)) != dim)
    c.fail("the split " + dims_str(sizes) + " does not divide axis " + std::to_string(a) +
           " of size " + std::to_string(dim) + " into " + std::to_string(parts) + " outputs");
  Value first;
  Shp start(size_t(r), 0), unit(size_t(r), 1);
  for (int64_t size : sizes) {
    Shp view(c.shape(x));
    view[size_t(a)] = size;
    Value part = c.make<ir::GetItemOp>(
        x, c.b.getDenseI64ArrayAttr(view),
        c.b.getDenseI64ArrayAttr(view_offsets(c.shape(x), view, start, unit)));
    if (first)
      c.add_output(part);
    else
      first = part;
    start[size_t(a)] += size;
  }
  return first;
}

/// DepthToSpace (DCR: depth split as (b, b, C'); CRD: as (C', b, b)) and SpaceToDepth:
/// a reshape to 6-D, a transpose and a reshape back to 4-D.
Value depth_to_space(NodeContext &c) {
  Value x = c.in(0);
  const int64_t bs = c.int_attr("blocksize", 0);
  if (c.rank(x) != 4)
    c.fail("the input must be 4-D (N, C, H, W), got " + dims_str(c.shape(x)));
  const int64_t n = c.shape(x)[0], ch = c.shape(x)[1], h = c.shape(x)[2], w = c.shape(x)[3];
  if (bs < 1 || ch % (bs * bs) != 0)
    c.fail("blocksize " + std::to_string(bs) + " must be positive with its square dividing the " +
           std::to_string(ch) + " channels");
  const int64_t cb = ch / (bs * bs);
  const std::string mode = c.string_attr("mode", "DCR");
  Value y;
  if (mode == "DCR")
    y = c.transpose(c.reshape(x, {n, bs, bs, cb, h, w}), {0, 3, 4, 1, 5, 2});
  else if (mode == "CRD")
    y = c.transpose(c.reshape(x, {n, cb, bs, bs, h, w}), {0, 1, 4, 2, 5, 3});
  else
    c.fail("unknown mode '" + mode + "' (DCR, CRD)");
  return {c.reshape(y, {n, cb, h * bs, w * bs})};
}

Value space_to_depth(NodeContext &c) {
  Value x = c.in(0);
  const int64_t bs = c.int_attr("blocksize", 0);
  if (c.rank(x) != 4)
    c.fail("the input must be 4-D (N, C, H, W), got " + dims_str(c.shape(x)));
  const int64_t n = c.shape(x)[0], ch = c.shape(x)[1], h = c.shape(x)[2], w = c.shape(x)[3];
  if (bs < 1 || h % bs != 0 || w % bs != 0)
    c.fail("blocksize " + std::to_string(bs) + " must be positive and divide H = " +
           std::to_string(h) + " and W = " + std::to_string(w));
  Value y = c.transpose(c.reshape(x, {n, ch, h / bs, bs, w / bs, bs}), {0, 3, 5, 1, 2, 4});
  return {c.reshape(y, {n, ch * bs * bs, h / bs, w / bs})};
}

/// Tile with known repeats: each output element reads x at its coordinates modulo x's
/// dimensions (one dz.get_item).
Value tile(NodeContext &c) {
  Value x = c.in(0);
  std::vector<int64_t> reps = c.ints_input(1, "repeats");
  ArrayRef<int64_t> s = c.shape(x);
  if (reps.size() != s.size())
    c.fail("repeats has " + std::to_string(reps.size()) + " values for an input of rank " +
           std::to_string(s.size()));
  Shp out;
  for (size_t d = 0; d < s.size(); ++d) {
    int64_t n;
    if (reps[d] < 0 || __builtin_mul_overflow(s[d], reps[d], &n))
      c.fail("repeats must be >= 0 and fit the output, got " + dims_str(reps));
    out.push_back(n);
  }
  std::optional<int64_t> count = element_count(out);
  if (!count || *count > kMaxConstantRead)
    c.unsupported("the output " + dims_str(out) + " is too large to decompose",
                  "Tile too large to decompose");
  if (out == s)
    return {x};
  std::vector<int64_t> stride(s.size(), 1), idx(s.size(), 0), offsets;
  for (size_t d = s.size(); d-- > 1;)
    stride[d - 1] = stride[d] * s[d];
  for (int64_t k = 0; k < *count; ++k) {
    int64_t off = 0;
    for (size_t d = 0; d < s.size(); ++d)
      off += (idx[d] % s[d]) * stride[d];
    offsets.push_back(off);
    for (size_t d = s.size(); d-- > 0;) {
      if (++idx[d] < out[d])
        break;
      idx[d] = 0;
    }
  }
  return {
      c.make<ir::GetItemOp>(x, c.b.getDenseI64ArrayAttr(out), c.b.getDenseI64ArrayAttr(offsets))};
}

Value shape(NodeContext &c) {
  ArrayRef<int64_t> s = c.shape(c.in(0));
  const int64_t r = int64_t(s.size());
  auto bound = [&](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + r : v, 0, r); };
  const int64_t from = bound(c.int_attr("start", 0)), to = bound(c.int_attr("end", r));
  std::vector<int64_t> dims(s.begin() + from, s.begin() + std::max(from, to));
  return {c.constant_of(Tensor::from_i64(dims))};
}

/// A splat constant: its elements are never stored one by one.
Value constant_of_shape(NodeContext &c) {
  std::vector<int64_t> shape = c.ints_input(0, "shape");
  if (!element_count(shape))
    c.fail("invalid shape " + dims_str(shape));
  Tensor fill = Tensor::scalar(0, f32);
  if (const ::onnx::TensorProto *t = c.tensor_attr("value"))
    fill = tensor_from_proto(*t, c.where() + " attribute 'value'");
  if (fill.size() != 1)
    c.fail("its value must have one element, got " + std::to_string(fill.size()));
  mlir::DenseElementsAttr one = elements_of(*c.b.getContext(), fill);
  auto type = mlir::RankedTensorType::get(shape, one.getElementType());
  return c.make<ir::ConstantOp>(
      mlir::ElementsAttr(mlir::DenseElementsAttr::get(type, one.getSplatValue<mlir::Attribute>())));
}

Value constant(NodeContext &c) {
  if (const ::onnx::TensorProto *t = c.tensor_attr("value"))
    return {c.constant_of(tensor_from_proto(*t, c.where() + " attribute 'value'"))};
  if (c.has_attr("value_float"))
    return {c.constant_of(Tensor::scalar(c.float_attr("value_float", 0), f32))};
  if (std::optional<std::vector<double>> v = c.floats_attr("value_floats"))
    return {c.constant_of(Tensor::from(*v, {int64_t(v->size())}, f32))};
  if (c.has_attr("value_int"))
    return {c.constant_of(Tensor::from_i64({c.int_attr("value_int", 0)}, {}))};
  if (std::optional<std::vector<int64_t>> v = c.ints_attr("value_ints"))
    return {c.constant_of(Tensor::from_i64(*v))};
  c.unsupported("only value, value_float(s) and value_int(s) are supported (not sparse or "
                "string constants)",
                "Constant sparse/string");
}

} // namespace dz::onnx::shape_ops
