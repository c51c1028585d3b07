// dzc/tensor.h - dz::Tensor: an n-d array with a dtype, a shape, reference-counted
// contiguous storage and a device tag, plus the CPU operations on it.
//
// Tensors are always contiguous (row-major). Copies of a Tensor share storage, as NumPy
// views do; reshape shares storage; every other operation returns a new tensor.
// Operations broadcast as NumPy does. Errors a user can cause throw dz::Error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace dz {

/// Every error a user can cause: the message names the operation, what was wrong and
/// what would be valid.
class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Element types. f32, f64, i64, i32, u8 and b8 are computed on by every kernel; the
/// others (the rest of ONNX's numeric types) are stored, copied, converted with `to` /
/// `astype` (integers wrap around as C++ conversions do, float16 and bfloat16 round to
/// nearest even), read with `at` and saved; compute on them after converting to a wider
/// type.
enum class DType : uint8_t { f32, f64, i64, i32, u8, b8, i8, i16, u16, u32, u64, f16, bf16 };
inline constexpr DType f32 = DType::f32;
inline constexpr DType f64 = DType::f64;
inline constexpr DType i64 = DType::i64;
inline constexpr DType i32 = DType::i32;
inline constexpr DType u8 = DType::u8;
inline constexpr DType b8 = DType::b8; // bool, one byte per element
inline constexpr DType i8 = DType::i8;
inline constexpr DType i16 = DType::i16;
inline constexpr DType u16 = DType::u16;
inline constexpr DType u32 = DType::u32;
inline constexpr DType u64 = DType::u64;
inline constexpr DType f16 = DType::f16;   // IEEE binary16
inline constexpr DType bf16 = DType::bf16; // bfloat16: the upper half of a float32

size_t dtype_size(DType t);
/// "float32", "float64", "int64", "int32", "uint8", "bool", "int8", "int16", "uint16",
/// "uint32", "uint64", "float16", "bfloat16".
const char *dtype_name(DType t);
bool is_floating(DType t);
/// True for the dtypes every kernel computes on: f32, f64, i64, i32, u8, b8.
bool is_compute_dtype(DType t);
/// NumPy's promotion for two arrays: bool < integers < floats; two integers of one
/// signedness give the wider, a signed and an unsigned one the smallest signed type that
/// holds both (uint64 with a signed type: float64); an integer with a float gives the float;
/// float16 with bfloat16 gives float32.
DType promote(DType a, DType b);

/// IEEE float16 and bfloat16 bit patterns to and from float32: rounding to nearest even,
/// overflow to infinity, NaN stays NaN (quiet), subnormals kept.
uint16_t float_to_f16_bits(float v);
float f16_bits_to_float(uint16_t bits);
uint16_t float_to_bf16_bits(float v);
float bf16_bits_to_float(uint16_t bits);

template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = f32; };
template <> struct dtype_of<double> { static constexpr DType value = f64; };
template <> struct dtype_of<int64_t> { static constexpr DType value = i64; };
template <> struct dtype_of<int32_t> { static constexpr DType value = i32; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = u8; };
template <> struct dtype_of<bool> { static constexpr DType value = b8; };
template <> struct dtype_of<int8_t> { static constexpr DType value = i8; };
template <> struct dtype_of<int16_t> { static constexpr DType value = i16; };
template <> struct dtype_of<uint16_t> { static constexpr DType value = u16; };
template <> struct dtype_of<uint32_t> { static constexpr DType value = u32; };
template <> struct dtype_of<uint64_t> { static constexpr DType value = u64; };

struct Device {
  enum class Kind : uint8_t { CPU, CUDA };
  Kind kind = Kind::CPU;
  int index = 0;
  static Device cpu() { return {}; }
  static Device cuda(int n = 0) { return {Kind::CUDA, n}; }
  bool is_cpu() const { return kind == Kind::CPU; }
  std::string str() const; // "cpu", "cuda:0"
  bool operator==(const Device &) const = default;
};

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape &s); // "(2, 3)"
int64_t shape_size(const Shape &s);
/// NumPy broadcasting of two shapes; throws naming `op` when they are incompatible.
Shape broadcast_shapes(const Shape &a, const Shape &b, const char *op);

