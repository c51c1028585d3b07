// CudaSource.cpp - CUDA C generation from dz IR (CudaSource.h).
//
// For each kernel (a dz.fused group, or one elementwise op / reduction outside a group):
//  1. The domain: the shape of the group's results, or for a group that ends in a
//     reduction the shape of the reduced operand. Every value of the group broadcasts
//     to it (fusion grows a group only through the operands of its ops).
//  2. Each value is computed at each point of the domain: an input is loaded at the
//     point's projection onto its own shape (NumPy broadcasting: its stride is 0 along
//     a dimension of 1 or a missing one), each op is one line of C from kExpressions.
//     A smaller value used only inside the group is recomputed per point (cheap: it is
//     elementwise arithmetic on registers).
//  3. Without a reduction: one grid-stride loop over the flattened domain, the results
//     stored at the flat index. With one: the domain splits into the kept dimensions
//     (one output element each) and the reduced ones; blocks stride over the output
//     elements, a block's threads stride over the reduced elements and combine in
//     registers, then in a shared-memory tree; results of domain shape are stored on
//     the way. No atomics, so the sums are deterministic.
// Splat constants (inside a group, or read from outside) become literals.
#include <dzc/codegen/CudaSource.h>

#include "CudaExpressions.h"

#include <dzc/ir/DzOps.h>
#include <dzc/ir/FusibleOps.h>

#include <mlir/IR/BuiltinAttributes.h>
#include <mlir/IR/BuiltinTypes.h>
#include <mlir/IR/Diagnostics.h>

#include <llvm/ADT/DenseMap.h>
#include <llvm/ADT/StringExtras.h>

#include <algorithm>
#include <cctype>

namespace dz::codegen::cuda {

using namespace mlir;

namespace {

std::string str(Location loc) {
  std::string s;
  llvm::raw_string_ostream os(s);
  loc.print(os);
  return s;
}

std::string typeStr(const KernelTensor &t) {
  std::string s = "tensor<";
  for (int64_t d : t.shape)
    s += std::to_string(d) + "x";
  return s + (t.dtype == f32 ? "f32" : t.dtype == f64 ? "f64" : "i64") + ">";
}

// ---- kernels ----------------------------------------------------------------------------

/// What one kernel computes: ops over values, some of which stand for values of the
/// function (a dz.fused's block arguments for its operands, or for a single op the
/// operands themselves).
struct Group {
  Operation *anchor = nullptr; // the dz.fused, or the single op
  SmallVector<Value> outer_inputs, inner_inputs;
  SmallVector<Operation *> ops;
  SmallVector<Value> inner_results, outer_results;
};

Group groupOf(Operation *op) {
  Group g;
  g.anchor = op;
  if (auto fused = dyn_cast<ir::FusedOp>(op)) {
    Block &body = fused.getBody().front();
    g.outer_inputs.assign(fused->getOperands().begin(), fused->getOperands().end());
    g.inner_inputs.assign(body.getArguments().begin(), body.getArguments().end());
    for (Operation &inner : body.without_terminator())
      g.ops.push_back(&inner);
    Operation *yield = body.getTerminator();
    g.inner_results.assign(yield->getOperands().begin(), yield->getOperands().end());
  } else {
    for (Value v : op->getOperands())
      if (!llvm::is_contained(g.outer_inputs, v))
        g.outer_inputs.push_back(v);
    g.inner_inputs = g.outer_inputs;
    g.ops.push_back(op);
    g.inner_results.assign(op->getResults().begin(), op->getResults().end());
  }
  g.outer_results.assign(op->getResults().begin(), op->getResults().end());
  return g;
}

/// The static shape and element type of `v`, or failure after a diagnostic at `at`.
FailureOr<std::pair<Shape, DType>> typeOf(Value v, Operation *at) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  std::optional<DType> dt = t ? dtypeOf(t.getElementType()) : std::nullopt;
  if (!t || !t.hasStaticShape() || !dt)
    return at->emitOpError() << "has a value of type " << v.getType()
                             << ": CUDA kernels take static tensors of f32, f64 or i64";
  return std::make_pair(Shape(t.getShape().begin(), t.getShape().end()), *dt);
}

/// Emits one kernel of `g` named `name` into `os`.
class KernelEmitter {
public:
  KernelEmitter(const Group &g, const llvm::DenseMap<Value, int32_t> &slots)
      : g_(g), slots_(slots) {}

