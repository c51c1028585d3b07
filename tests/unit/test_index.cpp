// test_index.cpp - plan_index (NumPy basic and advanced indexing), gather, scatter_add.
#include <dzc/tensor.h>
#include <gtest/gtest.h>

using namespace dz;

namespace {

// x = arange(size).reshape(shape), so every element's value is its flat offset.
Tensor iota(const Shape &shape) { return arange(double(shape_size(shape)), i64).reshape(shape); }

std::vector<int64_t> values(const Tensor &t) {
  std::vector<int64_t> v(size_t(t.size()));
  for (int64_t i = 0; i < t.size(); ++i)
    v[size_t(i)] = int64_t(t.at(i));
  return v;
}

Tensor take(const Shape &shape, const IndexList &index) {
  return gather(iota(shape), plan_index(shape, index));
}

std::string error_of(const Shape &shape, const IndexList &index) {
  try {
    plan_index(shape, index);
  } catch (const Error &e) {
    return e.what();
  }
  return "no error";
}

using V = std::vector<int64_t>;

} // namespace

TEST(Index, IntegersSelectAndDropAxes) {
  const Tensor y = take({3, 4}, {1});
  EXPECT_EQ(y.shape(), (Shape{4}));
  EXPECT_EQ(values(y), (V{4, 5, 6, 7}));
  const Tensor z = take({3, 4}, {2, 3});
  EXPECT_EQ(z.shape(), Shape{});
  EXPECT_EQ(values(z), (V{11}));
}

TEST(Index, NegativeIntegersWrap) {
  EXPECT_EQ(values(take({3, 4}, {-1, -2})), (V{10}));
  EXPECT_EQ(values(take({3, 4}, {-3})), (V{0, 1, 2, 3}));
}

TEST(Index, OutOfRangeIntegerNamesAxisAndSize) {
  EXPECT_EQ(error_of({3}, {5}), "get_item: index 5 is out of bounds for axis 0 with size 3 "
                                "(indexing a tensor of shape (3,))");
  EXPECT_EQ(error_of({3, 4}, {0, -5}), "get_item: index -5 is out of bounds for axis 1 with "
                                       "size 4 (indexing a tensor of shape (3, 4))");
}

TEST(Index, SlicesFollowPythonSemantics) {
  EXPECT_EQ(values(take({10}, {Slice(2, 8, 2)})), (V{2, 4, 6}));
  EXPECT_EQ(values(take({10}, {Slice({}, {}, -1)})), (V{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}));
  EXPECT_EQ(values(take({10}, {Slice(-3, {})})), (V{7, 8, 9}));
  EXPECT_EQ(values(take({10}, {Slice(8, 2, -3)})), (V{8, 5}));
  EXPECT_EQ(values(take({10}, {Slice({}, -8, -1)})), (V{9, 8, 7, 6, 5, 4, 3}));
  EXPECT_EQ(values(take({10}, {Slice(100, -100, -4)})), (V{9, 5, 1}));
  EXPECT_EQ(take({10}, {Slice(5, 2)}).shape(), (Shape{0}));
  const Tensor y = take({3, 4}, {Slice(), Slice(1, {}, 2)});
  EXPECT_EQ(y.shape(), (Shape{3, 2}));
  EXPECT_EQ(values(y), (V{1, 3, 5, 7, 9, 11}));
}

TEST(Index, ZeroStepIsAnError) {
  EXPECT_NE(error_of({3}, {Slice(0, 3, 0)}).find("step cannot be zero"), std::string::npos);
}

TEST(Index, EllipsisFillsTheMissingAxes) {
  const Tensor y = take({2, 3, 4}, {Ellipsis, 1});
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(values(y), (V{1, 5, 9, 13, 17, 21}));
  EXPECT_EQ(take({2, 3, 4}, {1, Ellipsis}).shape(), (Shape{3, 4}));
  EXPECT_EQ(take({2, 3, 4}, {0, Ellipsis, 0, 0}).shape(), Shape{});
  EXPECT_NE(error_of({2, 3}, {Ellipsis, Ellipsis}).find("single ellipsis"), std::string::npos);
}

TEST(Index, NewAxisInsertsUnitDims) {
  EXPECT_EQ(take({3, 4}, {NewAxis}).shape(), (Shape{1, 3, 4}));
  EXPECT_EQ(take({3, 4}, {Slice(), NewAxis}).shape(), (Shape{3, 1, 4}));
  EXPECT_EQ(take({3, 4}, {Ellipsis, NewAxis}).shape(), (Shape{3, 4, 1}));
  const Tensor y = take({3, 4}, {1, NewAxis, Slice(0, 2)});
  EXPECT_EQ(y.shape(), (Shape{1, 2}));
  EXPECT_EQ(values(y), (V{4, 5}));
}

TEST(Index, TooManyIndicesIsAnError) {
  EXPECT_EQ(error_of({3, 4}, {0, 0, 0}), "get_item: too many indices for array: array is "
                                         "2-dimensional, but 3 were indexed (indexing a tensor "
                                         "of shape (3, 4))");
  EXPECT_EQ(error_of({3, 4}, {0, NewAxis, 0}), "no error");
}

TEST(Index, IndexArrayOnOneAxis) {
  const Tensor y = take({4, 3}, {V{3, 0, -1}});
  EXPECT_EQ(y.shape(), (Shape{3, 3}));
  EXPECT_EQ(values(y), (V{9, 10, 11, 0, 1, 2, 9, 10, 11}));
  const Tensor z = take({4, 3}, {Slice(), Tensor::from_i64({2, 0, 2, 1}, {2, 2})});
  EXPECT_EQ(z.shape(), (Shape{4, 2, 2}));
  EXPECT_EQ(values(z).size(), 16u);
  EXPECT_EQ(values(z)[4], 5); // row 1: [[5, 3], [5, 4]]
  EXPECT_EQ(values(z)[5], 3);
}

