#!/usr/bin/env bash
# arm64 check under qemu-user (issue 14): compiles the package's targets that have no external
# dependencies for aarch64 with Debian 13's swiftlang 6.0.3 inside an arm64 Debian root run through
# qemu-aarch64-static and binfmt_misc, runs an arm64 probe (a simulated board read once, the C
# struct layouts and ioctl numbers the HAL hands the kernel against gcc's, the Sensirion CRC-8) and,
# in the full form, the unit tests of those targets. What it proves and what it cannot: docs/arm64.md.
#
# Usage: scripts/arm64-check.sh                    full form (about an hour of emulated compiling)
#        ARM64_CHECK=ci scripts/arm64-check.sh      CI form: C shims, HAL, HALLinux, one driver, probe
#        ARM64_CHECK=root scripts/arm64-check.sh    only make (or reuse) the arm64 root
# Env:   ARM64_ROOT    the arm64 Debian 13 root (default <package>/.build-roots/trixie-arm64; kept)
#        ARM64_MIRROR  Debian mirror for debootstrap and apt (default http://deb.debian.org/debian)
#        ARM64_EXCLUDE files (paths under Sources/, space-separated) left out of the copy compiled
#                      in the root, for trying a target without a part that does not build yet
#        ARM64_TESTS   full form: the test targets to build and run (default: the Hardware layer's,
#                      HALTests, the four chips' and HALLinuxTests); "all": every one that qualifies
#        ARM64_FRESH=1 remove the root's build folder first (to time a build from nothing)
# Needs: root (debootstrap, chroot, binfmt_misc); installs debootstrap, qemu-user-static, rsync, jq.
# Exit:  0 every step passed; 1 a compile, probe or test failed; 2 set-up failed.
set -euo pipefail

PACKAGE=$(cd "$(dirname "$0")/.." && pwd)
MODE=${ARM64_CHECK:-full}
ROOTFS=${ARM64_ROOT:-$PACKAGE/.build-roots/trixie-arm64}
MIRROR=${ARM64_MIRROR:-http://deb.debian.org/debian}
SUITE=trixie
# What the root needs: the compiler, the C libraries the package's system-library targets link,
# gcc for the layout reference, pkg-config for CGPIOD/COpenSSL.
ROOT_PACKAGES="swiftlang gcc libc6-dev pkg-config libgpiod-dev libi2c-dev libssl-dev libsqlite3-dev libyaml-dev"
START=$(date +%s)

say() { printf '[arm64-check %4ss] %s\n' "$(( $(date +%s) - START ))" "$*" >&2; }
die() { say "SET-UP FAILED: $*"; exit 2; }
case $MODE in ci|full|root) ;; *) die "ARM64_CHECK must be ci, full or root (got '$MODE')" ;; esac
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mounting binfmt_misc)"
[ "$(uname -m)" = x86_64 ] || [ "$(uname -m)" = aarch64 ] || die "unexpected host $(uname -m)"

# --- 1. Host tools and binfmt_misc ------------------------------------------------------------
missing=""
for p in debootstrap qemu-user-static rsync jq; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    say "installing:$missing"
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
QEMU=/usr/bin/qemu-aarch64-static
[ -x "$QEMU" ] || die "qemu-user-static installed no $QEMU"

# swiftc starts swift-frontend, clang and the linker as new processes, so running the compiler
# under qemu needs the kernel to hand every aarch64 ELF to qemu: binfmt_misc. The F flag makes the
# kernel open the interpreter once at registration, so it works inside the chroot too.
BINFMT=/proc/sys/fs/binfmt_misc
if [ "$(uname -m)" = x86_64 ]; then
    if [ ! -e "$BINFMT/register" ]; then
        mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null \
            || die "cannot mount binfmt_misc at $BINFMT (a container without CAP_SYS_ADMIN?); see docs/arm64.md"
    fi
    if [ ! -e "$BINFMT/qemu-aarch64" ]; then
        printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:'"$QEMU"':PF' \
            > "$BINFMT/register" 2>/dev/null || die "cannot register qemu-aarch64 in $BINFMT; see docs/arm64.md"
    fi
    grep -q '^enabled' "$BINFMT/qemu-aarch64" || die "binfmt entry qemu-aarch64 is disabled"
    [ "$(cat "$BINFMT/status")" = enabled ] || die "binfmt_misc is disabled"
