#!/usr/bin/env bash
# The CI-sized arm64 check. scripts/arm64-check.sh (docs/arm64.md) compiles the Swift targets with
# Debian 13's arm64 swiftlang under qemu-user: about an hour with its root made from nothing on a
# 2-core machine, too long for every CI run. This form takes a minute: Debian's aarch64 cross gcc
# compiles every C shim of the package for aarch64 (their _Static_asserts check our mirrors of the
# kernel's i2c structs against the arm64 kernel headers; CGPIOD against libgpiod 1.6's and, when
# the kernel HIL has fetched it, 2.2's header), then builds scripts/arm64/facts.c statically and
# runs it under qemu-aarch64: its struct layouts, ioctl numbers and CRC-8 must equal what the Swift
# probe printed on arm64 in the last full run (scripts/arm64/swift-facts.aarch64.txt). A change to
# the shims or the probe that moves a fact fails here and asks for the full form again.
#
# usage: scripts/arm64-cross-check.sh        (root or sudo for apt-get; work files in .build-arm64-cross)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/packages.sh
source scripts/lib/packages.sh
install_packages "${arm64_cross_packages[@]}"
START=$(date +%s)
say() { printf '[arm64-cross %3ss] %s\n' "$(( $(date +%s) - START ))" "$*" >&2; }
CC=aarch64-linux-gnu-gcc
WORK=.build-arm64-cross
rm -rf "$WORK"; mkdir -p "$WORK/gpiod-1"
CFLAGS=(-std=gnu11 -Wall -Wextra -Werror -O1)

say "$($CC --version | head -1)"
$CC "${CFLAGS[@]}" -c -I Sources/Hardware/CLinuxI2C/include Sources/Hardware/CLinuxI2C/shim.c -o "$WORK/clinuxi2c.o"
$CC "${CFLAGS[@]}" -c -I Sources/Common/CKernelClock/include Sources/Common/CKernelClock/kernel_clock.c -o "$WORK/kernel_clock.o"
# gpiod.h is architecture-neutral: the host's (1.6) is copied alone so no other host header leaks in.
cp /usr/include/gpiod.h "$WORK/gpiod-1/"
headers=("$WORK/gpiod-1")
v2=$(ls -d .build-hil/libgpiod-2*/include 2>/dev/null | head -1 || true)
[ -n "$v2" ] && headers+=("$v2")
for include in "${headers[@]}"; do
    for source in Sources/Hardware/CGPIOD/*.c; do
        $CC "${CFLAGS[@]}" -c -I "$include" -I Sources/Hardware/CGPIOD/include "$source" -o "$WORK/$(basename "$source" .c).o"
    done
done
say "C shims compile for aarch64 (CLinuxI2C, CKernelClock, CGPIOD against ${headers[*]})"

$CC "${CFLAGS[@]}" -static -I Sources/Hardware/CLinuxI2C/include scripts/arm64/facts.c -o "$WORK/facts"
qemu-aarch64-static "$WORK/facts" > "$WORK/facts.out"
if diff <(grep '^fact' "$WORK/facts.out") scripts/arm64/swift-facts.aarch64.txt > "$WORK/facts.diff"; then
    say "PASS: all $(grep -c '^fact' "$WORK/facts.out") aarch64 facts from gcc equal the Swift probe's; $(grep '^info' "$WORK/facts.out" | sed 's/^info //')"
else
    say "FAIL: gcc on aarch64 and the Swift probe's recorded facts differ (< gcc, > Swift); run scripts/arm64-check.sh"
    cat "$WORK/facts.diff" >&2
    exit 1
fi
