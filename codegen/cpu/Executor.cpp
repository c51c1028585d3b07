// Executor.cpp - runs a dz::codegen::Program: checks the arguments against the
// signature, takes the run's arena, calls each step's kernel with its results' arena
// regions, drops slots after their last use. No MLIR here.
#include <dzc/codegen/Executor.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <mutex>
#include <numeric>
#include <sstream>

namespace dz::codegen {

namespace {

const char *element_type_str(DType t) {
  switch (t) {
  case DType::f32:
    return "f32";
  case DType::f64:
    return "f64";
  case DType::i64:
    return "i64";
  case DType::i32:
    return "i32";
  case DType::u8:
    return "ui8";
  case DType::b8:
    return "i1";
  case DType::i8:
    return "i8";
  case DType::i16:
    return "i16";
  case DType::u16:
    return "ui16";
  case DType::u32:
    return "ui32";
  case DType::u64:
    return "ui64";
  case DType::f16:
    return "f16";
  case DType::bf16:
    return "bf16";
  }
  return "?";
}

std::string program_name(const std::string &name) {
  return name.empty() ? std::string("program") : "program @" + name;
}

} // namespace

/// Wall time per step over every run of one Program, printed when it goes.
struct Program::Profile {
  std::string name;
  std::vector<std::string> ops;
  std::vector<double> ms;
  size_t runs = 0;
  ~Profile() {
    double total = std::accumulate(ms.begin(), ms.end(), 0.0);
    if (runs == 0 || total <= 0)
      return;
    std::vector<size_t> order(ms.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ms[a] > ms[b]; });
    std::fprintf(stderr, "dz profile: %s, %zu runs, %.3f ms per run\n", program_name(name).c_str(),
                 runs, total / double(runs));
    for (size_t i : order)
      std::fprintf(stderr, "  %6.1f%%  %8.4f ms  step %zu  %s\n", 100.0 * ms[i] / total,
                   ms[i] / double(runs), i, ops[i].c_str());
  }
};

std::string type_str(const TensorSpec &spec) {
  std::string s = "tensor<";
  for (int64_t d : spec.shape)
    s += std::to_string(d) + "x";
  return s + element_type_str(spec.dtype) + ">";
}

namespace {

/// Pointers to a vector's tensors (up to 64 without allocating), for the span overloads.
class ArgPointers {
public:
  explicit ArgPointers(const std::vector<Tensor> &args) : n_(args.size()) {
    if (n_ > std::size(on_stack_)) {
      on_heap_.resize(n_);
      ptrs_ = on_heap_.data();
    }
    for (size_t i = 0; i < n_; ++i)
      ptrs_[i] = &args[i];
  }
  operator std::span<const Tensor *const>() const { return {ptrs_, n_}; }

private:
  const Tensor *on_stack_[64];
  std::vector<const Tensor *> on_heap_;
  const Tensor **ptrs_ = on_stack_;
  size_t n_;
};

} // namespace

void Program::check_args(std::span<const Tensor *const> args) const {
  if (args.size() != arg_types_.size())
    throw Error(program_name(name_) + ": expects " + std::to_string(arg_types_.size()) +
                " arguments, got " + std::to_string(args.size()));
  for (size_t i = 0; i < args.size(); ++i) {
    const Tensor &a = *args[i];
    const TensorSpec &want = arg_types_[i];
    const Device dev = host_args_[i] ? Device::cpu() : device_;
    if (a.shape() != want.shape || a.dtype() != want.dtype || a.device() != dev)
      throw Error(
          program_name(name_) + ": argument " + std::to_string(i) + " (%arg" + std::to_string(i) +
          ") expects " + type_str(want) + (dev.is_cpu() ? "" : " on " + dev.str()) + ", got " +
          type_str({a.shape(), a.dtype()}) + (a.device() == dev ? "" : " on " + a.device().str()) +
          " (shape " + shape_str(a.shape()) + ", " + dtype_name(a.dtype()) + ")");
  }
}

