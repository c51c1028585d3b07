# scripts/common.sh - sourced by build.sh, test.sh and run-example.sh: one place that
# parses the shared arguments and says where the build lives.
#
#   --sanitize        ASan + UBSan build (RelWithDebInfo) in "<build dir>-asan"
#   --tsan            ThreadSanitizer build of the threads tests only, in "<build dir>-tsan"
#   -DVAR=VALUE ...   extra CMake cache entries, passed through to the configure step
#
# Environment: DZ_BUILD_DIR (default <repo>/build; relative to the caller's directory),
# DZ_JOBS (default: number of cores).

DZ_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DZ_SANITIZE_BUILD=0
DZ_TSAN_BUILD=0
DZ_CMAKE_ARGS=()

dz_parse_args() {
  for arg in "$@"; do
    case "$arg" in
      --sanitize) DZ_SANITIZE_BUILD=1 ;;
      --tsan) DZ_TSAN_BUILD=1 ;;
      -D*) DZ_CMAKE_ARGS+=("$arg") ;;
      -h|--help)
        sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
        exit 0 ;;
      *) echo "$(basename "$0"): unknown argument '$arg' (try --help)" >&2; exit 2 ;;
    esac
  done
  # DZ_BUILD: the absolute build folder of this invocation (DZ_BUILD_DIR is left as given,
  # since the scripts call each other with the same environment).
  DZ_BUILD="${DZ_BUILD_DIR:-$DZ_ROOT/build}"
  case "$DZ_BUILD" in /*) ;; *) DZ_BUILD="$PWD/$DZ_BUILD" ;; esac
  DZ_BUILD="${DZ_BUILD%/}"
  if [ "$DZ_SANITIZE_BUILD" = 1 ] && [ "$DZ_TSAN_BUILD" = 1 ]; then
    echo "$(basename "$0"): --sanitize and --tsan are separate builds; pass one" >&2
    exit 2
  fi
  if [ "$DZ_SANITIZE_BUILD" = 1 ]; then
    DZ_BUILD="$DZ_BUILD-asan"
  fi
  if [ "$DZ_TSAN_BUILD" = 1 ]; then
    DZ_BUILD="$DZ_BUILD-tsan"
  fi
  DZ_JOBS="${DZ_JOBS:-$(nproc)}"
}

# Environment for the ThreadSanitizer build's tests. OpenMP runs one thread per team: GCC's
# libgomp is not instrumented, so TSan cannot see its barriers and would report the
# kernels' parallel loops as races; the threads of the tests themselves are what is checked.
# Reports inside the uninstrumented LLVM/MLIR libraries are suppressed by tests/tsan.supp.
dz_tsan_env() {
  export OMP_NUM_THREADS=1
  export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$DZ_ROOT/tests/tsan.supp}"
  echo "sanitizers: TSAN_OPTIONS=$TSAN_OPTIONS OMP_NUM_THREADS=$OMP_NUM_THREADS"
}

# Environment for running sanitized binaries. LeakSanitizer needs ptrace-like access that
# some sandboxes deny ("LeakSanitizer has encountered a fatal error", "does not work under
# ptrace"); probe it with a tiny program and turn leak detection off, loudly, when it fails.
dz_sanitizer_env() {
  local leaks=1 probe out rc cxx="${CXX:-c++}"
  probe="$(mktemp -d)"
  printf 'int main() { return 0; }\n' > "$probe/ok.cpp"
  printf '#include <cstdlib>\nvoid *volatile p;\nint main() { p = std::malloc(64); p = nullptr; }\n' \
    > "$probe/leak.cpp"
  if "$cxx" -fsanitize=address -g "$probe/ok.cpp" -o "$probe/ok" 2>/dev/null &&
     "$cxx" -fsanitize=address -g "$probe/leak.cpp" -o "$probe/leak" 2>/dev/null; then
    out="$(ASAN_OPTIONS=detect_leaks=1 "$probe/ok" 2>&1)" && rc=0 || rc=$?
    if [ "$rc" -ne 0 ]; then
      leaks=0
      echo "note: LeakSanitizer does not work here: $(echo "$out" | grep -m1 -i 'sanitizer' || echo "exit status $rc")" >&2
      echo "note: running with ASAN_OPTIONS=detect_leaks=0 (leak checks off, the other ASan checks on)" >&2
    else
      out="$(ASAN_OPTIONS=detect_leaks=1 "$probe/leak" 2>&1)" || true
      if ! echo "$out" | grep -q 'detected memory leaks'; then
        echo "note: LeakSanitizer runs but did not report a deliberate leak; leak checks are not effective here" >&2
      fi
    fi
  else
    echo "note: could not compile the LeakSanitizer probe with $cxx; assuming leak detection works" >&2
  fi
  rm -rf "$probe"
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=$leaks}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  if [ -f "$DZ_ROOT/tests/lsan.supp" ] && [ -z "${LSAN_OPTIONS:-}" ]; then
    export LSAN_OPTIONS="suppressions=$DZ_ROOT/tests/lsan.supp:print_suppressions=0"
  fi
  echo "sanitizers: ASAN_OPTIONS=$ASAN_OPTIONS UBSAN_OPTIONS=$UBSAN_OPTIONS${LSAN_OPTIONS:+ LSAN_OPTIONS=$LSAN_OPTIONS}"
}
