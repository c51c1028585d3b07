// arc4random() for the binaries that hold LLVM (-DDZ_STATIC_MLIR=ON, the GPU bundle):
// LLVMSupport calls it, and glibc has it only from 2.36 on. Defined here, in an object file
// of each such binary, LLVM's call binds to this definition, and the bundle also runs where
// glibc is older (from 2.34 on: Ubuntu 22.04's 2.35). Not exported (libdzc_compiler.so's
// exports.map keeps it local; a program exports nothing).
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <sys/random.h>

extern "C" uint32_t arc4random(void) {
  uint32_t value = 0;
  auto *bytes = reinterpret_cast<unsigned char *>(&value);
  size_t got = 0;
  while (got < sizeof value) {
    ssize_t n = getrandom(bytes + got, sizeof value - got, 0);
    if (n > 0)
      got += static_cast<size_t>(n);
    else if (n < 0 && errno != EINTR)
      __builtin_trap(); // glibc's arc4random aborts too when the kernel gives no randomness
  }
  return value;
}
