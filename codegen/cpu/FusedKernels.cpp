// FusedKernels.cpp - native code for dz.fused ops (see FusedKernels.h).
//
// For each dz.fused op of the function:
//  1. The domain is the shape of the group's root (its last op), or of the root's operand
//     when the root is a reduction (dz.sum / dz.max / dz.min).
//  2. A func.func `fused_N(in..., out..., lo, hi)` is generated in a module of its own:
//     an scf.for nest over the domain, dimension 0 from lo to hi. At each point every
//     input is loaded at the point's index projected onto its shape (NumPy broadcasting:
//     a dimension of 1 reads index 0, missing leading dimensions are dropped), each op of
//     the body becomes its scalar arith/math form (a registry op's value expression built
//     by ScalarVocabulary.h, the others from the table kScalarOps), and each output is
//     stored at the point. A reduction root first fills its output with the identity (0, -inf, +inf)
//     over the chunk, then accumulates into it; its output is addressed with the reduced
//     dimensions kept as 1 (the same bytes as without keepdims).
//     Elementwise ops commute with broadcasting, so a value of a smaller shape inside the
//     group (a broadcast operand) is computed at the projected point and is the same.
//  3. The module is lowered to the LLVM dialect (f32 transcendental functions through
//     MLIR's polynomial approximations, so that they vectorise; f64 ones call libm), and
//     JIT-compiled by mlir::ExecutionEngine at LLVM -O2 for the host CPU (its vector
//     width), so the innermost loops vectorise. Equal kernels are compiled once.
// A group with an op or dtype that has no scalar form here stays with the op-by-op path.
#include "FusedKernels.h"

#include "KernelTable.h" // spec_of
#include "ScalarVocabulary.h"

#include <dzc/codegen/ExecutorBuild.h>
#include <dzc/ir/DzOps.h>

#include <mlir/Conversion/Passes.h>
#include <mlir/Dialect/Arith/IR/Arith.h>
#include <mlir/Dialect/ControlFlow/IR/ControlFlow.h>
#include <mlir/Dialect/LLVMIR/LLVMDialect.h>
#include <mlir/Dialect/Math/IR/Math.h>
#include <mlir/Dialect/Math/Transforms/Approximation.h>
#include <mlir/Dialect/Math/Transforms/Passes.h>
#include <mlir/Dialect/MemRef/IR/MemRef.h>
#include <mlir/Dialect/SCF/IR/SCF.h>
#include <mlir/ExecutionEngine/ExecutionEngine.h>
#include <mlir/ExecutionEngine/OptUtils.h>
#include <mlir/IR/Builders.h>
#include <mlir/IR/BuiltinOps.h>
#include <mlir/Pass/PassManager.h>
#include <mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h>
#include <mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h>
#include <mlir/Transforms/GreedyPatternRewriteDriver.h>

#include <dzc/io.h>

#include <llvm/ADT/StringExtras.h>
#include <llvm/ADT/StringMap.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/Support/SHA256.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>

#include <unistd.h>

namespace dz::codegen {

using namespace mlir;

KernelLibrary::~KernelLibrary() = default;

const FusedKernel *KernelLibrary::lookup(Operation *fused) const {
  auto it = kernels_.find(fused);
  return it == kernels_.end() ? nullptr : &it->second;
}

namespace {

/// What the scalar form of one op sees: its operands at the current point, the element
/// type of its result, and a builder at the point.
struct Scalar {
  OpBuilder &b;
  Location loc;
  Operation *op;
  SmallVector<Value, 2> x;
  Type type; // element type of the result

