#!/usr/bin/env python3
"""Play a pcap into a wire port of a running `make qemu` box.

    wire.py [--run DIR] [--port auto|porta|portb] [--rate PPS] FILE.pcap

Binds the ports' host ends (DIR/PORT.host, DIR = $TAPBOX_QEMU_RUN or
/tmp/tapbox-qemu-$USER, as board/qemu/run.sh uses), sends every frame of the
capture (classic pcap, Ethernet) into the box, and counts what comes out.
--port auto (default) plays each frame from the side its sender is on, as on
a real wire: the first frame's source is on port A, its destination on port
B, and so on. (A bridge does not forward a frame back out of the port it came
from, so a two-way capture played into one port mostly stays there.)
Start it after the box has booted (the console says "tapbox ready").
"""
import argparse
import getpass
import os
import socket
import struct
import sys
import threading
import time


def frames(path):
    with open(path, "rb") as f:
        head = f.read(24)
        magic = head[:4]
        endian = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",
                  b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}.get(magic)
        if endian is None or struct.unpack(endian + "I", head[20:24])[0] != 1:
            sys.exit(f"wire.py: {path}: not a classic Ethernet pcap (convert with editcap -F pcap)")
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            caplen = struct.unpack(endian + "IIII", rec)[2]
            yield f.read(caplen)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default=os.environ.get("TAPBOX_QEMU_RUN", f"/tmp/tapbox-qemu-{getpass.getuser()}"))
    ap.add_argument("--port", default="auto", choices=("auto", "porta", "portb"))
    ap.add_argument("--rate", type=float, default=2000, help="frames per second (default 2000)")
    ap.add_argument("pcap")
    a = ap.parse_args()
    socks = {}
    seen = {"porta": 0, "portb": 0}
    for p in seen:
        path = os.path.join(a.run, f"{p}.host")
        if os.path.exists(path):
            os.unlink(path)
        socks[p] = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        socks[p].bind(path)

    def count(p):
        while True:
            socks[p].recv(65536)
            seen[p] += 1

    for p in seen:
        threading.Thread(target=count, args=(p,), daemon=True).start()
    side = {}  # MAC -> the port it is behind
    sent = {"porta": 0, "portb": 0}
    for fr in frames(a.pcap):
        port = a.port
        if port == "auto":
            dst, src = fr[0:6], fr[6:12]
            if src in side:
                port = side[src]
            elif dst in side:
                port = "portb" if side[dst] == "porta" else "porta"
            else:
                port = "porta"
            side.setdefault(src, port)
            if not dst[0] & 1:  # unicast: the destination is on the other side
                side.setdefault(dst, "portb" if port == "porta" else "porta")
        socks[port].sendto(fr, os.path.join(a.run, f"{port}.qemu"))
        sent[port] += 1
        time.sleep(1 / a.rate)
    time.sleep(1)
    print(f"sent {sent['porta']} frames into port A and {sent['portb']} into port B; "
          f"{seen['portb']} came out of port B and {seen['porta']} out of port A")


if __name__ == "__main__":
    main()
