// history.cpp - training histories as CSV and as SVG line plots.
#include <dzc/history.h>
#include <dzc/io.h>
#include <dzc/tensor.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace dz::utils {

void History::record(int64_t epoch, const std::vector<std::pair<std::string, double>> &metrics) {
  std::vector<std::string> names;
  for (const auto &m : metrics)
    names.push_back(m.first);
  if (epochs_.empty())
    columns_ = names;
  else if (names != columns_)
    throw Error("History::record: metrics of epoch " + std::to_string(epoch) +
                " differ from the first row's columns");
  epochs_.push_back(epoch);
  std::vector<double> row;
  for (const auto &m : metrics)
    row.push_back(m.second);
  values_.push_back(std::move(row));
}

std::vector<double> History::column(const std::string &name) const {
  auto it = std::find(columns_.begin(), columns_.end(), name);
  if (it == columns_.end())
    throw Error("History::column: no column '" + name + "'");
  size_t c = size_t(it - columns_.begin());
  std::vector<double> v;
  for (const auto &row : values_)
    v.push_back(row[c]);
  return v;
}

void History::save_csv(const std::string &path) const {
  std::ostringstream os;
  os << "epoch";
  for (const auto &c : columns_)
    os << "," << c;
  os << "\n";
  os.precision(9);
  for (size_t r = 0; r < epochs_.size(); ++r) {
    os << epochs_[r];
    for (double v : values_[r])
      os << "," << v;
    os << "\n";
  }
  write_file_atomic(path, os.str(), "History::save_csv");
}

namespace {

std::string escape(const std::string &s) {
  std::string r;
  for (char c : s) {
    if (c == '<')
      r += "&lt;";
    else if (c == '>')
      r += "&gt;";
    else if (c == '&')
      r += "&amp;";
    else if (c == '"')
      r += "&quot;";
    else
      r += c;
  }
  return r;
}

/// A coordinate in SVG user units, with two decimals at most.
std::string coord(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  std::string s = buf;
  while (s.back() == '0')
    s.pop_back();
  if (s.back() == '.')
    s.pop_back();
  return s == "-0" ? "0" : s;
}

/// Ticks of an axis at round values: steps of 1, 2 or 5 times a power of ten, about
/// `target` of them over [lo, hi].
struct Ticks {
  double lo, hi, step; // the axis spans [lo, hi]; ticks at lo, lo + step, ..., hi
  std::vector<double> values;
  std::string label(double v) const {
    if (std::abs(v) < step * 1e-6)
      v = 0; // no "-0.0"
    char buf[48];
    if (step >= 1e7 || step < 1e-6) // 2e+07, 5e-08: %f would be long
      std::snprintf(buf, sizeof buf, "%.6g", v);
    else
      std::snprintf(buf, sizeof buf, "%.*f", std::max(0, -int(std::floor(std::log10(step) + 1e-9))),
                    v);
    return buf;
  }
};

double nice_step(double span, int target, double min_step) {
  const double raw = span / double(std::max(target, 1));
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * magnitude;
  for (double m : {1.0, 2.0, 5.0})
    if (m * magnitude >= raw * (1 - 1e-9)) {
      step = m * magnitude;
      break;
    }
  return std::max(step, min_step);
}

/// A value axis: [lo, hi] widened to the enclosing multiples of the step.
Ticks value_ticks(double lo, double hi, int target) {
  if (!std::isfinite(hi - lo)) // beyond what a double spans: clamp
    lo = std::max(lo, -1e307), hi = std::min(hi, 1e307);
  if (!(hi > lo)) { // one value (or none): a unit around it
    const double pad = std::abs(lo) * 0.1 > 1e-300 ? std::abs(lo) * 0.1 : 1.0;
    lo -= pad, hi += pad;
  }
  Ticks t{};
  t.step = nice_step(hi - lo, target, 0);
  t.lo = std::floor(lo / t.step + 1e-9) * t.step;
  t.hi = std::ceil(hi / t.step - 1e-9) * t.step;
  // (At most 50: values too large for their spread in a double round to a few.)
  for (int k = 0; k <= 50 && t.lo + k * t.step <= t.hi + t.step * 1e-6; ++k)
    t.values.push_back(t.lo + k * t.step);
  return t;
}

/// The epoch axis: exactly the recorded range, ticks at round integers inside it.
Ticks epoch_ticks(double lo, double hi, int target) {
  if (!(hi > lo))
    lo -= 1, hi += 1;
  Ticks t{};
  t.lo = lo, t.hi = hi;
  t.step = nice_step(hi - lo, target, 1);
  const double first = std::ceil(lo / t.step - 1e-9) * t.step;
  for (int k = 0; k <= 50 && first + k * t.step <= hi + 1e-9; ++k)
    t.values.push_back(first + k * t.step);
  return t;
}

/// Which panel a column is drawn in: accuracies apart from losses, since they have
/// other units and scales; every other column in a third panel.
std::string panel_of(const std::string &column) {
  std::string lower;
  for (char c : column)
    lower += char(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find("acc") != std::string::npos)
    return "accuracy";
  if (lower.find("loss") != std::string::npos)
    return "loss";
  return "";
}

} // namespace

