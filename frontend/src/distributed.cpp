// distributed.cpp - dz::distributed (dzc/distributed.h): OpenMPI and NCCL loaded with
// dlopen, the collectives, DataParallel.
//
// MPI through OpenMPI's ABI without its headers: a handle (MPI_Comm, MPI_Datatype, MPI_Op,
// MPI_Errhandler) is the address of one of the library's predefined objects
// (ompi_mpi_comm_world, ompi_mpi_double, ompi_mpi_op_sum, ...), found with dlsym;
// MPI_IN_PLACE is (void *)1 and MPI_STATUS_IGNORE a null pointer, as OpenMPI's mpi.h
// defines them. The collectives are MPI's blocking ones (OpenMPI's tuned algorithms; its
// non-blocking all-reduce is ten times slower for a 7 MB gradient here), each watched by a
// thread: a rank that waits longer than DZ_DISTRIBUTED_TIMEOUT seconds for a dead or
// diverged peer prints what it waited for and exits, and mpirun then ends the job.
#include "gradient_ready.h"
#include "tracer.h"

#include <dzc/collectives.h>
#include <dzc/device_backend.h>
#include <dzc/distributed.h>
#include <dzc/trace_hook.h>

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#ifndef DZ_CUDA_LIBRARY_DIR
#define DZ_CUDA_LIBRARY_DIR "/usr/local/cuda/lib64"
#endif

