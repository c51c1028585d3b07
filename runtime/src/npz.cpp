// npz.cpp - .npz archives: a small ZIP writer and reader (stored and raw-deflate entries,
// CRC-32 and deflate from zlib), enough for what NumPy's savez/savez_compressed write.
//
// Layout written: for each array a local header, the entry name and the data; then the
// central directory (one record per entry) and the end-of-central-directory record. The
// reader trusts only the central directory for sizes (local headers may hold ZIP64
// placeholders or defer sizes to a data descriptor) and checks every offset it follows.
#include <dzc/io.h>
#include <dzc/npz.h>

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <set>

namespace dz {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr size_t kLocalSize = 30, kCentralSize = 46, kEndSize = 22;
constexpr uint64_t kMax32 = 0xffffffffu;
constexpr uint16_t kMax16 = 0xffff;
constexpr uint16_t kStored = 0, kDeflated = 8;
constexpr uint16_t kVersionNeeded = 20;            // 2.0: deflate
constexpr uint16_t kVersionMadeBy = 3 << 8 | 20;   // Unix, 2.0 (as Python's zipfile)
constexpr uint32_t kExternalAttr = 0100644u << 16; // a regular file, rw-r--r--
constexpr uint16_t kDosDate = 1 << 5 | 1;          // 1980-01-01: files are reproducible
constexpr uint16_t kFlagEncrypted = 1 << 0, kFlagUtf8 = 1 << 11;
constexpr size_t kZlibChunk = size_t(1) << 30; // zlib counts in 32-bit uInt

void put16(std::string &out, uint16_t v) {
  out += char(v & 0xff);
  out += char(v >> 8);
}
void put32(std::string &out, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out += char((v >> (8 * i)) & 0xff);
}
uint64_t get_le(const std::string &b, size_t at, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i)
    v = v << 8 | static_cast<unsigned char>(b[at + i]);
  return v;
}
uint16_t get16(const std::string &b, size_t at) { return uint16_t(get_le(b, at, 2)); }
uint32_t get32(const std::string &b, size_t at) { return uint32_t(get_le(b, at, 4)); }

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

uint32_t crc_of(const char *data, size_t n) {
  return uint32_t(crc32_z(crc32_z(0, nullptr, 0), reinterpret_cast<const Bytef *>(data), n));
}

/// Raw deflate (no zlib header), as ZIP method 8 stores it.
std::string deflate_raw(const std::string &in, const std::string &key) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK)
    throw Error("save_npz: zlib could not start compressing array '" + key + "'");
  std::string out(deflateBound(&zs, uLong(in.size())), '\0');
  size_t in_pos = 0, out_pos = 0;
  int rc = Z_OK;
  while (rc == Z_OK) {
    const size_t in_n = std::min(in.size() - in_pos, kZlibChunk);
    const size_t out_n = std::min(out.size() - out_pos, kZlibChunk);
    zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data() + in_pos));
    zs.avail_in = uInt(in_n);
    zs.next_out = reinterpret_cast<Bytef *>(out.data() + out_pos);
    zs.avail_out = uInt(out_n);
    rc = deflate(&zs, in_pos + in_n == in.size() ? Z_FINISH : Z_NO_FLUSH);
    in_pos += in_n - zs.avail_in;
    out_pos += out_n - zs.avail_out;
  }
  deflateEnd(&zs);
  if (rc != Z_STREAM_END)
    throw Error("save_npz: zlib failed to compress array '" + key + "' (error " +
                std::to_string(rc) + ")");
  out.resize(out_pos);
  return out;
}

