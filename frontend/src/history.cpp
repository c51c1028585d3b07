// history.cpp - training histories as CSV and as SVG line plots.
#include <dzc/history.h>
#include <dzc/io.h>
#include <dzc/tensor.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

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

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string escape(const std::string &s) {
  std::string r;
  for (char c : s) {
    if (c == '<')
      r += "&lt;";
    else if (c == '>')
      r += "&gt;";
    else if (c == '&')
      r += "&amp;";
    else
      r += c;
  }
  return r;
}

} // namespace

void History::save_svg(const std::string &path, const std::string &title,
                       const std::vector<std::string> &cols) const {
  std::vector<std::string> chosen = cols.empty() ? columns_ : cols;
  std::vector<std::vector<double>> series;
  for (const auto &c : chosen)
    series.push_back(column(c));

  const double W = 640, H = 400, left = 70, right = 150, top = 40, bottom = 50;
  const double pw = W - left - right, ph = H - top - bottom;
  double x0 = epochs_.empty() ? 0 : double(epochs_.front());
  double x1 = epochs_.empty() ? 1 : double(epochs_.back());
  if (x1 <= x0)
    x1 = x0 + 1;
  double y0 = INFINITY, y1 = -INFINITY;
  for (const auto &s : series)
    for (double v : s)
      if (std::isfinite(v))
        y0 = std::min(y0, v), y1 = std::max(y1, v);
  if (!std::isfinite(y0))
    y0 = 0, y1 = 1;
  if (y1 <= y0)
    y1 = y0 + 1;
  auto X = [&](double e) { return left + (e - x0) / (x1 - x0) * pw; };
  auto Y = [&](double v) { return top + (1 - (v - y0) / (y1 - y0)) * ph; };

  static const char *colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                 "#8c564b"};
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
     << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
     << "<text x=\"" << left + pw / 2 << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">"
     << escape(title) << "</text>\n"
     << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
     << "\" fill=\"none\" stroke=\"#444\"/>\n";
  for (int i = 0; i <= 4; ++i) { // grid and tick labels
    double v = y0 + (y1 - y0) * i / 4, y = Y(v);
    os << "<line x1=\"" << left << "\" x2=\"" << left + pw << "\" y1=\"" << y << "\" y2=\"" << y
       << "\" stroke=\"#ddd\"/>\n<text x=\"" << left - 6 << "\" y=\"" << y + 4
       << "\" text-anchor=\"end\">" << fmt(v) << "</text>\n";
    double e = x0 + (x1 - x0) * i / 4;
    os << "<text x=\"" << X(e) << "\" y=\"" << top + ph + 18 << "\" text-anchor=\"middle\">"
       << fmt(e) << "</text>\n";
  }
  os << "<text x=\"" << left + pw / 2 << "\" y=\"" << H - 10
     << "\" text-anchor=\"middle\">epoch</text>\n";
  for (size_t k = 0; k < series.size(); ++k) {
    const char *color = colors[k % 6];
    os << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\" points=\"";
    for (size_t r = 0; r < epochs_.size(); ++r)
      if (std::isfinite(series[k][r]))
        os << X(double(epochs_[r])) << "," << Y(series[k][r]) << " ";
    os << "\"/>\n";
    double ly = top + 14 + 18 * double(k);
    os << "<line x1=\"" << left + pw + 12 << "\" x2=\"" << left + pw + 32 << "\" y1=\"" << ly - 4
       << "\" y2=\"" << ly - 4 << "\" stroke=\"" << color << "\" stroke-width=\"2\"/>\n"
       << "<text x=\"" << left + pw + 36 << "\" y=\"" << ly << "\">" << escape(chosen[k])
       << "</text>\n";
  }
  os << "</svg>\n";
  write_file_atomic(path, os.str(), "History::save_svg");
}

} // namespace dz::utils
