#!/usr/bin/env bash
# A minimal Debian root (debootstrap --variant=minbase) of a given suite and architecture, cached
# in the git-ignored .build-roots/ of this package, in which a command runs with this machine's
# Swift toolchain, its local Swift package mirror and its git URL rewrites visible.
#
#   scripts/debian-root.sh [--arch ARCH] SUITE make            make the root, or reuse a finished one
#   scripts/debian-root.sh [--arch ARCH] SUITE install PKG…    apt-get install the missing ones inside it
#   scripts/debian-root.sh [--arch ARCH] SUITE run [OPTIONS] [--] COMMAND…
#       --throwaway         run on an overlay of the root: whatever COMMAND installs or writes is
#                           discarded at exit, so the cached root stays as debootstrap left it
#       --clone DIR         git clone this package (its HEAD) into DIR inside the root first
#       --copy DIR          copy this package's working tree (tracked and untracked files that git
#                           does not ignore, with their times) into DIR inside the root first
#       --bind HOST[:DIR]   bind-mount HOST at DIR inside the root (default: the same path)
#       --cd DIR            run COMMAND in DIR inside the root (default /)
#   scripts/debian-root.sh [--arch ARCH] SUITE path           print the root's directory
#
# ARCH defaults to this machine's (dpkg --print-architecture); a foreign one needs qemu-user-static
# with binfmt_misc so debootstrap's second stage and the command can run, and a toolchain for that
# architecture (SWIFT_TOOLCHAIN). The toolchain is SWIFT_TOOLCHAIN or the installation the `swift`
# on PATH belongs to (…/usr/bin/swift); it is bind-mounted read-only at the same path and its
# usr/bin leads PATH inside. Every `url.<base>.insteadOf` of the system git configuration whose
# base is a local directory (a package mirror) is bind-mounted read-only and written to the root's
# /etc/gitconfig. Mounts live in a private mount namespace (unshare), so they end with the command
# even when it is killed, and are also unmounted by a trap. A root is complete once
# .debian-root-complete is in it; one without (debootstrap interrupted) is removed and made again.
# Needs root, debootstrap and util-linux (unshare, flock); DEBIAN_MIRROR overrides the mirror.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
package=$(cd "$here/.." && pwd)
# shellcheck source=lib/packages.sh
source "$here/lib/packages.sh"

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 64; }
die() { echo "debian-root: $*" >&2; exit 1; }

all_args=("$@")
arch=""
while [ $# -gt 0 ]; do
    case $1 in
        --arch) arch=$2; shift 2 ;;
        -h|--help) usage ;;
        *) break ;;
    esac
done
[ $# -ge 2 ] || usage
suite=$1 action=$2
shift 2
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, mount, chroot)"
arch=${arch:-$(dpkg --print-architecture)}
roots=${DEBIAN_ROOTS_DIR:-$package/.build-roots}
root=$roots/$suite-$arch
marker=$root/.debian-root-complete
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$roots"

# Shared while a command runs in the root, exclusive while it is made or packages go in.
# A child of this script (the run inside install, the run in its namespace) inherits the lock on
# descriptor 9 and leaves it as its parent holds it.
inherited_lock=${DEBIAN_ROOT_LOCKED:-}
lock() {
    [ -z "$inherited_lock" ] || return 0
    [ -n "${DEBIAN_ROOT_LOCKED:-}" ] || { exec 9>"$root.lock"; export DEBIAN_ROOT_LOCKED=1; }
    flock "$1" 9
}

