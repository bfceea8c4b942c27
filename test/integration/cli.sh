#!/bin/bash
# cli.sh TAPBOXD - options, config files, unusable and damaged inputs, pid file and daemon mode,
# against the real tapboxd. Exit codes: 0 ok, 1 an input/output cannot be opened, 2 a bad option
# or config line (the message names the option or FILE:LINE, and why), 3 a damaged input file.
source "$(dirname "$0")/lib.sh" "$@"

# ---- help and version ----
tbx help -h
if [ "$RC" = 0 ] && grep -q '^Usage:' "$T/help.out" && grep -q -- '--interface' "$T/help.out"; then
    pass "help: -h exits 0 with the usage"
else
    fail "help: -h exits 0 with the usage" "exit $RC, stdout: $(head -c 200 "$T/help.out")"
fi
tbx version -V
if [ "$RC" = 0 ] && grep -qE '^tapboxd [0-9]+\.[0-9]+' "$T/version.out"; then
    pass "version: -V exits 0 and prints 'tapboxd X.Y'"
else
    fail "version: -V exits 0 and prints 'tapboxd X.Y'" "exit $RC, stdout: $(head -c 200 "$T/version.out")"
fi

# ---- bad options: exit 2, the message names the option and says why ----
tbx o1 --bogus -i x.pcap
expect_rc_msg "options: unknown long option" 2 o1 "'--bogus'" "unknown option"
tbx o2 -q -i x.pcap
expect_rc_msg "options: unknown short option" 2 o2 "'-q'" "unknown option"
tbx o3 -X abc -i x.pcap
expect_rc_msg "options: -X abc" 2 o3 "'-X'" "'abc' is not a number"
tbx o4 -X 0 -i x.pcap
expect_rc_msg "options: -X 0 (below the range)" 2 o4 "'-X'" "'0' is not a number from 1"
tbx o5 -x 16777217 -i x.pcap
expect_rc_msg "options: -x above the range" 2 o5 "'-x'" "16777217"
tbx o6 --replay=fast -i x.pcap
expect_rc_msg "options: --replay=fast" 2 o6 "--replay" "'fast' is not 'realtime' or 'max'"
tbx o7 -m 10.0.0.0/33 -i x.pcap
expect_rc_msg "options: -m 10.0.0.0/33" 2 o7 "'-m'" "prefix length.*10\.0\.0\.0/33"
tbx o8 -m 10.0.0.300/8 -i x.pcap
expect_rc_msg "options: -m with a bad address" 2 o8 "'-m'" "10\.0\.0\.300"
tbx o9 -B 'not a filter (' -i x.pcap
expect_rc_msg "options: -B with a bad BPF filter" 2 o9 "'-B'" "not a valid BPF filter"
tbx o10 --idle-timeout-udp=0 -i x.pcap
expect_rc_msg "options: --idle-timeout-udp=0" 2 o10 "idle-timeout-udp" "'0' is not a number of seconds"
tbx o11 -i x.pcap -X
expect_rc_msg "options: -X without its value" 2 o11 "'-X'" "needs a value"
tbx o12 --once=yes -i x.pcap
expect_rc_msg "options: a value given to --once" 2 o12 "--once=yes" "takes no value"
tbx o13 -p "$T/no-such-protos.txt" -i x.pcap
expect_rc_msg "options: -p with a missing rules file" 2 o13 "'-p'" "no-such-protos.txt" "No such file"
tbx o14 --once
expect_rc_msg "options: no input (-i) at all" 2 o14 "no input"
tbx o15 -i x.pcap --once --loop
expect_rc_msg "options: --once with --loop" 2 o15 "--once" "--loop"
tbx o16 -i x.pcap --once --replay=realtime
expect_rc_msg "options: --once with --replay=realtime" 2 o16 "--once" "realtime"
tbx o17 -i ''
expect_rc_msg "options: an empty -i" 2 o17 "'-i'" "empty"

# ---- a real capture, recorded in network namespaces ----
CAP=$T/cap.pcap
if ! record_capture "$CAP" 2>"$T/record.err"; then
    fail "setup: record a capture with tcpdump" "$(tr '\n' ' ' <"$T/record.err")"
    finish; exit
