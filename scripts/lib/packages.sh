# Debian packages each script needs, declared once, and the function that installs the missing
# ones. Sourced by scripts/demo.sh, scripts/test.sh and the Debian-root checks.

# What the swift.org toolchain itself needs on Debian 12 and 13 to build and link this package,
# found by building it in a minimal debootstrap root: the libraries SwiftPM, the driver and lld
# load (ncurses, SQLite, libcurl, libxml2), the C library headers, GCC's start files and
# libstdc++ (gcc, g++) for the link, pkg-config for the system libraries, git for SwiftPM's
# dependency checkouts, tzdata for Foundation's time zones.
swift_packages=(binutils gcc g++ libc6-dev libcurl4-openssl-dev libxml2 libncurses6 libsqlite3-0 pkg-config tzdata git)

# What the package's C targets build against: OpenSSL 3 (TLS, X.509), libgpiod (GPIO backend),
# SQLite (the outbox through its C API, LocalHub's state through GRDB), libyaml (board and
# configuration files).
build_packages=(pkg-config libssl-dev libgpiod-dev libsqlite3-dev libyaml-dev)

# The demo: the build, and python3 for its summaries of what arrives at the hub.
demo_packages=("${swift_packages[@]}" "${build_packages[@]}" python3)

# The tests (README, "What the tests need"): openssl as an independent oracle, mosquitto as the
# real broker on 127.0.0.1, pip for the Python checks, nm (binutils) for the device-binary check.
test_packages=("${swift_packages[@]}" "${build_packages[@]}" openssl mosquitto mosquitto-clients python3-pip binutils)

# The Debian 13 leg (scripts/debian13-check.sh): the build, libi2c-dev as a board would have it,
# openssl for the unit tests that check thumbprints and certificates against its command line, and
# python3 with jsonschema for the contract-drift tests, which run scripts/check-firmware-interface.py.
debian13_packages=("${swift_packages[@]}" "${build_packages[@]}" libi2c-dev openssl python3 python3-jsonschema systemd systemd-journal-remote)

# Metrics and the technician's page (issue 18; Tests/Agent/AgentRuntimeTests/ObserveTests.swift):
# promtool and a real Prometheus for /metrics, headless Chromium for the page at a phone viewport.
observe_packages=(prometheus chromium)

# getLogs from the journal (Tests/Agent/AgentRuntimeTests/JournalLogsTests.swift): journalctl reads
# a real journal file that systemd-journal-remote makes from export-format entries.
journal_packages=(systemd systemd-journal-remote)

# install_packages NAME… — apt-get installs those not installed yet (sudo when not root).
install_packages() {
    local missing=() p sudo=""
    for p in "$@"; do
        case " ${missing[*]} " in *" $p "*) continue ;; esac
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing with apt-get: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The CI-sized arm64 check (scripts/arm64-cross-check.sh): Debian's aarch64 cross compiler, the
# arm64 kernel and C library headers, qemu-user to run what it builds, and gpiod.h.
arm64_cross_packages=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross linux-libc-dev-arm64-cross qemu-user-static libgpiod-dev)

# The TPM-held key check (scripts/tpm-key-check.sh): a software TPM (swtpm), tpm2-tools to make the
# persistent key, OpenSSL's tpm2 provider (the agent's and openssl's way to the key), tpm2-abrmd as
# the resource manager on a private D-Bus session bus (dbus-daemon; gdbus from libglib2.0-bin waits
# for it), its TCTI and swtpm's, and mosquitto as the second broker.
tpm_packages=(swtpm swtpm-tools tpm2-tools tpm2-openssl tpm2-abrmd libtss2-tcti-tabrmd0 libtss2-tcti-swtpm0 dbus
              libglib2.0-bin openssl mosquitto mosquitto-clients python3)

# The unit checks (scripts/check-units.sh): systemd-analyze verify and security --offline.
unit_check_packages=(systemd)

# The Debian packages (scripts/build-deb.sh, scripts/deb-check.sh): dpkg-shlibdeps (dpkg-dev)
# for Depends:, lintian to check them, debootstrap for the fresh root they are installed in.
deb_packages=(dpkg-dev binutils lintian debootstrap)

# The services under a real systemd (scripts/systemd-vm-check.sh): the packages above, qemu to boot
# the Debian root with its own kernel, mkfs.ext4 -d (e2fsprogs) to make its disk from a folder.
systemd_vm_packages=("${deb_packages[@]}" qemu-system-x86 e2fsprogs util-linux)

# The power-cut test (scripts/power-cut-test.sh): qemu and cpio for the guest, xz and kmod
# (depmod) for the kernel's modules, mkfs.ext4/e2fsck/debugfs (e2fsprogs) for the state disk,
# sqlite3 for integrity_check on the outbox taken from it, python3 to judge the hub's log.
power_cut_packages=(qemu-system-x86 cpio xz-utils kmod binutils e2fsprogs sqlite3 python3)