/// Inflates raw deflate data that the directory says holds `usize` bytes.
std::string inflate_raw(const char *data, size_t csize, size_t usize, const std::string &where) {
  z_stream zs{};
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
    throw Error(where + "zlib could not start decompressing");
  std::string out(usize + 1, '\0'); // one spare byte detects data longer than announced
  size_t in_pos = 0, out_pos = 0;
  int rc = Z_OK;
  while (rc == Z_OK) {
    const size_t in_n = std::min(csize - in_pos, kZlibChunk);
    const size_t out_n = std::min(out.size() - out_pos, kZlibChunk);
    zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data + in_pos));
    zs.avail_in = uInt(in_n);
    zs.next_out = reinterpret_cast<Bytef *>(out.data() + out_pos);
    zs.avail_out = uInt(out_n);
    rc = inflate(&zs, Z_NO_FLUSH);
    in_pos += in_n - zs.avail_in;
    out_pos += out_n - zs.avail_out;
    if (rc == Z_OK && in_n == 0 && out_n - zs.avail_out == 0)
      rc = Z_BUF_ERROR; // no input left and no progress: the stream is cut short
  }
  const std::string msg = zs.msg ? zs.msg : "";
  inflateEnd(&zs);
  if (rc == Z_BUF_ERROR && out_pos > usize)
    throw Error(where + "the deflated data expands to more than the " + std::to_string(usize) +
                " bytes the central directory announces");
  if (rc == Z_BUF_ERROR)
    throw Error(where + "the deflated data ends early (truncated after " + std::to_string(out_pos) +
                " of " + std::to_string(usize) + " bytes)");
  if (rc != Z_STREAM_END)
    throw Error(where + "corrupt deflated data" + (msg.empty() ? "" : " (zlib: " + msg + ")"));
  if (out_pos != usize)
    throw Error(where + "the deflated data expands to " + std::to_string(out_pos) +
                " bytes but the central directory announces " + std::to_string(usize));
  out.resize(usize);
  return out;
}

struct CentralEntry {
  std::string name;
  uint16_t flags = 0, method = 0;
  uint32_t crc = 0;
  uint64_t csize = 0, usize = 0, offset = 0;
};

/// Replaces the saturated 32-bit fields of `e` from its ZIP64 extra field (id 1), which
/// lists, in this order, only the fields that are saturated.
void apply_zip64_extra(const std::string &b, size_t at, size_t len, CentralEntry &e,
                       const std::string &where) {
  const size_t end = at + len;
  while (at + 4 <= end) {
    const uint16_t id = get16(b, at), n = get16(b, at + 2);
    if (at + 4 + n > end)
      break;
    if (id == 1) {
      size_t p = at + 4;
      for (uint64_t *field : {&e.usize, &e.csize, &e.offset}) {
        if (*field != kMax32)
          continue;
        if (p + 8 > at + 4 + n)
          throw Error(where + "entry '" + e.name + "' has a truncated ZIP64 extra field");
        *field = get_le(b, p, 8);
        p += 8;
      }
      return;
    }
    at += 4 + n;
  }
  throw Error(where + "entry '" + e.name +
              "' has 32-bit sizes or offset set to 0xffffffff but no ZIP64 extra field");
}

} // namespace

std::string to_npz_bytes(const NamedTensors &arrays, bool compressed) {
  if (arrays.size() >= kMax16)
    throw Error("save_npz: " + std::to_string(arrays.size()) +
                " arrays; an .npz archive without ZIP64 holds at most 65534");
  struct Written {
    std::string name;
    uint16_t flags, method;
    uint32_t crc, csize, usize, offset;
  };
  std::vector<Written> written;
  std::set<std::string> keys;
  std::string out;
  for (const auto &[key, tensor] : arrays) {
    if (key.empty())
      throw Error("save_npz: an array has an empty key; every array needs a non-empty name");
    if (!keys.insert(key).second)
      throw Error("save_npz: the key '" + key + "' appears twice; keys must be unique");
    if (!tensor.defined())
      throw Error("save_npz: array '" + key + "' has no data (an uninitialised tensor)");
    const std::string name = key + ".npy";
    if (name.size() > kMax16)
      throw Error("save_npz: the key '" + key.substr(0, 40) + "...' is longer than 65531 bytes");
    const std::string npy = to_npy_bytes(tensor);
    if (npy.size() >= kMax32)
      throw Error("save_npz: array '" + key + "' takes " + std::to_string(npy.size()) +
                  " bytes; .npz files of 4 GiB or more (ZIP64) are not supported");
    const std::string packed = compressed ? deflate_raw(npy, key) : std::string();
    const std::string &data = compressed ? packed : npy;
    if (out.size() + kLocalSize + name.size() + data.size() >= kMax32)
      throw Error("save_npz: the archive would reach 4 GiB at array '" + key +
                  "'; .npz files of 4 GiB or more (ZIP64) are not supported");
    const bool utf8 = std::any_of(name.begin(), name.end(), [](char c) { return c & 0x80; });
    const Written w{name,
                    uint16_t(utf8 ? kFlagUtf8 : 0),
                    compressed ? kDeflated : kStored,
                    crc_of(npy.data(), npy.size()),
                    uint32_t(data.size()),
                    uint32_t(npy.size()),
                    uint32_t(out.size())};
    put32(out, kLocalSig);
    put16(out, kVersionNeeded);
    put16(out, w.flags);
    put16(out, w.method);
    put16(out, 0); // time 00:00
    put16(out, kDosDate);
    put32(out, w.crc);
    put32(out, w.csize);
    put32(out, w.usize);
    put16(out, uint16_t(name.size()));
    put16(out, 0); // extra length
    out += name;
    out += data;
    written.push_back(w);
  }
  const size_t cd_offset = out.size();
  for (const Written &w : written) {
    put32(out, kCentralSig);
    put16(out, kVersionMadeBy);
    put16(out, kVersionNeeded);
    put16(out, w.flags);
    put16(out, w.method);
    put16(out, 0);
    put16(out, kDosDate);
    put32(out, w.crc);
    put32(out, w.csize);
    put32(out, w.usize);
    put16(out, uint16_t(w.name.size()));
    put16(out, 0); // extra length
    put16(out, 0); // comment length
    put16(out, 0); // disk number
    put16(out, 0); // internal attributes
    put32(out, kExternalAttr);
    put32(out, w.offset);
    out += w.name;
  }
  const size_t cd_size = out.size() - cd_offset;
  if (out.size() + kEndSize >= kMax32)
    throw Error("save_npz: the archive would reach 4 GiB; .npz files of 4 GiB or more (ZIP64) "
                "are not supported");
  put32(out, kEndSig);
  put16(out, 0); // this disk
  put16(out, 0); // disk of the central directory
  put16(out, uint16_t(written.size()));
  put16(out, uint16_t(written.size()));
  put32(out, uint32_t(cd_size));
  put32(out, uint32_t(cd_offset));
  put16(out, 0); // comment length
  return out;
}

