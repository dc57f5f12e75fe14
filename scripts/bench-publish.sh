#!/usr/bin/env bash
# Issue-3 publish benchmark: COUNT QoS 1 telemetry messages of ~SIZE bytes over mutual TLS to a
# local Mosquitto, mosquitto_pub (C, -M 1000, its max in-flight) and hub-bench (HubClient, window 20 and
# 1000) side by side on the same broker. Measures messages/s, CPU seconds per 10,000 messages and
# peak RSS with /usr/bin/time. No subscriber: mosquitto_pub only exits after every PUBACK, and
# hub-bench only after HubClient counted every acknowledgement, so acknowledged delivery is the
# measure. hub-bench is built with --static-swift-stdlib (see below); a row for the dynamically
# linked build is added. Needs mosquitto, mosquitto-clients and time (apt).
#
# usage: scripts/bench-publish.sh [COUNT] [SIZE]     (defaults 20000 150)
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${1:-20000}
SIZE=${2:-150}
DEVICE=bench-1
TIME=/usr/bin/time
for tool in /usr/sbin/mosquitto /usr/bin/mosquitto_pub "$TIME"; do
    [[ -x $tool ]] || { echo "bench-publish: $tool missing; apt-get install -y mosquitto mosquitto-clients time" >&2; exit 1; }
done

# Two builds: the Swift runtime and Foundation linked statically (how a device binary should ship:
# a dynamically linked Foundation alone maps ~17 MB RSS before main runs), in its own scratch
# path so it doesn't invalidate .build, and the default dynamic build for comparison.
swift build -c release --product hub-bench 2>&1 | grep -E "error|warning:" | grep -v "use of .mktemp" || true
DYNAMIC_BIN=$(swift build -c release --show-bin-path)/hub-bench
STATIC=(-c release --static-swift-stdlib --scratch-path .build-bench)
swift build "${STATIC[@]}" --product hub-bench 2>&1 | grep -E "error|warning:" | grep -v "use of .mktemp" || true
BIN=$(swift build "${STATIC[@]}" --show-bin-path)/hub-bench
for b in "$BIN" "$DYNAMIC_BIN"; do
    [[ -x $b ]] || { echo "bench-publish: $b was not built" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/fieldagent-bench.XXXXXX)
