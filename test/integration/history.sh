#!/bin/bash
# history.sh TAPBOXD - -F / --history against a real tapboxd: every ended flow of a capture we
# record ourselves is stored, /api/v1/history/flows answers the same flows with the same
# counters as the NDJSON export of that run, its filters and bad parameters, kill -9 during
# writes leaves an intact database with every committed row, and a corrupt file is moved aside.
source "$(dirname "$0")/lib.sh" "$@"

CAP=$T/cap.pcap
if ! record_capture "$CAP" 5 2>"$T/record.err"; then
    fail "setup: record a capture with tcpdump" "$(tr '\n' ' ' <"$T/record.err")"
    finish; exit
fi
pass "setup: record a capture with tcpdump ($CAP_PACKETS packets)"
DEMO=$(cd "$(dirname "$0")/../.." && pwd)/rootfs/usr/share/tapbox/demo.pcap

# ---- a run stores what it exports ----
tbx once --once -F -i "$CAP" -i "$DEMO" -d "$T/data" --flows-out "$T/once.flows" --stats-out "$T/once.stats"
expect_rc "once -F: exit 0" 0 once
N=$(wc -l <"$T/once.flows")
FLOWS=$T/once.flows STATS=$T/once.stats jcheck "once -F: every exported flow committed, none dropped" \
    "stats['history']['rows_committed'] == $N > 0 and stats['history']['rows_dropped'] == 0" \
    "stats.get('history')"

# ---- the stored flows over REST (a box with no traffic of its own: an nTap port) ----
H=http://127.0.0.1:3010
tbx_bg web - -F -i ntap:47990 -d "$T/data" --http-port 3010 --https-port 0 --disable-login
if ! wait_grep "HTTP on \* port 3010" "$T/web.err" 20; then
    fail "start: tapboxd -F listens" "$(lib_why "$T/web.err")"
    finish; exit 1
fi
CURL=$(command -v curl)
get() { # get NAME WANT_STATUS PATH?QUERY: the body goes to $T/body
    local got
    got=$(ip netns exec "$LIB_BOX_NS" "$CURL" -s -o "$T/body" -w '%{http_code}' --max-time 10 "$H$3")
    if [ "$got" = "$2" ]; then pass "$1"; else fail "$1" "HTTP $got, expected $2: $(head -c 300 "$T/body")"; fi
}
body_check() { # body_check NAME PY_BOOL: j is the body, flows the NDJSON export of the run
    local out
    out=$(python3 - "$2" "$T/body" "$T/once.flows" <<'EOF' 2>&1
import json, sys
expr, body, export = sys.argv[1:4]
j = json.load(open(body))
flows = [json.loads(l) for l in open(export)]
sys.exit(0 if eval(expr) else 1)
EOF
) && pass "$1" || fail "$1" "$(head -c 300 "$T/body") $out"
}
get "history/flows: 200" 200 "/api/v1/history/flows?limit=1000&sort=first_seen&order=asc"
body_check "history/flows: the same flows with the same fields and counters as the export" \
    'j["total"] == len(flows) and sorted(j["flows"], key=lambda f: f["id"]) == sorted(flows, key=lambda f: f["id"])'
IP=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["client"]["ip"])' "$T/once.flows")
get "history/flows: host=" 200 "/api/v1/history/flows?host=$IP&limit=1000"
body_check "history/flows: host= gives that host's flows, as many as exported" \
    "j['total'] == sum('$IP' in (f['client']['ip'], f['server']['ip']) for f in flows) > 0 and all('$IP' in (f['client']['ip'], f['server']['ip']) for f in j['flows'])"
get "history/flows: l7=DNS and proto=udp" 200 "/api/v1/history/flows?l7=DNS&proto=udp&limit=1000"
body_check "history/flows: only DNS over UDP" \
    'j["total"] > 0 and all("DNS" in f["l7"] and f["protocol"] == "UDP" for f in j["flows"])'
get "history/flows: port=53, a page of 2" 200 "/api/v1/history/flows?port=53&limit=2&offset=1"
body_check "history/flows: paging keeps the total" \
    'j["total"] == sum(53 in (f["client"]["port"], f["server"]["port"]) for f in flows) and len(j["flows"]) == min(2, j["total"] - 1)'
