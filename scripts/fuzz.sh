#!/usr/bin/env bash
# libFuzzer + AddressSanitizer harnesses for every parser that takes outside input (fuzz/*.swift).
# Each harness is compiled together with the pure sources it exercises into one module (project
# `import`s of those modules are stripped from a scratch copy), so no package build is involved.
# A harness runs on a scratch copy of its committed seed corpus fuzz/corpus/<name>/ (new inputs
# libFuzzer finds stay out of git) and the script exits non-zero on a crash, leaving the crashing
# input in .build-fuzz/artifacts/<name>/.
#
#   scripts/fuzz.sh list                                 # the harness names
#   scripts/fuzz.sh all                                  # every harness, RUNS executions each
#   RUNS=1000000 scripts/fuzz.sh json                    # default 1,000,000 executions
#   RUNS=-1 scripts/fuzz.sh yaml -max_total_time=600     # run for 10 minutes
#   OPT=-Onone scripts/fuzz.sh all                       # build unoptimised: builds in a third of
#                                                        # the time, runs several times slower (CI)
# Extra arguments are passed to libFuzzer. ld.gold warnings about asan symbols are harmless
# (compiler output goes to .build-fuzz/<name>.log).
set -euo pipefail
cd "$(dirname "$0")/.."

out=.build-fuzz
MQTT=(Sources/CloudLink/MQTT/*.swift)
IOTHUB=(Sources/CloudLink/IoTHub/*.swift "${MQTT[@]}" Sources/Common/DeviceID/*.swift)
JSON=(Sources/Common/JSON/*.swift)

# name: harness file and the sources it is compiled with.
sources() {
    case "$1" in
    mqtt-decoder)       echo fuzz/MQTTDecoderFuzz.swift "${MQTT[@]}" ;;
    iothub-topic)       echo fuzz/IoTHubTopicFuzz.swift "${IOTHUB[@]}" ;;
    iothub-property-bag) echo fuzz/IoTHubPropertyBagFuzz.swift "${IOTHUB[@]}" ;;
    json)               echo fuzz/JSONFuzz.swift "${JSON[@]}" ;;
    twin-patch)         echo fuzz/TwinPatchFuzz.swift "${JSON[@]}" "${IOTHUB[@]}" ;;
    duration)           echo fuzz/DurationFuzz.swift Sources/Agent/Configuration/DurationText.swift ;;
    yaml)               echo fuzz/YAMLFuzz.swift Sources/Common/YAML/*.swift ;;
    hub-session)        echo fuzz/HubSessionFuzz.swift Sources/Tools/LocalHub/HubSession.swift "${IOTHUB[@]}" ;;
    predictor-wire)     echo fuzz/PredictorWireFuzz.swift Sources/Predictor/Predictor/PredictorWire.swift \
                            Sources/Predictor/Predictor/PredictorSample.swift "${JSON[@]}" ;;
    *) echo "fuzz: unknown harness '$1' (try: scripts/fuzz.sh list)" >&2; return 64 ;;
    esac
}
HARNESSES=(mqtt-decoder iothub-topic iothub-property-bag json twin-patch duration yaml predictor-wire hub-session)

build() {
    local name=$1 src=$out/src/$1
    rm -rf "$src"; mkdir -p "$src"
    local files
    files=$(sources "$name")
    for f in $files; do
        sed -E '/^(public |internal |@_exported )?import (JSON|MQTT|DeviceID|YAML|IoTHub)$/d' "$f" > "$src/$(basename "$f")"
    done
    swiftc "${OPT:--O}" -sanitize=fuzzer,address -parse-as-library -I Sources/Common/CYAML -lyaml \
        "$src"/*.swift -o "$out/$name-fuzz" > "$out/$name.log" 2>&1 || { cat "$out/$name.log" >&2; return 1; }
}

run() {
    local name=$1; shift
    build "$name" || return 1
    mkdir -p "$out/artifacts/$name"
    local corpus status=0
    corpus=$(mktemp -d "$out/corpus.XXXXXX")
    cp fuzz/corpus/"$name"/* "$corpus/" || { rm -rf "$corpus"; return 1; }
    "$out/$name-fuzz" -runs="${RUNS:-1000000}" -artifact_prefix="$out/artifacts/$name/" -print_final_stats=1 \
        "$@" "$corpus" || status=$?
    rm -rf "$corpus"
    if [ "$status" -ne 0 ]; then
        echo "fuzz: $name: libFuzzer exited with $status (crash input in $out/artifacts/$name/)" >&2
    fi
    return "$status"
}

mkdir -p "$out"
target=${1:-all}; shift || true
case "$target" in
list) printf '%s\n' "${HARNESSES[@]}" ;;
all)
    failed=()
    for name in "${HARNESSES[@]}"; do
        echo "== fuzz $name"
        run "$name" "$@" || failed+=("$name")
    done
    if [ "${#failed[@]}" -ne 0 ]; then echo "fuzz: crashes in: ${failed[*]}" >&2; exit 1; fi ;;
*) run "$target" "$@" ;;
esac
