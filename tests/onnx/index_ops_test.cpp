// index_ops_test.cpp - the importer's ops that select, scatter, generate, resample or
// transform by index (IndexOps.cpp, Resize.cpp, Spectral.cpp, ReduceProd, Tile, TopK, the
// training optimizers) beyond what the ONNX node tests cover: negative indices and axes
// against naive loops written here, repeated scatter targets under each reduction,
// out-of-range one-hot indices, batched Trilu with a negative diagonal, ties and
// infinities in TopK, gradients through the decompositions against central differences
// (float64), the errors of bad or unknowable indices, and a mutation loop.
#include <gtest/gtest.h>

#include "onnx_test_util.h"

#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <random>

namespace {

using namespace dz::onnx_test;

struct IndexOpsTest : ::testing::Test {
  mlir::MLIRContext ctx{mlir::MLIRContext::Threading::DISABLED};

  /// Imports `bytes` and runs it (the compiled-mode pipeline, then the CPU executor).
  std::vector<dz::Tensor> run(const std::string &bytes, const std::vector<dz::Tensor> &inputs) {
    mlir::OwningOpRef<mlir::ModuleOp> m = dz::onnx::importOnnxBytes(ctx, bytes, "index.onnx");
    mlir::PassManager pm(&ctx);
    dz::passes::buildPipeline(pm);
    EXPECT_TRUE(mlir::succeeded(pm.run(*m)));
    return dz::codegen::buildProgramOrThrow(*m->getOps<mlir::func::FuncOp>().begin()).run(inputs);
  }

  /// The error that importing `bytes` raises ("" when none).
  std::string import_error(const std::string &bytes) {
    try {
      dz::onnx::importOnnxBytes(ctx, bytes, "index.onnx");
    } catch (const dz::Error &e) {
      return e.what();
    }
    return "";
  }
};

dz::Tensor f64_tensor(const std::vector<double> &v, const Dims &d) {
  return dz::Tensor::from(v, dz::Shape(d.begin(), d.end()), dz::f64);
}

void expect_values(const dz::Tensor &got, const Dims &shape, const std::vector<double> &want) {
  ASSERT_EQ(Dims(got.shape().begin(), got.shape().end()), shape);
  dz::Tensor g = got.to(dz::f64);
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isinf(want[i]))
      EXPECT_EQ(g.data<double>()[i], want[i]) << "element " << i;
    else
      EXPECT_NEAR(g.data<double>()[i], want[i], 1e-12 * (1 + std::abs(want[i]))) << "element " << i;
  }
}

// ---- against naive loops -----------------------------------------------------------------

TEST_F(IndexOpsTest, GatherElementsWithNegativeIndicesAlongTheMiddleAxisMatchesNaiveLoop) {
  const Dims x_dims = {2, 4, 3}, i_dims = {2, 3, 2};
  const std::vector<int64_t> ids = {0, -1, 3, -4, 2, 1, -2, 0, 1, 1, -3, 3};
  ModelBuilder m(::onnx::TensorProto::DOUBLE);
  m.input("x", x_dims).int_initializer("i", i_dims, ids).output("y", i_dims);
  int_attr(m.node("GatherElements", {"x", "i"}, {"y"}, "ge"), "axis", -2);
  const std::vector<double> x = uniform(24, 1);
  std::vector<double> want;
  for (int64_t a = 0; a < 2; ++a)
    for (int64_t b = 0; b < 3; ++b)
      for (int64_t c = 0; c < 2; ++c) {
        int64_t k = ids[size_t((a * 3 + b) * 2 + c)];
        k = k < 0 ? k + 4 : k;
        want.push_back(x[size_t((a * 4 + k) * 3 + c)]);
      }
  expect_values(run(m.bytes(), {f64_tensor(x, x_dims)}).at(0), i_dims, want);
}

TEST_F(IndexOpsTest, ScatterElementsRepeatedTargetsFollowTheReduction) {
  // Targets 1 and 3 of row 0 are written twice: none keeps the last update, add sums,
  // mul multiplies both into the data.
  const Dims x_dims = {2, 4}, i_dims = {2, 3};
  const std::vector<int64_t> ids = {1, -3, 3, 0, 2, 2};
  const std::vector<double> x = {1, 2, 3, 4, 5, 6, 7, 8}, u = {10, 20, 30, 40, 50, 60};
  const std::map<std::string, std::vector<double>> want = {
      {"none", {1, 20, 3, 30, 40, 6, 60, 8}},
      {"add", {1, 32, 3, 34, 45, 6, 117, 8}},
      {"mul", {1, 400, 3, 120, 200, 6, 21000, 8}}};
  for (const auto &[reduction, expected] : want) {
    ModelBuilder m(::onnx::TensorProto::DOUBLE, 16);
    m.input("x", x_dims).input("u", i_dims).int_initializer("i", i_dims, ids).output("y", x_dims);
    onnx::NodeProto &n = m.node("ScatterElements", {"x", "i", "u"}, {"y"}, "se");
    int_attr(n, "axis", 1);
    string_attr(n, "reduction", reduction);
    SCOPED_TRACE(reduction);
    expect_values(run(m.bytes(), {f64_tensor(x, x_dims), f64_tensor(u, i_dims)}).at(0), x_dims,
                  expected);
  }
}