get "history/flows: a range without data is empty" 200 "/api/v1/history/flows?from=1&to=2"
body_check "history/flows: empty range, total 0" 'j["total"] == 0 and j["flows"] == []'
get "bad input: to before from -> 400" 400 "/api/v1/history/flows?from=20&to=10"
body_check "bad input: the error names 'to'" 'j["parameter"] == "to"'
get "bad input: a malformed time -> 400" 400 "/api/v1/history/flows?from=yesterday"
get "bad input: a host that is no address -> 400" 400 "/api/v1/history/flows?host=x.y"
get "bad input: a huge limit -> 400" 400 "/api/v1/history/flows?limit=99999999"
get "bad input: an unknown parameter -> 400" 400 "/api/v1/history/flows?colour=red"
get "timeseries: 200 (the last hour by default)" 200 "/api/v1/timeseries?metric=bytes"
body_check "timeseries: minutes, a point for every bucket" \
    'j["resolution_s"] == 60 and len(j["time"]) == len(j["values"]) >= 60 and all(b - a == 60 for a, b in zip(j["time"], j["time"][1:]))'
get "timeseries: a week asks for hours" 200 "/api/v1/timeseries?metric=packets&l7=DNS&from=1700000000&to=1700604800"
body_check "timeseries: hours over a week" 'j["resolution_s"] == 3600 and len(j["values"]) == 169'
get "bad input: an unknown metric -> 400" 400 "/api/v1/timeseries?metric=colours"
get "bad input: source= and l7= together -> 400" 400 "/api/v1/timeseries?source=a&l7=DNS"
# Top talkers of the stored flows, against the export of the same run.
get "history/top: hosts, 200" 200 "/api/v1/history/top?kind=hosts&from=0&limit=100"
body_check "history/top: each host's bytes, packets and flows are those of its exported flows, largest first" \
    'j["top"] and all(t["bytes"] == sum(f["client_to_server"]["bytes"] + f["server_to_client"]["bytes"] for f in flows if t["name"] in (f["client"]["ip"], f["server"]["ip"])) and t["flows"] == sum(t["name"] in (f["client"]["ip"], f["server"]["ip"]) for f in flows) for t in j["top"]) and [t["bytes"] for t in j["top"]] == sorted((t["bytes"] for t in j["top"]), reverse=True)'
get "history/top: l7, 200" 200 "/api/v1/history/top?kind=l7&from=0&limit=100"
body_check "history/top: every protocol of the export with its flows" \
    'sorted((t["name"], t["flows"]) for t in j["top"]) == sorted((l, sum(f["l7"] == l for f in flows)) for l in {f["l7"] for f in flows})'
get "history/top: ports, a limit of 3" 200 "/api/v1/history/top?kind=ports&from=0&limit=3"
body_check "history/top: server ports as proto/port, 3 at most" \
    'len(j["top"]) <= 3 and all(t["flows"] == sum("%s/%d" % (f["protocol"].lower(), f["server"]["port"]) == t["name"] for f in flows) for t in j["top"])'
get "history/top: a range without data is empty" 200 "/api/v1/history/top?kind=hosts&from=1&to=2"
body_check "history/top: empty" 'j["top"] == []'
get "bad input: top of an unknown kind -> 400" 400 "/api/v1/history/top?kind=colours"
get "bad input: top limit 0 -> 400" 400 "/api/v1/history/top?limit=0"
get "bad input: top limit 101 -> 400" 400 "/api/v1/history/top?limit=101"
get "bad input: top to before from -> 400" 400 "/api/v1/history/top?from=30&to=20"
get "timeseries: host= has 5-minute points" 200 "/api/v1/timeseries?host=$IP&from=0&to=86400"
body_check "timeseries: host= resolution 300" 'j["resolution_s"] == 300 and len(j["values"]) == 289'
get "bad input: host= that is no address -> 400" 400 "/api/v1/timeseries?host=nohost"
get "bad input: port= and tap= together -> 400" 400 "/api/v1/timeseries?port=a&tap=0000002a"
body_check "bad input: the error names the second selector" 'j["parameter"] == "tap"'
get "status: the history's figures" 200 "/api/v1/status"
body_check "status: history enabled, open, nothing dropped" \
    'j["history"]["enabled"] and j["history"]["open"] and j["history"]["rows_dropped"] == 0'
kill -TERM "$BG_PID"; tbx_wait_exit "$BG_PID" web 20

