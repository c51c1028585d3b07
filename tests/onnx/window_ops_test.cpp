// window_ops_test.cpp - the importer's window ops and recurrent layers beyond what the ONNX node
// tests cover: grouped (2 groups, depthwise), dilated and 1-D convolutions against naive loops
// written here, a bidirectional LSTM against a naive loop, gradients through the pooling
// decompositions against central differences (float64), and the errors of bad nodes.
#include <dzc/codegen/ExecutorBuild.h>
#include <dzc/ir/DzOps.h>
#include <dzc/onnx/Import.h>
#include <dzc/passes/Passes.h>

#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/IR/Builders.h>
#include <mlir/IR/MLIRContext.h>
#include <mlir/Pass/PassManager.h>

#include <onnx/onnx_pb.h>

#include <gtest/gtest.h>

#include "onnx_test_util.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>

namespace {

using namespace dz::onnx_test;

struct WindowOpsTest : ::testing::Test {
  mlir::MLIRContext ctx{mlir::MLIRContext::Threading::DISABLED};

  /// Imports `bytes` and runs it (the compiled-mode pipeline, then the CPU executor).
  std::vector<dz::Tensor> run(const std::string &bytes, const std::vector<dz::Tensor> &inputs) {
    mlir::OwningOpRef<mlir::ModuleOp> m = dz::onnx::importOnnxBytes(ctx, bytes, "window.onnx");
    mlir::PassManager pm(&ctx);
    dz::passes::buildPipeline(pm);
    EXPECT_TRUE(mlir::succeeded(pm.run(*m)));
    return dz::codegen::buildProgramOrThrow(*m->getOps<mlir::func::FuncOp>().begin()).run(inputs);
  }
};

// ---- convolutions against a naive loop ---------------------------------------------------

struct ConvCase {
  Dims x, w; // (N, C, H, W), (M, C/group, KH, KW)
  int64_t group;
  Dims stride, dilation, pads; // pads: h begin, w begin, h end, w end
};

/// y[n, m, oh, ow] = b[m] + sum over the group's channels and taps, 0 outside x.
std::vector<double> naive_conv(const ConvCase &k, const std::vector<double> &x,
                               const std::vector<double> &w, const std::vector<double> &b,
                               Dims &out_shape) {
  const int64_t N = k.x[0], C = k.x[1], H = k.x[2], W = k.x[3], M = k.w[0], CG = k.w[1],
                KH = k.w[2], KW = k.w[3];
  const int64_t OH = (H + k.pads[0] + k.pads[2] - ((KH - 1) * k.dilation[0] + 1)) / k.stride[0] + 1;
  const int64_t OW = (W + k.pads[1] + k.pads[3] - ((KW - 1) * k.dilation[1] + 1)) / k.stride[1] + 1;
  out_shape = {N, M, OH, OW};
  std::vector<double> y(size_t(N * M * OH * OW));
  const int64_t MG = M / k.group;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double s = b[size_t(m)];
          for (int64_t cg = 0; cg < CG; ++cg)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t c = m / MG * CG + cg;
                const int64_t h = oh * k.stride[0] - k.pads[0] + kh * k.dilation[0];
                const int64_t ww = ow * k.stride[1] - k.pads[1] + kw * k.dilation[1];
                if (h < 0 || h >= H || ww < 0 || ww >= W)
                  continue;
                s += x[size_t(((n * C + c) * H + h) * W + ww)] *
                     w[size_t(((m * CG + cg) * KH + kh) * KW + kw)];
              }
          y[size_t(((n * M + m) * OH + oh) * OW + ow)] = s;
        }
  return y;
}

