#!/usr/bin/env bash
# A single-node SLURM cluster on localhost, for the tests: `.ci/slurm.sh start` installs munge and
# slurm-wlm from the OS packages when missing (Debian/Ubuntu, as root), writes
# /etc/slurm/slurm.conf (the job-step plugin ignores SLURM_CONF), starts munged, slurmctld and
# slurmd and waits for the node; `.ci/slurm.sh stop` stops the daemons it started.
# No slurmdbd: jobs are followed with squeue, so finished jobs must stay visible (MinJobAge).
set -euo pipefail

STATE=${DEEPSTUDY_SLURM_STATE:-/tmp/deepstudy-slurm}

install() {
    if command -v slurmctld >/dev/null && command -v munged >/dev/null; then return; fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "cannot install slurm-wlm and munge: needs root and apt-get" >&2
        exit 3
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >"$STATE/install.log" 2>&1 || {
        echo "apt-get install slurm-wlm munge failed (see $STATE/install.log)" >&2
        exit 3
    }
}

start() {
    mkdir -p "$STATE"/{ctld,spool,log}
    install
    mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge /etc/slurm
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
    chmod 400 /etc/munge/munge.key
    if ! pgrep -x munged >/dev/null; then
        runuser -u munge -- munged
        touch "$STATE/started-munged"
    fi
    host=$(hostname -s)
    node=$(slurmd -C | head -n 1 | sed "s/^NodeName=[^ ]*/NodeName=$host/")
    cat >/etc/slurm/slurm.conf <<CONF
ClusterName=deepstudy
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=600
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/log/jobcomp.txt
$node State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    slurmctld -c
    slurmd
    for _ in $(seq 60); do
        if sinfo -h -o %T 2>/dev/null | grep -qx idle; then return; fi
        sleep 0.5
    done
    echo "the SLURM node did not come up; see $STATE/log" >&2
    exit 4
}

stop() {
    scontrol shutdown >/dev/null 2>&1 || true
    for _ in $(seq 20); do
        pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || break
        sleep 0.5
    done
    pkill -x slurmd 2>/dev/null || true
    pkill -x slurmctld 2>/dev/null || true
    if [ -f "$STATE/started-munged" ]; then
        pkill -x munged 2>/dev/null || true
        rm -f "$STATE/started-munged"
    fi
}

mkdir -p "$STATE"
case "${1:-}" in
start) start ;;
stop) stop ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
