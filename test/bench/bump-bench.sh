#!/bin/bash
# test/bench/bump-bench.sh [BUILD_DIR]: forwarding cost of `tapboxd -i inline:a0,b0` next to a
# kernel bridge between the same two ports, in the same run with the same traffic generator.
#
#   L  l0 ==veth== a0 [ BOX: kernel bridge  |  tapboxd -i inline:a0,b0 ] b0 ==veth== r0  R
#   10.77.0.1/24                                                                10.77.0.2/24
#
# l0 and r0 send wire-size frames with full checksums (tx checksum offload, TSO, GSO off), as a
# real wire would. For each of the two (kernel bridge first, then tapboxd, BUILD_DIR/tapboxd:
# `make`, -O2; no board, web off), iperf3 from L to an iperf3 server in R:
#   - UDP, 100-byte and 1400-byte payloads, unlimited rate (-u -b 0 -l N -t 5): datagrams per
#     second received and the loss;
#   - TCP (-t 5): throughput received;
#   - latency: ping -i 0.01 (400 pings) L -> R during a moderate UDP load (100 Mbit/s, 1000-byte
#     payloads): p50 and p99 of the ping times.
# BUMP_BENCH_ROUNDS (default 2) rounds alternate the two, and each column shows the best round
# (a busy machine then hurts one column less); BUMP_BENCH_SECONDS (default 5) per iperf3 run.
# Prints a table (metric, kernel bridge, tapboxd, ratio, target, PASS/MISS) with the targets
# UDP 100 B datagrams/s ratio >= 0.8 and added p99 latency <= 0.5 ms. Figures only: a benchmark
# is never a test, the exit status is 0 unless the set-up failed. Needs root, iproute2, ethtool,
# iperf3, iputils-ping, python3. About 100 s.
# shellcheck disable=SC2015  # "a && b || die" is meant
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-build}
TAPBOXD=$(readlink -f "$BUILD/tapboxd")
DUR=${BUMP_BENCH_SECONDS:-5}
ROUNDS=${BUMP_BENCH_ROUNDS:-2}
export LC_ALL=C

