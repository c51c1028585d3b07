#!/usr/bin/env bash
# scripts/test.sh - builds dzc (scripts/build.sh, which installs missing packages) and runs
# every test through ctest. Works from any directory.
#
# Usage: scripts/test.sh [--sanitize | --tsan] [-DVAR=VALUE ...] [-- CTEST_ARGS ...]
#   --sanitize    build and test the ASan + UBSan build (build-asan/)
#   --tsan        build the threads tests under ThreadSanitizer (build-tsan/) and run them
#                 (the tests labelled `threads`)
#   -- ARGS       passed to ctest, e.g. `scripts/test.sh -- -R Backward`
# Environment: DZ_BUILD_DIR, DZ_JOBS, DZ_TEST_JOBS (parallel tests, default 2).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

build_args=()
ctest_args=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; ctest_args=("$@"); break; fi
  build_args+=("$1"); shift
done

dz_parse_args "${build_args[@]}"
bash "$DZ_ROOT/scripts/build.sh" "${build_args[@]}"
if [ "$DZ_SANITIZE_BUILD" = 1 ]; then
  dz_sanitizer_env
  # LeakSanitizer's exit scan itself crashes now and then ("Tracer caught signal 11") in a
  # process that dlopened many libraries with thread-local storage (the emulated CUDA
  # tests), after every test in it passed. A test that fails is run once more; one that
  # fails twice fails.
  ctest_args=(--repeat until-pass:2 "${ctest_args[@]}")
fi
if [ "$DZ_TSAN_BUILD" = 1 ]; then
  dz_tsan_env
  ctest_args=(-L threads "${ctest_args[@]}")
fi

start=$SECONDS
ctest --test-dir "$DZ_BUILD" --output-on-failure --no-tests=error \
  -j "${DZ_TEST_JOBS:-2}" "${ctest_args[@]}"
echo "test: ctest took $((SECONDS - start)) s"
