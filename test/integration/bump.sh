#!/bin/bash
# bump.sh TAPBOXD - the two-port "bump in the wire" modes, end to end in network namespaces:
#
#   L (host)  l0 ==veth== a0 [ BOX: tapboxd -i inline:a0,b0 ] b0 ==veth== r0  R (host)
#   10.77.0.1/24 fd77::1/64                                        10.77.0.2/24 fd77::2/64
#
# a0 and b0 have no address (IPv6 is on in BOX, so they start with a link-local one that
# tapboxd must remove). l0 and r0 send what a real wire carries: full checksums and wire-size
# frames (no tx checksum offload, TSO or GSO). The sim board (a copy of board/sim/board.conf
# with its files in $T) is simulated by test/integration/relay-sim.py, which joins a0 and b0
# with a kernel bridge (tbsim0) whenever the relay file says bypass or the watchdog file is
# stale.
#
# Inline (with the board): ping both ways, IPv4 and IPv6; ARP through the box; 802.1Q-tagged
# frames (VLAN 42, raw AF_PACKET: this kernel may lack 8021q) echoed across with the tag kept;
# LLDP, an unknown ethertype and a malformed IPv4 frame byte for byte (the malformed one counted);
# jumbo frames after an MTU change; a 5 MB TCP transfer each way, sha256 equal; the live pcap download of the pair (both
# directions, each frame once) and of one port; /api/v1/ports counters consistent; flows with
# source, client_side; relay file "1" and the simulator's bridge off while forwarding;
# POST /api/v1/bypass on/auto; a port down/up reopened; a port missing at start (bypass, then opened); SIGTERM (a handful of pings lost at
# most, exit 0, watchdog disarmed, a running pcap download ends complete). A policy dropping HTTP (ping, UDP and other TCP pass; rule
# counters agree with the ports'), then kill -9: the watchdog runs out and the simulator carries
# the link (longest gap in replies < WATCHDOG_TIMEOUT + 1 s). An address on a port: refused.
# Bridge mode (the kernel bridge made by tapboxd; a pcap download of one port) and tap mode (two mirror ports, one direction
# each, flows stitched from both).
# Prints "ok   NAME" / "FAIL NAME: why" and "N passed, N failed". Needs root, iproute2,
# ethtool, python3, curl, ping; every wait has a timeout.
# shellcheck disable=SC2015  # "a && b || fail" is meant
source "$(dirname "$0")/lib.sh" "$@"
REPO=$(cd "$(dirname "$0")/../.." && pwd)
RELAY_SIM=${TBX_RELAY_SIM:-$REPO/test/integration/relay-sim.py}
SECONDS=0

setup_fail() { fail "setup: $1" "$2"; finish; exit 1; }
for tool in python3 curl ping ethtool; do
    command -v $tool >/dev/null || setup_fail tools "$tool is missing"
done
[ -f "$RELAY_SIM" ] || setup_fail tools "no relay simulator at $RELAY_SIM"

L_IP=10.77.0.1 R_IP=10.77.0.2 L_IP6=fd77::1 R_IP6=fd77::2
API_PORT=3080
WEB=("--http-port=127.0.0.1:$API_PORT" --https-port=0 --disable-login)

# ---- helpers ----

ipv6_on() { nsx "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0; }
wire_offloads_off() { nsx "$1" ethtool -K "$2" tx off tso off gso off >/dev/null 2>&1; }

# api PATH: GET /api/v1/PATH from inside BOX (stdout: the body)
api() { nsx "$NB" curl -sS -m 5 "http://127.0.0.1:$API_PORT/api/v1/$1" 2>>"$T/curl-api.err"; }
# api_post PATH JSON: with the CSRF token that GET /api/v1/session gives (also with --disable-login)
api_post() {
    local csrf
    csrf=$(api session | jpy 'j.get("csrf_token") or ""')
    nsx "$NB" curl -sS -m 5 -X POST -H 'Content-Type: application/json' -H "X-CSRF-Token: $csrf" \
        -d "$2" "http://127.0.0.1:$API_PORT/api/v1/$1" 2>>"$T/curl-api.err"
}
# jpy EXPR: a Python expression over the JSON document on stdin (j); P = the ports by interface.
# Prints the value (JSON, or the string itself); exits 1 on a bad document.
jpy() {
    python3 -c '
import json, sys
try:
    j = json.load(sys.stdin)
except Exception as e:
    print("bad json: %s" % e); sys.exit(1)
P = {p.get("interface"): p for p in j.get("ports", [])} if isinstance(j, dict) else {}
try:
    r = eval(sys.argv[1])
except Exception as e:
    print("%s: %s" % (type(e).__name__, e)); sys.exit(1)
print(r if isinstance(r, str) else json.dumps(r))
' "$1"
}
# api_wait PATH EXPR [SECS]: wait until EXPR over GET PATH is true; the last body in API_BODY.
api_wait() {
    local path=$1 expr=$2 secs=${3:-20} i
    for ((i = 0; i < secs * 10; i++)); do
        API_BODY=$(api "$path")
        [ "$(printf '%s' "$API_BODY" | jpy "bool($expr)" 2>/dev/null)" = true ] && return 0
        sleep 0.1
    done
    return 1
}
# api_check NAME PATH EXPR [SECS]
api_check() {
    if api_wait "$2" "$3" "${4:-10}"; then pass "$1"; else
        fail "$1" "not true: $3; GET $2: $(printf '%s' "$API_BODY" | cut -c1-600)"; fi
}
# pings NAME NS DST [ping options]: 3 replies within 5 s
pings() {
    local name=$1 ns=$2 dst=$3; shift 3
    if nsx "$ns" ping -n -c 3 -i 0.2 -w 5 "$@" "$dst" >"$T/ping.out" 2>&1; then pass "$name"; else
        fail "$name" "$(tail -n 2 "$T/ping.out" | tr '\n' ' ')"; fi
}
# fetch NS URL OUT: curl, 30 s at most
fetch() { nsx "$1" curl -sS -m 30 -o "$3" "$2" 2>"$T/fetch.err"; }
sha() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }
# transfer NAME NS URL: GET of the 5 MB file, sha256 equal
transfer() {
    rm -f "$T/got.bin"
    if fetch "$2" "$3" "$T/got.bin" && [ "$(sha "$T/got.bin")" = "$BIG_SHA" ]; then pass "$1"; else
        fail "$1" "curl: $(head -c 200 "$T/fetch.err"), got $(stat -c %s "$T/got.bin" 2>/dev/null || echo 0) bytes"; fi
}
relay_level() { cat "$RELAY_FILE" 2>/dev/null || echo missing; }
# wait_relay LEVEL [SECS]
wait_relay() {
    local i
    for ((i = 0; i < ${2:-10} * 20; i++)); do
        [ "$(relay_level)" = "$1" ] && return 0
        sleep 0.05
    done
    return 1
}
# sim_state: the simulator's last line ("on (reason)" / "off")
sim_state() { tail -n 1 "$T/relay-sim.out" 2>/dev/null | cut -d' ' -f3-; }
wait_sim() {  # wait_sim on|off [SECS]
    local i
    for ((i = 0; i < ${2:-10} * 20; i++)); do
        [ "$(sim_state | cut -d' ' -f1)" = "$1" ] && return 0
        sleep 0.05
    done
    return 1
}
# no sanitizer report in $T/TAG.err
clean_exit() {
    if grep -qE 'Sanitizer|runtime error:' "$T/$2.err" 2>/dev/null; then
        fail "$1" "sanitizer report: $(lib_why "$T/$2.err")"
    else
        pass "$1"
    fi
}
# tbx_start TAG NS ARGS...: tapboxd in the background, then wait for GET /api/v1/ports ready
tbx_start() {
    local tag=$1 ns=$2; shift 2
    tbx_bg "$tag" "$ns" "$@"
    TBX_PID=$BG_PID
    local i
    for ((i = 0; i < 300; i++)); do
        kill -0 "$TBX_PID" 2>/dev/null || return 1
        [ "$(api ports | jpy 'j.get("ready")' 2>/dev/null)" = true ] && return 0
        sleep 0.1
    done
    return 1
}
# stop_term TAG: SIGTERM, wait; status in RC
stop_term() { kill -TERM "$TBX_PID" 2>/dev/null; tbx_wait_exit "$TBX_PID" "$1" 30; }

