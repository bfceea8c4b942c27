#!/usr/bin/env python3
"""Boot the built SD image in QEMU and test it from the outside.

    harness.py IMAGE

The image boots through U-Boot distro boot (board/qemu/run.sh). The harness
owns the far end of both wire ports (unix datagram sockets, one Ethernet frame
per datagram) and the serial console. It sends real frames into port A and
checks that they come out of port B byte for byte, and back; that the box
sends nothing of its own on the wire; then it asks the box, over the REST API
and the console, whether tapboxd accounted the flows of that traffic and kept
them in its history on /data. Four boots of the same disk: the first one ends
with a clean power-off; the second checks that the stored flows are still
there, lets one more flow be committed and cuts the power (QEMU killed); the
third checks that the database opens with every committed flow; the fourth
runs with the data partition's superblock wiped. Prints one line per check
and ends with "N passed, N failed"; exits 1 if any check failed.

Environment: TAPBOX_TEST_LOG (serial log, default output/qemu-test.log beside images/),
TAPBOX_TEST_BOOT_TIMEOUT (s, default 150).
"""
import http.cookiejar
import json
import urllib.error
import urllib.request
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
RUN_SH = os.path.join(TOP, "board", "qemu", "run.sh")

MAC_A = bytes.fromhex("020000000a01")  # a host on the port A side
MAC_B = bytes.fromhex("020000000b01")  # a host on the port B side
IP_A, IP_B = "10.1.0.1", "10.2.0.1"
PASSWORD = "qemu-test-password"  # admin's password once the factory one is changed
HISTORY_DB = "/data/history.db"
CUT_PORT = 44444  # the client port of the connection committed just before the power cut


class Results:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok - {name}" + (f" ({detail})" if detail else ""), flush=True)
        else:
            self.failed += 1
            print(f"FAIL - {name}" + (f": {detail}" if detail else ""), flush=True)
        return ok


class Console:
    """The guest's serial console on QEMU's stdio, logged to a file."""

    def __init__(self, proc, log):
        self.proc = proc
        self.buf = b""
        self.lock = threading.Condition()
        self.log = log
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            data = self.proc.stdout.read1(4096)
            if not data:
                break
            self.log.write(data)
            self.log.flush()
            with self.lock:
                self.buf += data
                self.lock.notify_all()
        with self.lock:
            self.lock.notify_all()

    def expect(self, text, timeout):
        """Wait for text in the output; consume up to its end. None on timeout."""
        needle = text.encode()
        end = time.monotonic() + timeout
        with self.lock:
            while True:
                i = self.buf.find(needle)
                if i >= 0:
                    before = self.buf[: i + len(needle)]
                    self.buf = self.buf[i + len(needle):]
                    return before.decode(errors="replace")
                left = end - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return None
                self.lock.wait(left)

    def send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def run(self, cmd, timeout=20):
        """Run a shell command on the console; return (exit code, output)."""
        # The markers are split in the command so the echoed line never matches.
        self.send(f"echo \"@@\"\"BEGIN@@\"; {cmd}; echo \"@@\"\"END $?@@\"\n")
        if self.expect("@@BEGIN@@", timeout) is None:
            return None, ""
        out = self.expect("@@END ", timeout)
        if out is None:
            return None, ""
        rc = self.expect("@@", 5)
        lines = out.splitlines()[1:-1]  # drop the rest of the BEGIN line and the END marker
        try:
            return int(rc.strip("@ \r\n")), "\n".join(l.rstrip("\r") for l in lines)
        except (ValueError, AttributeError):
            return None, "\n".join(lines)


class Wire:
    """The far end of one wire port: frames received are kept with a time."""

    def __init__(self, rundir, port):
        self.peer = os.path.join(rundir, f"{port}.qemu")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(os.path.join(rundir, f"{port}.host"))
        self.frames = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            with self.lock:
                self.frames.append(data)

    def send(self, frame):
        self.sock.sendto(frame, self.peer)

    def take(self):
        with self.lock:
            got, self.frames = self.frames, []
        return got


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, payload, ident):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return hdr + payload


def l4sum(src, dst, proto, seg):
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, proto, len(seg))
    return checksum(pseudo + seg)


