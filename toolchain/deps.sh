#!/bin/bash
# shellcheck disable=SC2016,SC2034,SC2086  # PKGS_* used via ${!v}; word splitting of package lists is intended
# toolchain/deps.sh [GROUP...] -- install tapbox's build/test/cross/image tools
# from Debian packages. GROUP is one of: build test cross image all (default all).
#
# Idempotent and silent when everything is present (one dpkg-query, well under
# a second). Otherwise it prints one line, runs `apt-get update` once and
# installs what is missing; apt's output goes to a log that is shown only on
# failure. Needs root (or sudo).
#
# The cross and image groups also need dpkg's foreign architecture armhf and
# the armhf package indexes (for `apt-get download` of armhf debs into the
# private sysroot / rootfs; no armhf package is ever installed on the host).
# `apt-get update` exits 100 on this mirror because the bookworm-security
# armhf index fails to download; that is tolerated, and afterwards we check
# that the indexes we need (main suite, native arch and armhf) are there.
set -euo pipefail

PKGS_build="build-essential pkg-config libuv1-dev libpcap-dev libndpi-dev
  libsodium-dev liblua5.4-dev libsqlite3-dev libcjson-dev libh2o-dev libssl-dev"
PKGS_test="tcpdump tcpreplay softflowd iproute2 python3 libndpi-bin ethtool curl iputils-ping time
  python3-cryptography python3-argon2 python3-scapy clang-14 libclang-rt-14-dev chromium wrk iperf3
  wireshark-common tshark file"
PKGS_cross="gcc-arm-linux-gnueabihf libc6-dev-armhf-cross qemu-user
  pkg-config file"
PKGS_image="qemu-system-arm genimage mtools dosfstools e2fsprogs fdisk fakeroot
  kmod cpio xz-utils u-boot-qemu u-boot-tools bmap-tools file"

me=${0##*/}
[ $# -gt 0 ] || set -- all
want="" need_armhf=0
for g in "$@"; do
  case $g in
    build|test) ;;
    cross|image) need_armhf=1 ;;
    all) set -- build test cross image; need_armhf=1; break ;;
    -h|--help) sed -n '3,4s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "$me: unknown group '$g' (build test cross image all)" >&2; exit 2 ;;
  esac
done
for g in "$@"; do v=PKGS_$g; want+=" ${!v}"; done
want=$(printf '%s\n' $want | sort -u)

missing_pkgs() {   # packages of $want not fully installed
  local ok
  ok=$({ dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' $want 2>/dev/null || true; } |
       awk '$2 == "ii" { print $1 }' | sort -u)   # (dpkg-query exits 1 on unknown names)
  comm -23 <(printf '%s\n' $want) <(printf '%s\n' $ok) | tr '\n' ' '
}
# Packages indexes for ARCH that exist on disk, from a base suite (codename
# without a dash, i.e. not -updates/-security).
# (Output captured first: with pipefail, grep -q could SIGPIPE the writer.)
have_index() {
  local c
  c=$(apt-get indextargets --format '$(CODENAME)' 'Created-By: Packages' \
        "Architecture: $1" 2>/dev/null) || return 1
  grep -qv -- - <<<"$c"
}
have_armhf_arch() { local a; a=$(dpkg --print-foreign-architectures); grep -qx armhf <<<"$a"; }
armhf_ok() { have_armhf_arch && have_index armhf; }

missing=$(missing_pkgs); missing=${missing% }
armhf_todo=0
if [ $need_armhf = 1 ] && ! armhf_ok; then armhf_todo=1; fi
[ -n "${missing// }" ] || [ $armhf_todo = 1 ] || exit 0

if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then exec sudo -- "$0" "$@"; fi
  echo "$me: must run as root to install: $missing" >&2; exit 1
fi

echo "$me: installing:${missing:+ $missing}$([ $armhf_todo = 0 ] || echo ' (+ armhf architecture and indexes)')"
log=$(mktemp "${TMPDIR:-/tmp}/tapbox-deps.XXXXXX.log")
fail() { echo "$me: $*; apt log: $log" >&2; tail -n 25 "$log" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt=(apt-get -q -y -o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0)

if [ $need_armhf = 1 ] && ! have_armhf_arch; then dpkg --add-architecture armhf; fi
# Known failure: the bookworm-security armhf index (size mismatch) -> rc 100.
"${apt[@]}" update >>"$log" 2>&1 || echo "$me: note: apt-get update exited $? (checking indexes)" >>"$log"
have_index "$(dpkg --print-architecture)" || fail "no native package index after apt-get update"
if [ $need_armhf = 1 ]; then have_index armhf || fail "no armhf package index after apt-get update"; fi

if [ -n "${missing// }" ]; then
  # wireshark-common asks whether non-root users may capture: answer no.
  echo 'wireshark-common wireshark-common/install-setuid boolean false' |
    debconf-set-selections
  "${apt[@]}" install --no-install-recommends $missing >>"$log" 2>&1 ||
    fail "apt-get install failed"
  left=$(missing_pkgs)
  [ -z "${left// }" ] || fail "still missing after install: $left"
fi
rm -f "$log"
