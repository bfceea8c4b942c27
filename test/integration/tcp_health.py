#!/usr/bin/env python3
"""TCP health against tshark: the retransmissions and out-of-order segments tapboxd counts in
real captures (sum of its flows' per-direction counts) next to Wireshark's own analysis
(tcp.analysis.retransmission, tcp.analysis.out_of_order) of the same files. tapboxd keeps 40
bytes per flow where Wireshark keeps every segment, so the rules are simpler (see
src/flow/tcp_health.h): retransmissions must agree within 10 % (and 3 segments), and every
capture is printed with both figures. Also: a capture's handshake RTT matches tshark's
tcp.analysis.initial_rtt (SYN to the client's ACK: our server side plus client side) within
100 us or 5 % for at least 95 % of the handshakes both saw (rtsp.pcap reuses ports: a file's
flows never expire here, so a reused connection is one flow to tapboxd and two to tshark).
Output: one line per check, then "N passed, N failed".

usage: tcp_health.py TAPBOXD PCAP_DIR
"""
import json
import os
import shutil
import subprocess
import sys

CAPTURES = ["skype.pcap", "rtsp.pcap", "1kxun.pcap", "weibo.pcap", "whatsappfiles.pcap",
            "android.pcap", "KakaoTalk_talk.pcap", "ethereum.pcap"]
IDLE = ["--idle-timeout-tcp=86400", "--idle-timeout-tcp-closed=86400"]


def tshark_count(pcap, expr):
    p = subprocess.run(["tshark", "-n", "-r", pcap, "-Y", expr, "-T", "fields", "-e", "frame.number"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=120, check=False)
    return len([l for l in p.stdout.decode().splitlines() if l.strip()])


def tshark_initial_rtts(pcap):
    """tcp.stream -> initial RTT in microseconds, for the streams tshark saw a handshake of."""
    p = subprocess.run(["tshark", "-n", "-r", pcap, "-Y", "tcp.analysis.initial_rtt", "-T", "fields",
                        "-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e", "tcp.dstport",
                        "-e", "tcp.analysis.initial_rtt"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=120, check=False)
    out = {}
    for line in p.stdout.decode().splitlines():
        parts = line.split("\t")
        if len(parts) == 5 and parts[4]:
            key = frozenset([(parts[0], int(parts[1])), (parts[2], int(parts[3]))])
            out.setdefault(key, round(float(parts[4]) * 1e6))
    return out


def tapboxd_flows(binary, pcap):
    p = subprocess.run([binary, "--once", "-i", pcap, "--flows-out=-"] + IDLE,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300, check=False)
    if p.returncode not in (0, 3):
        raise RuntimeError("tapboxd exit %d: %s" % (p.returncode, p.stderr.decode()[-400:]))
    return [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]


def main():
    binary, pcap_dir = sys.argv[1], sys.argv[2]
    passed = failed = 0

    def check(name, ok, why=""):
        nonlocal passed, failed
        print("%s %s%s" % ("ok  " if ok else "FAIL", name, (": " + why) if why and not ok else
                           ("  (" + why + ")" if why else "")))
        passed += ok
        failed += not ok

    if not shutil.which("tshark"):
        check("tshark installed", False, "apt-get install tshark (toolchain/deps.sh test)")
        print("%d passed, %d failed" % (passed, failed))
        return 1
    rtt_pairs = rtt_agree = 0
    for name in CAPTURES:
        pcap = os.path.join(pcap_dir, name)
        if not os.path.exists(pcap):
            check("capture " + name, False, "missing")
            continue
        flows = tapboxd_flows(binary, pcap)
        ours_r = sum(f[d].get("retransmissions", 0) for f in flows
                     for d in ("client_to_server", "server_to_client"))
        ours_o = sum(f[d].get("out_of_order", 0) for f in flows
                     for d in ("client_to_server", "server_to_client"))
        theirs_r = tshark_count(pcap, "tcp.analysis.retransmission")
        theirs_o = tshark_count(pcap, "tcp.analysis.out_of_order")
        ok = abs(ours_r - theirs_r) <= max(3, theirs_r // 10)
        check("retransmissions %s" % name, ok, "tapboxd %d, tshark %d; out of order: tapboxd %d, "
              "tshark %d" % (ours_r, theirs_r, ours_o, theirs_o))
        rtts = tshark_initial_rtts(pcap)
        for f in flows:
            if "rtt_client_us" not in f or "rtt_server_us" not in f:
                continue
            key = frozenset([(f["client"]["ip"], f["client"]["port"]),
                             (f["server"]["ip"], f["server"]["port"])])
            if key in rtts:
                rtt_pairs += 1
                total = f["rtt_client_us"] + f["rtt_server_us"]
                rtt_agree += abs(total - rtts[key]) <= max(100, rtts[key] // 20)
    check("handshake RTTs match tshark's initial RTT", rtt_pairs > 0 and rtt_agree >= 0.95 * rtt_pairs,
          "%d of %d handshakes within 100 us or 5 %%" % (rtt_agree, rtt_pairs))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