die() { echo "bump-bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (network namespaces)"
[ -x "$TAPBOXD" ] || die "no $BUILD/tapboxd (run make)"
for tool in iperf3 ping ethtool python3 ip; do command -v $tool >/dev/null || die "$tool is missing"; done
if nm -D "$TAPBOXD" 2>/dev/null | grep -q __asan_init; then
    echo "# warning: $TAPBOXD is a sanitizer build: the tapboxd column is not representative"
fi

P=tbxbb$$
NL=$P-l NB=$P-box NR=$P-r
W=$(mktemp -d "/tmp/$P.XXXXXX")
PIDS=()
cleanup() {
    local pid ns i
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for ns in "$NL" "$NB" "$NR"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null; done
    done
    for ((i = 0; i < 30; i++)); do
        local alive=0
        for ns in "$NL" "$NB" "$NR"; do [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for ns in "$NL" "$NB" "$NR"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    if [ "${BUMP_BENCH_KEEP:-0}" = 1 ]; then echo "# work directory kept: $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# ---- topology ----
for ns in "$NL" "$NB" "$NR"; do
    ip netns add "$ns" || die "cannot create namespace $ns"
    nsx "$ns" ip link set lo up
    nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip link add l0 netns "$NL" type veth peer name a0 netns "$NB" &&
    ip link add b0 netns "$NB" type veth peer name r0 netns "$NR" || die "cannot create the veth pairs"
nsx "$NL" ip addr add 10.77.0.1/24 dev l0
nsx "$NR" ip addr add 10.77.0.2/24 dev r0
nsx "$NL" ethtool -K l0 tx off tso off gso off >/dev/null 2>&1 &&
    nsx "$NR" ethtool -K r0 tx off tso off gso off >/dev/null 2>&1 || die "ethtool -K failed"
nsx "$NL" ip link set l0 up; nsx "$NR" ip link set r0 up
nsx "$NB" ip link set a0 up; nsx "$NB" ip link set b0 up
# (background processes: `ip netns exec` itself, which execs the command, so $! is its pid)
ip netns exec "$NR" iperf3 -s >"$W/iperf3-server.log" 2>&1 &
PIDS+=($!)

link_ok() { nsx "$NL" ping -n -c 3 -i 0.2 -w 10 10.77.0.2 >/dev/null 2>&1; }

# run_set NAME: all measurements, results in $W/NAME.*
run_set() {
    local name=$1 len
    for len in 100 1400; do
        nsx "$NL" timeout $((DUR + 20)) iperf3 -c 10.77.0.2 -u -b 0 -l $len -t "$DUR" -J \
            >"$W/$name.udp$len.json" 2>"$W/$name.udp$len.err"
        sleep 0.5
    done
    nsx "$NL" timeout $((DUR + 20)) iperf3 -c 10.77.0.2 -t "$DUR" -J >"$W/$name.tcp.json" 2>"$W/$name.tcp.err"
    sleep 0.5
    ip netns exec "$NL" timeout 30 iperf3 -c 10.77.0.2 -u -b 100M -l 1000 -t 6 -J >"$W/$name.load.json" 2>&1 &
    local load=$!
    sleep 0.5
    nsx "$NL" timeout 20 ping -n -i 0.01 -c 400 -W 1 10.77.0.2 >"$W/$name.ping" 2>&1
    wait $load
    sleep 0.5
}

for ((round = 1; round <= ROUNDS; round++)); do
    echo "== round $round/$ROUNDS: kernel bridge between a0 and b0"
    nsx "$NB" ip link add name kbr0 type bridge stp_state 0 forward_delay 0 &&
        nsx "$NB" ip link set a0 master kbr0 && nsx "$NB" ip link set b0 master kbr0 &&
        nsx "$NB" ip link set kbr0 up || die "cannot make the kernel bridge"
    link_ok || die "no ping across the kernel bridge"
    run_set bridge.$round
    nsx "$NB" ip link set a0 nomaster; nsx "$NB" ip link set b0 nomaster; nsx "$NB" ip link del kbr0

    echo "== round $round/$ROUNDS: tapboxd -i inline:a0,b0 ($TAPBOXD)"
    ip netns exec "$NB" "$TAPBOXD" -i inline:a0,b0 --http-port=0 --https-port=0 --data-dir="$W/data" \
        >"$W/tapboxd.$round.out" 2>"$W/tapboxd.$round.err" &
    TBX=$!
    PIDS+=("$TBX")
    for ((i = 0; i < 100; i++)); do
        grep -q 'b0.*open' "$W/tapboxd.$round.err" 2>/dev/null && link_ok && break
        kill -0 "$TBX" 2>/dev/null || die "tapboxd exited: $(tail -n 3 "$W/tapboxd.$round.err")"
        sleep 0.2
    done
    link_ok || die "no ping across tapboxd: $(tail -n 3 "$W/tapboxd.$round.err")"
    run_set tapboxd.$round
    kill -TERM "$TBX"; wait "$TBX"
    TBX_RC=$?
    [ $TBX_RC = 0 ] || echo "# tapboxd exited $TBX_RC: $(tail -n 3 "$W/tapboxd.$round.err" | tr '\n' ' ')"
done
echo "# best of $ROUNDS round(s) per column (throughput: the highest; latency: the round with the lowest p99)"

python3 - "$W" "$ROUNDS" <<'EOF'
import json, re, sys
w, rounds = sys.argv[1], int(sys.argv[2])

def udp(name, n):
    try:
        r = json.load(open("%s/%s.udp%d.json" % (w, name, n)))["end"]["sum_received"]
        sent = json.load(open("%s/%s.udp%d.json" % (w, name, n)))["end"]["sum_sent"]["packets"]
        got = r["bytes"] / n
        return got / r["seconds"], 100.0 * (1 - got / sent) if sent else None
    except Exception:
        return None, None
def tcp(name):
    try:
        return json.load(open("%s/%s.tcp.json" % (w, name)))["end"]["sum_received"]["bits_per_second"] / 1e6
    except Exception:
        return None
def lat(name):
    try:
        t = sorted(float(m.group(1)) for m in (re.search(r"time=([\d.]+) ms", l)
                   for l in open("%s/%s.ping" % (w, name))) if m)
    except OSError:
        return None, None, 0
    if not t:
        return None, None, 0
    pick = lambda q: t[min(len(t) - 1, int(q * len(t)))]
    return pick(0.5), pick(0.99), len(t)
rows = []
def fmt(v, f):
    return "-" if v is None else f % v
def row(metric, a, b, f, target="", ok=None, ratio=True):
    r = fmt(b / a if (ratio and a and b is not None) else None, "%.2f")
    verdict = "" if ok is None else ("PASS" if ok else "MISS")
    rows.append((metric, fmt(a, f), fmt(b, f), r, target, verdict))
def agg_udp(name, n):
    got = [udp("%s.%d" % (name, i), n) for i in range(1, rounds + 1)]
    got = [g for g in got if g[0] is not None]
    return max(got) if got else (None, None)
def agg_tcp(name):
    got = [v for v in (tcp("%s.%d" % (name, i)) for i in range(1, rounds + 1)) if v is not None]
    return max(got) if got else None
def agg_lat(name):
    got = [g for g in (lat("%s.%d" % (name, i)) for i in range(1, rounds + 1)) if g[1] is not None]
    return min(got, key=lambda g: g[1]) if got else (None, None, 0)
for n in (100, 1400):
    (ba, bl), (ta, tl) = agg_udp("bridge", n), agg_udp("tapboxd", n)
    if n == 100:
        ok = None if ba is None or ta is None else ta / ba >= 0.8
        row("UDP %d B received datagrams/s" % n, ba, ta, "%.0f", "ratio >= 0.8", ok)
    else:
        row("UDP %d B received datagrams/s" % n, ba, ta, "%.0f")
    row("UDP %d B loss %%" % n, bl, tl, "%.1f", ratio=False)
row("TCP Mbit/s", agg_tcp("bridge"), agg_tcp("tapboxd"), "%.0f")
(b50, b99, bn), (t50, t99, tn) = agg_lat("bridge"), agg_lat("tapboxd")
row("ping p50 ms (under 100 Mbit/s UDP)", b50, t50, "%.3f", ratio=False)
ok = None if b99 is None or t99 is None else t99 - b99 <= 0.5
row("ping p99 ms (under 100 Mbit/s UDP)", b99, t99, "%.3f",
    "added <= 0.5 ms" + ("" if ok is None else " (%+.3f)" % (t99 - b99)), ok, ratio=False)
row("pings answered of 400", bn, tn, "%d", ratio=False)
head = ("metric", "kernel bridge", "tapboxd", "ratio", "target", "")
wd = [max(len(str(r[i])) for r in rows + [head]) for i in range(6)]
for r in [head] + rows:
    print("  ".join(str(c).ljust(wd[i]) if i == 0 or i >= 4 else str(c).rjust(wd[i])
                    for i, c in enumerate(r)).rstrip())
EOF
