// npy.cpp - NumPy .npy files: save_npy/load_npy and the in-memory encoding.
//
// Format (numpy.lib.format): "\x93NUMPY", major, minor, header length (u16 LE for 1.0,
// u32 LE for 2.0/3.0), then a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and ended by '\n' so the data starts at a multiple of 64 bytes.
// We write exactly what NumPy writes (version 1.0 unless the header needs 2.0) and read
// versions 1.0, 2.0 and 3.0 with little-endian or byte-order-free descriptors.
#include <dzc/io.h>
#include <dzc/tensor.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <unistd.h>

namespace dz {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr size_t kAlign = 64;
constexpr size_t kGrowthAxisMaxDigits = 21; // numpy pads the header for in-place growth
constexpr const char *kSupported =
    "'<f4', '<f8', '<f2', '<i8', '<i4', '<i2', '|i1', '|u1', '<u2', '<u4', '<u8', '|b1'";

const char *descr_of(DType t) {
  switch (t) {
  case f32:
    return "<f4";
  case f64:
    return "<f8";
  case i64:
    return "<i8";
  case i32:
    return "<i4";
  case u8:
    return "|u1";
  case b8:
    return "|b1";
  case i8:
    return "|i1";
  case i16:
    return "<i2";
  case u16:
    return "<u2";
  case u32:
    return "<u4";
  case u64:
    return "<u8";
  case f16:
    return "<f2";
  case bf16: // NumPy has no bfloat16: its bits, as ONNX's test data store it
    return "<u2";
  }
  return "?";
}

// ---- a small parser for the Python literals of the header ------------------------------

struct Value {
  enum class Kind { Str, Bool, Int, Tuple } kind;
  std::string str;
  bool boolean = false;
  int64_t integer = 0;
  std::vector<Value> items;
};

class HeaderParser {
public:
  HeaderParser(const std::string &text, const std::string &what) : s_(text), what_(what) {}

  std::map<std::string, Value> dict() {
    std::map<std::string, Value> d;
    expect('{');
    while (!peek_is('}')) {
      Value key = value();
      if (key.kind != Value::Kind::Str)
        fail("a dictionary key is not a string");
      expect(':');
      d[key.str] = value();
      if (!peek_is(','))
        break;
      ++pos_;
    }
    expect('}');
    skip_space();
    if (pos_ != s_.size())
      fail("unexpected text after the dictionary");
    return d;
  }

  [[noreturn]] void fail(const std::string &problem) const {
    throw Error("load_npy: " + what_ + ": malformed header (" + problem + " at character " +
                std::to_string(pos_) + "): " + s_);
  }

private:
  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_])))
      ++pos_;
  }
  bool peek_is(char c) {
    skip_space();
    return pos_ < s_.size() && s_[pos_] == c;
  }
  void expect(char c) {
    if (!peek_is(c))
      fail(std::string("expected '") + c + "'");
    ++pos_;
  }

  Value value() {
    skip_space();
    if (pos_ >= s_.size())
      fail("unexpected end");
    Value v;
    const char c = s_[pos_];
    if (c == '\'' || c == '"') {
      v.kind = Value::Kind::Str;
      const size_t end = s_.find(c, pos_ + 1);
      if (end == std::string::npos)
        fail("unterminated string");
      v.str = s_.substr(pos_ + 1, end - pos_ - 1);
      pos_ = end + 1;
    } else if (c == '(' || c == '[') {
      const char close = c == '(' ? ')' : ']';
      v.kind = Value::Kind::Tuple;
      ++pos_;
      while (!peek_is(close)) {
        v.items.push_back(value());
        if (!peek_is(','))
          break;
        ++pos_;
      }
      expect(close);
    } else if (s_.compare(pos_, 4, "True") == 0 || s_.compare(pos_, 5, "False") == 0) {
      v.kind = Value::Kind::Bool;
      v.boolean = c == 'T';
      pos_ += v.boolean ? 4 : 5;
    } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '-') {
      v.kind = Value::Kind::Int;
      size_t end = pos_ + (c == '-');
      while (end < s_.size() && std::isdigit(static_cast<unsigned char>(s_[end])))
        ++end;
      if (end == pos_ + (c == '-'))
        fail("expected a number");
      errno = 0;
      v.integer = std::strtoll(s_.c_str() + pos_, nullptr, 10);
      if (errno == ERANGE)
        fail("number out of range");
      pos_ = end;
      if (pos_ < s_.size() && s_[pos_] == 'L') // Python 2 longs
        ++pos_;
    } else {
      fail("unexpected character");
    }
    return v;
  }

  const std::string &s_;
  const std::string &what_;
  size_t pos_ = 0;
};