# pcap_bg QUERY OUT: GET /api/v1/pcap?QUERY from inside BOX in the background (pid in PCAP_PID;
# "HTTP_CODE CURL_EXIT" in OUT.code once done). A GET needs no CSRF token.
pcap_bg() {
    { nsx "$NB" curl -sS -m 40 -o "$2" -w '%{http_code}' "http://127.0.0.1:$API_PORT/api/v1/pcap?$1" \
        >"$2.code" 2>"$2.err"; echo " $?" >>"$2.code"; } &
    PCAP_PID=$!
}
# pcap_icmp FILE: "REQUESTS REPLIES DUPLICATES" (IPv4 ICMP echo; duplicates: frames seen twice,
# byte for byte), or "bad: why"; the file must be a pcap of Ethernet frames, whole records only
PCAP_PY='
import struct, sys
try:
    d = open(sys.argv[1], "rb").read()
    magic, _, _, _, _, _, link = struct.unpack("<IHHiIII", d[:24])
    assert magic == 0xa1b2c3d4 and link == 1, "header: magic %x link type %d" % (magic, link)
    off, req, rep, dup, seen = 24, 0, 0, 0, set()
    while off < len(d):
        _, _, cap, _ = struct.unpack("<IIII", d[off:off + 16])
        f = d[off + 16:off + 16 + cap]
        assert len(f) == cap, "a record cut at byte %d" % off
        off += 16 + cap
        dup += f in seen
        seen.add(f)
        if f[12:14] == b"\x08\x00" and f[23] == 1:
            t = f[14 + (f[14] & 15) * 4]
            req += t == 8
            rep += t == 0
    print(req, rep, dup)
except Exception as e:
    print("bad: %s" % e)
'
pcap_icmp() { python3 -c "$PCAP_PY" "$1"; }
# tcpdump reads FILE (when tcpdump is here): "" or why not
pcap_reads() {
    command -v tcpdump >/dev/null || return 0
    tcpdump -r "$1" -n >/dev/null 2>"$1.tcpdump" || head -c 200 "$1.tcpdump"
}

# ping statistics: "SENT RECEIVED" from a ping output file
ping_counts() { sed -nE 's/^([0-9]+) packets transmitted, ([0-9]+) received.*/\1 \2/p' "$1"; }

# An IPv4/UDP exchange inside 802.1Q tag VLAN (raw AF_PACKET frames; the tag may come back in
# the packet's auxdata when the kernel took it off). Server: echo every tagged datagram to
# UDP port 4242 back, tagged. Client: COUNT datagrams, prints "echoed N".
VLAN_PY='
import socket, struct, sys, time
SOL_PACKET, PACKET_AUXDATA, TP_STATUS_VLAN_VALID = 263, 8, 1 << 4
mode, ifname, vlan, me, peer = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((ifname, 0))
s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
mymac = s.getsockname()[4]
def csum(b):
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xffff); t += t >> 16
    return ~t & 0xffff
def frame(dst, src, sip, dip, payload):
    udp = struct.pack("!HHHH", 4242, 4242, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     socket.inet_aton(sip), socket.inet_aton(dip))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return dst + src + struct.pack("!HHH", 0x8100, vlan, 0x0800) + ip + udp
def recv(deadline):
    while time.time() < deadline:
        s.settimeout(max(0.01, deadline - time.time()))
        try:
            data, anc, _, addr = s.recvmsg(4096, socket.CMSG_SPACE(20))
        except socket.timeout:
            return None
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        tag = None
        for lvl, typ, val in anc:
            if lvl == SOL_PACKET and typ == PACKET_AUXDATA and len(val) >= 20:
                st, _, _, _, _, tci, _ = struct.unpack("IIIHHHH", val[:20])
                if st & TP_STATUS_VLAN_VALID:
                    tag = tci & 0xfff
        if tag is None and data[12:14] == b"\x81\x00":
            tag = struct.unpack("!H", data[14:16])[0] & 0xfff
            data = data[:12] + data[16:]
        if tag != vlan or data[12:14] != b"\x08\x00" or data[23] != 17:
            continue
        ihl = (data[14] & 15) * 4
        if struct.unpack("!H", data[14 + ihl + 2:14 + ihl + 4])[0] != 4242:
            continue
        return data[6:12], data[14 + ihl + 8:]
    return None
if mode == "server":
    while True:
        r = recv(time.time() + 3600)
        if r:
            s.send(frame(r[0], mymac, me, peer, r[1]))
else:
    peermac = bytes.fromhex(sys.argv[6].replace(":", ""))
    n = 0
    for i in range(int(sys.argv[7])):
        msg = b"tapbox vlan %d #%d" % (vlan, i)
        s.send(frame(peermac, mymac, me, peer, msg))
        end = time.time() + 1
        while True:
            r = recv(end)
            if r is None or r[1] == msg:
                break
        n += r is not None
        time.sleep(0.05)
    print("echoed %d" % n)
'