void History::save_svg(const std::string &path, const std::string &title,
                       const SvgOptions &options) const {
  // The series and the panels (each a list of series) with their axis labels.
  std::vector<std::string> chosen;
  std::vector<std::vector<double>> series;
  std::vector<std::string> panel_names;
  std::vector<std::vector<size_t>> panels;
  if (options.panels.empty()) { // by name, in the order of each panel's first column
    chosen = columns_;
    for (size_t k = 0; k < chosen.size(); ++k) {
      const std::string name = panel_of(chosen[k]);
      auto it = std::find(panel_names.begin(), panel_names.end(), name);
      if (it == panel_names.end()) {
        panel_names.push_back(name);
        panels.emplace_back();
        it = panel_names.end() - 1;
      }
      panels[size_t(it - panel_names.begin())].push_back(k);
    }
  } else {
    for (const auto &columns : options.panels) {
      panels.emplace_back();
      for (const auto &c : columns) {
        panels.back().push_back(chosen.size());
        chosen.push_back(c);
      }
      // The axis label: the column's name, or what its columns have in common.
      std::string name = columns.size() == 1 ? columns[0] : "";
      if (columns.size() > 1 &&
          std::all_of(columns.begin(), columns.end(),
                      [&](const std::string &c) { return panel_of(c) == panel_of(columns[0]); }))
        name = panel_of(columns[0]);
      panel_names.push_back(name);
    }
  }
  for (const auto &c : chosen)
    series.push_back(column(c));
  const std::string &x_label = options.x_label;
  if (panels.empty()) { // no columns: one empty panel
    panel_names.push_back("");
    panels.emplace_back();
  }

  // Layout: panels stacked over one epoch axis; each panel's legend in the margin at its
  // right, so it never covers a line.
  size_t longest = 0;
  for (const auto &c : chosen)
    longest = std::max(longest, c.size());
  const double left = 72, top = 44, panel_h = 200, gap = 28, bottom = 48;
  const double right = 56 + 7.5 * double(std::min<size_t>(longest, 40));
  const double pw = 470, W = left + pw + right;
  const double H = top + double(panels.size()) * panel_h + double(panels.size() - 1) * gap + bottom;
  const Ticks xt = epoch_ticks(epochs_.empty() ? 0 : double(epochs_.front()),
                               epochs_.empty() ? 1 : double(epochs_.back()), 6);
  auto X = [&](double e) { return left + (e - xt.lo) / (xt.hi - xt.lo) * pw; };
  // Markers show the points themselves when there are few enough to tell apart.
  const bool markers = epochs_.size() <= 30;

  static const char *colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"};
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << coord(W) << "\" height=\""
     << coord(H) << "\" viewBox=\"0 0 " << coord(W) << " " << coord(H)
     << "\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\">\n"
     << "<rect width=\"" << coord(W) << "\" height=\"" << coord(H) << "\" fill=\"white\"/>\n"
     << "<text class=\"title\" x=\"" << coord(left + pw / 2)
     << "\" y=\"26\" text-anchor=\"middle\" font-size=\"15\">" << escape(title) << "</text>\n";
  for (size_t p = 0; p < panels.size(); ++p) {
    const double py = top + double(p) * (panel_h + gap);
    double lo = INFINITY, hi = -INFINITY;
    for (size_t k : panels[p])
      for (double v : series[k])
        if (std::isfinite(v))
          lo = std::min(lo, v), hi = std::max(hi, v);
    if (!std::isfinite(lo))
      lo = 0, hi = 1;
    const Ticks yt = value_ticks(lo, hi, 5);
    auto Y = [&](double v) { return py + (1 - (v - yt.lo) / (yt.hi - yt.lo)) * panel_h; };

    os << "<g class=\"panel\" data-name=\"" << escape(panel_names[p]) << "\">\n";
    for (double v : yt.values) // horizontal grid lines and the value ticks
      os << "<line x1=\"" << coord(left) << "\" x2=\"" << coord(left + pw) << "\" y1=\""
         << coord(Y(v)) << "\" y2=\"" << coord(Y(v)) << "\" stroke=\"#e4e4e4\"/>\n"
         << "<text class=\"ytick\" x=\"" << coord(left - 6) << "\" y=\"" << coord(Y(v) + 4)
         << "\" text-anchor=\"end\">" << yt.label(v) << "</text>\n";
    for (double e : xt.values) { // vertical grid lines; the epoch ticks under the last panel
      os << "<line x1=\"" << coord(X(e)) << "\" x2=\"" << coord(X(e)) << "\" y1=\"" << coord(py)
         << "\" y2=\"" << coord(py + panel_h) << "\" stroke=\"#e4e4e4\"/>\n";
      if (p + 1 == panels.size())
        os << "<text class=\"xtick\" x=\"" << coord(X(e)) << "\" y=\"" << coord(py + panel_h + 17)
           << "\" text-anchor=\"middle\">" << xt.label(e) << "</text>\n";
    }
    os << "<rect x=\"" << coord(left) << "\" y=\"" << coord(py) << "\" width=\"" << coord(pw)
       << "\" height=\"" << coord(panel_h) << "\" fill=\"none\" stroke=\"#444\"/>\n";
    if (!panel_names[p].empty()) {
      const double ly = py + panel_h / 2;
      os << "<text class=\"ylabel\" x=\"" << coord(left - 52) << "\" y=\"" << coord(ly)
         << "\" text-anchor=\"middle\" transform=\"rotate(-90 " << coord(left - 52) << " "
         << coord(ly) << ")\">" << escape(panel_names[p]) << "</text>\n";
    }
    for (size_t i = 0; i < panels[p].size(); ++i) {
      const size_t k = panels[p][i];
      const char *color = colors[k % 6];
      // One path; a non-finite value breaks the line (as matplotlib draws NaN).
      std::string d;
      bool pen_down = false;
      for (size_t r = 0; r < epochs_.size(); ++r) {
        if (!std::isfinite(series[k][r])) {
          pen_down = false;
          continue;
        }
        d += (pen_down ? " L" : (d.empty() ? "M" : " M")) + coord(X(double(epochs_[r]))) + " " +
             coord(Y(series[k][r]));
        pen_down = true;
      }
      if (!d.empty())
        os << "<path class=\"series\" d=\"" << d << "\" fill=\"none\" stroke=\"" << color
           << "\" stroke-width=\"2\" stroke-linejoin=\"round\"/>\n";
      if (markers)
        for (size_t r = 0; r < epochs_.size(); ++r)
          if (std::isfinite(series[k][r]))
            os << "<circle class=\"marker\" cx=\"" << coord(X(double(epochs_[r]))) << "\" cy=\""
               << coord(Y(series[k][r])) << "\" r=\"3\" fill=\"" << color << "\"/>\n";
      const double lx = left + pw + 14, ly = py + 14 + 18 * double(i);
      os << "<g class=\"legend\"><line x1=\"" << coord(lx) << "\" x2=\"" << coord(lx + 22)
         << "\" y1=\"" << coord(ly - 4) << "\" y2=\"" << coord(ly - 4) << "\" stroke=\"" << color
         << "\" stroke-width=\"2\"/>";
      if (markers)
        os << "<circle cx=\"" << coord(lx + 11) << "\" cy=\"" << coord(ly - 4)
           << "\" r=\"3\" fill=\"" << color << "\"/>";
      os << "<text x=\"" << coord(lx + 28) << "\" y=\"" << coord(ly) << "\">" << escape(chosen[k])
         << "</text></g>\n";
    }
    os << "</g>\n";
  }
  os << "<text class=\"xlabel\" x=\"" << coord(left + pw / 2) << "\" y=\"" << coord(H - 10)
     << "\" text-anchor=\"middle\">" << escape(x_label) << "</text>\n";
  os << "</svg>\n";
  write_file_atomic(path, os.str(), "History::save_svg");
}

} // namespace dz::utils
