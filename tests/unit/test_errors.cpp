// test_errors.cpp - bad input raises dz::Error naming the operation and the shapes (or
// dtypes) involved; nothing crashes or aborts.
#include <dzc/dzc.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <string>
#include <vector>

namespace F = dz::functions;
using dz::Index;
using dz::Slice;
using dz::Tensor;
using dz::Variable;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

/// Success when fn throws dz::Error whose message contains, case-insensitively, each of
/// `needles`; a needle "a|b" accepts either alternative.
::testing::AssertionResult ThrowsErrorMentioning(const std::function<void()> &fn,
                                                 const std::vector<std::string> &needles) {
  std::string msg;
  try {
    fn();
    return ::testing::AssertionFailure() << "no exception was thrown";
  } catch (const dz::Error &e) {
    msg = e.what();
  } catch (const std::exception &e) {
    return ::testing::AssertionFailure() << "threw a non-dz::Error exception: " << e.what();
  }
  const std::string text = lower(msg);
  for (const std::string &needle : needles) {
    bool found = false;
    size_t start = 0;
    while (!found) {
      const size_t bar = needle.find('|', start);
      const std::string alt = lower(needle.substr(start, bar - start));
      found = text.find(alt) != std::string::npos;
      if (bar == std::string::npos)
        break;
      start = bar + 1;
    }
    if (!found)
      return ::testing::AssertionFailure()
             << "message \"" << msg << "\" does not mention \"" << needle << "\"";
  }
  return ::testing::AssertionSuccess() << msg;
}

Variable var(const dz::Shape &s, dz::DType dtype = dz::f64) {
  return Variable(dz::zeros(s, dtype));
}

Index arr(std::vector<int64_t> v) { return Index(std::move(v)); }

} // namespace

TEST(Errors, IncompatibleBroadcastingInArithmetic) {
  Variable a = var({2, 3}), b = var({4});
  EXPECT_TRUE(ThrowsErrorMentioning([&] { F::add(a, b); }, {"add", "(2, 3)", "(4,)"}));
  EXPECT_TRUE(ThrowsErrorMentioning([&] { F::sub(a, b); }, {"sub", "(2, 3)", "(4,)"}));
  EXPECT_TRUE(ThrowsErrorMentioning([&] { F::mul(a, b); }, {"mul", "(2, 3)", "(4,)"}));
  EXPECT_TRUE(ThrowsErrorMentioning([&] { F::div(a, b); }, {"div", "(2, 3)", "(4,)"}));
  EXPECT_TRUE(ThrowsErrorMentioning([&] { (void)(a + b); }, {"add", "(2, 3)", "(4,)"}));
  EXPECT_TRUE(ThrowsErrorMentioning(
      [&] {
        (void)(var({3, 2}) * var({2, 3}));
      },
      {"mul", "(3, 2)", "(2, 3)"}));
}

TEST(Errors, MatmulWithIncompatibleShapes) {
  EXPECT_TRUE(ThrowsErrorMentioning(
      [] {
        F::matmul(var({2, 3}), var({4, 5}));
      },
      {"matmul", "(2, 3)", "(4, 5)"}));
  EXPECT_TRUE(ThrowsErrorMentioning(
      [] {
        (void)var({2, 3}).matmul(var({2, 3}));
      },
      {"matmul", "(2, 3)"}));
  EXPECT_NO_THROW(F::matmul(var({2, 3}), var({2, 3}), false, true)); // (2, 3) @ (3, 2)
  EXPECT_TRUE(ThrowsErrorMentioning(
      [] {
        F::matmul(var({2, 3}), var({4, 3}), true, true);
      },
      {"matmul", "(2, 3)", "(4, 3)"}));
  EXPECT_TRUE(ThrowsErrorMentioning(
      [] {
        F::matmul(var({2, 3, 4}), var({3, 4, 5}));
      },
      {"matmul", "(2, 3, 4)", "(3, 4, 5)"}));
}

TEST(Errors, LinearWithWrongWeightOrBiasShape) {
  EXPECT_TRUE(ThrowsErrorMentioning(
      [] {
        F::linear(var({2, 3}), var({4, 5}));
      },
      {"linear", "(2, 3)", "(4, 5)"}));
  EXPECT_TRUE(ThrowsErrorMentioning(
      [] {
        F::linear(var({2, 3}), var({3, 5}), var({4}));
      },
      {"linear", "(4,)"}));
}

