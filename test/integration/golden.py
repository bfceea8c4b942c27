#!/usr/bin/env python3
"""Golden-capture test: every capture of ../shared/pcaps/ndpi-4.2 through `tapboxd --once`,
compared with what nDPI 4.2's reference reader printed for it (expected/NAME.out).

An expected flow is found when tapboxd reports a flow with the same L4 protocol, the same two
endpoints (either order) and the same protocol name. Prints the agreement per capture and overall;
fails when overall agreement is under the threshold or when any capture crashes or hangs tapboxd.
Output: one line per check, then "N passed, N failed".
"""
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile

THRESHOLD = 0.98
TIMEOUT_S = 120
# nDPI's reference reader never expires flows while reading a file; neither do we here.
IDLE = ["--idle-timeout-tcp=86400", "--idle-timeout-tcp-closed=86400",
        "--idle-timeout-udp=86400", "--idle-timeout-other=86400"]
# The golden files were made with nDPI's example protos.txt loaded (Debian ships it).
PROTOS = "/usr/share/ndpi/ndpiProtos.txt"

L4_NUMBERS = {"TCP": 6, "UDP": 17, "ICMP": 1, "ICMPV6": 58, "IGMP": 2, "VRRP": 112,
              "GRE": 47, "ESP": 50, "OSPF": 89, "SCTP": 132}
FLOW_LINE = re.compile(
    r"^\t\d+\t(\S+) (\[[^\]]+\]|[^ \[]+):(\d+) (?:<->|->) (\[[^\]]+\]|[^ \[]+):(\d+) .*?"
    r"\[proto: (?:[A-Za-z_]+:)?[0-9.]+/([^\]]+)\]")


def ndpi_reader_ipv6_text(addr):
    """nDPI's reader prints IPv6 with every non-overlapping ':0:' turned into '::'."""
    return addr.replace(":0:", "::")


def endpoint_text(ip, port):
    if ":" in ip:
        return "[%s]:%d" % (ndpi_reader_ipv6_text(ipaddress.ip_address(ip).compressed), port)
    return "%s:%d" % (ip, port)


def expected_flows(path):
    flows = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = FLOW_LINE.match(line)
            if not m:
                continue
            l4, a, ap, b, bp, proto = m.groups()
            l4n = L4_NUMBERS.get(l4, int(l4) if l4.isdigit() else -1)
            a = a if not a.startswith("[") else a
            flows.append((l4n, frozenset([a + ":" + ap, b + ":" + bp]), proto))
    return flows


def run_tapboxd(binary, pcap, workdir):
    out = os.path.join(workdir, "flows.ndjson")
    if os.path.exists(out):
        os.unlink(out)
    cmd = [binary, "--once", "-i", pcap, "--flows-out=" + out] + IDLE
    if os.path.exists(PROTOS):
        cmd.append("--ndpi-protocols=" + PROTOS)
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "exitcode=86:detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "exitcode=86:print_stacktrace=1:halt_on_error=1")
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                           timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, "hang (over %d s)" % TIMEOUT_S
    # 0: fine; 3: a truncated or corrupt capture, read up to the damage and reported.
    if p.returncode not in (0, 3):
        return None, "exit %d: %s" % (p.returncode, p.stderr.decode(errors="replace")[-800:])
    got = {}
    with open(out) as f:
        for line in f:
            flow = json.loads(line)
            l4 = flow["protocol"]
            l4n = L4_NUMBERS.get(l4, l4) if isinstance(l4, str) else l4
            key = (l4n, frozenset([endpoint_text(flow["client"]["ip"], flow["client"]["port"]),
                                   endpoint_text(flow["server"]["ip"], flow["server"]["port"])]))
            got.setdefault(key, set()).add(flow["l7"])
    return got, None


def main():
    binary = sys.argv[1]
    pcap_dir = sys.argv[2]
    exp_dir = os.path.join(pcap_dir, "expected")
    passed = failed = 0
    total_expected = total_found = 0
    misses = []
    with tempfile.TemporaryDirectory() as work:
        for name in sorted(os.listdir(pcap_dir)):
            pcap = os.path.join(pcap_dir, name)
            exp_path = os.path.join(exp_dir, name + ".out")
            if not os.path.isfile(pcap) or not os.path.exists(exp_path):
                continue
            expected = expected_flows(exp_path)
            got, error = run_tapboxd(binary, pcap, work)
            if error:
                print("FAIL golden %s: %s" % (name, error))
                failed += 1
                continue
            found = 0
            for l4, ends, proto in expected:
                names = got.get((l4, ends), set())
                if proto in names:
                    found += 1
                else:
                    misses.append("%s: %s %s expected %s, got %s" % (
                        name, l4, " <-> ".join(sorted(ends)), proto,
                        ",".join(sorted(names)) or "no flow"))
            total_expected += len(expected)
            total_found += found
            pct = 100.0 * found / len(expected) if expected else 100.0
            print("ok   golden %-55s %4d/%-4d %6.2f%%" % (name, found, len(expected), pct))
            passed += 1
    if os.environ.get("GOLDEN_VERBOSE"):
        for m in misses:
            print("  miss " + m)
    else:
        for m in misses[:15]:
            print("  miss " + m)
        if len(misses) > 15:
            print("  ... %d more misses (GOLDEN_VERBOSE=1 lists all)" % (len(misses) - 15))
    overall = total_found / total_expected if total_expected else 0.0
    verdict = "ok  " if overall >= THRESHOLD else "FAIL"
    print("%s golden overall agreement: %d/%d flows = %.2f%% (threshold %.0f%%)" % (
        verdict, total_found, total_expected, 100 * overall, 100 * THRESHOLD))
    if overall >= THRESHOLD:
        passed += 1
    else:
        failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
