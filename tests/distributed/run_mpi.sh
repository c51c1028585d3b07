#!/usr/bin/env bash
# run_mpi.sh NP PROGRAM [ARGS...] - runs PROGRAM on NP ranks of this machine with mpirun
# (as root too, more ranks than cores allowed); exit 77 (skipped) without mpirun.
set -euo pipefail
np=$1
shift
if ! command -v mpirun >/dev/null 2>&1; then
  echo "mpirun not found (apt-get install openmpi-bin libopenmpi-dev): skipped"
  exit 77
fi
# Under the sanitizers the ranks run without leak checks: OpenMPI and PMIx unload their
# components before the process exits, so LeakSanitizer cannot name the library of what
# those kept until exit ("<unknown module>") and no suppression can match it. The same
# tests run with leak checks as a world of one, without MPI (distributed.world_of_one);
# the other AddressSanitizer and UBSan checks stay on in every rank.
if [ -n "${ASAN_OPTIONS:-}" ]; then
  export ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0"
fi
# One thread per rank; a collective that waits 60 s for its peers ends the job.
exec mpirun --allow-run-as-root --oversubscribe -np "$np" \
  -x OMP_NUM_THREADS=1 -x OMP_WAIT_POLICY=PASSIVE -x DZ_DISTRIBUTED_TIMEOUT=60 "$@"
