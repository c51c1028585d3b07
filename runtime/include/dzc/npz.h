// dzc/npz.h - .npz archives (NumPy's savez / savez_compressed / load): a ZIP file with one
// "<key>.npy" entry per array.
//
// Entries are stored (method 0) or, when compressed, raw-deflated (method 8), each with
// its CRC-32, so numpy.load opens what save_npz writes. load_npz reads what NumPy writes:
// stored or deflated entries, local headers with ZIP64 extras or data descriptors (the
// sizes come from the central directory). Archives of 4 GiB or more (ZIP64 proper) are
// refused with an error.
#pragma once

#include <dzc/tensor.h>

#include <string>
#include <utility>
#include <vector>

namespace dz {

/// Arrays by key, in archive order.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// Writes `arrays` as an .npz archive, atomically (a temporary file renamed over `path`):
/// on failure the previous file is unchanged and dz::Error says what failed. Keys must be
/// unique and non-empty; "l1/W" becomes the entry "l1/W.npy", as in NumPy.
void save_npz(const std::string &path, const NamedTensors &arrays, bool compressed = false);

/// The arrays of an .npz archive, keys without the ".npy" suffix, in archive order.
/// A malformed or truncated archive is a dz::Error naming the file and the problem.
NamedTensors load_npz(const std::string &path);

/// The bytes of an .npz archive and their inverse (save_npz/load_npz without the file);
/// `what` names the source in error messages.
std::string to_npz_bytes(const NamedTensors &arrays, bool compressed = false);
NamedTensors from_npz_bytes(const std::string &bytes, const std::string &what);

} // namespace dz