BROKER_PID=
cleanup() {
    if [[ -n $BROKER_PID ]]; then kill "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Dev PKI (root → intermediate → server + device leaves), the same generator the tests use.
"$BIN" --make-pki "$WORK/pki" --devices "$DEVICE" >/dev/null
CA=$WORK/pki/ca-chain.pem
SERVER_CERT=$WORK/pki/server.pem
SERVER_KEY=$WORK/pki/server.key
CERT=$WORK/pki/$DEVICE.pem
KEY=$WORK/pki/$DEVICE.key
for f in "$CA" "$SERVER_CERT" "$SERVER_KEY" "$CERT" "$KEY"; do
    [[ -f $f ]] || { echo "bench-publish: dev PKI did not produce $f; ls $WORK/pki:" >&2; ls "$WORK/pki" >&2; exit 1; }
done

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# Same settings as Tests/HubClientTests/MosquittoBroker.swift, minus log_type all (logging every
# PUBLISH would make the broker the bottleneck for both clients).
cat >"$WORK/acl" <<ACL
pattern write devices/%u/#
ACL
cat >"$WORK/mosquitto.conf" <<CONF
per_listener_settings true
persistence false
user root
log_dest file $WORK/mosquitto.log
log_type error
log_type warning
listener $PORT 127.0.0.1
cafile $CA
certfile $SERVER_CERT
keyfile $SERVER_KEY
tls_version tlsv1.2
require_certificate true
use_identity_as_username true
allow_anonymous false
acl_file $WORK/acl
CONF
/usr/sbin/mosquitto -c "$WORK/mosquitto.conf" >/dev/null 2>&1 &
BROKER_PID=$!
for _ in $(seq 100); do
    # A bare TCP probe; the broker logs it as "unexpected eof" (no TLS handshake), which is harmless.
    if (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then break; fi
    sleep 0.05
done
kill -0 "$BROKER_PID" 2>/dev/null || { echo "bench-publish: mosquitto did not start:" >&2; cat "$WORK/mosquitto.log" >&2; exit 1; }

# COUNT lines of exactly SIZE bytes of JSON (mosquitto_pub -l sends one message per line).
python3 - "$COUNT" "$SIZE" "$DEVICE" >"$WORK/lines.txt" <<'PY'
import sys
count, size, device = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for i in range(1, count + 1):
    head = '{"deviceId":"%s","seq":%d,"temperature":22.5,"pad":"' % (device, i)
    print(head + "x" * max(0, size - len(head) - 2) + '"}')
PY

# REPEATS measured runs (default 3; runs are short and the machine may be shared, so the table
# takes each column's median): prints "elapsed user sys maxrss_kb;..." per run.
REPEATS=${REPEATS:-3}
measure() {
    local name=$1 runs="" i; shift
    for i in $(seq "$REPEATS"); do
        "$TIME" -o "$WORK/$name.time" -f "%e %U %S %M" "$@" <"$WORK/lines.txt" >"$WORK/$name.out" 2>"$WORK/$name.err" \
            || { echo "bench-publish: $name failed:" >&2; cat "$WORK/$name.err" "$WORK/$name.out" >&2; exit 1; }
        runs+="$(tail -n 1 "$WORK/$name.time");"
    done
    echo "$runs"
}

RESULTS=()
mp=$(measure mosquitto_pub /usr/bin/mosquitto_pub -h 127.0.0.1 -p "$PORT" --cafile "$CA" --cert "$CERT" --key "$KEY" \
        -i "$DEVICE" -q 1 -M 1000 -t "devices/$DEVICE/messages/events/" -l)
RESULTS+=("mosquitto_pub (-M 1000)|$mp")
run_hub_bench() {  # NAME LABEL BINARY WINDOW
    local hb
    hb=$(measure "$1" "$3" --host 127.0.0.1 --port "$PORT" --cert "$CERT" --key "$KEY" --ca "$CA" \
            --device-id "$DEVICE" --count "$COUNT" --size "$SIZE" --window "$4")
    RESULTS+=("$2|$hb")
    echo "$2: $(cat "$WORK/$1.out")"
}
run_hub_bench hub-bench-20 "hub-bench (window 20)" "$BIN" 20
run_hub_bench hub-bench-1000 "hub-bench (window 1000)" "$BIN" 1000
run_hub_bench hub-bench-dynamic "hub-bench (window 1000, dynamic stdlib)" "$DYNAMIC_BIN" 1000
if [[ -s $WORK/mosquitto.log ]]; then echo "broker log:"; cat "$WORK/mosquitto.log"; fi

echo
echo "machine: $(nproc) cores, $(grep -m1 -E 'model name|Model' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(uname -r)"
echo "run: $COUNT QoS 1 messages of $SIZE bytes, mutual TLS 1.2, mosquitto $(/usr/sbin/mosquitto -h 2>/dev/null | head -1 | awk '{print $3}') on 127.0.0.1"
python3 - "$COUNT" "${RESULTS[@]}" <<'PY'
import sys
count = int(sys.argv[1])
rows = []
for entry in sys.argv[2:]:
    name, runs = entry.split("|")
    samples = [[float(x) for x in run.split()] for run in runs.split(";") if run.strip()]
    median = lambda column: sorted(s[column] for s in samples)[len(samples) // 2]
    cpu = sorted(s[1] + s[2] for s in samples)[len(samples) // 2]  # user + system
    rows.append((name, count / max(median(0), 1e-3), cpu * 10000 / count, median(3) / 1024))
base = rows[0]
print()
print("| tool | messages/s | CPU s / 10k msgs | peak RSS MB | throughput vs mosquitto_pub | CPU vs mosquitto_pub |")
print("|---|---:|---:|---:|---:|---:|")
for name, rate, cpu, rss in rows:
    print(f"| {name} | {rate:,.0f} | {cpu:.3f} | {rss:.1f} | {rate / base[1]:.2f}× | {cpu / base[2]:.2f}× |")
print()
print(f"medians of {len(samples)} runs each; targets: throughput ≥ 0.9× mosquitto_pub, CPU/message ≤ 1.5×, peak RSS ≤ 16 MB")
PY
