#!/bin/bash
# live.sh TAPBOXD - tapboxd running as a daemon on veth pairs in network namespaces: live
# capture and SIGTERM flush, an interface that appears late and one that is unplugged and comes
# back, SIGHUP reloads (good and broken config), file replay in real time and at full speed in a
# loop. Only event waits (log lines) and generous timeouts; no assertion on durations.
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck disable=SC2015  # "a && b || fail" is meant

ns_new a && NA=$NS && ns_new b && NB=$NS &&
    veth "$NA" eth0 10.202.0.1/24 "$NB" eth0 10.202.0.2/24 2>"$T/veth.err" ||
    { fail "setup: namespaces and a veth pair" "$(cat "$T/veth.err")"; finish; exit; }
A=10.202.0.1 B=10.202.0.2
nsx "$NA" ping -c 1 -W 2 "$B" >/dev/null ||
    { fail "setup: namespaces and a veth pair" "no ping across"; finish; exit; }
pass "setup: namespaces and a veth pair"

# settle: let tapboxd read the frames just sent before the next signal or unplug (libpcap drops
# what is still queued when the capture closes or the filter changes). Not an assertion.
settle() { sleep 0.5; }
# stop_tbx TAG: SIGTERM the background tapboxd (BG_PID) and wait for it; RC is its status.
stop_tbx() { settle; kill -TERM "$BG_PID" 2>/dev/null; tbx_wait_exit "$BG_PID" "$1" 30; }

# send_udp NS DST COUNT: COUNT datagrams from source port 40000 to DST:9999 (nobody listens).
send_udp() {
    nsx "$1" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", 40000))
for i in range(int(sys.argv[2])):
    s.sendto(b"tapbox test datagram %d" % i, (sys.argv[1], 9999))
' "$2" "$3"
}

# ---- 1. live capture, flows flushed at SIGTERM ----
tbx_bg live "$NB" -i eth0 --flows-out "$T/live.flows" --stats-out "$T/live.stats"
if wait_grep 'eth0: capturing' "$T/live.err" 20; then
    pass "live: capturing on eth0"
    # the same pings, also written by tcpdump: the capture replayed further down
    tcpdump_start "$NB" eth0 "$T/small.pcap" 2>"$T/small-record.err"
    nsx "$NA" ping -c 5 -i 0.2 -W 2 "$B" >"$T/ping1.out" 2>&1
    tcpdump_stop
    stop_tbx live
    expect_rc "live: SIGTERM -> exit 0" 0 live
    FLOWS=$T/live.flows jcheck "live: the ICMP flow $A -> $B with 5 + 5 pings, flushed at SIGTERM" \
        "[(f['client']['ip'], f['server']['ip'], c2s(f), s2c(f), f['source']) for f in proto('ICMP')] == [('$A', '$B', 5, 5, 'eth0')]" \
        "proto('ICMP')"
    STATS=$T/live.stats jcheck "live: stats: an interface source, up, the pings counted" \
        "[(s['name'], s['kind'], s['state']) for s in stats['sources']] == [('eth0', 'interface', 'up')] and stats['totals']['packets'] >= 10 and stats['totals']['ip_packets'] >= 10" \
        "(stats['sources'], stats['totals'])"
else
    fail "live: capturing on eth0" "$(lib_why "$T/live.err")"
fi

# ---- 2. an interface that appears late, is unplugged, and comes back ----
ns_new la && NLA=$NS && ns_new lb && NLB=$NS
LA=10.203.0.1 LB=10.203.0.2
tbx_bg late "$NLB" -i tbx-late0 --flows-out "$T/late.flows" --stats-out "$T/late.stats"
if wait_grep 'tbx-late0: .*retrying every' "$T/late.err" 20; then
    pass "late: a missing interface is reported and retried"
else
    fail "late: a missing interface is reported and retried" "$(lib_why "$T/late.err")"
fi
sleep 2
veth "$NLA" eth0 "$LA/24" "$NLB" tbx-late0 "$LB/24"
if wait_grep 'tbx-late0: capturing' "$T/late.err" 20; then
    pass "late: capture starts once the interface exists"
else
    fail "late: capture starts once the interface exists" "$(lib_why "$T/late.err")"
fi
nsx "$NLA" ping -c 5 -i 0.2 -W 2 "$LB" >"$T/ping2.out" 2>&1
settle
# Unplug: the veth pair goes away under the capture, then comes back with the same names.
nsx "$NLB" ip link del tbx-late0
if wait_count 'tbx-late0: .*retrying every' "$T/late.err" 2 20; then
    pass "unplug: the loss of the interface is logged and retried"
