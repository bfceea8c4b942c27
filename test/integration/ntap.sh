#!/bin/bash
# nTap end to end, in network namespaces: tapbox-tap captures real traffic (ping, HTTP) on a veth
# in namespace A and sends it, encrypted, to a collector in namespace C.
#
#   test/integration/ntap.sh TAPBOXD [TAPBOX_TAP [COLLECTOR]]
#
# TAPBOX_TAP defaults to the tapbox-tap beside TAPBOXD. COLLECTOR is what receives: TAPBOXD
# itself once its --help mentions "ntap:", else a stand-in built here from
# test/ntap/collector_main.c and the libtapbox.a beside TAPBOXD (same options as tapboxd:
# -i ntap:PORT[:KEY] --flows-out --stats-out --ntap-tun --data-dir; its --stats-out carries
# tapboxd's counters plus "ntap").
#
# Checks: flows with the right endpoints and protocols and none of our own datagrams; frames
# re-emitted on a TAP NIC byte-identical to a capture at the tap's interface; recorded datagrams
# replayed with tcpreplay: all dropped as replays (before and after a collector restart); a
# wrong key: all forged; garbage and truncated datagrams: dropped by reason, good traffic still
# served; collector restarted mid-stream and interface flapped: the tap goes on, the collector
# resumes; public-key mode (key pair made on first start, taps given the public key only).
# Prints "ok   NAME" / "FAIL NAME: why" and "N passed, N failed". Needs root, iproute2,
# tcpdump, tcpreplay, python3, curl, ping.

source "$(dirname "$0")/lib.sh" "$@"
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN_DIR=$(dirname "$TAPBOXD")
TAP_BIN=$(readlink -f "${2:-$BIN_DIR/tapbox-tap}")
COLLECTOR=${3:-}

setup_fail() { fail setup "$1"; finish; exit 1; }
# no sanitizer report in $T/TAG.err
ntap_clean() {
    if grep -qE 'Sanitizer|runtime error:' "$T/$2.err" 2>/dev/null; then
        fail "$1" "sanitizer report: $(lib_why "$T/$2.err")"
    else
        pass "$1"
    fi
}
[ -x "$TAP_BIN" ] || setup_fail "no tapbox-tap at '$TAP_BIN' (make build/asan/tapbox-tap)"
for tool in tcpdump tcpreplay python3 curl ping; do
    command -v $tool >/dev/null || setup_fail "$tool is missing"
done

if [ -n "$COLLECTOR" ]; then
    COLLECTOR=$(readlink -f "$COLLECTOR")
elif "$TAPBOXD" --help 2>&1 | grep -q 'ntap:'; then
    COLLECTOR=$TAPBOXD
else
    # The stand-in, linked against the same library (and sanitizers) as TAPBOXD.
    lib=$BIN_DIR/libtapbox.a
    [ -f "$lib" ] || setup_fail "tapboxd has no nTap input yet and there is no $lib to build the stand-in"
    san=""
    case $BIN_DIR in *asan*) san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" ;; esac
    pkgs="libuv libpcap libndpi libsodium lua5.4 sqlite3 libcjson libh2o libssl"
    # shellcheck disable=SC2046,SC2086
    ${CC:-cc} -std=c11 -I"$REPO/src" -D_GNU_SOURCE -O1 -g $san $(pkg-config --cflags $pkgs) \
        "$REPO/test/ntap/collector_main.c" "$lib" $(pkg-config --libs $pkgs) \
        -o "$T/ntap-collector" 2>"$T/collector-build.err" ||
        setup_fail "cannot build the stand-in collector: $(head -c 300 "$T/collector-build.err")"
    COLLECTOR=$T/ntap-collector
fi
echo "# tap: $TAP_BIN"
echo "# collector: $COLLECTOR"

