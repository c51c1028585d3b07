#!/usr/bin/env bash
# check_failure.sh MODE PROGRAM - runs PROGRAM MODE on 2 ranks, whose rank 1 fails (see
# fail_program.cpp), and checks that the job ends within 60 s, fails, and names rank 1.
# The collectives' own timeout is set far beyond that, so only the failure path counts;
# in mode `stall` rank 1 just stops calling collectives, and rank 0's timeout (5 s) must end
# the job saying so.
set -uo pipefail
mode=$1
prog=$2
if ! command -v mpirun >/dev/null 2>&1; then
  echo "mpirun not found (apt-get install openmpi-bin libopenmpi-dev): skipped"
  exit 77
fi
# Under the sanitizers, OpenMPI's allocations that live until exit are not dzc's leaks.
if [ -n "${ASAN_OPTIONS:-}" ]; then
  export LSAN_OPTIONS="suppressions=$(dirname "${BASH_SOURCE[0]}")/lsan-openmpi.supp:print_suppressions=0"
fi
limit=600
[ "$mode" = stall ] && limit=5
start=$SECONDS
out=$(timeout 90 mpirun --allow-run-as-root --oversubscribe -np 2 -x OMP_NUM_THREADS=1 \
  -x DZ_DISTRIBUTED_TIMEOUT=$limit "$prog" "$mode" 2>&1)
rc=$?
elapsed=$((SECONDS - start))
echo "$out"
echo "check_failure: mode $mode: exit status $rc after $elapsed s"
if [ "$rc" -eq 0 ]; then
  echo "FAIL: the job succeeded"
  exit 1
fi
if [ "$rc" -eq 124 ] || [ "$elapsed" -ge 60 ]; then
  echo "FAIL: the job did not end within 60 s"
  exit 1
fi
if [ "$mode" = stall ]; then
  if ! grep -q "rank 0 of 2: all_reduce of 24 bytes waited 5 s for the other ranks" <<<"$out"; then
    echo "FAIL: rank 0 did not report its timeout"
    exit 1
  fi
elif ! grep -Eq "rank 1" <<<"$out"; then
  echo "FAIL: the output does not name rank 1"
  exit 1
fi
if [ "$mode" = throw ] && ! grep -q "injected failure on rank 1" <<<"$out"; then
  echo "FAIL: the output does not carry the exception's message"
  exit 1
fi
echo "check_failure: ok"
