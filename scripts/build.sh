#!/usr/bin/env bash
# scripts/build.sh - installs the Debian packages dzc needs (when missing), configures with
# Ninja and builds. Works from any directory.
#
# Usage: scripts/build.sh [--sanitize | --tsan] [-DVAR=VALUE ...]
#   (no flag)     Release build in build/ (or $DZ_BUILD_DIR)
#   --sanitize    ASan + UBSan build (-O1 -g, asserts on) in build-asan/ (or $DZ_BUILD_DIR-asan)
#   --tsan        ThreadSanitizer build (-O1 -g) in build-tsan/ (or $DZ_BUILD_DIR-tsan) of
#                 the threads tests and the libraries they load, nothing else
#   -DVAR=VALUE   extra CMake cache entries
# Environment: DZ_BUILD_DIR, DZ_JOBS (parallel compile jobs, default: number of cores).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
dz_parse_args "$@"

bash "$DZ_ROOT/scripts/install-deps.sh"

config=(-DCMAKE_BUILD_TYPE=Release)
if [ "$DZ_SANITIZE_BUILD" = 1 ]; then
  config=(
    -DCMAKE_BUILD_TYPE=RelWithDebInfo
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g"
    "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g"
    -DDZ_SANITIZE=address,undefined
    -DDZ_BUILD_BENCH=OFF
  )
fi
targets=()
if [ "$DZ_TSAN_BUILD" = 1 ]; then
  config=(
    -DCMAKE_BUILD_TYPE=RelWithDebInfo
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g"
    "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g"
    -DDZ_SANITIZE=thread
    -DDZ_BUILD_BENCH=OFF
    -DDZ_BUILD_MODELS=OFF
  )
  targets=(--target dz_thread_tests) # which depends on dzc_compiler where it is built
fi

start=$SECONDS
echo "build: configuring $DZ_BUILD"
cmake -S "$DZ_ROOT" -B "$DZ_BUILD" -G Ninja "${config[@]}" "${DZ_CMAKE_ARGS[@]}"
echo "build: building with $DZ_JOBS jobs"
cmake --build "$DZ_BUILD" -j "$DZ_JOBS" "${targets[@]}"
echo "build: $DZ_BUILD is up to date ($((SECONDS - start)) s)"