PORT=47890
KEY="an nTap test passphrase"
A_IP=10.202.0.1          # the tap's host (and an HTTP server)
C_IP=10.202.0.2          # the collector's host (and the client)
HTTP_PORT=8080
ns_new a || setup_fail "cannot make namespaces"
NSA=$NS
ns_new c || setup_fail "cannot make namespaces"
NSC=$NS
veth "$NSA" eth0 "$A_IP/24" "$NSC" eth0 "$C_IP/24" || setup_fail "cannot make the veth pair"
mkdir -p "$T/www" "$T/data"
head -c 20000 /dev/urandom >"$T/www/file.bin"

# start_bg TAG NS CMD...: a background process in NS, stderr in $T/TAG.err; pid in BGPID.
start_bg() {
    local tag=$1 ns=$2; shift 2
    ip netns exec "$ns" "$@" >"$T/$tag.out" 2>"$T/$tag.err" &
    BGPID=$!
    LIB_PIDS+=("$BGPID")
}
# stop_bg PID: SIGTERM, wait (10 s) for it to exit; its status in RC.
stop_bg() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    RC=$?
}
# pcap_start TAG NS IF [FILTER...]: tcpdump to $T/TAG.pcap; pcap_stop TAG, which leaves the
# frames that tcpdump's kernel ring dropped in PCAP_DROPS[TAG] ("?" if it did not say).
# -B: in immediate mode libpcap gives every frame a ring slot as big as the largest frame the
# interface may hand over (64 KiB on veth and TAP devices, which have offloads), so tcpdump's
# default 2 MiB buffer is a ring of about 32 frames. The collector re-emits a whole datagram's
# frames at once; on a busy machine tcpdump is not scheduled in time, the ring overflows and the
# frames it drops looked like frames lost between the tap and the TAP NIC. 8 MiB: 128 slots,
# more than section 1 sends in all.
declare -A PCAP_PID PCAP_DROPS
pcap_start() {
    local tag=$1 ns=$2 ifname=$3; shift 3
    start_bg "tcpdump-$tag" "$ns" tcpdump -i "$ifname" -n -U --immediate-mode -s 0 -B 8192 \
        -w "$T/$tag.pcap" "$@"
    PCAP_PID[$tag]=$BGPID
    wait_grep 'listening on' "$T/tcpdump-$tag.err" 10
}
pcap_stop() {
    sleep 0.3
    kill -INT "${PCAP_PID[$1]}" 2>/dev/null
    wait "${PCAP_PID[$1]}" 2>/dev/null
    local n
    n=$(sed -n 's/^\([0-9][0-9]*\) packets* dropped by kernel$/\1/p' "$T/tcpdump-$1.err" | tail -1)
    PCAP_DROPS[$1]=${n:-?}
}

# collector_start TAG SPEC [ARGS...]: the collector in namespace C; pid in CPID.
collector_start() {
    local tag=$1 spec=$2; shift 2
    start_bg "$tag" "$NSC" "$COLLECTOR" -i "$spec" --flows-out="$T/$tag.flows" \
        --stats-out="$T/$tag.stats" --data-dir="$T/data" "$@"
    CPID=$BGPID
    wait_listen "$NSC" udp "$PORT" || echo "# $tag: not listening: $(tail -3 "$T/$tag.err")"
}
# shellcheck disable=SC2034  # FLOWS and STATS are what jcheck reads
collector_stop() { stop_bg "$CPID"; FLOWS=$T/$1.flows; STATS=$T/$1.stats; }

# traffic: pings from C to A, and one HTTP GET of 20000 bytes.
traffic() {
    local n=${1:-5}
    nsx "$NSC" ping -c "$n" -i 0.2 -W 2 "$A_IP" >"$T/ping.out" 2>&1 || return 1
    nsx "$NSC" curl -sS -m 10 -o "$T/file.got" "http://$A_IP:$HTTP_PORT/file.bin" 2>"$T/curl.err" || return 1
    cmp -s "$T/file.got" "$T/www/file.bin"
}
# Wait until the collector's log shows a new tap.
wait_tap() { wait_grep 'new tap' "$T/$1.err" "${2:-10}"; }

