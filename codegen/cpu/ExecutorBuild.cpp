// ExecutorBuild.cpp - turns a func.func of dz ops into a Program.
//
// 1. Number the values: the function's arguments are slots 0..n-1, each op's result the
//    next slot.
// 2. Look each op up in the kernel table (KernelTable.cpp, one line per op): it reads
//    the op's attributes and returns a kernel closure over its operand slots that calls
//    the runtime exactly as the eager function of frontend/src/functions.cpp does.
//    Constants become tensors here, once.
// 3. Liveness: a slot is dropped after the last step that reads it; func.return
//    operands live to the end; a result that may share a constant's storage is copied
//    on return so that callers cannot write into the program.
// 4. The arena: each intermediate gets a region of one arena, reused by values that are
//    not live at the same time (planArena), which Program::run hands to the kernels.
// A dz.fused (--dz-fuse) is one step that calls its JIT-compiled kernel
// (FusedKernels.cpp); a group the code generator cannot handle (or every group, with
// BuildOptions::jit off) runs as its body ops, one step each, on the slots of its inputs
// and outputs.
//
// Only the generic Operation API and docs/ir.md are used (op names, attribute names and
// kinds), not the ODS classes: the executor keeps working while the dialect grows.
#include <dzc/codegen/ExecutorBuild.h>
#include <dzc/ir/DzOps.h>
#include <dzc/nn_kernels.h>

#include "FusedKernels.h"
#include "KernelTable.h"

#include <dzc/passes/MemoryPlan.h>

#include <mlir/IR/Diagnostics.h>
#include <mlir/IR/Location.h>

#include <llvm/ADT/DenseMap.h>
#include <llvm/ADT/SmallVector.h>
#include <llvm/Support/raw_ostream.h>

#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <numeric>
#include <optional>
#include <string_view>

