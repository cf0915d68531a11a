#!/usr/bin/env bash
# A real single-node Slurm on this machine, for the sweep tests: no systemd, no cgroups, no
# accounting database. Needs root and `apt-get install -y slurm-wlm munge`.
#
#   scripts/slurm-cluster.sh start DIR   writes DIR/slurm.conf, starts munged (unless one runs),
#                                        slurmctld and slurmd, waits for the node to be idle
#   scripts/slurm-cluster.sh stop DIR    ends the daemons that `start DIR` started, by the
#                                        process ids it recorded in DIR/pids, and no others
#
# Slurm's commands find this cluster through SLURM_CONF=DIR/slurm.conf.
set -euo pipefail

usage() {
    echo "usage: $0 start|stop DIR" >&2
    exit 2
}
[ $# -eq 2 ] || usage
action=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)
conf=$dir/slurm.conf
pids=$dir/pids

# Waits up to $2 tenths of a second for the pid file $1 to name a live process; prints it.
pid_from() {
    for _ in $(seq "$2"); do
        if [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; then
            cat "$1"
            return 0
        fi
        sleep 0.1
    done
    echo "$0: no process behind $1 (see the logs in $dir)" >&2
    return 1
}

start() {
    for program in munged slurmctld slurmd sinfo; do
        command -v "$program" >/dev/null || {
            echo "$0: $program not found; install Slurm with: apt-get install -y slurm-wlm munge" >&2
            exit 1
        }
    done
    if [ -s "$pids" ]; then
        echo "$0: $pids exists: stop the cluster started there first" >&2
        exit 1
    fi
    : >"$pids"

    # munge authenticates Slurm's messages; the package made its key. One munged serves all.
    if ! pgrep -x munged >/dev/null; then
        mkdir -p /run/munge
        chown munge:munge /run/munge
        chmod 0755 /run/munge
        runuser -u munge -- munged --force
        echo "$(pid_from /run/munge/munged.pid 50) munged" >>"$pids"
    fi

    local node spool memory
    node=$(hostname -s)
    spool=/var/spool/genood-slurm
    mkdir -p "$spool/ctld" "$spool/d"
    # The node as slurmd sees it, with some memory left to the machine.
    memory=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -n1)
    local hardware
    hardware=$(slurmd -C | head -n1 | sed -e 's/RealMemory=[0-9]*//' -e 's/^NodeName=[^ ]* //')
    cat >"$conf" <<EOF
# Written by scripts/slurm-cluster.sh: one node, no cgroups, no accounting.
ClusterName=genood-test
SlurmctldHost=$node
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MailProg=/bin/true
ReturnToService=2
StateSaveLocation=$spool/ctld
SlurmdSpoolDir=$spool/d
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
MinJobAge=300
NodeName=$node $hardware RealMemory=$((memory * 9 / 10)) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF=$conf
    rm -f "$dir/slurmctld.pid" "$dir/slurmd.pid"
    # -c: a clean state, so that jobs of an earlier cluster here do not come back.
    slurmctld -c -f "$conf"
    echo "$(pid_from "$dir/slurmctld.pid" 100) slurmctld" >>"$pids"
    slurmd -f "$conf"
    echo "$(pid_from "$dir/slurmd.pid" 100) slurmd" >>"$pids"
    for _ in $(seq 300); do
        if sinfo -h -N -o "%T" 2>/dev/null | grep -qx idle; then
            echo "Slurm is up: export SLURM_CONF=$conf"
            return 0
        fi
        sleep 0.1
    done
    echo "$0: the node did not become idle in 30 s:" >&2
    sinfo -N >&2 || true
    exit 1
}

stop() {
    [ -f "$pids" ] || {
        echo "$0: no $pids: nothing was started there" >&2
        exit 1
    }
    # The last started ends first: slurmd, slurmctld, then munged if we started it.
    tac "$pids" | while read -r pid name; do
        if kill "$pid" 2>/dev/null; then
            for _ in $(seq 100); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
            echo "stopped $name ($pid)"
        fi
    done
    rm -f "$pids"
}

case $action in
start) start ;;
stop) stop ;;
*) usage ;;
esac
