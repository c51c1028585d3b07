// test_print.cpp - to_string/operator<< print tensors as NumPy's str() does.
#include <dzc/tensor.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>

using namespace dz;

TEST(Print, IntegralFloatsPrintWithATrailingPoint) {
  EXPECT_EQ(to_string(Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3})), "[[1. 2. 3.]\n [4. 5. 6.]]");
  EXPECT_EQ(to_string(Tensor::from({-1, 10, 200}, {3}, f32)), "[ -1.  10. 200.]");
}

TEST(Print, FractionsAlignOnThePoint) {
  EXPECT_EQ(to_string(Tensor::from({0.5, 1.25, 3.0})), "[0.5  1.25 3.  ]");
  EXPECT_EQ(to_string(Tensor::from({1.0 / 3}, {1})), "[0.33333333]");
  EXPECT_EQ(to_string(Tensor::from({1.0 / 3}, {1}, f32)), "[0.33333334]");
  EXPECT_EQ(to_string(Tensor::from({0.1, 0.2}, {2}, f32)), "[0.1 0.2]");
  EXPECT_EQ(to_string(Tensor::from({-0.5, 2.0})), "[-0.5  2. ]");
}

TEST(Print, ScientificWhenValuesSpanManyDecades) {
  EXPECT_EQ(to_string(Tensor::from({1e-5, 1.0})), "[1.e-05 1.e+00]");
  EXPECT_EQ(to_string(Tensor::from({1.5e-5, -2.0})), "[ 1.5e-05 -2.0e+00]");
  EXPECT_EQ(to_string(Tensor::from({1e10, 1.0})), "[1.e+10 1.e+00]");
}

TEST(Print, NonFiniteValues) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(to_string(Tensor::from({1.0, std::nan(""), -inf})), "[  1.  nan -inf]");
}

TEST(Print, IntegersAndBools) {
  EXPECT_EQ(to_string(Tensor::from_i64({1, 2, 3})), "[1 2 3]");
  EXPECT_EQ(to_string(Tensor::from_i64({-1, 10, 200}, {3})), "[ -1  10 200]");
  EXPECT_EQ(to_string(Tensor::from({1, 0, 1}, {3}, b8)), "[ True False  True]");
  EXPECT_EQ(to_string(Tensor::from({7, 255}, {2}, u8)), "[  7 255]");
}

TEST(Print, ZeroDimensionalPrintsTheScalar) {
  EXPECT_EQ(to_string(Tensor::scalar(2.0)), "2.0");
  EXPECT_EQ(to_string(Tensor::scalar(0.1, f32)), "0.1");
  EXPECT_EQ(to_string(Tensor::scalar(1e20)), "1e+20");
  EXPECT_EQ(to_string(Tensor::scalar(7, i64)), "7");
  EXPECT_EQ(to_string(Tensor::scalar(1, b8)), "True");
}

TEST(Print, ThreeDimensionsSeparateBlocksByBlankLines) {
  EXPECT_EQ(to_string(zeros({2, 2, 2})), "[[[0. 0.]\n  [0. 0.]]\n\n [[0. 0.]\n  [0. 0.]]]");
}

TEST(Print, EmptyTensor) { EXPECT_EQ(to_string(zeros({2, 0})), "[]"); }

TEST(Print, LongRowsWrapAt75Columns) {
  EXPECT_EQ(to_string(arange(30.0, f64)),
            "[ 0.  1.  2.  3.  4.  5.  6.  7.  8.  9. 10. 11. 12. 13. 14. 15. 16. 17.\n"
            " 18. 19. 20. 21. 22. 23. 24. 25. 26. 27. 28. 29.]");
}

TEST(Print, LargeTensorsAreSummarised) {
  EXPECT_EQ(to_string(arange(2000.0)), "[   0    1    2 ... 1997 1998 1999]");
  EXPECT_EQ(to_string(arange(2000.0).reshape({2, 1000})),
            "[[   0    1    2 ...  997  998  999]\n [1000 1001 1002 ... 1997 1998 1999]]");
  // 1000 elements is not above the threshold: every row is printed, wrapped.
  const std::string rows = to_string(arange(1000.0).reshape({10, 100}));
  EXPECT_EQ(rows.substr(0, rows.find('\n', rows.find('\n') + 1)),
            "[[  0   1   2   3   4   5   6   7   8   9  10  11  12  13  14  15  16  17\n"
            "   18  19  20  21  22  23  24  25  26  27  28  29  30  31  32  33  34  35");
  EXPECT_EQ(rows.find("..."), std::string::npos);
}

TEST(Print, StreamOperatorMatchesToString) {
  std::ostringstream os;
  const Tensor t = Tensor::from({0.5, 1.25, 3.0});
  os << t;
  EXPECT_EQ(os.str(), to_string(t));
}