/// Imports Conv for `k` (1-D when `one_d`: H = 1 dropped from every shape) and compares
/// it with naive_conv.
void expect_conv_matches(WindowOpsTest &t, const ConvCase &k, bool one_d = false) {
  const std::vector<double> x = uniform(size_t(numel(k.x)), 1), w = uniform(size_t(numel(k.w)), 2),
                            b = uniform(size_t(k.w[0]), 3);
  Dims out;
  const std::vector<double> want = naive_conv(k, x, w, b, out);
  auto drop_h = [&](Dims d) {
    if (one_d)
      d.erase(d.begin() + 2);
    return d;
  };
  auto spatial = [&](Dims d) { // (h, w) pairs, or w alone
    return one_d ? Dims{d.back()} : d;
  };
  ModelBuilder m;
  m.input("x", drop_h(k.x))
      .initializer("w", drop_h(k.w), w)
      .initializer("b", {k.w[0]}, b)
      .output("y", drop_h(out));
  onnx::NodeProto &n = m.node("Conv", {"x", "w", "b"}, {"y"}, "conv");
  int_attr(n, "group", k.group);
  ints(n, "strides", spatial(k.stride));
  ints(n, "dilations", spatial(k.dilation));
  ints(n, "pads", one_d ? Dims{k.pads[1], k.pads[3]} : k.pads);
  const Dims x_dims = drop_h(k.x);
  dz::Tensor xt = dz::Tensor::from(x, dz::Shape(x_dims.begin(), x_dims.end()), dz::f32);
  std::vector<dz::Tensor> y = t.run(m.bytes(), {xt});
  ASSERT_EQ(y.size(), 1u);
  const Dims got_shape(y[0].shape().begin(), y[0].shape().end());
  ASSERT_EQ(got_shape, drop_h(out));
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(y[0].data<float>()[i], want[i], 1e-4 * (1 + std::abs(want[i]))) << "element " << i;
}

TEST_F(WindowOpsTest, ConvWithTwoGroupsMatchesNaiveLoop) {
  expect_conv_matches(*this, {{2, 4, 6, 6}, {6, 2, 3, 3}, 2, {1, 1}, {1, 1}, {1, 1, 1, 1}});
}

TEST_F(WindowOpsTest, DepthwiseConvWithAsymmetricPadsMatchesNaiveLoop) {
  // MobileNet's depthwise 3x3, stride 2, TF's SAME padding (one more at the end), and a
  // channel multiplier of 2.
  expect_conv_matches(*this, {{1, 3, 7, 8}, {6, 1, 3, 3}, 3, {2, 2}, {1, 1}, {0, 1, 1, 0}});
}

TEST_F(WindowOpsTest, DilatedConvMatchesNaiveLoop) {
  expect_conv_matches(*this, {{2, 2, 9, 8}, {3, 2, 3, 3}, 1, {1, 1}, {2, 2}, {2, 2, 2, 2}});
}

TEST_F(WindowOpsTest, DilatedGroupedStridedConvMatchesNaiveLoop) {
  expect_conv_matches(*this, {{1, 4, 10, 9}, {4, 2, 3, 2}, 2, {2, 1}, {2, 3}, {1, 0, 2, 3}});
}

TEST_F(WindowOpsTest, OneDimensionalDilatedGroupedConvMatchesNaiveLoop) {
  expect_conv_matches(*this, {{2, 4, 1, 11}, {6, 2, 1, 3}, 2, {1, 2}, {1, 2}, {0, 1, 0, 2}}, true);
}

