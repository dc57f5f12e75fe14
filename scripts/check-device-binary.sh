#!/usr/bin/env bash
# The device binary carries only what the device needs. `fieldagent` (what goes on the board) must
# hold no symbol from SwiftNIO (NIOCore, NIOPosix), LocalHub or TrainingData (they belong to
# `localhub` and `spike-predictor`), nor from full Foundation, FoundationInternationalization, ICU,
# Yams or GRDB (the device binary uses FoundationEssentials, libyaml and SQLite's C API;
# docs/device-binary.md).
#
# Without arguments it builds the release binary as it ships, with the static Swift standard
# library, in its own scratch path (.build-static):
#
#   swift build -c release --product fieldagent --static-swift-stdlib --scratch-path .build-static
#
# and then also checks that `ldd` lists no Swift library and only the C libraries the device
# package declares, that the stripped binary is at most 20 MB, and that the static binary runs
# (`--version`, `doctor` on the simulated factory board). The release build takes several
# minutes; CI checks the debug build's symbols instead (Tests/Agent/CLITests runs this script with
# --binary on the fieldagent it tests).
#
#   scripts/check-device-binary.sh                  static release build, then every check
#   scripts/check-device-binary.sh --binary PATH    only the symbol check, on a binary already built
# Exit 0 when the binary passes, 1 when a check fails (what failed is listed), 2 on a problem.
set -euo pipefail

# Swift modules whose symbols must not appear. Foundation is matched as a whole module name
# (10Foundation), so FoundationEssentials (20FoundationEssentials) does not count.
modules=(NIOCore NIOPosix LocalHub TrainingData Foundation FoundationInternationalization Yams GRDB)
# The C libraries the device needs (docs/device-binary.md, "What the board needs"), and the C and
# C++ runtime every Swift program on Linux links.
allowed_libraries='^(linux-vdso|ld-linux[-a-z0-9_]*|libc|libm|libdl|libpthread|librt|libutil|libstdc\+\+|libgcc_s|libssl|libcrypto|libgpiod|libsqlite3|libyaml-0)\.so'
maximum_stripped_bytes=$((20 * 1024 * 1024))

full=0
if [[ $# -eq 2 && $1 == --binary ]]; then
    binary=$(realpath -m -- "$2")
    cd "$(dirname "$0")/.."
elif [[ $# -eq 0 ]]; then
    cd "$(dirname "$0")/.."
    full=1
    build=(swift build -c release --product fieldagent --static-swift-stdlib --scratch-path .build-static)
    "${build[@]}" >&2
    binary=$("${build[@]}" --show-bin-path)/fieldagent
else
    echo "usage: $0 [--binary PATH]" >&2
    exit 2
fi
[[ -x $binary ]] || { echo "$binary: no such executable" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
symbols=$work/symbols
nm "$binary" >"$symbols" || { echo "nm $binary failed" >&2; exit 2; }
# A stripped or unreadable binary would pass vacuously: the agent's own module must show up.
if ! grep -q '12AgentRuntime' "$symbols"; then
    echo "$binary: no AgentRuntime symbols; is it stripped, or not fieldagent?" >&2
    exit 2
fi

failed=0
report() {  # name, count, pattern
    if [[ $2 -eq 0 ]]; then
        echo "$1: no symbols"
    else
        echo "$1: $2 symbols, e.g.:"
        grep -m 3 -E -- "$3" "$symbols" | sed "s/^/    /"
        failed=1
    fi
}
for module in "${modules[@]}"; do
    # Swift mangles a module name as its length then the name: $s7NIOCore…, or inside a generic
    # argument (…y8LocalHub…) when our code specialises a type from another module. A digit
    # before the length would make it a longer name's tail (…110Foundation is not 10Foundation).
    pattern="(^|[^0-9])${#module}${module}([^A-Za-z]|$)"
    report "$module" "$(grep -c -E -- "$pattern" "$symbols" || true)" "$pattern"
done
# ICU is C++ in namespace icu_NN; FoundationInternationalization's extensions of Essentials'
# types mangle the module as a substitution (…0A20InternationalizationE…).
report ICU "$(grep -c -E -- 'icu_[0-9]+|ucal_|ucol_|udat_' "$symbols" || true)" 'icu_[0-9]+|ucal_|ucol_|udat_'
report "Internationalization extensions" "$(grep -c -- 'InternationalizationE' "$symbols" || true)" 'InternationalizationE'
echo "$binary: $(wc -l <"$symbols") symbols checked"

if [[ $full -eq 1 ]]; then
    libraries=$(ldd "$binary" | awk '{print $1}' | xargs -n1 basename)
    echo "ldd: $(echo "$libraries" | tr '\n' ' ')"
    if echo "$libraries" | grep -q -i swift; then
        echo "ldd lists a Swift library: build with --static-swift-stdlib" >&2
        failed=1
    fi
    if unexpected=$(echo "$libraries" | grep -v -E -- "$allowed_libraries"); then
        echo "ldd lists libraries the device package does not declare: $unexpected" >&2
        failed=1
    fi
    strip -o "$work/fieldagent" "$binary"
    size=$(stat -c %s "$work/fieldagent")
    echo "size: $(stat -c %s "$binary") bytes, $size stripped (limit $maximum_stripped_bytes)"
    if [[ $size -gt $maximum_stripped_bytes ]]; then
        echo "the stripped binary is larger than $maximum_stripped_bytes bytes" >&2
        failed=1
    fi
    "$work/fieldagent" --version || { echo "the stripped static binary does not run" >&2; failed=1; }
    if ! "$work/fieldagent" doctor --board boards/sim-factory-line.yaml >"$work/doctor" 2>&1; then
        cat "$work/doctor" >&2
        echo "doctor on boards/sim-factory-line.yaml failed" >&2
        failed=1
    else
        tail -n 1 "$work/doctor"
    fi
fi
exit $failed