TEST_F(IndexOpsTest, GatherNdWithBatchDimsMatchesNaiveLoop) {
  // data (2, 3, 4), indices (2, 2, 1) with batch_dims 1: y[b, j] = data[b, i[b, j]].
  const Dims x_dims = {2, 3, 4}, i_dims = {2, 2, 1}, y_dims = {2, 2, 4};
  const std::vector<int64_t> ids = {2, -3, 1, 1};
  ModelBuilder m(::onnx::TensorProto::DOUBLE);
  m.input("x", x_dims).int_initializer("i", i_dims, ids).output("y", y_dims);
  int_attr(m.node("GatherND", {"x", "i"}, {"y"}, "gnd"), "batch_dims", 1);
  const std::vector<double> x = uniform(24, 2);
  std::vector<double> want;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t j = 0; j < 2; ++j) {
      int64_t k = ids[size_t(b * 2 + j)];
      k = k < 0 ? k + 3 : k;
      for (int64_t e = 0; e < 4; ++e)
        want.push_back(x[size_t((b * 3 + k) * 4 + e)]);
    }
  expect_values(run(m.bytes(), {f64_tensor(x, x_dims)}).at(0), y_dims, want);
}

TEST_F(IndexOpsTest, ReverseExclusiveCumSumAlongANegativeAxisMatchesNaiveLoop) {
  const Dims x_dims = {3, 5};
  ModelBuilder m(::onnx::TensorProto::DOUBLE);
  m.input("x", x_dims).int_initializer("axis", {}, {-1}).output("y", x_dims);
  onnx::NodeProto &n = m.node("CumSum", {"x", "axis"}, {"y"}, "cs");
  int_attr(n, "exclusive", 1);
  int_attr(n, "reverse", 1);
  const std::vector<double> x = uniform(15, 3);
  std::vector<double> want(15, 0.0);
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t i = 0; i < 5; ++i)
      for (int64_t j = i + 1; j < 5; ++j)
        want[size_t(r * 5 + i)] += x[size_t(r * 5 + j)];
  expect_values(run(m.bytes(), {f64_tensor(x, x_dims)}).at(0), x_dims, want);
}

TEST_F(IndexOpsTest, BatchedLowerTriluWithNegativeDiagonalMatchesNaiveLoop) {
  const Dims x_dims = {2, 3, 4};
  ModelBuilder m(::onnx::TensorProto::DOUBLE, 14);
  m.input("x", x_dims).int_initializer("k", {}, {-1}).output("y", x_dims);
  int_attr(m.node("Trilu", {"x", "k"}, {"y"}, "tril"), "upper", 0);
  std::vector<double> x = uniform(24, 4);
  x[5] = std::numeric_limits<double>::infinity(); // [0, 1, 1]: above the diagonal -> 0
  std::vector<double> want;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 4; ++j)
        want.push_back(j - i <= -1 ? x[size_t((b * 3 + i) * 4 + j)] : 0.0);
  expect_values(run(m.bytes(), {f64_tensor(x, x_dims)}).at(0), x_dims, want);
}

TEST_F(IndexOpsTest, OneHotWithNegativeAndOutOfRangeIndicesAlongAxisOne) {
  // depth 4: -1 is class 3, 4 and -5 are out of range (all off).
  const Dims i_dims = {2, 2}, y_dims = {2, 4, 2};
  ModelBuilder m(::onnx::TensorProto::DOUBLE, 11);
  m.input("v", {2})
      .int_initializer("i", i_dims, {-1, 4, 0, -5})
      .int_initializer("d", {}, {4})
      .output("y", y_dims);
  int_attr(m.node("OneHot", {"i", "d", "v"}, {"y"}, "oh"), "axis", 1);
  std::vector<double> want(16, -2.0);    // off = -2, on = 7
  want[size_t((0 * 4 + 3) * 2 + 0)] = 7; // [0, 3, 0]
  want[size_t((1 * 4 + 0) * 2 + 0)] = 7; // [1, 0, 0]
  expect_values(run(m.bytes(), {f64_tensor({-2, 7}, {2})}).at(0), y_dims, want);
}

