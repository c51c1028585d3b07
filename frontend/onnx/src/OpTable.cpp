// OpTable.cpp - the ONNX op table of the importer: one entry per ONNX op (default
// domain, opsets 1-17), each a converter that builds the node's outputs from dz ops.
// Ops dz has no op for are decompositions into existing dz ops (Abs = relu(x) + relu(-x),
// Concat = sum of get_item_grad scatters, ...); docs/onnx.md lists what is missing.
// Opset differences are handled in the converter of the op (Softmax < 13 flattens to 2-D,
// axes as attribute or input, Clip bounds as attributes < 11 or inputs). The converters
// of the data-movement ops (Reshape, Slice, Gather, Concat, ...) are in ShapeOps.cpp.
#include "Convert.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace dz::onnx {

namespace {

using Shp = llvm::SmallVector<int64_t>;
using llvm::ArrayRef;

double scalar_value(NodeContext &c, size_t i, const char *what) {
  Tensor t = c.required_constant(i, what);
  if (t.size() != 1)
    c.fail(std::string("its ") + what + " must be one value, got " + std::to_string(t.size()));
  return t.to(f64).data<double>()[0];
}

// ---- elementwise -------------------------------------------------------------------------

template <typename OpTy> Value binary(NodeContext &c) { return {c.make<OpTy>(c.in(0), c.in(1))}; }
template <typename OpTy> Value unary(NodeContext &c) { return {c.make<OpTy>(c.in(0))}; }
template <typename OpTy> Value float_unary(NodeContext &c) {
  c.require_float(c.in(0));
  return {c.make<OpTy>(c.in(0))};
}

Value cast_to(NodeContext &c, Value x, mlir::Type to);

/// Integer Pow as onnxruntime computes it: std::pow in float64, converted to the base's
/// type (truncated toward zero: 2^-1 is 0), exact while the result is below 2^53. Results
/// beyond the type's range saturate, NaN gives 0 (the conversion is then defined).
Value integer_pow(NodeContext &c, Value x, Value y) {
  mlir::Type f64 = c.b.getF64Type(), to = c.type(x).getElementType();
  Value p = c.make<ir::PowOp>(cast_to(c, x, f64), cast_to(c, y, f64));
  const int bits = int(to.getIntOrFloatBitWidth()) - (to.isUnsignedInteger() ? 0 : 1);
  const double lo = to.isUnsignedInteger() ? 0 : -std::ldexp(1.0, bits);
  // the type's maximum, or for 64 bits the largest double below 2^63
  const double hi =
      bits < 53 ? std::ldexp(1.0, bits) - 1 : std::nextafter(std::ldexp(1.0, bits), 0.0);
  p = c.clip(p, lo, hi);
  p = c.make<ir::SelectOp>(c.make<ir::IsNanOp>(p), c.scalar(0, p), p);
  return cast_to(c, p, to);
}

/// A float base with a constant exponent of one value is dz.pow_scalar (x^2 a square, its
/// gradient one power); any other exponent is dz.pow with the exponent converted to
/// the base's element type (ONNX's result has the base's type). Integer bases:
/// integer_pow.
Value pow(NodeContext &c) {
  Value x = c.in(0), y = c.in(1);
  if (!c.is_float(x))
    return integer_pow(c, x, y);
  std::optional<Tensor> e = c.is_float(x) ? c.constant(1) : std::nullopt;
  if (e && e->size() > 0 && e->size() <= kMaxConstantRead) {
    Tensor e64 = e->to(f64);
    const double *v = e64.data<double>();
    if (std::all_of(v, v + e64.size(), [&](double d) { return d == v[0]; })) {
      std::optional<Shp> out = ir::broadcastShapes(c.shape(x), e64.shape());
      if (!out)
        c.fail("shapes " + dims_str(c.shape(x)) + " and " + dims_str(e64.shape()) +
               " do not broadcast");
      return {c.broadcast(c.make<ir::PowScalarOp>(x, c.b.getF64FloatAttr(v[0])), *out)};
    }
  }
  return {c.make<ir::PowOp>(x, cast_to(c, y, c.type(x).getElementType()))};
}

/// relu(x) + alpha * (exp(min(x, 0) * inv_scale) - 1): ELU (inv_scale 1), CELU (1 / alpha).
Value elu(NodeContext &c, Value x, double alpha, double inv_scale) {
  Value negative_part = c.neg(c.relu(c.neg(x)));
  Value e = c.exp(c.mul(negative_part, c.scalar(inv_scale, x)));
  return c.add(c.relu(x), c.mul(c.scalar(alpha, x), c.sub(e, c.scalar(1, x))));
}

Value hard_sigmoid(NodeContext &c, Value x, double alpha, double beta) {
  return c.clip(c.add(c.mul(x, c.scalar(alpha, x)), c.scalar(beta, x)), 0, 1);
}

Value clip(NodeContext &c) {
  Value x = c.in(0);
  c.require_float(x);
  double lo = -INFINITY, hi = INFINITY;
  if (c.opset < 11) {
    lo = c.float_attr("min", std::numeric_limits<float>::lowest());
    hi = c.float_attr("max", std::numeric_limits<float>::max());
  } else {
    if (c.has(1))
      lo = scalar_value(c, 1, "min");
    if (c.has(2))
      hi = scalar_value(c, 2, "max");
  }
  return {c.clip(x, lo, hi)};
}

enum class Fold { Max, Min, Sum, Mean };

/// Max, Min, Sum, Mean of any number of broadcasting inputs.
template <Fold kind> Value variadic(NodeContext &c) {
  Value acc = c.in(0);
  for (size_t i = 1; i < c.num_inputs(); ++i) {
    Value v = c.in(i);
    if (kind == Fold::Max)
      acc = c.maximum(acc, v);
    else if (kind == Fold::Min)
      acc = c.make<ir::MinimumOp>(acc, v);
    else
      acc = c.add(acc, v);
  }
  if (kind == Fold::Mean)
    acc = c.div(acc, c.scalar(double(c.num_inputs()), acc));
  return {acc};
}

Value cast_to(NodeContext &c, Value x, mlir::Type to) {
  if (c.type(x).getElementType() == to)
    return {x};
  return {c.make<ir::CastOp>(x, mlir::TypeAttr::get(to))};
}

/// x << s as x · 2^s and x >> s as x / 2^s (truncated: the operands are unsigned), in the
/// wide integer type the importer computes narrow unsigned types in; the result wraps to
/// the narrow type on the way back. The shift amounts must be known at import time.
Value bit_shift(NodeContext &c) {
  Value x = c.in(0);
  const std::string direction = c.string_attr("direction", "");
  if (direction != "LEFT" && direction != "RIGHT")
    c.fail("attribute 'direction' must be \"LEFT\" or \"RIGHT\", got \"" + direction + "\"");
  if (c.is_float(x) || c.type(x).getElementType().isInteger(1))
    c.fail("it shifts unsigned integers, got a float or bool x");
  const Tensor shift = c.required_constant(1, "shift amounts");
  std::optional<std::vector<int64_t>> s = integers_of(shift);
  if (!s)
    c.fail(std::string("its shift amounts must be integers, got ") + dz::dtype_name(shift.dtype()));
  Tensor factor(shift.shape(), i64);
  for (size_t k = 0; k < s->size(); ++k) {
    if ((*s)[k] < 0 || (*s)[k] > 62)
      c.unsupported("shift amount " + std::to_string((*s)[k]) + " (dz shifts by 0 to 62 bits)",
                    "BitShift amount");
    factor.data<int64_t>()[k] = int64_t(1) << (*s)[k];
  }
  Value f = cast_to(c, c.constant_of(factor), c.type(x).getElementType());
  return {direction == "LEFT" ? c.mul(x, f) : c.make<ir::TruncDivideOp>(x, f)};
}

// ---- quantization: computed in float32 (the scales' type), exact for 8-bit data ----------

/// A scale or zero point for x of rank `rank`: a scalar as it is, a 1-D one (one value per
/// slice along `axis`) reshaped to broadcast along that axis.
Value along_axis(NodeContext &c, Value p, int64_t axis, int64_t rank) {
  if (c.rank(p) == 0 || (c.rank(p) == 1 && c.shape(p)[0] == 1))
    return c.reshape(p, {});
  if (c.rank(p) != 1)
    c.fail("a scale or zero point must be a scalar or 1-D, got shape " + dims_str(c.shape(p)));
  llvm::SmallVector<int64_t> shape(size_t(rank), 1);
  shape[size_t(c.axis(axis, rank))] = c.shape(p)[0];
  return c.reshape(p, shape);
}

/// (x - zero_point) · scale in the scale's float type.
Value dequantize(NodeContext &c, Value x, Value scale, Value zero_point, int64_t axis) {
  mlir::Type f = c.type(scale).getElementType();
  if (!llvm::isa<mlir::FloatType>(f))
    c.fail("its scale must be float");
  const int64_t r = c.rank(x);
  Value v = cast_to(c, x, f);
  if (zero_point)
    v = c.sub(v, along_axis(c, cast_to(c, zero_point, f), axis, r));
  return c.mul(v, along_axis(c, scale, axis, r));
}

/// saturate(round_half_even(x / scale) + zero_point) in the integer type `to`.
Value quantize(NodeContext &c, Value x, Value scale, Value zero_point, mlir::Type to,
               int64_t axis) {
  mlir::Type f = c.type(scale).getElementType();
  if (!llvm::isa<mlir::FloatType>(f))
    c.fail("its scale must be float");
  std::optional<DType> d = dtype_of_element(to);
  if (!d || is_floating(*d) || *d == b8)
    c.fail("it quantizes to an integer type");
  const double lo = *d == u8 || *d == u16 || *d == u32 || *d == u64
                        ? 0.0
                        : -std::ldexp(1.0, int(dtype_size(*d)) * 8 - 1);
  const double hi = (*d == u8 || *d == u16 || *d == u32 || *d == u64
                         ? std::ldexp(1.0, int(dtype_size(*d)) * 8)
                         : std::ldexp(1.0, int(dtype_size(*d)) * 8 - 1)) -
                    1;
  const int64_t r = c.rank(x);
  Value q = c.make<ir::RoundOp>(c.div(cast_to(c, x, f), along_axis(c, scale, axis, r)));
  if (zero_point)
    q = c.add(q, along_axis(c, cast_to(c, zero_point, f), axis, r));
  return cast_to(c, c.clip(q, lo, hi), to);
}

mlir::Type uint8_type(NodeContext &c) {
  return mlir::IntegerType::get(c.b.getContext(), 8, mlir::IntegerType::Unsigned);
}

Value quantize_linear(NodeContext &c) {
  Value zp = c.has(2) ? c.in(2) : Value();
  return quantize(c, c.in(0), c.in(1), zp, zp ? c.type(zp).getElementType() : uint8_type(c),
                  c.int_attr("axis", 1));
}

Value dequantize_linear(NodeContext &c) {
  return dequantize(c, c.in(0), c.in(1), c.has(2) ? c.in(2) : Value(), c.int_attr("axis", 1));
}

/// The scale and zero point that map [min(x, 0), max(x, 0)] onto [0, 255], and x by them.
Value dynamic_quantize_linear(NodeContext &c) {
  Value x = c.in(0);
  c.require_float(x);
  llvm::SmallVector<int64_t> all;
  for (int64_t d = 0; d < c.rank(x); ++d)
    all.push_back(d);
  auto axes = c.b.getDenseI64ArrayAttr(all);
  Value zero = c.scalar(0, x);
  Value hi = c.maximum(c.make<ir::MaxOp>(x, axes, c.b.getBoolAttr(false)), zero);
  Value lo = c.neg(c.maximum(c.neg(c.make<ir::MinOp>(x, axes, c.b.getBoolAttr(false))), zero));
  Value scale = c.div(c.sub(hi, lo), c.scalar(255, x));
  Value zp =
      cast_to(c, c.clip(c.make<ir::RoundOp>(c.neg(c.div(lo, scale))), 0, 255), uint8_type(c));
  c.add_output(scale);
  c.add_output(zp);
  return quantize(c, x, scale, zp, uint8_type(c), 1);
}

/// (A - a_zero_point) @ (B - b_zero_point) in int32, computed in float64 (exact while the
/// sums stay below 2^53).
Value matmul_integer(NodeContext &c) {
  mlir::Type f64 = c.b.getF64Type();
  Value a = cast_to(c, c.in(0), f64), b = cast_to(c, c.in(1), f64);
  if (c.has(2)) // a scalar, or one per row of A
    a = c.sub(a, c.rank(c.in(2)) == 1 && c.shape(c.in(2))[0] > 1
                     ? along_axis(c, cast_to(c, c.in(2), f64), -2, c.rank(a))
                     : along_axis(c, cast_to(c, c.in(2), f64), 0, 0));
  if (c.has(3)) // a scalar, or one per column of B
    b = c.sub(b, cast_to(c, c.in(3), f64));
  c.set_inputs({a, b});
  return cast_to(c, find_op("MatMul")->convert(c), c.b.getI32Type());
}

Value qlinear_matmul(NodeContext &c) {
  Value a = dequantize(c, c.in(0), c.in(1), c.in(2), 1);
  Value b = dequantize(c, c.in(3), c.in(4), c.in(5), 1);
  Value y_scale = c.in(6), y_zp = c.in(7);
  c.set_inputs({a, b});
  Value y = find_op("MatMul")->convert(c);
  return quantize(c, y, y_scale, y_zp, c.type(y_zp).getElementType(), 1);
}

/// Conv of (x - x_zero_point) and (w - w_zero_point, one per output channel) in float32
/// (exact while the sums stay below 2^24), as int32.
Value conv_integer(NodeContext &c) {
  mlir::Type f32 = c.b.getF32Type();
  Value x = cast_to(c, c.in(0), f32), w = cast_to(c, c.in(1), f32);
  if (c.has(2))
    x = c.sub(x, along_axis(c, cast_to(c, c.in(2), f32), 1, c.rank(x)));
  if (c.has(3))
    w = c.sub(w, along_axis(c, cast_to(c, c.in(3), f32), 0, c.rank(w)));
  c.set_inputs({x, w});
  return cast_to(c, find_op("Conv")->convert(c), c.b.getI32Type());
}

Value qlinear_conv(NodeContext &c) {
  Value x = dequantize(c, c.in(0), c.in(1), c.in(2), 1);
  Value w = dequantize(c, c.in(3), c.in(4), c.in(5), 0);
  Value y_scale = c.in(6), y_zp = c.in(7);
  std::vector<Value> inputs = {x, w};
  if (c.has(8)) // int32 bias in units of x_scale · w_scale
    inputs.push_back(
        c.mul(cast_to(c, c.in(8), c.type(x).getElementType()), c.mul(c.in(1), c.in(4))));
  c.set_inputs(inputs);
  Value y = find_op("Conv")->convert(c);
  return quantize(c, y, y_scale, y_zp, c.type(y_zp).getElementType(), 1);
}

Value cast(NodeContext &c) {
  const int64_t to = c.int_attr("to", 0);
  mlir::Type t = dz_element_type(*c.b.getContext(), int32_t(to));
  if (!t)
    c.unsupported("casts to " + dtype_name(int32_t(to)) + " (dz has the numeric types and bool)",
                  "Cast to " + dtype_name(int32_t(to)));
  return cast_to(c, c.in(0), t);
}

// ---- reductions and normalizations -------------------------------------------------------

enum class Reduce { Sum, Mean, Max, Min, SumSquare, L1, L2, LogSum, LogSumExp };

template <Reduce kind> Value reduce(NodeContext &c) {
  Value x = c.in(0);
  // ReduceSum takes its axes as an input from opset 13 on (the others from 18).
  std::optional<std::vector<int64_t>> axes;
  if (kind == Reduce::Sum && c.opset >= 13) {
    if (c.has(1))
      axes = c.ints_input(1, "axes");
  } else {
    axes = c.ints_attr("axes");
  }
  const bool keep = c.int_attr("keepdims", 1) != 0;
  if ((!axes || axes->empty()) && c.int_attr("noop_with_empty_axes", 0))
    return {x};
  std::optional<Shp> norm = ir::normalizeAxes(axes.value_or(std::vector<int64_t>{}), c.rank(x));
  if (!norm)
    c.fail("axes " + dims_str(*axes) + " are invalid for rank " + std::to_string(c.rank(x)));
  int64_t count = 1;
  for (int64_t a : *norm)
    count *= c.shape(x)[size_t(a)];
  switch (kind) {
  case Reduce::Max:
    return {c.make<ir::MaxOp>(x, c.b.getDenseI64ArrayAttr(*norm), c.b.getBoolAttr(keep))};
  case Reduce::Min:
    return {c.make<ir::MinOp>(x, c.b.getDenseI64ArrayAttr(*norm), c.b.getBoolAttr(keep))};
  case Reduce::Sum:
    return {c.sum(x, *norm, keep)};
  case Reduce::Mean:
    return {c.quotient(c.sum(x, *norm, keep), c.scalar(double(count), x))};
  case Reduce::SumSquare:
    return {c.sum(c.mul(x, x), *norm, keep)};
  case Reduce::L1:
    return {c.sum(c.abs(x), *norm, keep)};
  case Reduce::L2:
    c.require_float(x);
    return {c.sqrt(c.sum(c.mul(x, x), *norm, keep))};
  case Reduce::LogSum:
    c.require_float(x);
    return {c.log(c.sum(x, *norm, keep))};
  case Reduce::LogSumExp:
    c.require_float(x);
    return {c.log(c.sum(c.exp(x), *norm, keep))};
  }
  return {};
}

/// ArgMax / ArgMin along `axis`: the first (or, with select_last_index, the last)
/// position where x equals its extremum, found as the min (max) over the axis of the
/// positions of the hits, misses pushed past the ends.
template <bool is_max> Value arg_extremum(NodeContext &c) {
  Value x = c.in(0);
  c.require_float(x);
  const int64_t r = c.rank(x), a = c.axis(c.int_attr("axis", 0), r), n = c.shape(x)[size_t(a)];
  const bool keep = c.int_attr("keepdims", 1) != 0, last = c.int_attr("select_last_index", 0) != 0;
  auto axes = c.b.getDenseI64ArrayAttr({a});
  Value extremum = is_max ? c.make<ir::MaxOp>(x, axes, c.b.getBoolAttr(true))
                          : c.make<ir::MinOp>(x, axes, c.b.getBoolAttr(true));
  Value hit = c.make<ir::EqualMaskOp>(x, extremum);
  std::vector<double> positions(static_cast<size_t>(n));
  std::iota(positions.begin(), positions.end(), 0.0);
  Shp along(size_t(r - a), 1); // (n, 1, ..., 1): broadcasts along the axis
  along[0] = n;
  Value index = c.constant_of(Tensor::from(positions, Shape(along.begin(), along.end()),
                                           c.type(x).getElementType().isF32() ? f32 : f64));
  Value one = c.scalar(1, x);
  Value y = last ? c.make<ir::MaxOp>(c.sub(c.mul(c.add(index, one), hit), one), axes,
                                     c.b.getBoolAttr(keep))
                 : c.make<ir::MinOp>(
                       c.add(c.mul(index, hit), c.mul(c.sub(one, hit), c.scalar(double(n), x))),
                       axes, c.b.getBoolAttr(keep));
  return c.make<ir::CastOp>(y, mlir::TypeAttr::get(c.b.getI64Type()));
}

/// Hardmax: 1 at the first maximum along `axis`, 0 elsewhere (from opset 13 along the
/// axis; before, over the input flattened to 2-D around it). The first maximum's position
/// is found as ArgMax's, then compared with each position.
Value hardmax(NodeContext &c) {
  Value x = c.in(0);
  c.require_float(x);
  const int64_t r = c.rank(x);
  const int64_t axis = c.axis(c.int_attr("axis", c.opset < 13 ? 1 : -1), r);
  ArrayRef<int64_t> s = c.shape(x);
  Shp original(s);
  Value y = x;
  int64_t a = axis;
  if (c.opset < 13) {
    y = c.reshape(x, {product(s.take_front(size_t(axis))), product(s.drop_front(size_t(axis)))});
    a = 1;
  }
  const int64_t n = c.shape(y)[size_t(a)], ry = c.rank(y);
  auto axes = c.b.getDenseI64ArrayAttr({a});
  Value hit = c.make<ir::EqualMaskOp>(y, c.make<ir::MaxOp>(y, axes, c.b.getBoolAttr(true)));
  std::vector<double> positions(static_cast<size_t>(n));
  std::iota(positions.begin(), positions.end(), 0.0);
  Shp along(size_t(ry - a), 1);
  along[0] = n;
  Value index = c.constant_of(Tensor::from(positions, Shape(along.begin(), along.end()),
                                           c.type(y).getElementType().isF32() ? f32 : f64));
  Value one = c.scalar(1, y);
  Value first =
      c.make<ir::MinOp>(c.add(c.mul(index, hit), c.mul(c.sub(one, hit), c.scalar(double(n), y))),
                        axes, c.b.getBoolAttr(true));
  Value hot = c.broadcast(c.make<ir::EqualMaskOp>(index, first), c.shape(y));
  return {c.reshape(hot, original)};
}

/// TopK: k rounds along the axis, each taking the largest (smallest: of -x) remaining
/// value and its first position not taken before, then masking that position with -inf. The rounds'
/// values and positions are placed along the axis by dz.select with constant masks;
/// the values keep max's gradient.
Value top_k(NodeContext &c) {
  Value x = c.in(0);
  c.require_float(x);
  const int64_t r = c.rank(x), a = c.axis(c.int_attr("axis", -1), r), n = c.shape(x)[size_t(a)];
  int64_t k;
  if (c.opset < 10) {
    k = c.int_attr("k", -1);
  } else {
    std::vector<int64_t> kv = c.ints_input(1, "K");
    if (kv.size() != 1)
      c.fail("K must be one value, got " + std::to_string(kv.size()));
    k = kv[0];
  }
  if (k < 0 || k > n)
    c.fail("K = " + std::to_string(k) + " must be in [0, " + std::to_string(n) + "]");
  if (k > 1024)
    c.unsupported("K = " + std::to_string(k) + " (dz unrolls TopK; at most 1024)",
                  "TopK with K > 1024");
  // sorted = 0 allows any order: the sorted one is among them.
  const bool largest = c.opset < 11 || c.int_attr("largest", 1) != 0;
  mlir::Type element = c.type(x).getElementType();
  const DType dt = element.isF32() ? f32 : f64;
  Shp along(size_t(r - a), 1); // (n, 1, ..., 1): broadcasts along the axis
  along[0] = n;
  std::vector<double> positions(static_cast<size_t>(n));
  std::iota(positions.begin(), positions.end(), 0.0);
  Value index = c.constant_of(Tensor::from(positions, Shape(along.begin(), along.end()), dt));
  Shp out(c.shape(x));
  out[size_t(a)] = k;
  Shp slot(size_t(r - a), 1); // (k, 1, ..., 1)
  slot[0] = k;
  auto axes = c.b.getDenseI64ArrayAttr({a});
  Value rest = largest ? x : c.neg(x), values, picks, taken;
  for (int64_t t = 0; t < k; ++t) {
    Value m = c.make<ir::MaxOp>(rest, axes, c.b.getBoolAttr(true));
    Value hit = c.make<ir::EqualMaskOp>(rest, m);
    if (taken) // a position taken before never counts again (x may hold -inf itself)
      hit = c.mul(hit, c.sub(c.scalar(1, x), taken));
    Value first = c.make<ir::MinOp>(
        c.add(c.mul(index, hit), c.mul(c.sub(c.scalar(1, x), hit), c.scalar(double(n), x))), axes,
        c.b.getBoolAttr(true));
    std::vector<bool> bits(static_cast<size_t>(k), false);
    bits[size_t(t)] = true;
    auto type = mlir::RankedTensorType::get(slot, c.b.getI1Type());
    llvm::SmallVector<bool> v(bits.begin(), bits.end());
    Value at = c.make<ir::ConstantOp>(mlir::ElementsAttr(mlir::DenseElementsAttr::get(type, v)));
    Value value = largest ? m : c.neg(m);
    values = t == 0 ? c.broadcast(value, out) : c.make<ir::SelectOp>(at, value, values);
    picks = t == 0 ? c.broadcast(first, out) : c.make<ir::SelectOp>(at, first, picks);
    if (t + 1 < k) {
      Value now = c.make<ir::EqualMaskOp>(index, first);
      taken = taken ? c.maximum(taken, now) : now;
      rest = c.make<ir::SelectOp>(c.make<ir::EqualOp>(index, first),
                                  c.scalar(-std::numeric_limits<double>::infinity(), x), rest);
    }
  }
  if (k == 0) {
    auto empty = [&](mlir::Type e) {
      return c.make<ir::ConstantOp>(mlir::ElementsAttr(mlir::DenseElementsAttr::get(
          mlir::RankedTensorType::get(out, e), llvm::ArrayRef<mlir::Attribute>{})));
    };
    c.add_output(empty(c.b.getI64Type()));
    return empty(element);
  }
  c.add_output(c.make<ir::CastOp>(picks, mlir::TypeAttr::get(c.b.getI64Type())));
  return {values};
}

/// ReduceProd: the reduced axes moved last and flattened to K columns, padded with ones
/// to a power of two, then halved by elementwise products (log2 K steps).
Value reduce_prod(NodeContext &c) {
  Value x = c.in(0);
  std::optional<std::vector<int64_t>> axes =
      c.opset >= 18 && c.has(1) ? std::optional(c.ints_input(1, "axes")) : c.ints_attr("axes");
  const bool keep = c.int_attr("keepdims", 1) != 0;
  if ((!axes || axes->empty()) && c.int_attr("noop_with_empty_axes", 0))
    return {x};
  std::optional<Shp> norm = ir::normalizeAxes(axes.value_or(std::vector<int64_t>{}), c.rank(x));
  if (!norm)
    c.fail("axes " + dims_str(*axes) + " are invalid for rank " + std::to_string(c.rank(x)));
  ArrayRef<int64_t> s = c.shape(x);
  Shp out = ir::reducedShape(s, *norm, keep), perm, reduced;
  std::vector<bool> is_reduced(s.size(), false);
  for (int64_t a : *norm)
    is_reduced[size_t(a)] = true;
  for (size_t d = 0; d < s.size(); ++d)
    if (!is_reduced[d])
      perm.push_back(int64_t(d));
  int64_t k = 1;
  for (size_t d = 0; d < s.size(); ++d)
    if (is_reduced[d]) {
      perm.push_back(int64_t(d));
      k *= s[d];
    }
  const int64_t rows = product(out);
  if (k == 0)
    return {c.broadcast(c.scalar(1, x), out)};
  int64_t width = 1;
  while (width < k)
    width *= 2;
  std::optional<int64_t> cells = element_count({rows, width});
  if (!cells || *cells > kMaxConstantRead)
    c.unsupported("the input " + dims_str(s) + " is too large to decompose",
                  "ReduceProd too large to decompose");
  bool moved = false;
  for (size_t d = 0; d < perm.size(); ++d)
    moved = moved || perm[d] != int64_t(d);
  Value y = c.reshape(moved ? c.transpose(x, perm) : x, {rows, k});
  auto columns = [&](Value v, int64_t from, int64_t count, int64_t total) {
    std::vector<int64_t> offsets;
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < count; ++j)
        offsets.push_back(i * total + from + j);
    return c.make<ir::GetItemOp>(v, c.b.getDenseI64ArrayAttr({rows, count}),
                                 c.b.getDenseI64ArrayAttr(offsets));
  };
  if (width > k) { // pad with ones: the missing columns are 1 + 0
    std::vector<int64_t> offsets;
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < k; ++j)
        offsets.push_back(i * width + j);
    Value scattered = c.make<ir::GetItemGradOp>(y, c.b.getDenseI64ArrayAttr({rows, width}),
                                                c.b.getDenseI64ArrayAttr(offsets));
    std::vector<double> pad(static_cast<size_t>(width), 0.0);
    std::fill(pad.begin() + k, pad.end(), 1.0);
    mlir::Type e = c.type(x).getElementType();
    Value ones = c.constant_of(Tensor::from(pad, {1, width},
                                            e.isF32()         ? f32
                                            : e.isF64()       ? f64
                                            : e.isInteger(32) ? i32
                                                              : i64));
    y = c.add(scattered, ones);
  }
  for (; width > 1; width /= 2)
    y = c.mul(columns(y, 0, width / 2, width), columns(y, width / 2, width / 2, width));
  return {c.reshape(y, out)};
}

