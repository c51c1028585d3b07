// dynlib.h - the dlopen/dlsym of the driver and NVRTC loaders (driver.cpp, nvrtc.cpp).
//
// A library is opened once and kept open for the life of the process, on purpose:
// function pointers into it live in static tables, and the driver and NVRTC run their
// own teardown at exit, so an explicit dlclose would only add an order-of-destruction
// hazard. The handle stays reachable from a static, so LeakSanitizer reports nothing.
#pragma once

#include <dlfcn.h>

#include <initializer_list>
#include <string>

namespace dz::cuda::detail {

class DynamicLibrary {
public:
  /// Opens the first of `names` that dlopen finds. On failure handle() is null and
  /// error() holds dlerror() of the last attempt.
  explicit DynamicLibrary(std::initializer_list<const char *> names) {
    for (const char *name : names) {
      handle_ = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (handle_) {
        path_ = name;
        return;
      }
      const char *e = dlerror();
      error_ = e ? e : "dlopen failed";
    }
  }
  DynamicLibrary(const DynamicLibrary &) = delete;
  DynamicLibrary &operator=(const DynamicLibrary &) = delete;

  void *handle() const { return handle_; }
  const std::string &error() const { return error_; }
  const std::string &path() const { return path_; }

  /// Resolves `symbol` into `fn`; false (and error() set) when it is missing.
  template <typename Fn> bool resolve(Fn &fn, const char *symbol) {
    fn = reinterpret_cast<Fn>(dlsym(handle_, symbol));
    if (!fn)
      error_ = std::string("symbol ") + symbol + " not found in " + path_;
    return fn != nullptr;
  }

private:
  void *handle_ = nullptr;
  std::string error_, path_;
};

} // namespace dz::cuda::detail