TEST_F(IndexOpsTest, ReduceProdOverTwoAxesMatchesNaiveLoop) {
  // 3 * 5 = 15 factors per output, padded to 16 with ones; negative values and a zero.
  const Dims x_dims = {3, 2, 5}, y_dims = {2};
  ModelBuilder m(::onnx::TensorProto::DOUBLE);
  m.input("x", x_dims).output("y", y_dims);
  onnx::NodeProto &n = m.node("ReduceProd", {"x"}, {"y"}, "prod");
  ints(n, "axes", {0, -1});
  int_attr(n, "keepdims", 0);
  std::vector<double> x = uniform(30, 5, -1.5, 1.5);
  x[7] = 0; // in output 1
  std::vector<double> want(2, 1.0);
  for (int64_t a = 0; a < 3; ++a)
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t c = 0; c < 5; ++c)
        want[size_t(b)] *= x[size_t((a * 2 + b) * 5 + c)];
  expect_values(run(m.bytes(), {f64_tensor(x, x_dims)}).at(0), y_dims, want);
}

TEST_F(IndexOpsTest, LinearResizeMatchesTheReferenceFormulas) {
  // Width 5 -> 3 with align_corners (x_ori = x · 4 / 2), height 2 -> 1 with
  // pytorch_half_pixel (an output of one reads x_ori = -0.5: row 0 by edge padding).
  const Dims x_dims = {1, 1, 2, 5}, y_dims = {1, 1, 1, 3};
  for (const std::string mode : {"align_corners", "pytorch_half_pixel"}) {
    ModelBuilder m(::onnx::TensorProto::DOUBLE);
    m.input("x", x_dims).int_initializer("sizes", {4}, {1, 1, 1, 3}).output("y", y_dims);
    onnx::NodeProto &n = m.node("Resize", {"x", "", "", "sizes"}, {"y"}, "resize");
    string_attr(n, "mode", "linear");
    string_attr(n, "coordinate_transformation_mode", mode);
    const std::vector<double> x = uniform(10, 8);
    std::vector<double> want;
    for (int64_t j = 0; j < 3; ++j) {
      // align_corners: height 2 -> 1 reads row 0 (x_ori = 0 when the output is 1 long).
      // pytorch_half_pixel: width x_ori = (j + 0.5) · 5 / 3 - 0.5.
      const double xo = mode == "align_corners" ? double(j) * 4 / 2 : (j + 0.5) * 5 / 3 - 0.5;
      const int64_t lo = int64_t(std::floor(xo)), hi = std::min<int64_t>(lo + 1, 4);
      const double r = xo - double(lo);
      want.push_back(x[size_t(lo)] * (1 - r) + x[size_t(hi)] * r);
    }
    SCOPED_TRACE(mode);
    expect_values(run(m.bytes(), {f64_tensor(x, x_dims)}).at(0), y_dims, want);
  }
}

TEST_F(IndexOpsTest, TopKTiesAndInfinitiesKeepTheLowerIndexFirst) {
  // Column 0 holds a tie (2, 2) and column 1 three -inf: each position is taken once,
  // ties in index order.
  const double inf = std::numeric_limits<double>::infinity();
  const Dims x_dims = {4, 2}, y_dims = {3, 2};
  for (const bool largest : {true, false}) {
    ModelBuilder m(::onnx::TensorProto::DOUBLE, 11);
    m.input("x", x_dims).int_initializer("k", {1}, {3}).output("v", y_dims);
    ::onnx::ValueInfoProto *o = m.model().mutable_graph()->add_output();
    o->set_name("i");
    o->mutable_type()->mutable_tensor_type()->set_elem_type(::onnx::TensorProto::INT64);
    for (int64_t d : y_dims)
      o->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(d);
    onnx::NodeProto &n = m.node("TopK", {"x", "k"}, {"v", "i"}, "topk");
    int_attr(n, "axis", 0);
    int_attr(n, "largest", largest ? 1 : 0);
    const std::vector<double> x = {2, -inf, 5, -inf, 2, 1, -1, -inf};
    std::vector<dz::Tensor> y = run(m.bytes(), {f64_tensor(x, x_dims)});
    SCOPED_TRACE(largest ? "largest" : "smallest");
    if (largest) {
      expect_values(y.at(0), y_dims, {5, 1, 2, -inf, 2, -inf});
      expect_values(y.at(1), y_dims, {1, 2, 0, 0, 2, 1});
    } else {
      expect_values(y.at(0), y_dims, {-1, -inf, 2, -inf, 2, -inf});
      expect_values(y.at(1), y_dims, {3, 0, 0, 1, 2, 3});
    }
  }
}

