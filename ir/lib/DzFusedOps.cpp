// DzFusedOps.cpp - dz.fused and dz.yield: the textual form and the verifier of a fused
// group, and the list of ops a group may hold (FusibleOps.h).
//
// Textual form: the block arguments are written next to the operands they stand for,
// as scf.for writes its iter_args:
//   %y = dz.fused (%a = %x, %b = %bias) : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<4x3xf32> {
//     ...
//     dz.yield %r : tensor<4x3xf32>
//   }
#include "dzc/ir/DzOps.h"
#include "dzc/ir/FusibleOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

using namespace mlir;

namespace dz::ir {

//===----------------------------------------------------------------------===//
// Support: what a group may hold
//===----------------------------------------------------------------------===//

/// f32, f64 or i64: the element types the fused kernels compute in.
static bool hasKernelTypes(Operation *op) {
  auto kernelType = [](Type t) {
    auto tensor = dyn_cast<RankedTensorType>(t);
    Type e = tensor ? tensor.getElementType() : Type();
    return e && (e.isF32() || e.isF64() || e.isSignlessInteger(64));
  };
  return llvm::all_of(op->getOperandTypes(), kernelType) &&
         llvm::all_of(op->getResultTypes(), kernelType);
}

bool isFusibleElementwise(Operation *op) {
  return op->hasTrait<OpTrait::Fusible>() && hasKernelTypes(op);
}

bool isFusibleReduction(Operation *op) { return op->hasTrait<OpTrait::FusibleReduction>(); }

/// Types as they read in IR, comma separated (a Diagnostic would quote each one).
static std::string typeList(TypeRange types) {
  std::string out;
  llvm::raw_string_ostream os(out);
  llvm::interleaveComma(types, os);
  return out;
}

//===----------------------------------------------------------------------===//
// Parse and print
//===----------------------------------------------------------------------===//

ParseResult FusedOp::parse(OpAsmParser &parser, OperationState &result) {
  SmallVector<OpAsmParser::Argument> args;
  SmallVector<OpAsmParser::UnresolvedOperand> inputs;
  FunctionType type;
  SMLoc typeLoc;
  if (parser.parseAssignmentList(args, inputs) || parser.parseColon() ||
      parser.getCurrentLocation(&typeLoc) || parser.parseType(type))
    return failure();
  if (type.getNumInputs() != inputs.size())
    return parser.emitError(typeLoc)
           << "has " << inputs.size() << " inputs but " << type.getNumInputs() << " input types";
  for (auto [arg, t] : llvm::zip(args, type.getInputs()))
    arg.type = t;
  if (parser.resolveOperands(inputs, type.getInputs(), typeLoc, result.operands))
    return failure();
  result.addTypes(type.getResults());
  Region *body = result.addRegion();
  if (parser.parseRegion(*body, args) || parser.parseOptionalAttrDictWithKeyword(result.attributes))
    return failure();
  return success();
}

void FusedOp::print(OpAsmPrinter &p) {
  p << " (";
  if (!getBody().empty() && getBody().getNumArguments() == getNumOperands())
    llvm::interleaveComma(llvm::zip(getBody().getArguments(), getInputs()), p,
                          [&](auto pair) { p << std::get<0>(pair) << " = " << std::get<1>(pair); });
  p << ") : ";
  p.printFunctionalType(getInputs().getTypes(), getResultTypes());
  p << " ";
  p.printRegion(getBody(), /*printEntryBlockArgs=*/false, /*printBlockTerminators=*/true);
  p.printOptionalAttrDictWithKeyword((*this)->getAttrs());
}

//===----------------------------------------------------------------------===//
// Verify
//===----------------------------------------------------------------------===//

LogicalResult FusedOp::verify() {
  Block &body = getBody().front();
  if (body.getNumArguments() != getNumOperands())
    return emitOpError() << "has " << getNumOperands() << " inputs but its body has "
                         << body.getNumArguments() << " arguments";
  for (auto [i, arg, input] : llvm::enumerate(body.getArguments(), getInputs()))
    if (arg.getType() != input.getType())
      return emitOpError() << "body argument " << i << " has type " << typeList(arg.getType())
                           << " but input " << i << " has type " << typeList(input.getType());
  auto yield = body.empty() ? YieldOp() : dyn_cast<YieldOp>(body.back());
  if (!yield)
    return emitOpError() << "body must end in dz.yield";
  if (yield.getValues().getTypes() != getResultTypes())
    return emitOpError() << "yields (" << typeList(yield.getValues().getTypes())
                         << ") but its results are (" << typeList(getResultTypes()) << ")";
  return success();
}

LogicalResult FusedOp::verifyRegions() {
  bool reduced = false;
  for (Operation &op : getBody().front().without_terminator()) {
    if (isFusibleElementwise(&op))
      continue;
    if (!isFusibleReduction(&op))
      return op.emitOpError() << "cannot be inside dz.fused: a group holds only elementwise dz "
                                 "ops, dz.broadcast_to, dz.constant and one trailing reduction "
                                 "(dz.sum, dz.max, dz.min)";
    if (reduced)
      return op.emitOpError() << "is a second reduction in one dz.fused: a group ends in at most "
                                 "one reduction";
    reduced = true;
    for (Operation *user : op.getUsers())
      if (!isa<YieldOp>(user))
        return op.emitOpError() << "is a reduction in the middle of a dz.fused group: only the "
                                   "dz.yield may read its result";
  }
  return success();
}

} // namespace dz::ir