fi
pass "setup: record a capture with tcpdump ($CAP_PACKETS packets)"

# ---- config files ----
cat >"$T/good.conf" <<EOF
# tapboxd test configuration

   # an indented comment
--once
-i=$CAP
--max-flows=100
  --stats-out=$T/good.stats
-m 10.0.0.0/8,192.168.0.0/16
--flows-out=$T/good.flows
EOF
tbx good "$T/good.conf"
expect_rc "config: a valid file (comments, blank lines, -i=, -m VALUE) runs" 0 good
FLOWS=$T/good.flows STATS=$T/good.stats jcheck "config: the file's options took effect" \
    "stats['caps']['flows']['max'] == 100 and stats['totals']['packets'] == $CAP_PACKETS and len(flows) == 3" \
    "(stats['caps']['flows']['max'], stats['totals']['packets'], len(flows))"

printf '# comment\n--once\nmax-flows=5\n' >"$T/bad1.conf"
tbx bad1 "$T/bad1.conf"
expect_rc_msg "config: a line without a leading '-' -> FILE:LINE" 2 bad1 "bad1\.conf:3:" "max-flows=5"
# A NUL byte used to end the line for the parser and hide what followed it (issue 16).
printf -- '--once\n-i=%s\n--max-flows=100\0 --max-hosts=1\n' "$CAP" >"$T/nul.conf"
tbx nul "$T/nul.conf"
expect_rc_msg "config: a NUL byte in a line -> FILE:LINE, exit 2" 2 nul "nul\.conf:3:" "NUL byte"
printf -- '--once\n-i=%s\n\n--max-flows=lots\n' "$CAP" >"$T/bad2.conf"
tbx bad2 "$T/bad2.conf"
expect_rc_msg "config: a bad value -> FILE:LINE and why" 2 bad2 "bad2\.conf:4:" "'lots' is not a number"
printf -- '# x\n--once\n-i=%s\n--frobnicate=1\n' "$CAP" >"$T/bad3.conf"
tbx bad3 "$T/bad3.conf"
expect_rc_msg "config: an unknown option -> FILE:LINE" 2 bad3 "bad3\.conf:4:" "unknown option '--frobnicate=1'"
printf -- '-i=%s\n--flows-out\n' "$CAP" >"$T/bad4.conf"
tbx bad4 "$T/bad4.conf"
expect_rc_msg "config: an option without its value -> FILE:LINE" 2 bad4 "bad4\.conf:2:" "needs a value"
tbx nocfg "$T/no-such.conf"
expect_rc_msg "config: a missing config file" 2 nocfg "no-such\.conf" "cannot open config file" "No such file"
tbx twocfg "$T/good.conf" "$T/bad1.conf"
expect_rc_msg "config: two config files" 2 twocfg "only one config file"

# ---- inputs that cannot be used ----
# --once on an interface (lo of our own namespace): refused, exit 1 (an input that cannot be
# read that way) or 2 (a bad combination of options) both do.
ip netns exec "$PREFIX-rs" timeout -k 5 60 "$TAPBOXD" --once -i lo >"$T/onceif.out" 2>"$T/onceif.err"
RC=$?
case $RC in 1 | 2) want=$RC ;; *) want="1 or 2" ;; esac
expect_rc_msg "inputs: --once with an interface is refused" "$want" onceif "--once" "'lo' is an interface"

tbx missing --once -i "$T/missing.pcap"
expect_rc_msg "inputs: a missing pcap file -> exit 1 naming it" 1 missing "missing\.pcap" "No such file"

mkdir -p "$T/locked" && cp "$CAP" "$T/locked/secret.pcap" && chmod 000 "$T/locked/secret.pcap"
# The unprivileged user runs a copy next to the file: the clone may sit under a folder it cannot
# traverse (a mktemp -d), where it could not even start the binary.
install -m 755 "$TAPBOXD" "$T/locked/tapboxd"
chmod 755 "$T" "$T/locked"
lib_box_ns
ip netns exec "$LIB_BOX_NS" setpriv --reuid=65534 --regid=65534 --clear-groups timeout -k 5 60 "$T/locked/tapboxd" --once -i "$T/locked/secret.pcap" \
    >"$T/locked.out" 2>"$T/locked.err"
