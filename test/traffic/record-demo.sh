#!/usr/bin/env bash
# record-demo.sh - record tapbox's bundled demo capture from real traffic.
#
# Builds a small network out of network namespaces (veth pairs on the LAN, a
# pair of tap devices joined by a delaying relay as the WAN line), runs real
# servers (python3 http.server over HTTP and HTTPS, dnsmasq, chronyd, dropbear,
# socat) and real clients (curl, dig, ping, chronyd -Q, dbclient, socat) on it
# for 75 seconds, and captures everything that crosses the home router's LAN
# bridge with tcpdump. Every byte in the result was sent by those programs.
#
#  "laptop" tbdemo-c1 192.168.1.23  fd00:1::23  -+
#  "phone"  tbdemo-c2 192.168.1.42  fd00:1::42  -+- br0 [tbdemo-rtr] wan0 ~~ inet0 [tbdemo-inet]
#  "tv/nas" tbdemo-c3 192.168.1.100 fd00:1::100 -+   ^ capture       (relay)  servers: 198.51.100.0/24,
#                                192.168.1.1 fd00:1::1                      203.0.113.0/24, 2001:db8::/32
#
# Usage (as root):  test/traffic/record-demo.sh [OUTPUT.pcap]
#   default output: rootfs/usr/share/tapbox/demo.pcap (replaced only on success)
#   TAPBOX_DEMO_KEEP=1    keep the work directory (logs) for inspection
#
# Debian packages: iproute2 ethtool tcpdump python3 openssl curl bind9-dnsutils
#   iputils-ping dnsmasq-base chrony dropbear-bin socat (util-linux, coreutils)
set -euo pipefail

PREFIX=tbdemo
NS_RTR=$PREFIX-rtr
NS_INET=$PREFIX-inet
NS_CLIENTS=("$PREFIX-c1" "$PREFIX-c2" "$PREFIX-c3")
ALL_NS=("${NS_CLIENTS[@]}" "$NS_RTR" "$NS_INET")
PY=/usr/bin/python3

# --- addresses ---------------------------------------------------------------
LAN4=192.168.1 ; LAN6=fd00:1:
GW4=$LAN4.1 ; GW6=$LAN6:1
WAN4_RTR=100.64.0.2 ; WAN4_ISP=100.64.0.1          # ISP link (shared address space)
WAN6_RTR=2001:db8:ffff::2 ; WAN6_ISP=2001:db8:ffff::1
# name            IPv4             IPv6
WWW4=198.51.100.10;   WWW6=2001:db8:100::10        # www.example.com   HTTP + HTTPS
CDN4=198.51.100.20;   CDN6=2001:db8:100::20        # cdn.example.org   HTTP + HTTPS (static.example.com CNAME)
API4=203.0.113.10;    API6=2001:db8:200::10        # api.example.net   HTTPS (TLS 1.2 only)
FILES4=203.0.113.22;  FILES6=2001:db8:200::22      # files.example.net SSH
BACKUP4=203.0.113.30                               # backup.example.net raw TCP 9000
UPD4=203.0.113.40                                  # updates.example.com HTTP only
DNS4=203.0.113.53;    DNS6=2001:db8:200::53        # resolver (dnsmasq)
NTP4=203.0.113.123;   NTP6=2001:db8:200::123       # ntp.example.org (chronyd)

