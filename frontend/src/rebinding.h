// rebinding.h - watching Variable handles, so that dz::compile can replay `h = h_new`.
//
// A Variable is a handle; `state_->h = h_new` (an RNN's state) or `acc = acc + x` (a
// captured accumulator) rebinds a handle that outlives the compiled function. Nothing in
// the graph records that, so the tracer listens to handle assignments while it records
// (HandleListener), and a compiled program keeps a SlotWatch on each handle it rebinds after
// every call: the watch learns when the handle is destroyed, so a program never writes
// through a dangling address (it traces again instead).
#pragma once
#include <dzc/variable.h>

#include <atomic>
#include <memory>

namespace dz::detail {

/// Told about handle assignments and destructions on the thread it is installed on.
class HandleListener {
public:
  virtual ~HandleListener() = default;
  /// `slot` is about to change from `old_node` to `new_node`.
  virtual void assigned(Variable *slot, const std::shared_ptr<VariableNode> &old_node,
                        const std::shared_ptr<VariableNode> &new_node) noexcept = 0;
  virtual void destroyed(const Variable *slot) noexcept = 0;
  /// `f` was applied (its outputs got it as creator) on this thread.
  virtual void function_made(const Function *f) noexcept = 0;
  /// A Variable's node was made on this thread.
  virtual void node_made(const VariableNode *n) noexcept = 0;
};

/// Installs `l` for the calling thread (null removes it).
void set_handle_listener(HandleListener *l);
/// The calling thread's listener, or null.
HandleListener *handle_listener();

/// Assignments inside its lifetime (on this thread) are not reported: the library's own
/// bookkeeping (a gradient set by backward or cleargrad) is not a user's rebinding.
class QuietAssignments {
public:
  QuietAssignments();
  ~QuietAssignments();
  QuietAssignments(const QuietAssignments &) = delete;
  QuietAssignments &operator=(const QuietAssignments &) = delete;
};

/// A handle that a compiled program rebinds after each call, for as long as it exists.
class SlotWatch {
public:
  explicit SlotWatch(Variable *slot);
  ~SlotWatch();
  SlotWatch(const SlotWatch &) = delete;
  SlotWatch &operator=(const SlotWatch &) = delete;

  /// The handle, or null once it has been destroyed.
  Variable *slot() const { return alive_.load(std::memory_order_acquire) ? slot_ : nullptr; }

private:
  friend void handle_destroyed(const Variable *slot) noexcept;
  Variable *slot_;
  std::atomic<bool> alive_{true};
};

} // namespace dz::detail
