// dzc/models.h - dz::Model (a Layer that is a whole network) and DeZero's models
// (dz::models, M::): Sequential, MLP, VGG16 and ResNet-50/101/152.
//
//   M::MLP mlp({10, 3});                          // sigmoid between the layers
//   M::Sequential seq({L::Linear(100), F::relu, L::Linear(10)});
//   M::ResNet resnet(50, "resnet50.npz");         // weights from a local .npz
//
// VGG16 and ResNet have DeZero's architectures and parameter names. Their layers are
// sized at construction, except VGG16's fc6, whose input size comes from the image size
// (25088 for 224x224). Pretrained weights load from a user-supplied .npz (written by
// save_weights, or converted from DeZero's files) since nothing is downloaded here.
#pragma once

#include <dzc/layers.h>

#include <array>
#include <concepts>
#include <functional>
#include <initializer_list>
#include <type_traits>

namespace dz {

class Model : public Layer {
public:
  /// Runs forward(x) and draws the graph of the result with Graphviz
  /// (dz::utils::plot_dot_graph: throws dz::Error when `dot` is not installed).
  void plot(const Variable &x, const std::string &to_file = "model.png");
};

namespace models {

using Activation = std::function<Variable(const Variable &)>;

/// Layers and functions applied in order. Layer i of the list is registered as "i", so
/// Sequential({L::Linear(10), F::relu, L::Linear(3)}) has "0/W", "0/b", "2/W", "2/b".
class Sequential : public Model {
public:
  /// One step: a layer (held as a copy of its handle, which shares its parameters with
  /// the original) or a function of one Variable.
  class Step {
  public:
    template <std::derived_from<Layer> T>
    Step(const T &layer) : layer_(std::make_shared<T>(layer)) {}
    template <typename Fn>
    requires(!std::derived_from<std::remove_cvref_t<Fn>, Layer> &&
             std::is_invocable_r_v<Variable, Fn &, const Variable &>) Step(Fn fn)
        : fn_(std::move(fn)) {}

  private:
    friend class Sequential;
    std::shared_ptr<Layer> layer_;
    Activation fn_;
  };

  Sequential(std::initializer_list<Step> steps = {});
  Sequential &append(Step step);
  Variable forward(const Variable &x) override;
  using Layer::forward;

  size_t size() const { return steps_->size(); }
  /// The layer of step i (a handle sharing its state), or null when step i is a function.
  std::shared_ptr<Layer> layer(size_t i) const;

private:
  std::shared_ptr<std::vector<Step>> steps_; // shared by copies, as the registry is
};

/// Linear layers of the given output sizes (sized lazily), `activation` between them.
/// Names: "l0/W", "l0/b", "l1/W", ...
class MLP : public Model {
public:
  explicit MLP(std::vector<int64_t> fc_output_sizes, Activation activation = functions::sigmoid);
  Variable forward(const Variable &x) override;
  using Layer::forward;

  std::vector<dz::layers::Linear> layers;

private:
  Activation activation_;
};

/// VGG-16 (Simonyan & Zisserman): 13 3x3 convolutions with ReLU in five blocks of
/// 64-128-256-512-512 channels, each block ending in 2x2 max pooling; fc6 and fc7 (4096,
/// ReLU, dropout) and fc8 (1000). Input (N, 3, 224, 224) for the ImageNet weights.
class VGG16 : public Model {
public:
  explicit VGG16(std::optional<std::string> weights_npz = {});
  Variable forward(const Variable &x) override;
  using Layer::forward;

  /// An RGB image (H, W, 3), any dtype, to the network's input: float32 (3, H, W), BGR,
  /// minus the ImageNet channel means (DeZero's preprocess, without its resizing).
  static Tensor preprocess(const Tensor &image);

  layers::Conv2d conv1_1, conv1_2, conv2_1, conv2_2, conv3_1, conv3_2, conv3_3, conv4_1, conv4_2,
      conv4_3, conv5_1, conv5_2, conv5_3;
  layers::Linear fc6, fc7, fc8;
};

/// ResNet's bottleneck that changes the channel count (and the resolution, by `stride`):
/// relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x))))))) + bn4(conv4(x))). The stride
/// sits on the first 1x1 convolution (MSRA), or on the 3x3 one with downsample_fb.
class BottleneckA : public Layer {
public:
  BottleneckA(int64_t in_channels, int64_t mid_channels, int64_t out_channels, int64_t stride = 2,
              bool downsample_fb = false);
  Variable forward(const Variable &x) override;
  using Layer::forward;

  layers::Conv2d conv1;
  layers::BatchNorm bn1;
  layers::Conv2d conv2;
  layers::BatchNorm bn2;
  layers::Conv2d conv3;
  layers::BatchNorm bn3;
  layers::Conv2d conv4;
  layers::BatchNorm bn4;
};

/// ResNet's bottleneck with an identity shortcut: relu(bn3(conv3(...)) + x).
class BottleneckB : public Layer {
public:
  BottleneckB(int64_t in_channels, int64_t mid_channels);
  Variable forward(const Variable &x) override;
  using Layer::forward;

  layers::Conv2d conv1;
  layers::BatchNorm bn1;
  layers::Conv2d conv2;
  layers::BatchNorm bn2;
  layers::Conv2d conv3;
  layers::BatchNorm bn3;
};

/// One stage of ResNet: a BottleneckA ("a") then n_layers - 1 BottleneckB ("b1", "b2", ...).
class BuildingBlock : public Layer {
public:
  BuildingBlock(int n_layers, int64_t in_channels, int64_t mid_channels, int64_t out_channels,
                int64_t stride, bool downsample_fb = false);
  Variable forward(const Variable &x) override;
  using Layer::forward;

  BottleneckA a;
  std::vector<BottleneckB> b;
};

/// ResNet-50/101/152 (He et al.) as DeZero builds it: conv1 (7x7, stride 2) + bn1 + relu,
/// 3x3 max pooling (stride 2), stages res2..res5 of [3,4,6,3], [3,4,23,3] or [3,8,36,3]
/// bottlenecks, global average pooling and fc6 (1000).
class ResNet : public Model {
public:
  explicit ResNet(int n_layers = 152, std::optional<std::string> weights_npz = {});
  Variable forward(const Variable &x) override;
  using Layer::forward;

  /// Bottlenecks per stage for n_layers 50, 101 or 152; dz::Error for any other value.
  static std::array<int, 4> stage_sizes(int n_layers);

  layers::Conv2d conv1;
  layers::BatchNorm bn1;
  BuildingBlock res2, res3, res4, res5;
  layers::Linear fc6;
};

class ResNet50 : public ResNet {
public:
  explicit ResNet50(std::optional<std::string> weights_npz = {}) : ResNet(50, weights_npz) {}
};
class ResNet101 : public ResNet {
public:
  explicit ResNet101(std::optional<std::string> weights_npz = {}) : ResNet(101, weights_npz) {}
};
class ResNet152 : public ResNet {
public:
  explicit ResNet152(std::optional<std::string> weights_npz = {}) : ResNet(152, weights_npz) {}
};

} // namespace models
} // namespace dz
