#!/usr/bin/env bash
# Installs what building, running and testing need on Debian 12, and nothing
# when it is all there already (no apt-get update on a ready machine).
#
#   scripts/install-deps.sh          build + run + test dependencies
#   scripts/install-deps.sh --kafka  also Java 17 and Maven (real Apache Kafka)
#   scripts/install-deps.sh --fuzz   also clang 14 and its libFuzzer runtime
#                                    (scripts/fuzz.sh); flags combine
set -euo pipefail

packages=(
    build-essential cmake ninja-build pkg-config git
    librdkafka-dev libavro-dev libpq-dev libmicrohttpd-dev libjansson-dev
    libssl-dev libjwt-dev libutf8proc-dev libcunit1-dev libcurl4-openssl-dev
    postgresql-15 postgresql-client-15 kcat clang-format valgrind curl
    util-linux procps openssl
    # checks compose/docker-compose.yml without a container engine
    docker-compose
)
for flag in "$@"; do
    case "$flag" in
    --kafka) packages+=(openjdk-17-jre-headless maven) ;;
    # libclang-rt-14-dev holds libFuzzer and the sanitizer runtimes.
    --fuzz) packages+=(clang-14 libclang-rt-14-dev) ;;
    *)
        echo "usage: $0 [--kafka] [--fuzz]" >&2
        exit 2
        ;;
    esac
done

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
        grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
