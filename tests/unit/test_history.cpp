// dz::utils::History (CSV and SVG loss curves) and dz::write_file_atomic.
#include <dzc/dzc.h>

#include <gtest/gtest.h>

#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

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

// ---- the SVG plot -------------------------------------------------------------------------

/// The texts of the <text class="CLASS"> elements of `svg` (of one panel: pass its part).
std::vector<std::string> texts(const std::string &svg, const std::string &cls) {
  std::vector<std::string> r;
  const std::regex re("<text class=\"" + cls + "\"[^>]*>([^<]*)</text>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator();
       ++it)
    r.push_back((*it)[1]);
  return r;
}

/// The parts of `svg` between <g class="panel" ...> and its </g> (panels do not nest).
std::vector<std::string> panels(const std::string &svg) {
  std::vector<std::string> r;
  for (size_t p = svg.find("<g class=\"panel\""); p != std::string::npos;
       p = svg.find("<g class=\"panel\"", p + 1)) {
    size_t depth = 0, q = p;
    for (;; ++q) { // the matching </g>
      if (svg.compare(q, 3, "<g ") == 0)
        ++depth;
      else if (svg.compare(q, 4, "</g>") == 0 && --depth == 0)
        break;
    }
    r.push_back(svg.substr(p, q + 4 - p));
  }
  return r;
}

size_t count(const std::string &s, const std::string &what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1))
    ++n;
  return n;
}

double attr(const std::string &element, const std::string &name) {
  std::smatch m;
  const std::regex re(" " + name + "=\"([-0-9.]+)\"");
  EXPECT_TRUE(std::regex_search(element, m, re)) << name << " in " << element;
  return std::stod(m[1]);
}

/// Ticks at round values: equally spaced by 1, 2 or 5 times a power of ten, each label a
/// multiple of that step.
void expect_round_ticks(const std::vector<std::string> &labels) {
  ASSERT_GE(labels.size(), 2u);
  std::vector<double> v;
  for (const auto &l : labels)
    v.push_back(std::stod(l));
  const double step = v[1] - v[0];
  const double mantissa = step / std::pow(10.0, std::floor(std::log10(step)));
  EXPECT_TRUE(std::abs(mantissa - 1) < 1e-6 || std::abs(mantissa - 2) < 1e-6 ||
              std::abs(mantissa - 5) < 1e-6)
      << "step " << step;
  for (size_t i = 0; i < v.size(); ++i) {
    EXPECT_NEAR(v[i], v[0] + double(i) * step, step * 1e-6) << labels[i];
    EXPECT_NEAR(v[i] / step, std::round(v[i] / step), 1e-6) << labels[i];
  }
}

dz::utils::History training_history() {
  dz::utils::History h;
  const double train_loss[] = {2.31, 1.2, 0.71, 0.52, 0.43},
               test_loss[] = {1.9, 1.1, 0.8, 0.6, 0.55};
  const double train_acc[] = {0.27, 0.55, 0.71, 0.8, 0.84},
               test_acc[] = {0.31, 0.58, 0.7, 0.77, 0.81};
  for (int e = 1; e <= 5; ++e)
    h.record(e, {{"train_loss", train_loss[e - 1]},
                 {"test_loss", test_loss[e - 1]},
                 {"train_acc", train_acc[e - 1]},
                 {"test_acc", test_acc[e - 1]}});
  return h;
}

// Loss and accuracy on panels of their own, each with ticks at round values, one marker
// per point (there are few) and a legend beside the plot area, not over it.
TEST(History, SvgPlotsLossAndAccuracyInTwoPanelsWithRoundTicks) {
  training_history().save_svg("history_test.svg", "loss <test>");
  const std::string svg = dz::read_file("history_test.svg", "test");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("loss &lt;test&gt;"), std::string::npos);
  const std::vector<std::string> ps = panels(svg);
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_NE(ps[0].find("data-name=\"loss\""), std::string::npos);
  EXPECT_NE(ps[1].find("data-name=\"accuracy\""), std::string::npos);
  // The data span [0.43, 2.31] and [0.27, 0.84]: about five steps of 0.5 and 0.2.
  EXPECT_EQ(texts(ps[0], "ytick"),
            (std::vector<std::string>{"0.0", "0.5", "1.0", "1.5", "2.0", "2.5"}));
  EXPECT_EQ(texts(ps[1], "ytick"), (std::vector<std::string>{"0.2", "0.4", "0.6", "0.8", "1.0"}));
  EXPECT_EQ(texts(svg, "xtick"), (std::vector<std::string>{"1", "2", "3", "4", "5"}));
  EXPECT_EQ(texts(svg, "xlabel"), (std::vector<std::string>{"epoch"}));
  for (const std::string &p : ps) {
    EXPECT_EQ(count(p, "<path class=\"series\""), 2u);
    EXPECT_EQ(count(p, "<circle class=\"marker\""), 10u); // 2 series x 5 epochs
    const size_t frame = p.find("<rect ");
    ASSERT_NE(frame, std::string::npos);
    const std::string rect = p.substr(frame, p.find("/>", frame) - frame);
    const double right_edge = attr(rect, "x") + attr(rect, "width");
    EXPECT_EQ(count(p, "<g class=\"legend\">"), 2u);
    for (size_t q = p.find("<g class=\"legend\">"); q != std::string::npos;
         q = p.find("<g class=\"legend\">", q + 1))
      EXPECT_GT(attr(p.substr(q, p.find("</g>", q) - q), "x1"), right_edge);
  }
  expect_round_ticks(texts(ps[0], "ytick"));
  expect_round_ticks(texts(ps[1], "ytick"));
}

