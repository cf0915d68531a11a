#!/usr/bin/env bash
# A real single-node Slurm on this machine, for the sweep tests: no systemd, no cgroups, no
# accounting database. Needs root and `apt-get install -y slurm-wlm munge`.
#
#   scripts/slurm-cluster.sh start DIR   writes DIR/slurm.conf (on ports no other program
#                                        listens on), starts munged (unless one runs),
#                                        slurmctld and slurmd, waits for the node to be idle,
#                                        and checks that the daemons it started are alive
#   scripts/slurm-cluster.sh stop DIR    ends the daemons that `start DIR` started, by the
#                                        process ids it recorded in DIR/pids, after checking
#                                        that each is still that daemon of this cluster
#                                        (munged, when this script started it, ends with the
#                                        last of its clusters)
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
# The munged this script started, and the clusters that use it.
ours_munged=/run/munge/genood-munged.pid
users=/run/munge/genood-clusters

# A TCP port nothing on this machine listens on, from a range Slurm's defaults stay out of.
free_port() {
    local port
    for _ in $(seq 200); do
        port=$((20000 + RANDOM % 20000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    echo "$0: no free port found" >&2
    return 1
}

# True when process $1 is still the daemon $2 recorded in $pids: munged by its name, the
# Slurm daemons by their name and this cluster's slurm.conf on their command line.
ours() {
    local comm
    comm=$(cat "/proc/$1/comm" 2>/dev/null) || return 1
    [ "$comm" = "$2" ] || return 1
    [ "$2" = munged ] || tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$conf"
}

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

    # munge authenticates Slurm's messages; the package made its key. One munged serves all:
    # the clusters using one that a cluster of this script started are listed in $users, and
    # the last of them to stop ends it.
    if ! pgrep -x munged >/dev/null; then
        mkdir -p /run/munge
        chown munge:munge /run/munge
        chmod 0755 /run/munge
        runuser -u munge -- munged --force
        pid_from /run/munge/munged.pid 50 >"$ours_munged"
    fi
    [ -f "$ours_munged" ] && echo "$dir" >>"$users"

    local node spool memory ctld_port d_port
    node=$(hostname -s)
    # Its own spool and ports: another Slurm on this machine (or another test cluster) keeps
    # its state, and a daemon that cannot bind its port fails here instead of leaving the
    # commands talking to someone else's controller.
    spool=$dir/spool
    ctld_port=$(free_port)
    d_port=$(free_port)
    while [ "$d_port" = "$ctld_port" ]; do d_port=$(free_port); done
    mkdir -p "$spool/ctld" "$spool/d"
    # The node as slurmd sees it, with some memory left to the machine.
    memory=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -n1)
    local hardware
    hardware=$(slurmd -C | head -n1 | sed -e 's/RealMemory=[0-9]*//' -e 's/^NodeName=[^ ]* //')
    cat >"$conf" <<EOF
# Written by scripts/slurm-cluster.sh: one node, no cgroups, no accounting.
ClusterName=genood-test
SlurmctldHost=$node
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
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
            # The node answered; the daemons that answered must be the ones started here.
            while read -r pid name; do
                if ! ours "$pid" "$name"; then
                    echo "$0: $name ($pid) died after starting (see $dir/$name.log)" >&2
                    exit 1
                fi
            done <"$pids"
            scontrol ping >/dev/null || {
                echo "$0: slurmctld on port $ctld_port does not answer" >&2
                exit 1
            }
            echo "Slurm is up (ports $ctld_port, $d_port): export SLURM_CONF=$conf"
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
    # The last started ends first: slurmd, then slurmctld.
    tac "$pids" | while read -r pid name; do
        if ! ours "$pid" "$name"; then
            echo "$name ($pid) had already ended; not signalling whatever has its id now"
            continue
        fi
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
    if [ -f "$users" ]; then
        grep -vxF -- "$dir" "$users" >"$users.new" || true
        mv "$users.new" "$users"
    fi
    # The last cluster using the munged started here ends it, unless another Slurm runs.
    if [ -f "$ours_munged" ] && [ ! -s "$users" ] &&
        ! pgrep -x slurmctld >/dev/null && ! pgrep -x slurmd >/dev/null; then
        local pid
        pid=$(cat "$ours_munged")
        if ours "$pid" munged && kill "$pid" 2>/dev/null; then
            echo "stopped munged ($pid)"
        fi
        rm -f "$ours_munged" "$users"
    fi
}

case $action in
start) start ;;
stop) stop ;;
*) usage ;;
esac
