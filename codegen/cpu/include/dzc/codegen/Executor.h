// dzc/codegen/Executor.h - dz::codegen::Program: a compiled dz function as a flat list of
// runtime kernel calls over numbered value slots.
//
// A Program is built once from a func.func of dz ops (see ExecutorBuild.h, the only part
// that needs MLIR) and run many times: running walks a std::vector of steps, each one
// runtime kernel with its operand slots fixed at build time, and drops every
// intermediate tensor right after its last use. The intermediates live in one arena per
// run, at the offsets of a memory plan made when the Program is built (a buffer's bytes
// are reused once its value is dead), so a step allocates no tensor memory of its own
// (kernel temporaries aside). This header has no MLIR in it, so the eager frontend can
// hold and run Programs without compiling MLIR headers.
#pragma once

#include <dzc/tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dz::codegen {

/// The static type of a value of the program: shape and dtype (`tensor<4x3xf32>`).
struct TensorSpec {
  Shape shape;
  DType dtype = f32;
  bool operator==(const TensorSpec &) const = default;
};
/// MLIR's spelling of a tensor type: "tensor<4x3xf32>", "tensor<i64>" for 0-d.
std::string type_str(const TensorSpec &spec);

/// One kernel call. `kernel` reads its operands from the slots it captured (their
/// indices fixed when the Program was built) and sets the slots `outs`: one runtime
/// kernel (one result), or the JIT-compiled kernel of a dz.fused group (its results).
struct Step {
  std::function<void(std::vector<Tensor> &slots)> kernel;
  std::vector<int32_t> in;       // operand slots (what the kernel reads; for str() and plans)
  std::vector<int32_t> outs;     // result slots
  std::vector<TensorSpec> types; // what the IR says the results are; checked after the call
  std::vector<int32_t> release;  // slots whose last use is this step, dropped after it
  std::string op;                // "dz.add at model.mlir:3:8", for error messages
  bool view = false;             // its result may share in[0]'s storage (a Dz_ViewLike op)
  /// Per result: the argument whose buffer it may be written into (a donated argument,
  /// see BuildOptions::donations), or -1. The executor puts that argument into the
  /// result's slot before the call; only kernels that write into given outputs (the
  /// fused kernels) set this.
  std::vector<int32_t> into;
  /// Per result: its byte offset in the arena (the memory plan of the steps, see
  /// BuildOptions::arena), or -1 when it is not planned (a program result, a constant, a
  /// view of another value, a donated result).
  std::vector<int64_t> arena;
  /// The kernel writes into the tensors its result slots hold when they have the result
  /// types (a fused kernel); other kernels allocate their results, and are given their
  /// arena regions through dz::PlacedAllocations.
  bool writes_given_outputs = false;

  /// The step's direct form, or null: a plain function that reads its operands from and
  /// writes its results to buffers[slot] (the arguments', arena regions, the results'),
  /// with its sizes and attributes in `direct_args`. A view sets buffers[out] itself.
  using DirectFn = void (*)(const Step &, void **buffers);
  DirectFn direct = nullptr;
  struct DirectArgs {
    int64_t n[4] = {};                // sizes (what each kernel needs: M, N, K, ...)
    int64_t code = 0;                 // an op code or flags
    DType dtype = f32;                // the dtype it computes in
    const void *data = nullptr;       // op data: a fused kernel, an index plan, a constant
    std::shared_ptr<const void> keep; // owns `data` where the step does
  } direct_args;

  /// The op's name without its position: "dz.add".
  std::string_view op_name() const { return std::string_view(op).substr(0, op.find(' ')); }
};

class Program {
public:
  Program() = default; // an empty program: no arguments, no results

  /// Runs the program. Throws dz::Error when the argument count, a shape, a dtype or a
  /// device differs from the signature (naming the argument, the expected and the actual
  /// type), or when a kernel fails (naming the op). With $DZ_PROFILE=1 in the
  /// environment, each step is timed and the totals per step go to stderr when the last
  /// copy of the Program is destroyed. Calls from several threads at once are safe.
  std::vector<Tensor> run(const std::vector<Tensor> &args) const;
  /// The same run, with the arguments by pointer (nothing is copied) and the results
  /// written to `results` (resized to the result count). `into`, when not empty, has one
  /// entry per result: null, or a tensor of that result's type that the caller owns
  /// outright and that nobody reads during the run (the previous call's gradient, say). A
  /// direct run computes the result into its buffer (unless it overlaps an argument) and
  /// leaves results[i] undefined; otherwise results[i] is the result, as run() returns it.
  void run(std::span<const Tensor *const> args, std::vector<Tensor> &results,
           std::span<const Tensor *const> into = {}) const;

