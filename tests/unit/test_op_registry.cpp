// test_op_registry.cpp - every op of the registry (dzc/ops.def) through the eager API (its
// gradients are checked in test_gradients.cpp): the values NumPy gives for the ops whose semantics
// are easy to get wrong (mod, sign, round, isnan, isinf, NaN through maximum/minimum/relu), and the
// registry's own bookkeeping.
#include <dzc/dzc.h>
#include <dzc/op_registry.h>

#include "../support/registry_ranges.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <string>

namespace F = dz::functions;
using dz::MapOp;
using dz::Tensor;
using dz::Variable;

namespace {

using Unary = std::function<Variable(const Variable &)>;
using Binary = std::function<Variable(const Variable &, const Variable &)>;

const std::map<std::string, Unary> &unary_functions() {
  static const std::map<std::string, Unary> m = {
#define DZ_UNARY(name, ...) {#name, [](const Variable &x) { return F::name(x); }},
#include <dzc/ops.def>
  };
  return m;
}
const std::map<std::string, Binary> &binary_functions() {
  static const std::map<std::string, Binary> m = {
#define DZ_BINARY(name, ...)                                                                       \
  {#name, [](const Variable &a, const Variable &b) { return F::name(a, b); }},
#include <dzc/ops.def>
  };
  return m;
}

/// Values 0.137 apart from lo on, none within 0.05 of 0: no kinks of relu/abs/step/sign and
/// no ties for maximum/minimum within the finite-difference step.
Tensor sample(const std::string &op, int operand) {
  std::vector<double> v = dz::testing::registry_values(op, operand, 6);
  return Tensor::from(v, {2, 3});
}

} // namespace

TEST(OpRegistry, EveryOpHasItsEagerFunctionAndItsRegistryEntry) {
  size_t n = 0;
  for (const dz::OpInfo &info : dz::registry_ops()) {
    ++n;
    EXPECT_EQ(dz::find_op(info.name), info.op) << info.name;
    EXPECT_EQ(dz::op_info(info.op).name, std::string(info.name));
    if (info.arity == 1)
      EXPECT_TRUE(unary_functions().count(info.name)) << info.name;
    else
      EXPECT_TRUE(binary_functions().count(info.name)) << info.name;
  }
  EXPECT_EQ(n, unary_functions().size() + binary_functions().size());
  EXPECT_FALSE(dz::find_op("no_such_op"));
}

TEST(OpRegistry, OpsWithoutGradientGiveNone) {
  Variable x(Tensor::from({0.3, -1.7, 2.5}, {3}));
  for (const char *name : {"ceil", "floor", "round", "sign", "step"}) {
    Variable y = unary_functions().at(name)(x);
    x.cleargrad();
    F::sum(y).backward();
    EXPECT_FALSE(x.grad().defined() && dz::max_abs_diff(x.grad().data(), dz::zeros({3})) > 0)
        << name;
  }
}

TEST(OpRegistry, ValuesFollowNumPy) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  auto values = [](const Tensor &t) {
    Tensor c = t.to(dz::f64);
    return std::vector<double>(c.data<double>(), c.data<double>() + c.size());
  };
  auto same = [](const std::vector<double> &got, const std::vector<double> &want) {
    if (got.size() != want.size())
      return false;
    for (size_t i = 0; i < got.size(); ++i) {
      if (std::isnan(want[i]) != std::isnan(got[i]))
        return false;
      if (!std::isnan(want[i]) &&
          (got[i] != want[i] || std::signbit(got[i]) != std::signbit(want[i])))
        return false;
    }
    return true;
  };
  // np.mod: the sign of the divisor; mod(x, 0) = nan for floats, 0 for integers.
  Tensor a = Tensor::from({5.5, -5.5, 5.5, -5.5, 3.0, -3.0, 1.0}, {7});
  Tensor b = Tensor::from({2.0, 2.0, -2.0, -2.0, 3.0, 3.0, 0.0}, {7});
  EXPECT_TRUE(same(values(dz::mod(a, b)), {1.5, 0.5, -0.5, -1.5, 0.0, 0.0, nan}));
  EXPECT_TRUE(
      same(values(dz::mod(Tensor::from({0.0, -0.0}, {2}), Tensor::scalar(-2.0))), {-0.0, -0.0}));
  Tensor ai = Tensor::from({7.0, -7.0, 7.0, 5.0}, {4}).to(dz::i64);
  Tensor bi = Tensor::from({3.0, 3.0, -3.0, 0.0}, {4}).to(dz::i64);
  Tensor mi = dz::mod(ai, bi);
  EXPECT_EQ(mi.dtype(), dz::i64);
  EXPECT_TRUE(same(values(mi), {1, 2, -2, 0}));
  // np.sign: NaN stays NaN, sign(-0.0) = 0.0.
  EXPECT_TRUE(
      same(values(dz::sign(Tensor::from({-2.0, 0.0, -0.0, 3.0, nan}, {5}))), {-1, 0, 0, 1, nan}));
  // np.round: halves to even.
  EXPECT_TRUE(same(values(dz::round(Tensor::from({0.5, 1.5, 2.5, -0.5, -1.5, 2.4}, {6}))),
                   {0, 2, 2, -0.0, -2, 2}));
  EXPECT_TRUE(same(values(dz::floor(Tensor::from({-1.5, 1.5, -0.0}, {3}))), {-2, 1, -0.0}));
  EXPECT_TRUE(same(values(dz::ceil(Tensor::from({-1.5, 1.5, -0.2}, {3}))), {-1, 2, -0.0}));
  Tensor special = Tensor::from({nan, inf, -inf, 0.0, 1.0}, {5});
  Tensor isn = dz::isnan(special), isi = dz::isinf(special);
  EXPECT_EQ(isn.dtype(), dz::b8);
  EXPECT_TRUE(same(values(isn), {1, 0, 0, 0, 0}));
  EXPECT_TRUE(same(values(isi), {0, 1, 1, 0, 0}));
  // Integers are never NaN (through float64, as NumPy).
  EXPECT_TRUE(same(values(dz::isnan(Tensor::from({1.0}, {1}).to(dz::i64))), {0}));
  // NaN propagates through maximum, minimum and relu.
  Tensor x = Tensor::from({nan, 1.0, nan, -1.0}, {4}), y = Tensor::from({1.0, nan, nan, 0.0}, {4});
  EXPECT_TRUE(same(values(dz::maximum(x, y)), {nan, nan, nan, 0.0}));
  EXPECT_TRUE(same(values(dz::minimum(x, y)), {nan, nan, nan, -1.0}));
  EXPECT_TRUE(same(values(dz::relu(x)), {nan, 1.0, nan, 0.0}));
  // The inverse functions outside their domain give NaN, at its edge +-inf.
  EXPECT_TRUE(same(values(dz::asin(Tensor::from({2.0}, {1}))), {nan}));
  EXPECT_TRUE(same(values(dz::atanh(Tensor::from({1.0, -1.0}, {2}))), {inf, -inf}));
  EXPECT_TRUE(same(values(dz::acosh(Tensor::from({0.5}, {1}))), {nan}));
}

