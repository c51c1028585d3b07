// dzc/layers.h - dz::Layer, a container of parameters and sub-layers registered by name,
// and DeZero's layers (dz::layers, L::): Linear, Conv2d, Deconv2d, RNN, LSTM, GRU,
// BatchNorm, EmbedID.
//
// A Layer is a handle, as a Python reference is: copies share the registry of parameters
// and sub-layers (and every other piece of mutable state, such as an RNN's hidden state).
// A subclass registers its members in its constructor:
//
//   struct Net : dz::Model {
//     L::Linear l1{100}, l2{10};
//     Net() { register_layer("l1", l1); register_layer("l2", l2); }
//     dz::Variable forward(const dz::Variable &x) override { return l2(F::sigmoid(l1(x))); }
//   };
//
// The registry keeps handles, not addresses, so a registered member may be moved or the
// whole object copied; replace a parameter's values with set_data, not by assigning a new
// Parameter to the member (the registry would keep the old one).
//
// Parameters whose shape depends on the first input (Linear without in_size, Conv2d
// without in_channels, BatchNorm) exist from construction with no data; params() lists
// them, optimizers skip them until they have a gradient, and load_weights gives them the
// shape of the file's arrays.
#pragma once

#include <dzc/functions.h>
#include <dzc/functions_nn.h>
#include <dzc/npz.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dz {

namespace detail {
struct LayerRegistry; // the shared state of a Layer handle (layers.cpp)
}

class Layer {
public:
  Layer();
  virtual ~Layer() = default;
  // Copies share the registry; there is no separate move, so a moved-from layer stays a
  // valid handle.
  Layer(const Layer &) = default;
  Layer &operator=(const Layer &) = default;

  /// Adds a parameter under `name` (the registry keeps a handle sharing its node). Names
  /// are non-empty, contain no '/', and are unique among a layer's parameters and layers.
  void register_param(const std::string &name, const Parameter &param);
  /// Adds a sub-layer under `name`; its parameters appear as "name/...".
  void register_layer(const std::string &name, const Layer &layer);

  /// The layer's computation. Override the unary form, or the multi-input form for a
  /// layer of several inputs or outputs; each default calls the other.
  virtual Variable forward(const Variable &x);
  virtual std::vector<Variable> forward(const std::vector<Variable> &xs);
  Variable operator()(const Variable &x) { return forward(x); }
  std::vector<Variable> operator()(const std::vector<Variable> &xs) { return forward(xs); }

  /// Every parameter of this layer and its sub-layers, in registration order (depth
  /// first), each once even when reachable under several names.
  std::vector<Parameter> params() const;
  /// Every parameter with its flattened name ("l1/W"), in registration order; one reachable
  /// under several names is listed under each (save_weights writes one key per name).
  std::vector<std::pair<std::string, Parameter>> named_params() const;
  void cleargrads();
  /// Moves every parameter's data to `dev`; parameters created later start there.
  Layer &to(Device dev);
  Device device() const;
  /// Forgets recurrent state (RNN, LSTM, GRU) in this layer and all its sub-layers.
  void reset_state();

  /// Writes every parameter as an .npz archive that numpy.load opens (keys are the
  /// flattened names), atomically: a failed write leaves the old file intact.
  void save_weights(const std::string &path, bool compressed = false) const;
  /// Loads the parameters from an .npz archive. Every key must exist with the right
  /// shape and dtype, and the file must hold nothing else; otherwise dz::Error lists the
  /// missing keys, unexpected keys and mismatches, and no parameter is changed.
  void load_weights(const std::string &path);

protected:
  /// Runs `reset` whenever reset_state() reaches this layer; `reset` must hold the state
  /// it clears itself (a shared_ptr), not `this`, since copies share the registry.
  void on_reset_state(std::function<void()> reset);

private:
  std::shared_ptr<detail::LayerRegistry> registry_;
};

namespace layers {

/// How a layer draws its weights: randn scaled by sqrt(1 / fan_in) (Default: the book's)
/// or by sqrt(2 / fan_in) (He: for ReLU networks). fan_in is in_size for Linear and
/// C KH KW for Conv2d and Deconv2d. Biases start at zero either way.
enum class Init { Default, He };

struct LinearOptions {
  bool nobias = false;
  std::optional<int64_t> in_size = std::nullopt; // known now, or taken from the first input
  DType dtype = f32;
  Init init = Init::Default;
};

/// y = x W + b with W (in_size, out_size) ~ randn * sqrt(1 / in_size) (sqrt(2 / in_size)
/// with Init::He) and b = zeros.
class Linear : public Layer {
public:
  explicit Linear(int64_t out_size, LinearOptions opts = {});
  Variable forward(const Variable &x) override;
  using Layer::forward;

