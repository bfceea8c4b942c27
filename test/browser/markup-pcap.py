#!/usr/bin/python3
"""Write a small capture whose names carry markup, for the UI's escaping check.

Usage: test/browser/markup-pcap.py OUT.pcap

One HTTP exchange (handshake, a GET, a 200 answer) from 10.99.0.1 to 10.99.0.2:80 whose Host
header is HOST and whose User-Agent is AGENT (both below), built with scapy (Debian's
python3-scapy, run with Debian's /usr/bin/python3). A last bare ACK 60 s later stretches the
file, so that a --loop replay starts it again only once a minute. The flow is left open (no
FIN): it stays in the flow table for the TCP idle timeout.
"""
import sys

from scapy.all import IP, TCP, Ether, Raw, wrpcap  # python3-scapy

HOST = "<img src=x onerror=window.__xss=1>.example"
AGENT = "<script>window.__xss=2</script>"
CLIENT, SERVER = ("10.99.0.1", 41000), ("10.99.0.2", 80)
CLIENT_MAC, SERVER_MAC = "02:00:00:99:00:01", "02:00:00:99:00:02"


def main(out):
    request = (f"GET /<b>bold</b> HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: {AGENT}\r\n"
               "Accept: */*\r\n\r\n").encode()
    body = b"<html>hello</html>\n"
    answer = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    c_seq, s_seq = 1000, 5000

    def up(flags, payload=b"", **kw):
        return Ether(src=CLIENT_MAC, dst=SERVER_MAC) / IP(src=CLIENT[0], dst=SERVER[0]) / TCP(
            sport=CLIENT[1], dport=SERVER[1], flags=flags, **kw) / Raw(payload)

    def down(flags, payload=b"", **kw):
        return Ether(src=SERVER_MAC, dst=CLIENT_MAC) / IP(src=SERVER[0], dst=CLIENT[0]) / TCP(
            sport=SERVER[1], dport=CLIENT[1], flags=flags, **kw) / Raw(payload)

    packets = [
        up("S", seq=c_seq),
        down("SA", seq=s_seq, ack=c_seq + 1),
        up("A", seq=c_seq + 1, ack=s_seq + 1),
        up("PA", request, seq=c_seq + 1, ack=s_seq + 1),
        down("A", seq=s_seq + 1, ack=c_seq + 1 + len(request)),
        down("PA", answer, seq=s_seq + 1, ack=c_seq + 1 + len(request)),
        up("A", seq=c_seq + 1 + len(request), ack=s_seq + 1 + len(answer)),
    ]
    t0 = 1_700_000_000.0
    for i, p in enumerate(packets):
        p.time = t0 + i * 0.01
    last = up("A", seq=c_seq + 1 + len(request), ack=s_seq + 1 + len(answer))
    last.time = t0 + 60
    wrpcap(out, packets + [last])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
