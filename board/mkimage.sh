#!/bin/sh
# Build the SD card image of a board from Debian's armhf packages and our
# cross-built binaries, without root privileges or loop mounts.
#
#   board/mkimage.sh BOARD OUTPUT_DIR
#
# Environment:
#   TAPBOX_BINS    armhf executables to install in /usr/sbin (tapboxd, ...)
#   ARMHF_SYSROOT  the sysroot they were linked against (their libraries are
#                  copied from there); default build/sysroot-armhf
#   TAPBOX_CACHE   where downloaded .debs are kept across builds and clones;
#                  default ~/.cache/tapbox
#
# Writes OUTPUT_DIR/images/sdcard.img (and .bmap when bmaptool is installed).
# Work trees: OUTPUT_DIR/{target,initrd,boot,uboot,genimage.tmp}.
set -eu

usage() { echo "usage: $0 BOARD OUTPUT_DIR  (TAPBOX_BINS=\"armhf binaries\")" >&2; exit 2; }
[ $# -eq 2 ] || usage
board=$1
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
bdir=$here/$board
cache=${TAPBOX_CACHE:-$HOME/.cache/tapbox}
sysroot=${ARMHF_SYSROOT:-$top/build/sysroot-armhf}
bins=${TAPBOX_BINS:-}
export PATH="$PATH:/usr/sbin:/sbin"
READELF=${READELF:-arm-linux-gnueabihf-readelf}
STRIP=${STRIP:-arm-linux-gnueabihf-strip}

t0=$(date +%s)
nstep=8
step=0
progress() { step=$((step + 1)); echo "mkimage [$step/$nstep] $* ($(($(date +%s) - t0)) s)"; }
die() { echo "mkimage: $*" >&2; exit 1; }

# Tools that turn a Debian armhf root into an image, run on the build host.
PKG_KERNEL_META=linux-image-armmp
PKG_BOOT="busybox-static u-boot-omap"
# Debian armhf programs shipped beside busybox, with the library packages their
# DT_NEEDED entries ask for (libc comes from the sysroot):
#   e2fsprogs: check, recreate and grow /data; openntpd: NTP (Debian's busybox
#   has no ntpd applet); ethtool: GRO/LRO off on the wire ports.
PKG_EXTRA="e2fsprogs libext2fs2 libcom-err2 libblkid1 libuuid1 openntpd ethtool libmnl0"
EXTRA_BINS="sbin/e2fsck sbin/mke2fs sbin/resize2fs usr/sbin/ntpd sbin/ethtool"

# --- 1 ---------------------------------------------------------------------
progress "checking tools and inputs for board $board"
[ -f "$bdir/genimage.cfg" ] || die "no board/$board/genimage.cfg"
for t in apt-cache apt-get dpkg-deb "$READELF" "$STRIP" qemu-arm depmod modprobe cpio gzip \
	fakeroot genimage mke2fs mkdosfs mcopy; do
	command -v "$t" >/dev/null || die "missing $t (run 'make deps')"
done
[ -n "$bins" ] || die "TAPBOX_BINS is empty: name the armhf binaries to install"
for b in $bins; do
	[ -f "$b" ] || die "TAPBOX_BINS: no file $b"
	"$READELF" -h "$b" 2>/dev/null | grep -q 'Machine:.*ARM$' || die "$b is not an armhf ELF"
done
if [ -d "$sysroot/usr/lib/arm-linux-gnueabihf" ]; then
	libroots=$sysroot
else
	# Before the sysroot exists (toolchain/sysroot-armhf.sh), a plain C program
	# needs only libc: take it from Debian's cross libc.
	echo "mkimage: no sysroot at $sysroot; libraries from /usr/arm-linux-gnueabihf"
	libroots=/usr/arm-linux-gnueabihf
fi

# --- 2 ---------------------------------------------------------------------
progress "fetching Debian armhf packages (cache $cache)"
kpkg=$(apt-cache depends "$PKG_KERNEL_META:armhf" 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[0-9][^:]*\).*/\1/p' | head -1)
[ -n "$kpkg" ] || die "no $PKG_KERNEL_META:armhf in the apt lists (run 'make deps')"
kver=${kpkg#linux-image-}
# shellcheck disable=SC2046,SC2086 # package lists and directories are words
set -- $("$here/scripts/debs.sh" "$cache" "$kpkg" $PKG_BOOT $PKG_EXTRA)
kdir=$1 bbdir=$2 ubdir=$3
shift 3
extradirs="$*"
for d in $extradirs; do libroots="$libroots $d"; done
echo "  kernel $kver, $(basename "$bbdir"), $(basename "$ubdir")"

# --- 3 ---------------------------------------------------------------------
progress "root filesystem skeleton and busybox"
tgt=$out/target
rm -rf "$tgt"
mkdir -p "$tgt"
(
	cd "$tgt"
	mkdir -p usr/bin usr/sbin usr/lib etc/tapbox/boards dev proc sys run tmp data \
		root var/log var/lib var/empty usr/share/tapbox
	# merged /usr, as in Debian
	ln -s usr/bin bin; ln -s usr/sbin sbin; ln -s usr/lib lib
	# The root is read-only: everything written at run time lives in /run,
	# /tmp, /var/log (tmpfs) or /data.
	ln -s ../run var/run; ln -s ../tmp var/tmp
	ln -s /run/openntpd var/lib/openntpd
	ln -s /run/resolv.conf etc/resolv.conf
	ln -s /proc/self/mounts etc/mtab
	chmod 1777 tmp
	chmod 700 root
)
install -m 755 "$bbdir/bin/busybox" "$tgt/usr/bin/busybox"

# --- 4 ---------------------------------------------------------------------
progress "our binaries, Debian extras and exactly their shared libraries"
for b in $bins; do
	install -m 755 "$b" "$tgt/usr/sbin/$(basename "$b")"
	# Debug info stays in the build tree; the card gets the stripped binary.
	"$STRIP" --strip-unneeded "$tgt/usr/sbin/$(basename "$b")"
done
elfs=""
for b in $bins; do elfs="$elfs $tgt/usr/sbin/$(basename "$b")"; done
for rel in $EXTRA_BINS; do
	src=""
	for d in $extradirs; do [ -f "$d/$rel" ] && src=$d/$rel; done
	[ -n "$src" ] || die "no $rel in the extra packages"
	install -m 755 "$src" "$tgt/usr/sbin/$(basename "$rel")"
	elfs="$elfs $tgt/usr/sbin/$(basename "$rel")"
done
ln -s mke2fs "$tgt/usr/sbin/mkfs.ext4"
ln -s e2fsck "$tgt/usr/sbin/fsck.ext4"
for d in $extradirs; do
	[ -f "$d/etc/mke2fs.conf" ] && cp "$d/etc/mke2fs.conf" "$tgt/etc/"
done
# shellcheck disable=SC2086 # lists of words
libs=$("$here/scripts/libclosure.sh" "$tgt" "$libroots" $elfs)
echo "  $(echo "$libs" | wc -w) libraries: $(echo "$libs" | tr "\n" " ")"
# Busybox applets as links, except where a real program was installed above.
# --list-full names each applet with its directory (bin/ls, usr/sbin/ntpd...).
qemu-arm "$tgt/usr/bin/busybox" --list-full | while read -r a; do
	case "$a" in
	bin/*|usr/bin/*) dst=usr/bin/${a##*/}; link=busybox ;;
	sbin/*|usr/sbin/*) dst=usr/sbin/${a##*/}; link=../bin/busybox ;;
	*) continue ;;   # linuxrc
	esac
	[ -e "$tgt/$dst" ] || [ -L "$tgt/$dst" ] || ln -s "$link" "$tgt/$dst"