DType dtype_of_descr(const Value &descr, const std::string &what) {
  const std::string where = "load_npy: " + what + ": ";
  if (descr.kind != Value::Kind::Str)
    throw Error(where + "structured dtypes are not supported; supported descr: " + kSupported);
  const std::string &d = descr.str;
  if (d.size() == 3) {
    const char order = d[0];
    const std::string code = d.substr(1);
    const bool one_byte = code == "u1" || code == "b1" || code == "i1";
    if (order == '>' && !one_byte)
      throw Error(where + "big-endian descr '" + d +
                  "' is not supported; save it little-endian (arr.astype(arr.dtype."
                  "newbyteorder('<'))); supported descr: " +
                  kSupported);
    if (order == '<' || order == '=' || order == '|' || (order == '>' && one_byte)) {
      if (code == "f4" && order != '|')
        return f32;
      if (code == "f8" && order != '|')
        return f64;
      if (code == "i8" && order != '|')
        return i64;
      if (code == "i4" && order != '|')
        return i32;
      if (code == "f2" && order != '|')
        return f16;
      if (code == "i2" && order != '|')
        return i16;
      if (code == "u2" && order != '|')
        return u16;
      if (code == "u4" && order != '|')
        return u32;
      if (code == "u8" && order != '|')
        return u64;
      if (code == "i1")
        return i8;
      if (code == "u1")
        return u8;
      if (code == "b1")
        return b8;
    }
  }
  throw Error(where + "descr '" + d + "' is not supported; supported descr: " + kSupported);
}

uint32_t read_le(const std::string &b, size_t pos, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i)
    v |= uint32_t(static_cast<unsigned char>(b[pos + i])) << (8 * i);
  return v;
}

std::string npy_header(const Tensor &t) {
  std::string dict =
      "{'descr': '" + std::string(descr_of(t.dtype())) + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < t.shape().size(); ++i)
    dict += (i ? ", " : "") + std::to_string(t.shape()[i]);
  dict += t.shape().size() == 1 ? ",), }" : "), }";
  if (!t.shape().empty())
    dict += std::string(kGrowthAxisMaxDigits - std::to_string(t.shape()[0]).size(), ' ');

  // Version 1.0 stores the header length in a u16; larger headers need 2.0.
  for (size_t len_bytes : {size_t(2), size_t(4)}) {
    const size_t hlen = dict.size() + 1; // + '\n'
    const size_t pad = kAlign - (kMagicLen + 2 + len_bytes + hlen) % kAlign;
    const size_t total = hlen + pad;
    if (len_bytes == 2 && total > 0xffff)
      continue;
    std::string out(kMagic, kMagicLen);
    out += char(len_bytes == 2 ? 1 : 2);
    out += char(0);
    for (size_t i = 0; i < len_bytes; ++i)
      out += char((total >> (8 * i)) & 0xff);
    out += dict;
    out += std::string(pad, ' ');
    out += '\n';
    return out;
  }
  throw Error("save_npy: the header of a tensor of shape " + shape_str(t.shape()) +
              " does not fit in a .npy file");
}

Tensor cpu(const Tensor &t) { return t.device().is_cpu() ? t : t.to(Device::cpu()); }

} // namespace

std::string to_npy_bytes(const Tensor &t) {
  const Tensor c = cpu(t);
  std::string out = npy_header(c);
  const size_t header_size = out.size();
  out.resize(header_size + c.nbytes());
  if (c.nbytes())
    std::memcpy(out.data() + header_size, c.raw(), c.nbytes());
  return out;
}