fi

# --- 2. The arm64 Debian 13 root (made once, kept in ARM64_ROOT) ------------------------------
MOUNTS=()
unmount_all() {
    local i
    for (( i = ${#MOUNTS[@]} - 1; i >= 0; i-- )); do umount -l "${MOUNTS[$i]}" 2>/dev/null || true; done
    MOUNTS=()
}
trap unmount_all EXIT
mount_system() {  # mount_system ROOT: /proc, /dev and /dev/pts for programs run inside ROOT
    local r=$1
    mountpoint -q "$r/proc" || { mount -t proc proc "$r/proc"; MOUNTS+=("$r/proc"); }
    mountpoint -q "$r/dev" || { mount --bind /dev "$r/dev"; MOUNTS+=("$r/dev"); }
    mountpoint -q "$r/dev/pts" || { mount --bind /dev/pts "$r/dev/pts"; MOUNTS+=("$r/dev/pts"); }
}
# Debian's swiftlang links only swiftc, swift-build and swift-run into /usr/bin; `swift` (package,
# test) is in /usr/libexec/swift/bin.
in_root() {  # in_root COMMAND...: run a shell command line inside the arm64 root, niced
    nice -n 10 chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/libexec/swift/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root \
        LANG=C.UTF-8 TERM=dumb /bin/sh -c "$*"
}

READY=$ROOTFS/.arm64-check-ready
if [ ! -e "$READY" ] || [ "$(cat "$READY")" != "$ROOT_PACKAGES" ]; then
    if [ -e "$ROOTFS/usr/bin/apt-get" ] && [ -e "$ROOTFS/.arm64-check-base" ]; then
        say "root $ROOTFS: base present, installing packages"
    else
        say "making the arm64 $SUITE root in $ROOTFS (debootstrap, first stage on the host)"
        rm -rf "$ROOTFS"; mkdir -p "$(dirname "$ROOTFS")"
        # --include cannot name packages that need a virtual package (libc-dev): those go through
        # apt inside the root below.
        debootstrap --arch=arm64 --foreign --variant=minbase "$SUITE" "$ROOTFS" "$MIRROR" \
            > "$ROOTFS.debootstrap.log" 2>&1 || { tail -20 "$ROOTFS.debootstrap.log" >&2; die "debootstrap first stage"; }
        cp "$QEMU" "$ROOTFS/usr/bin/"
        say "second stage (arm64 binaries under qemu)"
        mount_system "$ROOTFS"
        chroot "$ROOTFS" /debootstrap/debootstrap --second-stage \
            >> "$ROOTFS.debootstrap.log" 2>&1 || { tail -20 "$ROOTFS.debootstrap.log" >&2; die "debootstrap second stage"; }
        echo "deb $MIRROR $SUITE main" > "$ROOTFS/etc/apt/sources.list"
        touch "$ROOTFS/.arm64-check-base"
    fi
    mount_system "$ROOTFS"
    cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf" 2>/dev/null || true
    say "apt-get install $ROOT_PACKAGES (inside the root)"
    in_root "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $ROOT_PACKAGES && apt-get clean" \
        > "$ROOTFS.apt.log" 2>&1 || { tail -20 "$ROOTFS.apt.log" >&2; die "apt-get install inside the root"; }
    echo "$ROOT_PACKAGES" > "$READY"
    say "root ready ($(du -shx "$ROOTFS" | cut -f1))"
else
    say "root $ROOTFS from cache"
fi
mount_system "$ROOTFS"
in_root "uname -m; swiftc --version 2>&1 | head -1; dpkg-query -W -f='libgpiod-dev \${Version}\n' libgpiod-dev" | sed 's/^/  /' >&2
[ "$MODE" = root ] && exit 0

# --- 3. The package as the root's swiftlang 6.0.3 can build it ---------------------------------
IN_PKG=/build/fieldagent
PKG=$ROOTFS$IN_PKG
LOGS=$ROOTFS/build/logs-$MODE
mkdir -p "$PKG/scripts" "$LOGS"
rm -f "$LOGS"/*
[ "${ARM64_FRESH:-0}" = 1 ] && rm -rf "$PKG/.build"
# rsync leaves unchanged files alone, so SwiftPM's incremental build survives between runs.
excludes=()
for path in ${ARM64_EXCLUDE:-}; do excludes+=(--exclude "/Sources/${path#Sources/}"); done
rsync -a --delete --delete-excluded "${excludes[@]}" "$PACKAGE/Sources" "$PACKAGE/Tests" "$PKG/"
rsync -a --delete "$PACKAGE/scripts/arm64" "$PKG/scripts/"
[ ${#excludes[@]} -eq 0 ] || say "left out of the copy: ${ARM64_EXCLUDE}"

CI_PROBE="HAL HALSimulation SensorCore SHT3x SHT3xModel CLinuxI2C CKernelI2C"
FULL_PROBE="$CI_PROBE ChipCatalog BME280 BME280Model ADXL345 ADXL345Model SCD4x SCD4xModel"
if [ "$MODE" = ci ]; then PROBE_DEPS=$CI_PROBE; else PROBE_DEPS=$FULL_PROBE; fi
quote_list() { local out="" x; for x in "$@"; do out="$out${out:+, }\"$x\""; done; printf '%s' "$out"; }
write_manifest() {  # write_manifest DROPPED...: Package.swift plus scripts/arm64/Package.arm64.swift
    local drop probe
    drop=$(quote_list "$@")
    # shellcheck disable=SC2086
    probe=$(quote_list $PROBE_DEPS)
    { cat "$PACKAGE/Package.swift"
      sed -e "s/@DROP@/$drop/" -e "s/@PROBE@/$probe/" "$PACKAGE/scripts/arm64/Package.arm64.swift"
    } > "$PKG/Package.swift.new"
    cmp -s "$PKG/Package.swift.new" "$PKG/Package.swift" 2>/dev/null && rm "$PKG/Package.swift.new" \
        || mv "$PKG/Package.swift.new" "$PKG/Package.swift"
}
write_manifest
in_root "cd $IN_PKG && swift package dump-package" > "$LOGS/package.json" 2> "$LOGS/dump-package.log" \
    || { cat "$LOGS/dump-package.log" >&2; die "swiftlang 6.0.3 rejects the generated manifest"; }
TARGETS_JSON=$LOGS/package.json

# --- 4. gcc's facts on aarch64 --------------------------------------------------------------------
cp "$PACKAGE/scripts/arm64/facts.c" "$ROOTFS/build/facts.c"
in_root "gcc -Wall -Werror -I $IN_PKG/Sources/Hardware/CLinuxI2C/include -o /build/facts /build/facts.c && /build/facts" \
    > "$LOGS/facts.gcc" 2>&1 || { cat "$LOGS/facts.gcc" >&2; die "gcc could not build or run scripts/arm64/facts.c in the root"; }

# --- 5. Compiling -------------------------------------------------------------------------------
# Under qemu every `swift build` spends minutes loading the manifest and planning before it
# compiles anything, so targets are built in as few invocations as possible. When a build fails,
# the targets whose sources have errors are dropped from the manifest (their dependents with them)
# and the rest is built again, incrementally.
deps_of() { jq -r --arg t "$1" '.targets[] | select(.name == $t) | .dependencies[] | (.target // .byName)[0]' "$TARGETS_JSON"; }
# Target folders, longest first, to name the target an error line's path is in.
TARGET_PATHS=$(jq -r '.targets[] | "\(.path // "") \(.name)"' "$TARGETS_JSON" | awk '$1 != "" {print length($1), $1, $2}' | sort -rn | cut -d' ' -f2-)
failing_targets() {  # failing_targets LOG: the targets with a compile error in LOG
    local file path name
    grep -oE "^$IN_PKG/[^:]+:[0-9]+:[0-9]+: error:" "$1" | cut -d: -f1 | sort -u | while read -r file; do
        file=${file#"$IN_PKG/"}
        while read -r path name; do
            case $file in "$path"/*) echo "$name"; break ;; esac
        done <<< "$TARGET_PATHS"
    done | sort -u
}
FAILED=()
ROUNDS=()
build_rounds() {  # build_rounds NAME GOAL SWIFT-BUILD-ARGS...: build, dropping failing targets, until
    local name=$1 goal=$2 round=1 t0 found  # it builds or GOAL (a target, or - for all) itself fails
    shift 2
    while :; do
        # shellcheck disable=SC2086
        write_manifest "${FAILED[@]}" $EXTRA_DROP
        say "swift build $* (round $round)"
        t0=$(date +%s)
        if in_root "cd $IN_PKG && swift build $*" > "$LOGS/$name-$round.log" 2>&1; then
            ROUNDS+=("$name round $round: built in $(( $(date +%s) - t0 )) s")
            say "${ROUNDS[-1]}"
            return 0
        fi
        found=$(failing_targets "$LOGS/$name-$round.log")
        ROUNDS+=("$name round $round: failed after $(( $(date +%s) - t0 )) s in: ${found:-(no target named by the errors)}")
        say "${ROUNDS[-1]}"
        { grep -E 'error:' "$LOGS/$name-$round.log" || true; } | sort -u | head -12 | sed 's/^/    /' >&2
        if [ -z "$found" ]; then FAILED+=("${goal/#-/(build)}"); return 1; fi
        for t in $found; do FAILED+=("$t"); done
        [[ " $found " != *" $goal "* ]] || return 1
        round=$((round + 1))
    done
}
built() {  # built TARGET: compiled, as did everything it depends on
    local dep
    [[ " ${FAILED[*]} " != *" $1 "* ]] || return 1
    for dep in $(deps_of "$1"); do built "$dep" || return 1; done
}

COMPILE_START=$(date +%s)
EXTRA_DROP=""
if [ "$MODE" = ci ]; then
    build_rounds probe arm64-probe --product arm64-probe || true
    build_rounds HALLinux HALLinux --target HALLinux || true
    REPORTED="CLinuxI2C HAL SensorCore SystemCalls HALLinux SHT3x HALSimulation SHT3xModel arm64-probe"
else
    TESTS=${ARM64_TESTS:-HALTests BME280Tests SHT3xTests ADXL345Tests SCD4xTests HALLinuxTests}
    for t in $(jq -r '.targets[] | select(.type == "test") | .name' "$TARGETS_JSON"); do
        [ "$TESTS" = all ] || [[ " $TESTS " == *" $t "* ]] || EXTRA_DROP="$EXTRA_DROP $t"
    done
    build_rounds all - --build-tests || true
    REPORTED=$(jq -r '.targets[] | select(.type != "system") | .name' "$TARGETS_JSON" | tr '\n' ' ')
fi
COMPILE_SECONDS=$(( $(date +%s) - COMPILE_START ))
declare -A STATUS
ORDER=()
for t in $REPORTED; do
    [[ " $EXTRA_DROP " == *" $t "* ]] && continue
    ORDER+=("$t")
    if [[ " ${FAILED[*]} " == *" $t "* ]]; then STATUS[$t]=FAILED
    elif built "$t"; then STATUS[$t]=ok
    else STATUS[$t]="not built (a dependency failed)"; fi
done
# A full build that failed without naming a target (a linker error) proves nothing about the rest.
if [[ " ${FAILED[*]} " == *" (build) "* ]]; then STATUS["(build)"]=FAILED; ORDER+=("(build)"); fi

# --- 6. The probe on arm64 --------------------------------------------------------------------
PROBE_RESULT="not run (did not compile)"
FACTS_RESULT="not compared"
if [ "${STATUS[arm64-probe]:-}" = ok ]; then
    if in_root "cd $IN_PKG && ./.build/debug/arm64-probe" > "$LOGS/probe.out" 2>&1; then
        PROBE_RESULT=PASS
    else
        PROBE_RESULT=FAIL
    fi
    sed 's/^/  /' "$LOGS/probe.out" >&2
    if diff <(grep '^fact' "$LOGS/facts.gcc") <(grep '^fact' "$LOGS/probe.out") > "$LOGS/facts.diff"; then
        FACTS_RESULT="all $(grep -c '^fact' "$LOGS/facts.gcc") equal"
    else
        FACTS_RESULT="DIFFER (gcc <, Swift >)"; PROBE_RESULT=FAIL
        sed 's/^/  /' "$LOGS/facts.diff" >&2
    fi
    grep '^info' "$LOGS/facts.gcc" | sed 's/^/  /' >&2
fi

# --- 7. Unit tests (full form) -----------------------------------------------------------------
TEST_RESULT="not run (CI form)"
if [ "$MODE" = full ]; then
    KEPT=""
    for t in $(jq -r '.targets[] | select(.type == "test") | .name' "$TARGETS_JSON"); do
        [ "${STATUS[$t]:-}" = ok ] && KEPT="$KEPT $t"
    done
    if [ -n "$KEPT" ]; then
        say "swift test --skip-build ($KEPT )"
        in_root "cd $IN_PKG && swift test --skip-build" > "$LOGS/test.log" 2>&1 && test_rc=0 || test_rc=$?
        { grep -E 'Test run with|Executed [0-9]+ tests' "$LOGS/test.log" || true; } | sed 's/^/  /' >&2
        { grep -E '✘|error:' "$LOGS/test.log" || true; } | head -20 | sed 's/^/  /' >&2
        TEST_RESULT="$({ grep -E 'Test run with' "$LOGS/test.log" || echo 'no test summary'; } | tail -1 | sed 's/^[^A-Za-z]*//') (exit $test_rc;$KEPT)"
    else
        TEST_RESULT="not run: no test target compiled"
        test_rc=1
    fi
fi

# --- 8. Summary ---------------------------------------------------------------------------------
{
    echo "arm64 check ($MODE form), $(date -u '+%Y-%m-%d %H:%M UTC'), $(in_root 'swiftc --version 2>&1 | head -1')"
    echo "host $(uname -m), $(nproc) cores, qemu $($QEMU --version | head -1 | awk '{print $3}') (user mode, binfmt_misc)"
    for t in "${ORDER[@]}"; do printf '  %-22s %s\n' "$t" "${STATUS[$t]}"; done
    printf '  %s\n' "${ROUNDS[@]}"
    echo "compiling: $COMPILE_SECONDS s"
    echo "probe: $PROBE_RESULT; gcc vs Swift facts: $FACTS_RESULT"
    echo "tests: $TEST_RESULT"
    echo "total: $(( $(date +%s) - START )) s (logs: $LOGS)"
} | tee "$LOGS/summary.txt" >&2

failed=0
for t in "${ORDER[@]}"; do [ "${STATUS[$t]}" = ok ] || failed=1; done
[ "$PROBE_RESULT" = PASS ] || failed=1
[ "$MODE" = ci ] || [ "${test_rc:-1}" = 0 ] || failed=1
exit $failed
