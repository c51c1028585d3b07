// dzc/distributed.h - data-parallel training across processes: collectives on OpenMPI (CPU
// tensors) and NCCL (CUDA tensors), DataParallel, and rank-0 checkpoints.
//
//   dz::distributed::init();                       // MPI when launched by mpirun
//   dz::Model model = ...;
//   dz::distributed::DataParallel dp(model);       // parameters broadcast from rank 0
//   dz::DataLoader loader(train, 100, true, seed,
//                         {.rank = dz::distributed::rank(),
//                          .world_size = dz::distributed::world_size()});
//   for (auto [x, t] : loader) {
//     auto loss = F::softmax_cross_entropy(model(x), t);
//     model.cleargrads();
//     loss.backward();
//     dp.all_reduce_grads();                       // gradients averaged over the ranks
//     optimizer.update();
//   }
//   dp.save_weights("model.npz");                  // written by rank 0 only
//   dz::distributed::finalize();
//
// A program started without a launcher is a world of one: init() loads nothing, rank() is
// 0, world_size() is 1 and every collective leaves its tensor as it is. Under a launcher
// (mpirun, or anything that sets OpenMPI's OMPI_COMM_WORLD_* or PMIx's PMIX_RANK), init()
// loads libmpi.so.40 with dlopen; dzc never links MPI. It talks to MPI through OpenMPI's
// ABI (its handles are the addresses of the library's ompi_mpi_* objects), so the library
// must be OpenMPI 4 or 5 (Debian: openmpi-bin, libopenmpi-dev).
//
// CUDA tensors go through NCCL (libnccl.so.2, from the CUDA toolkit's lib64 or the loader's
// path), whose communicator is set up on the first collective of a CUDA tensor, one
// process per GPU. Without NCCL (or with DZ_DISTRIBUTED_NCCL=0) a CUDA tensor is copied to
// the host, reduced by MPI and copied back.
//
// Failures: a collective that waits longer than DZ_DISTRIBUTED_TIMEOUT seconds (default
// 300) for the other ranks ends its process (a watchdog thread), saying which collective on
// which rank timed out, and mpirun then ends the job. init() installs a std::terminate handler, so an exception nobody catches on any
// rank prints "rank R failed: ..." and calls MPI_Abort, which ends every rank. A process
// that exits without calling finalize() (returning from main after an error) is taken by
// mpirun as a failed rank, and it ends the job naming that rank. See docs/distributed.md.
#pragma once

#include <dzc/layers.h>
#include <dzc/tensor.h>
#include <dzc/variable.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dz::detail {
class Tracer;
}