namespace dz::distributed {

namespace {

// ---- OpenMPI, loaded ---------------------------------------------------------------------

using Handle = void *;               // MPI_Comm, MPI_Datatype, MPI_Op, MPI_Errhandler, MPI_Request
constexpr int kThreadSerialized = 2; // MPI_THREAD_SERIALIZED in OpenMPI's enum
void *const kInPlace = reinterpret_cast<void *>(1);

struct Mpi {
  void *lib = nullptr;
  int (*Init_thread)(int *, char ***, int, int *) = nullptr;
  int (*Initialized)(int *) = nullptr;
  int (*Finalized)(int *) = nullptr;
  int (*Finalize)() = nullptr;
  int (*Abort)(Handle, int) = nullptr;
  int (*Comm_rank)(Handle, int *) = nullptr;
  int (*Comm_size)(Handle, int *) = nullptr;
  int (*Comm_set_errhandler)(Handle, Handle) = nullptr;
  int (*Allreduce)(const void *, void *, int, Handle, Handle, Handle) = nullptr;
  int (*Bcast)(void *, int, Handle, int, Handle) = nullptr;
  int (*Barrier)(Handle) = nullptr;
  int (*Error_string)(int, char *, int *) = nullptr;
  int (*Get_library_version)(char *, int *) = nullptr;
  Handle comm_world = nullptr, errors_return = nullptr;
  Handle t_float = nullptr, t_double = nullptr, t_int32 = nullptr, t_int64 = nullptr,
         t_uint8 = nullptr, t_byte = nullptr;
  Handle op_sum = nullptr, op_max = nullptr;
  std::string version;
};

struct State {
  std::recursive_mutex mu;
  bool initialized = false;
  bool finalized = false;
  bool mpi_started_here = false;
  Mpi mpi;
  bool have_mpi = false;
  int rank = 0, size = 1, local_rank = 0;
  double timeout_s = 300;
  std::terminate_handler previous_terminate = nullptr;
  // The watchdog: the collective in progress and when it must have finished.
  std::mutex watch_mu;
  std::condition_variable watch_cv;
  bool watching = false, watch_stop = false;
  std::chrono::steady_clock::time_point deadline;
  std::string watched; // "all_reduce of 24 bytes"
  std::thread watchdog;
  // NCCL (loaded on the first collective of a CUDA tensor)
  bool nccl_tried = false;
  void *nccl_lib = nullptr;
  void *nccl_comm = nullptr;
  std::string nccl_why;
};

State &state() {
  static State *s = new State; // never destroyed: the terminate handler may run at exit
  return *s;
}

bool launched_by_mpi() {
  for (const char *v : {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"})
    if (const char *p = std::getenv(v); p && *p)
      return true;
  return false;
}

template <typename Fn> void resolve(void *lib, Fn &fn, const char *name, std::string &missing) {
  fn = reinterpret_cast<Fn>(dlsym(lib, name));
  if (!fn)
    missing += std::string(missing.empty() ? "" : ", ") + name;
}

Handle object(void *lib, const char *name, std::string &missing) {
  void *p = dlsym(lib, name);
  if (!p)
    missing += std::string(missing.empty() ? "" : ", ") + name;
  return p;
}

void load_mpi(Mpi &m) {
  std::string tried;
  const char *override_path = std::getenv("DZ_MPI_LIBRARY");
  std::vector<std::string> names;
  if (override_path && *override_path)
    names.push_back(override_path);
  names.insert(names.end(), {"libmpi.so.40", "libmpi.so"});
  for (const std::string &n : names) {
    // RTLD_GLOBAL: OpenMPI's plugins, which it dlopens itself, resolve its symbols.
    m.lib = dlopen(n.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (m.lib)
      break;
    const char *e = dlerror();
    tried += "\n  " + n + ": " + (e ? e : "dlopen failed");
  }
  if (!m.lib)
    throw Error("dz::distributed::init: the program runs under an MPI launcher but OpenMPI's "
                "library could not be loaded (install openmpi-bin and libopenmpi-dev, or set "
                "DZ_MPI_LIBRARY to libmpi.so.40):" +
                tried);
  std::string missing;
  resolve(m.lib, m.Init_thread, "MPI_Init_thread", missing);
  resolve(m.lib, m.Initialized, "MPI_Initialized", missing);
  resolve(m.lib, m.Finalized, "MPI_Finalized", missing);
  resolve(m.lib, m.Finalize, "MPI_Finalize", missing);
  resolve(m.lib, m.Abort, "MPI_Abort", missing);
  resolve(m.lib, m.Comm_rank, "MPI_Comm_rank", missing);
  resolve(m.lib, m.Comm_size, "MPI_Comm_size", missing);
  resolve(m.lib, m.Comm_set_errhandler, "MPI_Comm_set_errhandler", missing);
  resolve(m.lib, m.Allreduce, "MPI_Allreduce", missing);
  resolve(m.lib, m.Bcast, "MPI_Bcast", missing);
  resolve(m.lib, m.Barrier, "MPI_Barrier", missing);
  resolve(m.lib, m.Error_string, "MPI_Error_string", missing);
  resolve(m.lib, m.Get_library_version, "MPI_Get_library_version", missing);
  m.comm_world = object(m.lib, "ompi_mpi_comm_world", missing);
  m.errors_return = object(m.lib, "ompi_mpi_errors_return", missing);
  m.t_float = object(m.lib, "ompi_mpi_float", missing);
  m.t_double = object(m.lib, "ompi_mpi_double", missing);
  m.t_int32 = object(m.lib, "ompi_mpi_int32_t", missing);
  m.t_int64 = object(m.lib, "ompi_mpi_int64_t", missing);
  m.t_uint8 = object(m.lib, "ompi_mpi_uint8_t", missing);
  m.t_byte = object(m.lib, "ompi_mpi_byte", missing);
  m.op_sum = object(m.lib, "ompi_mpi_op_sum", missing);
  m.op_max = object(m.lib, "ompi_mpi_op_max", missing);
  if (!missing.empty())
    throw Error("dz::distributed::init: the MPI library loaded is not OpenMPI 4 or 5 (dzc uses "
                "OpenMPI's ABI); missing: " +
                missing);
  char buf[512] = {};
  int len = 0;
  if (m.Get_library_version(buf, &len) == 0)
    m.version = std::string(buf, size_t(std::clamp(len, 0, int(sizeof buf) - 1)));
  if (const size_t nl = m.version.find_first_of("\r\n,"); nl != std::string::npos)
    m.version.resize(nl);
}

std::string mpi_error(int code) {
  State &s = state();
  char buf[1024] = {};
  int len = 0;
  if (s.have_mpi && s.mpi.Error_string(code, buf, &len) == 0)
    return std::string(buf, size_t(std::clamp(len, 0, int(sizeof buf) - 1)));
  return "MPI error " + std::to_string(code);
}

void check_mpi(int code, const char *what) {
  if (code != 0)
    throw Error(std::string("dz::distributed::") + what + " on rank " +
                std::to_string(state().rank) + ": " + mpi_error(code));
}

[[noreturn]] void abort_job(const std::string &message, int code) {
  State &s = state();
  std::fprintf(stderr, "dz::distributed: rank %d of %d: %s\n", s.rank, s.size, message.c_str());
  std::fflush(stderr);
  if (s.have_mpi && !s.finalized)
    s.mpi.Abort(s.mpi.comm_world, code);
  std::_Exit(code);
}

void terminate_handler() {
  std::string what = "terminate called without an active exception";
  if (std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception &ex) {
      what = std::string("uncaught exception: ") + ex.what();
    } catch (...) {
      what = "uncaught exception of an unknown type";
    }
  }
  abort_job("failed: " + what + "; ending the job (MPI_Abort)", 1);
}

/// The watchdog thread: exits the process when a collective outlives its deadline. It
/// calls no MPI function (MPI was initialised for one thread at a time): mpirun ends the
/// whole job when a rank exits without finalize().
void watchdog_loop() {
  State &s = state();
  std::unique_lock<std::mutex> lock(s.watch_mu);
  for (;;) {
    if (s.watch_stop)
      return;
    if (!s.watching) {
      s.watch_cv.wait(lock);
      continue;
    }
    s.watch_cv.wait_until(lock, s.deadline);
    if (s.watching && !s.watch_stop && std::chrono::steady_clock::now() >= s.deadline) {
      std::fprintf(stderr,
                   "dz::distributed: rank %d of %d: %s waited %d s for the other ranks "
                   "(DZ_DISTRIBUTED_TIMEOUT): another rank has failed, or the ranks call "
                   "different collectives; ending the job\n",
                   s.rank, s.size, s.watched.c_str(), int(s.timeout_s));
      std::fflush(stderr);
      std::_Exit(3);
    }
  }
}

/// Arms the watchdog for one blocking collective.
class Watch {
public:
  Watch(const char *what, size_t bytes) {
    State &s = state();
    {
      std::lock_guard<std::mutex> lock(s.watch_mu);
      s.watched = std::string(what) + " of " + std::to_string(bytes) + " bytes";
      s.deadline = std::chrono::steady_clock::now() +
                   std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                       std::chrono::duration<double>(s.timeout_s));
      s.watching = true;
    }
    s.watch_cv.notify_all();
  }
  ~Watch() {
    State &s = state();
    std::lock_guard<std::mutex> lock(s.watch_mu);
    s.watching = false;
  }
  Watch(const Watch &) = delete;
  Watch &operator=(const Watch &) = delete;
};

void require_init(const char *who) {
  State &s = state();
  if (!s.initialized)
    throw Error(std::string("dz::distributed::") + who +
                ": call dz::distributed::init() first (on every rank)");
}

void refuse_in_trace(const char *who) {
  if (trace_hook() && state().size > 1)
    throw Error(std::string("dz::distributed::") + who + ": called inside dz::compile with " +
                std::to_string(state().size) +
                " ranks; it is not traced (only all_reduce and DataParallel::all_reduce_grads "
                "are), so the compiled step would not exchange anything. Call it outside the "
                "compiled function");
}

const char *reduction_name(ReduceOp op) {
  return op == ReduceOp::Sum ? "sum" : op == ReduceOp::Mean ? "mean" : "max";
}

/// Inside dz::compile: whether the IR can hold an all-reduce of `t`.
void check_traceable(const Tensor &t, const char *who) {
  if (t.dtype() == u8)
    throw Error(std::string("dz::distributed::") + who +
                ": a uint8 tensor cannot be reduced inside dz::compile (the dz dialect has no "
                "uint8); convert it to int32 first, or reduce it outside the compiled function");
}

/// dz.all_reduce's hook (dzc/collectives.h): a compiled program's all-reduce.
void program_all_reduce(const Tensor &t, CollectiveReduce op, int64_t comm) {
  (void)comm; // 0, checked by the runtime
  all_reduce(t, op == CollectiveReduce::Sum    ? ReduceOp::Sum
                : op == CollectiveReduce::Mean ? ReduceOp::Mean
                                               : ReduceOp::Max);
}

Handle mpi_type(DType dt) {
  const Mpi &m = state().mpi;
  switch (dt) {
  case f32:
    return m.t_float;
  case f64:
    return m.t_double;
  case i32:
    return m.t_int32;
  case i64:
    return m.t_int64;
  case u8:
  case b8:
    return m.t_uint8;
  default:
    throw Error(std::string("all_reduce: dtype ") + dtype_name(dt) +
                " is not reduced across ranks (float32, float64, int32, int64, uint8, bool are)");
  }
  return nullptr;
}

void check_reduce(const Tensor &t, ReduceOp op, const char *who) {
  if (!t.defined() && t.size() != 0)
    throw Error(std::string("dz::distributed::") + who + ": the tensor has no data");
  const DType dt = t.dtype();
  if (op == ReduceOp::Mean && dt != f32 && dt != f64)
    throw Error(std::string("dz::distributed::") + who + ": the Mean of a " + dtype_name(dt) +
                " tensor in place is not representable; use ReduceOp::Sum (or convert to "
                "float32/float64 first)");
  if (dt == b8 && op != ReduceOp::Max)
    throw Error(std::string("dz::distributed::") + who +
                ": a bool tensor reduces with ReduceOp::Max (any rank true) only");
}

/// MPI all-reduce of host memory, in place, in chunks of at most INT_MAX elements.
void mpi_all_reduce(void *data, int64_t n, DType dt, ReduceOp op) {
  State &s = state();
  const size_t es = dtype_size(dt);
  char *p = static_cast<char *>(data);
  for (int64_t done = 0; done < n;) {
    const int count = int(std::min<int64_t>(n - done, INT_MAX));
    Watch watch("all_reduce", size_t(count) * es);
    check_mpi(s.mpi.Allreduce(kInPlace, p + size_t(done) * es, count, mpi_type(dt),
                              op == ReduceOp::Max ? s.mpi.op_max : s.mpi.op_sum, s.mpi.comm_world),
              "all_reduce");
    done += count;
  }
  if (op == ReduceOp::Mean) {
    if (dt == f32) {
      float *f = static_cast<float *>(data);
      for (int64_t i = 0; i < n; ++i)
        f[i] /= float(s.size);
    } else {
      double *d = static_cast<double *>(data);
      for (int64_t i = 0; i < n; ++i)
        d[i] /= double(s.size);
    }
  }
}

void mpi_broadcast(void *data, size_t bytes, int root) {
  State &s = state();
  char *p = static_cast<char *>(data);
  for (size_t done = 0; done < bytes;) {
    const int count = int(std::min<size_t>(bytes - done, size_t(INT_MAX)));
    Watch watch("broadcast", size_t(count));
    check_mpi(s.mpi.Bcast(p + done, count, s.mpi.t_byte, root, s.mpi.comm_world), "broadcast");
    done += size_t(count);
  }
}

// ---- NCCL, loaded ------------------------------------------------------------------------

// From nccl.h (stable since NCCL 2.0; ncclAvg since 2.10).
struct NcclUniqueId {
  char internal[128];
};
enum NcclDataType { ncclUint8 = 1, ncclInt32 = 2, ncclInt64 = 4, ncclFloat32 = 7, ncclFloat64 = 8 };
enum NcclRedOp { ncclSum = 0, ncclMax = 2, ncclAvg = 4 };

struct NcclFns {
  int (*GetUniqueId)(NcclUniqueId *) = nullptr;
  int (*CommInitRank)(void **, int, NcclUniqueId, int) = nullptr;
  int (*AllReduce)(const void *, void *, size_t, int, int, void *, void *) = nullptr;
  int (*Broadcast)(const void *, void *, size_t, int, int, void *, void *) = nullptr;
  const char *(*GetErrorString)(int) = nullptr;
  int (*CommDestroy)(void *) = nullptr;
};
NcclFns nccl;

/// Loads NCCL and makes the communicator (collective over MPI: every rank calls it at its
/// first CUDA collective). False, with state().nccl_why, when NCCL is not used.
bool nccl_ready(Device dev) {
  State &s = state();
  if (s.nccl_comm)
    return true;
  if (s.nccl_tried)
    return false;
  s.nccl_tried = true;
  if (const char *e = std::getenv("DZ_DISTRIBUTED_NCCL"); e && std::string(e) == "0") {
    s.nccl_why = "DZ_DISTRIBUTED_NCCL=0";
  } else if (device_backend(dev).describe().find("emulated on the host") != std::string::npos) {
    s.nccl_why = "the CUDA device is the host emulation";
  } else {
    for (const char *n : {DZ_CUDA_LIBRARY_DIR "/libnccl.so.2", "libnccl.so.2"}) {
      s.nccl_lib = dlopen(n, RTLD_NOW | RTLD_LOCAL);
      if (s.nccl_lib)
        break;
    }
    if (!s.nccl_lib) {
      const char *e = dlerror();
      s.nccl_why = std::string("libnccl.so.2 not loaded: ") + (e ? e : "dlopen failed");
    } else {
      std::string missing;
      resolve(s.nccl_lib, nccl.GetUniqueId, "ncclGetUniqueId", missing);
      resolve(s.nccl_lib, nccl.CommInitRank, "ncclCommInitRank", missing);
      resolve(s.nccl_lib, nccl.AllReduce, "ncclAllReduce", missing);
      resolve(s.nccl_lib, nccl.Broadcast, "ncclBroadcast", missing);
      resolve(s.nccl_lib, nccl.GetErrorString, "ncclGetErrorString", missing);
      resolve(s.nccl_lib, nccl.CommDestroy, "ncclCommDestroy", missing);
      if (!missing.empty())
        s.nccl_why = "libnccl.so.2 lacks " + missing;
    }
  }
  // Every rank must agree on using NCCL: one that cannot makes all stage through the host.
  int32_t cannot = s.nccl_why.empty() ? 0 : 1;
  mpi_all_reduce(&cannot, 1, i32, ReduceOp::Max);
  if (cannot) {
    if (s.nccl_why.empty())
      s.nccl_why = "another rank cannot use NCCL";
    return false;
  }
  NcclUniqueId id{};
  if (s.rank == 0) {
    const int r = nccl.GetUniqueId(&id);
    if (r != 0)
      abort_job(std::string("ncclGetUniqueId: ") + nccl.GetErrorString(r), 1);
  }
  mpi_broadcast(&id, sizeof id, 0);
  device_backend(dev).synchronize(); // the device's context is current on this thread
  const int r = nccl.CommInitRank(&s.nccl_comm, s.size, id, s.rank);
  // A communicator on every rank, or on none (two ranks on one GPU, a driver problem): then
  // the CUDA tensors go through the host.
  int32_t failed = r != 0 ? 1 : 0;
  mpi_all_reduce(&failed, 1, i32, ReduceOp::Max);
  if (failed) {
    if (r == 0 && s.nccl_comm)
      nccl.CommDestroy(s.nccl_comm);
    s.nccl_comm = nullptr;
    s.nccl_why = r != 0 ? std::string("ncclCommInitRank: ") + nccl.GetErrorString(r)
                        : "ncclCommInitRank failed on another rank";
    if (s.rank == 0)
      std::fprintf(stderr,
                   "dz::distributed: NCCL not used (%s); CUDA tensors are reduced "
                   "through host memory\n",
                   s.nccl_why.c_str());
    return false;
  }
  return true;
}

int nccl_type(DType dt) {
  switch (dt) {
  case f32:
    return ncclFloat32;
  case f64:
    return ncclFloat64;
  case i32:
    return ncclInt32;
  case i64:
    return ncclInt64;
  case u8:
  case b8:
    return ncclUint8;
  default:
    throw Error(std::string("all_reduce: dtype ") + dtype_name(dt) +
                " is not reduced across ranks (float32, float64, int32, int64, uint8, bool are)");
  }
  return ncclUint8;
}

void check_nccl(int r, const char *what) {
  if (r != 0)
    throw Error(std::string("dz::distributed::") + what + " (NCCL) on rank " +
                std::to_string(state().rank) + ": " + nccl.GetErrorString(r));
}

} // namespace

// ---- the process group ---------------------------------------------------------------------

void init() {
  State &s = state();
  std::lock_guard<std::recursive_mutex> lock(s.mu);
  if (s.initialized)
    return;
  if (s.finalized)
    throw Error("dz::distributed::init: called after finalize(); MPI cannot start twice");
  if (const char *t = std::getenv("DZ_DISTRIBUTED_TIMEOUT"); t && *t) {
    char *end = nullptr;
    const double v = std::strtod(t, &end);
    if (end == t || *end || !(v > 0))
      throw Error(std::string("dz::distributed::init: DZ_DISTRIBUTED_TIMEOUT must be a "
                              "positive number of seconds, got '") +
                  t + "'");
    s.timeout_s = v;
  }
  if (!launched_by_mpi()) {
    s.initialized = true; // a world of one
    return;
  }
  load_mpi(s.mpi);
  s.have_mpi = true;
  int already = 0;
  check_mpi(s.mpi.Initialized(&already), "init");
  if (!already) {
    int provided = 0;
    check_mpi(s.mpi.Init_thread(nullptr, nullptr, kThreadSerialized, &provided), "init");
    s.mpi_started_here = true;
  }
  check_mpi(s.mpi.Comm_set_errhandler(s.mpi.comm_world, s.mpi.errors_return), "init");
  check_mpi(s.mpi.Comm_rank(s.mpi.comm_world, &s.rank), "init");
  check_mpi(s.mpi.Comm_size(s.mpi.comm_world, &s.size), "init");
  if (const char *l = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK"))
    s.local_rank = std::atoi(l);
  set_all_reduce_hook(program_all_reduce);
  s.previous_terminate = std::set_terminate(terminate_handler);
  s.watch_stop = false;
  s.watchdog = std::thread(watchdog_loop);
  s.initialized = true;
}

bool initialized() { return state().initialized; }
int rank() { return state().rank; }
int world_size() { return state().size; }
int local_rank() { return state().local_rank; }

std::string backend() {
  const State &s = state();
  if (!s.have_mpi)
    return "none (a world of one)";
  return "OpenMPI (" + s.mpi.version + "), " + std::to_string(s.size) + " ranks";
}

void finalize() {
  State &s = state();
  std::lock_guard<std::recursive_mutex> lock(s.mu);
  if (!s.initialized)
    return;
  s.initialized = false;
  if (!s.have_mpi)
    return; // a world of one may init() again
  s.finalized = true;
  if (s.nccl_comm) {
    nccl.CommDestroy(s.nccl_comm);
    s.nccl_comm = nullptr;
  }
  set_all_reduce_hook(nullptr);
  std::set_terminate(s.previous_terminate);
  {
    std::lock_guard<std::mutex> watch_lock(s.watch_mu);
    s.watch_stop = true;
  }
  s.watch_cv.notify_all();
  if (s.watchdog.joinable())
    s.watchdog.join();
  int done = 0;
  s.mpi.Finalized(&done);
  if (s.mpi_started_here && !done)
    check_mpi(s.mpi.Finalize(), "finalize");
}

void abort(const std::string &message, int code) { abort_job(message, code); }

// ---- collectives ---------------------------------------------------------------------------

void all_reduce(const Tensor &t, ReduceOp op) {
  State &s = state();
  std::lock_guard<std::recursive_mutex> lock(s.mu);
  require_init("all_reduce");
  check_reduce(t, op, "all_reduce");
  // Inside dz::compile: a dz.all_reduce that overwrites t, then the reduction now (the
  // trace runs on real data, and the first call returns real values).
  if (detail::Tracer *tracer = detail::Tracer::recording()) {
    check_traceable(t, "all_reduce");
    tracer->inplace_unary("all_reduce", t,
                          {{"reduction", std::string(reduction_name(op))}, {"comm", int64_t(0)}});
  } else {
    refuse_in_trace("all_reduce");
  }
  TraceScope off;
  if (s.size == 1 || t.size() == 0)
    return;
  const Device dev = t.device();
  if (dev.is_cpu()) {
    mpi_all_reduce(t.raw(), t.size(), t.dtype(), op);
    return;
  }
  if (nccl_ready(dev)) {
    DeviceBackend &b = device_backend(dev);
    b.synchronize();
    const int nop = op == ReduceOp::Max ? ncclMax : op == ReduceOp::Mean ? ncclAvg : ncclSum;
    check_nccl(nccl.AllReduce(t.raw(), t.raw(), size_t(t.size()), nccl_type(t.dtype()), nop,
                              s.nccl_comm, nullptr),
               "all_reduce");
    b.synchronize();
    return;
  }
  // Staged through the host.
  Tensor host = t.to(Device::cpu());
  mpi_all_reduce(host.raw(), host.size(), host.dtype(), op);
  device_backend(dev).copy_to_device(t.raw(), host.raw(), host.nbytes());
}

void all_reduce(const Variable &v, ReduceOp op) { all_reduce(v.data(), op); }

void broadcast(const Tensor &t, int root) {
  State &s = state();
  std::lock_guard<std::recursive_mutex> lock(s.mu);
  require_init("broadcast");
  if (root < 0 || root >= s.size)
    throw Error("dz::distributed::broadcast: root " + std::to_string(root) +
                " is not a rank; valid: 0.." + std::to_string(s.size - 1));
  refuse_in_trace("broadcast");
  if (s.size == 1 || t.size() == 0)
    return;
  const Device dev = t.device();
  if (dev.is_cpu()) {
    mpi_broadcast(t.raw(), t.nbytes(), root);
    return;
  }
  if (nccl_ready(dev)) {
    DeviceBackend &b = device_backend(dev);
    b.synchronize();
    check_nccl(nccl.Broadcast(t.raw(), t.raw(), t.nbytes(), ncclUint8, root, s.nccl_comm, nullptr),
               "broadcast");
    b.synchronize();
    return;
  }
  Tensor host = t.to(Device::cpu());
  mpi_broadcast(host.raw(), host.nbytes(), root);
  device_backend(dev).copy_to_device(t.raw(), host.raw(), host.nbytes());
}

void broadcast(const Variable &v, int root) { broadcast(v.data(), root); }

void barrier() {
  State &s = state();
  std::lock_guard<std::recursive_mutex> lock(s.mu);
  require_init("barrier");
  if (s.size == 1)
    return;
  Watch watch("barrier", 0);
  check_mpi(s.mpi.Barrier(s.mpi.comm_world), "barrier");
}

// ---- DataParallel --------------------------------------------------------------------------

namespace {

int64_t fnv1a(const std::string &s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return int64_t(h & 0x7fffffffffffffffull); // positive: sums with zeros stay exact
}

/// Every rank's `row` (all of one length), gathered: an all-reduce Sum of a world x n
/// matrix that is zero outside this rank's row.
std::vector<std::vector<int64_t>> all_gather(const std::vector<int64_t> &row) {
  const int w = world_size(), r = rank();
  const int64_t n = int64_t(row.size());
  Tensor m = Tensor({int64_t(w), n}, i64);
  m.fill_(0);
  std::copy(row.begin(), row.end(), m.data<int64_t>() + r * n);
  all_reduce(m, ReduceOp::Sum);
  std::vector<std::vector<int64_t>> out(static_cast<size_t>(w));
  for (int k = 0; k < w; ++k)
    out[size_t(k)].assign(m.data<int64_t>() + k * n, m.data<int64_t>() + (k + 1) * n);
  return out;
}

constexpr int kMaxDims = 8;

std::string describe_meta(const int64_t *meta) {
  Shape shape;
  for (int d = 0; d < int(std::min<int64_t>(meta[2], kMaxDims)); ++d)
    shape.push_back(meta[3 + d]);
  std::string s = shape_str(shape);
  if (meta[2] > kMaxDims)
    s += " (first " + std::to_string(kMaxDims) + " axes)";
  return s + " " + dtype_name(DType(meta[1]));
}

void copy_bytes(void *dst, const void *src, size_t bytes, Device dev) {
  if (!bytes)
    return;
  if (dev.is_cpu())
    std::memcpy(dst, src, bytes);
  else
    device_backend(dev).copy_on_device(dst, src, bytes);
}

void write_host(void *dst, const void *src_host, size_t bytes, Device dev) {
  if (!bytes)
    return;
  if (dev.is_cpu())
    std::memcpy(dst, src_host, bytes);
  else
    device_backend(dev).copy_to_device(dst, src_host, bytes);
}

} // namespace

// ---- overlap: all-reduces started during backward() ----------------------------------------

/// Listens to this thread's eager backward passes: when the last gradient of the next bucket
/// (in bucket order, the same on every rank) is final, packs the bucket and hands it to a
/// thread that all-reduces it while backward() goes on. finish() (all_reduce_grads) waits
/// for that thread, reduces the buckets not started (a parameter without a gradient here)
/// on this thread, in order, and unpacks every bucket.
struct OverlapState final : detail::GradientReadyListener {
  using Bucket = DataParallel::Bucket;
  std::vector<Parameter> params;
  std::vector<Bucket> buckets;
  std::unordered_map<const VariableNode *, size_t> index; // parameter -> its index
  std::vector<size_t> bucket_of;                          // parameter index -> bucket
  std::vector<bool> ready;                                // per parameter, this step
  std::vector<int64_t> missing;                           // per bucket: not ready yet
  std::vector<Tensor> bufs;                               // per bucket, once packed
  size_t started = 0;                                     // buckets handed to the thread
  detail::GradientReadyListener *previous = nullptr;
  // The reducing thread.
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  size_t reduced = 0; // buckets the thread has reduced
  bool stop = false;
  std::exception_ptr failure;

  OverlapState(const std::vector<Parameter> &ps, const std::vector<Bucket> &bs)
      : params(ps), buckets(bs), bucket_of(ps.size()), ready(ps.size(), false) {
    for (size_t k = 0; k < params.size(); ++k)
      index.emplace(params[k].node().get(), k);
    for (size_t b = 0; b < buckets.size(); ++b)
      for (size_t k : buckets[b].params)
        bucket_of[k] = b;
    reset();
    thread = std::thread([this] { run(); });
    previous = detail::set_gradient_ready_listener(this);
  }
  ~OverlapState() override {
    if (detail::gradient_ready_listener() == this)
      detail::set_gradient_ready_listener(previous);
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    cv.notify_all();
    thread.join();
  }
  OverlapState(const OverlapState &) = delete;
  OverlapState &operator=(const OverlapState &) = delete;

  void reset() {
    std::fill(ready.begin(), ready.end(), false);
    missing.assign(buckets.size(), 0);
    for (size_t b = 0; b < buckets.size(); ++b)
      missing[b] = int64_t(buckets[b].params.size());
    bufs.assign(buckets.size(), Tensor());
    started = 0;
    std::lock_guard<std::mutex> lock(mu);
    reduced = 0;
  }

  void gradient_ready(const std::shared_ptr<VariableNode> &leaf) override {
    auto it = index.find(leaf.get());
    if (it == index.end())
      return; // not one of the model's parameters
    const size_t k = it->second;
    if (ready[k])
      throw Error("DataParallel (overlap): a second backward() before all_reduce_grads(); with "
                  "the overlap option the gradients of one backward() are reduced as they "
                  "become final, so accumulating several is not possible (turn overlap off)");
    ready[k] = true;
    --missing[bucket_of[k]];
    // Start the ready buckets, in bucket order.
    while (started < buckets.size() && missing[started] == 0) {
      bufs[started] = DataParallel::pack(params, buckets[started]);
      {
        std::lock_guard<std::mutex> lock(mu);
        ++started;
      }
      cv.notify_all();
    }
  }

  void run() {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return stop || reduced < started; });
      if (stop)
        return;
      const size_t b = reduced;
      Tensor buf = bufs[b];
      lock.unlock();
      try {
        all_reduce(buf, ReduceOp::Sum);
      } catch (...) {
        lock.lock();
        if (!failure)
          failure = std::current_exception();
        ++reduced;
        cv.notify_all();
        continue;
      }
      lock.lock();
      ++reduced;
      cv.notify_all();
    }
  }

