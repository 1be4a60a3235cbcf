#!/usr/bin/env bash
# check-compose.sh <build dir> - validates compose/ without a container engine.
#
#  1. docker-compose (Debian's) renders the file with the example
#     environment files and empty secret files: it refuses references to
#     undefined services, volumes, networks or secrets, and ${VAR:?} names
#     that the examples do not define; any "variable is not set" warning
#     fails the check too.
#  2. Every service that runs one of our binaries (named <product>-<binary>,
#     or migrate = bsctl) sets only variables that binary accepts (its
#     --help lists them; NAME_FILE counts as NAME), sets every variable the
#     binary marks [required], and sets PRODUCT to the product its name says.
#  3. Only the gateways and webhook ingesters publish ports.
set -euo pipefail

build=${1:?usage: check-compose.sh <build dir>}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

fail() {
    echo "check-compose: $*" >&2
    failures=$((failures + 1))
}

binary_path() {
    case $1 in
    bsctl) echo "$build/tools/bsctl/bsctl" ;;
    *) echo "$build/services/$1/$1" ;;
    esac
}

# Render with the examples standing in for the real (uncommitted) files.
cp -r "$root/compose/." "$work/"
for example in "$work"/.env.example "$work"/*.env.example; do
    cp "$example" "${example%.example}"
done
for secret in bestays-clerk-webhook-secret realestate-clerk-webhook-secret \
    bestays-clerk-jwt.pem realestate-clerk-jwt.pem; do
    : >"$work/secrets/$secret"
done
if ! (cd "$work" && docker-compose -f docker-compose.yml config \
    >rendered.yml 2>render.err); then
    cat "$work/render.err" >&2
    echo "check-compose: docker-compose config refused the file" >&2
    exit 1
fi
if grep -i "warn" "$work/render.err" >&2; then
    fail "docker-compose config warned (see above)"
fi

# Prints "service KEY" for every environment entry, and "service -port" for
# a service that publishes ports, from the rendered (normalized) YAML.
awk '
    /^services:/ { in_services = 1; next }
    /^[^ ]/ { in_services = 0 }
    !in_services { next }
    /^  [^ ]/ { service = $1; sub(/:$/, "", service); section = ""; next }
    /^    [^ ]/ { section = $1; sub(/:$/, "", section);
                  if (section == "ports") print service, "-port"; next }
    section == "environment" && /^      [^ -]/ {
        key = $1; sub(/:$/, "", key); print service, key }
' "$work/rendered.yml" >"$work/env.txt"

services=$(awk '{print $1}' "$work/env.txt" | sort -u)
checked=0
for service in $services; do
    case $service in
    migrate) binary=bsctl product= ;;
    bestays-* | realestate-*) binary=${service#*-} product=${service%%-*} ;;
    *) continue ;;
    esac
    exe=$(binary_path "$binary")
    [[ -x $exe ]] || {
        fail "$service: $exe is not built"
        continue
    }
    accepted=$("$exe" --help | awk '/^  [A-Z][A-Z0-9_]* /{print $1}')
    required=$("$exe" --help | awk '/^  [A-Z][A-Z0-9_]* .*\[required\]/{print $1}')
    keys=$(awk -v s="$service" '$1 == s && $2 != "-port" {print $2}' "$work/env.txt")
    for key in $keys; do
        name=${key%_FILE}
        grep -qx "$name" <<<"$accepted" ||
            fail "$service sets $key, which $binary does not read"
    done
    for name in $required; do
        grep -qx -e "$name" -e "${name}_FILE" <<<"$keys" ||
            fail "$service does not set $name, which $binary requires"
    done
    if [[ -n $product ]]; then
        value=$(awk -v s="  $service:" '
            $0 == s { on = 1; next } on && /^  [^ ]/ { on = 0 }
            on && /^      PRODUCT:/ { print $2 }' "$work/rendered.yml")
        [[ $value == "$product" ]] ||
            fail "$service runs with PRODUCT=$value, not $product"
    fi
    if grep -qx "$service -port" "$work/env.txt"; then
        case $binary in
        api-gateway | webhook-ingest) ;;
        *) fail "$service publishes a port; only gateways and webhook ingesters may" ;;
        esac
    fi
    checked=$((checked + 1))
done
for infra in postgres kafka kafka-topics; do
    grep -qx "$infra -port" "$work/env.txt" &&
        fail "$infra publishes a port; it must stay on the internal network"
done

echo "check-compose: $checked services checked against their --help," \
    "$failures problem(s)"
((failures == 0))
