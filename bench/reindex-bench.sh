#!/usr/bin/env bash
# reindex-bench.sh [reindex_bench arguments, e.g. -n 20000 --windows 0,1000]
#
# How long a FAQ write waits while `bsctl faq reindex` runs, all at once
# versus in windows (bench/reindex_bench.c says how). Starts a throwaway
# PostgreSQL (scripts/pg-cluster.sh), migrates it with bsctl, starts the
# devbroker unless KAFKA_BOOTSTRAP_SERVERS names a broker, and runs
# bench/reindex_bench (which starts the real faq-indexer for PRODUCT,
# default bestays, itself); stops everything it started, on any exit. Builds nothing: BUILD_DIR
# (default ./build; a Release build for figures) must hold the binaries.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=$(cd "${BUILD_DIR:-./build}" && pwd)
state=$(mktemp -d /tmp/reindex-bench.XXXXXX)
product=${PRODUCT:-bestays}
pids=()

for binary in tools/bsctl/bsctl tools/devbroker/devbroker \
    services/faq-indexer/faq-indexer bench/reindex_bench; do
    [[ -x "$build_dir/$binary" ]] || {
        echo "reindex-bench: no $build_dir/$binary (build it first)" >&2
        exit 1
    }
done

stop_all() {
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
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
psql "$BS_PG_ADMIN_URL" -qc "INSERT INTO faq_categories (product, slug, name)
    VALUES ('$product', 'general', 'General')" >/dev/null

if [[ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
    PRODUCT=$product "$build_dir/tools/devbroker/devbroker" \
        --bootstrap-file "$state/broker.bootstrap" 2>"$state/devbroker.log" &
    pids+=($!)
    for _ in $(seq 100); do
        [[ -s "$state/broker.bootstrap" ]] && break
        sleep 0.1
    done
    [[ -s "$state/broker.bootstrap" ]] || {
        echo "reindex-bench: the devbroker did not start:" >&2
        tail -n 5 "$state/devbroker.log" >&2
        exit 1
    }
    KAFKA_BOOTSTRAP_SERVERS=$(cat "$state/broker.bootstrap")
fi
export KAFKA_BOOTSTRAP_SERVERS

PRODUCT=$product LOG_LEVEL=warn DATABASE_URL=$BS_PG_ADMIN_URL \
    SERVICE_DATABASE_URL="host=$PGHOST port=$PGPORT user=bs_service dbname=postgres" \
    "$build_dir/bench/reindex_bench" \
    --bsctl "$build_dir/tools/bsctl/bsctl" \
    --indexer "$build_dir/services/faq-indexer/faq-indexer" "$@"
