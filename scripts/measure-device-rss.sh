#!/usr/bin/env bash
# Steady resident memory of `fieldagent run` on the simulated factory line, connected to LocalHub
# on 127.0.0.1 (docs/device-binary.md keeps the results). Starts LocalHub (the debug build, built
# if missing), registers the device by a fresh dev PKI, runs BINARY for SECONDS (60 unless given),
# then prints VmRSS and VmHWM from /proc/PID/status, /proc/PID/smaps_rollup, and the mappings
# with the most resident memory. Beside it runs the smallest client of the same kind as a
# reference: mosquitto_sub (C, libmosquitto over the same OpenSSL) connected over mutual TLS to the
# same hub as a second device and left idle, so the run also says what the C libraries alone keep
# resident (skipped when mosquitto_sub is missing or RUN_UNDER is set).
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

reference=rss-reference
"$binary" certs dev-pki --out "$work/pki" --devices "$device,$reference" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
hub=(--state-dir "$work/localhub")
"$localhub" serve "${hub[@]}" --port "$port" --cert "$work/pki/server.pem" --key "$work/pki/server.key" \
    --log-level warning >"$work/localhub.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -S $work/localhub/admin.sock ]] && break; sleep 0.1; done
"$localhub" device add "${hub[@]}" "$device" --ca "$work/pki/root.pem" >/dev/null
"$localhub" device add "${hub[@]}" "$reference" --ca "$work/pki/root.pem" >/dev/null

# shellcheck disable=SC2086 # RUN_UNDER is a command line
${RUN_UNDER:-} "$binary" run --board boards/sim-factory-line.yaml \
    --hub "127.0.0.1:$port" --expected-host-name localhost \
    --cert "$work/pki/$device.pem" --key "$work/pki/$device.key" --ca "$work/pki/ca-chain.pem" \
    --state-dir "$work/agent" --log-level warning >/dev/null 2>"$work/agent.log" &
agent=$!
pids+=($agent)
sub=
if [[ -z ${RUN_UNDER:-} ]] && command -v mosquitto_sub >/dev/null; then
    mosquitto_sub -h localhost -p "$port" -V mqttv311 -q 1 -i "$reference" \
        -u "localhost/$reference/?api-version=2021-04-12" --cafile "$work/pki/ca-chain.pem" \
        --cert "$work/pki/$reference.pem" --key "$work/pki/$reference.key" \
        -t "devices/$reference/messages/devicebound/#" >/dev/null 2>"$work/sub.log" &
    sub=$!
    pids+=($sub)
fi
sleep "$seconds"
kill -0 "$agent" 2>/dev/null || { cat "$work/agent.log" >&2; echo "the agent exited" >&2; exit 1; }
echo "after ${seconds} s: $(grep -E '^(VmRSS|VmHWM)' /proc/$agent/status | tr -s ' \t' ' ' | tr '\n' ' ')"
grep -E '^(Rss|Pss_Anon|Pss_File|Anonymous)' /proc/$agent/smaps_rollup | tr -s ' ' | tr '\n' ' '
echo
# Resident kB per mapping (file or [heap]/[stack]/anonymous) of process $1, the $2 largest.
mappings() {
    awk '/^[0-9a-f]+-[0-9a-f]+ / { name = ($6 == "" ? "[anonymous]" : $6) }
         /^Rss:/ { rss[name] += $2 }
         END { for (n in rss) if (rss[n] > 0) printf "%8d kB  %s\n", rss[n], n }' "/proc/$1/smaps" | sort -rn | head -"$2"
}
mappings "$agent" 12
echo "$(basename "$binary") by segment (permissions, size kB, resident kB):"
awk -v bin="$binary" '/^[0-9a-f]+-[0-9a-f]+ / { cur = (index($0, bin) ? $2 : "") }
     cur != "" && /^Size:/ { size = $2 } cur != "" && /^Rss:/ { printf "    %s %8d %8d\n", cur, size, $2 }' /proc/$agent/smaps
if [[ -n $sub ]]; then
    if kill -0 "$sub" 2>/dev/null; then
        echo "reference, mosquitto_sub $(mosquitto_sub --help | sed -n 's/^mosquitto_sub version \([^ ]*\).*/\1/p') on the same hub, idle: $(grep -E '^VmRSS' /proc/$sub/status | tr -s ' \t' ' ')"
        mappings "$sub" 6
    else
        echo "reference mosquitto_sub exited: $(cat "$work/sub.log")"
    fi
fi