  FailureOr<CudaKernel> emit(const std::string &name, llvm::raw_ostream &os);

private:
  /// The index expression of an input of `shape` at the current domain point.
  std::string offsetOf(ArrayRef<int64_t> shape);
  LogicalResult emitBody(std::string &body);

  const Group &g_;
  const llvm::DenseMap<Value, int32_t> &slots_;
  Operation *reduction_ = nullptr;
  Shape domain_;
  std::vector<bool> used_coords_;
  bool uses_flat_ = false;
  std::string indent_; // of the statements in the innermost loop
  llvm::DenseMap<Value, std::string> names_;

  /// A pointer indexed at the flat index i (an input of the domain's shape, or an
  /// output), which the vector loop reads or writes `vec` elements at a time.
  struct FlatAccess {
    std::string pointer; // in3, out0
    std::string value;   // the register: x3 for an input, the result's name for an output
    DType dtype;
    bool is_output;
  };
  std::vector<FlatAccess> flat_;
  std::string lane_loads_; // the other inputs' loads (broadcast: at their own offsets)

  /// Elements per thread of the vector loop: 16 bytes of the flat pointers' element type
  /// (4 f32, 2 f64 or i64), or 0 where they differ in size or `n` is under one vector.
  int vectorWidth(int64_t n) const;
  /// The vector loop of an elementwise kernel, before its scalar loop (which then starts
  /// at `scalar_from`): where every flat pointer is 16-byte aligned, each thread loads
  /// `vec` elements of each with one 16-byte load, computes them one lane at a time and
  /// stores them with one 16-byte store.
  std::string vectorLoop(int vec, int64_t n, const std::string &coords,
                         const std::string &body) const;
};

int KernelEmitter::vectorWidth(int64_t n) const {
  if (flat_.empty())
    return 0;
  size_t bytes = dtype_size(flat_.front().dtype);
  for (const FlatAccess &f : flat_)
    if (dtype_size(f.dtype) != bytes)
      return 0;
  int vec = int(16 / bytes);
  return n >= vec ? vec : 0;
}

/// The CUDA vector type of `vec` elements of `t` (16 bytes).
const char *vectorType(DType t) { return t == f32 ? "float4" : t == f64 ? "double2" : "longlong2"; }

std::string KernelEmitter::vectorLoop(int vec, int64_t n, const std::string &coords,
                                      const std::string &body) const {
  // The statements of one lane: as in the scalar loop, with the flat inputs taken from
  // the loaded vectors and the results put into the vectors to store.
  const std::string lane_indent = "        ";
  auto reindent = [&](const std::string &text) {
    std::string out;
    for (StringRef line : llvm::split(StringRef(text).rtrim('\n'), '\n'))
      if (!line.ltrim().empty())
        out += lane_indent + line.ltrim().str() + "\n";
    return out;
  };
  std::string aligned, unions, vector_loads, lane_inputs, lane_outputs, vector_stores;
  for (const FlatAccess &f : flat_) {
    aligned += std::string(aligned.empty() ? "" : " | ") + "(unsigned long long)" + f.pointer;
    std::string u = "v_" + f.pointer, V = vectorType(f.dtype);
    unions += "      union { " + V + " v; " + cType(f.dtype) + " s[" + std::to_string(vec) +
              "]; } " + u + ";\n";
    if (f.is_output) {
      lane_outputs += lane_indent + u + ".s[l] = " + f.value + ";\n";
      vector_stores += "      reinterpret_cast<" + V + " *>(" + f.pointer + ")[q] = " + u + ".v;\n";
    } else {
      vector_loads +=
          "      " + u + ".v = reinterpret_cast<const " + V + " *>(" + f.pointer + ")[q];\n";
      lane_inputs +=
          lane_indent + "const " + cType(f.dtype) + " " + f.value + " = " + u + ".s[l];\n";
    }
  }
  std::string index =
      coords.empty() ? ""
                     : lane_indent + "const long long i = q * " + std::to_string(vec) + "LL + l;\n";
  const std::string vectors = std::to_string(n / vec);
  return "  long long scalar_from = 0;\n"
         "  if (((" +
         aligned +
         ") & 15ULL) == 0) {\n"
         "    for (long long q = (long long)blockIdx.x * blockDim.x + threadIdx.x; q < " +
         vectors +
         "LL;\n"
         "         q += (long long)gridDim.x * blockDim.x) {\n" +
         unions + vector_loads + "#pragma unroll\n      for (int l = 0; l < " +
         std::to_string(vec) + "; ++l) {\n" + lane_inputs + index + reindent(coords) +
         reindent(lane_loads_) + reindent(body) + lane_outputs + "      }\n" + vector_stores +
         "    }\n    scalar_from = " + std::to_string(n / vec * vec) + "LL;\n  }\n";
}

std::string KernelEmitter::offsetOf(ArrayRef<int64_t> shape) {
  size_t r = domain_.size(), lead = r - shape.size();
  if (llvm::equal(shape, ArrayRef<int64_t>(domain_).drop_front(lead)) &&
      llvm::all_of(ArrayRef<int64_t>(domain_).take_front(lead), [](int64_t d) { return d == 1; })) {
    uses_flat_ = true;
    return "i";
  }
  std::string out;
  int64_t stride = 1;
  for (size_t j = shape.size(); j-- > 0;) {
    if (shape[j] != 1) {
      used_coords_[lead + j] = true;
      std::string term = "c" + std::to_string(lead + j);
      if (stride != 1)
        term += " * " + std::to_string(stride) + "LL";
      out = out.empty() ? term : term + " + " + out;
    }
    stride *= shape[j];
  }
  return out.empty() ? "0" : out;
}

LogicalResult KernelEmitter::emitBody(std::string &body) {
  int counter = 0;
  for (Operation *op : g_.ops) {
    if (op == reduction_)
      continue;
    Value result = op->getResult(0);
    if (std::optional<std::string> lit = splatLiteral(result)) {
      names_[result] = *lit;
      continue;
    }
    if (isa<ir::ConstantOp>(op))
      return op->emitOpError() << "is a constant that is not a splat: a CUDA kernel inlines only "
                                  "splat constants";
    const char *pattern = expressionOf(op->getName().getStringRef());
    if (!pattern)
      return op->emitOpError() << "has no CUDA expression (codegen/cuda kExpressions)";
    auto type = typeOf(result, op);
    if (failed(type))
      return failure();
    SmallVector<std::string> operands;
    for (Value v : op->getOperands())
      operands.push_back(names_.lookup(v));
    auto expr = expand(pattern, operands, type->second, op);
    if (failed(expr))
      return failure();
    std::string name = "v" + std::to_string(counter++);
    body += indent_ + "const " + cType(type->second) + " " + name + " = " + *expr + ";\n";
    names_[result] = name;
  }
  return success();
}

FailureOr<CudaKernel> KernelEmitter::emit(const std::string &name, llvm::raw_ostream &os) {
  CudaKernel k;
  k.name = name;
  k.op = g_.anchor->getName().getStringRef().str() + " at " + str(g_.anchor->getLoc());
  k.anchor = g_.anchor;

  // 1. The domain.
  for (Operation *op : g_.ops)
    if (ir::isFusibleReduction(op))
      reduction_ = op;
  Value domainValue = reduction_ ? reduction_->getOperand(0) : g_.inner_results.front();
  auto domainType = typeOf(domainValue, g_.anchor);
  if (failed(domainType))
    return failure();
  domain_ = domainType->first;
  indent_ = reduction_ ? "      " : "    ";
  used_coords_.assign(domain_.size(), false);
  auto broadcasts = [&](ArrayRef<int64_t> s) {
    if (s.size() > domain_.size())
      return false;
    for (size_t j = 0, lead = domain_.size() - s.size(); j < s.size(); ++j)
      if (s[j] != 1 && s[j] != domain_[lead + j])
        return false;
    return true;
  };
  for (Operation *op : g_.ops)
    for (Value v : op->getResults()) {
      if (op == reduction_)
        continue;
      auto t = typeOf(v, op);
      if (failed(t))
        return failure();
      if (!broadcasts(t->first))
        return op->emitOpError() << "has a value of type " << v.getType()
                                 << " that does not broadcast to the kernel's domain "
                                 << domainValue.getType();
    }

  // 2. Parameters, loads and the ops.
  std::string params, loads, body, stores;
  for (auto [outer, inner] : llvm::zip_equal(g_.outer_inputs, g_.inner_inputs)) {
    if (std::optional<std::string> lit = splatLiteral(outer)) {
      names_[inner] = *lit;
      continue;
    }
    auto t = typeOf(outer, g_.anchor);
    if (failed(t))
      return failure();
    if (!broadcasts(t->first))
      return g_.anchor->emitOpError()
             << "reads a value of type " << outer.getType()
             << " that does not broadcast to the kernel's domain " << domainValue.getType();
    std::string index = std::to_string(k.inputs.size());
    params += std::string(params.empty() ? "" : ", ") + "const " + cType(t->second) +
              " *__restrict__ in" + index;
    std::string offset = offsetOf(t->first);
    loads += indent_ + "const " + cType(t->second) + " x" + index + " = in" + index + "[" + offset +
             "];\n";
    if (offset == "i")
      flat_.push_back({"in" + index, "x" + index, t->second, /*is_output=*/false});
    else
      lane_loads_ += "const " + std::string(cType(t->second)) + " x" + index + " = in" + index +
                     "[" + offset + "];\n";
    names_[inner] = "x" + index;
    k.inputs.push_back({slots_.lookup(outer), t->first, t->second});
    k.input_values.push_back(outer);
  }
  if (failed(emitBody(body)))
    return failure();

  std::string reduce_out;
  for (auto [outer, inner] : llvm::zip_equal(g_.outer_results, g_.inner_results)) {
    auto t = typeOf(outer, g_.anchor);
    if (failed(t))
      return failure();
    std::string index = std::to_string(k.outputs.size());
    params +=
        std::string(params.empty() ? "" : ", ") + cType(t->second) + " *__restrict__ out" + index;
    k.outputs.push_back({slots_.lookup(outer), t->first, t->second});
    k.output_values.push_back(outer);
    if (reduction_ && inner == reduction_->getResult(0)) {
      reduce_out = "out" + index;
      k.pointwise.push_back(false);
      continue;
    }
    k.pointwise.push_back(true);
    if (t->first != domain_)
      return g_.anchor->emitOpError()
             << "has a result of type " << outer.getType() << " that is not the kernel's domain "
             << domainValue.getType();
    uses_flat_ = true;
    stores += indent_ + "out" + index + "[i] = " + names_.lookup(inner) + ";\n";
    flat_.push_back({"out" + index, names_.lookup(inner), t->second, /*is_output=*/true});
  }

  // 3. The loops around them.
  int64_t n = shape_size(domain_);
  std::vector<bool> reduced(domain_.size(), false);
  int64_t outer = n, inner = 1;
  if (reduction_) {
    auto axes = reduction_->getAttrOfType<DenseI64ArrayAttr>("axes");
    auto normalized =
        axes ? ir::normalizeAxes(axes.asArrayRef(), int64_t(domain_.size())) : std::nullopt;
    if (!normalized)
      return reduction_->emitOpError() << "has axes that do not fit its operand";
    outer = 1;
    for (int64_t a : *normalized)
      reduced[size_t(a)] = true;
    for (size_t d = 0; d < domain_.size(); ++d)
      (reduced[d] ? inner : outer) *= domain_[d];
    if (uses_flat_) // the flat index is built from every coordinate
      used_coords_.assign(domain_.size(), true);
  }
  // Coordinate d of the point: digit d of the flat index (no reduction), else of the
  // output index r (kept dimensions) or of the reduced index k.
  std::string coords;
  for (bool want_reduced : {false, true}) {
    int64_t stride = 1;
    for (size_t d = domain_.size(); d-- > 0;) {
      if (reduction_ && reduced[d] != want_reduced)
        continue;
      if (!reduction_ && want_reduced)
        break;
      std::string var = !reduction_ ? "i" : want_reduced ? "k" : "r";
      if (used_coords_[d]) {
        std::string c = var;
        if (stride != 1)
          c = "(" + c + " / " + std::to_string(stride) + "LL)";
        int64_t span = want_reduced ? inner : outer;
        if (stride * domain_[d] != span)
          c += " % " + std::to_string(domain_[d]) + "LL";
        coords += indent_ + "const long long c" + std::to_string(d) + " = " + c + ";\n";
      }
      stride *= domain_[d];
    }
  }
  if (reduction_ && uses_flat_) {
    std::string flat;
    int64_t stride = 1;
    for (size_t d = domain_.size(); d-- > 0;) {
      std::string term = "c" + std::to_string(d);
      if (stride != 1)
        term += " * " + std::to_string(stride) + "LL";
      flat = flat.empty() ? term : term + " + " + flat;
      stride *= domain_[d];
    }
    coords += indent_ + "const long long i = " + (flat.empty() ? std::string("0") : flat) + ";\n";
  }

  os << "// " << k.name << ": " << k.op << "\n//   in:";
  for (const KernelTensor &t : k.inputs)
    os << " %" << t.slot << " " << typeStr(t);
  os << "\n//   out:";
  for (const KernelTensor &t : k.outputs)
    os << " %" << t.slot << " " << typeStr(t);

  if (!reduction_) {
    k.block = 256;
    const int vec = vectorWidth(n);
    const int64_t threads = vec ? n / vec : n;
    k.grid = std::clamp<int64_t>((threads + k.block - 1) / k.block, 1, 8192);
    os << "\n//   grid " << k.grid << " x block " << k.block;
    if (vec)
      os << ", " << vec << " elements a thread where aligned";
    os << "\n";
    os << "extern \"C\" __global__ void __launch_bounds__(" << k.block << ") " << k.name << "("
       << params << ") {\n";
    std::string first = "(long long)blockIdx.x * blockDim.x + threadIdx.x";
    if (vec) {
      os << vectorLoop(vec, n, coords, body);
      first = "scalar_from + " + first;
    }
    os << "  for (long long i = " << first << "; i < " << n
       << "LL;\n       i += (long long)gridDim.x * blockDim.x) {\n"
       << coords << loads << body << stores << "  }\n}\n\n";
    return k;
  }

  // A reduction: block size a power of two, no more than the reduced elements need.
  k.block = 32;
  while (k.block < 256 && k.block < inner)
    k.block *= 2;
  k.grid = std::clamp<int64_t>(outer, 1, 8192);
  auto red_type = typeOf(reduction_->getResult(0), reduction_);
  if (failed(red_type))
    return failure();
  DType acc_type = red_type->second;
  StringRef op_name = reduction_->getName().getStringRef();
  const char *combine = expressionOf(op_name);
  auto take =
      expand(combine, {"acc", names_.lookup(reduction_->getOperand(0))}, acc_type, reduction_);
  auto tree =
      expand(combine, {"partial[threadIdx.x]", "partial[threadIdx.x + s]"}, acc_type, reduction_);
  if (failed(take) || failed(tree))
    return failure();
  const char *T = cType(acc_type);
  os << "\n//   grid " << k.grid << " x block " << k.block << "\n";
  os << "extern \"C\" __global__ void __launch_bounds__(" << k.block << ") " << k.name << "("
     << params << ") {\n"
     << "  __shared__ " << T << " partial[" << k.block << "];\n"
     << "  for (long long r = blockIdx.x; r < " << outer << "LL; r += gridDim.x) {\n"
     << "    " << T << " acc = " << identityOf(op_name, acc_type) << ";\n"
     << "    for (long long k = threadIdx.x; k < " << inner << "LL; k += " << k.block << ") {\n"
     << coords << loads << body << stores << indent_ << "acc = " << *take << ";\n"
     << "    }\n"
     << "    partial[threadIdx.x] = acc;\n"
     << "    __syncthreads();\n"
     << "    for (int s = " << k.block / 2 << "; s > 0; s >>= 1) {\n"
     << "      if (threadIdx.x < s)\n"
     << "        partial[threadIdx.x] = " << *tree << ";\n"
     << "      __syncthreads();\n"
     << "    }\n"
     << "    if (threadIdx.x == 0)\n"
     << "      " << reduce_out << "[r] = partial[0];\n"
     << "    __syncthreads();\n"
     << "  }\n}\n\n";
  return k;
}

std::string identifier(StringRef name) {
  std::string s;
  for (char c : name)
    s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0])))
    s = "f_" + s;
  return s;
}

} // namespace

