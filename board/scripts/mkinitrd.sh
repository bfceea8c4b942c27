#!/bin/sh
# Build the stage-1 initrd: busybox-static, board/initrd/init, and the storage
# and ext4 modules listed in board/initrd/modules (with their dependencies).
#
#   mkinitrd.sh BUSYBOX KERNEL_PKG_DIR KVER WORK_DIR OUTPUT.cpio.gz
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
busybox=$1; kpkg=$2; kver=$3; work=$4; out=$5

rm -rf "$work"
mkdir -p "$work/bin" "$work/etc" "$work/dev" "$work/proc" "$work/sys"
cp "$busybox" "$work/bin/busybox"
cp "$here/initrd/init" "$work/init"
grep -v '^#' "$here/initrd/modules" | sed '/^$/d' >"$work/etc/modules"
# shellcheck disable=SC2046 # one module name per word
"$here/scripts/kmodules.sh" "$kpkg" "$kver" "$work" $(cat "$work/etc/modules")
# The kernel's built-in initramfs already provides /dev/console.
# -R 0:0: every file owned by root without needing fakeroot.
(cd "$work" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -9n >"$out"
