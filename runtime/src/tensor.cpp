// tensor.cpp - dz::Tensor core: dtypes, shapes, the caching allocator, creation
// functions, dtype conversion and the shape operations (reshape, transpose, broadcast).
#include "device_ops.h"
#include "kernels.h"

#include <dzc/trace_hook.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <numeric>
#include <sstream>
#include <unordered_map>

namespace dz {

using namespace detail;

// ---- dtypes and shapes -------------------------------------------------------------------

size_t dtype_size(DType t) {
  switch (t) {
  case DType::f64:
  case DType::i64:
  case DType::u64:
    return 8;
  case DType::f32:
  case DType::i32:
  case DType::u32:
    return 4;
  case DType::i16:
  case DType::u16:
  case DType::f16:
  case DType::bf16:
    return 2;
  case DType::u8:
  case DType::b8:
  case DType::i8:
    return 1;
  }
  return 0;
}

const char *dtype_name(DType t) {
  switch (t) {
  case DType::f32:
    return "float32";
  case DType::f64:
    return "float64";
  case DType::i64:
    return "int64";
  case DType::i32:
    return "int32";
  case DType::u8:
    return "uint8";
  case DType::b8:
    return "bool";
  case DType::i8:
    return "int8";
  case DType::i16:
    return "int16";
  case DType::u16:
    return "uint16";
  case DType::u32:
    return "uint32";
  case DType::u64:
    return "uint64";
  case DType::f16:
    return "float16";
  case DType::bf16:
    return "bfloat16";
  }
  return "?";
}

bool is_floating(DType t) {
  return t == DType::f32 || t == DType::f64 || t == DType::f16 || t == DType::bf16;
}

bool is_compute_dtype(DType t) {
  return t == DType::f32 || t == DType::f64 || t == DType::i64 || t == DType::i32 ||
         t == DType::u8 || t == DType::b8;
}

DType promote(DType a, DType b) {
  if (a == b || b == DType::b8)
    return a;
  if (a == DType::b8)
    return b;
  if (is_floating(a) || is_floating(b)) {
    if (!is_floating(a))
      return b;
    if (!is_floating(b))
      return a;
    if (a == DType::f64 || b == DType::f64)
      return DType::f64;
    return DType::f32; // f32 with a 16-bit float, or float16 with bfloat16
  }
  auto is_signed = [](DType t) {
    return t == DType::i8 || t == DType::i16 || t == DType::i32 || t == DType::i64;
  };
  const size_t sa = dtype_size(a), sb = dtype_size(b);
  if (is_signed(a) == is_signed(b))
    return sa >= sb ? a : b;
  const DType s = is_signed(a) ? a : b, u = is_signed(a) ? b : a;
  if (dtype_size(s) > dtype_size(u))
    return s;
  switch (dtype_size(u)) {
  case 1:
    return DType::i16;
  case 2:
    return DType::i32;
  case 4:
    return DType::i64;
  default:
    return DType::f64;
  }
}

uint16_t float_to_f16_bits(float v) {
  uint32_t x;
  std::memcpy(&x, &v, sizeof x);
  const uint16_t sign = uint16_t((x >> 16) & 0x8000u);
  uint32_t a = x & 0x7fffffffu;
  if (a > 0x7f800000u) // NaN: quiet, with the payload's top bits
    return uint16_t(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  if (a >= 0x477ff000u) // at least 65520, halfway to 2^16: infinity
    return uint16_t(sign | 0x7c00u);
  if (a < 0x38800000u) { // below 2^-14: a subnormal (or zero) float16
    float f;
    std::memcpy(&f, &a, sizeof f);
    return uint16_t(sign | uint32_t(std::nearbyint(f * 16777216.0f))); // units of 2^-24
  }
  a += 0xc8000fffu + ((a >> 13) & 1u); // exponent - 112, then round to nearest even
  return uint16_t(sign | (a >> 13));
}

float f16_bits_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    const float f = float(mant) * (1.0f / 16777216.0f);
    std::memcpy(&bits, &f, sizeof bits);
    bits |= sign;
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

uint16_t float_to_bf16_bits(float v) {
  uint32_t x;
  std::memcpy(&x, &v, sizeof x);
  if ((x & 0x7fffffffu) > 0x7f800000u) // NaN: quiet
    return uint16_t((x >> 16) | 0x0040u);
  x += 0x7fffu + ((x >> 16) & 1u); // round to nearest even; overflows to infinity
  return uint16_t(x >> 16);
}

float bf16_bits_to_float(uint16_t bits) {
  const uint32_t x = uint32_t(bits) << 16;
  float f;
  std::memcpy(&f, &x, sizeof f);
  return f;
}

std::string Device::str() const {
  return kind == Kind::CPU ? "cpu" : "cuda:" + std::to_string(index);
}

std::string shape_str(const Shape &s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i)
      r += ", ";
    r += std::to_string(s[i]);
  }
  if (s.size() == 1)
    r += ",";
  return r + ")";
}

