// OpTable.cpp - the dz -> ONNX op table of the exporter (docs/onnx.md, "Export"): one entry
// per dz op, each writing that op's ONNX nodes and, where the op fixes a shape, saying
// where the batch dimension goes (Exporter::setBatch; elementwise ops keep the default).
#include "Exporter.h"

#include <dzc/codegen/OnnxExport.h>

#include <dzc/op_registry.h>

#include <limits>
#include <numeric>

namespace dz::codegen::onnx_export {
namespace {

/// The strided box of `x` that `offsets` read in row-major order (a Slice), if they do.
struct Box {
  Shape64 start, count, step;
};
std::optional<Box> asBox(const Shape64 &x, const Shape64 &offsets) {
  const size_t rank = x.size(), n = offsets.size();
  if (n == 0 || rank == 0)
    return std::nullopt;
  Shape64 strides(rank, 1);
  for (size_t d = rank - 1; d > 0; --d)
    strides[d - 1] = strides[d] * x[d];
  auto coord = [&](int64_t offset, size_t d) { return offset / strides[d] % x[d]; };
  Box b{Shape64(rank), Shape64(rank, 1), Shape64(rank, 1)};
  for (size_t d = 0; d < rank; ++d) {
    b.start[d] = coord(offsets[0], d);
    // The second distinct coordinate of dimension d gives its step.
    for (int64_t o : offsets)
      if (coord(o, d) != b.start[d]) {
        b.step[d] = coord(o, d) - b.start[d];
        break;
      }
    if (b.step[d] <= 0)
      return std::nullopt;
    std::set<int64_t> distinct;
    for (int64_t o : offsets)
      distinct.insert(coord(o, d));
    b.count[d] = int64_t(distinct.size());
  }
  if (std::accumulate(b.count.begin(), b.count.end(), int64_t(1), std::multiplies<>()) !=
      int64_t(n))
    return std::nullopt;
  for (size_t k = 0; k < n; ++k) { // every offset is the box's k-th element
    int64_t rest = int64_t(k), expected = 0;
    for (size_t d = rank; d-- > 0;) {
      expected += (b.start[d] + rest % b.count[d] * b.step[d]) * strides[d];
      rest /= b.count[d];
    }
    if (expected != offsets[k])
      return std::nullopt;
  }
  return b;
}

template <const char *Type> void same(Exporter &e, Operation *op) {
  std::vector<std::string> ins;
  for (unsigned i = 0; i < op->getNumOperands(); ++i)
    ins.push_back(e.in(op, i));
  e.node(Type, std::move(ins), {e.out(op)});
}

/// `compare(x, threshold)` as 1 / 0 of x's element type.
void compareAsNumber(Exporter &e, Operation *op, const char *compare, const std::string &rhs) {
  std::string b = e.temp();
  e.node(compare, {e.in(op, 0), rhs}, {b});
  e.castTo(b, typeOf(op->getResult(0)).getElementType(), e.out(op));
}

void reshape(Exporter &e, Operation *op) {
  Value x = op->getOperand(0);
  Shape64 target = i64Array(op, "shape");
  std::optional<int64_t> dim0;
  const Batch bx = e.batch(x);
  if (e.dynamic() && bx != Batch::None && !target.empty()) {
    const bool keep = bx == Batch::Dim0 && target[0] == shapeOf(x)[0];
    dim0 = keep ? 0 : -1; // 0 copies the batch; -1 takes what the other dims leave
    e.setBatch(op->getResult(0), target[0] == e.batchSize() ? Batch::Dim0 : Batch::Scaled);
  } else {
    e.setBatch(op->getResult(0), Batch::None);
  }
  e.node("Reshape", {e.in(op, 0), e.shapeWith(target, dim0)}, {e.out(op)});
}

void broadcastTo(Exporter &e, Operation *op) {
  Value x = op->getOperand(0);
  Shape64 target = i64Array(op, "shape");
  std::string shape;
  Batch result = e.batch(x) == Batch::Dim0 && shapeOf(x).size() == target.size() ? Batch::Dim0
                 : e.batch(x) != Batch::None                                     ? Batch::Scaled
                                                                                 : Batch::None;
  if (!e.dynamic() || target.empty() || target[0] != e.batchSize()) {
    shape = e.shapeWith(target, std::nullopt);
  } else if (result == Batch::Dim0) {
    shape = e.shapeWith(target, 1); // x brings the batch; Expand keeps it
  } else {                          // a value without the batch broadcast to a batch of them
    shape = e.dynamicShape(target);
    result = Batch::Dim0;
  }
  e.setBatch(op->getResult(0), result);
  e.node("Expand", {e.in(op, 0), shape}, {e.out(op)});
}

void sumTo(Exporter &e, Operation *op) {
  Shape64 x = shapeOf(op->getOperand(0)), target = i64Array(op, "shape");
  const size_t lead = x.size() - target.size();
  Shape64 axes;
  for (size_t d = 0; d < x.size(); ++d)
    if (d < lead || (target[d - lead] == 1 && x[d] != 1))
      axes.push_back(int64_t(d));
  const bool keeps_batch = lead == 0 && (axes.empty() || axes[0] != 0);
  e.setBatch(op->getResult(0), keeps_batch ? e.batch(op->getOperand(0)) : Batch::None);
  if (axes.empty()) {
    e.node("Identity", {e.in(op, 0)}, {e.out(op)});
    return;
  }
  std::string summed = lead ? e.temp() : e.out(op);
  setAttr(e.node("ReduceSum", {e.in(op, 0), e.i64s(axes)}, {summed}), "keepdims", int64_t(1));
  if (lead)
    e.node("Reshape", {summed, e.shapeWith(target, std::nullopt)}, {e.out(op)});
}

/// dz.sum / dz.max / dz.min: ReduceSum takes its axes as an input from opset 13, ReduceMax
/// and ReduceMin as an attribute up to opset 17.
template <const char *Type> void reduce(Exporter &e, Operation *op) {
  Shape64 axes = i64Array(op, "axes");
  const int64_t rank = int64_t(shapeOf(op->getOperand(0)).size());
  bool keeps_batch = !axes.empty();
  for (int64_t a : axes)
    keeps_batch = keeps_batch && (a + rank) % std::max<int64_t>(rank, 1) != 0;
  e.setBatch(op->getResult(0), keeps_batch ? e.batch(op->getOperand(0)) : Batch::None);
  std::vector<std::string> ins = {e.in(op, 0)};
  const bool axes_input = std::string_view(Type) == "ReduceSum";
  if (axes_input && !axes.empty())
    ins.push_back(e.i64s(axes));
  ::onnx::NodeProto &n = e.node(Type, std::move(ins), {e.out(op)});
  setAttr(n, "keepdims", int64_t(boolAttr(op, "keepdims")));
  if (!axes_input && !axes.empty())
    setAttr(n, "axes", axes);
}

/// The last two axes of `x` swapped.
std::string swapLast(Exporter &e, const std::string &x, size_t rank) {
  Shape64 perm(rank);
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[rank - 1], perm[rank - 2]);
  std::string t = e.temp();
  setAttr(e.node("Transpose", {x}, {t}), "perm", perm);
  return t;
}

void matmul(Exporter &e, Operation *op) {
  const bool ta = boolAttr(op, "transpose_a"), tb = boolAttr(op, "transpose_b");
  const size_t ra = shapeOf(op->getOperand(0)).size(), rb = shapeOf(op->getOperand(1)).size();
  if (ra == 2 && rb == 2) {
    ::onnx::NodeProto &n = e.node("Gemm", {e.in(op, 0), e.in(op, 1)}, {e.out(op)});
    if (ta)
      setAttr(n, "transA", int64_t(1));
    if (tb)
      setAttr(n, "transB", int64_t(1));
    const Batch ba = e.batch(op->getOperand(0)), bb = e.batch(op->getOperand(1));
    e.setBatch(op->getResult(0), ba != Batch::None         ? (ta ? Batch::Scaled : ba)
                                 : bb != Batch::None && tb ? Batch::Scaled
                                                           : Batch::None);
    return;
  }
  std::string a = ta ? swapLast(e, e.in(op, 0), ra) : e.in(op, 0);
  std::string b = tb ? swapLast(e, e.in(op, 1), rb) : e.in(op, 1);
  e.node("MatMul", {a, b}, {e.out(op)});
}

void linear(Exporter &e, Operation *op) {
  std::vector<std::string> ins = {e.in(op, 0), e.in(op, 1)};
  if (op->getNumOperands() == 3)
    ins.push_back(e.in(op, 2));
  e.node("Gemm", std::move(ins), {e.out(op)});
}

void meanSquaredError(Exporter &e, Operation *op) {
  std::string d = e.temp(), sq = e.temp(), sum = e.temp();
  e.node("Sub", {e.in(op, 0), e.in(op, 1)}, {d});
  e.node("Mul", {d, d}, {sq});
  setAttr(e.node("ReduceSum", {sq}, {sum}), "keepdims", int64_t(0));
  mlir::Type elem = typeOf(op->getResult(0)).getElementType();
  if (shapeOf(op->getOperand(0)).empty()) {
    e.node("Identity", {sum}, {e.out(op)});
    return;
  }
  // len(a) read at run time, so that the mean follows the batch.
  std::string shape = e.temp(), len = e.temp(), lenf = e.temp();
  e.node("Shape", {e.in(op, 0)}, {shape});
  e.node("Gather", {shape, e.i64s({0}, /*scalar=*/true)}, {len});
  e.castTo(len, elem, lenf);
  e.node("Div", {sum, lenf}, {e.out(op)});
}

void softmaxCrossEntropy(Exporter &e, Operation *op) {
  setAttr(e.node("SoftmaxCrossEntropyLoss", {e.in(op, 0), e.in(op, 1)}, {e.out(op)}), "reduction",
          "mean");
}

void oneHot(Exporter &e, Operation *op) {
  mlir::Type elem = typeOf(op->getResult(0)).getElementType();
  ::onnx::NodeProto &n = e.node(
      "OneHot", {e.in(op, 0), e.i64s({i64Attr(op, "num_classes")}), e.constant({0, 1}, elem)},
      {e.out(op)});
  setAttr(n, "axis", int64_t(-1));
  e.setBatch(op->getResult(0), e.batch(op->getOperand(0)));
}

void getItem(Exporter &e, Operation *op) {
  Value x = op->getOperand(0);
  const Shape64 xs = shapeOf(x), result = i64Array(op, "shape"), offsets = i64Array(op, "offsets");
  if (std::optional<Box> box = asBox(xs, offsets)) {
    Shape64 starts, ends, axes, steps;
    for (size_t d = 0; d < xs.size(); ++d) {
      if (box->start[d] == 0 && box->step[d] == 1 && box->count[d] == xs[d])
        continue; // the whole dimension: left out, so that a batch there stays dynamic
      starts.push_back(box->start[d]);
      ends.push_back(box->start[d] + (box->count[d] - 1) * box->step[d] + 1);
      axes.push_back(int64_t(d));
      steps.push_back(box->step[d]);
    }
    const bool whole_batch = axes.empty() || axes[0] != 0;
    const Batch sliced = whole_batch ? e.batch(x) : Batch::None;
    const bool reshaped = box->count != result;
    std::string s = reshaped ? e.temp() : e.out(op);
    if (axes.empty())
      e.node("Identity", {e.in(op, 0)}, {s});
    else
      e.node("Slice", {e.in(op, 0), e.i64s(starts), e.i64s(ends), e.i64s(axes), e.i64s(steps)},
             {s});
    if (!reshaped) {
      e.setBatch(op->getResult(0), sliced);
      return;
    }
    std::optional<int64_t> dim0;
    Batch b = Batch::None;
    if (e.dynamic() && sliced == Batch::Dim0 && !result.empty() && result[0] == xs[0]) {
      dim0 = 0;
      b = Batch::Dim0;
    }
    e.setBatch(op->getResult(0), b);
    e.node("Reshape", {s, e.shapeWith(result, dim0)}, {e.out(op)});
    return;
  }
  // Any other selection: the flat elements at the offsets (fixed for this batch size).
  if (e.dynamic() && e.batch(x) != Batch::None)
    throw Error("dz::onnx export: a dz.get_item of " + std::to_string(xs.size()) +
                "-d value that depends on the batch reads elements that are not a strided "
                "slice; it cannot follow a dynamic batch: export with dynamic_batch = false");
  std::string flat = e.temp();
  e.node("Reshape", {e.in(op, 0), e.i64s({-1})}, {flat});
  std::string indices = e.i64s(offsets);
  std::string shaped = e.temp();
  e.node("Reshape", {indices, e.shapeWith(result, std::nullopt)}, {shaped});
  setAttr(e.node("Gather", {flat, shaped}, {e.out(op)}), "axis", int64_t(0));
  e.setBatch(op->getResult(0), Batch::None);
}

void embedId(Exporter &e, Operation *op) {
  setAttr(e.node("Gather", {e.in(op, 1), e.in(op, 0)}, {e.out(op)}), "axis", int64_t(0));
  e.setBatch(op->getResult(0), e.batch(op->getOperand(0)));
}

/// pads (h, w) as ONNX's (top, left, bottom, right).
Shape64 pads2d(Operation *op) {
  Shape64 p = i64Array(op, "pad");
  return {p[0], p[1], p[0], p[1]};
}

void conv2d(Exporter &e, Operation *op) {
  std::vector<std::string> ins = {e.in(op, 0), e.in(op, 1)};
  if (op->getNumOperands() == 3)
    ins.push_back(e.in(op, 2));
  Shape64 w = shapeOf(op->getOperand(1));
  ::onnx::NodeProto &n = e.node("Conv", std::move(ins), {e.out(op)});
  setAttr(n, "kernel_shape", Shape64{w[2], w[3]});
  setAttr(n, "strides", i64Array(op, "stride"));
  setAttr(n, "pads", pads2d(op));
}

void deconv2d(Exporter &e, Operation *op) {
  std::vector<std::string> ins = {e.in(op, 0), e.in(op, 1)};
  if (op->getNumOperands() == 3)
    ins.push_back(e.in(op, 2));
  const Shape64 x = shapeOf(op->getOperand(0)), w = shapeOf(op->getOperand(1));
  const Shape64 s = i64Array(op, "stride"), p = i64Array(op, "pad"), size = i64Array(op, "outsize");
  ::onnx::NodeProto &n = e.node("ConvTranspose", std::move(ins), {e.out(op)});
  setAttr(n, "kernel_shape", Shape64{w[2], w[3]});
  setAttr(n, "strides", s);
  setAttr(n, "pads", pads2d(op));
  Shape64 extra(2);
  for (size_t i = 0; i < 2; ++i)
    extra[i] = size[i] - ((x[2 + i] - 1) * s[i] + w[2 + i] - 2 * p[i]);
  if (extra[0] || extra[1])
    setAttr(n, "output_padding", extra);
}

/// dz.max_pooling and MaxPool agree on padding: a tap on it never wins the maximum.
void maxPool(Exporter &e, Operation *op) {
  const Shape64 p = i64Array(op, "pad");
  ::onnx::NodeProto &n = e.node("MaxPool", {e.in(op, 0)}, {e.out(op)});
  setAttr(n, "kernel_shape", i64Array(op, "kernel"));
  setAttr(n, "strides", i64Array(op, "stride"));
  if (p[0] || p[1])
    setAttr(n, "pads", pads2d(op));
}

void averagePool(Exporter &e, Operation *op) {
  ::onnx::NodeProto &n = e.node("AveragePool", {e.in(op, 0)}, {e.out(op)});
  setAttr(n, "kernel_shape", i64Array(op, "kernel"));
  setAttr(n, "strides", i64Array(op, "stride"));
  setAttr(n, "pads", pads2d(op));
  setAttr(n, "count_include_pad", int64_t(1));
}

constexpr char kReduceSum[] = "ReduceSum", kReduceMax[] = "ReduceMax", kReduceMin[] = "ReduceMin",
               kAnd[] = "And", kOr[] = "Or", kXor[] = "Xor", kNot[] = "Not", kWhere[] = "Where";

/// A registry op with an ONNX twin (dzc/ops.def): one node of that type.
void registryTwin(Exporter &e, Operation *op) {
  std::optional<MapOp> m = find_op(op->getName().getStringRef().drop_front(3).str());
  std::vector<std::string> ins;
  for (unsigned i = 0; i < op->getNumOperands(); ++i)
    ins.push_back(e.in(op, i));
  e.node(op_info(*m).onnx, std::move(ins), {e.out(op)});
}

} // namespace

