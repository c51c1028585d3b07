// IndexOps.cpp - the converters of the ONNX ops that select, scatter or generate by
// index: GatherElements, GatherND, ScatterElements (and the older Scatter), ScatterND,
// OneHot, Trilu, CumSum, Compress, NonZero, Range, EyeLike, Pad, Einsum, LRN, ReverseSequence,
// MaxUnpool and the window functions
// (HannWindow, HammingWindow, BlackmanWindow). The indices (and whatever
// else fixes the result's shape) must be known at import time; the data may change from
// run to run. Each selection is a dz.get_item with flat offsets computed here, each
// scatter a dz.get_item_grad, so the result is differentiable in the data through the
// gradients of those ops.
#include "Convert.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>

namespace dz::onnx::index_ops {

using Shp = llvm::SmallVector<int64_t>;
using llvm::ArrayRef;

namespace {

/// Row-major strides of `shape`.
Shp strides_of(ArrayRef<int64_t> shape) {
  Shp st(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;)
    st[d - 1] = st[d] * shape[d];
  return st;
}

/// Calls fn(index) for every multi-index of `shape`, in row-major order.
template <typename Fn> void for_each_index(ArrayRef<int64_t> shape, Fn fn) {
  const int64_t n = product(shape);
  Shp idx(shape.size(), 0);
  for (int64_t k = 0; k < n; ++k) {
    fn(ArrayRef<int64_t>(idx));
    for (size_t d = shape.size(); d-- > 0;) {
      if (++idx[d] < shape[d])
        break;
      idx[d] = 0;
    }
  }
}

/// UnsupportedError when an import-time table of product(factors) entries is too large
/// (the product is computed without overflow).
void check_table(NodeContext &c, ArrayRef<int64_t> factors) {
  std::optional<int64_t> n = element_count(factors);
  if (!n || *n > kMaxConstantRead)
    c.unsupported("the index table would have " + dims_str(factors) + " entries (at most " +
                      std::to_string(kMaxConstantRead) + ")",
                  c.node.op_type() + " too large to decompose");
}

/// The integer values of input i, which must be known at import time.
std::vector<int64_t> known_ints(NodeContext &c, size_t i, const char *what, Shape *shape) {
  Tensor t = c.required_constant(i, what);
  std::optional<std::vector<int64_t>> v = integers_of(t);
  if (!v)
    c.fail(std::string("its ") + what + " must be int64 or int32, got " +
           dz::dtype_name(t.dtype()));
  if (shape)
    *shape = t.shape();
  return *v;
}

/// One value of input i, which must be known at import time.
double known_scalar(NodeContext &c, size_t i, const char *what) {
  Tensor t = c.required_constant(i, what);
  if (t.size() != 1)
    c.fail(std::string("its ") + what + " must be one value, got " + std::to_string(t.size()));
  return t.to(f64).data<double>()[0];
}

/// `index` in [-dim, dim) mapped into [0, dim); dz::Error otherwise.
int64_t wrap_index(NodeContext &c, int64_t index, int64_t dim) {
  if (index < -dim || index >= dim)
    c.fail("index " + std::to_string(index) + " is outside [-" + std::to_string(dim) + ", " +
           std::to_string(dim) + ")");
  return index < 0 ? index + dim : index;
}

/// x's elements at flat `offsets`, shaped `shape`; an offset of -1 reads a zero (x is
/// first scattered into a flat vector with one zero after its elements).
Value take(NodeContext &c, Value x, ArrayRef<int64_t> shape, std::vector<int64_t> offsets) {
  const int64_t n = product(c.shape(x));
  if (std::find(offsets.begin(), offsets.end(), -1) != offsets.end()) {
    std::vector<int64_t> all(static_cast<size_t>(n));
    std::iota(all.begin(), all.end(), 0);
    x = c.make<ir::GetItemGradOp>(c.reshape(x, {n}), c.b.getDenseI64ArrayAttr({n + 1}),
                                  c.b.getDenseI64ArrayAttr(all));
    for (int64_t &o : offsets)
      o = o < 0 ? n : o;
  } else if (shape == c.shape(x)) {
    bool identity = true;
    for (size_t i = 0; i < offsets.size() && identity; ++i)
      identity = offsets[i] == int64_t(i);
    if (identity)
      return x;
  }
  return c.make<ir::GetItemOp>(x, c.b.getDenseI64ArrayAttr(shape),
                               c.b.getDenseI64ArrayAttr(offsets));
}

/// An i1 constant of `shape`.
Value mask_of(NodeContext &c, ArrayRef<int64_t> shape, const std::vector<bool> &bits) {
  auto type = mlir::RankedTensorType::get(shape, c.b.getI1Type());
  llvm::SmallVector<bool> v(bits.begin(), bits.end());
  return c.make<ir::ConstantOp>(mlir::ElementsAttr(mlir::DenseElementsAttr::get(type, v)));
}

/// `updates` (flattened) written into `data` at the flat `targets` (one per update
/// element) with ONNX's `reduction`: "none" (a repeated target takes the last update),
/// "add" (repeats accumulate) or "mul" (repeats multiply).
Value scatter(NodeContext &c, Value data, Value updates, const std::vector<int64_t> &targets,
              const std::string &reduction) {
  const int64_t m = int64_t(targets.size());
  if (m == 0)
    return data;
  ArrayRef<int64_t> shape = c.shape(data);
  Value flat = c.reshape(updates, {m});
  if (reduction == "add")
    return c.add(data, c.make<ir::GetItemGradOp>(flat, c.b.getDenseI64ArrayAttr(shape),
                                                 c.b.getDenseI64ArrayAttr(targets)));
  if (reduction != "none" && reduction != "mul")
    c.unsupported("reduction '" + reduction + "' (dz supports none, add, mul)",
                  c.node.op_type() + " reduction " + reduction);
  // Rounds of distinct targets: round r holds each target's r-th update.
  std::map<int64_t, int64_t> seen;
  std::vector<std::vector<int64_t>> rounds; // update positions
  for (int64_t i = 0; i < m; ++i) {
    const size_t r = size_t(seen[targets[size_t(i)]]++);
    if (rounds.size() <= r)
      rounds.emplace_back();
    rounds[r].push_back(i);
  }
  const size_t n = size_t(product(shape));
  auto round_of = [&](const std::vector<int64_t> &positions, std::vector<bool> &hit) {
    std::vector<int64_t> to;
    for (int64_t p : positions) {
      to.push_back(targets[size_t(p)]);
      hit[size_t(targets[size_t(p)])] = true;
    }
    const bool all = int64_t(positions.size()) == m; // then positions are 0, 1, ..., m - 1
    Value picked =
        all ? flat
            : c.make<ir::GetItemOp>(flat, c.b.getDenseI64ArrayAttr({int64_t(positions.size())}),
                                    c.b.getDenseI64ArrayAttr(positions));
    return c.make<ir::GetItemGradOp>(picked, c.b.getDenseI64ArrayAttr(shape),
                                     c.b.getDenseI64ArrayAttr(to));
  };
  if (reduction == "none") {
    std::vector<int64_t> last; // each target's last update
    for (int64_t i = 0; i < m; ++i)
      if (--seen[targets[size_t(i)]] == 0)
        last.push_back(i);
    std::vector<bool> hit(n, false);
    Value written = round_of(last, hit);
    return c.make<ir::SelectOp>(mask_of(c, shape, hit), written, data);
  }
  Value acc = data;
  for (const std::vector<int64_t> &positions : rounds) {
    std::vector<bool> hit(n, false);
    Value written = round_of(positions, hit);
    acc = c.mul(acc, c.make<ir::SelectOp>(mask_of(c, shape, hit), written, c.scalar(1, data)));
  }
  return acc;
}

/// The flat offsets into data of GatherElements / ScatterElements: element `idx` of
/// the indices addresses data at idx with its `axis` coordinate replaced by the index.
std::vector<int64_t> element_targets(NodeContext &c, ArrayRef<int64_t> data, int64_t axis,
                                     const std::vector<int64_t> &ids, ArrayRef<int64_t> is) {
  if (is.size() != data.size())
    c.fail("the indices " + dims_str(is) + " must have the rank of the data " + dims_str(data));
  for (size_t d = 0; d < is.size(); ++d)
    if (int64_t(d) != axis && is[d] > data[d])
      c.fail("the indices " + dims_str(is) + " are larger than the data " + dims_str(data) +
             " along axis " + std::to_string(d));
  check_table(c, {int64_t(ids.size())});
  Shp st = strides_of(data);
  std::vector<int64_t> out;
  out.reserve(ids.size());
  size_t k = 0;
  for_each_index(is, [&](ArrayRef<int64_t> idx) {
    int64_t off = 0;
    for (size_t d = 0; d < idx.size(); ++d)
      off += (int64_t(d) == axis ? wrap_index(c, ids[k], data[d]) : idx[d]) * st[d];
    out.push_back(off);
    ++k;
  });
  return out;
}

/// The flat offsets into data of the slices GatherND / ScatterND address: indices
/// (..., k) pick data[b..., i0, ..., ik-1, :] (b = batch_dims leading dimensions shared).
std::vector<int64_t> nd_targets(NodeContext &c, ArrayRef<int64_t> data, int64_t batch,
                                const std::vector<int64_t> &ids, ArrayRef<int64_t> is,
                                Shp *out_shape) {
  const int64_t r = int64_t(data.size()), q = int64_t(is.size());
  if (q < 1 || batch < 0 || batch >= std::min(q, r))
    c.fail("batch_dims " + std::to_string(batch) + " must be below the ranks of the indices " +
           dims_str(is) + " and the data " + dims_str(data));
  const int64_t k = is.back();
  if (k < 1 || k > r - batch)
    c.fail("the last dimension of the indices " + dims_str(is) + " must be in [1, " +
           std::to_string(r - batch) + "]");
  for (int64_t d = 0; d < batch; ++d)
    if (is[size_t(d)] != data[size_t(d)])
      c.fail("the batch dimensions of the indices " + dims_str(is) + " and the data " +
             dims_str(data) + " differ");
  Shp tuples(is.drop_back());
  ArrayRef<int64_t> slice = data.drop_front(size_t(batch + k));
  const int64_t inner = product(slice);
  out_shape->assign(tuples.begin(), tuples.end());
  out_shape->append(slice.begin(), slice.end());
  check_table(c, {product(tuples), inner});
  Shp st = strides_of(data);
  std::vector<int64_t> out;
  size_t t = 0;
  for_each_index(tuples, [&](ArrayRef<int64_t> idx) {
    int64_t base = 0;
    for (int64_t d = 0; d < batch; ++d)
      base += idx[size_t(d)] * st[size_t(d)];
    for (int64_t j = 0; j < k; ++j, ++t)
      base += wrap_index(c, ids[t], data[size_t(batch + j)]) * st[size_t(batch + j)];
    for (int64_t e = 0; e < inner; ++e)
      out.push_back(base + e);
  });
  return out;
}

/// The dz::DType of an element type dz has.
DType dtype_of(NodeContext &c, mlir::Type t) {
  if (t.isF32())
    return f32;
  if (t.isF64())
    return f64;
  if (t.isInteger(64))
    return i64;
  if (t.isInteger(32))
    return i32;
  if (t.isInteger(1))
    return b8;
  c.fail("unexpected element type");
}

/// Whether each element of a tensor is nonzero (NaN is).
std::vector<bool> nonzero_bits(const Tensor &t) {
  std::vector<bool> bits(static_cast<size_t>(t.size()));
  if (t.dtype() == b8 || t.dtype() == u8) {
    const auto *p = static_cast<const uint8_t *>(t.raw());
    for (size_t i = 0; i < bits.size(); ++i)
      bits[i] = p[i] != 0;
  } else {
    Tensor d = t.to(f64);
    const double *p = d.data<double>();
    for (size_t i = 0; i < bits.size(); ++i)
      bits[i] = p[i] != 0;
  }
  return bits;
}

} // namespace

Value gather_elements(NodeContext &c) {
  Value data = c.in(0);
  const int64_t a = c.axis(c.int_attr("axis", 0), c.rank(data));
  Shape is;
  std::vector<int64_t> ids = known_ints(c, 1, "indices", &is);
  return take(c, data, is, element_targets(c, c.shape(data), a, ids, is));
}

Value scatter_elements(NodeContext &c) {
  Value data = c.in(0), updates = c.in(2);
  const int64_t a = c.axis(c.int_attr("axis", 0), c.rank(data));
  Shape is;
  std::vector<int64_t> ids = known_ints(c, 1, "indices", &is);
  if (ArrayRef<int64_t>(is) != c.shape(updates))
    c.fail("the updates " + dims_str(c.shape(updates)) + " must have the shape of the indices " +
           dims_str(is));
  return scatter(c, data, updates, element_targets(c, c.shape(data), a, ids, is),
                 c.string_attr("reduction", "none"));
}

Value gather_nd(NodeContext &c) {
  Value data = c.in(0);
  Shape is;
  std::vector<int64_t> ids = known_ints(c, 1, "indices", &is);
  Shp out;
  std::vector<int64_t> offsets =
      nd_targets(c, c.shape(data), c.int_attr("batch_dims", 0), ids, is, &out);
  return take(c, data, out, std::move(offsets));
}

Value scatter_nd(NodeContext &c) {
  Value data = c.in(0), updates = c.in(2);
  Shape is;
  std::vector<int64_t> ids = known_ints(c, 1, "indices", &is);
  Shp expect;
  std::vector<int64_t> targets = nd_targets(c, c.shape(data), 0, ids, is, &expect);
  if (c.shape(updates) != ArrayRef<int64_t>(expect))
    c.fail("the updates " + dims_str(c.shape(updates)) + " must have the shape " +
           dims_str(expect));
  return scatter(c, data, updates, targets, c.string_attr("reduction", "none"));
}

/// OneHot: the indices and depth known; values (off, on) may change. Each output element
/// reads values[0] or values[1], so the result is differentiable in the values.
Value one_hot(NodeContext &c) {
  Tensor t = c.required_constant(0, "indices");
  Tensor t64 = t.to(f64);
  const double depth_v = known_scalar(c, 1, "depth");
  if (!(depth_v >= 1) || depth_v > double(kMaxElements))
    c.fail("the depth must be a positive number, got " + std::to_string(depth_v));
  const int64_t depth = int64_t(depth_v);
  Value values = c.in(2);
  if (product(c.shape(values)) != 2)
    c.fail("the values must be two elements (off, on), got " + dims_str(c.shape(values)));
  values = c.reshape(values, {2});
  const int64_t r = int64_t(t.shape().size()), a = c.axis(c.int_attr("axis", -1), r + 1);
  Shp out(t.shape().begin(), t.shape().end());
  out.insert(out.begin() + a, depth);
  check_table(c, out);
  Shp st = strides_of(t.shape());
  const double *ids = t64.data<double>();
  std::vector<int64_t> offsets;
  for_each_index(out, [&](ArrayRef<int64_t> idx) {
    int64_t src = 0;
    for (int64_t d = 0, e = 0; d <= r; ++d)
      if (d != a)
        src += idx[size_t(d)] * st[size_t(e++)];
    double id = std::trunc(ids[src]);
    if (id < 0)
      id += double(depth);
    offsets.push_back(id == double(idx[size_t(a)]) ? 1 : 0);
  });
  return c.make<ir::GetItemOp>(values, c.b.getDenseI64ArrayAttr(out),
                               c.b.getDenseI64ArrayAttr(offsets));
}

/// Trilu: the upper (j - i >= k) or lower (j - i <= k) triangle of the last two axes,
/// zeros elsewhere (dz.select with a constant mask).
Value trilu(NodeContext &c) {
  Value x = c.in(0);
  const int64_t r = c.rank(x);
  if (r < 2)
    c.fail("the input must have rank >= 2, got " + dims_str(c.shape(x)));
  int64_t k = 0;
  if (c.has(1)) {
    std::vector<int64_t> kv = known_ints(c, 1, "k", nullptr);
    if (kv.size() != 1)
      c.fail("k must be one value, got " + std::to_string(kv.size()));
    k = kv[0];
  }
  const bool upper = c.int_attr("upper", 1) != 0;
  const int64_t rows = c.shape(x)[size_t(r - 2)], cols = c.shape(x)[size_t(r - 1)];
  check_table(c, {rows, cols});
  std::vector<bool> keep;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      keep.push_back(upper ? j - i >= k : j - i <= k);
  if (std::all_of(keep.begin(), keep.end(), [](bool v) { return v; }))
    return x;
  return c.make<ir::SelectOp>(mask_of(c, {rows, cols}, keep), x, c.scalar(0, x));
}

/// CumSum: for each element, the elements up to it along the axis (exclusive: before
/// it; reverse: from it to the end) gathered into a new last axis (zeros past the
/// range) and summed.
Value cum_sum(NodeContext &c) {
  Value x = c.in(0);
  const int64_t r = c.rank(x);
  if (r == 0)
    c.fail("the input must have rank >= 1");
  std::vector<int64_t> axis = known_ints(c, 1, "axis", nullptr);
  if (axis.size() != 1)
    c.fail("the axis must be one value, got " + std::to_string(axis.size()));
  const int64_t a = c.axis(axis[0], r);
  const bool exclusive = c.int_attr("exclusive", 0) != 0, reverse = c.int_attr("reverse", 0) != 0;
  ArrayRef<int64_t> s = c.shape(x);
  const int64_t len = s[size_t(a)];
  check_table(c, {product(s), len});
  Shp st = strides_of(s), out(s);
  out.push_back(len);
  std::vector<int64_t> offsets;
  for_each_index(s, [&](ArrayRef<int64_t> idx) {
    const int64_t i = idx[size_t(a)];
    int64_t base = 0;
    for (size_t d = 0; d < idx.size(); ++d)
      base += (int64_t(d) == a ? 0 : idx[d]) * st[d];
    for (int64_t t = 0; t < len; ++t) {
      const bool in = reverse ? (exclusive ? t > i : t >= i) : (exclusive ? t < i : t <= i);
      offsets.push_back(in ? base + t * st[size_t(a)] : -1);
    }
  });
  return c.sum(take(c, x, out, std::move(offsets)), {r}, false);
}

/// Compress: the slices along `axis` (or the elements of the flattened input) where the
/// known condition holds.
Value compress(NodeContext &c) {
  Value x = c.in(0);
  std::vector<bool> cond = nonzero_bits(c.required_constant(1, "condition"));
  Shp s(c.shape(x));
  int64_t a = 0;
  if (c.has_attr("axis")) {
    a = c.axis(c.int_attr("axis", 0), c.rank(x));
  } else {
    s = {product(s)};
    x = c.reshape(x, s);
  }
  const int64_t dim = s[size_t(a)];
  if (int64_t(cond.size()) > dim)
    c.fail("the condition has " + std::to_string(cond.size()) + " values, more than the " +
           std::to_string(dim) + " of axis " + std::to_string(a));
  std::vector<int64_t> picked;
  for (size_t i = 0; i < cond.size(); ++i)
    if (cond[i])
      picked.push_back(int64_t(i));
  Shp out(s);
  out[size_t(a)] = int64_t(picked.size());
  check_table(c, out);
  Shp st = strides_of(s);
  std::vector<int64_t> offsets;
  for_each_index(out, [&](ArrayRef<int64_t> idx) {
    int64_t off = 0;
    for (size_t d = 0; d < idx.size(); ++d)
      off += (int64_t(d) == a ? picked[size_t(idx[d])] : idx[d]) * st[d];
    offsets.push_back(off);
  });
  return take(c, x, out, std::move(offsets));
}

/// NonZero of a value known at import time (the result's shape depends on it): an int64
/// constant (rank, count) of the coordinates of the nonzero elements.
Value non_zero(NodeContext &c) {
  Tensor t = c.required_constant(0, "input (its nonzero count fixes the result's shape)");
  std::vector<bool> bits = nonzero_bits(t);
  Shp s(t.shape().begin(), t.shape().end());
  if (s.empty())
    s = {1};
  const int64_t r = int64_t(s.size()), n = int64_t(std::count(bits.begin(), bits.end(), true));
  check_table(c, {r, n});
  std::vector<int64_t> coords(size_t(r * n));
  int64_t k = 0, j = 0;
  for_each_index(s, [&](ArrayRef<int64_t> idx) {
    if (bits[size_t(k++)]) {
      for (int64_t d = 0; d < r; ++d)
        coords[size_t(d * n + j)] = idx[size_t(d)];
      ++j;
    }
  });
  return c.constant_of(Tensor::from_i64(coords, {r, n}));
}

/// Unique of a value known at import time (the result's shape depends on it): the distinct
/// elements (or slices along `axis`, compared as rows in C order), sorted or in the order
/// of their first occurrence, as constants: Y in x's type, and the int64 indices of the
/// first occurrences, inverse_indices and counts. NaNs are one value, after the others.
Value unique(NodeContext &c) {
  const Tensor x = c.required_constant(0, "input (its distinct values fix the result's shape)");
  const bool sorted = c.int_attr("sorted", 1) != 0;
  Shp s(x.shape().begin(), x.shape().end());
  int64_t outer = 1, n = x.size(), inner = 1, a = -1;
  if (c.has_attr("axis")) {
    a = c.axis(c.int_attr("axis", 0), int64_t(s.size()));
    n = s[size_t(a)];
    outer = product(ArrayRef<int64_t>(s).take_front(size_t(a)));
    inner = product(ArrayRef<int64_t>(s).drop_front(size_t(a) + 1));
  }
  const Tensor v = x.to(f64);
  const double *pv = v.data<double>();
  std::vector<std::vector<double>> rows(static_cast<size_t>(n));
  for (int64_t p = 0; p < n; ++p)
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i)
        rows[size_t(p)].push_back(pv[(o * n + p) * inner + i]);
  auto less = [](const std::vector<double> &l, const std::vector<double> &r) {
    return std::lexicographical_compare(
        l.begin(), l.end(), r.begin(), r.end(),
        [](double p, double q) { return !std::isnan(p) && (std::isnan(q) || p < q); });
  };
  std::map<std::vector<double>, int64_t, decltype(less)> first(less); // row -> unique #
  std::vector<int64_t> first_index, counts, inverse(static_cast<size_t>(n));
  for (int64_t p = 0; p < n; ++p) {
    auto [it, inserted] = first.try_emplace(rows[size_t(p)], int64_t(first_index.size()));
    if (inserted) {
      first_index.push_back(p);
      counts.push_back(0);
    }
    ++counts[size_t(it->second)];
    inverse[size_t(p)] = it->second;
  }
  const int64_t k = int64_t(first_index.size());
  std::vector<int64_t> order(static_cast<size_t>(k)),
      rank(static_cast<size_t>(k)); // output j holds unique order[j]
  std::iota(order.begin(), order.end(), 0);
  if (sorted) {
    int64_t j = 0;
    for (const auto &[row, u] : first)
      order[size_t(j++)] = u;
  }
  for (int64_t j = 0; j < k; ++j)
    rank[size_t(order[size_t(j)])] = j;
  Shp ys = a < 0 ? Shp{k} : s;
  if (a >= 0)
    ys[size_t(a)] = k;
  check_table(c, {product(ys)});
  Tensor y(Shape(ys.begin(), ys.end()), x.dtype());
  const size_t w = dtype_size(x.dtype());
  const char *src = static_cast<const char *>(x.raw());
  char *dst = static_cast<char *>(y.raw());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < k; ++j)
      std::memcpy(dst + size_t((o * k + j) * inner) * w,
                  src + size_t((o * n + first_index[size_t(order[size_t(j)])]) * inner) * w,
                  size_t(inner) * w);
  std::vector<int64_t> indices(static_cast<size_t>(k)), sorted_counts(static_cast<size_t>(k)),
      inv(static_cast<size_t>(n));
  for (int64_t j = 0; j < k; ++j) {
    indices[size_t(j)] = first_index[size_t(order[size_t(j)])];
    sorted_counts[size_t(j)] = counts[size_t(order[size_t(j)])];
  }
  for (int64_t p = 0; p < n; ++p)
    inv[size_t(p)] = rank[size_t(inverse[size_t(p)])];
  c.add_output(c.constant_of(Tensor::from_i64(indices, {k})));
  c.add_output(c.constant_of(Tensor::from_i64(inv, {n})));
  c.add_output(c.constant_of(Tensor::from_i64(sorted_counts, {k})));
  return c.constant_of(y);
}