int64_t shape_size(const Shape &s) {
  int64_t n = 1;
  for (int64_t d : s)
    n *= d;
  return n;
}

Shape broadcast_shapes(const Shape &a, const Shape &b, const char *op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      throw Error(std::string(op) + ": shapes " + shape_str(a) + " and " + shape_str(b) +
                  " cannot be broadcast together (dimension " + std::to_string(i) + ": " +
                  std::to_string(da) + " vs " + std::to_string(db) +
                  "; sizes must match or one must be 1)");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

namespace detail {

Shape contiguous_strides(const Shape &shape) {
  Shape st(shape.size());
  int64_t s = 1;
  for (int64_t i = int64_t(shape.size()) - 1; i >= 0; --i) {
    st[i] = s;
    s *= shape[i];
  }
  return st;
}

Shape reduced_shape(const Shape &s, const std::vector<int64_t> &axes, bool keepdims) {
  Shape out;
  for (int64_t i = 0; i < int64_t(s.size()); ++i) {
    bool red = std::binary_search(axes.begin(), axes.end(), i);
    if (!red)
      out.push_back(s[size_t(i)]);
    else if (keepdims)
      out.push_back(1);
  }
  return out;
}

Shape broadcast_strides(const Shape &in, const Shape &out) {
  Shape st(out.size(), 0);
  Shape cs = contiguous_strides(in);
  size_t lead = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i)
    st[lead + i] = in[i] == 1 ? 0 : cs[i];
  return st;
}

int64_t normalize_axis(int64_t axis, const Shape &shape, const char *op) {
  int64_t ndim = int64_t(shape.size());
  if (axis < -ndim || axis >= std::max<int64_t>(ndim, 1))
    throw Error(std::string(op) + ": axis " + std::to_string(axis) +
                " is out of range for a tensor of shape " + shape_str(shape) +
                " (valid: " + std::to_string(-ndim) + " to " + std::to_string(ndim - 1) + ")");
  return axis < 0 ? axis + ndim : axis;
}

Tensor strided_copy(const Tensor &src, const Shape &src_strides, const Shape &out_shape) {
  if (!src.device().is_cpu())
    return device::strided_copy(src, src_strides, out_shape);
  Tensor out(out_shape, src.dtype());
  if (out.size() == 0)
    return out;
  auto plan = make_plan<2>(out_shape, {src_strides, contiguous_strides(out_shape)});
  size_t es = dtype_size(src.dtype());
  const char *s = static_cast<const char *>(src.raw());
  char *d = static_cast<char *>(out.raw());
  int64_t inner = plan.inner(), rows = plan.outer();
  int64_t sin = plan.strides[0].back();
  visit_bytes(src.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *sp = reinterpret_cast<const T *>(s);
    T *dp = reinterpret_cast<T *>(d);
#pragma omp parallel for if (out.size() > kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) {
      auto off = plan.row_offsets(r);
      const T *a = sp + off[0];
      T *o = dp + off[1];
      if (sin == 1)
        std::memcpy(o, a, size_t(inner) * es);
      else if (sin == 0)
        std::fill(o, o + inner, a[0]);
      else
        for (int64_t j = 0; j < inner; ++j)
          o[j] = a[j * sin];
    }
  });
  return out;
}

} // namespace detail

