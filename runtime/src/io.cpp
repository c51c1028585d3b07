// io.cpp - whole-file reads and atomic writes (temporary file + rename).
#include <dzc/io.h>
#include <dzc/tensor.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <system_error>

#include <signal.h>
#include <unistd.h>

namespace dz {

namespace {

/// The pid of a temporary file "<name>.tmp.<pid>" of `name`, or 0 when `file` is not one.
pid_t temporary_pid(const std::string &file, const std::string &name) {
  const std::string prefix = name + ".tmp.";
  if (file.size() <= prefix.size() || file.size() > prefix.size() + 9 ||
      file.compare(0, prefix.size(), prefix) != 0 ||
      file.find_first_not_of("0123456789", prefix.size()) != std::string::npos)
    return 0;
  return pid_t(std::stol(file.substr(prefix.size())));
}

} // namespace

size_t remove_stale_temporaries(const std::string &path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const std::string name = target.filename().string();
  if (name.empty())
    return 0;
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  size_t removed = 0;
  for (; !ec && it != end; it.increment(ec)) {
    const pid_t pid = temporary_pid(it->path().filename().string(), name);
    if (pid <= 0 || pid == ::getpid())
      continue;
    // Only a process that does not exist (ESRCH) has surely stopped writing; EPERM means
    // it exists under another user.
    if (::kill(pid, 0) == 0 || errno != ESRCH)
      continue;
    std::error_code rm;
    if (fs::remove(it->path(), rm))
      ++removed;
  }
  return removed;
}

void write_file_atomic(const std::string &path, const std::string &bytes, const char *op) {
  // The temporary's name is per process: threads of one process that write the same path
  // would share it, so the process writes one file at a time.
  static std::mutex one_at_a_time;
  std::lock_guard<std::mutex> lock(one_at_a_time);
  remove_stale_temporaries(path);
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

std::string cache_dir() {
  if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return (std::filesystem::path(xdg) / "dzc").string();
  if (const char *home = std::getenv("HOME"); home && *home)
    return (std::filesystem::path(home) / ".cache" / "dzc").string();
  return (std::filesystem::temp_directory_path() / "dzc-cache").string();
}

bool env_list_has(const char *variable, std::string_view name) {
  const char *value = std::getenv(variable);
  const std::string_view list = value ? value : "";
  for (size_t start = 0; value && start <= list.size();) {
    const size_t end = std::min(list.find(',', start), list.size());
    if (list.substr(start, end - start) == name)
      return true;
    start = end + 1;
  }
  return false;
}

} // namespace dz
