#!/usr/bin/env bash
# The run command: the whole system on one machine, no container engine.
#
#   scripts/run.sh
#
# Installs what is missing, builds, starts a throwaway PostgreSQL cluster
# (migrated to the newest schema) and the devbroker with every product's
# topics, prints where everything listens, and runs until Ctrl-C, when it
# stops everything it started. State lives in RUN_DIR (default: ./run).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
run_dir=${RUN_DIR:-$root/run}
products=${ALLOWED_PRODUCTS:-bestays,realestate}
pids=()

"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build_dir"
mkdir -p "$run_dir"

stop_all() {
    trap - EXIT INT TERM
    echo "run: stopping" >&2
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    "$root/scripts/pg-cluster.sh" stop "$run_dir/pg" || true
}
trap stop_all EXIT INT TERM

# PostgreSQL, migrated by its owner; the services connect as bs_service.
"$root/scripts/pg-cluster.sh" start "$run_dir/pg" >/dev/null
# shellcheck disable=SC1091
source "$run_dir/pg/env"
DATABASE_URL=$BS_PG_ADMIN_URL "$build_dir/tools/bsctl/bsctl" migrate up \
    2>"$run_dir/migrate.log"
service_db_url="host=$PGHOST port=$PGPORT user=bs_service dbname=postgres"

# The devbroker, with <product>.users|faq|audit|dlq for every product.
rm -f "$run_dir/broker.bootstrap"
PRODUCT=bestays ALLOWED_PRODUCTS=$products "$build_dir/tools/devbroker/devbroker" \
    --bootstrap-file "$run_dir/broker.bootstrap" 2>"$run_dir/devbroker.log" &
pids+=($!)
for _ in $(seq 100); do
    [[ -s "$run_dir/broker.bootstrap" ]] && break
    sleep 0.1
done
[[ -s "$run_dir/broker.bootstrap" ]] || {
    echo "run: the devbroker did not start; see $run_dir/devbroker.log" >&2
    exit 1
}
bootstrap=$(cat "$run_dir/broker.bootstrap")

cat <<TXT

Bestays event services are running (Ctrl-C stops everything).

  PostgreSQL     $BS_PG_ADMIN_URL
                 (the owner; schema migrated, see $run_dir/migrate.log)
  services use   DATABASE_URL="$service_db_url"
  Kafka          KAFKA_BOOTSTRAP_SERVERS=$bootstrap   (devbroker)
  products       $products
  topics         <product>.users  <product>.faq  <product>.audit  <product>.dlq

  psql "$BS_PG_ADMIN_URL" -c '\\dt'
  kcat -b $bootstrap -L
  logs           $run_dir/*.log

TXT
wait "${pids[@]}"
