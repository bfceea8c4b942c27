#!/usr/bin/env python3
"""Headless-Chromium test of the tapbox web UI (www/) against the real tapboxd.

Usage: test/browser/ui-test.py [TAPBOXD]   (default build/asan/tapboxd)

Starts tapboxd replaying the demo capture in a loop on a free port, starts Debian's chromium
headless with a fresh profile, and drives it over the Chrome DevTools Protocol (a websocket,
Python standard library only): log in as admin/admin, the forced password change, the live
chart, hosts, a host page, flows with a filter, the remote taps page (public key and agent
command line; tapboxd gets -i ntap:PORT), the phone layout, log out. Screenshots go to
build/test-artifacts/browser/. Prints "ok   NAME" / "FAIL NAME: why" per check and
"N passed, N failed"; exits non-zero on a failure.
"""
import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TAPBOXD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build/asan/tapboxd"))
PCAP = os.path.join(ROOT, "rootfs/usr/share/tapbox/demo.pcap")
ART = os.path.join(ROOT, "build/test-artifacts/browser")
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
NEW_PASSWORD = "tapbox-ui-test-1"
MAX_FIRST_LOAD = 300 * 1024

passed = failed = 0


def check(name, ok, why=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}", flush=True)
    else:
        failed += 1
        print(f"FAIL {name}: {why}", flush=True)
    return ok


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- a minimal websocket client (RFC 6455, client side) ----

class WebSocket:
    def __init__(self, url):
        assert url.startswith("ws://")
        hostport, path = url[5:].split("/", 1)
        host, port = hostport.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise OSError("websocket handshake: connection closed")
            head += chunk
        head, self.buf = head.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise OSError("websocket handshake refused: " + head.split(b"\r\n")[0].decode())

    def send(self, text):
        data = text.encode()
        n = len(data)
        hdr = bytes([0x81])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        self.sock.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise OSError("websocket closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        message, opcode = b"", None
        while True:
            b0, b1 = self._read(2)
            op, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if op == 8:
                raise OSError("websocket closed by the browser")
            if op == 9:  # ping: answer, keep reading
                continue
            if op in (1, 2):
                opcode, message = op, payload
            elif op == 0:
                message += payload
            if b0 & 0x80 and opcode is not None:
                return message.decode()


# ---- the DevTools Protocol ----

class Browser:
    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.events = []

    def call(self, method, **params):
        self.next_id += 1
        my = self.next_id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error'].get('message')}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def js(self, expr):
        """Evaluate an expression (promises awaited) and return its JSON value."""
        r = self.call("Runtime.evaluate", expression=expr, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise RuntimeError("js: " + d.get("exception", {}).get("description", d.get("text", "?")))
        return r.get("result", {}).get("value")

    def wait(self, expr, timeout=10.0):
        """Wait until expr is truthy; returns its value or None on timeout."""
        end = time.time() + timeout
        while True:
            try:
                v = self.js(expr)
            except RuntimeError:
                v = None
            if v:
                return v
            if time.time() > end:
                return None
            time.sleep(0.1)

    def click(self, selector):
        rect = self.js(f"""(() => {{ const e = document.querySelector({json.dumps(selector)});
            if (!e) return null; e.scrollIntoView({{block: 'center'}});
            const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()""")
        if not rect:
            raise RuntimeError(f"no element {selector}")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=rect[0], y=rect[1], button="left", clickCount=1)

    def type(self, selector, text):
        self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.focus(); e.select && e.select(); }})()")
        self.call("Input.insertText", text=text)

    def select(self, selector, value):
        self.js(f"""(() => {{ const e = document.querySelector({json.dumps(selector)});
            e.value = {json.dumps(value)}; e.dispatchEvent(new Event('change', {{bubbles: true}})); }})()""")

    def screenshot(self, name):
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)["data"]
        with open(os.path.join(ART, name + ".png"), "wb") as f:
            f.write(base64.b64decode(data))

    def drain(self):
        """Collect pending events without blocking for long."""
        self.js("0")
        return self.events