# Frames a bump must pass untouched, sent raw from L and looked for on R: LLDP (to the
# nearest-bridge group a switch would never forward), a local-experimental ethertype, and an
# IPv4 frame with an impossible header length (malformed: forwarded, counted, never eaten).
# "send IF DSTMAC" sends them; "recv IF SECS" prints the names of those that arrived intact.
RAW_FRAMES_PY='
import socket, sys, time
def frames(src):
    lldp = (b"\x01\x80\xc2\x00\x00\x0e" + src + b"\x88\xcc" + b"\x02\x07\x04" + src +
            b"\x04\x03\x05l0\x06\x02\x00\x78\x00\x00")
    exp = b"\xff" * 6 + src + b"\x88\xb5" + b"tapbox experimental ethertype".ljust(46, b".")
    bad = b"\xff" * 6 + src + b"\x08\x00" + b"\x42" + b"tapbox malformed ipv4".ljust(45, b".")
    return {"lldp": lldp, "experimental": exp, "malformed-ipv4": bad}
mode, ifname = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((ifname, 0))
if mode == "send":
    for name, f in frames(s.getsockname()[4]).items():
        s.send(f)
        time.sleep(0.05)
else:
    want, got, end = None, set(), time.time() + float(sys.argv[3])
    while time.time() < end and (want is None or len(got) < 3):
        s.settimeout(max(0.01, end - time.time()))
        try:
            data, addr = s.recvfrom(65536)
        except socket.timeout:
            break
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        for name, f in frames(data[6:12]).items():
            if data[:len(f)] == f:
                got.add(name)
    print(" ".join(sorted(got)))
'

# A TCP server sending FILE to each client, and its client (not HTTP: a policy keeps it)
RAW_SERVER_PY='
import socket, sys, threading
data = open(sys.argv[3], "rb").read()
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], int(sys.argv[2]))); ls.listen(8)
def serve(c):
    c.sendall(data); c.close()
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
'
RAW_CLIENT_PY='
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
out = open(sys.argv[3], "wb")
while True:
    b = c.recv(65536)
    if not b:
        break
    out.write(b)
'

# gap_report FILE KILL_TIME: ping -D output -> "longest_gap_s replies_after(kill+3s) replies_total"
gap_report() {
    python3 - "$1" "$2" <<'EOF'
import re, sys
ts = [float(m.group(1)) for m in (re.match(r"\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=\d+", l)
      for l in open(sys.argv[1])) if m]
kill = float(sys.argv[2])
ts.sort()
gaps = [b - a for a, b in zip(ts, ts[1:])]
print("%.3f %d %d" % (max(gaps) if gaps else 99, sum(1 for t in ts if t > kill + 3), len(ts)))
EOF
}

# ---- topology ----
ns_new l && NL=$NS && ns_new box && NB=$NS && ns_new r && NR=$NS ||
    setup_fail namespaces "cannot create network namespaces"
ipv6_on "$NL"; ipv6_on "$NR"; ipv6_on "$NB"
{ veth "$NL" l0 "$L_IP/24" "$NB" a0 - && veth "$NB" b0 - "$NR" r0 "$R_IP/24"; } 2>"$T/veth.err" ||
    setup_fail "veth pairs" "$(cat "$T/veth.err")"
wire_offloads_off "$NL" l0 && wire_offloads_off "$NR" r0 ||
    setup_fail "offloads" "ethtool -K tx off tso off gso off failed"
# the box's ports start with the offloads a NIC has on (lib's veth turned tx off): tapboxd turns
# GRO/LRO/TSO/GSO off itself
for p in a0 b0; do nsx "$NB" ethtool -K $p tx on tso on gso on gro on >/dev/null 2>&1; done
nsx "$NL" ip addr add "$L_IP6/64" dev l0 nodad
nsx "$NR" ip addr add "$R_IP6/64" dev r0 nodad
R_MAC=$(nsx "$NR" cat /sys/class/net/r0/address)

mkdir -p "$T/www" "$T/sim"
head -c 5000000 /dev/urandom >"$T/www/big.bin"
head -c 1000000 /dev/urandom >"$T/www/raw.bin"
BIG_SHA=$(sha "$T/www/big.bin")
RAW_SHA=$(sha "$T/www/raw.bin")
bg_ns "$NR" python3 -m http.server 8080 --bind "$R_IP" --directory "$T/www" >/dev/null 2>&1
bg_ns "$NL" python3 -m http.server 8081 --bind "$L_IP" --directory "$T/www" >/dev/null 2>&1
bg_ns "$NR" python3 -c "$DNS_SERVER_PY" "$R_IP" 2>"$T/dns-server.err"
bg_ns "$NR" python3 -c "$RAW_SERVER_PY" "$R_IP" 9000 "$T/www/raw.bin" 2>"$T/raw-server.err"
bg_ns "$NR" python3 -c "$VLAN_PY" server r0 42 10.78.0.2 10.78.0.1 2>"$T/vlan-server.err"
wait_listen "$NR" tcp 8080 && wait_listen "$NL" tcp 8081 && wait_listen "$NR" udp 53 &&
    wait_listen "$NR" tcp 9000 || setup_fail servers "servers did not start"

# The board: board/sim/board.conf with its files here.
RELAY_FILE=$T/sim/relay WD_FILE=$T/sim/watchdog
BOARD=$T/board.conf
cat >"$BOARD" <<EOF
BOARD_NAME=sim
RELAY_GPIO_CHIP=file:$RELAY_FILE
RELAY_GPIO_LINE=0
RELAY_GPIO_ACTIVE=1
RELAY_SETTLE_MS=300
WATCHDOG_DEVICE=file:$WD_FILE
WATCHDOG_TIMEOUT=2
EOF
python3 "$RELAY_SIM" --board "$BOARD" --netns "$NB" --ports a0,b0 --bridge tbsim0 \
    --interval-ms 20 >"$T/relay-sim.out" 2>"$T/relay-sim.err" &
SIM_PID=$!
LIB_PIDS+=("$SIM_PID")
# No relay file yet: bypass, the simulator's bridge carries the link.
if wait_sim on 10 && nsx "$NL" ping -n -c 3 -i 0.2 -w 5 "$R_IP" >"$T/ping.out" 2>&1; then
    pass "setup: topology, relay simulator in bypass carries L <-> R"
else
    setup_fail "topology" "sim: $(cat "$T/relay-sim.out" "$T/relay-sim.err" | tail -n 3 | tr '\n' ' ') ping: $(tail -n 2 "$T/ping.out" | tr '\n' ' ')"
fi

