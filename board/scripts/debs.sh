#!/bin/sh
# Fetch Debian armhf packages into a cache shared by every clone, and unpack each
# one once. Prints, one per line, the directory each package was unpacked into.
#
#   debs.sh CACHE_DIR PACKAGE...        (PACKAGE without :armhf)
#
# Uses the host's apt lists (dpkg --add-architecture armhf; apt-get update), so
# the versions are those of the Debian release the rest of the build uses.
set -eu

cache=$1; shift
mkdir -p "$cache/debs" "$cache/unpacked"

# Candidate versions, one apt-cache call for all ("NAME VERSION" lines);
# "(none)" means no armhf index.
# shellcheck disable=SC2046 # package names are words
versions=$(apt-cache policy $(printf '%s:armhf ' "$@") 2>/dev/null |
	awk '/^[^ ]/ { sub(/:$/, ""); sub(/:armhf$/, ""); name = $1 } /^ *Candidate:/ { print name, $2 }')

for pkg in "$@"; do
	ver=$(echo "$versions" | awk -v p="$pkg" '$1 == p { print $2 }')
	if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
		echo "debs.sh: no armhf candidate for $pkg; run 'make deps' (needs" \
			"'dpkg --add-architecture armhf' and 'apt-get update')" >&2
		exit 1
	fi
	# apt names the file NAME_VERSION_ARCH.deb with ':' written as %3a.
	file=$(printf '%s_%s_armhf.deb' "$pkg" "$ver" | sed 's/:/%3a/g')
	if [ ! -s "$cache/debs/$file" ]; then
		# apt-get download writes into the current directory; a temp dir keeps a
		# half-downloaded file out of the cache.
		tmp=$(mktemp -d "$cache/debs/.dl.XXXXXX")
		(cd "$tmp" && apt-get download -q "$pkg:armhf=$ver" >/dev/null 2>"$tmp/log") || {
			cat "$tmp/log" >&2; rm -rf "$tmp"; exit 1; }
		mv "$tmp/$file" "$cache/debs/$file"
		rm -rf "$tmp"
	fi
	dir="$cache/unpacked/${file%.deb}"
	if [ ! -e "$dir/.done" ]; then
		rm -rf "$dir"
		dpkg-deb -x "$cache/debs/$file" "$dir"
		touch "$dir/.done"
	fi
	echo "$dir"
done
