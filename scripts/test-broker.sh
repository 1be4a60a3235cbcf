#!/usr/bin/env bash
# The CTest fixture `broker`: which broker the integration tests use.
#
#   scripts/test-broker.sh start <statedir> [devbroker-binary]
#   scripts/test-broker.sh stop <statedir>
#
# start: with KAFKA_BOOTSTRAP_SERVERS set, records that broker (real Kafka,
# started elsewhere, e.g. by scripts/kafka.sh); otherwise starts the
# devbroker in the background and waits for its bootstrap address. Either
# way it leaves in <statedir>:
#   bootstrap   the broker list, one line
#   kind        "kafka" or "devbroker"
#   pid         the devbroker's pid (devbroker only; its log: devbroker.log)
# stop: stops a devbroker this script started (SIGTERM, then SIGKILL after
# BS_DEVBROKER_STOP_TIMEOUT seconds) and removes <statedir>.
# Quiet on success; on failure one line on stderr and exit 1.
set -euo pipefail

start_timeout=${BS_DEVBROKER_START_TIMEOUT:-30}
stop_timeout=${BS_DEVBROKER_STOP_TIMEOUT:-15}

die() {
    echo "test-broker.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# Writes a file so that readers never see it half-written.
write_file() {
    printf '%s\n' "$2" >"$1.tmp"
    mv "$1.tmp" "$1"
}

start_devbroker() {
    local dir=$1 binary=$2 pid deadline=$((SECONDS + start_timeout))

    [[ -x "$binary" ]] || die "no devbroker binary at '$binary'"

    # Its output goes to a file: CTest waits for every holder of its pipes.
    "$binary" --bootstrap-file "$dir/bootstrap" \
        </dev/null >"$dir/devbroker.log" 2>&1 &
    pid=$!
    write_file "$dir/pid" "$pid"

    while [[ ! -s "$dir/bootstrap" ]]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            die "the devbroker exited; see $dir/devbroker.log:
$(tail -n 5 "$dir/devbroker.log")"
        fi
        if ((SECONDS >= deadline)); then
            kill -TERM "$pid" 2>/dev/null || true
            die "no bootstrap address after ${start_timeout}s;" \
                "see $dir/devbroker.log"
        fi
        sleep 0.1
    done
    write_file "$dir/kind" devbroker
}

cmd_start() {
    local dir=$1 binary=${2:-}

    # A previous run that was not stopped must not leave a broker behind.
    [[ -d "$dir" ]] && cmd_stop "$dir"
    mkdir -p "$dir"

    if [[ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
        write_file "$dir/bootstrap" "$KAFKA_BOOTSTRAP_SERVERS"
        write_file "$dir/kind" kafka
        return 0
    fi
    [[ -n "$binary" ]] ||
        die "KAFKA_BOOTSTRAP_SERVERS is unset and no devbroker binary given"
    start_devbroker "$dir" "$binary"
}

cmd_stop() {
    local dir=$1 pid

    if [[ -f "$dir/pid" ]]; then
        pid=$(cat "$dir/pid")
        if kill -TERM "$pid" 2>/dev/null; then
            for _ in $(seq $((stop_timeout * 10))); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            if kill -0 "$pid" 2>/dev/null; then
                echo "test-broker.sh: devbroker $pid ignored SIGTERM;" \
                    "killing it" >&2
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
    fi
    # Only what start wrote: the directory may be shared by mistake.
    rm -f "$dir/bootstrap" "$dir/kind" "$dir/pid" "$dir/devbroker.log" \
        "$dir"/*.tmp*
    rmdir "$dir" 2>/dev/null || true
}

main() {
    case "${1:-}" in
    start)
        [[ $# -ge 2 && $# -le 3 && -n "$2" ]] || usage
        cmd_start "$2" "${3:-}"
        ;;
    stop)
        [[ $# -eq 2 && -n "$2" ]] || usage
        cmd_stop "$2"
        ;;
    *) usage ;;
    esac
}

main "$@"