/// NonMaxSuppression of boxes and scores known at import time: per batch and class, the
/// boxes whose score is above score_threshold, by descending score (ties: lower index
/// first), each kept unless its IoU with a kept box exceeds iou_threshold, at most
/// max_output_boxes_per_class; an int64 constant (selected, 3) of (batch, class, box).
Value non_max_suppression(NodeContext &c) {
  const Tensor boxes = c.required_constant(0, "boxes").to(f64);
  const Tensor scores = c.required_constant(1, "scores").to(f64);
  auto scalar = [&](size_t i, double dflt) {
    if (!c.has(i))
      return dflt;
    const Tensor t = c.required_constant(i, "threshold");
    if (t.size() != 1)
      c.fail("input #" + std::to_string(i) + " must hold one value, got " +
             std::to_string(t.size()));
    return t.at(0);
  };
  const double max_out = scalar(2, 0), iou_threshold = scalar(3, 0);
  const bool has_score_threshold = c.has(4);
  const double score_threshold = scalar(4, 0);
  const bool center = c.int_attr("center_point_box", 0) != 0;
  if (boxes.shape().size() != 3 || boxes.shape()[2] != 4 || scores.shape().size() != 3 ||
      scores.shape()[0] != boxes.shape()[0] || scores.shape()[2] != boxes.shape()[1])
    c.fail("boxes must be (batches, boxes, 4) and scores (batches, classes, boxes), got " +
           shape_str(boxes.shape()) + " and " + shape_str(scores.shape()));
  const int64_t nb = boxes.shape()[0], nbox = boxes.shape()[1], nc = scores.shape()[1];
  const double *pb = boxes.data<double>(), *ps = scores.data<double>();
  struct Box {
    double y1, x1, y2, x2;
  };
  auto box = [&](int64_t b, int64_t i) {
    const double *q = pb + (b * nbox + i) * 4;
    if (center)
      return Box{q[1] - q[3] / 2, q[0] - q[2] / 2, q[1] + q[3] / 2, q[0] + q[2] / 2};
    return Box{std::min(q[0], q[2]), std::min(q[1], q[3]), std::max(q[0], q[2]),
               std::max(q[1], q[3])};
  };
  auto iou = [](const Box &p, const Box &q) {
    const double area_p = (p.y2 - p.y1) * (p.x2 - p.x1), area_q = (q.y2 - q.y1) * (q.x2 - q.x1);
    if (area_p <= 0 || area_q <= 0)
      return 0.0;
    const double h = std::max(0.0, std::min(p.y2, q.y2) - std::max(p.y1, q.y1));
    const double w = std::max(0.0, std::min(p.x2, q.x2) - std::max(p.x1, q.x1));
    const double inter = h * w;
    return inter / (area_p + area_q - inter);
  };
  std::vector<int64_t> selected;
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t k = 0; k < nc; ++k) {
      const double *sc = ps + (b * nc + k) * nbox;
      std::vector<int64_t> cand;
      for (int64_t i = 0; i < nbox; ++i)
        if (!has_score_threshold || sc[i] > score_threshold)
          cand.push_back(i);
      std::stable_sort(cand.begin(), cand.end(),
                       [&](int64_t p, int64_t q) { return sc[p] > sc[q]; });
      std::vector<int64_t> kept;
      for (int64_t i : cand) {
        if (double(kept.size()) >= max_out)
          break;
        const Box bi = box(b, i);
        if (std::none_of(kept.begin(), kept.end(),
                         [&](int64_t j) { return iou(bi, box(b, j)) > iou_threshold; }))
          kept.push_back(i);
      }
      for (int64_t i : kept)
        selected.insert(selected.end(), {b, k, i});
    }
  const int64_t m = int64_t(selected.size() / 3);
  return c.constant_of(Tensor::from_i64(selected, {m, 3}));
}

