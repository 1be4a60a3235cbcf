#!/usr/bin/env bash
# gateway-bench.sh [gateway_bench arguments, e.g. -n 20000 -c 16]
#
# Authenticated reads per second through a real api-gateway: starts a
# throwaway PostgreSQL (scripts/pg-cluster.sh), migrates it with bsctl,
# inserts one bestays user (user_bench, admin), starts the devbroker unless
# KAFKA_BOOTSTRAP_SERVERS names a broker, makes an RSA key pair standing
# for the product's Clerk instance, then for each value in CALLER_CACHE_MS
# (space-separated, default "1000") starts one bestays gateway with it,
# runs bench/gateway_bench against it and stops it. ROUNDS (default 1)
# repeats the whole list, so "CALLER_CACHE_MS='0 1000' ROUNDS=3" gives
# interleaved before/after figures on a machine whose load varies.
# Everything started is stopped on any exit. Builds nothing: BUILD_DIR
# (default ./build) must hold tools/bsctl/bsctl, tools/devbroker/devbroker,
# services/api-gateway/api-gateway and bench/gateway_bench (use a Release
# build for figures). HTTP_THREADS / DB_POOL_SIZE, when set, reach the
# gateway.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=$(cd "${BUILD_DIR:-./build}" && pwd)
state=$(mktemp -d /tmp/gateway-bench.XXXXXX)
broker_pid=
gateway_pid=

for binary in tools/bsctl/bsctl tools/devbroker/devbroker \
    services/api-gateway/api-gateway bench/gateway_bench; do
    [[ -x "$build_dir/$binary" ]] || {
        echo "gateway-bench: no $build_dir/$binary (build it first)" >&2
        exit 1
    }
done

stop_gateway() {
    if [[ -n "$gateway_pid" ]]; then
        kill -TERM "$gateway_pid" 2>/dev/null || true
        wait "$gateway_pid" 2>/dev/null || true
        gateway_pid=
    fi
}

stop_all() {
    trap - EXIT INT TERM
    stop_gateway
    if [[ -n "$broker_pid" ]]; then
        kill -TERM "$broker_pid" 2>/dev/null || true
        wait "$broker_pid" 2>/dev/null || true
    fi
    "$root/scripts/pg-cluster.sh" stop "$state/pg" || true
    rm -rf "$state"
}
trap stop_all EXIT INT TERM

# PostgreSQL, migrated by its owner; the gateway connects as bs_service.
"$root/scripts/pg-cluster.sh" start "$state/pg" >/dev/null
# shellcheck disable=SC1091
source "$state/pg/env"
DATABASE_URL=$BS_PG_ADMIN_URL "$build_dir/tools/bsctl/bsctl" migrate up \
    2>"$state/migrate.log" || {
    cat "$state/migrate.log" >&2
    exit 1
}
psql_bin=psql
[[ -x "$BS_PG_BIN/psql" ]] && psql_bin=$BS_PG_BIN/psql
"$psql_bin" -q -v ON_ERROR_STOP=1 "$BS_PG_ADMIN_URL" -c \
    "INSERT INTO users (product, id, email, first_name, role) VALUES
     ('bestays', 'user_bench', 'bench@bestays.test', 'Bench', 'admin')" \
    >/dev/null
service_db_url="host=$PGHOST port=$PGPORT user=bs_service dbname=postgres"

# The devbroker, unless a broker is given.
if [[ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
    PRODUCT=bestays "$build_dir/tools/devbroker/devbroker" \
        --bootstrap-file "$state/broker.bootstrap" 2>"$state/devbroker.log" &
    broker_pid=$!
    for _ in $(seq 100); do
        [[ -s "$state/broker.bootstrap" ]] && break
        sleep 0.1
    done
    [[ -s "$state/broker.bootstrap" ]] || {
        echo "gateway-bench: the devbroker did not start:" >&2
        tail -n 5 "$state/devbroker.log" >&2
        exit 1
    }
    KAFKA_BOOTSTRAP_SERVERS=$(cat "$state/broker.bootstrap")
fi

# The "Clerk instance": the bench signs with the private half.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$state/private.pem" 2>/dev/null
openssl pkey -in "$state/private.pem" -pubout -out "$state/public.pem"

# Starts a bestays gateway on a free port with CALLER_CACHE_MS=$1 and sets
# port once /healthz answers.
start_gateway() {
    local log=$state/gateway-$1.log
    : >"$log"
    PRODUCT=bestays HTTP_PORT=0 DATABASE_URL=$service_db_url \
        KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS \
        CLERK_JWT_KEY=$(cat "$state/public.pem") CALLER_CACHE_MS=$1 \
        "$build_dir/services/api-gateway/api-gateway" \
        >>"$log" 2>&1 &
    gateway_pid=$!
    port=
    for _ in $(seq 300); do
        port=$(sed -n 's/.*api_gateway_started port=\([0-9]*\).*/\1/p' \
            "$log" | head -n 1)
        [[ -n "$port" ]] &&
            curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && return 0
        kill -0 "$gateway_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "gateway-bench: the gateway did not start:" >&2
    tail -n 5 "$log" >&2
    exit 1
}

for round in $(seq "${ROUNDS:-1}"); do
    for cache_ms in ${CALLER_CACHE_MS:-1000}; do
        echo "== round $round, CALLER_CACHE_MS=$cache_ms"
        start_gateway "$cache_ms"
        "$build_dir/bench/gateway_bench" --url "http://127.0.0.1:$port" \
            --key "$state/private.pem" --sub user_bench "$@"
        stop_gateway
    done
done
