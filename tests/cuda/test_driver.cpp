// test_driver.cpp - the CUDA device through the dlopen'd driver API: without a driver it
// is unavailable with a reason, and every device call throws dz::Error with it; with one,
// a kernel compiled by NVRTC for the device's architecture runs and computes what the CPU
// does.
#include <dzc/cuda/driver.h>
#include <dzc/cuda/nvrtc.h>
#include <dzc/tensor.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

TEST(CudaDevice, UnavailableDeviceSaysWhyAndDeviceCallsThrow) {
  if (dz::cuda::available())
    GTEST_SKIP() << "a CUDA device is available: " << dz::cuda::device_info().name;
  const std::string &reason = dz::cuda::unavailable_reason();
  EXPECT_FALSE(reason.empty());
  try {
    dz::cuda::DeviceBuffer buffer(16);
    FAIL() << "a device buffer was allocated without a device";
  } catch (const dz::Error &e) {
    EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
  }
  EXPECT_THROW(dz::cuda::synchronize(), dz::Error);
}

TEST(CudaDevice, SaxpyCompiledByNvrtcRunsOnTheDevice) {
  if (!dz::cuda::available())
    GTEST_SKIP() << dz::cuda::unavailable_reason();
  if (!dz::cuda::nvrtc_available())
    GTEST_SKIP() << dz::cuda::nvrtc_unavailable_reason();
  const dz::cuda::DeviceInfo &info = dz::cuda::device_info();
  EXPECT_GE(info.compute_major, 5);
  std::string ptx = dz::cuda::compile_to_ptx(R"(
extern "C" __global__ void saxpy(float a, const float *x, float *y, long long n) {
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    y[i] = a * x[i] + y[i];
})",
                                             info.arch());
  const long long n = 100000;
  std::vector<float> x(n), y(n), want(n);
  for (long long i = 0; i < n; ++i) {
    x[size_t(i)] = float(i % 97) * 0.5f;
    y[size_t(i)] = float(i % 13);
    want[size_t(i)] = 3.0f * x[size_t(i)] + y[size_t(i)];
  }
  dz::cuda::DeviceBuffer dx(n * sizeof(float)), dy(n * sizeof(float));
  dx.upload(x.data(), n * sizeof(float));
  dy.upload(y.data(), n * sizeof(float));
  dz::cuda::Module module(ptx);
  float a = 3.0f;
  uint64_t px = dx.device_ptr(), py = dy.device_ptr();
  long long count = n;
  module.launch("saxpy", 64, 256, {&a, &px, &py, &count});
  dz::cuda::synchronize();
  std::vector<float> got(n);
  dy.download(got.data(), n * sizeof(float));
  EXPECT_EQ(got, want);
  EXPECT_THROW(module.launch("no_such_kernel", 1, 1, {}), dz::Error);
}

} // namespace