# Without -F the endpoint says so.
tbx_bg off - -i ntap:47991 -d "$T/data2" --http-port 3011 --https-port 0 --disable-login
if wait_grep "HTTP on \* port 3011" "$T/off.err" 20; then
    H=http://127.0.0.1:3011 get "history off: 409" 409 "/api/v1/history/flows"
fi
kill -TERM "$BG_PID"; tbx_wait_exit "$BG_PID" off 20

# ---- hosts and counters across a restart: a clean stop, then kill -9 after a save ----
hosts_of() { # hosts_of PORT FILE: every host of the box on PORT into FILE
    ip netns exec "$LIB_BOX_NS" "$CURL" -s --max-time 10 -o "$2" "http://127.0.0.1:$1/api/v1/hosts?limit=1000"
}
status_of() { ip netns exec "$LIB_BOX_NS" "$CURL" -s --max-time 10 "http://127.0.0.1:$1/api/v1/status"; }
same_hosts() { # same_hosts NAME BEFORE AFTER FACTOR: first seen equal, totals FACTOR times
    local out
    out=$(python3 - "$2" "$3" "$4" <<'EOF' 2>&1
import json, sys
before = {h["ip"]: h for h in json.load(open(sys.argv[1]))["items"]}
after = {h["ip"]: h for h in json.load(open(sys.argv[2]))["items"]}
k = int(sys.argv[3])
keys = ("bytes_sent", "bytes_rcvd", "packets_sent", "packets_rcvd")
learned = ("name", "name_source", "mac", "mac_first_seen", "mac_changes")  # what was learned of it
bad = [ip for ip, h in before.items() if ip not in after or abs(after[ip]["first_seen"] - h["first_seen"]) > 1e-6 or any(after[ip][x] != k * h[x] for x in keys) or any(after[ip].get(x) != h.get(x) for x in learned)]
named = sum(bool(h.get("name")) for h in before.values()); devices = sum(bool(h.get("mac")) for h in before.values())
print("%d hosts before (%d named, %d with a MAC), %d after, %d differ: %s" % (len(before), named, devices, len(after), len(bad), [(ip, before[ip], after.get(ip)) for ip in bad[:2]]))
sys.exit(0 if before and named and devices and not bad else 1)
EOF
) && pass "$1 ($out)" || fail "$1" "$out"
}
R=$T/restart
mkdir -p "$R"
tbx_bg first - -F -i "$CAP" -d "$R" --http-port 3012 --https-port 0 --disable-login --history-save-s 10
sources_of() { ip netns exec "$LIB_BOX_NS" "$CURL" -s --max-time 10 -o "$2" "http://127.0.0.1:$1/api/v1/sources"; }
if wait_grep "all inputs finished" "$T/first.err" 30 && sleep 2 && hosts_of 3012 "$T/hosts.first" &&
    sources_of 3012 "$T/sources.first"; then
    kill -TERM "$BG_PID"; tbx_wait_exit "$BG_PID" first 20
    tbx_bg second - -F -i ntap:47992 -d "$R" --http-port 3013 --https-port 0 --disable-login
    wait_grep "history: .* hosts .* restored" "$T/second.err" 20
    hosts_of 3013 "$T/hosts.second"
    same_hosts "restart after a clean stop: every host with the same first seen, totals, name and MAC" \
        "$T/hosts.first" "$T/hosts.second" 1
    kill -TERM "$BG_PID"; tbx_wait_exit "$BG_PID" second 20
    # The same capture again: totals double, first seen stays; kill -9 after the next save.
    tbx_bg third - -F -i "$CAP" -d "$R" --http-port 3014 --https-port 0 --disable-login --history-save-s 10
    wait_grep "all inputs finished" "$T/third.err" 30
    sleep 1
    sources_of 3014 "$T/sources.third"
    if out=$(python3 - "$T/sources.first" "$T/sources.third" <<'EOF' 2>&1
import json, sys
a, b = ({s["name"]: s["counters"] for s in json.load(open(p))["items"]} for p in sys.argv[1:3])
print({n: (a[n]["packets"], b.get(n, {}).get("packets")) for n in a})
sys.exit(0 if a and all(b.get(n, {}).get("packets") == 2 * c["packets"] and b[n]["bytes"] == 2 * c["bytes"] for n, c in a.items()) else 1)
EOF
    ); then pass "restart: the capture's source continues its totals (twice the first run's: $out)"
    else fail "restart: the source's totals continue" "$out"; fi
    saves0=$(status_of 3014 | python3 -c 'import json,sys; print(json.load(sys.stdin)["history"]["state_saves"])')
    for i in $(seq 30); do
        saves=$(status_of 3014 | python3 -c 'import json,sys; print(json.load(sys.stdin)["history"]["state_saves"])')
        [ "$saves" -gt "$saves0" ] && break
        sleep 1
    done
    kill -KILL "$BG_PID"; wait "$BG_PID" 2>/dev/null
    tbx_bg fourth - -F -i ntap:47993 -d "$R" --http-port 3015 --https-port 0 --disable-login
    wait_grep "history: .* hosts .* restored" "$T/fourth.err" 20
    hosts_of 3015 "$T/hosts.fourth"
    same_hosts "restart after kill -9 (after a save): first seen, name and MAC kept, totals of both replays" \
        "$T/hosts.first" "$T/hosts.fourth" 2
    kill -TERM "$BG_PID"; tbx_wait_exit "$BG_PID" fourth 20