// Whatever the data's range, the value ticks are round and cover it.
TEST(History, SvgTicksAreRoundForAnyRange) {
  const std::vector<std::pair<double, double>> ranges = {
      {0.2711, 0.5848}, {-3.7, 12.2}, {1e-5, 3.3e-5}, {12345, 98765},
      {-0.004, -0.001}, {7, 7},       {0, 0},         {0.9, 1.0},
      {-1e6, 1e6},      {3e9, 7e10},  {2e-9, 3e-9},   {1e-320, 1e-320}};
  for (auto [lo, hi] : ranges) {
    dz::utils::History h;
    h.record(0, {{"value", lo}});
    h.record(1, {{"value", (lo + hi) / 2}});
    h.record(2, {{"value", hi}});
    h.save_svg("history_ticks.svg", "ticks");
    const std::vector<std::string> labels =
        texts(dz::read_file("history_ticks.svg", "test"), "ytick");
    SCOPED_TRACE("range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    expect_round_ticks(labels);
    ASSERT_FALSE(labels.empty());
    EXPECT_LE(std::stod(labels.front()), lo);
    EXPECT_GE(std::stod(labels.back()), hi);
    EXPECT_LE(labels.size(), 12u);
  }
}

// Many points: lines without markers; a NaN leaves a gap (a second subpath), as in NumPy
// plots; columns that are neither loss nor accuracy share one panel.
TEST(History, SvgMarkersOnlyForFewPointsAndGapsAtNaN) {
  dz::utils::History h;
  for (int e = 0; e < 100; ++e)
    h.record(e, {{"x0", e == 50 ? NAN : 0.01 * e}, {"x1", 1.0}});
  dz::utils::SvgOptions plot;
  plot.x_label = "iteration";
  h.save_svg("history_many.svg", "path", plot);
  const std::string svg = dz::read_file("history_many.svg", "test");
  EXPECT_EQ(panels(svg).size(), 1u);
  EXPECT_EQ(count(svg, "<circle"), 0u);
  EXPECT_EQ(texts(svg, "xlabel"), (std::vector<std::string>{"iteration"}));
  const size_t path = svg.find("<path class=\"series\" d=\"");
  ASSERT_NE(path, std::string::npos);
  const std::string d = svg.substr(path, svg.find('"', path + 25) - path);
  EXPECT_EQ(count(d, "M"), 2u);
  EXPECT_EQ(count(d, "L"), 97u); // 99 finite points in two runs: 49 + 48 segments
  expect_round_ticks(texts(svg, "xtick"));
}

// Panels chosen by the caller, top to bottom, each labelled by its column (or their kind).
TEST(History, SvgPanelsAsTheCallerGroupsThem) {
  dz::utils::History h;
  for (int e = 0; e < 3; ++e)
    h.record(e, {{"x0", 0.1 * e}, {"x1", 2 - 0.1 * e}, {"log10_y", -3.0 * e}});
  dz::utils::SvgOptions plot;
  plot.panels = {{"x0", "x1"}, {"log10_y"}};
  h.save_svg("history_panels.svg", "path", plot);
  const std::vector<std::string> ps = panels(dz::read_file("history_panels.svg", "test"));
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_EQ(count(ps[0], "<path class=\"series\""), 2u);
  EXPECT_EQ(count(ps[1], "<path class=\"series\""), 1u);
  EXPECT_EQ(texts(ps[1], "ylabel"), (std::vector<std::string>{"log10_y"}));
  EXPECT_EQ(texts(ps[1], "ytick"), (std::vector<std::string>{"-6", "-4", "-2", "0"}));
  plot.panels = {{"x0"}, {"no_such_column"}};
  EXPECT_THROW(h.save_svg("history_panels.svg", "path", plot), dz::Error);
}

// The plot as rsvg-convert (librsvg) draws it: a PNG of the SVG's size.
TEST(History, SvgRendersWithRsvgConvert) {
  if (std::system("command -v rsvg-convert >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "rsvg-convert not installed (Debian: librsvg2-bin)";
  training_history().save_svg("history_render.svg", "Fashion-MNIST MLP");
  std::filesystem::remove("history_render.png");
  ASSERT_EQ(std::system("rsvg-convert -o history_render.png history_render.svg"), 0);
  const std::string svg = dz::read_file("history_render.svg", "test");
  const std::string png = dz::read_file("history_render.png", "test");
  ASSERT_GT(png.size(), 24u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  auto be32 = [&](size_t at) {
    return (uint32_t(uint8_t(png[at])) << 24) | (uint32_t(uint8_t(png[at + 1])) << 16) |
           (uint32_t(uint8_t(png[at + 2])) << 8) | uint32_t(uint8_t(png[at + 3]));
  };
  const std::string root = svg.substr(0, svg.find('>'));
  EXPECT_EQ(double(be32(16)), std::round(attr(root, "width")));  // IHDR width
  EXPECT_EQ(double(be32(20)), std::round(attr(root, "height"))); // IHDR height
  EXPECT_EQ(panels(svg).size(), 2u);
  EXPECT_EQ(texts(panels(svg)[1], "ytick"),
            (std::vector<std::string>{"0.2", "0.4", "0.6", "0.8", "1.0"}));
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
