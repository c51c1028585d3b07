// dynamic_library.cpp - load_dzc_library (dzc/dynamic_library.h).
#include <dzc/dynamic_library.h>

#include <dlfcn.h>

#include <cstdlib>

namespace dz::detail {

void *load_dzc_library(const char *env_var, const std::string &file, const void *anchor,
                       const std::vector<const char *> &symbols, std::string &tried) {
  std::vector<std::string> candidates;
  if (const char *p = std::getenv(env_var); p && *p)
    candidates.push_back(p);
  Dl_info info;
  if (dladdr(anchor, &info) && info.dli_fname) {
    const std::string self = info.dli_fname;
    candidates.push_back(self.substr(0, self.find_last_of('/') + 1) + file);
  }
  candidates.push_back(file);
  for (const std::string &path : candidates) {
    void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char *e = dlerror();
      tried += "\n  " + path + ": " + (e ? e : "dlopen failed");
      continue;
    }
    std::string missing;
    for (const char *s : symbols)
      if (!dlsym(handle, s))
        missing += std::string(missing.empty() ? "" : ", ") + s;
    if (missing.empty())
      return handle;
    tried += "\n  " + path + ": no symbol " + missing;
    // Stays open: a library of dzc may hold static state that a later dlclose would
    // destroy under something else that loaded it.
  }
  return nullptr;
}

} // namespace dz::detail