/// MeanVarianceNormalization as ONNX defines it: (x - E[x]) / (sqrt(E[x²] - E[x]²) + 1e-9)
/// over `axes` (default N, H, W).
Value mean_variance_norm(NodeContext &c) {
  Value x = c.in(0);
  c.require_float(x);
  std::vector<int64_t> axes = c.ints_attr("axes").value_or(std::vector<int64_t>{0, 2, 3});
  std::optional<Shp> norm = ir::normalizeAxes(axes, c.rank(x));
  if (!norm || axes.empty())
    c.fail("axes " + dims_str(axes) + " are invalid for rank " + std::to_string(c.rank(x)));
  int64_t count = 1;
  for (int64_t a : *norm)
    count *= c.shape(x)[size_t(a)];
  Value n = c.scalar(double(count), x);
  Value mean = c.div(c.sum(x, *norm, true), n);
  Value var = c.sub(c.div(c.sum(c.mul(x, x), *norm, true), n), c.mul(mean, mean));
  return {c.div(c.sub(x, mean), c.add(c.sqrt(var), c.scalar(1e-9, x)))};
}

/// Shrink: x + bias below -lambd, x - bias above lambd, 0 between.
Value shrink(NodeContext &c) {
  Value x = c.in(0);
  const double lambd = c.float_attr("lambd", 0.5), bias = c.float_attr("bias", 0);
  Value low = c.make<ir::LessOp>(x, c.scalar(-lambd, x));
  Value high = c.make<ir::GreaterOp>(x, c.scalar(lambd, x));
  Value inner = c.make<ir::SelectOp>(high, c.sub(x, c.scalar(bias, x)),
                                     c.broadcast(c.scalar(0, x), c.shape(x)));
  return {c.make<ir::SelectOp>(low, c.add(x, c.scalar(bias, x)), inner)};
}