TEST_F(IndexOpsTest, PadModesWithACroppingPadMatchNaiveLoop) {
  // Axis 0 cropped by one at its start, axis 1 padded by (2, 1): the source column of
  // output column j is j - 2, mirrored (reflect), clamped (edge), or the value.
  const Dims x_dims = {3, 4}, y_dims = {2, 7};
  const std::vector<double> x = uniform(12, 9);
  for (const std::string mode : {"constant", "edge", "reflect"}) {
    ModelBuilder m(::onnx::TensorProto::DOUBLE, 11);
    m.input("x", x_dims)
        .int_initializer("pads", {4}, {-1, 2, 0, 1})
        .initializer("v", {}, {2.5})
        .output("y", y_dims);
    string_attr(m.node("Pad", {"x", "pads", "v"}, {"y"}, "pad"), "mode", mode);
    std::vector<double> want;
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 7; ++j) {
        int64_t p = j - 2;
        if (p >= 0 && p < 4)
          want.push_back(x[size_t((i + 1) * 4 + p)]);
        else if (mode == "constant")
          want.push_back(2.5);
        else
          want.push_back(x[size_t((i + 1) * 4 + (mode == "edge" ? std::clamp<int64_t>(p, 0, 3)
                                                 : p < 0        ? -p
                                                                : 6 - p))]);
      }
    SCOPED_TRACE(mode);
    expect_values(run(m.bytes(), {f64_tensor(x, x_dims)}).at(0), y_dims, want);
  }
}

TEST_F(IndexOpsTest, AdamWithBiasCorrectionAndPostNormMatchesItsFormula) {
  // T = 3 > 0: R is corrected by sqrt(1 - beta^T) / (1 - alpha^T); the state of two
  // tensors updates independently.
  ModelBuilder m(::onnx::TensorProto::DOUBLE);
  auto *domain = m.model().add_opset_import();
  domain->set_domain("ai.onnx.preview.training");
  domain->set_version(1);
  const std::vector<std::string> names = {"x1", "x2", "g1", "g2", "v1", "v2", "h1", "h2"};
  m.input("r", {1}).int_initializer("t", {}, {3});
  for (const std::string &name : names)
    m.input(name, {2});
  onnx::NodeProto &n = m.node("Adam", {"r", "t", "x1", "x2", "g1", "g2", "v1", "v2", "h1", "h2"},
                              {"x1n", "x2n", "v1n", "v2n", "h1n", "h2n"}, "adam");
  n.set_domain("ai.onnx.preview.training");
  for (const char *out : {"x1n", "x2n", "v1n", "v2n", "h1n", "h2n"})
    m.output(out, {2});
  auto real = [&](const char *name, double v) {
    onnx::AttributeProto *a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(float(v));
  };
  const double alpha = 0.5, beta = 0.75, eps = 0.125, norm = 0.25, post = 0.5, r = 0.5;
  real("alpha", alpha);
  real("beta", beta);
  real("epsilon", eps);
  real("norm_coefficient", norm);
  real("norm_coefficient_post", post);
  std::vector<dz::Tensor> in = {f64_tensor({r}, {1})};
  std::vector<std::vector<double>> v(8);
  for (size_t i = 0; i < 8; ++i) {
    v[i] = uniform(2, uint32_t(20 + i), i >= 6 ? 0.1 : -1, 1);
    in.push_back(f64_tensor(v[i], {2}));
  }
  dz::onnx::ImportOptions unchecked; // the checker knows the domain only by its registry
  unchecked.check = false;
  mlir::OwningOpRef<mlir::ModuleOp> mod =
      dz::onnx::importOnnxBytes(ctx, m.bytes(), "adam.onnx", unchecked);
  mlir::PassManager pm(&ctx);
  dz::passes::buildPipeline(pm);
  ASSERT_TRUE(mlir::succeeded(pm.run(*mod)));
  std::vector<dz::Tensor> got =
      dz::codegen::buildProgramOrThrow(*mod->getOps<mlir::func::FuncOp>().begin()).run(in);
  ASSERT_EQ(got.size(), 6u);
  const double adjusted = r * std::sqrt(1 - std::pow(beta, 3)) / (1 - std::pow(alpha, 3));
  for (size_t k = 0; k < 2; ++k) {
    std::vector<double> xn, vn, hn;
    for (size_t e = 0; e < 2; ++e) {
      const double x = v[k][e], g = v[2 + k][e] + norm * x;
      vn.push_back(alpha * v[4 + k][e] + (1 - alpha) * g);
      hn.push_back(beta * v[6 + k][e] + (1 - beta) * g * g);
      xn.push_back((1 - post) * (x - adjusted * vn.back() / (std::sqrt(hn.back()) + eps)));
    }
    SCOPED_TRACE("tensor " + std::to_string(k));
    expect_values(got[k], {2}, xn);
    expect_values(got[2 + k], {2}, vn);
    expect_values(got[4 + k], {2}, hn);
  }
}