else
    fail "restart: a box with -F replays a capture" "$(lib_why "$T/first.err")"
fi

# ---- kill -9 during heavy writes: the file opens, is intact, and holds every committed row ----
# A looping replay at full speed with short idle timeouts ends flows all the time; -v makes the
# writer log each batch it has committed (its row range). After kill -9 the file must pass
# integrity_check and hold every row of every batch logged (a batch logged is on disk). 20 times.
ok=0 why=""
for i in $(seq 20); do
    rm -rf "$T/k"; mkdir -p "$T/k"
    tbx_bg kill9 - -F -v -i "$DEMO" --loop -d "$T/k" -w 0 -W 0 --idle-timeout-udp=1 \
        --idle-timeout-tcp=1 --idle-timeout-other=1
    wait_count "store: committed" "$T/kill9.err" $((2 + i % 3)) 40
    kill -KILL "$BG_PID"; wait "$BG_PID" 2>/dev/null
    if out=$(python3 - "$T/k/history.db" "$T/kill9.err" <<'EOF' 2>&1
import re, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
check = db.execute("PRAGMA integrity_check").fetchone()[0]
batches = [tuple(map(int, m)) for m in re.findall(r"store: committed (\d+) flows \(rows (\d+)-(\d+);", open(sys.argv[2]).read())]
missing = [b for b in batches if db.execute("SELECT count(*) FROM flows WHERE rowid BETWEEN ? AND ?", b[1:]).fetchone()[0] != b[0]]
print("integrity %s, %d batches logged, %d incomplete %s" % (check, len(batches), len(missing), missing[:3]))
sys.exit(0 if check == "ok" and batches and not missing else 1)
EOF
    ); then ok=$((ok + 1)); else why="$why run $i: $out;"; fi
done
[ "$ok" = 20 ] && pass "kill -9 while writing (20 times): intact, every batch logged as committed is there" \
    || fail "kill -9 while writing" "$ok of 20:$why"

# ---- retention: a long replay into a 2 MB cap never grows the files past it and a flush ----
jget() { # jget PORT PY_EXPR: the value of an expression over the status JSON (j)
    status_of "$1" | python3 -c "import json,sys; j = json.load(sys.stdin); print($2)" 2>/dev/null
}
rm -rf "$T/cap"; mkdir -p "$T/cap"
tbx_bg cap - -F -i "$DEMO" --loop -d "$T/cap" --history-max-mb 2 -w 0 -W 0 --idle-timeout-udp=1 \
    --idle-timeout-tcp=1 --idle-timeout-other=1 --http-port 3016 --https-port 0 --disable-login
max=0 max_db=0 max_journal=0 wal_seen=no expired=0
if wait_grep "HTTP on \* port 3016" "$T/cap.err" 20; then
    for i in $(seq 150); do
        db=$(stat -c %s "$T/cap/history.db" 2>/dev/null || echo 0)
        journal=$(stat -c %s "$T/cap/history.db-journal" 2>/dev/null || echo 0)
        [ -e "$T/cap/history.db-wal" ] && wal_seen=yes # the journal is a rollback one
        [ "$db" -gt "$max_db" ] && max_db=$db
        [ "$journal" -gt "$max_journal" ] && max_journal=$journal
        [ $((db + journal)) -gt "$max" ] && max=$((db + journal))
        expired=$(jget 3016 'j["history"]["rows_expired"]')
        [ "${expired:-0}" -gt 100000 ] && break
        sleep 0.2
    done