/// The statistics of x over `axes` (kept as 1): mean, 1 / sqrt(var + eps), and x
/// normalized with them.
struct Moments {
  Value mean, inv_std, normalized;
};

Moments moments(NodeContext &c, Value x, ArrayRef<int64_t> axes, double eps) {
  int64_t count = 1;
  for (int64_t a : axes)
    count *= c.shape(x)[size_t(a)];
  Value n = c.scalar(double(count), x);
  Value mean = c.div(c.sum(x, axes, true), n);
  Value d = c.sub(x, mean);
  Value var = c.div(c.sum(c.mul(d, d), axes, true), n);
  Value inv_std = c.div(c.scalar(1, x), c.sqrt(c.add(var, c.scalar(eps, x))));
  return {mean, inv_std, c.mul(d, inv_std)};
}

/// A per-channel parameter (C) shaped to broadcast over NC... (C, 1, ..., 1).
Value channel_param(NodeContext &c, Value p, Value x) {
  Shp s(size_t(c.rank(x) - 1), 1);
  s[0] = c.shape(x)[1];
  return c.reshape(p, s);
}

/// BatchNormalization. With training_mode (opset 14 on) x is normalized with its own
/// statistics over (N, D1, ...), and outputs #1 and #2 are the running mean and variance
/// updated with them: input · momentum + batch · (1 − momentum), the batch variance biased.
Value batch_norm(NodeContext &c) {
  Value x = c.in(0);
  c.require_float(x);
  if (c.opset < 9 && c.int_attr("spatial", 1) != 1)
    c.unsupported("spatial=0 (per-activation statistics)", "BatchNormalization spatial=0");
  if (c.rank(x) < 2)
    c.fail("the input must have rank >= 2 (N, C, ...)");
  const double eps = c.float_attr("epsilon", 1e-5);
  const bool training = c.opset >= 14 && c.int_attr("training_mode", 0) != 0;
  if (!training) {
    for (int k = 1; k < c.node.output_size(); ++k)
      if (!c.node.output(k).empty())
        c.unsupported("output #" + std::to_string(k) +
                          " (the statistics of training; from opset "
                          "14 on, training_mode=1 gives the running mean and variance)",
                      "BatchNormalization training");
    Value inv = c.div(channel_param(c, c.in(1), x),
                      c.sqrt(c.add(channel_param(c, c.in(4), x), c.scalar(eps, x))));
    return {
        c.add(c.mul(c.sub(x, channel_param(c, c.in(3), x)), inv), channel_param(c, c.in(2), x))};
  }
  Shp axes = {0};
  for (int64_t a = 2; a < c.rank(x); ++a)
    axes.push_back(a);
  Value n = c.scalar(double(product(c.shape(x)) / c.shape(x)[1]), x);
  Value mean = c.div(c.sum(x, axes, true), n);
  Value d = c.sub(x, mean);
  Value var = c.div(c.sum(c.mul(d, d), axes, true), n);
  Value y = c.mul(c.div(d, c.sqrt(c.add(var, c.scalar(eps, x)))), channel_param(c, c.in(1), x));
  const double momentum = c.float_attr("momentum", 0.9);
  auto running = [&](Value input, Value batch) {
    Value b = c.reshape(batch, c.shape(input));
    return c.add(c.mul(input, c.scalar(momentum, input)), c.mul(b, c.scalar(1 - momentum, b)));
  };
  c.add_output(running(c.in(3), mean));
  c.add_output(running(c.in(4), var));
  return {c.add(y, channel_param(c, c.in(2), x))};
}

