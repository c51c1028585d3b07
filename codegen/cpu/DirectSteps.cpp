// DirectSteps.cpp - the direct form of the executor's steps (Step::direct): for an op whose
// static types a kernel of dzc/direct_kernels.h covers, a plain function over the buffers
// of the run, with the sizes computed here once. The kernels are the eager functions'
// loops, so a direct run computes bitwise what the tensor kernels compute. An op (or a
// type) not covered here keeps only its tensor kernel, and its program runs as before.
#include "KernelTable.h"

#include <dzc/direct_kernels.h>

#include <cstring>
#include <memory>
#include <vector>

namespace dz::codegen {

namespace {

using Args = Step::DirectArgs;

const void *in(void **buf, const Step &s, size_t i) { return buf[size_t(s.in[i])]; }
void *out(void **buf, const Step &s) { return buf[size_t(s.outs[0])]; }

/// memcpy that accepts the null buffers of values of no bytes.
void copy_bytes(void *to, const void *from, size_t bytes) {
  if (bytes)
    std::memcpy(to, from, bytes);
}

/// A constant: its buffer, or a copy of it where the result has its own (a program result).
void run_constant(const Step &s, void **buf) {
  const Tensor &c = *static_cast<const Tensor *>(s.direct_args.data);
  if (s.direct_args.code)
    copy_bytes(out(buf, s), c.raw(), c.nbytes());
  else
    buf[size_t(s.outs[0])] = const_cast<void *>(c.raw());
}

/// A reshape: its operand's buffer, or a copy of it where the result has its own (a program
/// result).
void run_reshape(const Step &s, void **buf) {
  if (s.direct_args.code)
    copy_bytes(out(buf, s), in(buf, s, 0), size_t(s.direct_args.n[0]));
  else
    buf[size_t(s.outs[0])] = const_cast<void *>(in(buf, s, 0));
}

void run_copy(const Step &s, void **buf) {
  copy_bytes(out(buf, s), in(buf, s, 0), size_t(s.direct_args.n[0]));
}

void run_unary(const Step &s, void **buf) {
  const Args &a = s.direct_args;
  direct::unary(MapOp(a.code), a.dtype, in(buf, s, 0), out(buf, s), a.n[0]);
}

void run_binary(const Step &s, void **buf) {
  const Args &a = s.direct_args;
  direct::binary(MapOp(a.code), a.dtype, in(buf, s, 0), a.n[1], in(buf, s, 1), a.n[2], out(buf, s),
                 a.n[0]);
}

void run_matmul(const Step &s, void **buf) {
  const Args &a = s.direct_args;
  direct::matmul(a.dtype, a.code & 1, a.code & 2, a.n[0], a.n[1], a.n[2], a.n[3], in(buf, s, 0),
                 in(buf, s, 1), out(buf, s));
}

void run_linear(const Step &s, void **buf) {
  const Args &a = s.direct_args;
  direct::linear(a.dtype, a.n[0], a.n[1], a.n[2], in(buf, s, 0), in(buf, s, 1),
                 s.in.size() == 3 ? in(buf, s, 2) : nullptr, out(buf, s));
}

void run_sum(const Step &s, void **buf) {
  const Args &a = s.direct_args;
  direct::sum_3d(a.dtype, in(buf, s, 0), out(buf, s), a.n[0], a.n[1], a.n[2]);
}

void run_softmax(const Step &s, void **buf) {
  const Args &a = s.direct_args;
  direct::softmax_rows(a.dtype, in(buf, s, 0), out(buf, s), a.n[0], a.n[1]);
}

void run_softmax_cross_entropy(const Step &s, void **buf) {
  const Args &a = s.direct_args;
  thread_local std::vector<double> scratch; // N values, float or double
  if (scratch.size() < size_t(a.n[0]))
    scratch.resize(size_t(a.n[0]));
  direct::softmax_cross_entropy(a.dtype, in(buf, s, 0), static_cast<const int64_t *>(in(buf, s, 1)),
                                out(buf, s), a.n[0], a.n[1], scratch.data());
}

void run_one_hot(const Step &s, void **buf) {
  const Args &a = s.direct_args;
  direct::one_hot(a.dtype, static_cast<const int64_t *>(in(buf, s, 0)), out(buf, s), a.n[0], a.n[1],
                  a.code != 0);
}

void run_mean_squared_error(const Step &s, void **buf) {
  const Args &a = s.direct_args;
  direct::mean_squared_error(a.dtype, in(buf, s, 0), in(buf, s, 1), out(buf, s), a.n[0], a.n[1]);
}

void run_gather(const Step &s, void **buf) {
  direct::gather(*static_cast<const IndexPlan *>(s.direct_args.data),
                 dtype_size(s.direct_args.dtype), in(buf, s, 0), out(buf, s));
}

void run_gather_runs(const Step &s, void **buf) {
  static_cast<const GatherRuns *>(s.direct_args.data)->copy(in(buf, s, 0), out(buf, s));
}

bool same_dtypes(const OpView &v) {
  for (const TensorSpec &t : v.in_types)
    if (t.dtype != v.out.dtype)
      return false;
  return true;
}

/// Tensor::sum_to's reduction as one (outer, red, inner) sum, or false when the summed axes
/// are not adjacent (the eager sum reduces each run of adjacent axes in turn).
bool sum_to_as_3d(const Shape &from, const Shape &to, int64_t n[3]) {
  const int64_t lead = int64_t(from.size()) - int64_t(to.size());
  if (lead < 0)
    return false;
  std::vector<int64_t> axes;
  for (int64_t i = 0; i < lead; ++i)
    axes.push_back(i);
  for (size_t i = 0; i < to.size(); ++i) {
    const int64_t d = from[size_t(lead) + i];
    if (to[i] == 1 && d != 1)
      axes.push_back(lead + int64_t(i));
    else if (to[i] != d)
      return false;
  }
  if (axes.empty())
    return false;
  for (size_t i = 1; i < axes.size(); ++i)
    if (axes[i] != axes[i - 1] + 1)
      return false;
  n[0] = n[1] = n[2] = 1;
  for (int64_t d = 0; d < int64_t(from.size()); ++d)
    n[d < axes.front() ? 0 : d <= axes.back() ? 1 : 2] *= from[size_t(d)];
  return true;
}

} // namespace

void GatherRuns::copy(const void *from, void *to) const {
  const char *src = static_cast<const char *>(from);
  char *dst = static_cast<char *>(to);
  const int64_t n = int64_t(starts.size()), run = int64_t(run_bytes);
#pragma omp parallel for if (n * run > (1 << 20))
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(dst + i * run, src + starts[size_t(i)], run_bytes);
}

std::shared_ptr<GatherRuns> gatherRuns(const std::vector<int64_t> &offsets, size_t elem_bytes) {
  size_t run = 1;
  while (run < offsets.size() && offsets[run] == offsets[0] + int64_t(run))
    ++run;
  if (run < 8 || offsets.size() % run)
    return nullptr;
  auto g = std::make_shared<GatherRuns>();
  g->run_bytes = run * elem_bytes;
  for (size_t i = 0; i < offsets.size(); i += run) {
    for (size_t j = 1; j < run; ++j)
      if (offsets[i + j] != offsets[i] + int64_t(j))
        return nullptr;
    g->starts.push_back(offsets[i] * int64_t(elem_bytes));
  }
  return g;
}

bool setDirectForm(OpView &v, Step &step, const Tensor *constant) {
  const std::string_view name = step.op_name();
  Args &a = step.direct_args;
  const int64_t size = shape_size(v.out.shape);
  a.dtype = v.out.dtype;
  Step::DirectFn fn = nullptr;

  if (name == "dz.constant" && constant) {
    auto keep = std::make_shared<Tensor>(*constant);
    a.data = keep.get();
    a.keep = std::move(keep);
    fn = run_constant;
  } else if (name == "dz.reshape") {
    a.n[0] = size * int64_t(dtype_size(a.dtype));
    fn = run_reshape; // code (copy or alias) is set with the buffers (ExecutorBuild.cpp)
  } else if (std::optional<MapOp> op = find_op(name.substr(3));
             op && v.in.size() == 1 && same_dtypes(v) && direct::has_unary(*op, a.dtype)) {
    a.code = int64_t(*op);
    a.n[0] = size;
    fn = run_unary;
  } else if (std::optional<MapOp> op = find_op(name.substr(3));
             op && v.in.size() == 2 && same_dtypes(v) && direct::has_binary(*op, a.dtype) &&
             (shape_size(v.in_types[0].shape) == 1 || v.in_types[0].shape == v.out.shape) &&
             (shape_size(v.in_types[1].shape) == 1 || v.in_types[1].shape == v.out.shape)) {
    a.code = int64_t(*op);
    a.n[0] = size;
    a.n[1] = v.in_types[0].shape == v.out.shape ? 1 : 0;
    a.n[2] = v.in_types[1].shape == v.out.shape ? 1 : 0;
    fn = run_binary;
  } else if (name == "dz.matmul" && same_dtypes(v)) {
    const Shape &x = v.in_types[0].shape, &y = v.in_types[1].shape;
    auto ta = v.bool_attr("transpose_a", false), tb = v.bool_attr("transpose_b", false);
    const bool plain =
        (x.size() == 2 && y.size() == 2) || (x.size() == 3 && y.size() == 3 && x[0] == y[0]);
    // (..., M, K) x (K, N): the batch dimensions fold into M, one GEMM (the projections of
    // a transformer's (batch, sequence, feature) activations).
    const bool folded = x.size() > 2 && y.size() == 2 && succeeded(ta) && !*ta;
    if (succeeded(ta) && succeeded(tb) && folded && a.dtype != b8 && a.dtype != u8) {
      a.n[0] = 1;
      a.n[1] = shape_size(Shape(x.begin(), x.end() - 1));
      a.n[2] = *tb ? y[0] : y[1];
      a.n[3] = x.back();
      a.code = *tb ? 2 : 0;
      fn = run_matmul;
    } else if (succeeded(ta) && succeeded(tb) && plain && a.dtype != b8 && a.dtype != u8) {
      const size_t r = x.size();
      a.n[0] = r == 3 ? x[0] : 1;
      a.n[1] = *ta ? x[r - 1] : x[r - 2]; // M
      a.n[2] = *tb ? y[r - 2] : y[r - 1]; // N
      a.n[3] = *ta ? x[r - 2] : x[r - 1]; // K
      a.code = (*ta ? 1 : 0) | (*tb ? 2 : 0);
      fn = run_matmul;
    }
  } else if (name == "dz.linear" && same_dtypes(v) && is_floating(a.dtype) &&
             v.in_types[0].shape.size() == 2 && v.in_types[1].shape.size() == 2) {
    a.n[0] = v.in_types[0].shape[0];
    a.n[1] = v.in_types[0].shape[1];
    a.n[2] = v.in_types[1].shape[1];
    fn = run_linear;
  } else if (name == "dz.sum_to" && v.in_types[0].shape == v.out.shape &&
             v.in_types[0].dtype == a.dtype) {
    a.n[0] = size * int64_t(dtype_size(a.dtype));
    fn = run_copy;
  } else if (name == "dz.sum_to" &&
             a.dtype == (is_floating(v.in_types[0].dtype) ? v.in_types[0].dtype : i64) &&
             sum_to_as_3d(v.in_types[0].shape, v.out.shape, a.n)) {
    a.dtype = v.in_types[0].dtype;
    fn = run_sum;
  } else if (name == "dz.softmax" && same_dtypes(v) && is_floating(a.dtype) &&
             !v.out.shape.empty()) {
    auto axis = v.i64_attr("axis");
    const int64_t rank = int64_t(v.out.shape.size());
    if (succeeded(axis) && (*axis == rank - 1 || *axis == -1)) {
      a.n[1] = v.out.shape.back();
      a.n[0] = a.n[1] ? size / a.n[1] : 0;
      fn = run_softmax;
    }
  } else if (name == "dz.softmax_cross_entropy" && is_floating(a.dtype) &&
             v.in_types[0].dtype == a.dtype && v.in_types[0].shape.size() == 2 &&
             v.in_types[1].dtype == i64 && v.in_types[1].shape.size() == 1 &&
             v.in_types[1].shape[0] == v.in_types[0].shape[0]) {
    a.n[0] = v.in_types[0].shape[0];
    a.n[1] = v.in_types[0].shape[1];
    fn = run_softmax_cross_entropy;
  } else if (name == "dz.one_hot" && v.in_types[0].dtype == i64 && a.dtype != b8 &&
             v.out.shape.size() == 2) {
    a.n[0] = v.out.shape[0];
    a.n[1] = v.out.shape[1];
    a.code = labelsCheckedBefore(v.op) ? 0 : 1;
    fn = run_one_hot;
  } else if (name == "dz.mean_squared_error" && same_dtypes(v) && is_floating(a.dtype) &&
             v.in_types[0].shape == v.in_types[1].shape) {
    const Shape &x = v.in_types[0].shape;
    a.n[0] = shape_size(x);
    a.n[1] = x.empty() ? 1 : x[0];
    fn = run_mean_squared_error;
  } else if (name == "dz.get_item" && same_dtypes(v)) {
    auto offsets = v.i64_array_attr("offsets", /*optional=*/false);
    const int64_t in_size = shape_size(v.in_types[0].shape);
    if (succeeded(offsets) && int64_t(offsets->size()) == size &&
        std::all_of(offsets->begin(), offsets->end(),
                    [&](int64_t o) { return o >= 0 && o < in_size; })) {
      if (auto runs = gatherRuns(*offsets, dtype_size(a.dtype))) {
        a.data = runs.get();
        a.keep = std::move(runs);
        step.direct = run_gather_runs;
        return true;
      }
      auto plan = std::make_shared<IndexPlan>(
          IndexPlan{v.in_types[0].shape, v.out.shape, std::move(*offsets)});
      a.data = plan.get();
      a.keep = std::move(plan);
      fn = run_gather;
    }
  }
  step.direct = fn;
  return fn != nullptr;
}

} // namespace dz::codegen
