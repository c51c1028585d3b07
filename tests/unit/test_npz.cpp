// test_npz.cpp - .npz archives: round trips (stored and deflated), archives written by
// NumPy and by an independent ZIP writer (data descriptors), numpy.load reading ours, and
// errors for truncated or corrupt archives and failed writes.
#include <dzc/npz.h>
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sys/resource.h>

using namespace dz;

namespace {

bool same(const Tensor &a, const Tensor &b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && a.nbytes() == b.nbytes() &&
         (a.nbytes() == 0 || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
}

std::string slurp(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void spit(const std::string &path, const std::string &bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string error_of(const std::function<void()> &f) {
  try {
    f();
  } catch (const Error &e) {
    return e.what();
  }
  return "no error";
}

NamedTensors sample_arrays() {
  return {{"w", Tensor::from({1.5, -2.25, 3.0, 1e-30, -0.0, 7.0}, {2, 3}, f32)},
          {"l1/W", Tensor::from({0.1, 0.2, 0.3}, {3, 1}, f64)},
          {"ids", Tensor::from_i64({-5, 0, 1LL << 40})},
          {"mask", Tensor::from({1, 0, 1}, {3}, b8)},
          {"s", Tensor::scalar(2.5)},
          {"empty", zeros({0, 4}, f32)}};
}

void expect_same_arrays(const NamedTensors &got, const NamedTensors &want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].first, want[i].first);
    EXPECT_TRUE(same(got[i].second, want[i].second)) << want[i].first;
  }
}

// CRC-32 (IEEE, reflected), bit by bit: a reference independent of zlib.
uint32_t crc32_ref(const std::string &s) {
  uint32_t c = 0xffffffffu;
  for (unsigned char ch : s) {
    c ^= ch;
    for (int k = 0; k < 8; ++k)
      c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
  }
  return ~c;
}

void le(std::string &out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i)
    out += char((v >> (8 * i)) & 0xff);
}

/// A stored ZIP written as streaming writers do: general-purpose flag bit 3, zero CRC and
/// sizes in the local header, the real ones in a data descriptor after the data and in
/// the central directory; plus a directory entry and an archive comment.
std::string streamed_zip(const std::vector<std::pair<std::string, std::string>> &files) {
  std::string out, central;
  uint16_t count = 0;
  for (const auto &[name, data] : files) {
    const size_t offset = out.size();
    const uint32_t crc = crc32_ref(data);
    le(out, 0x04034b50, 4);
    le(out, 20, 2);
    le(out, 1 << 3, 2); // sizes follow in a data descriptor
    le(out, 0, 2);      // stored
    le(out, 0, 4);      // time, date
    le(out, 0, 4);      // crc (deferred)
    le(out, 0, 4);      // sizes (deferred)
    le(out, 0, 4);
    le(out, name.size(), 2);
    le(out, 0, 2);
    out += name + data;
    le(out, 0x08074b50, 4);
    le(out, crc, 4);
    le(out, data.size(), 4);
    le(out, data.size(), 4);

    le(central, 0x02014b50, 4);
    le(central, 20, 2);
    le(central, 20, 2);
    le(central, 1 << 3, 2);
    le(central, 0, 2);
    le(central, 0, 4);
    le(central, crc, 4);
    le(central, data.size(), 4);
    le(central, data.size(), 4);
    le(central, name.size(), 2);
    le(central, 0, 2);
    le(central, 0, 2);
    le(central, 0, 2);
    le(central, 0, 2);
    le(central, 0, 4);
    le(central, offset, 4);
    central += name;
    ++count;
  }
  const size_t cd_offset = out.size();
  out += central;
  const std::string comment = "written by a test";
  le(out, 0x06054b50, 4);
  le(out, 0, 4);
  le(out, count, 2);
  le(out, count, 2);
  le(out, central.size(), 4);
  le(out, cd_offset, 4);
  le(out, comment.size(), 2);
  return out + comment;
}

