// layers.cpp - dz::Layer (the registry of parameters and sub-layers, walks over it, saving
// and loading weights) and the layers of dz::layers.
#include <dzc/layers.h>
#include <dzc/npz.h>

#include <cmath>
#include <map>
#include <set>
#include <unordered_set>

namespace dz {

namespace F = functions;

namespace detail {
struct LayerRegistry {
  struct Entry {
    std::string name;
    Parameter param;                      // a parameter entry, or
    std::shared_ptr<LayerRegistry> layer; // a sub-layer entry
  };
  std::vector<Entry> entries;
  Device device;
  std::vector<std::function<void()>> resets;
};
} // namespace detail

namespace {

using detail::LayerRegistry;

/// The data of a parameter whose shape is not known yet (DeZero's `Parameter(None)`): a
/// tensor without storage, so `data().defined()` is false.
Tensor no_data() {
  Tensor t;
  Tensor taken = std::move(t);
  return t;
}

bool has_data(const Variable &p) { return p.data().defined(); }

/// Calls fn(registry) for `r` and every registry below it, depth first.
template <typename Fn> void each_registry(LayerRegistry &r, const Fn &fn) {
  fn(r);
  for (auto &e : r.entries)
    if (e.layer)
      each_registry(*e.layer, fn);
}

struct NamedParam {
  std::string name;
  Parameter param;
  Device device; // of the layer that owns it
};

void collect(const LayerRegistry &r, const std::string &prefix, std::vector<NamedParam> &out) {
  for (const auto &e : r.entries) {
    if (e.layer)
      collect(*e.layer, prefix + e.name + "/", out);
    else
      out.push_back({prefix + e.name, e.param, r.device});
  }
}

std::vector<NamedParam> collect(const LayerRegistry &r) {
  std::vector<NamedParam> out;
  collect(r, "", out);
  return out;
}

bool reaches(const LayerRegistry &from, const LayerRegistry *target) {
  if (&from == target)
    return true;
  for (const auto &e : from.entries)
    if (e.layer && reaches(*e.layer, target))
      return true;
  return false;
}

void check_new_name(const LayerRegistry &r, const std::string &name, const char *op) {
  if (name.empty() || name.find('/') != std::string::npos)
    throw Error(std::string(op) + ": invalid name '" + name +
                "': a name is non-empty and has no '/' (the separator of flattened names "
                "such as \"l1/W\")");
  for (const auto &e : r.entries)
    if (e.name == name)
      throw Error(std::string(op) + ": the name '" + name +
                  "' is already registered in this layer; every parameter and sub-layer "
                  "needs its own name");
}

/// "a, b, c" with at most `limit` items, then "... and N more".
std::string join_some(const std::vector<std::string> &items, const char *sep, size_t limit = 20) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < limit; ++i)
    out += (i ? sep : "") + items[i];
  if (items.size() > limit)
    out += std::string(sep) + "... and " + std::to_string(items.size() - limit) + " more";
  return out;
}

/// A randn tensor scaled by sqrt(gain / fan_in) on `dev` (gain 1, or 2 for He), from the
/// default generator (so dz::manual_seed makes initialisation reproducible).
Tensor scaled_randn(const Shape &shape, int64_t fan_in, DType dtype, Device dev,
                    layers::Init init = layers::Init::Default) {
  // Not recorded when dz::compile traces the first forward (as BatchNorm's state below):
  // the weights are state, and on a device they are made on the CPU and moved there.
  TraceScope off;
  const double gain = init == layers::Init::He ? 2.0 : 1.0;
  return (randn(shape, dtype, default_generator()) * std::sqrt(gain / double(fan_in))).to(dev);
}

layers::Init checked_init(layers::Init init, const char *layer) {
  if (init != layers::Init::Default && init != layers::Init::He)
    throw Error(std::string(layer) + ": unknown init " + std::to_string(int(init)) +
                " (valid: L::Init::Default, L::Init::He)");
  return init;
}

std::optional<Variable> optional_bias(const Parameter &b) {
  return b.defined() ? std::optional<Variable>(b) : std::nullopt;
}

} // namespace

// ---- Layer -------------------------------------------------------------------------------

Layer::Layer() : registry_(std::make_shared<LayerRegistry>()) {}

void Layer::register_param(const std::string &name, const Parameter &param) {
  check_new_name(*registry_, name, "register_param");
  if (!param.defined())
    throw Error("register_param: '" + name +
                "' is a null Parameter (default-constructed); create it with data, or with "
                "the data to come later through set_data");
  registry_->entries.push_back({name, param, nullptr});
}