/// Counter-based Philox4x32-10 random stream: a (seed, offset) pair determines every
/// draw, so CPU and (later) GPU kernels can produce the same numbers.
///
/// A Generator may be shared between threads (dz::default_generator() is): each draw
/// reserves its block of counters and reads the seed in one atomic step, so concurrent
/// draws never overlap and no counter is used twice. Draws from several threads take
/// their blocks in the order they reach the generator, which depends on timing; a thread
/// that needs a reproducible stream while others draw owns a Generator and passes it
/// explicitly. A stream only one thread draws from is the same as single-threaded.
/// Copies take the position of the source and then advance independently.
class Generator {
public:
  /// A position of the stream: the key and the first counter of a draw.
  struct Position {
    uint64_t seed, offset;
  };

  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  Generator(const Generator &other) : Generator(other.position()) {}
  Generator &operator=(const Generator &other) {
    if (this != &other) {
      const Position p = other.position();
      std::lock_guard<std::mutex> lock(mu_);
      seed_ = p.seed, offset_ = p.offset;
    }
    return *this;
  }

  void manual_seed(uint64_t seed) {
    std::lock_guard<std::mutex> lock(mu_);
    seed_ = seed, offset_ = 0;
  }
  uint64_t seed() const { return position().seed; }
  uint64_t offset() const { return position().offset; }
  /// The seed and offset, read together.
  Position position() const {
    std::lock_guard<std::mutex> lock(mu_);
    return {seed_, offset_};
  }
  /// Reserves n 128-bit counters and returns the first; the caller draws from them.
  uint64_t advance(uint64_t n) { return reserve(n).offset; }
  /// Reserves n counters and returns the seed with the first of them, in one step.
  Position reserve(uint64_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    const Position p{seed_, offset_};
    offset_ += n;
    return p;
  }

private:
  explicit Generator(Position p) : seed_(p.seed), offset_(p.offset) {}

  mutable std::mutex mu_;
  uint64_t seed_;
  uint64_t offset_ = 0;
};
/// The process-wide generator used when no seed or Generator is given.
Generator &default_generator();
void manual_seed(uint64_t seed);
/// Philox4x32-10 of counter `ctr` (128 bits as two u64) and key `seed`: four u32.
void philox4x32(uint64_t ctr_lo, uint64_t ctr_hi, uint64_t seed, uint32_t out[4]);

/// Raw memory of one tensor. CPU buffers come from a caching allocator, or from memory
/// that someone else owns (a region of the compiled executor's arena, see
/// PlacedAllocations).
class Storage {
public:
  Storage(size_t bytes, Device dev);
  /// `bytes` bytes at `data`, which `owner` keeps alive; nothing is freed when it goes.
  Storage(void *data, size_t bytes, Device dev, std::shared_ptr<const void> owner);
  ~Storage();
  Storage(const Storage &) = delete;
  Storage &operator=(const Storage &) = delete;
  void *data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  /// What keeps borrowed memory alive; null for memory of the allocator.
  const std::shared_ptr<const void> &owner() const { return owner_; }

private:
  void *data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
  std::shared_ptr<const void> owner_;
};

/// Places the results of a kernel in memory given to it: while an object of this class
/// is alive, each new Storage on its device made on this thread whose size is exactly that
/// of one of its unused regions takes that region (borrowed, kept alive by the region's
/// owner) instead of the allocator. This is how the compiled executor makes the runtime's
/// kernels, which allocate their results, write them into the arena slot the memory
/// plan gave them. A kernel's temporary of the same size may take the region first; the
/// region is the result's for the whole step, so that is safe, and the caller sees it
/// (the result is then not in the region). Regions must not overlap the memory of any
/// tensor alive during the call. Not nestable.
class PlacedAllocations {
public:
  struct Region {
    void *data;
    size_t bytes;
    bool used = false;
  };
  PlacedAllocations(Region *regions, size_t count, std::shared_ptr<const void> owner,
                    Device device = Device::cpu());
  ~PlacedAllocations();
  PlacedAllocations(const PlacedAllocations &) = delete;
  PlacedAllocations &operator=(const PlacedAllocations &) = delete;

