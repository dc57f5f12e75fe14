#!/usr/bin/env bash
# Steady resident memory of `fieldagent run` on the simulated factory line, connected to LocalHub
# on 127.0.0.1 (docs/device-binary.md keeps the results). Starts LocalHub (the debug build, built
# if missing), registers the device by a fresh dev PKI, runs BINARY for SECONDS (60 unless given),
# then prints VmRSS and VmHWM from /proc/PID/status, /proc/PID/smaps_rollup, and the mappings
# with the most resident memory.
#
#   scripts/measure-device-rss.sh BINARY [SECONDS]
#
# RUN_UNDER="valgrind --tool=callgrind …" runs the agent under that command instead (what
# scripts/make-order-file.sh does; the memory figures are then the wrapper's).
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 BINARY [SECONDS]" >&2; exit 2; }
binary=$(realpath -- "$1")
seconds=${2:-60}
cd "$(dirname "$0")/.."
localhub=.build/debug/localhub
[[ -x $localhub ]] || swift build --product localhub 2>&1 | grep -E "error" >&2 || true
device=factory-line-01
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$binary" certs dev-pki --out "$work/pki" --devices "$device" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
hub=(--state-dir "$work/localhub")
"$localhub" serve "${hub[@]}" --port "$port" --cert "$work/pki/server.pem" --key "$work/pki/server.key" \
    --log-level warning >"$work/localhub.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -S $work/localhub/admin.sock ]] && break; sleep 0.1; done
"$localhub" device add "${hub[@]}" "$device" --ca "$work/pki/root.pem" >/dev/null

# shellcheck disable=SC2086 # RUN_UNDER is a command line
${RUN_UNDER:-} "$binary" run --board boards/sim-factory-line.yaml \
    --hub "127.0.0.1:$port" --expected-host-name localhost \
    --cert "$work/pki/$device.pem" --key "$work/pki/$device.key" --ca "$work/pki/ca-chain.pem" \
    --state-dir "$work/agent" --log-level warning >/dev/null 2>"$work/agent.log" &
agent=$!
pids+=($agent)
sleep "$seconds"
kill -0 "$agent" 2>/dev/null || { cat "$work/agent.log" >&2; echo "the agent exited" >&2; exit 1; }
echo "after ${seconds} s: $(grep -E '^(VmRSS|VmHWM)' /proc/$agent/status | tr -s ' \t' ' ' | tr '\n' ' ')"
grep -E '^(Rss|Pss_Anon|Pss_File|Anonymous)' /proc/$agent/smaps_rollup | tr -s ' ' | tr '\n' ' '
echo
# Resident kB per mapping (file or [heap]/[stack]/anonymous), largest first.
awk '/^[0-9a-f]+-[0-9a-f]+ / { name = ($6 == "" ? "[anonymous]" : $6) }
     /^Rss:/ { rss[name] += $2 }
     END { for (n in rss) if (rss[n] > 0) printf "%8d kB  %s\n", rss[n], n }' /proc/$agent/smaps | sort -rn | head -12
echo "$(basename "$binary") by segment (permissions, size kB, resident kB):"
awk -v bin="$binary" '/^[0-9a-f]+-[0-9a-f]+ / { cur = (index($0, bin) ? $2 : "") }
     cur != "" && /^Size:/ { size = $2 } cur != "" && /^Rss:/ { printf "    %s %8d %8d\n", cur, size, $2 }' /proc/$agent/smaps
