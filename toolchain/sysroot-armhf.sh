#!/bin/bash
# toolchain/sysroot-armhf.sh OUTDIR -- build tapbox's private armhf sysroot.
#
# Resolves the armhf closure of the -dev packages below with apt-get against an
# EMPTY dpkg status (nothing is installed on the host; multiarch -dev installs
# break the native ndpi/h2o packages), downloads the debs into a cache shared
# by all clones, `dpkg -x`es them into OUTDIR and turns absolute symlinks into
# relative ones, so OUTDIR works as `--sysroot` for arm-linux-gnueabihf-gcc,
# as PKG_CONFIG_SYSROOT_DIR and as `qemu-arm -L`.
#
# Idempotent: OUTDIR/.tapbox-sysroot records the script and the resolved
# package versions. If the apt indexes did not change since, it exits at once
# (no apt call); if they changed but resolve to the same versions, it exits
# quietly too. Otherwise it rebuilds OUTDIR (atomically, via OUTDIR.tmp.PID).
#
# Cache: ${TAPBOX_CACHE:-$HOME/.cache/tapbox}/debs-armhf (never pruned; delete
# it at will). Needs the armhf indexes: runs `deps.sh cross` when it resolves.
set -euo pipefail

# Everything the cross build links against. libc6-dev is listed explicitly:
# --sysroot makes gcc take crt*.o, libc and the headers from the sysroot, not
# from Debian's /usr/arm-linux-gnueabihf. h2o.h needs libssl-dev + libuv1-dev.
PKGS="libc6-dev libuv1-dev libpcap-dev libndpi-dev libsodium-dev liblua5.4-dev
      libsqlite3-dev libcjson-dev libh2o-dev libssl-dev"

me=sysroot-armhf
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# = 1 ] && [ -n "$1" ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
out=${1%/}
stamp=$out/.tapbox-sysroot
keyfile=$out/.tapbox-sysroot.key
cache=${TAPBOX_CACHE:-$HOME/.cache/tapbox}/debs-armhf
lists=$(apt-config shell L Dir::State::lists/d | sed -n "s/^L='\(.*\)'$/\1/p")
lists=${lists:-/var/lib/apt/lists/}
t0=$(date +%s%N)
say() { echo "$me: $*"; }
die() { echo "$me: error: $*" >&2; exit 1; }
trap 'echo "$me: error: command failed at line $LINENO" >&2' ERR

# --- fast path: nothing that can change the result changed ------------------
script_sum=$(sha256sum <"$0" | cut -c1-16)
fast_key() {
  { echo "$script_sum $PKGS"
    stat -c '%n %s %Y' "$lists"*_binary-armhf_Packages* "$lists"*_binary-all_Packages* 2>/dev/null || true
  } | sha256sum | cut -c1-32
}
key=$(fast_key)
if [ -f "$stamp" ] && [ -f "$keyfile" ] && [ "$(cat "$keyfile")" = "$key" ]; then
  [ "$stamp" -nt "$0" ] || touch "$stamp"   # keep make's view consistent
  exit 0
fi

# --- one builder per OUTDIR: wait, then look again -----------------------
mkdir -p "$(dirname "$out")"
exec 8>"$out.lock"
flock 8
if [ -f "$stamp" ] && [ -f "$keyfile" ] && [ "$(cat "$keyfile")" = "$key" ]; then
  exit 0                           # another run just built it
fi

# --- resolve the closure ----------------------------------------------------
"$here/deps.sh" cross
key=$(fast_key)    # deps.sh may have run apt-get update
work=$(mktemp -d "${TMPDIR:-/tmp}/tapbox-sysroot.XXXXXX")
trap 'rm -rf "$work" "${tmp:-}"' EXIT
: >"$work/status"
APT=(apt-get -q -o Dir::State::status="$work/status"
     -o APT::Architecture=armhf -o APT::Architectures::=armhf
     -o APT::Sandbox::User=root)
# shellcheck disable=SC2086
"${APT[@]}" -s --no-install-recommends install $PKGS >"$work/sim" 2>&1 ||
  { cat "$work/sim" >&2; die "apt-get could not resolve the armhf closure"; }
# "Inst libuv1 (1.44.2-1+deb12u1 Debian:12.15/oldstable [armhf])" -> libuv1:armhf=1.44.2-1+deb12u1
sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*\[\(armhf\|all\)\].*/\1 \2 \3/p' "$work/sim" |
  awk '{ print ($3 == "all") ? $1 "=" $2 : $1 ":armhf=" $2 }' | sort >"$work/list"
