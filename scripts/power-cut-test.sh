#!/usr/bin/env bash
# Power cuts, not only kills (issue 19): the device binary runs `fieldagent run` inside Debian's
# own kernel under qemu (TCG, no root, no KVM) with its state folder (outbox SQLite, applied
# settings, status) on a real ext4 file system on a virtio disk image, and sends to LocalHub on
# the host over qemu's user-mode network (the guest reaches 127.0.0.1 as 10.0.2.2). The host cuts
# the power ten times mid-stream (SIGKILL to qemu: the guest's RAM, page cache included, is gone;
# what the guest had written to its disk stays), each time after the hub's log has grown by a
# random number of messages, and boots again on the same image; the last boot lets the agent
# finish and drain. Checks:
#   per cut  the file system replays its journal and fsck finds it clean (on a copy of the image);
#            the outbox (outbox.db + its WAL, taken from the copy with debugfs) passes SQLite's
#            PRAGMA integrity_check, and its committed next_seq is above every number the hub has
#            acknowledged (a number the hub holds was committed before it was sent: a power cut
#            that rolled that commit back would make the agent reuse it)
#   per boot the agent's start-up output shows no damaged-database path ("corrupt", moved aside,
#            degraded to memory)
#   at end   (a) every sequence number from 1 to the highest at the hub arrived (no gap);
#            (b) a number that arrived more than once carries identical content each time;
#            (c) the final outbox opens clean and is empty; (d) a summary line.
# Recipe, results and what a qemu kill does and does not model: docs/outbox.md ("Power cuts, tested").
#
# Usage: scripts/power-cut-test.sh           (from anywhere; work files in .build-hil/power-cut)
# Env:   POWER_CUTS (10)  POWER_CUT_SEED (random, printed)  POWER_CUT_MAX_GROWTH (300 hub messages)
#        POWER_CUT_STARTUP_EVERY (4: one cut in 4, at random, comes 0-3 s after the agent starts)
#        FIELDAGENT_BINARY (default .build-static/release/fieldagent, built when missing, as
#        scripts/check-device-binary.sh builds it)  LOCALHUB_BINARY (default .build/debug/localhub)
#        KERNEL_HIL_DIR (.build-hil: kernel downloads shared with kernel-hil.sh)
#        POWER_CUT_SABOTAGE=N  negative control: after cut N, delete the outbox's WAL from the
#        image (committed messages lost as by a disk that ignores flushes); the run must FAIL
# Exit:  0 every check passed; 1 a check failed; 2 set-up failed; 3 a boot hung.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${KERNEL_HIL_DIR:-$ROOT/.build-hil}
RUN=$WORK/power-cut
CUTS=${POWER_CUTS:-10}
SEED=${POWER_CUT_SEED:-$(( $(date +%s) % 100000 ))}
MAX_GROWTH=${POWER_CUT_MAX_GROWTH:-300}
STARTUP_EVERY=${POWER_CUT_STARTUP_EVERY:-4}
DEVICE=chaos-01
BOOT_TIMEOUT=180   # seconds from power-on to the cut (a hung guest), or to the end of the last boot
START=$(date +%s)
RANDOM=$SEED

say() { printf '[power-cut %3ss] %s\n' "$(( $(date +%s) - START ))" "$*" >&2; }
die() { say "SET-UP FAILED: $*"; exit 2; }
# A command that fails where nothing handles it is a problem of this script or its set-up, never a
# verdict on the agent: named, exit 2 (errtrace: also inside functions and $(…)).
set -E
trap 'rc=$?; say "SET-UP FAILED: line $LINENO: $BASH_COMMAND (exit $rc)"; exit 2' ERR

# shellcheck source=lib/packages.sh
source "$ROOT/scripts/lib/packages.sh"
install_packages "${power_cut_packages[@]}" >&2 || die "apt-get install ${power_cut_packages[*]}"
# shellcheck source=lib/kernel-vm.sh
source "$ROOT/scripts/lib/kernel-vm.sh"