  /// The region taken for an allocation of `bytes` on `dev` on this thread, or null
  /// (internal: called by Storage).
  static Region *take(size_t bytes, Device dev, std::shared_ptr<const void> &owner);

  /// While alive, no allocation of this thread takes a region: for memory a kernel keeps
  /// beyond its call (a cache), which must not be given a result's region.
  class Pause {
  public:
    Pause();
    ~Pause();
    Pause(const Pause &) = delete;
    Pause &operator=(const Pause &) = delete;

  private:
    PlacedAllocations *paused_;
  };

private:
  Region *regions_;
  size_t count_;
  std::shared_ptr<const void> owner_;
  Device device_;
};

/// Statistics of the CPU caching allocator (for tests and benchmarks).
struct AllocatorStats {
  size_t allocated_bytes; // bytes held by live tensors
  size_t cached_bytes;    // bytes kept for reuse
  size_t hits, misses;
};
AllocatorStats allocator_stats();
void empty_cache(); // gives cached blocks back to the system
/// The same for the caching allocator of a device (the CPU's for Device::cpu()).
AllocatorStats allocator_stats(Device dev);
void empty_cache(Device dev);
/// Waits until every operation queued on `dev` has finished (nothing for the CPU).
void synchronize(Device dev);

struct Slice {
  std::optional<int64_t> start, stop;
  int64_t step = 1;
  Slice() = default;
  Slice(std::optional<int64_t> start_, std::optional<int64_t> stop_, int64_t step_ = 1)
      : start(start_), stop(stop_), step(step_) {}
};
struct EllipsisT {};
inline constexpr EllipsisT Ellipsis{};
struct NewAxisT {};
inline constexpr NewAxisT NewAxis{};

class Tensor;

/// One entry of an index expression: an integer, a Slice, an integer index array
/// (advanced indexing, arrays broadcast together as in NumPy), Ellipsis or NewAxis.
class Index {
public:
  Index(int v) : v_(int64_t(v)) {}
  Index(int64_t v) : v_(v) {}
  Index(Slice s) : v_(s) {}
  Index(EllipsisT e) : v_(e) {}
  Index(NewAxisT n) : v_(n) {}
  Index(const Tensor &indices);
  Index(std::vector<int64_t> indices);
  Index(std::initializer_list<int64_t> indices) : Index(std::vector<int64_t>(indices)) {}
  const auto &value() const { return v_; }

private:
  std::variant<int64_t, Slice, EllipsisT, NewAxisT, std::shared_ptr<const Tensor>> v_;
};
using IndexList = std::vector<Index>;

/// The result of resolving an index expression against a shape: the output shape and,
/// for every output element, the flat offset of the input element it reads.
struct IndexPlan {
  Shape in_shape, out_shape;
  std::vector<int64_t> offsets;
};
IndexPlan plan_index(const Shape &shape, const IndexList &index);

class Tensor {
public:
  Tensor(); // an empty float32 tensor of shape (0,)
  Tensor(Shape shape, DType dtype, Device dev = Device::cpu()); // uninitialised

  static Tensor from(const std::vector<double> &values, Shape shape, DType dtype = f64);
  static Tensor from(const std::vector<double> &values) {
    return from(values, {int64_t(values.size())});
  }
  static Tensor from_i64(const std::vector<int64_t> &values, Shape shape);
  static Tensor from_i64(const std::vector<int64_t> &values) {
    return from_i64(values, {int64_t(values.size())});
  }
  static Tensor scalar(double v, DType dtype = f64);
  /// Copies `count` elements of `data` (of dtype `dtype`) into a new tensor.
  static Tensor from_buffer(const void *data, Shape shape, DType dtype);
  /// A tensor of `shape` and `dtype` over `storage` from byte `offset` on (no copy); throws
  /// dz::Error when it does not fit.
  static Tensor on_storage(std::shared_ptr<Storage> storage, size_t offset, Shape shape,
                           DType dtype);

