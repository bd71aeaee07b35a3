#!/usr/bin/env bash
# Stop the one-node SLURM cluster of tests/slurm/start.sh: cancel its jobs, stop slurmd, slurmctld and munged by
# their pid files. Stopping a cluster that is not running does nothing.
set -uo pipefail

DIR=${UNNAS_SLURM_DIR:-/tmp/unnas-slurm}
export SLURM_CONF=$DIR/slurm.conf

stop_pid() {  # stop the daemon whose pid file is $1, waiting up to 10 s before SIGKILL
  local file=$1 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$file"
}

if [ -f "$SLURM_CONF" ] && command -v scancel >/dev/null; then
  scancel --user="$(id -un)" 2>/dev/null || true
  sleep 1
fi
stop_pid "$DIR/slurmd.pid"
stop_pid "$DIR/slurmctld.pid"
stop_pid "$DIR/munge/munged.pid"
echo "stop.sh: stopped the cluster of $DIR" >&2
