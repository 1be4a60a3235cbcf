#!/usr/bin/env bash
# projector-bench.sh [projector_bench arguments, e.g. -n 100000]
#
# Events per second applied by the real user-projector: starts a throwaway
# PostgreSQL (scripts/pg-cluster.sh), migrates it with bsctl, starts the
# devbroker unless KAFKA_BOOTSTRAP_SERVERS names a broker, runs
# bench/projector_bench against them and stops everything it started, on
# any exit. Builds nothing: BUILD_DIR (default ./build) must hold
# tools/bsctl/bsctl, tools/devbroker/devbroker,
# services/user-projector/user-projector and bench/projector_bench.
# BATCH_SIZE / BATCH_WAIT_MS, when set, reach the projector.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=$(cd "${BUILD_DIR:-./build}" && pwd)
state=$(mktemp -d /tmp/projector-bench.XXXXXX)
broker_pid=

for binary in tools/bsctl/bsctl tools/devbroker/devbroker \
    services/user-projector/user-projector bench/projector_bench; do
    [[ -x "$build_dir/$binary" ]] || {
        echo "projector-bench: no $build_dir/$binary (build it first)" >&2
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

# PostgreSQL, migrated by its owner; the projector connects as bs_service.
"$root/scripts/pg-cluster.sh" start "$state/pg" >/dev/null
# shellcheck disable=SC1091
source "$state/pg/env"
DATABASE_URL=$BS_PG_ADMIN_URL "$build_dir/tools/bsctl/bsctl" migrate up \
    2>"$state/migrate.log" || {
    cat "$state/migrate.log" >&2
    exit 1
}
service_db_url="host=$PGHOST port=$PGPORT user=bs_service dbname=postgres"

# The devbroker, unless a broker is given.
if [[ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
    PRODUCT=${PRODUCT:-bestays} "$build_dir/tools/devbroker/devbroker" \
        --bootstrap-file "$state/broker.bootstrap" 2>"$state/devbroker.log" &
    broker_pid=$!
    for _ in $(seq 100); do
        [[ -s "$state/broker.bootstrap" ]] && break
        sleep 0.1
    done
    [[ -s "$state/broker.bootstrap" ]] || {
        echo "projector-bench: the devbroker did not start:" >&2
        tail -n 5 "$state/devbroker.log" >&2
        exit 1
    }
    KAFKA_BOOTSTRAP_SERVERS=$(cat "$state/broker.bootstrap")
fi

KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS \
    DATABASE_URL=$service_db_url \
    "$build_dir/bench/projector_bench" \
    --projector "$build_dir/services/user-projector/user-projector" "$@"