// ---- caching allocator ---------------------------------------------------------------------
//
// Buffers of at least kCacheMin bytes are rounded up to one of eight size classes per
// power of two and kept on free lists when released, so a training loop that frees and
// re-allocates the same sizes every step touches no new pages. Buffers of up to kSmallMax
// bytes are kept a few per size class on a list of the thread that frees them (no lock);
// the sizes between use malloc.

namespace {

constexpr size_t kAlign = 64;
constexpr size_t kCacheMin = 64 * 1024;

size_t cache_limit() {
  static const size_t limit = [] {
    const char *e = std::getenv("DZ_CACHE_LIMIT_MB");
    return e ? size_t(std::strtoull(e, nullptr, 10)) << 20 : size_t(2) << 30;
  }();
  return limit;
}

size_t size_class(size_t bytes) {
  if (bytes < kCacheMin)
    return (bytes + kAlign - 1) / kAlign * kAlign;
  size_t p = size_t(1) << (63 - __builtin_clzll(bytes)); // highest power of two <= bytes
  size_t step = std::max<size_t>(p / 8, 4096);
  return (bytes + step - 1) / step * step;
}

/// Small blocks (up to kSmallMax bytes) freed by a thread, kept for its next allocations of
/// the same size class: most tensors of a small model are this size, and a free list per
/// thread needs no lock. A few blocks per class; what a thread keeps goes back to the system
/// when it exits.
constexpr size_t kSmallMax = 4096, kSmallKeep = 16;
struct SmallBlocks {
  std::vector<void *> free[kSmallMax / kAlign];
  static inline thread_local bool gone = false; // destroyed: this thread's frees go to free()
  ~SmallBlocks() {
    gone = true;
    for (auto &list : free)
      for (void *p : list)
        std::free(p);
  }
  static SmallBlocks *mine() {
    if (gone)
      return nullptr;
    thread_local SmallBlocks blocks;
    return &blocks;
  }
};

class CachingAllocator {
public:
  void *allocate(size_t bytes) {
    size_t sz = size_class(std::max<size_t>(bytes, 1));
    if (sz <= kSmallMax) {
      allocated_small_.fetch_add(sz, std::memory_order_relaxed);
      if (SmallBlocks *blocks = SmallBlocks::mine()) {
        std::vector<void *> &list = blocks->free[sz / kAlign - 1];
        if (!list.empty()) {
          void *p = list.back();
          list.pop_back();
          return p;
        }
      }
      if (void *p = std::aligned_alloc(kAlign, sz))
        return p;
      allocated_small_.fetch_sub(sz, std::memory_order_relaxed);
      throw Error("out of memory: could not allocate " + std::to_string(bytes) + " bytes");
    }
    if (sz >= kCacheMin) {
      std::lock_guard<std::mutex> g(mu_);
      auto it = free_.find(sz);
      if (it != free_.end() && !it->second.empty()) {
        void *p = it->second.back();
        it->second.pop_back();
        cached_ -= sz;
        allocated_ += sz;
        ++hits_;
        return p;
      }
      ++misses_;
    }
    void *p = std::aligned_alloc(kAlign, sz);
    if (!p)
      throw Error("out of memory: could not allocate " + std::to_string(bytes) + " bytes");
    std::lock_guard<std::mutex> g(mu_);
    allocated_ += sz;
    return p;
  }

