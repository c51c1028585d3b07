// test_nn_functions.cpp - the neural-network functions of dzc/functions_nn.h: forward
// values against naive loops and hand results (DeZero's semantics), adjointness of the
// linear pairs, gradient checks in float64 (geometries where stride and padding do not
// divide evenly), second derivatives through convolution and pooling, batch_norm's
// train/test behaviour and running averages, embed_id's accumulation, and errors.
#include <dzc/dzc.h>
#include <dzc/nn_kernels.h>

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace F = dz::functions;
using dz::Shape;
using dz::Size2;
using dz::Tensor;
using dz::Variable;
using Vars = std::vector<Variable>;
using dz::utils::MultiFn;

namespace {

// ---- inputs and checking ----------------------------------------------------------------

Tensor rn(const Shape &s, uint64_t seed) { return dz::randn(s, dz::f64, seed); }

/// Distinct values (a permutation of a grid, 0.25 apart): no ties in max pooling within
/// the finite-difference step. Negative and positive, so the padding's zeros matter.
Tensor distinct(const Shape &s, uint64_t seed) {
  const int64_t n = dz::shape_size(s);
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k)
    v[size_t(k)] = double((k * 37 + int64_t(seed)) % n - n / 2) * 0.25 + 0.1;
  return Tensor::from(v, s);
}

double dot(const Tensor &a, const Tensor &b) { return (a * b).sum().item<double>(); }

Variable weigh(const Variable &y, uint64_t seed) {
  return y * Variable(dz::randn(y.shape(), dz::f64, seed));
}

::testing::AssertionResult GradOk(const MultiFn &f, const std::vector<Tensor> &xs) {
  MultiFn weighted = [f](const Vars &v) { return weigh(f(v), 999); };
  try {
    dz::utils::GradCheckResult r =
        dz::utils::gradient_check(weighted, xs, {.rtol = 1e-4, .atol = 1e-5, .eps = 1e-4});
    if (r)
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << r.report;
  } catch (const std::exception &e) {
    return ::testing::AssertionFailure() << "threw: " << e.what();
  }
}

/// Clears the gradients left on the leaves of y's graph by a create_graph backward (they
/// would otherwise keep graphs alive through reference cycles).
void clear_leaf_grads(const Variable &y) {
  std::vector<std::shared_ptr<dz::Function>> todo{y.creator()};
  std::set<const dz::Function *> seen;
  while (!todo.empty()) {
    std::shared_ptr<dz::Function> f = todo.back();
    todo.pop_back();
    if (!f || !seen.insert(f.get()).second)
      continue;
    for (Variable in : f->inputs()) {
      if (in.creator())
        todo.push_back(in.creator());
      else
        in.cleargrad();
    }
  }
}

/// xs -> d/dxs[wrt] sum(w * g(xs)), recorded with create_graph: a gradient_check of this
/// function checks second derivatives of g.
MultiFn grad_of(MultiFn g, size_t wrt) {
  return [g, wrt](const Vars &xs) {
    dz::UsingConfig backprop_on("enable_backprop", true);
    Variable y = weigh(g(xs), 7);
    y.backward({.create_graph = true});
    Variable gx = xs[wrt].grad();
    for (Variable x : xs)
      x.cleargrad();
    clear_leaf_grads(y);
    return gx.defined() ? gx : Variable(dz::zeros_like(xs[wrt].data()));
  };
}

std::string lower(std::string s) {
  for (char &c : s)
    c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// Success when fn throws dz::Error whose message contains each needle (case-insensitive).
::testing::AssertionResult ThrowsMentioning(const std::function<void()> &fn,
                                            const std::vector<std::string> &needles) {
  try {
    fn();
    return ::testing::AssertionFailure() << "no exception was thrown";
  } catch (const dz::Error &e) {
    std::string msg = lower(e.what());
    for (const std::string &n : needles)
      if (msg.find(lower(n)) == std::string::npos)
        return ::testing::AssertionFailure()
               << "message \"" << e.what() << "\" lacks \"" << n << "\"";
    return ::testing::AssertionSuccess();
  } catch (const std::exception &e) {
    return ::testing::AssertionFailure() << "threw a non-dz::Error: " << e.what();
  }
}

// ---- naive references ------------------------------------------------------------------------

/// Direct convolution loop in double: y[n,o,i,j] = b[o] + sum x[n,c,i S - P + kh, ...]
/// W[o,c,kh,kw].
Tensor naive_conv2d(const Tensor &x, const Tensor &W, const Tensor *b, Size2 s, Size2 p) {
  const Shape &xs = x.shape(), &ws = W.shape();
  int64_t N = xs[0], C = xs[1], H = xs[2], Wd = xs[3], O = ws[0], KH = ws[2], KW = ws[3];
  int64_t OH = (H + 2 * p.h - KH) / s.h + 1, OW = (Wd + 2 * p.w - KW) / s.w + 1;
  std::vector<double> xv = x.to_vector(), wv = W.to_vector(), out(size_t(N * O * OH * OW));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < OH; ++i)
        for (int64_t j = 0; j < OW; ++j) {
          double acc = b ? b->at(o) : 0.0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                int64_t ih = i * s.h - p.h + kh, iw = j * s.w - p.w + kw;
                if (ih >= 0 && ih < H && iw >= 0 && iw < Wd)
                  acc += xv[size_t(((n * C + c) * H + ih) * Wd + iw)] *
                         wv[size_t(((o * C + c) * KH + kh) * KW + kw)];
              }
          out[size_t(((n * O + o) * OH + i) * OW + j)] = acc;
        }
  return Tensor::from(out, {N, O, OH, OW});
}