TEST(Errors, SoftmaxCrossEntropyNeedsOneInt64LabelPerRow) {
  Variable x = var({3, 4});
  EXPECT_TRUE(ThrowsErrorMentioning(
      [&] {
        F::softmax_cross_entropy(x, Variable(Tensor::from({0, 1, 2})));
      },
      {"softmax_cross_entropy", "float64|float"}));
  EXPECT_TRUE(ThrowsErrorMentioning(
      [&] {
        F::softmax_cross_entropy(x, Variable(Tensor::from_i64({0, 1})));
      },
      {"softmax_cross_entropy", "(3, 4)", "(2,)"}));
  EXPECT_TRUE(ThrowsErrorMentioning(
      [&] {
        F::softmax_cross_entropy(x, Variable(Tensor::from_i64({0, 1, 4})));
      },
      {"softmax_cross_entropy", "4"}));
  EXPECT_TRUE(ThrowsErrorMentioning(
      [&] {
        F::softmax_cross_entropy(x, Variable(Tensor::from_i64({0, -1, 2})));
      },
      {"softmax_cross_entropy", "-1"}));
}

TEST(Errors, OtherLossesCheckShapes) {
  EXPECT_TRUE(ThrowsErrorMentioning([] { F::mean_squared_error(var({3}), var({4})); },
                                    {"mean_squared_error", "(3,)", "(4,)"}));
  EXPECT_TRUE(ThrowsErrorMentioning(
      [] {
        F::sigmoid_cross_entropy(var({5}), Variable(Tensor::from_i64({0, 1, 1, 0})));
      },
      {"sigmoid_cross_entropy", "(5,)", "(4,)"}));
  EXPECT_TRUE(ThrowsErrorMentioning(
      [] {
        F::binary_cross_entropy(var({5}), Variable(Tensor::from_i64({0, 1, 1, 0})));
      },
      {"binary_cross_entropy", "(5,)", "(4,)"}));
  EXPECT_TRUE(ThrowsErrorMentioning(
      [] {
        F::accuracy(var({3, 2}), Variable(Tensor::from_i64({0, 1})));
      },
      {"accuracy", "(3, 2)", "(2,)"}));
}

TEST(Errors, GetItemOutOfRange) {
  Variable x = var({2, 3});
  EXPECT_TRUE(
      ThrowsErrorMentioning([&] { F::get_item(x, {5}); }, {"index|get_item", "5", "(2, 3)"}));
  EXPECT_TRUE(ThrowsErrorMentioning([&] { F::get_item(x, {-3}); }, {"index|get_item", "-3"}));
  EXPECT_TRUE(ThrowsErrorMentioning([&] { F::get_item(x, {0, 3}); }, {"index|get_item", "3"}));
  EXPECT_TRUE(ThrowsErrorMentioning(
      [&] {
        F::get_item(x, {arr({0, 7})});
      },
      {"index|get_item", "7"}));
  EXPECT_TRUE(ThrowsErrorMentioning([&] { F::get_item(x, {0, 0, 0}); }, {"index|get_item"}));
  EXPECT_TRUE(ThrowsErrorMentioning([&] { (void)x[{Slice(0, 2, 0)}]; }, {"index|get_item|slice"}));
  EXPECT_TRUE(ThrowsErrorMentioning(
      [&] {
        F::get_item(x, {dz::Ellipsis, 0, dz::Ellipsis});
      },
      {"index|get_item|ellipsis"}));
}

TEST(Errors, GetItemGradWithMismatchedShapes) {
  EXPECT_TRUE(ThrowsErrorMentioning(
      [] {
        F::get_item_grad(var({4}), {arr({0, 1, 2})}, {5, 2});
      },
      {"(5, 2)|(3, 2)|(4,)"}));
}

TEST(Errors, ReshapeToAnIncompatibleSize) {
  Variable x = var({2, 3});
  EXPECT_TRUE(ThrowsErrorMentioning(
      [&] {
        F::reshape(x, {4, 2});
      },
      {"reshape", "(2, 3)", "(4, 2)"}));
  EXPECT_TRUE(ThrowsErrorMentioning([&] { F::reshape(x, {-1, -1}); }, {"reshape"}));
  EXPECT_TRUE(ThrowsErrorMentioning([&] { F::reshape(x, {-1, 4}); }, {"reshape", "(2, 3)"}));
  EXPECT_TRUE(ThrowsErrorMentioning([&] { (void)x.reshape({7}); }, {"reshape", "(2, 3)", "(7,)"}));
}

