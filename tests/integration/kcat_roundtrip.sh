#!/usr/bin/env bash
# kcat, a client that shares nothing with our code but librdkafka, produces a
# message with a product header to whichever broker the fixture started and
# reads it back: the devbroker (and real Kafka) speak the protocol to tools.
set -euo pipefail
state=${BS_TEST_STATE_DIR:?}/broker
bootstrap=$(cat "$state/bootstrap")
marker="kcat-$(date +%s%N)-$$"
topic=bestays.users

printf '%s\n' "$marker" |
    kcat -b "$bootstrap" -P -t "$topic" -k "$marker" -H product=bestays

# Read every partition to its end; the marker must come back with its header.
# Other tests leave binary Avro records in the topic: grep -a reads on.
found=$(kcat -b "$bootstrap" -C -t "$topic" -o beginning -e -q \
    -f 'key=%k headers=%h value=%s\n' | grep -aF "key=$marker" || true)
echo "kcat read: ${found:-nothing}"
[[ "$found" == *"headers=product=bestays"* && "$found" == *"value=$marker"* ]] || {
    echo "FAIL: kcat did not read back the message it produced" >&2
    exit 1
}
echo "kcat round trip: ok"