# ---- 1. an address on a port: refused ----
nsx "$NB" ip addr add 10.99.0.1/24 dev a0
tbx_bg addr "$NB" -i inline:a0,b0 --http-port=0 --https-port=0 --data-dir="$T/data-addr"
tbx_wait_exit "$BG_PID" addr 30
expect_rc_msg "refuse: a port with an IPv4 address: exit 1, message naming a0" 1 addr 'a0'
nsx "$NB" ip addr del 10.99.0.1/24 dev a0
nsx "$NB" ip addr add fd99::1/64 dev b0 nodad
tbx_bg addr6 "$NB" -i inline:a0,b0 --http-port=0 --https-port=0 --data-dir="$T/data-addr"
tbx_wait_exit "$BG_PID" addr6 30
expect_rc_msg "refuse: a port with a global IPv6 address: exit 1, message naming b0" 1 addr6 'b0'
nsx "$NB" ip addr del fd99::1/64 dev b0

# ---- 1b. a port missing at start: bypass engaged, saying why; opened once it appears ----
if tbx_bg missing "$NB" -i inline:a0,zz0 --board="$BOARD" --data-dir="$T/data-missing" "${WEB[@]}" &&
    api_wait bypass 'j.get("engaged") and "zz0" in j.get("reason", "")' 15; then
    pass "missing port: bypass engaged, the reason names zz0"
else
    fail "missing port: bypass engaged, the reason names zz0" "$(printf '%s' "$API_BODY" | cut -c1-300) $(lib_why "$T/missing.err")"
fi
[ "$(relay_level)" != 1 ] && pass "missing port: the relay stays at the bypass level" ||
    fail "missing port: the relay stays at the bypass level" "relay $(relay_level)"
nsx "$NB" ip link add zz0 type veth peer name zz1 && nsx "$NB" ip link set zz1 up
api_check "missing port: zz0 appears and is opened without a restart, bypass released" bypass \
    'not j["engaged"] and j["reason"] == "both ports forward"' 10
kill -TERM "$BG_PID"
tbx_wait_exit "$BG_PID" missing 10
expect_rc "missing port: SIGTERM exits 0" 0 missing
nsx "$NB" ip link del zz0
wait_sim on 5

# ---- 2. inline, with the board ----
FLOWS=$T/inline.flows
if tbx_start inline "$NB" -i inline:a0,b0 --port-names=lan,wan --board="$BOARD" \
    --flows-out="$FLOWS" --data-dir="$T/data-inline" "${WEB[@]}"; then
    pass "inline: tapboxd starts, /api/v1/ports ready"
else
    fail "inline: tapboxd starts, /api/v1/ports ready" "$(lib_why "$T/inline.err")"
fi
api_check "inline: ports API: mode inline, lan=a0 (side 0), wan=b0 (side 1), up, no error" ports \
    'j["mode"] == "inline" and [(p["side"], p["name"], p["interface"], p["up"], p["error"]) for p in j["ports"]] == [(0, "lan", "a0", True, None), (1, "wan", "b0", True, None)]'
if wait_relay 1 10 && wait_sim off 5; then
    pass "inline: relay file \"1\" and the simulator's bridge off while forwarding"
else
    fail "inline: relay file \"1\" and the simulator's bridge off while forwarding" \
        "relay=$(relay_level) sim=$(sim_state)"
fi
if nsx "$NB" ip -o addr show dev a0 | grep -q inet || nsx "$NB" ip -o addr show dev b0 | grep -q inet; then
    fail "inline: the ports' IPv6 link-local addresses removed" "$(nsx "$NB" ip -o addr show | grep -E ' (a0|b0) ')"
else
    pass "inline: the ports' IPv6 link-local addresses removed"
fi
# (the features one by one: bookworm's ethtool shows "tcp-segmentation-offload: on" while a newer
# kernel's tx-tcp-accecn-segmentation, unknown to it, is on)
OFFL=$(for p in a0 b0; do nsx "$NB" ethtool -k $p 2>/dev/null |
    grep -E '^\s*(generic-receive-offload|large-receive-offload|tx-tcp-segmentation|tx-tcp6-segmentation|generic-segmentation-offload):' |
    grep -v ': off' | sed "s/^\s*/$p /"; done | tr '\n' ' ')
[ -z "$OFFL" ] && pass "inline: GRO/LRO/TSO/GSO off on a0 and b0" || fail "inline: GRO/LRO/TSO/GSO off on a0 and b0" "$OFFL"

nsx "$NL" ip neigh flush dev l0
pings "inline: ping L -> R" "$NL" "$R_IP"
if nsx "$NL" ip neigh show "$R_IP" dev l0 | grep -qi "lladdr $R_MAC"; then
    pass "inline: ARP through the box (L's neighbour entry for R after a flush)"
else
    fail "inline: ARP through the box (L's neighbour entry for R after a flush)" "$(nsx "$NL" ip neigh show dev l0)"
fi
pings "inline: ping R -> L" "$NR" "$L_IP"
pings "inline: IPv6 ping L -> R (neighbour discovery through the box)" "$NL" "$R_IP6" -6
pings "inline: IPv6 ping R -> L" "$NR" "$L_IP6" -6

# live pcap of the pair while L pings R: the whole link, both directions, each frame once (a0
# and b0 capture inbound only; tapboxd's own sends bypass them); source=lan: only what a0 got
pcap_bg 'source=inline:a0,b0&filter=icmp&duration=3' "$T/pair.pcap"; PAIR_PID=$PCAP_PID
pcap_bg 'source=lan&filter=icmp&duration=3' "$T/lan.pcap"; LAN_PID=$PCAP_PID
sleep 0.5
nsx "$NL" ping -n -c 8 -i 0.2 -w 5 "$R_IP" >"$T/pcap-ping.out" 2>&1
wait "$PAIR_PID" "$LAN_PID"
read -r _ PR <<<"$(ping_counts "$T/pcap-ping.out")"
PAIR=$(pcap_icmp "$T/pair.pcap") LAN=$(pcap_icmp "$T/lan.pcap")
WHY=$(pcap_reads "$T/pair.pcap")$(pcap_reads "$T/lan.pcap")
if [ "$(cat "$T/pair.pcap.code")" = "200 0" ] && [ "${PR:-0}" -ge 8 ] && [ "$PAIR" = "$PR $PR 0" ] && [ -z "$WHY" ]; then
    pass "inline: pcap download of inline:a0,b0 (filter=icmp): $PR echo requests and $PR replies, no frame twice"
else
    fail "inline: pcap download of inline:a0,b0 (filter=icmp): requests and replies once each" \
        "HTTP/curl $(cat "$T/pair.pcap.code") $(head -c 200 "$T/pair.pcap.err"); $PR ping replies; file: requests replies dups = $PAIR; $WHY"