// np.savez_compressed(f, a=np.arange(6, dtype='<i8').reshape(2, 3),
//                     **{'l1/W': np.array([[1.5, -2.0]], dtype='<f4')}) by NumPy 1.24:
// deflated entries whose local headers carry ZIP64 extra fields.
const std::string
    kNumpyCompressed("\x50\x4b\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00\x21\x00\x59\x9b\xda\x7d\x56"
                     "\x00\x00\x00\xb0\x00"
                     "\x00\x00\x05\x00\x14\x00\x61\x2e\x6e\x70\x79\x01\x00\x10\x00\xb0\x00\x00\x00"
                     "\x00\x00\x00\x00\x56"
                     "\x00\x00\x00\x00\x00\x00\x00\x9b\xec\x17\xea\x1b\x10\xc9\xc8\x50\xc6\x50\xad"
                     "\x9e\x92\x5a\x9c\x5c"
                     "\xa4\x6e\xa5\xa0\x6e\x93\x69\xa1\xae\xa3\xa0\x9e\x96\x5f\x54\x52\x94\x98\x17"
                     "\x9f\x5f\x94\x92\x0a"
                     "\x12\x77\x4b\xcc\x29\x4e\x05\x8a\x17\x67\x24\x16\xa4\x02\xf9\x1a\x46\x3a\x0a"
                     "\xc6\x9a\x3a\x0a\xb5"
                     "\x0a\x64\x03\x2e\x06\x28\x60\x84\xd2\x4c\x50\x9a\x19\x4a\xb3\x40\x69\x56\x28"
                     "\x0d\x00\x50\x4b\x03"
                     "\x04\x14\x00\x00\x00\x08\x00\x00\x00\x21\x00\xfd\xcf\xa5\x08\x4d\x00\x00\x00"
                     "\x88\x00\x00\x00\x08"
                     "\x00\x14\x00\x6c\x31\x2f\x57\x2e\x6e\x70\x79\x01\x00\x10\x00\x88\x00\x00\x00"
                     "\x00\x00\x00\x00\x4d"
                     "\x00\x00\x00\x00\x00\x00\x00\x9b\xec\x17\xea\x1b\x10\xc9\xc8\x50\xc6\x50\xad"
                     "\x9e\x92\x5a\x9c\x5c"
                     "\xa4\x6e\xa5\xa0\x6e\x93\x66\xa2\xae\xa3\xa0\x9e\x96\x5f\x54\x52\x94\x98\x17"
                     "\x9f\x5f\x94\x92\x0a"
                     "\x12\x77\x4b\xcc\x29\x4e\x05\x8a\x17\x67\x24\x16\xa4\x02\xf9\x1a\x86\x3a\x0a"
                     "\x46\x9a\x3a\x0a\xb5"
                     "\x0a\x64\x03\x2e\x06\x86\x03\xf6\x0c\x40\x02\x00\x50\x4b\x01\x02\x14\x03\x14"
                     "\x00\x00\x00\x08\x00"
                     "\x00\x00\x21\x00\x59\x9b\xda\x7d\x56\x00\x00\x00\xb0\x00\x00\x00\x05\x00\x00"
                     "\x00\x00\x00\x00\x00"
                     "\x00\x00\x00\x00\x80\x01\x00\x00\x00\x00\x61\x2e\x6e\x70\x79\x50\x4b\x01\x02"
                     "\x14\x03\x14\x00\x00"
                     "\x00\x08\x00\x00\x00\x21\x00\xfd\xcf\xa5\x08\x4d\x00\x00\x00\x88\x00\x00\x00"
                     "\x08\x00\x00\x00\x00"
                     "\x00\x00\x00\x00\x00\x00\x00\x80\x01\x8d\x00\x00\x00\x6c\x31\x2f\x57\x2e\x6e"
                     "\x70\x79\x50\x4b\x05"
                     "\x06\x00\x00\x00\x00\x02\x00\x02\x00\x69\x00\x00\x00\x14\x01\x00\x00\x00\x00",
                     403);

bool have_numpy() { return std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0; }

/// Sets RLIMIT_FSIZE for its lifetime (with SIGXFSZ ignored), so that writes beyond
/// `bytes` fail with EFBIG: a disk error on demand.
class FileSizeLimit {
public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &old_);
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit l = old_;
    l.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &l);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, old_handler_);
  }

private:
  rlimit old_{};
  void (*old_handler_)(int) = nullptr;
};

} // namespace

TEST(Npz, StoredRoundTripKeepsKeysOrderDtypesAndBits) {
  save_npz("npz_stored.npz", sample_arrays());
  expect_same_arrays(load_npz("npz_stored.npz"), sample_arrays());
}

TEST(Npz, CompressedRoundTripKeepsKeysOrderDtypesAndBits) {
  NamedTensors arrays = sample_arrays();
  arrays.emplace_back("zeros", zeros({1000}, f64)); // compresses well
  const std::string stored = to_npz_bytes(arrays, false);
  const std::string packed = to_npz_bytes(arrays, true);
  EXPECT_LT(packed.size() + 4000, stored.size());
  expect_same_arrays(from_npz_bytes(packed, "mem"), arrays);
}

