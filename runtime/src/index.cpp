// index.cpp - NumPy indexing: plan_index resolves an index expression against a shape,
// gather reads the planned elements and scatter_add accumulates into them (its adjoint).
//
// Supported: integers (negative wrap), Slices (Python slice.indices semantics), one
// Ellipsis, NewAxis and integer index arrays. As in NumPy, when any index array is
// present the integers become 0-d index arrays too; all of them broadcast together and
// their broadcast dims replace them in place when they are adjacent, else go first.
#include <dzc/direct_kernels.h>
#include <dzc/tensor.h>

#include "device_ops.h"

#include <algorithm>
#include <limits>

namespace dz {

Index::Index(const Tensor &indices) {
  const DType t = indices.dtype();
  if (t == b8)
    throw Error("Index: boolean mask indexing is not supported; use an integer index tensor "
                "(int64, int32 or uint8), e.g. the positions of the true values");
  if (is_floating(t))
    throw Error(std::string("Index: index tensors must be integers (int64, int32 or uint8), "
                            "got ") +
                dtype_name(t));
  const Tensor cpu = indices.device().is_cpu() ? indices : indices.to(Device::cpu());
  v_ = std::make_shared<const Tensor>(cpu.dtype() == i64 ? cpu.copy() : cpu.to(i64));
}

Index::Index(std::vector<int64_t> indices)
    : v_(std::make_shared<const Tensor>(Tensor::from_i64(indices))) {}

namespace {

// One entry of the index expression after the Ellipsis is resolved.
struct Entry {
  enum class Kind { Int, Slice, NewAxis, Ellipsis, Array } kind;
  int64_t axis = -1; // the input axis it consumes (Int, Slice, Array)
  int64_t value = 0; // Int: the wrapped index
  int64_t start = 0; // Slice: first index, step and length
  int64_t step = 1;
  int64_t length = 0;
  const Tensor *array = nullptr;
};

int64_t wrap_index(int64_t i, int64_t axis, int64_t size) {
  if (i < -size || i >= size)
    throw Error("get_item: index " + std::to_string(i) + " is out of bounds for axis " +
                std::to_string(axis) + " with size " + std::to_string(size));
  return i < 0 ? i + size : i;
}

// Python's slice.indices(size) followed by len(range(...)).
void resolve_slice(const Slice &s, int64_t size, Entry &e) {
  if (s.step == 0)
    throw Error("get_item: slice step cannot be zero");
  // Any |step| >= size gives at most one element, so clamping keeps the result.
  const int64_t step = std::max(s.step, -std::numeric_limits<int64_t>::max());
  const int64_t lower = step > 0 ? 0 : -1, upper = step > 0 ? size : size - 1;
  auto bound = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v)
      return dflt;
    int64_t x = *v;
    if (x < 0) {
      x += size;
      return x < lower ? lower : x;
    }
    return x > upper ? upper : x;
  };
  const int64_t start = bound(s.start, step > 0 ? lower : upper);
  const int64_t stop = bound(s.stop, step > 0 ? upper : lower);
  int64_t length = 0;
  if (step > 0 && stop > start)
    length = (stop - start - 1) / step + 1;
  else if (step < 0 && start > stop)
    length = (start - stop - 1) / -step + 1;
  e.start = start, e.step = step, e.length = length;
}

Shape broadcast_index_shapes(const std::vector<const Tensor *> &arrays) {
  Shape out;
  for (const Tensor *a : arrays) {
    const Shape &s = a->shape();
    if (s.size() > out.size())
      out.insert(out.begin(), s.size() - out.size(), 1);
    for (size_t k = 0; k < s.size(); ++k) {
      int64_t &o = out[out.size() - s.size() + k];
      if (o == 1)
        o = s[k];
      else if (s[k] != 1 && s[k] != o) {
        std::string shapes;
        for (const Tensor *b : arrays)
          shapes.append(1, ' ').append(shape_str(b->shape()));
        throw Error("get_item: shape mismatch: indexing arrays could not be broadcast "
                    "together with shapes" +
                    shapes);
      }
    }
  }
  return out;
}

