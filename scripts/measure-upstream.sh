#!/usr/bin/env bash
# Messages and bytes per device-day that reach the hub in each upstream mode (issue 15): one
# simulated hour of boards/sim-factory-line.yaml (the demo board, with its planted spike at 2:00
# and bearing fault at 4:00) against LocalHub on 127.0.0.1, scaled to a day. Prints a Markdown
# table (README, "The two recipes") and fails if alerts-only lost the planted spike's alert or
# sent anything but alerts and heartbeats.
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(swift build --show-bin-path)
work=$(mktemp -d)
[[ -n ${KEEP:-} ]] && echo "work folder $work" >&2
hub_pid=
cleanup() {
    [[ -n $hub_pid ]] && kill "$hub_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    [[ -n ${KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT
device=factory-line-01
"$build/fieldagent" certs dev-pki --out "$work/pki" --devices "$device" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$build/localhub" serve --state-dir "$work/hub" --port "$port" --cert "$work/pki/server.pem" --key "$work/pki/server.key" \
    --log-level warning >"$work/hub.log" 2>&1 &
hub_pid=$!
for _ in $(seq 100); do [[ -S $work/hub/admin.sock ]] && break; sleep 0.1; done
"$build/localhub" device add "$device" --ca "$work/pki/root.pem" --state-dir "$work/hub" >/dev/null

log=$work/hub/telemetry/$device.jsonl
for mode in all alerts-only; do
    # LocalHub keeps the device's log open: take this run's lines rather than moving the file.
    before=0
    [[ -f $log ]] && before=$(wc -l <"$log")
    # One hour: 120 send periods of 30 s, as fast as the code runs (time scale 0).
    "$build/fieldagent" run --board boards/sim-factory-line.yaml --time-scale 0 --count 120 --send-frequency 30s \
        --upstream "$mode" --hub "127.0.0.1:$port" --expected-host-name localhost \
        --cert "$work/pki/$device.pem" --key "$work/pki/$device.key" --ca "$work/pki/ca-chain.pem" \
        --state-dir "$work/agent-$mode" --log-level notice --flush-timeout 60s >/dev/null 2>"$work/agent-$mode.log" \
        || { echo "fieldagent run ($mode) failed:" >&2; tail -20 "$work/agent-$mode.log" >&2; exit 1; }
    tail -n +$((before + 1)) "$log" >"$work/$mode.jsonl"
    # CAPTURE_DIR keeps what the hub received (firmware-interface/examples come from such a run).
    if [[ -n ${CAPTURE_DIR:-} ]]; then mkdir -p "$CAPTURE_DIR" && cp "$work/$mode.jsonl" "$CAPTURE_DIR/"; fi
done

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
rows, problems = [], []
for mode in ["all", "alerts-only"]:
    kinds = {}
    for line in open(f"{work}/{mode}.jsonl"):
        record = json.loads(line)
        body = json.loads(record["payload"])
        kind = "alert" if body.get("alert") == "spike" else body.get("messageType", "raw")
        count, size = kinds.get(kind, (0, 0))
        kinds[kind] = (count + 1, size + len(record["payload"].encode()))
    messages = sum(c for c, _ in kinds.values())
    size = sum(b for _, b in kinds.values())
    detail = ", ".join(f"{k} {c}" for k, (c, _) in sorted(kinds.items()))
    rows.append(f"| {mode} | {messages} ({detail}) | {size / 1024:.1f} KB | {messages * 24} | {size * 24 / 1024 / 1024:.2f} MB |")
    if mode == "alerts-only":
        if set(kinds) - {"alert", "heartbeat"}:
            problems.append(f"alerts-only sent {sorted(set(kinds) - {'alert', 'heartbeat'})}")
        if kinds.get("alert", (0, 0))[0] == 0:
            problems.append("alerts-only: the planted spike's alert did not arrive")
print("| upstream | messages in the simulated hour | payload bytes in the hour | messages per device-day | payload per device-day |")
print("| --- | --- | --- | --- | --- |")
print("\n".join(rows))
for problem in problems:
    print(f"FAIL {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