TEST_F(IndexOpsTest, EinsumWithImplicitOutputAndBroadcastEllipsisMatchesNaiveLoop) {
  // "...ij,...jk": the output is implicit ("...ik"), the ellipsis axes (2, 1) and (3)
  // broadcast to (2, 3).
  const Dims a_dims = {2, 1, 2, 3}, b_dims = {3, 3, 2}, y_dims = {2, 3, 2, 2};
  ModelBuilder m(::onnx::TensorProto::DOUBLE, 12);
  m.input("a", a_dims).input("b", b_dims).output("y", y_dims);
  string_attr(m.node("Einsum", {"a", "b"}, {"y"}, "es"), "equation", "...ij, ...jk");
  const std::vector<double> a = uniform(12, 10), b = uniform(18, 11);
  std::vector<double> want;
  for (int64_t p = 0; p < 2; ++p)
    for (int64_t q = 0; q < 3; ++q)
      for (int64_t i = 0; i < 2; ++i)
        for (int64_t k = 0; k < 2; ++k) {
          double sum = 0;
          for (int64_t j = 0; j < 3; ++j)
            sum += a[size_t((p * 2 + i) * 3 + j)] * b[size_t((q * 3 + j) * 2 + k)];
          want.push_back(sum);
        }
  expect_values(run(m.bytes(), {f64_tensor(a, a_dims), f64_tensor(b, b_dims)}).at(0), y_dims, want);
}

TEST_F(IndexOpsTest, OnesidedDftWithZeroPaddingMatchesNaiveSum) {
  // A real signal of 5 along axis 1, transformed with dft_length 8 (3 zeros appended),
  // bins 0 .. 4.
  const Dims x_dims = {2, 5, 1}, y_dims = {2, 5, 2};
  ModelBuilder m(::onnx::TensorProto::DOUBLE, 17);
  m.input("x", x_dims).int_initializer("len", {}, {8}).output("y", y_dims);
  int_attr(m.node("DFT", {"x", "len"}, {"y"}, "dft"), "onesided", 1);
  const std::vector<double> x = uniform(10, 14);
  std::vector<double> want;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t k = 0; k < 5; ++k) {
      double re = 0, im = 0;
      for (int64_t t = 0; t < 5; ++t) {
        const double theta = 2 * M_PI * double(k * t) / 8;
        re += x[size_t(b * 5 + t)] * std::cos(theta);
        im -= x[size_t(b * 5 + t)] * std::sin(theta);
      }
      want.push_back(re);
      want.push_back(im);
    }
  expect_values(run(m.bytes(), {f64_tensor(x, x_dims)}).at(0), y_dims, want);
}

// ---- gradients through the decompositions ------------------------------------------------

TEST_F(IndexOpsTest, GatherElementsWithRepeatedIndicesHasFiniteDifferenceGradient) {
  expect_gradient_matches(
      ctx, {3, 4},
      [](ModelBuilder &m) {
        m.int_initializer("i", {3, 3}, {0, 0, -1, 3, 1, 1, 2, 2, 2});
        int_attr(m.node("GatherElements", {"x", "i"}, {"p"}, "ge"), "axis", 1);
      },
      {3, 3}, "GatherElements");
}

TEST_F(IndexOpsTest, CumSumHasFiniteDifferenceGradient) {
  expect_gradient_matches(
      ctx, {4, 3},
      [](ModelBuilder &m) {
        m.int_initializer("axis", {}, {0});
        int_attr(m.node("CumSum", {"x", "axis"}, {"p"}, "cs"), "reverse", 1);
      },
      {4, 3}, "CumSum");
}

TEST_F(IndexOpsTest, ReduceProdHasFiniteDifferenceGradient) {
  expect_gradient_matches(
      ctx, {3, 2, 3},
      [](ModelBuilder &m) {
        ints(m.node("ReduceProd", {"x"}, {"p"}, "prod"), "axes", {0, 2});
      },
      {1, 2, 1}, "ReduceProd");
}