/// Transposed convolution by scattering: y[n,o,h S - P + kh, ...] += x[n,c,h,w] W[c,o,kh,kw].
Tensor naive_deconv2d(const Tensor &x, const Tensor &W, const Tensor *b, Size2 s, Size2 p,
                      Size2 out) {
  const Shape &xs = x.shape(), &ws = W.shape();
  int64_t N = xs[0], C = xs[1], H = xs[2], Wd = xs[3], O = ws[1], KH = ws[2], KW = ws[3];
  std::vector<double> xv = x.to_vector(), wv = W.to_vector(), y(size_t(N * O * out.h * out.w));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < out.h * out.w; ++i)
        y[size_t((n * O + o) * out.h * out.w + i)] = b ? b->at(o) : 0.0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < Wd; ++w)
          for (int64_t o = 0; o < O; ++o)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                int64_t oh = h * s.h - p.h + kh, ow = w * s.w - p.w + kw;
                if (oh >= 0 && oh < out.h && ow >= 0 && ow < out.w)
                  y[size_t(((n * O + o) * out.h + oh) * out.w + ow)] +=
                      xv[size_t(((n * C + c) * H + h) * Wd + w)] *
                      wv[size_t(((c * O + o) * KH + kh) * KW + kw)];
              }
  return Tensor::from(y, {N, O, out.h, out.w});
}

/// A convolution geometry: x shape, kernel, stride, pad.
struct Geom {
  Shape x;
  Size2 k, s, p;
  std::string str() const {
    return dz::shape_str(x) + " k" + std::to_string(k.h) + "x" + std::to_string(k.w) + " s" +
           std::to_string(s.h) + "x" + std::to_string(s.w) + " p" + std::to_string(p.h) + "x" +
           std::to_string(p.w);
  }
};

const std::vector<Geom> kGeoms = {
    {{2, 3, 7, 7}, 3, 2, 1},                // the last window ends on the bottom/right pad
    {{1, 2, 8, 6}, 3, 2, 1},                // (8 + 2 - 3) / 2 has a remainder: a pad row unread
    {{1, 2, 7, 5}, {2, 3}, {2, 1}, {0, 1}}, // rectangular kernel, uneven stride and pad
    {{2, 2, 5, 5}, 2, 2, 0},                // the last row and column are never read
    {{1, 3, 4, 4}, 1, 1, 0},                // pointwise
    {{2, 1, 4, 3}, 3, 1, 1},
};

} // namespace

// ==== output sizes =============================================================================

TEST(NNOutsize, ConvAndDeconvFormulasAsInDeZero) {
  EXPECT_EQ(F::get_conv_outsize(4, 3, 1, 1), 4);
  EXPECT_EQ(F::get_conv_outsize(7, 3, 2, 1), 4);
  EXPECT_EQ(F::get_conv_outsize(5, 2, 2, 0), 2);
  EXPECT_EQ(dz::utils::get_conv_outsize(28, 3, 1, 0), 26);
  EXPECT_EQ(F::get_deconv_outsize(4, 3, 2, 1), 7);
  EXPECT_EQ(dz::utils::get_deconv_outsize(7, 4, 1, 0), 10);
}

// ==== im2col / col2im ==========================================================================

TEST(NNIm2col, LayoutsMatchDeZero) {
  Variable x(dz::arange(9, dz::f64).reshape({1, 1, 3, 3}));
  Tensor m = F::im2col(x, 2).data();
  EXPECT_EQ(m.shape(), (Shape{4, 4}));
  EXPECT_TRUE(
      dz::allclose(m, Tensor::from({0, 1, 3, 4, 1, 2, 4, 5, 3, 4, 6, 7, 4, 5, 7, 8}, {4, 4})));
  Tensor c = F::im2col(x, 2, 1, 0, false).data();
  EXPECT_EQ(c.shape(), (Shape{1, 1, 2, 2, 2, 2}));
  // col[kh, kw, oh, ow] = x[oh + kh, ow + kw]
  EXPECT_TRUE(dz::allclose(
      c, Tensor::from({0, 1, 3, 4, 1, 2, 4, 5, 3, 4, 6, 7, 4, 5, 7, 8}, {1, 1, 2, 2, 2, 2})));
  // Stride 2, pad 1: a 2x2 grid of 2x2 windows over the zero-padded 5x5.
  Tensor p = F::im2col(x, 2, 2, 1).data();
  EXPECT_TRUE(
      dz::allclose(p, Tensor::from({0, 0, 0, 0, 0, 0, 1, 2, 0, 3, 0, 6, 4, 5, 7, 8}, {4, 4})));
}

TEST(NNIm2col, ChannelsAndBatchInMatrixRows) {
  Tensor x = rn({2, 3, 5, 4}, 1);
  Tensor m = dz::im2col(x, {2, 3}, {2, 1}, {1, 0}, true);
  Tensor c = dz::im2col(x, {2, 3}, {2, 1}, {1, 0}, false);
  ASSERT_EQ(c.shape(), (Shape{2, 3, 2, 3, 3, 2}));
  // to_matrix is col.transpose(0, 4, 5, 1, 2, 3).reshape(N*OH*OW, -1), as in DeZero.
  EXPECT_TRUE(dz::allclose(m, c.transpose({0, 4, 5, 1, 2, 3}).reshape({12, 18}), 0, 0));
}

