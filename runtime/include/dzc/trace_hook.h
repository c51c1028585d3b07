// dzc/trace_hook.h - the runtime's side of dz::compile's tracer.
//
// While dz::compile records a trace, tensor operations report themselves to the active
// TraceHook, so that code written on Tensors (optimizer updates, user arithmetic) becomes
// IR as well as code written with Variables. No MLIR here: the hook is an interface the
// frontend implements. Outside a trace the cost is one thread-local pointer test per op.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <variant>
#include <vector>

#include <dzc/tensor.h>

namespace dz {

/// An attribute of a recorded op ("axes", "keepdims", "exponent", "reduction", ...).
struct TraceAttr {
  const char *name;
  std::variant<bool, int64_t, double, std::vector<int64_t>, DType, std::string> value;
};

class TraceHook {
public:
  virtual ~TraceHook() = default;
  /// `out` was computed by the dz op `op` (docs/ir.md) from `ins`.
  virtual void op(const char *op, std::initializer_list<const Tensor *> ins, const Tensor &out,
                  std::initializer_list<TraceAttr> attrs) = 0;
  /// `target` is about to be overwritten in place by `op(target, operand)`.
  virtual void inplace(const char *op, const Tensor &target, const Tensor &operand) = 0;
  /// The host reads the values of `t` (item(), to_vector()).
  virtual void host_read(const Tensor &t, const char *what) = 0;
};

/// The hook recording now, or null (no trace, or inside an op that is recorded whole).
TraceHook *trace_hook();
/// Installs `h` (null removes it); returns the previous hook.
TraceHook *set_trace_hook(TraceHook *h);

/// Used by every recorded op: takes the hook for the op's duration, so that the tensor
/// operations it is built from are not recorded a second time.
class TraceScope {
public:
  TraceScope() : hook_(trace_hook()) {
    if (hook_)
      set_trace_hook(nullptr);
  }
  ~TraceScope() {
    if (hook_)
      set_trace_hook(hook_);
  }
  TraceScope(const TraceScope &) = delete;
  TraceScope &operator=(const TraceScope &) = delete;
  TraceHook *operator->() const { return hook_; }
  explicit operator bool() const { return hook_ != nullptr; }

private:
  TraceHook *hook_;
};

} // namespace dz
