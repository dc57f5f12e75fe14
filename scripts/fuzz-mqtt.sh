#!/usr/bin/env bash
# Fuzz the MQTT 3.1.1 decoder with libFuzzer + AddressSanitizer. The harness is compiled
# together with the pure MQTT sources, so no package build is involved. It runs on a scratch copy of the committed seed corpus (new inputs
# libFuzzer finds stay out of git) and exits non-zero on a crash, leaving the crashing input in
# .build-fuzz/artifacts/.
#
#   RUNS=1000000 scripts/fuzz-mqtt.sh          # default 1,000,000 executions
#   RUNS=-1 scripts/fuzz-mqtt.sh -max_total_time=600   # run for 10 minutes
# Extra arguments are passed to libFuzzer. ld.gold warnings about asan symbols are harmless.
set -euo pipefail
cd "$(dirname "$0")/.."

out=.build-fuzz
mkdir -p "$out/artifacts"
swiftc -sanitize=fuzzer,address -parse-as-library fuzz/MQTTDecoderFuzz.swift Sources/CloudLink/MQTT/*.swift \
    -o "$out/mqtt-fuzz"

corpus=$(mktemp -d "$out/corpus.XXXXXX")
trap 'rm -rf "$corpus"' EXIT
cp fuzz/corpus/mqtt-decoder/* "$corpus/"

status=0
"$out/mqtt-fuzz" -runs="${RUNS:-1000000}" -artifact_prefix="$out/artifacts/" -print_final_stats=1 \
    "$@" "$corpus" || status=$?
if [ "$status" -ne 0 ]; then
    echo "fuzz-mqtt: libFuzzer exited with $status (crash input in $out/artifacts/)" >&2
fi
exit "$status"