def http_ok(url, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status == 200
        except Exception:
            time.sleep(0.1)
    return False


def start_chromium(profile):
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--mute-audio", "--hide-scrollbars", f"--user-data-dir={profile}",
            "--remote-debugging-port=0", "--window-size=1280,900", "about:blank"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(os.path.join(ART, "chromium.log"), "w"))
    port_file = os.path.join(profile, "DevToolsActivePort")
    end = time.time() + 20
    while time.time() < end and not os.path.exists(port_file):
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited with {proc.returncode} (see {ART}/chromium.log)")
        time.sleep(0.1)
    time.sleep(0.1)
    port = int(open(port_file).read().split()[0])
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
        pages = [t for t in json.load(r) if t.get("type") == "page"]
    return proc, pages[0]["webSocketDebuggerUrl"]


def run(b, base, ntap_port, data_dir):
    # ---- first load: the login page and its weight ----
    b.call("Network.enable")
    b.call("Network.setCacheDisabled", cacheDisabled=True)
    b.events.clear()
    b.call("Page.navigate", url=base + "/")
    check("login page shown", b.wait("location.hash === '#/login' && !!document.querySelector('#login-form')"),
          f"hash {b.js('location.hash')!r}")
    time.sleep(0.5)
    weight = sum(e["params"].get("encodedDataLength", 0) for e in b.drain()
                 if e["method"] == "Network.loadingFinished")
    check(f"first load {weight / 1024:.1f} KiB transferred (< 300 KiB)", 0 < weight < MAX_FIRST_LOAD, f"{weight} bytes")
    b.call("Network.setCacheDisabled", cacheDisabled=False)
    b.call("Network.disable")
    b.screenshot("01-login")

    # ---- a wrong password is refused with a message ----
    b.type("#login-user", "admin")
    b.type("#login-password", "wrong-password")
    b.click("#login-submit")
    msg = b.wait("document.querySelector('#login-form .error').textContent")
    check("wrong password refused", msg and "wrong" in msg, f"message {msg!r}")

    # ---- factory login -> forced password change ----
    b.type("#login-password", "admin")
    b.click("#login-submit")
    forced = b.wait("location.hash === '#/password' && !!document.querySelector('#pw-forced')")
    check("admin/admin forced to change the password", forced, f"hash {b.js('location.hash')!r}")
    b.screenshot("02-password-forced")
    b.js("location.hash = '#/hosts'")  # the UI must not let the user past the form
    time.sleep(0.3)
    check("no way around the password form", b.wait("location.hash === '#/password'", 3),
          f"hash {b.js('location.hash')!r}")
    b.type("#pw-old", "admin")
    b.type("#pw-new", NEW_PASSWORD)
    b.type("#pw-again", NEW_PASSWORD)
    b.click("#pw-submit")
    check("password changed, dashboard shown",
          b.wait("location.hash === '#/' && !!document.querySelector('#throughput')"),
          "hash %r, error %r" % (b.js("location.hash"), b.js("(document.querySelector('#password-form .error')||{}).textContent")))

    # ---- the live chart moves ----
    first = b.wait("(() => { const c = document.querySelector('#throughput');"
                   " return c && c.dataset.last ? [c.dataset.last, c.toDataURL()] : null; })()", 8)
    time.sleep(2.2)
    second = b.js("(() => { const c = document.querySelector('#throughput'); return [c.dataset.last, c.toDataURL()]; })()")
    check("live chart moves (newer series point, canvas redrawn)",
          first and second and second[0] > first[0] and second[1] != first[1],
          f"last point {first and first[0]} -> {second and second[0]}")
    rate = b.js("document.querySelector('#rate-bps').textContent")
    check("current rate shown", rate and rate != "–" and "bit/s" in rate, f"rate {rate!r}")
    hosts_n = b.wait("document.querySelectorAll('#top-hosts tbody a').length", 8)
    l7_n = b.wait("document.querySelectorAll('#top-l7 .bars li').length", 8)
    src = b.wait("document.querySelector('#sources .state') && document.querySelector('#sources .state').textContent", 8)
    check("dashboard lists top hosts, protocols and sources", hosts_n and l7_n and src,
          f"hosts {hosts_n}, protocols {l7_n}, source state {src!r}")
    note = b.wait("(() => { const n = document.querySelector('#config-note');"
                  " return n && !n.hidden && n.textContent; })()", 8)
    check("dashboard warns that the factory config runs, and why",
          note and "factory configuration" in note and "line 3" in note, f"note {note!r}")
    b.screenshot("03-dashboard")

    # ---- phone layout ----
    b.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=2, mobile=True)
    time.sleep(0.8)
    over = b.js("document.documentElement.scrollWidth - window.innerWidth")
    check("dashboard fits a phone (no sideways scrolling)", over is not None and over <= 0, f"{over} px too wide")
    b.screenshot("04-dashboard-phone")
    b.call("Emulation.clearDeviceMetricsOverride")

    # ---- hosts table: sort, search, host page ----
    b.click("#nav a[href='#/hosts']")
    rows = b.wait("location.hash.startsWith('#/hosts') && document.querySelectorAll('#hosts-table tbody a').length")
    info = b.js("(document.querySelector('#hosts-table .pager-info')||{}).textContent")
    check("hosts table with total", rows and info and " of " in info, f"rows {rows}, pager {info!r}")
    b.click("#hosts-table th[aria-sort] button")  # the sorted column: flip the order
    flipped = b.wait("(document.querySelector('#hosts-table').dataset.query || '').includes('order=asc')"
                     " && document.querySelectorAll('#hosts-table th[aria-sort=ascending]').length")
    check("hosts sort order flips", flipped, "shown %r, sorted column %r" % (
        b.js("document.querySelector('#hosts-table').dataset.query"),
        b.js("[...document.querySelectorAll('#hosts-table th[aria-sort]')].map(t => t.textContent + ' ' + t.getAttribute('aria-sort'))")))
    b.type("#hosts-q", "192.168.")
    ips = b.wait("""(() => { if (!(document.querySelector('#hosts-table').dataset.query || '').includes('q=192.168')) return null;
        const a = [...document.querySelectorAll('#hosts-table tbody td:first-child a')].map(x => x.textContent);
        return a.length ? a : null; })()""")
    check("hosts search", ips and all(ip.startswith("192.168.") for ip in ips), f"hosts {ips}")
    b.screenshot("05-hosts")
    b.click("#hosts-table th[aria-sort] button")  # back to the busiest first
    ip = b.wait("""(() => { const t = document.querySelector('#hosts-table');
        if (!(t.dataset.query || '').includes('order=desc')) return null;
        const a = t.querySelector('tbody td:first-child a'); return a && a.textContent; })()""")
    b.click("#hosts-table tbody td:first-child a")
    shown = b.wait("document.querySelector('#host-ip') && document.querySelector('#host-ip').textContent")
    l7 = b.wait("document.querySelectorAll('#host-l7 .bars li').length", 5)
    peers = b.js("document.querySelectorAll('#host-peers tbody a').length")
    flows = b.js("document.querySelectorAll('#host-flows tbody tr').length")
    check("host page: protocols, peers, flows", shown == ip and l7 and peers and flows,
          f"host {shown!r} (wanted {ip!r}), protocols {l7}, peers {peers}, flows {flows}")
    b.screenshot("06-host")

    # ---- flows table with a filter ----
    b.click("#nav a[href='#/flows']")
    all_total = b.wait("document.querySelector('#flows-table') && Number(document.querySelector('#flows-table').dataset.total)")
    b.select("#f-proto", "udp")
    b.click("#f-apply")
    res = b.wait("""(() => { if (!(document.querySelector('#flows-table').dataset.query || '').includes('proto=udp')) return null;
        const t = document.querySelector('#flows-table'); if (!t.dataset.total) return null;
        return [Number(t.dataset.total), [...t.querySelectorAll('tbody td[data-label=Proto]')].map(x => x.textContent)]; })()""")
    check("flows filter proto=udp", res and all_total and 0 < res[0] <= all_total and all(p == "UDP" for p in res[1]),
          f"total {all_total}, filtered {res}")
    b.select("#f-l7", "DNS")
    b.click("#f-apply")
    res = b.wait("""(() => { if (!(document.querySelector('#flows-table').dataset.query || '').includes('l7=DNS')) return null;
        const t = document.querySelector('#flows-table'); if (!t.dataset.total) return null;
        return [...t.querySelectorAll('tbody td[data-label=Application]')].map(x => x.textContent); })()""")
    check("flows filter l7=DNS", res and all(a.startswith("DNS") for a in res), f"applications {res}")
    b.screenshot("07-flows")

    # ---- users page (admin) ----
    b.click("#nav a[href='#/users']")
    users = b.wait("document.querySelectorAll('#users-table tbody tr').length")
    check("users page lists users", users, f"rows {users}")

    # ---- remote taps: the box's public key and a ready-to-copy agent command line ----
    b.click("#nav a[href='#/taps']")
    key = b.wait("(document.querySelector('#ntap-public-key') || {}).value")
    try:
        want = open(os.path.join(data_dir, "ntap.pub")).read().strip()
    except OSError as e:
        want = f"unreadable: {e}"
    check("taps page shows the public key of DATA_DIR/ntap.pub", key and key == want,
          f"shown {key!r}, ntap.pub {want!r}")
    cmd = b.js("(document.querySelector('#ntap-command') || {}).value")
    check("taps page: agent command line with -c BOX:PORT -K KEY",
          cmd == f"tapbox-tap -i eth0 -c 127.0.0.1:{ntap_port} -K {want}", f"command {cmd!r}")
    empty = b.wait("(document.querySelector('#taps-table td.empty') || {}).textContent", 5)
    check("taps page: the taps table (none yet)", empty and "No tap" in empty, f"table {empty!r}")
    b.screenshot("08-taps")

    # ---- log out ----
    b.click("#logout")
    out = b.wait("location.hash === '#/login' && !!document.querySelector('#login-form')")
    status = b.js("fetch('/api/v1/status').then(r => r.status)")
    check("logout ends the session", out and status == 401, f"hash {b.js('location.hash')!r}, /status {status}")
    b.screenshot("09-logged-out")


