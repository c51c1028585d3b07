// io.cpp - whole-file reads and atomic writes (temporary file + rename).
#include <dzc/io.h>
#include <dzc/tensor.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include <unistd.h>

namespace dz {

void write_file_atomic(const std::string &path, const std::string &bytes, const char *op) {
  // The temporary's name is per process: threads of one process that write the same path
  // would share it, so the process writes one file at a time.
  static std::mutex one_at_a_time;
  std::lock_guard<std::mutex> lock(one_at_a_time);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE *f = std::fopen(tmp.c_str(), "wb");
  if (!f)
    throw Error(std::string(op) + ": cannot write '" + path + "': cannot create '" + tmp +
                "': " + std::strerror(errno));
  int err = 0;
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size())
    err = errno ? errno : EIO;
  if (!err && std::fflush(f) != 0)
    err = errno ? errno : EIO;
  if (!err && ::fsync(::fileno(f)) != 0)
    err = errno;
  if (std::fclose(f) != 0 && !err)
    err = errno ? errno : EIO;
  if (!err && std::rename(tmp.c_str(), path.c_str()) != 0)
    err = errno;
  if (err) {
    std::remove(tmp.c_str());
    throw Error(std::string(op) + ": cannot write '" + path + "': " + std::strerror(err) +
                " (the previous file, if any, is unchanged)");
  }
}

std::string read_file(const std::string &path, const char *op) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(std::string(op) + ": cannot open '" + path + "': " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad())
    throw Error(std::string(op) + ": error reading '" + path + "'");
  return ss.str();
}

} // namespace dz
