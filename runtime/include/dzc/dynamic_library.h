// dzc/dynamic_library.h - loading one of dzc's optional libraries when it is first needed
// (the compiler for dz::compile, the ONNX library, the CUDA runtime), so that a program
// that never uses one neither links nor needs it. Internal to dzc's libraries.
#pragma once

#include <string>
#include <vector>

namespace dz::detail {

/// The first library that loads and defines every one of `symbols`, trying in turn: the
/// path in the environment variable `env_var` (when set), `file` in the folder of the
/// library that contains `anchor` (any function of the caller's library, so that the
/// libraries of one build or install find each other), and `file` through the dynamic
/// loader's search path. Returns its handle, open for the rest of the process, or null
/// after appending one line per attempt to `tried` ("\n  PATH: why it failed").
void *load_dzc_library(const char *env_var, const std::string &file, const void *anchor,
                       const std::vector<const char *> &symbols, std::string &tried);

} // namespace dz::detail