def udp_frame(smac, dmac, src, dst, sport, dport, payload, ident):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    seg = seg[:6] + struct.pack("!H", l4sum(src, dst, 17, seg) or 0xFFFF) + seg[8:]
    return dmac + smac + b"\x08\x00" + ipv4(src, dst, 17, seg, ident)


def tcp_frame(smac, dmac, src, dst, sport, dport, seq, ack, flags, payload, ident):
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    seg = seg[:16] + struct.pack("!H", l4sum(src, dst, 6, seg)) + seg[18:]
    return dmac + smac + b"\x08\x00" + ipv4(src, dst, 6, seg, ident)


def traffic():
    """Frames (direction, bytes): a UDP exchange, a TCP connection, odd frames."""
    out = []
    ident = 1
    for size in (18, 100, 500, 1472):  # UDP payload sizes up to a full 1514-byte frame
        out.append(("ab", udp_frame(MAC_A, MAC_B, IP_A, IP_B, 40000, 9999, (bytes(range(256)) * 6)[:size], ident)))
        out.append(("ba", udp_frame(MAC_B, MAC_A, IP_B, IP_A, 9999, 40000, b"r" * size, ident + 1)))
        ident += 2
    syn, ack, fin, psh = 0x02, 0x10, 0x01, 0x08
    c, s = 1000, 5000
    tcp = [("ab", c, 0, syn, b""), ("ba", s, c + 1, syn | ack, b""), ("ab", c + 1, s + 1, ack, b""),
           ("ab", c + 1, s + 1, psh | ack, b"GET / HTTP/1.0\r\n\r\n"),
           ("ba", s + 1, c + 19, psh | ack, b"HTTP/1.0 200 OK\r\n\r\nhello"),
           ("ab", c + 19, s + 25, fin | ack, b""), ("ba", s + 25, c + 20, fin | ack, b""),
           ("ab", c + 20, s + 26, ack, b"")]
    for d, seq, a, flags, data in tcp:
        if d == "ab":
            f = tcp_frame(MAC_A, MAC_B, IP_A, IP_B, 43210, 80, seq, a, flags, data, ident)
        else:
            f = tcp_frame(MAC_B, MAC_A, IP_B, IP_A, 80, 43210, seq, a, flags, data, ident)
        out.append((d, f))
        ident += 1
    # A broadcast ARP, a VLAN-tagged frame and an LLDP frame: a bump in the wire
    # passes them all unchanged.
    arp = (b"\xff" * 6 + MAC_A + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + MAC_A
           + socket.inet_aton(IP_A) + b"\0" * 6 + socket.inet_aton(IP_B) + b"\0" * 18)
    vlan = MAC_B + MAC_A + b"\x81\x00\x00\x64" + udp_frame(MAC_A, MAC_B, IP_A, IP_B, 40001, 9, b"v" * 64, 99)[12:]
    lldp = bytes.fromhex("0180c200000e") + MAC_B + b"\x88\xcc" + bytes.fromhex("020704" + "020000000b01" + "0403056275" + "060200780000")
    out += [("ab", arp), ("ab", vlan), ("ba", lldp.ljust(60, b"\0"))]
    return out


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    image = os.path.abspath(sys.argv[1])
    if not os.path.isfile(image):
        print(f"harness: no image {image} (run 'make image')", file=sys.stderr)
        return 2
    logpath = os.environ.get("TAPBOX_TEST_LOG", os.path.join(os.path.dirname(os.path.dirname(image)), "qemu-test.log"))
    boot_timeout = float(os.environ.get("TAPBOX_TEST_BOOT_TIMEOUT", "150"))
    r = Results()
    tmp = tempfile.mkdtemp(prefix="tapbox-qemu-test.")
    wa, wb = Wire(tmp, "porta"), Wire(tmp, "portb")
    env = dict(os.environ, TAPBOX_QEMU_RUN=tmp, TAPBOX_QEMU_DISK=os.path.join(tmp, "disk.img"))
    with socket.socket() as s:  # a free port for the forwarded web port
        s.bind(("127.0.0.1", 0))
        env["TAPBOX_QEMU_HTTP"] = str(s.getsockname()[1])
    t0 = time.monotonic()
    print(f"# serial log: {logpath}", flush=True)
    log = open(logpath, "wb")
    con = None
    http_port = env["TAPBOX_QEMU_HTTP"]
    try:
        con = Console(start_qemu(image, env), log)
        stored = first_boot(r, con, wa, wb, t0, boot_timeout, Api(http_port))
        if stored is not None:
            # The same disk again: QEMU runs with -no-reboot, so each boot is a new QEMU.
            con = Console(start_qemu(image, env), log)
            cut = reboot_boot(r, con, wa, wb, boot_timeout, Api(http_port), stored)
            power_cut(con)
            if cut:
                con = Console(start_qemu(image, env), log)
                power_cut_boot(r, con, boot_timeout, Api(http_port), stored + cut)
                power_cut(con)
            corrupt_data(env["TAPBOX_QEMU_DISK"])
            con = Console(start_qemu(image, env), log)
            corrupt_boot(r, con, boot_timeout)
    finally:
        if con and con.proc.poll() is None:
            con.proc.terminate()
            try:
                con.proc.wait(10)
            except subprocess.TimeoutExpired:
                con.proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"# {time.monotonic() - t0:.0f} s in all")
    print(f"{r.passed} passed, {r.failed} failed")
    return 1 if r.failed else 0