# --- 1. The binaries: the device binary as it ships, LocalHub on the host ----------------------
AGENT=${FIELDAGENT_BINARY:-$ROOT/.build-static/release/fieldagent}
if [ ! -x "$AGENT" ]; then
    say "building the device binary (release, static Swift stdlib, .build-static; several minutes)"
    (cd "$ROOT" && swift build -c release --product fieldagent --static-swift-stdlib --scratch-path .build-static 2>&1 \
        | grep -E 'error|Compiling|Build' | grep -v "use of \`mktemp' is dangerous" >&2) || die "building fieldagent"
fi
[ -x "$AGENT" ] || die "no device binary at $AGENT"
HUBBIN=${LOCALHUB_BINARY:-$ROOT/.build/debug/localhub}
if [ ! -x "$HUBBIN" ]; then
    say "building localhub (debug)"
    (cd "$ROOT" && swift build --product localhub 2>&1 | grep -E 'error|Build' >&2) || die "building localhub"
fi
[ -x "$HUBBIN" ] || die "no localhub at $HUBBIN"

# --- 2. Kernel, modules, initramfs ---------------------------------------------------------------
kernel_select "$WORK"
say "kernel $ABI ($KVERSION)"
kernel_extract "$IMAGE" busybox-static
kernel_vmlinux

rm -rf "$RUN"; mkdir -p "$RUN"
"$AGENT" certs dev-pki --out "$RUN/pki" --devices "$DEVICE" > "$RUN/pki.log" 2>&1 || { cat "$RUN/pki.log" >&2; die "fieldagent certs dev-pki"; }