def main():
    os.makedirs(ART, exist_ok=True)
    for f in os.listdir(ART):
        if f.endswith(".png"):
            os.remove(os.path.join(ART, f))
    if not os.access(TAPBOXD, os.X_OK):
        check("tapboxd", False, f"{TAPBOXD} not built")
    elif not os.access(CHROMIUM, os.X_OK):
        check("chromium", False, f"{CHROMIUM} missing: apt-get install -y chromium (toolchain/deps.sh)")
    else:
        tmp = tempfile.mkdtemp(prefix="tapbox-ui-")
        port = free_port()
        ntap_port = free_port(socket.SOCK_DGRAM)
        # What the box's supervisor writes when it fell back to the factory config.
        with open(os.path.join(tmp, "config-status"), "w") as f:
            f.write("factory: /data/tapbox.conf line 3 is not an option: oops\n")
        daemon = subprocess.Popen(
            [TAPBOXD, "-i", PCAP, "-i", f"ntap:{ntap_port}", "--replay=realtime", "--loop",
             "-w", f"127.0.0.1:{port}", "-W", "0",
             "--data-dir", os.path.join(tmp, "data"), "--http-root", os.path.join(ROOT, "www"),
             "--config-status-file", os.path.join(tmp, "config-status")],
            stdout=open(os.path.join(ART, "tapboxd.log"), "w"), stderr=subprocess.STDOUT)
        chrome = None
        try:
            os.makedirs(os.path.join(tmp, "data"), exist_ok=True)
            base = f"http://127.0.0.1:{port}"
            if check("tapboxd serves the UI", http_ok(base + "/"), f"no answer on {base} (see {ART}/tapboxd.log)"):
                chrome, ws_url = start_chromium(os.path.join(tmp, "profile"))
                b = Browser(WebSocket(ws_url))
                b.call("Page.enable")
                b.call("Runtime.enable")
                b.call("Log.enable")
                try:
                    run(b, base, ntap_port, os.path.join(tmp, "data"))
                except Exception as e:  # a broken step: report it, keep the result line
                    check("browser session", False, f"{type(e).__name__}: {e}")
                    try:
                        b.screenshot("99-failure")
                    except Exception:
                        pass
                errors = [e for e in b.drain() if e["method"] == "Runtime.exceptionThrown"
                          or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"
                              and "401" not in e["params"]["entry"].get("text", "")
                              and "403" not in e["params"]["entry"].get("text", ""))]
                check("no JavaScript errors", not errors,
                      "; ".join(json.dumps(e["params"])[:300] for e in errors[:3]))
        except Exception as e:
            check("set-up", False, f"{type(e).__name__}: {e}")
        finally:
            for p in (chrome, daemon):
                if p and p.poll() is None:
                    p.terminate()
                    try:
                        p.wait(10)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
            rc = daemon.returncode
            check("tapboxd exits cleanly", rc == 0, f"exit {rc} (see {ART}/tapboxd.log)")
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