/// ConvTranspose (2-D): every x[n, c, h, w] W[c, m', kh, kw] added at (h s + kh d − pad,
/// w s + kw d − pad) of output channel (c's group) M/g + m'; then the bias.
TEST_F(WindowOpsTest, GroupedDilatedConvTransposeWithAsymmetricPadsMatchesNaiveLoop) {
  const int64_t N = 1, C = 4, H = 3, W = 4, G = 2, MG = 3, KH = 2, KW = 3, M = G * MG;
  const Dims stride = {2, 3}, dilation = {2, 1}, pads = {1, 0, 0, 2}, extra = {1, 0};
  const std::vector<double> x = uniform(size_t(N * C * H * W), 21),
                            w = uniform(size_t(C * MG * KH * KW), 22), b = uniform(size_t(M), 23);
  const int64_t FH = stride[0] * (H - 1) + extra[0] + (KH - 1) * dilation[0] + 1,
                FW = stride[1] * (W - 1) + extra[1] + (KW - 1) * dilation[1] + 1;
  const int64_t OH = FH - pads[0] - pads[2], OW = FW - pads[1] - pads[3];
  std::vector<double> want(size_t(N * M * OH * OW));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t i = 0; i < OH * OW; ++i)
        want[size_t((n * M + m) * OH * OW + i)] = b[size_t(m)];
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t mg = 0; mg < MG; ++mg)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t ww = 0; ww < W; ++ww)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t oh = h * stride[0] + kh * dilation[0] - pads[0],
                              ow = ww * stride[1] + kw * dilation[1] - pads[1];
                if (oh < 0 || oh >= OH || ow < 0 || ow >= OW)
                  continue;
                const int64_t m = c / (C / G) * MG + mg;
                want[size_t(((n * M + m) * OH + oh) * OW + ow)] +=
                    x[size_t(((n * C + c) * H + h) * W + ww)] *
                    w[size_t(((c * MG + mg) * KH + kh) * KW + kw)];
              }
  ModelBuilder mb;
  mb.input("x", {N, C, H, W}).initializer("w", {C, MG, KH, KW}, w).initializer("b", {M}, b);
  mb.output("y", {N, M, OH, OW});
  onnx::NodeProto &node = mb.node("ConvTranspose", {"x", "w", "b"}, {"y"}, "deconv");
  int_attr(node, "group", G);
  ints(node, "strides", stride);
  ints(node, "dilations", dilation);
  ints(node, "pads", pads);
  ints(node, "output_padding", extra);
  std::vector<dz::Tensor> y = run(mb.bytes(), {dz::Tensor::from(x, {N, C, H, W}, dz::f32)});
  ASSERT_EQ(y.at(0).size(), int64_t(want.size()));
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(y[0].data<float>()[i], want[i], 1e-4 * (1 + std::abs(want[i]))) << "element " << i;
}

/// Conv (3-D, grouped, strided, dilated, asymmetric pads): the gathered-columns path.
TEST_F(WindowOpsTest, ThreeDimensionalGroupedConvMatchesNaiveLoop) {
  const int64_t N = 1, C = 4, G = 2, M = 4, CG = C / G, MG = M / G;
  const Dims in = {4, 5, 6}, k = {2, 2, 3}, stride = {1, 2, 1}, dilation = {2, 1, 1},
             pads = {1, 0, 1, 0, 1, 1};
  Dims out(3);
  for (size_t d = 0; d < 3; ++d)
    out[d] = (in[d] + pads[d] + pads[d + 3] - ((k[d] - 1) * dilation[d] + 1)) / stride[d] + 1;
  const std::vector<double> x = uniform(size_t(N * C * numel(in)), 31),
                            w = uniform(size_t(M * CG * numel(k)), 32), b = uniform(size_t(M), 33);
  std::vector<double> want;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t o0 = 0; o0 < out[0]; ++o0)
        for (int64_t o1 = 0; o1 < out[1]; ++o1)
          for (int64_t o2 = 0; o2 < out[2]; ++o2) {
            double s = b[size_t(m)];
            for (int64_t cg = 0; cg < CG; ++cg)
              for (int64_t k0 = 0; k0 < k[0]; ++k0)
                for (int64_t k1 = 0; k1 < k[1]; ++k1)
                  for (int64_t k2 = 0; k2 < k[2]; ++k2) {
                    const int64_t p0 = o0 * stride[0] - pads[0] + k0 * dilation[0],
                                  p1 = o1 * stride[1] - pads[1] + k1 * dilation[1],
                                  p2 = o2 * stride[2] - pads[2] + k2 * dilation[2];
                    if (p0 < 0 || p0 >= in[0] || p1 < 0 || p1 >= in[1] || p2 < 0 || p2 >= in[2])
                      continue;
                    const int64_t c = m / MG * CG + cg;
                    s += x[size_t(((n * C + c) * in[0] + p0) * in[1] * in[2] + p1 * in[2] + p2)] *
                         w[size_t((((m * CG + cg) * k[0] + k0) * k[1] + k1) * k[2] + k2)];
                  }
            want.push_back(s);
          }
  ModelBuilder mb;
  mb.input("x", {N, C, in[0], in[1], in[2]}).initializer("w", {M, CG, k[0], k[1], k[2]}, w);
  mb.initializer("b", {M}, b).output("y", {N, M, out[0], out[1], out[2]});
  onnx::NodeProto &node = mb.node("Conv", {"x", "w", "b"}, {"y"}, "conv3d");
  int_attr(node, "group", G);
  ints(node, "strides", stride);
  ints(node, "dilations", dilation);
  ints(node, "pads", pads);
  std::vector<dz::Tensor> y =
      run(mb.bytes(), {dz::Tensor::from(x, {N, C, in[0], in[1], in[2]}, dz::f32)});
  ASSERT_EQ(y.at(0).size(), int64_t(want.size()));
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(y[0].data<float>()[i], want[i], 1e-4 * (1 + std::abs(want[i]))) << "element " << i;
}

