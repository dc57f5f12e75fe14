#!/usr/bin/env bash
# Counts how often an idle agent wakes up: LocalHub and `fieldagent run` on the simulated factory
# line (real time, 2 s samples, one message per 30 s), all on 127.0.0.1. Once the agent is
# connected it is left alone for DURATION seconds while `perf stat` counts its context switches
# (sched:sched_switch, every thread of the process) and `strace -c` its waiting system calls.
# Prints one summary line per tool, per second.
#
#   scripts/measure-idle-wakeups.sh [BIN] [DURATION]      (root, or perf_event_paranoid <= 1)
# BIN is the fieldagent to measure; localhub is taken from the same folder.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/debug/fieldagent}
localhub=$(dirname "$bin")/localhub
duration=${2:-20}
work=$(mktemp -d /tmp/fieldagent-idle.XXXXXX)
device=factory-line-01
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$bin" certs dev-pki --out "$work/pki" --devices "$device" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
hub=(--state-dir "$work/localhub")
"$localhub" serve "${hub[@]}" --port "$port" --cert "$work/pki/server.pem" --key "$work/pki/server.key" \
    --log-level warning >"$work/localhub.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -S $work/localhub/admin.sock ]] && break; sleep 0.1; done
"$localhub" device add "${hub[@]}" "$device" --ca "$work/pki/root.pem" >/dev/null

"$bin" run --board boards/sim-factory-line.yaml --route hub \
    --hub "127.0.0.1:$port" --expected-host-name localhost \
    --cert "$work/pki/$device.pem" --key "$work/pki/$device.key" --ca "$work/pki/ca-chain.pem" \
    --state-dir "$work/agent" --log-level notice 2>"$work/agent.log" >/dev/null &
agent=$!
pids+=($agent)
for _ in $(seq 100); do grep -q "connected to the hub" "$work/agent.log" && break; sleep 0.1; done
grep -q "connected to the hub" "$work/agent.log" || { echo "the agent did not connect:"; cat "$work/agent.log"; exit 1; }
sleep 3  # past the twin exchange at connect

threads=$(ls "/proc/$agent/task" | wc -l)
perf stat -e 'sched:sched_switch' -p "$agent" -o "$work/perf.txt" -- sleep "$duration" 2>/dev/null
switches=$(awk '/sched:sched_switch/ { gsub(",", "", $1); print $1 }' "$work/perf.txt")
timeout $((duration + 5)) strace -f -c -e trace=poll,ppoll,epoll_wait,epoll_pwait,nanosleep,clock_nanosleep,futex,select,pselect6 \
    -o "$work/strace.txt" -p "$agent" 2>/dev/null &
tracer=$!
sleep "$duration"
kill -INT "$tracer" 2>/dev/null || true
wait "$tracer" 2>/dev/null || true
# Columns: % time, seconds, usecs/call, calls, [errors,] syscall.
waits=$(awk '$NF == "total" { print $4 }' "$work/strace.txt")
echo "threads: $threads"
echo "perf sched:sched_switch: $switches in ${duration} s = $(python3 -c "print(round($switches / $duration, 1))")/s"
echo "strace waiting calls (poll, futex, nanosleep, …): $waits in ${duration} s = $(python3 -c "print(round(${waits:-0} / $duration, 1))")/s"
awk '/^ *[0-9]/ && $NF != "total" { print "  " $NF ": " $4 }' "$work/strace.txt" 
