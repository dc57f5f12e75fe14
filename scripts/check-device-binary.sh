#!/usr/bin/env bash
# The device binary links no development code: `fieldagent` (what goes on the board) must hold no
# symbol from SwiftNIO (NIOCore, NIOPosix), LocalHub or TrainingData; those belong to `localhub`
# and `spike-predictor`. Builds `fieldagent` in release mode and checks its symbols with nm.
#
# Not run in CI by default: the release build takes several minutes. CI checks the debug build
# instead: Tests/Agent/CLITests runs this script with --binary on the fieldagent it tests.
#
#   scripts/check-device-binary.sh                  release build, then the check
#   scripts/check-device-binary.sh --binary PATH    only the check, on a binary already built
# Exit 0 when the binary is clean, 1 when it holds any of those symbols (listed), 2 on a problem.
set -euo pipefail

modules=(NIOCore NIOPosix LocalHub TrainingData)

if [[ $# -eq 2 && $1 == --binary ]]; then
    binary=$(realpath -m -- "$2")
    cd "$(dirname "$0")/.."
elif [[ $# -eq 0 ]]; then
    cd "$(dirname "$0")/.."
    swift build -c release --product fieldagent >&2
    binary=$(swift build -c release --show-bin-path)/fieldagent
else
    echo "usage: $0 [--binary PATH]" >&2
    exit 2
fi
[[ -x $binary ]] || { echo "$binary: no such executable" >&2; exit 2; }

symbols=$(mktemp)
trap 'rm -f "$symbols"' EXIT
nm "$binary" >"$symbols" || { echo "nm $binary failed" >&2; exit 2; }
# A stripped or unreadable binary would pass vacuously: the agent's own module must show up.
if ! grep -q '12AgentRuntime' "$symbols"; then
    echo "$binary: no AgentRuntime symbols; is it stripped, or not fieldagent?" >&2
    exit 2
fi

found=0
for module in "${modules[@]}"; do
    # Swift mangles a module name as its length then the name: $s7NIOCore…, or inside a generic
    # argument (…y8LocalHub…) when our code specialises a type from another module.
    count=$(grep -c -- "${#module}${module}" "$symbols" || true)
    if [[ $count -eq 0 ]]; then
        echo "$module: no symbols"
    else
        echo "$module: $count symbols, e.g.:"
        grep -m 3 -- "${#module}${module}" "$symbols" | sed "s/^/    /"
        found=1
    fi
done
echo "$binary: $(wc -l <"$symbols") symbols checked"
exit $found
