#!/usr/bin/env bash
# bench/run.sh - builds dzc (Release, scripts/build.sh) and runs the eager benchmarks.
#
# Usage: bench/run.sh [--torch] [BENCHMARK_ARGS ...]
#   (no flag)   runs build/bench/dz_bench_eager with BENCHMARK_ARGS (e.g. --benchmark_filter=MLP)
#   --torch     runs bench/compare_torch.py instead: dzc vs PyTorch eager, with ratios;
#               the remaining arguments go to it (e.g. --markdown)
# Environment: DZ_BUILD_DIR, OMP_NUM_THREADS (default 2, the machine's cores).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

bash "$root/scripts/build.sh"
build="${DZ_BUILD_DIR:-$root/build}"
case "$build" in /*) ;; *) build="$PWD/$build" ;; esac

if [ "${1:-}" = "--torch" ]; then
  shift
  exec python3 "$root/bench/compare_torch.py" --dzc-bench "$build/bench/dz_bench_eager" "$@"
fi
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
exec "$build/bench/dz_bench_eager" "$@"
