#!/usr/bin/env bash
# Real Apache Kafka (KRaft, one node) for CI and for testing by hand.
#
#   scripts/kafka.sh fetch             jars from Maven Central into the cache
#   scripts/kafka.sh start <statedir>  start a broker, create the topics,
#                                      print KAFKA_BOOTSTRAP_SERVERS=...
#   scripts/kafka.sh stop <statedir>   stop it and remove <statedir>
#   scripts/kafka.sh restart <statedir>
#                                      stop it (SIGTERM) and start it again
#                                      on the same ports with the same data
#                                      (outage tests: test_soak)
#   scripts/kafka.sh status <statedir> exit 0 when it runs, 1 when not
#
# The jars come from Maven (org.apache.kafka:kafka_2.13 and its runtime
# dependencies) into BS_KAFKA_CACHE, outside the repository; a cache that is
# already complete is used without the network. The broker is a combined
# broker+controller on 127.0.0.1 with two free ports, its data and log under
# <statedir>. Topics <product>.users|faq|audit|dlq are created with the admin
# tool for every product of ALLOWED_PRODUCTS (default bestays,realestate).
#
# Environment: BS_KAFKA_VERSION (default 3.9.1, see docs/brokers.md),
# BS_KAFKA_CACHE, BS_KAFKA_PARTITIONS (3), BS_KAFKA_START_TIMEOUT (60 s),
# ALLOWED_PRODUCTS. Needs java (17), mvn for fetch, kcat for the readiness
# check.
set -euo pipefail

version=${BS_KAFKA_VERSION:-3.9.1}
cache=${BS_KAFKA_CACHE:-${HOME:-/root}/.cache/bestays/kafka-$version}
partitions=${BS_KAFKA_PARTITIONS:-3}
start_timeout=${BS_KAFKA_START_TIMEOUT:-60}
products=${ALLOWED_PRODUCTS:-bestays,realestate}
kinds=(users faq audit dlq)

die() {
    echo "kafka.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# Kafka 3.x logs through slf4j + reload4j (log4j 1 API); 4.x through log4j2.
major_version() {
    echo "${version%%.*}"
}

logging_dependencies() {
    if [[ $(major_version) -ge 4 ]]; then
        cat <<XML
    <dependency><groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version>
    </dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId><version>2.24.3</version>
    </dependency>
XML
    else
        cat <<XML
    <dependency><groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId><version>1.7.36</version>
    </dependency>
XML
    fi
}

# A throwaway pom whose only job is to name what copy-dependencies fetches:
# the broker (kafka_2.13), the admin tools (TopicCommand) and a logging
# binding so the broker writes its log.
write_pom() {
    cat >"$1" <<XML
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.bestays</groupId>
  <artifactId>kafka-fetch</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId><version>$version</version>
    </dependency>
    <dependency><groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId><version>$version</version>
    </dependency>
$(logging_dependencies)
  </dependencies>
</project>
XML
}

cmd_fetch() {
    local work

    if [[ -f "$cache/.complete" ]]; then
        return 0
    fi
    command -v mvn >/dev/null ||
        die "mvn not found (scripts/install-deps.sh --kafka)"
    mkdir -p "$(dirname "$cache")"
    work=$(mktemp -d "$(dirname "$cache")/.fetch-$version.XXXXXX")
    write_pom "$work/pom.xml"
    echo "kafka.sh: fetching Kafka $version into $cache" >&2
    # Maven's output is shown only when it fails.
    if ! mvn -q -B -f "$work/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$work/jars" \
        >"$work/maven.log" 2>&1; then
        sed 's/\x1b\[[0-9;]*m//g' "$work/maven.log" >&2
        rm -rf "$work"
        die "maven could not fetch Kafka $version"
    fi

    # Publish the cache only when complete, so a broken fetch is retried.
    rm -rf "$cache"
    mv "$work/jars" "$cache"
    rm -rf "$work"
    touch "$cache/.complete"
}

# A loopback TCP port no socket uses now, below the kernel's ephemeral range
# (32768+) so that no outgoing connection grabs it before the broker binds.
free_port() {
    local port hex

    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 12000))
        hex=$(printf '%04X' "$port")
        if ! grep -q ":$hex " /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    die "no free port found"
}