  void finish() {
    size_t begun;
    {
      std::unique_lock<std::mutex> lock(mu);
      begun = started;
      cv.wait(lock, [&] { return reduced == begun; });
    }
    std::exception_ptr failed;
    {
      std::lock_guard<std::mutex> lock(mu);
      failed = failure;
      failure = nullptr;
    }
    if (failed) {
      reset();
      std::rethrow_exception(failed);
    }
    for (size_t b = begun; b < buckets.size(); ++b) {
      bufs[b] = DataParallel::pack(params, buckets[b]);
      all_reduce(bufs[b], ReduceOp::Sum);
    }
    for (size_t b = 0; b < buckets.size(); ++b)
      DataParallel::unpack(params, buckets[b], bufs[b]);
    reset();
  }
};

DataParallel::DataParallel(Layer &model, DataParallelOptions options)
    : model_(model), options_(options) {
  if (options_.bucket_bytes <= 0)
    throw Error("DataParallel: bucket_bytes must be positive, got " +
                std::to_string(options_.bucket_bytes));
  init();
  // The parameters, each under its first name.
  params_ = model_.params();
  std::map<const VariableNode *, std::string> names;
  for (const auto &[name, p] : model_.named_params())
    names.emplace(p.node().get(), name);
  std::vector<std::string> empty;
  for (const Parameter &p : params_)
    if (!p.data().defined())
      empty.push_back(names[p.node().get()]);
  if (!empty.empty()) {
    std::string list;
    for (const std::string &n : empty)
      list += (list.empty() ? "'" : ", '") + n + "'";
    throw Error("DataParallel: parameter " + list +
                " has no data yet (its shape comes from the first input); run one forward "
                "pass before wrapping the model, or give the layer its input size");
  }

  // Every rank must hold the same parameters: count first, then names, shapes, dtypes.
  const auto counts = all_gather({int64_t(params_.size())});
  for (int k = 1; k < world_size(); ++k)
    if (counts[size_t(k)][0] != counts[0][0])
      throw Error("DataParallel: rank " + std::to_string(k) + " has " +
                  std::to_string(counts[size_t(k)][0]) + " parameters but rank 0 has " +
                  std::to_string(counts[0][0]) + "; every rank must build the same model");
  constexpr int per = 3 + kMaxDims; // name hash, dtype, ndim, dims
  std::vector<int64_t> row(params_.size() * per, 0);
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor &d = params_[i].data();
    int64_t *m = row.data() + i * per;
    m[0] = fnv1a(names[params_[i].node().get()]);
    m[1] = int64_t(d.dtype());
    m[2] = d.ndim();
    for (int a = 0; a < int(std::min<int64_t>(d.ndim(), kMaxDims)); ++a)
      m[3 + a] = d.shape()[size_t(a)];
  }
  const auto metas = all_gather(row);
  for (int k = 1; k < world_size(); ++k)
    for (size_t i = 0; i < params_.size(); ++i) {
      const int64_t *mine = metas[0].data() + i * per, *theirs = metas[size_t(k)].data() + i * per;
      const std::string name = names[params_[i].node().get()];
      const std::string which =
          "parameter " + std::to_string(i) + " of " + std::to_string(params_.size());
      if (theirs[0] != mine[0])
        throw Error("DataParallel: " + which + " is '" + name +
                    "' on rank 0 but has another "
                    "name on rank " +
                    std::to_string(k) +
                    "; every rank must build the same "
                    "model");
      if (!std::equal(mine + 1, mine + per, theirs + 1))
        throw Error("DataParallel: parameter '" + name + "' is " + describe_meta(mine) +
                    " on rank 0 but " + describe_meta(theirs) + " on rank " + std::to_string(k) +
                    "; every rank must build the same model");
    }
  plan_buckets();
  broadcast_params();
  if (options_.overlap && world_size() > 1)
    overlap_ = std::make_shared<OverlapState>(params_, buckets_);
}