void Layer::register_layer(const std::string &name, const Layer &layer) {
  check_new_name(*registry_, name, "register_layer");
  if (reaches(*layer.registry_, registry_.get()))
    throw Error("register_layer: registering '" + name +
                "' would make the layer contain itself (a cycle of sub-layers)");
  registry_->entries.push_back({name, Parameter(), layer.registry_});
}

void Layer::on_reset_state(std::function<void()> reset) {
  registry_->resets.push_back(std::move(reset));
}

Variable Layer::forward(const Variable &x) {
  // Reached when a subclass overrides only the multi-input forward, or neither: the guard
  // turns the second case into an error instead of endless recursion.
  static thread_local const Layer *defaulting = nullptr;
  if (defaulting == this)
    throw Error("Layer::forward: this layer overrides neither forward(const Variable &) nor "
                "forward(const std::vector<Variable> &); a layer must define one of them");
  const Layer *outer = defaulting;
  defaulting = this;
  std::vector<Variable> ys;
  try {
    ys = forward(std::vector<Variable>{x});
  } catch (...) {
    defaulting = outer;
    throw;
  }
  defaulting = outer;
  if (ys.size() != 1)
    throw Error("Layer::forward: called with one input, the layer's multi-input forward "
                "returned " +
                std::to_string(ys.size()) + " outputs; call it with a vector to get them all");
  return ys[0];
}

std::vector<Variable> Layer::forward(const std::vector<Variable> &xs) {
  if (xs.size() != 1)
    throw Error("Layer::forward: this layer takes one input, got " + std::to_string(xs.size()));
  return {forward(xs[0])};
}

std::vector<Parameter> Layer::params() const {
  std::vector<Parameter> out;
  std::unordered_set<const VariableNode *> seen;
  for (auto &np : collect(*registry_))
    if (seen.insert(np.param.node().get()).second)
      out.push_back(np.param);
  return out;
}

std::vector<std::pair<std::string, Parameter>> Layer::named_params() const {
  std::vector<std::pair<std::string, Parameter>> out;
  for (auto &np : collect(*registry_))
    out.emplace_back(std::move(np.name), std::move(np.param));
  return out;
}

void Layer::cleargrads() {
  for (Parameter &p : params())
    p.cleargrad();
}

Layer &Layer::to(Device dev) {
  each_registry(*registry_, [&](LayerRegistry &r) {
    r.device = dev;
    for (auto &e : r.entries)
      if (!e.layer && has_data(e.param))
        e.param.set_data(e.param.data().to(dev));
  });
  return *this;
}

Device Layer::device() const { return registry_->device; }

void Layer::reset_state() {
  each_registry(*registry_, [](LayerRegistry &r) {
    for (auto &reset : r.resets)
      reset();
  });
}

void Layer::save_weights(const std::string &path, bool compressed) const {
  NamedTensors arrays;
  std::vector<std::string> empty;
  for (auto &np : collect(*registry_)) {
    if (!has_data(np.param))
      empty.push_back(np.name);
    else
      arrays.emplace_back(np.name, np.param.data());
  }
  if (!empty.empty())
    throw Error("save_weights: '" + path + "' not written: " + join_some(empty, ", ") +
                (empty.size() == 1 ? " has" : " have") +
                " no data yet (the shape comes from the first input); run a forward pass "
                "first");
  save_npz(path, arrays, compressed);
}

void Layer::load_weights(const std::string &path) {
  const NamedTensors file = load_npz(path);
  std::map<std::string, const Tensor *> by_key;
  for (const auto &[key, t] : file)
    by_key[key] = &t;

  const std::vector<NamedParam> model = collect(*registry_);
  std::set<std::string> model_keys;
  std::vector<std::string> missing, unexpected, mismatched;
  for (const NamedParam &np : model) {
    model_keys.insert(np.name);
    auto it = by_key.find(np.name);
    if (it == by_key.end()) {
      missing.push_back(np.name);
      continue;
    }
    const Tensor &t = *it->second;
    if (!has_data(np.param))
      continue; // a lazily sized parameter takes the file's shape
    const Tensor &mine = np.param.data();
    if (t.shape() != mine.shape())
      mismatched.push_back(np.name + ": file " + shape_str(t.shape()) + " vs model " +
                           shape_str(mine.shape()));
    else if (t.dtype() != mine.dtype())
      mismatched.push_back(np.name + ": file " + dtype_name(t.dtype()) + " vs model " +
                           dtype_name(mine.dtype()));
  }
  for (const auto &[key, t] : file)
    if (!model_keys.count(key))
      unexpected.push_back(key);

  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::string msg = "load_weights: '" + path + "' does not match the model (nothing loaded)";
    if (!missing.empty())
      msg += "\n  missing keys (in the model, not in the file): " + join_some(missing, ", ");
    if (!unexpected.empty())
      msg += "\n  unexpected keys (in the file, not in the model): " + join_some(unexpected, ", ");
    if (!mismatched.empty())
      msg += "\n  mismatches:\n    " + join_some(mismatched, "\n    ");
    throw Error(msg);
  }

  for (const NamedParam &np : model) {
    const Tensor src = by_key.at(np.name)->to(np.device);
    if (has_data(np.param)) {
      Tensor dst = np.param.data(); // copy in place: every holder of the storage sees it
      dst.copy_(src);
    } else {
      Parameter p = np.param;
      p.set_data(src);
    }
  }
}

