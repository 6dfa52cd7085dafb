#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for checking the generated job arrays with the real scheduler:
# munged, slurmctld and slurmd on localhost, state and logs under one folder.
#
#   bash cluster/slurm-local.sh start DIR   # writes DIR/slurm.conf, starts the daemons, waits for the node
#   export SLURM_CONF=DIR/slurm.conf        # then sbatch/squeue/sacct talk to it
#   bash cluster/slurm-local.sh stop DIR
#
# Needs Debian's slurm-wlm and munge (`apt-get install slurm-wlm munge`) and root (the daemons run as root
# here; a real cluster's are set up by its administrators).
set -euo pipefail
cmd=${1:?usage: slurm-local.sh start|stop DIR}
dir=$(mkdir -p "${2:?usage: slurm-local.sh start|stop DIR}" && cd "$2" && pwd)

stop() {
  for d in slurmd slurmctld; do
    if [ -f "$dir/$d.pid" ]; then kill "$(cat "$dir/$d.pid")" 2>/dev/null || true; rm -f "$dir/$d.pid"; fi
  done
  if [ -f "$dir/munged.pid" ]; then kill "$(cat "$dir/munged.pid")" 2>/dev/null || true; rm -f "$dir/munged.pid"; fi
  if [ "$(readlink /run/munge/munge.socket.2 2>/dev/null)" = "$dir/munge/munge.socket" ]; then
    rm -f /run/munge/munge.socket.2
  fi
}

if [ "$cmd" = stop ]; then stop; exit 0; fi
[ "$cmd" = start ] || { echo "usage: slurm-local.sh start|stop DIR" >&2; exit 2; }

host=$(hostname -s)
# The node as slurmd sees it (CPUs, sockets, memory), so slurmctld accepts its registration.
node=$(slurmd -C | head -1 | sed "s/^NodeName=[^ ]*/NodeName=$host/")
mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
cat > "$dir/slurm.conf" <<CONF
ClusterName=prunelab-local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
MaxArraySize=10001
$node State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"

# munge: the package's key, its own socket and pid file under DIR.
if [ ! -f /etc/munge/munge.key ]; then
  mungekey --create 2>/dev/null || /usr/sbin/create-munge-key -f
fi
socket="$dir/munge/munge.socket"
munged --force --socket="$socket" --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" \
  --seed-file="$dir/munge/seed"
# slurm's munge plugin finds the socket through its default path; point it there.
mkdir -p /run/munge
ln -sf "$socket" /run/munge/munge.socket.2

slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 1 60); do
  if sinfo -h -N -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
    echo "local Slurm cluster up: $(sinfo -h -N -o '%N %c CPUs %m MB %t')"
    exit 0
  fi
  sleep 0.5
done
echo "the local Slurm node did not come up; logs:" >&2
tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
stop
exit 1
