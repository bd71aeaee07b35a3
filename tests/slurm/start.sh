#!/usr/bin/env bash
# A one-node SLURM cluster on this machine for the integration tests: munged with a key of its own, slurmctld and
# slurmd of Debian's slurm-wlm, everything (config, key, sockets, state, logs) in one folder. Installs nothing.
#
#   tests/slurm/start.sh            # prints SLURM_CONF=<folder>/slurm.conf once the node is idle
#   export SLURM_CONF=/tmp/unnas-slurm/slurm.conf   # then sbatch, squeue, sinfo, scancel talk to this cluster
#   tests/slurm/stop.sh
#
# Settings (environment): UNNAS_SLURM_DIR (default /tmp/unnas-slurm), UNNAS_SLURM_PORT (slurmctld's port; slurmd
# uses the next one; default 16817), UNNAS_SLURM_MAX_ARRAY (MaxArraySize, default 5: arrays of at most 5 tasks).
# Starting an already running cluster does nothing.
set -euo pipefail

DIR=${UNNAS_SLURM_DIR:-/tmp/unnas-slurm}
PORT=${UNNAS_SLURM_PORT:-16817}
MAX_ARRAY=${UNNAS_SLURM_MAX_ARRAY:-5}
PARTITION=debug
CONF=$DIR/slurm.conf
export SLURM_CONF=$CONF
export PATH=$PATH:/usr/sbin:/sbin  # the daemons live in sbin, off a plain user's PATH

say() { echo "start.sh: $*" >&2; }
fail() { say "$*"; exit 1; }

for cmd in munged slurmctld slurmd sinfo scontrol; do
  command -v "$cmd" >/dev/null \
    || fail "$cmd is not installed: apt-get install -y --no-install-recommends slurm-wlm munge"
done

node_state() { sinfo -h -n localhost -o %t 2>/dev/null | head -n1; }
node_up() { case "$(node_state)" in idle|mix|alloc) return 0 ;; *) return 1 ;; esac; }

if [ -f "$CONF" ] && scontrol ping 2>/dev/null | grep -q "is UP" && node_up; then
  say "already running ($CONF)"
  echo "SLURM_CONF=$CONF"
  exit 0
fi

USER_NAME=$(id -un)
mkdir -p "$DIR"/ctld "$DIR"/spool "$DIR"/munge
chmod 700 "$DIR"/munge

# --- munge: its own key, socket and logs, so the machine's munge (if any) is left alone -------------------------
KEY=$DIR/munge/munge.key
SOCKET=$DIR/munge/munge.socket
if [ ! -s "$KEY" ]; then
  if command -v mungekey >/dev/null; then
    mungekey --create --keyfile="$KEY" --force
  else
    dd if=/dev/urandom of="$KEY" bs=1024 count=1 status=none
  fi
  chmod 600 "$KEY"
fi
if ! { [ -f "$DIR/munge/munged.pid" ] && kill -0 "$(cat "$DIR/munge/munged.pid")" 2>/dev/null; }; then
  rm -f "$SOCKET" "$SOCKET.lock"
  # --force: munged refuses a socket folder outside /run and a key owned by root when run by root without it
  munged --force --key-file="$KEY" --socket="$SOCKET" --pid-file="$DIR/munge/munged.pid" \
         --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed"
fi

# --- slurm.conf: this machine's CPUs and memory as one node named localhost --------------------------------------
# `slurmd -C` prints the node's hardware, e.g. "NodeName=vm CPUs=2 Boards=1 ... RealMemory=24105"
HW=$(slurmd -C | head -n1 | sed -e 's/^NodeName=[^ ]* //')
cat > "$CONF" <<EOF
# written by tests/slurm/start.sh
ClusterName=unnas-test
SlurmctldHost=localhost
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=$USER_NAME
SlurmdUser=$USER_NAME
AuthType=auth/munge
AuthInfo=socket=$SOCKET
CredType=cred/munge
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
# no cgroups (often unavailable in containers): processes are tracked by their parent pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# no slurmdbd: sacct has nothing to read; launch asks squeue instead
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
MaxArraySize=$MAX_ARRAY
KillWait=5
InactiveLimit=0
MinJobAge=300
NodeName=localhost NodeAddr=127.0.0.1 $HW State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF

# --- the daemons (each forks into the background) ----------------------------------------------------------------
if ! scontrol ping 2>/dev/null | grep -q "is UP"; then
  slurmctld -c -f "$CONF"
fi
if ! { [ -f "$DIR/slurmd.pid" ] && kill -0 "$(cat "$DIR/slurmd.pid")" 2>/dev/null; }; then
  slurmd -N localhost -f "$CONF"
fi

for _ in $(seq 1 120); do
  state=$(node_state)
  case "$state" in
    idle|mix|alloc) say "node localhost is $state (partition $PARTITION, MaxArraySize=$MAX_ARRAY)"
                    echo "SLURM_CONF=$CONF"; exit 0 ;;
    drain*|down*) scontrol update nodename=localhost state=resume 2>/dev/null || true ;;
  esac
  sleep 0.5
done
fail "node localhost did not become idle within 60 s (state: ${state:-none});" \
     "see $DIR/slurmctld.log and $DIR/slurmd.log"