  const Shape &shape() const { return shape_; }
  int64_t shape(int axis) const;
  int64_t ndim() const { return int64_t(shape_.size()); }
  int64_t size() const { return numel_; }
  int64_t len() const; // first dimension; error for 0-d
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::cpu(); }
  size_t nbytes() const { return size_t(numel_) * dtype_size(dtype_); }
  bool defined() const { return storage_ != nullptr; }
  /// Drops the storage (the handle's share of it): defined() is false afterwards, as for a
  /// moved-from tensor; assigning a tensor to it makes it usable again.
  void reset() noexcept {
    storage_.reset();
    offset_ = 0;
    numel_ = 0;
  }
  /// True when both tensors use the same storage (a copy of the handle or a reshape).
  bool shares_storage(const Tensor &o) const { return storage_ == o.storage_; }
  /// The storage and the byte offset of element 0 in it (a tensor's identity for tracing).
  const std::shared_ptr<Storage> &storage() const { return storage_; }
  size_t offset() const { return offset_; }

  void *raw() const { return storage_ ? static_cast<char *>(storage_->data()) + offset_ : nullptr; }
  /// Typed access; throws dz::Error when T is not the tensor's dtype.
  /// The elements, for a CPU tensor of dtype T (throws otherwise: a device tensor's
  /// elements are read with to(Device::cpu()) first).
  template <typename T> T *data() const {
    check_dtype(dtype_of<T>::value, "Tensor::data");
    if (storage_ && !storage_->device().is_cpu())
      throw_not_on_cpu("Tensor::data");
    return static_cast<T *>(raw());
  }
  /// The single value of a tensor of size 1, converted to T.
  template <typename T> T item() const { return static_cast<T>(item_double()); }
  double item_double() const;
  /// Element `flat` (row-major) converted to double.
  double at(int64_t flat) const;
  std::vector<double> to_vector() const;

  Tensor to(DType dtype) const; // astype (copy, or this tensor when already dtype)
  Tensor astype(DType dtype) const { return to(dtype); }
  Tensor to(Device dev) const;
  Tensor copy() const;
  Tensor reshape(Shape shape) const; // one -1 allowed; shares storage
  Tensor transpose() const;          // reverse all axes
  Tensor transpose(const std::vector<int64_t> &axes) const;
  Tensor T() const { return transpose(); }
  Tensor broadcast_to(const Shape &shape) const;
  Tensor sum_to(const Shape &shape) const; // sums broadcast axes away (inverse of broadcast_to)
  Tensor expand_dims(int64_t axis) const;
  Tensor squeeze(int64_t axis) const;
  Tensor operator[](const IndexList &index) const;
  Tensor get_item(const IndexList &index) const { return (*this)[index]; }

  // Reductions; empty `axes` means all axes; negative axes count from the end.
  Tensor sum(const std::vector<int64_t> &axes = {}, bool keepdims = false) const;
  Tensor mean(const std::vector<int64_t> &axes = {}, bool keepdims = false) const;
  Tensor max(const std::vector<int64_t> &axes = {}, bool keepdims = false) const;
  Tensor min(const std::vector<int64_t> &axes = {}, bool keepdims = false) const;
  Tensor argmax(int64_t axis, bool keepdims = false) const; // int64 result
  Tensor argmax() const;                                    // over the flattened tensor

  Tensor matmul(const Tensor &o) const;

  Tensor &operator+=(const Tensor &o);
  Tensor &operator-=(const Tensor &o);
  Tensor &operator*=(const Tensor &o);
  Tensor &operator/=(const Tensor &o);
  Tensor &operator+=(double v);
  Tensor &operator-=(double v);
  Tensor &operator*=(double v);
  Tensor &operator/=(double v);

  /// Fills every element with v (in place).
  Tensor &fill_(double v);
  /// Copies `src` (broadcast to this shape, converted to this dtype) into this tensor.
  Tensor &copy_(const Tensor &src);

  void check_dtype(DType expected, const char *op) const;
  /// Throws dz::Error: `op` needs a CPU tensor and this one is on a device.
  [[noreturn]] void throw_not_on_cpu(const char *op) const;

private:
  Tensor(std::shared_ptr<Storage> s, size_t offset, Shape shape, DType dtype);
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0; // bytes
  Shape shape_;
  DType dtype_ = f32;
  int64_t numel_ = 0;
};

