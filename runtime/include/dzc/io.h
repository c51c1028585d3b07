// dzc/io.h - whole-file reads and atomic writes, shared by every file format of dzc
// (.npy, .npz, CSV/SVG histories, ONNX).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace dz {

/// Writes `bytes` to `path` atomically: into a temporary file `path.tmp.PID` in the same
/// directory, then rename(2) over the target. On any failure the old file is left as it
/// was, the temporary is removed, and dz::Error names `op`, the path and the system's
/// reason. Safe to call from several threads, also for one path (the writes then take turns;
/// the last one stays). First it removes the temporaries of `path` that writers killed mid-write left
/// behind (remove_stale_temporaries).
void write_file_atomic(const std::string &path, const std::string &bytes, const char *op);

/// Removes the files `path.tmp.PID` next to `path` whose process PID no longer exists
/// (kill(PID, 0) fails with ESRCH): what a writer killed mid-write leaves behind. Those of
/// live processes, this one included, stay. Best effort: returns how many were removed and
/// never throws. (PIDs are those of this PID namespace: a directory that writers in other
/// containers share is not a place for these files.)
size_t remove_stale_temporaries(const std::string &path);

/// The whole contents of `path`; dz::Error naming `op`, the path and the reason otherwise.
std::string read_file(const std::string &path, const char *op);

/// Where dzc caches compiled code between processes (PTX, the CPU kernels' object code):
/// $XDG_CACHE_HOME/dzc, else $HOME/.cache/dzc, else a dzc-cache folder in the temp dir.
/// Read at each call, so a test may point it elsewhere.
std::string cache_dir();

/// Whether the comma-separated list in environment variable `variable` ($DZ_DISABLE, say)
/// names `name`.
bool env_list_has(const char *variable, std::string_view name);

} // namespace dz
