#!/usr/bin/env bash
# The two services under a real systemd: a Debian root with systemd as PID 1, booted under qemu
# with Debian's own kernel and initramfs, the .deb packages installed as a user installs them,
# and the checks below run inside by a unit of their own. What a container cannot show:
#
#   start     spike-predictor.service and fieldagent.service reach "active (running)" through
#             Type=notify (READY=1), as user fieldagent, inside the hardened sandbox (no new
#             privileges, a seccomp filter, an empty capability bounding set); the agent routes
#             to the predictor on its socket; status.json is in /run/fieldagent; telemetry lines
#             reach the journal
#   watchdog  a frozen agent (SIGSTOP: no pings) is killed by systemd's watchdog and restarted,
#             and the new process reaches READY again
#   stop      systemctl stop ends the agent cleanly (SIGTERM, flush, exit 0)
#
# Exit status: 0 all checks passed, 1 a check failed, 2 set-up failed, 3 the guest hung.
#   scripts/systemd-vm-check.sh              bookworm (Debian 12); SUITE=trixie for Debian 13
#   SKIP_BUILD=1 scripts/systemd-vm-check.sh  package the binaries already in .build-static
# The prepared root (systemd, the kernel, its initramfs) is cached in .build-vm/SUITE-base; the
# packages go into a throwaway overlay of it each run. qemu's TCG (no KVM needed); VM_ACCEL=kvm.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/packages.sh
source scripts/lib/packages.sh
install_packages "${systemd_vm_packages[@]}"
[ "$(id -u)" -eq 0 ] || { echo "systemd-vm-check: needs root (chroot, overlay, mkfs)" >&2; exit 2; }
suite=${SUITE:-bookworm}
arch=$(dpkg --print-architecture)
[ "$arch" = amd64 ] || { echo "systemd-vm-check: boots an amd64 guest; this machine is $arch" >&2; exit 2; }
version=$(sed -n 's/.*version: "\([^"]*\)".*/\1/p' Sources/Agent/fieldagent/FieldAgent.swift)
started=$SECONDS
vm=$(pwd)/.build-vm
base=$vm/$suite-base
mkdir -p "$vm"

# 1. The packages (deb-check builds the same ones; SKIP_BUILD=1 packages what is built).
if [ ! -f "dist/fieldagent_${version}_$arch.deb" ] || [ -z "${SKIP_BUILD:-}" ]; then
    ./scripts/build-deb.sh >/dev/null
fi

# inroot DIR COMMAND…: COMMAND in DIR as a root with /proc, /sys, /dev and the host's resolver.
inroot() {
    local dir=$1; shift
    unshare --mount --propagation private -- /bin/bash -c '
        dir=$1; shift
        mount -t proc proc "$dir/proc" && mount --rbind /dev "$dir/dev" && mount --bind -o ro /sys "$dir/sys"
        cp /etc/resolv.conf "$dir/etc/resolv.conf"
        exec chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"' inroot "$dir" "$@"
}

# 2. The base: a minimal root (scripts/debian-root.sh) plus systemd as init, Debian's kernel and
#    its initramfs (virtio and ext4 are modules), procps and a serial login-less console.
#    Remade when this list changes (the marker holds it).
base_packages="systemd systemd-sysv udev dbus procps curl linux-image-amd64 initramfs-tools zstd"
if [ "$(cat "$base/.vm-base-complete" 2>/dev/null)" != "$base_packages" ]; then
    ./scripts/debian-root.sh "$suite" make >/dev/null
    rm -rf "$base"
    cp -a "$(./scripts/debian-root.sh "$suite" path)" "$base"
    rm -f "$base/.debian-root-complete"
    echo "systemd-vm-check: preparing $base (systemd, linux-image-amd64; once)"
    inroot "$base" apt-get update -qq
    # shellcheck disable=SC2086
    inroot "$base" apt-get install -y -qq --no-install-recommends $base_packages >/dev/null
    inroot "$base" apt-get clean
    echo vm >"$base/etc/hostname"
    echo "$base_packages" >"$base/.vm-base-complete"
fi
kernel=$(ls "$base"/boot/vmlinuz-* | sort -V | tail -1)
initrd=$(ls "$base"/boot/initrd.img-* | sort -V | tail -1)

