#!/usr/bin/env bash
# local_slurm.sh - a real single-node SLURM cluster on this machine, for tests and CI.
#
#   scripts/local_slurm.sh start    install (apt-get) if needed, configure, start, wait until
#                                   usable; prints "LOCAL-SLURM READY: ..." or log tails + exit 1
#   scripts/local_slurm.sh status   what runs; exit 0 if the cluster is usable, 3 if not
#   scripts/local_slurm.sh stop [--purge]
#                                   cancel jobs, stop the daemons this script started (by pid);
#                                   --purge also deletes its state, accounting DB, logs, config
#
# Needs root on Debian/Ubuntu without systemd being required (daemons are started directly).
# Idempotent: `start` on a running cluster is a no-op (it restarts the daemons only if the
# configuration changed); `stop` on a stopped cluster does nothing.
#
# Accounting is on by default (slurmdbd + a private MariaDB). Reason: snakemake-executor-plugin-
# slurm queries job status with `sacct` whenever the binary exists; without a running slurmdbd
# every query fails and plugin 2.8 silently drops the job and waits forever. With accounting,
# the project's profile runs unchanged, as on a real cluster. LOCAL_SLURM_DBD=0 is faster to
# start but then Snakemake must be run with `--slurm-status-command squeue`.
#
# Knobs (environment):
#   LOCAL_SLURM_PARTITION=debug  name of the single, default partition
#   LOCAL_SLURM_FAKE_GPUS=2      N>0: node advertises gres gpu:fake:N backed by fake device
#                                files, so `--gpus`/`--gres` requests schedule for real
#                                (jobs get CUDA_VISIBLE_DEVICES); 0: no GPUs
#   LOCAL_SLURM_DBD=1            1: slurmdbd + MariaDB (sacct works); 0: no accounting
#   LOCAL_SLURM_MEM_MB=          node RealMemory (default: detected minus 1024)
#   LOCAL_SLURM_CLUSTER=localci  ClusterName
#   LOCAL_SLURM_DB_PORT=6820     TCP port of the private MariaDB (127.0.0.1 only)
#   LOCAL_SLURM_TIMEOUT=60       seconds to wait for each daemon and for the node
#
# What it owns: /etc/slurm/{slurm,gres,slurmdbd}.conf (refuses to overwrite files it did not
# write), /var/spool/local-slurm (state, fake GPUs, MariaDB data), /run/local-slurm (pid files
# and the list of daemons it started), /var/log/slurm/*.log, ports 6817-6819 and the DB port.
# A munged that was already running is used and left running.
set -euo pipefail

PARTITION="${LOCAL_SLURM_PARTITION:-debug}"
FAKE_GPUS="${LOCAL_SLURM_FAKE_GPUS:-2}"
DBD="${LOCAL_SLURM_DBD:-1}"
CLUSTER="${LOCAL_SLURM_CLUSTER:-localci}"
DB_PORT="${LOCAL_SLURM_DB_PORT:-6820}"
TIMEOUT="${LOCAL_SLURM_TIMEOUT:-60}"

ETC=/etc/slurm
STATE=/var/spool/local-slurm
LOGDIR=/var/log/slurm
RUNDIR=/run/local-slurm
OWNED="$RUNDIR/started-by-local-slurm"   # one "NAME PIDFILE" line per daemon we started
MARKER="# written by scripts/local_slurm.sh"
DB_DIR="$STATE/mysql"
DB_RUN="$RUNDIR/mysql"                  # socket + pid of our MariaDB (owned by mysql)
DB_NAME=slurm_acct_db
DB_USER=slurm
DB_PASS=localslurm

log() { echo "[local-slurm] $*" >&2; }
log_tails() {
    local f
    for f in "$LOGDIR"/slurmctld.log "$LOGDIR"/slurmd.log "$LOGDIR"/slurmdbd.log \
        "$LOGDIR"/mariadbd.log /var/log/munge/munged.log; do
        if [ -s "$f" ]; then
            echo "----- last lines of $f" >&2
            tail -n 15 "$f" >&2
        fi
    done
}
die() {
    log "ERROR: $*"
    log_tails
    exit 1
}

# wait_for SECONDS CMD... : run CMD every 0.25 s until it succeeds; 1 on timeout
wait_for() {
    local secs=$1
    shift
    local end=$(($(date +%s) + secs))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$end" ] || return 1
        sleep 0.25
    done
}

# alive PIDFILE NAME : the pid in PIDFILE runs a program called NAME
alive() {
    local pid
    [ -s "$1" ] || return 1
    pid=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$2" ]
}

# pids_named NAME : pids of all processes called NAME (no procps needed)
pids_named() {
    local d
    for d in /proc/[0-9]*; do
        [ "$(cat "$d/comm" 2>/dev/null)" = "$1" ] && echo "${d#/proc/}"
    done
    return 0
}