void DataParallel::plan_buckets() {
  buckets_.clear();
  // Reverse registration order: the last layers' gradients are final first in backward.
  for (size_t k = params_.size(); k-- > 0;) {
    const Tensor &d = params_[k].data();
    Bucket *b = buckets_.empty() ? nullptr : &buckets_.back();
    if (!b || b->dtype != d.dtype() || !(b->device == d.device()) ||
        (b->numel + d.size()) * int64_t(dtype_size(d.dtype())) > options_.bucket_bytes) {
      buckets_.push_back(Bucket{{}, d.dtype(), d.device(), 0});
      b = &buckets_.back();
    }
    b->params.push_back(k);
    b->numel += d.size();
  }
  stats_.buckets = int64_t(buckets_.size());
  stats_.bytes = 0;
  for (const Bucket &b : buckets_)
    stats_.bytes += b.numel * int64_t(dtype_size(b.dtype));
}

void DataParallel::broadcast_params() {
  for (const Parameter &p : params_)
    broadcast(p.data(), 0);
}

void DataParallel::all_reduce_grads_traced(detail::Tracer &tracer) {
  // One dz.all_reduce "mean" per parameter, in the buckets' order: the eager run below (the
  // trace's, on real data) makes the same MPI calls, of the same sizes, as every run of the
  // compiled program, so a rank that traces again (its last batch has another shape)
  // still meets its peers' compiled all-reduces. A parameter without a gradient reduces
  // zeros, and gets the mean.
  for (const Bucket &b : buckets_)
    for (size_t k : b.params) {
      Parameter p = params_[k];
      const Variable g = p.grad();
      Tensor x;
      {
        TraceScope off;
        x = g.node() && g.data().defined() ? g.data()
                                           : zeros(p.data().shape(), b.dtype).to(b.device);
      }
      if (x.shape() != p.data().shape() || x.dtype() != b.dtype || !(x.device() == b.device))
        throw Error("DataParallel::all_reduce_grads: the gradient of a " +
                    shape_str(p.data().shape()) + " " + dtype_name(b.dtype) + " parameter is " +
                    shape_str(x.shape()) + " " + dtype_name(x.dtype()) + " on " + x.device().str());
      Tensor y;
      {
        TraceScope off;
        y = x.copy();
      }
      tracer.op("all_reduce", {&x}, y, {{"reduction", std::string("mean")}, {"comm", int64_t(0)}});
      {
        TraceScope off;
        all_reduce(y, ReduceOp::Mean);
      }
      p.set_grad(Variable(y));
    }
}