  void release(void *p, size_t bytes) {
    size_t sz = size_class(std::max<size_t>(bytes, 1));
    if (sz <= kSmallMax) {
      allocated_small_.fetch_sub(sz, std::memory_order_relaxed);
      if (SmallBlocks *blocks = SmallBlocks::mine()) {
        std::vector<void *> &list = blocks->free[sz / kAlign - 1];
        if (list.size() < kSmallKeep) {
          list.push_back(p);
          return;
        }
      }
      std::free(p);
      return;
    }
    {
      std::lock_guard<std::mutex> g(mu_);
      allocated_ -= sz;
      if (sz >= kCacheMin && cached_ + sz <= cache_limit()) {
        free_[sz].push_back(p);
        cached_ += sz;
        return;
      }
    }
    std::free(p);
  }

  void empty() {
    if (SmallBlocks *blocks = SmallBlocks::mine())
      for (auto &list : blocks->free) {
        for (void *p : list)
          std::free(p);
        list.clear();
      }
    std::lock_guard<std::mutex> g(mu_);
    for (auto &[sz, list] : free_)
      for (void *p : list)
        std::free(p);
    free_.clear();
    cached_ = 0;
  }

  AllocatorStats stats() {
    std::lock_guard<std::mutex> g(mu_);
    return {allocated_ + allocated_small_.load(std::memory_order_relaxed), cached_, hits_, misses_};
  }

private:
  std::atomic<size_t> allocated_small_{0}; // bytes of live blocks of at most kSmallMax
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void *>> free_;
  size_t allocated_ = 0, cached_ = 0, hits_ = 0, misses_ = 0;
};

CachingAllocator &allocator() {
  static auto *a = new CachingAllocator(); // never destroyed: tensors may outlive statics
  return *a;
}

} // namespace

AllocatorStats allocator_stats() { return allocator().stats(); }
void empty_cache() { allocator().empty(); }

// ---- placed allocations --------------------------------------------------------------------

namespace {
thread_local PlacedAllocations *tl_placement = nullptr;
} // namespace

PlacedAllocations::PlacedAllocations(Region *regions, size_t count,
                                     std::shared_ptr<const void> owner, Device device)
    : regions_(regions), count_(count), owner_(std::move(owner)), device_(device) {
  tl_placement = this;
}

PlacedAllocations::~PlacedAllocations() { tl_placement = nullptr; }

PlacedAllocations::Pause::Pause() : paused_(tl_placement) { tl_placement = nullptr; }
PlacedAllocations::Pause::~Pause() { tl_placement = paused_; }

PlacedAllocations::Region *PlacedAllocations::take(size_t bytes, Device dev,
                                                   std::shared_ptr<const void> &owner) {
  PlacedAllocations *p = tl_placement;
  if (!p || p->device_ != dev)
    return nullptr;
  for (size_t i = 0; i < p->count_; ++i) {
    Region &r = p->regions_[i];
    if (!r.used && r.bytes == bytes) {
      r.used = true;
      owner = p->owner_;
      return &r;
    }
  }
  return nullptr;
}

Storage::Storage(size_t bytes, Device dev) : bytes_(bytes), device_(dev) {
  if (PlacedAllocations::Region *r = PlacedAllocations::take(bytes, dev, owner_)) {
    data_ = r->data;
    return;
  }
  data_ = dev.is_cpu() ? allocator().allocate(bytes) : device_backend(dev).allocate(bytes);
}

Storage::Storage(void *data, size_t bytes, Device dev, std::shared_ptr<const void> owner)
    : data_(data), bytes_(bytes), device_(dev), owner_(std::move(owner)) {}

Storage::~Storage() {
  if (owner_)
    return;
  if (device_.is_cpu())
    allocator().release(data_, bytes_);
  else // the backend loaded when this storage was allocated
    device_backend(device_).release(data_, bytes_);
}

// ---- Tensor ----------------------------------------------------------------------------------

// Every empty tensor shares one storage of no bytes: making one allocates only its shape.
Tensor::Tensor() : shape_{0}, dtype_(f32), numel_(0) {
  static char nothing;
  static const std::shared_ptr<Storage> empty =
      std::make_shared<Storage>(&nothing, size_t(0), Device::cpu(),
                                std::shared_ptr<const void>(&nothing, [](const void *) {}));
  storage_ = empty;
}