TEST(NNIm2col, Col2imIsTheAdjointOfIm2col) {
  uint64_t seed = 10;
  for (const Geom &g : kGeoms)
    for (bool to_matrix : {true, false}) {
      SCOPED_TRACE(g.str() + (to_matrix ? " matrix" : " 6-d"));
      Tensor x = rn(g.x, seed++);
      Tensor col = dz::im2col(x, g.k, g.s, g.p, to_matrix);
      Tensor c = rn(col.shape(), seed++);
      Tensor back = dz::col2im(c, g.x, g.k, g.s, g.p, to_matrix);
      EXPECT_EQ(back.shape(), g.x);
      EXPECT_NEAR(dot(col, c), dot(x, back), 1e-10 * (1 + std::abs(dot(col, c))));
    }
}

TEST(NNIm2col, Col2imAddsOverlappingWindows) {
  // k3 s1 p1 on 3x3: each pixel is read by as many windows as fit around it.
  Tensor col = dz::ones({9, 9}, dz::f64);
  Tensor img = dz::col2im(col, {1, 1, 3, 3}, 3, 1, 1, true);
  EXPECT_TRUE(dz::allclose(img, Tensor::from({4, 6, 4, 6, 9, 6, 4, 6, 4}, {1, 1, 3, 3})));
}

TEST(NNIm2col, GradientChecksBothLayouts) {
  uint64_t seed = 30;
  for (const Geom &g : kGeoms)
    for (bool m : {true, false}) {
      SCOPED_TRACE(g.str() + (m ? " matrix" : " 6-d"));
      EXPECT_TRUE(GradOk([g, m](const Vars &v) { return F::im2col(v[0], g.k, g.s, g.p, m); },
                         {rn(g.x, seed++)}));
      Shape cs = dz::im2col(dz::zeros(g.x, dz::f64), g.k, g.s, g.p, m).shape();
      EXPECT_TRUE(GradOk([g, m](const Vars &v) { return F::col2im(v[0], g.x, g.k, g.s, g.p, m); },
                         {rn(cs, seed++)}));
    }
}

// ==== conv2d ===================================================================================

TEST(NNConv, ForwardMatchesNaiveLoop) {
  uint64_t seed = 100;
  for (const Geom &g : kGeoms)
    for (bool bias : {true, false}) {
      SCOPED_TRACE(g.str() + (bias ? " with bias" : " without bias"));
      Tensor x = rn(g.x, seed++), W = rn({4, g.x[1], g.k.h, g.k.w}, seed++), b = rn({4}, seed++);
      Tensor ref = naive_conv2d(x, W, bias ? &b : nullptr, g.s, g.p);
      std::optional<Variable> bv;
      if (bias)
        bv = Variable(b);
      Tensor y = F::conv2d(Variable(x), Variable(W), bv, g.s, g.p).data();
      EXPECT_TRUE(dz::allclose(y, ref, 1e-12, 1e-12)) << dz::max_abs_diff(y, ref);
      Tensor y32 = F::conv2d(Variable(x.to(dz::f32)), Variable(W.to(dz::f32)),
                             bias ? std::optional<Variable>(Variable(b.to(dz::f32))) : std::nullopt,
                             g.s, g.p)
                       .data();
      EXPECT_EQ(y32.dtype(), dz::f32);
      EXPECT_TRUE(dz::allclose(y32.to(dz::f64), ref, 1e-4, 1e-4));
    }
}

TEST(NNConv, BothAlgorithmsMatchNaiveLoopInFloat32) {
  // Enough input taps (C*KH*KW) that Auto picks oneDNN, on even and uneven geometries.
  const std::vector<Geom> geoms = {{{4, 16, 9, 9}, 3, 1, 1},
                                   {{3, 8, 10, 11}, 3, 2, 1},
                                   {{2, 4, 12, 12}, 5, 2, 2},
                                   {{64, 8, 14, 14}, 3, 1, 0}};
  uint64_t seed = 150;
  for (const Geom &g : geoms)
    for (auto algo : {dz::ConvAlgo::Auto, dz::ConvAlgo::Im2colGemm, dz::ConvAlgo::OneDNN}) {
      SCOPED_TRACE(g.str() + " algo " + std::to_string(int(algo)));
      Tensor x = dz::randn(g.x, dz::f32, seed++),
             W = dz::randn({16, g.x[1], g.k.h, g.k.w}, dz::f32, seed++);
      Tensor b = dz::randn({16}, dz::f32, seed++);
      Tensor ref = naive_conv2d(x.to(dz::f64), W.to(dz::f64), &b, g.s, g.p);
      Tensor y = dz::conv2d(x, W, &b, g.s, g.p, algo);
      EXPECT_EQ(y.dtype(), dz::f32);
      EXPECT_TRUE(dz::allclose(y.to(dz::f64), ref, 1e-4, 1e-4)) << dz::max_abs_diff(y, ref);
    }
}