TEST_F(IndexOpsTest, ScatterNdMultiplyHasFiniteDifferenceGradientInTheUpdates) {
  // x is the updates (2 rows of 3) into ones (4, 3), both to row 1: the data's row 1 is
  // the product of the two update rows.
  expect_gradient_matches(
      ctx, {2, 3},
      [](ModelBuilder &m) {
        m.initializer("data", {4, 3}, uniform(12, 6, 0.5, 1.5));
        m.int_initializer("i", {2, 1}, {1, -3});
        string_attr(m.node("ScatterND", {"data", "i", "x"}, {"p"}, "snd"), "reduction", "mul");
      },
      {4, 3}, "ScatterND", 16);
}

TEST_F(IndexOpsTest, ScatterElementsHasFiniteDifferenceGradientInTheData) {
  // Overwritten elements of the data get no gradient; the others pass through.
  expect_gradient_matches(
      ctx, {2, 3},
      [](ModelBuilder &m) {
        m.initializer("u", {2, 2}, uniform(4, 7));
        m.int_initializer("i", {2, 2}, {2, 0, -1, 1});
        int_attr(m.node("ScatterElements", {"x", "i", "u"}, {"p"}, "se"), "axis", 1);
      },
      {2, 3}, "ScatterElements");
}

TEST_F(IndexOpsTest, TileAndDepthToSpaceHaveFiniteDifferenceGradient) {
  expect_gradient_matches(
      ctx, {1, 4, 1, 2},
      [](ModelBuilder &m) {
        m.int_initializer("r", {4}, {1, 1, 2, 1});
        m.node("Tile", {"x", "r"}, {"t"}, "tile");
        onnx::NodeProto &n = m.node("DepthToSpace", {"t"}, {"p"}, "d2s");
        int_attr(n, "blocksize", 2);
        string_attr(n, "mode", "CRD");
      },
      {1, 1, 4, 4}, "Tile + DepthToSpace");
}

TEST_F(IndexOpsTest, CubicResizeHasFiniteDifferenceGradient) {
  expect_gradient_matches(
      ctx, {1, 1, 3, 4},
      [](ModelBuilder &m) {
        m.initializer("scales", {4}, {1, 1, 1.5, 0.75});
        onnx::NodeProto &n = m.node("Resize", {"x", "", "scales"}, {"p"}, "resize");
        string_attr(n, "mode", "cubic");
        int_attr(n, "exclude_outside", 1);
      },
      {1, 1, 4, 3}, "Resize");
}

TEST_F(IndexOpsTest, TopKValuesHaveFiniteDifferenceGradient) {
  expect_gradient_matches(
      ctx, {3, 5},
      [](ModelBuilder &m) {
        m.int_initializer("count", {1}, {2});
        m.node("TopK", {"x", "count"}, {"p", "idx"}, "topk");
      },
      {3, 2}, "TopK", 11);
}

TEST_F(IndexOpsTest, EinsumDiagonalAndContractionHaveFiniteDifferenceGradient) {
  // x_ii (the diagonal) times W_ij summed over j: "ii,ij->i".
  expect_gradient_matches(
      ctx, {3, 3},
      [](ModelBuilder &m) {
        m.initializer("w", {3, 4}, uniform(12, 12));
        string_attr(m.node("Einsum", {"x", "w"}, {"p"}, "es"), "equation", "ii,ij->i");
      },
      {3}, "Einsum", 12);
}

TEST_F(IndexOpsTest, GridSampleHasFiniteDifferenceGradientInTheInput) {
  for (const std::string mode : {"bilinear", "bicubic"}) {
    SCOPED_TRACE(mode);
    expect_gradient_matches(
        ctx, {1, 2, 3, 4},
        [&](ModelBuilder &m) {
          m.initializer("grid", {1, 2, 3, 2}, uniform(12, 13, -1.2, 1.2));
          onnx::NodeProto &n = m.node("GridSample", {"x", "grid"}, {"p"}, "gs");
          string_attr(n, "mode", mode);
          string_attr(n, "padding_mode", "reflection");
        },
        {1, 2, 2, 3}, "GridSample", 16);
  }
}

TEST_F(IndexOpsTest, LrnHasFiniteDifferenceGradient) {
  expect_gradient_matches(
      ctx, {1, 5, 2, 2},
      [](ModelBuilder &m) {
        onnx::NodeProto &n = m.node("LRN", {"x"}, {"p"}, "lrn");
        int_attr(n, "size", 4); // one channel before, two after
        onnx::AttributeProto *a = n.add_attribute();
        a->set_name("alpha");
        a->set_type(onnx::AttributeProto::FLOAT);
        a->set_f(0.5f);
      },
      {1, 5, 2, 2}, "LRN");
}

