#!/usr/bin/env bash
# The whole agent, measured: `fieldagent run` (release build) on the simulated factory line
# (boards/sim-factory-line.yaml), durable outbox on disk, QoS 1 over mutual TLS to a local
# Mosquitto, with mosquitto_pub on the same broker in the same run. Prints ONE table:
#
#   throughput      `run --time-scale 0 --count N`: messages/s from start to exit (every message
#                   committed to the outbox before it is sent, exit after the broker acknowledged
#                   all), CPU s per 10k messages, peak RSS; mosquitto_pub -M 1000 sending N lines
#                   of the agent's message size beside it
#                   The same with one sample per message (--send-frequency 2s, the board's
#                   sampling interval) beside mosquitto_pub sending as many lines
#   idle            the agent at real time (sampling every 2 s, sending every 30 s), connected and
#                   left alone for IDLE seconds: CPU % of one core, wake-ups/s (voluntary +
#                   involuntary context switches of every thread, /proc/PID/task/*/status, diffed
#                   over the window) and steady RSS (median of VmRSS samples)
#   backlog drain   N messages queued while the broker is down, then a start with the drain
#                   unthrottled (outbox.drain_rate at its maximum): messages/s until the broker
#                   acknowledged all, against mosquitto_pub's rate
#   alert latency   many planted temperature spikes at real time (a copy of the board sampling
#                   as fast as it can, a spike every 6 s): capture time (the alert's capturedAt) to
#                   arrival at a subscriber (mosquitto_sub's receive time stamp), p50/p95/p99, with
#                   the in-agent fallback detector (route hub) and with spike-predictor
#   binary sizes    fieldagent and spike-predictor as built
#
#   scripts/bench-agent.sh                 BENCH=full (default): the README's numbers, ~10 min
#   BENCH=quick scripts/bench-agent.sh     CI-sized: short counts, 60 s idle, ~3.5 min after the build
#
# FIELDAGENT=path / PREDICTOR=path use those binaries instead of building them (release, with the
# static Swift standard library as the device binary ships, in .build-static, the scratch path
# scripts/check-device-binary.sh builds in). Needs mosquitto, mosquitto-clients, time (apt) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH=${BENCH:-full}
case $BENCH in
    quick) COUNT=300; PER_SAMPLE=3000; IDLE=60; BACKLOG=500; SPIKES=4 ;;
    full) COUNT=3000; PER_SAMPLE=20000; IDLE=60; BACKLOG=3000; SPIKES=40 ;;
    *) echo "bench-agent: BENCH must be quick or full, not $BENCH" >&2; exit 2 ;;
esac
DEVICE=factory-line-01
TIME=/usr/bin/time
for tool in /usr/sbin/mosquitto /usr/bin/mosquitto_pub /usr/bin/mosquitto_sub "$TIME"; do
    [[ -x $tool ]] || { echo "bench-agent: $tool missing; apt-get install -y mosquitto mosquitto-clients time" >&2; exit 1; }
done

RELEASE=(-c release --static-swift-stdlib --scratch-path .build-static)
if [[ -z ${FIELDAGENT:-} || -z ${PREDICTOR:-} ]]; then
    swift build "${RELEASE[@]}" --product fieldagent 2>&1 | grep -E "error|warning:" || true
    swift build "${RELEASE[@]}" --product spike-predictor 2>&1 | grep -E "error|warning:" || true
    BIN_DIR=$(swift build "${RELEASE[@]}" --show-bin-path)
    FIELDAGENT=${FIELDAGENT:-$BIN_DIR/fieldagent}
    PREDICTOR=${PREDICTOR:-$BIN_DIR/spike-predictor}
fi
for b in "$FIELDAGENT" "$PREDICTOR"; do
    [[ -x $b ]] || { echo "bench-agent: $b was not built" >&2; exit 1; }
done

