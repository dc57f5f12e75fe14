#!/usr/bin/env bash
# The demo, all on 127.0.0.1: LocalHub (FieldAgent's IoT Hub emulator, dev PKI made on first run),
# the spike predictor, and the agent on the simulated factory line (ten simulated seconds per wall
# second). Watch telemetry arrive at the hub, a send-period change from the twin (the Azure
# recipe's telemetryConfig.sendFrequency) take effect, direct methods answered, and the temperature spike planted at 2:00 become an alert at the hub
# while the board's alarm line goes high.
#
# The first command on a fresh Debian 12 or 13 machine with Swift installed (README, "Supported
# toolchains"): installs the Debian packages it needs, builds, then runs.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/packages.sh
source scripts/lib/packages.sh
install_packages "${demo_packages[@]}"
if ! command -v swift >/dev/null; then
    echo "demo: no swift on PATH; install Swift 6.3 from swift.org (README, \"Supported toolchains\")" >&2
    exit 1
fi

# One build for the three binaries the demo runs (fieldagent, localhub, spike-predictor) and the
# package's other executables; a compiler error stops the demo here with the compiler's message.
echo "== swift build"
swift build
build=$(swift build --show-bin-path)
bin=$build/fieldagent
localhub=$build/localhub
demo=${DEMO_DIR:-.demo}
mkdir -p "$demo"
device=factory-line-01
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

echo "== fieldagent doctor --board boards/sim-factory-line.yaml"
"$bin" doctor --board boards/sim-factory-line.yaml 2>/dev/null | tail -4
echo

if [[ ! -f $demo/pki/$device.pem ]]; then
    echo "== first run: dev PKI (root → intermediate → device + LocalHub server certificate) in $demo/pki"
    "$bin" certs dev-pki --out "$demo/pki" --devices "$device" | tail -3
    echo
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
hub=(--state-dir "$demo/localhub")

echo "== LocalHub on 127.0.0.1:$port"
"$localhub" serve "${hub[@]}" --port "$port" --cert "$demo/pki/server.pem" --key "$demo/pki/server.key" \
    --log-level warning >"$demo/localhub.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -S $demo/localhub/admin.sock ]] && break; sleep 0.1; done
"$localhub" device add "${hub[@]}" "$device" --ca "$demo/pki/root.pem" 2>/dev/null || true
# Start from the board's own settings each time the demo runs.
"$localhub" twin set "${hub[@]}" "$device" sendFrequency=null telemetryConfig=null route=null >/dev/null

echo "== spike-predictor on $demo/predictor.sock (model models/spike-gbt.v3.json)"
"$build/spike-predictor" serve --socket "$demo/predictor.sock" --model models/spike-gbt.v3.json >"$demo/predictor.log" 2>&1 &
pids+=($!)

echo "== localhub tail $device   (what arrives at the hub)"
"$localhub" tail "${hub[@]}" "$device" | python3 scripts/summarize-hub-tail.py &
pids+=($!)
sleep 0.5

echo "== fieldagent run: sim-factory-line → predictor → outbox → LocalHub (10 s of board time per second)"
rm -rf "$demo/agent"
"$bin" run --board boards/sim-factory-line.yaml --time-scale 10 --count 24 \
    --hub "127.0.0.1:$port" --expected-host-name localhost \
    --cert "$demo/pki/$device.pem" --key "$demo/pki/$device.key" --ca "$demo/pki/ca-chain.pem" \
    --state-dir "$demo/agent" --route predictor --predictor-socket "$demo/predictor.sock" \
    --log-level notice 2>"$demo/agent.log" >/dev/null &
agent=$!
pids+=($agent)
sleep 7

echo
echo "== localhub twin set $device 'telemetryConfig={\"sendFrequency\":\"10s\"}'   (the Azure recipe's path: applied live, acknowledged)"
"$localhub" twin set "${hub[@]}" "$device" 'telemetryConfig={"sendFrequency":"10s"}'
sleep 2
"$localhub" twin show "${hub[@]}" "$device" | python3 -c '
import json, sys
twin = json.load(sys.stdin)
reported = twin.get("reported", twin.get("properties", {}).get("reported", {}))
print("   reported telemetryConfig:", json.dumps(reported.get("telemetryConfig")))'
echo
sleep 6
echo "== localhub method $device getHealth   (after the 2:00 spike: alerts raised, alarm line high)"
"$localhub" method "${hub[@]}" "$device" getHealth | python3 -c '
import json, sys
text = sys.stdin.read()
start = text.find("{")
health = json.loads(text[start:]) if start >= 0 else {}
print("  ", text[:start].strip(), {k: health.get(k) for k in ["alerts", "alarm", "spikeDetection", "settings"]})'
echo "== localhub method $device reboot   (unknown method)"
"$localhub" method "${hub[@]}" "$device" reboot || true
echo
wait "$agent" || true
echo "== agent log (alerts and the alarm line)"
grep -E "spike on|alarm line|sendFrequency is now|telemetryConfig is now|predictor" "$demo/agent.log" | sed 's/^[^ ]* //' | head -12