Tensor::Tensor(Shape shape, DType dtype, Device dev) : shape_(std::move(shape)), dtype_(dtype) {
  for (int64_t d : shape_)
    if (d < 0)
      throw Error("Tensor: negative dimension in shape " + shape_str(shape_));
  numel_ = shape_size(shape_);
  storage_ = std::make_shared<Storage>(size_t(numel_) * dtype_size(dtype), dev);
}

Tensor::Tensor(std::shared_ptr<Storage> s, size_t offset, Shape shape, DType dtype)
    : storage_(std::move(s)), offset_(offset), shape_(std::move(shape)), dtype_(dtype),
      numel_(shape_size(shape_)) {}

Tensor Tensor::on_storage(std::shared_ptr<Storage> storage, size_t offset, Shape shape,
                          DType dtype) {
  if (!storage)
    throw Error("Tensor::on_storage: no storage");
  for (int64_t d : shape)
    if (d < 0)
      throw Error("Tensor::on_storage: negative dimension in shape " + shape_str(shape));
  size_t need = size_t(shape_size(shape)) * dtype_size(dtype);
  if (offset > storage->bytes() || need > storage->bytes() - offset)
    throw Error("Tensor::on_storage: " + std::to_string(need) + " bytes at offset " +
                std::to_string(offset) + " do not fit a storage of " +
                std::to_string(storage->bytes()) + " bytes");
  return Tensor(std::move(storage), offset, std::move(shape), dtype);
}

Tensor Tensor::from(const std::vector<double> &values, Shape shape, DType dtype) {
  if (int64_t(values.size()) != shape_size(shape))
    throw Error("Tensor::from: " + std::to_string(values.size()) + " values do not fill shape " +
                shape_str(shape) + " (" + std::to_string(shape_size(shape)) + " elements)");
  Tensor t(std::move(shape), dtype);
  visit_all(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T *p = static_cast<T *>(t.raw());
    for (size_t i = 0; i < values.size(); ++i)
      p[i] = convert_element<T>(values[i]);
  });
  return t;
}

Tensor Tensor::from_i64(const std::vector<int64_t> &values, Shape shape) {
  if (int64_t(values.size()) != shape_size(shape))
    throw Error("Tensor::from_i64: " + std::to_string(values.size()) +
                " values do not fill shape " + shape_str(shape));
  return from_buffer(values.data(), std::move(shape), i64);
}

Tensor Tensor::scalar(double v, DType dtype) { return from({v}, {}, dtype); }

Tensor Tensor::from_buffer(const void *data, Shape shape, DType dtype) {
  Tensor t(std::move(shape), dtype);
  if (t.nbytes())
    std::memcpy(t.raw(), data, t.nbytes());
  return t;
}

int64_t Tensor::shape(int axis) const {
  return shape_[size_t(normalize_axis(axis, shape_, "Tensor::shape"))];
}

int64_t Tensor::len() const {
  if (shape_.empty())
    throw Error("len() of a 0-d tensor is undefined (it has no first dimension)");
  return shape_[0];
}

void Tensor::throw_not_on_cpu(const char *op) const {
  throw Error(std::string(op) + ": the tensor (shape " + shape_str(shape_) + ") is on " +
              device().str() + "; this needs a CPU tensor (move it with .to(Device::cpu()))");
}

void Tensor::check_dtype(DType expected, const char *op) const {
  if (dtype_ != expected)
    throw Error(std::string(op) + ": tensor has dtype " + dtype_name(dtype_) + ", not " +
                dtype_name(expected));
}

