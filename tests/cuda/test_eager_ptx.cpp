// test_eager_ptx.cpp - every kernel the eager CUDA backend can make compiles with NVRTC
// to PTX for compute_90 (no GPU needed), and its entry is in the PTX: a CUDA compile
// error in a kernel template fails here, on every machine with the toolkit.
#include "eager_kernels.h"

#include <dzc/cuda/nvrtc.h>

#include <gtest/gtest.h>

#include <chrono>
#include <iostream>

namespace {

TEST(EagerKernels, EveryKernelCompilesToPtxForHopper) {
  if (!dz::cuda::nvrtc_available())
    GTEST_SKIP() << dz::cuda::nvrtc_unavailable_reason();
  std::vector<dz::cuda::eager::KernelSource> all = dz::cuda::eager::all_kernels();
  ASSERT_GT(all.size(), 150u);
  auto t0 = std::chrono::steady_clock::now();
  for (const auto &k : all) {
    std::string ptx;
    ASSERT_NO_THROW(ptx = dz::cuda::compile_to_ptx(k.source, "compute_90")) << k.source;
    EXPECT_NE(ptx.find(".entry " + k.name), std::string::npos) << k.name;
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << all.size() << " eager kernels compiled (or read from the PTX cache) in " << s
            << " s\n";
}

TEST(EagerKernels, AnOpADtypeDoesNotAllowThrowsNamingBoth) {
  try {
    dz::cuda::eager::map_kernel(dz::MapOp::exp, dz::i64, {dz::i64});
    FAIL() << "exp of int64 made a kernel";
  } catch (const dz::Error &e) {
    std::string m = e.what();
    EXPECT_NE(m.find("exp"), std::string::npos) << m;
    EXPECT_NE(m.find("int64"), std::string::npos) << m;
  }
}

} // namespace