/// TfIdfVectorizer of integer input known at import time: per row, the n-grams of lengths
/// min_gram_length..max_gram_length (items skip + 1 apart, skip 0..max_skip_count; 1-grams
/// once) that are in the pool, counted at their ngram_indexes; TF counts, IDF the weight
/// (1 without weights) of each n-gram present, TFIDF count · weight. A float32 constant.
Value tfidf_vectorizer(NodeContext &c) {
  const Tensor x = c.required_constant(0, "input");
  std::optional<std::vector<int64_t>> items = integers_of(x);
  std::optional<std::vector<int64_t>> pool = c.ints_attr("pool_int64s");
  if (!items || !pool)
    c.unsupported("dz counts integer n-grams only (pool_int64s and an integer input)",
                  "TfIdfVectorizer of strings");
  const std::string mode = c.string_attr("mode", "TF");
  if (mode != "TF" && mode != "IDF" && mode != "TFIDF")
    c.fail("attribute 'mode' must be TF, IDF or TFIDF, got '" + mode + "'");
  const int64_t min_n = c.int_attr("min_gram_length", 1), max_n = c.int_attr("max_gram_length", 1);
  const int64_t max_skip = c.int_attr("max_skip_count", 0);
  const std::vector<int64_t> starts = c.ints_attr("ngram_counts").value_or(std::vector<int64_t>{});
  const std::vector<int64_t> indexes =
      c.ints_attr("ngram_indexes").value_or(std::vector<int64_t>{});
  const std::vector<double> weights = c.floats_attr("weights").value_or(std::vector<double>{});
  if (min_n < 1 || max_n < min_n || max_skip < 0 || x.shape().empty() || x.shape().size() > 2)
    c.fail("needs 1 <= min_gram_length <= max_gram_length, max_skip_count >= 0 and a 1-D or "
           "2-D input");
  std::map<std::vector<int64_t>, int64_t> table; // n-gram -> its number in the pool
  int64_t k = 0;
  for (size_t g = 0; g < starts.size(); ++g) {
    const int64_t n = int64_t(g) + 1;
    const int64_t end = g + 1 < starts.size() ? starts[g + 1] : int64_t(pool->size());
    if (starts[g] < 0 || end > int64_t(pool->size()) || starts[g] > end)
      c.fail("ngram_counts does not split pool_int64s");
    for (int64_t p = starts[g]; p + n <= end; p += n, ++k)
      table[std::vector<int64_t>(pool->begin() + p, pool->begin() + p + n)] = k;
  }
  if (int64_t(indexes.size()) < k || (!weights.empty() && int64_t(weights.size()) < k))
    c.fail("ngram_indexes (and weights) need one entry per n-gram of the pool");
  int64_t width = 0;
  for (int64_t i : indexes) {
    if (i < 0)
      c.fail("ngram_indexes must not be negative");
    width = std::max(width, i + 1);
  }
  const int64_t rows = x.shape().size() == 2 ? x.shape()[0] : 1, len = x.shape().back();
  check_table(c, {rows, width});
  std::vector<double> counts(size_t(rows * k), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t n = min_n; n <= max_n; ++n)
      for (int64_t skip = 0; skip <= (n == 1 ? 0 : max_skip); ++skip)
        for (int64_t start = 0; start + (n - 1) * (skip + 1) < len; ++start) {
          std::vector<int64_t> gram;
          for (int64_t j = 0; j < n; ++j)
            gram.push_back((*items)[size_t(r * len + start + j * (skip + 1))]);
          if (auto it = table.find(gram); it != table.end())
            counts[size_t(r * k + it->second)] += 1;
        }
  std::vector<double> out(size_t(rows * width), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t g = 0; g < k; ++g) {
      const double n = counts[size_t(r * k + g)], w = weights.empty() ? 1.0 : weights[size_t(g)];
      out[size_t(r * width + indexes[size_t(g)])] = mode == "TF"    ? n
                                                    : mode == "IDF" ? (n > 0 ? w : 0.0)
                                                                    : n * w;
    }
  return c.constant_of(
      Tensor::from(out, x.shape().size() == 2 ? Shape{rows, width} : Shape{width}, f32));
}