owned_pidfile() { # NAME -> pid file recorded when we started NAME (empty if we did not)
    [ -f "$OWNED" ] && awk -v n="$1" '$1 == n { print $2 }' "$OWNED" | tail -n 1
    return 0
}
record_owned() { # NAME PIDFILE
    mkdir -p "$RUNDIR"
    { grep -v "^$1 " "$OWNED" 2>/dev/null || true; echo "$1 $2"; } >"$OWNED.tmp"
    mv "$OWNED.tmp" "$OWNED"
}
forget_owned() { # NAME
    [ -f "$OWNED" ] || return 0
    { grep -v "^$1 " "$OWNED" || true; } >"$OWNED.tmp"
    mv "$OWNED.tmp" "$OWNED"
}

# stop_owned NAME... : TERM the daemons NAME... (only those this script started) together,
# then wait for each; KILL what is still there after 20 s
stop_owned() {
    local name pidfile pid pids=()
    for name in "$@"; do
        pidfile=$(owned_pidfile "$name")
        [ -n "$pidfile" ] || continue
        if alive "$pidfile" "$name"; then
            pid=$(cat "$pidfile")
            log "stopping $name (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
        forget_owned "$name"
    done
    for pid in "${pids[@]}"; do
        if ! wait_for 20 sh -c "! kill -0 $pid"; then
            log "pid $pid did not stop within 20 s, sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}

node_name() { hostname -s 2>/dev/null || uname -n | cut -d. -f1; }
node_ready() {
    sinfo -h -n "$(node_name)" -o %T 2>/dev/null | grep -Eq '^(idle|mixed|allocated)$'
}

# --------------------------------------------------------------------------- start
install_packages() {
    local pkgs=(munge slurmctld slurmd slurm-client) missing=() p policy_added=0
    if [ "$DBD" = 1 ]; then pkgs+=(slurmdbd mariadb-server); fi
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    [ "${#missing[@]}" -gt 0 ] || return 0
    command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get"
    log "installing: ${missing[*]}"
    # keep apt's postinst from starting the packaged services (systemd or sysv): we start
    # our own daemons with our own config and pid files
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy_added=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null; }; then
        [ "$policy_added" = 1 ] && rm -f /usr/sbin/policy-rc.d
        die "apt-get install ${missing[*]} failed"
    fi
    [ "$policy_added" = 1 ] && rm -f /usr/sbin/policy-rc.d
    return 0
}

changed=0
ours() { [ -f "$1" ] && case "$(head -n 1 "$1")" in "$MARKER"*) true ;; *) false ;; esac; }
write_config() { # FILE CONTENT MODE : write if different; never overwrite a foreign file
    if [ -f "$1" ] && ! ours "$1"; then
        die "$1 exists and was not written by local_slurm.sh; refusing to overwrite it"
    fi
    if [ ! -f "$1" ] || [ "$(cat "$1")" != "$2" ]; then
        printf '%s\n' "$2" >"$1"
        chmod "$3" "$1"
        changed=1
    fi
}
remove_config() { # FILE : remove our file if present
    if ours "$1"; then
        rm -f "$1"
        changed=1
    fi
}

make_fake_gpus() { # device files for gres.conf: char devices (a copy of /dev/null's numbers)
    local i f
    for i in $(seq 0 $((FAKE_GPUS - 1))); do
        f="$STATE/fakegpu$i"
        [ -c "$f" ] && continue
        rm -f "$f"
        # without CAP_MKNOD (some containers) a symlink to /dev/null passes Slurm's
        # "character or block device" check just as well
        mknod "$f" c 1 3 2>/dev/null || ln -s /dev/null "$f"
    done
}