TEST(NNConv, GradientCheckWithAndWithoutBias) {
  uint64_t seed = 200;
  for (const Geom &g : kGeoms) {
    SCOPED_TRACE(g.str());
    Tensor x = rn(g.x, seed++), W = rn({3, g.x[1], g.k.h, g.k.w}, seed++), b = rn({3}, seed++);
    EXPECT_TRUE(
        GradOk([g](const Vars &v) { return F::conv2d(v[0], v[1], v[2], g.s, g.p); }, {x, W, b}));
    EXPECT_TRUE(GradOk([g](const Vars &v) { return F::conv2d(v[0], v[1], std::nullopt, g.s, g.p); },
                       {x, W}));
  }
}

TEST(NNConv, SecondDerivativesThroughConvolution) {
  // d/dW and d/dx of sum(w * conv2d(x, W)^2), each checked against finite differences in
  // both x and W: exercises Conv2DGradW's and Deconv2d's own backwards.
  const Geom g{{2, 2, 8, 7}, 3, 2, 1};
  Tensor x = rn(g.x, 300), W = rn({3, 2, 3, 3}, 301), b = rn({3}, 302);
  MultiFn f = [g](const Vars &v) { return F::square(F::conv2d(v[0], v[1], v[2], g.s, g.p)); };
  EXPECT_TRUE(GradOk(grad_of(f, 1), {x, W, b}));
  EXPECT_TRUE(GradOk(grad_of(f, 0), {x, W, b}));
  EXPECT_TRUE(GradOk(grad_of(f, 2), {x, W, b}));
}

TEST(NNConv, BackwardGivesDeconvAndGradWShapes) {
  Variable x(rn({2, 3, 7, 7}, 310)), W(rn({4, 3, 3, 3}, 311)), b(rn({4}, 312));
  Variable y = F::conv2d(x, W, b, 2, 1);
  EXPECT_EQ(y.shape(), (Shape{2, 4, 4, 4}));
  y.backward();
  EXPECT_EQ(x.grad().shape(), x.shape());
  EXPECT_EQ(W.grad().shape(), W.shape());
  EXPECT_TRUE(dz::allclose(b.grad().data(), dz::full({4}, 32.0, dz::f64)));
}

// ==== conv2d_grad_w and deconv2d ================================================================

TEST(NNConvGradW, EqualsTheWeightGradientOfConv2d) {
  const Geom g{{2, 3, 7, 7}, 3, 2, 1};
  Variable x(rn(g.x, 400)), W(rn({4, 3, 3, 3}, 401));
  Tensor gy = rn({2, 4, 4, 4}, 402);
  Variable y = F::conv2d(x, W, std::nullopt, g.s, g.p);
  (y * Variable(gy)).sum().backward();
  Tensor gW = F::conv2d_grad_w(x, Variable(gy), g.k, g.s, g.p).data();
  EXPECT_TRUE(dz::allclose(gW, W.grad().data(), 1e-12, 1e-12));
  EXPECT_TRUE(GradOk([g](const Vars &v) { return F::conv2d_grad_w(v[0], v[1], g.k, g.s, g.p); },
                     {x.data(), gy}));
}

TEST(NNDeconv, ForwardMatchesNaiveScatter) {
  uint64_t seed = 500;
  struct Case {
    Shape x;
    Size2 k, s, p;
    std::optional<Size2> out;
  };
  const std::vector<Case> cases = {{{2, 3, 4, 4}, 3, 2, 1, std::nullopt},
                                   {{2, 3, 4, 4}, 3, 2, 1, Size2{8, 8}},
                                   {{1, 2, 3, 5}, {2, 3}, {1, 2}, {0, 1}, std::nullopt},
                                   {{1, 4, 3, 3}, 1, 1, 0, std::nullopt}};
  for (const Case &c : cases)
    for (bool bias : {true, false}) {
      Tensor x = rn(c.x, seed++), W = rn({c.x[1], 2, c.k.h, c.k.w}, seed++), b = rn({2}, seed++);
      Size2 out = c.out.value_or(Size2{F::get_deconv_outsize(c.x[2], c.k.h, c.s.h, c.p.h),
                                       F::get_deconv_outsize(c.x[3], c.k.w, c.s.w, c.p.w)});
      Tensor ref = naive_deconv2d(x, W, bias ? &b : nullptr, c.s, c.p, out);
      Tensor y =
          F::deconv2d(Variable(x), Variable(W),
                      bias ? std::optional<Variable>(Variable(b)) : std::nullopt, c.s, c.p, c.out)
              .data();
      EXPECT_EQ(y.shape(), ref.shape());
      EXPECT_TRUE(dz::allclose(y, ref, 1e-12, 1e-12));
    }
}

TEST(NNDeconv, IsTheAdjointOfConv2dInX) {
  uint64_t seed = 550;
  for (const Geom &g : kGeoms) {
    SCOPED_TRACE(g.str());
    Tensor x = rn(g.x, seed++), W = rn({3, g.x[1], g.k.h, g.k.w}, seed++);
    Tensor y = dz::conv2d(x, W, nullptr, g.s, g.p);
    Tensor c = rn(y.shape(), seed++);
    Tensor back = dz::deconv2d(c, W, nullptr, g.s, g.p, {g.x[2], g.x[3]});
    EXPECT_NEAR(dot(y, c), dot(x, back), 1e-10 * (1 + std::abs(dot(y, c))));
  }
}

