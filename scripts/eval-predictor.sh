#!/usr/bin/env bash
# Issue-7 evaluation (docs/predictor.md, "Evaluation"): the committed model and the fallback
# detector side by side on the held-out set: seeds 1001-1008 (training used 1-24, validation
# 101-106) with every kind, including noise bursts, which training never saw. Then the same
# seeds without noise bursts, to show what the unseen kind costs.
set -euo pipefail
cd "$(dirname "$0")/.."

CONFIG=${CONFIG:-release}
swift build -c "$CONFIG" --product spike-predictor 2>&1 | grep -E "error|warning: |Build" || true
BIN=.build/$CONFIG
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT

"$BIN/spike-predictor" export --out "$DIR/heldout.csv" --seeds 1001-1008 --hours 4 \
    --kinds spike,dip,drift,step,noise-burst
"$BIN/spike-predictor" evaluate --data "$DIR/heldout.csv" --model models/spike-forest.v1.json
echo
"$BIN/spike-predictor" export --out "$DIR/heldout-seen-kinds.csv" --seeds 1001-1008 --hours 4 \
    --kinds spike,dip,drift,step
"$BIN/spike-predictor" evaluate --data "$DIR/heldout-seen-kinds.csv" --model models/spike-forest.v1.json
