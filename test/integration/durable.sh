#!/bin/bash
# durable.sh TAPBOXD - acknowledged means on disk (issue 16, item 4): tapboxd is killed with
# SIGKILL the moment a password change, a new user, a role change or a new API token has been
# answered; after a restart on the same data directory each change is there.
source "$(dirname "$0")/lib.sh" "$@"

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PCAP=$REPO/rootfs/usr/share/tapbox/demo.pcap
H=http://127.0.0.1:3000
CURL=$(command -v curl)
curl() { ip netns exec "$LIB_BOX_NS" "$CURL" -s --max-time 20 "$@"; }
JSON=(-H 'Content-Type: application/json')
A=(-b "$T/admin.jar" -c "$T/admin.jar")
RUN=0

start() {
    RUN=$((RUN + 1))
    tbx_bg "box$RUN" - -i "$PCAP" --replay=realtime --loop -d "$T/data" --http-port=3000 --https-port=0
    PID=$BG_PID
    wait_grep "HTTP on \* port 3000" "$T/box$RUN.err" 20
}
# killed NAME CURL_ARGS...: the request, SIGKILL as soon as it was answered; the status in GOT.
killed() {
    local name=$1; shift
    GOT=$(curl -o "$T/body" -w '%{http_code}' "$@")
    kill -KILL "$PID" 2>/dev/null
    tbx_wait_exit "$PID" "box$RUN" 10
    [ "$GOT" = 200 ] || [ "$GOT" = 201 ] && pass "$name: answered $GOT, then kill -9" ||
        fail "$name: answered" "HTTP $GOT: $(head -c 300 "$T/body")"
}
login() { # login USER PASSWORD: status of a login
    curl -o "$T/login.json" -w '%{http_code}' "${A[@]}" "${JSON[@]}" -d "{\"user\":\"$1\",\"password\":\"$2\"}" "$H/api/v1/login"
}
csrf() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["csrf_token"])' "$T/login.json"; }

start || { fail "start" "$(lib_why "$T/box1.err")"; finish; exit 1; }
login admin admin >/dev/null
for round in 1 2 3; do
    old=durable-pass-$((round - 1)); [ "$round" = 1 ] && old=admin
    killed "password $round" "${A[@]}" "${JSON[@]}" -H "X-CSRF-Token: $(csrf)" \
        -d "{\"old_password\":\"$old\",\"new_password\":\"durable-pass-$round\"}" "$H/api/v1/password"
    start || { fail "restart $round" "$(lib_why "$T/box$RUN.err")"; break; }
    got_new=$(login admin "durable-pass-$round")
    got_old=$(login admin "$old")
    [ "$got_new" = 200 ] && [ "$got_old" = 401 ] && pass "password $round: the new one works after restart, the old one not" ||
        fail "password $round: after restart" "new password HTTP $got_new, old HTTP $got_old"
    login admin "durable-pass-$round" >/dev/null
done

killed "users: viewer1 created" "${A[@]}" "${JSON[@]}" -H "X-CSRF-Token: $(csrf)" \
    -d '{"name":"viewer1","password":"viewer-pass-1","role":"viewer"}' "$H/api/v1/users"
start
[ "$(login viewer1 viewer-pass-1)" = 200 ] && pass "users: viewer1 logs in after restart" ||
    fail "users: viewer1 after restart" "$(cat "$T/login.json")"
login admin durable-pass-3 >/dev/null
killed "roles: viewer1 made admin" "${A[@]}" "${JSON[@]}" -X PUT -H "X-CSRF-Token: $(csrf)" \
    -d '{"role":"admin"}' "$H/api/v1/users/viewer1"
start
login viewer1 viewer-pass-1 >/dev/null
python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["role"] == "admin" else 1)' "$T/login.json" &&
    pass "roles: viewer1 is admin after restart" || fail "roles: after restart" "$(cat "$T/login.json")"

login admin durable-pass-3 >/dev/null
: >"$T/tokens"
for i in $(seq 1 10); do
    killed "tokens: token $i" "${A[@]}" "${JSON[@]}" -H "X-CSRF-Token: $(csrf)" -d "{\"name\":\"t$i\"}" "$H/api/v1/tokens"
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$T/body" >>"$T/tokens" 2>/dev/null
    start
    login admin durable-pass-3 >/dev/null
done
ok=0
while read -r tok; do
    [ "$(curl -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "$H/api/v1/status")" = 200 ] && ok=$((ok + 1))
done <"$T/tokens"
[ "$ok" = 10 ] && pass "tokens: 10 of 10 tokens answered 201 work after kill -9 and restart" ||
    fail "tokens: after restarts" "$ok of 10 work"
kill "$PID" 2>/dev/null
tbx_wait_exit "$PID" "box$RUN" 20
finish