TEST(NNDeconv, GradientCheckWithAndWithoutBiasAndOutsize) {
  Tensor x = rn({2, 3, 4, 4}, 600), W = rn({3, 2, 3, 3}, 601), b = rn({2}, 602);
  EXPECT_TRUE(GradOk([](const Vars &v) { return F::deconv2d(v[0], v[1], v[2], 2, 1); }, {x, W, b}));
  EXPECT_TRUE(GradOk(
      [](const Vars &v) {
        return F::deconv2d(v[0], v[1], std::nullopt, 2, 1, Size2{8, 8});
      },
      {x, W}));
  Tensor x2 = rn({1, 2, 3, 5}, 603), W2 = rn({2, 3, 2, 3}, 604);
  EXPECT_TRUE(GradOk(
      [](const Vars &v) {
        return F::deconv2d(v[0], v[1], std::nullopt, {1, 2}, {0, 1});
      },
      {x2, W2}));
}

TEST(NNDeconv, SecondDerivatives) {
  Tensor x = rn({1, 2, 3, 3}, 650), W = rn({2, 2, 3, 3}, 651);
  MultiFn f = [](const Vars &v) { return F::square(F::deconv2d(v[0], v[1], std::nullopt, 2, 1)); };
  EXPECT_TRUE(GradOk(grad_of(f, 0), {x, W}));
  EXPECT_TRUE(GradOk(grad_of(f, 1), {x, W}));
}

// ==== pooling ====================================================================================

TEST(NNPool, MaxPoolingByHand) {
  Variable x(dz::arange(16, dz::f64).reshape({1, 1, 4, 4}));
  EXPECT_TRUE(dz::allclose(F::pooling(x, 2, 2).data(), Tensor::from({5, 7, 13, 15}, {1, 1, 2, 2})));
  // k3 s2 p1 on 4x4: windows centred on (0,0), (0,2), (2,0), (2,2).
  EXPECT_TRUE(
      dz::allclose(F::pooling(x, 3, 2, 1).data(), Tensor::from({5, 7, 13, 15}, {1, 1, 2, 2})));
  // The padding never wins (unlike DeZero's im2col with zeros): all-negative input pooled
  // over windows that reach into the padding gives the largest value inside each window.
  Variable neg(Tensor::from({-1, -2, -3, -4}, {1, 1, 2, 2}));
  EXPECT_TRUE(dz::allclose(F::pooling(neg, 2, 1, 1).data(),
                           Tensor::from({-1, -1, -2, -1, -1, -2, -3, -3, -4}, {1, 1, 3, 3})));
  EXPECT_TRUE(dz::allclose(F::pooling(neg, 2, 1, 0).data(), Tensor::from({-1}, {1, 1, 1, 1})));
}

TEST(NNPool, MaxGradientGoesToTheFirstMaximum) {
  Variable x(
      Tensor::from({1, 3, 3, 0, /**/ 2, 2, 1, 5, /**/ 0, 0, 0, 0, /**/ 0, 0, 0, 0}, {1, 1, 4, 4}));
  F::pooling(x, 2, 2).sum().backward();
  EXPECT_TRUE(dz::allclose(
      x.grad().data(),
      Tensor::from({0, 1, 0, 0, /**/ 0, 0, 0, 1, /**/ 1, 0, 1, 0, /**/ 0, 0, 0, 0}, {1, 1, 4, 4})));
}

TEST(NNPool, MaxGradientCheck) {
  uint64_t seed = 700;
  for (const Geom &g : kGeoms) {
    SCOPED_TRACE(g.str());
    EXPECT_TRUE(GradOk([g](const Vars &v) { return F::pooling(v[0], g.k, g.s, g.p); },
                       {distinct(g.x, seed++)}));
  }
}

TEST(NNPool, MaxSecondDerivativeThroughPoolingGradAndWithIndexes) {
  const Geom g{{1, 2, 8, 7}, 3, 2, 1};
  MultiFn f = [g](const Vars &v) { return F::pow(F::pooling(v[0], g.k, g.s, g.p), 3); };
  EXPECT_TRUE(GradOk(grad_of(f, 0), {distinct(g.x, 710)}));
  // Third order: the gradient of the gradient again, which runs PoolingWithIndexes' backward.
  EXPECT_TRUE(GradOk(grad_of(grad_of(f, 0), 0), {distinct(g.x, 711)}));
}

TEST(NNPool, AveragePoolingByHand) {
  Variable x(dz::arange(16, dz::f64).reshape({1, 1, 4, 4}));
  EXPECT_TRUE(dz::allclose(F::average_pooling(x, 2, 2).data(),
                           Tensor::from({2.5, 4.5, 10.5, 12.5}, {1, 1, 2, 2})));
  // Padding zeros count in the mean, as in DeZero.
  Variable ones(dz::ones({1, 1, 2, 2}, dz::f64));
  EXPECT_TRUE(
      dz::allclose(F::average_pooling(ones, 2, 1, 1).data(),
                   Tensor::from({0.25, 0.5, 0.25, 0.5, 1, 0.5, 0.25, 0.5, 0.25}, {1, 1, 3, 3})));
}

TEST(NNPool, AverageGradientChecks) {
  uint64_t seed = 800;
  for (const Geom &g : kGeoms) {
    SCOPED_TRACE(g.str());
    EXPECT_TRUE(GradOk([g](const Vars &v) { return F::average_pooling(v[0], g.k, g.s, g.p); },
                       {rn(g.x, seed++)}));
  }
  const Geom g{{1, 2, 8, 7}, 3, 2, 1};
  MultiFn f = [g](const Vars &v) { return F::square(F::average_pooling(v[0], g.k, g.s, g.p)); };
  EXPECT_TRUE(GradOk(grad_of(f, 0), {rn(g.x, 810)}));
}

