// Recurrent.cpp - the importer's LSTM, GRU and RNN: the ONNX recurrence unrolled over the
// static sequence length into dz.matmul / dz.sigmoid / dz.tanh / dz.mul / dz.add, so that
// an imported recurrent layer runs and differentiates like any other dz program.
//
// Per direction: 1. X W^T + the biases for all steps in one dz.matmul; 2. each step adds
// H R^T (GRU: of the reset state for the h gate, unless linear_before_reset), splits the
// gates (LSTM: i, o, f, c; GRU: z, r, h) with dz.get_item, and updates the state
// (LSTM's peepholes, clip and input_forget as the spec says); 3. the H of every step is
// placed into Y with dz.get_item_grad scatters (dz has no concat). Activations other than
// Sigmoid, Tanh and Relu, and sequence_lens shorter than the sequence, are unsupported.
#include "Convert.h"

#include <functional>
#include <numeric>

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
                c.node.op_type() + " activation " + name);
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

/// What LSTM, GRU and RNN share: X in (seq, batch, input) order, the directions, the
/// hidden size, the activations (`per_dir` per direction) and clip.
struct Setup {
  Value x;
  int64_t layout, seq, batch, input, dirs, hidden;
  std::string direction;
  std::vector<std::string> acts;
  std::optional<double> clip;
};

Setup parse(NodeContext &c, size_t per_dir, const std::vector<std::string> &default_acts) {
  Setup st;
  Value x = c.in(0);
  c.require_float(x);
  const std::string op = c.node.op_type();
  if (c.rank(x) != 3)
    c.fail("X must be (seq_length, batch, input_size) (layout 0) or (batch, seq_length, "
           "input_size) (layout 1), got " +
           dims_str(c.shape(x)));
  st.layout = c.int_attr("layout", 0);
  if (st.layout != 0 && st.layout != 1)
    c.fail("layout must be 0 or 1, got " + std::to_string(st.layout));
  if (st.layout == 1)
    x = c.transpose(x, {1, 0, 2});
  st.x = x;
  st.seq = c.shape(x)[0];
  st.batch = c.shape(x)[1];
  st.input = c.shape(x)[2];
  st.direction = c.string_attr("direction", "forward");
  if (st.direction != "forward" && st.direction != "reverse" && st.direction != "bidirectional")
    c.fail("unknown direction '" + st.direction + "' (forward, reverse, bidirectional)");
  st.dirs = st.direction == "bidirectional" ? 2 : 1;
  if (st.seq * st.dirs > kMaxSteps)
    c.unsupported("a sequence of " + std::to_string(st.seq) +
                      " steps (the importer unrolls at most " + std::to_string(kMaxSteps) +
                      " steps of all directions)",
                  op + " too long to unroll");
  c.in(1); // W and R are required (dz::Error naming the missing input)
  st.hidden = c.has_attr("hidden_size") ? c.int_attr("hidden_size", 0) : c.shape(c.in(2)).back();
  c.in(2);
  if (st.hidden <= 0)
    c.fail("hidden_size must be positive");
  if (c.has(4)) {
    std::vector<int64_t> lens = c.ints_input(4, "sequence_lens");
    for (int64_t len : lens)
      if (len != st.seq)
        c.unsupported("sequence_lens shorter than the sequence (" + std::to_string(len) + " < " +
                          std::to_string(st.seq) + ")",
                      op + " with sequence_lens");
  }
  std::vector<std::string> acts = default_acts;
  if (st.dirs == 2)
    acts.insert(acts.end(), default_acts.begin(), default_acts.end());
  st.acts = c.strings_attr("activations").value_or(acts);
  if (st.acts.size() != per_dir * size_t(st.dirs))
    c.fail("'activations' must name " + std::to_string(per_dir * size_t(st.dirs)) + " functions (" +
           std::to_string(per_dir) + " per direction), got " + std::to_string(st.acts.size()));
  if (c.has_attr("activation_alpha") || c.has_attr("activation_beta"))
    c.unsupported("activation_alpha / activation_beta", op + " activation parameters");
  if (c.has_attr("clip"))
    st.clip = c.float_attr("clip", 0);
  return st;
}

/// Direction d's part of the initial state `s` (dirs, batch, H), or zeros.
Value initial_state(NodeContext &c, const Setup &st, Value s, int64_t d, const char *what) {
  if (!s)
    return c.broadcast(c.scalar(0, st.x), {st.batch, st.hidden});
  if (c.shape(s) != ArrayRef<int64_t>{st.dirs, st.batch, st.hidden})
    c.fail(std::string("its ") + what + " must hold (" + std::to_string(st.dirs) + ", " +
           std::to_string(st.batch) + ", " + std::to_string(st.hidden) + ") in layout " +
           std::to_string(st.layout) + ", got " + dims_str(c.shape(s)));
  return c.reshape(slice(c, s, 0, d, 1), {st.batch, st.hidden});
}

/// Input i in (dirs, batch, H) order (layout 1 gives (batch, dirs, H)), or null.
Value state_input(NodeContext &c, const Setup &st, size_t i) {
  if (!c.has(i))
    return {};
  return st.layout == 1 ? c.transpose(c.in(i), {1, 0, 2}) : c.in(i);
}

/// Y (seq, dirs, batch, H) from the steps, Y_h (dirs, batch, H) as output #1, in the
/// layout of the node; Y only when the node names it.
Value outputs(NodeContext &c, const Setup &st, ArrayRef<Value> steps, ArrayRef<Value> last) {
  Value y_h = stack(c, last, {st.dirs});
  c.add_output(st.layout == 1 ? c.transpose(y_h, {1, 0, 2}) : y_h);
  if (c.node.output(0).empty())
    return y_h;
  Value y = stack(c, steps, {st.seq, st.dirs});
  return st.layout == 1 ? c.transpose(y, {2, 0, 1, 3}) : y;
}

} // namespace