/// Range of known start, limit and delta: a constant of start's type.
Value range(NodeContext &c) {
  mlir::Type element = c.type(c.in(0)).getElementType();
  const double start = known_scalar(c, 0, "start"), limit = known_scalar(c, 1, "limit"),
               delta = known_scalar(c, 2, "delta");
  if (delta == 0 || !std::isfinite(start) || !std::isfinite(limit) || !std::isfinite(delta))
    c.fail("start, limit and delta must be finite and delta nonzero");
  const double count = std::max(std::ceil((limit - start) / delta), 0.0);
  check_table(c, {count > double(kMaxConstantRead) ? kMaxConstantRead + 1 : int64_t(count)});
  const int64_t n = int64_t(count);
  const DType dt = dtype_of(c, element);
  if (dt == i64) {
    if (std::abs(start) > 9e18 || std::abs(delta) > 9e18)
      c.fail("start and delta must fit int64");
    const int64_t s0 = int64_t(start), d0 = int64_t(delta);
    std::vector<int64_t> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      if (__builtin_mul_overflow(i, d0, &v[size_t(i)]) ||
          __builtin_add_overflow(v[size_t(i)], s0, &v[size_t(i)]))
        c.fail("the range overflows int64");
    return c.constant_of(Tensor::from_i64(v, {n}));
  }
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[size_t(i)] = start + double(i) * delta;
  return c.constant_of(Tensor::from(v, {n}, dt));
}