TEST(NNPool, Float32MatchesFloat64) {
  Tensor x = rn({2, 3, 7, 7}, 850);
  Tensor y64 = F::pooling(Variable(x), 3, 2, 1).data();
  Tensor y32 = F::pooling(Variable(x.to(dz::f32)), 3, 2, 1).data();
  EXPECT_EQ(y32.dtype(), dz::f32);
  EXPECT_TRUE(dz::allclose(y32.to(dz::f64), y64, 1e-6, 1e-6));
  Tensor a64 = F::average_pooling(Variable(x), 3, 2, 1).data();
  Tensor a32 = F::average_pooling(Variable(x.to(dz::f32)), 3, 2, 1).data();
  EXPECT_TRUE(dz::allclose(a32.to(dz::f64), a64, 1e-6, 1e-6));
}

TEST(NNPool, MaximaAloneEqualMaxPoolWithIndexesForEveryGeometry) {
  // max_pool2d_values reads a row of windows per tap; max_pool2d, window by window. Both
  // must keep padding taps out of the maximum; negative inputs would let a zero tap win.
  for (auto [h, w] : {std::pair{7, 7}, {6, 9}, {1, 5}, {28, 28}})
    for (int64_t k : {1, 2, 3})
      for (int64_t s : {1, 2, 3})
        for (int64_t p : {0, 1})
          for (dz::DType dt : {dz::f32, dz::f64}) {
            if (p >= k || (h + 2 * p - k) < 0 || (w + 2 * p - k) < 0)
              continue;
            SCOPED_TRACE(std::to_string(h) + "x" + std::to_string(w) + " k" + std::to_string(k) +
                         " s" + std::to_string(s) + " p" + std::to_string(p) + " " +
                         dz::dtype_name(dt));
            Tensor x = (rn({2, 3, h, w}, 851) - 0.5).to(dt);
            Tensor want = dz::max_pool2d(x, {k, k}, {s, s}, {p, p}).y;
            Tensor got = dz::max_pool2d_values(x, {k, k}, {s, s}, {p, p});
            ASSERT_EQ(got.shape(), want.shape());
            EXPECT_TRUE(dz::allclose(got, want, 0, 0));
          }
  Tensor rect = rn({1, 2, 9, 8}, 852) - 0.5;
  EXPECT_TRUE(dz::allclose(dz::max_pool2d_values(rect, {3, 2}, {2, 3}, {1, 0}),
                           dz::max_pool2d(rect, {3, 2}, {2, 3}, {1, 0}).y, 0, 0));
}

TEST(NNPool, TwoByTwoStrideTwoTakesTheFirstMaximumOfEachWindow) {
  // max_pool2d's 2x2 stride-2 path against a naive loop, on values with many ties (so the
  // index of the first maximum is what is checked) and odd sizes (a last row/column unread).
  std::vector<double> values(2 * 3 * 7 * 9);
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = double((i * 7 + i / 9) % 4); // 0..3: most windows hold a tie
  Tensor x = Tensor::from(values, {2, 3, 7, 9});
  dz::MaxPoolResult r = dz::max_pool2d(x, {2, 2}, {2, 2}, {0, 0});
  ASSERT_EQ(r.y.shape(), (Shape{2, 3, 3, 4}));
  const double *px = x.data<double>();
  for (int64_t nc = 0; nc < 6; ++nc)
    for (int64_t oh = 0; oh < 3; ++oh)
      for (int64_t ow = 0; ow < 4; ++ow) {
        double best = 0;
        int64_t arg = -1;
        for (int64_t k = 0; k < 4; ++k) {
          double v = px[nc * 63 + (2 * oh + k / 2) * 9 + 2 * ow + k % 2];
          if (arg < 0 || v > best)
            best = v, arg = k;
        }
        const int64_t o = nc * 12 + oh * 4 + ow;
        EXPECT_EQ(r.y.data<double>()[o], best) << o;
        EXPECT_EQ(r.indexes.data<int64_t>()[o], arg) << o;
      }
  EXPECT_TRUE(dz::allclose(dz::max_pool2d_values(x, {2, 2}, {2, 2}, {0, 0}), r.y, 0, 0));
}

// ==== batch_norm =================================================================================

TEST(NNBatchNorm, TrainModeNormalisesEachChannel) {
  for (Shape s : {Shape{8, 3}, Shape{4, 3, 2, 5}}) {
    SCOPED_TRACE(dz::shape_str(s));
    Tensor x = rn(s, 900) * 3.0 + 2.0, mean, var;
    Variable gamma(Tensor::from({1.0, 2.0, 0.5})), beta(Tensor::from({0.0, -1.0, 3.0}));
    Tensor y = F::batch_norm(Variable(x), gamma, beta, mean, var).data();
    std::vector<int64_t> axes =
        s.size() == 4 ? std::vector<int64_t>{0, 2, 3} : std::vector<int64_t>{0};
    Tensor ym = y.mean(axes), ystd = dz::sqrt(dz::square(y - y.mean(axes, true)).mean(axes));
    EXPECT_TRUE(dz::allclose(ym, beta.data(), 1e-9, 1e-9));
    EXPECT_TRUE(dz::allclose(ystd, gamma.data(), 1e-4, 1e-4));
  }
}

