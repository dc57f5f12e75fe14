#!/usr/bin/env bash
# The demo: builds fieldagent, runs the doctor on the simulated factory line, then runs the agent
# for five simulated minutes (a minute of simulated time per wall second) printing telemetry:
# watch the temperature spike at 2:00 and the vibration RMS jump when the bearing fault starts at 4:00.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product fieldagent
bin=.build/debug/fieldagent

echo "== fieldagent doctor --board boards/sim-factory-line.yaml"
"$bin" doctor --board boards/sim-factory-line.yaml
echo
echo "== fieldagent doctor --board boards/sim-faulty.yaml   (three planted faults; exits 2)"
"$bin" doctor --board boards/sim-faulty.yaml 2>/dev/null || echo "(exit code $?)"
echo
echo "== fieldagent run --board boards/sim-factory-line.yaml --sink stdout --time-scale 60 --count 10"
"$bin" run --board boards/sim-factory-line.yaml --sink stdout --time-scale 60 --count 10 \
  | python3 scripts/summarize-telemetry.py
