#!/usr/bin/env python3
"""Simulates the bypass relay of the `sim` board for the namespace tests.

    relay-sim.py --board FILE --netns NS --ports A,B [--bridge NAME] [--interval-ms 20]

tapboxd drives the relay and the watchdog as files (RELAY_GPIO_CHIP=file:...,
WATCHDOG_DEVICE=file:...). Bypass is on when the relay file is missing or holds the bypass
level, or when the watchdog file says "armed" and is older than its timeout (it ran out; a new
pet ends that). Bypass on: ports A and B of namespace NS join a kernel bridge, as the relay
would join the wires; off: they leave it. One line per change on stdout:
"<unix time with ms> bypass on (relay|watchdog|no relay file)" or "<time> bypass off".
SIGTERM/SIGINT: exit 0, ports left as they are. Runs as root (ip netns).
"""
import argparse
import os
import shlex
import signal
import subprocess
import sys
import time


def read_board(path):
    """KEY=VALUE lines as tapboxd reads them: '#' comments, values maybe quoted."""
    conf = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, _, value = line.partition("=")
            try:
                words = shlex.split(value, comments=True)
            except ValueError:  # a multi-line value of a key we do not use
                continue
            conf[key.strip()] = words[0] if words else ""
    return conf


def sim_path(conf, key):
    value = conf.get(key, "")
    if not value.startswith("file:"):
        sys.exit(f"relay-sim: {key}={value!r} in the board file: must be file:PATH")
    return value[5:]


def relay_state(path, bypass_level):
    """None when the relay joins the ports for no reason of its own, else the reason."""
    try:
        with open(path) as f:
            level = f.read().strip()
    except FileNotFoundError:
        return "no relay file"
    return "relay" if level != str(1 - bypass_level) else None


def watchdog_expired(path, timeout_s):
    try:
        with open(path) as f:
            armed = f.read().startswith("armed")
        age = time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        return False
    return armed and age > timeout_s


def ip(ns, *args):
    r = subprocess.run(["ip", "-n", ns, *args], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"relay-sim: ip -n {ns} {' '.join(args)}: {r.stderr.strip()}",
              file=sys.stderr, flush=True)
    return r.returncode == 0


def join(ns, bridge, ports):
    if subprocess.run(["ip", "-n", ns, "link", "show", bridge],
                      capture_output=True).returncode != 0:
        base = ["link", "add", bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0"]
        # 0xfff8: forward link-local groups (LLDP, 802.1X...) like a wire; older kernels refuse.
        if subprocess.run(["ip", "-n", ns, *base, "group_fwd_mask", "0xfff8"],
                          capture_output=True).returncode != 0 and not ip(ns, *base):
            return False
    ok = ip(ns, "link", "set", bridge, "up")
    for p in ports:
        # Only joined, never brought up: a relay does not change a port the test set down.
        ok = ip(ns, "link", "set", p, "master", bridge) and ok
    return ok


def split(ns, ports):
    ok = True
    for p in ports:
        ok = ip(ns, "link", "set", p, "nomaster") and ok
    return ok


def main():
    ap = argparse.ArgumentParser(description="bypass relay simulator for the sim board")
    ap.add_argument("--board", required=True)
    ap.add_argument("--netns", required=True)
    ap.add_argument("--ports", required=True, help="A,B")
    ap.add_argument("--bridge", default="tbsim0")
    ap.add_argument("--interval-ms", type=int, default=20)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("relay-sim: must run as root (it changes interfaces in a network namespace)")
    ports = a.ports.split(",")
    if len(ports) != 2 or not all(ports):
        sys.exit("relay-sim: --ports wants two interfaces, A,B")
    conf = read_board(a.board)
    relay_file = sim_path(conf, "RELAY_GPIO_CHIP")
    wd_file = sim_path(conf, "WATCHDOG_DEVICE")
    active = int(conf.get("RELAY_GPIO_ACTIVE") or 1)
    timeout_s = float(conf.get("WATCHDOG_TIMEOUT") or 15)

    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(1))

    applied = None  # the state the bridge is known to be in
    shown = None    # the state last printed
    while not stopping:
        reason = relay_state(relay_file, 1 - active)
        if reason is None and watchdog_expired(wd_file, timeout_s):
            reason = "watchdog"
        on = reason is not None
        if on != shown:
            state = f"bypass on ({reason})" if on else "bypass off"
            print(f"{time.time():.3f} {state}", flush=True)
            shown = on
        if on != applied and (join(a.netns, a.bridge, ports) if on else split(a.netns, ports)):
            applied = on  # else retried next round
        time.sleep(a.interval_ms / 1000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