// ---- creation -------------------------------------------------------------------
Tensor empty(const Shape &shape, DType dtype = f32);
Tensor zeros(const Shape &shape, DType dtype = f32);
Tensor ones(const Shape &shape, DType dtype = f32);
Tensor full(const Shape &shape, double value, DType dtype = f32);
Tensor zeros_like(const Tensor &t);
Tensor ones_like(const Tensor &t);
Tensor full_like(const Tensor &t, double value);
Tensor arange(double stop, DType dtype = i64);
Tensor arange(double start, double stop, double step = 1.0, DType dtype = i64);
Tensor linspace(double start, double stop, int64_t num, DType dtype = f64);
Tensor eye(int64_t n, DType dtype = f64);
/// Random tensors from a Generator (or a fresh Generator seeded with `seed`).
Tensor rand(const Shape &shape, DType dtype, Generator &gen);
/// Dropout's mask on `dev`: (rand(shape, dtype, gen) > ratio) / (1 - ratio), drawn where
/// it is used (on a device by a Philox kernel, with the same bits as on the CPU).
Tensor dropout_mask(const Shape &shape, DType dtype, double ratio, Generator &gen,
                    Device dev = Device::cpu());
Tensor rand(const Shape &shape, DType dtype = f32, std::optional<uint64_t> seed = {});
Tensor randn(const Shape &shape, DType dtype, Generator &gen);
Tensor randn(const Shape &shape, DType dtype = f32, std::optional<uint64_t> seed = {});
Tensor uniform(const Shape &shape, double low, double high, DType dtype, Generator &gen);
Tensor uniform(const Shape &shape, double low, double high, DType dtype = f32,
               std::optional<uint64_t> seed = {});

// ---- elementwise (broadcasting) ---------------------------------------------------
Tensor operator+(const Tensor &a, const Tensor &b);
Tensor operator-(const Tensor &a, const Tensor &b);
Tensor operator*(const Tensor &a, const Tensor &b);
/// True division, as NumPy's `/`: integer operands give float64 (7 / 2 is 3.5, 1 / 0 is
/// inf). Integer quotients: floor_divide (NumPy's //) and trunc_divide (C's /).
Tensor operator/(const Tensor &a, const Tensor &b);
Tensor operator-(const Tensor &a);
// A scalar takes the tensor's dtype (as a Python float does with a NumPy float32 array);
// an integer tensor with a non-integral scalar becomes float64.
Tensor operator+(const Tensor &a, double b);
Tensor operator-(const Tensor &a, double b);
Tensor operator*(const Tensor &a, double b);
Tensor operator/(const Tensor &a, double b);
Tensor operator+(double a, const Tensor &b);
Tensor operator-(double a, const Tensor &b);
Tensor operator*(double a, const Tensor &b);
Tensor operator/(double a, const Tensor &b);
Tensor pow(const Tensor &a, double b);
Tensor maximum(const Tensor &a, double b);
Tensor minimum(const Tensor &a, double b);
// Comparisons return bool tensors.
Tensor operator==(const Tensor &a, const Tensor &b);
Tensor operator!=(const Tensor &a, const Tensor &b);
Tensor operator<(const Tensor &a, const Tensor &b);
Tensor operator<=(const Tensor &a, const Tensor &b);
Tensor operator>(const Tensor &a, const Tensor &b);
Tensor operator>=(const Tensor &a, const Tensor &b);
Tensor operator==(const Tensor &a, double b);
Tensor operator<(const Tensor &a, double b);
Tensor operator<=(const Tensor &a, double b);
Tensor operator>(const Tensor &a, double b);
Tensor operator>=(const Tensor &a, double b);
/// cond ? a : b, all three broadcast together; cond is bool (or any dtype, nonzero = true).
Tensor where(const Tensor &cond, const Tensor &a, const Tensor &b);
Tensor clip(const Tensor &x, double lo, double hi);

