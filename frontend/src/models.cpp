// models.cpp - dz::Model and the models of dz::models (Sequential, MLP, VGG16, ResNet).
#include <dzc/models.h>
#include <dzc/utils.h>

namespace dz {

namespace F = functions;
namespace L = layers;

void Model::plot(const Variable &x, const std::string &to_file) {
  utils::plot_dot_graph(forward(x), true, to_file);
}

namespace models {

// ---- Sequential --------------------------------------------------------------------------

Sequential::Sequential(std::initializer_list<Step> steps)
    : steps_(std::make_shared<std::vector<Step>>()) {
  for (const Step &s : steps)
    append(s);
}

Sequential &Sequential::append(Step step) {
  if (step.layer_)
    register_layer(std::to_string(steps_->size()), *step.layer_);
  else if (!step.fn_)
    throw Error("Sequential: step " + std::to_string(steps_->size()) +
                " is an empty function; a step is a layer or a callable");
  steps_->push_back(std::move(step));
  return *this;
}

Variable Sequential::forward(const Variable &x) {
  Variable h = x;
  for (Step &s : *steps_)
    h = s.layer_ ? (*s.layer_)(h) : s.fn_(h);
  return h;
}

std::shared_ptr<Layer> Sequential::layer(size_t i) const {
  if (i >= steps_->size())
    throw Error("Sequential::layer: index " + std::to_string(i) + " out of range for " +
                std::to_string(steps_->size()) + " steps");
  return (*steps_)[i].layer_;
}

// ---- MLP ---------------------------------------------------------------------------------

MLP::MLP(std::vector<int64_t> fc_output_sizes, Activation activation)
    : activation_(std::move(activation)) {
  if (fc_output_sizes.empty())
    throw Error("MLP: fc_output_sizes is empty; give the output size of every layer, e.g. "
                "{10, 3}");
  if (!activation_)
    throw Error("MLP: the activation is an empty function");
  for (size_t i = 0; i < fc_output_sizes.size(); ++i) {
    layers.emplace_back(fc_output_sizes[i]);
    register_layer("l" + std::to_string(i), layers.back());
  }
}

Variable MLP::forward(const Variable &x) {
  Variable h = x;
  for (size_t i = 0; i + 1 < layers.size(); ++i)
    h = activation_(layers[i](h));
  return layers.back()(h);
}

// ---- VGG16 -------------------------------------------------------------------------------

namespace {
L::Conv2d conv3x3(int64_t in_channels, int64_t out_channels) {
  return L::Conv2d(out_channels, 3, {.stride = 1, .pad = 1, .in_channels = in_channels});
}
} // namespace

VGG16::VGG16(std::optional<std::string> weights_npz)
    : conv1_1(conv3x3(3, 64)), conv1_2(conv3x3(64, 64)), conv2_1(conv3x3(64, 128)),
      conv2_2(conv3x3(128, 128)), conv3_1(conv3x3(128, 256)), conv3_2(conv3x3(256, 256)),
      conv3_3(conv3x3(256, 256)), conv4_1(conv3x3(256, 512)), conv4_2(conv3x3(512, 512)),
      conv4_3(conv3x3(512, 512)), conv5_1(conv3x3(512, 512)), conv5_2(conv3x3(512, 512)),
      conv5_3(conv3x3(512, 512)), fc6(4096), fc7(4096, {.in_size = 4096}),
      fc8(1000, {.in_size = 4096}) {
  const std::pair<const char *, L::Conv2d *> convs[] = {
      {"conv1_1", &conv1_1}, {"conv1_2", &conv1_2}, {"conv2_1", &conv2_1}, {"conv2_2", &conv2_2},
      {"conv3_1", &conv3_1}, {"conv3_2", &conv3_2}, {"conv3_3", &conv3_3}, {"conv4_1", &conv4_1},
      {"conv4_2", &conv4_2}, {"conv4_3", &conv4_3}, {"conv5_1", &conv5_1}, {"conv5_2", &conv5_2},
      {"conv5_3", &conv5_3}};
  for (auto [name, conv] : convs)
    register_layer(name, *conv);
  register_layer("fc6", fc6);
  register_layer("fc7", fc7);
  register_layer("fc8", fc8);
  if (weights_npz)
    load_weights(*weights_npz);
}

Variable VGG16::forward(const Variable &x) {
  Variable h = F::relu(conv1_1(x));
  h = F::relu(conv1_2(h));
  h = F::pooling(h, 2, 2);
  h = F::relu(conv2_1(h));
  h = F::relu(conv2_2(h));
  h = F::pooling(h, 2, 2);
  h = F::relu(conv3_1(h));
  h = F::relu(conv3_2(h));
  h = F::relu(conv3_3(h));
  h = F::pooling(h, 2, 2);
  h = F::relu(conv4_1(h));
  h = F::relu(conv4_2(h));
  h = F::relu(conv4_3(h));
  h = F::pooling(h, 2, 2);
  h = F::relu(conv5_1(h));
  h = F::relu(conv5_2(h));
  h = F::relu(conv5_3(h));
  h = F::pooling(h, 2, 2);
  h = F::reshape(h, {h.shape()[0], -1});
  h = F::dropout(F::relu(fc6(h)));
  h = F::dropout(F::relu(fc7(h)));
  return fc8(h);
}

Tensor VGG16::preprocess(const Tensor &image) {
  if (image.ndim() != 3 || image.shape()[2] != 3)
    throw Error("VGG16::preprocess: expected an RGB image of shape (H, W, 3), got " +
                shape_str(image.shape()));
  const Tensor bgr = image.to(f32)[{Ellipsis, std::vector<int64_t>{2, 1, 0}}];
  const Tensor mean = Tensor::from({103.939, 116.779, 123.68}, {3}, f32);
  return (bgr - mean).transpose({2, 0, 1});
}

// ---- ResNet ------------------------------------------------------------------------------

BottleneckA::BottleneckA(int64_t in_channels, int64_t mid_channels, int64_t out_channels,
                         int64_t stride, bool downsample_fb)
    : conv1(mid_channels, 1,
            {.stride = downsample_fb ? 1 : stride,
             .pad = 0,
             .nobias = true,
             .in_channels = in_channels}),
      conv2(mid_channels, 3,
            {.stride = downsample_fb ? stride : 1,
             .pad = 1,
             .nobias = true,
             .in_channels = mid_channels}),
      conv3(out_channels, 1, {.stride = 1, .pad = 0, .nobias = true, .in_channels = mid_channels}),
      conv4(out_channels, 1,
            {.stride = stride, .pad = 0, .nobias = true, .in_channels = in_channels}) {
  register_layer("conv1", conv1);
  register_layer("bn1", bn1);
  register_layer("conv2", conv2);
  register_layer("bn2", bn2);
  register_layer("conv3", conv3);
  register_layer("bn3", bn3);
  register_layer("conv4", conv4);
  register_layer("bn4", bn4);
}

Variable BottleneckA::forward(const Variable &x) {
  Variable h1 = F::relu(bn1(conv1(x)));
  h1 = F::relu(bn2(conv2(h1)));
  h1 = bn3(conv3(h1));
  Variable h2 = bn4(conv4(x));
  return F::relu(h1 + h2);
}

BottleneckB::BottleneckB(int64_t in_channels, int64_t mid_channels)
    : conv1(mid_channels, 1, {.stride = 1, .pad = 0, .nobias = true, .in_channels = in_channels}),
      conv2(mid_channels, 3, {.stride = 1, .pad = 1, .nobias = true, .in_channels = mid_channels}),
      conv3(in_channels, 1, {.stride = 1, .pad = 0, .nobias = true, .in_channels = mid_channels}) {
  register_layer("conv1", conv1);
  register_layer("bn1", bn1);
  register_layer("conv2", conv2);
  register_layer("bn2", bn2);
  register_layer("conv3", conv3);
  register_layer("bn3", bn3);
}

Variable BottleneckB::forward(const Variable &x) {
  Variable h = F::relu(bn1(conv1(x)));
  h = F::relu(bn2(conv2(h)));
  h = bn3(conv3(h));
  return F::relu(h + x);
}

BuildingBlock::BuildingBlock(int n_layers, int64_t in_channels, int64_t mid_channels,
                             int64_t out_channels, int64_t stride, bool downsample_fb)
    : a(in_channels, mid_channels, out_channels, stride, downsample_fb) {
  if (n_layers < 1)
    throw Error("BuildingBlock: n_layers must be at least 1, got " + std::to_string(n_layers));
  register_layer("a", a);
  b.reserve(size_t(n_layers - 1));
  for (int i = 1; i < n_layers; ++i) {
    b.emplace_back(out_channels, mid_channels);
    register_layer("b" + std::to_string(i), b.back());
  }
}

Variable BuildingBlock::forward(const Variable &x) {
  Variable h = a(x);
  for (BottleneckB &block : b)
    h = block(h);
  return h;
}

std::array<int, 4> ResNet::stage_sizes(int n_layers) {
  switch (n_layers) {
  case 50:
    return {3, 4, 6, 3};
  case 101:
    return {3, 4, 23, 3};
  case 152:
    return {3, 8, 36, 3};
  default:
    throw Error("ResNet: n_layers must be 50, 101 or 152, got " + std::to_string(n_layers));
  }
}

ResNet::ResNet(int n_layers, std::optional<std::string> weights_npz)
    : conv1(64, 7, {.stride = 2, .pad = 3, .in_channels = 3}),
      res2(stage_sizes(n_layers)[0], 64, 64, 256, 1),
      res3(stage_sizes(n_layers)[1], 256, 128, 512, 2),
      res4(stage_sizes(n_layers)[2], 512, 256, 1024, 2),
      res5(stage_sizes(n_layers)[3], 1024, 512, 2048, 2), fc6(1000, {.in_size = 2048}) {
  register_layer("conv1", conv1);
  register_layer("bn1", bn1);
  register_layer("res2", res2);
  register_layer("res3", res3);
  register_layer("res4", res4);
  register_layer("res5", res5);
  register_layer("fc6", fc6);
  if (weights_npz)
    load_weights(*weights_npz);
}

Variable ResNet::forward(const Variable &x) {
  Variable h = F::relu(bn1(conv1(x)));
  h = F::pooling(h, 3, 2);
  h = res2(h);
  h = res3(h);
  h = res4(h);
  h = res5(h);
  // Global average pooling: (N, C, H, W) -> (N, C).
  const int64_t N = h.shape()[0], C = h.shape()[1];
  h = F::average_pooling(h, Size2(h.shape()[2], h.shape()[3]), 1);
  h = F::reshape(h, {N, C});
  return fc6(h);
}

} // namespace models
} // namespace dz
