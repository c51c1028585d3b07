// models/plot.h - the plots of the book's figures that are not curves per epoch
// (dz::utils::History draws those): y against a real x (sin and its derivatives, a fitted
// curve over its data points) and a classifier's decision regions with the data on top.
// Plain SVG, drawn alike by browsers and rsvg-convert.
#pragma once

#include <dzc/dzc.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace example {

/// One series of a plot: a line through its points, or markers only.
struct Series {
  std::string name;
  std::vector<double> x, y;
  bool markers = false; // true: a dot at each point, no line
};

namespace plot_detail {

inline const char *color(size_t i) {
  static const char *const colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                       "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
  return colors[i % 8];
}

/// Round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten).
inline std::vector<double> ticks(double lo, double hi) {
  const double span = hi - lo;
  const double raw = span / 6;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = raw / p < 1.5 ? p : raw / p < 3.5 ? 2 * p : raw / p < 7.5 ? 5 * p : 10 * p;
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  return t;
}

inline std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

/// Writes `svg` to `path` atomically (a temporary file, then rename).
inline void write_file(const std::string &path, const std::string &svg) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    f << svg;
    if (!f.flush())
      throw dz::Error(path + ": cannot write the plot");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec)
    throw dz::Error(path + ": cannot write the plot: " + ec.message());
}

/// The frame of a plot: axes with ticks over [x0, x1] x [y0, y1] in a W x H canvas.
struct Frame {
  double x0, x1, y0, y1;
  double left = 60, top = 40, width = 480, height = 320;
  double px(double x) const { return left + (x - x0) / (x1 - x0) * width; }
  double py(double y) const { return top + (y1 - y) / (y1 - y0) * height; }

  std::string open(const std::string &title, double canvas_w) const {
    std::ostringstream s;
    s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << canvas_w << "\" height=\""
      << top + height + 50 << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << left + width / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">"
      << title << "</text>\n";
    return s.str();
  }

  std::string axes(const std::string &x_label, const std::string &y_label) const {
    std::ostringstream s;
    s << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << width << "\" height=\""
      << height << "\" fill=\"none\" stroke=\"black\"/>\n";
    for (double t : ticks(x0, x1))
      s << "<line x1=\"" << px(t) << "\" y1=\"" << top + height << "\" x2=\"" << px(t) << "\" y2=\""
        << top + height + 5 << "\" stroke=\"black\"/><text x=\"" << px(t) << "\" y=\""
        << top + height + 18 << "\" text-anchor=\"middle\">" << fmt(t) << "</text>\n";
    for (double t : ticks(y0, y1))
      s << "<line x1=\"" << left - 5 << "\" y1=\"" << py(t) << "\" x2=\"" << left << "\" y2=\""
        << py(t) << "\" stroke=\"black\"/><text x=\"" << left - 8 << "\" y=\"" << py(t) + 4
        << "\" text-anchor=\"end\">" << fmt(t) << "</text>\n";
    s << "<text x=\"" << left + width / 2 << "\" y=\"" << top + height + 38
      << "\" text-anchor=\"middle\">" << x_label << "</text>\n"
      << "<text x=\"15\" y=\"" << top + height / 2
      << "\" text-anchor=\"middle\" transform=\"rotate(-90 15 " << top + height / 2 << ")\">"
      << y_label << "</text>\n";
    return s.str();
  }
};

} // namespace plot_detail

/// y against x for each series, one color each, the legend at the right.
inline void save_xy_svg(const std::string &path, const std::string &title,
                        const std::vector<Series> &series, const std::string &x_label = "x",
                        const std::string &y_label = "y") {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const Series &s : series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) {
        x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
        y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
      }
  if (!(x0 < x1))
    x0 -= 1, x1 += 1;
  if (!(y0 < y1))
    y0 -= 1, y1 += 1;
  const double pad = (y1 - y0) * 0.05;
  plot_detail::Frame f{x0, x1, y0 - pad, y1 + pad};
  std::ostringstream svg;
  svg << f.open(title, f.left + f.width + 170) << f.axes(x_label, y_label);
  for (size_t k = 0; k < series.size(); ++k) {
    const Series &s = series[k];
    const char *c = plot_detail::color(k);
    if (s.markers) {
      for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
        if (std::isfinite(s.y[i]))
          svg << "<circle cx=\"" << f.px(s.x[i]) << "\" cy=\"" << f.py(s.y[i])
              << "\" r=\"2\" fill=\"" << c << "\" fill-opacity=\"0.6\"/>\n";
    } else {
      svg << "<polyline fill=\"none\" stroke=\"" << c << "\" stroke-width=\"1.5\" points=\"";
      for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
        if (std::isfinite(s.y[i]))
          svg << f.px(s.x[i]) << "," << f.py(s.y[i]) << " ";
      svg << "\"/>\n";
    }
    const double ly = f.top + 10 + 18 * double(k);
    svg << "<rect x=\"" << f.left + f.width + 12 << "\" y=\"" << ly - 8
        << "\" width=\"14\" height=\"4\" fill=\"" << c << "\"/><text x=\"" << f.left + f.width + 32
        << "\" y=\"" << ly << "\">" << s.name << "</text>\n";
  }
  svg << "</svg>\n";
  plot_detail::write_file(path, svg.str());
}

/// A classifier's decision regions over [x0, x1] x [y0, y1]: `cls` holds the predicted
/// class of each of the n x n grid cells (row-major, y rising with the row), drawn as pale
/// cells; the points (px[i], py[i]) of class pc[i] go on top.
inline void save_decision_svg(const std::string &path, const std::string &title, double x0,
                              double x1, double y0, double y1, int64_t n,
                              const std::vector<int64_t> &cls, const std::vector<double> &px,
                              const std::vector<double> &py, const std::vector<int64_t> &pc) {
  static const char *const pale[] = {"#c6dbef", "#fdd0a2", "#c7e9c0", "#fcbba1",
                                     "#dadaeb", "#d9d9d9", "#fbe0ef", "#e5e5e5"};
  plot_detail::Frame f{x0, x1, y0, y1};
  f.width = f.height = 400;
  std::ostringstream svg;
  svg << f.open(title, f.left + f.width + 20);
  const double cw = f.width / double(n), ch = f.height / double(n);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < n; ++c)
      svg << "<rect x=\"" << f.left + double(c) * cw << "\" y=\""
          << f.top + f.height - double(r + 1) * ch << "\" width=\"" << cw + 0.5 << "\" height=\""
          << ch + 0.5 << "\" fill=\"" << pale[size_t(cls[size_t(r * n + c)]) % 8] << "\"/>\n";
  for (size_t i = 0; i < px.size(); ++i)
    svg << "<circle cx=\"" << f.px(px[i]) << "\" cy=\"" << f.py(py[i]) << "\" r=\"3\" fill=\""
        << plot_detail::color(size_t(pc[i])) << "\" stroke=\"black\" stroke-width=\"0.3\"/>\n";
  svg << f.axes("x0", "x1") << "</svg>\n";
  plot_detail::write_file(path, svg.str());
}

} // namespace example
