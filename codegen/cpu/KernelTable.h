// KernelTable.h - the CPU executor's kernel table (private to codegen/cpu): for
// each dz op, how to read its attributes and which runtime kernel closure runs it.
#pragma once

#include <dzc/codegen/Executor.h>

#include <mlir/IR/BuiltinAttributes.h>
#include <mlir/IR/Operation.h>

#include <memory>
#include <optional>
#include <vector>

namespace dz::codegen {

using Kernel = std::function<Tensor(const std::vector<Tensor> &slots)>;

/// The executor's view of a builtin tensor type; nullopt when it cannot run it.
std::optional<TensorSpec> spec_of(mlir::Type type);
inline constexpr const char *kSupportedTypes =
    "the CPU executor runs statically shaped tensors of f32, f64, i64, i32 or i1 (and "
    "holds i8, i16, ui8 to ui64, f16 and bf16, which only dz.constant and dz.cast take)";

/// One op as a lowering sees it: operand slots and types, the result type, and readers
/// of its attributes that report a missing or mistyped attribute at the op.
struct OpView {
  mlir::Operation *op;
  std::vector<int32_t> in;
  std::vector<TensorSpec> in_types;
  TensorSpec out;
  Device device; // where the program runs: constants are made there

  mlir::InFlightDiagnostic error() { return op->emitOpError(); }
  mlir::Attribute attr(llvm::StringRef name) { return op->getAttr(name); }
  mlir::FailureOr<double> f64_attr(llvm::StringRef name);
  mlir::FailureOr<int64_t> i64_attr(llvm::StringRef name);
  /// A BoolAttr; absent means `absent`.
  mlir::FailureOr<bool> bool_attr(llvm::StringRef name, bool absent);
  /// A DenseI64ArrayAttr; absent is an error unless `optional` (then empty).
  mlir::FailureOr<std::vector<int64_t>> i64_array_attr(llvm::StringRef name, bool optional);
};

/// One line of the table: the op, its operand count range, and its lowering, which
/// returns the kernel or fails after an error diagnostic at the op.
struct OpLowering {
  const char *name;
  unsigned min_operands, max_operands;
  mlir::FailureOr<Kernel> (*lower)(OpView &);
};

/// Whether the labels of the dz.one_hot `one_hot` went through a softmax_cross_entropy of as
/// many classes earlier in its block, which checked them (a loss's gradient): checking
/// again would read device labels back a second time per step.
bool labelsCheckedBefore(mlir::Operation *one_hot);

/// The step's direct form (Step::direct) for the op of `v`, when it has one: a kernel of
/// dzc/direct_kernels.h for its static types (DirectSteps.cpp). `constant` is the value
/// of a dz.constant. False leaves the step as it was.
bool setDirectForm(OpView &v, Step &step, const Tensor *constant);

/// A gather whose offsets are runs of one length of consecutive elements (a slice along the
/// last axes, such as the query, key and value thirds of a fused projection): a copy per
/// run instead of an offset per element.
struct GatherRuns {
  size_t run_bytes = 0;
  std::vector<int64_t> starts; // byte offsets of the runs in the source
  /// Copies the runs of `from` into `to` (contiguous, starts.size() * run_bytes bytes).
  void copy(const void *from, void *to) const;
};

/// The runs of `offsets` (elements of `elem_bytes`), or null when they are not runs of one
/// length of at least 8 elements.
std::shared_ptr<GatherRuns> gatherRuns(const std::vector<int64_t> &offsets, size_t elem_bytes);

/// Whether the kernel of the dz.all_reduce `op` reduces its operand's tensor in place:
/// the operand is an intermediate (not an argument, a constant or a view) that only `op`
/// reads. The step's result then shares the operand's storage (Step::view), as the memory
/// plan joins them (passes::writesInPlace).
bool reducesOperandInPlace(mlir::Operation *op);

/// The lowering of the op named `name` ("dz.add"), or null when there is none.
const OpLowering *find_lowering(llvm::StringRef name);

} // namespace dz::codegen