fi
if [ "$(cat "$T/lan.pcap.code")" = "200 0" ] && [ "$LAN" = "$PR 0 0" ]; then
    pass "inline: pcap download of source=lan: the $PR requests from L only"
else
    fail "inline: pcap download of source=lan: the requests from L only" \
        "HTTP/curl $(cat "$T/lan.pcap.code") $(head -c 200 "$T/lan.pcap.err"); file: requests replies dups = $LAN (want $PR 0 0)"
fi

VL=$(nsx "$NL" timeout 20 python3 -c "$VLAN_PY" client l0 42 10.78.0.1 10.78.0.2 "$R_MAC" 5 2>&1)
[ "$VL" = "echoed 5" ] && pass "inline: VLAN 42 tagged frames across and back, tag kept" ||
    fail "inline: VLAN 42 tagged frames across and back, tag kept" "$VL; server: $(tail -n 2 "$T/vlan-server.err")"
# LLDP, an unknown ethertype and a malformed IPv4 frame: forwarded byte for byte
MALFORMED_BEFORE=$(api sources | jpy 'sum(x["counters"]["malformed"] for x in j.get("items", j) if x["name"] == "inline:a0,b0")')
nsx "$NR" timeout 10 python3 -c "$RAW_FRAMES_PY" recv r0 5 >"$T/raw-frames.out" 2>&1 &
RAW_RECV=$!
sleep 0.5
nsx "$NL" python3 -c "$RAW_FRAMES_PY" send l0 2>"$T/raw-send.err"
wait "$RAW_RECV"
[ "$(cat "$T/raw-frames.out")" = "experimental lldp malformed-ipv4" ] &&
    pass "inline: LLDP, an unknown ethertype and a malformed IPv4 frame reach R byte for byte" ||
    fail "inline: LLDP, an unknown ethertype and a malformed IPv4 frame reach R byte for byte" \
        "got '$(cat "$T/raw-frames.out")' $(cat "$T/raw-send.err")"
api_check "inline: the malformed frame is counted on the pair's source" sources \
    "sum(x['counters']['malformed'] for x in j.get('items', j) if x['name'] == 'inline:a0,b0') > ${MALFORMED_BEFORE:-0}" 5

# Jumbo frames: the operator raises the MTU everywhere; 8000-byte pings cross unfragmented
for x in "$NL l0" "$NB a0" "$NB b0" "$NR r0"; do read -r ns ifc <<<"$x"; nsx "$ns" ip link set "$ifc" mtu 9000; done
if wait_grep "b0: MTU 9000" "$T/inline.err" 5 && wait_grep "a0: MTU 9000" "$T/inline.err" 5 &&
    nsx "$NL" ping -n -c 3 -i 0.2 -w 5 -M do -s 8000 "$R_IP" >"$T/ping.out" 2>&1; then
    pass "inline: jumbo frames (MTU 9000, 8028-byte pings, DF) cross both ways"
else
    fail "inline: jumbo frames (MTU 9000, 8028-byte pings, DF) cross both ways" \
        "$(tail -n 2 "$T/ping.out" | tr '\n' ' ') $(grep MTU "$T/inline.err" | tr '\n' ' ')"
fi
for x in "$NL l0" "$NB a0" "$NB b0" "$NR r0"; do read -r ns ifc <<<"$x"; nsx "$ns" ip link set "$ifc" mtu 1500; done
wait_grep "b0: MTU 1500" "$T/inline.err" 5

transfer "inline: TCP 5 MB R -> L (GET from L), sha256 equal" "$NL" "http://$R_IP:8080/big.bin"
transfer "inline: TCP 5 MB L -> R (GET from R), sha256 equal" "$NR" "http://$L_IP:8081/big.bin"
sleep 0.5
api_check "inline: per-port counters non-zero and consistent (rx a0 ~ tx b0, rx b0 ~ tx a0)" ports '
all(P[x]["rx_packets"] > 3000 and P[y]["tx_packets"] > 3000
    and 0 <= P[x]["rx_packets"] - P[y]["tx_packets"] - P[x]["queue_drops"] - P[y]["tx_errors"] - P[x]["oversize"] - P[x]["policy_drops"] - P[x]["bypassed"] <= 20
    and P[x]["rx_bytes"] >= P[y]["tx_bytes"] > 0
    for x, y in (("a0", "b0"), ("b0", "a0")))
and all(P[x]["queue_drops"] == 0 and P[x]["tx_errors"] == 0 and P[x]["oversize"] == 0 for x in P)' 5
api_check "inline: bypass API: present, auto, not engaged, watchdog armed and petted" bypass \
    'j["present"] and j["mode"] == "auto" and not j["engaged"] and j["watchdog"]["present"] and j["watchdog"]["armed"] and j["watchdog"]["pets"] > 0'
if [ "$(cut -d' ' -f1,2 "$WD_FILE" 2>/dev/null)" = "armed 2" ]; then pass "inline: watchdog file \"armed 2 N\""; else
    fail "inline: watchdog file \"armed 2 N\"" "$(cat "$WD_FILE" 2>&1)"; fi

# bypass on by the API: the relay carries the link; back to auto
R1=$(api_post bypass '{"mode":"on"}')
if wait_relay 0 5 && wait_sim on 5; then
    pass "bypass on (POST): relay file \"0\", the simulator's bridge on"
else
    fail "bypass on (POST): relay file \"0\", the simulator's bridge on" "answer: $R1 relay=$(relay_level) sim=$(sim_state)"
fi
api_check "bypass on: GET /api/v1/bypass mode on, engaged" bypass 'j["mode"] == "on" and j["engaged"]'
sleep 0.5  # RELAY_SETTLE_MS: tapboxd stops forwarding
B0=$(api ports | jpy 'P["a0"]["tx_packets"] + P["b0"]["tx_packets"]')
pings "bypass on: ping L -> R through the relay" "$NL" "$R_IP"
transfer "bypass on: TCP 5 MB through the relay" "$NL" "http://$R_IP:8080/big.bin"
B1=$(api ports | jpy 'P["a0"]["tx_packets"] + P["b0"]["tx_packets"]')
BYP=$(api ports | jpy 'P["a0"]["bypassed"] + P["b0"]["bypassed"]')
[ -n "$B0" ] && [ "$B0" = "$B1" ] && [ "${BYP:-0}" -gt 3000 ] 2>/dev/null &&
    pass "bypass on: tapboxd does not forward (tx unchanged, $BYP frames counted bypassed)" ||
    fail "bypass on: tapboxd does not forward (tx unchanged, frames counted bypassed)" "tx before $B0, after $B1, bypassed $BYP"
R2=$(api_post bypass '{"mode":"auto"}')
if wait_relay 1 5 && wait_sim off 5; then
    pass "bypass auto (POST): relay file \"1\", the simulator's bridge off"