namespace layers {

// ---- Linear ------------------------------------------------------------------------------

Linear::Linear(int64_t out_size, LinearOptions opts)
    : out_size_(out_size), dtype_(opts.dtype), init_(checked_init(opts.init, "Linear")) {
  if (out_size <= 0)
    throw Error("Linear: out_size must be positive, got " + std::to_string(out_size));
  W = Parameter(no_data(), "W");
  register_param("W", W);
  if (opts.in_size) {
    if (*opts.in_size <= 0)
      throw Error("Linear: in_size must be positive, got " + std::to_string(*opts.in_size));
    init_W(*opts.in_size);
  }
  if (!opts.nobias) {
    b = Parameter(zeros({out_size}, dtype_), "b");
    register_param("b", b);
  }
}

void Linear::init_W(int64_t in_size) {
  W.set_data(scaled_randn({in_size, out_size_}, in_size, dtype_, device(), init_));
}

Variable Linear::forward(const Variable &x) {
  if (x.ndim() < 1)
    throw Error("Linear: the input must have at least one axis (N, in_size); got a 0-d "
                "variable");
  const int64_t in = x.shape().back();
  if (!has_data(W))
    init_W(in);
  else if (W.shape()[0] != in)
    throw Error("Linear: the input has " + std::to_string(in) + " features (shape " +
                shape_str(x.shape()) + ") but W is " + shape_str(W.shape()) +
                ": this layer takes in_size " + std::to_string(W.shape()[0]));
  return F::linear(x, W, optional_bias(b));
}

// ---- Conv2d, Deconv2d ------------------------------------------------------------------------

namespace {
void check_positive(int64_t v, const char *what, const char *layer) {
  if (v <= 0)
    throw Error(std::string(layer) + ": " + what + " must be positive, got " + std::to_string(v));
}
void check_positive(Size2 v, const char *what, const char *layer) {
  if (v.h <= 0 || v.w <= 0)
    throw Error(std::string(layer) + ": " + what + " must be positive, got (" +
                std::to_string(v.h) + ", " + std::to_string(v.w) + ")");
}
int64_t image_channels(const Variable &x, const Parameter &W, int w_axis, const char *layer) {
  if (x.ndim() != 4)
    throw Error(std::string(layer) + ": the input must be 4-d (N, C, H, W), got shape " +
                shape_str(x.shape()));
  if (has_data(W) && W.shape()[w_axis] != x.shape()[1])
    throw Error(std::string(layer) + ": the input has " + std::to_string(x.shape()[1]) +
                " channels (shape " + shape_str(x.shape()) + ") but W is " + shape_str(W.shape()) +
                ": this layer takes " + std::to_string(W.shape()[w_axis]) + " input channels");
  return x.shape()[1];
}

/// What Conv2d and Deconv2d constructors share: checks of the geometry, W registered
/// without data (it is created once the input channels are known) and the bias.
void register_conv_params(Layer &layer, Parameter &W, Parameter &b, int64_t out_channels,
                          Size2 kernel_size, Size2 stride, bool nobias,
                          std::optional<int64_t> in_channels, DType dtype, const char *name) {
  check_positive(out_channels, "out_channels", name);
  check_positive(kernel_size, "kernel_size", name);
  check_positive(stride, "stride", name);
  if (in_channels)
    check_positive(*in_channels, "in_channels", name);
  W = Parameter(no_data(), "W");
  layer.register_param("W", W);
  if (!nobias) {
    b = Parameter(zeros({out_channels}, dtype), "b");
    layer.register_param("b", b);
  }
}
} // namespace

Conv2d::Conv2d(int64_t out_channels, Size2 kernel_size, Conv2dOptions opts)
    : out_channels_(out_channels), kernel_(kernel_size), stride_(opts.stride), pad_(opts.pad),
      dtype_(opts.dtype), init_(checked_init(opts.init, "Conv2d")) {
  register_conv_params(*this, W, b, out_channels, kernel_size, opts.stride, opts.nobias,
                       opts.in_channels, dtype_, "Conv2d");
  if (opts.in_channels)
    init_W(*opts.in_channels);
}

void Conv2d::init_W(int64_t C) {
  W.set_data(scaled_randn({out_channels_, C, kernel_.h, kernel_.w}, C * kernel_.h * kernel_.w,
                          dtype_, device(), init_));
}

Variable Conv2d::forward(const Variable &x) {
  const int64_t C = image_channels(x, W, 1, "Conv2d");
  if (!has_data(W))
    init_W(C);
  return F::conv2d(x, W, optional_bias(b), stride_, pad_);
}

Deconv2d::Deconv2d(int64_t out_channels, Size2 kernel_size, Deconv2dOptions opts)
    : out_channels_(out_channels), kernel_(kernel_size), stride_(opts.stride), pad_(opts.pad),
      outsize_(opts.outsize), dtype_(opts.dtype), init_(checked_init(opts.init, "Deconv2d")) {
  register_conv_params(*this, W, b, out_channels, kernel_size, opts.stride, opts.nobias,
                       opts.in_channels, dtype_, "Deconv2d");
  if (opts.in_channels)
    init_W(*opts.in_channels);
}

void Deconv2d::init_W(int64_t C) {
  W.set_data(scaled_randn({C, out_channels_, kernel_.h, kernel_.w}, C * kernel_.h * kernel_.w,
                          dtype_, device(), init_));
}

Variable Deconv2d::forward(const Variable &x) {
  const int64_t C = image_channels(x, W, 0, "Deconv2d");
  if (!has_data(W))
    init_W(C);
  return F::deconv2d(x, W, optional_bias(b), stride_, pad_, outsize_);
}

// ---- RNN, LSTM ---------------------------------------------------------------------------

struct RNN::State {
  Variable h;
};

RNN::RNN(int64_t hidden_size, RNNOptions opts)
    : x2h(hidden_size, {.in_size = opts.in_size, .dtype = opts.dtype}),
      h2h(hidden_size, {.nobias = true, .in_size = hidden_size, .dtype = opts.dtype}),
      state_(std::make_shared<State>()) {
  register_layer("x2h", x2h);
  register_layer("h2h", h2h);
  on_reset_state([s = state_] { s->h = Variable(); });
}

Variable RNN::forward(const Variable &x) {
  Variable h_new = state_->h ? F::tanh(x2h(x) + h2h(state_->h)) : F::tanh(x2h(x));
  state_->h = h_new;
  return h_new;
}

Variable RNN::h() const { return state_->h; }

struct LSTM::State {
  Variable h, c;
};

LSTM::LSTM(int64_t hidden_size, RNNOptions opts)
    : x2f(hidden_size, {.in_size = opts.in_size, .dtype = opts.dtype}),
      x2i(hidden_size, {.in_size = opts.in_size, .dtype = opts.dtype}),
      x2o(hidden_size, {.in_size = opts.in_size, .dtype = opts.dtype}),
      x2u(hidden_size, {.in_size = opts.in_size, .dtype = opts.dtype}),
      h2f(hidden_size, {.nobias = true, .in_size = hidden_size, .dtype = opts.dtype}),
      h2i(hidden_size, {.nobias = true, .in_size = hidden_size, .dtype = opts.dtype}),
      h2o(hidden_size, {.nobias = true, .in_size = hidden_size, .dtype = opts.dtype}),
      h2u(hidden_size, {.nobias = true, .in_size = hidden_size, .dtype = opts.dtype}),
      state_(std::make_shared<State>()) {
  register_layer("x2f", x2f);
  register_layer("x2i", x2i);
  register_layer("x2o", x2o);
  register_layer("x2u", x2u);
  register_layer("h2f", h2f);
  register_layer("h2i", h2i);
  register_layer("h2o", h2o);
  register_layer("h2u", h2u);
  on_reset_state([s = state_] { s->h = s->c = Variable(); });
}

Variable LSTM::forward(const Variable &x) {
  const Variable &h = state_->h;
  Variable f, i, o, u;
  if (!h) {
    f = F::sigmoid(x2f(x));
    i = F::sigmoid(x2i(x));
    o = F::sigmoid(x2o(x));
    u = F::tanh(x2u(x));
  } else {
    f = F::sigmoid(x2f(x) + h2f(h));
    i = F::sigmoid(x2i(x) + h2i(h));
    o = F::sigmoid(x2o(x) + h2o(h));
    u = F::tanh(x2u(x) + h2u(h));
  }
  Variable c_new = state_->c ? f * state_->c + i * u : i * u;
  Variable h_new = o * F::tanh(c_new);
  state_->h = h_new;
  state_->c = c_new;
  return h_new;
}

Variable LSTM::h() const { return state_->h; }
Variable LSTM::c() const { return state_->c; }

struct GRU::State {
  Variable h;
};

GRU::GRU(int64_t hidden_size, RNNOptions opts)
    : x2z(hidden_size, {.in_size = opts.in_size, .dtype = opts.dtype}),
      x2r(hidden_size, {.in_size = opts.in_size, .dtype = opts.dtype}),
      x2h(hidden_size, {.in_size = opts.in_size, .dtype = opts.dtype}),
      h2z(hidden_size, {.nobias = true, .in_size = hidden_size, .dtype = opts.dtype}),
      h2r(hidden_size, {.nobias = true, .in_size = hidden_size, .dtype = opts.dtype}),
      h2h(hidden_size, {.nobias = true, .in_size = hidden_size, .dtype = opts.dtype}),
      state_(std::make_shared<State>()) {
  register_layer("x2z", x2z);
  register_layer("x2r", x2r);
  register_layer("x2h", x2h);
  register_layer("h2z", h2z);
  register_layer("h2r", h2r);
  register_layer("h2h", h2h);
  on_reset_state([s = state_] { s->h = Variable(); });
}

Variable GRU::forward(const Variable &x) {
  const Variable &h = state_->h;
  Variable h_new;
  if (!h) { // h_prev = 0: r has nothing to reset, and z h_prev vanishes
    if (!has_data(x2r.W))
      x2r(x); // x2r's W takes its shape from the first input, as the others' do
    Variable z = F::sigmoid(x2z(x));
    h_new = (1.0 - z) * F::tanh(x2h(x));
  } else {
    Variable z = F::sigmoid(x2z(x) + h2z(h));
    Variable r = F::sigmoid(x2r(x) + h2r(h));
    Variable n = F::tanh(x2h(x) + h2h(r * h));
    h_new = (1.0 - z) * n + z * h;
  }
  state_->h = h_new;
  return h_new;
}

Variable GRU::h() const { return state_->h; }

// ---- BatchNorm ---------------------------------------------------------------------------

BatchNorm::BatchNorm(BatchNormOptions opts)
    : avg_mean(no_data(), "avg_mean"), avg_var(no_data(), "avg_var"), gamma(no_data(), "gamma"),
      beta(no_data(), "beta"), decay_(opts.decay), eps_(opts.eps) {
  register_param("avg_mean", avg_mean);
  register_param("avg_var", avg_var);
  register_param("gamma", gamma);
  register_param("beta", beta);
}

Variable BatchNorm::forward(const Variable &x) {
  if (x.ndim() < 2)
    throw Error("BatchNorm: the input must be (N, C) or (N, C, H, W), got shape " +
                shape_str(x.shape()));
  const int64_t D = x.shape()[1];
  const DType dt = x.dtype();
  const Device dev = device();
  const std::pair<Parameter *, double> inits[] = {
      {&avg_mean, 0.0}, {&avg_var, 1.0}, {&gamma, 1.0}, {&beta, 0.0}};
  {
    // Not recorded when dz::compile traces the first forward: the new tensors are state
    // (read from these parameters on every call), not constants recomputed by each call.
    TraceScope off;
    for (auto [p, fill] : inits)
      if (!has_data(*p))
        p->set_data(full({D}, fill, dt).to(dev));
  }
  Tensor mean = avg_mean.data(), var = avg_var.data();
  Variable y = F::batch_norm(x, gamma, beta, mean, var, decay_, eps_);
  // Training updates the running averages in their tensors, in place; test mode only reads
  // them. Nothing is reassigned, so a forward pass in test mode changes no Variable (and
  // exports to ONNX as a pure function of its input).
  if (!mean.shares_storage(avg_mean.data()))
    avg_mean.set_data(mean);
  if (!var.shares_storage(avg_var.data()))
    avg_var.set_data(var);
  return y;
}

// ---- EmbedID -----------------------------------------------------------------------------

EmbedID::EmbedID(int64_t in_size, int64_t out_size, DType dtype) {
  check_positive(in_size, "in_size", "EmbedID");
  check_positive(out_size, "out_size", "EmbedID");
  W = Parameter(randn({in_size, out_size}, dtype, default_generator()), "W");
  register_param("W", W);
}

Variable EmbedID::forward(const Variable &x) { return F::embed_id(x, W); }

} // namespace layers
} // namespace dz
