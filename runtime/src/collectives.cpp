// collectives.cpp - the all-reduce hook of dzc/collectives.h.
#include <dzc/collectives.h>

#include <atomic>
#include <string>

namespace dz {

namespace {
std::atomic<AllReduceHook> g_all_reduce{nullptr};
} // namespace

AllReduceHook set_all_reduce_hook(AllReduceHook hook) { return g_all_reduce.exchange(hook); }

AllReduceHook all_reduce_hook() { return g_all_reduce.load(); }

void all_reduce_in_place(const Tensor &t, CollectiveReduce op, int64_t comm) {
  if (comm != 0)
    throw Error("all_reduce: communicator " + std::to_string(comm) +
                " does not exist; the only communicator is 0 (all the ranks of the job)");
  if (AllReduceHook hook = all_reduce_hook())
    hook(t, op, comm);
}

} // namespace dz