// The ops of the registry (dzc/ops.def; docs/ops.md describes each), for every dtype
// their domain admits, broadcasting as NumPy: exp log sin cos tan tanh sqrt erf sigmoid
// asin acos atan sinh cosh asinh acosh atanh ceil floor round, neg abs square relu step
// sign, isnan isinf (bool results), add sub mul div pow maximum minimum mod fmod
// floor_divide trunc_divide, equal_mask (1 / 0 in the operands' dtype), equal not_equal
// less less_equal greater greater_equal (bool results; also the operators). div and pow
// compute integer operands in float64 and return float64; floor_divide (NumPy's //),
// trunc_divide (C's /), mod and fmod keep the integer dtype and give 0 for a divisor of 0.
#define DZ_UNARY(name, ...) Tensor name(const Tensor &x);
#define DZ_BINARY(name, ...) Tensor name(const Tensor &a, const Tensor &b);
#include <dzc/ops.def>
/// Sums the values of each row of a 2-d float tensor after exp(x - max) (logsumexp).
Tensor logsumexp(const Tensor &x, int64_t axis, bool keepdims = true);
Tensor softmax(const Tensor &x, int64_t axis);

// ---- classification losses ----------------------------------------------------------------
/// Throws dz::Error naming `op` when an int64 label of `labels` is outside [0, classes).
/// Device labels are copied to the host for it (a synchronizing read).
void check_class_labels(const Tensor &labels, int64_t classes, const char *op);
/// Whether the functions below check their labels (check_class_labels), or the caller
/// already has (a loss's backward, after its forward): on a device each check is a
/// download of the labels.
enum class LabelCheck { Check, Checked };
/// The (N, classes) rows of `dtype` with a 1 at each int64 label of `labels` (N,).
Tensor one_hot(const Tensor &labels, int64_t classes, DType dtype = f64,
               LabelCheck check = LabelCheck::Check);
/// Mean over the rows of logsumexp(x[i]) - x[i, t[i]] for float scores x (N, C) and int64
/// labels t (N,), accumulated in float64; a 0-d tensor of x's dtype.
Tensor softmax_cross_entropy(const Tensor &x, const Tensor &labels,
                             LabelCheck check = LabelCheck::Check);

// ---- linear algebra (oneDNN for float32) ---------------------------------------------
/// a @ b with NumPy matmul semantics for ndim >= 2 (batch dims broadcast) and 1-d operands.
Tensor matmul(const Tensor &a, const Tensor &b);
/// op(a) @ op(b) for 2-d (or batched 3-d with equal batch) operands, op = transpose
/// when the flag is set; no transposed copy is made.
Tensor matmul(const Tensor &a, const Tensor &b, bool trans_a, bool trans_b);
/// x @ W + b in one GEMM (b broadcast over rows; may be undefined).
Tensor linear(const Tensor &x, const Tensor &W, const Tensor *b);
/// Scaled dot-product attention, matmul(softmax(scale * matmul(q, k) + mask, -1), v), for
/// q (..., M, D), k (..., D, N) (the keys transposed), v (..., N, E) with the same batch
/// dimensions, and an optional additive mask (may be null) that broadcasts to (..., M, N).
/// On the CPU one kernel: per block of query rows the scores, their softmax and the
/// weighted sum, so the (..., M, N) scores are never stored whole (dz.attention).
Tensor attention(const Tensor &q, const Tensor &k, const Tensor &v, const Tensor *mask,
                 double scale);

// ---- indexing ---------------------------------------------------------------------------
Tensor gather(const Tensor &x, const IndexPlan &plan);
/// zeros(plan.in_shape) with src added at plan.offsets; repeated offsets accumulate.
Tensor scatter_add(const IndexPlan &plan, const Tensor &src);

// ---- I/O and printing -----------------------------------------------------------------
void save_npy(const std::string &path, const Tensor &t);
Tensor load_npy(const std::string &path);
/// The .npy encoding of a tensor (header + data) and its inverse; `what` names the
/// source in error messages.
std::string to_npy_bytes(const Tensor &t);
Tensor from_npy_bytes(const std::string &bytes, const std::string &what);
std::ostream &operator<<(std::ostream &os, const Tensor &t);
std::string to_string(const Tensor &t);

/// True when shapes are equal and |a - b| <= atol + rtol * |b| everywhere (NumPy's rule).
bool allclose(const Tensor &a, const Tensor &b, double rtol = 1e-5, double atol = 1e-8);
/// Largest |a - b| (after broadcasting).
double max_abs_diff(const Tensor &a, const Tensor &b);

} // namespace dz
