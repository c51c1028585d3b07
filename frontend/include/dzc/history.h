// dzc/history.h - a training history (named metrics per epoch) that writes itself as CSV
// and as an SVG plot (loss and accuracy in panels of their own), so an example's curves
// can be opened without Python.
#pragma once

#include <string>
#include <vector>

namespace dz::utils {

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
  /// A line plot of the chosen columns (all when empty) against the epoch, as SVG that
  /// browsers and rsvg-convert draw alike. Columns whose name has "loss" share one panel,
  /// those with "acc" another, the rest a third; the panels are stacked over one epoch
  /// axis labelled `x_label`. Ticks sit at round values (steps of 1, 2 or 5 times a power
  /// of ten), each point gets a marker when there are at most 30, and each panel's legend
  /// stands in the margin at its right. A non-finite value leaves a gap in its line.
  void save_svg(const std::string &path, const std::string &title,
                const std::vector<std::string> &columns = {},
                const std::string &x_label = "epoch") const;

private:
  std::vector<std::string> columns_;
  std::vector<int64_t> epochs_;
  std::vector<std::vector<double>> values_; // values_[row][column]
};

} // namespace dz::utils
