// losses.cpp - one_hot and softmax_cross_entropy on tensors, for the eager
// SoftmaxCrossEntropy (frontend/src/functions.cpp) and the compiled dz ops of the same
// names (codegen/cpu/KernelTable.cpp). On the CPU they are direct loops; on a device, the
// same sums from tensor operations (a label compare for the one-hot rows).
#include "device_ops.h"
#include "kernels.h"

#include <dzc/device_backend.h>
#include <dzc/direct_kernels.h>
#include <dzc/trace_hook.h>

#include <algorithm>
#include <cstring>

namespace dz {

using namespace detail;

namespace {
/// Throws naming the first of the n labels outside [0, classes).
void check_label_range(const int64_t *labels, int64_t n, int64_t classes, const char *op) {
  for (int64_t i = 0; i < n; ++i)
    if (labels[i] < 0 || labels[i] >= classes)
      throw Error(std::string(op) + ": label " + std::to_string(labels[i]) + " at row " +
                  std::to_string(i) + " is out of range for " + std::to_string(classes) +
                  " classes (valid: 0 to " + std::to_string(classes - 1) + ")");
}
} // namespace

void check_class_labels(const Tensor &labels, int64_t classes, const char *op) {
  TraceScope no_trace;                               // a check, not part of a traced computation
  const Tensor t = labels.to(Device::cpu()).to(i64); // a device's labels come back once
  check_label_range(t.data<int64_t>(), t.size(), classes, op);
}

namespace {
template <typename T> void set_ones(Tensor &out, const int64_t *labels, int64_t n, int64_t c) {
  T *p = out.data<T>();
  for (int64_t i = 0; i < n; ++i)
    p[i * c + labels[i]] = T(1);
}
} // namespace

Tensor one_hot(const Tensor &labels, int64_t classes, DType dtype, LabelCheck check) {
  TraceScope no_trace; // not a traced op: under dz::compile its result is a constant
  if (check == LabelCheck::Check)
    check_class_labels(labels, classes, "one_hot");
  const int64_t n = labels.size();
  if (!labels.device().is_cpu()) {
    const Tensor ids = device::cached_arange(classes, labels.device());
    return (labels.to(i64).reshape({n, 1}) == ids).to(dtype);
  }
  Tensor t = labels.to(i64);
  Tensor out = zeros({n, classes}, dtype);
  const int64_t *pt = t.data<int64_t>();
  visit_numeric(dtype, "one_hot",
                [&](auto tag) { set_ones<typename decltype(tag)::type>(out, pt, n, classes); });
  return out;
}

Tensor softmax_cross_entropy(const Tensor &x, const Tensor &labels, LabelCheck check) {
  if (x.ndim() != 2 || !is_floating(x.dtype()))
    throw Error("softmax_cross_entropy: needs float scores of shape (N, C), got " +
                shape_str(x.shape()) + " " + dtype_name(x.dtype()));
  const int64_t N = x.shape(0), C = x.shape(1);
  if (labels.size() != N)
    throw Error("softmax_cross_entropy: " + std::to_string(labels.size()) +
                " labels for scores of shape " + shape_str(x.shape()));
  if (check == LabelCheck::Check)
    check_class_labels(labels, C, "softmax_cross_entropy");
  if (!x.device().is_cpu()) { // one kernel: the rows' logsumexp, the picked scores, the mean
    if (C == 0 && N > 0)
      throw Error("softmax_cross_entropy: scores of shape " + shape_str(x.shape()) +
                  " have no classes");
    if (labels.device() != x.device())
      throw Error("softmax_cross_entropy: the scores are on " + x.device().str() +
                  " and the labels on " + labels.device().str() + "; move both to one device");
    const Tensor t = labels.to(i64);
    Tensor out(Shape{}, x.dtype(), x.device());
    device_backend(x.device()).softmax_cross_entropy(out.raw(), x.raw(), t.raw(), x.dtype(), N, C);
    return out;
  }
  Tensor log_z = logsumexp(x, 1, false).to(f64);
  Tensor x64 = x.to(f64);
  Tensor t = labels.to(i64);
  const double *px = x64.data<double>(), *pz = log_z.data<double>();
  const int64_t *pt = t.data<int64_t>();
  double total = 0;
  for (int64_t i = 0; i < N; ++i)
    total += px[i * C + pt[i]] - pz[i];
  return Tensor::scalar(-total / double(N), x.dtype()); // N = 0: NaN, the mean of nothing
}

namespace direct {

void softmax_cross_entropy(DType dt, const void *x, const int64_t *labels, void *out, int64_t N,
                           int64_t C, void *scratch) {
  check_label_range(labels, N, C, "softmax_cross_entropy");
  lse_rows(dt, x, scratch, N, C);
  visit_float(dt, "softmax_cross_entropy", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *px = static_cast<const T *>(x), *pz = static_cast<const T *>(scratch);
    double total = 0;
    for (int64_t i = 0; i < N; ++i)
      total += double(px[i * C + labels[i]]) - double(pz[i]);
    *static_cast<T *>(out) = T(-total / double(N));
  });
}

void one_hot(DType dt, const int64_t *labels, void *out, int64_t N, int64_t C, bool check) {
  if (check)
    check_label_range(labels, N, C, "one_hot");
  if (N * C == 0)
    return;
  std::memset(out, 0, size_t(N * C) * dtype_size(dt));
  visit_numeric(dt, "one_hot", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T *p = static_cast<T *>(out);
    for (int64_t i = 0; i < N; ++i)
      p[i * C + labels[i]] = T(1);
  });
}

} // namespace direct

} // namespace dz
