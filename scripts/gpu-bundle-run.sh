#!/usr/bin/env bash
# run.sh [--check] - the GPU checks of dzc (scripts/gpu-check.sh) from the bundle that
# scripts/gpu-bundle.sh made (this folder: run.sh, base.sh, dzc-gpu.tar.xz), on a machine
# with a GPU and CUDA and none of dzc's build dependencies. Unpacks into /tmp (or
# $DZ_BUNDLE_DIR), loads libraries from there only (LD_LIBRARY_PATH) and writes everything to
# $OUT (default: ./gpu-results):
#   libraries.txt  every library each program and library of the bundle resolves to: inside
#                  the bundle or the system's base (base.sh), else the run fails
#   loaded.txt     every library the tests loaded, dlopen included (LD_DEBUG): the same rule,
#                  plus the machine's CUDA (driver, NVRTC, cuBLAS)
#   tests/NAME.txt, tests/NAME.xml  each GPU test program's output (gtest), which must pass
#                  and, on a GPU, not skip
#   steps.jsonl    MLP and CNN steps, eager and compiled, on the CPU and on cuda:0 (median of
#                  50 after warm-up; bench/steps.cpp)
#   bandwidth.json the fused elementwise kernel against a device-to-device copy
#   torch_steps.jsonl  the same MLP and CNN steps in PyTorch on the GPU, eager and
#                  torch.compile (bench/torch_cuda_steps.py), where python3 has PyTorch
#   nvidia-smi.txt, summary.txt
# Everything runs within DZ_BUNDLE_BUDGET seconds (default 420, with --check 1800); the exit
# status is 0 when every check passed. DZ_BUNDLE_TEST_FILTER: a --gtest_filter for the tests.
#   --check   the proof on a machine without a GPU: cuda:0 is the host emulation
#             (DZ_CUDA_EMULATION=1), skipped tests are allowed, the steps are short.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
check=0
[ "${1:-}" = --check ] && check=1
D="${DZ_BUNDLE_DIR:-/tmp/dzc-gpu-bundle}"
OUT_DIR="${OUT:-$PWD/gpu-results}"
mkdir -p "$OUT_DIR/tests"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
# On a GPU everything takes minutes; the host emulation compiles each kernel with the host
# compiler and gets more time (and each test program more than 240 s).
budget=420
per_program=240
if [ "$check" = 1 ]; then
  budget=1800
  per_program=900
fi
deadline=$((SECONDS + ${DZ_BUNDLE_BUDGET:-$budget}))
status=0
: > "$OUT_DIR/summary.txt"
say() { echo "$*" | tee -a "$OUT_DIR/summary.txt"; }
fail() { say "FAIL: $*"; status=1; }
# limit CAP: seconds a step may take: CAP, or what is left of the budget.
limit() {
  local left=$((deadline - SECONDS))
  [ "$left" -lt "$1" ] && echo "$left" || echo "$1"
}

rm -rf "$D"
mkdir -p "$D"
if command -v xz > /dev/null; then
  tar -C "$D" -xJf "$here/dzc-gpu.tar.xz" || { fail "unpacking"; exit 1; }
else # python3's tarfile reads xz where the xz program is missing
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
    "$here/dzc-gpu.tar.xz" "$D" || { fail "unpacking"; exit 1; }
fi
# shellcheck source=scripts/gpu-bundle-base.sh
source "$D/base.sh"
export LD_LIBRARY_PATH="$D/lib"
export XDG_CACHE_HOME="$D/cache" # a fresh kernel cache: the first run compiles
# The runtime's small CPU products go through Debian's OpenBLAS, loaded from its own path
# (runtime/src/matmul.cpp), which the bundle does not carry: oneDNN runs every product, on
# every machine alike.
export DZ_DISABLE="small-gemm${DZ_DISABLE:+,$DZ_DISABLE}"
if [ "$check" = 1 ]; then
  export DZ_CUDA_EMULATION=1
  say "mode: --check (cuda:0 is the host emulation)"