# 3. This run: an overlay of the base, the packages installed with apt, the checks as a unit.
run=$(mktemp -d "$vm/run.XXXXXX")
trap 'umount "$run/merged" 2>/dev/null || true; rm -rf "$run"' EXIT
mkdir -p "$run/upper" "$run/work" "$run/merged"
mount -t overlay overlay -o "lowerdir=$base,upperdir=$run/upper,workdir=$run/work" "$run/merged"
root=$run/merged
mkdir -p "$root/root/debs"
cp "dist/fieldagent_${version}_$arch.deb" "dist/spike-predictor_${version}_$arch.deb" "$root/root/debs/"
inroot "$root" /bin/bash -c 'cd /root/debs && apt-get install -y -qq ./fieldagent_*.deb ./spike-predictor_*.deb >/dev/null'
# The agent's configuration: the simulated factory line, telemetry to the journal (no hub in a
# VM without a network), spike alerts through the co-located predictor; a short send period; the
# technician's page on loopback with its token (its "logs" action is getLogs).
install -m 0644 boards/sim-factory-line.yaml "$root/etc/fieldagent/board.yaml"
cat >"$root/etc/fieldagent/agent.yaml" <<'YAML'
board: /etc/fieldagent/board.yaml
send_frequency: 4s
route: predictor
predictor:
  socket: /run/fieldagent/predictor.sock
  # qemu's TCG runs this guest many times slower than a board: the 50 ms default would be missed.
  deadline: 1s
page:
  listen: 127.0.0.1:8080
  token_file: /etc/fieldagent/page-token
YAML
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$root/etc/fieldagent/page-token"
inroot "$root" /bin/bash -c 'chown fieldagent:fieldagent /etc/fieldagent/page-token && chmod 0600 /etc/fieldagent/page-token'
# A shorter watchdog than the shipped 2 min, so a frozen agent is caught in seconds; the rest of
# the unit is the installed one.
mkdir -p "$root/etc/systemd/system/fieldagent.service.d"
cat >"$root/etc/systemd/system/fieldagent.service.d/vm-check.conf" <<'UNIT'
[Service]
WatchdogSec=6s
TimeoutAbortSec=3s
RestartSec=1s
UNIT
install -m 0755 scripts/systemd-vm/inside.sh "$root/usr/local/sbin/vm-check"
cat >"$root/etc/systemd/system/vm-check.service" <<'UNIT'
[Unit]
Description=FieldAgent systemd VM check
After=fieldagent.service spike-predictor.service
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/vm-check
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/vm-check.service "$root/etc/systemd/system/multi-user.target.wants/vm-check.service"
# No getty on the console (the checks own it), no waiting for a network that is not there.
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
ln -sf /dev/null "$root/etc/systemd/system/systemd-networkd-wait-online.service"
echo "/dev/vda / ext4 rw 0 1" >"$root/etc/fstab"
rm -rf "$root/root/debs"

image=$run/disk.ext4
size_mb=$(( $(du -sm "$root" | cut -f1) + 512 ))
mkfs.ext4 -q -L vmroot -d "$root" "$image" "${size_mb}M"
umount "$run/merged"
echo "systemd-vm-check: image ${size_mb} MB ready after $((SECONDS - started)) s"

# 4. Boot it. The guest reports through isa-debug-exit (33 pass, 35 fail) and a VM-RESULT line.
# TCG by default: this machine's /dev/kvm opens but its guests never start (no nested
# virtualisation); VM_ACCEL=kvm where it works.
accel=${VM_ACCEL:-tcg}
timeout_s=$([ "$accel" = kvm ] && echo 240 || echo 900)
log=$vm/serial-$suite.log
set +e
timeout "$timeout_s" qemu-system-x86_64 -accel "$accel" -m 1024 -smp 2 -nodefaults -no-reboot -display none \
    -serial "file:$log" -kernel "$kernel" -initrd "$initrd" \
    -append "root=/dev/vda rw console=ttyS0 panic=-1 systemd.show_status=0 loglevel=4" \
    -drive "file=$image,format=raw,if=virtio" -device isa-debug-exit,iobase=0xf4,iosize=0x04
qemu=$?
set -e
grep -E '^(  ok|  FAIL|        |  \(|VM-)' "$log" || true
result=$(sed -n 's/^VM-RESULT \([a-z]*\).*/\1/p' "$log" | tail -1)
echo "systemd-vm-check: $accel, $((SECONDS - started)) s; serial log $log"
if [ "$qemu" -eq 124 ]; then echo "systemd-vm-check: the guest hung (no result in $timeout_s s)" >&2; exit 3; fi
case "$qemu:$result" in
    33:pass) echo "systemd-vm-check: passed"; exit 0 ;;
    35:fail) echo "systemd-vm-check: FAILED" >&2; exit 1 ;;
    *) echo "systemd-vm-check: no agreed result (qemu exit $qemu, VM-RESULT '$result')" >&2; tail -40 "$log" >&2; exit 3 ;;
esac