else
    fail "bypass auto (POST): relay file \"1\", the simulator's bridge off" "answer: $R2 relay=$(relay_level) sim=$(sim_state)"
fi
pings "bypass auto: ping L -> R through tapboxd again" "$NL" "$R_IP"

# a port down and up: reopened, bypass meanwhile with a reason naming it
nsx "$NB" ip link set a0 down
if api_wait bypass 'j["engaged"] and "a0" in (j.get("reason") or "")' 5; then
    pass "port down: bypass engaged, reason names a0"
else
    fail "port down: bypass engaged, reason names a0" "$(printf '%s' "$API_BODY" | cut -c1-400)"
fi
nsx "$NB" ip link set a0 up
api_check "port down/up: a0 reopened (reopens=1, up), b0 not" ports \
    'P["a0"]["reopens"] == 1 and P["a0"]["up"] and P["b0"]["reopens"] == 0' 10
if wait_relay 1 10 && wait_sim off 5; then
    pass "port down/up: bypass released (relay \"1\")"
else
    fail "port down/up: bypass released (relay \"1\")" "relay=$(relay_level) sim=$(sim_state) bypass: $(api bypass | cut -c1-300)"
fi
pings "port down/up: ping L -> R through tapboxd" "$NL" "$R_IP"
transfer "port down/up: TCP 5 MB through tapboxd" "$NL" "http://$R_IP:8080/big.bin"
if nsx "$NB" ip -o addr show dev a0 | grep -q inet; then
    fail "port down/up: still no address on a0" "$(nsx "$NB" ip -o addr show dev a0)"
else
    pass "port down/up: still no address on a0"
fi

# SIGTERM: bypass first, forwarding through the settle time, then exit 0
nsx "$NL" timeout 20 ping -n -c 300 -i 0.01 -W 1 "$R_IP" >"$T/term-ping.out" 2>&1 &
PING_PID=$!
pcap_bg 'source=inline:a0,b0&filter=icmp&duration=60' "$T/term.pcap"  # still running at the stop
sleep 1
stop_term inline
wait "$PING_PID"
wait "$PCAP_PID"
read -r TREQ TREP TDUP <<<"$(pcap_icmp "$T/term.pcap")"
WHY=$(pcap_reads "$T/term.pcap")
if [ "$(cat "$T/term.pcap.code")" = "200 0" ] && [ "${TREQ:-0}" -ge 50 ] 2>/dev/null &&
    [ "${TREP:-0}" -ge 50 ] && [ "${TDUP:-1}" = 0 ] && [ -z "$WHY" ]; then
    pass "SIGTERM: a running pcap download of the pair ends complete ($TREQ requests, $TREP replies)"
else
    fail "SIGTERM: a running pcap download of the pair ends complete" \
        "HTTP/curl $(cat "$T/term.pcap.code") $(head -c 200 "$T/term.pcap.err"); file: $TREQ $TREP $TDUP; $WHY"
fi
read -r SENT RCVD <<<"$(ping_counts "$T/term-ping.out")"
expect_rc "SIGTERM: exit 0" 0 inline
clean_exit "SIGTERM: no sanitizer report" inline
if [ -n "${SENT:-}" ] && [ "$SENT" -ge 250 ] && [ $((SENT - RCVD)) -le 5 ]; then
    pass "SIGTERM: at most 5 of $SENT pings (10 ms apart) lost ($((SENT - RCVD)))"
else
    fail "SIGTERM: at most 5 pings (10 ms apart) lost" "$(tail -n 2 "$T/term-ping.out" | tr '\n' ' ')"
fi
if [ "$(relay_level)" != 1 ] && [ "$(cut -d' ' -f1 "$WD_FILE" 2>/dev/null)" = disarmed ] && wait_sim on 2; then
    pass "SIGTERM: relay left in bypass, watchdog \"disarmed\""
else
    fail "SIGTERM: relay left in bypass, watchdog \"disarmed\"" "relay=$(relay_level) watchdog=$(cat "$WD_FILE" 2>&1) sim=$(sim_state)"
fi
jcheck "inline flows: source inline:a0,b0; TCP L->R:8080 client_side lan; R->L:8081 client_side wan" \
    "any(f['source'] == 'inline:a0,b0' and f.get('client_side') == 'lan' and f['server']['port'] == 8080 and s2c(f) > 3000 for f in proto('TCP')) and any(f.get('client_side') == 'wan' and f['server']['port'] == 8081 and s2c(f) > 3000 for f in proto('TCP'))" \
    "[(f.get('source'), f.get('client_side'), f['client'], f['server'], c2s(f), s2c(f)) for f in proto('TCP')][:6]"
jcheck "inline flows: the VLAN 42 UDP exchange, both directions" \
    "any(f['vlan'] == 42 and c2s(f) >= 5 and s2c(f) >= 5 for f in proto('UDP'))" \
    "[(f['vlan'], f['client'], f['server'], c2s(f), s2c(f)) for f in proto('UDP')][:6]"
jcheck "inline flows: IPv6 ICMP both ways, no verdict without policies" \
    "any(f['ip_version'] == 6 and c2s(f) >= 3 and s2c(f) >= 3 for f in flows) and not any('verdict' in f for f in flows)" \
    "[(f['protocol'], f['client'], c2s(f), s2c(f), f.get('verdict')) for f in flows if f['ip_version'] == 6][:6]"

# ---- 3. inline with a policy dropping HTTP; then kill -9 ----
FLOWS=$T/policy.flows
if tbx_start policy "$NB" -i inline:a0,b0 --port-names=lan,wan --board="$BOARD" \
    --policy='no-http drop proto=HTTP' --flows-out="$FLOWS" --data-dir="$T/data-policy" "${WEB[@]}" &&
    wait_relay 1 10 && wait_sim off 5; then
    pass "policy: tapboxd starts, forwarding (relay \"1\")"
else
    fail "policy: tapboxd starts, forwarding (relay \"1\")" "relay=$(relay_level) $(lib_why "$T/policy.err")"
fi
pings "policy: ping L -> R passes" "$NL" "$R_IP"
DNS=$(nsx "$NL" timeout 10 python3 -c "$DNS_CLIENT_PY" "$R_IP" 2>&1)
[ "$DNS" = 192.0.2.53 ] && pass "policy: a DNS query over UDP passes" || fail "policy: a DNS query over UDP passes" "$DNS"
rm -f "$T/raw.got"
nsx "$NL" timeout 20 python3 -c "$RAW_CLIENT_PY" "$R_IP" 9000 "$T/raw.got" 2>"$T/raw.err"
[ "$(sha "$T/raw.got")" = "$RAW_SHA" ] && pass "policy: a 1 MB non-HTTP TCP transfer passes, sha256 equal" ||
    fail "policy: a 1 MB non-HTTP TCP transfer passes, sha256 equal" "$(tail -n 1 "$T/raw.err") got $(stat -c %s "$T/raw.got" 2>/dev/null) bytes"