// For every element (row-major) of the broadcast shape `bshape`, the input offset
// contributed by the advanced indices.
std::vector<int64_t> advanced_offsets(const std::vector<const Entry *> &adv, const Shape &bshape,
                                      const Shape &in_shape, const std::vector<int64_t> &stride) {
  const int64_t n = shape_size(bshape);
  std::vector<int64_t> out(size_t(n), 0);
  const size_t nd = bshape.size();
  for (const Entry *e : adv) {
    const int64_t size = in_shape[size_t(e->axis)];
    const int64_t st = stride[size_t(e->axis)];
    if (e->kind == Entry::Kind::Int) {
      for (int64_t &o : out)
        o += e->value * st;
      continue;
    }
    // Strides of the array broadcast to bshape (0 along broadcast dims).
    const Shape &as = e->array->shape();
    std::vector<int64_t> astride(nd, 0);
    int64_t acc = 1;
    for (size_t k = as.size(); k-- > 0;) {
      if (as[k] != 1)
        astride[nd - as.size() + k] = acc;
      acc *= as[k];
    }
    const int64_t *vals = static_cast<const int64_t *>(e->array->raw());
    std::vector<int64_t> pos(nd, 0);
    int64_t src = 0;
    for (int64_t j = 0; j < n; ++j) {
      out[size_t(j)] += wrap_index(vals[src], e->axis, size) * st;
      for (size_t d = nd; d-- > 0;) {
        src += astride[d];
        if (++pos[d] < bshape[d])
          break;
        src -= astride[d] * pos[d];
        pos[d] = 0;
      }
    }
  }
  return out;
}

} // namespace

namespace {
IndexPlan plan_index_impl(const Shape &shape, const IndexList &index);
} // namespace

IndexPlan plan_index(const Shape &shape, const IndexList &index) {
  try {
    return plan_index_impl(shape, index);
  } catch (const Error &e) {
    throw Error(std::string(e.what()) + " (indexing a tensor of shape " + shape_str(shape) + ")");
  }
}