/// EyeLike: ones on the k-th diagonal of a 2-D shape, of `dtype` (default the input's).
Value eye_like(NodeContext &c) {
  Value x = c.in(0);
  if (c.rank(x) != 2)
    c.fail("the input must be 2-D, got " + dims_str(c.shape(x)));
  mlir::Type element = c.type(x).getElementType();
  if (c.has_attr("dtype")) {
    const int64_t to = c.int_attr("dtype", 0);
    element = dz_element_type(*c.b.getContext(), int32_t(to));
    if (!element)
      c.unsupported("dtype " + dtype_name(int32_t(to)), "EyeLike dtype " + dtype_name(int32_t(to)));
  }
  const int64_t rows = c.shape(x)[0], cols = c.shape(x)[1], k = c.int_attr("k", 0);
  check_table(c, {rows, cols});
  std::vector<double> v(static_cast<size_t>(rows * cols), 0.0);
  for (int64_t i = 0; i < rows; ++i)
    if (i + k >= 0 && i + k < cols)
      v[size_t(i * cols + i + k)] = 1;
  return c.constant_of(Tensor::from(v, {rows, cols}, dtype_of(c, element)));
}

/// Pad with known pads (begin values of every axis, then end values; negative ones
/// crop): each output element reads its source element (edge: the nearest one; reflect:
/// mirrored at the border without repeating it), or, in constant mode, the value.
Value pad(NodeContext &c) {
  Value x = c.in(0);
  const int64_t r = c.rank(x);
  std::vector<int64_t> pads;
  double value = 0;
  if (c.opset < 11) {
    pads = c.ints_attr("pads").value_or(std::vector<int64_t>{});
    value = c.float_attr("value", 0);
  } else {
    pads = known_ints(c, 1, "pads", nullptr);
    if (c.has(2))
      value = known_scalar(c, 2, "constant_value");
  }
  if (int64_t(pads.size()) != 2 * r)
    c.fail("pads has " + std::to_string(pads.size()) + " values, 2 per axis (" +
           std::to_string(2 * r) + ") expected");
  const std::string mode = c.string_attr("mode", "constant");
  if (mode != "constant" && mode != "edge" && mode != "reflect")
    c.fail("unknown mode '" + mode + "' (constant, edge, reflect)");
  ArrayRef<int64_t> s = c.shape(x);
  Shp out;
  for (int64_t d = 0; d < r; ++d) {
    int64_t n;
    if (__builtin_add_overflow(s[size_t(d)], pads[size_t(d)], &n) ||
        __builtin_add_overflow(n, pads[size_t(d + r)], &n) || n < 0 ||
        (n > 0 && s[size_t(d)] == 0 && mode != "constant"))
      c.fail("pads " + dims_str(pads) + " do not fit the input " + dims_str(s));
    if (mode == "reflect" &&
        (pads[size_t(d)] >= s[size_t(d)] || pads[size_t(d + r)] >= s[size_t(d)]))
      c.fail("reflect pads must be smaller than the axis, got " + dims_str(pads) + " for " +
             dims_str(s));
    out.push_back(n);
  }
  if (!element_count(out))
    c.fail("the output " + dims_str(out) + " is too large");
  check_table(c, out);
  Shp st = strides_of(s);
  std::vector<int64_t> offsets;
  std::vector<bool> outside;
  for_each_index(out, [&](ArrayRef<int64_t> idx) {
    int64_t off = 0;
    bool in = true;
    for (int64_t d = 0; d < r; ++d) {
      const int64_t n = s[size_t(d)];
      int64_t p = idx[size_t(d)] - pads[size_t(d)];
      if (p < 0 || p >= n) {
        if (mode == "edge")
          p = std::clamp<int64_t>(p, 0, n - 1);
        else if (mode == "reflect")
          p = p < 0 ? -p : 2 * (n - 1) - p;
        else
          in = false;
      }
      off += (in ? p : 0) * st[size_t(d)];
    }
    offsets.push_back(in ? off : -1);
    outside.push_back(!in);
  });
  Value y = take(c, x, out, std::move(offsets));
  if (value == 0 || std::none_of(outside.begin(), outside.end(), [](bool b) { return b; }))
    return y;
  return c.make<ir::SelectOp>(mask_of(c, out, outside), c.scalar(value, x), y);
}