n=$(wc -l <"$work/list")
[ "$n" -gt 0 ] || { cat "$work/sim" >&2; die "empty closure"; }
[ "$n" = "$(grep -c '^Inst ' "$work/sim")" ] || die "could not parse all Inst lines (see $work/sim)"
{ echo "script $script_sum"; cat "$work/list"; } >"$work/stamp"

if [ -f "$stamp" ] && cmp -s "$stamp" "$work/stamp"; then
  echo "$key" >"$keyfile"          # same versions: just remember the indexes
  [ "$stamp" -nt "$0" ] || touch "$stamp"
  exit 0
fi
if [ -e "$out" ] && [ ! -f "$stamp" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ]; then
  die "$out exists, is not empty and is not a tapbox sysroot: refusing to replace it"
fi
say "resolved $n armhf packages"

# --- download what the cache lacks -----------------------------------------
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9                              # one downloader per cache at a time
# shellcheck disable=SC2046
"${APT[@]}" download --print-uris $(cat "$work/list") >"$work/uris" 2>"$work/uris.err" ||
  { cat "$work/uris.err" >&2; die "apt-get download --print-uris failed"; }
[ "$(wc -l <"$work/uris")" = "$n" ] || die "expected $n URIs, got $(wc -l <"$work/uris")"
# print-uris lines: 'URI' FILE SIZE SHA256:HEX. apt-get download names the file
# NAME_VERSION_ARCH.deb with the epoch colon written %3a.
awk '{ print $2, $3, $4 }' "$work/uris" | sort >"$work/files"
awk '{ split($0, a, "="); n = a[1]; v = a[2]; arch = "all"
       if (sub(/:armhf$/, "", n)) arch = "armhf"
       gsub(/:/, "%3a", v); print n "_" v "_" arch ".deb", $0 }' "$work/list" | sort >"$work/map"
cmp -s <(cut -d' ' -f1 "$work/files") <(cut -d' ' -f1 "$work/map") ||
  die "file names from apt-get download --print-uris do not match the package list"
: >"$work/get"; : >"$work/sums"
while read -r file size hash; do
  if [ -f "$cache/$file" ] && [ "$(stat -c %s "$cache/$file")" = "$size" ]; then
    case $hash in SHA256:*) echo "${hash#SHA256:}  $cache/$file" >>"$work/sums" ;; esac
  else
    echo "$file" >>"$work/get"
  fi
done <"$work/files"
if [ -s "$work/sums" ] && ! sha256sum --quiet -c "$work/sums" >/dev/null 2>&1; then
  { sha256sum -c "$work/sums" 2>/dev/null || true; } | sed -n 's/: FAILED.*//p' |
    while read -r f; do echo "${f##*/}" >>"$work/get"; done    # corrupt: fetch again
fi
nget=$(wc -l <"$work/get")
if [ "$nget" -gt 0 ]; then
  say "downloading $nget of $n debs into $cache"
  dl=$cache/.dl.$$; rm -rf "$dl"; mkdir -p "$dl"   # same filesystem: atomic mv
  # shellcheck disable=SC2046
  (cd "$dl" && "${APT[@]}" download $(awk 'NR == FNR { g[$1]; next } $1 in g { print $2 }' \
      "$work/get" "$work/map") >"$work/dl.log" 2>&1) ||
    { tail -n 20 "$work/dl.log" >&2; rm -rf "$dl"; die "download failed"; }
  mv -f "$dl/"*.deb "$cache/"; rmdir "$dl"
else
  say "all $n debs already in $cache"
fi
exec 9>&-
sed "s|^|$cache/|" <(cut -d' ' -f1 "$work/files") >"$work/debs"
while read -r f; do [ -f "$f" ] || die "missing $f after download"; done <"$work/debs"

# --- extract ----------------------------------------------------------------
say "extracting into $out"
tmp=$out.tmp.$$
rm -rf "$tmp"; mkdir -p "$tmp"
xargs -a "$work/debs" -P "$(nproc)" -I{} dpkg -x {} "$tmp"
# Absolute symlinks would point into the host: make them relative.
find "$tmp" -type l -lname '/*' -printf '%p\t%l\n' |
  while IFS=$'\t' read -r link target; do ln -sfrn "$tmp$target" "$link"; done
# Not needed for compiling, linking or qemu-arm -L.
rm -rf "$tmp"/usr/share/{doc,man,info,locale,lintian,bug}
cp "$work/stamp" "$tmp/.tapbox-sysroot"
echo "$key" >"$tmp/.tapbox-sysroot.key"
rm -rf "$out"
mv -T "$tmp" "$out"; tmp=
ds=$(( ($(date +%s%N) - t0) / 100000000 ))
say "done: $out ($(du -sh "$out" | cut -f1), $n packages, $((ds / 10)).$((ds % 10)) s)"