// ---- LSTM against a naive loop -----------------------------------------------------------

double sigmoid(double v) { return 1 / (1 + std::exp(-v)); }

TEST_F(WindowOpsTest, BidirectionalLstmMatchesNaiveLoop) {
  const int64_t seq = 3, batch = 2, input = 3, hidden = 4, dirs = 2;
  const std::vector<double> x = uniform(size_t(seq * batch * input), 4),
                            w = uniform(size_t(dirs * 4 * hidden * input), 5, -0.5, 0.5),
                            r = uniform(size_t(dirs * 4 * hidden * hidden), 6, -0.5, 0.5),
                            b = uniform(size_t(dirs * 8 * hidden), 7, -0.5, 0.5),
                            h0 = uniform(size_t(dirs * batch * hidden), 8),
                            c0 = uniform(size_t(dirs * batch * hidden), 9);
  // want_y (seq, dirs, batch, H), want_h / want_c (dirs, batch, H)
  std::vector<double> want_y(size_t(seq * dirs * batch * hidden)), want_h(h0), want_c(c0);
  for (int64_t d = 0; d < dirs; ++d)
    for (int64_t k = 0; k < seq; ++k) {
      const int64_t t = d == 0 ? k : seq - 1 - k;
      std::vector<double> h(want_h.begin() + d * batch * hidden,
                            want_h.begin() + (d + 1) * batch * hidden);
      for (int64_t n = 0; n < batch; ++n)
        for (int64_t j = 0; j < hidden; ++j) {
          double gate[4]; // i, o, f, c
          for (int64_t g = 0; g < 4; ++g) {
            const int64_t row = g * hidden + j;
            double s =
                b[size_t(d * 8 * hidden + row)] + b[size_t(d * 8 * hidden + 4 * hidden + row)];
            for (int64_t i = 0; i < input; ++i)
              s += x[size_t((t * batch + n) * input + i)] *
                   w[size_t((d * 4 * hidden + row) * input + i)];
            for (int64_t i = 0; i < hidden; ++i)
              s += h[size_t(n * hidden + i)] * r[size_t((d * 4 * hidden + row) * hidden + i)];
            gate[g] = s;
          }
          double &cell = want_c[size_t((d * batch + n) * hidden + j)];
          cell = sigmoid(gate[2]) * cell + sigmoid(gate[0]) * std::tanh(gate[3]);
          const double out = sigmoid(gate[1]) * std::tanh(cell);
          want_h[size_t((d * batch + n) * hidden + j)] = out;
          want_y[size_t(((t * dirs + d) * batch + n) * hidden + j)] = out;
        }
    }
  ModelBuilder m;
  m.input("x", {seq, batch, input})
      .initializer("w", {dirs, 4 * hidden, input}, w)
      .initializer("r", {dirs, 4 * hidden, hidden}, r)
      .initializer("b", {dirs, 8 * hidden}, b)
      .initializer("h0", {dirs, batch, hidden}, h0)
      .initializer("c0", {dirs, batch, hidden}, c0)
      .output("y", {seq, dirs, batch, hidden})
      .output("y_h", {dirs, batch, hidden})
      .output("y_c", {dirs, batch, hidden});
  onnx::NodeProto &n =
      m.node("LSTM", {"x", "w", "r", "b", "", "h0", "c0"}, {"y", "y_h", "y_c"}, "lstm");
  int_attr(n, "hidden_size", hidden);
  string_attr(n, "direction", "bidirectional");
  std::vector<dz::Tensor> got = run(m.bytes(), {dz::Tensor::from(x, {seq, batch, input}, dz::f32)});
  ASSERT_EQ(got.size(), 3u);
  for (auto [k, want] : {std::pair{0, &want_y}, {1, &want_h}, {2, &want_c}}) {
    ASSERT_EQ(got[size_t(k)].size(), int64_t(want->size())) << "output " << k;
    for (size_t i = 0; i < want->size(); ++i)
      ASSERT_NEAR(got[size_t(k)].data<float>()[i], (*want)[i], 1e-5)
          << "output " << k << " element " << i;
  }
}