Value instance_norm(NodeContext &c) {
  Value x = c.in(0);
  c.require_float(x);
  if (c.rank(x) < 3)
    c.fail("the input must have rank >= 3 (N, C, D1, ...)");
  Shp axes;
  for (int64_t a = 2; a < c.rank(x); ++a)
    axes.push_back(a);
  Value y = moments(c, x, axes, c.float_attr("epsilon", 1e-5)).normalized;
  return {c.add(c.mul(y, channel_param(c, c.in(1), x)), channel_param(c, c.in(2), x))};
}

Value layer_norm(NodeContext &c) {
  Value x = c.in(0);
  c.require_float(x);
  Shp axes;
  for (int64_t a = c.axis(c.int_attr("axis", -1), c.rank(x)); a < c.rank(x); ++a)
    axes.push_back(a);
  Moments m = moments(c, x, axes, c.float_attr("epsilon", 1e-5));
  c.add_output(m.mean);
  c.add_output(m.inv_std);
  Value y = c.mul(m.normalized, c.in(1));
  return {c.has(2) ? c.add(y, c.in(2)) : y};
}

/// NegativeLogLikelihoodLoss of log-probabilities `logp` (N, C, d...) and int64 targets
/// `t` (N, d...), with optional class weights (C): dz.one_hot picks each target's entry
/// and weight; a target equal to ignore_index reads class 0 and gets weight 0.
Value nll_loss(NodeContext &c, Value logp, Value t, Value weight) {
  c.require_float(logp);
  if (!c.type(t).getElementType().isInteger(64))
    c.fail("the targets must be int64");
  const int64_t r = c.rank(logp);
  if (r < 2)
    c.fail("the input must be (N, C, ...)");
  const int64_t classes = c.shape(logp)[1], rows = product(c.shape(t));
  if (rows * classes != product(c.shape(logp)))
    c.fail("the targets " + dims_str(c.shape(t)) + " do not match the input " +
           dims_str(c.shape(logp)));
  mlir::Type element = c.type(logp).getElementType();
  Shp class_last = {0};
  for (int64_t d = 2; d < r; ++d)
    class_last.push_back(d);
  class_last.push_back(1);
  Value flat = c.reshape(c.transpose(logp, class_last), {rows, classes});
  Value target = c.reshape(t, {rows});
  Value w; // the weight of each row; null when every row weighs 1
  if (c.has_attr("ignore_index")) {
    Value ignored =
        c.make<ir::EqualMaskOp>(target, c.scalar(double(c.int_attr("ignore_index", 0)), target));
    target = c.sub(target, c.mul(target, ignored));
    w = c.sub(c.scalar(1, flat), c.make<ir::CastOp>(ignored, mlir::TypeAttr::get(element)));
  }
  Value hot =
      c.make<ir::OneHotOp>(target, c.b.getI64IntegerAttr(classes), mlir::TypeAttr::get(element));
  if (weight) {
    Value class_weight = c.sum(c.mul(hot, weight), {1}, false);
    w = w ? c.mul(w, class_weight) : class_weight;
  }
  Value picked = c.sum(c.mul(flat, hot), {1}, false);
  Value loss = c.neg(w ? c.mul(picked, w) : picked);
  const std::string reduction = c.string_attr("reduction", "mean");
  if (reduction == "none")
    return c.reshape(loss, c.shape(t));
  Value total = c.sum(loss, {}, false);
  if (reduction == "sum")
    return total;
  if (reduction != "mean")
    c.fail("unknown reduction '" + reduction + "' (none, sum, mean)");
  return c.div(total, w ? c.sum(w, {}, false) : c.scalar(double(rows), total));
}