RC=$?
chmod 700 "$T"
expect_rc_msg "inputs: an unreadable pcap file -> exit 1 naming it" 1 locked "secret\.pcap" "Permission denied"

tbx hostname --once -i /etc/hostname
expect_rc_msg "inputs: /etc/hostname (not a capture) -> exit 1 naming it" 1 hostname "/etc/hostname"
printf 'This is a text file that only pretends to be a packet capture.\n' >"$T/text.pcap"
tbx text --once -i "$T/text.pcap"
expect_rc_msg "inputs: a text file -> exit 1, unknown file format" 1 text "text\.pcap" "unknown file format"
: >"$T/empty.pcap"
tbx empty --once -i "$T/empty.pcap"
expect_rc_msg "inputs: an empty file -> exit 1 naming it" 1 empty "empty\.pcap"
# A directory is a path, not an interface: an error naming it, not a retry every 5 s forever.
mkdir -p "$T/adir"
tbx_bg dir - -i "$T/adir"
for ((i = 0; i < 100; i++)); do
    kill -0 "$BG_PID" 2>/dev/null || break
    grep -q 'retrying' "$T/dir.err" && break
    sleep 0.1
done
kill -TERM "$BG_PID" 2>/dev/null
tbx_wait_exit "$BG_PID" dir 30
if [ "$RC" = 1 ] && grep -q adir "$T/dir.err" && ! grep -q 'retrying' "$T/dir.err"; then
    pass "inputs: a directory given as -i -> exit 1 naming it"
else
    fail "inputs: a directory given as -i -> exit 1 naming it" "exit $RC, stderr: $(lib_why "$T/dir.err")"
fi

head -c 24 "$CAP" >"$T/header-only.pcap"
tbx hdr --once -i "$T/header-only.pcap" --stats-out "$T/hdr.stats"
expect_rc "inputs: a capture with no packets -> exit 0" 0 hdr
STATS=$T/hdr.stats jcheck "inputs: a capture with no packets counts 0" "stats['totals']['packets'] == 0" \
    "stats['totals']"

tbx nowrite --once -i "$CAP" --flows-out "$T/no/such/dir/flows.ndjson"
expect_rc_msg "outputs: an unwritable --flows-out -> exit 1 naming it" 1 nowrite "flows-out" "no/such/dir"
# A disk that fills up: the write error is logged and the lost flows are counted.
tbx full --once -i "$CAP" --flows-out /dev/full --stats-out "$T/full.stats"
expect_grep "outputs: --flows-out on a full disk: the write error is logged" \
    "ERROR .*/dev/full.*(space|write)" "$T/full.err"
STATS=$T/full.stats jcheck "outputs: --flows-out on a full disk: the lost flows are counted" \
    "stats.get('flows_out_dropped', 0) > 0" "'flows_out_dropped: %r' % stats.get('flows_out_dropped')"

# ---- damaged captures: exit 3, the packets before the damage are processed ----
KEPT=$(truncate_mid_record "$CAP" "$T/trunc.pcap")
tbx trunc --once -i "$T/trunc.pcap" --flows-out "$T/trunc.flows" --stats-out "$T/trunc.stats"
expect_rc "damaged: a truncated capture -> exit 3" 3 trunc
expect_grep "damaged: the truncated file is named in the error" "ERROR.*trunc\.pcap.*truncated" "$T/trunc.err"
FLOWS=$T/trunc.flows STATS=$T/trunc.stats jcheck "damaged: truncated: packets before the damage counted" \
    "stats['totals']['packets'] == $KEPT > 0 and stats['sources'][0]['state'] == 'failed'" \
    "(stats['totals']['packets'], $KEPT, stats['sources'][0]['state'])"
FLOWS=$T/trunc.flows STATS=$T/trunc.stats jcheck "damaged: truncated: flows still exported" \
    "len(flows) >= 1 and sum(pk(f) for f in flows) == stats['totals']['ip_packets']" \
    "(len(flows), sum(pk(f) for f in flows), stats['totals'])"

