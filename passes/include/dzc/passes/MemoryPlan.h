// MemoryPlan.h - buffer liveness and the memory plan of a func.func of dz ops: one arena,
// an offset per intermediate value, bytes reused once a value is dead.
//
// The schedule is the program order of the function's single block (the order the CPU
// executor runs it). Op index i is the i-th op of the block, dz.constant included. An op
// with regions (a dz.fused kernel) is one op: the values inside it are not planned, and
// a use inside it counts at the op.
//
//  1. Intermediates: every op result that is not a dz.constant and not a func.return
//     operand (function arguments are not op results). Size: elements x element size.
//  2. Live range [start, end]: the index of the defining op and of its last user (the
//     definition itself when it has none). Two values whose ranges share an index are
//     live together.
//  3. In-place: an elementwise op (binary broadcasting ops, unary ops) whose operand is an
//     intermediate of the result's type that dies at this op, or a dz.reshape whose
//     operand dies there, writes into that operand's buffer (the first such operand).
//     Such values form one buffer whose range is the union of theirs.
//     A dz.all_reduce (the collective reduces its buffer in place) joins its operand's
//     buffer under the same condition (writesInPlace).
//  4. Offsets: greedy by size, best fit (TFLite's arena planner, Pisarchyk & Lee 2020):
//     buffers by decreasing size (ties: earlier start, then program order); each goes
//     into the smallest gap, between the already placed buffers whose ranges overlap its
//     own, that holds it, or above the highest of them. Sizes round up to kAlignment
//     (64 bytes) when placing, so every offset is a multiple of 64.
//  5. peak: the arena size (highest offset + aligned size); naive: the sum of the aligned
//     sizes of all intermediates (an arena without reuse).
//
// This is an analysis: nothing in the IR changes. The CPU executor plans its own steps
// (which join and split some ops) with the same placement, placeBuffers.
#pragma once

#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/IR/Value.h>
#include <mlir/Support/LLVM.h>

#include <llvm/ADT/DenseMap.h>
#include <llvm/Support/raw_ostream.h>

#include <cstdint>
#include <vector>

namespace dz::passes {

/// One intermediate value of the plan.
struct PlannedValue {
  mlir::Value value;
  int64_t size = 0;           // bytes: elements x element size (not rounded up)
  int64_t offset = 0;         // in the arena, a multiple of MemoryPlan::kAlignment
  int64_t start = 0, end = 0; // live range: op indices, both included
  int32_t buffer = 0;         // values that share a buffer (in-place) share this index
  mlir::Value in_place_of;    // the operand whose buffer it writes into, or null
};

struct MemoryPlan {
  static constexpr int64_t kAlignment = 64;
  /// `bytes` rounded up to kAlignment: what a value takes in the arena.
  static constexpr int64_t aligned(int64_t bytes) {
    return (bytes + kAlignment - 1) / kAlignment * kAlignment;
  }

  std::vector<PlannedValue> values; // in program order
  int64_t peak = 0;                 // arena size in bytes
  int64_t naive = 0;                // sum of the aligned sizes of all intermediates
  int32_t num_buffers = 0;
  int32_t num_in_place = 0;

  /// The entry of `v`, or null when `v` is not an intermediate.
  const PlannedValue *lookup(mlir::Value v) const;

  llvm::DenseMap<mlir::Value, size_t> index; // value -> position in `values`
};

/// A buffer to place in an arena: its size in bytes and its live range, indices of a
/// schedule, both included; placeBuffers sets `offset`.
struct ArenaBuffer {
  int64_t size = 0;
  int64_t start = 0, end = 0;
  int64_t offset = 0;
  int32_t first = 0; // a tie-breaker for a stable order (the position of its first value)
};

/// Step 4 on any schedule (the CPU executor plans its steps with it): greedy by size, best
/// fit; two buffers whose ranges share an index get disjoint bytes. Returns the arena
/// size (the highest offset + size). Offsets are multiples of the sizes' common alignment
/// when every size is a multiple of it.
int64_t placeBuffers(std::vector<ArenaBuffer> &buffers);

/// Whether `op` works in place: its result takes the buffer of its operand when that
/// operand is an intermediate of the result's type that dies at `op` (a dz.all_reduce;
/// the CPU executor reduces that operand's tensor itself then).
bool writesInPlace(mlir::Operation *op);

struct MemoryPlanOptions {
  bool in_place = true; // step 3; off, every value has a buffer of its own
};

/// The plan of `fn`. Fails after an error at `fn` or an op when the function has several
/// blocks or an op result that is not a statically shaped tensor.
mlir::FailureOr<MemoryPlan> planMemory(mlir::func::FuncOp fn, MemoryPlanOptions options = {});

/// The plan as text, in a stable format (names as the IR printer gives them):
///   memory plan @NAME: N values, B buffers, I in place, alignment 64
///   %NAME SIZE OFFSET [START, END]            one line per value, in program order
///   %NAME SIZE OFFSET [START, END] in-place %OPERAND
///   peak BYTES naive BYTES
void printMemoryPlan(mlir::func::FuncOp fn, const MemoryPlan &plan, llvm::raw_ostream &os);

} // namespace dz::passes
