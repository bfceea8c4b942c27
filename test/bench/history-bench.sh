#!/bin/bash
# test/bench/history-bench.sh [BUILD_DIR]: the cost of -F, in the same run, on the benchmark
# input (make-input.sh: ~300 k flows from the shared captures):
#   - capture rate of `tapboxd --once` with history on against off (target: within 10 %), wall
#     and CPU seconds (the box has one core: CPU is what counts);
#   - the writer: flows stored per second of the writer's own time (target: 50 k/s);
#   - SD wear: bytes the process wrote to the block device per stored flow, from /proc/self/io
#     (WAL and checkpoints included; target: 200), next to SQLite's own figure for the same rows
#     (the database file's size per row), the reference;
#   - an idle box (-F, an nTap port and nothing else) for BENCH_IDLE_S seconds (default 60):
#     bytes written (target: 0).
# The data directory is a fresh folder under BUILD_DIR/bench (write_bytes needs a real block
# device there, not a tmpfs). Prints the figures, then "N passed, N failed" for the targets.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-build}
BIN=$BUILD/tapboxd
OUT=$BUILD/bench/history
IN=$BUILD/bench/input.pcap
RUNS=${BENCH_RUNS:-3}
IDLE=${BENCH_IDLE_S:-60}
PASSED=0 FAILED=0
ok() { echo "ok   $1"; PASSED=$((PASSED + 1)); }
ko() { echo "FAIL $1: $2"; FAILED=$((FAILED + 1)); }
done_() { echo "$PASSED passed, $FAILED failed"; exit $((FAILED > 0)); }
[ -x "$BIN" ] || { ko setup "no $BIN (run make)"; done_; }
test/bench/make-input.sh "$IN" >/dev/null || { ko setup "cannot build $IN"; done_; }
[ -s "$IN" ] || { echo "history-bench: skipped: no benchmark input (../shared absent)"; done_; }
mkdir -p "$OUT"

run() { # run TAG ARGS...: one --once run; prints "wall cpu" and leaves $OUT/TAG.stats
    rm -rf "$OUT/$1.d"; mkdir -p "$OUT/$1.d"
    local tag=$1; shift
    /usr/bin/time -f "%e %U %S" -o "$OUT/$tag.time" "$BIN" --once -i "$IN" --max-flows=1048576 \
        -d "$OUT/$tag.d" --stats-out "$OUT/$tag.stats" "$@" >/dev/null 2>"$OUT/$tag.err" || return 1
    awk '{printf "%s %.2f\n", $1, $2 + $3}' "$OUT/$tag.time"
}
best_off=999 best_on=999 cpu_off=0 cpu_on=0
for r in $(seq "$RUNS"); do
    read -r w c < <(run off) || { ko "run off" "$(tail -3 "$OUT/off.err")"; done_; }
    echo "round $r: history off  wall ${w} s  cpu ${c} s"
    awk "BEGIN{exit !($w < $best_off)}" && best_off=$w cpu_off=$c
    read -r w c < <(run on -F) || { ko "run on" "$(tail -3 "$OUT/on.err")"; done_; }
    echo "round $r: history on   wall ${w} s  cpu ${c} s"
    awk "BEGIN{exit !($w < $best_on)}" && best_on=$w cpu_on=$c
done
python3 - "$OUT/on.stats" "$OUT/on.d/history.db" "$best_off" "$best_on" "$cpu_off" "$cpu_on" <<'PY' >"$OUT/figures"
import json, os, sys
st = json.load(open(sys.argv[1]))
h = st["history"]
rows = h["rows_committed"]
off, on, coff, con = map(float, sys.argv[3:7])
wb = st.get("write_bytes", 0)
size = os.path.getsize(sys.argv[2])
print(f"rows {rows} dropped {h['rows_dropped']} batches {h['batches_committed']}")
print(f"ratio_wall {on / off:.3f}")
print(f"ratio_cpu {con / coff:.3f}")
print(f"writer_rate {rows / max(h['writer_busy_s'], 1e-9):.0f}")
print(f"bytes_per_flow {wb / max(rows, 1):.1f}")
print(f"file_bytes_per_flow {size / max(rows, 1):.1f}")
PY
cat "$OUT/figures"
fig() { awk -v k="$1" '$1 == k {print $2}' "$OUT/figures"; }
echo "capture rate with history: best wall ${best_on} s against ${best_off} s off ($(fig ratio_wall) x), CPU $(fig ratio_cpu) x"
awk "BEGIN{exit !($(fig ratio_wall) <= 1.10)}" && ok "history on within 10 % of off ($(fig ratio_wall) x wall)" \
    || ko "history on within 10 % of off" "$(fig ratio_wall) x wall, $(fig ratio_cpu) x CPU"
awk "BEGIN{exit !($(fig writer_rate) >= 50000)}" && ok "writer: $(fig writer_rate) flows/s (target 50000)" \
    || ko "writer: 50000 flows/s" "$(fig writer_rate) flows/s"
echo "SD wear: $(fig bytes_per_flow) bytes written per stored flow; reference (SQLite's file per row): $(fig file_bytes_per_flow)"
awk "BEGIN{exit !($(fig bytes_per_flow) <= 200)}" && ok "SD wear: $(fig bytes_per_flow) B/flow (target 200)" \
    || ko "SD wear: 200 B/flow" "$(fig bytes_per_flow) B/flow written, $(fig file_bytes_per_flow) B/flow in the file"

# An idle box writes nothing.
rm -rf "$OUT/idle.d"; mkdir -p "$OUT/idle.d"
"$BIN" -F -i ntap:47995 -d "$OUT/idle.d" -w 0 -W 0 --stats-out "$OUT/idle.stats" 2>"$OUT/idle.err" &
pid=$!
sleep 3 # opening and the first checkpoint are start-up, not idling
before=$(awk '/^write_bytes/ {print $2}' /proc/$pid/io)
sleep "$IDLE"
after=$(awk '/^write_bytes/ {print $2}' /proc/$pid/io)
kill -TERM $pid; wait $pid
echo "idle ${IDLE} s with -F: $((after - before)) bytes written"
[ "$((after - before))" -eq 0 ] && ok "idle box: 0 bytes in ${IDLE} s" || ko "idle box writes nothing" "$((after - before)) bytes in ${IDLE} s"
done_