class Api:
    """The box's REST API through QEMU's forwarded management port, with a session."""

    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.csrf = ""

    def call(self, method, path, body=None, timeout=30):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.csrf:
            req.add_header("X-CSRF-Token", self.csrf)
        try:
            with self.opener.open(req, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            try:
                return e.code, json.loads(e.read() or b"null")
            except ValueError:
                return e.code, None
        except (OSError, ValueError) as e:
            return 0, str(e)

    def wait_up(self, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            status, _ = self.call("GET", "/api/v1/session", timeout=5)
            if status in (200, 401):
                return True
            time.sleep(1)
        return False

    def login_factory_and_change(self, new_password):
        status, body = self.call("POST", "/api/v1/login", {"user": "admin", "password": "admin"})
        if status != 200 or not isinstance(body, dict):
            return False, f"login: {status} {body}"
        self.csrf = body.get("csrf_token", "")
        forced = body.get("must_change_password")
        denied, _ = self.call("GET", "/api/v1/flows")
        status, body = self.call("POST", "/api/v1/password",
                                 {"old_password": "admin", "new_password": new_password}, timeout=120)
        if status != 200:
            return False, f"password change: {status} {body}"
        status, body = self.call("POST", "/api/v1/login", {"user": "admin", "password": new_password},
                                 timeout=120)
        if status != 200 or not isinstance(body, dict):
            return False, f"login with the new password: {status} {body}"
        self.csrf = body.get("csrf_token", "")
        return bool(forced) and denied == 403, f"forced={forced}, before the change: {denied}"

    def login(self, user, password):
        status, body = self.call("POST", "/api/v1/login", {"user": user, "password": password},
                                 timeout=120)
        if status == 200 and isinstance(body, dict):
            self.csrf = body.get("csrf_token", "")
            return True
        return False

    def status(self):
        status, body = self.call("GET", "/api/v1/status")
        return body if status == 200 and isinstance(body, dict) else {}

    def flows(self, port):
        status, body = self.call("GET", f"/api/v1/flows?port={port}&limit=100")
        return body.get("items", []) if status == 200 and isinstance(body, dict) else None

    def history(self, query=""):
        """Stored flows: (total, flows), or (None, why) when the call failed."""
        status, body = self.call("GET", "/api/v1/history/flows?limit=1000" + query)
        if status == 200 and isinstance(body, dict) and isinstance(body.get("flows"), list):
            return body.get("total"), body["flows"]
        return None, f"{status} {body}"


def start_qemu(image, env):
    return subprocess.Popen([RUN_SH, image], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env)


def has_flow(flows, port, other_port):
    """A flow between IP_A and IP_B on these two ports, either way round."""
    for f in flows or []:
        ends = {(f["client"]["ip"], f["client"]["port"]), (f["server"]["ip"], f["server"]["port"])}
        if ends == {(IP_A, port), (IP_B, other_port)} or ends == {(IP_A, other_port), (IP_B, port)}:
            return True
    return False


def flow_key(f):
    """What identifies one stored flow across boots."""
    return (f.get("id"), f.get("protocol"), f["client"]["ip"], f["client"]["port"],
            f["server"]["ip"], f["server"]["port"], f.get("first_seen"))


def power_cut(con):
    """Pull the plug: QEMU killed, no shutdown of the guest (a no-op if it already ended)."""
    if con.proc.poll() is None:
        con.proc.kill()
    con.proc.wait()


def api_login(r, api, when):
    """The API answers and admin logs in with the password changed on the first boot."""
    return r.check(f"{when}: the API answers, admin's changed password still works",
                   api.wait_up(60) and api.login("admin", PASSWORD))


def history_kept(r, api, when, want):
    """The history is open on /data and holds every flow of want (flows as the API gave them)."""
    h = api.status().get("history", {})
    r.check(f"{when}: history is open on /data (status.history.open)",
            h.get("open") is True and h.get("path") == HISTORY_DB,
            f"open={h.get('open')} path={h.get('path')} rows_stored={h.get('rows_stored')} "
            f"last_error={h.get('last_error', '')}")
    total, flows = api.history()
    if total is None:
        return r.check(f"{when}: GET /api/v1/history/flows", False, flows)
    keys = {flow_key(f) for f in flows}
    missing = [k for k in map(flow_key, want) if k not in keys]
    return r.check(f"{when}: the {len(want)} flows stored before are all in /api/v1/history/flows",
                   bool(want) and not missing and total >= len(want),
                   f"total {total}" + (f", missing {missing[:3]}" if missing else ""))


def login(r, con):
    if not r.check("console login as root", con.expect("login:", 30) is not None):
        return False
    con.send("root\n")
    time.sleep(2)
    rc, _ = con.run("export PS1='$ '")
    return r.check("a shell on the console", rc == 0)


def corrupt_data(disk):
    """Zero the ext4 superblock of the data partition (MBR entry 4)."""
    with open(disk, "r+b") as f:
        f.seek(446 + 3 * 16 + 8)
        start = struct.unpack("<I", f.read(4))[0]
        f.seek(start * 512 + 1024)
        f.write(b"\0" * 1024)


def reboot_boot(r, con, wa, wb, boot_timeout, api, stored):
    """The disk of the first boot after its clean power-off: the stored flows are all there.
    Then one more connection crosses the box and is committed; returns its stored flows (the
    caller cuts the power), or None."""
    out = con.expect("tapbox ready:", boot_timeout)
    if not r.check("boot after the clean power-off reaches 'tapbox ready'", out is not None):
        return None
    ready = con.expect("\n", 5) or ""
    r.check("/data is kept (data=ok)", "data=ok" in ready, ready.strip())
    # A TCP connection that a reset ends: tapboxd ends it 10 s after its last frame
    # (--idle-timeout-tcp-closed) and commits it within 5 s. Sent first, so that this wait
    # overlaps the checks below. The SYN is repeated until it crosses: tapboxd forwards.
    wa.take(), wb.take()
    syn = tcp_frame(MAC_A, MAC_B, IP_A, IP_B, CUT_PORT, 8080, 7000, 0, 0x02, b"", 1)
    end = time.monotonic() + 60
    crossed = False
    while not crossed and time.monotonic() < end:
        wa.send(syn)
        time.sleep(0.5)
        crossed = syn in wb.take()
    if crossed:
        wb.send(tcp_frame(MAC_B, MAC_A, IP_B, IP_A, 8080, CUT_PORT, 9000, 7001, 0x12, b"", 2))
        time.sleep(0.1)
        wa.send(tcp_frame(MAC_A, MAC_B, IP_A, IP_B, CUT_PORT, 8080, 7001, 9001, 0x14, b"", 3))
    r.check(f"after the reboot, a TCP connection {IP_A}:{CUT_PORT} -> {IP_B}:8080 crosses the box",
            crossed)
    if not api_login(r, api, "after the clean power-off"):
        return None
    history_kept(r, api, "after the clean power-off", stored)

    # Committed while running: the power cut must not lose it.
    committed, cut = 0, []
    end = time.monotonic() + 40
    while time.monotonic() < end:
        committed = api.status().get("history", {}).get("rows_committed", 0)
        if committed:
            _, cut = api.history(f"&port={CUT_PORT}")
            if has_flow(cut if isinstance(cut, list) else [], CUT_PORT, 8080):
                break
        time.sleep(1)
    ok = r.check(f"the connection from port {CUT_PORT} is committed (status.history.rows_committed, "
                 "/api/v1/history/flows?port=)", committed > 0 and isinstance(cut, list)
                 and has_flow(cut, CUT_PORT, 8080), f"rows_committed={committed}, {cut}")
    return cut if ok else None


def power_cut_boot(r, con, boot_timeout, api, want):
    """The disk after QEMU was killed with the history open: it opens with every committed flow."""
    out = con.expect("tapbox ready:", boot_timeout)
    if not r.check("boot after the power cut reaches 'tapbox ready'", out is not None):
        return
    ready = con.expect("\n", 5) or ""
    r.check("/data is kept after the power cut (data=ok)", "data=ok" in ready, ready.strip())
    if login(r, con):
        # /data was mounted when the power went: e2fsck had to replay its journal.
        rc, out = con.run("cat /run/tapbox/e2fsck.log")
        r.check("the cut was unclean: e2fsck replayed /data's journal", "recovering journal" in out,
                out.replace("\n", " "))
    if api_login(r, api, "after the power cut"):
        history_kept(r, api, "after the power cut", want)


def corrupt_boot(r, con, boot_timeout):
    """A /data without a filesystem: recreated, the reason logged, the box up."""
    out = con.expect("tapbox ready:", boot_timeout)
    if not r.check("boot with a corrupt /data reaches 'tapbox ready'", out is not None):
        return
    ready = con.expect("\n", 5) or ""
    r.check("corrupt /data is recreated and says so (data=recreated)", "data=recreated" in ready, ready.strip())
    if not login(r, con):
        return
    rc, out = con.run("logread | grep -c 'recreating /data'; test -s /data/.recreated && "
                      "grep -c -- --interface=inline:porta,portb /data/tapbox.conf")
    r.check("the reason is logged, the factory config is back", out.split() == ["1", "1"], out.replace("\n", " "))
    rc, out = con.run("pidof tapboxd")
    r.check("tapboxd runs after /data was recreated", rc == 0 and out.strip() != "")
    # --- a hung tapboxd stops petting: the watchdog (softdog, 15 s) resets the box, and on the
    # BeagleBone the relay joins the wires during the reset. QEMU runs with -no-reboot, so the
    # reset ends it; the console shows the watchdog's own message. ---
    con.run("sleep 4")  # let tapboxd arm the watchdog and pet it at least once
    rc, _ = con.run("kill -STOP $(pidof tapboxd)")
    t = time.monotonic()
    try:
        rc = con.proc.wait(45)
    except subprocess.TimeoutExpired:
        rc = None
    took = time.monotonic() - t
    fired = con.expect("Initiating system reboot", 2) is not None  # softdog's last words
    r.check("a hung tapboxd (SIGSTOP): the watchdog resets the box within its 15 s",
            rc is not None and took < 20 and fired, f"QEMU ended after {took:.1f} s, exit {rc}, "
            f"softdog message seen: {fired}")


def first_boot(r, con, wa, wb, t0, boot_timeout, api):
    """Boot, wire, flow and history checks. Returns the flows stored in the history if the
    machine then powered off cleanly (a list, empty when the API could not tell), else None."""
    if not r.check("U-Boot distro boot finds extlinux.conf on the image",
                   con.expect("Retrieving file: /extlinux/extlinux.conf", 60) is not None):
        return
    out = con.expect("tapbox ready:", boot_timeout)
    if not r.check("the box boots to 'tapbox ready'", out is not None,
                   f"{time.monotonic() - t0:.0f} s from power-on"):
        return
    ready = con.expect("\n", 5) or ""
    r.check("/data is mounted (data=ok)", "data=ok" in ready, ready.strip())
    if not login(r, con):
        return None

    rc, out = con.run("awk '$2 == \"/\" { print $4 }' /proc/mounts")
    r.check("root filesystem is read-only", out.strip().split(",")[0] == "ro", out.strip())
    rc, out = con.run("df -m /data | awk 'NR == 2 { print $2 }'")
    size = int(out.strip()) if out.strip().isdigit() else 0
    r.check("/data grew to fill the (1 GiB) disk", size > 400, f"{size} MiB")
    rc, out = con.run("cat /data/tapbox.conf")
    r.check("factory config installed as /data/tapbox.conf (inline mode)",
            "--interface=inline:porta,portb" in out)
    rc, out = con.run("ip -o addr show dev porta; ip -o addr show dev portb")
    r.check("no address on the wire ports", rc == 0 and out.strip() == "", out.strip())
    rc, out = con.run("test -e /sys/class/net/porta/master && echo bridged; "
                      "cat /proc/sys/net/ipv6/conf/porta/disable_ipv6")
    r.check("porta is in no bridge (tapboxd forwards), IPv6 off", out.strip() == "1", out)
    rc, pid = con.run("pidof tapboxd")
    r.check("tapboxd runs (supervised by init)", rc == 0 and pid.strip() != "", pid.strip())
    # tapboxd took the relay out of bypass once both ports forwarded; the PL061 line reads back
    # high (RELAY_GPIO_ACTIVE=1) in the kernel's GPIO debug view.
    rc, out = con.run("grep -q ' /sys/kernel/debug ' /proc/mounts || mount -t debugfs none /sys/kernel/debug; "
                      "i=0; while [ $i -lt 20 ] && ! grep -q 'tapbox-relay.*out hi' /sys/kernel/debug/gpio; "
                      "do sleep 0.5; i=$((i+1)); done; grep tapbox-relay /sys/kernel/debug/gpio")
    r.check("tapboxd holds the relay line out of bypass (GPIO chardev, line high)",
            "out hi" in out, out.strip())
    rc, out = con.run("pidof watchdog || echo none; logread | grep -c 'watchdog.*armed' ")
    r.check("no busybox watchdog daemon: tapboxd pets the watchdog", out.split()[0] == "none",
            out.strip().replace("\n", " "))

    # --- the REST API over the management NIC: the factory login must change its password ---
    api_up = r.check("the web API answers on the management NIC", api.wait_up(60))
    if api_up:
        ok, detail = api.login_factory_and_change(PASSWORD)
        api_up = r.check("factory login admin/admin is forced to change the password, then works",
                         ok, detail)
    if api_up:
        status, b = api.call("GET", "/api/v1/bypass")
        wd = b.get("watchdog", {}) if isinstance(b, dict) else {}
        r.check("API: bypass present and not engaged, watchdog armed and petted by tapboxd",
                status == 200 and b.get("present") and not b.get("engaged") and wd.get("armed")
                and wd.get("pets", 0) > 0, f"{status} {b}")
        status, p = api.call("GET", "/api/v1/ports")
        r.check("API: inline ports a and b up", status == 200 and p.get("mode") == "inline"
                and [x.get("up") for x in p.get("ports", [])] == [True, True], f"{status} {p}")
        # The operator's hand on the relay, through the GPIO character device of a real kernel.
        line = "grep tapbox-relay /sys/kernel/debug/gpio"
        status, b = api.call("POST", "/api/v1/bypass", {"mode": "on"})
        rc, out_on = con.run(line)
        status2, b2 = api.call("POST", "/api/v1/bypass", {"mode": "auto"})
        rc, out_auto = con.run(line)
        r.check("API: bypass on drives the relay line low, auto high again",
                status == 200 and b.get("engaged") and "out lo" in out_on and status2 == 200
                and not b2.get("engaged") and "out hi" in out_auto,
                f"{status} {out_on.strip()} / {status2} {out_auto.strip()}")
    # First-start jobs of tapboxd: the HTTPS certificate and the nTap key pair, kept on /data.
    rc, out = con.run("ls /data/https-cert.pem /data/https-key.pem /data/ntap.pub && "
                      "stat -c %a /data/https-key.pem")
    r.check("first start made the HTTPS certificate and the nTap key pair in /data",
            rc == 0 and out.strip().endswith("600"), out.strip().replace("\n", " "))

    # --- the wire: every frame crosses unchanged, both ways ---
    time.sleep(1)
    stray = wa.take() + wb.take()  # anything the box sent on its own so far
    frames = traffic()
    for d, f in frames:
        (wa if d == "ab" else wb).send(f)
        time.sleep(0.02)
    want_b = [f for d, f in frames if d == "ab"]
    want_a = [f for d, f in frames if d == "ba"]
    end = time.monotonic() + 10
    got_a, got_b = [], []
    while time.monotonic() < end and (len(got_a) < len(want_a) or len(got_b) < len(want_b)):
        time.sleep(0.2)
        got_a += wa.take()
        got_b += wb.take()
    time.sleep(1)
    got_a += wa.take()
    got_b += wb.take()
    r.check(f"port A -> port B: {len(want_b)} frames byte-identical, in order",
            got_b[: len(want_b)] == want_b, f"got {len(got_b)} frames")
    r.check(f"port B -> port A: {len(want_a)} frames byte-identical, in order",
            got_a[: len(want_a)] == want_a, f"got {len(got_a)} frames")
    extra = stray + got_a[len(want_a):] + got_b[len(want_b):]
    r.check("the box sends nothing of its own on the wire", not extra,
            f"{len(extra)} stray frames, first {extra[0][:34].hex()}" if extra else "")

    # --- tapboxd accounted the flows (live, over the management NIC); SIGTERM ends them all
    # into the history on /data, read back over the API once tapboxd runs again (below) ---
    if api_up:
        r.check(f"API: UDP flow {IP_A}:40000 <-> {IP_B}:9999 accounted",
                has_flow(api.flows(40000), 40000, 9999))
        r.check(f"API: TCP flow {IP_A}:43210 <-> {IP_B}:80 accounted",
                has_flow(api.flows(43210), 43210, 80))

    rc, out = con.run("p=$(pidof tapboxd); kill -TERM $p; i=0; while kill -0 $p 2>/dev/null && "
                      "[ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done; "
                      f"df -P {HISTORY_DB} | awk 'NR == 2 {{ print $6 }}'; "
                      "awk '$2 == \"/data\" { print $3 }' /proc/mounts", 30)
    r.check(f"{HISTORY_DB} is on the data partition (ext4 at /data)", out.split() == ["/data", "ext4"],
            out.replace("\n", " "))
    rc, out = con.run("grep -c '^--flows-out' /data/tapbox.conf; ls -A /var/log/tapbox | wc -l")
    r.check("no flow file on the /var/log tmpfs (the factory config has no --flows-out)",
            out.split() == ["0", "0"], out.replace("\n", " "))

    # --- a bad /data/tapbox.conf: tapboxd falls back to the factory config ---
    rc, _ = con.run("cp /data/tapbox.conf /tmp/good.conf; echo 'not an option' >>/data/tapbox.conf; "
                    "kill -TERM $(pidof tapboxd); sleep 3")
    rc, out = con.run("cat /run/tapbox/config-status; pidof tapboxd")
    r.check("bad /data/tapbox.conf: factory config used, tapboxd runs",
            out.startswith("factory:") and len(out.splitlines()) > 1, out.replace("\n", " | "))
    stored = []
    if api_up:
        # tapboxd restarted: sessions are gone, the changed password is kept on /data.
        ok = api.wait_up(60) and api.login("admin", PASSWORD)
        conf = api.status().get("config", {}) if ok else {}
        r.check("the API tells the factory config runs, and why", conf.get("status") == "factory"
                and "not an option" in conf.get("detail", ""), json.dumps(conf))
        # The flows SIGTERM ended, committed at the stop, read by the next tapboxd.
        total, flows = api.history() if ok else (None, "no login")
        got = flows if total is not None else []
        r.check("API: the flows ended by SIGTERM are in /api/v1/history/flows (UDP and TCP)",
                has_flow(got, 40000, 9999) and has_flow(got, 43210, 80),
                f"total {total}" if total is not None else flows)
        stored = got  # no traffic crosses from here on: this is the history at the power-off
    # A config that parses but tapboxd refuses: it exits at once, tapbox-run
    # notes it and the next start (5 s later) uses the factory config.
    con.run("sed 's/^--interface=inline:porta,portb$/--max-flows=lots/' /tmp/good.conf >/data/tapbox.conf; "
            "kill -TERM $(pidof tapboxd)")
    out = ""
    for _ in range(20):
        time.sleep(1)
        rc, out = con.run("cat /run/tapbox/config-status; pidof tapboxd")
        if out.startswith("factory: tapboxd refused") and len(out.splitlines()) > 1:
            break
    r.check("config refused by tapboxd: factory config used, tapboxd runs",
            out.startswith("factory: tapboxd refused") and len(out.splitlines()) > 1, out.replace("\n", " | "))
    con.run("cp /tmp/good.conf /data/tapbox.conf")

    # --- clean power-off: rcK runs, QEMU exits (-no-reboot) ---
    con.send("poweroff\n")
    try:
        rc = con.proc.wait(60)
    except subprocess.TimeoutExpired:
        rc = None
    return stored if r.check("poweroff stops the machine", rc == 0, f"exit {rc}") else None


if __name__ == "__main__":
    sys.exit(main())
