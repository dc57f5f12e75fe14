# Debian's own kernel under qemu, the pieces shared by scripts/kernel-hil.sh and
# scripts/power-cut-test.sh: the kernel packages downloaded (never installed) and extracted, the
# uncompressed kernel for a PVH boot, modules with what they depend on, and an initramfs with
# busybox and programs with their shared libraries. No root needed (apt-get download and
# dpkg-deb -x work as any user; only installing missing host tools needs it).
#
# Sourced. The caller defines `die MESSAGE` (print, exit 2). Usage:
#   kernel_select WORK           pick the current linux-image-<abi>-amd64; sets ABI IMAGE KVERSION
#                                KBUILD SERIES KDIR DEBS TREE MODULES VMLINUX (downloads in WORK/debs)
#   kernel_fetch PACKAGE[=VER]   download a .deb once into $DEBS
#   kernel_extract PACKAGE…      download and unpack into $TREE, once per package
#   kernel_vmlinux               the uncompressed kernel at $VMLINUX
#   initramfs_start DIR          an empty root with busybox (needs busybox-static extracted)
#   initramfs_add_modules DIR NAME…   the modules and their dependencies, in load order, into
#                                DIR/modules, their names in load order in DIR/modules/order
#   initramfs_add_libraries DIR BINARY…   the shared libraries the binaries load (ldd; with
#                                LD_LIBRARY_PATH as the caller sets it) at their paths: under $TREE
#                                without that prefix, from another LD_LIBRARY_PATH folder in
#                                /usr/lib/x86_64-linux-gnu, else where the host has them
#   initramfs_pack DIR OUT       newc cpio, gzip -1

