#!/bin/bash
# The armhf tapboxd under qemu-arm (Cortex-A8) must account real captures exactly as the native
# build does: same flows, same counters, same protocols. Catches 32-bit and byte-order slips.
# Usage: test/armhf-flows.sh NATIVE_TAPBOXD "QEMU RUNNER..." ARMHF_TAPBOXD
set -u
native=$1 runner=$2 armhf=$3
pcaps=${TAPBOX_PCAPS:-../shared/pcaps/ndpi-4.2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
captures="$pcaps/443-curl.pcap $pcaps/dns_fragmented.pcap $pcaps/ipv6_in_gtp.pcap
          $pcaps/quic.pcap $pcaps/synscan.pcap $pcaps/capwap.pcap"
if [ ! -d "$pcaps" ]; then
    captures="rootfs/usr/share/tapbox/demo.pcap"
    echo "note: $pcaps not found; comparing on the bundled demo capture only"
fi
# The fields that must agree, one flow a line, sorted (ids and timing aside).
summary() {
    python3 -c '
import json, sys
rows = []
for line in open(sys.argv[1]):
    f = json.loads(line)
    rows.append("%s %s:%s %s:%s %s/%s %s/%s %s" % (f["protocol"], f["client"]["ip"], f["client"]["port"],
        f["server"]["ip"], f["server"]["port"], f["client_to_server"]["packets"], f["client_to_server"]["bytes"],
        f["server_to_client"]["packets"], f["server_to_client"]["bytes"], f["l7"]))
print("\n".join(sorted(rows)))' "$1"
}
for cap in $captures; do
    name=$(basename "$cap")
    "$native" --once -i "$cap" --flows-out "$work/n.json" 2>/dev/null
    # shellcheck disable=SC2086
    $runner "$armhf" --once -i "$cap" --flows-out "$work/a.json" 2>"$work/a.err"
    rc=$?
    if [ $rc -ne 0 ] && [ $rc -ne 3 ]; then
        echo "FAIL armhf $name: exit $rc: $(tail -3 "$work/a.err")"; failed=$((failed + 1))
    elif ! diff <(summary "$work/n.json") <(summary "$work/a.json") >"$work/diff"; then
        echo "FAIL armhf $name: flows differ from the native build:"; head -5 "$work/diff"
        failed=$((failed + 1))
    elif [ ! -s "$work/n.json" ]; then
        echo "FAIL armhf $name: no flows at all"; failed=$((failed + 1))
    else
        echo "ok   armhf $name: $(wc -l <"$work/n.json") flows identical to the native build"
        passed=$((passed + 1))
    fi
    rm -f "$work/n.json" "$work/a.json"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