start_bg http "$NSA" python3 -m http.server "$HTTP_PORT" --bind "$A_IP" --directory "$T/www"
wait_listen "$NSA" tcp "$HTTP_PORT" || setup_fail "the HTTP server did not start"
nsx "$NSC" ping -c 1 -W 2 "$A_IP" >/dev/null || setup_fail "no link between the namespaces"

# ---------------------------------------------------------------------------------------------
# 1. Passphrase mode: flows, the TAP NIC, recorded datagrams.
collector_start c1 "ntap:$PORT:$KEY" --ntap-tun ntap0
# What the tap sees, less its own datagrams (the filter tapbox-tap adds), and those datagrams
# (with their IP fragments: a full-size frame makes a datagram above the MTU) for the replays.
OWN="ip dst host $C_IP and ((udp dst port $PORT) or (ip[6:2] & 0x1fff != 0 and ip[9] == 17))"
pcap_start tapif "$NSA" eth0 "not ($OWN)"
pcap_start dgrams "$NSC" eth0 "$OWN"
nsx "$NSC" ip link show ntap0 >/dev/null 2>&1 && pcap_start tun "$NSC" ntap0
start_bg tap "$NSA" "$TAP_BIN" -i eth0 -c "$C_IP:$PORT" -k "$KEY" --stats-interval=0
TAPPID=$BGPID
if wait_grep 'capturing' "$T/tap.err" 10 && wait_tap c1; then pass tap_starts; else
    fail tap_starts "tap: $(lib_why "$T/tap.err") collector: $(lib_why "$T/c1.err")"; fi
traffic 5 && pass traffic_runs || fail traffic_runs "$(cat "$T/ping.out" "$T/curl.err" | tail -3 | tr '\n' ' ')"
sleep 1.5   # a heartbeat (with the tap's status) gets through
pcap_stop tapif
[ -n "${PCAP_PID[tun]:-}" ] && pcap_stop tun

# Replays while the session is live: everything recorded so far goes back in, from A's side.
pcap_stop dgrams
DGRAMS=$(tcpdump -r "$T/dgrams.pcap" -n "udp dst port $PORT" 2>/dev/null | grep -c '^[0-9]')
nsx "$NSA" tcpreplay -i eth0 "$T/dgrams.pcap" >"$T/tcpreplay1.out" 2>&1 ||
    echo "# tcpreplay: $(tail -2 "$T/tcpreplay1.out")"
sleep 1
kill -USR1 "$TAPPID"
collector_stop c1
ntap_clean collector_clean "c1"
jcheck flows_icmp "any(f['client']['ip']=='$C_IP' and f['server']['ip']=='$A_IP' and pk(f)>=10 for f in proto('ICMP'))" \
    "[(f['client'],f['server'],pk(f)) for f in flows]"
jcheck flows_http "any(f['server']['ip']=='$A_IP' and f['server']['port']==$HTTP_PORT and f['client']['ip']=='$C_IP' and f['l7'].startswith('HTTP') and f['server_to_client']['bytes']>20000 for f in proto('TCP'))" \
    "[(f['protocol'],f['server'],f['l7'],by(f)) for f in flows]"
jcheck flows_from_the_tap "flows and all(f['source'].startswith('ntap:') and f['source'].endswith('@$A_IP:'+f['source'].split(':')[-1]) for f in flows)" \
    "set(f['source'] for f in flows)"
jcheck own_datagrams_not_captured "not any($PORT in (f['client']['port'], f['server']['port']) for f in flows)" \
    "[f for f in flows if $PORT in (f['client']['port'], f['server']['port'])]"
jcheck tap_counters "len(stats['ntap']['taps'])==1 and stats['ntap']['taps'][0]['lost']==0 and stats['ntap']['taps'][0]['forged']==0 and stats['ntap']['taps'][0]['packets']>=30 and stats['ntap']['taps'][0]['tap_status']['captured']>=30" \
    "stats['ntap']['taps']"
jcheck engine_source "any(s['kind']=='ntap' and s['state'] in ('up','done') and s['counters']['packets']>=30 for s in stats['sources'])" \
    "stats['sources']"
