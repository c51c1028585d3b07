// device_ops.cpp - tensor operations on a device, from the backend's primitives
// (device_ops.h).
#include "device_ops.h"

#include "kernels.h"

#include <algorithm>
#include <limits>
#include <type_traits>

namespace dz::detail::device {

namespace {

std::string where_is(const Tensor &t) {
  return t.device().str() + " (shape " + shape_str(t.shape()) + ")";
}

} // namespace

Device op_device(const char *op, std::initializer_list<const Tensor *> ts) {
  const Tensor *first = nullptr; // the first tensor on a device
  for (const Tensor *t : ts)
    if (t && t->defined() && !t->device().is_cpu()) {
      first = t;
      break;
    }
  if (!first)
    return Device::cpu();
  for (const Tensor *t : ts) {
    if (!t || !t->defined() || t->device() == first->device())
      continue;
    if (t->device().is_cpu() && t->ndim() == 0)
      continue; // a scalar joins the device
    throw Error(std::string(op) + ": operands are on different devices, " + where_is(*first) +
                " and " + where_is(*t) + "; move one with .to(Device)");
  }
  return first->device();
}

namespace {

/// A 0-d CPU tensor as a map's scalar operand (passed with the launch).
MapOperand scalar_operand(const Tensor &t, size_t rank) {
  MapOperand o{nullptr, t.dtype(), Shape(rank, 0), {}};
  visit_dtype(t.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T v = *t.data<T>();
    if constexpr (std::is_floating_point_v<T>)
      o.value.f = double(v);
    else
      o.value.i = int64_t(v);
  });
  return o;
}

} // namespace

Tensor on(const Tensor &t, Device dev) {
  if (t.device() == dev)
    return t;
  // Not t.to(dev): that refuses to run inside a trace, and this move is internal to an op.
  Tensor out(t.shape(), t.dtype(), dev);
  copy_bytes(out, t);
  return out;
}

void map_into(Tensor &out, MapOp op, std::initializer_list<Tensor> in) {
  if (int(in.size()) != map_arity(op))
    throw Error(std::string("internal: map ") + map_op_name(op) + " of " +
                std::to_string(in.size()) + " operands");
  if (out.size() == 0)
    return;
  const Device dev = out.device();
  std::vector<Tensor> keep; // operands copied to the device live until the call returns
  std::vector<MapOperand> operands;
  for (const Tensor &t : in) {
    if (t.device().is_cpu() && t.ndim() == 0 && !dev.is_cpu()) {
      operands.push_back(scalar_operand(t, out.shape().size())); // no upload
      continue;
    }
    keep.push_back(on(t, dev));
    operands.push_back({keep.back().raw(), t.dtype(), broadcast_strides(t.shape(), out.shape())});
  }
  device_backend(dev).map(op, out.raw(), out.dtype(), out.shape(), operands);
}

Tensor map(Device dev, MapOp op, DType dtype, const Shape &shape,
           std::initializer_list<Tensor> in) {
  Tensor out(shape, dtype, dev);
  map_into(out, op, in);
  return out;
}

Tensor strided_copy(const Tensor &src, const Shape &strides, const Shape &shape) {
  Tensor out(shape, src.dtype(), src.device());
  if (out.size() == 0)
    return out;
  device_backend(src.device())
      .map(MapOp::cast, out.raw(), out.dtype(), shape, {{src.raw(), src.dtype(), strides}});
  return out;
}

Tensor reduce(ReduceOp op, const Tensor &x, const std::vector<int64_t> &axes, bool keepdims,
              DType out_dtype) {
  Shape out_shape = reduced_shape(x.shape(), axes, keepdims);
  Shape kept = reduced_shape(x.shape(), axes, false);
  Tensor out(kept, out_dtype, x.device());
  if (x.size() == 0) {
    fill(out, 0);
  } else if (out.size() > 0) {
    std::vector<bool> reduced(x.shape().size(), false);
    for (int64_t a : axes)
      reduced[size_t(a)] = true;
    device_backend(x.device())
        .reduce(op, out.raw(), out_dtype, x.raw(), x.dtype(), x.shape(), reduced);
  }
  return out.reshape(out_shape);
}

Tensor argmax(const Tensor &x, int64_t axis, bool keepdims) {
  return reduce(ReduceOp::argmax, x, {axis}, keepdims, i64);
}

Tensor softmax_last(const Tensor &x, bool logsumexp) {
  const int64_t cols = x.ndim() ? x.shape().back() : 1, rows = cols ? x.size() / cols : 0;
  Shape shape = x.shape();
  if (logsumexp && !shape.empty())
    shape.back() = 1;
  Tensor out(shape, x.dtype(), x.device());
  if (logsumexp && cols == 0)
    fill(out, -std::numeric_limits<double>::infinity()); // log of an empty sum
  device_backend(x.device()).softmax_rows(out.raw(), x.raw(), x.dtype(), rows, cols, logsumexp);
  return out;
}