/// A bidirectional GRU with initial state and biases, layout 1, against a naive loop of
/// ONNX's equations (linear_before_reset 0 or 1).
void expect_gru_matches_naive_loop(WindowOpsTest &t, bool linear_before_reset) {
  const int64_t seq = 3, batch = 2, input = 3, hidden = 4, dirs = 2;
  const std::vector<double> x = uniform(size_t(seq * batch * input), 14), // (batch, seq, I)
      w = uniform(size_t(dirs * 3 * hidden * input), 15, -0.5, 0.5),
                            r = uniform(size_t(dirs * 3 * hidden * hidden), 16, -0.5, 0.5),
                            b = uniform(size_t(dirs * 6 * hidden), 17, -0.5, 0.5),
                            h0 = uniform(size_t(batch * dirs * hidden), 18); // (batch, dirs, H)
  // want_y (batch, seq, dirs, H), want_h (batch, dirs, H)
  std::vector<double> want_y(size_t(seq * dirs * batch * hidden)), want_h(h0);
  for (int64_t d = 0; d < dirs; ++d)
    for (int64_t k = 0; k < seq; ++k) {
      const int64_t step = d == 0 ? k : seq - 1 - k;
      const std::vector<double> h = want_h;
      auto hv = [&](int64_t n, int64_t i) { return h[size_t((n * dirs + d) * hidden + i)]; };
      for (int64_t n = 0; n < batch; ++n)
        for (int64_t j = 0; j < hidden; ++j) {
          auto wx = [&](int64_t g) { // x W^T + Wb for gate g (z, r, h)
            const int64_t row = g * hidden + j;
            double s = b[size_t(d * 6 * hidden + row)];
            for (int64_t i = 0; i < input; ++i)
              s += x[size_t((n * seq + step) * input + i)] *
                   w[size_t((d * 3 * hidden + row) * input + i)];
            return s;
          };
          auto rh = [&](int64_t g, const std::function<double(int64_t)> &state) {
            const int64_t row = g * hidden + j;
            double s = b[size_t(d * 6 * hidden + 3 * hidden + row)];
            for (int64_t i = 0; i < hidden; ++i)
              s += state(i) * r[size_t((d * 3 * hidden + row) * hidden + i)];
            return s;
          };
          auto plain = [&](int64_t i) { return hv(n, i); };
          const double z = sigmoid(wx(0) + rh(0, plain));
          double cand;
          if (linear_before_reset) {
            cand = std::tanh(wx(2) + sigmoid(wx(1) + rh(1, plain)) * rh(2, plain));
          } else {
            // the reset gate of each state element i (gate r at row i)
            auto reset_state = [&](int64_t i) {
              double s = b[size_t(d * 6 * hidden + hidden + i)] +
                         b[size_t(d * 6 * hidden + 4 * hidden + i)];
              for (int64_t q = 0; q < input; ++q)
                s += x[size_t((n * seq + step) * input + q)] *
                     w[size_t((d * 3 * hidden + hidden + i) * input + q)];
              for (int64_t q = 0; q < hidden; ++q)
                s += hv(n, q) * r[size_t((d * 3 * hidden + hidden + i) * hidden + q)];
              return sigmoid(s) * hv(n, i);
            };
            cand = std::tanh(wx(2) + rh(2, reset_state));
          }
          const double out = (1 - z) * cand + z * hv(n, j);
          want_h[size_t((n * dirs + d) * hidden + j)] = out;
          want_y[size_t(((n * seq + step) * dirs + d) * hidden + j)] = out;
        }
    }
  ModelBuilder m(::onnx::TensorProto::FLOAT, 14); // layout from opset 14
  m.input("x", {batch, seq, input})
      .initializer("w", {dirs, 3 * hidden, input}, w)
      .initializer("r", {dirs, 3 * hidden, hidden}, r)
      .initializer("b", {dirs, 6 * hidden}, b)
      .initializer("h0", {batch, dirs, hidden}, h0)
      .output("y", {batch, seq, dirs, hidden})
      .output("y_h", {batch, dirs, hidden});
  onnx::NodeProto &n = m.node("GRU", {"x", "w", "r", "b", "", "h0"}, {"y", "y_h"}, "gru");
  int_attr(n, "hidden_size", hidden);
  int_attr(n, "layout", 1);
  int_attr(n, "linear_before_reset", linear_before_reset ? 1 : 0);
  string_attr(n, "direction", "bidirectional");
  std::vector<dz::Tensor> got =
      t.run(m.bytes(), {dz::Tensor::from(x, {batch, seq, input}, dz::f32)});
  ASSERT_EQ(got.size(), 2u);
  for (auto [k, want] : {std::pair{0, &want_y}, {1, &want_h}}) {
    ASSERT_EQ(got[size_t(k)].size(), int64_t(want->size())) << "output " << k;
    for (size_t i = 0; i < want->size(); ++i)
      ASSERT_NEAR(got[size_t(k)].data<float>()[i], (*want)[i], 1e-5)
          << "output " << k << " element " << i;
  }
}

