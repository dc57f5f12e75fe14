#!/usr/bin/env bash
# Kernel-level hardware-in-the-loop test for HALLinux, the chip drivers and the doctor (issue 4).
#
# Boots Debian's own kernel under qemu (TCG, no root, no KVM) from a small initramfs that holds
# busybox, i2c-tools, the kernel's i2c-dev/i2c-stub/configfs modules, gpio-sim (built here from
# Debian's kernel source package when the kernel package lacks it), a small plain-I2C test adapter
# of ours (scripts/kernel-hil/i2c-hil-adapter.c: i2c-stub cannot do I2C_RDWR) and fieldagent-hil
# twice: built against the host's libgpiod-dev (1.6 on Debian 12) and against libgpiod 2.2.1
# (Debian 13's version, built here from its source), then runs the checks against the real
# /dev/i2c-N and /dev/gpiochipN interfaces: every check with the first, the GPIO and board checks
# again with the second.
# Recipe and measurements: docs/kernel-hil.md.
#
# Usage: scripts/kernel-hil.sh            (from anywhere; work files go to .build-hil/)
# Env:   KERNEL_HIL_DIR   work folder (default: <package>/.build-hil; downloads are cached there)
#        KERNEL_HIL_TIMEOUT  seconds before the guest is declared hung (default 180)
# Exit:  0 every check passed; 1 a check failed; 2 set-up failed; 3 the guest hung or crashed.
# Output: the guest's `PASS name` / `FAIL name: reason` lines, then a summary per libgpiod.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${KERNEL_HIL_DIR:-$ROOT/.build-hil}
TIMEOUT=${KERNEL_HIL_TIMEOUT:-180}
STUB_ADDRESSES="0x1d 0x53 0x76"
GPIO_LABEL=fieldagent-hil
# libgpiod 2 as Debian 13 (trixie) ships it; the upstream tarball from Debian's pool, checked.
GPIOD2_VERSION=2.2.1
GPIOD2_URL=http://deb.debian.org/debian/pool/main/libg/libgpiod/libgpiod_$GPIOD2_VERSION.orig.tar.xz
GPIOD2_SHA256=0e948049c309b87c220fb24ee0d605d7cd5b72f22376e608470903fffa2d4b18
START=$(date +%s)

say() { printf '[kernel-hil %3ss] %s\n' "$(( $(date +%s) - START ))" "$*" >&2; }
die() { say "SET-UP FAILED: $*"; exit 2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi; }

# --- 1. Host tools --------------------------------------------------------------------------------
# qemu and cpio run the guest; gcc/make/xz build gpio-sim and libgpiod 2; curl fetches libgpiod 2's
# source; libgpiod-dev builds HALLinux for the first run.
HOST_PACKAGES="qemu-system-x86 cpio gcc make xz-utils binutils curl libgpiod-dev"
missing=""
for p in $HOST_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    say "installing:$missing"
    as_root apt-get update -qq
    # shellcheck disable=SC2086
    as_root apt-get install -y -qq $missing >/dev/null
fi

# --- 2. Debian kernel packages (downloaded, never installed) -----------------------------------
# Kernel download, extraction, vmlinux and initramfs helpers are shared with power-cut-test.sh.
# shellcheck source=lib/kernel-vm.sh
source "$ROOT/scripts/lib/kernel-vm.sh"
kernel_select "$WORK"
say "kernel $ABI ($KVERSION)"
fetch() { kernel_fetch "$@"; }
kernel_extract "$IMAGE" "linux-headers-$ABI-amd64" "linux-headers-$ABI-common" "$KBUILD" busybox-static i2c-tools libi2c0
kernel_vmlinux

# --- 3. Modules built here: gpio-sim, and our plain-I2C test adapter -----------------------------
HEADERS=$TREE/usr/src/linux-headers-$ABI-amd64
# The -amd64 headers include the -common tree by its installed path; point it at the extracted one.
echo "include $TREE/usr/src/linux-headers-$ABI-common/Makefile" > "$HEADERS/Makefile"
build_module() {  # build_module DIR: kbuild against the extracted headers
    make -s -C "$HEADERS" M="$1" modules > "$1/build.log" 2>&1 || { cat "$1/build.log" >&2; die "building the module in $1"; }
}
ADAPTER_SRC=$KDIR/i2c-hil-adapter
rm -rf "$ADAPTER_SRC"; mkdir -p "$ADAPTER_SRC"
cp "$ROOT/scripts/kernel-hil/i2c-hil-adapter.c" "$ADAPTER_SRC/"
echo 'obj-m := i2c-hil-adapter.o' > "$ADAPTER_SRC/Kbuild"
build_module "$ADAPTER_SRC"