double Tensor::at(int64_t flat) const {
  if (flat < 0 || flat >= numel_)
    throw Error("Tensor::at: index " + std::to_string(flat) + " out of range for size " +
                std::to_string(numel_));
  if (!device().is_cpu()) {
    Tensor one =
        Tensor::on_storage(storage_, offset_ + size_t(flat) * dtype_size(dtype_), {}, dtype_);
    return one.to(Device::cpu()).at(0);
  }
  return visit_all(dtype_, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return to_double(static_cast<const T *>(raw())[flat]);
  });
}

namespace {
thread_local TraceHook *tl_trace_hook = nullptr;
} // namespace

TraceHook *trace_hook() { return tl_trace_hook; }
TraceHook *set_trace_hook(TraceHook *h) {
  TraceHook *old = tl_trace_hook;
  tl_trace_hook = h;
  return old;
}

double Tensor::item_double() const {
  if (TraceHook *h = trace_hook())
    h->host_read(*this, "item()");
  if (numel_ != 1)
    throw Error("item(): only a tensor with one element can be converted to a scalar, got "
                "shape " +
                shape_str(shape_));
  return at(0);
}

std::vector<double> Tensor::to_vector() const {
  if (TraceHook *h = trace_hook())
    h->host_read(*this, "to_vector()");
  if (!device().is_cpu())
    return to(Device::cpu()).to_vector();
  std::vector<double> v(static_cast<size_t>(numel_));
  visit_all(dtype_, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *p = static_cast<const T *>(raw());
    for (int64_t i = 0; i < numel_; ++i)
      v[size_t(i)] = to_double(p[i]);
  });
  return v;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_)
    return *this;
  TraceScope trace;
  if (!device().is_cpu()) {
    Tensor out = device::map(device(), MapOp::cast, dtype, shape_, {*this});
    if (trace)
      trace->op("cast", {this}, out, {{"dtype", dtype}});
    return out;
  }
  Tensor out(shape_, dtype);
  if (trace)
    trace->op("cast", {this}, out, {{"dtype", dtype}});
  int64_t n = numel_;
  visit_all(dtype_, [&](auto in_tag) {
    using S = typename decltype(in_tag)::type;
    visit_all(dtype, [&](auto out_tag) {
      using D = typename decltype(out_tag)::type;
      const S *s = static_cast<const S *>(raw());
      D *d = static_cast<D *>(out.raw());
#pragma omp parallel for simd if (n > kParallelGrain)
      for (int64_t i = 0; i < n; ++i)
        d[i] = convert_element<D>(s[i]);
    });
  });
  return out;
}

Tensor Tensor::to(Device dev) const {
  if (dev == device())
    return *this;
  // Under dz::compile a move is not an op of the program (it runs on one device): a
  // tensor the trace did not compute (a weight made on the first call) may move, a
  // computed one may not.
  if (TraceHook *h = trace_hook())
    h->host_read(*this, ("to(" + dev.str() + ")").c_str());
  Tensor out(shape_, dtype_, dev);
  device::copy_bytes(out, *this);
  return out;
}

Tensor Tensor::copy() const {
  TraceScope trace;
  if (!device().is_cpu()) {
    Tensor out(shape_, dtype_, device());
    device::copy_bytes(out, *this);
    if (trace)
      trace->op("identity", {this}, out, {});
    return out;
  }
  Tensor out(shape_, dtype_);
  if (trace)
    trace->op("identity", {this}, out, {});
  if (nbytes())
    std::memcpy(out.raw(), raw(), nbytes());
  return out;
}

Tensor Tensor::reshape(Shape shape) const {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0)
        throw Error("reshape: only one dimension can be -1, got " + shape_str(shape));
      infer = int64_t(i);
    } else if (shape[i] < 0) {
      throw Error("reshape: invalid dimension " + std::to_string(shape[i]) + " in " +
                  shape_str(shape));
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel_ % known != 0)
      throw Error("reshape: cannot reshape a tensor of shape " + shape_str(shape_) + " (" +
                  std::to_string(numel_) + " elements) into " + shape_str(shape));
    shape[size_t(infer)] = numel_ / known;
  } else if (known != numel_) {
    throw Error("reshape: cannot reshape a tensor of shape " + shape_str(shape_) + " (" +
                std::to_string(numel_) + " elements) into " + shape_str(shape) + " (" +
                std::to_string(known) + " elements)");
  }
  Tensor out(storage_, offset_, std::move(shape), dtype_);
  if (TraceHook *h = trace_hook(); h && out.shape() != shape_)
    h->op("reshape", {this}, out, {{"shape", out.shape()}});
  return out;
}

