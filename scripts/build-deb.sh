#!/usr/bin/env bash
# Builds the Debian packages `fieldagent` and `spike-predictor` with dpkg-deb into dist/ (git-ignored):
#
#   fieldagent       /usr/bin/fieldagent (static Swift standard library, release), its hardened unit
#                    in /lib/systemd/system, /etc/fieldagent/agent.yaml (a conffile), the hub trust
#                    anchors in /usr/share/fieldagent/trust; postinst makes the system user
#                    fieldagent, the groups i2c and gpio, and /var/lib/fieldagent (kept across
#                    upgrades and removal, deleted on purge).
#   spike-predictor  /usr/bin/spike-predictor, its unit, the model in /usr/share/fieldagent.
#
#   scripts/build-deb.sh                 build both for this machine's architecture
#   VERSION=0.1.1 scripts/build-deb.sh   another version (the upgrade check builds two)
#   SKIP_BUILD=1 scripts/build-deb.sh    package the binaries already in .build-static
#   BIN_DIR=DIR scripts/build-deb.sh     package fieldagent and spike-predictor from DIR (no build;
#                                        e.g. another architecture's, with DEB_ARCH=arm64)
#
# The binaries are the static release build of scripts/check-device-binary.sh (.build-static),
# so CI compiles them once. Depends: is worked out by dpkg-shlibdeps from the C libraries the
# binaries load (docs/device-binary.md), plus adduser and init-system-helpers for the scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
package_root=$(pwd)
# shellcheck source=lib/packages.sh
source scripts/lib/packages.sh
install_packages "${deb_packages[@]}"

version=${VERSION:-$(sed -n 's/.*version: "\([^"]*\)".*/\1/p' Sources/Agent/fieldagent/FieldAgent.swift)}
[ -n "$version" ] || { echo "build-deb: no version" >&2; exit 2; }
arch=${DEB_ARCH:-$(dpkg --print-architecture)}
dist=$package_root/dist
mkdir -p "$dist"

build=(swift build -c release --static-swift-stdlib --scratch-path .build-static)
if [ -n "${BIN_DIR:-}" ]; then
    bin=$BIN_DIR
else
    if [ -z "${SKIP_BUILD:-}" ]; then
        "${build[@]}" --product fieldagent >&2
        "${build[@]}" --product spike-predictor >&2
    fi
    # --show-bin-path builds before it answers: name a product that is built already.
    bin=$("${build[@]}" --product spike-predictor --show-bin-path)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# stage NAME: the package tree's skeleton (docs, changelog, copyright) in $work/NAME.
stage() {
    local name=$1 root=$work/$1
    install -d -m 755 "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/usr/share/doc/$name"
    install -m 644 deploy/debian/copyright "$root/usr/share/doc/$name/copyright"
    printf '%s (%s) stable; urgency=medium\n\n  * Release %s.\n\n -- FieldAgent maintainers <fieldagent@example.org>  %s\n' \
        "$name" "$version" "$version" "$(date -R -u -d @"${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}")" |
        gzip -9n >"$root/usr/share/doc/$name/changelog.gz"
    chmod 644 "$root/usr/share/doc/$name/changelog.gz"
}

# maintainer_scripts NAME: postinst, prerm and postrm from deploy/debian/*.in, for NAME.service,
# with NAME.configure (postinst) and NAME.purge (postrm) put in.
maintainer_scripts() {
    local name=$1 script
    for script in postinst prerm postrm; do
        awk -v package="$name" -v unit="$name.service" -v configure="deploy/debian/$name.configure" -v purge="deploy/debian/$name.purge" '
            /^@CONFIGURE@$/ { while ((getline line < configure) > 0) print line; next }
            /^@PURGE@$/ { while ((getline line < purge) > 0) print line; next }
            { gsub(/@PACKAGE@/, package); gsub(/@UNIT@/, unit); print }' "deploy/debian/$script.in" >"$work/$name/DEBIAN/$script"
        chmod 755 "$work/$name/DEBIAN/$script"
    done
}

# depends BINARY: the shared libraries' packages, as dpkg-shlibdeps finds them on this system.
depends() {
    local probe=$work/shlibdeps
    mkdir -p "$probe/debian"
    printf 'Source: fieldagent\n\nPackage: probe\nArchitecture: any\n' >"$probe/debian/control"
    (cd "$probe" && dpkg-shlibdeps -O "$1" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
}

# finish NAME DESCRIPTION EXTRA_DEPENDS: control file, sizes, md5sums, then dpkg-deb.
finish() {
    local name=$1 description=$2 extra=$3 root=$work/$1
    local deps
    deps=$(depends "$root/usr/bin/$name")
    [ -n "$deps" ] || { echo "build-deb: dpkg-shlibdeps found no libraries for $name" >&2; exit 1; }
    cat >"$root/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: $arch
Maintainer: FieldAgent maintainers <fieldagent@example.org>
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $deps, $extra
Section: misc
Priority: optional
Description: $description
CONTROL
    cat "deploy/debian/$name.description" >>"$root/DEBIAN/control"
    (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
    chmod 644 "$root/DEBIAN/md5sums" "$root/DEBIAN/control"
    local out=$dist/${name}_${version}_${arch}.deb
    # gzip: xz took 7 of the check's 9 minutes on the 2-core CI machine for 4 packages.
    dpkg-deb --root-owner-group -Zgzip --build "$root" "$out" >/dev/null
    echo "$out"
}

# The agent.
stage fieldagent
root=$work/fieldagent
install -m 755 "$bin/fieldagent" "$root/usr/bin/fieldagent"
strip --strip-unneeded "$root/usr/bin/fieldagent"
install -m 644 deploy/fieldagent.service "$root/lib/systemd/system/fieldagent.service"
install -d -m 755 "$root/etc/fieldagent" "$root/usr/share/fieldagent/trust"
install -m 644 deploy/agent.yaml "$root/etc/fieldagent/agent.yaml"
install -m 644 certs/trust/*.pem "$root/usr/share/fieldagent/trust/"
echo /etc/fieldagent/agent.yaml >"$root/DEBIAN/conffiles"
maintainer_scripts fieldagent
chmod 644 "$root/DEBIAN/conffiles"
finish fieldagent "device agent for sensor boards sending to Azure IoT Hub" "adduser, init-system-helpers (>= 1.54~)"

# The predictor.
stage spike-predictor
root=$work/spike-predictor
install -m 755 "$bin/spike-predictor" "$root/usr/bin/spike-predictor"
strip --strip-unneeded "$root/usr/bin/spike-predictor"
install -m 644 deploy/spike-predictor.service "$root/lib/systemd/system/spike-predictor.service"
install -d -m 755 "$root/usr/share/fieldagent"
install -m 644 models/spike-gbt.v3.json "$root/usr/share/fieldagent/spike-gbt.v3.json"
maintainer_scripts spike-predictor
finish spike-predictor "edge spike predictor serving FieldAgent on a Unix socket" "fieldagent (= $version), init-system-helpers (>= 1.54~)"
