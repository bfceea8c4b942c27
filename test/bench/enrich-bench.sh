#!/bin/bash
# test/bench/enrich-bench.sh BUILD_DIR -- the cost of issue 13's enrichment (names, fingerprints,
# certificate fields, risks, TCP health, DNS answers, devices): CPU time per packet and peak RSS
# of `tapboxd --once` over the bench input (make-input.sh: ~4 M packets, ~300 k flows alive at
# once), next to the build before the enrichment (commit $BASE, built here from git), in the
# same run, rounds taking turns. Targets: CPU time per packet at most 1.10 x the base's; peak
# RSS at most 128 MiB. The VM has no hardware counters, so CPU time (user + sys, every thread)
# stands in for instructions. Prints the figures and PASS/MISS; exit 1 only if a run fails.
set -euo pipefail
export LC_ALL=C
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BASE=${ENRICH_BASE:-527364c}
runs=${BENCH_RUNS:-5}
input=$root/build/bench/input.pcap
tapboxd=$root/$build/tapboxd
me=enrich-bench

if [ ! -d "$root/../shared/pcaps/ndpi-4.2" ]; then
  echo "$me: skipped: no shared captures; nothing measured"; exit 0
fi
"$here/make-input.sh" "$input" >/dev/null
packets=$(sed -n 's/^packets=\([0-9]*\) .*/\1/p' "$input.info" | head -n1)

base_dir=$root/build/bench/enrich-base
if ! git -C "$root" cat-file -e "$BASE^{commit}" 2>/dev/null; then
  echo "$me: skipped: commit $BASE (the build before the enrichment) is not in this clone"
  exit 0
fi
if [ ! -x "$base_dir/build/tapboxd" ] || [ "$(cat "$base_dir/.commit" 2>/dev/null)" != "$BASE" ]; then
  rm -rf "$base_dir" && mkdir -p "$base_dir"
  git -C "$root" archive "$BASE" | tar -x -C "$base_dir"
  echo "$BASE" > "$base_dir/.commit"
  make -s -C "$base_dir" build/tapboxd >/dev/null
fi

declare -A best_cpu rss
run() { # NAME BINARY
  local t=$root/build/bench/enrich-time
  /usr/bin/time -o "$t" -f "%U %S %M" "$2" --once -i "$input" --max-flows=1048576 \
    >/dev/null 2>&1 || { echo "$me: $1 run failed" >&2; exit 1; }
  read -r u s kib < "$t"
  local cpu
  cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.3f", u + s }')
  if [ -z "${best_cpu[$1]:-}" ] || awk -v a="$cpu" -v b="${best_cpu[$1]}" 'BEGIN { exit !(a < b) }'; then
    best_cpu[$1]=$cpu
  fi
  if [ -z "${rss[$1]:-}" ] || [ "$kib" -gt "${rss[$1]}" ]; then rss[$1]=$kib; fi
}
run base "$base_dir/build/tapboxd" # warm-up: page cache
for ((r = 0; r < runs; r++)); do
  run enriched "$tapboxd"
  run base "$base_dir/build/tapboxd"
done
echo "$me: tapboxd --once over $packets packets, best of $runs rounds (CPU: user + sys)"
printf '%-9s %10s %12s %14s\n' build cpu_s ns/packet peak_RSS_MiB
for t in base enriched; do
  awk -v t="$t" -v c="${best_cpu[$t]}" -v p="$packets" -v k="${rss[$t]}" \
    'BEGIN { printf "%-9s %10.2f %12.1f %14.1f\n", t, c, c * 1e9 / p, k / 1024 }'
done
awk -v a="${best_cpu[enriched]}" -v b="${best_cpu[base]}" -v k="${rss[enriched]}" 'BEGIN {
  r = a / b
  printf "target  CPU per packet <= 1.10 x the build before (%s)  x%.3f  %s\n", "'"$BASE"'", r,
         (b > 0 && r <= 1.10) ? "PASS" : "MISS"
  printf "target  peak RSS <= 128 MiB on ~300 k flows  %.1f MiB  %s\n", k / 1024,
         (k > 0 && k / 1024 <= 128) ? "PASS" : "MISS"
}'
