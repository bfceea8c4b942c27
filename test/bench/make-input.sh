#!/bin/bash
# test/bench/make-input.sh [OUT.pcap] -- build the benchmark input.
#
# Reads the real captures in ../shared/pcaps/ndpi-4.2 in place (never copied
# into the repo), puts the Ethernet ones onto one rising timeline and merges
# BENCH_REPLICAS time-shifted replicas with rewritten addresses into OUT.pcap
# (default build/bench/input.pcap): ~4 M packets, ~310 k flows, ~1.6 GB.
# See mkinput.c for the details.
#
# Cached: OUT.pcap.key holds a hash of the captures, mkinput.c and the
# parameters; when it matches, nothing is rebuilt. OUT.pcap.info holds the
# line mkinput printed (packets=... replicas=...), which run.sh reads.
#
# Environment: BENCH_PCAPS (capture folder), BENCH_REPLICAS (80),
# BENCH_MAXGAP_US (10000: largest gap kept between two packets of a capture).
# Without the capture folder it says why the benchmark is skipped, exit 0.
set -euo pipefail
export LC_ALL=C

me=make-input.sh
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
pcaps=${BENCH_PCAPS:-$root/../shared/pcaps/ndpi-4.2}
reps=${BENCH_REPLICAS:-80}
maxgap=${BENCH_MAXGAP_US:-10000}
out=${1:-$root/build/bench/input.pcap}
[ ! -d "$pcaps" ] || pcaps=$(cd "$pcaps" && pwd)

shopt -s nullglob
caps=("$pcaps"/*.pcap "$pcaps"/*.pcapng)
if [ ! -d "$pcaps" ] || [ ${#caps[@]} -eq 0 ]; then
  echo "$me: benchmark skipped: no captures in $pcaps (the shared folder ../shared is absent)"
  exit 0
fi

outdir=$(dirname "$out")
mkdir -p "$outdir"
bin=$root/build/bench/mkinput
mkdir -p "$(dirname "$bin")"
if [ ! -x "$bin" ] || [ "$here/mkinput.c" -nt "$bin" ]; then
  ${CC:-cc} -std=c11 -O2 -Wall -Wextra -Werror -o "$bin" "$here/mkinput.c" -lpcap
fi

key=$( { cd "$pcaps" && sha256sum -- "${caps[@]##*/}"
         sha256sum < "$here/mkinput.c"
         echo "replicas=$reps maxgap_us=$maxgap"; } | sha256sum | cut -c1-16)
if [ -s "$out" ] && [ -s "$out.info" ] && [ "$(cat "$out.key" 2>/dev/null)" = "$key" ]; then
  echo "$me: cached $out ($(cat "$out.info"))"
  exit 0
fi

# ~410 bytes a packet on average; want the output plus some room.
need_mb=$(( $(du -cm "${caps[@]}" | tail -n1 | cut -f1) * reps + 512 ))
have_mb=$(df -Pm "$outdir" | awk 'NR==2 {print $4}')
if [ "$have_mb" -lt "$need_mb" ]; then
  echo "$me: not enough space in $outdir: ${have_mb} MB free, ~${need_mb} MB needed" >&2
  exit 1
fi

echo "$me: building $out ($reps replicas of ${#caps[@]} captures in $pcaps)"
rm -f "$out" "$out.key" "$out.info"
start=$EPOCHREALTIME
# mkinput names the skipped non-Ethernet captures on stderr; keep that quiet
# but summarised (its stdout line has files=/skipped= counts).
if ! info=$("$bin" -n "$reps" -g "$maxgap" -o "$out.tmp" "${caps[@]}" 2>"$out.log"); then
  cat "$out.log" >&2
  rm -f "$out.tmp"
  exit 1
fi
mv "$out.tmp" "$out"
echo "$info" > "$out.info"
echo "$key" > "$out.key"
printf '%s: %s (%.1f s; skipped captures and read errors in %s)\n' \
  "$me" "$info" "$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN{print b-a}')" "$out.log"
