#!/usr/bin/env bash
# Fleet benchmark (issue 5): 1,000 simulated devices against one LocalHub on this machine.
# Builds hub-fleet-bench in release mode and runs it; the hub runs as its child process so its
# peak RSS (VmHWM) is its own. Extra arguments go to the benchmark, e.g.
#   scripts/bench-fleet.sh --devices 1000 --seconds 20 --interval-ms 100
# The table it prints is the one in docs/localhub.md ("Fleet benchmark").
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product hub-fleet-bench >&2
if [ "$#" -eq 0 ]; then set -- --devices 1000 --seconds 20 --interval-ms 100; fi
echo "hub-fleet-bench $* on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)" >&2
exec .build/release/hub-fleet-bench "$@"
