#!/bin/sh
# Copy into a root filesystem exactly the shared libraries that some armhf ELF
# files need: their DT_NEEDED entries, and those of each library, recursively.
# Nothing else is copied, so the image holds no library that nothing loads.
#
#   libclosure.sh DEST_ROOT "SEARCH_ROOT..." ELF...
#
# SEARCH_ROOTs are tried in order (the sysroot the binaries were linked against
# first). Libraries land in DEST_ROOT/usr/lib/arm-linux-gnueabihf, where
# Debian's armhf ld.so looks by default. Prints each library copied.
set -eu

dest=$1; roots=$2; shift 2
libdir=$dest/usr/lib/arm-linux-gnueabihf
mkdir -p "$libdir"
READELF=${READELF:-arm-linux-gnueabihf-readelf}

needed() { # the DT_NEEDED sonames of one ELF file
	"$READELF" -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
}

find_lib() { # the first file named $1 under the search roots
	for r in $roots; do
		for d in lib/arm-linux-gnueabihf usr/lib/arm-linux-gnueabihf lib usr/lib; do
			if [ -e "$r/$d/$1" ]; then echo "$r/$d/$1"; return 0; fi
		done
	done
	return 1
}

todo=""
for f in "$@"; do todo="$todo $(needed "$f")"; done
done_list=" "
while [ -n "$(echo "$todo" | tr -d ' ')" ]; do
	next=""
	for so in $todo; do
		case "$done_list" in *" $so "*) continue ;; esac
		done_list="$done_list$so "
		src=$(find_lib "$so") || { echo "libclosure.sh: $so not found in: $roots" >&2; exit 1; }
		# -L: the sysroot's sonames are symlinks; the image gets the real file.
		cp -L "$src" "$libdir/$so"
		echo "$so"
		next="$next $(needed "$libdir/$so")"
	done
	todo=$next
done

# PT_INTERP is /lib/ld-linux-armhf.so.3; /lib is a symlink to usr/lib.
if [ -e "$libdir/ld-linux-armhf.so.3" ]; then
	ln -sf arm-linux-gnueabihf/ld-linux-armhf.so.3 "$dest/usr/lib/ld-linux-armhf.so.3"
fi
