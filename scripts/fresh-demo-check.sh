#!/usr/bin/env bash
# The README's first command on a fresh Debian 12 machine: in a minimal bookworm root
# (scripts/debian-root.sh: debootstrap's minbase, nothing else installed) with the Swift toolchain
# on PATH as a user installs it, clone this package (its HEAD: commit first) and run
# ./scripts/demo.sh, which must install what it needs, build, and run. The demo runs on a
# throwaway overlay of the cached root, so every check starts from the same fresh machine.
# Passes when the demo's output tells its story: telemetry arrived at the hub, the twin's
# telemetryConfig.sendFrequency (the Azure recipe's path) was applied and acknowledged, and the
# planted spike arrived as an alert.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
suite=${SUITE:-bookworm}
log=$("$here/debian-root.sh" "$suite" path).demo.log
start=$SECONDS

"$here/debian-root.sh" "$suite" make
echo "== ./scripts/demo.sh in a fresh $suite root (output: $log)"
status=0
"$here/debian-root.sh" "$suite" run --throwaway --clone /root/fieldagent --cd /root/fieldagent \
    -- timeout "${DEMO_TIMEOUT:-3000}" ./scripts/demo.sh >"$log" 2>&1 || status=$?

failures=()
expect() {   # expect WHAT MIN PATTERN — at least MIN lines of the demo's output match PATTERN
    local count
    count=$(grep -cE "$3" "$log" || true)
    printf '   %-44s %3d line(s)\n' "$1" "$count"
    [ "$count" -ge "$2" ] || failures+=("$1")
}
expect "packages installed by the demo" 1 '^installing with apt-get: .*libgpiod-dev'
expect "build complete" 1 '^Build complete!'
expect "telemetry at the hub" 5 '^ +[0-9:]{8} +factory-line-01[^ ]* +period '
expect "telemetryConfig.sendFrequency 10s applied and acknowledged" 1 'reported telemetryConfig: .*("10s".*"ac": 200|"ac": 200.*"10s")'
expect "spike alert at the hub" 1 '^ +[0-9:]{8} +factory-line-01[^ ]* +ALERT spike on '
expect "alarm line raised (agent log)" 1 'alarm line'

if [ "$status" -ne 0 ] || [ ${#failures[@]} -gt 0 ]; then
    tail -40 "$log"
    echo "fresh-demo-check: FAILED after $((SECONDS - start)) s (demo exit $status; missing: ${failures[*]:-none})"
    exit 1
fi
echo "fresh-demo-check: passed in $((SECONDS - start)) s"