TEST_F(WindowOpsTest, BidirectionalGruMatchesNaiveLoop) {
  expect_gru_matches_naive_loop(*this, false);
}

TEST_F(WindowOpsTest, BidirectionalGruWithLinearBeforeResetMatchesNaiveLoop) {
  expect_gru_matches_naive_loop(*this, true);
}

// ---- gradients through the decompositions ------------------------------------------------

void expect_pool_gradient_matches(WindowOpsTest &t, const std::string &op, const Dims &x_dims,
                                  const std::function<void(onnx::NodeProto &)> &attrs,
                                  const Dims &y_dims) {
  expect_gradient_matches(
      t.ctx, x_dims, [&](ModelBuilder &m) { attrs(m.node(op, {"x"}, {"p"}, "pool")); }, y_dims, op);
}

TEST_F(WindowOpsTest, MaxPoolWithAsymmetricPadsAndCeilModeHasFiniteDifferenceGradient) {
  // 5x7, kernel 3, stride 2, pads (1, 0, 0, 1), ceil_mode: -inf padding then dz.max_pooling.
  expect_pool_gradient_matches(*this, "MaxPool", {1, 2, 5, 7},
                               [](onnx::NodeProto &n) {
                                 ints(n, "kernel_shape", {3, 3});
                                 ints(n, "strides", {2, 2});
                                 ints(n, "pads", {1, 0, 0, 1});
                                 int_attr(n, "ceil_mode", 1);
                               },
                               {1, 2, 3, 4});
}

TEST_F(WindowOpsTest, DilatedMaxPoolWithPadsHasFiniteDifferenceGradient) {
  // Dilated windows are gathered into a tap axis with dz.get_item, then dz.max.
  expect_pool_gradient_matches(*this, "MaxPool", {1, 2, 6, 7},
                               [](onnx::NodeProto &n) {
                                 ints(n, "kernel_shape", {2, 3});
                                 ints(n, "dilations", {2, 2});
                                 ints(n, "pads", {1, 1, 1, 0});
                               },
                               {1, 2, 6, 4});
}

TEST_F(WindowOpsTest, AveragePoolExcludingPadsWithCeilModeHasFiniteDifferenceGradient) {
  // count_include_pad=0 and ceil_mode's partial windows: the zero-padded mean times
  // K / count.
  expect_pool_gradient_matches(*this, "AveragePool", {1, 1, 6, 5},
                               [](onnx::NodeProto &n) {
                                 ints(n, "kernel_shape", {3, 2});
                                 ints(n, "strides", {2, 2});
                                 ints(n, "pads", {1, 0, 0, 1});
                                 int_attr(n, "ceil_mode", 1);
                               },
                               {1, 1, 3, 3});
}

