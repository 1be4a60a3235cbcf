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

# A webhook signing secret per product, made once and kept in the run
# directory (Clerk's dashboard gives real ones; never commit them).
webhook_secret_file() {
    local file="$run_dir/$1.webhook-secret"
    if [[ ! -s "$file" ]]; then
        (umask 077 && printf 'whsec_%s\n' "$(head -c 24 /dev/urandom | base64)" >"$file")
    fi
    echo "$file"
}

# The public key a product's gateway checks session tokens against. A real
# deployment uses its Clerk instance's PEM key; here a development key pair
# is made once per product (the private half stays in the run directory, so
# a developer can sign test tokens with it). Put a Clerk instance's public
# key in run/<product>.jwt-public.pem to use that instead.
jwt_public_key_file() {
    local public="$run_dir/$1.jwt-public.pem" private="$run_dir/$1.jwt-private.pem"
    if [[ ! -s "$public" ]]; then
        (umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
            -out "$private" 2>/dev/null)
        openssl pkey -in "$private" -pubout -out "$public"
    fi
    echo "$public"
}

# start_service <binary> <product> <log name> [NAME=value...]
start_service() {
    local binary=$1 product=$2 log=$3
    shift 3
    env PRODUCT="$product" ALLOWED_PRODUCTS="$products" \
        KAFKA_BOOTSTRAP_SERVERS="$bootstrap" "$@" \
        "$build_dir/$binary" 2>"$run_dir/$log.log" &
    pids+=($!)
}

# Each product gets its own processes: one product per process, always.
# webhook-ingest listens on 8001, 8002, ...; api-gateway on 8011, 8012, ...;
# the consumers serve their /healthz, /readyz and /metrics: user-projector on
# 8021, 8022, ...; faq-indexer on 8031, ...; audit-writer on 8041, ...
index=0
for product in ${products//,/ }; do
    start_service services/webhook-ingest/webhook-ingest "$product" \
        "webhook-ingest-$product" HTTP_PORT=$((8001 + index)) \
        CLERK_WEBHOOK_SECRET_FILE="$(webhook_secret_file "$product")"
    start_service services/user-projector/user-projector "$product" \
        "user-projector-$product" HTTP_PORT=$((8021 + index)) \
        DATABASE_URL="$service_db_url"
    start_service services/faq-indexer/faq-indexer "$product" \
        "faq-indexer-$product" HTTP_PORT=$((8031 + index)) \
        DATABASE_URL="$service_db_url"
    start_service services/audit-writer/audit-writer "$product" \
        "audit-writer-$product" HTTP_PORT=$((8041 + index)) \
        DATABASE_URL="$service_db_url"
    start_service services/api-gateway/api-gateway "$product" \
        "api-gateway-$product" HTTP_PORT=$((8011 + index)) \
        DATABASE_URL="$service_db_url" \
        CLERK_JWT_KEY_FILE="$(jwt_public_key_file "$product")"
    printf -v "webhook_port_${product//-/_}" '%s' $((8001 + index))
    printf -v "projector_port_${product//-/_}" '%s' $((8021 + index))
    printf -v "indexer_port_${product//-/_}" '%s' $((8031 + index))
    printf -v "audit_port_${product//-/_}" '%s' $((8041 + index))
    printf -v "gateway_port_${product//-/_}" '%s' $((8011 + index))
    index=$((index + 1))
done
sleep 1
for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || {
        echo "run: a service did not start; see $run_dir/*.log" >&2
        exit 1
    }
done

# Sample FAQs for each product (the retrieval set under tests/data: its
# documents name their product, so each product gets only its own), through
# the log like any write: faq-indexer embeds them, audit-writer records them.
faq_set=$root/tests/data/faq/retrieval.json
for product in ${products//,/ }; do
    DATABASE_URL=$BS_PG_ADMIN_URL KAFKA_BOOTSTRAP_SERVERS=$bootstrap \
        ALLOWED_PRODUCTS=$products LOG_LEVEL=error \
        "$build_dir/tools/bsctl/bsctl" faq import --product "$product" \
        --file "$faq_set" 2>>"$run_dir/faq-import.log" || {
        echo "run: loading sample FAQs into $product failed; see $run_dir/faq-import.log" >&2
        exit 1
    }
done

first=${products%%,*}
first_port_var="webhook_port_${first//-/_}"
body=$root/tests/data/clerk/user_created.json
first_gateway_var="gateway_port_${first//-/_}"
# The Clerk user id of that webhook, for a session token of the same user.
test_user=$(grep -o '"id":"user_[A-Za-z0-9]*"' "$body" | head -n 1 | cut -d'"' -f4)

cat <<TXT

Bestays event services are running (Ctrl-C stops everything).

  PostgreSQL     $BS_PG_ADMIN_URL
                 (the owner; schema migrated, see $run_dir/migrate.log)
  services use   DATABASE_URL="$service_db_url"
  Kafka          KAFKA_BOOTSTRAP_SERVERS=$bootstrap   (devbroker)
  products       $products
  topics         <product>.users  <product>.faq  <product>.audit  <product>.dlq
TXT
for product in ${products//,/ }; do
    port_var="webhook_port_${product//-/_}"
    projector_var="projector_port_${product//-/_}"
    echo "  $product"
    echo "    webhook-ingest  http://127.0.0.1:${!port_var}/api/v1/webhooks/clerk" \
        "(secret: $run_dir/$product.webhook-secret)"
    gateway_var="gateway_port_${product//-/_}"
    echo "    api-gateway     http://127.0.0.1:${!gateway_var}/api/health" \
        "(token key: $run_dir/$product.jwt-public.pem)"
    echo "    user-projector  http://127.0.0.1:${!projector_var}/metrics"
    indexer_var="indexer_port_${product//-/_}"
    audit_var="audit_port_${product//-/_}"
    echo "    faq-indexer     http://127.0.0.1:${!indexer_var}/metrics"
    echo "    audit-writer    http://127.0.0.1:${!audit_var}/metrics"
done
cat <<TXT

Send a signed test webhook to $first:

  eval curl -sS --data-binary @$body \\
    \$(CLERK_WEBHOOK_SECRET_FILE=$run_dir/$first.webhook-secret LOG_LEVEL=error \\
      $build_dir/tools/bsctl/bsctl webhook sign --file $body) \\
    http://127.0.0.1:${!first_port_var}/api/v1/webhooks/clerk

and read the row user-projector wrote:

  psql "$BS_PG_ADMIN_URL" -c 'SELECT product, id, email, role FROM users'
  kcat -b $bootstrap -C -t $first.users -e -f '%k %h\\n'

then call $first's gateway as that user (a session token signed with the
development key; the other product's gateway refuses it) and search its FAQs:

  token=\$(LOG_LEVEL=error $build_dir/tools/bsctl/bsctl token sign \\
    --key $run_dir/$first.jwt-private.pem --sub $test_user)
  curl -sS -H "Authorization: Bearer \$token" http://127.0.0.1:${!first_gateway_var}/api/v1/users/me
  curl -sS 'http://127.0.0.1:${!first_gateway_var}/api/v1/faqs/search?q=are+pets+allowed&k=2'

(each product was loaded with its own sample FAQs; the same search on
another product's gateway, port 8012 and up, finds only that product's)

  logs           $run_dir/*.log

TXT
wait "${pids[@]}"