namespace dz::codegen {

using llvm::StringRef;
using mlir::failure;
using mlir::FailureOr;
using mlir::Operation;
using Slots = std::vector<Tensor>;

namespace {

/// A Size2 from a two-element DenseI64ArrayAttr of `op` (verified by the dialect).
Size2 size2_attr(Operation &op, StringRef name) {
  auto a = llvm::cast<mlir::DenseI64ArrayAttr>(op.getAttr(name)).asArrayRef();
  return {a[0], a[1]};
}

/// "model.mlir:3:8", or "" when the location has no file position.
std::string position(mlir::Location loc) {
  auto file = loc->findInstanceOf<mlir::FileLineColLoc>();
  if (!file)
    return "";
  return file.getFilename().str() + ":" + std::to_string(file.getLine()) + ":" +
         std::to_string(file.getColumn());
}

/// "dz.add at model.mlir:3:8": how run-time errors name the op.
std::string describe(Operation &op) {
  std::string s = op.getName().getStringRef().str(), at = position(op.getLoc());
  return at.empty() ? s : s + " at " + at;
}

/// The ops of `block` in the order they run, the body of each dz.fused that is not
/// `compiled` right after it (that group runs op by op with the runtime's kernels).
template <typename Compiled>
std::vector<Operation *> ops_in_run_order(mlir::Block &block, Compiled compiled) {
  std::vector<Operation *> ops;
  for (Operation &op : block) {
    ops.push_back(&op);
    if (op.getName().getStringRef() == "dz.fused" && !compiled(&op))
      for (Operation &inner : op.getRegion(0).front())
        ops.push_back(&inner);
  }
  return ops;
}

/// The device kernel of `op` when it can stand in for the op: it writes every result
/// of the op, each once, and nothing else.
const DeviceKernel *
usable_device_kernel(Operation *op,
                     const llvm::DenseMap<Operation *, const DeviceKernel *> &device_kernels) {
  const DeviceKernel *k = device_kernels.lookup(op);
  if (!k || k->outputs.size() != op->getNumResults())
    return nullptr;
  for (mlir::Value r : op->getResults())
    if (llvm::count(k->outputs, r) != 1)
      return nullptr;
  return k;
}

// Points of a domain below which a fused kernel runs on one thread: the runtime's
// thresholds (runtime/src/kernels.h), where waking the OpenMP team costs more than the
// loop; a kernel with a transcendental function per point splits from fewer points.
constexpr int64_t kParallelGrain = 1 << 18, kParallelGrainMath = 1 << 15;

/// Calls a fused kernel on `ptrs` (its inputs' then its outputs' data), the outermost
/// loop split into one contiguous chunk per OpenMP thread where that pays.
/// The buffer a kernel that writes given outputs (Step::writes_given_outputs) writes
/// output slot `slot` into: what the executor put there (an arena region, a donated
/// argument), or a fresh tensor of `type` on `dev` where it put nothing that fits.
void *output_buffer(Slots &slots, int32_t slot, const TensorSpec &type, Device dev) {
  Tensor &y = slots[size_t(slot)];
  if (!y.defined() || y.shape() != type.shape || y.dtype() != type.dtype || y.device() != dev)
    y = Tensor(type.shape, type.dtype, dev);
  return y.raw();
}

void call_fused(const FusedKernel &k, llvm::SmallVectorImpl<void *> &ptrs) {
  auto run = [&](int64_t lo, int64_t hi) {
    llvm::SmallVector<void *, 24> args;
    for (void *&p : ptrs)
      args.push_back(&p);
    args.push_back(&lo);
    args.push_back(&hi);
    for (const int64_t &n : k.sizes)
      args.push_back(const_cast<int64_t *>(&n));
    for (const uint64_t &c : k.scalars)
      args.push_back(const_cast<uint64_t *>(&c));
    k.fn(args.data());
  };
  int threads = omp_get_max_threads();
  bool parallel = k.splittable && threads > 1 && k.outer > 1 &&
                  k.elements >= (k.math ? kParallelGrainMath : kParallelGrain);
  if (!parallel)
    return run(0, k.outer);
  int64_t chunks = std::min<int64_t>(threads, k.outer);
#pragma omp parallel for num_threads(int(chunks))
  for (int64_t c = 0; c < chunks; ++c)
    run(k.outer * c / chunks, k.outer * (c + 1) / chunks);
}

/// The direct form of a JIT-compiled group's step: its kernel on the buffers of its operands
/// and results.
void run_fused(const Step &s, void **buf) {
  llvm::SmallVector<void *, 16> ptrs;
  for (int32_t i : s.in)
    ptrs.push_back(buf[size_t(i)]);
  for (int32_t o : s.outs)
    ptrs.push_back(buf[size_t(o)]);
  call_fused(*static_cast<const FusedKernel *>(s.direct_args.data), ptrs);
}

/// Per slot, the slot whose storage it may share: itself, or through an op that may
/// return its operand's storage (a reshape, ...) the root of that operand.
std::vector<int32_t> storage_roots(const Program &p) {
  std::vector<int32_t> root(p.num_slots());
  std::iota(root.begin(), root.end(), 0);
  for (const Step &s : p.steps())
    if (s.outs.size() == 1 && s.view)
      root[size_t(s.outs[0])] = root[size_t(s.in[0])];
  return root;
}

} // namespace

class ProgramBuilder {
public:
  static FailureOr<Program> build(mlir::func::FuncOp fn, const BuildOptions &options);

private:
  /// A dz.max_pooling_with_indexes of the indexes that a dz.max_pooling_indexes of the same input
  /// and window computed (what --dz-share-pooling-indexes leaves) joins that op's step:
  /// the runtime's max_pool2d returns the maxima with their indexes in one pass, so the
  /// gather is not run. True when `op` was handled so.
  template <typename NewSlot>
  static bool joinPoolingIndexes(Program &p, Operation &op,
                                 llvm::DenseMap<mlir::Value, int32_t> &slot_of,
                                 const llvm::DenseMap<int32_t, size_t> &step_of, NewSlot &new_slot);