log() { printf '[record-demo %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# =============================================================================
# Client scenarios. Run as "record-demo.sh --act NAME" inside a client
# namespace (the main part below starts them); WORK and T0_MS come from the env.
# =============================================================================
# wait until second $1 of the scenario
now_ms() { date +%s%3N; }
sleep_ms() { (($1 > 0)) && sleep "$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))"; return 0; }
at() { sleep_ms $((T0_MS + $1 * 1000 - $(now_ms))); }
# random pause between $1 and $2 tenths of a second
pause() { sleep_ms $((($1 + RANDOM % ($2 - $1 + 1)) * 100)); }
# run a client command; a failure is logged, and the recording then rejected
run() { timeout 20 "$@" >>"$WORK/client-$ACT.out" 2>&1 || echo "($ACT) exit $?: $*" >>"$WORK/client-$ACT.err"; }
# a command that is meant to fail (closed port)
fails() { ! timeout 20 "$@" >>"$WORK/client-$ACT.out" 2>&1 || echo "($ACT) succeeded: $*" >>"$WORK/client-$ACT.err"; }
# like run, discarding what the command prints on stdout (downloads)
runq() { timeout 20 "$@" 2>>"$WORK/client-$ACT.out" >/dev/null || echo "($ACT) exit $?: $*" >>"$WORK/client-$ACT.err"; }

act_laptop() {            # a laptop: web browsing, API polling, SSH, LAN share
  RANDOM=23
  at 1;  run "${CURL[@]}" https://www.example.com/ -o /dev/null https://www.example.com/static/app.js \
                -o /dev/null https://www.example.com/img/hero.jpg -o /dev/null https://www.example.com/favicon.ico
  pause 3 8
  run "${CURL[@]}" https://static.example.com/css/site.css -o /dev/null https://static.example.com/img/logo.png
  at 4;  run "${CURL[@]}" -X POST -H 'Content-Type: application/json' \
                -d '{"user":"demo","client":"laptop"}' https://api.example.net/v1/session
  at 9;  run "${CURL[@]}" https://api.example.net/v1/notifications
  at 13; run dbclient -y -y -i "$WORK/ssh/id_demo" root@files.example.net 'uname -sr; ls -l files'
  at 19; run "${CURL[@]}" https://api.example.net/v1/notifications
  at 22; run ping -c 3 -i 0.5 192.168.1.100
         run "${CURL[@]}" http://192.168.1.100:8000/ -o /dev/null http://192.168.1.100:8000/photos/holiday-01.jpg
  at 29; run "${CURL[@]}" https://api.example.net/v1/notifications
  at 31; runq dbclient -y -y -i "$WORK/ssh/id_demo" root@files.example.net 'cat files/report-q3.pdf'
  at 39; run "${CURL[@]}" https://api.example.net/v1/notifications
  at 44; run "${CURL[@]}" http://www.example.com/ -o /dev/null http://www.example.com/news.html
  pause 10 30
         run "${CURL[@]}" http://cdn.example.org/img/photo-2.jpg
  at 49; run "${CURL[@]}" https://api.example.net/v1/notifications
  at 52; run ping -c 4 -i 0.8 www.example.com
  at 59; run "${CURL[@]}" https://api.example.net/v1/notifications
  at 63; run "${CURL[@]}" https://www.example.com/news.html -o /dev/null https://www.example.com/img/hero.jpg
  at 69; run "${CURL[@]}" https://api.example.net/v1/notifications
}

act_phone() {             # a phone: NTP, IPv6 app traffic, image bursts, lookups
  RANDOM=42
  at 2;  run chronyd -Q -u root -f /dev/null "pidfile $WORK/chrony-phone.pid" "cmdport 0" "bindcmdaddress /" \
                "server ntp.example.org iburst maxsamples 4"
  at 6;  run "${CURL[@]}" -6 https://cdn.example.org/feed.json
  local t
  for t in 11 18 26 33 41 48 56 63 70; do            # push/sync channel every ~7 s
    at "$t"; pause 0 9; run "${CURL[@]}" -6 --tls-max 1.2 https://api.example.net/v1/sync
  done &
  at 15; run "${CURL[@]}" -6 -Z https://cdn.example.org/img/photo-1.jpg https://cdn.example.org/img/photo-2.jpg \
                https://cdn.example.org/img/photo-3.jpg https://cdn.example.org/img/photo-4.jpg \
                -o /dev/null -o /dev/null -o /dev/null
  at 24; run dig +short www.example.com AAAA
         pause 2 6; run dig example.com MX
         pause 2 6; run dig example.com TXT
         pause 2 6; run dig -x "$WWW4"
  at 36; run ping -6 -c 3 -i 0.6 www.example.com
  at 45; run "${CURL[@]}" -6 https://www.example.com/ -o /dev/null https://www.example.com/static/app.js
  at 53; run dig +tcp api.example.net A
  at 60; run chronyd -6 -Q -u root -f /dev/null "pidfile $WORK/chrony-phone.pid" "cmdport 0" "bindcmdaddress /" \
                "server ntp.example.org iburst maxsamples 2"
  wait
}

act_tv() {                # a smart TV / NAS: firmware check, backup upload, pings
  RANDOM=100
  local ua='DemoTV/2.4 (tapbox demo updater)'
  at 3;  run "${CURL[@]}" -A "$ua" 'http://updates.example.com/check?model=dtv-55&fw=2.4.0'
  at 5;  run "${CURL[@]}" -A "$ua" http://updates.example.com/fw/dtv-55-2.4.1.bin
  at 16; run socat -u OPEN:"$WORK/backup.tar" TCP:backup.example.net:9000
  at 28; run ping -c 3 -i 1 "$GW4"
  at 34; run ping -c 2 -i 1 "$DNS4"
  at 40; run dig smart-tv.example.com A                        # NXDOMAIN
         fails "${CURL[@]}" http://backup.example.net:8080/      # closed port: RST
  at 47; run "${CURL[@]}" -A "$ua" 'http://updates.example.com/check?model=dtv-55&fw=2.4.1'
  at 57; run dig +short ntp.example.org A
  at 58; run chronyd -Q -u root -f /dev/null "pidfile $WORK/chrony-tv.pid" "cmdport 0" "bindcmdaddress /" \
                "server $NTP4 iburst maxsamples 3"
  at 66; run "${CURL[@]}" -A "$ua" http://cdn.example.org/img/logo.png
}

if [[ ${1:-} == --act ]]; then
  ACT=$2; : "${WORK:?}" "${T0_MS:?}"
  export HOME=$WORK/home-$ACT; mkdir -p "$HOME"
  CURL=(curl -sS -w '%{http_code} %{remote_ip} %{url_effective}\n' -o /dev/null --cacert "$WORK/pki/ca.pem" --connect-timeout 3 -m 15)
  "act_$ACT"
  exit 0
fi

# =============================================================================
# Main: build the network, start the servers, record.
# =============================================================================
[[ $EUID -eq 0 ]] || die "run as root (network namespaces, tcpdump)"
SELF=$(readlink -f "$0")
ROOT=$(cd "$(dirname "$SELF")/../.." && pwd)
OUT=${1:-$ROOT/rootfs/usr/share/tapbox/demo.pcap}
DURATION=75                                # seconds captured; the scenarios end by ~72

missing=()
for c in ip ethtool tcpdump openssl curl dig ping dnsmasq chronyd dropbear dropbearkey dbclient \
         socat unshare ss timeout; do
  command -v "$c" >/dev/null || missing+=("$c")
done
[[ -x $PY ]] || missing+=(python3)
((${#missing[@]} == 0)) || die "missing: ${missing[*]}; apt-get install iproute2 ethtool tcpdump \
python3 openssl curl bind9-dnsutils iputils-ping dnsmasq-base chrony dropbear-bin socat"

WORK=$(mktemp -d /tmp/tapbox-demo.XXXXXX)
CAP_PID=

cleanup() {
  local rc=$? ns pid
  trap - EXIT INT TERM
  [[ -n $CAP_PID ]] && kill "$CAP_PID" 2>/dev/null || true
  for ns in "${ALL_NS[@]}"; do                      # only processes in our own namespaces
    if [[ -e /run/netns/$ns ]]; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    fi
  done
  sleep 0.5
  for ns in "${ALL_NS[@]}"; do
    if [[ -e /run/netns/$ns ]]; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    fi
    rm -rf "/etc/netns/$ns"
  done
  rmdir /etc/netns 2>/dev/null || true
  if [[ ${TAPBOX_DEMO_KEEP:-0} == 1 || $rc -ne 0 ]]; then
    log "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# leftovers of an interrupted earlier run
for ns in "${ALL_NS[@]}"; do
  if [[ -e /run/netns/$ns ]]; then
    log "removing stale namespace $ns"
    for pid in $(ip netns pids "$ns"); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns"
  fi
  rm -rf "/etc/netns/$ns"
done

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
serve() { local ns=$1 name=$2; shift 2; ip netns exec "$ns" "$@" >"$WORK/srv-$name.log" 2>&1 & }
# veth without offloads, so frames are MTU-sized and carry real checksums
nooffload() { nsx "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 ||
              nsx "$1" ethtool -K "$2" tx off >/dev/null; }

log "building namespaces"
for ns in "${ALL_NS[@]}"; do
  ip netns add "$ns"
  nsx "$ns" ip link set lo up
done

# router: LAN bridge + WAN link, forwarding, no NAT (the capture sees LAN addresses)
nsx "$NS_RTR" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
nsx "$NS_RTR" ip link add br0 address 02:74:62:00:00:01 type bridge stp_state 0 forward_delay 0
nsx "$NS_RTR" ethtool -K br0 tx off tso off gso off gro off >/dev/null 2>&1 || true
nsx "$NS_RTR" ip addr add "$GW4/24" dev br0
nsx "$NS_RTR" ip addr add "$GW6/64" dev br0 nodad
nsx "$NS_RTR" ip link set br0 up

# The WAN link is a pair of tap devices joined by a small relay that behaves like
# an access line: 50/10 Mbit/s, and a path delay of ~8 ms to 198.51.100.0/24 and
# 2001:db8:100::/48 (nearby web/CDN) and ~25 ms to 203.0.113.0/24 and
# 2001:db8:200::/48, each way. (Kernels without sch_netem are common in
# sandboxes; the relay needs nothing but /dev/net/tun.)
cat >"$WORK/wanlink.py" <<'EOF'
import ctypes, fcntl, heapq, os, random, select, struct, sys, time
TUNSETIFF, IFF_TAP, IFF_NO_PI, CLONE_NEWNET = 0x400454CA, 0x0002, 0x1000, 0x40000000
def tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd
up = tap(sys.argv[1])                       # router side, in our own namespace
ns = os.open(sys.argv[3], os.O_RDONLY)
if ctypes.CDLL(None, use_errno=True).setns(ns, CLONE_NEWNET) != 0:
    raise OSError(ctypes.get_errno(), "setns")
down = tap(sys.argv[2])                     # internet side
RATE = {up: 10e6, down: 50e6}               # bits/s, by the fd a frame came from
DELAY = {"near": 0.008, "far": 0.025, "link": 0.0005}
random.seed(7)
def zone(frame, outbound):
    et = frame[12:14]
    if et == b"\x08\x00" and len(frame) >= 34:
        a = frame[30:33] if outbound else frame[26:29]
        return {b"\xc6\x33\x64": "near", b"\xcb\x00\x71": "far"}.get(a, "link")
    if et == b"\x86\xdd" and len(frame) >= 54:
        a = frame[38:44] if outbound else frame[22:28]
        return {bytes.fromhex("20010db80100"): "near", bytes.fromhex("20010db80200"): "far"}.get(a, "link")
    return "link"
free = {up: 0.0, down: 0.0}; last = {}; queue = []; n = 0
while True:
    now = time.monotonic()
    wait = max(0.0, queue[0][0] - now) if queue else None
    for fd in select.select([up, down], [], [], wait)[0]:
        frame = os.read(fd, 65536)
        now = time.monotonic()
        start = max(now, free[fd]); free[fd] = start + len(frame) * 8 / RATE[fd]
        z = zone(frame, fd == up)
        due = free[fd] + DELAY[z] * random.uniform(0.95, 1.1)
        due = last[fd, z] = max(due, last.get((fd, z), 0.0))   # no reordering in a path
        heapq.heappush(queue, (due, n, down if fd == up else up, frame)); n += 1
    now = time.monotonic()
    while queue and queue[0][0] <= now:
        _, _, out, frame = heapq.heappop(queue)
        try:
            os.write(out, frame)
        except OSError:
            pass
EOF
serve "$NS_RTR" wanlink "$PY" "$WORK/wanlink.py" wan0 inet0 "/run/netns/$NS_INET"
for ((i = 0; i < 50; i++)); do
  nsx "$NS_RTR" ip link show wan0 >/dev/null 2>&1 && nsx "$NS_INET" ip link show inet0 >/dev/null 2>&1 && break
  sleep 0.1
done
nsx "$NS_INET" ip link show inet0 >/dev/null 2>&1 || die "WAN relay did not start: $(cat "$WORK/srv-wanlink.log")"
nsx "$NS_RTR" ip link set wan0 address 02:74:62:00:00:02
nsx "$NS_INET" ip link set inet0 address 02:74:62:00:00:fe
for x in "$NS_RTR wan0" "$NS_INET inet0"; do                  # taps: best effort
  nsx ${x% *} ethtool -K ${x#* } tx off tso off gso off gro off >/dev/null 2>&1 || true
done
nsx "$NS_RTR" ip addr add "$WAN4_RTR/30" dev wan0
nsx "$NS_RTR" ip addr add "$WAN6_RTR/64" dev wan0 nodad
nsx "$NS_RTR" ip link set wan0 up
nsx "$NS_RTR" ip route add default via "$WAN4_ISP"
nsx "$NS_RTR" ip -6 route add default via "$WAN6_ISP"

# "internet": one namespace holding every server address
nsx "$NS_INET" ip addr add "$WAN4_ISP/30" dev inet0
nsx "$NS_INET" ip addr add "$WAN6_ISP/64" dev inet0 nodad
for a in $WWW4 $CDN4 $API4 $FILES4 $BACKUP4 $UPD4 $DNS4 $NTP4; do
  nsx "$NS_INET" ip addr add "$a/32" dev inet0
done
for a in $WWW6 $CDN6 $API6 $FILES6 $DNS6 $NTP6; do
  nsx "$NS_INET" ip addr add "$a/128" dev inet0 nodad
done
nsx "$NS_INET" ip link set inet0 up
nsx "$NS_INET" ip route add "$LAN4.0/24" via "$WAN4_RTR"
nsx "$NS_INET" ip -6 route add "$LAN6:/64" via "$WAN6_RTR"

# LAN clients, one namespace (and MAC) each
hosts=(23 42 100)
for i in 0 1 2; do
  ns=${NS_CLIENTS[$i]} h=${hosts[$i]}
  ip link add "lan$i" netns "$NS_RTR" type veth peer name eth0 netns "$ns" \
     address "$(printf '02:74:62:01:00:%02x' "$h")"
  nooffload "$NS_RTR" "lan$i"; nooffload "$ns" eth0
  nsx "$NS_RTR" ip link set "lan$i" master br0 up
  nsx "$ns" ip addr add "$LAN4.$h/24" dev eth0
  nsx "$ns" ip addr add "$LAN6:$h/64" dev eth0 nodad
  nsx "$ns" ip link set eth0 up
  nsx "$ns" ip route add default via "$GW4"
  nsx "$ns" ip -6 route add default via "$GW6"
  mkdir -p "/etc/netns/$ns"                         # ip netns exec bind-mounts this
  if ((h == 42)); then dns=("$DNS6" "$DNS4"); else dns=("$DNS4" "$DNS6"); fi   # the phone asks over IPv6
  printf 'nameserver %s\nnameserver %s\noptions timeout:2 attempts:2\n' "${dns[@]}" >"/etc/netns/$ns/resolv.conf"
done

# --- content the servers hand out (made here, random where it is binary) ------
log "making content, keys and certificates"
rnd() { head -c "$2" /dev/urandom >"$1"; }
mkpage() {  # file title paragraphs
  { printf '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>%s</title>\n' "$2"
    printf '<link rel="stylesheet" href="https://static.example.com/css/site.css">\n'
    printf '<script src="/static/app.js" defer></script></head>\n<body><h1>%s</h1>\n' "$2"
    local i; for ((i = 0; i < $3; i++)); do
      printf '<p>Item %d: tapbox demo page text, generated by record-demo.sh for the bundled capture.</p>\n' "$i"
    done
    printf '<img src="/img/hero.jpg" alt="hero"></body></html>\n'; } >"$1"
}
D=$WORK/www; mkdir -p "$D"/{www/static,www/img,cdn/img,cdn/css,api/v1,upd/fw,nas/photos}
mkpage "$D/www/index.html" "Example Domain" 20
mkpage "$D/www/news.html" "News" 60
for ((i = 0; i < 400; i++)); do echo "function f$i(a,b){return (a*$i+b)%97;} // demo app code"; done >"$D/www/static/app.js"
rnd "$D/www/img/hero.jpg" 60000; rnd "$D/www/favicon.ico" 1150
printf 'body{font-family:sans-serif;margin:2em}h1{color:#235}\n%.0s' {1..60} >"$D/cdn/css/site.css"
rnd "$D/cdn/img/logo.png" 4200
for i in 1 2 3 4; do rnd "$D/cdn/img/photo-$i.jpg" $((25000 + i * 4000)); done
printf '{"items":[%s{"id":0}]}\n' "$(for i in $(seq 1 40); do printf '{"id":%d,"title":"post %d"},' "$i" "$i"; done)" >"$D/cdn/feed.json"
printf '{"unread":0,"items":[]}\n' >"$D/api/v1/notifications"
printf '{"ok":true,"next":30}\n' >"$D/api/v1/sync"
printf '{"model":"dtv-55","latest":"2.4.1","url":"http://updates.example.com/fw/dtv-55-2.4.1.bin"}\n' >"$D/upd/check"
rnd "$D/upd/fw/dtv-55-2.4.1.bin" 180000
mkpage "$D/nas/index.html" "nas share" 5
rnd "$D/nas/photos/holiday-01.jpg" 45000
mkdir -p "$WORK/sshroot/files"; rnd "$WORK/sshroot/files/report-q3.pdf" 200000
rnd "$WORK/backup.tar" 300000

# PKI: a demo CA and one certificate per HTTPS server name
P=$WORK/pki; mkdir -p "$P"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
  -subj "/O=tapbox demo/CN=tapbox demo CA" -keyout "$P/ca.key" -out "$P/ca.pem" 2>/dev/null
mkcert() {  # name SAN...
  local n=$1; shift; local san; san=$(printf 'DNS:%s,' "$@"); san=${san%,}
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=tapbox demo/CN=$1" \
    -keyout "$P/$n.key" -out "$P/$n.csr" 2>/dev/null
  openssl x509 -req -in "$P/$n.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" -CAcreateserial -days 3650 \
    -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san") -out "$P/$n.pem" 2>/dev/null
}
mkcert www www.example.com example.com
mkcert cdn cdn.example.org static.example.com
mkcert api api.example.net

# SSH: dropbear host key, and a client key authorised in a private /root
mkdir -p "$WORK/ssh" "$WORK/sshroot/.ssh"; chmod 700 "$WORK/sshroot" "$WORK/sshroot/.ssh"
dropbearkey -t ed25519 -f "$WORK/ssh/host_ed25519" >/dev/null 2>&1
dropbearkey -t ed25519 -f "$WORK/ssh/id_demo" 2>/dev/null | grep '^ssh-ed25519' >"$WORK/sshroot/.ssh/authorized_keys"
chmod 600 "$WORK/sshroot/.ssh/authorized_keys"

# the web server: python's http.server, HTTP/1.1, optional TLS, small POST support
cat >"$WORK/httpd.py" <<'EOF'
import http.server, socket, ssl, sys
addr, port, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def __init__(self, *a, **kw):
        super().__init__(*a, directory=root, **kw)
    def do_GET(self):
        self.path = self.path.split("?", 1)[0]
        super().do_GET()
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"session":"d3m0","expires":3600}\n'
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))
class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET
srv = Server((addr, port), Handler)
if len(sys.argv) > 4:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    if len(sys.argv) > 6 and sys.argv[6] == "tls12":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
EOF

# --- servers -----------------------------------------------------------------
log "starting servers"
for a in $WWW4 $WWW6; do
  serve "$NS_INET" "www-http-$a"  $PY "$WORK/httpd.py" "$a" 80  "$D/www"
  serve "$NS_INET" "www-https-$a" $PY "$WORK/httpd.py" "$a" 443 "$D/www" "$P/www.pem" "$P/www.key"
done
for a in $CDN4 $CDN6; do
  serve "$NS_INET" "cdn-http-$a"  $PY "$WORK/httpd.py" "$a" 80  "$D/cdn"
  serve "$NS_INET" "cdn-https-$a" $PY "$WORK/httpd.py" "$a" 443 "$D/cdn" "$P/cdn.pem" "$P/cdn.key"
done
for a in $API4 $API6; do
  serve "$NS_INET" "api-https-$a" $PY "$WORK/httpd.py" "$a" 443 "$D/api" "$P/api.pem" "$P/api.key" tls12
done
serve "$NS_INET" upd-http $PY "$WORK/httpd.py" "$UPD4" 80 "$D/upd"
serve "${NS_CLIENTS[2]}" nas-http $PY -m http.server --bind "$LAN4.100" --directory "$D/nas" 8000
serve "$NS_INET" backup socat -u TCP-LISTEN:9000,bind=$BACKUP4,reuseaddr,fork OPEN:/dev/null
serve "$NS_INET" dnsmasq dnsmasq -k -C /dev/null --no-hosts --no-resolv --user=root --bind-interfaces \
   --listen-address="$DNS4" --listen-address="$DNS6" --pid-file="$WORK/dnsmasq.pid" --log-queries --log-facility=- \
   --local=/example.com/example.net/example.org/ \
   --host-record=www.example.com,example.com,$WWW4,$WWW6 \
   --host-record=cdn.example.org,$CDN4,$CDN6 --cname=static.example.com,cdn.example.org \
   --host-record=api.example.net,$API4,$API6 --host-record=files.example.net,$FILES4,$FILES6 \
   --host-record=backup.example.net,$BACKUP4 --host-record=updates.example.com,$UPD4 \
   --host-record=ntp.example.org,$NTP4,$NTP6 --host-record=mail.example.com,198.51.100.25 \
   --mx-host=example.com,mail.example.com,10 --txt-record=example.com,"v=spf1 mx -all"
cat >"$WORK/chrony-srv.conf" <<EOF
bindaddress $NTP4
bindaddress $NTP6
allow all
local stratum 3
cmdport 0
bindcmdaddress /
pidfile $WORK/chrony-srv.pid
EOF
serve "$NS_INET" chronyd chronyd -x -d -u root -f "$WORK/chrony-srv.conf"
serve "$NS_INET" dropbear unshare -m --propagation private sh -c \
   'mount --bind "$1" /root && exec dropbear -F -E -s -p '"$FILES4"':22 -p ['"$FILES6"']:22 -r "$2" -P "$3"' \
   sh "$WORK/sshroot" "$WORK/ssh/host_ed25519" "$WORK/dropbear.pid"

# wait for the servers to listen
wait_port() {  # ns proto addr port
  local i
  for ((i = 0; i < 50; i++)); do
    nsx "$1" ss -Hln"${2:0:1}" "( sport = :$4 )" 2>/dev/null | grep -qF "$3" && return 0
    sleep 0.1
  done
  die "server on $3 port $4/$2 did not start (see $WORK/srv-*.log)"
}
for a in $WWW4 $CDN4; do wait_port "$NS_INET" tcp "$a" 80; wait_port "$NS_INET" tcp "$a" 443; done
for a in $WWW6 $CDN6 $API6; do wait_port "$NS_INET" tcp "[$a]" 443; done
wait_port "$NS_INET" tcp "$API4" 443; wait_port "$NS_INET" tcp "$UPD4" 80
wait_port "$NS_INET" tcp "$BACKUP4" 9000; wait_port "$NS_INET" tcp "$FILES4" 22
wait_port "$NS_INET" udp "$DNS4" 53; wait_port "$NS_INET" udp "$NTP4" 123
wait_port "${NS_CLIENTS[2]}" tcp "$LAN4.100" 8000
sleep 2   # let chronyd settle on its local reference

# --- record --------------------------------------------------------------------
log "capturing on $NS_RTR br0 for ${DURATION}s"
ip netns exec "$NS_RTR" tcpdump -i br0 -n -Z root -U -w "$WORK/demo.pcap" 2>"$WORK/tcpdump.err" &
CAP_PID=$!
for ((i = 0; i < 50; i++)); do grep -q 'listening on' "$WORK/tcpdump.err" && break; sleep 0.1; done
grep -q 'listening on' "$WORK/tcpdump.err" || die "tcpdump did not start: $(cat "$WORK/tcpdump.err")"

export WORK T0_MS; T0_MS=$(now_ms)
clients=()
for pair in "${NS_CLIENTS[0]}:laptop" "${NS_CLIENTS[1]}:phone" "${NS_CLIENTS[2]}:tv"; do
  ip netns exec "${pair%%:*}" timeout $((DURATION + 30)) bash "$SELF" --act "${pair#*:}" &
  clients+=($!)
done
for pid in "${clients[@]}"; do wait "$pid" || log "client $pid ended with $?"; done
sleep_ms $((T0_MS + DURATION * 1000 - $(now_ms)))
kill -INT "$CAP_PID"; wait "$CAP_PID" || true; CAP_PID=
cat "$WORK/tcpdump.err" >&2

[[ -s $WORK/demo.pcap ]] || die "empty capture"
if [[ -s $WORK/client-laptop.err || -s $WORK/client-phone.err || -s $WORK/client-tv.err ]]; then
  cat "$WORK"/client-*.err >&2 || true
  die "client commands did not go as planned (logs in $WORK)"
fi
# tcpdump stamps frames as different CPUs hand them over, so a few can be out of
# order by some microseconds; put them in time order (stable) for replay.
"$PY" - "$WORK/demo.pcap" "$WORK/sorted.pcap" <<'EOF'
import struct, sys
data = open(sys.argv[1], "rb").read()
end = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",
       b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}[data[:4]]
recs, off = [], 24
while off + 16 <= len(data):
    sec, frac, incl, _ = struct.unpack(end + "IIII", data[off:off + 16])
    recs.append((sec, frac, len(recs), data[off:off + 16 + incl]))
    off += 16 + incl
moved = sum(1 for a, b in zip(recs, recs[1:]) if a[:2] > b[:2])
recs.sort()
with open(sys.argv[2], "wb") as f:
    f.write(data[:24])
    f.writelines(r[3] for r in recs)
print("%d packets, %d out of time order put back" % (len(recs), moved), file=sys.stderr)
EOF
mkdir -p "$(dirname "$OUT")"
cp "$WORK/sorted.pcap" "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
log "wrote $OUT ($(stat -c %s "$OUT") bytes)"
