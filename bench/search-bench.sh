#!/usr/bin/env bash
# search-bench.sh [search_bench arguments, e.g. -n 2000 -q 50 -t 2]
#
# FAQ search latency: starts a throwaway PostgreSQL (scripts/pg-cluster.sh)
# and
#   1. runs bench/search_bench against it: the in-memory index versus a
#      cosine computed in SQL over REAL[] at 1,000 and 10,000 chunks (the
#      bench makes its own temporary table);
#   2. migrates it (bsctl), seeds bestays with HTTP_CHUNKS (default 10,000)
#      chunks, starts a real api-gateway for bestays (no broker needed for
#      search) and times GET /api/v1/faqs/search through it over
#      HTTP_CONNECTIONS (default 2) keep-alive connections.
# Stops everything it started on any exit. Builds nothing: BUILD_DIR
# (default ./build) must hold bench/search_bench, tools/bsctl/bsctl and
# services/api-gateway/api-gateway; use a Release build for figures.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=$(cd "${BUILD_DIR:-./build}" && pwd)
state=$(mktemp -d /tmp/search-bench.XXXXXX)
gateway_pid=

for binary in bench/search_bench tools/bsctl/bsctl \
    services/api-gateway/api-gateway; do
    [[ -x "$build_dir/$binary" ]] || {
        echo "search-bench: no $build_dir/$binary (build it first)" >&2
        exit 1
    }
done

stop_all() {
    trap - EXIT INT TERM
    if [[ -n "$gateway_pid" ]]; then
        kill -TERM "$gateway_pid" 2>/dev/null || true
        wait "$gateway_pid" 2>/dev/null || true
    fi
    "$root/scripts/pg-cluster.sh" stop "$state/pg" || true
    rm -rf "$state"
}
trap stop_all EXIT INT TERM

"$root/scripts/pg-cluster.sh" start "$state/pg" >/dev/null
# shellcheck disable=SC1091
source "$state/pg/env"

# 1. In memory versus SQL.
DATABASE_URL=$BS_PG_ADMIN_URL "$build_dir/bench/search_bench" "$@"

# 2. Through the gateway.
DATABASE_URL=$BS_PG_ADMIN_URL "$build_dir/tools/bsctl/bsctl" migrate up \
    2>"$state/migrate.log" || {
    cat "$state/migrate.log" >&2
    exit 1
}
DATABASE_URL=$BS_PG_ADMIN_URL PRODUCT=bestays \
    "$build_dir/bench/search_bench" -s "${HTTP_CHUNKS:-10000}"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$state/key.pem" 2>/dev/null
openssl pkey -in "$state/key.pem" -pubout -out "$state/pub.pem"
port=$((20000 + RANDOM % 20000))
PRODUCT=bestays HTTP_PORT=$port HTTP_THREADS=4 \
    DATABASE_URL="host=$PGHOST port=$PGPORT user=bs_service dbname=postgres" \
    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:1 \
    CLERK_JWT_KEY="$(cat "$state/pub.pem")" LOG_LEVEL=warn \
    "$build_dir/services/api-gateway/api-gateway" 2>"$state/gateway.log" &
gateway_pid=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.1
done
# The first search loads the index; time the ones after it.
curl -sf "http://127.0.0.1:$port/api/v1/faqs/search?q=warm" >/dev/null || {
    echo "search-bench: the gateway did not answer a search:" >&2
    tail -n 5 "$state/gateway.log" >&2
    exit 1
}
"$build_dir/bench/search_bench" -u "http://127.0.0.1:$port" \
    -n "${HTTP_REQUESTS:-2000}" -t "${HTTP_CONNECTIONS:-2}"