  /// Whether run() calls the steps' direct forms (Step::direct): every step has one, and
  /// each value has a buffer known before the run (an argument, an arena region, a result
  /// allocated up front, a donated argument, a constant, or its operand's for a reshape).
  /// Such a run makes no tensor per op: per call it allocates the results, takes an arena
  /// from the program's pool, and calls one function per step.
  bool direct() const { return !direct_plan_.empty(); }
  const std::string &name() const { return name_; }
  /// Where the program runs (BuildOptions::device).
  Device device() const { return device_; }
  const std::vector<TensorSpec> &arg_types() const { return arg_types_; }
  const std::vector<TensorSpec> &result_types() const { return result_types_; }
  const std::vector<Step> &steps() const { return steps_; }
  /// The slot of each result (func.return's operands).
  const std::vector<int32_t> &result_slots() const { return result_slots_; }
  /// Values (arguments and op results) of the program: the size of its slot table.
  size_t num_slots() const { return num_slots_; }
  /// Most slots that hold a tensor at once while running (arguments included).
  size_t peak_live_slots() const { return peak_live_; }
  /// Results written straight into a donated argument's buffer (BuildOptions::donations).
  size_t num_donated() const;
  /// Bytes of the arena one run takes (0: no value is planned, or BuildOptions::arena off).
  int64_t arena_bytes() const { return arena_bytes_; }
  /// Sum of the (64-byte aligned) sizes of the planned values: an arena without reuse.
  int64_t arena_naive_bytes() const { return arena_naive_; }
  /// Values that have a region of the arena.
  size_t num_arena_values() const { return num_arena_values_; }
  /// Steps that call a JIT-compiled kernel of a dz.fused group.
  size_t num_fused_kernels() const { return num_fused_kernels_; }
  /// How the fused groups were compiled: "JIT 6 groups in 3 kernels (1 compiled before):
  /// MLIR 3.0 ms, LLVM 95.1 ms", and a line per group left op by op with the reason;
  /// empty without fused groups.
  const std::string &codegen_notes() const { return codegen_notes_; }
  /// The optimised LLVM IR of the fused kernels, when built with BuildOptions::keep_llvm_ir.
  const std::string &llvm_ir() const { return llvm_ir_; }
  /// The steps as text, one line per step: "%5 = dz.add(%1, %4) : tensor<...>  @128
  /// free %1" (@: the offset in the arena).
  std::string str() const;

private:
  friend class ProgramBuilder; // ExecutorBuild.cpp: fills a Program from the IR

  std::string name_;
  Device device_;
  std::vector<TensorSpec> arg_types_, result_types_;
  std::vector<bool> host_args_; // per argument: on the CPU though the program is on a device
  std::vector<Step> steps_;
  std::vector<int32_t> arg_release_;  // arguments no step reads: dropped before step 0
  std::vector<int32_t> result_slots_; // func.return operands
  std::vector<bool> result_copies_;   // a result that shares a constant's storage is copied
  size_t num_slots_ = 0, peak_live_ = 0, num_fused_kernels_ = 0, num_arena_values_ = 0;
  int64_t arena_bytes_ = 0, arena_naive_ = 0;
  std::vector<int32_t> donated_args_; // arguments some step may write into (Step::into)
  std::shared_ptr<const void> code_;  // keeps the JIT-compiled kernels the steps call alive
  struct Profile;                     // $DZ_PROFILE=1: time per step, printed at the end
  std::shared_ptr<Profile> profile_;  // set by the builder (profile_if_asked)
  void profile_if_asked();
  std::string codegen_notes_, llvm_ir_;
  Tensor released_; // what a dropped slot holds (one shared empty tensor, no allocation)

  // The direct run (direct()): where each slot's buffer comes from, set when it is built.
  struct SlotSource {
    enum Kind : uint8_t { None, Argument, Arena, Result, Constant, View } kind = None;
    int64_t index = 0; // the argument, the arena offset, the result, ...
  };
  std::vector<SlotSource> direct_plan_; // per slot; empty: no direct run
  /// Per result: the argument it may be computed into (Step::into), or -1.
  std::vector<int32_t> result_into_;
  struct ArenaPool; // arenas of finished runs, reused by the next (one per concurrent run)
  std::shared_ptr<ArenaPool> arenas_;
  void set_direct_plan(std::vector<SlotSource> plan, std::vector<int32_t> result_into);
  void check_args(std::span<const Tensor *const> args) const;
  void run_direct(std::span<const Tensor *const> args, std::vector<Tensor> &results,
                  std::span<const Tensor *const> into) const;
  std::vector<Tensor> run_steps(const std::vector<Tensor> &args) const;
  /// Whether result `result` of a direct run may be computed into the caller's `buffer`.
  bool usable_into(size_t result, const Tensor &buffer, std::span<const Tensor *const> args) const;
};

} // namespace dz::codegen