TEST(Index, ArangeAndLabelsPickOnePerRow) {
  // The x[arange(N), t] pattern of softmax cross-entropy.
  const Tensor t = Tensor::from_i64({2, 0, 1});
  const Tensor y = take({3, 4}, {arange(3.0), t});
  EXPECT_EQ(y.shape(), (Shape{3}));
  EXPECT_EQ(values(y), (V{2, 4, 9}));
}

TEST(Index, IndexArraysBroadcastTogether) {
  const Tensor rows = Tensor::from_i64({0, 2}, {2, 1});
  const Tensor y = take({3, 4}, {rows, V{1, 3}});
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_EQ(values(y), (V{1, 3, 9, 11}));
  EXPECT_NE(error_of({3, 4}, {V{0, 1}, V{0, 1, 2}}).find("could not be broadcast"),
            std::string::npos);
}

TEST(Index, AdjacentAdvancedIndicesStayInPlace) {
  // x[:, [0, 1], [0, 1]] on (2, 3, 4, 5) -> (2, 2, 5).
  EXPECT_EQ(take({2, 3, 4, 5}, {Slice(), V{0, 1}, V{0, 1}}).shape(), (Shape{2, 2, 5}));
  // An integer next to an index array is part of the advanced block: x[:, 0, [0, 1]].
  EXPECT_EQ(take({2, 3, 4}, {Slice(), 0, V{0, 1}}).shape(), (Shape{2, 2}));
}

TEST(Index, SeparatedAdvancedIndicesGoFirst) {
  // x[[0, 1], :, [0, 1]] on (2, 3, 4) -> (2, 3).
  const Tensor y = take({2, 3, 4}, {V{0, 1}, Slice(), V{0, 1}});
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(values(y), (V{0, 4, 8, 13, 17, 21}));
  // x[0, :, [0, 1]] -> (2, 3): the integer counts as an advanced index.
  EXPECT_EQ(take({2, 3, 4}, {0, Slice(), V{0, 1}}).shape(), (Shape{2, 3}));
  // x[:, [0, 1], :, [0, 1]] on (5, 3, 6, 4) -> (2, 5, 6).
  EXPECT_EQ(take({5, 3, 6, 4}, {Slice(), V{0, 1}, Slice(), V{0, 1}}).shape(), (Shape{2, 5, 6}));
}

TEST(Index, OutOfRangeIndexArrayIsAnError) {
  EXPECT_EQ(error_of({3, 4}, {Slice(), V{0, 4}}),
            "get_item: index 4 is out of bounds for axis 1 with size 4 (indexing a tensor of "
            "shape (3, 4))");
  EXPECT_EQ(error_of({3, 4}, {V{-4}}),
            "get_item: index -4 is out of bounds for axis 0 with size 3 (indexing a tensor of "
            "shape (3, 4))");
}

TEST(Index, IndexTensorMustBeInteger) {
  try {
    Index bad(Tensor::from({1, 0}, {2}, b8));
    FAIL() << "no error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("boolean mask indexing is not supported"),
              std::string::npos);
  }
  EXPECT_THROW(Index(Tensor::from({1.0, 2.0})), Error);
  EXPECT_NO_THROW(Index(Tensor::from({1, 2}, {2}, i32)));
}

TEST(Index, GatherKeepsTheDtype) {
  const Tensor x = Tensor::from({0.5, 1.5, 2.5, 3.5}, {2, 2}, f32);
  const Tensor y = gather(x, plan_index(x.shape(), {Slice(), -1}));
  EXPECT_EQ(y.dtype(), f32);
  EXPECT_EQ(y.to_vector(), (std::vector<double>{1.5, 3.5}));
}

TEST(Index, GatherChecksTheShape) {
  const IndexPlan plan = plan_index({2, 3}, {0});
  EXPECT_THROW(gather(zeros({3, 2}), plan), Error);
}

TEST(Index, LargeGatherMatchesOffsets) {
  const Shape shape{300, 400};
  const IndexPlan plan = plan_index(shape, {Slice({}, {}, -1), Slice(1, {}, 1)});
  const Tensor y = gather(iota(shape), plan);
  ASSERT_EQ(y.size(), 300 * 399);
  for (int64_t i = 0; i < y.size(); i += 997)
    ASSERT_EQ(int64_t(y.at(i)), plan.offsets[size_t(i)]);
  EXPECT_EQ(int64_t(y.at(0)), 299 * 400 + 1);
}

TEST(Index, ScatterAddAccumulatesRepeatedIndices) {
  const IndexPlan plan = plan_index({4}, {V{0, 2, 2, 0, 2}});
  const Tensor g = scatter_add(plan, Tensor::from({1, 2, 3, 4, 5}, {5}, f32));
  EXPECT_EQ(g.shape(), (Shape{4}));
  EXPECT_EQ(g.dtype(), f32);
  EXPECT_EQ(g.to_vector(), (std::vector<double>{5, 0, 10, 0}));
}

TEST(Index, ScatterAddIsTheAdjointOfGather) {
  const Shape shape{3, 4};
  const IndexPlan plan = plan_index(shape, {arange(3.0), Tensor::from_i64({2, 0, 2})});
  const Tensor g = scatter_add(plan, ones({3}, f64));
  EXPECT_EQ(g.shape(), shape);
  EXPECT_EQ(g.to_vector(), (std::vector<double>{0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0}));
  EXPECT_THROW(scatter_add(plan, ones({4}, f64)), Error);
}