TEST(Npz, WritesTheZipLayoutNumpyExpects) {
  const std::string b = to_npz_bytes({{"x", Tensor::from({1.0, 2.0})}});
  ASSERT_GE(b.size(), 30u);
  EXPECT_EQ(b.substr(0, 4), std::string("PK\x03\x04", 4));
  EXPECT_EQ(b.substr(30, 5), "x.npy");
  EXPECT_EQ(b.substr(35, 6), "\x93NUMPY");
  EXPECT_EQ(b.substr(b.size() - 22, 4), std::string("PK\x05\x06", 4));
  // Same arrays, same bytes: no timestamps.
  EXPECT_EQ(b, to_npz_bytes({{"x", Tensor::from({1.0, 2.0})}}));
}

TEST(Npz, EmptyArchiveRoundTrips) {
  const std::string b = to_npz_bytes({});
  EXPECT_EQ(b.size(), 22u);
  EXPECT_TRUE(from_npz_bytes(b, "mem").empty());
}

TEST(Npz, ReadsNumpyCompressedArchive) {
  const NamedTensors got = from_npz_bytes(kNumpyCompressed, "numpy.npz");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].first, "a");
  EXPECT_TRUE(same(got[0].second, Tensor::from_i64({0, 1, 2, 3, 4, 5}, {2, 3})));
  EXPECT_EQ(got[1].first, "l1/W");
  EXPECT_TRUE(same(got[1].second, Tensor::from({1.5, -2.0}, {1, 2}, f32)));
}

TEST(Npz, ReadsStreamedZipWithDataDescriptorsDirectoriesAndComment) {
  const Tensor a = Tensor::from({1, 2, 3, 4}, {2, 2}, f32);
  const Tensor b = Tensor::from_i64({7});
  const std::string zip =
      streamed_zip({{"a.npy", to_npy_bytes(a)}, {"sub/", ""}, {"sub/b.npy", to_npy_bytes(b)}});
  const NamedTensors got = from_npz_bytes(zip, "streamed.zip");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].first, "a");
  EXPECT_TRUE(same(got[0].second, a));
  EXPECT_EQ(got[1].first, "sub/b");
  EXPECT_TRUE(same(got[1].second, b));
}

TEST(Npz, OurCrcAgreesWithAnIndependentOne) {
  const std::string npy = to_npy_bytes(Tensor::from({3.0, 1.0, 4.0}));
  const std::string b = to_npz_bytes({{"p", Tensor::from({3.0, 1.0, 4.0})}});
  uint32_t crc = 0;
  for (int i = 0; i < 4; ++i)
    crc |= uint32_t(static_cast<unsigned char>(b[14 + i])) << (8 * i);
  EXPECT_EQ(crc, crc32_ref(npy));
}

TEST(Npz, TruncatedArchiveIsAnErrorNamingTheFile) {
  const std::string good = to_npz_bytes(sample_arrays(), true);
  for (size_t cut : {size_t(0), size_t(10), good.size() / 2, good.size() - 1}) {
    spit("npz_truncated.npz", good.substr(0, cut));
    const std::string e = error_of([] { load_npz("npz_truncated.npz"); });
    EXPECT_NE(e.find("load_npz: 'npz_truncated.npz'"), std::string::npos) << cut << ": " << e;
  }
  // Cut inside the data with the directory intact: the offsets no longer fit.
  std::string shifted = good;
  shifted.erase(40, 8);
  const std::string e = error_of([&] { from_npz_bytes(shifted, "shifted.npz"); });
  EXPECT_NE(e.find("shifted.npz"), std::string::npos) << e;
  EXPECT_NE(e.find("corrupt"), std::string::npos) << e;
}

TEST(Npz, CorruptDataIsACrcError) {
  std::string b = to_npz_bytes({{"x", Tensor::from({1.0, 2.0, 3.0})}});
  b[30 + 5 + 128 + 3] ^= 0x40; // a byte of the array's data
  const std::string e = error_of([&] { from_npz_bytes(b, "bad.npz"); });
  EXPECT_NE(e.find("entry 'x.npy'"), std::string::npos) << e;
  EXPECT_NE(e.find("CRC-32 mismatch"), std::string::npos) << e;
}

TEST(Npz, NonZipInputsSayWhatTheyAre) {
  EXPECT_NE(error_of([] {
              from_npz_bytes(to_npy_bytes(Tensor::scalar(1.0)), "a.npy");
            }).find("this is a .npy file"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              from_npz_bytes("hello, world, this is text", "t.txt");
            }).find("not an .npz (ZIP) archive"),
            std::string::npos);
  EXPECT_NE(error_of([] { load_npz("npz_no_such_file.npz"); }).find("cannot open"),
            std::string::npos);
}