RAMFS=$RUN/initramfs
initramfs_start "$RAMFS"
# virtio-pci carries both devices; ext4 needs crc32c through the crypto API (no symbol dependency,
# so modules.dep does not list it); virtio-rng feeds the guest's entropy for TLS.
initramfs_add_modules "$RAMFS" virtio_pci virtio_blk virtio_net crc32c_generic ext4 virtio-rng
strip -o "$RAMFS/bin/fieldagent" "$AGENT"
initramfs_add_libraries "$RAMFS" "$AGENT"
mkdir -p "$RAMFS/etc/fieldagent"
cp "$ROOT/Tests/Agent/ChaosTests/Fixtures/sim-chaos.yaml" "$RAMFS/etc/fieldagent/board.yaml"
cp "$RUN/pki/$DEVICE.pem" "$RAMFS/etc/fieldagent/device.pem"
install -m 0600 "$RUN/pki/$DEVICE.key" "$RAMFS/etc/fieldagent/device.key"
cp "$RUN/pki/ca-chain.pem" "$RAMFS/etc/fieldagent/ca.pem"
{ initramfs_init_preamble POWERCUT; cat <<'INIT'
for m in $(cat /modules/order); do insmod "/modules/$m" || { echo "FAIL setup: insmod $m"; finish fail; }; done
arg() { sed -n "s/.*powercut\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
mkdir -p /state
# Default options: ext4's data=ordered, barriers on; the kernel replays the journal here.
mount -t ext4 /dev/vda /state || { echo "FAIL setup: mount /dev/vda"; finish fail; }
ip link set lo up
ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2 \
    || { echo "FAIL setup: network"; finish fail; }
echo "POWERCUT-BOOT $(arg boot) $(uname -r) $(grep ' /state ' /proc/mounts)"
set -- run --board /etc/fieldagent/board.yaml --time-scale 0 --log-level info \
    --hub "$(arg hub)" --expected-host-name localhost \
    --cert /etc/fieldagent/device.pem --key /etc/fieldagent/device.key --ca /etc/fieldagent/ca.pem \
    --state-dir /state/agent --aggregate-window 0s --drain-jitter 0s --clock-sync-wait 0s
if [ "$(arg final)" = 1 ]; then
    # The last boot: a short stream, then the agent drains the outbox and exits.
    /bin/fieldagent "$@" --count "$(arg count)" --flush-timeout 150s
    rc=$?
    echo "POWERCUT-AGENT-EXIT $rc"
    sync
    umount /state || rc=1
    [ "$rc" = 0 ] && finish pass
    finish fail
fi
exec /bin/fieldagent "$@"
INIT
} > "$RAMFS/init"
chmod +x "$RAMFS/init"
INITRD=$RUN/initrd.cpio.gz
initramfs_pack "$RAMFS" "$INITRD"
say "initramfs $(du -h "$INITRD" | cut -f1) (fieldagent $(du -h "$RAMFS/bin/fieldagent" | cut -f1) stripped)"

# --- 3. The disk: ext4 made on the host, no root ---------------------------------------------------
DISK=$RUN/state.img
truncate -s 64M "$DISK"
mkfs.ext4 -q -F -L fieldagent-state "$DISK" || die "mkfs.ext4 $DISK"

# --- 4. LocalHub on 127.0.0.1 -------------------------------------------------------------------
HUBDIR=$RUN/hub
"$HUBBIN" serve --port 0 --state-dir "$HUBDIR" --cert "$RUN/pki/server.pem" --key "$RUN/pki/server.key" \
    --ca "$RUN/pki/root.pem" --log-level warning > "$RUN/localhub.log" 2>&1 &
HUBPID=$!
QEMUPID=
cleanup() {
    trap - ERR
    if [ -n "$QEMUPID" ]; then kill -9 "$QEMUPID" 2>/dev/null || true; fi
    kill "$HUBPID" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT
PORT=
for _ in $(seq 300); do  # up to 30 s: a debug localhub on a loaded machine
    # (the background shell may not have created the log yet)
    PORT=$(sed -n 's/^LocalHub listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$RUN/localhub.log" 2>/dev/null || true)
    [ -n "$PORT" ] && break
    kill -0 "$HUBPID" 2>/dev/null || break
    sleep 0.1
done
[ -n "$PORT" ] || { cat "$RUN/localhub.log" >&2; die "localhub serve did not start"; }
"$HUBBIN" device add "$DEVICE" --ca "$RUN/pki/root.pem" --state-dir "$HUBDIR" > /dev/null || die "localhub device add"
TELEMETRY=$HUBDIR/telemetry/$DEVICE.jsonl
say "LocalHub on 127.0.0.1:$PORT (the guest's 10.0.2.2:$PORT); seed $SEED; $CUTS cuts after 1..$MAX_GROWTH new hub messages each"

messages() { cat "$TELEMETRY.1" "$TELEMETRY" 2>/dev/null | wc -l || true; }
boot() {  # boot N FINAL: starts qemu in the background, its console in $RUN/boot-N.log
    qemu-system-x86_64 -accel tcg -m 512M -nodefaults -display none -no-reboot \
        -serial "file:$RUN/boot-$1.log" -kernel "$VMLINUX" -initrd "$INITRD" \
        -append "console=ttyS0 panic=-1 quiet powercut.boot=$1 powercut.final=$2 powercut.count=50 powercut.hub=10.0.2.2:$PORT" \
        -drive "file=$DISK,format=raw,if=none,id=state" -device virtio-blk-pci,drive=state \
        -netdev user,id=net -device virtio-net-pci,netdev=net -device virtio-rng-pci \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 < /dev/null > "$RUN/qemu-$1.log" 2>&1 &
    QEMUPID=$!
}

FAILED=0
fail() { say "FAIL $*"; FAILED=1; }

# check_disk N: fsck and the outbox on a copy of the image as the cut left it. Run in this shell
# (not in $(…)), so that fail counts: it sets outbox (yes/no), fsck, integrity, next, queued,
# top and relation for the caller.
check_disk() {
    local n=$1 copy=$RUN/cut.img dump=$RUN/dump-$1 rc clean
    outbox=no integrity= next= queued= top= relation=
    cp --sparse=always "$DISK" "$copy"
    rc=0 clean=0
    e2fsck -fy "$copy" > "$RUN/fsck-$n.log" 2>&1 || rc=$?   # replays the journal as a mount would
    e2fsck -fn "$copy" >> "$RUN/fsck-$n.log" 2>&1 || clean=$?
    fsck="fsck clean"
    if ! { [ "$rc" -le 1 ] && [ "$clean" = 0 ]; }; then
        fsck="fsck NOT CLEAN"
        fail "cut $n: e2fsck after journal replay: exit $rc then $clean ($RUN/fsck-$n.log)"
    fi
    rm -rf "$dump"; mkdir -p "$dump"
    local f
    for f in outbox.db outbox.db-wal; do
        if debugfs -R "stat /agent/$f" "$copy" 2>/dev/null | grep -q '^Inode:'; then
            debugfs -R "dump /agent/$f $dump/$f" "$copy" > /dev/null 2>&1 || fail "cut $n: debugfs could not dump /agent/$f"
        fi
    done
    rm -f "$copy"
    if [ ! -s "$dump/outbox.db" ]; then
        # Cut before the agent first created its outbox: nothing committed yet.
        top=$(python3 "$ROOT/scripts/power-cut/hub-check.py" "$TELEMETRY" "$DEVICE" max)
        [ "$top" = 0 ] || fail "cut $n: no outbox.db on the disk but the hub holds seq up to $top"
        return 0
    fi
    outbox=yes
    # Each query on a copy, so that none sees what an earlier one changed (opening replays the WAL).
    local q; q=$(mktemp -d "$RUN/query.XXXXXX")
    query() { rm -f "$q"/*; cp "$dump"/* "$q/"; sqlite3 "$q/outbox.db" "$1" 2>&1 || true; }
    integrity=$(query 'PRAGMA integrity_check' | head -5 | tr '\n' ' ')
    [ "$integrity" = "ok " ] || fail "cut $n: outbox integrity_check: $integrity"
    next=$(query "SELECT value FROM meta WHERE key = 'next_seq'")
    queued=$(query 'SELECT count(*) FROM messages')
    rm -rf "$q"
    top=$(python3 "$ROOT/scripts/power-cut/hub-check.py" "$TELEMETRY" "$DEVICE" max)
    relation=">"
    if ! [[ "$next" =~ ^[0-9]+$ ]] || [ "$next" -le "$top" ]; then
        relation="NOT >"
        fail "cut $n: the outbox's committed next_seq is $next but the hub holds seq $top: an acknowledged commit was lost"
    fi
}

# check_boot_log N: no damaged-database path in the agent's start-up output.
check_boot_log() {
    local log=$RUN/boot-$1.log
    # A start-up cut may come before the agent starts; every other boot must reach it.
    grep -q "^POWERCUT-BOOT $1 " "$log" || [ "${2:-}" = start-up ] || fail "boot $1: the guest did not reach the agent ($log)"
    if grep -nE 'corrupt|moved it aside|degraded to MEMORY|damaged message|FAIL setup' "$log" >&2; then
        fail "boot $1: the agent found a damaged outbox or could not use its disk ($log)"
    fi
}

# --- 5. Cuts ------------------------------------------------------------------------------------
# Most cuts come once the hub's log has grown by a random number of messages (1..MAX_GROWTH: in
# the first backlog batches after a boot, or well into the live stream); one in four at a random
# 0.0-3.0 s after the guest starts the agent instead (the file system just mounted, its journal
# replayed): the agent opening its outbox, connecting, resending what was in flight.
early=0
for n in $(seq 1 "$CUTS"); do
    growth=$(( RANDOM % MAX_GROWTH + 1 ))
    delay=
    if [ $(( RANDOM % STARTUP_EVERY )) = 0 ]; then delay=$(( RANDOM % 31 )); early=$((early + 1)); fi  # tenths of a second
    before=$(messages)
    booted=$(date +%s)
    boot "$n" 0
    if [ -n "$delay" ]; then
        until grep -q "^POWERCUT-BOOT $n " "$RUN/boot-$n.log" 2>/dev/null; do
            kill -0 "$QEMUPID" 2>/dev/null || break
            [ $(( $(date +%s) - booted )) -le "$BOOT_TIMEOUT" ] || break
            sleep 0.05
        done
        sleep "$((delay / 10)).$((delay % 10))"
        growth=0
    fi
    while [ "$(messages)" -lt $((before + growth)) ]; do
        if ! kill -0 "$QEMUPID" 2>/dev/null; then
            tail -30 "$RUN/boot-$n.log" >&2; say "boot $n: the guest stopped by itself"; exit 3
        fi
        if [ $(( $(date +%s) - booted )) -gt "$BOOT_TIMEOUT" ]; then
            tail -30 "$RUN/boot-$n.log" >&2; say "boot $n: the hub log did not grow by $growth within ${BOOT_TIMEOUT}s"; exit 3
        fi
        sleep 0.05
    done
    if ! kill -9 "$QEMUPID" 2>/dev/null; then
        tail -30 "$RUN/boot-$n.log" >&2; say "boot $n: the guest stopped by itself before the cut"; exit 3
    fi
    wait "$QEMUPID" 2>/dev/null || true
    QEMUPID=
    cut_at=$(( $(date +%s) - booted ))
    when="${cut_at}s after power-on"
    [ -n "$delay" ] && when="$((delay / 10)).$((delay % 10))s after the agent started (start-up cut)"
    sleep 0.5  # what the hub had received before the cut is written before it is counted
    check_boot_log "$n" "${delay:+start-up}"
    check_disk "$n"
    if [ "$n" = "${POWER_CUT_SABOTAGE:-}" ] && [ "$outbox" = yes ]; then
        # The negative control: lose the commits since the last checkpoint, as a disk that lied
        # about a flush (or synchronous=NORMAL) would. The checks must then fail.
        e2fsck -fy "$DISK" > /dev/null 2>&1 || true
        debugfs -w -R "rm /agent/outbox.db-wal" "$DISK" > /dev/null 2>&1
        say "cut $n: SABOTAGE: removed outbox.db-wal from the disk image (the checks must now fail)"
    fi
    if [ "$outbox" = no ]; then
        say "cut $n: $when, hub +$(( $(messages) - before )) messages; $fsck, no outbox on disk yet"
    else
        say "cut $n: $when, hub +$(( $(messages) - before )) messages$([ -n "$delay" ] || echo " (target $growth)"); $fsck; outbox integrity ${integrity% }, next_seq $next $relation hub's highest $top; $queued queued"
    fi
done

# --- 6. The last boot: the agent finishes and drains ---------------------------------------------
n=$((CUTS + 1))
say "boot $n: last boot, 50 more readings, then the agent drains its outbox and exits"
boot "$n" 1
booted=$(date +%s)
status=
for _ in $(seq $((BOOT_TIMEOUT * 10))); do
    if ! kill -0 "$QEMUPID" 2>/dev/null; then
        status=0; wait "$QEMUPID" || status=$?
        break
    fi
    sleep 0.1
done
if [ -z "$status" ]; then
    tail -30 "$RUN/boot-$n.log" >&2; say "boot $n: no result within ${BOOT_TIMEOUT}s"; exit 3
fi
QEMUPID=
check_boot_log "$n"
agent_exit=$(sed -n 's/^POWERCUT-AGENT-EXIT \([0-9]*\).*/\1/p' "$RUN/boot-$n.log")
[ "$status" = 33 ] && [ "$agent_exit" = 0 ] \
    || fail "last boot: qemu exit $status, agent exit '${agent_exit}' ($RUN/boot-$n.log: $(grep -E 'error|warning' "$RUN/boot-$n.log" | tail -3 || true))"

echo "--- checks"
check_disk final
python3 "$ROOT/scripts/power-cut/hub-check.py" "$TELEMETRY" "$DEVICE" check || FAILED=1
if [ "${integrity% }" = ok ] && [ "$queued" = 0 ]; then
    echo "PASS (c) the outbox after the last boot: integrity_check ok, every message sent and deleted, next_seq $next"
else
    echo "FAIL (c) the outbox after the last boot: integrity '${integrity% }', $queued message(s) left"; FAILED=1
fi
if [ "$FAILED" = 0 ]; then
    echo "PASS per cut: fsck clean after journal replay, integrity_check ok, next_seq above the hub's highest; no damaged-database path at any boot"
fi
summary=$(python3 "$ROOT/scripts/power-cut/hub-check.py" "$TELEMETRY" "$DEVICE" check | sed -n 1p || true)
echo "(d) summary: $CUTS power cuts ($early during start-up, $((CUTS - early)) mid-stream), seed $SEED, $(( $(date +%s) - START ))s in all; $summary"
if [ "$FAILED" = 0 ]; then say "PASS"; exit 0; fi
say "FAIL (work files in $RUN)"; exit 1