namespace {
IndexPlan plan_index_impl(const Shape &shape, const IndexList &index) {
  const int64_t ndim = int64_t(shape.size());

  // 1. Count the axes the expression consumes and find the Ellipsis.
  int64_t consumed = 0, ellipses = 0;
  bool has_array = false;
  for (const Index &ix : index) {
    const auto &v = ix.value();
    if (std::holds_alternative<EllipsisT>(v))
      ++ellipses;
    else if (std::holds_alternative<NewAxisT>(v))
      continue;
    else {
      ++consumed;
      if (auto *p = std::get_if<std::shared_ptr<const Tensor>>(&v))
        has_array |= (*p)->ndim() > 0;
    }
  }
  if (ellipses > 1)
    throw Error("get_item: an index can only have a single ellipsis ('...'), got " +
                std::to_string(ellipses));
  if (consumed > ndim)
    throw Error("get_item: too many indices for array: array is " + std::to_string(ndim) +
                "-dimensional, but " + std::to_string(consumed) + " were indexed");

  // 2. Resolve every entry against its input axis; missing trailing axes are full slices.
  std::vector<int64_t> stride(shape.size(), 1);
  for (int64_t a = ndim - 2; a >= 0; --a)
    stride[size_t(a)] = stride[size_t(a) + 1] * shape[size_t(a) + 1];
  std::vector<Entry> entries;
  int64_t axis = 0;
  auto add_full_slice = [&] {
    Entry e{Entry::Kind::Slice};
    e.axis = axis;
    resolve_slice(Slice(), shape[size_t(axis)], e);
    entries.push_back(e);
    ++axis;
  };
  for (const Index &ix : index) {
    const auto &v = ix.value();
    if (std::holds_alternative<EllipsisT>(v)) {
      entries.push_back(Entry{Entry::Kind::Ellipsis});
      for (int64_t k = 0; k < ndim - consumed; ++k)
        add_full_slice();
    } else if (std::holds_alternative<NewAxisT>(v)) {
      entries.push_back(Entry{Entry::Kind::NewAxis});
    } else if (const Slice *s = std::get_if<Slice>(&v)) {
      Entry e{Entry::Kind::Slice};
      e.axis = axis;
      resolve_slice(*s, shape[size_t(axis)], e);
      entries.push_back(e);
      ++axis;
    } else {
      Entry e{Entry::Kind::Int};
      e.axis = axis;
      int64_t i = 0;
      if (const int64_t *p = std::get_if<int64_t>(&v)) {
        i = *p;
      } else {
        const Tensor &t = *std::get<std::shared_ptr<const Tensor>>(v);
        if (t.ndim() > 0)
          e.kind = Entry::Kind::Array, e.array = &t;
        else
          i = static_cast<const int64_t *>(t.raw())[0]; // a 0-d array acts as an integer
      }
      if (e.kind == Entry::Kind::Int)
        e.value = wrap_index(i, axis, shape[size_t(axis)]);
      entries.push_back(e);
      ++axis;
    }
  }
  while (axis < ndim)
    add_full_slice();

  // 3. The advanced block: index arrays (and integers, when arrays are present).
  std::vector<const Entry *> adv;
  std::vector<const Tensor *> arrays;
  bool adjacent = true;
  int64_t first_adv = -1, last_adv = -1;
  for (size_t k = 0; k < entries.size(); ++k) {
    const Entry &e = entries[k];
    const bool is_adv = e.kind == Entry::Kind::Array || (has_array && e.kind == Entry::Kind::Int);
    if (!is_adv)
      continue;
    adv.push_back(&e);
    if (e.array)
      arrays.push_back(e.array);
    if (last_adv >= 0 && last_adv != int64_t(k) - 1)
      adjacent = false;
    if (first_adv < 0)
      first_adv = int64_t(k);
    last_adv = int64_t(k);
  }

  // 4. The output as a list of "virtual dims", each a table of input-offset contributions;
  // the advanced block is one virtual dim whose size is that of its broadcast shape.
  IndexPlan plan;
  plan.in_shape = shape;
  std::vector<std::vector<int64_t>> dims;
  int64_t base = 0;
  Shape bshape;
  std::vector<int64_t> adv_table;
  if (has_array) {
    bshape = broadcast_index_shapes(arrays);
    adv_table = advanced_offsets(adv, bshape, shape, stride);
  }
  auto add_adv_block = [&] {
    plan.out_shape.insert(plan.out_shape.end(), bshape.begin(), bshape.end());
    dims.push_back(adv_table);
  };
  if (has_array && !adjacent)
    add_adv_block();
  for (size_t k = 0; k < entries.size(); ++k) {
    const Entry &e = entries[k];
    if (has_array && int64_t(k) == first_adv && adjacent)
      add_adv_block();
    if (e.kind == Entry::Kind::Slice) {
      std::vector<int64_t> table(size_t(e.length));
      for (int64_t i = 0; i < e.length; ++i)
        table[size_t(i)] = (e.start + i * e.step) * stride[size_t(e.axis)];
      plan.out_shape.push_back(e.length);
      dims.push_back(std::move(table));
    } else if (e.kind == Entry::Kind::NewAxis) {
      plan.out_shape.push_back(1);
      dims.push_back({0});
    } else if (e.kind == Entry::Kind::Int && !has_array) {
      base += e.value * stride[size_t(e.axis)];
    }
  }

  // 5. Every output element's offset, by an odometer over the virtual dims.
  const int64_t n = shape_size(plan.out_shape);
  plan.offsets.resize(size_t(n));
  if (n == 0)
    return plan;
  std::vector<size_t> pos(dims.size(), 0);
  std::vector<int64_t> partial(dims.size() + 1, base); // partial[d]: sum over dims < d
  for (size_t d = 0; d < dims.size(); ++d)
    partial[d + 1] = partial[d] + dims[d][0];
  for (int64_t j = 0; j < n; ++j) {
    plan.offsets[size_t(j)] = partial[dims.size()];
    size_t d = dims.size();
    while (d-- > 0) {
      if (++pos[d] < dims[d].size())
        break;
      pos[d] = 0;
    }
    if (d == size_t(-1))
      break;
    for (size_t k = d; k < dims.size(); ++k)
      partial[k + 1] = partial[k] + dims[k][pos[k]];
  }
  return plan;
}
} // namespace

