#!/usr/bin/env bash
# Builds the guest for the vhost tests: a Debian kernel and a busybox
# initramfs whose /init runs the I/O checks named on the kernel command line
# (guest-init.sh). Nothing here is committed as a binary: the kernel package
# is downloaded once into a cache directory and unpacked there.
#
#   tests/integ/vhost/mkinitramfs.sh OUTDIR
# Writes OUTDIR/vmlinuz and OUTDIR/initramfs.cpio.gz; exits 77 (skip) when a
# needed tool or package is missing. Cache: $TSR_VHOST_CACHE, default
# ${XDG_CACHE_HOME:-$HOME/.cache}/tessera-vhost.
set -euo pipefail
case "${1:-}" in -h | --help | "")
	sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
	[ -n "${1:-}" ] && exit 0 || exit 2
	;;
esac
out=$1
here=$(cd "$(dirname "$0")" && pwd)
cache=${TSR_VHOST_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/tessera-vhost}
busybox=/bin/busybox
skip() { echo "mkinitramfs: $*: skipping" >&2; exit 77; }

# grep -q stops reading at the first match: under pipefail a writer still
# writing would then fail with SIGPIPE, so grep reads from a process
# substitution instead of a pipe.
[ -x "$busybox" ] && grep -qx insmod < <("$busybox" --list 2>/dev/null) ||
	skip "busybox-static is not installed"
mkdir -p "$cache" "$out"

# The kernel: the versioned package linux-image-amd64 depends on. Tests may
# run in parallel: one fills the cache, the others wait on the lock.
exec 9>"$cache/.lock"
flock -w 600 9 || skip "cache lock busy"
if ! ls "$cache"/kernel/boot/vmlinuz-* >/dev/null 2>&1; then
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	[ -n "$pkg" ] || skip "apt knows no linux-image-amd64"
	if ! ls "$cache"/"$pkg"_*.deb >/dev/null 2>&1; then
		(cd "$cache" && apt-get download "$pkg" >&2) || skip "cannot download $pkg"
	fi
	rm -rf "$cache/kernel.tmp"
	mkdir -p "$cache/kernel.tmp"
	dpkg-deb --fsys-tarfile "$cache"/"$pkg"_*.deb |
		tar -x -C "$cache/kernel.tmp" --wildcards './boot/vmlinuz-*' \
			'./lib/modules/*/kernel/drivers/virtio/*' \
			'./lib/modules/*/kernel/drivers/block/virtio_blk*'
	rm -rf "$cache/kernel"
	mv "$cache/kernel.tmp" "$cache/kernel"
fi
cp "$cache"/kernel/boot/vmlinuz-* "$out/vmlinuz"
flock -u 9

root=$(mktemp -d "${TMPDIR:-/tmp}/tessera-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules}
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
# Load order follows `modinfo -F depends` (the .deb has no modules.dep).
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk; do
	f=$(find "$cache/kernel/lib/modules" -name "$m.ko*" | head -n 1)
	[ -n "$f" ] || skip "module $m not in the kernel package"
	case "$f" in
	*.xz) xz -dc "$f" >"$root/lib/modules/$m.ko" ;;
	*.zst) zstd -dcq "$f" >"$root/lib/modules/$m.ko" ;;
	*) cp "$f" "$root/lib/modules/$m.ko" ;;
	esac
	echo "$m" >>"$root/lib/modules/order"
done
cp "$here/guest-init.sh" "$root/init"
chmod +x "$root/init"
(cd "$root" && find . | "$busybox" cpio -o -H newc 2>/dev/null | gzip -1) >"$out/initramfs.cpio.gz"
echo "mkinitramfs: wrote $out/vmlinuz and $out/initramfs.cpio.gz" >&2