Tensor Tensor::transpose() const {
  std::vector<int64_t> axes(shape_.size());
  std::iota(axes.rbegin(), axes.rend(), 0);
  return transpose(axes);
}

Tensor Tensor::transpose(const std::vector<int64_t> &axes) const {
  if (axes.empty() && ndim() > 0) // {} reverses the axes; a 0-d tensor has none
    return transpose();
  int64_t n = ndim();
  std::vector<bool> seen(static_cast<size_t>(n), false);
  std::string given = shape_str(Shape(axes.begin(), axes.end()));
  if (int64_t(axes.size()) != n)
    throw Error("transpose: axes " + given + " do not match a tensor of shape " +
                shape_str(shape_) + " (need a permutation of " + std::to_string(n) + " axes)");
  Shape out_shape(static_cast<size_t>(n)), strides(static_cast<size_t>(n));
  Shape cs = contiguous_strides(shape_);
  for (int64_t i = 0; i < n; ++i) {
    int64_t a = axes[size_t(i)] < 0 ? axes[size_t(i)] + n : axes[size_t(i)];
    if (a < 0 || a >= n || seen[size_t(a)])
      throw Error("transpose: axes " + given + " are not a permutation of 0.." +
                  std::to_string(n - 1) + " for shape " + shape_str(shape_));
    seen[size_t(a)] = true;
    out_shape[size_t(i)] = shape_[size_t(a)];
    strides[size_t(i)] = cs[size_t(a)];
  }
  Tensor out = strided_copy(*this, strides, out_shape);
  if (TraceHook *h = trace_hook()) {
    std::vector<int64_t> perm(axes);
    for (int64_t &a : perm)
      a = a < 0 ? a + n : a;
    h->op("transpose", {this}, out, {{"perm", perm}});
  }
  return out;
}

Tensor Tensor::broadcast_to(const Shape &shape) const {
  if (shape == shape_)
    return *this;
  TraceScope trace;
  Shape b = broadcast_shapes(shape_, shape, "broadcast_to");
  if (b != shape)
    throw Error("broadcast_to: cannot broadcast shape " + shape_str(shape_) + " to " +
                shape_str(shape));
  Tensor out = strided_copy(*this, broadcast_strides(shape_, shape), shape);
  if (trace)
    trace->op("broadcast_to", {this}, out, {{"shape", shape}});
  return out;
}

Tensor Tensor::sum_to(const Shape &shape) const {
  if (shape == shape_)
    return *this;
  int64_t lead = ndim() - int64_t(shape.size());
  if (lead < 0)
    throw Error("sum_to: cannot sum shape " + shape_str(shape_) + " to the larger shape " +
                shape_str(shape));
  std::vector<int64_t> axes;
  for (int64_t i = 0; i < lead; ++i)
    axes.push_back(i);
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t d = shape_[size_t(lead) + i];
    if (shape[i] == 1 && d != 1)
      axes.push_back(lead + int64_t(i));
    else if (shape[i] != d)
      throw Error("sum_to: shape " + shape_str(shape_) + " does not broadcast from " +
                  shape_str(shape));
  }
  if (axes.empty())
    return reshape(shape);
  return sum(axes, true).reshape(shape);
}

Tensor Tensor::expand_dims(int64_t axis) const {
  int64_t a = axis < 0 ? axis + ndim() + 1 : axis;
  if (a < 0 || a > ndim())
    throw Error("expand_dims: axis " + std::to_string(axis) + " out of range for shape " +
                shape_str(shape_));
  Shape s = shape_;
  s.insert(s.begin() + a, 1);
  return reshape(s);
}

