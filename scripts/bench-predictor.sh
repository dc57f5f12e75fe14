#!/usr/bin/env bash
# Issue-7 predictor benchmark (docs/predictor.md, "Benchmark"): a release build of
# spike-predictor serving the committed model as its own process, `spike-predictor bench`
# against it with 1 and 4 clients (inference timed in the bench process), then SIGTERM: the
# server must exit 0 and remove its socket file. Prints markdown tables.
set -euo pipefail
cd "$(dirname "$0")/.."

swift build -c release --product spike-predictor 2>&1 | grep -E "error|warning: |Compiling spike|Build" || true
BIN=.build/release/spike-predictor
MODEL=${MODEL:-models/spike-gbt.v3.json}
DIR=$(mktemp -d)
SOCK="$DIR/predictor.sock"
"$BIN" serve --socket "$SOCK" --model "$MODEL" --log-level warning &
PID=$!
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DIR"' EXIT

for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || { echo "bench-predictor: the server did not create $SOCK" >&2; exit 1; }

echo "machine: $(nproc) cores, $(uname -m), $(uname -r)"
echo
"$BIN" bench --model "$MODEL" --socket "$SOCK"
echo
"$BIN" bench --model "$MODEL" --socket "$SOCK" --clients 4 --requests 40000 --samples 20000 | grep -E "^\| (measurement|---|round)|throughput"

kill -TERM "$PID"
if wait "$PID"; then rc=0; else rc=$?; fi
[ "$rc" -eq 0 ] || { echo "bench-predictor: the server exited $rc on SIGTERM, expected 0" >&2; exit 1; }
[ ! -e "$SOCK" ] || { echo "bench-predictor: the server left $SOCK behind after SIGTERM" >&2; exit 1; }
echo
echo "SIGTERM: server exited 0 and removed its socket"
