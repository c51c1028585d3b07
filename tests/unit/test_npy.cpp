// test_npy.cpp - .npy encoding: round trips, files as NumPy writes them, Fortran order,
// and errors for malformed input.
#include <dzc/tensor.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <unistd.h>

using namespace dz;

namespace {

bool same(const Tensor &a, const Tensor &b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && a.nbytes() == b.nbytes() &&
         (a.nbytes() == 0 || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
}

// A .npy version 1.0 file with the given header dict, padded as NumPy pads it.
std::string npy_v1(const std::string &dict, const std::string &data) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64 != 0)
    header += ' ';
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += char(header.size() & 0xff);
  out += char(header.size() >> 8);
  return out + header + data;
}

template <typename T> std::string bytes_of(std::initializer_list<T> values) {
  std::string s;
  for (T v : values)
    s.append(reinterpret_cast<const char *>(&v), sizeof(T));
  return s;
}

std::string error_of(const std::string &bytes) {
  try {
    from_npy_bytes(bytes, "test.npy");
  } catch (const Error &e) {
    return e.what();
  }
  return "no error";
}

Tensor sample(DType dt, const Shape &shape) {
  Tensor t(shape, dt);
  std::vector<double> v(size_t(t.size()));
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = dt == b8 ? double(i % 3 == 0) : double(i) * (is_floating(dt) ? 0.25 : 1.0) - 1;
  if (dt == u8)
    for (double &x : v)
      x = std::abs(x);
  return Tensor::from(v, shape, dt);
}

} // namespace

TEST(Npy, RoundTripsEveryDtypeAndRank) {
  for (DType dt : {f32, f64, i64, i32, u8, b8})
    for (const Shape &shape : {Shape{}, Shape{5}, Shape{2, 3, 4}, Shape{0, 3}}) {
      const Tensor t = sample(dt, shape);
      const Tensor back = from_npy_bytes(to_npy_bytes(t), "memory");
      EXPECT_TRUE(same(t, back)) << dtype_name(dt) << " " << shape_str(shape);
    }
}

TEST(Npy, HeaderIsWhatNumpyWrites) {
  const std::string bytes = to_npy_bytes(zeros({2, 3}, f32));
  ASSERT_GE(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const size_t hlen = uint8_t(bytes[8]) | size_t(uint8_t(bytes[9])) << 8;
  EXPECT_EQ((10 + hlen) % 64, 0u);
  EXPECT_EQ(bytes.size(), 10 + hlen + 6 * 4);
  const std::string header = bytes.substr(10, hlen);
  EXPECT_EQ(header.rfind("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 0), 0u)
      << header;
  EXPECT_EQ(header.back(), '\n');

  const std::string one_d = to_npy_bytes(zeros({5}, i64));
  EXPECT_NE(one_d.find("'descr': '<i8', 'fortran_order': False, 'shape': (5,), }"),
            std::string::npos);
  const std::string zero_d = to_npy_bytes(Tensor::scalar(1.0, b8));
  EXPECT_NE(zero_d.find("'descr': '|b1', 'fortran_order': False, 'shape': (), }"),
            std::string::npos);
}

TEST(Npy, LoadsAFileAsNumpyWritesIt) {
  // np.save of np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float64)
  const std::string bytes = npy_v1("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
                                   bytes_of<double>({1, 2, 3, 4, 5, 6}));
  const Tensor t = from_npy_bytes(bytes, "numpy.npy");
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.dtype(), f64);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
}

TEST(Npy, LoadsVersion2AndDoubleQuotesAndLittleU1) {
  std::string header = "{\"descr\": \"<u1\", \"fortran_order\": False, \"shape\": (3,)}";
  while ((12 + header.size() + 1) % 64 != 0)
    header += ' ';
  header += '\n';
  std::string bytes("\x93NUMPY\x02\x00", 8);
  for (int i = 0; i < 4; ++i)
    bytes += char((header.size() >> (8 * i)) & 0xff);
  bytes += header + std::string("\x07\x08\x09", 3);
  const Tensor t = from_npy_bytes(bytes, "v2.npy");
  EXPECT_EQ(t.dtype(), u8);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{7, 8, 9}));
}

TEST(Npy, FortranOrderIsTransposedOnLoad) {
  // [[1, 2, 3], [4, 5, 6]] in column-major order is 1 4 2 5 3 6.
  const std::string bytes = npy_v1("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }",
                                   bytes_of<int32_t>({1, 4, 2, 5, 3, 6}));
  const Tensor t = from_npy_bytes(bytes, "fortran.npy");
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.dtype(), i32);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
}

TEST(Npy, SaveAndLoadAFile) {
  const std::string path = "test_npy_save_and_load.npy";
  const Tensor t = sample(f32, {4, 3});
  save_npy(path, t);
  EXPECT_TRUE(same(load_npy(path), t));
  // No temporary file is left behind.
  std::ifstream tmp(path + ".tmp." + std::to_string(::getpid()));
  EXPECT_FALSE(tmp.good());
  std::remove(path.c_str());
}

TEST(Npy, SaveToAMissingDirectoryNamesTheReason) {
  try {
    save_npy("no/such/dir/x.npy", zeros({2}));
    FAIL() << "no error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("save_npy"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos)
        << e.what();
  }
}

TEST(Npy, LoadMissingFileNamesIt) {
  try {
    load_npy("does_not_exist.npy");
    FAIL() << "no error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("does_not_exist.npy"), std::string::npos) << e.what();
  }
}

TEST(Npy, MalformedInputIsAnError) {
  const std::string good = to_npy_bytes(sample(f32, {2, 3}));
  EXPECT_NE(error_of("hello world").find("not a .npy file"), std::string::npos);
  EXPECT_NE(error_of("").find("test.npy"), std::string::npos);
  EXPECT_NE(error_of(good.substr(0, 9)).find("truncated"), std::string::npos);
  EXPECT_NE(error_of(good.substr(0, 40)).find("truncated"), std::string::npos);
  EXPECT_NE(error_of(good.substr(0, good.size() - 1)).find("size mismatch"), std::string::npos);
  EXPECT_NE(error_of(good + "x").find("size mismatch"), std::string::npos);

  std::string v9 = good;
  v9[6] = 9;
  EXPECT_NE(error_of(v9).find("version 9.0 is not supported"), std::string::npos);

  const std::string big_endian =
      error_of(npy_v1("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", "abcd"));
  EXPECT_NE(big_endian.find("big-endian"), std::string::npos) << big_endian;
  EXPECT_NE(big_endian.find("'<f4'"), std::string::npos) << big_endian;

  const std::string complex =
      error_of(npy_v1("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", "12345678"));
  EXPECT_NE(complex.find("descr '<c8' is not supported"), std::string::npos) << complex;

  EXPECT_NE(error_of(npy_v1("{'descr': '<f4', 'shape': (1,), }", "abcd")).find("fortran_order"),
            std::string::npos);
  EXPECT_NE(error_of(npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", ""))
                .find("non-negative"),
            std::string::npos);
  EXPECT_NE(error_of(npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (1,", ""))
                .find("malformed header"),
            std::string::npos);
}