Tensor Tensor::squeeze(int64_t axis) const {
  int64_t a = normalize_axis(axis, shape_, "squeeze");
  if (shape_[size_t(a)] != 1)
    throw Error("squeeze: axis " + std::to_string(axis) + " of shape " + shape_str(shape_) +
                " has size " + std::to_string(shape_[size_t(a)]) + ", not 1");
  Shape s = shape_;
  s.erase(s.begin() + a);
  return reshape(s);
}

Tensor Tensor::operator[](const IndexList &index) const {
  return gather(*this, plan_index(shape_, index));
}

Tensor &Tensor::fill_(double v) {
  if (TraceHook *h = trace_hook())
    h->inplace("assign", *this, Tensor::scalar(v, dtype_));
  if (!device().is_cpu()) {
    device::fill(*this, v);
    return *this;
  }
  visit_dtype(dtype_, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T *p = static_cast<T *>(raw());
    std::fill(p, p + numel_, static_cast<T>(v));
  });
  return *this;
}

Tensor &Tensor::copy_(const Tensor &src) {
  Tensor s = src.to(dtype_).broadcast_to(shape_);
  if (TraceHook *h = trace_hook())
    h->inplace("assign", *this, s);
  if (nbytes() && s.raw() != raw())
    device::copy_bytes(*this, s);
  return *this;
}

// ---- creation ---------------------------------------------------------------------------------

Tensor empty(const Shape &shape, DType dtype) { return Tensor(shape, dtype); }
Tensor zeros(const Shape &shape, DType dtype) {
  Tensor t(shape, dtype);
  if (t.nbytes())
    std::memset(t.raw(), 0, t.nbytes());
  return t;
}
Tensor ones(const Shape &shape, DType dtype) { return full(shape, 1.0, dtype); }
Tensor full(const Shape &shape, double value, DType dtype) {
  Tensor t(shape, dtype);
  t.fill_(value);
  return t;
}
Tensor zeros_like(const Tensor &t) {
  return t.device().is_cpu() ? zeros(t.shape(), t.dtype()) : full_like(t, 0.0);
}
Tensor ones_like(const Tensor &t) { return full_like(t, 1.0); }
Tensor full_like(const Tensor &t, double value) {
  if (t.device().is_cpu())
    return full(t.shape(), value, t.dtype());
  Tensor out(t.shape(), t.dtype(), t.device());
  device::fill(out, value);
  return out;
}

Tensor arange(double stop, DType dtype) { return arange(0, stop, 1, dtype); }

Tensor arange(double start, double stop, double step, DType dtype) {
  if (step == 0)
    throw Error("arange: step must not be zero");
  int64_t n = std::max<int64_t>(0, int64_t(std::ceil((stop - start) / step)));
  Tensor t({n}, dtype);
  visit_dtype(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T *p = static_cast<T *>(t.raw());
    for (int64_t i = 0; i < n; ++i)
      p[i] = static_cast<T>(start + double(i) * step);
  });
  return t;
}

Tensor linspace(double start, double stop, int64_t num, DType dtype) {
  if (num < 0)
    throw Error("linspace: num must be non-negative, got " + std::to_string(num));
  std::vector<double> v(static_cast<size_t>(num));
  double step = num > 1 ? (stop - start) / double(num - 1) : 0;
  for (int64_t i = 0; i < num; ++i)
    v[size_t(i)] = start + double(i) * step;
  if (num > 1)
    v.back() = stop;
  return Tensor::from(v, {num}, dtype);
}

Tensor eye(int64_t n, DType dtype) {
  Tensor t = zeros({n, n}, dtype);
  visit_dtype(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T *p = static_cast<T *>(t.raw());
    for (int64_t i = 0; i < n; ++i)
      p[i * n + i] = T(1);
  });
  return t;
}

} // namespace dz
