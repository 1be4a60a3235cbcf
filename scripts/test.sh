#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test
# (unit and integration) through CTest, printing CTest's summary.
#
#   scripts/test.sh [extra ctest arguments, e.g. -L unit or -R codec]
#
# Integration tests start their own throwaway PostgreSQL cluster and use the
# broker named by KAFKA_BOOTSTRAP_SERVERS, or start the devbroker when it is
# unset. BUILD_DIR (default: build) and CMAKE_ARGS select the build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}

"$root/scripts/install-deps.sh"

# shellcheck disable=SC2086 # CMAKE_ARGS is a list of words on purpose
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build_dir"

echo "test: broker ${KAFKA_BOOTSTRAP_SERVERS:+Apache Kafka at $KAFKA_BOOTSTRAP_SERVERS}${KAFKA_BOOTSTRAP_SERVERS:-devbroker}" >&2
ctest --test-dir "$build_dir" --output-on-failure "$@"
