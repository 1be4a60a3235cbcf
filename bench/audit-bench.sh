#!/usr/bin/env bash
# audit-bench.sh [audit_bench arguments, e.g. --rows 100000 --events 100000]
#
# The audit trail's figures: rows appended per second with the hash chain on
# and `bsctl replay` over 100,000 events. Starts a throwaway PostgreSQL
# (scripts/pg-cluster.sh), migrates it with bsctl, starts the devbroker
# unless KAFKA_BOOTSTRAP_SERVERS names a broker, runs bench/audit_bench and
# stops everything it started, on any exit. Builds nothing: BUILD_DIR
# (default ./build) must hold tools/bsctl/bsctl, tools/devbroker/devbroker
# and bench/audit_bench.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=$(cd "${BUILD_DIR:-./build}" && pwd)
state=$(mktemp -d /tmp/audit-bench.XXXXXX)
broker_pid=

for binary in tools/bsctl/bsctl tools/devbroker/devbroker bench/audit_bench; do
    [[ -x "$build_dir/$binary" ]] || {
        echo "audit-bench: no $build_dir/$binary (build it first)" >&2
        exit 1
    }
done

stop_all() {
    trap - EXIT INT TERM
    if [[ -n "$broker_pid" ]]; then
        kill -TERM "$broker_pid" 2>/dev/null || true
        wait "$broker_pid" 2>/dev/null || true
    fi
    "$root/scripts/pg-cluster.sh" stop "$state/pg" || true
    rm -rf "$state"
}
trap stop_all EXIT INT TERM

"$root/scripts/pg-cluster.sh" start "$state/pg" >/dev/null
# shellcheck disable=SC1091
source "$state/pg/env"
DATABASE_URL=$BS_PG_ADMIN_URL "$build_dir/tools/bsctl/bsctl" migrate up \
    2>"$state/migrate.log" || {
    cat "$state/migrate.log" >&2
    exit 1
}

if [[ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
    PRODUCT=${PRODUCT:-bestays} "$build_dir/tools/devbroker/devbroker" \
        --bootstrap-file "$state/broker.bootstrap" 2>"$state/devbroker.log" &
    broker_pid=$!
    for _ in $(seq 100); do
        [[ -s "$state/broker.bootstrap" ]] && break
        sleep 0.1
    done
    [[ -s "$state/broker.bootstrap" ]] || {
        echo "audit-bench: the devbroker did not start:" >&2
        tail -n 5 "$state/devbroker.log" >&2
        exit 1
    }
    KAFKA_BOOTSTRAP_SERVERS=$(cat "$state/broker.bootstrap")
fi

KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS LOG_LEVEL=warn \
    DATABASE_URL=$BS_PG_ADMIN_URL \
    SERVICE_DATABASE_URL="host=$PGHOST port=$PGPORT user=bs_service dbname=postgres" \
    "$build_dir/bench/audit_bench" --bsctl "$build_dir/tools/bsctl/bsctl" "$@"