Tensor matmul(const Tensor &a, const Tensor &b, bool ta, bool tb) {
  // The caller (matmul.cpp) has checked the shapes and converted both to one dtype.
  if (!is_floating(a.dtype()))
    throw Error(std::string("matmul: dtype ") + dtype_name(a.dtype()) + " is not supported on " +
                a.device().str() + " (use float32 or float64)");
  const bool batched = a.ndim() == 3;
  int64_t batch = batched ? a.shape(0) : 1;
  int64_t M = ta ? a.shape(-1) : a.shape(-2), K = ta ? a.shape(-2) : a.shape(-1);
  int64_t N = tb ? b.shape(-2) : b.shape(-1);
  Tensor out(batched ? Shape{batch, M, N} : Shape{M, N}, a.dtype(), a.device());
  if (out.size() == 0)
    return out;
  if (K == 0) {
    fill(out, 0);
    return out;
  }
  device_backend(a.device())
      .gemm(a.dtype(), ta, tb, batch, M, N, K, a.raw(), M * K, b.raw(), K * N, 0.0, out.raw());
  return out;
}

Tensor linear(const Tensor &x, const Tensor &W, const Tensor *b) {
  int64_t N = x.shape(0), K = x.shape(1), M = W.shape(1);
  if (!is_floating(x.dtype()))
    throw Error(std::string("linear: dtype ") + dtype_name(x.dtype()) + " is not supported on " +
                x.device().str() + " (use float32 or float64)");
  Tensor out;
  if (b) {
    Tensor bias = on(b->to(x.dtype()), x.device()).reshape({M});
    out = strided_copy(bias, {0, 1}, {N, M});
  } else {
    out = Tensor({N, M}, x.dtype(), x.device());
    if (K == 0)
      fill(out, 0);
  }
  if (K > 0 && out.size() > 0)
    device_backend(x.device())
        .gemm(x.dtype(), false, false, 1, N, M, K, x.raw(), 0, W.raw(), 0, b ? 1.0 : 0.0,
              out.raw());
  return out;
}

namespace {
Tensor offsets_on(const IndexPlan &plan, Device dev) {
  return on(Tensor::from_buffer(plan.offsets.data(), {int64_t(plan.offsets.size())}, i64), dev);
}
} // namespace

Tensor gather(const Tensor &x, const IndexPlan &plan) {
  Tensor y(plan.out_shape, x.dtype(), x.device());
  if (y.size() == 0)
    return y;
  Tensor off = offsets_on(plan, x.device());
  device_backend(x.device()).gather(y.raw(), x.raw(), x.dtype(), off.raw(), y.size());
  return y;
}

Tensor scatter_add(const IndexPlan &plan, const Tensor &src) {
  DType dt = src.dtype();
  if (dt != f32 && dt != f64 && dt != i64 && dt != i32)
    throw Error(std::string("scatter_add: dtype ") + dtype_name(dt) + " is not supported on " +
                src.device().str() + " (valid: float32, float64, int64, int32)");
  Tensor y(plan.in_shape, dt, src.device());
  fill(y, 0);
  if (src.size() == 0)
    return y;
  Tensor off = offsets_on(plan, src.device());
  device_backend(src.device()).scatter_add(y.raw(), src.raw(), dt, off.raw(), src.size());
  return y;
}

void fill(Tensor &t, double v) {
  if (t.size() == 0)
    return;
  device_backend(t.device())
      .map(MapOp::cast, t.raw(), t.dtype(), t.shape(),
           {scalar_operand(Tensor::scalar(v, t.dtype()), t.shape().size())});
}

Tensor cached_arange(int64_t n, Device dev) {
  static KeptOnDevice<int64_t> kept;
  return kept.get(n, dev, [n] { return arange(0, double(n), 1, i64); });
}

void copy_bytes(const Tensor &dst, const Tensor &src) {
  size_t n = dst.nbytes();
  if (n != src.nbytes())
    throw Error("internal: copy_bytes of " + std::to_string(src.nbytes()) + " into " +
                std::to_string(n) + " bytes");
  if (n == 0)
    return;
  const Device d = dst.device(), s = src.device();
  if (d.is_cpu() && s.is_cpu())
    std::memmove(dst.raw(), src.raw(), n);
  else if (d.is_cpu())
    device_backend(s).copy_to_host(dst.raw(), src.raw(), n);
  else if (s.is_cpu())
    device_backend(d).copy_to_device(dst.raw(), src.raw(), n);
  else if (d == s)
    device_backend(d).copy_on_device(dst.raw(), src.raw(), n);
  else { // two GPUs: through the host
    std::vector<char> host(n);
    device_backend(s).copy_to_host(host.data(), src.raw(), n);
    device_backend(d).copy_to_device(dst.raw(), host.data(), n);
  }
}

} // namespace dz::detail::device