else
    fail "unplug: the loss of the interface is logged and retried" "$(lib_why "$T/late.err")"
fi
veth "$NLA" eth0 "$LA/24" "$NLB" tbx-late0 "$LB/24"
if wait_count 'tbx-late0: capturing' "$T/late.err" 2 20; then
    pass "unplug: capture resumes when the interface is back"
else
    fail "unplug: capture resumes when the interface is back" "$(lib_why "$T/late.err")"
fi
nsx "$NLA" ping -c 3 -i 0.2 -W 2 "$LB" >"$T/ping3.out" 2>&1
stop_tbx late
expect_rc "late: SIGTERM -> exit 0" 0 late
FLOWS=$T/late.flows jcheck "late: the 5 pings before the unplug and the 3 after are in the flow" \
    "[(f['client']['ip'], f['server']['ip'], c2s(f), s2c(f)) for f in proto('ICMP')] == [('$LA', '$LB', 8, 8)]" \
    "proto('ICMP')"

# ---- 3. SIGHUP: reload, and a broken file refused ----
CONF=$T/tapbox.conf
write_conf() {  # LOCAL_NETS MAX_DPI [EXTRA_LINE...]
    {
        echo "# live.sh test configuration"
        echo "-i=eth0"
        echo "--local-networks=$1"
        echo "--max-dpi-flows=$2"
        echo "--flows-out=$T/hup.flows"
        echo "--stats-out=$T/hup.stats"
        shift 2
        for l in "$@"; do echo "$l"; done
    } >"$CONF.new" && mv "$CONF.new" "$CONF"
}
write_conf 192.0.2.0/24 5
tbx_bg hup "$NB" "$CONF"
if wait_grep 'eth0: capturing' "$T/hup.err" 20; then
    nsx "$NA" ping -c 3 -i 0.2 -W 2 "$B" >/dev/null
    settle
    write_conf 10.202.0.0/24 7 "--packet-filter=udp"
    kill -HUP "$BG_PID"
    expect_grep_wait "sighup: 'configuration reloaded' is logged" \
        "INFO tapboxd: configuration reloaded from $CONF" "$T/hup.err"
    nsx "$NA" ping -c 3 -i 0.2 -W 2 "$B" >/dev/null    # filtered out from now on
    send_udp "$NA" "$B" 2
    settle
    write_conf 10.202.0.0/24 7 "--packet-filter=udp" "max-flows=3"
    kill -HUP "$BG_PID"
    expect_grep_wait "sighup: a broken line is refused, naming FILE:LINE" \
        "ERROR tapboxd: reload refused.*tapbox\.conf:8:" "$T/hup.err"
    nsx "$NA" ping -c 3 -i 0.2 -W 2 "$B" >/dev/null    # still filtered: the running config stays
    send_udp "$NA" "$B" 2
    if kill -0 "$BG_PID" 2>/dev/null; then
        pass "sighup: tapboxd keeps running after a refused reload"
    else
        fail "sighup: tapboxd keeps running after a refused reload" "it exited: $(lib_why "$T/hup.err")"
    fi
    stop_tbx hup
    expect_rc "sighup: SIGTERM -> exit 0" 0 hup
    FLOWS=$T/hup.flows jcheck "sighup: the new filter applies at once and survives the refused reload" \
        "[(c2s(f), s2c(f)) for f in proto('ICMP')] == [(3, 3)] and [(f['client']['ip'], f['server']['port'], c2s(f)) for f in proto('UDP')] == [('$A', 9999, 4)]" \
        "[(f['protocol'], f['client']['ip'], c2s(f), s2c(f)) for f in flows]"
    STATS=$T/hup.stats jcheck "sighup: caps need a restart (--max-dpi-flows stays 5)" \
        "stats['caps']['dpi_flows']['max'] == 5" "stats['caps']"
else
    fail "sighup: tapboxd started from a config file" "$(lib_why "$T/hup.err")"
fi

