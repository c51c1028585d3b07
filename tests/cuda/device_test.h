// device_test.h - what the tests of the GPU path share: cuda:0, a fixture that skips with
// the reason where cuda:0 is unavailable, and a main() that takes --emulate (ctest runs
// each binary on the GPU and, with --emulate, on the host emulation of docs/cuda.md).
#pragma once

#include <dzc/device_backend.h>
#include <dzc/tensor.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace dz::testing {

inline const Device kGpu = Device::cuda(0);

/// Skips the test, with the reason, where cuda:0 cannot be used.
class OnDevice : public ::testing::Test {
protected:
  void SetUp() override {
    std::string why;
    if (!device_available(kGpu, &why))
      GTEST_SKIP() << "cuda:0 is not available: " << why;
  }
};

/// gtest's main, after which --emulate makes cuda:0 the host emulation (set before the
/// first use of cuda:0, which reads DZ_CUDA_EMULATION once).
inline int device_test_main(int argc, char **argv) {
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--emulate")
      setenv("DZ_CUDA_EMULATION", "1", 1);
  return RUN_ALL_TESTS();
}

} // namespace dz::testing