TEST_F(WindowOpsTest, MaxPool3dHasFiniteDifferenceGradient) {
  expect_pool_gradient_matches(*this, "MaxPool", {1, 1, 3, 4, 4},
                               [](onnx::NodeProto &n) {
                                 ints(n, "kernel_shape", {2, 2, 2});
                                 ints(n, "pads", {0, 1, 0, 1, 0, 1});
                               },
                               {1, 1, 3, 4, 4});
}

TEST_F(WindowOpsTest, GroupedDilatedConvHasFiniteDifferenceGradient) {
  // dz.im2col + batched dz.matmul, the kernel dilated by a scatter, asymmetric pads.
  expect_gradient_matches(
      ctx, {1, 4, 6, 5},
      [](ModelBuilder &m) {
        m.initializer("w", {4, 2, 2, 2}, uniform(32, 12));
        onnx::NodeProto &n = m.node("Conv", {"x", "w"}, {"p"}, "conv");
        int_attr(n, "group", 2);
        ints(n, "dilations", {2, 1});
        ints(n, "pads", {1, 0, 0, 1});
      },
      {1, 4, 5, 5}, "Conv");
}

TEST_F(WindowOpsTest, BidirectionalLstmHasFiniteDifferenceGradient) {
  expect_gradient_matches(
      ctx, {3, 2, 2},
      [](ModelBuilder &m) {
        m.initializer("w", {2, 12, 2}, uniform(48, 13, -0.5, 0.5));
        m.initializer("r", {2, 12, 3}, uniform(72, 14, -0.5, 0.5));
        m.initializer("b", {2, 24}, uniform(48, 15, -0.5, 0.5));
        onnx::NodeProto &n = m.node("LSTM", {"x", "w", "r", "b"}, {"p"}, "lstm");
        int_attr(n, "hidden_size", 3);
        string_attr(n, "direction", "bidirectional");
      },
      {3, 2, 2, 3}, "LSTM");
}

TEST_F(WindowOpsTest, GruAndRnnHaveFiniteDifferenceGradient) {
  for (const std::string op : {"GRU", "RNN"}) {
    const int64_t gates = op == "GRU" ? 3 : 1;
    expect_gradient_matches(
        ctx, {3, 2, 2},
        [&](ModelBuilder &m) {
          m.initializer("w", {2, gates * 3, 2}, uniform(size_t(12 * gates), 13, -0.5, 0.5));
          m.initializer("r", {2, gates * 3, 3}, uniform(size_t(18 * gates), 14, -0.5, 0.5));
          m.initializer("b", {2, gates * 6}, uniform(size_t(12 * gates), 15, -0.5, 0.5));
          onnx::NodeProto &n = m.node(op, {"x", "w", "r", "b"}, {"p"}, "rec");
          int_attr(n, "hidden_size", 3);
          string_attr(n, "direction", "bidirectional");
          if (op == "GRU")
            int_attr(n, "linear_before_reset", 1);
        },
        {3, 2, 2, 3}, op);
  }
}

// ---- errors ------------------------------------------------------------------------------