template <typename OpTy> Value softmax(NodeContext &c) {
  Value x = c.in(0);
  c.require_float(x);
  const int64_t a = c.axis(c.int_attr("axis", c.opset < 13 ? 1 : -1), c.rank(x));
  if (c.opset >= 13)
    return {c.make<OpTy>(x, c.b.getI64IntegerAttr(a))};
  // Before opset 13 the input is flattened to 2-D around `axis`.
  ArrayRef<int64_t> s = c.shape(x);
  Shp flat = {product(s.take_front(size_t(a))), product(s.drop_front(size_t(a)))};
  Shp original(s);
  return {c.reshape(c.make<OpTy>(c.reshape(x, flat), c.b.getI64IntegerAttr(1)), original)};
}

// ---- linear algebra and neural-network ops ----------------------------------------------

Value matmul(NodeContext &c) {
  Value a = c.in(0), b = c.in(1);
  c.require_float(a);
  if (c.rank(a) == 0 || c.rank(b) == 0)
    c.fail("MatMul operands must have rank >= 1");
  // NumPy's 1-D operands: a (K) is (1, K), b (K) is (K, 1), the added axis removed after.
  const bool va = c.rank(a) == 1, vb = c.rank(b) == 1;
  if (va)
    a = c.reshape(a, {1, c.shape(a)[0]});
  if (vb)
    b = c.reshape(b, {c.shape(b)[0], 1});
  Value y = c.make<ir::MatmulOp>(a, b, c.b.getBoolAttr(false), c.b.getBoolAttr(false));
  const size_t n = size_t(c.rank(y));
  Shp out;
  for (size_t i = 0; i < n; ++i)
    if (!(vb && i == n - 1) && !(va && i == n - 2))
      out.push_back(c.shape(y)[i]);
  return {c.reshape(y, out)};
}