TEST(Errors, TransposeWithBadAxes) {
  Variable x = var({2, 3});
  EXPECT_TRUE(ThrowsErrorMentioning([&] { F::transpose(x, {0, 2}); }, {"transpose", "(2, 3)"}));
  EXPECT_TRUE(ThrowsErrorMentioning([&] { F::transpose(x, {0, 0}); }, {"transpose", "(2, 3)"}));
  EXPECT_TRUE(ThrowsErrorMentioning([&] { F::transpose(x, {1}); }, {"transpose", "(2, 3)"}));
  EXPECT_TRUE(ThrowsErrorMentioning(
      [&] {
        (void)x.transpose({1, 0, 2});
      },
      {"transpose", "(2, 3)"}));
}

TEST(Errors, ReductionOverAMissingAxis) {
  Variable x = var({2, 3});
  EXPECT_TRUE(ThrowsErrorMentioning([&] { F::sum(x, {5}); }, {"sum", "5", "(2, 3)"}));
  EXPECT_TRUE(ThrowsErrorMentioning([&] { F::sum(x, {-3}); }, {"sum", "-3", "(2, 3)"}));
  EXPECT_TRUE(ThrowsErrorMentioning([&] { F::mean(x, {2}); }, {"mean|sum", "2", "(2, 3)"}));
  EXPECT_TRUE(ThrowsErrorMentioning([&] { F::max(x, {5}); }, {"max", "5", "(2, 3)"}));
  EXPECT_TRUE(ThrowsErrorMentioning([&] { F::min(x, {5}, true); }, {"min", "5", "(2, 3)"}));
  EXPECT_TRUE(ThrowsErrorMentioning([&] { F::softmax(x, 2); }, {"softmax", "2"}));
  EXPECT_TRUE(ThrowsErrorMentioning([&] { F::log_softmax(x, -3); }, {"softmax", "-3"}));
  EXPECT_TRUE(ThrowsErrorMentioning([&] { F::expand_dims(x, 5); }, {"expand_dims", "5"}));
}

TEST(Errors, BroadcastToAndSumToIncompatibleShapes) {
  Variable x = var({2, 3});
  EXPECT_TRUE(ThrowsErrorMentioning(
      [&] {
        F::broadcast_to(x, {4, 3});
      },
      {"broadcast_to", "(2, 3)", "(4, 3)"}));
  EXPECT_TRUE(ThrowsErrorMentioning([&] { F::sum_to(x, {4}); }, {"sum_to", "(2, 3)", "(4,)"}));
  EXPECT_TRUE(ThrowsErrorMentioning([&] { F::sum_to(x, {1, 2, 3}); }, {"sum_to", "(2, 3)"}));
}

TEST(Errors, NullVariables) {
  Variable null_var;
  EXPECT_FALSE(null_var.defined());
  EXPECT_THROW(null_var.backward(), dz::Error);
  EXPECT_THROW((void)null_var.data(), dz::Error);
  EXPECT_THROW((void)null_var.shape(), dz::Error);
  EXPECT_THROW(F::exp(null_var), dz::Error);
  EXPECT_THROW(F::add(null_var, Variable(1.0)), dz::Error);
  EXPECT_THROW((void)(Variable(1.0) * null_var), dz::Error);
  EXPECT_THROW(dz::utils::get_dot_graph(null_var), dz::Error);
}

TEST(Errors, MisusedValues) {
  EXPECT_THROW((void)Variable(Tensor::from({1.0, 2.0})).item<double>(), dz::Error);
  EXPECT_THROW((void)Tensor::from({1, 2, 3}, {2, 2}), dz::Error);
  EXPECT_THROW((void)Tensor::from({1, 2, 3}).data<float>(), dz::Error);
  EXPECT_THROW(dz::UsingConfig("no_such_setting", true), dz::Error);
  EXPECT_TRUE(dz::Config::enable_backprop());
  EXPECT_TRUE(dz::Config::train());
}

TEST(Errors, AnErrorInsideBackwardLeavesTheLibraryUsable) {
  // A failure in one graph does not poison the next (no half-updated global state).
  EXPECT_THROW(F::add(var({2, 3}), var({4})), dz::Error);
  Variable x(2.0);
  Variable y = F::square(x);
  y.backward();
  EXPECT_EQ(x.grad().item<double>(), 4.0);
  EXPECT_TRUE(dz::Config::enable_backprop());
}
