#!/usr/bin/env bash
# Issue-6 outbox benchmark: durable enqueue throughput (batch 1, 10, 100), bytes on disk per
# message after a checkpoint, and drain rate (peek 100 + acknowledge), for SQLite synchronous =
# FULL and NORMAL in WAL mode, on a ~250-byte telemetry JSON body. Release build. Prints a
# Markdown table (docs/outbox.md records one).
#
# usage: scripts/bench-outbox.sh [COUNT] [SINGLE] [FOLDER]
#   COUNT   messages per batched run (default 20000)
#   SINGLE  messages for the one-commit-per-message run (default 2000)
#   FOLDER  where the databases go (default /var/tmp: a real disk, not a tmpfs)
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${1:-20000}
SINGLE=${2:-2000}
FOLDER=${3:-/var/tmp}

swift build -c release --product outbox-bench 2>&1 | grep -E "error|warning:" || true
BIN=$(swift build -c release --show-bin-path)/outbox-bench
[[ -x $BIN ]] || { echo "bench-outbox: $BIN was not built" >&2; exit 1; }

echo "filesystem: $(df -hT "$FOLDER" | awk 'NR==2 {print $2 " on " $1}')"
"$BIN" --count "$COUNT" --single "$SINGLE" --dir "$FOLDER"
