# shellcheck shell=bash
# scripts/gpu-bundle-base.sh - sourced by scripts/gpu-bundle.sh and the bundle's run.sh: the
# libraries of the system's base, which the GPU bundle does not ship and may load from the
# machine it runs on (glibc, libstdc++, libgcc_s, zlib), and those a GPU run loads from the
# machine's CUDA (driver, NVRTC, cuBLAS, by dlopen). Everything else a program of the bundle
# loads must come from the bundle.

# dz_bundle_is_base NAME: whether the library NAME (a file name: libc.so.6) is base.
dz_bundle_is_base() {
  case "$1" in
    linux-vdso.so.* | ld-linux-x86-64.so.* | libc.so.* | libm.so.* | libdl.so.* | \
      libpthread.so.* | librt.so.* | libutil.so.* | libresolv.so.* | libmvec.so.* | \
      libstdc++.so.* | libgcc_s.so.* | libz.so.*) return 0 ;;
  esac
  return 1
}

# dz_bundle_is_cuda NAME: whether NAME is a library of the machine's CUDA, which dzc opens
# with dlopen (docs/cuda.md) and the bundle does not ship.
dz_bundle_is_cuda() {
  case "$1" in
    libcuda.so* | libnvidia-*.so* | libnvrtc*.so* | libcublas*.so* | libcudart.so* | \
      libnvJitLink.so*) return 0 ;;
  esac
  return 1
}
