// Recurrent.cpp - the importer's LSTM: the ONNX recurrence unrolled over the static
// sequence length into dz.matmul / dz.sigmoid / dz.tanh / dz.mul / dz.add, so that an
// imported LSTM runs and differentiates like any other dz program.
//
// Per direction: 1. X W^T + (Wb + Rb) for all steps in one dz.matmul; 2. each step adds
// H R^T, splits the gates (ONNX order i, o, f, c) with dz.get_item, and updates C and H
// (peepholes, clip and input_forget as the spec says); 3. the H of every step is placed
// into Y with dz.get_item_grad scatters (dz has no concat). Activations other than
// Sigmoid, Tanh and Relu, and sequence_lens shorter than the sequence, are unsupported.
#include "Convert.h"

#include <functional>

namespace dz::onnx {

namespace {

using Shp = llvm::SmallVector<int64_t>;
using llvm::ArrayRef;

/// The most LSTM steps (all directions together) the importer unrolls.
constexpr int64_t kMaxSteps = 4096;

/// The offsets of dz.get_item / get_item_grad are attributes: at most 2^24 per op.
void check_size(NodeContext &c, ArrayRef<int64_t> shape) {
  std::optional<int64_t> n = element_count(shape);
  if (!n || *n > kMaxConstantRead)
    c.unsupported("its unrolling needs an index table of shape " + dims_str(shape) +
                      "; the importer builds at most 2^24 entries",
                  "LSTM too large to unroll");
}

/// x[..., start:start + count, ...] along `axis`.
Value slice(NodeContext &c, Value x, int64_t axis, int64_t start, int64_t count) {
  ArrayRef<int64_t> s = c.shape(x);
  Shp out(s);
  out[size_t(axis)] = count;
  check_size(c, out);
  const int64_t outer = product(s.take_front(size_t(axis))),
                inner = product(s.drop_front(size_t(axis) + 1)), n = s[size_t(axis)];
  std::vector<int64_t> offsets;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < count; ++k)
      for (int64_t i = 0; i < inner; ++i)
        offsets.push_back((o * n + start + k) * inner + i);
  return c.make<ir::GetItemOp>(x, c.b.getDenseI64ArrayAttr(out), c.b.getDenseI64ArrayAttr(offsets));
}

/// The parts (each of one shape) stacked along new leading axes `lead` (whose product is
/// the number of parts). dz has no concat: halves are stacked and placed into their sum by
/// two dz.get_item_grad scatters, log2(parts) levels of one full-size pass each.
Value stack(NodeContext &c, ArrayRef<Value> parts, ArrayRef<int64_t> lead) {
  Shp part(c.shape(parts[0]));
  check_size(c, Shp{int64_t(parts.size()), product(part)});
  const int64_t size = product(part);
  std::function<Value(ArrayRef<Value>)> halves = [&](ArrayRef<Value> ps) -> Value {
    Shp to = {int64_t(ps.size())};
    to.append(part.begin(), part.end());
    if (ps.size() == 1)
      return c.reshape(ps[0], to);
    const size_t left = ps.size() / 2;
    Value sum;
    for (auto [first, piece] : {std::pair{size_t(0), halves(ps.take_front(left))},
                                std::pair{left, halves(ps.drop_front(left))}}) {
      std::vector<int64_t> offsets(static_cast<size_t>(product(c.shape(piece))));
      for (size_t i = 0; i < offsets.size(); ++i)
        offsets[i] = int64_t(first) * size + int64_t(i);
      Value placed = c.make<ir::GetItemGradOp>(piece, c.b.getDenseI64ArrayAttr(to),
                                               c.b.getDenseI64ArrayAttr(offsets));
      sum = sum ? c.add(sum, placed) : placed;
    }
    return sum;
  };
  Shp to(lead);
  to.append(part.begin(), part.end());
  return c.reshape(halves(parts), to);
}

Value activate(NodeContext &c, const std::string &name, Value v) {
  if (name == "Sigmoid")
    return c.make<ir::SigmoidOp>(v);
  if (name == "Tanh")
    return c.make<ir::TanhOp>(v);
  if (name == "Relu")
    return c.relu(v);
  c.unsupported("activation '" + name + "' (dz supports Sigmoid, Tanh, Relu here)",
                "LSTM activation " + name);
}

/// Input i (dirs, ...) as its direction d's part, or null when absent.
Value direction_part(NodeContext &c, size_t i, int64_t d, ArrayRef<int64_t> expect,
                     const char *what) {
  if (!c.has(i))
    return {};
  Value v = c.in(i);
  if (c.shape(v) != expect)
    c.fail(std::string("its ") + what + " must be " + dims_str(expect) + ", got " +
           dims_str(c.shape(v)));
  Shp part(expect.drop_front());
  return c.reshape(slice(c, v, 0, d, 1), part);
}

} // namespace

