#!/usr/bin/env bash
# Checks deploy/*.service as systemd will read them: `systemd-analyze verify` (in a scratch root
# holding this machine's system units and a stand-in executable at each ExecStart path, so the
# check needs neither an installed agent nor root), and `systemd-analyze security --offline=yes`,
# whose overall exposure must be 2.0 or lower ("OK") for every unit. Prints each unit's score.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/packages.sh
source scripts/lib/packages.sh
install_packages "${unit_check_packages[@]}"

limit=2.0
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/etc/systemd/system" "$scratch/lib/systemd"
cp -a /lib/systemd/system "$scratch/lib/systemd/"
status=0
units=()
for unit in deploy/*.service; do
    name=$(basename "$unit")
    units+=("/etc/systemd/system/$name")
    cp "$unit" "$scratch/etc/systemd/system/$name"
    # A stand-in for each program the unit starts (verify checks that it exists and is executable).
    sed -n 's/^Exec[A-Za-z]*=[-@:+!]*\([^ ]*\).*/\1/p' "$unit" | while read -r program; do
        mkdir -p "$scratch$(dirname "$program")"
        printf '#!/bin/sh\n' >"$scratch$program"
        chmod 755 "$scratch$program"
    done
done
if ! output=$(systemd-analyze verify --root="$scratch" "${units[@]}" 2>&1) || [ -n "$output" ]; then
    echo "check-units: systemd-analyze verify found problems:" >&2
    echo "$output" >&2
    status=1
else
    echo "check-units: systemd-analyze verify: ${units[*]##*/} OK"
fi
for unit in deploy/*.service; do
    line=$(systemd-analyze security --offline=yes --no-pager "$unit" 2>&1 | grep 'Overall exposure level' || true)
    score=$(sed -n 's/.*: \([0-9.]*\) .*/\1/p' <<<"$line")
    if [ -z "$score" ]; then
        echo "check-units: no exposure score for $unit" >&2
        systemd-analyze security --offline=yes --no-pager "$unit" >&2 || true
        status=1
    elif awk -v s="$score" -v l="$limit" 'BEGIN { exit !(s > l) }'; then
        echo "check-units: $unit exposure $score is above $limit:" >&2
        systemd-analyze security --offline=yes --no-pager "$unit" | grep '✗' >&2 || true
        status=1
    else
        echo "check-units: $(basename "$unit") exposure $score (limit $limit)"
    fi
done
exit $status