  bool isFloat() const { return isa<FloatType>(type); }
  Value c(double v) const {
    if (isFloat())
      return arith::ConstantOp::create(b, loc, FloatAttr::get(type, v));
    return arith::ConstantOp::create(b, loc, IntegerAttr::get(type, int64_t(v)));
  }
  double attr(StringRef name) const {
    Attribute a = op->getAttr(name);
    if (auto f = dyn_cast_or_null<FloatAttr>(a))
      return f.getValueAsDouble();
    return double(cast<IntegerAttr>(a).getInt());
  }
  Value select(Value cond, Value t, Value f) const {
    return arith::SelectOp::create(b, loc, cond, t, f);
  }
  Value cmp(arith::CmpFPredicate fp, arith::CmpIPredicate ip, Value l, Value r) const {
    if (isFloat())
      return arith::CmpFOp::create(b, loc, fp, l, r);
    return arith::CmpIOp::create(b, loc, ip, l, r);
  }
  Value gt(Value l, Value r) const {
    return cmp(arith::CmpFPredicate::OGT, arith::CmpIPredicate::sgt, l, r);
  }
  Value ge(Value l, Value r) const {
    return cmp(arith::CmpFPredicate::OGE, arith::CmpIPredicate::sge, l, r);
  }
  Value lt(Value l, Value r) const {
    return cmp(arith::CmpFPredicate::OLT, arith::CmpIPredicate::slt, l, r);
  }
  Value le(Value l, Value r) const {
    return cmp(arith::CmpFPredicate::OLE, arith::CmpIPredicate::sle, l, r);
  }
  Value add(Value l, Value r) const {
    return isFloat() ? Value(arith::AddFOp::create(b, loc, l, r))
                     : Value(arith::AddIOp::create(b, loc, l, r));
  }
  Value sub(Value l, Value r) const {
    return isFloat() ? Value(arith::SubFOp::create(b, loc, l, r))
                     : Value(arith::SubIOp::create(b, loc, l, r));
  }
  Value mul(Value l, Value r) const {
    return isFloat() ? Value(arith::MulFOp::create(b, loc, l, r))
                     : Value(arith::MulIOp::create(b, loc, l, r));
  }
  Value div(Value l, Value r) const { return arith::DivFOp::create(b, loc, l, r); }
  /// 1 where `cond`, else 0, in the result type.
  Value mask(Value cond) const { return select(cond, c(1), c(0)); }
  Value exp(Value v) const { return math::ExpOp::create(b, loc, v); }
};

using ScalarFn = Value (*)(Scalar &);
struct ScalarOp {
  std::string name;
  bool float_only; // no integer form (the runtime kernel refuses integers too, or differs)
  bool math;       // a transcendental function (costlier: parallel from fewer elements)
  ScalarFn fn;     // null for a registry op: vocabulary::build of its expression
  MapOp registry = MapOp::cast;
};

// One line per op: its scalar form, as the runtime kernel of KernelTable.cpp computes it.
// clang-format off
const ScalarOp kScalarOps[] = {
    {"dz.pow_scalar", true, true, [](Scalar &s) -> Value {
       double e = s.attr("exponent");
       if (e == 2.0) return s.mul(s.x[0], s.x[0]);
       return math::PowFOp::create(s.b, s.loc, s.x[0], s.c(e)); }},
    {"dz.leaky_relu", true, false, [](Scalar &s) {
       return s.select(s.gt(s.x[0], s.c(0)), s.x[0], s.mul(s.x[0], s.c(s.attr("slope")))); }},
    {"dz.clip", true, false, [](Scalar &s) {
       Value lo = s.c(s.attr("min")), hi = s.c(s.attr("max"));
       return s.select(s.lt(s.x[0], lo), lo, s.select(s.gt(s.x[0], hi), hi, s.x[0])); }},
    {"dz.clip_mask", true, false, [](Scalar &s) {
       Value in = arith::AndIOp::create(s.b, s.loc, s.ge(s.x[0], s.c(s.attr("min"))),
                                        s.le(s.x[0], s.c(s.attr("max"))));
       return s.mask(in); }},
    {"dz.broadcast_to", false, false, [](Scalar &s) { return s.x[0]; }},
};
// clang-format on

/// Whether a registry op's value calls a transcendental function (read from its expression).
bool isTranscendental(const OpInfo &info) {
  for (const char *fn : {"Exp(", "Log(", "Sin(", "Cos(", "Tan", "Erf(", "Pow(", "Asin(", "Acos(",
                         "Atan(", "Sinh(", "Cosh(", "Asinh(", "Acosh(", "Atanh("})
    if (std::strstr(info.value, fn))
      return true;
  return false;
}

const ScalarOp *findScalarOp(StringRef name) {
  static const std::vector<ScalarOp> registry = [] {
    std::vector<ScalarOp> ops;
    for (const OpInfo &info : registry_ops()) {
      bool float_only = info.domain == OpDomain::Float || info.domain == OpDomain::Predicate;
      ops.push_back(
          {std::string("dz.") + info.name, float_only, isTranscendental(info), nullptr, info.op});
    }
    return ops;
  }();
  static const llvm::StringMap<const ScalarOp *> table = [] {
    llvm::StringMap<const ScalarOp *> m;
    for (const ScalarOp &op : kScalarOps)
      m[op.name] = &op;
    for (const ScalarOp &op : registry)
      m[op.name] = &op;
    return m;
  }();
  auto it = table.find(name);
  return it == table.end() ? nullptr : it->second;
}

/// dz.cast between f32, f64 and i64.
Value castScalar(OpBuilder &b, Location loc, Value v, Type to) {
  Type from = v.getType();
  if (from == to)
    return v;
  bool fromFloat = isa<FloatType>(from), toFloat = isa<FloatType>(to);
  if (fromFloat && toFloat)
    return from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth()
               ? Value(arith::ExtFOp::create(b, loc, to, v))
               : Value(arith::TruncFOp::create(b, loc, to, v));
  if (!fromFloat && toFloat)
    return arith::SIToFPOp::create(b, loc, to, v);
  if (fromFloat && !toFloat)
    return arith::FPToSIOp::create(b, loc, to, v);
  return v; // i64 -> i64
}

ArrayRef<int64_t> shapeOf(Value v) { return cast<RankedTensorType>(v.getType()).getShape(); }
Type elementOf(Value v) { return cast<RankedTensorType>(v.getType()).getElementType(); }

/// Why a group cannot have a kernel, or empty.
std::string unsupportedReason(ir::FusedOp fused) {
  for (Operation &op : fused.getBody().front()) {
    StringRef name = op.getName().getStringRef();
    if (name == "dz.yield" || name == "dz.cast" || name == "dz.sum" || name == "dz.max" ||
        name == "dz.min")
      continue;
    if (auto constant = dyn_cast<ir::ConstantOp>(op)) {
      auto dense = dyn_cast<DenseElementsAttr>(constant.getValue());
      if (!dense || !dense.isSplat())
        return "a dz.constant that is not a splat";
      continue;
    }
    const ScalarOp *s = findScalarOp(name);
    if (!s)
      return name.str() + " has no scalar form";
    Type t = elementOf(op.getResult(0));
    if (!t.isF32() && !t.isF64() && !(t.isSignlessInteger(64) && !s->float_only))
      return name.str() + " on " + [&] {
        std::string str;
        llvm::raw_string_ostream os(str);
        os << t;
        return str;
      }();
    for (Value v : op.getOperands())
      if (elementOf(v) != t)
        return name.str() + " with operands of another element type";
  }
  for (Value v : fused.getOperands())
    if (!spec_of(v.getType()))
      return "an input the CPU executor cannot hold";
  return "";
}

/// Evaluates the ops of a group's body, up to `stop` (exclusive), at one point:
/// `scalar` holds the block arguments' values there and gets each op's. Returns whether
/// a transcendental function was among them.
bool evaluateBody(OpBuilder &b, Location l, Block &body, Operation *stop,
                  DenseMap<Value, Value> &scalar) {
  bool math = false;
  for (Operation &op : body) {
    if (&op == stop)
      break;
    StringRef name = op.getName().getStringRef();
    Type t = elementOf(op.getResult(0));
    if (auto constant = dyn_cast<ir::ConstantOp>(op)) {
      if (scalar.count(op.getResult(0))) // a kernel argument (KernelEmitter::constants)
        continue;
      auto splat = cast<DenseElementsAttr>(constant.getValue());
      scalar[op.getResult(0)] =
          isa<FloatType>(t)
              ? Value(arith::ConstantOp::create(
                    b, l, FloatAttr::get(t, splat.getSplatValue<APFloat>().convertToDouble())))
              : Value(arith::ConstantOp::create(
                    b, l, IntegerAttr::get(t, splat.getSplatValue<APInt>().getSExtValue())));
      continue;
    }
    if (name == "dz.cast") {
      scalar[op.getResult(0)] = castScalar(b, l, scalar.lookup(op.getOperand(0)), t);
      continue;
    }
    const ScalarOp *s = findScalarOp(name);
    Scalar ctx{b, l, &op, {}, t};
    for (Value v : op.getOperands())
      ctx.x.push_back(scalar.lookup(v));
    scalar[op.getResult(0)] = s->fn ? s->fn(ctx) : vocabulary::build(s->registry, b, l, ctx.x);
    math |= s->math;
  }
  return math;
}

/// Marks the first `n` arguments (the data pointers) `noalias`, which lets LLVM vectorise
/// without run-time overlap checks. An output is a fresh buffer, except a donated one,
/// which is exactly the buffer of the input it replaces (never a part of another); point
/// p of a kernel reads that input only at p, before it writes p, and no other point reads
/// it: with exact aliasing no access of one point meets an access of another, so no
/// reordering that `noalias` allows can change a result. Inputs that share storage are
/// only read. Without it the donated updates ran on the scalar fallback loop.
void markNoAlias(func::FuncOp fn, unsigned n) {
  for (unsigned i = 0; i < n; ++i)
    fn.setArgAttr(i, LLVM::LLVMDialect::getNoAliasAttrName(), UnitAttr::get(fn.getContext()));
}

int64_t numel(ArrayRef<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

class KernelEmitter {
public:
  KernelEmitter(ModuleOp module, ir::FusedOp fused, std::string name)
      : module_(module), fused_(fused), name_(std::move(name)), loc_(fused.getLoc()) {}

  /// Emits the function; fails (leaving nothing behind) with `reason` set.
  FailureOr<FusedKernel> emit(std::string &reason);

private:
  /// A group without reduction whose every input has the domain's shape or one element:
  /// one loop over the flat index, the data as plain pointers. The function does not
  /// depend on the shapes, so equal chains over tensors of any size share one kernel.
  FusedKernel emitFlat();

  /// Appends `func.func @name(data..., lo: index, hi: index, sizes: index...,
  /// constants...)` to the module (`sizes` index arguments, then one scalar argument per
  /// entry of constants_), the data pointers noalias, and moves `b` to the start of its
  /// body; returns the body.
  Block *startKernel(OpBuilder &b, ArrayRef<Type> data, unsigned sizes = 0);
  /// The group's scalar constants (f32, f64 or integer splats) become arguments of the
  /// kernel, so that a constant that depends on the shapes (a mean's 1/N) does not make
  /// a kernel of its own per size: seeds `scalar` with their argument values.
  void seedConstants(Block *entry, DenseMap<Value, Value> &scalar);
  /// The constants' values, as kernel arguments (FusedKernel::scalars).
  std::vector<uint64_t> constantBits();
  Value indexOf(OpBuilder &b, int64_t i) { return arith::ConstantIndexOp::create(b, loc_, i); }

  ModuleOp module_;
  ir::FusedOp fused_;
  std::string name_;
  Location loc_;
  SmallVector<int64_t> domain_;
  SmallVector<ir::ConstantOp> constants_;
  unsigned firstConstant_ = 0; // the argument number of constants_[0]
};

/// Whether a constant of the body may be a kernel argument: f32, f64 or an integer of 8
/// to 64 bits (an i1 stays in the code: LLVM reads a stored i1 only as 0 or 1).
bool passableConstant(ir::ConstantOp c) {
  Type t = elementOf(c.getResult());
  return t.isF32() || t.isF64() ||
         (t.isInteger() && t.getIntOrFloatBitWidth() >= 8 && t.getIntOrFloatBitWidth() <= 64);
}

Block *KernelEmitter::startKernel(OpBuilder &b, ArrayRef<Type> data, unsigned sizes) {
  SmallVector<Type> args(data);
  args.append(2 + sizes, b.getIndexType());
  constants_.clear();
  firstConstant_ = unsigned(args.size());
  for (Operation &op : fused_.getBody().front())
    if (auto c = dyn_cast<ir::ConstantOp>(op); c && passableConstant(c)) {
      constants_.push_back(c);
      args.push_back(elementOf(c.getResult()));
    }
  auto fn = func::FuncOp::create(b, loc_, name_, b.getFunctionType(args, {}));
  markNoAlias(fn, unsigned(data.size()));
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  return entry;
}

void KernelEmitter::seedConstants(Block *entry, DenseMap<Value, Value> &scalar) {
  for (auto [i, c] : llvm::enumerate(constants_))
    scalar[c.getResult()] = entry->getArgument(firstConstant_ + unsigned(i));
}

std::vector<uint64_t> KernelEmitter::constantBits() {
  std::vector<uint64_t> bits;
  for (ir::ConstantOp c : constants_) {
    auto splat = cast<DenseElementsAttr>(c.getValue());
    Type t = elementOf(c.getResult());
    uint64_t word = 0; // the value in the low bytes (little-endian, as the callee reads it)
    if (t.isF32()) {
      float v = float(splat.getSplatValue<APFloat>().convertToDouble());
      std::memcpy(&word, &v, sizeof v);
    } else if (t.isF64()) {
      double v = splat.getSplatValue<APFloat>().convertToDouble();
      std::memcpy(&word, &v, sizeof v);
    } else {
      word = uint64_t(splat.getSplatValue<APInt>().getSExtValue());
    }
    bits.push_back(word);
  }
  return bits;
}

FailureOr<FusedKernel> KernelEmitter::emit(std::string &reason) {
  reason = unsupportedReason(fused_);
  if (!reason.empty())
    return failure();
  Block &body = fused_.getBody().front();
  Operation *yield = body.getTerminator();
  Operation *root = yield->getPrevNode();
  StringRef rootName = root->getName().getStringRef();
  const bool reduces = rootName == "dz.sum" || rootName == "dz.max" || rootName == "dz.min";
  domain_.assign(shapeOf(reduces ? root->getOperand(0) : root->getResult(0)).begin(),
                 shapeOf(reduces ? root->getOperand(0) : root->getResult(0)).end());
  const int64_t rank = int64_t(domain_.size());

  std::vector<bool> reduced(size_t(rank), false);
  if (reduces) {
    auto axes = cast<DenseI64ArrayAttr>(root->getAttr("axes")).asArrayRef();
    for (int64_t a : axes)
      reduced[size_t(a < 0 ? a + rank : a)] = true;
    if (axes.empty())
      reduced.assign(size_t(rank), true);
    if (rootName != "dz.sum" && !isa<FloatType>(elementOf(root->getResult(0)))) {
      reason = rootName.str() + " over integers";
      return failure();
    }
  }
  SmallVector<int64_t> kept(domain_); // the reduction's output with keepdims
  for (int64_t d = 0; d < rank; ++d)
    if (reduced[size_t(d)])
      kept[size_t(d)] = 1;

  // Outputs: a yielded value of the domain's shape, or the reduction root.
  for (Value v : yield->getOperands()) {
    if (reduces && v == root->getResult(0))
      continue;
    if (shapeOf(v) != ArrayRef<int64_t>(domain_) || isa<BlockArgument>(v)) {
      reason = "an output that is not computed over the whole domain";
      return failure();
    }
  }

  bool flat = !reduces;
  for (Value v : fused_.getOperands())
    flat = flat && (shapeOf(v) == ArrayRef<int64_t>(domain_) || numel(shapeOf(v)) == 1);
  if (flat)
    return emitFlat();

  const unsigned numIn = fused_.getNumOperands(), numOut = yield->getNumOperands();
  MLIRContext *ctx = module_.getContext();
  OpBuilder b(ctx);
  b.setInsertionPointToEnd(module_.getBody());
  Type ptr = LLVM::LLVMPointerType::get(ctx);
  Block *entry = startKernel(b, SmallVector<Type>(numIn + numOut, ptr), unsigned(rank));
  Value lo = entry->getArgument(numIn + numOut), hi = entry->getArgument(numIn + numOut + 1);
  // The domain's sizes are arguments, so the kernel depends on the shapes only through
  // which dimensions of each operand are broadcast (1): one kernel serves every size.
  SmallVector<Value> size;
  for (int64_t d = 0; d < rank; ++d)
    size.push_back(entry->getArgument(numIn + numOut + 2 + unsigned(d)));

  // The strides of a row-major tensor of `shape` (right-aligned with the domain; a
  // dimension of 1 is broadcast), zero for a broadcast dimension.
  auto strides = [&](ArrayRef<int64_t> shape) {
    SmallVector<Value> s(shape.size());
    Value running = indexOf(b, 1);
    const size_t lead = size_t(rank) - shape.size();
    for (size_t j = shape.size(); j-- > 0;) {
      if (shape[j] == 1)
        continue;
      s[j] = running;
      running = arith::MulIOp::create(b, loc_, running, size[lead + j]);
    }
    return s;
  };
  // The element of a tensor with `stride` (from strides()) at the domain point `ivs`.
  auto at = [&](OpBuilder &ib, Location l, Value base, Type element, ArrayRef<Value> stride,
                ValueRange ivs) -> Value {
    Value index = indexOf(ib, 0);
    const size_t lead = ivs.size() - stride.size();
    for (size_t j = 0; j < stride.size(); ++j)
      if (stride[j])
        index = arith::AddIOp::create(ib, l, index,
                                      arith::MulIOp::create(ib, l, ivs[lead + j], stride[j]));
    Value i = arith::IndexCastOp::create(ib, l, ib.getI64Type(), index);
    return LLVM::GEPOp::create(ib, l, ptr, element, base, ValueRange{i});
  };
  SmallVector<SmallVector<Value>> inStride;
  for (BlockArgument arg : body.getArguments())
    inStride.push_back(strides(shapeOf(arg)));
  SmallVector<Value> domainStride = strides(domain_), keptStride = strides(kept);

  // The loop bounds: dimension 0 is [lo, hi); a 0-d domain is one point.
  auto bounds = [&](ArrayRef<int64_t> shape, SmallVector<Value> &lbs, SmallVector<Value> &ubs,
                    bool chunked) {
    for (size_t d = 0; d < shape.size(); ++d) {
      lbs.push_back(d == 0 && chunked ? lo : indexOf(b, 0));
      ubs.push_back(d == 0 && chunked ? hi : shape[d] == 1 ? indexOf(b, 1) : size[d]);
    }
  };
  const bool splittable = rank > 0 && !reduced[0];
  const unsigned accIndex = reduces
                                ? unsigned(llvm::find(yield->getOperands(), root->getResult(0)) -
                                           yield->getOperands().begin())
                                : 0;
  Value acc = reduces ? entry->getArgument(numIn + accIndex) : Value();
  Type accType = reduces ? elementOf(root->getResult(0)) : Type();
  auto identity = [&](OpBuilder &ib) -> Value {
    if (rootName == "dz.sum")
      return isa<FloatType>(accType)
                 ? Value(arith::ConstantOp::create(ib, loc_, FloatAttr::get(accType, 0.0)))
                 : Value(arith::ConstantOp::create(ib, loc_, IntegerAttr::get(accType, 0)));
    double inf = std::numeric_limits<double>::infinity();
    return arith::ConstantOp::create(ib, loc_,
                                     FloatAttr::get(accType, rootName == "dz.max" ? -inf : inf));
  };

  SmallVector<Value> steps;
  for (int64_t d = 0; d < rank; ++d)
    steps.push_back(indexOf(b, 1));

  if (reduces) { // fill the chunk's part of the output with the identity
    SmallVector<Value> lbs, ubs;
    bounds(kept, lbs, ubs, splittable);
    Value init = identity(b);
    scf::buildLoopNest(b, loc_, lbs, ubs, steps, [&](OpBuilder &ib, Location l, ValueRange ivs) {
      LLVM::StoreOp::create(ib, l, init, at(ib, l, acc, accType, keptStride, ivs));
    });
  }

  bool math = false;
  SmallVector<Value> lbs, ubs;
  bounds(domain_, lbs, ubs, rank > 0);
  scf::buildLoopNest(b, loc_, lbs, ubs, steps, [&](OpBuilder &ib, Location l, ValueRange ivs) {
    DenseMap<Value, Value> scalar;
    seedConstants(entry, scalar);
    for (auto [i, arg] : llvm::enumerate(body.getArguments()))
      scalar[arg] = LLVM::LoadOp::create(
          ib, l, elementOf(arg),
          at(ib, l, entry->getArgument(unsigned(i)), elementOf(arg), inStride[i], ivs));
    math |= evaluateBody(ib, l, body, reduces ? root : yield, scalar);
    if (reduces) {
      Value where = at(ib, l, acc, accType, keptStride, ivs); // reduced: stride 0
      Value old = LLVM::LoadOp::create(ib, l, accType, where),
            v = scalar.lookup(root->getOperand(0)), next;
      if (rootName == "dz.sum")
        next = isa<FloatType>(accType) ? Value(arith::AddFOp::create(ib, l, old, v))
                                       : Value(arith::AddIOp::create(ib, l, old, v));
      else if (rootName == "dz.max")
        next = arith::MaximumFOp::create(ib, l, old, v);
      else
        next = arith::MinimumFOp::create(ib, l, old, v);
      LLVM::StoreOp::create(ib, l, next, where);
    }
    for (auto [k, v] : llvm::enumerate(yield->getOperands()))
      if (!(reduces && v == root->getResult(0)))
        LLVM::StoreOp::create(
            ib, l, scalar.lookup(v),
            at(ib, l, entry->getArgument(numIn + unsigned(k)), elementOf(v), domainStride, ivs));
  });
  func::ReturnOp::create(b, loc_);

  FusedKernel k;
  k.name = name_;
  k.outer = rank > 0 ? domain_[0] : 1;
  k.elements = 1;
  for (int64_t d : domain_)
    k.elements *= d;
  k.sizes.assign(domain_.begin(), domain_.end());
  k.scalars = constantBits();
  k.splittable = splittable;
  k.math = math;
  for (Value v : yield->getOperands())
    k.pointwise.push_back(!(reduces && v == root->getResult(0)));
  return k;
}

FusedKernel KernelEmitter::emitFlat() {
  MLIRContext *ctx = module_.getContext();
  Block &body = fused_.getBody().front();
  Operation *yield = body.getTerminator();
  const unsigned numIn = fused_.getNumOperands(), numOut = yield->getNumOperands();
  OpBuilder b(ctx);
  b.setInsertionPointToEnd(module_.getBody());
  Type ptr = LLVM::LLVMPointerType::get(ctx);
  SmallVector<Type> args(numIn + numOut, ptr);
  Block *entry = startKernel(b, args);
  Value lo = entry->getArgument(numIn + numOut), hi = entry->getArgument(numIn + numOut + 1);

  DenseMap<Value, Value> invariant; // one-element inputs, loaded once
  for (auto [i, arg] : llvm::enumerate(body.getArguments()))
    if (numel(shapeOf(arg)) == 1 && numel(domain_) != 1)
      invariant[arg] =
          LLVM::LoadOp::create(b, loc_, elementOf(arg), entry->getArgument(unsigned(i)));
  bool math = false;
  auto loop = scf::ForOp::create(b, loc_, lo, hi, indexOf(b, 1));
  b.setInsertionPointToStart(loop.getBody());
  Value i = arith::IndexCastOp::create(b, loc_, b.getI64Type(), loop.getInductionVar());
  auto at = [&](Value base, Type element) -> Value {
    return LLVM::GEPOp::create(b, loc_, ptr, element, base, ValueRange{i});
  };
  DenseMap<Value, Value> scalar = invariant;
  seedConstants(entry, scalar);
  for (auto [k, arg] : llvm::enumerate(body.getArguments()))
    if (!scalar.count(arg))
      scalar[arg] = LLVM::LoadOp::create(b, loc_, elementOf(arg),
                                         at(entry->getArgument(unsigned(k)), elementOf(arg)));
  math = evaluateBody(b, loc_, body, yield, scalar);
  for (auto [k, v] : llvm::enumerate(yield->getOperands()))
    LLVM::StoreOp::create(b, loc_, scalar.lookup(v),
                          at(entry->getArgument(numIn + unsigned(k)), elementOf(v)));
  b.setInsertionPointAfter(loop);
  func::ReturnOp::create(b, loc_);

  FusedKernel k;
  k.name = name_;
  k.elements = k.outer = numel(domain_);
  k.scalars = constantBits();
  k.splittable = true;
  k.math = math;
  k.pointwise.assign(numOut, true);
  return k;
}

/// The lowering of the kernels' module to the LLVM dialect.
LogicalResult lowerToLLVM(ModuleOp module) {
  { // f32 exp/log/tanh/sin/cos as polynomials (vectorisable); f64 stays libm
    RewritePatternSet patterns(module.getContext());
    populateMathPolynomialApproximationPatterns(patterns, MathPolynomialApproximationOptions{});
    if (failed(applyPatternsGreedily(module, std::move(patterns))))
      return failure();
  }
  PassManager pm(module.getContext());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass()); // what LLVM has no intrinsic for: f64 erf
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  ConvertFuncToLLVMPassOptions funcOptions;
  funcOptions.useBarePtrCallConv = true; // a memref argument is its data pointer
  pm.addPass(createConvertFuncToLLVMPass(funcOptions));
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  return pm.run(module);
}

void initializeNativeTarget() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

} // namespace

struct KernelLibraryBuilder {
  static FailureOr<std::shared_ptr<KernelLibrary>> build(func::FuncOp fn,
                                                         const JitOptions &options);
};

/// The kernels compiled in this process, by their MLIR text (the function renamed
/// "kernel"): a later library whose group has the same text calls that code. An entry
/// lives while a library holds its engine.
struct KernelCache {
  struct Entry {
    std::weak_ptr<void> engine; // what keeps the code: an ExecutionEngine or an LLJIT
    FusedKernel::Fn fn = nullptr;
  };
  std::mutex mutex;
  std::map<std::string, Entry, std::less<>> kernels;
};
KernelCache &kernelCache() {
  static KernelCache *cache = new KernelCache; // never destroyed: libraries may outlive main
  return *cache;
}

/// The object code of a module of kernels lives on disk between processes, in
/// dz::cache_dir()/cpu/KEY.o, where KEY hashes the kernels' IR (names included), the host
/// CPU and its features, and LLVM's version: another CPU or another LLVM compiles anew.
/// `DZ_DISABLE=kernel-cache` turns it off.
std::string objectKey(const std::map<std::string, std::string> &kernels,
                      const llvm::orc::JITTargetMachineBuilder &host) {
  llvm::SHA256 hash;
  hash.update("dzc cpu kernels 1\n" LLVM_VERSION_STRING "\n");
  hash.update(host.getCPU() + "\n" + host.getFeatures().getString() + "\n");
  for (const auto &[name, text] : kernels) {
    hash.update(name + "\n");
    hash.update(text);
  }
  return llvm::toHex(hash.final(), /*LowerCase=*/true).substr(0, 32);
}

/// The kernels of an object file written by an earlier process, in a JIT of their own:
/// `names` to their code in `code`. Null (the caller compiles) when the file is missing or
/// does not load or link.
std::shared_ptr<llvm::orc::LLJIT> loadKernels(const std::string &path,
                                              const std::map<std::string, std::string> &names,
                                              std::map<std::string, FusedKernel::Fn> &code) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return nullptr;
  auto jit = llvm::orc::LLJITBuilder().create();
  if (!jit) {
    llvm::consumeError(jit.takeError());
    return nullptr;
  }
  // A file that does not link is a miss: its errors are dropped, not printed.
  (*jit)->getExecutionSession().setErrorReporter([](llvm::Error e) { llvm::consumeError(std::move(e)); });
  auto process = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      (*jit)->getDataLayout().getGlobalPrefix());
  if (!process) {
    llvm::consumeError(process.takeError());
    return nullptr;
  }
  (*jit)->getMainJITDylib().addGenerator(std::move(*process));
  if (llvm::Error e = (*jit)->addObjectFile(std::move(*buffer))) {
    llvm::consumeError(std::move(e));
    return nullptr;
  }
  std::map<std::string, FusedKernel::Fn> found;
  for (const auto &[name, text] : names) {
    auto address = (*jit)->lookup("_mlir_" + name); // ExecutionEngine's packed wrapper
    if (!address) {
      llvm::consumeError(address.takeError());
      return nullptr;
    }
    found[name] = address->toPtr<FusedKernel::Fn>();
  }
  code.insert(found.begin(), found.end());
  return std::shared_ptr<llvm::orc::LLJIT>(std::move(*jit));
}