java_options=(-Xms128m -Xmx512m -cp "$cache/*")

kafka_java() {
    java "${java_options[@]}" "$@"
}

write_server_properties() {
    local dir=$1 port=$2 controller_port=$3

    cat >"$dir/server.properties" <<PROPS
# Written by scripts/kafka.sh: one combined broker+controller, loopback only.
node.id=1
process.roles=broker,controller
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=$partitions
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=5
transaction.state.log.num.partitions=5
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
PROPS
}

write_logging_config() {
    local dir=$1

    cat >"$dir/log4j.properties" <<'PROPS'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
PROPS
    cat >"$dir/log4j2.properties" <<'PROPS'
rootLogger.level=INFO
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
logger.clients.name=org.apache.kafka.clients
logger.clients.level=WARN
PROPS
}

# Sets log_options: where java finds the logging configuration of <dir>.
set_log_options() {
    log_options=("-Dlog4j.configuration=file:$1/log4j.properties"
        "-Dlog4j2.configurationFile=$1/log4j2.properties")
}

format_storage() {
    local dir=$1 cluster_id

    cluster_id=$(kafka_java kafka.tools.StorageTool random-uuid 2>/dev/null |
        tail -n 1)
    [[ -n "$cluster_id" ]] || die "StorageTool random-uuid failed"
    kafka_java "${log_options[@]}" kafka.tools.StorageTool format \
        -t "$cluster_id" -c "$dir/server.properties" >>"$dir/kafka.log" 2>&1 ||
        die "formatting $dir/data failed; see $dir/kafka.log"
}

broker_alive() {
    local pid

    pid=$(cat "$1/kafka.pid" 2>/dev/null) || return 1
    kill -0 "$pid" 2>/dev/null
}

# Waits until the broker answers a metadata request. Returns 0 when it
# does, 1 when the broker exited, 2 after start_timeout.
wait_ready() {
    local dir=$1 bootstrap=$2 deadline=$((SECONDS + start_timeout))

    while ((SECONDS < deadline)); do
        broker_alive "$dir" || return 1
        if kcat -b "$bootstrap" -L -m 2 >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.5
    done
    return 2
}

create_topics() {
    local dir=$1 bootstrap=$2 product kind
    local -a product_list

    IFS=, read -r -a product_list <<<"$products"
    for product in "${product_list[@]}"; do
        for kind in "${kinds[@]}"; do
            kafka_java "${log_options[@]}" \
                org.apache.kafka.tools.TopicCommand \
                --bootstrap-server "$bootstrap" --create --if-not-exists \
                --topic "$product.$kind" --partitions "$partitions" \
                --replication-factor 1 >>"$dir/topics.log" 2>&1 ||
                die "creating $product.$kind failed; see $dir/topics.log"
        done
    done
}

# Prepares <dir> and starts the broker on two new ports; sets $bootstrap.
launch() {
    local dir=$1 port controller_port

    rm -rf "$dir/data" "$dir/kafka.log" "$dir/kafka.pid"
    mkdir -p "$dir/data"
    port=$(free_port)
    controller_port=$(free_port)
    while [[ "$controller_port" == "$port" ]]; do
        controller_port=$(free_port)
    done
    bootstrap=127.0.0.1:$port
    write_server_properties "$dir" "$port" "$controller_port"
    write_logging_config "$dir"
    set_log_options "$dir"
    format_storage "$dir"

    # A simple command, not a function: $! is then java's own pid.
    java "${java_options[@]}" "${log_options[@]}" kafka.Kafka \
        "$dir/server.properties" </dev/null >>"$dir/kafka.log" 2>&1 &
    echo $! >"$dir/kafka.pid"
}

