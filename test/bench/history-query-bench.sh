#!/bin/bash
# test/bench/history-query-bench.sh [BUILD_DIR]: history queries against a million stored flows.
#   - fills a history with `tapboxd --once -F` over the benchmark input (make-input.sh: ~300 k
#     flows of the shared captures) BENCH_QUERY_RUNS times (default 4: ~1.2 M flows), and its
#     series table with a day of minute points for the total, each source and 300 L7 protocols
#     (the --once runs last seconds, so they write no minute of their own: these points are the
#     bench's, made with SQLite, and only their number matters to the query);
#   - starts a box on it and times, over HTTP, GET /api/v1/history/flows?host= for a typical
#     host (the median of the hosts' flow counts) and for the busiest one, a page of the newest
#     flows, and a day of /api/v1/timeseries: the best of 5 rounds, wall time from curl and the
#     box's CPU time for the same requests (/proc/PID/stat: the query runs in the pool, so the
#     CPU is what the one core pays);
#   - the reference, measured in the same run: the same host query straight in SQLite (python's
#     sqlite3 module over the whole flows table, without our chunks), and a count(*) scan.
# Targets (issue 12): host= and a day of timeseries in at most 100 ms each. Prints the figures,
# then "N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-build}
BIN=$BUILD/tapboxd
OUT=$BUILD/bench/history-query
IN=$BUILD/bench/input.pcap
RUNS=${BENCH_QUERY_RUNS:-4}
PORT=${BENCH_QUERY_PORT:-3091}
PASSED=0 FAILED=0
ok() { echo "ok   $1"; PASSED=$((PASSED + 1)); }
ko() { echo "FAIL $1: $2"; FAILED=$((FAILED + 1)); }
done_() { echo "$PASSED passed, $FAILED failed"; exit $((FAILED > 0)); }
[ -x "$BIN" ] || { ko setup "no $BIN (run make)"; done_; }
test/bench/make-input.sh "$IN" >/dev/null || { ko setup "cannot build $IN"; done_; }
[ -s "$IN" ] || { echo "history-query-bench: skipped: no benchmark input (../shared absent)"; done_; }
rm -rf "$OUT"; mkdir -p "$OUT/d"

fill_start=$EPOCHREALTIME
for r in $(seq "$RUNS"); do
    "$BIN" --once -F -i "$IN" --max-flows=1048576 -d "$OUT/d" --stats-out "$OUT/fill$r.stats" \
        >/dev/null 2>"$OUT/fill$r.err" || { ko "fill run $r" "$(tail -3 "$OUT/fill$r.err")"; done_; }
done
python3 - "$OUT/d/history.db" <<'PY' >"$OUT/fill" || { ko "fill series" "$(cat "$OUT/fill")"; done_; }
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows, last = db.execute("SELECT count(*), max(last_us) FROM flows").fetchone()
sources = [r[0] for r in db.execute("SELECT name FROM names WHERE id IN (SELECT DISTINCT source FROM flows)")]
end = last // 1000000 // 60 * 60
keys = [(0, "")] + [(1, s) for s in sources] + [(2, "proto%d" % i) for i in range(300)]
points = []
for m in range(1440):
    t = end - m * 60
    for kind, key in keys:
        points.append((60, t, kind, key, 1000 + m, 10, 1, 0))
db.executemany("INSERT OR IGNORE INTO series VALUES (?,?,?,?,?,?,?,?)", points)
db.commit()
# The hosts: a typical one (median flow count) and the busiest.
counts = {}
for c, s in db.execute("SELECT client_ip, server_ip FROM flows"):
    counts[c] = counts.get(c, 0) + 1
    counts[s] = counts.get(s, 0) + 1
order = sorted(counts, key=lambda k: counts[k])
def text(b):
    import ipaddress
    return str(ipaddress.ip_address(b))