namespace {

void check_offsets(const IndexPlan &plan, const char *op) {
  const int64_t in_size = shape_size(plan.in_shape);
  if (int64_t(plan.offsets.size()) != shape_size(plan.out_shape))
    throw Error(std::string(op) + ": the plan has " + std::to_string(plan.offsets.size()) +
                " offsets for an output of shape " + shape_str(plan.out_shape));
  for (int64_t o : plan.offsets)
    if (o < 0 || o >= in_size)
      throw Error(std::string(op) + ": the plan has offset " + std::to_string(o) +
                  " outside an input of shape " + shape_str(plan.in_shape));
}

template <typename T> void gather_typed(const void *x, void *y, const std::vector<int64_t> &off) {
  const T *src = static_cast<const T *>(x);
  T *dst = static_cast<T *>(y);
  const int64_t n = int64_t(off.size());
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i)
    dst[i] = src[off[size_t(i)]];
}

template <typename T>
void scatter_add_typed(void *y, const void *s, const std::vector<int64_t> &off) {
  T *dst = static_cast<T *>(y);
  const T *src = static_cast<const T *>(s);
  for (size_t i = 0; i < off.size(); ++i) {
    if constexpr (std::is_same_v<T, bool>)
      dst[off[i]] = dst[off[i]] || src[i];
    else
      dst[off[i]] = T(dst[off[i]] + src[i]);
  }
}

} // namespace

namespace direct {

void gather(const IndexPlan &plan, size_t elem_bytes, const void *x, void *y) {
  switch (elem_bytes) {
  case 1:
    return gather_typed<uint8_t>(x, y, plan.offsets);
  case 4:
    return gather_typed<uint32_t>(x, y, plan.offsets);
  default:
    return gather_typed<uint64_t>(x, y, plan.offsets);
  }
}

} // namespace direct

Tensor gather(const Tensor &x, const IndexPlan &plan) {
  if (x.shape() != plan.in_shape)
    throw Error("gather: the tensor has shape " + shape_str(x.shape()) +
                " but the index plan was made for shape " + shape_str(plan.in_shape));
  check_offsets(plan, "gather");
  if (!x.device().is_cpu())
    return detail::device::gather(x, plan);
  Tensor y(plan.out_shape, x.dtype());
  switch (dtype_size(x.dtype())) {
  case 1:
    gather_typed<uint8_t>(x.raw(), y.raw(), plan.offsets);
    break;
  case 4:
    gather_typed<uint32_t>(x.raw(), y.raw(), plan.offsets);
    break;
  default:
    gather_typed<uint64_t>(x.raw(), y.raw(), plan.offsets);
    break;
  }
  return y;
}

Tensor scatter_add(const IndexPlan &plan, const Tensor &src) {
  if (src.shape() != plan.out_shape)
    throw Error("scatter_add: src has shape " + shape_str(src.shape()) +
                " but the index plan produces shape " + shape_str(plan.out_shape));
  check_offsets(plan, "scatter_add");
  if (!src.device().is_cpu())
    return detail::device::scatter_add(plan, src);
  Tensor y = zeros(plan.in_shape, src.dtype());
  switch (src.dtype()) {
  case f32:
    scatter_add_typed<float>(y.raw(), src.raw(), plan.offsets);
    break;
  case f64:
    scatter_add_typed<double>(y.raw(), src.raw(), plan.offsets);
    break;
  case i64:
    scatter_add_typed<int64_t>(y.raw(), src.raw(), plan.offsets);
    break;
  case i32:
    scatter_add_typed<int32_t>(y.raw(), src.raw(), plan.offsets);
    break;
  case u8:
    scatter_add_typed<uint8_t>(y.raw(), src.raw(), plan.offsets);
    break;
  case b8:
    scatter_add_typed<bool>(y.raw(), src.raw(), plan.offsets);
    break;
  default:
    throw Error(std::string("scatter_add: dtype ") + dtype_name(src.dtype()) +
                " is stored but not computed on: convert it first (astype float32, float64 or "
                "int64)");
  }
  return y;
}

} // namespace dz
