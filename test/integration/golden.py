#!/usr/bin/env python3
"""Golden-capture test: every capture of ../shared/pcaps/ndpi-4.2 through `tapboxd --once`,
compared with what nDPI 4.2's reference reader printed for it (expected/NAME.out).

An expected flow is found when tapboxd reports a flow with the same L4 protocol, the same two
endpoints (either order) and the same protocol name. Also compares the Hostname/SNI, JA3C and the set of Risk: names of each expected flow with the
fields of tapboxd's flow (issue 13): of the expected flows that carry a field, the share whose
value agrees. Prints the agreement per capture and overall;
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
EXTRA = os.environ.get("GOLDEN_ARGS", "").split()
IDLE = EXTRA + ["--idle-timeout-tcp=86400", "--idle-timeout-tcp-closed=86400",
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


HOSTNAME = re.compile(r"\[Hostname/SNI: ([^\]]*)\]")
JA3C = re.compile(r"\[JA3C: ([0-9a-f]+)")
RISK = re.compile(r"\[Risk: ((?:\*\* .*? \*\*)+)\]")
# The fields compared besides the protocol.
FIELDS = ("host_name", "ja3c", "risks")
# Risks that come from threat lists the golden outputs were made with (nDPI's own test copies of
# a risky-domain list and abuse.ch's JA3 and certificate lists) and Debian does not ship: tapboxd
# reports them when given such lists (--ndpi-risky-domains, --ndpi-malicious-ja3/-sha1), the test
# has none, so they are left out of the comparison and counted apart.
LIST_RISKS = {"Risky Domain Name", "Possibly Malicious JA3 Fingerprint",
              "Possibly Malicious SSL Cert. SHA1 Fingerprint", "Risky ASN"}


def line_fields(line):
    """Hostname/SNI, JA3C and the set of risk names of one ndpiReader flow line (None: absent)."""
    out = {}
    m = HOSTNAME.search(line)
    out["host_name"] = m.group(1) if m and m.group(1) else None
    m = JA3C.search(line)
    out["ja3c"] = m.group(1) if m else None
    m = RISK.search(line)
    risks = frozenset(r.strip() for r in m.group(1).split("**") if r.strip()) if m else frozenset()
    out["list_risks"] = len(risks & LIST_RISKS)
    out["risks"] = (risks - LIST_RISKS) or None
    return out


def expected_flows(path):
    flows = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = FLOW_LINE.match(line)
            if not m:
                continue
            l4, a, ap, b, bp, proto = m.groups()
            l4n = L4_NUMBERS.get(l4, int(l4) if l4.isdigit() else -1)
            flows.append((l4n, frozenset([a + ":" + ap, b + ":" + bp]), proto, line_fields(line)))
    return flows


def flow_fields(flow):
    """The same fields from one tapboxd flow record."""
    risks = flow.get("risks") or []
    return {"host_name": flow.get("host_name"), "ja3c": flow.get("ja3c"),
            "risks": frozenset(risks) if risks else None}


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
            got.setdefault(key, []).append((flow["l7"], flow_fields(flow)))
    return got, None


def main():
    binary = sys.argv[1]
    pcap_dir = sys.argv[2]
    exp_dir = os.path.join(pcap_dir, "expected")
    passed = failed = 0
    total_expected = total_found = 0
    misses = []
    field_tally, per_capture, field_misses = {}, {}, []
    list_risks = 0
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
            for l4, ends, proto, fields in expected:
                flows = got.get((l4, ends), [])
                names = set(n for n, _ in flows)
                if proto in names:
                    found += 1
                else:
                    misses.append("%s: %s %s expected %s, got %s" % (
                        name, l4, " <-> ".join(sorted(ends)), proto,
                        ",".join(sorted(names)) or "no flow"))
                # Fields: of the expected flows that carry one, how many of ours agree (the
                # flow of the same endpoints; with several, the one of the same protocol).
                mine = next((f for n, f in flows if n == proto), flows[0][1] if flows else None)
                list_risks += fields["list_risks"]
                for field in FIELDS:
                    if fields[field] is None:
                        continue
                    have = mine.get(field) if mine else None
                    tally = field_tally.setdefault(field, [0, 0])
                    tally[1] += 1
                    per_capture.setdefault(name, {}).setdefault(field, [0, 0])[1] += 1
                    if have == fields[field]:
                        tally[0] += 1
                        per_capture[name][field][0] += 1
                    else:
                        field_misses.append("%s: %s %s %s expected %r, got %r" % (
                            name, field, l4, " <-> ".join(sorted(ends)),
                            sorted(fields[field]) if field == "risks" else fields[field],
                            sorted(have) if field == "risks" and have else have))
            total_expected += len(expected)
            total_found += found
            pct = 100.0 * found / len(expected) if expected else 100.0
            extra = "".join(" %s %d/%d" % (fl, t[0], t[1])
                            for fl, t in sorted(per_capture.get(name, {}).items()))
            print("ok   golden %-55s %4d/%-4d %6.2f%%%s" % (name, found, len(expected), pct, extra))
            passed += 1
    if os.environ.get("GOLDEN_VERBOSE"):
        for m in misses:
            print("  miss " + m)
    else:
        for m in misses[:15]:
            print("  miss " + m)
        if len(misses) > 15:
            print("  ... %d more misses (GOLDEN_VERBOSE=1 lists all)" % (len(misses) - 15))
    shown = field_misses if os.environ.get("GOLDEN_VERBOSE") else field_misses[:15]
    for m in shown:
        print("  differs " + m)
    if len(field_misses) > len(shown):
        print("  ... %d more differences (GOLDEN_VERBOSE=1 lists all)" % (len(field_misses) - len(shown)))
    print("     golden: %d expected risks come from threat lists the test has no copy of "
          "(left out: %s)" % (list_risks, ", ".join(sorted(LIST_RISKS))))
    for field in FIELDS:
        agree, carry = field_tally.get(field, [0, 0])
        share = agree / carry if carry else 1.0
        ok = share >= THRESHOLD
        print("%s golden %s agreement: %d/%d expected flows carrying it = %.2f%% (threshold %.0f%%)" % (
            "ok  " if ok else "FAIL", field, agree, carry, 100 * share, 100 * THRESHOLD))
        passed += ok
        failed += not ok
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