kernel_select() {
    local work=$1 abi_of
    abi_of() { apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: linux-image-\(.*\)-amd64$/\1/p' | head -1; }
    ABI=$(abi_of)
    if [ -z "$ABI" ]; then
        if [ "$(id -u)" = 0 ]; then apt-get update -qq; elif command -v sudo >/dev/null; then sudo apt-get update -qq; fi
        ABI=$(abi_of)
    fi
    [ -n "$ABI" ] || die "apt-cache knows no linux-image-amd64; is this Debian with main in sources.list?"
    IMAGE=linux-image-$ABI-amd64
    KVERSION=$(apt-cache show "$IMAGE" | sed -n 's/^Version: //p' | head -1)
    KBUILD=$(apt-cache depends "linux-headers-$ABI-amd64" | sed -n 's/.*Depends: \(linux-kbuild-.*\)$/\1/p' | head -1)
    SERIES=${KBUILD#linux-kbuild-}  # 6.1
    KDIR=$work/kernel-$ABI
    DEBS=$work/debs
    TREE=$KDIR/tree
    MODULES=$TREE/lib/modules/$ABI-amd64
    VMLINUX=$KDIR/vmlinux
    mkdir -p "$DEBS" "$KDIR" "$TREE"
}

kernel_fetch() {
    local name=${1%%=*} log
    ls "$DEBS/${name}_"*.deb >/dev/null 2>&1 && return 0
    # Output only on failure (as root, apt warns that user _apt cannot write here; harmless).
    log=$(cd "$DEBS" && apt-get download -q "$1" 2>&1) || { printf '%s\n' "$log" >&2; die "apt-get download $1"; }
}

kernel_extract() {
    local p
    for p in "$@"; do
        [ -e "$TREE/.done-$p" ] && continue
        kernel_fetch "$p"
        dpkg-deb -x "$DEBS/${p}_"*.deb "$TREE" || die "dpkg-deb -x $p"
        touch "$TREE/.done-$p"
    done
}

# The uncompressed kernel boots through PVH in ~1/3 of the time bzImage needs under TCG.
kernel_vmlinux() {
    [ -s "$VMLINUX" ] && return 0
    kernel_extract "$IMAGE"
    local vmlinuz=$TREE/boot/vmlinuz-$ABI-amd64 off
    off=$(LC_ALL=C grep -abo $'\xfd7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1)
    [ -n "$off" ] || die "no xz payload in $vmlinuz"
    tail -c +$((off + 1)) "$vmlinuz" | xz -dc > "$VMLINUX.tmp" 2>/dev/null || true  # trailing data after the stream
    [ -s "$VMLINUX.tmp" ] || die "could not extract vmlinux"
    mv "$VMLINUX.tmp" "$VMLINUX"
}

initramfs_start() {
    local dir=$1
    rm -rf "$dir"; mkdir -p "$dir"/{bin,sbin,proc,sys,dev,tmp,modules,usr/bin,usr/sbin,etc}
    cp "$TREE/bin/busybox" "$dir/bin/busybox"
    ln -s busybox "$dir/bin/sh"
}

# The first lines of every guest's /init: busybox applets, /proc, /sys, /dev, the console, and
# finish pass|fail, which prints "$1-RESULT pass|fail" and exits qemu through isa-debug-exit
# (qemu's status is (value << 1) | 1: 16 -> 33 pass, 17 -> 35 fail). The caller appends its steps.
initramfs_init_preamble() {
    local tag=$1
    cat <<PREAMBLE
#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc none /proc
mount -t sysfs none /sys
mount -t devtmpfs none /dev
exec >/dev/console 2>&1 </dev/console
finish() {
    echo "$tag-RESULT \$1"
    if [ "\$1" = pass ]; then printf '\\020'; else printf '\\021'; fi | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
    poweroff -f
}
PREAMBLE
}

# modules.dep lines are `kernel/x/a.ko: kernel/y/b.ko kernel/z/c.ko` (dependencies, nearest first);
# a module built into the kernel is in modules.builtin instead and needs nothing.
initramfs_add_modules() {
    local dir=$1; shift
    local -a order=()
    local name
    add_module() {  # depth first: dependencies before the module
        local want line path dep seen
        want=$(printf '%s' "$1" | sed 's/[-_]/[-_]/g')  # file names mix - and _ (i2c-dev, virtio_blk)
        line=$(grep -E "(^|/)${want}\.ko(\.[a-z]+)?:" "$MODULES/modules.dep" | head -1 || true)
        if [ -z "$line" ]; then
            grep -qE "(^|/)${want}\.ko$" "$MODULES/modules.builtin" && return 0
            die "no module $want in $MODULES (modules.dep, modules.builtin)"
        fi
        path=${line%%:*}
        for seen in "${order[@]}"; do [ "$seen" = "$path" ] && return 0; done
        for dep in ${line#*:}; do
            dep=${dep##*/}; add_module "${dep%%.ko*}"
        done
        order+=("$path")
    }
    # The package ships no modules.dep (the installer runs depmod): made here, once.
    if [ ! -s "$MODULES/modules.dep" ]; then
        PATH=$PATH:/usr/sbin:/sbin depmod -b "$TREE" "$ABI-amd64" || die "depmod -b $TREE $ABI-amd64 (package kmod)"
    fi
    for name in "$@"; do add_module "$name"; done
    mkdir -p "$dir/modules"
    : > "$dir/modules/order"
    local path base
    for path in "${order[@]}"; do
        base=${path##*/}
        case $base in
            *.ko) cp "$MODULES/$path" "$dir/modules/$base" ;;
            *.ko.xz) xz -dc "$MODULES/$path" > "$dir/modules/${base%.xz}"; base=${base%.xz} ;;
            *.ko.zst) zstd -qdc "$MODULES/$path" > "$dir/modules/${base%.zst}"; base=${base%.zst} ;;
            *) die "unknown module format: $path" ;;
        esac
        echo "$base" >> "$dir/modules/order"
    done
}

initramfs_add_libraries() {
    local dir=$1; shift
    local binary lib dest folder
    local -a folders=()
    IFS=: read -r -a folders <<< "${LD_LIBRARY_PATH:-}"
    for binary in "$@"; do
        ldd "$binary" | awk '/=>/ {print $3} /^\t\/lib/ {print $1}'
    done | sort -u | while read -r lib; do
        [ -n "$lib" ] || continue
        dest=$lib
        case $lib in
            "$TREE"/*) dest=${lib#"$TREE"} ;;
            *) for folder in "${folders[@]}"; do
                   [ "${lib%/*}" = "${folder%/}" ] && dest=/usr/lib/x86_64-linux-gnu/${lib##*/}
               done ;;
        esac
        mkdir -p "$dir$(dirname "$dest")"
        cp -L "$lib" "$dir$dest"
    done
}

initramfs_pack() {
    local dir=$1 out=$2
    (cd "$dir" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) > "$out.tmp" && mv "$out.tmp" "$out"
}