make_root() {
    lock -x
    if [ -f "$marker" ]; then lock -s; return 0; fi
    command -v debootstrap >/dev/null || install_packages debootstrap
    if [ -e "$root" ]; then
        echo "debian-root: $root is half made; removing it"
        rm -rf --one-file-system "$root"
    fi
    echo "debian-root: debootstrap --variant=minbase --arch=$arch $suite $root"
    local log=$roots/$suite-$arch.debootstrap.log
    if ! debootstrap --variant=minbase --arch="$arch" "$suite" "$root" "$mirror" >"$log" 2>&1; then
        tail -20 "$log" >&2
        die "debootstrap failed (log: $log)"
    fi
    # No service starts inside the root when a package that has one is installed.
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
    rm -rf "$root"/var/cache/apt/archives/*.deb
    date -u +%FT%TZ >"$marker"
    lock -s
}

toolchain() {
    if [ -n "${SWIFT_TOOLCHAIN:-}" ]; then echo "$SWIFT_TOOLCHAIN"; return; fi
    local swift
    swift=$(command -v swift) || die "no swift on PATH and no SWIFT_TOOLCHAIN"
    swift=$(readlink -f "$swift")
    dirname "$(dirname "$(dirname "$swift")")"
}

# Local directories the system git configuration rewrites URLs to (a Swift package mirror).
mirror_rewrites() { git config --system --get-regexp '^url\..*\.insteadof$' 2>/dev/null || true; }

run_in_root() {
    local throwaway="" clone="" copy="" cd_dir=/ binds=()
    while [ $# -gt 0 ]; do
        case $1 in
            --throwaway) throwaway=1; shift ;;
            --clone) clone=$2; shift 2 ;;
            --copy) copy=$2; shift 2 ;;
            --bind) binds+=("$2"); shift 2 ;;
            --cd) cd_dir=$2; shift 2 ;;
            --) shift; break ;;
            -*) usage ;;
            *) break ;;
        esac
    done
    [ $# -gt 0 ] || usage
    if [ -z "${DEBIAN_ROOT_NAMESPACE:-}" ]; then
        make_root
        DEBIAN_ROOT_NAMESPACE=1 exec unshare --mount --propagation private -- "$0" "${all_args[@]}"
    fi
    target=$root mounts=() scratch=""
    cleanup() {
        local i
        for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
            umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}" 2>/dev/null || true
        done
        [ -z "$scratch" ] || rm -rf --one-file-system "$scratch"
    }
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    mount_at() { mkdir -p "$2"; mount "${@:3}" "$1" "$2"; mounts+=("$2"); }

    if [ -n "$throwaway" ]; then
        scratch=$(mktemp -d "$roots/throwaway.XXXXXX")
        mkdir -p "$scratch/upper" "$scratch/work" "$scratch/merged"
        mount -t overlay overlay -o "lowerdir=$root,upperdir=$scratch/upper,workdir=$scratch/work" "$scratch/merged"
        mounts+=("$scratch/merged")
        target=$scratch/merged
    fi

    mount_at proc "$target/proc" -t proc
    mount_at /sys "$target/sys" --bind -o ro
    mount_at /dev "$target/dev" --bind
    mount_at /dev/pts "$target/dev/pts" --bind
    mount_at tmpfs "$target/dev/shm" -t tmpfs
    cp -L /etc/resolv.conf "$target/etc/resolv.conf"

    local tc
    tc=$(toolchain)
    [ -x "$tc/usr/bin/swift" ] || die "no toolchain at $tc (usr/bin/swift)"
    mount_at "$tc" "$target$tc" --bind
    mount -o remount,bind,ro "$target$tc"

    local key base rewrite
    : >"$target/etc/gitconfig"
    while read -r key rewrite; do
        base=${key#url.}; base=${base%.insteadof}
        case $base in /*) ;; *) continue ;; esac
        if ! findmnt -rn "$target${base%/}" >/dev/null; then
            mount_at "${base%/}" "$target${base%/}" --bind
            mount -o remount,bind,ro "$target${base%/}"
        fi
        git config --file "$target/etc/gitconfig" --add "url.$base.insteadOf" "$rewrite"
    done < <(mirror_rewrites)

    local b host dir
    for b in "${binds[@]}"; do
        host=${b%%:*}; dir=${b#*:}; [ "$dir" != "$b" ] || dir=$host
        mount_at "$host" "$target$dir" --bind
    done

    if [ -n "$clone" ]; then
        rm -rf --one-file-system "${target:?}$clone"
        git clone --quiet --no-hardlinks "$package" "$target$clone"
    fi
    if [ -n "$copy" ]; then
        rm -rf --one-file-system "${target:?}$copy"
        mkdir -p "$target$copy"
        (cd "$package" && git ls-files -z --cached --others --exclude-standard |
            while IFS= read -r -d '' f; do   # a tracked file deleted in the tree drops out
                if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
            done |
            tar --null -T - -cf -) | tar -xpf - -C "$target$copy"
    fi

    local path="$tc/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    local status=0
    chroot "$target" /usr/bin/env -i HOME=/root USER=root LOGNAME=root LANG=C.UTF-8 PATH="$path" \
        TERM="${TERM:-dumb}" CI="${CI:-}" /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$cd_dir" "$@" || status=$?
    return $status
}

case $action in
    make) make_root ;;
    path) echo "$root" ;;
    install)
        [ $# -gt 0 ] || usage
        make_root
        lock -x
        # One definition of the installer, run inside the root; debootstrap's apt lists are gone.
        "$0" --arch "$arch" "$suite" run -- /bin/bash -c \
            "$(declare -f install_packages); install_packages \"\$@\"" install_packages "$@"
        ;;
    run) run_in_root "$@" ;;
    *) usage ;;
esac