Value gemm(NodeContext &c) {
  Value a = c.in(0), b = c.in(1);
  c.require_float(a);
  Value y = c.make<ir::MatmulOp>(a, b, c.b.getBoolAttr(c.int_attr("transA", 0) != 0),
                                 c.b.getBoolAttr(c.int_attr("transB", 0) != 0));
  const double alpha = c.float_attr("alpha", 1), beta = c.float_attr("beta", 1);
  if (alpha != 1)
    y = c.mul(y, c.scalar(alpha, y));
  if (c.has(2) && beta != 0) {
    Value bias = c.in(2);
    y = c.add(y, beta == 1 ? bias : c.mul(bias, c.scalar(beta, bias)));
  }
  return {y};
}

template <bool is_max> Value global_pool(NodeContext &c) {
  Value x = c.in(0);
  c.require_float(x);
  Shp axes;
  for (int64_t a = 2; a < c.rank(x); ++a)
    axes.push_back(a);
  if (axes.empty())
    c.fail("the input must have rank >= 3 (N, C, D1, ...)");
  if (is_max)
    return {c.make<ir::MaxOp>(x, c.b.getDenseI64ArrayAttr(axes), c.b.getBoolAttr(true))};
  return {c.div(c.sum(x, axes, true), c.scalar(double(product(c.shape(x).drop_front(2))), x))};
}

/// Dropout. In inference (ImportOptions::Dropout AsInFile, Inference) the input, and its
/// mask (output #1) all true (before opset 10 the mask has the input's type: all ones); a
/// file in training mode (AsInFile) with a constant ratio of 0 is the same (nothing is
/// dropped, the scale is 1 / (1 - 0)). In training form (Training) the input times
/// dz.dropout_mask of the RNG state, which dz.rng_next then advances; the mask output is
/// where that mask is nonzero.
Value dropout(NodeContext &c) {
  using Form = ImportOptions::Dropout;
  if (c.dropout == Form::AsInFile && c.opset >= 12 && c.has(2)) {
    Tensor training = c.required_constant(2, "training_mode");
    const auto *bytes = static_cast<const uint8_t *>(training.raw());
    std::optional<Tensor> ratio = c.has(1) ? c.constant(1) : std::optional<Tensor>(Tensor());
    const bool nothing_dropped =
        c.has(1) && ratio && ratio->size() == 1 && ratio->to(f64).item_double() == 0.0;
    if (!nothing_dropped &&
        std::any_of(bytes, bytes + training.nbytes(), [](uint8_t b) { return b != 0; }))
      c.unsupported("training mode with a ratio other than a constant 0 draws a random mask",
                    "Dropout training");
  }
  Value x = c.in(0);
  const bool mask_wanted = c.node.output_size() > 1 && !c.node.output(1).empty();
  mlir::Type mask_element = c.opset >= 10 ? c.b.getI1Type() : c.type(x).getElementType();
  auto mask_type = mlir::RankedTensorType::get(c.shape(x), mask_element);
  double ratio = 0;
  if (c.dropout == Form::Training) {
    if (c.opset >= 12) {
      ratio = 0.5;
      if (c.has(1)) {
        Tensor r = c.required_constant(1, "ratio");
        if (r.size() != 1 || !is_floating(r.dtype()))
          c.fail(std::string("its ratio must be one float, got ") + dz::dtype_name(r.dtype()) +
                 " of " + std::to_string(r.size()) + " elements");
        ratio = r.to(f64).item<double>();
      }
    } else {
      ratio = c.float_attr("ratio", 0.5);
    }
    if (!(ratio >= 0 && ratio < 1))
      c.fail("its ratio must be in [0, 1), got " + std::to_string(ratio));
  }
  if (ratio == 0) { // inference, or a ratio that drops nothing
    if (mask_wanted) {
      mlir::Attribute one = c.opset >= 10 ? mlir::Attribute(c.b.getBoolAttr(true))
                                          : c.b.getFloatAttr(mask_element, 1.0);
      c.add_output(c.make<ir::ConstantOp>(
          mlir::ElementsAttr(mlir::DenseElementsAttr::get(mask_type, llvm::ArrayRef(one)))));
    }
    return {x};
  }
  c.require_float(x);
  if (!c.rng_state)
    c.fail("training form without an RNG state (a bug in dzc; please report it)");
  const int64_t groups = (product(c.shape(x)) + 3) / 4; // Philox draws 4 numbers a counter
  Value mask = c.make<ir::DropoutMaskOp>(*c.rng_state, c.b.getF64FloatAttr(ratio),
                                         c.b.getDenseI64ArrayAttr(c.shape(x)),
                                         mlir::TypeAttr::get(c.type(x).getElementType()));
  *c.rng_state = c.make<ir::RngNextOp>(*c.rng_state, c.b.getI64IntegerAttr(groups));
  if (mask_wanted) {
    Value kept = c.make<ir::GreaterOp>(mask, c.scalar(0, mask));
    c.add_output(c.opset >= 10 ? kept
                               : c.make<ir::CastOp>(kept, mlir::TypeAttr::get(mask_element)));
  }
  return {c.mul(x, mask)};
}

// ---- the optimizers of ai.onnx.preview.training -----------------------------------------

/// The optimizer's inputs after R and T: `groups` groups of n tensors each (X..., G...,
/// then the states), n = (inputs - 2) / groups.
int64_t optimizer_tensors(NodeContext &c, int64_t groups) {
  const int64_t n = (int64_t(c.num_inputs()) - 2) / groups;
  if (n < 1 || 2 + n * groups != int64_t(c.num_inputs()) ||
      c.node.output_size() != n * (groups - 1))
    c.fail("expects R, T and " + std::to_string(groups) + " groups of n tensors, and " +
           std::to_string(groups - 1) + " groups of n outputs");
  return n;
}

/// Input i as a scalar of like's element type.
Value scalar_input(NodeContext &c, size_t i, Value like) {
  Value v = c.in(i);
  if (product(c.shape(v)) != 1)
    c.fail("input #" + std::to_string(i) + " must be one value, got " + dims_str(c.shape(v)));
  return cast_to(c, c.reshape(v, {}), c.type(like).getElementType());
}

/// Adagrad: r = R / (1 + T · decay_factor); g = norm_coefficient · X + G;
/// H' = H + g²; X' = X − r · g / (sqrt(H') + epsilon). Outputs X'..., H'....
Value adagrad(NodeContext &c) {
  const int64_t n = optimizer_tensors(c, 3);
  const double decay = c.float_attr("decay_factor", 0), eps = c.float_attr("epsilon", 0),
               norm = c.float_attr("norm_coefficient", 0);
  std::vector<Value> xs, hs;
  for (int64_t k = 0; k < n; ++k) {
    Value x = c.in(size_t(2 + k)), g = c.in(size_t(2 + n + k)), h = c.in(size_t(2 + 2 * n + k));
    c.require_float(x);
    Value t = scalar_input(c, 1, x);
    Value rate = c.div(scalar_input(c, 0, x), c.add(c.scalar(1, x), c.mul(t, c.scalar(decay, x))));
    Value gr = c.add(c.mul(x, c.scalar(norm, x)), g);
    Value h_new = c.add(h, c.mul(gr, gr));
    xs.push_back(c.sub(x, c.div(c.mul(rate, gr), c.add(c.sqrt(h_new), c.scalar(eps, x)))));
    hs.push_back(h_new);
  }
  for (size_t k = 1; k < xs.size(); ++k)
    c.add_output(xs[k]);
  for (Value h : hs)
    c.add_output(h);
  return xs[0];
}

