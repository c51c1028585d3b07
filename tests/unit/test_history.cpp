// dz::utils::History (CSV and SVG loss curves) and dz::write_file_atomic.
#include <dzc/dzc.h>

#include <gtest/gtest.h>

#include <filesystem>

#include <unistd.h>

namespace {

TEST(History, CsvHasOneRowPerEpoch) {
  dz::utils::History h;
  h.record(1, {{"loss", 0.5}, {"acc", 0.75}});
  h.record(2, {{"loss", 0.25}, {"acc", 0.875}});
  h.save_csv("history_test.csv");
  EXPECT_EQ(dz::read_file("history_test.csv", "test"), "epoch,loss,acc\n1,0.5,0.75\n2,0.25,0.875\n");
  EXPECT_EQ(h.column("acc"), (std::vector<double>{0.75, 0.875}));
}

TEST(History, SvgDrawsOnePolylinePerColumn) {
  dz::utils::History h;
  for (int e = 1; e <= 5; ++e)
    h.record(e, {{"train_loss", 1.0 / e}, {"test_loss", 1.2 / e}});
  h.save_svg("history_test.svg", "loss <test>");
  std::string svg = dz::read_file("history_test.svg", "test");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  size_t n = 0;
  for (size_t p = svg.find("<polyline"); p != std::string::npos; p = svg.find("<polyline", p + 1))
    ++n;
  EXPECT_EQ(n, 2u);
  EXPECT_NE(svg.find("loss &lt;test&gt;"), std::string::npos);
}

TEST(History, MismatchedColumnsAndUnknownNamesAreErrors) {
  dz::utils::History h;
  h.record(1, {{"loss", 1.0}});
  EXPECT_THROW(h.record(2, {{"acc", 1.0}}), dz::Error);
  EXPECT_THROW(h.column("acc"), dz::Error);
}

TEST(WriteFileAtomic, FailureKeepsTheOldFile) {
  dz::write_file_atomic("atomic_test.txt", "old", "test");
  // A directory in the way of the temporary file's rename target makes rename fail.
  std::filesystem::create_directories("atomic_dir");
  EXPECT_THROW(dz::write_file_atomic("atomic_dir", "new", "test"), dz::Error);
  EXPECT_THROW(dz::write_file_atomic("no/such/dir/x.txt", "new", "test"), dz::Error);
  EXPECT_EQ(dz::read_file("atomic_test.txt", "test"), "old");
  EXPECT_FALSE(std::filesystem::exists("atomic_dir.tmp." + std::to_string(::getpid())));
}

} // namespace