# The state folders go on the repository's file system (on disk; /tmp may be tmpfs).
STATE_ROOT=$(pwd)/.build-release/bench-agent
mkdir -p "$STATE_ROOT"
WORK=$(mktemp -d "$STATE_ROOT/run.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
started=$SECONDS

"$FIELDAGENT" certs dev-pki --out "$WORK/pki" --devices "$DEVICE,reader" >/dev/null
CA=$WORK/pki/ca-chain.pem
CERT=$WORK/pki/$DEVICE.pem
KEY=$WORK/pki/$DEVICE.key
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/acl" <<ACL
pattern write devices/%u/#
user reader
topic read #
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
certfile $WORK/pki/server.pem
keyfile $WORK/pki/server.key
tls_version tlsv1.2
require_certificate true
use_identity_as_username true
allow_anonymous false
acl_file $WORK/acl
CONF
BROKER=
start_broker() {
    /usr/sbin/mosquitto -c "$WORK/mosquitto.conf" >/dev/null 2>&1 &
    BROKER=$!
    PIDS+=("$BROKER")
    for _ in $(seq 100); do
        if (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then return; fi
        sleep 0.05
    done
    echo "bench-agent: mosquitto did not start:" >&2; cat "$WORK/mosquitto.log" >&2; exit 1
}
stop_broker() { kill "$BROKER" 2>/dev/null || true; wait "$BROKER" 2>/dev/null || true; }
start_broker

LINK=(--hub "127.0.0.1:$PORT" --expected-host-name localhost --cert "$CERT" --key "$KEY" --ca "$CA" --log-level warning)
BOARD=boards/sim-factory-line.yaml
timed() {  # NAME COMMAND…: runs it under time(1), prints "elapsed user sys maxrss_kb"
    local name=$1; shift
    "$TIME" -o "$WORK/$name.time" -f "%e %U %S %M" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || {
        echo "bench-agent: $name failed:" >&2; tail -20 "$WORK/$name.err" >&2; exit 1; }
    tail -n 1 "$WORK/$name.time"
}

# 1. Throughput, agent and mosquitto_pub (N lines of the agent's message size).
echo "throughput: $COUNT messages" >&2
agent_run=$(timed agent-run "$FIELDAGENT" run --board "$BOARD" --time-scale 0 --count "$COUNT" --route hub \
    --state-dir "$WORK/state-run" "${LINK[@]}")
# The same with one message per sample (the twin's sendFrequency at the board's 2 s sampling
# interval): what the sampler, outbox and link sustain when each message carries one sample.
echo "throughput, one sample per message: $PER_SAMPLE messages" >&2
per_sample_run=$(timed agent-per-sample "$FIELDAGENT" run --board "$BOARD" --time-scale 0 --count "$PER_SAMPLE" --route hub \
    --send-frequency 2s --state-dir "$WORK/state-per-sample" "${LINK[@]}")
SIZE=$("$FIELDAGENT" run --board "$BOARD" --time-scale 0 --count 1 --sink stdout --state-dir "$WORK/state-size" | head -1 | wc -c)
python3 - "$(( COUNT > PER_SAMPLE ? COUNT : PER_SAMPLE ))" "$SIZE" "$DEVICE" >"$WORK/lines.txt" <<'PY'
import sys
count, size, device = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for i in range(1, count + 1):
    head = '{"deviceId":"%s","seq":%d,"temperature":22.5,"pad":"' % (device, i)
    print(head + "x" * max(0, size - len(head) - 2) + '"}')
PY
mp_run=$(timed mosquitto_pub /usr/bin/mosquitto_pub -h 127.0.0.1 -p "$PORT" --cafile "$CA" --cert "$CERT" --key "$KEY" \
    -i "$DEVICE" -q 1 -M 1000 -t "devices/$DEVICE/messages/events/" -l < <(head -n "$COUNT" "$WORK/lines.txt"))
mp_per_sample_run=$(timed mosquitto_pub-per-sample /usr/bin/mosquitto_pub -h 127.0.0.1 -p "$PORT" --cafile "$CA" --cert "$CERT" --key "$KEY" \
    -i "$DEVICE" -q 1 -M 1000 -t "devices/$DEVICE/messages/events/" -l < <(head -n "$PER_SAMPLE" "$WORK/lines.txt"))

# 2. Idle at real time: connected, then IDLE seconds alone.
echo "idle: ${IDLE} s" >&2
"$FIELDAGENT" run --board "$BOARD" --route hub --state-dir "$WORK/state-idle" "${LINK[@]}" --log-level notice \
    >/dev/null 2>"$WORK/idle.log" &
IDLE_PID=$!
PIDS+=("$IDLE_PID")
for _ in $(seq 200); do grep -q "connected to the hub" "$WORK/idle.log" && break; sleep 0.05; done
grep -q "connected to the hub" "$WORK/idle.log" || { echo "bench-agent: the idle agent did not connect:" >&2; cat "$WORK/idle.log" >&2; exit 1; }
sleep 3  # past the twin exchange at connect
idle=$(python3 - "$IDLE_PID" "$IDLE" <<'PY'
import glob, os, sys, time
pid, window = int(sys.argv[1]), float(sys.argv[2])
tick = os.sysconf("SC_CLK_TCK")
def switches():
    total = 0
    for status in glob.glob(f"/proc/{pid}/task/*/status"):
        try:
            for line in open(status):
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total
def cpu():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
s0, c0, t0, samples = switches(), cpu(), time.monotonic(), []
while time.monotonic() - t0 < window:
    time.sleep(min(5, window / 4))
    samples.append(rss())
elapsed = time.monotonic() - t0
s1, c1 = switches(), cpu()
samples.sort()
print(f"{(s1 - s0) / elapsed:.2f} {(c1 - c0) / elapsed * 100:.3f} {samples[len(samples) // 2] / 1024:.1f}")
PY
)
kill "$IDLE_PID"; wait "$IDLE_PID" 2>/dev/null || true

# 3. Backlog drain: BACKLOG messages queued with the broker down, then one start unthrottled.
echo "backlog drain: $BACKLOG messages" >&2
stop_broker
"$FIELDAGENT" run --board "$BOARD" --time-scale 0 --count "$BACKLOG" --route hub --state-dir "$WORK/state-drain" \
    --flush-timeout 1s "${LINK[@]}" --log-level error >/dev/null 2>"$WORK/queue.err" || true
start_broker
drain_run=$(timed agent-drain "$FIELDAGENT" run --board "$BOARD" --time-scale 0 --count 1 --route hub --state-dir "$WORK/state-drain" \
    --drain-rate 100000 --drain-jitter 0s --flush-timeout 600s "${LINK[@]}")

# 4. Alert latency: a copy of the board sampling as fast as its chips allow (asked for every
# 100 ms; the ADXL345's FIFO collection makes a sample take ~0.65 s) with a 2 s spike every 6 s
# after the detector's warm-up (30 samples), at real time; capture → arrival at a subscriber.
latency() {  # NAME ROUTE [EXTRA FLAGS…]: prints the latencies in ms, one a line
    local name=$1 route=$2; shift 2
    local board=$WORK/spikes.yaml
    python3 - "$BOARD" "$SPIKES" >"$board" <<'PY'
import re, sys
text, spikes = open(sys.argv[1]).read(), int(sys.argv[2])
text = text.replace("interval: 2s", "interval: 100ms")
events = "".join(f"        - {{ kind: spike, at: {22 + 6 * i}s, duration: 2s, magnitude: 8 }}\n" for i in range(spikes))
text = re.sub(r"      events:\n(        - .*\n)+", "      events:\n" + events, text)
print(text)
PY
    /usr/bin/mosquitto_sub -h 127.0.0.1 -p "$PORT" --cafile "$CA" --cert "$WORK/pki/reader.pem" --key "$WORK/pki/reader.key" \
        -i "reader-$name" -q 1 -t "devices/$DEVICE/messages/events/#" -F '%U %p' >"$WORK/$name.sub" 2>/dev/null &
    local sub=$!
    PIDS+=("$sub")
    sleep 0.5
    "$FIELDAGENT" run --board "$board" --route "$route" --state-dir "$WORK/state-$name" "${LINK[@]}" "$@" \
        >/dev/null 2>"$WORK/$name.err" &
    local agent=$!
    PIDS+=("$agent")
    sleep $((22 + 6 * SPIKES + 2))
    kill "$agent"; wait "$agent" 2>/dev/null || true
    sleep 0.3
    kill "$sub"; wait "$sub" 2>/dev/null || true
    python3 - "$WORK/$name.sub" <<'PY'
import datetime, json, sys
for line in open(sys.argv[1]):
    stamp, _, payload = line.partition(" ")
    try:
        message = json.loads(payload)
    except ValueError:
        continue
    if message.get("alert") != "spike":
        continue
    captured = datetime.datetime.fromisoformat(message["capturedAt"].replace("Z", "+00:00")).timestamp()
    print(f"{(float(stamp) - captured) * 1000:.2f}")
PY
}
echo "alert latency: $SPIKES spikes, fallback" >&2
latency fallback hub >"$WORK/latency-fallback.txt"
echo "alert latency: $SPIKES spikes, spike-predictor" >&2
SOCKET=$WORK/predictor.sock
"$PREDICTOR" serve --socket "$SOCKET" --model models/spike-gbt.v3.json --log-level warning >/dev/null 2>"$WORK/spike-predictor.log" &
PIDS+=($!)
for _ in $(seq 100); do [[ -S $SOCKET ]] && break; sleep 0.05; done
latency predictor predictor --predictor-socket "$SOCKET" >"$WORK/latency-predictor.txt"
if grep -q "spike predictor unavailable" "$WORK/predictor.err"; then
    echo "bench-agent: the agent could not reach spike-predictor; its alerts came from the fallback:" >&2
    grep "spike predictor unavailable" "$WORK/predictor.err" >&2
fi

# 5. The table.
machine="$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(uname -r)"
python3 - "$BENCH" "$COUNT" "$BACKLOG" "$SIZE" "$IDLE" "$agent_run" "$mp_run" "$drain_run" "$idle" "$PER_SAMPLE" "$per_sample_run" "$mp_per_sample_run" \
    "$WORK/latency-fallback.txt" "$WORK/latency-predictor.txt" \
    "$(stat -c %s "$FIELDAGENT")" "$(stat -c %s "$PREDICTOR")" "$(stat -c %s /usr/bin/mosquitto_pub)" "$machine" <<'PY'
import datetime, sys
(bench, count, backlog, size, idle_window, agent, mp, drain, idle, per_sample_count, per_sample, mp_per_sample, fallback, predictor,
 size_agent, size_predictor, size_mp, machine) = sys.argv[1:]
count, backlog = int(count), int(backlog)
def run(text):
    elapsed, user, system, rss = (float(x) for x in text.split())
    return elapsed, user + system, rss / 1024
a_el, a_cpu, a_rss = run(agent)
m_el, m_cpu, m_rss = run(mp)
d_el, _, _ = run(drain)
p_el, p_cpu, p_rss = run(per_sample)
p_rate = int(per_sample_count) / p_el
mp_p_rate = int(per_sample_count) / run(mp_per_sample)[0]
wakeups, idle_cpu, steady = idle.split()
a_rate, m_rate, d_rate = count / a_el, count / m_el, backlog / d_el
def pct(path):
    values = sorted(float(line) for line in open(path) if line.strip())
    if not values:
        return "no alerts arrived"
    q = lambda p: values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]
    return f"{q(50):.1f} / {q(95):.1f} / {q(99):.1f} ms ({len(values)} alerts)"
mb = lambda b: f"{int(b) / 1e6:.1f} MB"
print()
print(f"{datetime.date.today()} · {machine} · BENCH={bench}: {count} messages of {size.strip()} bytes, QoS 1, mutual TLS 1.2, local Mosquitto, outbox on disk")
print()
print("| measure | fieldagent | mosquitto_pub -M 1000 | fieldagent vs mosquitto_pub |")
print("|---|---:|---:|---:|")
print(f"| throughput (`run --time-scale 0 --count {count}`), msg/s | {a_rate:,.0f} | {m_rate:,.0f} | {a_rate / m_rate:.2f}× |")
print(f"| throughput, one sample per message (`--send-frequency 2s --count {per_sample_count}`), msg/s | {p_rate:,.0f} | {mp_p_rate:,.0f} | {p_rate / mp_p_rate:.2f}× |")
print(f"| CPU s / 10k messages | {a_cpu * 10000 / count:.2f} | {m_cpu * 10000 / count:.2f} | {a_cpu / max(m_cpu, 1e-3):.1f}× |")
print(f"| peak RSS | {a_rss:.1f} MB | {m_rss:.1f} MB | |")
print(f"| steady RSS (idle, median VmRSS) | {steady} MB | | |")
print(f"| idle at real time, 2 s samples, 30 s sends ({idle_window} s): CPU | {idle_cpu} % of a core | | |")
print(f"| idle: wake-ups/s (context switches, all threads) | {wakeups} | | |")
print(f"| backlog drain ({backlog} queued, unthrottled), msg/s | {d_rate:,.0f} | {m_rate:,.0f} | {d_rate / m_rate:.2f}× |")
print(f"| alert latency capture → subscriber p50/p95/p99, fallback | {pct(fallback)} | | |")
print(f"| alert latency capture → subscriber p50/p95/p99, spike-predictor | {pct(predictor)} | | |")
print(f"| binary size | fieldagent {mb(size_agent)}, spike-predictor {mb(size_predictor)} | {mb(size_mp)} (+ libmosquitto) | |")
PY
echo "bench-agent: BENCH=$BENCH took $((SECONDS - started)) s (after the build)" >&2
