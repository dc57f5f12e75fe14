#!/usr/bin/env bash
# The LeakSanitizer leg of the soak (issue 19, item 5; docs/soak.md): `fieldagent run` built with
# AddressSanitizer (debug, its own scratch path .build-asan) on the simulated factory line at 60x
# against LocalHub on 127.0.0.1 for LEAK_MINUTES wall-clock minutes, the hub stopped for 10 s at a
# third of the way (reconnect, backlog), then SIGTERM. Fails on any LeakSanitizer report, on an
# AddressSanitizer error, or when the agent does not stop cleanly.
#
#   scripts/leak-check.sh                  CI form: 2 minutes
#   LEAK_MINUTES=60 scripts/leak-check.sh  full form: one hour
#
# Leaks are read at exit (ASAN_OPTIONS detect_leaks=1), so the agent must return from main:
# SIGTERM is its ordinary stop (flush, close the outbox, exit 0). One suppression, explained in
# scripts/leak-check.supp: the Swift runtime's weak-reference side tables of objects alive at exit.
# SKIP_BUILD=1 uses the binaries already built.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${LEAK_MINUTES:-2}
work=${LEAK_DIR:-.build-asan/leak-check}

say() { echo "leak-check: $*"; }
if [[ -z ${SKIP_BUILD:-} ]]; then
    say "building fieldagent with -sanitize=address (.build-asan) and localhub (.build)"
    swift build --product fieldagent --scratch-path .build-asan --sanitize address
    swift build --product localhub
fi
agent=.build-asan/debug/fieldagent
localhub=.build/debug/localhub

rm -rf "$work"
mkdir -p "$work"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export LSAN_OPTIONS="report_objects=1:suppressions=$PWD/scripts/leak-check.supp:print_suppressions=1"
device=factory-line-01
# The certificates come from the sanitized binary too: its leaks count.
"$agent" certs dev-pki --out "$work/pki" --devices "$device" >"$work/pki.log" 2>&1 || { cat "$work/pki.log"; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
hub=(--state-dir "$work/localhub")
start_hub() {
    "$localhub" serve "${hub[@]}" --port "$port" --cert "$work/pki/server.pem" --key "$work/pki/server.key" \
        --log-level warning >>"$work/localhub.log" 2>&1 &
    hub_pid=$!
    pids+=("$hub_pid")
    for _ in $(seq 100); do [[ -S $work/localhub/admin.sock ]] && break; sleep 0.1; done
}
start_hub
"$localhub" device add "${hub[@]}" "$device" --ca "$work/pki/root.pem" >/dev/null

say "fieldagent run (ASan) on boards/sim-factory-line.yaml at 60x for $minutes min"
"$agent" run --board boards/sim-factory-line.yaml --time-scale 60 \
    --hub "127.0.0.1:$port" --expected-host-name localhost \
    --cert "$work/pki/$device.pem" --key "$work/pki/$device.key" --ca "$work/pki/ca-chain.pem" \
    --state-dir "$work/agent" --log-level notice --flush-timeout 30s >/dev/null 2>"$work/agent.log" &
agent_pid=$!
pids+=("$agent_pid")

total=$((minutes * 60))
sleep $((total / 3))
say "hub down for 10 s"
kill "$hub_pid"; wait "$hub_pid" 2>/dev/null || true
sleep 10
start_hub
sleep $((total - total / 3 - 10))
kill -0 "$agent_pid" 2>/dev/null || { say "the agent stopped by itself"; tail -30 "$work/agent.log"; exit 1; }
rss=$(awk '/VmRSS/ {print $2}' "/proc/$agent_pid/status")
say "SIGTERM (RSS $rss KB)"
kill -TERM "$agent_pid"
status=0
wait "$agent_pid" || status=$?
sent=$(cat "$work/localhub/telemetry/$device".jsonl* 2>/dev/null | grep -c . || true)

if grep -q "LeakSanitizer" "$work/agent.log" "$work/pki.log"; then
    say "LeakSanitizer reported leaks:"
    grep -h -A40 "ERROR: LeakSanitizer" "$work/agent.log" "$work/pki.log" | head -120
    exit 1
fi
if grep -q "ERROR: AddressSanitizer" "$work/agent.log"; then
    grep -A40 "ERROR: AddressSanitizer" "$work/agent.log" | head -80
    exit 1
fi
if [[ $status -ne 0 ]]; then
    say "the agent exited $status after SIGTERM"; tail -30 "$work/agent.log"; exit 1
fi
say "no leak reported after $minutes min (exit $status, hub messages: $sent, log $work/agent.log)"