FailureOr<CudaFunction> generateCuda(func::FuncOp fn) {
  if (!fn.getBody().hasOneBlock())
    return fn.emitOpError() << "has " << fn.getBody().getBlocks().size()
                            << " blocks: CUDA generation takes a function of one block";
  CudaFunction out;
  out.name = fn.getSymName().str();
  llvm::DenseMap<Value, int32_t> slots;
  for (BlockArgument a : fn.getArguments())
    slots[a] = out.num_slots++;
  std::string source;
  llvm::raw_string_ostream os(source);
  os << "// CUDA kernels of @" << out.name << ", generated by dzc (codegen/cuda) from dz IR.\n\n";
  os << registrySource(fn);
  for (Operation &op : fn.getBody().front()) {
    for (Value r : op.getResults())
      slots[r] = out.num_slots++;
    if (auto ret = dyn_cast<func::ReturnOp>(op))
      for (Value v : ret.getOperands())
        out.result_slots.push_back(slots.lookup(v));
    if (isa<func::ReturnOp, ir::ConstantOp>(op))
      continue;
    if (!isa<ir::FusedOp>(op) && !ir::isFusibleElementwise(&op) && !ir::isFusibleReduction(&op)) {
      out.host_ops.push_back(op.getName().getStringRef().str() + " at " + str(op.getLoc()));
      continue;
    }
    std::string name = identifier(out.name) + "_k" + std::to_string(out.kernels.size()) + "_" +
                       op.getName().getStringRef().drop_front(3).str();
    Group g = groupOf(&op);
    FailureOr<CudaKernel> kernel = KernelEmitter(g, slots).emit(name, os);
    if (failed(kernel))
      return failure();
    out.kernels.push_back(std::move(*kernel));
  }
  if (!out.host_ops.empty()) {
    os << "// Not generated (run on the host or with cuBLAS):\n";
    for (const std::string &h : out.host_ops)
      os << "//   " << h << "\n";
  }
  out.source = std::move(source);
  return out;
}

CudaFunction generateCudaOrThrow(func::FuncOp fn) {
  std::string errors;
  FailureOr<CudaFunction> out = failure();
  {
    ScopedDiagnosticHandler collect(fn.getContext(), [&](Diagnostic &d) {
      llvm::raw_string_ostream os(errors);
      os << d.getLocation() << ": " << d << "\n";
      return success();
    });
    out = generateCuda(fn);
  }
  if (failed(out))
    throw Error("CUDA generation of @" + fn.getSymName().str() + " failed:\n" + errors);
  return std::move(*out);
}

LogicalResult emitCudaSource(ModuleOp module, llvm::raw_ostream &os) {
  for (func::FuncOp fn : module.getOps<func::FuncOp>()) {
    FailureOr<CudaFunction> f = generateCuda(fn);
    if (failed(f))
      return failure();
    os << f->source;
  }
  return success();
}

} // namespace dz::codegen::cuda