TEST_F(IndexOpsTest, WindowedStftHasFiniteDifferenceGradientInTheSignal) {
  expect_gradient_matches(
      ctx, {1, 9, 1},
      [](ModelBuilder &m) {
        m.int_initializer("step", {}, {2});
        m.initializer("window", {4}, {0.25, 0.75, 1, 0.5});
        m.node("STFT", {"x", "step", "window"}, {"p"}, "stft");
      },
      {1, 3, 3, 2}, "STFT", 17);
}

// ---- errors ------------------------------------------------------------------------------

TEST_F(IndexOpsTest, GatherElementsIndexOutOfRangeNamesTheNodeAndTheRange) {
  ModelBuilder m;
  m.input("x", {2, 3}).int_initializer("i", {2, 1}, {0, 3}).output("y", {2, 1});
  int_attr(m.node("GatherElements", {"x", "i"}, {"y"}, "bad_index"), "axis", 1);
  const std::string msg = import_error(m.bytes());
  EXPECT_NE(msg.find("node 'bad_index'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("index 3 is outside [-3, 3)"), std::string::npos) << msg;
}

TEST_F(IndexOpsTest, IndicesKnownOnlyAtRunTimeAreUnsupported) {
  ModelBuilder m;
  m.input("x", {2, 3}).output("y", {2, 3});
  ::onnx::ValueInfoProto *i = m.model().mutable_graph()->add_input();
  i->set_name("i");
  i->mutable_type()->mutable_tensor_type()->set_elem_type(::onnx::TensorProto::INT64);
  i->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(2);
  i->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(3);
  m.node("GatherElements", {"x", "i"}, {"y"}, "runtime_indices");
  try {
    dz::onnx::importOnnxBytes(ctx, m.bytes(), "index.onnx");
    FAIL() << "no error";
  } catch (const dz::onnx::UnsupportedError &e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("node 'runtime_indices'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("must be known at import time"), std::string::npos) << msg;
    EXPECT_EQ(e.reason(), "GatherElements with a computed indices");
  }
}

TEST_F(IndexOpsTest, ScatterNdUpdatesOfTheWrongShapeAreAnError) {
  ModelBuilder m(::onnx::TensorProto::FLOAT, 16);
  m.input("x", {4, 3}).input("u", {2, 2}).int_initializer("i", {2, 1}, {0, 1}).output("y", {4, 3});
  m.node("ScatterND", {"x", "i", "u"}, {"y"}, "bad_updates");
  dz::onnx::ImportOptions unchecked;
  unchecked.check = false;
  try {
    dz::onnx::importOnnxBytes(ctx, m.bytes(), "index.onnx", unchecked);
    FAIL() << "no error";
  } catch (const dz::Error &e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("node 'bad_updates'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("the updates (2, 2) must have the shape (2, 3)"), std::string::npos) << msg;
  }
}

TEST_F(IndexOpsTest, ResizeWithBothScalesAndSizesIsAnError) {
  ModelBuilder m;
  m.input("x", {1, 1, 2, 2})
      .initializer("scales", {4}, {1, 1, 2, 2})
      .int_initializer("sizes", {4}, {1, 1, 4, 4})
      .output("y", {1, 1, 4, 4});
  m.node("Resize", {"x", "", "scales", "sizes"}, {"y"}, "both");
  dz::onnx::ImportOptions unchecked;
  unchecked.check = false;
  try {
    dz::onnx::importOnnxBytes(ctx, m.bytes(), "index.onnx", unchecked);
    FAIL() << "no error";
  } catch (const dz::Error &e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("node 'both'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("exactly one of scales and sizes must be given"), std::string::npos) << msg;
  }
}

TEST_F(IndexOpsTest, MutatedModelsAndInputValuesGiveOnlyDzErrors) {
  // The node tests of the new ops with their inputs given (so that indices, sizes and
  // grids are read at import): the model's bytes mutated, or one input value replaced by
  // an extreme one (out-of-range and huge indices, NaN, ±inf). Whatever imports also runs.
  const std::string dir = "/usr/share/libonnx-testdata/data/node/";
  struct Seed {
    std::string bytes;
    std::vector<dz::Tensor> inputs;
  };
  std::vector<Seed> seeds;
  for (const char *name : {"test_gather_elements_negative_indices",
                           "test_gathernd_example_int32_batch_dim1",
                           "test_scatter_elements_with_duplicate_indices",
                           "test_scatternd_multiply",
                           "test_onehot_with_negative_axis",
                           "test_tril_neg",
                           "test_cumsum_2d_negative_axis",
                           "test_compress_negative_axis",
                           "test_nonzero_example",
                           "test_range_float_type_positive_delta",
                           "test_eyelike_populate_off_main_diagonal",
                           "test_tile",
                           "test_reflect_pad",
                           "test_einsum_batch_diagonal",
                           "test_top_k_negative_axis",
                           "test_reduce_prod_keepdims_random",
                           "test_resize_upsample_scales_cubic_A_n0p5_exclude_outside",
                           "test_resize_tf_crop_and_resize",
                           "test_gridsample_reflection_padding",
                           "test_gridsample_bicubic",
                           "test_lrn",
                           "test_reversesequence_time",
                           "test_maxunpool_export_with_output_shape",
                           "test_gru_with_initial_bias",
                           "test_simple_rnn_batchwise",
                           "test_hannwindow",
                           "test_depthtospace_crd_mode_example",
                           "test_hardmax_one_hot",
                           "test_adagrad_multiple"}) {
    std::ifstream in(dir + name + "/model.onnx", std::ios::binary);
    if (!in)
      continue;
    Seed seed{std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()),
              {}};
    for (int k = 0;; ++k) {
      const std::string pb = dir + name + "/test_data_set_0/input_" + std::to_string(k) + ".pb";
      if (!std::ifstream(pb))
        break;
      seed.inputs.push_back(dz::onnx::load_tensor_pb(pb));
    }
    seeds.push_back(std::move(seed));
  }
  if (seeds.empty())
    GTEST_SKIP() << "the ONNX node tests (libonnx-testdata) are not installed";
  const char *env = std::getenv("DZ_ONNX_FUZZ_ITERATIONS");
  const int iterations = env ? std::atoi(env) : 600;
  std::mt19937 rng(20261207);
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n)(rng); };
  const int64_t ints[] = {-1000000000000000000,
                          std::numeric_limits<int64_t>::min(),
                          std::numeric_limits<int64_t>::max(),
                          -7,
                          -1,
                          0,
                          1,
                          3,
                          1 << 20};
  const double reals[] = {std::numeric_limits<double>::quiet_NaN(),
                          std::numeric_limits<double>::infinity(),
                          -std::numeric_limits<double>::infinity(),
                          1e30,
                          -1e30,
                          -0.0,
                          2.5,
                          0};
  int imported = 0, ran = 0;
  for (int i = 0; i < iterations; ++i) {
    const Seed &seed = seeds[size_t(i) % seeds.size()];
    std::string bytes = seed.bytes;
    std::vector<dz::Tensor> inputs;
    for (const dz::Tensor &t : seed.inputs) // copies: the seeds stay as they are
      inputs.push_back(dz::Tensor::from_buffer(t.raw(), t.shape(), t.dtype()));
    if (i % 2 == 0 && !inputs.empty()) { // one input element replaced
      dz::Tensor &t = inputs[pick(inputs.size() - 1)];
      if (t.size() > 0) {
        const size_t at = pick(size_t(t.size()) - 1);
        if (t.dtype() == dz::i64)
          t.data<int64_t>()[at] = ints[pick(std::size(ints) - 1)];
        else if (t.dtype() == dz::i32)
          t.data<int32_t>()[at] = int32_t(ints[pick(std::size(ints) - 1)]);
        else if (t.dtype() == dz::f32)
          t.data<float>()[at] = float(reals[pick(std::size(reals) - 1)]);
        else if (t.dtype() == dz::f64)
          t.data<double>()[at] = reals[pick(std::size(reals) - 1)];
      }
    } else {
      for (size_t edits = 1 + pick(2); edits-- > 0;) {
        const size_t at = pick(bytes.size() - 1);
        if (pick(1))
          bytes[at] = char(bytes[at] ^ (1 << pick(7)));
        else
          bytes[at] = char(pick(255));
      }
    }
    dz::onnx::ImportOptions options;
    options.check = false; // the checker would reject most byte mutants before the converters
    options.input_values = inputs;
    options.evaluate = [](mlir::func::FuncOp fn) {
      return dz::codegen::buildProgramOrThrow(fn).run({}).at(0);
    };
    try {
      mlir::OwningOpRef<mlir::ModuleOp> m =
          dz::onnx::importOnnxBytes(ctx, bytes, "mutant.onnx", options);
      ++imported;
      mlir::PassManager pm(&ctx);
      dz::passes::buildPipeline(pm);
      if (mlir::succeeded(pm.run(*m))) {
        dz::codegen::buildProgramOrThrow(*m->getOps<mlir::func::FuncOp>().begin()).run(inputs);
        ++ran;
      }
    } catch (const dz::Error &) {
    } catch (const std::exception &e) {
      FAIL() << "mutant " << i << " threw a non-dz::Error: " << e.what();
    }
  }
  EXPECT_GT(imported, 0) << "no mutant imported: the loop tests only the parser";
  EXPECT_GT(ran, 0);
}

} // namespace