rm -f "$T/http.got"
nsx "$NL" curl -sS -m 5 -o "$T/http.got" "http://$R_IP:8080/big.bin" 2>"$T/http.err"
HTTP_RC=$?
if [ $HTTP_RC -ne 0 ] && [ "$(sha "$T/http.got")" != "$BIG_SHA" ]; then
    pass "policy: HTTP GET of 5 MB dropped (curl exit $HTTP_RC, $(stat -c %s "$T/http.got" 2>/dev/null || echo 0) bytes)"
else
    fail "policy: HTTP GET of 5 MB dropped" "curl exit $HTTP_RC, got $(stat -c %s "$T/http.got" 2>/dev/null || echo 0) bytes"
fi
sleep 1
# the rule's packets = the ports' policy_drops (read again if a retransmission fell between)
for ((i = 0; i < 5; i++)); do
    POL=$(api policies); PORTS=$(api ports)
    RULE=$(printf '%s' "$POL" | jpy '[(r["name"], r["action"], r["flows"], r["packets"]) for r in j["rules"]]')
    DROPS=$(printf '%s' "$PORTS" | jpy 'sum(p["policy_drops"] for p in j["ports"])')
    [ "$(printf '%s' "$POL" | jpy 'j["rules"][0]["packets"]')" = "$DROPS" ] && break
    sleep 0.3
done
if [ "$(printf '%s' "$POL" | jpy 'j["rules"][0]["name"] == "no-http" and j["rules"][0]["action"] == "drop" and j["rules"][0]["flows"] >= 1 and j["rules"][0]["packets"] > 0 and j["undetected"] == "pass"')" = true ] &&
    [ "$(printf '%s' "$POL" | jpy 'j["rules"][0]["packets"]')" = "$DROPS" ]; then
    pass "policy: rule no-http: flows >= 1, packets = the ports' policy_drops ($DROPS)"
else
    fail "policy: rule no-http: flows >= 1, packets = the ports' policy_drops" "rules $RULE, policy_drops $DROPS; $(printf '%s' "$POL" | cut -c1-300)"
fi

# the verdicts, seen in the flows API (a killed tapboxd writes no flows file at exit)
api_check "policy: flows API: the HTTP flow verdict drop, the port 9000 TCP flow verdict pass" 'flows?limit=100' '
(lambda fl: any(f["server"]["port"] == 8080 and "HTTP" in f["l7"] and f.get("verdict") == "drop" for f in fl)
 and any(f["server"]["port"] == 9000 and f.get("verdict") == "pass" for f in fl))(j["items"])' 5

# kill -9: the watchdog runs out, the simulator joins the wires
nsx "$NL" timeout 20 ping -n -D -c 400 -i 0.02 -W 1 "$R_IP" >"$T/kill-ping.out" 2>&1 &
PING_PID=$!
sleep 1.5
KILL_T=$(date +%s.%N)
disown "$TBX_PID" 2>/dev/null  # (no "Killed" line from bash)
kill -KILL "$TBX_PID"
for ((i = 0; i < 50; i++)); do kill -0 "$TBX_PID" 2>/dev/null || break; sleep 0.1; done
wait "$PING_PID"
read -r GAP AFTER TOTAL <<<"$(gap_report "$T/kill-ping.out" "$KILL_T")"
if python3 -c "import sys; sys.exit(0 if float('$GAP') < 3.0 else 1)" && [ "${AFTER:-0}" -ge 50 ]; then
    pass "kill -9: longest gap in replies ${GAP}s < WATCHDOG_TIMEOUT + 1 s, traffic resumed ($AFTER replies after)"
else
    fail "kill -9: longest gap < WATCHDOG_TIMEOUT + 1 s, traffic resumed" "gap ${GAP}s, $AFTER replies 3 s after the kill, $TOTAL in all; sim: $(tail -n 2 "$T/relay-sim.out" | tr '\n' ' ')"
fi
grep -q 'bypass on (watchdog)' "$T/relay-sim.out" && pass "kill -9: the simulator says bypass on (watchdog)" ||
    fail "kill -9: the simulator says bypass on (watchdog)" "$(tail -n 3 "$T/relay-sim.out" | tr '\n' ' ')"
pings "kill -9: ping R -> L through the simulator's bridge" "$NR" "$L_IP"

# ---- 4. bridge mode (no board: the simulator is stopped, its bridge removed) ----
kill -TERM "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null
nsx "$NB" ip link set a0 nomaster; nsx "$NB" ip link set b0 nomaster
nsx "$NB" ip link del tbsim0 2>/dev/null
nsx "$NB" ip link set a0 up; nsx "$NB" ip link set b0 up
FLOWS=$T/bridge.flows
if tbx_start bridge "$NB" -i bridge:a0,b0 --bridge-name=tbxbr0 --port-names=lan,wan \
    --flows-out="$FLOWS" --data-dir="$T/data-bridge" "${WEB[@]}"; then
    pass "bridge: tapboxd starts, ready"
else
    fail "bridge: tapboxd starts, ready" "$(lib_why "$T/bridge.err")"
fi
if nsx "$NB" ip -o link show a0 | grep -q 'master tbxbr0' && nsx "$NB" ip -o link show b0 | grep -q 'master tbxbr0'; then
    pass "bridge: kernel bridge tbxbr0 with a0 and b0"
else
    fail "bridge: kernel bridge tbxbr0 with a0 and b0" "$(nsx "$NB" ip -o link show | cut -c1-120 | tr '\n' '|')"
fi
api_check "bridge: ports API mode bridge, both up" ports 'j["mode"] == "bridge" and P["a0"]["up"] and P["b0"]["up"]'
pcap_bg 'source=wan&filter=icmp&duration=3' "$T/bridge.pcap"  # b0 by its name: R's replies
sleep 0.5
pings "bridge: ping L -> R" "$NL" "$R_IP"
pings "bridge: ping R -> L" "$NR" "$L_IP"
wait "$PCAP_PID"
BR=$(pcap_icmp "$T/bridge.pcap")
# 3 replies to L's pings and 3 requests from R's, each once (the bridge's copies out of b0 not)
[ "$(cat "$T/bridge.pcap.code")" = "200 0" ] && [ "$BR" = "3 3 0" ] &&
    pass "bridge: pcap download of source=wan: what b0 received, once (3 requests, 3 replies)" ||
    fail "bridge: pcap download of source=wan: what b0 received, once" \
        "HTTP/curl $(cat "$T/bridge.pcap.code") $(head -c 200 "$T/bridge.pcap.err"); file: requests replies dups = $BR (want 3 3 0)"