TEST(Npz, UnsupportedMethodIsNamed) {
  std::string b = to_npz_bytes({{"x", Tensor::from({1.0})}});
  const size_t cd = b.size() - 22 - (46 + 5);
  b[8] = b[cd + 10] = 12; // bzip2, in the local and the central header
  const std::string e = error_of([&] { from_npz_bytes(b, "bz.npz"); });
  EXPECT_NE(e.find("compression method 12 is not supported"), std::string::npos) << e;
}

TEST(Npz, SaveRejectsDuplicateAndEmptyKeys) {
  const Tensor t = Tensor::scalar(1.0);
  EXPECT_NE(error_of([&] {
              to_npz_bytes({{"a", t}, {"a", t}});
            }).find("'a' appears twice"),
            std::string::npos);
  EXPECT_NE(error_of([&] { to_npz_bytes({{"", t}}); }).find("empty key"), std::string::npos);
}

TEST(Npz, FailedWriteLeavesTheOldFileAndSaysWhy) {
  const NamedTensors old_arrays = {{"x", Tensor::from({1.0, 2.0})}};
  save_npz("npz_atomic.npz", old_arrays);
  const std::string before = slurp("npz_atomic.npz");
  std::string e;
  {
    FileSizeLimit limit(4096);
    e = error_of([] { save_npz("npz_atomic.npz", {{"big", zeros({10000}, f64)}}); });
  }
  EXPECT_NE(e.find("save_npz: cannot write 'npz_atomic.npz'"), std::string::npos) << e;
  EXPECT_NE(e.find("File too large"), std::string::npos) << e;
  EXPECT_EQ(slurp("npz_atomic.npz"), before);
  expect_same_arrays(load_npz("npz_atomic.npz"), old_arrays);

  e = error_of([] { save_npz("npz_no_such_dir/w.npz", {{"x", Tensor::scalar(1.0)}}); });
  EXPECT_NE(e.find("npz_no_such_dir/w.npz"), std::string::npos) << e;
  EXPECT_NE(e.find("No such file or directory"), std::string::npos) << e;
}

TEST(Npz, NumpyLoadsWhatWeWriteAndWeLoadWhatNumpyWrites) {
  if (!have_numpy())
    GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
  save_npz("npz_ours_stored.npz", sample_arrays(), false);
  save_npz("npz_ours_deflated.npz", sample_arrays(), true);
  const std::string script = R"PY(
import numpy as np, sys
for name in ["npz_ours_stored.npz", "npz_ours_deflated.npz"]:
    with np.load(name) as z:
        assert z.files == ["w", "l1/W", "ids", "mask", "s", "empty"], z.files
        assert z["w"].dtype == np.float32 and z["w"].shape == (2, 3)
        assert np.array_equal(z["w"], np.array([[1.5, -2.25, 3.0], [1e-30, -0.0, 7.0]], np.float32))
        assert z["l1/W"].dtype == np.float64 and np.array_equal(z["l1/W"], [[0.1], [0.2], [0.3]])
        assert z["ids"].dtype == np.int64 and list(z["ids"]) == [-5, 0, 1 << 40]
        assert z["mask"].dtype == np.bool_ and list(z["mask"]) == [True, False, True]
        assert z["s"].shape == () and z["s"] == 2.5
        assert z["empty"].shape == (0, 4)
np.savez("npz_numpy_stored.npz", a=np.arange(12, dtype=np.float32).reshape(3, 4), b=np.array(True))
np.savez_compressed("npz_numpy_deflated.npz", **{"l1/W": np.linspace(0, 1, 50).reshape(5, 10)})
)PY";
  spit("npz_check.py", script);
  ASSERT_EQ(std::system("/usr/bin/python3 npz_check.py"), 0);

  const NamedTensors stored = load_npz("npz_numpy_stored.npz");
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_TRUE(same(stored[0].second, arange(12, f32).reshape({3, 4})));
  EXPECT_TRUE(same(stored[1].second, Tensor::scalar(1, b8)));
  const NamedTensors deflated = load_npz("npz_numpy_deflated.npz");
  ASSERT_EQ(deflated.size(), 1u);
  EXPECT_EQ(deflated[0].first, "l1/W");
  EXPECT_TRUE(same(deflated[0].second, linspace(0, 1, 50).reshape({5, 10})));
}