head -c 30 "$CAP" >"$T/cut-header.pcap"
tbx cuthdr --once -i "$T/cut-header.pcap" --stats-out "$T/cuthdr.stats"
expect_rc_msg "damaged: cut inside the first record header -> exit 3" 3 cuthdr "cut-header\.pcap"

python3 - "$CAP" "$T/badlen.pcap" <<'EOF'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
off = 24
for _ in range(10):
    off += 16 + struct.unpack("<I", d[off + 8:off + 12])[0]
d[off + 8:off + 12] = struct.pack("<I", 0x7FFFFF00)   # record 11 claims 2 GB
open(sys.argv[2], "wb").write(d)
EOF
tbx badlen --once -i "$T/badlen.pcap" --stats-out "$T/badlen.stats"
expect_rc_msg "damaged: a corrupt record length mid-file -> exit 3" 3 badlen "badlen\.pcap"
STATS=$T/badlen.stats jcheck "damaged: corrupt record: the 10 packets before it counted" \
    "stats['totals']['packets'] == 10" "stats['totals']['packets']"

if command -v editcap >/dev/null; then
    editcap -F pcapng "$CAP" "$T/cap.pcapng" 2>/dev/null
    head -c $(($(stat -c %s "$T/cap.pcapng") - 40)) "$T/cap.pcapng" >"$T/trunc.pcapng"
    tbx truncng --once -i "$T/trunc.pcapng" --stats-out "$T/truncng.stats"
    expect_rc_msg "damaged: a truncated pcapng -> exit 3" 3 truncng "trunc\.pcapng"
    STATS=$T/truncng.stats jcheck "damaged: truncated pcapng: packets before the damage counted" \
        "0 < stats['totals']['packets'] < $CAP_PACKETS" "stats['totals']['packets']"
fi

# ---- pid file, privileges, daemon mode ----
mkdir -p "$T/run"      # root-owned like /run: tapboxd must write its pid file before dropping root
chmod 755 "$T" "$T/run"
tbx_bg pidu - -i "$CAP" -U nobody -G "$T/run/tapboxd.pid"
if wait_grep 'started:' "$T/pidu.err" 20 && [ "$(cat "$T/run/tapboxd.pid" 2>/dev/null)" = "$BG_PID" ]; then
    pass "pid file: written with -U nobody (before dropping root)"
else
    fail "pid file: written with -U nobody (before dropping root)" \
        "pid file: '$(cat "$T/run/tapboxd.pid" 2>/dev/null)', log: $(grep -m1 'pid file' "$T/pidu.err")"
fi
kill -TERM "$BG_PID" 2>/dev/null
tbx_wait_exit "$BG_PID" pidu 30
expect_rc_msg "pid file: -U nobody, SIGTERM -> exit 0" 0 pidu "running as nobody"
chmod 700 "$T"

rm -f "$T/daemon.pid"
# In a namespace of ours, so that the clean-up finds the daemon even if this test fails.
ip netns exec "$PREFIX-rs" timeout -k 5 30 "$TAPBOXD" -e -i "$CAP" -G "$T/daemon.pid" \
    --flows-out "$T/daemon.flows" >"$T/daemon.out" 2>"$T/daemon.err"
RC=$?
expect_rc "daemon: -e returns 0 at once" 0 daemon
for ((i = 0; i < 100; i++)); do [ -s "$T/daemon.pid" ] && break; sleep 0.1; done
DPID=$(cat "$T/daemon.pid" 2>/dev/null)
if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
    LIB_PIDS+=("$DPID")
    pass "daemon: -G pid file names the running daemon"
    kill -TERM "$DPID"
    for ((i = 0; i < 300; i++)); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$DPID" 2>/dev/null; then
        fail "daemon: SIGTERM stops it, removes the pid file, flushes flows" "still running after 30 s"
    elif [ -e "$T/daemon.pid" ]; then
        fail "daemon: SIGTERM stops it, removes the pid file, flushes flows" "pid file left behind"
    else
        FLOWS=$T/daemon.flows jcheck "daemon: SIGTERM stops it, removes the pid file, flushes flows" \
            "len(flows) == 3" "len(flows)"
    fi
else
    fail "daemon: -G pid file names the running daemon" "pid file: '$DPID'"
fi

finish
