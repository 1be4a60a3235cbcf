#!/bin/bash
# fuzz.sh [seconds per harness] [harness...]
#
# Builds the libFuzzer harnesses of tests/fuzz (clang-14, ASan + UBSan, in
# build-fuzz/ or $BS_FUZZ_BUILD_DIR; scripts/install-deps.sh --fuzz first)
# and, for each harness named (default: all of them):
#   1. replays tests/fuzz/regressions/<harness>/* (every crash ever found)
#      and the seed corpus tests/fuzz/corpus/<harness>/* once;
#   2. fuzzes for the given seconds (default 60) starting from a scratch
#      copy of the seed corpus, so the committed corpus never grows.
# Prints, per harness, the executions, executions per second and coverage
# (libFuzzer's "cov" edges and "ft" features). Exits 1 when any harness
# crashed, leaked, hung or broke an invariant; the crashing inputs are kept
# under <build>/fuzz-findings/<harness>/ (turn each into a regression:
# docs/fuzzing.md).
#
# Environment: BS_FUZZ_BUILD_DIR, BS_FUZZ_JOBS (build parallelism, default
# nproc), BS_FUZZ_ARGS (extra libFuzzer flags, e.g. "-jobs=4 -workers=4").
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BS_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
ALL_HARNESSES=(svix clerk_event avro_decode clerk_jwt gateway_input)
# Longest any single input may run before it counts as a hang, in seconds.
INPUT_TIMEOUT=10

seconds=${1:-60}
[[ $# -gt 0 ]] && shift
harnesses=("$@")
[[ ${#harnesses[@]} -eq 0 ]] && harnesses=("${ALL_HARNESSES[@]}")
if ! [[ $seconds =~ ^[0-9]+$ ]] || [[ $seconds -eq 0 ]]; then
    echo "usage: $0 [seconds per harness] [harness...]" >&2
    exit 2
fi
for h in "${harnesses[@]}"; do
    if [[ ! -f $ROOT/tests/fuzz/fuzz_$h.c ]]; then
        echo "fuzz.sh: no harness '$h' (have: ${ALL_HARNESSES[*]})" >&2
        exit 2
    fi
done

build() {
    "$ROOT/scripts/install-deps.sh" --fuzz
    if [[ ! -f $BUILD/CMakeCache.txt ]]; then
        CC=clang-14 cmake -S "$ROOT" -B "$BUILD" -DBS_FUZZ=ON \
            -DBS_SANITIZE=ON -DBS_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
            >/dev/null
    fi
    cmake --build "$BUILD" --target fuzz_all -j "${BS_FUZZ_JOBS:-$(nproc)}" \
        >/dev/null
}

# Runs libFuzzer once over every file given (no fuzzing): a crash fails.
replay() {
    local harness=$1 dir=$2 log=$3
    local files=()

    [[ -d $dir ]] || return 0
    mapfile -t files < <(find "$dir" -type f ! -name '.*' | sort)
    [[ ${#files[@]} -eq 0 ]] && return 0
    "$BUILD/tests/fuzz/fuzz_$harness" -timeout=$INPUT_TIMEOUT \
        -runs=1 "${files[@]}" >"$log" 2>&1
}

# "execs=... execs/s=... cov=... ft=..." from a libFuzzer log.
summarize() {
    local log=$1
    local execs rate status

    execs=$(sed -n 's/^stat::number_of_executed_units: //p' "$log" | tail -1)
    rate=$(sed -n "s/^stat::average_exec_per_sec: *//p" "$log" | tail -1)
    status=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
    printf 'execs=%s execs/s=%s cov=%s ft=%s corpus=%s\n' "${execs:-?}" \
        "${rate:-?}" \
        "$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")" \
        "$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")" \
        "$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$status")"
}

fuzz_one() {
    local harness=$1
    local scratch findings log
    local dict=()

    scratch=$(mktemp -d "${TMPDIR:-/tmp}/bs-fuzz-$harness.XXXXXX")
    findings=$BUILD/fuzz-findings/$harness
    mkdir -p "$scratch/corpus" "$findings"
    log=$scratch/log

    for set in regressions corpus; do
        if ! replay "$harness" "$ROOT/tests/fuzz/$set/$harness" "$log"; then
            echo "FAIL $harness: an input of tests/fuzz/$set/$harness crashes:"
            grep -E 'Running:|ERROR|invariant|SUMMARY' "$log" | tail -8
            rm -rf "$scratch"
            return 1
        fi
    done

    cp -r "$ROOT/tests/fuzz/corpus/$harness/." "$scratch/corpus/"
    # libFuzzer takes one dictionary: JSON tokens plus the harness's own.
    if [[ -f $ROOT/tests/fuzz/dict/$harness.dict ]]; then
        cat "$ROOT/tests/fuzz/dict/json.dict" \
            "$ROOT/tests/fuzz/dict/$harness.dict" >"$scratch/dict"
        dict=(-dict="$scratch/dict")
    fi
    # Word-split BS_FUZZ_ARGS on purpose: it holds several flags.
    # shellcheck disable=SC2086
    if (cd "$scratch" && "$BUILD/tests/fuzz/fuzz_$harness" \
        -max_total_time="$seconds" -timeout=$INPUT_TIMEOUT \
        -print_final_stats=1 -artifact_prefix="$findings/" "${dict[@]}" \
        ${BS_FUZZ_ARGS:-} corpus >"$log" 2>&1); then
        echo "ok   $harness: $(summarize "$log")"
        rm -rf "$scratch"
        return 0
    fi
    echo "FAIL $harness: $(summarize "$log")"
    grep -E 'ERROR|invariant|SUMMARY|Test unit written' "$log" | head -8
    cp "$log" "$findings/fuzz.log"
    echo "     log and inputs kept in $findings"
    rm -rf "$scratch"
    return 1
}

build
failed=0
for h in "${harnesses[@]}"; do
    fuzz_one "$h" || failed=1
done
exit $failed
