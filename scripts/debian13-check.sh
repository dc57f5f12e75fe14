#!/usr/bin/env bash
# The Debian 13 (trixie) leg: in a minimal trixie root (scripts/debian-root.sh) with Debian 13's
# libgpiod 2, OpenSSL 3.5 and SQLite, build the package with this machine's Swift toolchain and run
# the unit tests, all but the suites that need a broker, Python's Azure SDK, qemu, real agent
# processes, Prometheus or Chromium (SKIP below; those run on the host in scripts/test.sh). Builds in /root/scratch inside
# the root (the copy's .build links there too: the tests look for the package's executables in it),
# from a copy of the working tree, so the host's .build is not touched. Prints the
# versions found and the time of each step; exits non-zero at the first step that fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/packages.sh
source "$here/lib/packages.sh"
suite=trixie
skip=${SKIP:-'ChaosTests|AgentHubTests|HubClientMosquittoTests|LocalHubThirdPartyTests|MetricsEndpointTests|TechnicianPageTests'}
src=/root/fieldagent scratch=/root/scratch
log_dir=$("$here/debian-root.sh" "$suite" path).logs
mkdir -p "$log_dir"
in_root() { "$here/debian-root.sh" "$suite" run "$@"; }
swift_in_root() { in_root --cd "$src" -- swift "$@" --scratch-path "$scratch"; }

start=$SECONDS
# step NAME COMMAND… — runs COMMAND with its output in $log_dir/NAME.log, shown when it fails.
step() {
    local name=$1 t0=$SECONDS
    shift
    printf '== %-12s' "$name"
    if "$@" >"$log_dir/$name.log" 2>&1; then
        printf '%4d s\n' $((SECONDS - t0))
    else
        printf '%4d s  FAILED (%s)\n' $((SECONDS - t0)) "$log_dir/$name.log"
        grep -E 'error:|failed|FAIL' "$log_dir/$name.log" | head -30 || tail -30 "$log_dir/$name.log"
        echo "debian13-check: failed at '$name' after $((SECONDS - start)) s"
        exit 1
    fi
}

step root "$here/debian-root.sh" "$suite" make
step packages "$here/debian-root.sh" "$suite" install "${debian13_packages[@]}"
step source in_root --copy "$src" -- sh -c "mkdir -p $scratch && ln -s $scratch $src/.build"
step versions in_root -- sh -c 'echo "Debian $(cat /etc/debian_version)";
    for m in libgpiod openssl sqlite3; do echo "$m $(pkg-config --modversion $m)"; done;
    swift --version 2>&1 | head -1'
sed 's/^/   /' "$log_dir/versions.log"
step build swift_in_root build
step build-tests swift_in_root build --build-tests
echo "   swift test --skip '$skip'"
step test swift_in_root test --skip-build --skip "$skip"
grep -E 'Test run with [0-9]+ tests|Executed [0-9]+ tests' "$log_dir/test.log" | tail -2 | sed 's/^[[:space:]]*/   /' || true
echo "debian13-check: passed in $((SECONDS - start)) s"
