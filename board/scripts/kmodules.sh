#!/bin/sh
# Copy a chosen set of kernel modules, with the modules they depend on, from an
# unpacked Debian kernel package into a root filesystem, then run depmod there.
#
#   kmodules.sh KERNEL_PKG_DIR KVER DEST_ROOT MODULE...
#
# Debian's package ships no modules.dep, so the full tree is depmod'ed once (in
# the cache) to learn the dependencies; the image then gets only what it needs.
set -eu

src=$1; kver=$2; dest=$3; shift 3
DEPMOD=${DEPMOD:-$(command -v depmod || echo /sbin/depmod)}
MODPROBE=${MODPROBE:-$(command -v modprobe || echo /sbin/modprobe)}

if [ ! -s "$src/lib/modules/$kver/modules.dep" ]; then
	"$DEPMOD" -b "$src" "$kver"
fi

mkdir -p "$dest/lib/modules/$kver"
for m in "$@"; do
	# --show-depends prints "insmod PATH" for the module and each dependency,
	# dependencies first; builtin modules print "builtin NAME" and need nothing.
	"$MODPROBE" -d "$src" -S "$kver" --show-depends "$m" 2>/dev/null ||
		{ echo "kmodules.sh: no module $m in $kver" >&2; exit 1; }
done | sed -n 's/^insmod \([^ ]*\).*/\1/p' | sort -u | while read -r path; do
	rel=${path#"$src"/}
	mkdir -p "$dest/$(dirname "$rel")"
	cp "$path" "$dest/$rel"
done
for f in modules.builtin modules.builtin.modinfo modules.order; do
	cp "$src/lib/modules/$kver/$f" "$dest/lib/modules/$kver/"
done
"$DEPMOD" -b "$dest" "$kver"