  static void donate(Program &p, const std::vector<std::pair<int, int>> &donations,
                     const llvm::DenseMap<size_t, const std::vector<bool> *> &pointwise,
                     const std::vector<int32_t> &roots);

  static void planArena(Program &p, const std::vector<int64_t> &last_use,
                        const std::vector<int32_t> &roots);

  static void planDirect(Program &p);
};

template <typename NewSlot>
bool ProgramBuilder::joinPoolingIndexes(Program &p, Operation &op,
                                        llvm::DenseMap<mlir::Value, int32_t> &slot_of,
                                        const llvm::DenseMap<int32_t, size_t> &step_of,
                                        NewSlot &new_slot) {
  if (op.getName().getStringRef() != "dz.max_pooling_with_indexes")
    return false;
  Operation *indexes = op.getOperand(1).getDefiningOp();
  if (!indexes || indexes->getName().getStringRef() != "dz.max_pooling_indexes" ||
      indexes->getOperand(0) != op.getOperand(0) ||
      indexes->getAttrDictionary() != op.getAttrDictionary())
    return false;
  auto found = step_of.find(slot_of.lookup(op.getOperand(1)));
  std::optional<TensorSpec> type = spec_of(op.getResult(0).getType());
  if (found == step_of.end() || !type)
    return false;
  Step &step = p.steps_[found->second];
  const int32_t x = step.in[0], idx = step.outs[0], y = new_slot(op.getResult(0), false);
  const Size2 k = size2_attr(op, "kernel"), s = size2_attr(op, "stride"),
              pad = size2_attr(op, "pad");
  step.kernel = [x, idx, y, k, s, pad](Slots &slots) {
    MaxPoolResult r = dz::max_pool2d(slots[size_t(x)], k, s, pad);
    slots[size_t(idx)] = std::move(r.indexes);
    slots[size_t(y)] = std::move(r.y);
  };
  step.outs.push_back(y);
  step.types.push_back(*type);
  step.into.push_back(-1);
  step.op += " + dz.max_pooling_with_indexes";
  return true;
}

/// Sets Step::into for each donation that is safe: the result is a pointwise output of
/// a fused kernel S (a JIT-compiled one, or a generated device kernel; `pointwise` holds
/// each one's flags by step) and has the argument's type; no step after S reads the argument or
/// a value that may share its storage (a reshape of it, ...); S reads no such alias but
/// the argument itself (at the same points it writes); no result shares its storage.
void ProgramBuilder::donate(Program &p, const std::vector<std::pair<int, int>> &donations,
                            const llvm::DenseMap<size_t, const std::vector<bool> *> &pointwise,
                            const std::vector<int32_t> &roots) {
  for (auto [result, arg] : donations) {
    if (result < 0 || size_t(result) >= p.result_slots_.size() || arg < 0 ||
        size_t(arg) >= p.arg_types_.size() ||
        p.result_types_[size_t(result)] != p.arg_types_[size_t(arg)])
      continue;
    const int32_t value = p.result_slots_[size_t(result)];
    // The argument and the values that may share its storage.
    auto alias = [&](int32_t slot) { return roots[size_t(slot)] == arg; };
    bool returned_alias = false;
    for (int32_t r : p.result_slots_)
      returned_alias |= alias(r);
    if (returned_alias)
      continue;
    for (size_t i = 0; i < p.steps_.size(); ++i) {
      Step &s = p.steps_[i];
      auto k = std::find(s.outs.begin(), s.outs.end(), value);
      if (k == s.outs.end())
        continue;
      const std::vector<bool> *flags = pointwise.lookup(i);
      size_t out = size_t(k - s.outs.begin());
      bool ok = flags && (*flags)[out] && s.into[out] < 0;
      for (int32_t in : s.in)
        ok = ok && (!alias(in) || in == arg);
      for (size_t later = i + 1; ok && later < p.steps_.size(); ++later)
        for (int32_t in : p.steps_[later].in)
          ok = ok && !alias(in);
      if (ok) {
        s.into[out] = arg;
        p.donated_args_.push_back(arg);
      }
      break;
    }
  }
}

/// The memory plan of the steps (Step::arena): every result of a step gets a region of
/// one arena, unless it is a program result, a constant, a view of another value (an op
/// that may return its operand's storage) or computed into a donated argument. A value's
/// region is reserved from its step to the last step that reads it or any view of it;
/// regions of values live at a common step do not overlap (placeBuffers: best fit,
/// largest first, sizes rounded up to 64 bytes). A value one of whose views is a program
/// result is not planned, so no result points into the arena.
void ProgramBuilder::planArena(Program &p, const std::vector<int64_t> &last_use,
                               const std::vector<int32_t> &root) {
  constexpr int64_t kForever = std::numeric_limits<int64_t>::max();
  std::vector<int64_t> end = last_use; // per root: the last step any sharer is read
  for (size_t v = 0; v < p.num_slots_; ++v)
    end[size_t(root[v])] = std::max(end[size_t(root[v])], last_use[v]);

  struct Planned {
    size_t step, result;
  };
  std::vector<Planned> planned;
  std::vector<passes::ArenaBuffer> buffers;
  for (size_t i = 0; i < p.steps_.size(); ++i) {
    Step &s = p.steps_[i];
    s.arena.assign(s.outs.size(), -1);
    if (s.op_name() == "dz.constant")
      continue;
    // A runtime kernel with several results (max pooling's maxima and indexes) may take
    // its regions in any order where two have one size: they are reserved alike.
    int64_t step_end = 0;
    for (int32_t v : s.outs)
      step_end = std::max(step_end, end[size_t(v)]);
    for (size_t k = 0; k < s.outs.size(); ++k) {
      const int32_t v = s.outs[k];
      const int64_t bytes = shape_size(s.types[k].shape) * int64_t(dtype_size(s.types[k].dtype));
      if (root[size_t(v)] != v || end[size_t(v)] == kForever || s.into[k] >= 0 || bytes == 0 ||
          (!s.writes_given_outputs && step_end == kForever))
        continue;
      planned.push_back({i, k});
      buffers.push_back({passes::MemoryPlan::aligned(bytes), int64_t(i),
                         s.writes_given_outputs ? end[size_t(v)] : step_end, 0, int32_t(v)});
      p.arena_naive_ += buffers.back().size;
    }
  }
  p.arena_bytes_ = passes::placeBuffers(buffers);
  p.num_arena_values_ = planned.size();
  for (size_t j = 0; j < planned.size(); ++j)
    p.steps_[planned[j].step].arena[planned[j].result] = buffers[j].offset;
}

/// The result that a reshape of value `v` (the result of step `si`) is, if one is: the arena
/// plan leaves such a value out, and a direct run computes it in that result's buffer.
static std::optional<size_t> reshapedResult(const Program &p, size_t si, int32_t v) {
  for (size_t later = si + 1; later < p.steps().size(); ++later) {
    const Step &s = p.steps()[later];
    if (s.op_name() != "dz.reshape" || s.in[0] != v)
      continue;
    const auto r = std::find(p.result_slots().begin(), p.result_slots().end(), s.outs[0]);
    if (r != p.result_slots().end())
      return size_t(r - p.result_slots().begin());
  }
  return std::nullopt;
}

/// The buffers of a direct run (Program::direct): each slot's source, from the memory plan.
/// No direct run when a step has no direct form or a value has no buffer known before the
/// run (a value not planned because a view of it is a program result, say).
void ProgramBuilder::planDirect(Program &p) {
  using Source = Program::SlotSource;
  auto note = [&](const std::string &text) {
    p.codegen_notes_ += (p.codegen_notes_.empty() ? "" : "\n") + text;
  };
  for (const Step &s : p.steps_)
    if (!s.direct)
      return note("tensor steps: " + s.op + " has no direct kernel for its types");
  std::vector<Source> plan(p.num_slots_);
  for (size_t a = 0; a < p.arg_types_.size(); ++a)
    plan[a] = {Source::Argument, int64_t(a)};
  std::vector<int32_t> into(p.result_slots_.size(), -1);
  llvm::DenseMap<int32_t, size_t> first_result; // slot -> its first result index
  for (size_t i = 0; i < p.result_slots_.size(); ++i)
    first_result.try_emplace(p.result_slots_[i], i);
  for (size_t si = 0; si < p.steps_.size(); ++si) {
    Step &s = p.steps_[si];
    for (size_t k = 0; k < s.outs.size(); ++k) {
      const int32_t v = s.outs[k];
      const TensorSpec &t = s.types[k];
      auto result = first_result.find(v);
      if (result != first_result.end()) {
        plan[size_t(v)] = {Source::Result, int64_t(result->second)};
        into[result->second] = s.into[k];
      } else if (s.arena[k] >= 0) {
        plan[size_t(v)] = {Source::Arena, s.arena[k]};
      } else if (s.op_name() == "dz.constant") {
        plan[size_t(v)] = {Source::Constant, int64_t(si)};
      } else if (s.op_name() == "dz.reshape") {
        plan[size_t(v)] = {Source::View, 0};
      } else if (std::optional<size_t> r = reshapedResult(p, si, v)) {
        plan[size_t(v)] = {Source::Result, int64_t(*r)}; // computed in the result's buffer
      } else if (shape_size(t.shape) != 0) {
        return note("tensor steps: the result of " + s.op + " has no buffer before the run");
      }
    }
    // A reshape or a constant whose result has a buffer of its own (a program result)
    // copies into it, unless its operand was computed there.
    if (s.op_name() == "dz.reshape" || s.op_name() == "dz.constant") {
      const Source &to = plan[size_t(s.outs[0])];
      const Source *from = s.in.empty() ? nullptr : &plan[size_t(s.in[0])];
      s.direct_args.code = to.kind == Source::Result &&
                           !(from && from->kind == Source::Result && from->index == to.index);
    }
  }
  p.set_direct_plan(std::move(plan), std::move(into));
  note("direct steps");
}

FailureOr<Program> ProgramBuilder::build(mlir::func::FuncOp fn, const BuildOptions &options) {
  Program p;
  p.name_ = fn.getSymName().str();
  p.device_ = options.device;
  const bool on_cpu = options.device.is_cpu();
  if (fn.isExternal())
    return fn.emitOpError() << "@" << p.name_ << " has no body to execute";
  if (!fn.getBody().hasOneBlock())
    return fn.emitOpError() << "@" << p.name_
                            << " has several blocks; the executor runs one straight-line block";
  mlir::Block &block = fn.getBody().front();

  llvm::DenseMap<mlir::Value, int32_t> slot_of;
  std::vector<bool> shares_constant; // per slot
  auto new_slot = [&](mlir::Value v, bool constant) {
    int32_t s = int32_t(shares_constant.size());
    slot_of[v] = s;
    shares_constant.push_back(constant);
    return s;
  };

  for (mlir::BlockArgument arg : block.getArguments()) {
    std::optional<TensorSpec> spec = spec_of(arg.getType());
    if (!spec)
      return fn.emitOpError() << "argument " << arg.getArgNumber() << " has type " << arg.getType()
                              << "; " << kSupportedTypes;
    p.arg_types_.push_back(*spec);
    new_slot(arg, false);
  }
  p.host_args_.assign(p.arg_types_.size(), false);
  for (int a : options.host_args)
    if (!on_cpu && a >= 0 && size_t(a) < p.host_args_.size())
      p.host_args_[size_t(a)] = true;

  std::shared_ptr<KernelLibrary> kernels;
  if (options.jit_fused && on_cpu) { // the JIT makes CPU code
    FailureOr<std::shared_ptr<KernelLibrary>> built =
        buildKernelLibrary(fn, {.keep_llvm_ir = options.keep_llvm_ir});
    if (failed(built))
      return failure();
    kernels = std::move(*built);
    p.code_ = kernels;
    p.llvm_ir_ = kernels->llvm_ir();
    fn.walk([&](Operation *op) { p.num_fused_kernels_ += kernels->lookup(op) != nullptr; });
    if (p.num_fused_kernels_) {
      char text[160];
      std::snprintf(text, sizeof text,
                    "JIT %zu groups in %zu kernels (%zu compiled before, %zu from the disk "
                    "cache): MLIR %.1f ms, LLVM %.1f ms",
                    p.num_fused_kernels_, kernels->num_functions(), kernels->num_reused(),
                    kernels->num_loaded(), kernels->mlir_ms(), kernels->llvm_ms());
      p.codegen_notes_ = text;
    }
    if (!kernels->skipped().empty())
      p.codegen_notes_ += (p.codegen_notes_.empty() ? "" : "\n") + kernels->skipped();
  }

  // Step index -> which outputs of its fused kernel (JIT or device) are pointwise.
  llvm::DenseMap<size_t, const std::vector<bool> *> pointwise;
  llvm::DenseMap<int32_t, size_t> step_of; // slot -> the single-result step that sets it
  bool returned = false;
  llvm::DenseMap<Operation *, const DeviceKernel *> device_kernels;
  if (!on_cpu)
    for (const auto &[op, k] : options.device_kernels)
      device_kernels[op] = &k;
  size_t device_launches = 0;
  auto compiled = [&](Operation *op) {
    return (kernels && kernels->lookup(op)) || usable_device_kernel(op, device_kernels);
  };
  for (Operation *next : ops_in_run_order(block, compiled)) {
    Operation &op = *next;
    StringRef name = op.getName().getStringRef();
    // A generated device kernel: one launch, its outputs where the executor put them (an
    // arena region, a donated argument) or fresh on the device.
    if (const DeviceKernel *k = usable_device_kernel(&op, device_kernels)) {
      Step step;
      for (mlir::Value v : k->inputs)
        step.in.push_back(slot_of.lookup(v));
      for (mlir::Value r : op.getResults())
        new_slot(r, false);
      for (mlir::Value r : k->outputs) {
        step.outs.push_back(slot_of.lookup(r));
        step.types.push_back(*spec_of(r.getType()));
      }
      step.kernel = [launch = k->launch, dev = options.device, in = step.in, outs = step.outs,
                     types = step.types](Slots &slots) {
        std::vector<const void *> ptrs;
        for (int32_t i : in)
          ptrs.push_back(slots[size_t(i)].raw());
        for (size_t j = 0; j < outs.size(); ++j)
          ptrs.push_back(output_buffer(slots, outs[j], types[j], dev));
        launch(ptrs);
      };
      step.op = describe(op);
      step.into.assign(step.outs.size(), -1);
      step.writes_given_outputs = true;
      p.steps_.push_back(std::move(step));
      if (k->pointwise.size() == k->outputs.size())
        pointwise[p.steps_.size() - 1] = &k->pointwise;
      ++device_launches;
      continue;
    }
    // A compiled group: one step, fresh outputs, one call of its kernel.
    if (const FusedKernel *k = kernels ? kernels->lookup(&op) : nullptr) {
      Step step;
      for (mlir::Value v : op.getOperands())
        step.in.push_back(slot_of.lookup(v));
      for (mlir::Value r : op.getResults()) {
        step.outs.push_back(new_slot(r, false));
        step.types.push_back(*spec_of(r.getType()));
      }
      step.kernel = [k, in = step.in, outs = step.outs, types = step.types](Slots &slots) {
        llvm::SmallVector<void *, 16> ptrs;
        for (int32_t i : in)
          ptrs.push_back(slots[size_t(i)].raw());
        for (size_t j = 0; j < outs.size(); ++j)
          ptrs.push_back(output_buffer(slots, outs[j], types[j], Device::cpu()));
        call_fused(*k, ptrs);
      };
      step.op = describe(op);
      step.into.assign(step.outs.size(), -1);
      step.writes_given_outputs = true;
      step.direct = run_fused;
      step.direct_args.data = k;
      p.steps_.push_back(std::move(step));
      pointwise[p.steps_.size() - 1] = &k->pointwise;
      continue;
    }
    // A dz.fused's block arguments are its operands' slots; its results, its yield's.
    if (name == "dz.fused") {
      for (auto [arg, input] : llvm::zip_equal(op.getRegion(0).getArguments(), op.getOperands()))
        slot_of[arg] = slot_of.lookup(input);
      continue;
    }
    if (name == "dz.yield") {
      for (auto [result, value] : llvm::zip_equal(op.getParentOp()->getResults(), op.getOperands()))
        slot_of[result] = slot_of.lookup(value);
      continue;
    }
    if (llvm::isa<mlir::func::ReturnOp>(op)) {
      for (mlir::Value v : op.getOperands()) {
        p.result_slots_.push_back(slot_of.lookup(v));
        p.result_types_.push_back(*spec_of(v.getType())); // every slot's type was checked
        p.result_copies_.push_back(shares_constant[size_t(slot_of.lookup(v))]);
      }
      returned = true;
      continue;
    }
    if (joinPoolingIndexes(p, op, slot_of, step_of, new_slot))
      continue;
    if (name == "dz.grad")
      return op.emitOpError() << "is left in the function: run the autodiff pass "
                                 "(--dz-autodiff, part of --dz-pipeline) before executing it";
    const OpLowering *lowering = find_lowering(name);
    if (!lowering)
      return op.emitOpError() << "has no CPU kernel: the executor runs the dz ops of "
                                 "docs/ir.md (except dz.grad) and func.return";
    if (op.getNumRegions() != 0 || op.getNumResults() != 1)
      return op.emitOpError() << "must have one result and no regions";
    if (op.getNumOperands() < lowering->min_operands ||
        op.getNumOperands() > lowering->max_operands)
      return op.emitOpError() << "takes " << lowering->min_operands
                              << (lowering->max_operands != lowering->min_operands
                                      ? " to " + std::to_string(lowering->max_operands)
                                      : std::string())
                              << " operands, got " << op.getNumOperands();

    OpView view{&op, {}, {}, {}, options.device};
    for (mlir::Value v : op.getOperands()) {
      auto it = slot_of.find(v);
      if (it == slot_of.end())
        return op.emitOpError() << "uses a value not defined in the function";
      view.in.push_back(it->second);
      view.in_types.push_back(*spec_of(v.getType()));
    }
    std::optional<TensorSpec> out = spec_of(op.getResult(0).getType());
    if (!out)
      return op.emitOpError() << "has result type " << op.getResult(0).getType() << "; "
                              << kSupportedTypes;
    view.out = *out;

    FailureOr<Kernel> kernel = failure();
    try { // materialising a constant calls the runtime, which may throw
      kernel = lowering->lower(view);
    } catch (const Error &e) {
      return op.emitOpError() << e.what();
    }
    if (failed(kernel))
      return failure();

    const bool view_like = op.hasTrait<dz::ir::OpTrait::ViewLike>();
    bool constant = name == "dz.constant" || (view_like && shares_constant[size_t(view.in[0])]);
    Step step;
    step.op = describe(op);
    if (options.direct && on_cpu) {
      std::optional<Tensor> value;
      if (name == "dz.constant")
        value = (*kernel)(Slots{}); // the constant, made when the kernel was
      setDirectForm(view, step, value ? &*value : nullptr);
    }
    int32_t slot = new_slot(op.getResult(0), constant);
    step.kernel = [kernel = std::move(*kernel), slot](Slots &slots) {
      slots[size_t(slot)] = kernel(slots);
    };
    step.in = std::move(view.in);
    step.outs = {slot};
    step.types = {view.out};
    step.into = {-1};
    // A view-like op may return its operand's storage; a sum_to that sums some axis
    // never does.
    step.view = (view_like && !(name == "dz.sum_to" && view.in_types[0].shape != view.out.shape)) ||
                reducesOperandInPlace(&op);
    p.steps_.push_back(std::move(step));
    step_of[slot] = p.steps_.size() - 1;
  }
  if (device_launches) {
    p.num_fused_kernels_ = device_launches;
    p.codegen_notes_ =
        std::to_string(device_launches) + " generated kernels on " + options.device.str();
  }
  if (!returned)
    return fn.emitOpError() << "@" << p.name_ << " does not end in func.return";
  p.num_slots_ = shares_constant.size();

  // Liveness: the last step that reads each slot; results are never dropped.
  constexpr int64_t kNever = -1, kForever = std::numeric_limits<int64_t>::max();
  std::vector<int64_t> last_use(p.num_slots_, kNever);
  for (size_t i = 0; i < p.steps_.size(); ++i)
    for (int32_t s : p.steps_[i].in)
      last_use[size_t(s)] = int64_t(i);
  for (int32_t s : p.result_slots_)
    last_use[size_t(s)] = kForever;
  size_t num_args = p.arg_types_.size();
  for (size_t s = 0; s < num_args; ++s)
    if (last_use[s] == kNever)
      p.arg_release_.push_back(int32_t(s));
  for (size_t i = 0; i < p.steps_.size(); ++i)
    for (int32_t out : p.steps_[i].outs)
      if (last_use[size_t(out)] == kNever) // computed but never read
        last_use[size_t(out)] = int64_t(i);
  for (size_t s = 0; s < p.num_slots_; ++s)
    if (last_use[s] != kNever && last_use[s] != kForever)
      p.steps_[size_t(last_use[s])].release.push_back(int32_t(s));
  for (Step &st : p.steps_) {
    std::sort(st.release.begin(), st.release.end());
    st.release.erase(std::unique(st.release.begin(), st.release.end()), st.release.end());
  }

  const std::vector<int32_t> roots = storage_roots(p);
  donate(p, options.donations, pointwise, roots);
  if (options.arena) // in host memory, or one device buffer for a program on a device
    planArena(p, last_use, roots);
  else
    for (Step &st : p.steps_)
      st.arena.assign(st.outs.size(), -1);

  if (options.direct && on_cpu && options.arena)
    planDirect(p);

  size_t live = num_args - p.arg_release_.size();
  p.peak_live_ = live;
  for (const Step &st : p.steps_) {
    live += st.outs.size();
    p.peak_live_ = std::max(p.peak_live_, live);
    live -= st.release.size();
  }
  p.profile_if_asked();
  return p;
}

FailureOr<Program> buildProgram(mlir::func::FuncOp fn, const BuildOptions &options) {
  return ProgramBuilder::build(fn, options);
}

Program buildProgramOrThrow(mlir::func::FuncOp fn, const BuildOptions &options) {
  std::string messages;
  std::optional<Program> program;
  {
    mlir::ScopedDiagnosticHandler collect(fn->getContext(), [&](mlir::Diagnostic &d) {
      if (d.getSeverity() != mlir::DiagnosticSeverity::Error)
        return mlir::success();
      std::string text;
      llvm::raw_string_ostream os(text);
      std::string at = position(d.getLocation());
      os << (at.empty() ? "" : at + ": ") << d;
      for (mlir::Diagnostic &note : d.getNotes())
        if (!StringRef(note.str()).starts_with("see current operation")) // the whole function
          os << "\n  note: " << note;
      messages += (messages.empty() ? "" : "\n") + text;
      return mlir::success();
    });
    FailureOr<Program> built = buildProgram(fn, options);
    if (succeeded(built))
      program = std::move(*built);
  }
  if (!program)
    throw Error("cannot build a CPU program of @" + fn.getSymName().str() + ": " +
                (messages.empty() ? std::string("unknown error") : messages));
  return std::move(*program);
}

} // namespace dz::codegen