# ---- 4. file replay in real time, in a loop ----
# A copy of the pings one day older: replayed packets must carry the time of their replay.
[ -s "$T/small.pcap" ] && python3 - "$T/small.pcap" "$T/old.pcap" <<'EOF'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
e = "<" if d[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
off = 24
while off + 16 <= len(d):
    sec, _, incl = struct.unpack(e + "III", d[off:off + 12])
    d[off:off + 4] = struct.pack(e + "I", sec - 86400)
    off += 16 + incl
open(sys.argv[2], "wb").write(d)
EOF
SMALL_ICMP=$(tcpdump -r "$T/old.pcap" -n 'icmp[icmptype] = icmp-echo' 2>/dev/null | wc -l)
if [ "$SMALL_ICMP" -ge 5 ]; then
    T0=$(date +%s)
    tbx_bg rt - -i "$T/old.pcap" --replay=realtime --loop -v --flows-out "$T/rt.flows" --stats-out "$T/rt.stats"
    if wait_grep 'pass 3$' "$T/rt.err" 40; then
        pass "realtime: the file is replayed again and again (pass 3 reached)"
    else
        fail "realtime: the file is replayed again and again (pass 3 reached)" "$(lib_why "$T/rt.err")"
    fi
    kill -HUP "$BG_PID"
    if wait_grep 'nothing to reload' "$T/rt.err" 20 && kill -0 "$BG_PID" 2>/dev/null; then
        pass "realtime: SIGHUP without a config file is harmless"
    else
        fail "realtime: SIGHUP without a config file is harmless" "$(lib_why "$T/rt.err")"
    fi
    stop_tbx rt
    expect_rc "realtime: SIGTERM -> exit 0" 0 rt
    FLOWS=$T/rt.flows jcheck "realtime: two full passes or more of the $SMALL_ICMP pings in the flow" \
        "len(proto('ICMP')) == 1 and c2s(proto('ICMP')[0]) >= 2 * $SMALL_ICMP and s2c(proto('ICMP')[0]) >= 2 * $SMALL_ICMP" \
        "proto('ICMP')"
    FLOWS=$T/rt.flows jcheck "realtime: flows carry the time of the replay, not of the capture" \
        "flows and all(f['first_seen'] >= $T0 - 2 for f in flows)" \
        "[(f['protocol'], f['first_seen'], $T0) for f in flows]"
else
    fail "realtime: a capture of the pings to replay" "$SMALL_ICMP echo requests in it: $(cat "$T/small-record.err" 2>/dev/null)"
fi

# ---- 5. full-speed loop: still answers SIGTERM, time keeps rising across passes ----
if [ "$SMALL_ICMP" -ge 5 ]; then
    tbx_bg fast - -i "$T/old.pcap" --loop -v --flows-out "$T/fast.flows"
    if wait_grep 'pass 20$' "$T/fast.err" 40; then
        pass "loop: full speed, pass 20 reached"
    else
        fail "loop: full speed, pass 20 reached" "$(lib_why "$T/fast.err")"
    fi
    stop_tbx fast
    expect_rc "loop: SIGTERM during a full-speed loop -> exit 0" 0 fast
    FLOWS=$T/fast.flows jcheck "loop: one ICMP flow over 19+ passes, spanning 19+ s of packet time" \
        "len(proto('ICMP')) == 1 and c2s(proto('ICMP')[0]) >= 19 * $SMALL_ICMP and proto('ICMP')[0]['last_seen'] - proto('ICMP')[0]['first_seen'] >= 19" \
        "[(c2s(f), f['first_seen'], f['last_seen']) for f in proto('ICMP')]"
fi

# ---- 6. SIGHUP: a new filter reaches a looping file at its next pass; an empty pass ends it ----
if [ "$SMALL_ICMP" -ge 5 ]; then
    printf '%s\n' "--interface=$T/old.pcap" --loop --verbose "--flows-out=$T/hup.flows" >"$T/hup.conf"
    tbx_bg hup - "$T/hup.conf"
    if wait_grep 'pass 3$' "$T/hup.err" 40; then
        echo "--packet-filter=no such words" >>"$T/hup.conf"
        kill -HUP "$BG_PID"
        if wait_grep "reload refused.*'no such words'" "$T/hup.err" 20; then
            pass "reload: a bad filter for a looping file is refused at once"
        else
            fail "reload: a bad filter for a looping file is refused at once" "$(lib_why "$T/hup.err")"
        fi
        sed -i 's/^--packet-filter=.*/--packet-filter=greater 100000/' "$T/hup.conf"
        kill -HUP "$BG_PID"
        if wait_grep 'gave no packets .*looping stopped' "$T/hup.err" 20 && kill -0 "$BG_PID" 2>/dev/null; then
            pass "reload: the new filter reaches the looping file; a pass with nothing ends the loop"
        else
            fail "reload: the new filter reaches the looping file; a pass with nothing ends the loop" \
                "$(lib_why "$T/hup.err")"
        fi
    else
        fail "reload: a looping file from a config file" "$(lib_why "$T/hup.err")"
    fi
    stop_tbx hup
    expect_rc "reload: SIGTERM after the loop ended -> exit 0" 0 hup
fi

finish
