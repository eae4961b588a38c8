#!/usr/bin/env bash
# Waits for a Slurm job to end; exits 0 if it COMPLETED, 1 otherwise (prints its state).
#   tests/slurm/wait-job.sh JOBID [TIMEOUT_SECONDS]
set -euo pipefail
job="$1"; limit="${2:-1800}"; waited=0
while :; do
  state="$(scontrol -o show job "$job" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -1 | cut -d= -f2 || true)"
  case "$state" in
    COMPLETED) echo "job $job COMPLETED" >&2; exit 0 ;;
    FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|PREEMPTED|BOOT_FAIL|DEADLINE)
      echo "job $job ended $state" >&2; exit 1 ;;
  esac
  if [ "$waited" -ge "$limit" ]; then echo "job $job still $state after ${limit}s" >&2; exit 1; fi
  sleep 2; waited=$((waited + 2))
done