cmd_start() {
    local dir=$1 bootstrap="" status=0

    [[ -f "$cache/.complete" ]] ||
        die "Kafka $version not fetched: run '$0 fetch'"
    if broker_alive "$dir"; then
        die "a broker already runs in $dir (pid $(cat "$dir/kafka.pid"))"
    fi
    if [[ -d "$dir" && ! -f "$dir/server.properties" ]] &&
        [[ -n "$(ls -A "$dir")" ]]; then
        die "$dir exists and is not a kafka.sh state directory"
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)

    # A broker that never became usable is stopped; its log stays.
    # shellcheck disable=SC2064 # expand $dir now
    trap "stop_process $(printf %q "$dir")" EXIT

    # Another process may take a port between our check and the bind:
    # then start again on new ports.
    for attempt in 1 2 3; do
        launch "$dir"
        status=0
        wait_ready "$dir" "$bootstrap" || status=$?
        if ((status == 1)) &&
            grep -q "Address already in use" "$dir/kafka.log"; then
            echo "kafka.sh: a port was taken (attempt $attempt); retrying" >&2
            continue
        fi
        break
    done
    case $status in
    1) die "the broker exited; last lines of $dir/kafka.log:
$(tail -n 20 "$dir/kafka.log")" ;;
    2) die "the broker did not answer within ${start_timeout}s;" \
        "see $dir/kafka.log" ;;
    esac

    create_topics "$dir" "$bootstrap"
    trap - EXIT

    echo "$bootstrap" >"$dir/bootstrap.tmp"
    mv "$dir/bootstrap.tmp" "$dir/bootstrap"
    echo "KAFKA_BOOTSTRAP_SERVERS=$bootstrap"
}

# SIGTERM (a controlled shutdown), then SIGKILL if it hangs.
stop_process() {
    local dir=$1 pid

    [[ -f "$dir/kafka.pid" ]] || return 0
    pid=$(cat "$dir/kafka.pid")
    if kill -TERM "$pid" 2>/dev/null; then
        for _ in $(seq 300); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "kafka.sh: broker $pid ignored SIGTERM; killing" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$dir/kafka.pid"
}

cmd_stop() {
    local dir=$1

    stop_process "$dir"

    # Remove only a directory this script made.
    if [[ -f "$dir/server.properties" || -f "$dir/kafka.pid" ]]; then
        rm -rf "$dir"
    fi
}

# Same server.properties, same data: the topics and their messages survive,
# and clients configured with the old bootstrap address reconnect.
cmd_restart() {
    local dir=$1 bootstrap status=0

    [[ -f "$dir/server.properties" && -f "$dir/bootstrap" ]] ||
        die "$dir is not a started kafka.sh state directory"
    dir=$(cd "$dir" && pwd)
    bootstrap=$(cat "$dir/bootstrap")
    stop_process "$dir"

    set_log_options "$dir"
    java "${java_options[@]}" "${log_options[@]}" kafka.Kafka \
        "$dir/server.properties" </dev/null >>"$dir/kafka.log" 2>&1 &
    echo $! >"$dir/kafka.pid"
    wait_ready "$dir" "$bootstrap" || status=$?
    case $status in
    1) die "the broker exited on restart; see $dir/kafka.log" ;;
    2) die "the restarted broker did not answer within ${start_timeout}s" ;;
    esac
    echo "KAFKA_BOOTSTRAP_SERVERS=$bootstrap"
}

cmd_status() {
    local dir=$1 bootstrap

    if broker_alive "$dir"; then
        bootstrap=$(cat "$dir/bootstrap" 2>/dev/null || echo -)
        echo "running pid=$(cat "$dir/kafka.pid") bootstrap=$bootstrap"
        return 0
    fi
    echo "not running"
    return 1
}

main() {
    local command=${1:-}

    case "$command" in
    fetch) cmd_fetch ;;
    start | stop | restart | status)
        [[ $# -eq 2 && -n "$2" ]] || usage
        "cmd_$command" "$2"
        ;;
    *) usage ;;
    esac
}

main "$@"