typical, busiest = order[len(order) // 2], order[-1]
print("rows", rows)
print("points", len(points))
print("end", end)
print("typical", text(typical), counts[typical])
print("busiest", text(busiest), counts[busiest])
PY
fill_s=$(python3 -c "print(round($EPOCHREALTIME - $fill_start, 1))")
f() { awk -v k="$1" -v n="${2:-2}" '$1 == k {print $n}' "$OUT/fill"; }
echo "history: $(f rows) flows stored by $RUNS --once -F runs, $(f points) series points (${fill_s} s)"
echo "hosts: typical $(f typical) ($(f typical 3) flows), busiest $(f busiest) ($(f busiest 3) flows)"

"$BIN" -F -i ntap:47996 -d "$OUT/d" --http-port "$PORT" --https-port 0 --disable-login \
    2>"$OUT/box.err" &
pid=$!
for i in $(seq 100); do
    grep -q "HTTP on \* port $PORT" "$OUT/box.err" && grep -q "restored" "$OUT/box.err" && break
    sleep 0.2
done
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }  # clock ticks
tick=$(getconf CLK_TCK)
timed() { # timed NAME PATH: best wall of 5 rounds (ms) and CPU ms per request over them
    local best=999999 c0 c1 t code
    c0=$(cpu)
    for i in 1 2 3 4 5; do
        read -r code t < <(curl -s -o "$OUT/body" -w '%{http_code} %{time_total}\n' --max-time 30 "http://127.0.0.1:$PORT$2")
        [ "$code" = 200 ] || { echo "$1 HTTP $code $(head -c 200 "$OUT/body")" >>"$OUT/errors"; }
        t=$(python3 -c "print(round($t * 1000, 1))")
        awk "BEGIN{exit !($t < $best)}" && best=$t
    done
    c1=$(cpu)
    echo "$1 $best $(python3 -c "print(round(($c1 - $c0) * 1000 / $tick / 5, 1))") $(python3 -c "import json; j = json.load(open('$OUT/body')); print(j.get('total', len(j.get('values', []))))")"
}
end=$(f end)
{
    timed host_typical "/api/v1/history/flows?host=$(f typical)&limit=50"
    timed host_busiest "/api/v1/history/flows?host=$(f busiest)&limit=50"
    timed newest "/api/v1/history/flows?limit=50"
    timed series_day "/api/v1/timeseries?metric=bytes&l7=proto7&from=$((end - 86400))&to=$end"
} >"$OUT/figures"
kill -TERM "$pid"; wait "$pid"
python3 - "$OUT/d/history.db" "$(f typical)" >>"$OUT/figures" <<'PY'
import ipaddress, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
ip = ipaddress.ip_address(sys.argv[2]).packed
def best(sql, *args):
    b = 1e9
    for _ in range(3):
        t = time.perf_counter()
        db.execute(sql, args).fetchall()
        b = min(b, time.perf_counter() - t)
    return round(b * 1000, 1)
print("ref_host_scan", best("SELECT count(*) FROM flows WHERE client_ip = ? OR server_ip = ?", ip, ip))
print("ref_count_scan", best("SELECT count(*) FROM flows"))
PY
[ -s "$OUT/errors" ] && ko "queries answered" "$(head -3 "$OUT/errors")"
g() { awk -v k="$1" -v n="${2:-2}" '$1 == k {print $n}' "$OUT/figures"; }
echo "reference (same run, SQLite alone over every row): host scan $(g ref_host_scan) ms, count(*) $(g ref_count_scan) ms"
for q in host_typical host_busiest newest series_day; do
    echo "$q: best wall $(g $q) ms, CPU $(g $q 3) ms a request, total/points $(g $q 4)"
done
awk "BEGIN{exit !($(g host_typical) <= 100)}" && ok "history/flows?host= (typical host): $(g host_typical) ms (target 100)" \
    || ko "history/flows?host= in 100 ms" "$(g host_typical) ms wall, $(g host_typical 3) ms CPU"
awk "BEGIN{exit !($(g series_day) <= 100)}" && ok "timeseries, a day: $(g series_day) ms (target 100)" \
    || ko "timeseries a day in 100 ms" "$(g series_day) ms wall"
echo "busiest host (in every chunk, so every row is read): $(g host_busiest) ms; newest page: $(g newest) ms (no target)"
done_
