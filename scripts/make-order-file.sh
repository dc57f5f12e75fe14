#!/usr/bin/env bash
# Writes scripts/link/fieldagent.order: the functions a running agent executes, which the release
# link (Package.swift, deviceLinking) places first so that the code the agent keeps resident is
# packed together instead of spread over the whole code segment (docs/device-binary.md, "How it is
# linked"). It runs the release fieldagent under callgrind on the simulated factory line, connected
# over mutual TLS to LocalHub, for SECONDS (150 unless given: start-up, connect, the twin exchange
# and several telemetry sends), and lists every function of the binary that ran.
#
# Regenerate it after large changes to the agent's steady-state path; a stale file only costs
# resident memory (functions it no longer names are linked in the usual order). About 4 minutes
# after the release build. Needs valgrind (apt).
#
#   scripts/make-order-file.sh [SECONDS]
set -euo pipefail
export LC_ALL=C  # sort and comm agree on the order
cd "$(dirname "$0")/.."
seconds=${1:-150}
command -v valgrind >/dev/null || { echo "make-order-file: valgrind missing; apt-get install -y valgrind" >&2; exit 1; }
build=(swift build -c release --product fieldagent --static-swift-stdlib --scratch-path .build-static)
"${build[@]}" >&2
binary=$("${build[@]}" --show-bin-path)/fieldagent
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Debian 12's valgrind cannot read DWARF 5: profile a copy without debug sections (symbols kept).
strip --strip-debug -o "$work/fieldagent" "$binary"
RUN_UNDER="valgrind --tool=callgrind --callgrind-out-file=$work/callgrind.out --dump-instr=no --demangle=no" \
    scripts/measure-device-rss.sh "$work/fieldagent" "$seconds" >/dev/null
nm --defined-only "$work/fieldagent" | awk '$2 ~ /^[tTwW]$/ { print $3 }' | sort -u >"$work/functions"
# callgrind names each function once as fn=(id) name (or cfn= for a callee), then by id alone.
sed -n -E 's/^c?fn=\([0-9]+\) (.+)$/\1/p' "$work/callgrind.out" | sort -u >"$work/executed"
comm -12 "$work/functions" "$work/executed" >scripts/link/fieldagent.order
echo "scripts/link/fieldagent.order: $(wc -l <scripts/link/fieldagent.order) functions executed of $(wc -l <"$work/functions")"