TEST(NNBatchNorm, RunningAveragesAfterOneStepByHand) {
  // Channel 0: 1, 2, 3, 6 (mean 3, biased var 3.5); channel 1: 0, 0, 4, 4 (mean 2, var 4).
  Tensor x = Tensor::from({1, 0, 2, 0, 3, 4, 6, 4}, {4, 2});
  Tensor mean = Tensor::from({0.5, 0.0}), var = Tensor::from({1.0, 2.0});
  Tensor mean_alias = mean; // shares storage: the update is in place
  Variable gamma(dz::ones({2}, dz::f64)), beta(dz::zeros({2}, dz::f64));
  Tensor y = F::batch_norm(Variable(x), gamma, beta, mean, var, 0.9, 2e-5).data();
  // running = 0.9 running + 0.1 batch, variance scaled by m / (m - 1) = 4 / 3.
  EXPECT_TRUE(dz::allclose(mean, Tensor::from({0.9 * 0.5 + 0.1 * 3, 0.1 * 2}), 1e-12, 0));
  EXPECT_TRUE(dz::allclose(
      var, Tensor::from({0.9 * 1 + 0.1 * 3.5 * 4 / 3, 0.9 * 2 + 0.1 * 4 * 4.0 / 3}), 1e-12, 0));
  EXPECT_TRUE(mean_alias.shares_storage(mean));
  EXPECT_NEAR(mean_alias.at(0), 0.75, 1e-12);
  EXPECT_NEAR(y.at(0), (1 - 3) / std::sqrt(3.5 + 2e-5), 1e-12);
  EXPECT_NEAR(y.at(7), (4 - 2) / std::sqrt(4 + 2e-5), 1e-12);

  // 4-d: statistics over N, H, W (m = N H W = 4).
  Tensor x4 = Tensor::from({1, 2, 3, 6, /* c1 */ 0, 0, 4, 4}, {1, 2, 2, 2});
  Tensor m4, v4; // empty: start as zeros and ones
  F::batch_norm(Variable(x4), gamma, beta, m4, v4, 0.8);
  EXPECT_TRUE(dz::allclose(m4, Tensor::from({0.2 * 3, 0.2 * 2}), 1e-12, 0));
  EXPECT_TRUE(
      dz::allclose(v4, Tensor::from({0.8 + 0.2 * 3.5 * 4 / 3, 0.8 + 0.2 * 4 * 4.0 / 3}), 1e-12, 0));
}

TEST(NNBatchNorm, TestModeUsesRunningStatisticsAndLeavesThem) {
  Tensor x = rn({5, 2, 3, 3}, 950);
  Tensor mean = Tensor::from({0.5, -1.0}), var = Tensor::from({2.0, 0.25});
  Variable gamma(Tensor::from({1.5, -0.5})), beta(Tensor::from({0.1, 0.2}));
  Tensor y;
  {
    dz::TestMode tm;
    y = F::batch_norm(Variable(x), gamma, beta, mean, var).data();
  }
  Tensor expect = (x - mean.reshape({1, 2, 1, 1})) / dz::sqrt(var.reshape({1, 2, 1, 1}) + 2e-5) *
                      gamma.data().reshape({1, 2, 1, 1}) +
                  beta.data().reshape({1, 2, 1, 1});
  EXPECT_TRUE(dz::allclose(y, expect, 1e-12, 1e-12));
  EXPECT_TRUE(dz::allclose(mean, Tensor::from({0.5, -1.0}), 0, 0));
  EXPECT_TRUE(dz::allclose(var, Tensor::from({2.0, 0.25}), 0, 0));
}

TEST(NNBatchNorm, GradientCheckTrainAndTest) {
  Tensor gamma = Tensor::from({1.5, -0.5, 0.7}), beta = Tensor::from({0.1, 0.2, -0.3});
  for (Shape s : {Shape{6, 3}, Shape{3, 3, 2, 3}}) {
    SCOPED_TRACE(dz::shape_str(s));
    auto mean = std::make_shared<Tensor>(), var = std::make_shared<Tensor>();
    MultiFn f = [mean, var](const Vars &v) { return F::batch_norm(v[0], v[1], v[2], *mean, *var); };
    EXPECT_TRUE(GradOk(f, {rn(s, 960), gamma, beta}));
    dz::TestMode tm;
    EXPECT_TRUE(GradOk(f, {rn(s, 961), gamma, beta}));
  }
}

TEST(NNBatchNorm, Float32Input) {
  Tensor x = dz::randn({4, 3, 2, 2}, dz::f32, 970), mean, var;
  Variable gamma(dz::ones({3}, dz::f32)), beta(dz::zeros({3}, dz::f32));
  Variable xv(x);
  Variable y = F::batch_norm(xv, gamma, beta, mean, var);
  EXPECT_EQ(y.dtype(), dz::f32);
  EXPECT_EQ(mean.dtype(), dz::f32);
  y.sum().backward();
  EXPECT_EQ(xv.grad().shape(), x.shape());
  EXPECT_EQ(gamma.grad().dtype(), dz::f32);
}

// ==== embed_id ===================================================================================

