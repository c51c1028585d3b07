// rebinding.cpp - the handle watchers of rebinding.h.
#include "rebinding.h"

#include <mutex>
#include <unordered_map>

namespace dz::detail {

std::atomic<int> handle_watchers{0};

namespace {

thread_local HandleListener *tl_listener = nullptr;
thread_local int tl_quiet = 0;

/// Every SlotWatch by the address of its handle. A handle's destruction looks here only
/// when the address passes a small filter of watched addresses (bits are set, never
/// cleared: a false positive costs one lock).
struct WatchTable {
  std::mutex mu;
  std::unordered_multimap<const Variable *, SlotWatch *> by_slot;
  static constexpr size_t kWords = 16;
  std::atomic<uint64_t> filter[kWords] = {};

  static size_t bit_of(const Variable *slot) {
    const auto a = reinterpret_cast<uintptr_t>(slot) >> 3;
    return size_t((a ^ (a >> 10) ^ (a >> 20)) % (kWords * 64));
  }
  bool may_hold(const Variable *slot) const {
    const size_t b = bit_of(slot);
    return filter[b / 64].load(std::memory_order_relaxed) >> (b % 64) & 1;
  }
  void mark(const Variable *slot) {
    const size_t b = bit_of(slot);
    filter[b / 64].fetch_or(uint64_t(1) << (b % 64), std::memory_order_relaxed);
  }
};

// Never destroyed: handles in static storage are destroyed at exit after any function-local
// static would be.
WatchTable &table() {
  static WatchTable *t = new WatchTable;
  return *t;
}

} // namespace

void set_handle_listener(HandleListener *l) {
  if (l && !tl_listener)
    handle_watchers.fetch_add(1, std::memory_order_relaxed);
  else if (!l && tl_listener)
    handle_watchers.fetch_sub(1, std::memory_order_relaxed);
  tl_listener = l;
}

HandleListener *handle_listener() { return tl_listener; }

QuietAssignments::QuietAssignments() { ++tl_quiet; }
QuietAssignments::~QuietAssignments() { --tl_quiet; }

void handle_assigned(Variable *slot, const std::shared_ptr<VariableNode> &old_node,
                     const std::shared_ptr<VariableNode> &new_node) noexcept {
  if (tl_listener && tl_quiet == 0)
    tl_listener->assigned(slot, old_node, new_node);
}

void handle_destroyed(const Variable *slot) noexcept {
  if (tl_listener)
    tl_listener->destroyed(slot);
  WatchTable &t = table();
  if (!t.may_hold(slot))
    return;
  std::lock_guard lock(t.mu);
  auto [first, last] = t.by_slot.equal_range(slot);
  for (auto it = first; it != last; ++it)
    it->second->alive_.store(false, std::memory_order_release);
  t.by_slot.erase(first, last);
}

SlotWatch::SlotWatch(Variable *slot) : slot_(slot) {
  WatchTable &t = table();
  std::lock_guard lock(t.mu);
  t.by_slot.emplace(slot, this);
  t.mark(slot);
  handle_watchers.fetch_add(1, std::memory_order_relaxed);
}

SlotWatch::~SlotWatch() {
  WatchTable &t = table();
  std::lock_guard lock(t.mu);
  auto [first, last] = t.by_slot.equal_range(slot_);
  for (auto it = first; it != last; ++it)
    if (it->second == this) {
      t.by_slot.erase(it);
      break;
    }
  handle_watchers.fetch_sub(1, std::memory_order_relaxed);
}

} // namespace dz::detail
