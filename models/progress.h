// models/progress.h - the progress of one epoch of an example's training: on a terminal a
// bar redrawn in place with the rate and the time left; when stdout is not a terminal (a
// log, a pipe, ctest) nothing until the epoch's one summary line.
//
//   example::Progress bar("epoch 1/5", loader.max_iter(), !args.quiet);
//   for (auto [x, t] : loader) { ...; bar.step("loss " + example::fixed(loss)); }
//   bar.finish("epoch 1  train loss 0.31 ...");   // replaces the bar (or is the only line)
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>

#include <unistd.h>

namespace example {

/// "0.1234": a value with `digits` decimals, for progress lines.
inline std::string fixed(double v, int digits = 4) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

/// "m:ss" (or "h:mm:ss") of a duration in seconds.
inline std::string clock_time(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7)
    return "?";
  const long s = long(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

class Progress {
public:
  /// `total` steps (batches) make the epoch; `enabled` false (--quiet) draws no bar; the
  /// bar is drawn only when stdout is a terminal (or `force_bar`, for tests).
  Progress(std::string label, int64_t total, bool enabled, bool force_bar = false)
      : label_(std::move(label)), total_(total),
        bar_(enabled && (force_bar || ::isatty(::fileno(stdout)) == 1)),
        start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

  /// One step done; `status` (e.g. the batch loss) is shown after the bar.
  void step(const std::string &status = "") {
    ++done_;
    if (!bar_)
      return;
    const auto now = std::chrono::steady_clock::now();
    // At most ~10 redraws a second, and always the last step.
    if (done_ < total_ && now - last_draw_ < std::chrono::milliseconds(100))
      return;
    last_draw_ = now;
    draw(seconds(now), status);
  }

  /// Ends the epoch: the bar (if any) gives way to `summary`, printed as one line.
  void finish(const std::string &summary) {
    if (bar_)
      std::printf("\r\033[K");
    if (!summary.empty())
      std::printf("%s\n", summary.c_str());
    std::fflush(stdout);
  }

  int64_t done() const { return done_; }
  double elapsed() const { return seconds(std::chrono::steady_clock::now()); }
  bool drawing() const { return bar_; }

private:
  double seconds(std::chrono::steady_clock::time_point t) const {
    return std::chrono::duration<double>(t - start_).count();
  }

  void draw(double elapsed, const std::string &status) {
    constexpr int kWidth = 24;
    const double frac = total_ > 0 ? double(done_) / double(total_) : 0.0;
    const int filled = int(frac * kWidth);
    std::string bar(size_t(filled), '#');
    bar.resize(kWidth, '.');
    const double rate = elapsed > 0 ? double(done_) / elapsed : 0.0;
    const double eta = rate > 0 ? double(total_ - done_) / rate : -1.0;
    std::printf("\r\033[K%s [%s] %lld/%lld  %.1f it/s  ETA %s%s%s", label_.c_str(), bar.c_str(),
                (long long)done_, (long long)total_, rate, clock_time(eta).c_str(),
                status.empty() ? "" : "  ", status.c_str());
    std::fflush(stdout);
  }

  std::string label_;
  int64_t total_, done_ = 0;
  bool bar_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

} // namespace example