TEST(NNEmbedID, LooksUpRowsAndAccumulatesRepeatedIds) {
  Variable W(dz::arange(10, dz::f64).reshape({5, 2}));
  Variable ids(Tensor::from_i64({1, 3, 1, 1}, {2, 2}));
  Variable y = F::embed_id(ids, W);
  EXPECT_EQ(y.shape(), (Shape{2, 2, 2}));
  EXPECT_TRUE(dz::allclose(y.data(), Tensor::from({2, 3, 6, 7, 2, 3, 2, 3}, {2, 2, 2})));
  y.sum().backward();
  EXPECT_TRUE(dz::allclose(W.grad().data(), Tensor::from({0, 0, 3, 3, 0, 0, 1, 1, 0, 0}, {5, 2})));
  Tensor idx = Tensor::from_i64({4, 0, 4, 2, 0, 4}, {3, 2});
  EXPECT_TRUE(
      GradOk([idx](const Vars &v) { return F::embed_id(Variable(idx), v[0]); }, {rn({5, 3}, 990)}));
}

// ==== errors =====================================================================================

TEST(NNErrors, ConvolutionShapesAndDtypes) {
  Variable x(rn({2, 3, 5, 5}, 1)), W(rn({4, 3, 3, 3}, 2));
  EXPECT_TRUE(ThrowsMentioning(
      [&] {
        F::conv2d(Variable(rn({3, 5, 5}, 3)), W);
      },
      {"conv2d", "4-d", "(3, 5, 5)"}));
  EXPECT_TRUE(ThrowsMentioning(
      [&] {
        F::conv2d(x, Variable(rn({4, 2, 3, 3}, 4)));
      },
      {"conv2d", "channels", "(2, 3, 5, 5)", "(4, 2, 3, 3)"}));
  EXPECT_TRUE(ThrowsMentioning(
      [&] {
        F::conv2d(x, Variable(rn({4, 3, 7, 7}, 5)));
      },
      {"conv2d", "7x7", "larger than the padded input", "5x5"}));
  EXPECT_TRUE(ThrowsMentioning([&] { F::conv2d(x, W, Variable(rn({3}, 6))); },
                               {"conv2d", "bias", "(3,)", "(4,)"}));
  EXPECT_TRUE(ThrowsMentioning([&] { F::conv2d(x, W, std::nullopt, 0); },
                               {"conv2d", "stride", "stride >= 1"}));
  EXPECT_TRUE(ThrowsMentioning(
      [&] {
        F::conv2d(Variable(dz::ones({2, 3, 5, 5}, dz::i64)), W);
      },
      {"conv2d", "int64", "float32 or float64"}));
  EXPECT_TRUE(ThrowsMentioning(
      [&] {
        F::deconv2d(x, Variable(rn({3, 2, 3, 3}, 7)), std::nullopt, 2, 1, Size2{5, 5});
      },
      {"deconv2d", "outsize 5x5", "9 to 10"}));
  EXPECT_TRUE(
      ThrowsMentioning([&] { F::deconv2d(x, W); }, {"deconv2d", "channels", "(C, OC, KH, KW)"}));
  EXPECT_TRUE(ThrowsMentioning(
      [&] {
        F::col2im(Variable(rn({5, 4}, 8)), {1, 1, 3, 3}, 2, 1, 0);
      },
      {"col2im", "(5, 4)", "(1, 1, 3, 3)", "expected (4, 4)"}));
  EXPECT_TRUE(ThrowsMentioning(
      [&] {
        F::im2col(Variable(rn({3, 3}, 9)), 2);
      },
      {"im2col", "4-d", "(3, 3)"}));
}

TEST(NNErrors, PoolingBatchNormEmbedID) {
  EXPECT_TRUE(ThrowsMentioning(
      [] {
        F::pooling(Variable(rn({4, 4}, 1)), 2);
      },
      {"pooling", "4-d", "(4, 4)"}));
  EXPECT_TRUE(ThrowsMentioning(
      [] {
        F::average_pooling(Variable(rn({1, 1, 2, 2}, 2)), 4);
      },
      {"average_pooling", "4x4", "2x2"}));
  Tensor m, v;
  Variable g(dz::ones({3}, dz::f64)), b(dz::zeros({3}, dz::f64));
  EXPECT_TRUE(ThrowsMentioning(
      [&] {
        F::batch_norm(Variable(rn({2, 3, 4}, 3)), g, b, m, v);
      },
      {"batch_norm", "(2, 3, 4)", "2-d", "4-d"}));
  EXPECT_TRUE(ThrowsMentioning(
      [&] {
        F::batch_norm(Variable(rn({2, 4}, 4)), g, b, m, v);
      },
      {"batch_norm", "gamma", "(3,)", "(2, 4)"}));
  Tensor bad_mean = dz::zeros({5}, dz::f64);
  EXPECT_TRUE(ThrowsMentioning(
      [&] {
        F::batch_norm(Variable(rn({2, 3}, 5)), g, b, bad_mean, v);
      },
      {"batch_norm", "running_mean", "(5,)"}));
  Variable W(rn({5, 2}, 6));
  EXPECT_TRUE(ThrowsMentioning([&] { F::embed_id(Variable(Tensor::from({1.0})), W); },
                               {"embed_id", "float64", "int"}));
  EXPECT_TRUE(ThrowsMentioning([&] { F::embed_id(Variable(Tensor::from_i64({5})), W); },
                               {"embed_id", "5", "(5, 2)", "0 to 4"}));
}