transfer "bridge: TCP 5 MB, sha256 equal" "$NL" "http://$R_IP:8080/big.bin"
sleep 0.5
stop_term bridge
expect_rc "bridge: SIGTERM -> exit 0" 0 bridge
clean_exit "bridge: no sanitizer report" bridge
jcheck "bridge flows: the TCP transfer with both directions, source bridge:a0,b0, client_side lan" \
    "any(f['source'] == 'bridge:a0,b0' and f.get('client_side') == 'lan' and f['server']['port'] == 8080 and c2s(f) > 100 and s2c(f) > 3000 for f in proto('TCP'))" \
    "[(f.get('source'), f.get('client_side'), f['server'], c2s(f), s2c(f)) for f in proto('TCP')][:6]"
jcheck "bridge flows: ICMP both directions" "any(c2s(f) >= 3 and s2c(f) >= 3 for f in proto('ICMP'))" "proto('ICMP')[:3]"
# a port that appears after the start (a USB NIC plugged in again) joins the bridge
nsx "$NB" ip link set a0 nomaster; nsx "$NB" ip link set b0 nomaster
tbx_bg late "$NB" -i bridge:a0,zz2 --bridge-name=tbxbr1 --data-dir="$T/data-late" "${WEB[@]}"
TBX_PID=$BG_PID
if ! api_wait ports 'j["mode"] == "bridge" and not j["ready"]' 15; then
    fail "bridge: a missing port keeps the pair not ready" "$(printf '%s' "$API_BODY" | cut -c1-200) $(lib_why "$T/late.err")"
else
    nsx "$NB" ip link add zz2 type veth peer name zz3 && nsx "$NB" ip link set zz3 up
    api_wait ports 'j["ready"]' 10
    if nsx "$NB" ip -o link show zz2 | grep -q 'master tbxbr1'; then
        pass "bridge: a port that appears late joins the bridge before the pair is ready"
    else
        fail "bridge: a port that appears late joins the bridge before the pair is ready" \
            "$(nsx "$NB" ip -o link show zz2 | cut -c1-120) $(lib_why "$T/late.err")"
    fi
fi
stop_term late
expect_rc "bridge: late port: SIGTERM -> exit 0" 0 late

# ---- 5. tap mode: a separate wire L2 - [SW: bridge + tc mirror] - R2, one direction per port ----
ns_new tl && NTL=$NS && ns_new sw && NSW=$NS && ns_new tr && NTR=$NS && ns_new tbox && NTB=$NS &&
{
    veth "$NTL" t0 10.79.0.1/24 "$NSW" s0 - && veth "$NSW" s1 - "$NTR" t1 10.79.0.2/24 &&
    veth "$NSW" m0 - "$NTB" ta0 - && veth "$NSW" m1 - "$NTB" tb0 - &&
    wire_offloads_off "$NTL" t0 && wire_offloads_off "$NTR" t1 &&
    nsx "$NSW" ip link add name swbr type bridge stp_state 0 forward_delay 0 &&
    nsx "$NSW" ip link set s0 master swbr && nsx "$NSW" ip link set s1 master swbr &&
    nsx "$NSW" ip link set swbr up &&
    nsx "$NSW" tc qdisc add dev s0 ingress &&
    nsx "$NSW" tc filter add dev s0 parent ffff: u32 match u32 0 0 action mirred egress mirror dev m0 &&
    nsx "$NSW" tc qdisc add dev s1 ingress &&
    nsx "$NSW" tc filter add dev s1 parent ffff: u32 match u32 0 0 action mirred egress mirror dev m1
} >"$T/tap-setup.err" 2>&1 && pass "tap: topology (bridge, tc mirror of each direction to ta0 / tb0)" ||
    fail "tap: topology (bridge, tc mirror of each direction to ta0 / tb0)" "$(tail -n 3 "$T/tap-setup.err" | tr '\n' ' ')"
bg_ns "$NTR" python3 -m http.server 8080 --bind 10.79.0.2 --directory "$T/www" >/dev/null 2>&1
wait_listen "$NTR" tcp 8080
NB=$NTB  # the API is reached in the tap box's namespace
FLOWS=$T/tap.flows
if tbx_start tap "$NTB" -i tap:ta0,tb0 --port-names=lan,wan --flows-out="$FLOWS" \
    --data-dir="$T/data-tap" "${WEB[@]}"; then
    pass "tap: tapboxd starts, ready"
else
    fail "tap: tapboxd starts, ready" "$(lib_why "$T/tap.err")"
fi
pings "tap: ping L2 -> R2 (the wire works)" "$NTL" 10.79.0.2
transfer "tap: TCP 5 MB across the wire" "$NTL" "http://10.79.0.2:8080/big.bin"
sleep 0.5
api_check "tap: ports API mode tap, both ports received, none sent" ports \
    'j["mode"] == "tap" and P["ta0"]["rx_packets"] > 100 and P["tb0"]["rx_packets"] > 3000 and P["ta0"]["tx_packets"] == 0 and P["tb0"]["tx_packets"] == 0'
TAP_RX=$(api ports | jpy '(P["ta0"]["rx_packets"], P["tb0"]["rx_packets"])')
stop_term tap
expect_rc "tap: SIGTERM -> exit 0" 0 tap
clean_exit "tap: no sanitizer report" tap
jcheck "tap flows: the TCP transfer stitched from both ports (packets both ways), source tap:ta0,tb0, client_side lan" \
    "any(f['source'] == 'tap:ta0,tb0' and f.get('client_side') == 'lan' and f['server']['port'] == 8080 and c2s(f) > 100 and s2c(f) > 3000 for f in proto('TCP'))" \
    "[(f.get('source'), f.get('client_side'), f['server'], c2s(f), s2c(f)) for f in proto('TCP')][:6]"
# each port saw one direction: the flow's two directions add up to at most what each port received
jcheck "tap: each port saw one direction (c2s <= rx ta0 < c2s + s2c, s2c <= rx tb0)" \
    "any(f['server']['port'] == 8080 and c2s(f) <= ${TAP_RX:-(0,0)}[0] < c2s(f) + s2c(f) and s2c(f) <= ${TAP_RX:-(0,0)}[1] for f in proto('TCP'))" \
    "('rx ta0, tb0', ${TAP_RX:-None}, [(c2s(f), s2c(f)) for f in proto('TCP')][:3])"

echo "# bump.sh: ${SECONDS}s"
finish