jcheck replays_dropped_live "stats['ntap']['drops']['replayed']==$DGRAMS and stats['ntap']['taps'][0]['replayed']==$DGRAMS and $DGRAMS>5" \
    "('replayed', stats['ntap']['drops'], 'recorded', $DGRAMS)"

# The TAP NIC: the same frames, byte for byte, as a capture at the tap's interface (ARP aside).
if [ -s "$T/tun.pcap" ]; then
    out=$(python3 - "$T/tapif.pcap" "$T/tun.pcap" <<'EOF'
import collections, hashlib, struct, sys
def frames(path):
    d = open(path, "rb").read()
    end = "<" if d[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    off, out = 24, []
    while off + 16 <= len(d):
        incl = struct.unpack(end + "I", d[off + 8:off + 12])[0]
        frame = d[off + 16:off + 16 + incl]
        # The test's traffic is IPv4; the kernel's own ARP and IPv6 chatter may fall outside the
        # two captures' windows (they start and stop at different times).
        if frame[12:14] == b"\x08\x00":
            out.append((hashlib.sha256(frame).hexdigest(), len(frame), frame[23]))
        off += 16 + incl
    return collections.Counter(out)
a, b = frames(sys.argv[1]), frames(sys.argv[2])
odd = ["%s %d bytes proto %d" % (side, n, p) for side, c in (("if-only", a - b), ("tun-only", b - a))
       for (_, n, p) in c.elements()]
print("%d %d %d %s" % (sum(a.values()), sum(b.values()), len(odd), ";".join(odd)[:300]))
EOF
)
    read -r n_if n_tun n_diff odd <<<"$out"
    # Frames dropped by the test's own captures are not frames lost by tapbox: say so.
    cap_drops="tcpdump dropped ${PCAP_DROPS[tapif]:-?} at the interface, ${PCAP_DROPS[tun]:-?} at the TAP NIC"
    if [ "${PCAP_DROPS[tapif]:-?}" != 0 ] || [ "${PCAP_DROPS[tun]:-?}" != 0 ]; then
        fail tun_byte_identical "the test's captures are incomplete ($cap_drops); interface $n_if frames, TAP NIC $n_tun"
    elif [ "${n_if:-0}" -ge 30 ] && [ "$n_if" = "$n_tun" ] && [ "$n_diff" = 0 ]; then
        pass tun_byte_identical
    else
        fail tun_byte_identical "interface $n_if frames, TAP NIC $n_tun, differing $n_diff: $odd ($cap_drops)"
    fi
    jcheck tun_counters "stats['ntap']['tun']['frames']>=$n_if and stats['ntap']['tun']['dropped']==0" "stats['ntap'].get('tun')"
else
    fail tun_byte_identical "no capture on the TAP NIC: $(lib_why "$T/c1.err")"
fi

# ---------------------------------------------------------------------------------------------
# 2. The collector restarts mid-stream: the tap keeps going; recorded datagrams are still replays.
nsx "$NSC" ping -c 3 -i 0.2 -W 1 "$A_IP" >/dev/null 2>&1  # sent while nobody listens
collector_start c2 "ntap:$PORT:$KEY"
wait_tap c2 5 && pass collector_resumes || fail collector_resumes "no tap seen after the restart: $(lib_why "$T/c2.err")"
kill -0 "$TAPPID" 2>/dev/null && pass tap_survives_collector_down || fail tap_survives_collector_down "tapbox-tap exited: $(lib_why "$T/tap.err")"
nsx "$NSC" ping -c 4 -i 0.2 -W 2 "$A_IP" >/dev/null 2>&1
nsx "$NSA" tcpreplay -i eth0 "$T/dgrams.pcap" >"$T/tcpreplay2.out" 2>&1
sleep 0.5

# The interface flaps: capture and sending fail, both come back.
nsx "$NSA" ip link set eth0 down
sleep 2
nsx "$NSA" ip link set eth0 up
nsx "$NSC" ip link set eth0 up
for ((i = 0; i < 50; i++)); do nsx "$NSC" ping -c 1 -W 1 "$A_IP" >/dev/null 2>&1 && break; sleep 0.2; done
if wait_grep 'capturing .*again' "$T/tap.err" 10; then pass tap_recaptures_after_flap; else
    fail tap_recaptures_after_flap "$(lib_why "$T/tap.err")"; fi
nsx "$NSC" ping -c 6 -i 0.2 -W 2 "$A_IP" >/dev/null 2>&1
sleep 1.2

# ---------------------------------------------------------------------------------------------
# 3. A tap with the wrong key, and garbage: dropped by reason; the good tap is still served.
start_bg tapwrong "$NSA" "$TAP_BIN" -i eth0 -c "$C_IP:$PORT" -k "not the key" --tap-id 99 --stats-interval=0
WRONGPID=$BGPID
wait_grep 'capturing' "$T/tapwrong.err" 10
nsx "$NSC" ping -c 5 -i 0.2 -W 2 "$A_IP" >/dev/null 2>&1
sleep 1.2
stop_bg "$WRONGPID"
WRONG_SENT=$(sed -n 's/.* in \([0-9]*\) datagrams.*/\1/p' "$T/tapwrong.err" | tail -1)
nsx "$NSA" python3 - "$C_IP" "$PORT" "$T/dgrams.pcap" <<'EOF'
import os, random, socket, struct, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
random.seed(7)
for i in range(100):   # random bytes (never our magic)
    d = bytearray(os.urandom(random.randint(1, 1400)))
    if d[:2] == b"nT":
        d[0] = 0
    s.sendto(bytes(d), (host, port))
for i in range(20):    # our magic, another version
    s.sendto(b"nT\x02\x00" + os.urandom(60), (host, port))
raw = open(sys.argv[3], "rb").read()   # real datagrams cut short (UDP payload after 42 bytes)
first = raw[24 + 16 + 42:24 + 16 + struct.unpack("<I", raw[24 + 8:24 + 12])[0]]
for n in range(0, 40):                 # shorter than header + tag: truncated
    s.sendto(first[:n] if n >= 4 else b"nT\x01\x00"[:n], (host, port))
fresh = first[:16] + struct.pack(">Q", 1 << 62) + first[24:]  # a sequence number not seen yet
for n in range(40, 40 + 30):           # long enough, but the tag is gone: forged
    s.sendto(fresh[:n], (host, port))
EOF
sleep 0.3
nsx "$NSC" ping -c 3 -i 0.2 -W 2 "$A_IP" >/dev/null 2>&1
sleep 1.2
kill -USR1 "$TAPPID"
collector_stop c2
ntap_clean collector_clean_after_abuse c2
jcheck resumed_flows "sum(pk(f) for f in proto('ICMP'))>=2*(4+6+5+3)-4" "[(f['client'],pk(f)) for f in proto('ICMP')]"
jcheck replays_dropped_after_restart "stats['ntap']['drops']['replayed']>=$DGRAMS" "stats['ntap']['drops']"
jcheck wrong_key_all_forged "${WRONG_SENT:-0}>0 and stats['ntap']['drops']['forged']==${WRONG_SENT:-0}+30 and not any(t['tap_id']=='00000063' for t in stats['ntap']['taps'])" \
    "('wrong-key datagrams sent ${WRONG_SENT:-?} + 30 cut', stats['ntap']['drops'], [t['tap_id'] for t in stats['ntap']['taps']])"
jcheck garbage_dropped "stats['ntap']['drops']['bad_version']==120 and stats['ntap']['drops']['truncated']==40" "stats['ntap']['drops']"
jcheck good_tap_unharmed "len(stats['ntap']['taps'])==1 and stats['ntap']['taps'][0]['forged']==30" "stats['ntap']['taps']"
if grep -q 'capture stopped' "$T/tap.err" && grep -qE 'sending to .*: ' "$T/tap.err"; then
    pass tap_logged_failures
else
    fail tap_logged_failures "$(lib_why "$T/tap.err")"
fi
grep -qE 'captured [0-9]+, sent' "$T/tap.err" && pass tap_stats_on_sigusr1 || fail tap_stats_on_sigusr1 "no statistics line"
stop_bg "$TAPPID"
[ "$RC" = 0 ] && pass tap_sigterm_clean_exit || fail tap_sigterm_clean_exit "exit $RC: $(lib_why "$T/tap.err")"
ntap_clean tap_clean tap

# ---------------------------------------------------------------------------------------------
# 4. Public-key mode: a key pair made on first start; the tap is given the public key only.
collector_start c3 "ntap:$PORT"
PUB=$(cat "$T/data/ntap.pub" 2>/dev/null)
if [[ $PUB =~ ^[0-9a-f]{64}$ ]] && grep -q "public key $PUB" "$T/c3.err"; then pass pk_keypair_logged; else
    fail pk_keypair_logged "ntap.pub '$PUB'; $(lib_why "$T/c3.err")"; fi
start_bg tappk "$NSA" "$TAP_BIN" -i eth0 -c "$C_IP:$PORT" -K "$PUB" --stats-interval=0
TAPPID=$BGPID
wait_tap c3 10
traffic 3 || true
stop_bg "$CPID"   # restart: the tap's next key announcement (within 1 s) re-opens its session
collector_start c4 "ntap:$PORT"
wait_tap c4 5 && pass pk_collector_resumes || fail pk_collector_resumes "$(lib_why "$T/c4.err")"
nsx "$NSC" ping -c 4 -i 0.2 -W 2 "$A_IP" >/dev/null 2>&1
sleep 1.2
collector_stop c4
stop_bg "$TAPPID"
jcheck pk_flows "sum(pk(f) for f in proto('ICMP'))>=8 and stats['ntap']['mode']=='public-key' and stats['ntap']['public_key']=='$PUB' and stats['ntap']['handshakes']>=1 and stats['ntap']['drops']['forged']==0" \
    "(stats['ntap']['drops'], stats['ntap']['handshakes'], [(f['client'],pk(f)) for f in flows])"
ntap_clean pk_clean c4

# ---------------------------------------------------------------------------------------------
# 5. --rate-limit: a 1 MB download through a tap limited to 1 Mbit/s: the excess is dropped and
# counted, and what is sent stays within the rate (plus the 128 KiB burst).
head -c 1000000 /dev/urandom >"$T/www/big.bin"
collector_start c5 "ntap:$PORT:$KEY"
t0=$(date +%s.%N)
start_bg taprl "$NSA" "$TAP_BIN" -i eth0 -c "$C_IP:$PORT" -k "$KEY" --rate-limit 1 --stats-interval=0
RLPID=$BGPID
wait_grep 'capturing' "$T/taprl.err" 10
nsx "$NSC" curl -sS -m 20 -o /dev/null "http://$A_IP:$HTTP_PORT/big.bin" 2>>"$T/curl.err"
sleep 0.5
stop_bg "$RLPID"
t1=$(date +%s.%N)
collector_stop c5
line=$(grep -E 'captured [0-9]+, sent' "$T/taprl.err" | tail -1)
python3 - "$line" "$t0" "$t1" <<'EOF2' && pass rate_limit || fail rate_limit "$line"
import re, sys
line, t0, t1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
n = lambda k: int(re.search(k + r" (\d+)", line).group(1))
sent_bytes = int(re.search(r"\((\d+) bytes\)", line).group(1))
budget = 131072 + 1e6 / 8 * (t1 - t0) + 65536
ok = n("rate-limited") > 100 and sent_bytes + 28 * n("in") <= budget
print("# rate limit: captured %d, limited %d, sent %d bytes in %.1f s (budget %d)" % (
    n("captured"), n("rate-limited"), sent_bytes, t1 - t0, budget), file=sys.stderr)
sys.exit(0 if ok else 1)
EOF2
jcheck rate_limited_reported "stats['ntap']['taps'][0]['tap_status']['rate_limited']>100" "stats['ntap']['taps']"

finish