/// Adam: g = norm_coefficient · X + G; V' = α V + (1 − α) g; H' = β H + (1 − β) g²;
/// R' = R · sqrt(1 − β^T) / (1 − α^T) when T > 0, else R;
/// X' = (1 − norm_coefficient_post) (X − R' V' / (sqrt(H') + ε)). Outputs X'..., V'..., H'....
Value adam(NodeContext &c) {
  const int64_t n = optimizer_tensors(c, 4);
  const double alpha = c.float_attr("alpha", 0.9), beta = c.float_attr("beta", 0.999),
               eps = c.float_attr("epsilon", 1e-6), norm = c.float_attr("norm_coefficient", 0),
               post = c.float_attr("norm_coefficient_post", 0);
  std::vector<Value> xs, vs, hs;
  for (int64_t k = 0; k < n; ++k) {
    Value x = c.in(size_t(2 + k)), g = c.in(size_t(2 + n + k)), v = c.in(size_t(2 + 2 * n + k)),
          h = c.in(size_t(2 + 3 * n + k));
    c.require_float(x);
    Value r = scalar_input(c, 0, x), t = scalar_input(c, 1, x);
    Value gr = c.add(c.mul(x, c.scalar(norm, x)), g);
    Value v_new = c.add(c.mul(v, c.scalar(alpha, x)), c.mul(gr, c.scalar(1 - alpha, x)));
    Value h_new = c.add(c.mul(h, c.scalar(beta, x)), c.mul(c.mul(gr, gr), c.scalar(1 - beta, x)));
    auto power = [&](double base) { return c.exp(c.mul(t, c.scalar(std::log(base), x))); };
    Value adjusted = c.div(c.mul(r, c.sqrt(c.sub(c.scalar(1, x), power(beta)))),
                           c.sub(c.scalar(1, x), power(alpha)));
    Value rate = c.make<ir::SelectOp>(c.make<ir::GreaterOp>(t, c.scalar(0, x)), adjusted, r);
    Value step = c.div(v_new, c.add(c.sqrt(h_new), c.scalar(eps, x)));
    xs.push_back(c.mul(c.sub(x, c.mul(rate, step)), c.scalar(1 - post, x)));
    vs.push_back(v_new);
    hs.push_back(h_new);
  }
  for (size_t k = 1; k < xs.size(); ++k)
    c.add_output(xs[k]);
  for (Value v : vs)
    c.add_output(v);
  for (Value h : hs)
    c.add_output(h);
  return xs[0];
}

/// Momentum: g = norm_coefficient · X + G; V' = α V + (T > 0 ? β : 1) g; standard:
/// X' = X − R V'; nesterov: X' = X − R (g + α V'). Outputs X'..., V'....
Value momentum(NodeContext &c) {
  const int64_t n = optimizer_tensors(c, 3);
  const double alpha = c.float_attr("alpha", 0), beta = c.float_attr("beta", 0),
               norm = c.float_attr("norm_coefficient", 0);
  const std::string mode = c.string_attr("mode", "standard");
  if (mode != "standard" && mode != "nesterov")
    c.fail("unknown mode '" + mode + "' (standard, nesterov)");
  std::vector<Value> xs, vs;
  for (int64_t k = 0; k < n; ++k) {
    Value x = c.in(size_t(2 + k)), g = c.in(size_t(2 + n + k)), v = c.in(size_t(2 + 2 * n + k));
    c.require_float(x);
    Value r = scalar_input(c, 0, x), t = scalar_input(c, 1, x);
    Value gr = c.add(c.mul(x, c.scalar(norm, x)), g);
    Value b = c.make<ir::SelectOp>(c.make<ir::GreaterOp>(t, c.scalar(0, x)), c.scalar(beta, x),
                                   c.scalar(1, x));
    Value v_new = c.add(c.mul(v, c.scalar(alpha, x)), c.mul(b, gr));
    Value dir = mode == "standard" ? v_new : c.add(gr, c.mul(v_new, c.scalar(alpha, x)));
    xs.push_back(c.sub(x, c.mul(r, dir)));
    vs.push_back(v_new);
  }
  for (size_t k = 1; k < xs.size(); ++k)
    c.add_output(xs[k]);
  for (Value v : vs)
    c.add_output(v);
  return xs[0];
}

// ---- the table: one entry per ONNX op, alphabetical --------------------------------------

Value identity(NodeContext &c) { return {c.in(0)}; }

