#!/usr/bin/env bash
# tests/install/run_install_test.sh - installs a dzc build into a scratch prefix, then
# configures, builds and runs the outside project next to this script against it.
#
# Usage: run_install_test.sh BUILD_DIR WORK_DIR CXX_COMPILER [SANITIZERS]
set -euo pipefail
build_dir="$1"
work="$2"
cxx="$3"
sanitize="${4:-}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

rm -rf "$work"
mkdir -p "$work"
prefix="$work/prefix"

echo "--- cmake --install $build_dir --prefix $prefix"
cmake --install "$build_dir" --prefix "$prefix" > "$work/install.log"
test -f "$prefix/include/dzc/dzc.h" || { echo "FAIL: include/dzc/dzc.h not installed"; exit 1; }
config="$(find "$prefix" -name dzcConfig.cmake -print -quit)"
test -n "$config" || { echo "FAIL: dzcConfig.cmake not installed"; exit 1; }
echo "installed: $(grep -c -e "-- Installing" "$work/install.log") files; package config at ${config#$prefix/}"

# The outside project sees only the prefix: no build tree, no package registry, no ccache.
flags=()
if [ -n "$sanitize" ]; then
  # Sanitized libraries need the sanitizer runtime to come first: build the program with it.
  flags=("-DCMAKE_CXX_FLAGS=-fsanitize=$sanitize" "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=$sanitize")
fi
echo "--- configure and build the outside project"
env -u CMAKE_PREFIX_PATH -u CXXFLAGS -u LDFLAGS CCACHE_DISABLE=1 \
  cmake -S "$here" -B "$work/build" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF \
    "${flags[@]}" > "$work/configure.log" || { cat "$work/configure.log"; exit 1; }
grep -F "dzc_DIR=" "$work/configure.log" || true
cmake --build "$work/build" > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }

exe="$work/build/dzc_install_check"
resolved="$(env -u LD_LIBRARY_PATH ldd "$exe" | grep -E 'libdzc(_runtime)?\.so' || true)"
echo "$resolved"
if echo "$resolved" | grep -E 'libdzc' | grep -v -F "$prefix" | grep -q .; then
  echo "FAIL: the program loads dzc from outside the install prefix"
  exit 1
fi

echo "--- run"
env -u LD_LIBRARY_PATH "$exe"
