// print.cpp - operator<< and to_string for Tensor, in the style of NumPy's str(array).
//
// Follows numpy.core.arrayprint with its default options: precision 8, the shortest
// digits that round-trip, float columns aligned on the decimal point, scientific
// notation when |values| >= 1e8, < 1e-4 or spread over more than 3 decades, lines
// wrapped at 75 columns, and a summary with "..." (3 items at each edge) when the tensor
// has more than 1000 elements. A 0-d tensor prints as its scalar ("2.0", "7", "True").
#include <dzc/tensor.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <ostream>
#include <tuple>

namespace dz {

namespace {

constexpr int64_t kThreshold = 1000; // summarise above this many elements
constexpr int64_t kEdgeItems = 3;
constexpr int64_t kLineWidth = 75;
constexpr int kPrecision = 8;

// ---- reading elements -----------------------------------------------------------------

double float_at(const Tensor &t, int64_t i) {
  switch (t.dtype()) {
  case f32:
    return double(static_cast<const float *>(t.raw())[i]);
  case f64:
    return static_cast<const double *>(t.raw())[i];
  default: // float16, bfloat16
    return t.at(i);
  }
}

int64_t int_at(const Tensor &t, int64_t i) {
  switch (t.dtype()) {
  case i64:
    return static_cast<const int64_t *>(t.raw())[i];
  case i32:
    return static_cast<const int32_t *>(t.raw())[i];
  case i8:
    return static_cast<const int8_t *>(t.raw())[i];
  case i16:
    return static_cast<const int16_t *>(t.raw())[i];
  case u16:
    return static_cast<const uint16_t *>(t.raw())[i];
  case u32:
    return static_cast<const uint32_t *>(t.raw())[i];
  case u64: // above 2^63 printed wrapped to negative
    return int64_t(static_cast<const uint64_t *>(t.raw())[i]);
  default:
    return static_cast<const uint8_t *>(t.raw())[i];
  }
}

// ---- float text -----------------------------------------------------------------------

// Shortest round-trip text of v (as float32 when `single`), in `fmt`, or with `precision`
// digits after the point when given.
std::string chars(double v, bool single, std::chars_format fmt, int precision = -1) {
  char buf[400];
  std::to_chars_result r;
  if (single)
    r = precision < 0 ? std::to_chars(buf, buf + sizeof buf, float(v), fmt)
                      : std::to_chars(buf, buf + sizeof buf, float(v), fmt, precision);
  else
    r = precision < 0 ? std::to_chars(buf, buf + sizeof buf, v, fmt)
                      : std::to_chars(buf, buf + sizeof buf, v, fmt, precision);
  return std::string(buf, r.ptr);
}

// "12.5" -> {"12", "5"}; "3" -> {"3", ""}.
std::pair<std::string, std::string> split_point(const std::string &s) {
  const size_t dot = s.find('.');
  if (dot == std::string::npos)
    return {s, ""};
  return {s.substr(0, dot), s.substr(dot + 1)};
}

std::string trim_zeros(std::string frac) {
  while (!frac.empty() && frac.back() == '0')
    frac.pop_back();
  return frac;
}

// Positional digits of v: integer part and fraction (at most kPrecision digits, no
// trailing zeros), like numpy's dragon4_positional(unique=True, trim='.').
std::pair<std::string, std::string> positional(double v, bool single) {
  auto [ip, fp] = split_point(chars(v, single, std::chars_format::fixed));
  if (fp.size() > size_t(kPrecision))
    std::tie(ip, fp) = split_point(chars(v, single, std::chars_format::fixed, kPrecision));
  return {ip, trim_zeros(fp)};
}

struct Scientific {
  std::string ip, fp, exp; // "1", "5", "-05" for 1.5e-05
};
Scientific scientific(double v, bool single) {
  std::string s = chars(v, single, std::chars_format::scientific);
  size_t e = s.find('e');
  if (e != std::string::npos && e > 2 + size_t(kPrecision) + (s[0] == '-')) {
    s = chars(v, single, std::chars_format::scientific, kPrecision);
    e = s.find('e');
  }
  auto [ip, fp] = split_point(s.substr(0, e));
  return {ip, trim_zeros(fp), s.substr(e + 1)};
}

std::string pad_left(const std::string &s, size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

// numpy's FloatingFormat: decides the notation and the column widths from the values
// that will be shown, then formats each of them.
class FloatFormat {
public:
  FloatFormat(const std::vector<double> &values, bool single) : single_(single) {
    std::vector<double> finite;
    for (double v : values)
      if (std::isfinite(v))
        finite.push_back(v);
    double max_abs = 0, min_abs = std::numeric_limits<double>::infinity();
    for (double v : finite)
      if (v != 0)
        max_abs = std::max(max_abs, std::abs(v)), min_abs = std::min(min_abs, std::abs(v));
    if (max_abs > 0)
      exp_ = max_abs >= 1e8 || min_abs < 1e-4 || max_abs / min_abs > 1000.0;

    if (!finite.empty() && exp_) {
      size_t exp_len = 0;
      for (double v : finite) {
        Scientific s = scientific(v, single_);
        pad_left_ = std::max(pad_left_, s.ip.size());
        precision_ = std::max(precision_, s.fp.size());
        exp_len = std::max(exp_len, s.exp.size());
      }
      exp_digits_ = exp_len - 1;
      pad_right_ = exp_digits_ + 2 + precision_;
    } else {
      for (double v : finite) {
        auto [ip, fp] = positional(v, single_);
        pad_left_ = std::max(pad_left_, ip.size());
        pad_right_ = std::max(pad_right_, fp.size());
      }
    }
    if (finite.size() != values.size()) {
      bool neg_inf = false;
      for (double v : values)
        neg_inf |= std::isinf(v) && v < 0;
      const size_t offset = pad_right_ + 1;
      const size_t inf_len = 3 + neg_inf;
      pad_left_ = std::max(
          {pad_left_, 3 > offset ? 3 - offset : 0, inf_len > offset ? inf_len - offset : 0});
    }
  }

  std::string operator()(double v) const {
    if (std::isnan(v))
      return pad_left("nan", pad_left_ + pad_right_ + 1);
    if (std::isinf(v))
      return pad_left(v < 0 ? "-inf" : "inf", pad_left_ + pad_right_ + 1);
    if (exp_) {
      Scientific s = scientific(v, single_);
      const char sign = s.exp[0];
      std::string digits = s.exp.substr(1);
      digits =
          std::string(exp_digits_ > digits.size() ? exp_digits_ - digits.size() : 0, '0') + digits;
      return pad_left(s.ip, pad_left_) + "." + s.fp + std::string(precision_ - s.fp.size(), '0') +
             "e" + sign + digits;
    }
    auto [ip, fp] = positional(v, single_);
    return pad_left(ip, pad_left_) + "." + fp + std::string(pad_right_ - fp.size(), ' ');
  }

private:
  bool single_;
  bool exp_ = false;
  size_t pad_left_ = 0, pad_right_ = 0;
  size_t precision_ = 0, exp_digits_ = 0; // scientific only
};

// str() of a NumPy scalar: positional for 1e-4 <= |v| < 1e16 (and 0), else scientific.
std::string scalar_str(const Tensor &t) {
  if (t.dtype() == b8)
    return static_cast<const uint8_t *>(t.raw())[0] ? "True" : "False";
  if (!is_floating(t.dtype()))
    return std::to_string(int_at(t, 0));
  const double v = float_at(t, 0);
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v < 0 ? "-inf" : "inf";
  const bool single = t.dtype() == f32;
  const double a = std::abs(v);
  if (v == 0 || (a >= 1e-4 && a < 1e16)) {
    std::string s = chars(v, single, std::chars_format::fixed);
    return s.find('.') == std::string::npos ? s + ".0" : s;
  }
  return chars(v, single, std::chars_format::scientific);
}

// ---- layout ---------------------------------------------------------------------------

// numpy's _formatArray: nested brackets, a hanging indent, wrapping of the last axis at
// kLineWidth and "..." in place of the middle items of long axes when summarising.
class Layout {
public:
  Layout(const Shape &shape, bool summarize) : shape_(shape), summarize_(summarize) {
    strides_.assign(shape.size(), 1);
    for (int64_t a = int64_t(shape.size()) - 2; a >= 0; --a)
      strides_[a] = strides_[a + 1] * shape[a + 1];
  }

  // The flat indices of the elements shown, in order.
  void shown(std::vector<int64_t> &out, size_t axis = 0, int64_t base = 0) const {
    if (axis == shape_.size()) {
      out.push_back(base);
      return;
    }
    for (int64_t i : items(axis))
      if (i >= 0)
        shown(out, axis + 1, base + i * strides_[axis]);
  }

  std::string render(const std::function<std::string(int64_t)> &fmt) const {
    return rec(fmt, 0, 0, " ", kLineWidth);
  }

private:
  // The indices shown along `axis`, with -1 where "..." goes.
  std::vector<int64_t> items(size_t axis) const {
    const int64_t n = shape_[axis];
    std::vector<int64_t> idx;
    if (summarize_ && n > 2 * kEdgeItems) {
      for (int64_t i = 0; i < kEdgeItems; ++i)
        idx.push_back(i);
      idx.push_back(-1);
      for (int64_t i = n - kEdgeItems; i < n; ++i)
        idx.push_back(i);
    } else {
      for (int64_t i = 0; i < n; ++i)
        idx.push_back(i);
    }
    return idx;
  }

  static void extend_line(std::string &s, std::string &line, const std::string &word, int64_t width,
                          const std::string &indent) {
    if (int64_t(line.size() + word.size()) > width && line.size() > indent.size()) {
      while (!line.empty() && line.back() == ' ')
        line.pop_back();
      s += line + "\n";
      line = indent;
    }
    line += word;
  }

  std::string rec(const std::function<std::string(int64_t)> &fmt, size_t axis, int64_t base,
                  const std::string &indent, int64_t width) const {
    if (axis == shape_.size())
      return fmt(base);
    const std::string next_indent = indent + " ";
    const int64_t axes_left = int64_t(shape_.size() - axis);
    const std::vector<int64_t> idx = items(axis);
    std::string s;
    if (axes_left == 1) {
      std::string line = indent;
      for (size_t k = 0; k < idx.size(); ++k) {
        const std::string word =
            idx[k] < 0 ? "..."
                       : rec(fmt, axis + 1, base + idx[k] * strides_[axis], next_indent, width - 1);
        extend_line(s, line, word, width - 1, indent);
        if (k + 1 < idx.size())
          line += ' ';
      }
      s += line;
    } else {
      const std::string line_sep(axes_left - 1, '\n');
      for (size_t k = 0; k < idx.size(); ++k) {
        s += indent;
        s += idx[k] < 0
                 ? "..."
                 : rec(fmt, axis + 1, base + idx[k] * strides_[axis], next_indent, width - 1);
        if (k + 1 < idx.size())
          s += line_sep;
      }
    }
    std::string out(1, '[');
    out.append(s, indent.size());
    out += ']';
    return out;
  }

  const Shape &shape_;
  std::vector<int64_t> strides_;
  bool summarize_;
};

} // namespace

std::string to_string(const Tensor &tensor) {
  const Tensor t = tensor.device().is_cpu() ? tensor : tensor.to(Device::cpu());
  if (t.size() == 0)
    return "[]";
  if (t.ndim() == 0)
    return scalar_str(t);

  const Layout layout(t.shape(), t.size() > kThreshold);
  std::vector<int64_t> shown;
  layout.shown(shown);

  if (t.dtype() == b8) {
    const auto *p = static_cast<const uint8_t *>(t.raw());
    return layout.render([p](int64_t i) { return p[i] ? std::string(" True") : "False"; });
  }
  if (!is_floating(t.dtype())) {
    size_t width = 0;
    for (int64_t i : shown)
      width = std::max(width, std::to_string(int_at(t, i)).size());
    return layout.render([&](int64_t i) { return pad_left(std::to_string(int_at(t, i)), width); });
  }
  std::vector<double> values;
  values.reserve(shown.size());
  for (int64_t i : shown)
    values.push_back(float_at(t, i));
  const FloatFormat format(values, t.dtype() == f32);
  return layout.render([&](int64_t i) { return format(float_at(t, i)); });
}

std::ostream &operator<<(std::ostream &os, const Tensor &t) { return os << to_string(t); }

} // namespace dz