TEST_F(WindowOpsTest, GroupThatDoesNotDivideTheChannelsNamesTheNode) {
  ModelBuilder m;
  m.input("x", {1, 3, 5, 5})
      .initializer("w", {2, 1, 3, 3}, uniform(18, 1))
      .output("y", {1, 2, 3, 3});
  int_attr(m.node("Conv", {"x", "w"}, {"y"}, "bad_group"), "group", 2);
  dz::onnx::ImportOptions unchecked;
  unchecked.check = false;
  try {
    dz::onnx::importOnnxBytes(ctx, m.bytes(), "m.onnx", unchecked);
    FAIL() << "no error";
  } catch (const dz::Error &e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("node 'bad_group'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("group 2 does not fit input channels 3"), std::string::npos) << msg;
  }
}

TEST_F(WindowOpsTest, LstmWithAnUnsupportedActivationIsUnsupported) {
  ModelBuilder m;
  m.input("x", {2, 1, 3})
      .initializer("w", {1, 8, 3}, uniform(24, 1))
      .initializer("r", {1, 8, 2}, uniform(16, 2))
      .output("y", {2, 1, 1, 2});
  onnx::NodeProto &n = m.node("LSTM", {"x", "w", "r"}, {"y"}, "lstm_elu");
  int_attr(n, "hidden_size", 2);
  onnx::AttributeProto *a = n.add_attribute();
  a->set_name("activations");
  a->set_type(onnx::AttributeProto::STRINGS);
  for (const char *s : {"Sigmoid", "Elu", "Tanh"})
    a->add_strings(s);
  try {
    dz::onnx::importOnnxBytes(ctx, m.bytes(), "m.onnx");
    FAIL() << "no error";
  } catch (const dz::onnx::UnsupportedError &e) {
    EXPECT_EQ(e.reason(), "LSTM activation Elu");
    EXPECT_NE(std::string(e.what()).find("node 'lstm_elu'"), std::string::npos) << e.what();
  }
}

TEST_F(WindowOpsTest, PoolWindowLargerThanThePaddedInputIsAnError) {
  ModelBuilder m;
  m.input("x", {1, 1, 2, 2}).output("y", {1, 1, 1, 1});
  ints(m.node("MaxPool", {"x"}, {"y"}, "too_big"), "kernel_shape", {3, 3});
  dz::onnx::ImportOptions unchecked;
  unchecked.check = false;
  try {
    dz::onnx::importOnnxBytes(ctx, m.bytes(), "m.onnx", unchecked);
    FAIL() << "no error";
  } catch (const dz::Error &e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("node 'too_big'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("does not fit the padded input"), std::string::npos) << msg;
  }
}

// ---- mutated models: only dz::Error comes out ---------------------------------------------

/// Seeded random edits (a flipped bit, an overwritten byte, a truncation) of the node-test
/// models of the window ops, LSTM and BatchNormalization training, imported with and
/// without the checker: the importer must throw dz::Error or succeed, never crash.
TEST_F(WindowOpsTest, MutatedWindowModelsGiveOnlyDzErrors) {
  const std::string dir = "/usr/share/libonnx-testdata/data/node/";
  std::vector<std::string> seeds;
  for (const char *name :
       {"test_maxpool_2d_pads", "test_maxpool_with_argmax_2d_precomputed_pads",
        "test_maxpool_3d_default", "test_averagepool_2d_ceil", "test_averagepool_1d_default",
        "test_convtranspose_output_shape", "test_convtranspose_3d", "test_convtranspose_dilations",
        "test_conv_with_strides_and_asymmetric_padding", "test_lstm_batchwise",
        "test_lstm_with_initial_bias", "test_batchnorm_example_training_mode"}) {
    std::ifstream in(dir + name + "/model.onnx", std::ios::binary);
    if (in)
      seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (seeds.empty())
    GTEST_SKIP() << "the ONNX node tests (libonnx-testdata) are not installed";
  const char *env = std::getenv("DZ_ONNX_FUZZ_ITERATIONS");
  const int iterations = env ? std::atoi(env) : 3000;
  std::mt19937 rng(20261202);
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n)(rng); };
  int imported = 0;
  for (int i = 0; i < iterations; ++i) {
    std::string bytes = seeds[size_t(i) % seeds.size()];
    for (size_t edits = 1 + pick(2); edits-- > 0;) {
      const size_t at = pick(bytes.size() - 1);
      switch (pick(2)) {
      case 0:
        bytes[at] = char(bytes[at] ^ (1 << pick(7)));
        break;
      case 1:
        bytes[at] = char(pick(255));
        break;
      default:
        bytes.resize(at + 1);
      }
    }
    dz::onnx::ImportOptions options;
    options.check = i % 2 == 0;
    try {
      dz::onnx::importOnnxBytes(ctx, bytes, "mutant.onnx", options);
      ++imported;
    } catch (const dz::Error &) {
    } catch (const std::exception &e) {
      FAIL() << "mutant " << i << " threw a non-dz::Error: " << e.what();
    }
  }
  EXPECT_GT(imported, 0) << "no mutant imported: the loop tests only the parser";
}

} // namespace