TEST(OpRegistry, FloatOpsComputeIntegersInFloat64AndNumericOpsKeepTheirDtype) {
  Tensor i = Tensor::from({1.0, -2.0}, {2}).to(dz::i32);
  EXPECT_EQ(dz::tan(i).dtype(), dz::f64);
  EXPECT_EQ(dz::sign(i).dtype(), dz::i32);
  EXPECT_EQ(dz::abs(i).dtype(), dz::i32);
  EXPECT_EQ(dz::greater(i, Tensor::scalar(0.5)).dtype(), dz::b8);
  EXPECT_THROW(dz::sign(Tensor::from({1.0}, {1}).to(dz::b8)), dz::Error);
}

TEST(OpRegistry, IntegerQuotientsFollowNumPyAndCAndTrueDivisionGivesFloat64) {
  auto ints = [](const Tensor &t) {
    Tensor c = t.to(dz::i64);
    return std::vector<int64_t>(c.data<int64_t>(), c.data<int64_t>() + c.size());
  };
  for (dz::DType dt : {dz::i64, dz::i32}) {
    SCOPED_TRACE(dz::dtype_name(dt));
    Tensor a = Tensor::from_i64({7, -7, 7, -7, 5, -5, 0}).to(dt);
    Tensor b = Tensor::from_i64({2, 2, -2, -2, 0, 1, -3}).to(dt);
    Tensor fl = dz::floor_divide(a, b), tr = dz::trunc_divide(a, b);
    EXPECT_EQ(fl.dtype(), dt);
    EXPECT_EQ(tr.dtype(), dt);
    EXPECT_EQ(ints(fl), (std::vector<int64_t>{3, -4, -4, 3, 0, -5, 0})); // NumPy's //
    EXPECT_EQ(ints(tr), (std::vector<int64_t>{3, -3, -3, 3, 0, -5, 0})); // C's /
    EXPECT_EQ(ints(dz::mod(a, b)), (std::vector<int64_t>{1, 1, -1, -1, 0, 0, 0}));
    EXPECT_EQ(ints(dz::fmod(a, b)), (std::vector<int64_t>{1, -1, 1, -1, 0, 0, 0}));
    // a == q * b + r for both pairs wherever b != 0
    for (size_t i = 0; i < 7; ++i) {
      const int64_t ai = ints(a)[i], bi = ints(b)[i];
      if (bi == 0)
        continue;
      EXPECT_EQ(ints(fl)[i] * bi + ints(dz::mod(a, b))[i], ai);
      EXPECT_EQ(ints(tr)[i] * bi + ints(dz::fmod(a, b))[i], ai);
    }
    // true division: float64, inf for a divisor of 0
    Tensor q = a / b;
    EXPECT_EQ(q.dtype(), dz::f64);
    EXPECT_EQ(q.data<double>()[0], 3.5);
    EXPECT_EQ(q.data<double>()[4], std::numeric_limits<double>::infinity());
  }
  // The minimum over -1 wraps to itself (the hardware's division would trap).
  const int64_t lo = std::numeric_limits<int64_t>::min();
  Tensor m = Tensor::from_i64({lo, lo}), minus1 = Tensor::from_i64({-1, 1});
  EXPECT_EQ(ints(dz::floor_divide(m, minus1)), (std::vector<int64_t>{lo, lo}));
  EXPECT_EQ(ints(dz::trunc_divide(m, minus1)), (std::vector<int64_t>{lo, lo}));
  Tensor m32 = Tensor::from_i64({INT32_MIN}).to(dz::i32), n32 = Tensor::from_i64({-1}).to(dz::i32);
  EXPECT_EQ(ints(dz::trunc_divide(m32, n32)), (std::vector<int64_t>{INT32_MIN}));
  // Floats: NumPy's floor_divide (1 // 0.1 is 9, not floor(1 / 0.1) = 10), C's trunc.
  const double inf = std::numeric_limits<double>::infinity();
  Tensor fa = Tensor::from({1.0, -7.0, 1.0, -1.0, -2.0, 0.0}, {6});
  Tensor fb = Tensor::from({0.1, 2.0, 0.0, 0.0, inf, -1.0}, {6});
  Tensor ff = dz::floor_divide(fa, fb);
  const std::vector<double> want = {9.0, -4.0, inf, -inf, -1.0, -0.0};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(ff.data<double>()[i], want[i]) << i;
    EXPECT_EQ(std::signbit(ff.data<double>()[i]), std::signbit(want[i])) << i;
  }
  Tensor ft = dz::trunc_divide(Tensor::from({-7.0, 7.5}, {2}), Tensor::from({2.0, 2.0}, {2}));
  EXPECT_EQ(ft.data<double>()[0], -3.0);
  EXPECT_EQ(ft.data<double>()[1], 3.0);
  // Comparisons of int64 beyond 2^53 are exact (no float64 detour).
  Tensor big = Tensor::from_i64({(int64_t(1) << 53) + 1}),
         big0 = Tensor::from_i64({int64_t(1) << 53});
  EXPECT_TRUE((big > big0).item<bool>());
  EXPECT_FALSE((big == big0).item<bool>());
  // bool operands are refused, naming the op
  Tensor t = Tensor::from({1.0}, {1}).to(dz::b8);
  EXPECT_THROW(dz::floor_divide(t, t), dz::Error);
}

TEST(OpRegistry, Float64EvaluationIsTheEagerKernel) {
  // evaluate_op is the reference other paths compare with: it must be the eager value.
  for (const dz::OpInfo &info : dz::registry_ops()) {
    Tensor a = sample(info.name, 0), b = sample(info.name, 1);
    Tensor y = info.arity == 1 ? unary_functions().at(info.name)(Variable(a)).data()
                               : binary_functions().at(info.name)(Variable(a), Variable(b)).data();
    Tensor y64 = y.to(dz::f64);
    for (int64_t k = 0; k < a.size(); ++k) {
      double want = dz::evaluate_op(info.op, a.data<double>()[k], b.data<double>()[k]);
      double got = y64.data<double>()[k];
      EXPECT_TRUE(got == want || (std::isnan(got) && std::isnan(want))) << info.name << " " << k;
    }
  }
}