/// Writes the object code of `engine` (built with enableObjectDump) to `path`, atomically
/// (a temporary name, then rename); a cache that cannot be written only costs the next
/// process a compile.
void storeKernels(ExecutionEngine &engine, const std::string &path) {
  static std::atomic<unsigned> counter{0};
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec)
    return;
  std::string tmp =
      path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  engine.dumpToObjectFile(tmp);
  std::filesystem::rename(tmp, path, ec);
  if (ec)
    std::filesystem::remove(tmp, ec);
}

FailureOr<std::shared_ptr<KernelLibrary>> KernelLibraryBuilder::build(func::FuncOp fn,
                                                                      const JitOptions &options) {
  auto library = std::make_shared<KernelLibrary>();
  auto ms_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
  };
  auto t0 = std::chrono::steady_clock::now();
  MLIRContext *ctx = fn.getContext();
  ctx->loadDialect<arith::ArithDialect, math::MathDialect, memref::MemRefDialect, scf::SCFDialect,
                   cf::ControlFlowDialect, LLVM::LLVMDialect, func::FuncDialect>();
  OwningOpRef<ModuleOp> module = ModuleOp::create(fn.getLoc());

  SmallVector<std::pair<Operation *, FusedKernel>> emitted;
  std::map<std::string, std::string> kernel_of_text; // a kernel's IR -> its name
  std::map<std::string, std::string> compiled;       // name -> IR of the kernels compiled here
  std::map<std::string, FusedKernel::Fn> reused;     // name -> code compiled before
  KernelCache &cache = kernelCache();
  size_t functions = 0;
  fn.walk([&](ir::FusedOp fused) {
    std::string name = "fused_" + std::to_string(functions), reason;
    KernelEmitter emitter(*module, fused, name);
    FailureOr<FusedKernel> k = emitter.emit(reason);
    if (failed(k)) {
      library->skipped_ += "dz.fused with " +
                           std::to_string(fused.getBody().front().getOperations().size() - 1) +
                           " ops: " + reason + "\n";
      return;
    }
    // The same kernel twice (equal chains: SGD updates of every parameter, say) is
    // compiled once; one that this process compiled before is not compiled again.
    auto kernel = cast<func::FuncOp>(module->getBody()->back());
    kernel.setSymName("kernel");
    std::string text;
    llvm::raw_string_ostream os(text);
    kernel.print(os);
    auto [it, fresh] = kernel_of_text.try_emplace(text, name);
    if (!fresh) {
      kernel.erase();
      k->name = it->second;
    } else {
      ++functions;
      std::shared_ptr<void> engine;
      FusedKernel::Fn code = nullptr;
      if (!options.keep_llvm_ir) {
        std::lock_guard<std::mutex> lock(cache.mutex);
        auto found = cache.kernels.find(text);
        if (found != cache.kernels.end() && (engine = found->second.engine.lock()))
          code = found->second.fn;
      }
      if (engine) {
        kernel.erase();
        reused[name] = code;
        if (llvm::find(library->engines_, engine) == library->engines_.end())
          library->engines_.push_back(std::move(engine));
      } else {
        kernel.setSymName(name);
        compiled[name] = std::move(text);
      }
    }
    emitted.push_back({fused.getOperation(), std::move(*k)});
  });
  library->num_functions_ = functions;
  library->num_reused_ = reused.size();
  if (emitted.empty())
    return library;

  std::shared_ptr<void> owner; // what keeps the code of the kernels compiled or loaded here
  std::shared_ptr<ExecutionEngine> engine;
  std::map<std::string, FusedKernel::Fn> &code = reused; // name -> its code
  const bool onDisk = !options.keep_llvm_ir && !env_list_has("DZ_DISABLE", "kernel-cache");
  std::string objectPath;
  if (!compiled.empty()) {
    library->mlir_ms_ = ms_since(t0);
    t0 = std::chrono::steady_clock::now();
    initializeNativeTarget();
    auto tmBuilder = llvm::orc::JITTargetMachineBuilder::detectHost();
    if (!tmBuilder)
      return fn.emitOpError() << "no JIT target for this host: "
                              << llvm::toString(tmBuilder.takeError());
    if (onDisk) {
      objectPath = (std::filesystem::path(dz::cache_dir()) / "cpu" /
                    (objectKey(compiled, *tmBuilder) + ".o"))
                       .string();
      if (std::shared_ptr<llvm::orc::LLJIT> jit = loadKernels(objectPath, compiled, code)) {
        owner = std::move(jit);
        library->num_loaded_ = compiled.size();
      }
    }
    if (!owner) {
      t0 = std::chrono::steady_clock::now();
      if (failed(lowerToLLVM(*module)))
        return fn.emitOpError() << "the fused kernels could not be lowered to the LLVM dialect";
      library->mlir_ms_ += ms_since(t0);
      t0 = std::chrono::steady_clock::now();
      registerBuiltinDialectTranslation(*ctx);
      registerLLVMDialectTranslation(*ctx);
      tmBuilder->setCodeGenOptLevel(llvm::CodeGenOptLevel::Default);
      auto tm = tmBuilder->createTargetMachine();
      if (!tm)
        return fn.emitOpError() << "no JIT target machine: " << llvm::toString(tm.takeError());
      auto optimize = makeOptimizingTransformer(/*optLevel=*/2, /*sizeLevel=*/0, tm->get());
      std::string &llvmText = library->llvm_ir_;
      auto transformer = [&](llvm::Module *m) -> llvm::Error {
        if (llvm::Error e = optimize(m))
          return e;
        if (options.keep_llvm_ir) {
          llvm::raw_string_ostream os(llvmText);
          m->print(os, nullptr);
        }
        return llvm::Error::success();
      };
      ExecutionEngineOptions engineOptions;
      engineOptions.transformer = transformer;
      engineOptions.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Default;
      engineOptions.enableObjectDump = onDisk; // the object code, for storeKernels
      engineOptions.enableGDBNotificationListener = false;
      engineOptions.enablePerfNotificationListener = false;
      auto created = ExecutionEngine::create(*module, engineOptions, std::move(*tm));
      if (!created)
        return fn.emitOpError() << "the JIT could not compile the fused kernels: "
                                << llvm::toString(created.takeError());
      engine = std::move(*created);
      owner = engine;
    }
    library->engines_.push_back(owner);
  } else {
    library->mlir_ms_ = ms_since(t0);
    t0 = std::chrono::steady_clock::now();
  }
  for (auto &[op, k] : emitted) {
    if (!code.count(k.name)) {
      auto packed = engine->lookupPacked(k.name);
      if (!packed)
        return fn.emitOpError() << "the JIT has no symbol " << k.name << ": "
                                << llvm::toString(packed.takeError());
      code[k.name] = *packed;
    }
    k.fn = code[k.name];
    library->kernels_[op] = std::move(k);
  }
  library->llvm_ms_ = ms_since(t0); // the machine code is generated at the first lookup
  if (engine && onDisk)
    storeKernels(*engine, objectPath);
  if (!compiled.empty()) {
    std::lock_guard<std::mutex> lock(cache.mutex);
    std::erase_if(cache.kernels, [](const auto &entry) { return entry.second.engine.expired(); });
    for (auto &[name, text] : compiled)
      cache.kernels[text] = {owner, code[name]};
  }
  return library;
}

FailureOr<std::shared_ptr<KernelLibrary>> buildKernelLibrary(func::FuncOp fn,
                                                             const JitOptions &options) {
  return KernelLibraryBuilder::build(fn, options);
}

FailureOr<std::string> emitFusedLLVMIR(func::FuncOp fn) {
  JitOptions options;
  options.keep_llvm_ir = true;
  FailureOr<std::shared_ptr<KernelLibrary>> library = buildKernelLibrary(fn, options);
  if (failed(library))
    return failure();
  std::string text; // the groups left op by op, as LLVM IR comments, then the module
  llvm::StringRef skipped = (*library)->skipped();
  while (!skipped.empty()) {
    auto [line, rest] = skipped.split('\n');
    text += "; not compiled: " + line.str() + "\n";
    skipped = rest;
  }
  return text + (*library)->llvm_ir();
}

bool hasFusedScalarForm(StringRef op_name) {
  return op_name == "dz.cast" || op_name == "dz.constant" || findScalarOp(op_name) != nullptr;
}

} // namespace dz::codegen