/// Arenas of finished direct runs: a run takes one (or allocates one when all are in use
/// by runs on other threads) and gives it back when it ends. One arena waits in an atomic
/// slot (a run on one thread takes and gives it without a lock), the others in a list.
struct Program::ArenaPool {
  std::atomic<void *> ready{nullptr};
  std::mutex mu;
  std::vector<void *> free;
  size_t bytes = 0;
  ~ArenaPool() {
    std::free(ready.load());
    for (void *p : free)
      std::free(p);
  }
  void *take() {
    if (void *p = ready.exchange(nullptr, std::memory_order_acquire))
      return p;
    {
      std::lock_guard lock(mu);
      if (!free.empty()) {
        void *p = free.back();
        free.pop_back();
        return p;
      }
    }
    void *p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p)
      throw Error("out of memory: cannot allocate a program's arena of " + std::to_string(bytes) +
                  " bytes");
    return p;
  }
  void give(void *p) {
    void *none = nullptr;
    if (ready.compare_exchange_strong(none, p, std::memory_order_release))
      return;
    std::lock_guard lock(mu);
    free.push_back(p);
  }
};

void Program::set_direct_plan(std::vector<SlotSource> plan, std::vector<int32_t> result_into) {
  direct_plan_ = std::move(plan);
  result_into_ = std::move(result_into);
  arenas_ = std::make_shared<ArenaPool>();
  arenas_->bytes = size_t(arena_bytes_);
}

std::vector<Tensor> Program::run(const std::vector<Tensor> &args) const {
  if (!direct())
    return run_steps(args);
  std::vector<Tensor> results;
  run_direct(ArgPointers(args), results, {});
  return results;
}

void Program::run(std::span<const Tensor *const> args, std::vector<Tensor> &results,
                  std::span<const Tensor *const> into) const {
  if (direct())
    return run_direct(args, results, into);
  std::vector<Tensor> copies;
  copies.reserve(args.size());
  for (const Tensor *a : args)
    copies.push_back(*a);
  results = run_steps(copies);
}

