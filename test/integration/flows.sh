#!/bin/bash
# flows.sh TAPBOXD - flows and counters of traffic we record ourselves: two network namespaces
# on a veth pair, 5 pings, an HTTP download (python3 http.server + curl) and a DNS query and
# answer (python3), written by tcpdump; then `tapboxd --once` on the capture with various options.
source "$(dirname "$0")/lib.sh" "$@"

CAP=$T/cap.pcap
if ! record_capture "$CAP" 5 2>"$T/record.err"; then
    fail "setup: record a capture with tcpdump" "$(tr '\n' ' ' <"$T/record.err")"
    finish; exit
fi
pass "setup: record a capture with tcpdump ($CAP_PACKETS packets)"
C=$CAP_CLIENT S=$CAP_SERVER
# Wire length of all frames, as tcpdump wrote them.
CAP_BYTES=$(python3 - "$CAP" <<'EOF'
import struct, sys
d = open(sys.argv[1], "rb").read()
e = "<" if d[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
off, total = 24, 0
while off + 16 <= len(d):
    incl, orig = struct.unpack(e + "II", d[off + 8:off + 16])
    total += orig
    off += 16 + incl
print(total)
EOF
)
# The flows of a run, comparable across runs: protocol, endpoints, l7, packets and bytes.
SIG="sorted((f['protocol'], f['client']['ip'], f['client']['port'], f['server']['ip'], f['server']['port'], f['l7'], c2s(f), s2c(f), by(f)) for f in"

# ---- the plain run ----
tbx base --once -i "$CAP" --flows-out "$T/base.flows" --stats-out "$T/base.stats"
expect_rc "once: exit 0" 0 base
export FLOWS=$T/base.flows STATS=$T/base.stats
jcheck "once: exactly 3 flows (ICMP, TCP, UDP)" \
    "sorted(f['protocol'] for f in flows) == ['ICMP', 'TCP', 'UDP']" "[f['protocol'] for f in flows]"
jcheck "icmp: one flow $C -> $S, 5 requests and 5 replies of 98 bytes" \
    "[(f['client']['ip'], f['server']['ip'], c2s(f), s2c(f), f['client_to_server']['bytes'], f['server_to_client']['bytes']) for f in proto('ICMP')] == [('$C', '$S', 5, 5, 490, 490)]" \
    "proto('ICMP')"
jcheck "tcp: the download is HTTP, client $C, server $S:$CAP_HTTP_PORT" \
    "[(f['l7'], f['client']['ip'], f['server']['ip'], f['server']['port']) for f in proto('TCP')] == [('HTTP', '$C', '$S', $CAP_HTTP_PORT)]" \
    "proto('TCP')"
jcheck "tcp: bytes both ways, the $CAP_HTTP_SIZE-byte body server -> client" \
    "len(proto('TCP')) == 1 and 0 < proto('TCP')[0]['client_to_server']['bytes'] < $CAP_HTTP_SIZE < proto('TCP')[0]['server_to_client']['bytes']" \
    "proto('TCP')"
jcheck "tcp: SYN, FIN and ACK seen in both directions" \
    "len(proto('TCP')) == 1 and all(proto('TCP')[0][d]['tcp_flags'] & 0x13 == 0x13 for d in ('client_to_server', 'server_to_client'))" \
    "proto('TCP')"
jcheck "udp: one DNS query and answer, server $S:53" \
    "[(f['l7'], f['client']['ip'], f['server']['ip'], f['server']['port'], c2s(f), s2c(f)) for f in proto('UDP')] == [('DNS', '$C', '$S', 53, 1, 1)]" \
    "proto('UDP')"
jcheck "totals: packets = tcpdump -r's $CAP_PACKETS, bytes = the frames' $CAP_BYTES" \
    "(stats['totals']['packets'], stats['totals']['bytes']) == ($CAP_PACKETS, $CAP_BYTES)" \
    "stats['totals']"
jcheck "totals: every IP packet is in a flow, nothing malformed or unaccounted" \
    "sum(pk(f) for f in flows) == stats['totals']['ip_packets'] == $CAP_PACKETS - stats['totals']['not_ip'] and stats['totals']['malformed'] == stats['totals']['unaccounted'] == 0" \
    "(sum(pk(f) for f in flows), stats['totals'])"
jcheck "sources: one file source, done, all packets" \
    "[(s['name'], s['kind'], s['state'], s['counters']['packets']) for s in stats['sources']] == [('$CAP', 'file', 'done', $CAP_PACKETS)]" \
    "stats['sources']"
jcheck "stats: l7 table counts the HTTP, DNS and ICMP flows" \
    "{r['protocol']: r['flows'] for r in stats['l7'] if r['flows']} == {'HTTP': 1, 'DNS': 1, 'ICMP': 1}" \
    "stats['l7']"
jcheck "stats: flows_out_dropped is reported when --flows-out is used" \
    "stats.get('flows_out_dropped') == 0" \
    "'flows_out_dropped: %r; keys: %s' % (stats.get('flows_out_dropped'), sorted(stats))"
unset FLOWS STATS

# memory.peak, on the same packets all within one second of each other (1 us apart)
python3 - "$CAP" "$T/dense.pcap" <<'EOF'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
e = "<" if d[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
sec0 = struct.unpack(e + "I", d[24:28])[0]
off, i = 24, 0
while off + 16 <= len(d):
    incl = struct.unpack(e + "I", d[off + 8:off + 12])[0]
    d[off:off + 8] = struct.pack(e + "II", sec0, i)
    off, i = off + 16 + incl, i + 1
open(sys.argv[2], "wb").write(d)
EOF
tbx dense --once -i "$T/dense.pcap" --stats-out "$T/dense.stats"
expect_rc "dense: the packets within one second: exit 0" 0 dense
STATS=$T/dense.stats jcheck "dense: memory.peak is at least the memory in use" \
    "stats['totals']['packets'] == $CAP_PACKETS and stats['memory'].get('peak', 0) >= stats['memory']['total'] > 0" \
    "stats['memory']"

# ---- the same flows through stdout, and from a pcapng copy ----
tbx stdout --once -i "$CAP" --flows-out=-
expect_rc "stdout: --flows-out=- exits 0" 0 stdout
FLOWS=$T/stdout.out jcheck "stdout: --flows-out=- prints the same flows" \
    "$SIG flows) == $SIG ndjson('$T/base.flows'))" "[(f['protocol'], pk(f)) for f in flows]"
if command -v editcap >/dev/null && editcap -F pcapng "$CAP" "$T/cap.pcapng" 2>/dev/null; then
    tbx ng --once -i "$T/cap.pcapng" --flows-out "$T/ng.flows" --stats-out "$T/ng.stats"
    expect_rc "pcapng: exit 0" 0 ng
    FLOWS=$T/ng.flows STATS=$T/ng.stats jcheck "pcapng: the same flows and totals as the pcap" \
        "$SIG flows) == $SIG ndjson('$T/base.flows')) and stats['totals']['packets'] == $CAP_PACKETS" \
        "([(f['protocol'], pk(f)) for f in flows], stats['totals']['packets'])"
fi

# ---- caps ----
tbx capf --once -i "$CAP" -X 1 --flows-out "$T/capf.flows" --stats-out "$T/capf.stats"
expect_rc "-X 1: exit 0" 0 capf
FLOWS=$T/capf.flows STATS=$T/capf.stats jcheck "-X 1: flows refused, their packets unaccounted" \
    "stats['caps']['flows']['refused'] > 0 and stats['totals']['unaccounted'] > 0 and len(flows) == 1 and stats['totals']['unaccounted'] == stats['totals']['ip_packets'] - pk(flows[0])" \
    "(stats['caps']['flows'], stats['totals']['unaccounted'], [(f['protocol'], pk(f)) for f in flows])"
tbx caph --once -i "$CAP" -x 1 --flows-out "$T/caph.flows" --stats-out "$T/caph.stats"
expect_rc "-x 1: exit 0" 0 caph
FLOWS=$T/caph.flows STATS=$T/caph.stats jcheck "-x 1: hosts refused, flows all still there" \
    "stats['caps']['hosts']['refused'] > 0 and stats['caps']['hosts']['used'] == 1 and $SIG flows) == $SIG ndjson('$T/base.flows'))" \
    "(stats['caps']['hosts'], [(f['protocol'], pk(f)) for f in flows])"

# ---- BPF filter ----
ICMP_PACKETS=$(tcpdump -r "$CAP" -n icmp 2>/dev/null | wc -l)
tbx bpf --once -i "$CAP" -B icmp --flows-out "$T/bpf.flows" --stats-out "$T/bpf.stats"
expect_rc "-B icmp: exit 0" 0 bpf
FLOWS=$T/bpf.flows STATS=$T/bpf.stats jcheck "-B icmp: only the ICMP flow, $ICMP_PACKETS packets counted" \
    "[f['protocol'] for f in flows] == ['ICMP'] and stats['totals']['packets'] == $ICMP_PACKETS" \
    "([f['protocol'] for f in flows], stats['totals']['packets'])"
tbx bpf2 --once -i "$CAP" -B "tcp port $CAP_HTTP_PORT or udp port 53" --flows-out "$T/bpf2.flows"
expect_rc "-B 'tcp port $CAP_HTTP_PORT or udp port 53': exit 0" 0 bpf2
FLOWS=$T/bpf2.flows jcheck "-B 'tcp port $CAP_HTTP_PORT or udp port 53': the HTTP and DNS flows only" \
    "sorted(f['l7'] for f in flows) == ['DNS', 'HTTP']" "[f['l7'] for f in flows]"

# ---- local networks: every host keeps an L7 table of 4 protocols; a local one may grow it to 16
# (seen in memory.hosts: never less with more hosts local) ----
declare -A HOSTMEM
n=0
for m in 192.0.2.0/24 $C/32 $C/32,$S/32; do
    n=$((n + 1))
    tbx "local$n" --once -i "$CAP" -m "$m" --stats-out "$T/local.stats"
    if [ "$RC" != 0 ]; then
        fail "-m $m: exit 0" "exit $RC: $(lib_why "$T/local$n.err")"
        continue
    fi
    HOSTMEM[$m]=$(python3 -c "import json; print(json.load(open('$T/local.stats'))['memory']['hosts'])" 2>/dev/null)
    rm -f "$T/local.stats"
done
if [ -n "${HOSTMEM[192.0.2.0/24]:-}" ] && [ -n "${HOSTMEM[$C/32]:-}" ] && [ -n "${HOSTMEM[$C/32,$S/32]:-}" ] &&
    [ "${HOSTMEM[192.0.2.0/24]}" -gt 0 ] &&
    [ "${HOSTMEM[192.0.2.0/24]}" -le "${HOSTMEM[$C/32]}" ] && [ "${HOSTMEM[$C/32]}" -le "${HOSTMEM[$C/32,$S/32]}" ]; then
    pass "-m: none <= one <= both hosts local (host memory ${HOSTMEM[192.0.2.0/24]} <= ${HOSTMEM[$C/32]} <= ${HOSTMEM[$C/32,$S/32]})"
else
    fail "-m: none <= one <= both hosts local" "host memory: none ${HOSTMEM[192.0.2.0/24]:-?}, one ${HOSTMEM[$C/32]:-?}, both ${HOSTMEM[$C/32,$S/32]:-?}"
fi

# ---- extra nDPI rules ----
printf '# tapbox test rule\ntcp:%s@TapboxTest\n' "$CAP_HTTP_PORT" >"$T/protos.txt"
tbx protos --once -i "$CAP" -p "$T/protos.txt" --flows-out "$T/protos.flows"
expect_rc "-p rules: exit 0" 0 protos
FLOWS=$T/protos.flows jcheck "-p rules: tcp:$CAP_HTTP_PORT is named TapboxTest, DNS unchanged" \
    "[f['l7'] for f in proto('TCP')] == ['TapboxTest'] and [f['l7'] for f in proto('UDP')] == ['DNS']" \
    "[(f['protocol'], f['l7']) for f in flows]"

# ---- two inputs ----
tbx two --once -i "$CAP" -i "$CAP" --flows-out "$T/two.flows" --stats-out "$T/two.stats"
expect_rc "-i A -i A: exit 0" 0 two
FLOWS=$T/two.flows STATS=$T/two.stats jcheck "-i A -i A: two sources of $CAP_PACKETS packets, totals doubled" \
    "[(s['kind'], s['state'], s['counters']['packets']) for s in stats['sources']] == [('file', 'done', $CAP_PACKETS)] * 2 and stats['totals']['packets'] == 2 * $CAP_PACKETS and stats['caps']['sources']['used'] == 2" \
    "(stats['sources'], stats['totals']['packets'])"
FLOWS=$T/two.flows jcheck "-i A -i A: the same keys meet in one flow (ICMP 10 + 10)" \
    "[(c2s(f), s2c(f)) for f in proto('ICMP')] == [(10, 10)] and len(flows) == 3" \
    "[(f['protocol'], c2s(f), s2c(f)) for f in flows]"

# ---- idle timeout in packet time: two ping bursts 2.5 s apart ----
GAP=$T/gap.pcap
if nsx "$PREFIX-rc" ping -c 1 -W 2 "$S" >/dev/null && tcpdump_start "$PREFIX-rs" eth0 "$GAP" 2>"$T/gap-record.err" &&
    nsx "$PREFIX-rc" ping -c 2 -i 0.2 -W 2 "$S" >/dev/null && sleep 2.5 &&
    nsx "$PREFIX-rc" ping -c 2 -i 0.2 -W 2 "$S" >/dev/null && tcpdump_stop; then
    tbx gap1 --once -i "$GAP" --flows-out "$T/gap1.flows"
    tbx gap2 --once -i "$GAP" --flows-out "$T/gap2.flows" --idle-timeout-other=1
    if [ "$RC" = 0 ]; then
        FLOWS=$T/gap1.flows jcheck "idle: default timeout: the two bursts are one ICMP flow" \
            "[(c2s(f), s2c(f)) for f in proto('ICMP')] == [(4, 4)]" "proto('ICMP')"
        FLOWS=$T/gap2.flows jcheck "idle: --idle-timeout-other=1 splits them into two flows" \
            "[(c2s(f), s2c(f)) for f in proto('ICMP')] == [(2, 2), (2, 2)] and proto('ICMP')[0]['last_seen'] < proto('ICMP')[1]['first_seen']" \
            "proto('ICMP')"
    else
        fail "idle: --idle-timeout-other=1 splits them into two flows" "exit $RC: $(lib_why "$T/gap2.err")"
    fi
else
    fail "idle: record two ping bursts" "$(tr '\n' ' ' <"$T/gap-record.err")"
fi

finish
