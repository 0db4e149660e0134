#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for tests/slurm.rs (issue 16) and for
# trying deploy/slurm/load.sbatch by hand.
#
#   scripts/slurm-local.sh deps    install Debian's slurmctld, slurmd, slurm-client, munge
#   scripts/slurm-local.sh start   write /etc/slurm/slurm.conf (one node: this host,
#                                  CPUs=2, 127.0.0.1 only, no accounting), start
#                                  munged + slurmctld + slurmd, wait until the node
#                                  is idle
#   scripts/slurm-local.sh stop    stop the three daemons (by their PID files)
#   scripts/slurm-local.sh status  one line
#
# Idempotent: start on a running cluster checks it and returns; stop on a stopped
# one does nothing. Needs root (CI runs as root). Quiet unless something fails:
# then the daemons' logs (under $STATE) are printed.
set -euo pipefail

STATE="${SLURM_LOCAL_STATE:-/var/lib/agentbench-slurm}"
RUN="$STATE/run"
CONF=/etc/slurm/slurm.conf
MARK="# written by agentbench scripts/slurm-local.sh"
HOST="$(hostname -s)"

die() {
  echo "slurm-local: $*" >&2
  for f in "$STATE"/log/*.log; do
    [ -s "$f" ] && { echo "--- $f (last 20 lines)" >&2; tail -n 20 "$f" >&2; }
  done
  exit 1
}

deps() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
    && command -v srun >/dev/null && command -v munged >/dev/null; then
    return 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  local log
  log="$(mktemp -t slurm-apt.XXXXXX)"
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client munge; } >"$log" 2>&1; then
    cat "$log" >&2
    die "installing Slurm failed"
  fi
  rm -f "$log"
}

pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

node_ready() {
  local s
  s="$(timeout 5 sinfo -h -n "$HOST" -o '%T' 2>/dev/null || true)"
  case "$s" in idle* | mixed* | allocated*) return 0 ;; *) return 1 ;; esac
}

write_conf() {
  if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    die "$CONF exists and was not written by this script; not touching it"
  fi
  mkdir -p "$STATE/ctld" "$STATE/d" "$STATE/log" "$RUN" /etc/slurm
  cat >"$CONF.tmp" <<CONF
$MARK
ClusterName=agentbench
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName=$HOST NodeAddr=127.0.0.1 NodeHostname=$HOST CPUs=2 State=UNKNOWN
PartitionName=local Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
  mv "$CONF.tmp" "$CONF"
  # No cgroups in a container: tell slurmd not to look for them.
  if [ ! -e /etc/slurm/cgroup.conf ] || grep -qF "$MARK" /etc/slurm/cgroup.conf; then
    printf '%s\nCgroupPlugin=autodetect\nIgnoreSystemd=yes\n' "$MARK" >/etc/slurm/cgroup.conf
  fi
}

start_munge() {
  if timeout 5 munge -n </dev/null 2>/dev/null | timeout 5 unmunge >/dev/null 2>&1; then
    return 0
  fi
  [ -s /etc/munge/munge.key ] || mungekey --create >/dev/null 2>&1 || die "cannot create /etc/munge/munge.key"
  chown munge:munge /etc/munge/munge.key && chmod 600 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  runuser -u munge -- /usr/sbin/munged >/dev/null 2>&1 || die "munged did not start"
  for _ in $(seq 50); do
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  die "munged does not answer"
}

start() {
  deps
  if pid_alive "$RUN/slurmctld.pid" && pid_alive "$RUN/slurmd.pid" && node_ready; then
    return 0
  fi
  stop
  write_conf
  start_munge
  slurmctld -c -i >/dev/null 2>&1 || die "slurmctld did not start"
  slurmd -N "$HOST" >/dev/null 2>&1 || die "slurmd did not start"
  for _ in $(seq 150); do
    if node_ready; then return 0; fi
    # A node left DOWN by an earlier run: bring it back.
    timeout 5 scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
    sleep 0.2
  done
  die "node $HOST did not become idle within 30 s ($(sinfo -h -o '%T %E' 2>&1 || true))"
}

stop_pid() {
  local f="$1" pid
  [ -s "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

stop() {
  stop_pid "$RUN/slurmd.pid"
  stop_pid "$RUN/slurmctld.pid"
  stop_pid /run/munge/munged.pid
}

status() {
  if pid_alive "$RUN/slurmctld.pid" && pid_alive "$RUN/slurmd.pid" && node_ready; then
    echo "slurm-local: running, node $HOST $(sinfo -h -n "$HOST" -o '%T')"
  else
    echo "slurm-local: not running"
  fi
}

case "${1:-}" in
  deps) deps ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 deps|start|stop|status" >&2; exit 2 ;;
esac