std::vector<Tensor> Program::run_steps(const std::vector<Tensor> &args) const {
  check_args(ArgPointers(args));

  std::vector<Tensor> slots(num_slots_, released_);
  for (size_t i = 0; i < args.size(); ++i)
    slots[i] = args[i];
  for (int32_t r : arg_release_)
    slots[size_t(r)] = released_;

  // A donated argument that shares storage with another argument is not written into.
  std::vector<bool> donatable(args.size(), true);
  for (int32_t i : donated_args_)
    for (size_t j = 0; j < args.size(); ++j)
      if (j != size_t(i) && args[size_t(i)].shares_storage(args[j]))
        donatable[size_t(i)] = false;

  if (profile_)
    ++profile_->runs;

  // The arena of this run (a cache hit of the allocator after the first run). Regions are
  // handed out while `planned` holds: a kernel that returns a tensor sharing its operand's
  // storage where the plan did not expect it (so that storage may outlive its region's
  // reservation) ends the placing for the rest of the run; later values are allocated.
  std::shared_ptr<Storage> arena =
      arena_bytes_ ? std::make_shared<Storage>(size_t(arena_bytes_), device_) : nullptr;
  bool planned = arena != nullptr;
  auto region = [&](int64_t offset) { return static_cast<char *>(arena->data()) + offset; };

  for (size_t si = 0; si < steps_.size(); ++si) {
    const Step &s = steps_[si];
    auto t0 = std::chrono::steady_clock::now();
    for (size_t k = 0; k < s.into.size(); ++k)
      if (s.into[k] >= 0 && donatable[size_t(s.into[k])])
        slots[size_t(s.outs[k])] = args[size_t(s.into[k])];
    PlacedAllocations::Region regions[4];
    size_t num_regions = 0;
    for (size_t k = 0; planned && k < s.outs.size(); ++k) {
      if (s.arena[k] < 0)
        continue;
      const TensorSpec &t = s.types[k];
      const size_t bytes = size_t(shape_size(t.shape)) * dtype_size(t.dtype);
      if (s.writes_given_outputs)
        slots[size_t(s.outs[k])] =
            Tensor::on_storage(std::make_shared<Storage>(region(s.arena[k]), bytes, device_, arena),
                               0, t.shape, t.dtype);
      else if (num_regions < std::size(regions))
        regions[num_regions++] = {region(s.arena[k]), bytes};
    }
    try {
      if (num_regions) {
        PlacedAllocations placed(regions, num_regions, arena, device_);
        s.kernel(slots);
      } else {
        s.kernel(slots);
      }
    } catch (const Error &e) {
      throw Error(s.op + ": " + e.what());
    }
    for (size_t k = 0; k < s.outs.size(); ++k) {
      const Tensor &y = slots[size_t(s.outs[k])];
      if (y.shape() != s.types[k].shape || y.dtype() != s.types[k].dtype)
        throw Error(s.op + ": the kernel returned " + type_str({y.shape(), y.dtype()}) +
                    " where the IR says " + type_str(s.types[k]) + " (an executor bug)");
      if (planned && s.arena[k] >= 0)
        for (int32_t in : s.in)
          if (y.shares_storage(slots[size_t(in)]))
            planned = false;
    }
    for (int32_t r : s.release)
      slots[size_t(r)] = released_;
    if (profile_)
      profile_->ms[si] +=
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

  std::vector<Tensor> results;
  results.reserve(result_slots_.size());
  for (size_t i = 0; i < result_slots_.size(); ++i) {
    const Tensor &v = slots[size_t(result_slots_[i])];
    const bool in_arena = arena && v.storage() && v.storage()->owner() == arena;
    results.push_back(result_copies_[i] || in_arena ? v.copy() : v);
  }
  return results;
}

void Program::run_direct(std::span<const Tensor *const> args, std::vector<Tensor> &results,
                         std::span<const Tensor *const> into) const {
  check_args(args);
  // The buffer of every slot: up to 256 on the stack.
  void *on_stack[256];
  std::unique_ptr<void *[]> on_heap;
  void **buf = on_stack;
  if (num_slots_ > std::size(on_stack)) {
    on_heap = std::make_unique<void *[]>(num_slots_);
    buf = on_heap.get();
  }
  struct Arena { // taken from the pool for this run, given back however the run ends
    ArenaPool *pool;
    void *p;
    ~Arena() {
      if (p)
        pool->give(p);
    }
  } arena{arenas_.get(), arena_bytes_ ? arenas_->take() : nullptr};

  // The results: arguments, constants (copied), computed into a donated argument that
  // shares storage with no other argument, into the caller's buffer (`into`), or allocated
  // now and written by their step.
  results.resize(result_slots_.size());
  // Per result, its buffer: several slots may hold it (a value whose reshape is the result).
  void *on_stack_out[64];
  std::unique_ptr<void *[]> on_heap_out;
  void **out = on_stack_out;
  if (results.size() > std::size(on_stack_out)) {
    on_heap_out = std::make_unique<void *[]>(results.size());
    out = on_heap_out.get();
  }
  for (size_t i = 0; i < results.size(); ++i) {
    const int32_t slot = result_slots_[i];
    const SlotSource &src = direct_plan_[size_t(slot)];
    out[i] = nullptr;
    if (src.kind != SlotSource::Result || size_t(src.index) != i)
      continue; // an argument or a repeated result: set after the run
    if (int32_t a = result_into_[i]; a >= 0) {
      bool donated = true;
      for (size_t j = 0; j < args.size(); ++j)
        donated = donated && (j == size_t(a) || !args[size_t(a)]->shares_storage(*args[j]));
      if (donated) {
        results[i] = *args[size_t(a)];
        out[i] = results[i].raw();
        continue;
      }
    }
    if (i < into.size() && into[i] && usable_into(i, *into[i], args)) {
      results[i].reset();
      out[i] = into[i]->raw();
      continue;
    }
    results[i] = Tensor(result_types_[i].shape, result_types_[i].dtype);
    out[i] = results[i].raw();
  }
  for (size_t s = 0; s < num_slots_; ++s) {
    const SlotSource &src = direct_plan_[s];
    switch (src.kind) {
    case SlotSource::Argument:
      buf[s] = const_cast<void *>(args[size_t(src.index)]->raw());
      break;
    case SlotSource::Arena:
      buf[s] = static_cast<char *>(arena.p) + src.index;
      break;
    case SlotSource::Result:
      buf[s] = out[size_t(src.index)];
      break;
    default: // set by its step (a constant, a view), or a value of no bytes
      buf[s] = nullptr;
    }
  }
  if (profile_)
    ++profile_->runs;
  for (size_t si = 0; si < steps_.size(); ++si) {
    const Step &s = steps_[si];
    const auto t0 =
        profile_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    try {
      s.direct(s, buf);
    } catch (const Error &e) {
      throw Error(s.op + ": " + e.what());
    }
    if (profile_)
      profile_->ms[si] +=
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  for (size_t i = 0; i < results.size(); ++i) {
    const int32_t slot = result_slots_[i];
    const SlotSource &src = direct_plan_[size_t(slot)];
    if (src.kind == SlotSource::Argument)
      results[i] = result_copies_[i] ? args[size_t(src.index)]->copy() : *args[size_t(src.index)];
    else if (size_t(src.index) != i)
      results[i] = results[size_t(src.index)];
  }
}

bool Program::usable_into(size_t result, const Tensor &buffer,
                          std::span<const Tensor *const> args) const {
  const TensorSpec &t = result_types_[result];
  if (!buffer.defined() || buffer.shape() != t.shape || buffer.dtype() != t.dtype ||
      buffer.device() != device_ || buffer.nbytes() == 0)
    return false;
  for (size_t j = 0; j < result_slots_.size(); ++j) // a repeated result needs its tensor
    if (j != result && result_slots_[j] == result_slots_[result])
      return false;
  const char *b = static_cast<const char *>(buffer.raw());
  for (const Tensor *a : args) {
    const char *s = a->storage() ? static_cast<const char *>(a->storage()->data()) : nullptr;
    if (s && b < s + a->storage()->bytes() && s < b + buffer.nbytes())
      return false;
  }
  return true;
}

void Program::profile_if_asked() {
  static const bool profiling = [] {
    const char *p = std::getenv("DZ_PROFILE");
    return p && std::string(p) == "1";
  }();
  if (!profiling)
    return;
  profile_ = std::make_shared<Profile>();
  profile_->name = name_;
  for (const Step &s : steps_)
    profile_->ops.push_back(s.op);
  profile_->ms.assign(steps_.size(), 0.0);
}

size_t Program::num_donated() const {
  size_t n = 0;
  for (const Step &s : steps_)
    for (int32_t a : s.into)
      n += a >= 0;
  return n;
}

std::string Program::str() const {
  std::ostringstream os;
  os << program_name(name_) << "(";
  for (size_t i = 0; i < arg_types_.size(); ++i)
    os << (i ? ", " : "") << "%" << i << ": " << type_str(arg_types_[i]);
  os << ")  " << num_slots_ << " slots, at most " << peak_live_ << " live";
  if (arena_bytes_)
    os << ", arena " << arena_bytes_ << " bytes for " << num_arena_values_ << " values (naive "
       << arena_naive_ << ")";
  os << "\n";
  auto slot_list = [&](const std::vector<int32_t> &v) {
    for (size_t i = 0; i < v.size(); ++i)
      os << (i ? ", " : "") << "%" << v[i];
  };
  if (!arg_release_.empty()) {
    os << "  free ";
    slot_list(arg_release_);
    os << "\n";
  }
  for (const Step &s : steps_) {
    os << "  ";
    slot_list(s.outs);
    os << " = " << s.op_name() << "(";
    slot_list(s.in);
    os << ") : ";
    for (size_t k = 0; k < s.types.size(); ++k)
      os << (k ? ", " : "") << type_str(s.types[k]);
    for (size_t k = 0; k < s.into.size(); ++k)
      if (s.into[k] >= 0)
        os << "  %" << s.outs[k] << " into %" << s.into[k];
    for (size_t k = 0; k < s.arena.size(); ++k)
      if (s.arena[k] >= 0)
        os << "  @" << s.arena[k];
    if (!s.release.empty()) {
      os << "  free ";
      slot_list(s.release);
    }
    os << "\n";
  }
  os << "  return ";
  slot_list(result_slots_);
  os << "\n";
  return os.str();
}

} // namespace dz::codegen