NamedTensors from_npz_bytes(const std::string &b, const std::string &what) {
  const std::string where = "load_npz: " + what + ": ";
  const size_t size = b.size();

  // 1. The end-of-central-directory record: the last signature whose comment fits.
  size_t end = std::string::npos;
  if (size >= kEndSize) {
    const size_t lowest = size >= kEndSize + kMax16 ? size - kEndSize - kMax16 : 0;
    for (size_t i = size - kEndSize + 1; i-- > lowest;)
      if (get32(b, i) == kEndSig && i + kEndSize + get16(b, i + 20) <= size) {
        end = i;
        break;
      }
  }
  if (end == std::string::npos) {
    if (size == 0)
      throw Error(where + "the file is empty, not an .npz (ZIP) archive");
    if (size >= 6 && b.compare(0, 6, "\x93NUMPY") == 0)
      throw Error(where + "this is a .npy file, not an .npz archive (use load_npy)");
    if (size >= 4 && get32(b, 0) == kLocalSig)
      throw Error(where +
                  "truncated ZIP archive: the end-of-central-directory record is "
                  "missing (" +
                  std::to_string(size) + " bytes)");
    throw Error(where + "not an .npz (ZIP) archive: no end-of-central-directory record in its " +
                std::to_string(size) + " bytes");
  }
  const uint16_t disk = get16(b, end + 4), cd_disk = get16(b, end + 6);
  const uint16_t n_disk = get16(b, end + 8), n_total = get16(b, end + 10);
  const uint64_t cd_size = get32(b, end + 12), cd_offset = get32(b, end + 16);
  if (n_total == kMax16 || cd_size == kMax32 || cd_offset == kMax32)
    throw Error(where + "a ZIP64 archive (4 GiB or more, or 65535 entries or more); "
                        "load_npz reads archives below those limits only");
  if (disk != 0 || cd_disk != 0 || n_disk != n_total)
    throw Error(where + "a multi-disk (split) ZIP archive, which is not supported");
  if (cd_offset + cd_size > end)
    throw Error(where + "the central directory (offset " + std::to_string(cd_offset) + ", size " +
                std::to_string(cd_size) + ") does not fit before the end record at " +
                std::to_string(end) + ": the file is truncated or corrupt");

  // 2. The central directory: names, methods, CRCs, sizes and local header offsets.
  std::vector<CentralEntry> entries;
  size_t pos = cd_offset;
  const size_t cd_end = cd_offset + cd_size;
  for (uint16_t i = 0; i < n_total; ++i) {
    if (pos + kCentralSize > cd_end || get32(b, pos) != kCentralSig)
      throw Error(where + "corrupt central directory: record " + std::to_string(i) + " of " +
                  std::to_string(n_total) + " at offset " + std::to_string(pos) +
                  " is missing or has a bad signature");
    CentralEntry e;
    e.flags = get16(b, pos + 8);
    e.method = get16(b, pos + 10);
    e.crc = get32(b, pos + 16);
    e.csize = get32(b, pos + 20);
    e.usize = get32(b, pos + 24);
    const size_t name_len = get16(b, pos + 28), extra_len = get16(b, pos + 30),
                 comment_len = get16(b, pos + 32);
    e.offset = get32(b, pos + 42);
    if (pos + kCentralSize + name_len + extra_len + comment_len > cd_end)
      throw Error(where + "corrupt central directory: record " + std::to_string(i) +
                  " runs past the end of the directory");
    e.name = b.substr(pos + kCentralSize, name_len);
    if (e.csize == kMax32 || e.usize == kMax32 || e.offset == kMax32)
      apply_zip64_extra(b, pos + kCentralSize + name_len, extra_len, e, where);
    if (e.csize > size || e.offset > size)
      throw Error(where + "corrupt central directory: entry '" + e.name +
                  "' claims data beyond the end of the file");
    pos += kCentralSize + name_len + extra_len + comment_len;
    entries.push_back(std::move(e));
  }

  // 3. Each entry's data, found through its local header.
  NamedTensors arrays;
  std::set<std::string> keys;
  for (const CentralEntry &e : entries) {
    if (!e.name.empty() && e.name.back() == '/')
      continue; // a directory entry
    const std::string at = where + "entry '" + e.name + "': ";
    if (e.flags & kFlagEncrypted)
      throw Error(at + "the entry is encrypted, which is not supported");
    if (e.offset + kLocalSize > cd_offset || get32(b, e.offset) != kLocalSig)
      throw Error(at + "no local header at offset " + std::to_string(e.offset) +
                  ": the file is truncated or corrupt");
    const uint64_t data_at =
        e.offset + kLocalSize + get16(b, e.offset + 26) + get16(b, e.offset + 28);
    if (data_at + e.csize > cd_offset)
      throw Error(at + "its " + std::to_string(e.csize) + " bytes of data at offset " +
                  std::to_string(data_at) + " run past the central directory at " +
                  std::to_string(cd_offset) + ": the file is truncated or corrupt");
    std::string data;
    if (e.method == kStored) {
      if (e.csize != e.usize)
        throw Error(at + "a stored entry whose sizes differ (" + std::to_string(e.csize) +
                    " stored, " + std::to_string(e.usize) + " uncompressed)");
      data = b.substr(data_at, e.csize);
    } else if (e.method == kDeflated) {
      // Deflate expands at most ~1032:1; a larger claim is corrupt, not a reason to allocate.
      if (e.usize > e.csize * 1032 + 64)
        throw Error(at + "announces " + std::to_string(e.usize) + " bytes from " +
                    std::to_string(e.csize) + " deflated bytes, more than deflate can produce");
      data = inflate_raw(b.data() + data_at, e.csize, e.usize, at);
    } else {
      throw Error(at + "compression method " + std::to_string(e.method) +
                  " is not supported; supported: 0 (stored), 8 (deflate)");
    }
    const uint32_t crc = crc_of(data.data(), data.size());
    if (crc != e.crc)
      throw Error(at + "CRC-32 mismatch (directory " + hex32(e.crc) + ", data " + hex32(crc) +
                  "): the archive is corrupt");

    const bool npy_suffix = e.name.size() > 4 && e.name.ends_with(".npy");
    const std::string key = npy_suffix ? e.name.substr(0, e.name.size() - 4) : e.name;
    if (!keys.insert(key).second)
      throw Error(at + "the key '" + key + "' appears twice in the archive");
    try {
      arrays.emplace_back(key, from_npy_bytes(data, what + " entry '" + e.name + "'"));
    } catch (const Error &err) {
      std::string msg = err.what();
      if (msg.starts_with("load_npy: "))
        msg.erase(0, 10);
      throw Error("load_npz: " + msg);
    }
  }
  return arrays;
}

void save_npz(const std::string &path, const NamedTensors &arrays, bool compressed) {
  write_file_atomic(path, to_npz_bytes(arrays, compressed), "save_npz");
}

NamedTensors load_npz(const std::string &path) {
  return from_npz_bytes(read_file(path, "load_npz"), "'" + path + "'");
}

} // namespace dz
