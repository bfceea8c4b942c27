#!/bin/bash
# test/integration/lib.sh - shared helpers of the integration scripts (sourced by them; run
# directly, as test/run-tests.sh does with every *.sh here, it only prints "0 passed, 0 failed").
#
#   source "$(dirname "$0")/lib.sh" "$@"      # $1: the tapboxd binary
#
# Gives: TAPBOXD (absolute path), T (a private temp dir, removed at exit), PREFIX (tbxt$$, for
# unique namespace names), and
#   pass NAME / fail NAME WHY / finish        one line per check, then "N passed, N failed"
#   tbx TAG ARGS...                           run tapboxd to completion (timeout 60 s) in the
#                                             namespace $PREFIX-box: stdout in $T/TAG.out, stderr
#                                             in $T/TAG.err, status in RC
#   tbx_bg TAG NS ARGS...                     start tapboxd in the background inside namespace NS
#                                             ("-": $PREFIX-box); its pid in BG_PID, stderr in
#                                             $T/TAG.err
#   tbx_wait_exit PID TAG [SECONDS]           wait for a background tapboxd; status in RC
#   expect_rc NAME WANT TAG                   RC is WANT (shows stderr on failure)
#   expect_rc_msg NAME WANT TAG REGEX...      RC is WANT and $T/TAG.err matches every REGEX
#   expect_grep NAME REGEX FILE [WHY]         FILE has a line matching the extended REGEX
#   wait_grep REGEX FILE [SECONDS]            wait (default 20 s) until FILE matches; 0 if it did
#   wait_count REGEX FILE N [SECONDS]         wait until N lines of FILE match
#   expect_grep_wait NAME REGEX FILE [SECS]   wait_grep, then expect_grep
#   jcheck NAME PY_BOOL [PY_WHY]              a Python expression over `flows` (the ndjson file
#                                             $FLOWS) and `stats` (the JSON file $STATS) is true
#   ns_new SUFFIX                             a network namespace $PREFIX-SUFFIX (lo up, no IPv6),
#                                             removed at exit; its name in NS
#   nsx NS CMD...                             run CMD in namespace NS
#   veth NS1 IF1 ADDR1 NS2 IF2 ADDR2          a veth pair between two namespaces (ADDR with /len,
#                                             or "-" for none), up, tx checksum offload off
#   bg_ns NS CMD...                           a helper (server) in the background, killed at exit
#   tcpdump_start NS IF OUT / tcpdump_stop    tcpdump -w OUT on IF of namespace NS
#   record_capture OUT [PINGS]                real traffic between two namespaces ($PREFIX-rc
#                                             $CAP_CLIENT, $PREFIX-rs $CAP_SERVER), written by
#                                             tcpdump to OUT: PINGS (5) pings, one HTTP GET of a
#                                             20000-byte file from $CAP_HTTP_NAME (python3
#                                             http.server + curl), one DNS
#                                             query and answer over UDP (python3). Sets
#                                             CAP_PACKETS (tcpdump -r OUT | wc -l).
#   truncate_mid_record IN OUT                OUT = IN cut inside its second-to-last record;
#                                             prints the number of whole packets kept
#
# Needs root (namespaces, tcpdump) and the Debian packages iproute2 ethtool tcpdump python3 curl
# iputils-ping util-linux (setpriv); wireshark-common (editcap) for the pcapng checks.

# shellcheck disable=SC2015,SC2034  # "a && b || fail" is meant; CAP_* etc. are for the scripts
set -u

# test/run-tests.sh runs every test/integration/*.sh, this file too: run directly, it has no checks.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    echo "# lib.sh: helpers sourced by the other scripts, no checks of its own"
    echo "0 passed, 0 failed"
    exit 0
fi