namespace dz::distributed {

enum class ReduceOp { Sum, Mean, Max };

/// Joins the job: under a launcher, loads MPI and initialises it; otherwise a world of one.
/// Idempotent. Throws dz::Error when a launcher is detected but MPI cannot be loaded.
void init();
/// Whether init() has run (and finalize() has not).
bool initialized();
/// This process's rank, 0 .. world_size() - 1 (0 before init()).
int rank();
/// The number of processes in the job (1 before init() and without a launcher).
int world_size();
/// The rank of this process among those on its machine (OMPI_COMM_WORLD_LOCAL_RANK): the
/// GPU it should use, one process per GPU.
int local_rank();
/// "OpenMPI (Open MPI v4.1.4, ...), 2 ranks" or "none (a world of one)".
std::string backend();
/// Leaves the job (MPI_Finalize). Call it at the end of a successful run on every rank.
void finalize();
/// Ends every rank of the job now (MPI_Abort), printing `message` with this rank's number;
/// for a program that catches an error it cannot recover from. Without MPI: std::exit(code).
[[noreturn]] void abort(const std::string &message, int code = 1);

/// Reduces `t` over all ranks, in place: after the call every rank holds the sum, the
/// mean or the maximum. Every rank must call it with the same shape and dtype. float32,
/// float64, int32, int64 and uint8 reduce with every op (the Mean of an integer tensor is
/// an error: use Sum); bool reduces with Max (any rank true). CUDA tensors use NCCL.
/// Inside dz::compile it is traced as a dz.all_reduce that every call runs (not for uint8,
/// which the dz dialect lacks); broadcast() and barrier() are not traced.
void all_reduce(const Tensor &t, ReduceOp op = ReduceOp::Sum);
void all_reduce(const Variable &v, ReduceOp op = ReduceOp::Sum);
/// Copies rank `root`'s values of `t` into `t` on every rank, in place.
void broadcast(const Tensor &t, int root = 0);
void broadcast(const Variable &v, int root = 0);
/// Returns once every rank has called it.
void barrier();

struct DataParallelOptions {
  /// Gradients are packed into buckets of at most this many bytes (one parameter larger
  /// than that gets a bucket of its own), one all-reduce per bucket, as PyTorch's DDP.
  int64_t bucket_bytes = 25 * 1024 * 1024;
  /// Eager backward passes start a bucket's all-reduce, on a thread of DataParallel's
  /// own, as soon as the bucket's gradients are final, overlapping the rest of the
  /// backward pass; all_reduce_grads() then waits for them and reduces the rest. One
  /// backward() per all_reduce_grads() (a second one before it is a dz::Error), on the
  /// thread that made the DataParallel. Off by default: on the 2-core machine of
  /// docs/performance.md it does not pay (the numbers are there).
  bool overlap = false;
};

struct OverlapState;

/// What one call of all_reduce_grads() moved.
struct DataParallelStats {
  int64_t buckets = 0;      // all-reduce calls per step
  int64_t bytes = 0;        // gradient bytes reduced per step (each rank's buffer)
  double last_seconds = 0;  // wall time of the last all_reduce_grads()
  double total_seconds = 0; // summed over all calls
  int64_t calls = 0;
};

/// Data parallel training of `model`: every rank holds a replica, trains on its shard of
/// the data, and averages the gradients before each update.
class DataParallel {
public:
  /// Checks that every rank has the same parameters (count, names, shapes, dtypes; a
  /// mismatch is a dz::Error on every rank naming the rank and the parameter) and copies
  /// rank 0's values into every replica. Every parameter must have its data: run one
  /// forward pass first for layers sized by their first input.
  explicit DataParallel(Layer &model, DataParallelOptions options = {});

  /// After backward(): replaces every parameter's gradient by its mean over the ranks. A
  /// parameter without a gradient counts as a zero gradient, and gets the mean too (one
  /// that no rank has a gradient for keeps none). Inside dz::compile it is traced: one
  /// dz.all_reduce "mean" per parameter, run by every call of the compiled step (there every
  /// parameter ends with a gradient; docs/distributed.md).
  void all_reduce_grads();
  /// Copies rank 0's parameter values into every replica again.
  void broadcast_params();

  /// Rank 0 writes the parameters (Layer::save_weights: atomically, through a temporary
  /// file renamed into place); the other ranks wait until the file is complete.
  void save_weights(const std::string &path, bool compressed = false) const;
  /// Every rank reads the file (after any rank-0 write in flight has finished).
  void load_weights(const std::string &path);

  Layer &module() { return model_; }
  const DataParallelOptions &options() const { return options_; }
  const DataParallelStats &stats() const { return stats_; }

private:
  struct Bucket {
    std::vector<size_t> params; // indices into params_, in reduction order
    DType dtype;
    Device device;
    int64_t numel = 0;
  };
  void plan_buckets();
  static Tensor pack(const std::vector<Parameter> &params, const Bucket &b);
  static void unpack(const std::vector<Parameter> &params, const Bucket &b, const Tensor &buf);
  void all_reduce_grads_traced(detail::Tracer &tracer);
  friend struct OverlapState;

  Layer model_; // a handle sharing the model's registry
  DataParallelOptions options_;
  std::vector<Parameter> params_;
  std::vector<Bucket> buckets_;
  DataParallelStats stats_;
  std::shared_ptr<OverlapState> overlap_; // with options_.overlap and several ranks
};

} // namespace dz::distributed