GPIO_SIM=$(find "$MODULES" -name 'gpio-sim.ko*' | head -1)
if [ -z "$GPIO_SIM" ]; then
    GPIO_SIM=$KDIR/gpio-sim/gpio-sim-hil.ko
    if [ ! -s "$GPIO_SIM" ]; then
        say "$IMAGE has no gpio-sim: building it from linux-source-$SERIES $KVERSION"
        fetch "linux-source-$SERIES=$KVERSION"
        SRC=$KDIR/gpio-sim
        rm -rf "$SRC"; mkdir -p "$SRC"
        dpkg-deb --fsys-tarfile "$DEBS/linux-source-${SERIES}_"*.deb \
            | tar -xO "./usr/src/linux-source-$SERIES.tar.xz" | xz -dc \
            | tar -x -C "$SRC" --strip-components=3 \
                "linux-source-$SERIES/drivers/gpio/gpio-sim.c" "linux-source-$SERIES/drivers/gpio/gpiolib.h" \
                "linux-source-$SERIES/kernel/irq/irq_sim.c" \
            || die "extracting gpio-sim sources from linux-source-$SERIES"
        # irq_to_desc() is not exported to modules; generic_handle_irq() does the same lookup.
        sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' "$SRC/irq_sim.c"
        grep -q 'generic_handle_irq(irqnum);' "$SRC/irq_sim.c" || die "irq_sim.c changed upstream; update the sed in $0"
        printf 'obj-m := gpio-sim-hil.o\ngpio-sim-hil-y := gpio-sim.o irq_sim.o\n' > "$SRC/Kbuild"
        build_module "$SRC"
        rm -f "$DEBS/linux-source-${SERIES}_"*.deb  # 139 MB, needed once
    fi
fi

# --- 4. libgpiod 2 for the second run: built here once, against this host's glibc ------------
GPIOD2=$WORK/libgpiod-$GPIOD2_VERSION
if [ ! -e "$GPIOD2/.done" ]; then
    say "building libgpiod $GPIOD2_VERSION into $GPIOD2"
    tarball=$DEBS/libgpiod_$GPIOD2_VERSION.orig.tar.xz
    if [ ! -s "$tarball" ]; then
        curl -fsSL -o "$tarball.tmp" "$GPIOD2_URL" || die "downloading $GPIOD2_URL"
        mv "$tarball.tmp" "$tarball"
    fi
    echo "$GPIOD2_SHA256  $tarball" | sha256sum -c --quiet - >&2 || die "$tarball: wrong sha256"
    rm -rf "$GPIOD2" "$GPIOD2.src"; mkdir -p "$GPIOD2.src"
    tar -xJf "$tarball" -C "$GPIOD2.src" --strip-components=1
    (cd "$GPIOD2.src" && ./configure -q --prefix="$GPIOD2" --disable-static --disable-tools --disable-tests \
        --disable-bindings-cxx && make -s -j"$(nproc)" && make -s install) > "$GPIOD2.log" 2>&1 \
        || { tail -30 "$GPIOD2.log" >&2; die "building libgpiod $GPIOD2_VERSION (log: $GPIOD2.log)"; }
    rm -rf "$GPIOD2.src"
    touch "$GPIOD2/.done"
fi