if [ $# -lt 1 ] || [ ! -x "$1" ]; then
    echo "FAIL setup: usage: $0 PATH/TO/tapboxd (got '${1:-}', not an executable)"
    echo "0 passed, 1 failed"
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "FAIL setup: must run as root (network namespaces, tcpdump)"
    echo "0 passed, 1 failed"
    exit 1
fi
TAPBOXD=$(readlink -f "$1")
export ASAN_OPTIONS=${ASAN_OPTIONS:-exitcode=86:detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-exitcode=86:print_stacktrace=1:halt_on_error=1}
export LC_ALL=C

PASSED=0
FAILED=0
PREFIX=tbxt$$
T=$(mktemp -d "/tmp/$PREFIX.XXXXXX")
LIB_NETNS=()
LIB_PIDS=()

pass() { echo "ok   $1"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $1: $2"; FAILED=$((FAILED + 1)); }
finish() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}

lib_cleanup() {
    local pid ns i
    trap - EXIT INT TERM
    for pid in "${LIB_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for ns in "${LIB_NETNS[@]}"; do          # only processes inside our own namespaces
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null; done
    done
    for ((i = 0; i < 20; i++)); do
        local alive=0
        for pid in "${LIB_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        for ns in "${LIB_NETNS[@]}"; do [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for pid in "${LIB_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    for ns in "${LIB_NETNS[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    if [ "${TBX_KEEP:-0}" = 1 ]; then
        echo "# work directory kept: $T" >&2
    else
        rm -rf "$T"
    fi
}
trap 'lib_cleanup' EXIT
trap 'exit 130' INT TERM

# The first lines of a sanitizer report (or the stderr tail), one line, for failure messages.
lib_why() {
    local f=$1 s
    if [ -f "$f" ]; then
        s=$(grep -m3 -E 'Sanitizer|runtime error' "$f")
        [ -n "$s" ] || s=$(tail -n 3 "$f")
    fi
    printf '%s' "${s:-}" | tr '\n' '|' | cut -c1-400
}

# tapboxd always runs inside a namespace of ours: what it listens on (the web UI's ports) stays
# private to the test, and concurrent runs never meet. "$PREFIX-box" is the default one.
lib_box_ns() {
    if [ -z "${LIB_BOX_NS:-}" ]; then
        local keep=${NS:-}
        ns_new box || { echo "cannot create a network namespace" >&2; return 1; }
        LIB_BOX_NS=$NS
        NS=$keep
    fi
}

tbx() {
    local tag=$1; shift
    lib_box_ns
    ip netns exec "$LIB_BOX_NS" timeout -k 5 60 "$TAPBOXD" "$@" >"$T/$tag.out" 2>"$T/$tag.err"
    RC=$?
}

tbx_bg() {
    local tag=$1 ns=$2; shift 2
    if [ "$ns" = - ]; then
        lib_box_ns
        ns=$LIB_BOX_NS
    fi
    ip netns exec "$ns" "$TAPBOXD" "$@" >"$T/$tag.out" 2>"$T/$tag.err" &
    BG_PID=$!
    LIB_PIDS+=("$BG_PID")
}

tbx_wait_exit() {
    local pid=$1 tag=$2 secs=${3:-30} i
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "# $tag: still running after ${secs}s, killing it" >>"$T/$tag.err"
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        RC=124
        return
    fi
    wait "$pid"
    RC=$?
}

expect_rc() {
    local name=$1 want=$2 tag=$3
    if [ "$RC" = "$want" ]; then
        pass "$name"
    else
        fail "$name" "exit $RC, expected $want; stderr: $(lib_why "$T/$tag.err")"
    fi
}

# expect_rc_msg NAME WANT TAG REGEX...: RC is WANT and $T/TAG.err matches every extended REGEX.
expect_rc_msg() {
    local name=$1 want=$2 tag=$3 re; shift 3
    if [ "$RC" != "$want" ]; then
        fail "$name" "exit $RC, expected $want; stderr: $(lib_why "$T/$tag.err")"
        return
    fi
    for re in "$@"; do
        if ! grep -qE -- "$re" "$T/$tag.err"; then
            fail "$name" "stderr lacks /$re/: $(lib_why "$T/$tag.err")"
            return
        fi
    done
    pass "$name"
}

expect_grep() {
    local name=$1 re=$2 file=$3 why=${4:-}
    if [ -f "$file" ] && grep -qE -- "$re" "$file"; then
        pass "$name"
    else
        fail "$name" "${why:-no line matching /$re/} in $(basename "$file"): $(lib_why "$file")"
    fi
}

# expect_grep_wait NAME REGEX FILE [SECONDS]: wait (default 20 s) for a matching line, then check.
expect_grep_wait() { wait_grep "$2" "$3" "${4:-20}"; expect_grep "$1" "$2" "$3"; }

wait_grep() {
    local re=$1 file=$2 secs=${3:-20} i
    for ((i = 0; i < secs * 10; i++)); do
        grep -qE -- "$re" "$file" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# wait_count REGEX FILE N [SECONDS]: wait until N lines of FILE match.
wait_count() {
    local re=$1 file=$2 n=$3 secs=${4:-20} i
    for ((i = 0; i < secs * 10; i++)); do
        [ "$(grep -cE -- "$re" "$file" 2>/dev/null)" -ge "$n" ] && return 0
        sleep 0.1
    done
    return 1
}

# jcheck NAME 'PY_BOOL' ['PY_WHY']: flows = the JSON lines of $FLOWS, stats = the JSON of $STATS.
# Helpers in the expression: proto(P) = the flows of protocol P; pk(f) / by(f) = packets / bytes
# of both directions; c2s(f) / s2c(f) = packets of one direction; ndjson(PATH) = another flows file.
jcheck() {
    local name=$1 expr=$2 why=${3:-}
    local out
    out=$(FLOWS=${FLOWS:-} STATS=${STATS:-} python3 - "$expr" "$why" <<'EOF' 2>&1
import json, os, sys
expr, why = sys.argv[1], sys.argv[2]
g = {"flows": None, "stats": None}
def load():
    fp, sp = os.environ.get("FLOWS"), os.environ.get("STATS")
    if fp and os.path.exists(fp):
        g["flows"] = [json.loads(l) for l in open(fp) if l.strip()]
    if sp and os.path.exists(sp):
        g["stats"] = json.load(open(sp))
try:
    load()
except Exception as e:
    print("cannot read the output: %s" % e); sys.exit(1)
flows = g["flows"]
g["proto"] = lambda p: [f for f in (flows or []) if f.get("protocol") == p]
g["pk"] = lambda f: f["client_to_server"]["packets"] + f["server_to_client"]["packets"]
g["by"] = lambda f: f["client_to_server"]["bytes"] + f["server_to_client"]["bytes"]
g["ndjson"] = lambda path: [json.loads(l) for l in open(path) if l.strip()]
g["c2s"] = lambda f: f["client_to_server"]["packets"]
g["s2c"] = lambda f: f["server_to_client"]["packets"]
try:
    ok = eval(expr, g)
except Exception as e:
    print("%s: %s" % (type(e).__name__, e)); sys.exit(1)
if ok:
    sys.exit(0)
try:
    print(eval(why, g) if why else "false: " + expr)
except Exception as e:
    print("false: %s (%s: %s)" % (expr, type(e).__name__, e))
sys.exit(1)
EOF
)
    local rc=$?
    if [ $rc -eq 0 ]; then
        pass "$name"
    else
        fail "$name" "$(printf '%s' "$out" | tr '\n' ' ' | cut -c1-500)"
    fi
}

# ---- network namespaces ----

ns_new() {
    NS=$PREFIX-$1
    ip netns add "$NS" || return 1
    LIB_NETNS+=("$NS")
    ip netns exec "$NS" ip link set lo up
    # IPv4 only: no router solicitations or MLD reports in the captures.
    ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

veth() {
    local ns1=$1 if1=$2 a1=$3 ns2=$4 if2=$5 a2=$6
    ip link add "$if1" netns "$ns1" type veth peer name "$if2" netns "$ns2" || return 1
    nsx "$ns1" ethtool -K "$if1" tx off >/dev/null || return 1
    nsx "$ns2" ethtool -K "$if2" tx off >/dev/null || return 1
    [ "$a1" = - ] || nsx "$ns1" ip addr add "$a1" dev "$if1"
    [ "$a2" = - ] || nsx "$ns2" ip addr add "$a2" dev "$if2"
    nsx "$ns1" ip link set "$if1" up && nsx "$ns2" ip link set "$if2" up
}

# Wait until something listens on PORT (tcp or udp) in namespace NS.
wait_listen() {
    local ns=$1 proto=$2 port=$3 i
    for ((i = 0; i < 100; i++)); do
        nsx "$ns" ss -Hln"${proto:0:1}" "( sport = :$port )" 2>/dev/null | grep -q . && return 0
        sleep 0.1
    done
    return 1
}

# Start a helper process (server, tcpdump) in namespace NS in the background; its pid (the
# command's own: ip netns exec execs it) in BG. It is killed at exit.
bg_ns() { local ns=$1; shift; ip netns exec "$ns" "$@" & BG=$!; LIB_PIDS+=("$BG"); }

# A DNS server answering every A query with 192.0.2.53 (python3, port 53/udp).
DNS_SERVER_PY='
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
while True:
    q, peer = s.recvfrom(512)
    qd = q[12:]
    end = qd.index(b"\0") + 5
    ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 53])
    s.sendto(q[:2] + b"\x81\x80" + struct.pack(">HHHH", 1, 1, 0, 0) + qd[:end] + ans, peer)
'
# One DNS query (A www.tapbox.test) to $1, printing the answer address.
DNS_CLIENT_PY='
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
name = b"".join(bytes([len(p)]) + p for p in b"www.tapbox.test".split(b".")) + b"\0"
s.sendto(struct.pack(">HHHHHH", 0x7462, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1),
         (sys.argv[1], 53))
r = s.recv(512)
print(".".join(str(b) for b in r[-4:]))
'

# tcpdump_start NS IF OUT: tcpdump writing IF of namespace NS to OUT, started once it listens.
# tcpdump_stop: let it read the last frames, then stop it (SIGINT: it writes everything).
# -B 8192: in immediate mode every ring slot fits a 64 KiB frame on a veth, so tcpdump's default
# 2 MiB ring holds about 32 frames and drops bursts on a busy machine (see ntap.sh).
tcpdump_start() {
    local ns=$1 ifname=$2 out=$3
    TCPDUMP_ERR=$T/tcpdump.$RANDOM.err
    bg_ns "$ns" tcpdump -i "$ifname" -n -Z root -U --immediate-mode -B 8192 -w "$out" 2>"$TCPDUMP_ERR"
    TCPDUMP_PID=$BG
    wait_grep 'listening on' "$TCPDUMP_ERR" 10 ||
        { echo "tcpdump did not start: $(cat "$TCPDUMP_ERR")" >&2; return 1; }
}
tcpdump_stop() {
    sleep 0.5
    kill -INT "$TCPDUMP_PID" 2>/dev/null
    wait "$TCPDUMP_PID" 2>/dev/null
}

# record_capture OUT [PING_COUNT]
# Client namespace $PREFIX-rc (10.201.0.1) and server namespace $PREFIX-rs (10.201.0.2) joined by
# a veth pair; tcpdump on the server side writes OUT. Returns non-zero if a step failed.
CAP_CLIENT=10.201.0.1
CAP_SERVER=10.201.0.2
CAP_HTTP_PORT=8080
CAP_HTTP_NAME=www.tapbox.test
CAP_HTTP_SIZE=20000
record_capture() {
    local out=$1 pings=${2:-5} i
    local nc=$PREFIX-rc ns=$PREFIX-rs
    if [ -z "${CAP_READY:-}" ]; then            # the first call builds the network and servers
        { ns_new rc && ns_new rs && veth "$nc" eth0 "$CAP_CLIENT/24" "$ns" eth0 "$CAP_SERVER/24"; } ||
            { echo "record_capture: cannot build the namespaces" >&2; return 1; }
        mkdir -p "$T/www"
        head -c "$CAP_HTTP_SIZE" /dev/urandom >"$T/www/file.bin"
        bg_ns "$ns" python3 -m http.server "$CAP_HTTP_PORT" --bind "$CAP_SERVER" --directory "$T/www" >/dev/null 2>&1
        bg_ns "$ns" python3 -c "$DNS_SERVER_PY" "$CAP_SERVER" 2>"$T/dns-server.err"
        wait_listen "$ns" tcp "$CAP_HTTP_PORT" && wait_listen "$ns" udp 53 ||
            { echo "record_capture: servers did not start" >&2; return 1; }
        CAP_READY=1
    fi
    # Resolve the neighbours first so that the capture starts quietly.
    nsx "$nc" ping -c 1 -W 2 "$CAP_SERVER" >/dev/null || { echo "record_capture: no link" >&2; return 1; }
    tcpdump_start "$ns" eth0 "$out" || return 1
    local ok=0
    nsx "$nc" ping -c "$pings" -i 0.2 -W 2 "$CAP_SERVER" >"$T/ping.out" 2>&1 || ok=1
    # by name, so that the server is named by the request's Host (www.tapbox.test)
    nsx "$nc" curl -sS -m 10 --resolve "$CAP_HTTP_NAME:$CAP_HTTP_PORT:$CAP_SERVER" -o "$T/file.got" \
        "http://$CAP_HTTP_NAME:$CAP_HTTP_PORT/file.bin" 2>"$T/curl.err" || ok=1
    cmp -s "$T/file.got" "$T/www/file.bin" || ok=1
    CAP_DNS_ANSWER=$(nsx "$nc" python3 -c "$DNS_CLIENT_PY" "$CAP_SERVER" 2>&1)
    [ "$CAP_DNS_ANSWER" = 192.0.2.53 ] || ok=1
    tcpdump_stop
    [ $ok = 0 ] || { echo "record_capture: traffic failed: $(cat "$T/ping.out" "$T/curl.err") dns=$CAP_DNS_ANSWER" >&2; return 1; }
    [ -s "$out" ] || { echo "record_capture: empty capture" >&2; return 1; }
    CAP_PACKETS=$(tcpdump -r "$out" -n 2>/dev/null | wc -l)
    return 0
}

# truncate_mid_record IN OUT: copy a classic pcap cut in the middle of the data of its
# second-to-last packet record (so libpcap reports a truncated file, never a clean end).
# Prints the number of complete packets kept.
truncate_mid_record() {
    python3 - "$1" "$2" <<'EOF'
import struct, sys
data = open(sys.argv[1], "rb").read()
end = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">", b"\x4d\x3c\xb2\xa1": "<",
       b"\xa1\xb2\x3c\x4d": ">"}[data[:4]]
offs, off = [], 24
while off + 16 <= len(data):
    incl = struct.unpack(end + "I", data[off + 8:off + 12])[0]
    offs.append((off, incl))
    off += 16 + incl
off, incl = offs[-2]
open(sys.argv[2], "wb").write(data[:off + 16 + incl // 2])
print(len(offs) - 2)
EOF
}