fi
committed=$(jget 3016 'j["history"]["rows_committed"]')
dropped=$(jget 3016 'j["history"]["rows_dropped"]')
kill -TERM "$BG_PID"; tbx_wait_exit "$BG_PID" cap 20
# The database makes room before each batch, so it stays within the cap and one batch (4096
# rows of ~100 B); the rollback journal holds the old copies of the pages a commit changed (the
# deletions that made room, never the appended rows) and is cut back to 64 pages after a commit
# that made it bigger.
if [ "${expired:-0}" -gt 0 ] && [ "$max_db" -le $((2 * 1048576 + 4096 * 100)) ] &&
    [ "$max_journal" -le $((64 * 4096 + 4096 * 100)) ] && [ $wal_seen = no ]; then
    pass "retention: $committed flows into a 2 MB cap, $expired expired oldest first, the database at most $max_db bytes, the journal $max_journal ($max together)"
else
    fail "retention: the files stay within the cap" "database $max_db bytes, journal $max_journal (a WAL file: $wal_seen), $expired expired, $committed committed, $dropped dropped"
fi

# ---- a full disk: one clear log line, counted, capture goes on, history comes back ----
if [ "$(id -u)" = 0 ] && mkdir -p "$T/full" && mount -t tmpfs -o size=3m tmpfs "$T/full"; then
    LIB_MOUNTS="${LIB_MOUNTS:-} $T/full"
    tbx_bg full - -F -v -i "$DEMO" --loop -d "$T/full" --history-max-mb 64 -w 0 -W 0 \
        --idle-timeout-udp=1 --idle-timeout-tcp=1 --idle-timeout-other=1 --http-port 3017 \
        --https-port 0 --disable-login
    if wait_grep "flows not stored" "$T/full.err" 60; then
        p1=$(jget 3017 'j["totals"]["packets"]'); f1=$(jget 3017 'j["history"]["batches_failed"]')
        sleep 2
        p2=$(jget 3017 'j["totals"]["packets"]'); d2=$(jget 3017 'j["history"]["rows_dropped"]')
        lines=$(grep -c "flows not stored" "$T/full.err")
        [ "${p2:-0}" -gt "${p1:-0}" ] && [ "${f1:-0}" -gt 0 ] && [ "${d2:-0}" -gt 0 ] && [ "$lines" = 1 ] \
            && pass "full disk: one log line ($(grep -m1 -o 'flows not stored: .*' "$T/full.err" | head -c 80)), $d2 rows counted dropped, capture goes on" \
            || fail "full disk: one log line, counted, capture goes on" "packets $p1 -> $p2, failed batches $f1, dropped $d2, $lines log lines"
        mount -o remount,size=64m "$T/full"
        before=$(jget 3017 'j["history"]["rows_committed"]')
        if wait_grep "history writes again" "$T/full.err" 30; then
            sleep 1
            after=$(jget 3017 'j["history"]["rows_committed"]')
            [ "${after:-0}" -gt "${before:-0}" ] && pass "full disk: history resumes by itself when space returns ($before -> $after committed)" \
                || fail "full disk: history resumes" "committed $before -> $after"
        else
            fail "full disk: history resumes by itself" "$(lib_why "$T/full.err")"
        fi
    else
        fail "full disk: the writer reports it" "$(lib_why "$T/full.err")"
    fi
    kill -TERM "$BG_PID"; tbx_wait_exit "$BG_PID" full 20
    umount "$T/full"
else
    echo "skip full disk: needs root to mount a small tmpfs"
fi

# ---- a corrupt file is moved aside, the box comes up with a fresh one ----
mkdir -p "$T/c" && head -c 20000 /dev/urandom >"$T/c/history.db"
tbx corrupt --once -F -i "$CAP" -d "$T/c" --stats-out "$T/corrupt.stats"
expect_rc "corrupt history.db: the run still works (exit 0)" 0 corrupt
if ls "$T"/c/history.db.corrupt-* >/dev/null 2>&1 && grep -q "moved aside" "$T/corrupt.err"; then
    pass "corrupt history.db: moved aside (named in the log), a new one made"
else
    fail "corrupt history.db: moved aside" "$(lib_why "$T/corrupt.err")"
fi
finish
