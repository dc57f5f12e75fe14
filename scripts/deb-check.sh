#!/usr/bin/env bash
# The .deb packages as a user meets them: built by scripts/build-deb.sh (this version, then the
# same binaries as a later version), installed with `apt install ./fieldagent_*.deb` in a fresh
# throwaway Debian root (scripts/debian-root.sh; nothing it installs stays), then upgraded,
# removed and purged, checking at each step what a Debian service package promises:
#
#   install   the system user fieldagent in groups i2c and gpio; /var/lib/fieldagent 0700 and
#             theirs; /etc/fieldagent/agent.yaml; `systemctl cat` shows the hardened unit and
#             `systemd-analyze verify` accepts both installed units; the binaries run
#   upgrade   the state folder and a locally edited conffile are kept
#   remove    binaries gone, configuration and state kept
#   purge     state and configuration gone
#
# Then lintian on both packages (its findings are printed; an error fails the check).
#   SUITE=trixie scripts/deb-check.sh     on Debian 13 (default bookworm)
#   SKIP_BUILD=1 scripts/deb-check.sh     package the binaries already in .build-static
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/packages.sh
source scripts/lib/packages.sh
install_packages "${deb_packages[@]}"
suite=${SUITE:-bookworm}
arch=$(dpkg --print-architecture)
version=$(sed -n 's/.*version: "\([^"]*\)".*/\1/p' Sources/Agent/fieldagent/FieldAgent.swift)
later=$version+upgrade1

started=$SECONDS
./scripts/build-deb.sh >/dev/null
SKIP_BUILD=1 VERSION=$later ./scripts/build-deb.sh >/dev/null
echo "deb-check: built ${version} and ${later} in $((SECONDS - started)) s"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
for v in "$version" "$later"; do
    mkdir -p "$stage/$v"
    cp "dist/fieldagent_${v}_$arch.deb" "dist/spike-predictor_${v}_$arch.deb" "$stage/$v/"
done

# Runs as root inside the throwaway root; every failed expectation is named, then it exits 1.
mkdir -p "$stage/debs"
cat >"$stage/debs/inside.sh" <<'INSIDE'
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive
failures=0
expect() {  # description, command…
    local what=$1; shift
    if "$@" >/tmp/expect.out 2>&1; then echo "  ok    $what"; else echo "  FAIL  $what"; sed 's/^/        /' /tmp/expect.out | tail -15; failures=$((failures + 1)); fi
}
apt-get update -qq
# systemctl and systemd-analyze for the unit checks (a board has them; minbase does not).
apt-get install -y -qq systemd >/dev/null
cd /root/debs/v1
echo "install: apt install ./fieldagent_*.deb ./spike-predictor_*.deb"
expect "apt install" apt install -y -qq ./fieldagent_*.deb ./spike-predictor_*.deb
expect "the user fieldagent is in i2c and gpio" sh -c 'id -nG fieldagent | tr " " "\n" | grep -qx i2c && id -nG fieldagent | tr " " "\n" | grep -qx gpio'
expect "/var/lib/fieldagent is fieldagent's, 0700" sh -c '[ "$(stat -c %U:%a /var/lib/fieldagent)" = fieldagent:700 ]'
expect "agent.yaml is a conffile" sh -c 'dpkg-query -W -f="\${Conffiles}" fieldagent | grep -q /etc/fieldagent/agent.yaml'
# systemctl cat needs a running systemd before systemd 254; in a chroot with systemd 252 (Debian
# 12) it only says so, and systemd-analyze cat-config prints the same (the unit and its drop-ins).
show_unit() {
    if systemctl cat "$1" 2>/dev/null | grep -q .; then systemctl cat "$1"; else systemd-analyze cat-config "systemd/system/$1"; fi
}
show_unit fieldagent.service >/tmp/unit 2>&1
echo "  (the unit as installed: $(head -1 /tmp/unit))"
expect "the installed unit (systemctl cat, or cat-config) is the hardened one" sh -c 'for line in Type=notify WatchdogSec= NoNewPrivileges=yes ProtectSystem=strict DevicePolicy=closed "DeviceAllow=char-i2c rw" CapabilityBoundingSet= SystemCallFilter=@system-service MemoryDenyWriteExecute=yes; do grep -q "^$line" /tmp/unit || { echo "missing $line"; exit 1; }; done'
expect "systemd-analyze verify accepts the installed units" sh -c 'out=$(systemd-analyze verify fieldagent.service spike-predictor.service 2>&1); echo "$out"; [ -z "$out" ]'
expect "the unit is enabled" sh -c '[ "$(systemctl is-enabled fieldagent.service)" = enabled ]'
expect "fieldagent runs" sh -c 'fieldagent --version'
expect "spike-predictor runs" sh -c 'spike-predictor --help >/dev/null'
# What the agent would have left: an outbox, and a local edit of the configuration.
echo outbox >/var/lib/fieldagent/outbox.db
sed -i 's/^send_frequency: .*/send_frequency: 45s/' /etc/fieldagent/agent.yaml
echo "upgrade: apt install ./fieldagent_*+upgrade1*.deb"
cd /root/debs/v2
expect "apt install the later version" apt-get install -y -qq -o Dpkg::Options::=--force-confold ./fieldagent_*.deb ./spike-predictor_*.deb
expect "the later version is installed" sh -c 'dpkg-query -W -f="\${Version}" fieldagent | grep -q +upgrade1'
expect "the state folder is kept" sh -c '[ "$(cat /var/lib/fieldagent/outbox.db)" = outbox ]'
expect "the edited configuration is kept" grep -q "^send_frequency: 45s" /etc/fieldagent/agent.yaml
echo "remove: apt-get remove"
expect "apt-get remove" apt-get remove -y -qq spike-predictor fieldagent
expect "the binaries are gone" sh -c '! [ -e /usr/bin/fieldagent ] && ! [ -e /usr/bin/spike-predictor ]'
expect "configuration and state are kept" sh -c '[ -f /etc/fieldagent/agent.yaml ] && [ -f /var/lib/fieldagent/outbox.db ]'
echo "purge: apt-get purge"
expect "apt-get purge" apt-get purge -y -qq spike-predictor fieldagent
expect "state and configuration are gone" sh -c '! [ -e /var/lib/fieldagent ] && ! [ -e /etc/fieldagent/agent.yaml ]'
expect "nothing of the packages is left in dpkg" sh -c '! dpkg-query -W fieldagent spike-predictor 2>/dev/null | grep -q .'
exit $((failures > 0))
INSIDE

status=0
mv "$stage/$version" "$stage/debs/v1"
mv "$stage/$later" "$stage/debs/v2"
./scripts/debian-root.sh "$suite" run --throwaway --bind "$stage/debs:/root/debs" -- /bin/bash /root/debs/inside.sh || status=1

echo "lintian:"
lintian_out=$(lintian --tag-display-limit 0 "dist/fieldagent_${version}_$arch.deb" "dist/spike-predictor_${version}_$arch.deb" 2>&1) || true
echo "${lintian_out:-  (nothing)}" | sed 's/^/  /'
if grep -q '^E: ' <<<"$lintian_out"; then
    echo "deb-check: lintian reports errors" >&2
    status=1
fi
echo "deb-check: $([ $status -eq 0 ] && echo passed || echo FAILED) in $((SECONDS - started)) s"
exit $status