namespace recurrent {

/// RNN (gates: i) and GRU (gates: z, r, h; linear_before_reset), unrolled as LSTM is.
Value rnn_or_gru(NodeContext &c) {
  const bool gru = c.node.op_type() == "GRU";
  const int64_t gates = gru ? 3 : 1;
  Setup st = gru ? parse(c, 2, {"Sigmoid", "Tanh"}) : parse(c, 1, {"Tanh"});
  const int64_t hidden = st.hidden, batch = st.batch, seq = st.seq;
  const bool linear_before_reset = gru && c.int_attr("linear_before_reset", 0) != 0;
  Value h0 = state_input(c, st, 5);
  Value xs = c.reshape(st.x, {seq * batch, st.input});
  std::vector<Value> steps(size_t(seq * st.dirs)), last;
  auto no_transpose = c.b.getBoolAttr(false), transpose = c.b.getBoolAttr(true);
  for (int64_t d = 0; d < st.dirs; ++d) {
    Value w = direction_part(c, 1, d, {st.dirs, gates * hidden, st.input}, "W");
    Value r = direction_part(c, 2, d, {st.dirs, gates * hidden, hidden}, "R");
    Value bias = direction_part(c, 3, d, {st.dirs, 2 * gates * hidden}, "B");
    Value xw = c.make<ir::MatmulOp>(xs, w, no_transpose, transpose); // (seq batch, gates H)
    Value rb; // R's bias of the h gate stays apart for GRU (it is reset with the state)
    if (bias) {
      Value wb = slice(c, bias, 0, 0, gates * hidden);
      if (gru) {
        rb = slice(c, bias, 0, gates * hidden + 2 * hidden, hidden);
        Value rzr = slice(c, bias, 0, gates * hidden, 2 * hidden);
        std::vector<int64_t> first(static_cast<size_t>(2 * hidden));
        std::iota(first.begin(), first.end(), 0);
        Value rzr0 = c.make<ir::GetItemGradOp>(rzr, c.b.getDenseI64ArrayAttr({3 * hidden}),
                                               c.b.getDenseI64ArrayAttr(first)); // (Rbz, Rbr, 0)
        xw = c.add(xw, c.add(wb, rzr0));
      } else {
        xw = c.add(xw, c.add(wb, slice(c, bias, 0, gates * hidden, hidden)));
      }
    }
    xw = c.reshape(xw, {seq, batch, gates * hidden});
    Value h = initial_state(c, st, h0, d, "initial_h");
    const size_t per = gru ? 2 : 1;
    const std::string &f = st.acts[per * size_t(d)];
    auto pre = [&](Value v) { return st.clip ? c.clip(v, -*st.clip, *st.clip) : v; };
    const bool reverse = st.direction == "reverse" || d == 1;
    // GRU: R's z and r rows, and its h rows apart (applied to the reset state).
    Value r_zr = gru ? slice(c, r, 0, 0, 2 * hidden) : Value();
    Value r_h = gru ? slice(c, r, 0, 2 * hidden, hidden) : Value();
    for (int64_t k = 0; k < seq; ++k) {
      const int64_t t = reverse ? seq - 1 - k : k;
      Value xt = c.reshape(slice(c, xw, 0, t, 1), {batch, gates * hidden});
      if (!gru) {
        h = activate(c, f, pre(c.add(xt, c.make<ir::MatmulOp>(h, r, no_transpose, transpose))));
      } else {
        const std::string &g = st.acts[2 * size_t(d) + 1];
        Value zr = c.add(slice(c, xt, 1, 0, 2 * hidden),
                         c.make<ir::MatmulOp>(h, r_zr, no_transpose, transpose));
        Value z = activate(c, f, pre(slice(c, zr, 1, 0, hidden)));
        Value reset = activate(c, f, pre(slice(c, zr, 1, hidden, hidden)));
        Value rh;
        if (linear_before_reset) {
          rh = c.make<ir::MatmulOp>(h, r_h, no_transpose, transpose);
          if (rb)
            rh = c.add(rh, rb);
          rh = c.mul(reset, rh);
        } else {
          rh = c.make<ir::MatmulOp>(c.mul(reset, h), r_h, no_transpose, transpose);
          if (rb)
            rh = c.add(rh, rb);
        }
        Value candidate = activate(c, g, pre(c.add(slice(c, xt, 1, 2 * hidden, hidden), rh)));
        h = c.add(c.mul(c.sub(c.scalar(1, z), z), candidate), c.mul(z, h));
      }
      steps[size_t(t * st.dirs + d)] = h;
    }
    last.push_back(h);
  }
  return outputs(c, st, steps, last);
}

Value lstm(NodeContext &c) {
  const Setup st = parse(c, 3, {"Sigmoid", "Tanh", "Tanh"});
  const Value x = st.x;
  const int64_t layout = st.layout, seq = st.seq, batch = st.batch, input = st.input,
                dirs = st.dirs, hidden = st.hidden;
  const std::string &direction = st.direction;
  const std::vector<std::string> &acts = st.acts;
  const std::optional<double> clip = st.clip;
  const bool input_forget = c.int_attr("input_forget", 0) != 0;

  Value h0 = state_input(c, st, 5), c0 = state_input(c, st, 6);
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
    Value h = initial_state(c, st, h0, d, "initial_h"),
          cell = initial_state(c, st, c0, d, "initial_c");
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
