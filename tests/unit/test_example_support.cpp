// tests/unit/test_example_support.cpp - the support code of the example programs in models/:
// the progress bar (progress.h) and the subsets of a data set for short runs (common.h).
#include "../../models/common.h"

#include <gtest/gtest.h>

#include <string>

namespace {

size_t count(const std::string &s, const std::string &what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1))
    ++n;
  return n;
}

} // namespace

TEST(ExampleProgress, NotATerminalPrintsOnlyTheSummaryLine) {
  testing::internal::CaptureStdout();
  example::Progress bar("epoch 1/2", 3, /*enabled=*/true); // stdout is captured: no terminal
  EXPECT_FALSE(bar.drawing());
  for (int i = 0; i < 3; ++i)
    bar.step("loss 0.5");
  bar.finish("epoch 1  loss 0.5");
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(out, "epoch 1  loss 0.5\n");
  EXPECT_EQ(bar.done(), 3);
}

TEST(ExampleProgress, OnATerminalTheBarShowsRateAndTimeLeftThenGivesWayToTheSummary) {
  testing::internal::CaptureStdout();
  example::Progress bar("epoch 1/2", 4, /*enabled=*/true, /*force_bar=*/true);
  EXPECT_TRUE(bar.drawing());
  for (int i = 0; i < 4; ++i)
    bar.step("loss 0.25");
  bar.finish("epoch 1  loss 0.25");
  const std::string out = testing::internal::GetCapturedStdout();
  // The first step draws only after 0.1 s; the last step always draws: 4/4, a full bar.
  EXPECT_NE(out.find("\r\033[Kepoch 1/2 [########################] 4/4  "), std::string::npos)
      << out;
  EXPECT_NE(out.find(" it/s  ETA 0:00  loss 0.25"), std::string::npos) << out;
  // The bar is erased and the summary is the only line that ends in a newline.
  EXPECT_EQ(out.substr(out.size() - std::string("\r\033[Kepoch 1  loss 0.25\n").size()),
            "\r\033[Kepoch 1  loss 0.25\n");
  EXPECT_EQ(count(out, "\n"), 1u);
}

TEST(ExampleProgress, QuietDrawsNothing) {
  testing::internal::CaptureStdout();
  example::Progress bar("epoch 1/1", 2, /*enabled=*/false, /*force_bar=*/true);
  bar.step();
  bar.step();
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(out, "");
}

TEST(ExampleProgress, ClockTime) {
  EXPECT_EQ(example::clock_time(0), "0:00");
  EXPECT_EQ(example::clock_time(61.4), "1:01");
  EXPECT_EQ(example::clock_time(3725), "1:02:05");
  EXPECT_EQ(example::clock_time(-1), "?");
}

TEST(ExampleSubset, FirstSamplesKeepsTheTransformsAndTheOrder) {
  const dz::datasets::Spiral spiral(true);
  const dz::datasets::Dataset five = example::first_samples(spiral, 5);
  ASSERT_EQ(five.size(), 5);
  for (int64_t i = 0; i < 5; ++i) {
    EXPECT_TRUE(dz::allclose(five[i].first, spiral[i].first, 0, 0));
    EXPECT_EQ(five[i].second.item<int64_t>(), spiral[i].second.item<int64_t>());
  }
  EXPECT_EQ(example::first_samples(spiral, 0).size(), spiral.size());
  EXPECT_EQ(example::first_samples(spiral, 1000).size(), spiral.size());
}