  int64_t out_size() const { return out_size_; }
  Parameter W, b; // b is null with nobias; W has no data until in_size is known

private:
  void init_W(int64_t in_size);
  int64_t out_size_;
  DType dtype_;
  Init init_;
};

struct Conv2dOptions {
  Size2 stride = 1;
  Size2 pad = 0;
  bool nobias = false;
  std::optional<int64_t> in_channels = std::nullopt; // known now, or taken from the first input
  DType dtype = f32;
  Init init = Init::Default;
};

/// 2-d convolution of NCHW input with W (out_channels, C, KH, KW) ~ randn *
/// sqrt(1 / (C KH KW)) (sqrt(2 / (C KH KW)) with Init::He) and b = zeros(out_channels).
class Conv2d : public Layer {
public:
  Conv2d(int64_t out_channels, Size2 kernel_size, Conv2dOptions opts = {});
  Variable forward(const Variable &x) override;
  using Layer::forward;

  Parameter W, b;

private:
  void init_W(int64_t in_channels);
  int64_t out_channels_;
  Size2 kernel_, stride_, pad_;
  DType dtype_;
  Init init_;
};

struct Deconv2dOptions {
  Size2 stride = 1;
  Size2 pad = 0;
  bool nobias = false;
  std::optional<int64_t> in_channels = std::nullopt;
  DType dtype = f32;
  std::optional<Size2> outsize =
      std::nullopt; // default: the smallest output that convolves back to x
  Init init = Init::Default;
};

/// Transposed convolution with W (C, out_channels, KH, KW) ~ randn * sqrt(1 / (C KH KW))
/// (sqrt(2 / (C KH KW)) with Init::He).
class Deconv2d : public Layer {
public:
  Deconv2d(int64_t out_channels, Size2 kernel_size, Deconv2dOptions opts = {});
  Variable forward(const Variable &x) override;
  using Layer::forward;

  Parameter W, b;

private:
  void init_W(int64_t in_channels);
  int64_t out_channels_;
  Size2 kernel_, stride_, pad_;
  std::optional<Size2> outsize_;
  DType dtype_;
  Init init_;
};

struct RNNOptions {
  std::optional<int64_t> in_size = std::nullopt;
  DType dtype = f32;
};

/// h = tanh(x2h(x) + h2h(h_prev)), h2h without bias; the first step after construction
/// or reset_state() has no h_prev.
class RNN : public Layer {
public:
  explicit RNN(int64_t hidden_size, RNNOptions opts = {});
  Variable forward(const Variable &x) override;
  using Layer::forward;
  Variable h() const; // the current hidden state (null before the first step)

  Linear x2h, h2h;

private:
  struct State;
  std::shared_ptr<State> state_;
};

/// DeZero's LSTM: gates f, i, o (sigmoid) and u (tanh) from x2* (with bias) and h2*
/// (without); c = f c_prev + i u; h = o tanh(c).
class LSTM : public Layer {
public:
  explicit LSTM(int64_t hidden_size, RNNOptions opts = {});
  Variable forward(const Variable &x) override;
  using Layer::forward;
  Variable h() const;
  Variable c() const;

  Linear x2f, x2i, x2o, x2u, h2f, h2i, h2o, h2u;

private:
  struct State;
  std::shared_ptr<State> state_;
};

/// A gated recurrent unit (Cho et al., ONNX's GRU with linear_before_reset = 0): update
/// gate z = sigmoid(x2z(x) + h2z(h_prev)), reset gate r = sigmoid(x2r(x) + h2r(h_prev)),
/// candidate n = tanh(x2h(x) + h2h(r h_prev)), h = (1 - z) n + z h_prev; x2* with bias,
/// h2* without. The first step after construction or reset_state() has h_prev = 0.
class GRU : public Layer {
public:
  explicit GRU(int64_t hidden_size, RNNOptions opts = {});
  Variable forward(const Variable &x) override;
  using Layer::forward;
  Variable h() const; // the current hidden state (null before the first step)

  Linear x2z, x2r, x2h, h2z, h2r, h2h;

private:
  struct State;
  std::shared_ptr<State> state_;
};

struct BatchNormOptions {
  double decay = 0.9; // running average: avg = decay avg + (1 - decay) batch statistic
  double eps = 2e-5;
};

/// Batch normalisation over axis 1 (and the spatial axes of 4-d input). gamma, beta and
/// the running averages avg_mean, avg_var take the channel count of the first input;
/// the running averages are parameters (so save_weights keeps them) that never receive
/// a gradient (so optimizers leave them alone).
class BatchNorm : public Layer {
public:
  explicit BatchNorm(BatchNormOptions opts = {});
  Variable forward(const Variable &x) override;
  using Layer::forward;

  Parameter avg_mean, avg_var, gamma, beta;

private:
  double decay_, eps_;
};

/// Looks up rows of W (in_size, out_size) ~ randn for integer ids.
class EmbedID : public Layer {
public:
  EmbedID(int64_t in_size, int64_t out_size, DType dtype = f32);
  Variable forward(const Variable &x) override;
  using Layer::forward;

  Parameter W;
};

} // namespace layers
} // namespace dz
