// MemoryPlan.cpp - buffer liveness and the arena offsets of a func.func of dz ops
// (the algorithm is at the top of dzc/passes/MemoryPlan.h).
#include <dzc/passes/MemoryPlan.h>

#include <dzc/ir/DzOps.h>

#include <llvm/ADT/DenseSet.h>
#include <mlir/IR/AsmState.h>
#include <mlir/IR/BuiltinTypes.h>

#include <algorithm>
#include <numeric>

namespace dz::passes {

using namespace mlir;

namespace {

/// Ops whose result may take the buffer of an operand of the same type that dies there:
/// each output element is computed from the input elements at the same position.
bool isElementwise(Operation *op) {
  return isa<ir::AddOp, ir::SubOp, ir::MulOp, ir::DivOp, ir::MaximumOp, ir::EqualMaskOp, ir::NegOp,
             ir::ExpOp, ir::LogOp, ir::SinOp, ir::CosOp, ir::TanhOp, ir::SqrtOp, ir::SquareOp,
             ir::SigmoidOp, ir::ReluOp, ir::StepOp, ir::PowScalarOp, ir::LeakyReluOp, ir::ClipOp,
             ir::ClipMaskOp>(op);
}

} // namespace

bool writesInPlace(Operation *op) { return isa<ir::AllReduceOp>(op); }

namespace {

/// A group of values in one buffer (one value, or a chain of in-place values); `first` is
/// the position of its first value.
using Buffer = ArenaBuffer;

} // namespace

int64_t placeBuffers(std::vector<ArenaBuffer> &buffers) {
  std::vector<size_t> order(buffers.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (buffers[a].size != buffers[b].size)
      return buffers[a].size > buffers[b].size;
    if (buffers[a].start != buffers[b].start)
      return buffers[a].start < buffers[b].start;
    return buffers[a].first < buffers[b].first;
  });

  std::vector<size_t> placed;
  int64_t peak = 0;
  for (size_t i : order) {
    Buffer &b = buffers[i];
    std::vector<size_t> live; // placed buffers live at some index of b's range
    for (size_t j : placed)
      if (buffers[j].start <= b.end && b.start <= buffers[j].end)
        live.push_back(j);
    std::sort(live.begin(), live.end(), [&](size_t x, size_t y) {
      return buffers[x].offset != buffers[y].offset ? buffers[x].offset < buffers[y].offset : x < y;
    });
    int64_t top = 0, best = -1, best_gap = 0;
    for (size_t j : live) {
      int64_t gap = buffers[j].offset - top;
      if (gap >= b.size && (best < 0 || gap < best_gap)) {
        best = top;
        best_gap = gap;
      }
      top = std::max(top, buffers[j].offset + buffers[j].size);
    }
    b.offset = best >= 0 ? best : top;
    peak = std::max(peak, b.offset + b.size);
    placed.push_back(i);
  }
  return peak;
}

const PlannedValue *MemoryPlan::lookup(Value v) const {
  auto it = index.find(v);
  return it == index.end() ? nullptr : &values[it->second];
}

FailureOr<MemoryPlan> planMemory(func::FuncOp fn, MemoryPlanOptions options) {
  if (fn.isExternal())
    return fn.emitOpError() << "has no body to plan";
  if (!fn.getBody().hasOneBlock())
    return fn.emitOpError() << "has several blocks; the memory plan needs one straight-line "
                               "block";
  Block &block = fn.getBody().front();

  // Steps 1 and 2: the intermediates, their sizes and live ranges.
  llvm::DenseSet<Value> returned;
  llvm::DenseMap<Operation *, int64_t> position;
  int64_t n = 0;
  for (Operation &op : block) {
    position[&op] = n++;
    if (op.hasTrait<OpTrait::ReturnLike>())
      returned.insert(op.operand_begin(), op.operand_end());
  }

  MemoryPlan plan;
  for (Operation &op : block) {
    if (isa<ir::ConstantOp>(op))
      continue;
    for (Value v : op.getResults()) {
      if (returned.contains(v))
        continue;
      auto type = dyn_cast<RankedTensorType>(v.getType());
      if (!type || !type.hasStaticShape() || !type.getElementType().isIntOrFloat())
        return op.emitOpError() << "has result type " << v.getType()
                                << "; the memory plan needs statically shaped tensors";
      PlannedValue pv;
      pv.value = v;
      pv.size = type.getNumElements() * ((type.getElementTypeBitWidth() + 7) / 8);
      pv.start = pv.end = position.lookup(&op);
      for (Operation *user : v.getUsers())
        pv.end = std::max(pv.end, position.lookup(block.findAncestorOpInBlock(*user)));
      plan.index[v] = plan.values.size();
      plan.values.push_back(pv);
    }
  }

  // Step 3: buffers, with in-place values joining the buffer of their operand.
  std::vector<Buffer> buffers;
  for (size_t i = 0; i < plan.values.size(); ++i) {
    PlannedValue &pv = plan.values[i];
    Operation *op = pv.value.getDefiningOp();
    bool view = isa<ir::ReshapeOp>(op);
    if (options.in_place && op->getNumResults() == 1 &&
        (view || isElementwise(op) || writesInPlace(op))) {
      for (Value operand : op->getOperands()) {
        auto it = plan.index.find(operand);
        if (it == plan.index.end())
          continue;
        PlannedValue &src = plan.values[it->second];
        Buffer &b = buffers[size_t(src.buffer)];
        bool fits = view ? src.size == pv.size : operand.getType() == pv.value.getType();
        if (!fits || src.end != pv.start || b.end != pv.start)
          continue;
        pv.buffer = src.buffer;
        pv.in_place_of = operand;
        b.end = pv.end;
        ++plan.num_in_place;
        break;
      }
    }
    if (!pv.in_place_of) {
      pv.buffer = int32_t(buffers.size());
      buffers.push_back({MemoryPlan::aligned(pv.size), pv.start, pv.end, 0, int32_t(i)});
    }
    plan.naive += MemoryPlan::aligned(pv.size);
  }

  // Steps 4 and 5.
  plan.peak = placeBuffers(buffers);
  plan.num_buffers = int32_t(buffers.size());
  for (PlannedValue &pv : plan.values)
    pv.offset = buffers[size_t(pv.buffer)].offset;
  return plan;
}

void printMemoryPlan(func::FuncOp fn, const MemoryPlan &plan, llvm::raw_ostream &os) {
  AsmState names(fn);
  os << "memory plan @" << fn.getSymName() << ": " << plan.values.size() << " values, "
     << plan.num_buffers << " buffers, " << plan.num_in_place << " in place, alignment "
     << MemoryPlan::kAlignment << "\n";
  for (const PlannedValue &pv : plan.values) {
    pv.value.printAsOperand(os, names);
    os << " " << pv.size << " " << pv.offset << " [" << pv.start << ", " << pv.end << "]";
    if (pv.in_place_of) {
      os << " in-place ";
      pv.in_place_of.printAsOperand(os, names);
    }
    os << "\n";
  }
  os << "peak " << plan.peak << " naive " << plan.naive << "\n";
}

} // namespace dz::passes
