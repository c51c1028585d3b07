#!/usr/bin/env bash
# scripts/gpu-check.sh [BUILD_DIR] [OUT_DIR] - the checks of the CUDA back end that need a
# GPU (docs/cuda.md, "On a GPU"), for a machine that has one and a Release build of dzc:
#   1. the GPU tests: ctest -L cuda without the emulated ones (they skip without a GPU
#      elsewhere, so here they must pass, not skip);
#   2. the MLP and CNN steps of docs/performance.md, eager and compiled, on the CPU and on
#      cuda:0 (bench/steps.cpp; an MNIST-shaped epoch is 600 MLP steps of batch 100);
#   3. the bandwidth of a fused elementwise kernel against a device-to-device copy.
# Everything goes to OUT_DIR (default: $OUT, else gpu-results); the exit status is that
# of the tests.
set -uo pipefail
B=${1:-build}
OUT_DIR=${2:-${OUT:-gpu-results}}
mkdir -p "$OUT_DIR"
export XDG_CACHE_HOME="$OUT_DIR/cache" # a fresh PTX cache: the first run compiles
command -v nvidia-smi > /dev/null && nvidia-smi > "$OUT_DIR/nvidia-smi.txt" 2>&1

echo "== GPU tests"
ctest --test-dir "$B" -L cuda -E emulated --output-on-failure > "$OUT_DIR/ctest-cuda.txt" 2>&1
tests=$?
grep -E "tests passed|tests failed|Skipped|Failed" "$OUT_DIR/ctest-cuda.txt" | tail -20

echo "== steps (median of 50 after warm-up)"
: > "$OUT_DIR/steps.jsonl"
for w in mlp cnn; do
  for m in eager compiled; do
    for d in cpu cuda; do
      "$B/bench/dz_bench_steps" "$w" "$m" 50 --device "$d" | tee -a "$OUT_DIR/steps.jsonl"
    done
  done
done

echo "== fused elementwise bandwidth"
"$B/bench/dz_bench_gpu_bandwidth" | tee "$OUT_DIR/bandwidth.json"
exit $tests
