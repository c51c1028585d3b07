// test_nvrtc.cpp - NVRTC loaded with dlopen compiles CUDA C to PTX for compute_90 on a
// machine without a GPU, reports a bad source with NVRTC's log, and the kernel cache
// answers a repeated compile from memory and, in a new process (a new KernelCache on the
// same folder), from disk.
#include <dzc/cuda/nvrtc.h>
#include <dzc/tensor.h>

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace {

namespace fs = std::filesystem;
using dz::cuda::KernelCache;

const char *kSaxpy = R"(
extern "C" __global__ void saxpy(float a, const float *x, float *y, long long n) {
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    y[i] = a * x[i] + y[i];
}
)";

#define DZ_REQUIRE_NVRTC()                                                                         \
  if (!dz::cuda::nvrtc_available())                                                                \
  GTEST_SKIP() << dz::cuda::nvrtc_unavailable_reason()

/// A fresh, empty folder for one test's cache files, removed at the end.
class ScratchDir {
public:
  explicit ScratchDir(const std::string &name)
      : path_(fs::temp_directory_path() / ("dzc-" + name + "-" + std::to_string(::getpid()))) {
    fs::remove_all(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path &path() const { return path_; }

private:
  fs::path path_;
};

TEST(Nvrtc, CompilesToPtxForCompute90WithoutAGpu) {
  DZ_REQUIRE_NVRTC();
  std::string ptx = dz::cuda::nvrtc_compile(kSaxpy, "compute_90");
  EXPECT_NE(ptx.find(".target sm_90"), std::string::npos) << ptx.substr(0, 400);
  EXPECT_NE(ptx.find(".visible .entry saxpy("), std::string::npos) << ptx.substr(0, 400);
  EXPECT_FALSE(dz::cuda::nvrtc_version().empty());
}

TEST(Nvrtc, BadSourceThrowsErrorWithTheCompilerLog) {
  DZ_REQUIRE_NVRTC();
  try {
    dz::cuda::nvrtc_compile("extern \"C\" __global__ void k(float *y) { y[0] = no_such_name; }",
                            "compute_90");
    FAIL() << "a source with an undefined identifier compiled";
  } catch (const dz::Error &e) {
    std::string what = e.what();
    EXPECT_NE(what.find("compute_90"), std::string::npos) << what;
    EXPECT_NE(what.find("NVRTC_ERROR_COMPILATION"), std::string::npos) << what;
    EXPECT_NE(what.find("no_such_name"), std::string::npos) << what; // from NVRTC's log
    EXPECT_NE(what.find("dzc_kernels.cu"), std::string::npos) << what;
  }
}

TEST(Nvrtc, UnknownArchitectureIsAnError) {
  DZ_REQUIRE_NVRTC();
  EXPECT_THROW(dz::cuda::nvrtc_compile(kSaxpy, "compute_1"), dz::Error);
}

TEST(KernelCache, SecondCompileIsAMemoryHitAndANewCacheADiskHit) {
  DZ_REQUIRE_NVRTC();
  ScratchDir dir("kernel-cache");
  KernelCache first(dir.path());
  KernelCache::Result cold = first.ptx(kSaxpy, "compute_90");
  EXPECT_EQ(cold.from, KernelCache::From::Compiler);
  fs::path file = first.file_of(kSaxpy, "compute_90");
  ASSERT_TRUE(fs::exists(file)) << file;
  EXPECT_EQ(file.parent_path(), dir.path());
  for (const fs::directory_entry &e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().extension(), ".ptx") << "a temporary file is left: " << e.path();

  KernelCache::Result again = first.ptx(kSaxpy, "compute_90");
  EXPECT_EQ(again.from, KernelCache::From::Memory);
  EXPECT_EQ(again.ptx, cold.ptx);

  KernelCache second(dir.path()); // as a new process would
  KernelCache::Result disk = second.ptx(kSaxpy, "compute_90");
  EXPECT_EQ(disk.from, KernelCache::From::Disk);
  EXPECT_EQ(disk.ptx, cold.ptx);
  EXPECT_LT(disk.ms, cold.ms);
  std::printf("NVRTC saxpy: compile %.2f ms, disk hit %.3f ms, memory hit %.4f ms\n", cold.ms,
              disk.ms, again.ms);
}

TEST(KernelCache, KeyDependsOnSourceAndArchitecture) {
  DZ_REQUIRE_NVRTC();
  KernelCache cache("/nonexistent");
  fs::path a = cache.file_of(kSaxpy, "compute_90");
  EXPECT_NE(a, cache.file_of(kSaxpy, "compute_80"));
  EXPECT_NE(a, cache.file_of(std::string(kSaxpy) + " ", "compute_90"));
  EXPECT_EQ(a, cache.file_of(kSaxpy, "compute_90"));
}

TEST(KernelCache, UnwritableFolderStillReturnsThePtx) {
  DZ_REQUIRE_NVRTC();
  ScratchDir dir("kernel-cache-file");
  fs::create_directories(dir.path());
  fs::path blocker = dir.path() / "not-a-folder";
  std::FILE *f = std::fopen(blocker.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  KernelCache cache(blocker / "dzc"); // below a regular file: cannot be created
  KernelCache::Result r = cache.ptx(kSaxpy, "compute_90");
  EXPECT_EQ(r.from, KernelCache::From::Compiler);
  EXPECT_NE(r.ptx.find(".entry saxpy("), std::string::npos);
  EXPECT_EQ(cache.ptx(kSaxpy, "compute_90").from, KernelCache::From::Memory);
}

TEST(KernelCache, DefaultFolderFollowsXdgCacheHome) {
  const char *old = std::getenv("XDG_CACHE_HOME");
  std::string saved = old ? old : "";
  ::setenv("XDG_CACHE_HOME", "/some/cache", 1);
  EXPECT_EQ(KernelCache::default_dir(), fs::path("/some/cache/dzc"));
  ::unsetenv("XDG_CACHE_HOME");
  if (const char *home = std::getenv("HOME"); home && *home) {
    EXPECT_EQ(KernelCache::default_dir(), fs::path(home) / ".cache" / "dzc");
  }
  if (old)
    ::setenv("XDG_CACHE_HOME", saved.c_str(), 1);
}

} // namespace
