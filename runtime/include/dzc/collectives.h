// dzc/collectives.h - the runtime's side of dz::distributed: a compiled program's
// dz.all_reduce reaches the job's collective (OpenMPI, NCCL) through this hook, so the
// runtime itself neither links nor loads MPI. dz::distributed::init() installs the hook
// when the program runs under a launcher; without one the program is a world of one and
// an all-reduce leaves its tensor as it is.
#pragma once

#include <dzc/tensor.h>

#include <cstdint>

namespace dz {

/// The reductions of an all-reduce, as dz::distributed::ReduceOp.
enum class CollectiveReduce { Sum, Mean, Max };

/// Reduces `t` in place over the ranks of communicator `comm` (0: the whole job).
using AllReduceHook = void (*)(const Tensor &t, CollectiveReduce op, int64_t comm);

/// Installs `hook` (null removes it); returns the previous one.
AllReduceHook set_all_reduce_hook(AllReduceHook hook);
/// The hook installed now, or null (a world of one).
AllReduceHook all_reduce_hook();

/// `t` reduced in place through the hook; with none installed (a world of one), `t` as it
/// is. Throws dz::Error for a communicator other than 0.
void all_reduce_in_place(const Tensor &t, CollectiveReduce op, int64_t comm);

} // namespace dz