const std::map<std::string_view, Rule> &table() {
  static const std::map<std::string_view, Rule> rules = [] {
    std::map<std::string_view, Rule> m = {
        {"dz.constant", nullptr}, // an initializer (Exporter::addConstant)
        {"dz.and", same<kAnd>},
        {"dz.or", same<kOr>},
        {"dz.xor", same<kXor>},
        {"dz.not", same<kNot>},
        {"dz.select", same<kWhere>},
        {"dz.equal_mask",
         [](Exporter &e, Operation *op) { compareAsNumber(e, op, "Equal", e.in(op, 1)); }},
        {"dz.square",
         [](Exporter &e, Operation *op) {
           e.node("Mul", {e.in(op, 0), e.in(op, 0)}, {e.out(op)});
         }},
        {"dz.step",
         [](Exporter &e, Operation *op) {
           compareAsNumber(e, op, "Greater",
                           e.scalar(0, typeOf(op->getOperand(0)).getElementType()));
         }},
        {"dz.pow_scalar",
         [](Exporter &e, Operation *op) {
           mlir::Type elem = typeOf(op->getOperand(0)).getElementType();
           e.node("Pow", {e.in(op, 0), e.scalar(f64Attr(op, "exponent"), elem)}, {e.out(op)});
         }},
        {"dz.leaky_relu",
         [](Exporter &e, Operation *op) {
           setAttr(e.node("LeakyRelu", {e.in(op, 0)}, {e.out(op)}), "alpha", f64Attr(op, "slope"));
         }},
        {"dz.clip",
         [](Exporter &e, Operation *op) {
           mlir::Type elem = typeOf(op->getOperand(0)).getElementType();
           e.node("Clip",
                  {e.in(op, 0), e.scalar(f64Attr(op, "min"), elem),
                   e.scalar(f64Attr(op, "max"), elem)},
                  {e.out(op)});
         }},
        {"dz.clip_mask",
         [](Exporter &e, Operation *op) {
           mlir::Type elem = typeOf(op->getOperand(0)).getElementType();
           std::string lo = e.temp(), hi = e.temp(), both = e.temp();
           e.node("GreaterOrEqual", {e.in(op, 0), e.scalar(f64Attr(op, "min"), elem)}, {lo});
           e.node("LessOrEqual", {e.in(op, 0), e.scalar(f64Attr(op, "max"), elem)}, {hi});
           e.node("And", {lo, hi}, {both});
           e.castTo(both, elem, e.out(op));
         }},
        {"dz.cast",
         [](Exporter &e, Operation *op) {
           e.castTo(e.in(op, 0), typeOf(op->getResult(0)).getElementType(), e.out(op));
         }},
        {"dz.reshape", reshape},
        {"dz.transpose",
         [](Exporter &e, Operation *op) {
           Shape64 perm = i64Array(op, "perm");
           setAttr(e.node("Transpose", {e.in(op, 0)}, {e.out(op)}), "perm", perm);
           Batch b = e.batch(op->getOperand(0));
           e.setBatch(op->getResult(0), b == Batch::Dim0 && perm[0] != 0 ? Batch::Scaled : b);
         }},
        {"dz.broadcast_to", broadcastTo},
        {"dz.sum_to", sumTo},
        {"dz.sum", reduce<kReduceSum>},
        {"dz.max", reduce<kReduceMax>},
        {"dz.min", reduce<kReduceMin>},
        {"dz.matmul", matmul},
        {"dz.linear", linear},
        {"dz.softmax",
         [](Exporter &e, Operation *op) {
           setAttr(e.node("Softmax", {e.in(op, 0)}, {e.out(op)}), "axis", i64Attr(op, "axis"));
         }},
        {"dz.log_softmax",
         [](Exporter &e, Operation *op) {
           setAttr(e.node("LogSoftmax", {e.in(op, 0)}, {e.out(op)}), "axis", i64Attr(op, "axis"));
         }},
        {"dz.softmax_cross_entropy", softmaxCrossEntropy},
        {"dz.one_hot", oneHot},
        {"dz.mean_squared_error", meanSquaredError},
        {"dz.get_item", getItem},
        {"dz.embed_id", embedId},
        {"dz.conv2d", conv2d},
        {"dz.deconv2d", deconv2d},
        {"dz.max_pooling", maxPool},
        {"dz.average_pooling", averagePool},
        // C's fmod is Mod with fmod = 1. NumPy's mod is Mod with fmod = 0 for integers; for
      // floats, fmod moved into the divisor's sign where they differ.
      {"dz.fmod",
       [](Exporter &e, Operation *op) {
         setAttr(e.node("Mod", {e.in(op, 0), e.in(op, 1)}, {e.out(op)}), "fmod", int64_t(1));
       }},
      {"dz.mod",
       [](Exporter &e, Operation *op) {
         mlir::Type elem = typeOf(op->getOperand(0)).getElementType();
         if (!llvm::isa<mlir::FloatType>(elem)) {
           setAttr(e.node("Mod", {e.in(op, 0), e.in(op, 1)}, {e.out(op)}), "fmod", int64_t(0));
           return;
         }
         std::string r = e.temp(), zero = e.scalar(0, elem), eq = e.temp(), nz = e.temp(),
                     rneg = e.temp(), bneg = e.temp(), differ = e.temp(), fix = e.temp(),
                     moved = e.temp();
         setAttr(e.node("Mod", {e.in(op, 0), e.in(op, 1)}, {r}), "fmod", int64_t(1));
         e.node("Equal", {r, zero}, {eq});
         e.node("Not", {eq}, {nz});
         e.node("Less", {r, zero}, {rneg});
         e.node("Less", {e.in(op, 1), zero}, {bneg});
         e.node("Xor", {rneg, bneg}, {differ});
         e.node("And", {nz, differ}, {fix});
         e.node("Add", {r, e.in(op, 1)}, {moved});
         e.node("Where", {fix, moved, r}, {e.out(op)});
       }},
      // ONNX's Div truncates integers (a divisor of 0 is undefined there; dz gives 0).
      // Floats: Floor / Ceil of the quotient (NumPy's // corrects the rounding of a / b
      // where a is not a multiple of b; ONNX has no such op).
      {"dz.trunc_divide",
       [](Exporter &e, Operation *op) {
         mlir::Type elem = typeOf(op->getOperand(0)).getElementType();
         if (!llvm::isa<mlir::FloatType>(elem)) {
           e.node("Div", {e.in(op, 0), e.in(op, 1)}, {e.out(op)});
           return;
         }
         std::string q = e.temp(), neg = e.temp(), up = e.temp(), down = e.temp();
         e.node("Div", {e.in(op, 0), e.in(op, 1)}, {q});
         e.node("Less", {q, e.scalar(0, elem)}, {neg});
         e.node("Ceil", {q}, {up});
         e.node("Floor", {q}, {down});
         e.node("Where", {neg, up, down}, {e.out(op)});
       }},
      {"dz.floor_divide",
       [](Exporter &e, Operation *op) {
         mlir::Type elem = typeOf(op->getOperand(0)).getElementType();
         if (llvm::isa<mlir::FloatType>(elem)) {
           std::string q = e.temp();
           e.node("Div", {e.in(op, 0), e.in(op, 1)}, {q});
           e.node("Floor", {q}, {e.out(op)});
           return;
         }
         // the truncated quotient, one less where the remainder is nonzero and the signs differ
         std::string q = e.temp(), r = e.temp(), zero = e.scalar(0, elem), rz = e.temp(),
                     rnz = e.temp(), aneg = e.temp(), bneg = e.temp(), differ = e.temp(),
                     fix = e.temp(), less = e.temp();
         e.node("Div", {e.in(op, 0), e.in(op, 1)}, {q});
         setAttr(e.node("Mod", {e.in(op, 0), e.in(op, 1)}, {r}), "fmod", int64_t(1));
         e.node("Equal", {r, zero}, {rz});
         e.node("Not", {rz}, {rnz});
         e.node("Less", {e.in(op, 0), zero}, {aneg});
         e.node("Less", {e.in(op, 1), zero}, {bneg});
         e.node("Xor", {aneg, bneg}, {differ});
         e.node("And", {rnz, differ}, {fix});
         e.node("Sub", {q, e.scalar(1, elem)}, {less});
         e.node("Where", {fix, less, q}, {e.out(op)});
       }},
      {"dz.not_equal",
         [](Exporter &e, Operation *op) {
           std::string eq = e.temp();
           e.node("Equal", {e.in(op, 0), e.in(op, 1)}, {eq});
           e.node("Not", {eq}, {e.out(op)});
         }},
    };
    // The registry's ops with an ONNX twin; static names, as the keys must outlive the map.
    static const std::vector<std::string> names = [] {
      std::vector<std::string> v;
      for (const OpInfo &info : registry_ops())
        if (*info.onnx)
          v.push_back(std::string("dz.") + info.name);
      return v;
    }();
    for (const std::string &name : names)
      m.try_emplace(name, registryTwin);
    return m;
  }();
  return rules;
}

} // namespace dz::codegen::onnx_export

namespace dz::codegen {
bool hasOnnxExport(llvm::StringRef op_name) { return onnx_export::table().count(op_name) > 0; }
} // namespace dz::codegen
