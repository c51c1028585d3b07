// dzc/io.h - whole-file reads and atomic writes, shared by every file format of dzc
// (.npy, .npz, CSV/SVG histories, ONNX).
#pragma once

#include <string>

namespace dz {

/// Writes `bytes` to `path` atomically: into a temporary file in the same directory, then
/// rename(2) over the target. On any failure the old file is left as it was, the temporary
/// is removed, and dz::Error names `op`, the path and the system's reason. Safe to call from
/// several threads, also for one path (the writes then take turns; the last one stays).
void write_file_atomic(const std::string &path, const std::string &bytes, const char *op);

/// The whole contents of `path`; dz::Error naming `op`, the path and the reason otherwise.
std::string read_file(const std::string &path, const char *op);

} // namespace dz
