// dzc/history.h - a training history (named metrics per epoch) that writes itself as CSV
// and as an SVG plot (loss and accuracy in panels of their own), so an example's curves
// can be opened without Python.
#pragma once

#include <string>
#include <vector>

namespace dz::utils {

/// How History::save_svg draws.
struct SvgOptions {
  /// The columns of each panel, top to bottom. Empty: every column, those whose name has
  /// "loss" in one panel, those with "acc" in another, the rest in a third.
  std::vector<std::vector<std::string>> panels;
  std::string x_label = "epoch"; // under the shared horizontal axis
};

class History {
public:
  /// Appends one row: the values of `metrics` (e.g. {"train_loss", "test_acc"}) for one
  /// epoch. The names of the first row fix the columns; later rows must use the same.
  void record(int64_t epoch, const std::vector<std::pair<std::string, double>> &metrics);

  const std::vector<std::string> &columns() const { return columns_; }
  size_t rows() const { return epochs_.size(); }
  /// The values of one column, in epoch order; throws dz::Error for an unknown name.
  std::vector<double> column(const std::string &name) const;

  /// "epoch,<col>,..." then one line per epoch. Written atomically (temp file + rename).
  void save_csv(const std::string &path) const;
  /// A line plot of the columns against the epoch, as SVG that browsers and rsvg-convert
  /// draw alike: panels stacked over one epoch axis, each with its own value axis (loss
  /// and accuracy apart, unless `options` says otherwise). Ticks sit at round values (steps
  /// of 1, 2 or 5 times a power of ten), each point gets a marker when there are at most
  /// 30, and each panel's legend stands in the margin at its right, off the data. A
  /// non-finite value leaves a gap in its line. Throws dz::Error for an unknown column.
  void save_svg(const std::string &path, const std::string &title,
                const SvgOptions &options = {}) const;

private:
  std::vector<std::string> columns_;
  std::vector<int64_t> epochs_;
  std::vector<std::vector<double>> values_; // values_[row][column]
};

} // namespace dz::utils