done

# --- 5 ---------------------------------------------------------------------
progress "kernel modules for every board (with depmod)"
mods=$(cat "$here"/*/board.conf | sed -n 's/^BOARD_MODULES="\(.*\)"/\1/p')
# shellcheck disable=SC2046,SC2086 # module names are words
"$here/scripts/kmodules.sh" "$kdir" "$kver" "$tgt/usr" bridge vfat nls_cp437 nls_iso8859-1 \
	$mods $(grep -v '^#' "$here/initrd/modules")
echo "  $(find "$tgt/usr/lib/modules" -name '*.ko' | wc -l) modules, $(du -sh "$tgt/usr/lib/modules" | cut -f1)"

# --- 6 ---------------------------------------------------------------------
progress "rootfs/ overlay, board descriptions, lua/ and www/"
cp -a "$top/rootfs/." "$tgt/"
for c in "$here"/*/board.conf; do
	cp "$c" "$tgt/etc/tapbox/boards/$(basename "$(dirname "$c")").conf"
done
for d in lua www; do
	mkdir -p "$tgt/usr/share/tapbox/$d"
	[ -d "$top/$d" ] && cp -a "$top/$d/." "$tgt/usr/share/tapbox/$d/"
done
# MAC vendor names for the Hosts page (tapboxd --oui-file's default): architecture-independent
# data from Debian's wireshark-common, which toolchain/deps.sh installs on the build host.
manuf=/usr/share/wireshark/manuf
if [ -f "$manuf" ]; then
	install -D -m 644 "$manuf" "$tgt$manuf"
else
	echo "mkimage: $manuf missing (wireshark-common): devices will have no vendor" >&2
fi
chmod 600 "$tgt/etc/shadow"
version=$(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown)
cat >"$tgt/etc/tapbox-release" <<EOF
VERSION=$version
BOARD=$board
KERNEL=$kver
BUILT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EOF
ln -sf tapbox-release "$tgt/etc/os-release"

# --- 7 ---------------------------------------------------------------------
progress "boot partition: zImage, DTBs, stage-1 initrd, extlinux.conf"
bootd=$out/boot
rm -rf "$bootd" "$out/uboot"
mkdir -p "$bootd/extlinux" "$bootd/dtbs" "$out/uboot"
cp "$kdir/boot/vmlinuz-$kver" "$bootd/zImage"
# The AM335x family only: U-Boot's findfdt picks one of these.
cp "$kdir/usr/lib/linux-image-$kver"/am335x-*.dtb "$bootd/dtbs/"
cp "$bdir/extlinux.conf" "$bootd/extlinux/extlinux.conf"
"$here/scripts/mkinitrd.sh" "$bbdir/bin/busybox" "$kdir" "$kver" "$out/initrd" "$bootd/initrd.img"
cp "$ubdir/usr/lib/u-boot/am335x_evm/MLO" "$ubdir/usr/lib/u-boot/am335x_evm/u-boot.img" "$out/uboot/"

# --- 8 ---------------------------------------------------------------------
progress "genimage: sdcard.img"
rm -rf "$out/genimage.tmp" "$out/images"
mkdir -p "$out/images"
# fakeroot: every file in the ext4 and FAT images is owned by root.
(cd "$out" && fakeroot genimage --config "$bdir/genimage.cfg" --rootpath "$tgt" \
	--tmppath "$out/genimage.tmp" --inputpath "$out/uboot" --outputpath "$out/images" \
	>"$out/genimage.log" 2>&1) || { tail -20 "$out/genimage.log" >&2; die "genimage failed"; }
rm -rf "$out/genimage.tmp"
if command -v bmaptool >/dev/null; then
	bmaptool -q create -o "$out/images/sdcard.img.bmap" "$out/images/sdcard.img"
fi

echo "mkimage: done in $(($(date +%s) - t0)) s"
echo "  rootfs contents  $(du -sh "$tgt" | cut -f1)"
echo "  initrd.img       $(du -h "$bootd/initrd.img" | cut -f1)"
echo "  boot partition   $(du -sh "$bootd" | cut -f1) used of 64M"
for f in "$out"/images/*; do
	printf '  %-16s %s (on disk %s)\n' "$(basename "$f")" \
		"$(du -h --apparent-size "$f" | cut -f1)" "$(du -h "$f" | cut -f1)"
done