/// Einsum: each operand's repeated labels reduced to their diagonal (one dz.get_item),
/// its axes ordered as (output labels, summed labels) with size-1 axes for the labels it
/// lacks, the operands multiplied with broadcasting, and the summed labels summed. "..."
/// stands for the same broadcasting axes in every operand (aligned to the right).
Value einsum(NodeContext &c) {
  std::string eq;
  for (char ch : c.string_attr("equation", ""))
    if (ch != ' ')
      eq += ch;
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  std::vector<std::string> terms;
  for (size_t start = 0;;) {
    const size_t comma = lhs.find(',', start);
    terms.push_back(
        lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  if (terms.size() != c.num_inputs())
    c.fail("the equation '" + eq + "' has " + std::to_string(terms.size()) +
           " operands, the node " + std::to_string(c.num_inputs()) + " inputs");
  // Labels as ints: letters as themselves, the ellipsis' axes as -1, -2, ... from the right.
  int64_t ellipsis = 0; // the most axes an ellipsis stands for
  std::vector<std::vector<int64_t>> labels(terms.size());
  auto parse = [&](const std::string &term, int64_t rank, bool output) {
    std::vector<int64_t> out;
    const size_t dots = term.find("...");
    const std::string plain =
        dots == std::string::npos ? term : term.substr(0, dots) + term.substr(dots + 3);
    for (char ch : plain)
      if (!std::isalpha(static_cast<unsigned char>(ch)))
        c.fail("the equation '" + eq + "' has the character '" + std::string(1, ch) + "'");
    const int64_t spread = output ? ellipsis : rank - int64_t(plain.size());
    if (dots == std::string::npos ? spread != 0 && !output : spread < 0)
      c.fail("the term '" + term + "' does not match an input of rank " + std::to_string(rank));
    for (size_t i = 0; i < term.size();) {
      if (term.compare(i, 3, "...") == 0) {
        for (int64_t k = spread; k > 0; --k)
          out.push_back(-k);
        i += 3;
      } else {
        out.push_back(int64_t(term[i++]));
      }
    }
    if (!output)
      ellipsis = std::max(ellipsis, dots == std::string::npos ? 0 : spread);
    return out;
  };
  std::map<int64_t, int64_t> size, count;
  std::vector<Value> ops;
  for (size_t k = 0; k < terms.size(); ++k) {
    Value v = c.in(k);
    labels[k] = parse(terms[k], c.rank(v), false);
    // the diagonal of repeated labels
    std::vector<int64_t> unique;
    Shp ushape;
    for (size_t d = 0; d < labels[k].size(); ++d) {
      const int64_t dim = c.shape(v)[d];
      auto it = std::find(unique.begin(), unique.end(), labels[k][d]);
      if (it == unique.end()) {
        unique.push_back(labels[k][d]);
        ushape.push_back(dim);
      } else if (ushape[size_t(it - unique.begin())] != dim) {
        c.fail("label '" + std::string(1, char(labels[k][d])) + "' has sizes " +
               std::to_string(ushape[size_t(it - unique.begin())]) + " and " + std::to_string(dim) +
               " in operand " + std::to_string(k));
      }
    }
    if (unique.size() != labels[k].size()) {
      check_table(c, ushape);
      Shp st = strides_of(c.shape(v));
      std::vector<int64_t> offsets;
      for_each_index(ushape, [&](ArrayRef<int64_t> idx) {
        int64_t off = 0;
        for (size_t d = 0; d < labels[k].size(); ++d)
          off +=
              idx[size_t(std::find(unique.begin(), unique.end(), labels[k][d]) - unique.begin())] *
              st[d];
        offsets.push_back(off);
      });
      v = take(c, v, ushape, std::move(offsets));
      labels[k] = unique;
    }
    for (size_t d = 0; d < labels[k].size(); ++d) {
      const int64_t l = labels[k][d], dim = c.shape(v)[d];
      int64_t &known = size.try_emplace(l, dim).first->second;
      if (known != dim && known != 1 && dim != 1)
        c.fail("label sizes " + std::to_string(known) + " and " + std::to_string(dim) +
               " of the equation '" + eq + "' do not match");
      known = std::max(known, dim);
      ++count[l];
    }
    ops.push_back(v);
  }
  std::vector<int64_t> out_labels;
  if (arrow != std::string::npos) {
    out_labels = parse(eq.substr(arrow + 2), 0, true);
    for (size_t i = 0; i < out_labels.size(); ++i)
      if (!size.count(out_labels[i]) ||
          std::count(out_labels.begin(), out_labels.end(), out_labels[i]) > 1)
        c.fail("output label '" + std::string(1, char(out_labels[i])) +
               "' is not in an input or repeated");
  } else { // the ellipsis' axes, then the labels used once, in alphabetical order
    for (int64_t k = ellipsis; k > 0; --k)
      out_labels.push_back(-k);
    for (auto [l, n] : count)
      if (l > 0 && n == 1)
        out_labels.push_back(l);
  }
  std::vector<int64_t> order(out_labels);
  for (auto [l, n] : size)
    if (std::find(order.begin(), order.end(), l) == order.end())
      order.push_back(l);
  Shp full;
  for (int64_t l : order)
    full.push_back(size[l]);
  if (!element_count(full))
    c.fail("the equation '" + eq + "' spans " + dims_str(full) + ", too many elements");
  Value acc;
  for (size_t k = 0; k < ops.size(); ++k) {
    Shp perm, shape;
    for (int64_t l : order) {
      auto it = std::find(labels[k].begin(), labels[k].end(), l);
      if (it != labels[k].end()) {
        perm.push_back(int64_t(it - labels[k].begin()));
        shape.push_back(c.shape(ops[k])[size_t(perm.back())]);
      } else {
        shape.push_back(1);
      }
    }
    bool moved = false;
    for (size_t d = 0; d < perm.size(); ++d)
      moved = moved || perm[d] != int64_t(d);
    Value v = c.reshape(moved ? c.transpose(ops[k], perm) : ops[k], shape);
    acc = acc ? c.mul(acc, v) : v;
  }
  acc = c.broadcast(acc, full);
  Shp summed;
  for (size_t d = out_labels.size(); d < order.size(); ++d)
    summed.push_back(int64_t(d));
  return summed.empty() ? acc : c.sum(acc, summed, false);
}

/// LRN: x / (bias + alpha / size · Σ x²)^beta, the sum over the `size` channels around
/// each one (those before: floor((size - 1) / 2)), gathered into a new axis and summed.
Value lrn(NodeContext &c) {
  Value x = c.in(0);
  c.require_float(x);
  if (c.rank(x) < 2)
    c.fail("the input must be (N, C, ...), got " + dims_str(c.shape(x)));
  const int64_t size = c.int_attr("size", 0);
  if (size < 1)
    c.fail("size must be positive, got " + std::to_string(size));
  const double alpha = c.float_attr("alpha", 1e-4), beta = c.float_attr("beta", 0.75),
               bias = c.float_attr("bias", 1);
  ArrayRef<int64_t> s = c.shape(x);
  const int64_t ch = s[1], before = (size - 1) / 2;
  check_table(c, {product(s), size});
  Shp st = strides_of(s), out(s);
  out.push_back(size);
  std::vector<int64_t> offsets;
  for_each_index(s, [&](ArrayRef<int64_t> idx) {
    int64_t base = 0;
    for (size_t d = 0; d < idx.size(); ++d)
      base += idx[d] * st[d];
    for (int64_t t = 0; t < size; ++t) {
      const int64_t k = idx[1] - before + t;
      offsets.push_back(k >= 0 && k < ch ? base + (k - idx[1]) * st[1] : -1);
    }
  });
  Value sq = c.sum(take(c, c.mul(x, x), out, std::move(offsets)), {int64_t(s.size())}, false);
  Value denom = c.add(c.mul(sq, c.scalar(alpha / double(size), x)), c.scalar(bias, x));
  return c.div(x, c.make<ir::PowScalarOp>(denom, c.b.getF64FloatAttr(beta)));
}

/// ReverseSequence with known sequence_lens: along time_axis, the first len[b] steps of
/// batch item b reversed, the rest kept (one gather).
Value reverse_sequence(NodeContext &c) {
  Value x = c.in(0);
  const int64_t r = c.rank(x);
  if (r < 2)
    c.fail("the input must have rank >= 2, got " + dims_str(c.shape(x)));
  const int64_t ba = c.axis(c.int_attr("batch_axis", 1), r),
                ta = c.axis(c.int_attr("time_axis", 0), r);
  if (ba == ta || ba > 1 || ta > 1)
    c.fail("batch_axis and time_axis must be 0 and 1 in some order");
  ArrayRef<int64_t> s = c.shape(x);
  std::vector<int64_t> lens = known_ints(c, 1, "sequence_lens", nullptr);
  if (int64_t(lens.size()) != s[size_t(ba)])
    c.fail("sequence_lens has " + std::to_string(lens.size()) + " values for a batch of " +
           std::to_string(s[size_t(ba)]));
  for (int64_t len : lens)
    if (len < 0 || len > s[size_t(ta)])
      c.fail("a sequence length " + std::to_string(len) + " is outside [0, " +
             std::to_string(s[size_t(ta)]) + "]");
  check_table(c, s);
  Shp st = strides_of(s);
  std::vector<int64_t> offsets;
  for_each_index(s, [&](ArrayRef<int64_t> idx) {
    const int64_t len = lens[size_t(idx[size_t(ba)])], t = idx[size_t(ta)];
    int64_t off = 0;
    for (size_t d = 0; d < idx.size(); ++d)
      off += (int64_t(d) == ta && t < len ? len - 1 - t : idx[d]) * st[d];
    offsets.push_back(off);
  });
  return take(c, x, s, std::move(offsets));
}

/// MaxUnpool: X's values scattered to their known flat positions (MaxPool's Indices, in
/// the shape the pooling came from) in zeros of that shape or of a larger output_shape.
Value max_unpool(NodeContext &c) {
  Value x = c.in(0);
  const int64_t r = c.rank(x);
  if (r < 3)
    c.fail("the input must be (N, C, D1, ...), got " + dims_str(c.shape(x)));
  Shape is;
  std::vector<int64_t> ids = known_ints(c, 1, "indices", &is);
  if (ArrayRef<int64_t>(is) != c.shape(x))
    c.fail("the indices " + dims_str(is) + " must have the shape of X " + dims_str(c.shape(x)));
  // The shape the pooling came from: the indices are flat positions in it.
  std::vector<int64_t> kernel = c.ints_attr("kernel_shape").value_or(std::vector<int64_t>{});
  const size_t sp = size_t(r - 2);
  if (kernel.size() != sp)
    c.fail("kernel_shape must have " + std::to_string(sp) + " values");
  std::vector<int64_t> strides = c.ints_attr("strides").value_or(std::vector<int64_t>(sp, 1)),
                       pads = c.ints_attr("pads").value_or(std::vector<int64_t>(2 * sp, 0));
  if (strides.size() != sp || pads.size() != 2 * sp)
    c.fail("strides and pads must have " + std::to_string(sp) + " and " + std::to_string(2 * sp) +
           " values");
  for (size_t d = 0; d < sp; ++d)
    if (kernel[d] < 1 || strides[d] < 1 || pads[d] < 0 || pads[d + sp] < 0 ||
        std::max({kernel[d], strides[d], pads[d], pads[d + sp]}) > (int64_t(1) << 20))
      c.fail("kernel_shape, strides and pads must be in [1, 2^20] ([0, 2^20] for pads)");
  Shp pooled(c.shape(x).begin(), c.shape(x).begin() + 2);
  for (size_t d = 0; d < sp; ++d)
    pooled.push_back((c.shape(x)[d + 2] - 1) * strides[d] - pads[d] - pads[d + sp] + kernel[d]);
  Shp out(pooled);
  if (c.has(2)) { // a larger output: the pooled shape's elements keep their coordinates
    std::vector<int64_t> shape = known_ints(c, 2, "output_shape", nullptr);
    out.assign(shape.begin(), shape.end());
  }
  if (int64_t(out.size()) != r || !element_count(out) || !element_count(pooled))
    c.fail("invalid output shape " + dims_str(out));
  for (int64_t d = 0; d < r; ++d)
    if (out[size_t(d)] < pooled[size_t(d)])
      c.fail("output_shape " + dims_str(out) + " is smaller than the pooled input's " +
             dims_str(pooled));
  check_table(c, {int64_t(ids.size())});
  const int64_t total = product(pooled);
  Shp pst = strides_of(pooled), ost = strides_of(out);
  for (int64_t &id : ids) {
    if (id < 0 || id >= total)
      c.fail("index " + std::to_string(id) + " is outside the pooled shape " + dims_str(pooled));
    int64_t off = 0, rest = id;
    for (int64_t d = 0; d < r; ++d) {
      off += rest / pst[size_t(d)] * ost[size_t(d)];
      rest %= pst[size_t(d)];
    }
    id = off;
  }
  return c.make<ir::GetItemGradOp>(x, c.b.getDenseI64ArrayAttr(out), c.b.getDenseI64ArrayAttr(ids));
}

/// HannWindow, HammingWindow, BlackmanWindow of a known size: a constant of
/// output_datatype (default float), a0 - a1 cos(2πn/N) + a2 cos(4πn/N) with N = size
/// (periodic) or size - 1 (symmetric).
template <int kind> Value window(NodeContext &c) {
  const double size_v = known_scalar(c, 0, "size");
  if (!(size_v >= 0) || size_v > double(kMaxConstantRead))
    c.fail("the size must be in [0, " + std::to_string(kMaxConstantRead) + "], got " +
           std::to_string(size_v));
  const int64_t n = int64_t(size_v);
  const int32_t to = int32_t(c.int_attr("output_datatype", ::onnx::TensorProto::FLOAT));
  mlir::Type element = dz_element_type(*c.b.getContext(), to);
  if (!element)
    c.unsupported("output_datatype " + dtype_name(to), c.node.op_type() + " " + dtype_name(to));
  const double a0 = kind == 0   ? 0.5
                    : kind == 1 ? 25.0 / 46
                                : 0.42,
               a1 = kind == 0   ? 0.5
                    : kind == 1 ? 21.0 / 46
                                : 0.5,
               a2 = kind == 2 ? 0.08 : 0.0;
  const double denom = c.int_attr("periodic", 1) ? double(n) : double(n - 1);
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double t = denom > 0 ? 2 * M_PI * double(i) / denom : 0;
    v[size_t(i)] = a0 - a1 * std::cos(t) + a2 * std::cos(2 * t);
  }
  return c.constant_of(Tensor::from(v, {n}, dtype_of(c, element)));
}
template Value window<0>(NodeContext &c);
template Value window<1>(NodeContext &c);
template Value window<2>(NodeContext &c);

} // namespace dz::onnx::index_ops
