#!/usr/bin/env bash
# Issue-16 evaluation (docs/predictor.md, "Evaluation against baselines"): the shipped model, the
# in-agent fallback, a rolling z-score and an isolation forest side by side on the held-out set,
# each baseline also re-thresholded to the model's alarm count. Held out: seeds 1001-1012 (training
# used 1-12, validation 101-106), every event kind, every field effect, three sample rates.
# MODEL=... to score another model file (JSON or ONNX).
set -euo pipefail
cd "$(dirname "$0")/.."

CONFIG=${CONFIG:-release}
MODEL=${MODEL:-models/spike-gbt.v3.json}
swift build -c "$CONFIG" --product spike-predictor 2>&1 | grep -E "error|warning: |Build" || true
BIN=.build/$CONFIG
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT

"$BIN/spike-predictor" export --out "$DIR/heldout.csv" --seeds 1001-1012 --hours 24 --interval 5,60,300 \
    --kinds spike,dip,drift,step,noise-burst --effects cycles,heavy-tail,stuck,quantised,missing
"$BIN/spike-predictor" evaluate --data "$DIR/heldout.csv" --model "$MODEL"