Tensor from_npy_bytes(const std::string &bytes, const std::string &what) {
  const std::string where = "load_npy: " + what + ": ";
  if (bytes.size() < kMagicLen + 2 || bytes.compare(0, kMagicLen, kMagic, kMagicLen) != 0)
    throw Error(where + "not a .npy file (it does not start with \"\\x93NUMPY\")");
  const int major = static_cast<unsigned char>(bytes[6]);
  const int minor = static_cast<unsigned char>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0)
    throw Error(where + ".npy format version " + std::to_string(major) + "." +
                std::to_string(minor) + " is not supported; supported versions: 1.0, 2.0, 3.0");
  const size_t len_bytes = major == 1 ? 2 : 4;
  const size_t header_start = kMagicLen + 2 + len_bytes;
  if (bytes.size() < header_start)
    throw Error(where + "truncated file: it ends inside the header length");
  const size_t header_len = read_le(bytes, kMagicLen + 2, len_bytes);
  if (bytes.size() < header_start + header_len)
    throw Error(where + "truncated file: the header is " + std::to_string(header_len) +
                " bytes but the file has " + std::to_string(bytes.size() - header_start) +
                " bytes after the header length");
  const std::string header = bytes.substr(header_start, header_len);

  HeaderParser parser(header, what);
  const std::map<std::string, Value> dict = parser.dict();
  for (const char *key : {"descr", "fortran_order", "shape"})
    if (!dict.count(key))
      throw Error(where + "the header has no '" + key +
                  "' key; a .npy header has 'descr', 'fortran_order' and 'shape': " + header);
  if (dict.size() != 3)
    throw Error(where +
                "the header has unexpected keys; a .npy header has exactly 'descr', "
                "'fortran_order' and 'shape': " +
                header);

  const DType dtype = dtype_of_descr(dict.at("descr"), what);
  const Value &fortran = dict.at("fortran_order");
  if (fortran.kind != Value::Kind::Bool)
    throw Error(where + "'fortran_order' must be True or False: " + header);
  const Value &shape_v = dict.at("shape");
  if (shape_v.kind != Value::Kind::Tuple)
    throw Error(where + "'shape' must be a tuple of non-negative integers: " + header);
  Shape shape;
  uint64_t count = 1;
  bool overflow = false;
  for (const Value &d : shape_v.items) {
    if (d.kind != Value::Kind::Int || d.integer < 0)
      throw Error(where + "'shape' must be a tuple of non-negative integers: " + header);
    shape.push_back(d.integer);
    if (d.integer && count > std::numeric_limits<uint64_t>::max() / 8 / uint64_t(d.integer))
      overflow = true;
    count *= uint64_t(d.integer);
  }

  const size_t data_start = header_start + header_len;
  const uint64_t have = bytes.size() - data_start;
  const uint64_t need = count * dtype_size(dtype);
  if (overflow || have != need)
    throw Error(where + "size mismatch: shape " + shape_str(shape) + " of " + dtype_name(dtype) +
                " needs " + (overflow ? "too many" : std::to_string(need)) +
                " bytes of data but the file has " + std::to_string(have));

  // A Fortran-order array of shape s is the C-order array of shape reversed(s), transposed.
  Shape stored = shape;
  if (fortran.boolean)
    stored.assign(shape.rbegin(), shape.rend());
  Tensor t(stored, dtype);
  if (need)
    std::memcpy(t.raw(), bytes.data() + data_start, need);
  if (dtype == b8) {
    auto *p = static_cast<uint8_t *>(t.raw());
    for (uint64_t i = 0; i < count; ++i)
      p[i] = p[i] != 0;
  }
  if (fortran.boolean && shape.size() > 1)
    t = t.transpose();
  return t;
}

void save_npy(const std::string &path, const Tensor &t) {
  write_file_atomic(path, to_npy_bytes(t), "save_npy");
}

Tensor load_npy(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error("load_npy: cannot open '" + path + "': " + std::strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad())
    throw Error("load_npy: cannot read '" + path + "': " + std::strerror(errno));
  return from_npy_bytes(buf.str(), "'" + path + "'");
}

} // namespace dz