namespace recurrent {

Value lstm(NodeContext &c) {
  Value x = c.in(0);
  c.require_float(x);
  if (c.rank(x) != 3)
    c.fail("X must be (seq_length, batch, input_size) (layout 0) or (batch, seq_length, "
           "input_size) (layout 1), got " +
           dims_str(c.shape(x)));
  const int64_t layout = c.int_attr("layout", 0);
  if (layout != 0 && layout != 1)
    c.fail("layout must be 0 or 1, got " + std::to_string(layout));
  if (layout == 1)
    x = c.transpose(x, {1, 0, 2});
  const int64_t seq = c.shape(x)[0], batch = c.shape(x)[1], input = c.shape(x)[2];
  const std::string direction = c.string_attr("direction", "forward");
  if (direction != "forward" && direction != "reverse" && direction != "bidirectional")
    c.fail("unknown direction '" + direction + "' (forward, reverse, bidirectional)");
  const int64_t dirs = direction == "bidirectional" ? 2 : 1;
  if (seq * dirs > kMaxSteps)
    c.unsupported("a sequence of " + std::to_string(seq) + " steps (the importer unrolls at most " +
                      std::to_string(kMaxSteps) + " steps of all directions)",
                  "LSTM too long to unroll");
  const int64_t hidden =
      c.has_attr("hidden_size") ? c.int_attr("hidden_size", 0) : c.shape(c.in(2)).back();
  if (hidden <= 0)
    c.fail("hidden_size must be positive");
  if (c.has(4)) {
    std::vector<int64_t> lens = c.ints_input(4, "sequence_lens");
    for (int64_t len : lens)
      if (len != seq)
        c.unsupported("sequence_lens shorter than the sequence (" + std::to_string(len) + " < " +
                          std::to_string(seq) + ")",
                      "LSTM with sequence_lens");
  }
  std::vector<std::string> acts =
      c.strings_attr("activations")
          .value_or(dirs == 2 ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh", "Sigmoid",
                                                         "Tanh", "Tanh"}
                              : std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"});
  if (acts.size() != size_t(3 * dirs))
    c.fail("'activations' must name " + std::to_string(3 * dirs) +
           " functions (f, g, h per direction), got " + std::to_string(acts.size()));
  if (c.has_attr("activation_alpha") || c.has_attr("activation_beta"))
    c.unsupported("activation_alpha / activation_beta", "LSTM activation parameters");
  const std::optional<double> clip =
      c.has_attr("clip") ? std::optional<double>(c.float_attr("clip", 0)) : std::nullopt;
  const bool input_forget = c.int_attr("input_forget", 0) != 0;

  // initial_h / initial_c are (batch, dirs, H) with layout 1.
  auto state_input = [&](size_t i) -> Value {
    if (!c.has(i))
      return {};
    return layout == 1 ? c.transpose(c.in(i), {1, 0, 2}) : c.in(i);
  };
  Value h0 = state_input(5), c0 = state_input(6);
  Value xs = c.reshape(x, {seq * batch, input});
  std::vector<Value> steps(size_t(seq * dirs)), last_h, last_c;
  for (int64_t d = 0; d < dirs; ++d) {
    Value w = direction_part(c, 1, d, {dirs, 4 * hidden, input}, "W");
    Value r = direction_part(c, 2, d, {dirs, 4 * hidden, hidden}, "R");
    Value bias = direction_part(c, 3, d, {dirs, 8 * hidden}, "B");
    Value peep = direction_part(c, 7, d, {dirs, 3 * hidden}, "P");
    auto no_transpose = c.b.getBoolAttr(false), transpose = c.b.getBoolAttr(true);
    Value xw = c.make<ir::MatmulOp>(xs, w, no_transpose, transpose); // (seq batch, 4H)
    if (bias)
      xw = c.add(
          xw, c.add(slice(c, bias, 0, 0, 4 * hidden), slice(c, bias, 0, 4 * hidden, 4 * hidden)));
    xw = c.reshape(xw, {seq, batch, 4 * hidden});
    Value zeros = c.broadcast(c.scalar(0, x), {batch, hidden});
    auto state = [&](Value s, const char *what) {
      if (!s)
        return zeros;
      if (c.shape(s) != ArrayRef<int64_t>{dirs, batch, hidden})
        c.fail(std::string("its ") + what + " must hold (" + std::to_string(dirs) + ", " +
               std::to_string(batch) + ", " + std::to_string(hidden) + ") in layout " +
               std::to_string(layout) + ", got " + dims_str(c.shape(s)));
      return c.reshape(slice(c, s, 0, d, 1), {batch, hidden});
    };
    Value h = state(h0, "initial_h"), cell = state(c0, "initial_c");
    Value p_i, p_o, p_f; // peepholes (H), broadcast over the batch
    if (peep) {
      p_i = slice(c, peep, 0, 0, hidden);
      p_o = slice(c, peep, 0, hidden, hidden);
      p_f = slice(c, peep, 0, 2 * hidden, hidden);
    }
    const std::string &f = acts[size_t(3 * d)], &g = acts[size_t(3 * d + 1)],
                      &hf = acts[size_t(3 * d + 2)];
    auto pre = [&](Value v) { return clip ? c.clip(v, -*clip, *clip) : v; };
    const bool reverse = direction == "reverse" || d == 1;
    for (int64_t k = 0; k < seq; ++k) {
      const int64_t t = reverse ? seq - 1 - k : k;
      Value gates = c.add(c.reshape(slice(c, xw, 0, t, 1), {batch, 4 * hidden}),
                          c.make<ir::MatmulOp>(h, r, no_transpose, transpose));
      Value gi = slice(c, gates, 1, 0, hidden), go = slice(c, gates, 1, hidden, hidden),
            gf = slice(c, gates, 1, 2 * hidden, hidden),
            gc = slice(c, gates, 1, 3 * hidden, hidden);
      if (peep) {
        gi = c.add(gi, c.mul(p_i, cell));
        gf = c.add(gf, c.mul(p_f, cell));
      }
      Value i = activate(c, f, pre(gi));
      Value forget = input_forget ? c.sub(c.scalar(1, i), i) : activate(c, f, pre(gf));
      cell = c.add(c.mul(forget, cell), c.mul(i, activate(c, g, pre(gc))));
      if (peep)
        go = c.add(go, c.mul(p_o, cell));
      h = c.mul(activate(c, f, pre(go)), activate(c, hf, cell));
      steps[size_t(t * dirs + d)] = h;
    }
    last_h.push_back(h);
    last_c.push_back(cell);
  }
  Value y_h = stack(c, last_h, {dirs}), y_c = stack(c, last_c, {dirs});
  if (layout == 1) {
    y_h = c.transpose(y_h, {1, 0, 2});
    y_c = c.transpose(y_c, {1, 0, 2});
  }
  c.add_output(y_h);
  c.add_output(y_c);
  // Y only when asked for (stacking it costs log2(steps) passes over Y). The importer reads
  // output #0 only when the node names it.
  if (c.node.output(0).empty())
    return y_h;
  Value y = stack(c, steps, {seq, dirs}); // (seq, dirs, batch, H)
  return layout == 1 ? c.transpose(y, {2, 0, 1, 3}) : y;
}

} // namespace recurrent

} // namespace dz::onnx