void DataParallel::all_reduce_grads() {
  const int w = world_size();
  if (detail::Tracer *tracer = detail::Tracer::recording()) {
    all_reduce_grads_traced(*tracer);
    return;
  }
  if (trace_hook() && w > 1)
    throw Error("DataParallel::all_reduce_grads: called while another trace than dz::compile's "
                "records (" +
                std::to_string(w) + " ranks); call it outside");
  const auto start = std::chrono::steady_clock::now();
  if (w > 1 && overlap_) {
    overlap_->finish(); // the buckets started during backward(), then the others
  } else if (w > 1) {
    for (const Bucket &b : buckets_) {
      Tensor buf = pack(params_, b);
      all_reduce(buf, ReduceOp::Sum);
      unpack(params_, b, buf);
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stats_.last_seconds = secs;
  stats_.total_seconds += secs;
  ++stats_.calls;
}

Tensor DataParallel::pack(const std::vector<Parameter> &params, const Bucket &b) {
  // The gradients, then one presence flag per parameter (1 where this rank has a
  // gradient): after the sum, a zero flag means no rank had one.
  const size_t es = dtype_size(b.dtype);
  const int64_t np = int64_t(b.params.size());
  Tensor buf({b.numel + np}, b.dtype, b.device);
  std::vector<char> flags(size_t(np) * es, 0);
  std::vector<char> zeros;
  size_t off = 0;
  for (size_t j = 0; j < b.params.size(); ++j) {
    const Parameter &p = params[b.params[j]];
    const size_t bytes = size_t(p.data().size()) * es;
    char *dst = static_cast<char *>(buf.raw()) + off;
    const Variable g = p.grad();
    if (g.node() && g.data().defined()) {
      const Tensor &gd = g.data();
      if (gd.shape() != p.data().shape() || gd.dtype() != b.dtype || !(gd.device() == b.device))
        throw Error("DataParallel::all_reduce_grads: the gradient of a " +
                    shape_str(p.data().shape()) + " " + dtype_name(b.dtype) + " parameter is " +
                    shape_str(gd.shape()) + " " + dtype_name(gd.dtype()) + " on " +
                    gd.device().str());
      copy_bytes(dst, gd.raw(), bytes, b.device);
      const double one = 1;
      Tensor o = Tensor::scalar(one, b.dtype);
      std::memcpy(flags.data() + j * es, o.raw(), es);
    } else {
      zeros.assign(bytes, 0);
      write_host(dst, zeros.data(), bytes, b.device);
    }
    off += bytes;
  }
  write_host(static_cast<char *>(buf.raw()) + off, flags.data(), flags.size(), b.device);
  return buf;
}

void DataParallel::unpack(const std::vector<Parameter> &params, const Bucket &b,
                          const Tensor &buf) {
  const size_t es = dtype_size(b.dtype);
  const int64_t np = int64_t(b.params.size());
  Tensor values = Tensor::on_storage(buf.storage(), buf.offset(), {b.numel}, b.dtype);
  values /= double(world_size());
  // Presence counts, on the host.
  Tensor present =
      Tensor::on_storage(buf.storage(), buf.offset() + size_t(b.numel) * es, {np}, b.dtype)
          .to(Device::cpu());
  size_t off = 0;
  for (size_t j = 0; j < b.params.size(); ++j) {
    Parameter p = params[b.params[j]];
    const Tensor &d = p.data();
    if (present.at(int64_t(j)) != 0)
      p.set_grad(
          Variable(Tensor::on_storage(buf.storage(), buf.offset() + off, d.shape(), b.dtype)));
    off += size_t(d.size()) * es;
  }
}

void DataParallel::save_weights(const std::string &path, bool compressed) const {
  int32_t failed = 0;
  std::string why;
  if (rank() == 0) {
    try {
      model_.save_weights(path, compressed);
    } catch (const std::exception &e) {
      failed = 1;
      why = e.what();
    }
  }
  Tensor flag = Tensor::from_i64({failed}, {1}).to(i32);
  broadcast(flag, 0);
  if (rank() == 0 && failed)
    throw Error(why);
  if (flag.at(0) != 0)
    throw Error("DataParallel::save_weights: rank 0 could not write '" + path + "'");
}

void DataParallel::load_weights(const std::string &path) {
  barrier(); // a save in flight on rank 0 has renamed its file into place
  std::string why;
  try {
    model_.load_weights(path);
  } catch (const std::exception &e) {
    why = e.what();
  }
  const auto failed = all_gather({why.empty() ? 0 : 1});
  std::string ranks;
  for (int k = 0; k < world_size(); ++k)
    if (failed[size_t(k)][0])
      ranks += (ranks.empty() ? "" : ", ") + std::to_string(k);
  if (!why.empty())
    throw Error(why);
  if (!ranks.empty())
    throw Error("DataParallel::load_weights: rank " + ranks + " could not read '" + path + "'");
}

} // namespace dz::distributed