# CGPIOD's two implementations compile without a warning against each header (gcc, as on Debian).
for include in /usr/include "$GPIOD2/include"; do
    for source in "$ROOT"/Sources/Hardware/CGPIOD/*.c; do
        gcc -std=gnu11 -Wall -Wextra -Werror -fsyntax-only -I"$include" -I"$ROOT/Sources/Hardware/CGPIOD/include" "$source" \
            || die "$source does not compile cleanly against $include/gpiod.h"
    done
done

# --- 5. The test executable, once per libgpiod ---------------------------------------------------
# The statically linked FoundationEssentials makes the linker warn about mktemp inside
# libFoundationEssentials.a; not our code, so it is filtered out.
# Own scratch folders: linking the static stdlib against objects in the normal .build (built for
# the dynamic stdlib by `swift build --build-tests`) fails with undefined CoreFoundation/ICU
# symbols; a separate folder links cleanly. The libgpiod 2 build needs its own (other -Xcc flags).
build_hil() {  # build_hil SCRATCH [swift build flags]: prints the executable's path
    local scratch=$1; shift
    (cd "$ROOT" && swift build --product fieldagent-hil --static-swift-stdlib --scratch-path "$scratch" "$@" 2>&1 \
        | grep -E 'error|warning:|Compiling|Build' | grep -v "use of \`mktemp' is dangerous" >&2) || die "swift build $* failed"
    local binary
    binary=$(cd "$ROOT" && swift build --show-bin-path --scratch-path "$scratch" "$@")/fieldagent-hil
    [ -x "$binary" ] || die "no $binary"
    echo "$binary"
}
needs() {  # needs BINARY SONAME: the binary must link that libgpiod
    readelf -d "$1" | grep -q "NEEDED.*\[$2\]" || die "$1 does not link $2: $(readelf -d "$1" | grep -o 'libgpiod[^]]*')"
}
say "swift build --product fieldagent-hil (host libgpiod-dev $(dpkg-query -W -f '${Version}' libgpiod-dev))"
HIL=$(build_hil "$ROOT/.build-hil/swift")
say "swift build --product fieldagent-hil (libgpiod $GPIOD2_VERSION)"
# SwiftPM reads .pc files itself and, unlike pkg-config, keeps their -L${libdir}: for SQLite and
# libyaml that puts -L/usr/lib/x86_64-linux-gnu ahead of -Xlinker -L, and the host's 1.6
# libgpiod.so would win the -lgpiod search. Copies of the system's .pc files without that -L,
# first on PKG_CONFIG_PATH, leave the libgpiod 2 folder as the only -L that holds a libgpiod.
PCDIR=$WORK/pkgconfig-no-system-libdir
rm -rf "$PCDIR"; mkdir -p "$PCDIR"
for pc in /usr/lib/x86_64-linux-gnu/pkgconfig/*.pc /usr/share/pkgconfig/*.pc; do
    if [ -e "$pc" ]; then sed 's/-L\${libdir}//g' "$pc" > "$PCDIR/$(basename "$pc")"; fi
done
HIL2=$(PKG_CONFIG_PATH=$PCDIR build_hil "$ROOT/.build-hil/swift-libgpiod2" -Xcc -I"$GPIOD2/include" -Xlinker -L"$GPIOD2/lib")
needs "$HIL2" libgpiod.so.3

# --- 6. Initramfs ---------------------------------------------------------------------------------
RAMFS=$KDIR/initramfs
initramfs_start "$RAMFS"
cp "$TREE/usr/sbin/i2cset" "$TREE/usr/sbin/i2cget" "$RAMFS/usr/sbin/"
strip -o "$RAMFS/bin/fieldagent-hil" "$HIL"
strip -o "$RAMFS/bin/fieldagent-hil-libgpiod2" "$HIL2"
cp "$MODULES/kernel/fs/configfs/configfs.ko" "$MODULES/kernel/drivers/i2c/i2c-dev.ko" \
   "$MODULES/kernel/drivers/i2c/i2c-stub.ko" "$RAMFS/modules/"
cp "$GPIO_SIM" "$RAMFS/modules/gpio-sim.ko"
cp "$ADAPTER_SRC/i2c-hil-adapter.ko" "$RAMFS/modules/"
# Shared libraries at the paths ldd reports (libgpiod, libstdc++, libc, ld-linux; libi2c from the
# deb); libgpiod.so.3 goes next to the host's libgpiod.so.2 (different sonames, no clash).
LD_LIBRARY_PATH=$TREE/usr/lib/x86_64-linux-gnu:$GPIOD2/lib initramfs_add_libraries "$RAMFS" "$HIL" "$HIL2" "$TREE/usr/sbin/i2cset"

{ initramfs_init_preamble HIL; cat <<INIT
step() { "\$@" || { echo "FAIL setup: \$*"; finish fail; }; }
step insmod /modules/configfs.ko
step mount -t configfs none /sys/kernel/config
step insmod /modules/i2c-dev.ko
step insmod /modules/i2c-stub.ko chip_addr=$(echo $STUB_ADDRESSES | tr ' ' ',')
step insmod /modules/gpio-sim.ko
step insmod /modules/i2c-hil-adapter.ko target=0x44
BUS=
RDWR=
for d in /sys/class/i2c-dev/*; do
    case "\$(cat \$d/name)" in
        "SMBus stub driver") BUS=\${d##*/} ;;
        "fieldagent HIL I2C adapter") RDWR=\${d##*/} ;;
    esac
done
[ -n "\$BUS" ] || { echo "FAIL setup: no i2c-stub adapter in /sys/class/i2c-dev"; finish fail; }
[ -n "\$RDWR" ] || { echo "FAIL setup: no i2c-hil-adapter in /sys/class/i2c-dev"; finish fail; }
N=\${BUS#i2c-}
step i2cset -y \${RDWR#i2c-} 0x44 0x00 0x5a   # planted through the plain-I2C adapter
step i2cset -y \$N 0x76 0xd0 0x60   # BME280 chip id, planted by another program
step i2cset -y \$N 0x53 0x00 0xe5   # ADXL345 DEVID
G=/sys/kernel/config/gpio-sim/hil
step mkdir \$G \$G/bank0
echo 8 > \$G/bank0/num_lines
echo $GPIO_LABEL > \$G/bank0/label
i=0
for name in led button alarm held door debounced quiet spare; do
    mkdir \$G/bank0/line\$i && echo \$name > \$G/bank0/line\$i/name
    i=\$((i + 1))
done
step sh -c "echo 1 > \$G/live"
export HIL_I2C_BUS=/dev/\$BUS HIL_I2C_ADDRESSES="$STUB_ADDRESSES" HIL_GPIO_LABEL=$GPIO_LABEL
export HIL_I2C_RDWR_BUS=/dev/\$RDWR HIL_I2C_RDWR_COUNTERS=/sys/module/i2c_hil_adapter/parameters
export HIL_GPIO_SIM=/sys/devices/platform/\$(cat \$G/dev_name)/\$(cat \$G/bank0/chip_name)
echo "HIL-START \$(uname -r) i2c=\$HIL_I2C_BUS gpio=\$(cat \$G/bank0/chip_name)"
/bin/fieldagent-hil
rc=\$?
# What fieldagent-hil wrote, read back by i2c-tools (an independent SMBus client).
v=\$(i2cget -y \$N 0x53 0x2d 2>&1)
if [ "\$v" = 0x08 ]; then echo "PASS i2c.write-seen-by-i2cget"; else echo "FAIL i2c.write-seen-by-i2cget: 0x53:0x2D is \$v, expected 0x08"; rc=1; fi
# Second run: the GPIO and board checks built against libgpiod 2, from gpio-sim's initial pulls.
for pull in \$HIL_GPIO_SIM/sim_gpio*/pull; do echo pull-down > \$pull; done
/bin/fieldagent-hil-libgpiod2 gpio board || rc=1
[ \$rc = 0 ] && finish pass
finish fail
INIT
} > "$RAMFS/init"
chmod +x "$RAMFS/init"
INITRD=$KDIR/initrd.cpio.gz
initramfs_pack "$RAMFS" "$INITRD"
say "initramfs $(du -h "$INITRD" | cut -f1); booting $ABI under qemu (TCG)"

# --- 7. Boot ---------------------------------------------------------------------------------------
LOG=$KDIR/serial.log
BOOT=$(date +%s)
set +e
timeout "$TIMEOUT" qemu-system-x86_64 -accel tcg -m 512M -nodefaults -serial stdio -display none -no-reboot \
    -kernel "$VMLINUX" -initrd "$INITRD" -append 'console=ttyS0 panic=-1 quiet' \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 < /dev/null | tr -d '\r' | tee "$LOG"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -c '^PASS ' "$LOG" || true)
failed=$(grep -c '^FAIL ' "$LOG" || true)
# Per run: the PASS/FAIL lines after each `HIL-LIBGPIOD <version> …` line fieldagent-hil prints first.
runs=$(awk '/^HIL-LIBGPIOD / {name[++n] = "libgpiod " $2; p[n] = 0; f[n] = 0}
            /^PASS / {p[n]++} /^FAIL / {f[n]++}
            END {for (i = 1; i <= n; i++) printf "%s%s: %d passed, %d failed", (i > 1 ? "; " : ""), name[i], p[i], f[i]}' "$LOG")
say "guest ran $(( $(date +%s) - BOOT ))s; qemu exit $status; $passed passed, $failed failed (${runs:-no run started}); serial log $LOG"
if [ "$status" = 33 ] && [ "$(grep -c '^HIL-LIBGPIOD ' "$LOG")" != 2 ]; then
    say "FAIL: expected two runs (host libgpiod and libgpiod $GPIOD2_VERSION), the log shows: ${runs:-none}"; exit 1
fi
case $status in
    33) if grep -q '^HIL-RESULT pass' "$LOG" && [ "$failed" = 0 ] && [ "$passed" -gt 0 ]; then
            say "PASS ($(( $(date +%s) - START ))s in all)"; exit 0
        fi
        say "FAIL: exit status says pass but the log disagrees"; exit 1 ;;
    35) say "FAIL"; exit 1 ;;
    124) say "FAIL: guest hung (no result within ${TIMEOUT}s)"; exit 3 ;;
    *) say "FAIL: guest stopped without a result (crash or panic; see $LOG)"; exit 3 ;;
esac