const OpEntry kOps[] = {
    {"And", binary<ir::AndOp>},
    {"ArgMax", arg_extremum<true>},
    {"ArgMin", arg_extremum<false>},
    {"AveragePool", window_ops::average_pool},
    {"BatchNormalization", batch_norm, 3}, // Y, running_mean, running_var (training)
    {"BitShift", bit_shift},
    {"ConvInteger", conv_integer},
    {"DequantizeLinear", dequantize_linear},
    {"DynamicQuantizeLinear", dynamic_quantize_linear, 3}, // y, y_scale, y_zero_point
    {"MatMulInteger", matmul_integer},
    {"QLinearConv", qlinear_conv},
    {"QLinearMatMul", qlinear_matmul},
    {"QuantizeLinear", quantize_linear},
    {"Cast", cast},
    {"BlackmanWindow", index_ops::window<2>},
    {"CastLike",
     [](NodeContext &c) { return cast_to(c, c.in(0), c.type(c.in(1)).getElementType()); }},
    {"Celu",
     [](NodeContext &c) -> Value {
       const double alpha = c.float_attr("alpha", 1);
       return {elu(c, c.in(0), alpha, 1 / alpha)};
     }},
    {"Clip", clip},
    {"Compress", index_ops::compress},
    {"Concat", shape_ops::concat},
    {"Constant", shape_ops::constant},
    {"ConstantOfShape", shape_ops::constant_of_shape},
    {"Conv", window_ops::conv},
    {"ConvTranspose", window_ops::conv_transpose},
    {"CumSum", index_ops::cum_sum},
    {"DepthToSpace", shape_ops::depth_to_space},
    {"DFT", spectral_ops::dft},
    {"Dropout", dropout, 2}, // output, mask
    {"Einsum", index_ops::einsum},
    {"Elu", [](NodeContext &c) -> Value { return {elu(c, c.in(0), c.float_attr("alpha", 1), 1)}; }},
    {"Expand", shape_ops::expand},
    {"EyeLike", index_ops::eye_like},
    {"Flatten", shape_ops::flatten},
    {"Gather", shape_ops::gather},
    {"GatherElements", index_ops::gather_elements},
    {"GatherND", index_ops::gather_nd},
    {"Gemm", gemm},
    {"GlobalAveragePool", global_pool<false>},
    {"GlobalMaxPool", global_pool<true>},
    {"GridSample", resize_ops::grid_sample},
    {"GRU", recurrent::rnn_or_gru, 2}, // Y, Y_h
    {"HammingWindow", index_ops::window<1>},
    {"HannWindow", index_ops::window<0>},
    {"Hardmax", hardmax},
    {"HardSigmoid",
     [](NodeContext &c) -> Value {
       return {hard_sigmoid(c, c.in(0), c.float_attr("alpha", 0.2), c.float_attr("beta", 0.5))};
     }},
    {"HardSwish",
     [](NodeContext &c) -> Value {
       return {c.mul(c.in(0), hard_sigmoid(c, c.in(0), 1.0 / 6, 0.5))};
     }},
    {"Identity", identity},
    {"InstanceNormalization", instance_norm},
    {"LayerNormalization", layer_norm, 3}, // Y, Mean, InvStdDev
    {"LeakyRelu",
     [](NodeContext &c) -> Value {
       c.require_float(c.in(0));
       return {c.make<ir::LeakyReluOp>(c.in(0), c.b.getF64FloatAttr(c.float_attr("alpha", 0.01)))};
     }},
    {"LogSoftmax", softmax<ir::LogSoftmaxOp>},
    {"LRN", index_ops::lrn},
    {"LSTM", recurrent::lstm, 3}, // Y, Y_h, Y_c
    {"MatMul", matmul},
    {"MeanVarianceNormalization", mean_variance_norm},
    {"IsInf",
     [](NodeContext &c) -> Value {
       Value x = c.in(0), inf = c.make<ir::IsInfOp>(x);
       const bool negative = c.int_attr("detect_negative", 1),
                  positive = c.int_attr("detect_positive", 1);
       if (negative && positive)
         return {inf};
       Value zero = c.scalar(0.0, x);
       if (negative) // -inf only
         return {c.make<ir::AndOp>(inf, c.make<ir::LessOp>(x, zero))};
       if (positive)
         return {c.make<ir::AndOp>(inf, c.make<ir::GreaterOp>(x, zero))};
       return {c.make<ir::AndOp>(inf, c.make<ir::NotOp>(inf))}; // false everywhere
     }},
    // Integers: the quotient truncated toward zero, in the integer type (dz.div is true
    // division on floats only).
    {"Div", [](NodeContext &c) -> Value { return {c.quotient(c.in(0), c.in(1))}; }},
    {"Max", variadic<Fold::Max>},
    // fmod = 0: the sign of the divisor (NumPy's mod; integers only); 1: C's fmod.
    {"Mod",
     [](NodeContext &c) -> Value {
       if (c.int_attr("fmod", 0))
         return {c.make<ir::FmodOp>(c.in(0), c.in(1))};
       if (c.is_float(c.in(0)))
         c.fail("fmod = 0 is defined for integer inputs only (use fmod = 1 for floats)");
       return {c.make<ir::ModOp>(c.in(0), c.in(1))};
     }},
    {"MaxPool", window_ops::max_pool, 2}, // Y, Indices
    {"MaxUnpool", index_ops::max_unpool},
    {"Mean", variadic<Fold::Mean>},
    {"Min", variadic<Fold::Min>},
    {"NegativeLogLikelihoodLoss",
     [](NodeContext &c) { return nll_loss(c, c.in(0), c.in(1), c.has(2) ? c.in(2) : Value()); }},
    {"NonMaxSuppression", index_ops::non_max_suppression},
    {"NonZero", index_ops::non_zero},
    {"Not", unary<ir::NotOp>},
    {"OneHot", index_ops::one_hot},
    {"Or", binary<ir::OrOp>},
    {"PRelu",
     [](NodeContext &c) -> Value {
       Value x = c.in(0);
       return {c.sub(c.relu(x), c.mul(c.in(1), c.relu(c.neg(x))))};
     }},
    {"Pad", index_ops::pad},
    {"Pow", pow},
    {"Range", index_ops::range},
    {"Reciprocal",
     [](NodeContext &c) -> Value {
       c.require_float(c.in(0));
       return {c.div(c.scalar(1, c.in(0)), c.in(0))};
     }},
    {"ReduceL1", reduce<Reduce::L1>},
    {"ReduceL2", reduce<Reduce::L2>},
    {"ReduceLogSum", reduce<Reduce::LogSum>},
    {"ReduceLogSumExp", reduce<Reduce::LogSumExp>},
    {"ReduceMax", reduce<Reduce::Max>},
    {"ReduceMean", reduce<Reduce::Mean>},
    {"ReduceMin", reduce<Reduce::Min>},
    {"ReduceProd", reduce_prod},
    {"ReduceSum", reduce<Reduce::Sum>},
    {"ReduceSumSquare", reduce<Reduce::SumSquare>},
    {"Reshape", shape_ops::reshape},
    {"Resize", resize_ops::resize},
    {"ReverseSequence", index_ops::reverse_sequence},
    {"RNN", recurrent::rnn_or_gru, 2},        // Y, Y_h
    {"Scatter", index_ops::scatter_elements}, // ScatterElements' name before opset 11
    {"ScatterElements", index_ops::scatter_elements},
    {"ScatterND", index_ops::scatter_nd},
    {"Selu",
     [](NodeContext &c) -> Value {
       Value y = elu(c, c.in(0), c.float_attr("alpha", 1.67326319217681884765625), 1);
       return {c.mul(c.scalar(c.float_attr("gamma", 1.05070102214813232421875), y), y)};
     }},
    {"Shape", shape_ops::shape},
    {"Shrink", shrink},
    {"Size",
     [](NodeContext &c) -> Value {
       return {c.constant_of(Tensor::from_i64({product(c.shape(c.in(0)))}, {}))};
     }},
    {"Slice", shape_ops::slice},
    {"Softmax", softmax<ir::SoftmaxOp>},
    {"SoftmaxCrossEntropyLoss",
     [](NodeContext &c) {
       c.require_float(c.in(0));
       Value logp = c.make<ir::LogSoftmaxOp>(c.in(0), c.b.getI64IntegerAttr(1));
       c.add_output(logp);
       return nll_loss(c, logp, c.in(1), c.has(2) ? c.in(2) : Value());
     },
     2}, // loss, log_prob
    {"Softplus",
     [](NodeContext &c) -> Value { // relu(x) + log(1 + exp(-|x|)), stable
       Value x = c.in(0);
       c.require_float(x);
       return {c.add(c.relu(x), c.log(c.add(c.exp(c.neg(c.abs(x))), c.scalar(1, x))))};
     }},
    {"SpaceToDepth", shape_ops::space_to_depth},
    {"Softsign",
     [](NodeContext &c) -> Value {
       Value x = c.in(0);
       return {c.div(x, c.add(c.abs(x), c.scalar(1, x)))};
     }},
    {"Split", shape_ops::split, kAnyOutputs},
    {"Squeeze", shape_ops::squeeze},
    {"STFT", spectral_ops::stft},
    {"Sum", variadic<Fold::Sum>},
    {"ThresholdedRelu",
     [](NodeContext &c) -> Value {
       Value x = c.in(0);
       return {c.mul(x, c.step(c.sub(x, c.scalar(c.float_attr("alpha", 1), x))))};
     }},
    {"Tile", shape_ops::tile},
    {"TopK", top_k, 2}, // Values, Indices
    {"Transpose", shape_ops::transpose},
    {"TfIdfVectorizer", index_ops::tfidf_vectorizer},
    {"Trilu", index_ops::trilu},
    {"Unique", index_ops::unique, 4}, // Y, indices, inverse_indices, counts
    {"Unsqueeze", shape_ops::unsqueeze},
    {"Upsample", resize_ops::upsample},
    {"Where",
     [](NodeContext &c) -> Value { return {c.make<ir::SelectOp>(c.in(0), c.in(1), c.in(2))}; }},
    {"Xor", binary<ir::XorOp>},
    // ai.onnx.preview.training
    {"ai.onnx.preview.training.Adagrad", adagrad, kAnyOutputs},
    {"ai.onnx.preview.training.Adam", adam, kAnyOutputs},
    {"ai.onnx.preview.training.Momentum", momentum, kAnyOutputs},
};

// The registry's ops with an ONNX twin (dzc/ops.def), one to one; an ONNX op of kOps with
// the same name (Pow, Max, Min, IsInf: other forms or attributes) takes precedence.
#define DZ_IMPORT_Float float_unary
#define DZ_IMPORT_Predicate float_unary
#define DZ_IMPORT_Numeric unary
#define DZ_UNARY(name, Title, domain, summary, value, grad, onnx)                                  \
  {onnx, DZ_IMPORT_##domain<ir::Title##Op>},
#define DZ_BINARY(name, Title, domain, traits, summary, value, grad_a, grad_b, onnx)               \
  {onnx, binary<ir::Title##Op>},
const OpEntry kRegistryOps[] = {
#include <dzc/ops.def>
};
#undef DZ_IMPORT_Float
#undef DZ_IMPORT_Predicate
#undef DZ_IMPORT_Numeric

} // namespace

const OpEntry *find_op(const std::string &op_type) {
  for (const OpEntry &e : kOps)
    if (op_type == e.op_type)
      return &e;
  if (op_type.empty())
    return nullptr;
  for (const OpEntry &e : kRegistryOps)
    if (op_type == e.op_type)
      return &e;
  return nullptr;
}

bool is_supported_op(const std::string &op_type) { return find_op(op_type) != nullptr; }

} // namespace dz::onnx