else
  unset DZ_CUDA_EMULATION
  say "mode: GPU"
fi
say "bundle: $D ($(du -sm "$D" | cut -f1) MB unpacked); $(ldd --version 2>&1 | head -1)"
command -v nvidia-smi > /dev/null && nvidia-smi > "$OUT_DIR/nvidia-smi.txt" 2>&1

# 1. Where each program and library of the bundle finds its libraries.
: > "$OUT_DIR/libraries.txt"
outside=0
for f in "$D"/bin/* "$D"/lib/*; do
  echo "== ${f#"$D"/}" >> "$OUT_DIR/libraries.txt"
  ldd "$f" >> "$OUT_DIR/libraries.txt" 2>&1
  if grep -q "version .* not found" <(ldd "$f" 2>&1); then # an older glibc or libstdc++
    fail "${f#"$D"/}: $(ldd "$f" 2>&1 | grep -m1 "version .* not found")"
    outside=1
  fi
  while read -r name arrow path _; do
    [ "$arrow" = "=>" ] || continue
    case "$path" in
      "$D"/*) ;;
      not) fail "${f#"$D"/} needs $name: not found"; outside=1 ;;
      *) dz_bundle_is_base "$name" || { fail "${f#"$D"/} loads $name from $path"; outside=1; } ;;
    esac
  done < <(ldd "$f" 2>&1)
done
[ "$outside" = 0 ] && say "libraries: every one resolves inside the bundle or to the system's base"

# 2. The GPU tests, with the libraries each loads (dlopen included) logged by the loader.
tests_ok=0
tests_total=0
mkdir -p "$D/lddebug"
for t in dz_cuda_runtime_tests dz_cuda_codegen_tests dz_cuda_eager_tests dz_cuda_training_tests \
  dz_cuda_compiled_tests dz_numerics_tests; do
  [ -x "$D/bin/$t" ] || continue
  tests_total=$((tests_total + 1))
  s=$(limit "$per_program")
  if [ "$s" -lt 5 ]; then fail "$t: not run, out of time"; continue; fi
  LD_DEBUG=libs LD_DEBUG_OUTPUT="$D/lddebug/$t" timeout "$s" "$D/bin/$t" \
    --gtest_output="xml:$OUT_DIR/tests/$t.xml" ${DZ_BUNDLE_TEST_FILTER:+"--gtest_filter=$DZ_BUNDLE_TEST_FILTER"} \
    > "$OUT_DIR/tests/$t.txt" 2>&1
  rc=$?
  passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$OUT_DIR/tests/$t.txt")
  skipped=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$OUT_DIR/tests/$t.txt")
  line="$t: rc $rc, ${passed:-0} passed, ${skipped:-0} skipped"
  if [ "$rc" != 0 ]; then
    fail "$line$([ "$rc" = 124 ] && echo ", timed out after $s s")"
    grep "^\[  FAILED  \] [A-Za-z]" "$OUT_DIR/tests/$t.txt" | sort -u | head -20 |
      tee -a "$OUT_DIR/summary.txt"
  elif [ "${skipped:-0}" != 0 ] && [ "$check" = 0 ]; then
    fail "$line: on a GPU nothing may skip"
    grep "^\[  SKIPPED \] [A-Za-z][^ ]*$" "$OUT_DIR/tests/$t.txt" | sort -u | head -20 |
      tee -a "$OUT_DIR/summary.txt"
  else
    say "$line"
    tests_ok=$((tests_ok + 1))
  fi
done
say "tests: $tests_ok of $tests_total programs passed"

# 3. What the tests loaded at run time: "calling init: PATH" of each object the loader
# initialised, in each process that loaded dzc (not the host compiler the emulation runs).
: > "$OUT_DIR/loaded.txt"
for log in "$D"/lddebug/*; do
  if [ ! -f "$log" ] || ! grep -q "calling init: $D/lib/libdzc_runtime" "$log"; then continue; fi
  sed -n 's/.*calling init: //p' "$log"
done | sort -u > "$OUT_DIR/loaded.txt"
loaded_outside=0
while read -r path; do
  name="${path##*/}"
  case "$path" in
    "$D"/*) continue ;;
  esac
  dz_bundle_is_base "$name" && continue
  dz_bundle_is_cuda "$name" && continue
  fail "a test loaded $path from outside the bundle"
  loaded_outside=1
done < "$OUT_DIR/loaded.txt"
if [ ! -s "$OUT_DIR/loaded.txt" ]; then
  fail "the loader logged no library (LD_DEBUG)"
elif [ "$loaded_outside" = 0 ]; then
  say "loaded: $(wc -l < "$OUT_DIR/loaded.txt") libraries, each from the bundle, the system's base or CUDA"
fi
if [ -x "$D/bin/dz_cuda_compiled_tests" ] && ! grep -q "^$D/lib/libdzc_compiler.so" "$OUT_DIR/loaded.txt"; then
  fail "the compiled tests did not load the bundle's libdzc_compiler.so"
fi

# 4. The steps of docs/performance.md and 5. the fused kernel's bandwidth.
if [ -x "$D/bin/dz_bench_steps" ]; then
  : > "$OUT_DIR/steps.jsonl"
  if [ "$check" = 1 ]; then
    runs=("mlp eager 2 --device cuda" "mlp compiled 2 --device cuda")
  else
    runs=()
    for w in mlp cnn; do
      for m in eager compiled; do
        for d in cpu cuda; do runs+=("$w $m 50 --device $d"); done
      done
    done
  fi
  for r in "${runs[@]}"; do
    s=$(limit 90)
    if [ "$s" -lt 5 ]; then fail "steps $r: not run, out of time"; continue; fi
    # shellcheck disable=SC2086 # the words of $r are the arguments
    if ! timeout "$s" "$D/bin/dz_bench_steps" $r >> "$OUT_DIR/steps.jsonl" 2>> "$OUT_DIR/steps.err"; then
      fail "steps $r"
    fi
  done
  say "steps: $(wc -l < "$OUT_DIR/steps.jsonl") of ${#runs[@]} runs in steps.jsonl"
fi
if [ -x "$D/bin/dz_bench_gpu_bandwidth" ]; then
  args=()
  [ "$check" = 1 ] && args=(65536 2)
  s=$(limit 120)
  if [ "$s" -ge 5 ] && timeout "$s" "$D/bin/dz_bench_gpu_bandwidth" "${args[@]}" \
    > "$OUT_DIR/bandwidth.json" 2>&1; then
    say "bandwidth: $(cat "$OUT_DIR/bandwidth.json")"
  else
    fail "bandwidth: $(tail -3 "$OUT_DIR/bandwidth.json")"
  fi
fi

# 6. PyTorch's side of the comparison on the same GPU: the same MLP and CNN steps, eager and
# torch.compile (bench/torch_cuda_steps.py), where the machine's python3 has PyTorch.
if [ "$check" = 0 ] && [ -f "$here/torch_cuda_steps.py" ]; then
  if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2> /dev/null; then
    s=$(limit 150)
    # PyTorch loads its own libraries: not the bundle's.
    if [ "$s" -ge 5 ] && env -u LD_LIBRARY_PATH timeout "$s" python3 "$here/torch_cuda_steps.py" \
      > "$OUT_DIR/torch_steps.jsonl" 2> "$OUT_DIR/torch_steps.err"; then
      say "pytorch: $(wc -l < "$OUT_DIR/torch_steps.jsonl") runs in torch_steps.jsonl"
    else
      fail "pytorch steps (torch_steps.jsonl, torch_steps.err)"
    fi
  else
    say "pytorch: no python3 with PyTorch on a GPU here, skipped"
  fi
fi

say "result: $([ "$status" = 0 ] && echo "all checks passed" || echo "FAILED") ($SECONDS s)"
exit $status