configure() {
    local host hw cpus topo detected mem gres_node="" acct gres_types=""
    host=$(node_name)
    mkdir -p "$ETC" "$STATE/ctld" "$STATE/d" "$LOGDIR" "$RUNDIR"
    hw=$(slurmd -C 2>/dev/null | head -n 1)
    cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$hw")
    topo=$(grep -o 'Boards=[0-9]* SocketsPerBoard=[0-9]* CoresPerSocket=[0-9]* ThreadsPerCore=[0-9]*' \
        <<<"$hw" || true)
    detected=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
    [ -n "$cpus" ] && [ -n "$detected" ] || die "could not parse 'slurmd -C' output: $hw"
    mem="${LOCAL_SLURM_MEM_MB:-$((detected > 2048 ? detected - 1024 : detected))}"
    CPUS=$cpus MEM=$mem

    if [ "$FAKE_GPUS" -gt 0 ]; then
        make_fake_gpus
        gres_node=" Gres=gpu:fake:$FAKE_GPUS"
        gres_types="GresTypes=gpu"
    fi
    if [ "$DBD" = 1 ]; then
        # job_comment: sacct shows the plugin's "rule_<name>" comment of each job
        acct="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux"
    else
        acct="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
    fi

    write_config "$ETC/slurm.conf" "$MARKER - single-node test cluster, no cgroups
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=$RUNDIR/slurmctld.pid
SlurmdPidFile=$RUNDIR/slurmd.pid
SlurmdSpoolDir=$STATE/d
StateSaveLocation=$STATE/ctld
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$((mem / cpus))
$acct
JobCompType=jobcomp/none
$gres_types
# finished jobs stay visible to squeue for 5 min (the plugin's squeue mode needs >= 3x its poll)
MinJobAge=300
InactiveLimit=0
KillWait=5
Waittime=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus $topo RealMemory=$mem$gres_node State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP" 644

    if [ "$FAKE_GPUS" -gt 0 ]; then
        write_config "$ETC/gres.conf" "$MARKER
NodeName=$host Name=gpu Type=fake File=$STATE/fakegpu[0-$((FAKE_GPUS - 1))]" 644
    else
        remove_config "$ETC/gres.conf"
    fi

    if [ "$DBD" = 1 ]; then
        write_config "$ETC/slurmdbd.conf" "$MARKER
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
DebugLevel=info
LogFile=$LOGDIR/slurmdbd.log
PidFile=$RUNDIR/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageLoc=$DB_NAME
StorageUser=$DB_USER
StoragePass=$DB_PASS" 600
    fi
}

start_munge() {
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0 # running (ours or not): use it
    if [ ! -s /etc/munge/munge.key ]; then
        mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null ||
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    chmod 755 /run/munge
    [ -n "$(pids_named munged)" ] && die "a munged runs but does not answer (munge -n | unmunge)"
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged
    record_owned munged /run/munge/munged.pid
    wait_for "$TIMEOUT" sh -c 'munge -n | unmunge' || die "munged did not come up"
}

db() { mariadb --no-defaults --protocol=socket --socket="$DB_RUN/mysqld.sock" -u root "$@"; }

start_mariadb() {
    local pidfile="$DB_RUN/mariadbd.pid"
    alive "$pidfile" mariadbd && return 0
    mkdir -p "$DB_RUN" "$DB_DIR"
    chown mysql:mysql "$DB_RUN" "$DB_DIR"
    if [ ! -d "$DB_DIR/mysql" ]; then
        log "initialising MariaDB data dir $DB_DIR"
        mariadb-install-db --no-defaults --user=mysql --datadir="$DB_DIR" \
            --auth-root-authentication-method=socket --skip-test-db >"$LOGDIR/mariadb-install.log" 2>&1 ||
            die "mariadb-install-db failed (see $LOGDIR/mariadb-install.log)"
    fi
    log "starting mariadbd (private, 127.0.0.1:$DB_PORT)"
    # --no-defaults: a system MariaDB/MySQL config or server on this machine is left alone
    setsid /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$DB_DIR" \
        --socket="$DB_RUN/mysqld.sock" --pid-file="$pidfile" --port="$DB_PORT" \
        --bind-address=127.0.0.1 --skip-name-resolve --innodb-buffer-pool-size=64M --innodb-lock-wait-timeout=900 \
        </dev/null >"$LOGDIR/mariadbd.log" 2>&1 &
    record_owned mariadbd "$pidfile"
    wait_for "$TIMEOUT" alive "$pidfile" mariadbd || die "mariadbd did not come up"
    wait_for "$TIMEOUT" db -e 'SELECT 1' || die "mariadbd does not answer on its socket"
}

start_slurmdbd() {
    db -e "CREATE DATABASE IF NOT EXISTS $DB_NAME;
        CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
        GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'127.0.0.1'; FLUSH PRIVILEGES;" ||
        die "could not create the accounting database"
    if ! alive "$RUNDIR/slurmdbd.pid" slurmdbd; then
        [ -z "$(pids_named slurmdbd)" ] || die "a slurmdbd not started by this script is running"
        log "starting slurmdbd"
        /usr/sbin/slurmdbd
        record_owned slurmdbd "$RUNDIR/slurmdbd.pid"
        wait_for "$TIMEOUT" sacctmgr -n list cluster || die "slurmdbd did not come up"
    fi
    if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null || die "could not register cluster $CLUSTER"
    fi
}

