#!/bin/bash
# web.sh TAPBOXD - the web server of a real tapboxd replaying the demo capture: static files,
# REST statuses and JSON shapes, paging, the nTap collector (-i ntap:PORT), the box endpoints
# (ports, bypass, policies: absent here; then a second tapboxd with a sim board and a policy),
# login (401, forced change of admin/admin, CSRF, roles, tokens, rate limit), bad parameters
# named in 400s, /metrics format, HTTPS and HTTP/2, Lua pages including a runaway one, and a
# clean stop with connections open. Needs curl and python3.
source "$(dirname "$0")/lib.sh" "$@"

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PCAP=$REPO/rootfs/usr/share/tapbox/demo.pcap
command -v curl >/dev/null || { fail setup "curl is not installed"; finish; exit 1; }

# tapboxd runs in the test's own network namespace (lib.sh), so the default ports are free.
H=http://127.0.0.1:3000
S=https://127.0.0.1:3001

# Pages: the shipped ones, and two that must be stopped.
mkdir -p "$T/lua/pages" "$T/www/sub"
cp "$REPO"/lua/pages/*.lua "$T/lua/pages/"
echo 'while true do end' >"$T/lua/pages/spin.lua"
printf 'local x = 1\nerror("boom")\n' >"$T/lua/pages/boom.lua"
echo 'local ok, e = pcall(function() error("caught") end) return {message = e}' >"$T/lua/pages/caught.lua"
echo 'local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 4096) .. i end' >"$T/lua/pages/eat.lua"
echo '<!doctype html><title>tapbox test</title>' >"$T/www/index.html"
echo 'body{}' >"$T/www/sub/app.css"
echo 'secret' >"$T/outside.txt"
# What the box's supervisor writes when it fell back to the factory config.
echo 'factory: /data/tapbox.conf line 3 is not an option: oops' >"$T/config-status"

NTAP_PORT=47999 # the test's own namespace: free
tbx_bg web - -i "$PCAP" -i "ntap:$NTAP_PORT" --replay=realtime --loop -d "$T/data" --lua-dir "$T/lua" \
    --http-root "$T/www" --lua-budget=2000000 --config-status-file "$T/config-status"
WEB_PID=$BG_PID
if ! wait_grep "HTTP on \* port 3000" "$T/web.err" 20; then
    fail "start: tapboxd listens" "$(lib_why "$T/web.err")"
    finish
    exit 1
fi
pass "start: HTTP and HTTPS listeners"

# ---- helpers ----
CURL=$(command -v curl)
curl() { ip netns exec "$LIB_BOX_NS" "$CURL" "$@"; }
# req NAME WANT_STATUS CURL_ARGS... : the body goes to $T/body, headers to $T/headers.
req() {
    local name=$1 want=$2; shift 2
    local got
    got=$(curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' --max-time 10 "$@" 2>"$T/curl.err")
    LAST=$got
    if [ "$got" = "$want" ]; then
        pass "$name"
    else
        fail "$name" "HTTP $got, expected $want: $(head -c 300 "$T/body") $(cat "$T/curl.err")"
    fi
}
# body_check NAME PY_BOOL : `j` is the JSON body, `t` the text.
body_check() {
    local name=$1 expr=$2 out
    out=$(python3 - "$expr" "$T/body" <<'EOF' 2>&1
import json, sys
expr, path = sys.argv[1], sys.argv[2]
t = open(path, encoding="utf-8", errors="replace").read()
try:
    j = json.loads(t)
except Exception:
    j = None
try:
    ok = eval(expr, {"j": j, "t": t})
except Exception as e:
    print("%s: %s; body: %s" % (type(e).__name__, e, t[:300])); sys.exit(1)
if not ok:
    print("false: %s; body: %s" % (expr, t[:300])); sys.exit(1)
EOF
)
    if [ $? -eq 0 ]; then pass "$name"; else fail "$name" "$(printf '%s' "$out" | tr '\n' ' ' | cut -c1-500)"; fi
}
json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$T/body" "$1"; }
A=(-b "$T/admin.jar" -c "$T/admin.jar")
JSON=(-H 'Content-Type: application/json')

# ---- static files ----
req "static: / serves index.html" 200 "$H/"
body_check "static: index.html content" '"tapbox test" in t'
req "static: a file in a folder" 200 "$H/sub/app.css"
req "static: ../ cannot leave the root" 404 --path-as-is "$H/../outside.txt"
req "static: %2e%2e cannot leave the root" 404 --path-as-is "$H/sub/%2e%2e/%2e%2e/outside.txt"

# ---- no login ----
req "auth: /api/v1/status without login is 401" 401 "$H/api/v1/status"
body_check "auth: the 401 is a JSON error" 'j["error"].startswith("login required")'
req "auth: /metrics without login is 401" 401 "$H/metrics"
req "auth: Lua pages without login are 401" 401 "$H/lua/top_talkers"
req "auth: a forged session cookie is 401" 401 -b "tapbox_session=$(printf 'a%.0s' $(seq 64))" "$H/api/v1/hosts"
req "auth: a bad Bearer token is 401" 401 -H 'Authorization: Bearer tbx_0_0' "$H/api/v1/hosts"
req "auth: login wants JSON (415)" 415 -d 'user=admin&password=admin' "$H/api/v1/login"
req "auth: login with a bad body is 400" 400 "${JSON[@]}" -d '{"user":1}' "$H/api/v1/login"

# ---- factory login: only the password change ----
req "login: admin/admin is accepted" 200 "${A[@]}" "${JSON[@]}" -d '{"user":"admin","password":"admin"}' "$H/api/v1/login"
body_check "login: admin/admin must change the password" 'j["must_change_password"] is True and len(j["csrf_token"]) == 64'
CSRF=$(json_field csrf_token)
if grep -qi '^set-cookie: tapbox_session=[0-9a-f]\{64\}; Path=/; HttpOnly; SameSite=Strict' "$T/headers"; then
    pass "login: session cookie is HttpOnly and SameSite=Strict"
else
    fail "login: session cookie is HttpOnly and SameSite=Strict" "$(grep -i set-cookie "$T/headers")"
fi
req "login: the factory session cannot read hosts" 403 "${A[@]}" "$H/api/v1/hosts"
body_check "login: 403 says a password change is required" 'j["password_change_required"] is True'
req "csrf: password change without X-CSRF-Token is 403" 403 "${A[@]}" "${JSON[@]}" \
    -d '{"old_password":"admin","new_password":"web-test-pass"}' "$H/api/v1/password"
body_check "csrf: the 403 names the header" '"X-CSRF-Token" in j["error"]'
# the token with its last digit changed (to 1 if it was 0, else to 0: never the same token)
WRONG_CSRF=${CSRF%?}$([ "${CSRF: -1}" = 0 ] && echo 1 || echo 0)
req "csrf: a wrong X-CSRF-Token is 403" 403 "${A[@]}" "${JSON[@]}" -H "X-CSRF-Token: $WRONG_CSRF" \
    -d '{"old_password":"admin","new_password":"web-test-pass"}' "$H/api/v1/password"
req "password: admin cannot be kept" 400 "${A[@]}" "${JSON[@]}" -H "X-CSRF-Token: $CSRF" \
    -d '{"old_password":"admin","new_password":"admin"}' "$H/api/v1/password"
req "password: changed with the CSRF token" 200 "${A[@]}" "${JSON[@]}" -H "X-CSRF-Token: $CSRF" \
    -d '{"old_password":"admin","new_password":"web-test-pass"}' "$H/api/v1/password"
if wait_grep 'argon2id' "$T/data/users.json" 10 && ! grep -q 'web-test-pass' "$T/data/users.json"; then
    pass "password: users.json holds an Argon2id hash, not the password"
else
    fail "password: users.json holds an Argon2id hash, not the password" "$(head -c 300 "$T/data/users.json" 2>&1)"
fi
req "login: admin/admin no longer works" 401 "${JSON[@]}" -d '{"user":"admin","password":"admin"}' "$H/api/v1/login"

# ---- the REST API ----
sleep 1 # a few series points
req "status: 200" 200 "${A[@]}" "$H/api/v1/status"
body_check "status: version, uptime, memory, caps with refusals, loop stalls" \
    'all(k in j for k in ("version","uptime_s","memory","caps","loop_stalls","totals","sources")) and all("refused" in c for c in j["caps"].values()) and j["memory"]["process_rss"] > 0'
body_check "status: the supervisor's config fallback and its reason" \
    'j["config"]["status"] == "factory" and "line 3 is not an option" in j["config"]["detail"]'
req "sources: 200" 200 "${A[@]}" "$H/api/v1/sources"
body_check "sources: the demo capture with counters" 'j["total"] == 1 and j["items"][0]["counters"]["packets"] > 0'
req "series: 200" 200 "${A[@]}" "$H/api/v1/series"
body_check "series: 1 s points, totals and per source, equal lengths" \
    'j["interval_s"] == 1 and j["count"] >= 1 and len(j["time"]) == j["count"] == len(j["totals"]["bits_per_s"]) == len(j["sources"][0]["packets_per_s"])'
LAST_T=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["time"][-1])' "$T/body")
req "series: since= returns only newer points" 200 "${A[@]}" "$H/api/v1/series?since=$LAST_T"
body_check "series: since= is honoured" "all(x > $LAST_T for x in j['time'])"
req "l7: 200" 200 "${A[@]}" "$H/api/v1/l7"
body_check "l7: protocols with traffic, largest first" \
    'j["total"] == len(j["items"]) > 0 and all(a["bytes"] >= b["bytes"] for a, b in zip(j["items"], j["items"][1:]))'
# Paging (hosts and flows) is checked on a table that does not change between requests: a
# second box that read the demo capture once (no --loop), at full speed, and keeps its hosts and
# flows (its clock stopped with the file). The replaying box above may add a host or a flow, or
# end one, between two pages.
tbx_bg still - -i "$PCAP" -d "$T/sdata" --http-port=3004 --https-port=0 --disable-login
STILL_PID=$BG_PID
HS=http://127.0.0.1:3004
# still_counts: "STATES HOSTS FLOWS PACKETS" of the second box, or nothing if it does not answer.
still_counts() {
    local f
    for f in sources hosts flows; do
        curl -s -o "$T/still-$f.json" --max-time 5 "$HS/api/v1/$f?$([ $f = sources ] || echo limit=1)" || return 1
    done
    python3 - "$T/still-sources.json" "$T/still-hosts.json" "$T/still-flows.json" <<'PY' 2>/dev/null
import json, sys
s, h, f = (json.load(open(p)) for p in sys.argv[1:])
print(",".join(i["state"] for i in s["items"]), h["total"], f["total"],
      sum(i["counters"]["packets"] for i in s["items"]))
PY
}
# The load is finished when the source reports done and two readings 0.5 s apart are equal.
still_ready() {
    local i prev="" now
    wait_grep "all inputs finished" "$T/still.err" 30 || return 1
    for ((i = 0; i < 60; i++)); do
        now=$(still_counts)
        case $now in
            "done "*) [ "$now" = "$prev" ] && return 0 ;;
        esac
        prev=$now
        sleep 0.5
    done
    return 1
}
if still_ready; then
    pass "paging: a box with a finished load (source done, counts stable: $(still_counts))"
else
    fail "paging: a box with a finished load" "counts '$(still_counts)'; $(lib_why "$T/still.err")"
fi
req "hosts: 200 with total and a page" 200 "$HS/api/v1/hosts?limit=3&sort=ip&order=asc"
body_check "hosts: limit 3 of total" 'j["total"] >= 4 and len(j["items"]) == 3 and j["limit"] == 3 and j["offset"] == 0'
cp "$T/body" "$T/page1"
req "hosts: the next page" 200 "$HS/api/v1/hosts?limit=3&offset=3&sort=ip&order=asc"
body_check "hosts: pages do not overlap" \
    "not ({h['ip'] for h in j['items']} & {h['ip'] for h in __import__('json').load(open('$T/page1'))['items']})"
req "hosts: local=true" 200 "${A[@]}" "$H/api/v1/hosts?local=true&limit=100"
body_check "hosts: local=true gives local hosts only" 'j["total"] > 0 and all(h["local"] for h in j["items"])'
req "hosts: q= searches the address" 200 "${A[@]}" "$H/api/v1/hosts?q=192.168.&limit=100"
body_check "hosts: q= matches" 'j["total"] > 0 and all("192.168." in h["ip"] for h in j["items"])'
req "hosts: sorted by bytes" 200 "${A[@]}" "$H/api/v1/hosts?limit=100"
body_check "hosts: bytes descending" \
    'all(a["bytes_sent"]+a["bytes_rcvd"] >= b["bytes_sent"]+b["bytes_rcvd"] for a, b in zip(j["items"], j["items"][1:]))'
TOP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["items"][0]["ip"])' "$T/body")
req "host: one host" 200 "${A[@]}" "$H/api/v1/hosts/$TOP"
body_check "host: L7 breakdown, flows and peers" \
    'j["ip"] == "'"$TOP"'" and "l7" in j and len(j["flows"]) > 0 and len(j["peers"]) > 0 and j["flows_count"] >= len(j["flows"])'
req "host: unknown is 404" 404 "${A[@]}" "$H/api/v1/hosts/10.255.255.254"
req "flows: proto=tcp" 200 "${A[@]}" "$H/api/v1/flows?proto=tcp&limit=100"
body_check "flows: only TCP" 'j["total"] > 0 and all(f["protocol"] == "TCP" for f in j["items"])'
req "flows: l7=DNS" 200 "${A[@]}" "$H/api/v1/flows?l7=DNS&limit=100"
body_check "flows: only DNS" 'j["total"] > 0 and all("DNS" in f["l7"] for f in j["items"])'
req "flows: l7=Unknown" 200 "${A[@]}" "$H/api/v1/flows?l7=Unknown&limit=100"
body_check "flows: l7=Unknown gives only flows nDPI could not name" \
    'all(f["l7"] == "Unknown" for f in j["items"])'
req "flows: port=53 and host=" 200 "${A[@]}" "$H/api/v1/flows?port=53&host=$TOP"
body_check "flows: port and host filters" \
    'all(53 in (f["client"]["port"], f["server"]["port"]) and "'"$TOP"'" in (f["client"]["ip"], f["server"]["ip"]) for f in j["items"])'
req "flows: paging keeps the total" 200 "$HS/api/v1/flows?limit=1&offset=1"
body_check "flows: total and one item" 'j["total"] >= 2 and len(j["items"]) == 1'
kill -TERM "$STILL_PID"
tbx_wait_exit "$STILL_PID" still 10
expect_rc "paging: the box with the finished load stops cleanly" 0 still

# ---- the nTap collector (public-key mode) ----
# One garbage datagram to the collector: refused and counted, never answered.
ip netns exec "$LIB_BOX_NS" python3 -c 'import socket,sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"\0"*80, ("127.0.0.1", int(sys.argv[1])))' "$NTAP_PORT"
sleep 0.3
req "ntap: 200" 200 "${A[@]}" "$H/api/v1/ntap"
body_check "ntap: enabled, public-key mode, the port, taps and refused" \
    'j["enabled"] is True and j["mode"] == "pubkey" and j["port"] == '"$NTAP_PORT"' and isinstance(j["taps"], list) and j["refused"] >= 1'
PUB=$(tr -d ' \n' <"$T/data/ntap.pub" 2>/dev/null)
body_check "ntap: the public key is DATA_DIR/ntap.pub (64 hex digits, as -K wants)" \
    'len("'"$PUB"'") == 64 and j["public_key"] == "'"$PUB"'"'
req "ntap: /metrics has the collector's counters" 200 "${A[@]}" "$H/metrics"
body_check "ntap: metrics taps, datagrams and drops by reason" \
    '"tapbox_ntap_taps 0" in t and any(l.startswith("tapbox_ntap_datagrams_total ") and int(l.split()[1]) >= 1 for l in t.splitlines()) and "tapbox_ntap_drops_total{reason=\"forged\"}" in t'

# ---- bad requests: the right status, the parameter named ----
bad() { # NAME QUERY PARAM
    req "bad: $1 is 400" 400 "${A[@]}" "$H/api/v1/$2"
    body_check "bad: $1 names '$3'" "j['parameter'] == '$3' and '$3' in j['error']"
}
bad "limit=100000" "hosts?limit=100000" limit
bad "limit=abc" "flows?limit=abc" limit
bad "sort=nope" "hosts?sort=nope" sort
bad "an unknown parameter" "hosts?colour=red" colour
bad "proto=xyz" "flows?proto=xyz" proto
bad "host=not-an-ip" "flows?host=not-an-ip" host
bad "l7=NoSuchProto" "flows?l7=NoSuchProto" l7
bad "local=maybe" "hosts?local=maybe" local
bad "a repeated parameter" "hosts?limit=1&limit=2" limit
bad "an unknown parameter to ntap" "ntap?taps=all" taps
req "bad: an unknown endpoint is 404" 404 "${A[@]}" "$H/api/v1/nothing"
req "bad: DELETE on a read endpoint is 405" 405 "${A[@]}" -X DELETE "$H/api/v1/hosts"
grep -qi '^allow: GET' "$T/headers" && pass "bad: the 405 says Allow: GET" || fail "bad: the 405 says Allow: GET" "$(cat "$T/headers")"
head -c 100000 /dev/zero | tr '\0' ' ' >"$T/big.json"
req "bad: a 100 kB body is 413" 413 "${A[@]}" "${JSON[@]}" -H "X-CSRF-Token: $CSRF" --data-binary @"$T/big.json" "$H/api/v1/users"

# ---- the box around the engine (ports, bypass relay, policies): this tapboxd has none ----
req "box: GET /ports without a port pair is 200" 200 "${A[@]}" "$H/api/v1/ports"
body_check "box: /ports is {mode: null, ready: false, ports: []}" 'j == {"mode": None, "ready": False, "ports": []}'
req "box: GET /bypass without a board is 200" 200 "${A[@]}" "$H/api/v1/bypass"
body_check "box: /bypass is {present: false}" 'j == {"present": False}'
req "box: GET /policies without rules is 200" 200 "${A[@]}" "$H/api/v1/policies"
body_check "box: /policies has no rules and passes undetected flows" 'j["rules"] == [] and j["undetected"] == "pass"'
req "box: POST /bypass without a relay is 409" 409 "${A[@]}" "${JSON[@]}" -H "X-CSRF-Token: $CSRF" -d '{"mode":"on"}' "$H/api/v1/bypass"
body_check "box: the 409 is a JSON error naming the missing relay" '"no bypass relay" in j["error"]'
req "box: POST /bypass without X-CSRF-Token is 403" 403 "${A[@]}" "${JSON[@]}" -d '{"mode":"on"}' "$H/api/v1/bypass"
bad "an unknown parameter to ports" "ports?side=0" side
bad "an unknown parameter to bypass" "bypass?mode=on" mode
bad "an unknown parameter to policies" "policies?rule=x" rule
req "box: /metrics" 200 "${A[@]}" "$H/metrics"
body_check "box: /metrics has no port, bypass, watchdog or policy series without them" \
    'not [l for l in t.splitlines() if __import__("re").match(r"(# (HELP|TYPE) )?tapbox_(port|bypass|watchdog|policy)", l)]'

# ---- roles and tokens ----
req "users: an admin creates a viewer" 201 "${A[@]}" "${JSON[@]}" -H "X-CSRF-Token: $CSRF" \
    -d '{"name":"viewer1","password":"viewer-pass-1","role":"viewer"}' "$H/api/v1/users"
V=(-b "$T/viewer.jar" -c "$T/viewer.jar")
req "users: the viewer logs in" 200 "${V[@]}" "${JSON[@]}" -d '{"user":"viewer1","password":"viewer-pass-1"}' "$H/api/v1/login"
VCSRF=$(json_field csrf_token)
req "roles: a viewer reads hosts" 200 "${V[@]}" "$H/api/v1/hosts"
req "roles: a viewer reads the nTap collector" 200 "${V[@]}" "$H/api/v1/ntap"
req "roles: a viewer cannot list users (403)" 403 "${V[@]}" "$H/api/v1/users"
req "roles: a viewer cannot download pcap (403)" 403 "${V[@]}" "$H/api/v1/pcap?duration=1"
req "roles: a viewer reads the ports" 200 "${V[@]}" "$H/api/v1/ports"
req "roles: a viewer reads the bypass state" 200 "${V[@]}" "$H/api/v1/bypass"
req "roles: a viewer reads the policies" 200 "${V[@]}" "$H/api/v1/policies"
req "roles: a viewer cannot add a policy (403)" 403 "${V[@]}" "${JSON[@]}" -H "X-CSRF-Token: $VCSRF" \
    -d '{"rule":"v drop port=1"}' "$H/api/v1/policies"
req "roles: a viewer cannot delete a policy (403)" 403 "${V[@]}" -X DELETE -H "X-CSRF-Token: $VCSRF" \
    "$H/api/v1/policies/v"
req "roles: a viewer cannot set the bypass mode (403)" 403 "${V[@]}" "${JSON[@]}" -H "X-CSRF-Token: $VCSRF" \
    -d '{"mode":"on"}' "$H/api/v1/bypass"
req "roles: a viewer cannot create users (403)" 403 "${V[@]}" "${JSON[@]}" -H "X-CSRF-Token: $VCSRF" \
    -d '{"name":"x","password":"xxxxxxxxxx"}' "$H/api/v1/users"
req "tokens: an admin makes an API token" 201 "${A[@]}" "${JSON[@]}" -H "X-CSRF-Token: $CSRF" \
    -d '{"name":"prometheus"}' "$H/api/v1/tokens"
TOKEN=$(json_field token)
req "tokens: Bearer reads /metrics without cookie or CSRF" 200 -H "Authorization: Bearer $TOKEN" "$H/metrics"
python3 - "$T/body" <<'EOF' >"$T/metrics.check" 2>&1
import re, sys
lines = open(sys.argv[1]).read().splitlines()
sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9][0-9.e+-]*$')
bad = [l for l in lines if l and not l.startswith("# HELP ") and not l.startswith("# TYPE ") and not sample.match(l)]
need = ["tapbox_source_packets_total{", "tapbox_source_bytes_total{", "tapbox_flows ", "tapbox_hosts ",
        "tapbox_cap_refused_total{cap=\"flows\"}", "tapbox_memory_bytes{", "tapbox_source_capture_drops_total{"]
missing = [n for n in need if not any(l.startswith(n) for l in lines)]
types = {l.split()[2] for l in lines if l.startswith("# TYPE ")}
untyped = {re.split(r'[{ ]', l)[0] for l in lines if l and not l.startswith("#")} - types
if bad or missing or untyped:
    print("bad lines %s, missing %s, untyped %s" % (bad[:3], missing, sorted(untyped)[:3])); sys.exit(1)
EOF
[ $? -eq 0 ] && pass "metrics: Prometheus text format, every family typed" || fail "metrics: Prometheus text format, every family typed" "$(cat "$T/metrics.check")"

# ---- Lua pages ----
req "lua: top_talkers" 200 "${A[@]}" "$H/lua/top_talkers?n=3"
body_check "lua: top_talkers is JSON with 3 hosts" 'len(j["items"]) == 3 and j["items"][0]["bytes"] >= j["items"][1]["bytes"]'
req "lua: host_report" 200 "${A[@]}" "$H/lua/host_report?ip=$TOP"
body_check "lua: host_report is an HTML page about the host" '"<h1>'"$TOP"'" in t and "Peers" in t'
grep -qi '^content-type: text/html' "$T/headers" && pass "lua: host_report is text/html" || fail "lua: host_report is text/html" "$(grep -i content-type "$T/headers")"
req "lua: a bad parameter is 400" 400 "${A[@]}" "$H/lua/top_talkers?n=1000"
req "lua: an unknown page is 404" 404 "${A[@]}" "$H/lua/nope"
START=$(date +%s%N)
req "lua: a runaway loop is stopped with a 500" 500 --max-time 5 "${A[@]}" "$H/lua/spin"
ELAPSED_MS=$((($(date +%s%N) - START) / 1000000))
body_check "lua: the 500 says the budget ran out" '"instruction budget" in j["error"]'
[ "$ELAPSED_MS" -lt 3000 ] && pass "lua: the runaway page ends in ${ELAPSED_MS} ms" || fail "lua: the runaway page ends quickly" "${ELAPSED_MS} ms"
req "lua: a memory eater is stopped with a 500" 500 --max-time 5 "${A[@]}" "$H/lua/eat"
req "lua: a page's error is a 500" 500 --max-time 5 "${A[@]}" "$H/lua/boom"
body_check "lua: the error names boom.lua:2, not the pages directory's path" \
    '"boom.lua:2" in j["error"] and "'"$T"'" not in t and "/lua/pages" not in t'
req "lua: a page that catches its own error" 200 --max-time 5 "${A[@]}" "$H/lua/caught"
body_check "lua: the caught message names caught.lua:1, not the pages directory's path" \
    'j["message"].startswith("caught.lua:1:") and "'"$T"'" not in t'
req "lua: the box still answers after them" 200 --max-time 2 "${A[@]}" "$H/api/v1/status"

# ---- HTTPS, HTTP/2 ----
for i in $(seq 50); do [ -s "$T/data/https-cert.pem" ] && break; sleep 0.1; done
got=$(curl -sk --http2 -o "$T/body" -w '%{http_code} %{http_version}' -H "Authorization: Bearer $TOKEN" "$S/api/v1/status")
[ "$got" = "200 2" ] && pass "https: self-signed certificate, HTTP/2 over TLS" || fail "https: self-signed certificate, HTTP/2 over TLS" "got '$got'"
req "https: login sets a Secure cookie" 200 -k "${JSON[@]}" -d '{"user":"viewer1","password":"viewer-pass-1"}' "$S/api/v1/login"
grep -qi '^set-cookie: tapbox_session=.*; Secure' "$T/headers" && pass "https: the cookie is Secure" || fail "https: the cookie is Secure" "$(grep -i set-cookie "$T/headers")"
[ "$(stat -c %a "$T/data/https-key.pem" 2>/dev/null)" = 600 ] && pass "https: the key file is 0600" || fail "https: the key file is 0600" "$(ls -l "$T/data")"

# ---- live pcap download (admins): a second tapboxd on a veth pair ----
req "pcap: a file source cannot be captured live (400)" 400 "${A[@]}" "$H/api/v1/pcap"
body_check "pcap: the 400 names 'source'" 'j["parameter"] == "source"'
if ns_new pa && PA=$NS && ns_new pb && PB=$NS && veth "$PA" eth0 10.78.0.1/24 "$PB" eth0 10.78.0.2/24; then
    tbx_bg pcap "$PA" -i eth0 -d "$T/pdata" -W 0 --disable-login
    PCAP_PID=$BG_PID
    if wait_grep "HTTP on \* port 3000" "$T/pcap.err" 20; then
        nsx "$PB" ping -c 40 -i 0.1 10.78.0.1 >/dev/null 2>&1 &
        LIB_PIDS+=("$!")
        got=$(nsx "$PA" "$CURL" -s -o "$T/live.pcap" -D "$T/headers" -w '%{http_code}' --max-time 10 \
            "http://127.0.0.1:3000/api/v1/pcap?source=eth0&filter=icmp&duration=2")
        n=$(tcpdump -r "$T/live.pcap" -n 2>/dev/null | grep -c 'ICMP echo')
        other=$(tcpdump -r "$T/live.pcap" -n 2>/dev/null | grep -vc 'ICMP echo')
        if [ "$got" = 200 ] && [ "$n" -gt 5 ] && [ "$other" = 0 ]; then
            pass "pcap: a 2 s download with filter=icmp is a pcap file of $n ICMP packets"
        else
            fail "pcap: a 2 s download with filter=icmp" "HTTP $got, $n ICMP, $other others"
        fi
        grep -qi '^content-disposition: attachment; filename="tapbox-eth0-.*\.pcap"' "$T/headers" &&
            pass "pcap: sent as an attachment" || fail "pcap: sent as an attachment" "$(cat "$T/headers")"
        got=$(nsx "$PA" "$CURL" -s -o "$T/small.pcap" -w '%{http_code} %{size_download}' --max-time 10 \
            "http://127.0.0.1:3000/api/v1/pcap?source=eth0&max_bytes=2000&duration=30")
        [ "${got%% *}" = 200 ] && [ "${got##* }" -le 2000 ] &&
            pass "pcap: max_bytes ends the download early ($got)" || fail "pcap: max_bytes ends the download early" "$got"
        got=$(nsx "$PA" "$CURL" -s -o "$T/body" -w '%{http_code}' "http://127.0.0.1:3000/api/v1/pcap?source=eth0&filter=bad+(")
        [ "$got" = 400 ] && grep -q '"parameter":"filter"' "$T/body" &&
            pass "pcap: a bad BPF filter is 400 naming 'filter'" || fail "pcap: a bad BPF filter is 400" "$got $(cat "$T/body")"
        kill -TERM "$PCAP_PID"
        tbx_wait_exit "$PCAP_PID" pcap 10
        expect_rc "pcap: the second tapboxd stops cleanly" 0 pcap
    else
        fail "pcap: tapboxd on a veth" "$(lib_why "$T/pcap.err")"
    fi
else
    fail "pcap: namespaces" "cannot build the veth pair"
fi

# ---- a second tapboxd with a simulated relay and watchdog (a sim board file) and a policy ----
# No port pair: the relay stays in bypass ("ports not ready"); the rule never matches the demo.
mkdir -p "$T/sim"
cat >"$T/board.conf" <<EOF
BOARD_NAME=sim
RELAY_GPIO_CHIP=file:$T/sim/relay
RELAY_GPIO_LINE=0
RELAY_GPIO_ACTIVE=1
RELAY_SETTLE_MS=50
WATCHDOG_DEVICE=file:$T/sim/watchdog
WATCHDOG_TIMEOUT=5
EOF
H2=http://127.0.0.1:3002
# A config file, so that SIGHUP can reload the policies and the bypass mode.
board_conf() {
    printf '%s\n' "-i $PCAP" --replay=realtime --loop "--data-dir=$T/bdata" --http-port=3002 \
        --https-port=0 --disable-login "--board=$T/board.conf" "$@" >"$T/board-tapbox.conf"
}
board_conf '--policy=x drop port=23'
tbx_bg board - "$T/board-tapbox.conf"
BOARD_PID=$BG_PID
if wait_grep "HTTP on \* port 3002" "$T/board.err" 20; then
    req "board: GET /session (login disabled) for the CSRF token" 200 "$H2/api/v1/session"
    BCSRF=$(json_field csrf_token)
    B=(-H "X-CSRF-Token: $BCSRF")
    req "board: GET /bypass" 200 "$H2/api/v1/bypass"
    body_check "board: the relay and the watchdog are present; in bypass, the ports not ready" \
        'j["present"] and j["relay_present"] and j["watchdog"]["present"] and j["engaged"] and j["mode"] == "auto"'
    req "board: POST /bypass with a bad mode is 400" 400 "${B[@]}" "${JSON[@]}" -d '{"mode":"sideways"}' "$H2/api/v1/bypass"
    body_check "board: the 400 names 'mode'" 'j["parameter"] == "mode"'
    req "board: POST /bypass without a mode is 400" 400 "${B[@]}" "${JSON[@]}" -d '{}' "$H2/api/v1/bypass"
    req "board: POST /bypass with a body that is not JSON is 400" 400 "${B[@]}" "${JSON[@]}" -d '{"mode":' "$H2/api/v1/bypass"
    req "board: POST /bypass with a form body is 415" 415 "${B[@]}" -d 'mode=on' "$H2/api/v1/bypass"
    req "board: POST /bypass without X-CSRF-Token is 403" 403 "${JSON[@]}" -d '{"mode":"on"}' "$H2/api/v1/bypass"
    req "board: POST /bypass {mode: on} is 200" 200 "${B[@]}" "${JSON[@]}" -d '{"mode":"on"}' "$H2/api/v1/bypass"
    body_check "board: the answer is the new state" 'j["mode"] == "on" and j["engaged"]'
    [ "$(cat "$T/sim/relay" 2>/dev/null)" = 0 ] && pass "board: the relay file is at the bypass level" ||
        fail "board: the relay file is at the bypass level" "relay '$(cat "$T/sim/relay" 2>&1)'"
    req "board: POST /bypass back to auto" 200 "${B[@]}" "${JSON[@]}" -d '{"mode":"auto"}' "$H2/api/v1/bypass"
    req "board: GET /ports (the board gives no port pair)" 200 "$H2/api/v1/ports"
    body_check "board: still no port pair" 'j == {"mode": None, "ready": False, "ports": []}'
    req "board: GET /policies" 200 "$H2/api/v1/policies"
    body_check "board: the rule with zero counters, and the default bucket" \
        'j["rules"] == [{"name": "x", "rule": "x drop port=23", "action": "drop", "flows": 0, "packets": 0, "bytes": 0, "source": "config"}] and j["default"]["name"] == "default" and j["undetected"] == "pass"'
    # Rules added over the API: after the config's, kept in DATA_DIR/policies.conf.
    req "policies: POST a rule is 201" 201 "${B[@]}" "${JSON[@]}" -d '{"rule":"bt  drop   proto=BitTorrent"}' "$H2/api/v1/policies"
    body_check "policies: the answer lists it after the config rule, source ui" \
        '[(r["name"], r["source"], r["rule"]) for r in j["rules"]] == [("x", "config", "x drop port=23"), ("bt", "ui", "bt drop proto=BitTorrent")]'
    req "policies: GET lists it" 200 "$H2/api/v1/policies"
    body_check "policies: GET has the UI rule" '[(r["name"], r["source"]) for r in j["rules"]] == [("x", "config"), ("bt", "ui")]'
    grep -qx -- '--policy=bt drop proto=BitTorrent' "$T/bdata/policies.conf" && grep -q '^#.*tapboxd' "$T/bdata/policies.conf" &&
        pass "policies: DATA_DIR/policies.conf holds the rule, with a header" ||
        fail "policies: DATA_DIR/policies.conf holds the rule, with a header" "$(cat "$T/bdata/policies.conf" 2>&1)"
    req "policies: a misspelt protocol is 400" 400 "${B[@]}" "${JSON[@]}" -d '{"rule":"bt2 drop proto=BitTorent"}' "$H2/api/v1/policies"
    body_check "policies: the 400 names 'rule' and the problem" 'j["parameter"] == "rule" and "BitTorent" in j["error"]'
    req "policies: a rule without a match is 400" 400 "${B[@]}" "${JSON[@]}" -d '{"rule":"y drop"}' "$H2/api/v1/policies"
    req "policies: POST without a rule is 400" 400 "${B[@]}" "${JSON[@]}" -d '{}' "$H2/api/v1/policies"
    req "policies: a UI rule's name again is 409" 409 "${B[@]}" "${JSON[@]}" -d '{"rule":"bt pass vlan=1"}' "$H2/api/v1/policies"
    req "policies: a config rule's name is 409" 409 "${B[@]}" "${JSON[@]}" -d '{"rule":"x pass vlan=1"}' "$H2/api/v1/policies"
    req "policies: POST without X-CSRF-Token is 403" 403 "${JSON[@]}" -d '{"rule":"z drop port=1"}' "$H2/api/v1/policies"
    req "policies: DELETE a config rule is 409" 409 "${B[@]}" -X DELETE "$H2/api/v1/policies/x"
    body_check "policies: the 409 says it is in the config file" '"config file" in j["error"]'
    req "policies: DELETE an unknown rule is 404" 404 "${B[@]}" -X DELETE "$H2/api/v1/policies/nope"
    req "board: /metrics" 200 "$H2/metrics"
    body_check "board: /metrics has the bypass, the watchdog and the rule, no port series" \
        '"tapbox_bypass_engaged 1" in t and "tapbox_watchdog_stalls_total 0" in t and "tapbox_policy_flows_total{rule=\"x\"} 0" in t and "tapbox_policy_bytes_total{rule=\"x\"} 0" in t and any(l.startswith("tapbox_watchdog_pets_total ") and int(l.split()[1]) >= 1 for l in t.splitlines()) and not any(l.startswith("tapbox_port") for l in t.splitlines())'
    # SIGHUP: new rules (the kept rule keeps its counters), the bypass mode from the file.
    board_conf '--policy=x drop port=23' '--policy=y pass vlan=5 l4=udp' --policy-undetected=drop --bypass=on
    kill -HUP "$BOARD_PID"
    wait_grep "reload: 3 policies" "$T/board.err" 10
    req "reload: GET /policies" 200 "$H2/api/v1/policies"
    body_check "reload: the config's two rules in order, then the UI rule; undetected flows dropped" \
        '[(r["name"], r["source"]) for r in j["rules"]] == [("x", "config"), ("y", "config"), ("bt", "ui")] and j["rules"][1]["action"] == "pass" and j["undetected"] == "drop"'
    req "reload: GET /bypass" 200 "$H2/api/v1/bypass"
    body_check "reload: the bypass mode came from the file" 'j["mode"] == "on" and j["engaged"]'
    board_conf '--policy=x drop port=23' '--policy=z drop proto=NoSuchProtocol'
    kill -HUP "$BOARD_PID"
    if wait_grep "reload refused.*board-tapbox.conf:[0-9]*: --policy: unknown protocol 'NoSuchProtocol'" "$T/board.err" 10; then
        pass "reload: a bad rule is refused, naming the file and line"
    else
        fail "reload: a bad rule is refused, naming the file and line" "$(tail -n 3 "$T/board.err")"
    fi
    req "reload: GET /policies after the refused reload" 200 "$H2/api/v1/policies"
    body_check "reload: the running rules are kept" '[r["name"] for r in j["rules"]] == ["x", "y", "bt"]'
    req "policies: DELETE the UI rule is 200" 200 "${B[@]}" -X DELETE "$H2/api/v1/policies/bt"
    body_check "policies: the answer no longer has it" '[r["name"] for r in j["rules"]] == ["x", "y"]'
    ! grep -q 'bt drop' "$T/bdata/policies.conf" && pass "policies: gone from policies.conf" ||
        fail "policies: gone from policies.conf" "$(cat "$T/bdata/policies.conf" 2>&1)"
    req "policies: a rule to read back after a restart" 201 "${B[@]}" "${JSON[@]}" -d '{"rule":"kept drop port=6881-6889"}' "$H2/api/v1/policies"
    # A line tapboxd cannot use is logged with file:line and skipped at the next start.
    echo '--policy=broken drop proto=NoSuchProtocol' >>"$T/bdata/policies.conf"
    kill -TERM "$BOARD_PID"
    tbx_wait_exit "$BOARD_PID" board 10
    expect_rc "board: the second tapboxd stops cleanly" 0 board
    [ "$(cat "$T/sim/relay" 2>/dev/null)" = 0 ] && pass "board: stopped in bypass" ||
        fail "board: stopped in bypass" "relay '$(cat "$T/sim/relay" 2>&1)'"
    board_conf '--policy=x drop port=23' # the last file was refused
    tbx_bg board2 - "$T/board-tapbox.conf"
    BOARD_PID=$BG_PID
    if wait_grep "HTTP on \* port 3002" "$T/board2.err" 20; then
        req "restart: GET /policies" 200 "$H2/api/v1/policies"
        body_check "restart: the UI rule is read back from policies.conf" \
            '[(r["name"], r["source"]) for r in j["rules"]] == [("x", "config"), ("kept", "ui")]'
        grep -q "policies.conf:[0-9]*: --policy: unknown protocol 'NoSuchProtocol'.*skipped" "$T/board2.err" &&
            pass "restart: a bad line of policies.conf is logged with file:line and skipped" ||
            fail "restart: a bad line of policies.conf is logged with file:line and skipped" "$(tail -n 5 "$T/board2.err")"
        kill -TERM "$BOARD_PID"
        tbx_wait_exit "$BOARD_PID" board2 10
        expect_rc "restart: stops cleanly" 0 board2
    else
        fail "restart: tapboxd starts again" "$(lib_why "$T/board2.err")"
    fi
else
    fail "board: tapboxd with a sim board starts" "$(lib_why "$T/board.err")"
fi

# ---- logout, rate limit ----
req "logout: 200" 200 "${V[@]}" -X POST -H "X-CSRF-Token: $VCSRF" "$H/api/v1/logout"
req "logout: the session is gone" 401 "${V[@]}" "$H/api/v1/hosts"
for i in 1 2 3 4 5; do
    curl -s -o /dev/null "${JSON[@]}" -d '{"user":"viewer1","password":"wrong"}' "$H/api/v1/login"
done
req "ratelimit: the 6th failed login in a minute is 429" 429 "${JSON[@]}" -d '{"user":"viewer1","password":"viewer-pass-1"}' "$H/api/v1/login"
grep -qi '^retry-after: [0-9]' "$T/headers" && pass "ratelimit: with Retry-After" || fail "ratelimit: with Retry-After" "$(cat "$T/headers")"

# ---- stop with a connection open ----
ip netns exec "$LIB_BOX_NS" python3 -c '
import socket, time
s = socket.create_connection(("127.0.0.1", 3000))
s.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
time.sleep(15)' &
IDLE=$!
LIB_PIDS+=("$IDLE")
sleep 0.5
kill -TERM "$WEB_PID"
tbx_wait_exit "$WEB_PID" web 10
kill "$IDLE" 2>/dev/null
expect_rc "stop: SIGTERM with a keep-alive connection open exits 0" 0 web
if grep -qE 'Sanitizer|runtime error:' "$T/web.err"; then
    fail "stop: no sanitizer report" "$(lib_why "$T/web.err")"
else
    pass "stop: no sanitizer report"
fi
finish
