#!/bin/bash
# pg-cluster.sh start|stop|status <statedir>
#
# A throwaway PostgreSQL 15 cluster for development and tests: trust
# authentication on a Unix socket and 127.0.0.1 only, durability switched off
# (fsync, synchronous_commit, full_page_writes), a free loopback port. Never
# use it for data you want to keep.
#
# The data lives in a fresh `mktemp -d /tmp/bs-pg.XXXXXX` owned by the user
# that runs the server (the `postgres` OS user when this script runs as root,
# since initdb and pg_ctl refuse to run as root), so <statedir> may sit under
# a root-only directory. <statedir> only records where the cluster is:
#
#   <statedir>/base  the cluster's directory (data/, server.log, socket)
#   <statedir>/env   shell-sourceable: PGHOST, PGPORT, PGUSER,
#                    BS_PG_ADMIN_URL (superuser conninfo), BS_PG_BIN
#
# `start` first stops and removes a cluster recorded by an earlier run, waits
# until the server accepts connections and prints the admin conninfo.
# `stop` stops the server (fast mode) and deletes its directory. `status`
# prints whether it runs (exit 0) or not (exit 3).
#
# Quiet on success; on failure, one line and the server log's tail on stderr.
# BS_PG_BIN overrides the directory of the server binaries.
set -euo pipefail

PG_BIN=${BS_PG_BIN:-/usr/lib/postgresql/15/bin}
BASE_PREFIX=/tmp/bs-pg.
PORT_ATTEMPTS=20

die() {
    echo "pg-cluster: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 start|stop|status <statedir>" >&2
    exit 64
}

# Runs a command as the server's OS user: postgres when we are root.
as_server_user() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# Prints the recorded cluster directory, or nothing. Refuses a recorded path
# that this script could not have created, so `rm -rf` stays in /tmp/bs-pg.*.
recorded_base() {
    local base

    [ -f "$STATE/base" ] || return 0
    base=$(cat "$STATE/base")
    case "$base" in
    "$BASE_PREFIX"??????) echo "$base" ;;
    *) die "refusing to use unexpected cluster path '$base' in $STATE/base" ;;
    esac
}

show_log_tail() {
    local log=$1/server.log

    if [ -f "$log" ]; then
        echo "pg-cluster: last lines of $log:" >&2
        tail -n 20 "$log" >&2
    fi
}

# Stops and removes the recorded cluster, if any.
cluster_stop() {
    local base

    base=$(recorded_base)
    if [ -n "$base" ]; then
        if [ -f "$base/data/postmaster.pid" ]; then
            if ! as_server_user "$PG_BIN/pg_ctl" stop -D "$base/data" \
                -m fast -w -t 60 >/dev/null 2>&1; then
                show_log_tail "$base"
                die "pg_ctl stop failed for $base/data"
            fi
        fi
        rm -rf "$base"
    fi
    rm -f "$STATE/base" "$STATE/env"
}

# Creates the cluster directory and the data directory inside it.
cluster_init() {
    local base=$1

    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 ||
            die "running as root needs the 'postgres' OS user"
        chown postgres: "$base"
    fi
    chmod 0700 "$base"

    if ! as_server_user "$PG_BIN/initdb" -D "$base/data" -U postgres \
        -A trust -E UTF8 --locale=C --no-sync --no-instructions \
        >"$STATE/initdb.log" 2>&1; then
        cat "$STATE/initdb.log" >&2
        die "initdb failed"
    fi
    rm -f "$STATE/initdb.log"

    # Trust, but only on the socket and loopback: a throwaway cluster.
    as_server_user tee "$base/data/pg_hba.conf" >/dev/null <<EOF
local all all trust
host  all all 127.0.0.1/32 trust
EOF
    as_server_user tee -a "$base/data/postgresql.conf" >/dev/null <<EOF

# pg-cluster.sh: throwaway settings, durability off.
listen_addresses = '127.0.0.1'
unix_socket_directories = '$base'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
}

# True when something already listens on 127.0.0.1:<port>.
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Starts the server on a free port, retrying when the port is taken between
# our check and the server's bind. Prints the port.
cluster_start_on_free_port() {
    local base=$1 port attempt

    for ((attempt = 1; attempt <= PORT_ATTEMPTS; attempt++)); do
        port=$((20000 + RANDOM % 40000))
        port_in_use "$port" && continue
        if as_server_user "$PG_BIN/pg_ctl" start -D "$base/data" -w -t 60 \
            -l "$base/server.log" -o "-p $port" >/dev/null 2>&1; then
            echo "$port"
            return 0
        fi
        if ! grep -q -e 'could not bind' -e 'could not create any TCP' \
            "$base/server.log" 2>/dev/null; then
            show_log_tail "$base"
            die "the server did not start"
        fi
    done
    show_log_tail "$base"
    die "no free port after $PORT_ATTEMPTS attempts"
}

wait_until_ready() {
    local base=$1 port=$2 i

    for ((i = 0; i < 300; i++)); do
        if "$PG_BIN/pg_isready" -q -h "$base" -p "$port" -U postgres; then
            return 0
        fi
        sleep 0.1
    done
    show_log_tail "$base"
    die "the server does not accept connections on port $port"
}

write_env() {
    local base=$1 port=$2
    local url="host=$base port=$port user=postgres dbname=postgres"

    cat >"$STATE/env.tmp" <<EOF
export PGHOST='$base'
export PGPORT='$port'
export PGUSER='postgres'
export BS_PG_ADMIN_URL='$url'
export BS_PG_BIN='$PG_BIN'
EOF
    mv "$STATE/env.tmp" "$STATE/env"
    echo "$url"
}

cmd_start() {
    local base port

    [ -x "$PG_BIN/initdb" ] || die "no PostgreSQL binaries in $PG_BIN"
    mkdir -p "$STATE"
    cluster_stop

    base=$(mktemp -d "${BASE_PREFIX}XXXXXX")
    echo "$base" >"$STATE/base"
    cluster_init "$base"
    port=$(cluster_start_on_free_port "$base")
    wait_until_ready "$base" "$port"
    write_env "$base" "$port"
}

cmd_status() {
    local base

    base=$(recorded_base)
    if [ -n "$base" ] && as_server_user "$PG_BIN/pg_ctl" status \
        -D "$base/data" >/dev/null 2>&1; then
        echo "running: $(grep BS_PG_ADMIN_URL "$STATE/env" | cut -d"'" -f2)"
        return 0
    fi
    echo "not running"
    return 3
}

[ $# -eq 2 ] || usage
STATE=$2
case "$1" in
start) cmd_start ;;
stop) cluster_stop ;;
status) cmd_status ;;
*) usage ;;
esac
