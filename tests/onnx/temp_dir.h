// tests/onnx/temp_dir.h - a fresh directory for one test's files, removed with everything in
// it when the test ends (the ONNX tests write models, inputs and outputs there).
#pragma once

#include <dzc/tensor.h>

#include <filesystem>
#include <stdlib.h>
#include <string>
#include <system_error>
#include <vector>

namespace dz::testing {

class TempDir {
public:
  /// Made under the system's temporary directory as PREFIX-XXXXXX.
  explicit TempDir(const std::string &prefix = "dz-test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (!mkdtemp(tmpl.data()))
      throw dz::Error("cannot create a temporary directory from '" + tmpl + "'");
    path_ = tmpl;
  }
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path &path() const { return path_; }
  /// The path of `name` in the directory.
  std::string file(const std::string &name) const { return (path_ / name).string(); }
  /// The names of the files in the directory.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto &e : std::filesystem::directory_iterator(path_))
      names.push_back(e.path().filename().string());
    return names;
  }

private:
  std::filesystem::path path_;
};

} // namespace dz::testing
