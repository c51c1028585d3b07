// dz::utils::History (CSV and SVG loss curves) and dz::write_file_atomic.
#include <dzc/dzc.h>

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

TEST(History, CsvHasOneRowPerEpoch) {
  dz::utils::History h;
  h.record(1, {{"loss", 0.5}, {"acc", 0.75}});
  h.record(2, {{"loss", 0.25}, {"acc", 0.875}});
  h.save_csv("history_test.csv");
  EXPECT_EQ(dz::read_file("history_test.csv", "test"),
            "epoch,loss,acc\n1,0.5,0.75\n2,0.25,0.875\n");
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

// A writer killed mid-write leaves its temporary "NAME.tmp.PID" and the old NAME; the next
// write of NAME removes that temporary (its process is gone) but not those of live
// processes or of other names.
TEST(WriteFileAtomic, NextWriteRemovesTheTemporaryOfAKilledWriter) {
  namespace fs = std::filesystem;
  fs::remove_all("stale_tmp");
  fs::create_directories("stale_tmp");
  const std::string path = "stale_tmp/weights.npz";
  dz::write_file_atomic(path, "old", "test");

  // The child stops itself inside write(2): a 4 KiB file size limit raises SIGXFSZ once the
  // temporary holds 4 KiB, and its handler stops the process there. The parent then kills
  // it with SIGKILL, mid-write, its temporary on disk.
  const std::string big(1 << 20, 'x');
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    struct sigaction sa {};
    sa.sa_handler = [](int) { ::kill(::getpid(), SIGSTOP); };
    ::sigaction(SIGXFSZ, &sa, nullptr);
    struct rlimit limit {
      4096, 4096
    };
    ::setrlimit(RLIMIT_FSIZE, &limit);
    try {
      dz::write_file_atomic(path, big, "child");
    } catch (...) {
    }
    ::_exit(0); // not reached when the limit stops it
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, WUNTRACED), child);
  ASSERT_TRUE(WIFSTOPPED(status)) << "the writer should have stopped mid-write";
  ::kill(child, SIGKILL);
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  const std::string stale = path + ".tmp." + std::to_string(child);
  ASSERT_TRUE(fs::exists(stale));
  EXPECT_EQ(fs::file_size(stale), 4096u);
  EXPECT_EQ(dz::read_file(path, "test"), "old"); // the kill left the old file intact

  // Temporaries that must stay: a live process's (the parent of this test), another
  // file's, and a name that only looks like one.
  const std::string live = path + ".tmp." + std::to_string(::getppid());
  const std::string other = "stale_tmp/other.npz.tmp." + std::to_string(child);
  const std::string not_pid = path + ".tmp.12ab";
  for (const std::string &f : {live, other, not_pid})
    std::ofstream(f) << "partial";

  dz::write_file_atomic(path, "new", "test");
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_EQ(dz::read_file(path, "test"), "new");
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(other));
  EXPECT_TRUE(fs::exists(not_pid));
  EXPECT_EQ(dz::remove_stale_temporaries(path), 0u);
}

} // namespace