start_slurm() {
    if ! alive "$RUNDIR/slurmctld.pid" slurmctld; then
        [ -z "$(pids_named slurmctld)" ] || die "a slurmctld not started by this script is running"
        log "starting slurmctld"
        /usr/sbin/slurmctld
        record_owned slurmctld "$RUNDIR/slurmctld.pid"
        wait_for "$TIMEOUT" scontrol ping || die "slurmctld did not come up"
    fi
    if ! alive "$RUNDIR/slurmd.pid" slurmd; then
        [ -z "$(pids_named slurmd)" ] || die "a slurmd not started by this script is running"
        log "starting slurmd"
        /usr/sbin/slurmd
        record_owned slurmd "$RUNDIR/slurmd.pid"
    fi
    if ! wait_for "$TIMEOUT" node_ready; then
        # a node left DRAIN/DOWN by an earlier configuration (e.g. other GRES) comes back once
        scontrol update nodename="$(node_name)" state=resume >/dev/null 2>&1 || true
        wait_for "$TIMEOUT" node_ready ||
            die "node $(node_name) not usable: $(sinfo -h -N -o '%N %T %E' 2>&1)"
    fi
    if [ "$DBD" = 1 ]; then
        # slurmctld registers with slurmdbd asynchronously; sacct must answer before "ready"
        wait_for "$TIMEOUT" sacct -n -X || die "sacct does not answer"
    fi
}

cmd_start() {
    [ "$(id -u)" -eq 0 ] || die "must run as root"
    install_packages
    configure
    if [ "$changed" = 1 ]; then
        log "configuration written; restarting the slurm daemons that run"
        stop_owned slurmd slurmctld
        stop_owned slurmdbd
    fi
    start_munge
    if [ "$DBD" = 1 ]; then
        start_mariadb
        start_slurmdbd
    fi
    start_slurm
    echo "LOCAL-SLURM READY: cluster=$CLUSTER node=$(node_name) partition=$PARTITION" \
        "cpus=$CPUS mem_mb=$MEM fake_gpus=$FAKE_GPUS" \
        "accounting=$([ "$DBD" = 1 ] && echo slurmdbd || echo none)"
}

# --------------------------------------------------------------------------- stop / status
cmd_stop() {
    local jobs
    [ "$(id -u)" -eq 0 ] || die "must run as root"
    if [ -n "$(owned_pidfile slurmctld)" ] && alive "$(owned_pidfile slurmctld)" slurmctld; then
        jobs=$(squeue -h -o %i 2>/dev/null || true)
        if [ -n "$jobs" ]; then
            log "cancelling jobs: $(echo $jobs)"
            scancel $jobs 2>/dev/null || true
            wait_for 15 sh -c '[ -z "$(squeue -h -t PD,R,CG -o %i)" ]' || true
        fi
    fi
    stop_owned slurmd slurmctld
    stop_owned slurmdbd # after slurmctld, which sends it the final job records
    stop_owned mariadbd munged
    if [ -n "$(pids_named slurmstepd)" ]; then
        log "note: slurmstepd still running: $(pids_named slurmstepd | tr '\n' ' ')"
    fi
    if [ "${1:-}" = "--purge" ]; then
        log "purging state, accounting DB, logs and config"
        rm -rf "$STATE" "$RUNDIR" "$LOGDIR"/slurmctld.log "$LOGDIR"/slurmd.log \
            "$LOGDIR"/slurmdbd.log "$LOGDIR"/mariadbd.log "$LOGDIR"/mariadb-install.log
        for f in "$ETC/slurm.conf" "$ETC/gres.conf" "$ETC/slurmdbd.conf"; do
            remove_config "$f"
        done
    fi
    log "stopped"
}

cmd_status() {
    local name pidfile others ok=0
    for name in munged mariadbd slurmdbd slurmctld slurmd; do
        pidfile=$(owned_pidfile "$name")
        others=$(pids_named "$name" | tr '\n' ' ')
        if [ -n "$pidfile" ] && alive "$pidfile" "$name"; then
            echo "$name: running (pid $(cat "$pidfile"), started by local_slurm.sh)"
        elif [ -n "$others" ]; then
            echo "$name: running (pid ${others% }, not started by local_slurm.sh)"
        else
            echo "$name: not running"
        fi
    done
    # no slurmctld: say so at once (sinfo would retry the controller for ~10 s)
    if [ -n "$(pids_named slurmctld)" ] && command -v sinfo >/dev/null && node_ready; then
        sinfo -N -o '%N %P %T %c %m %G'
        if grep -q '^AccountingStorageType=accounting_storage/slurmdbd' "$ETC/slurm.conf" &&
            ! sacct -n -X >/dev/null 2>&1; then
            echo "NOT READY: sacct does not answer (accounting configured)"
            ok=3
        fi
    else
        echo "NOT READY: no usable node"
        ok=3
    fi
    return "$ok"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop "${2:-}" ;;
status) cmd_status ;;
*)
    echo "usage: $0 start | stop [--purge] | status" >&2
    exit 2
    ;;
esac
