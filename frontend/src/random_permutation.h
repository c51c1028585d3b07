// random_permutation.h - (internal) a uniformly random permutation of 0..n-1 drawn from a
// dz::Generator, as NumPy's random.permutation; shared by Spiral and DataLoader.
#pragma once

#include <dzc/tensor.h>

#include <cstdint>
#include <vector>

namespace dz::detail {

/// Fisher-Yates over n float64 uniforms (53 bits each) from `gen`.
std::vector<int64_t> random_permutation(int64_t n, Generator &gen);

} // namespace dz::detail
