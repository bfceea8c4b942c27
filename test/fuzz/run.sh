#!/bin/bash
# test/fuzz/run.sh [SECONDS] [JOBS]: build the fuzzers with clang's libFuzzer (Debian packages:
# clang-14 and libclang-rt-14-dev) and run them for SECONDS in all (default 60), split between
# the nTap datagram parser (test/fuzz/ntap_fuzz.c, the larger half) and the DNS decoder with the
# name table (test/fuzz/dns_fuzz.c). Seed corpora in build/fuzz/{ntap,dns}-corpus (kept between
# runs; the DNS seeds come from the real captures in TAPBOX_PCAPS, default
# ../shared/pcaps/ndpi-4.2, when present, plus crafted ones). Crashes land in build/fuzz/.
# Without clang it builds the corpus replayers with cc instead and replays each corpus once.
# Prints "ok   NAME" / "FAIL NAME: why" and "N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
SECS=${1:-60}
JOBS=${2:-1}
OUT=build/fuzz
PCAPS=${TAPBOX_PCAPS:-../shared/pcaps/ndpi-4.2}
CORPUS=$OUT/ntap-corpus
DNS_CORPUS=$OUT/dns-corpus
mkdir -p "$CORPUS" "$DNS_CORPUS"
NTAP_SRCS="test/fuzz/ntap_fuzz.c src/ntap/ntap_wire.c src/ntap/ntap_rx.c src/ntap/ntap_replay.c src/ntap/ntap_crypto.c"
DNS_SRCS="test/fuzz/dns_fuzz.c src/decode/dns.c src/flow/name_table.c src/flow/host_table.c src/core/huge_alloc.c"
FLAGS="-std=c11 -Isrc -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter"
DNS_SECS=$((SECS / 2))
NTAP_SECS=$((SECS - DNS_SECS))
[ "$DNS_SECS" -ge 1 ] || DNS_SECS=1

python3 - "$CORPUS" <<'PY'
import os, struct, sys
d = sys.argv[1]
psk = bytes.fromhex(
    "6e5401000a0b0c0d655f1a00123456780000000000000007593c22acce54b1c32525c849acceb23d"
    "b1b7fd6d3c6e2b45d4c794a5a3d02f2ba8fa83ccfc04eb0e967b6c2a0344708918946a64fc7e15ec"
    "9e7d5728827d2ede466d3e805d02ca227b7f8ddb970fef1d7576fcd8f8bb0a22f9dd3d2d")
pk = bytes.fromhex(
    "6e5401030a0b0c0d655f1a001234567800000000000000077dde4ebc7e6bb3293a4643423b22ca4d"
    "f3542b90c1779230bd777a9ee6d3d92f2d07a2c63ca895e4b24ccc7583f5efc1bce6d27719514aba"
    "636356ecc51afeed8620e86583f6bfafb422a4a7fdf5a0ff8ce6fb4d613da908cfe435ff912aa1f9"
    "e77c7fa38dc1627ab919d9c696e4d0605932c0bf3b6660e866e52694")
frame = bytes(range(60))
pkt = bytes([1, 1]) + struct.pack(">HIQ", 72, 60, 1700000000123456789) + frame
status = bytes([2, 0]) + struct.pack(">H", 48 + 7) + struct.pack(">6Q", 1, 2, 3, 4, 5, 6) + b"vm/eth0"
unknown = bytes([9, 0, 0, 3]) + b"abc"
def step(kind, body):
    return bytes([kind]) + struct.pack(">H", len(body)) + body
def sealed(tap, sess, seq, plain):
    return step(1, bytes([tap, sess]) + struct.pack(">H", seq) + plain)
seeds = {
    "psk-vector": b"\x00" + psk,
    "pk-vector": b"\x01" + pk,
    "session": b"\x02" + sealed(1, 1, 0, pkt + status) + sealed(1, 1, 2, pkt * 3) +
               sealed(1, 1, 1, unknown + pkt) + sealed(1, 1, 1, pkt) + step(0, psk) +
               sealed(2, 1, 9, b"") + sealed(1, 2, 0, pkt) + sealed(1, 0, 5, pkt),
    "taps": b"\x02" + b"".join(sealed(t, 0, 0, pkt) for t in range(8)),
}
for name, data in seeds.items():
    open(os.path.join(d, "seed-" + name), "wb").write(data)
PY

# DNS seeds: every DNS message (UDP or TCP port 53) of the captures whose names say DNS, each
# as a response/query (mode 0) and, for responses, through the name table (mode 3 and up), and
# TCP-framed (mode 1); then crafted ones for what real captures rarely hold.
python3 - "$DNS_CORPUS" "$PCAPS" <<'PY'
import glob, os, struct, sys
out, pcaps = sys.argv[1], sys.argv[2]

def frames(path):
    b = open(path, "rb").read()
    e = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">"}.get(b[:4])
    if not e or len(b) < 24:
        return
    linktype = struct.unpack(e + "I", b[20:24])[0]
    off = 24
    while off + 16 <= len(b):
        caplen = struct.unpack(e + "I", b[off + 8:off + 12])[0]
        off += 16
        yield linktype, b[off:off + caplen]
        off += caplen

def dns_payloads(path):
    for linktype, f in frames(path):
        try:
            if linktype == 1:      # Ethernet, VLAN tags skipped
                i, et = 14, struct.unpack(">H", f[12:14])[0]
                while et in (0x8100, 0x88A8):
                    et, i = struct.unpack(">H", f[i + 2:i + 4])[0], i + 4
            elif linktype in (12, 101):
                i, et = 0, 0x0800 if f[0] >> 4 == 4 else 0x86DD
            else:
                continue
            if et == 0x0800:
                if struct.unpack(">H", f[i + 6:i + 8])[0] & 0x3FFF:
                    continue       # a fragment
                proto, l4, end = f[i + 9], i + (f[i] & 15) * 4, i + struct.unpack(">H", f[i + 2:i + 4])[0]
            elif et == 0x86DD:
                proto, l4 = f[i + 6], i + 40
                end = l4 + struct.unpack(">H", f[i + 4:i + 6])[0]
            else:
                continue
            sport, dport = struct.unpack(">HH", f[l4:l4 + 4])
            if 53 not in (sport, dport) and 5353 not in (sport, dport):
                continue
            if proto == 17:
                yield 0, f[l4 + 8:end]
            elif proto == 6 and end > l4 + (f[l4 + 12] >> 4) * 4:
                yield 1, f[l4 + (f[l4 + 12] >> 4) * 4:end]
        except (IndexError, struct.error):
            continue

seeds = {}
for path in sorted(glob.glob(os.path.join(pcaps, "*dns*.pcap"))):
    for n, (mode, msg) in enumerate(dns_payloads(path)):
        if n >= 40 or len(msg) < 12:
            continue
        base = os.path.basename(path).rsplit(".", 1)[0]
        seeds[f"{base}-{n}"] = bytes([mode]) + msg
        if mode == 0 and msg[2] & 0x80:
            seeds[f"{base}-{n}-learn"] = bytes([200]) + msg
            seeds[f"{base}-{n}-tcp"] = bytes([1]) + struct.pack(">H", len(msg)) + msg

def name(text):
    return b"".join(bytes([len(l)]) + l for l in text.encode().split(b".") if l) + b"\0"
def header(flags, qd, an):
    return struct.pack(">6H", 0x1234, flags, qd, an, 0, 0)
def rr(rtype, ttl, rdata, owner=b"\xc0\x0c"):
    return owner + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata
q = name("www.example.com") + struct.pack(">HH", 1, 1)
seeds.update({
    "cname-a": b"\x03" + header(0x8180, 1, 2) + q + rr(5, 300, b"\x04edge\xc0\x10") +
               rr(1, 60, bytes([192, 0, 2, 1]), b"\xc0\x21"),
    "aaaa": b"\x04" + header(0x8180, 1, 1) + q + rr(28, 60, bytes(range(16))),
    "self-pointer": b"\x00" + header(0x8180, 1, 1) + q + b"\xc0\x21",
    "pointer-loop": b"\x00" + header(0x8180, 1, 1) + q + b"\xc0\x23\xc0\x21",
    "label-64": b"\x00" + header(0x8180, 1, 0) + b"\x40" + b"x" * 64 + b"\0\0\1\0\1",
    "ttl-max": b"\x05" + header(0x8180, 1, 1) + q + rr(1, 0xFFFFFFFF, b"\1\2\3\4"),
    "rdlength-5": b"\x00" + header(0x8180, 1, 1) + q + rr(1, 60, b"\1\2\3\4\5"),
    "escapes": b"\x00" + header(0x8180, 1, 1) + b"\x08<script>\x03a\0\x01\0\0\1\0\1" +
               rr(1, 60, b"\1\2\3\4"),
    "mdns": b"\x06" + header(0x8400, 0, 1) + rr(1, 120, b"\xc0\xa8\1\5", name("printer.local")),
    "nxdomain": b"\x00" + header(0x8183, 1, 0) + q,
    "query": b"\x00" + header(0x0100, 1, 0) + q,
    "tcp": b"\x01" + struct.pack(">H", 12 + len(q)) + header(0x8180, 1, 0) + q,
    "text": b"\x02WWW.<Example>.com.",
})
for n, data in seeds.items():
    open(os.path.join(out, "seed-" + n), "wb").write(data)
PY

have_libfuzzer() {
    command -v clang >/dev/null || return 1
    echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }' >"$OUT/probe.c"
    clang -fsanitize=fuzzer "$OUT/probe.c" -o "$OUT/probe" 2>/dev/null
}

passed=0 failed=0
pass() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

# fuzz NAME SECONDS CORPUS SRCS LIBS: build with libFuzzer and run, or replay without clang.
fuzz() {
    local name=$1 secs=$2 corpus=$3 srcs=$4 libs=$5
    local macro; macro=$(echo "$name" | tr a-z A-Z)_FUZZ_MAIN
    if [ "$have_clang" = 1 ]; then
        # shellcheck disable=SC2086
        if ! clang $FLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined $srcs \
            $libs -o "$OUT/${name}_fuzz"; then
            fail "${name}_fuzz_build"
            return
        fi
        pass "${name}_fuzz_build"
        if [ "$JOBS" -gt 1 ]; then # libFuzzer writes fuzz-N.log into the current directory
            (cd "$OUT" && "./${name}_fuzz" -max_total_time="$secs" -jobs="$JOBS" -workers="$JOBS" \
                -max_len=4096 -artifact_prefix=./ "$(basename "$corpus")") >"$OUT/${name}_fuzz.log" 2>&1
        else
            "$OUT/${name}_fuzz" -max_total_time="$secs" -max_len=4096 -artifact_prefix="$OUT/" \
                "$corpus" >"$OUT/${name}_fuzz.log" 2>&1
        fi
        local rc=$?
        tail -n 3 "$OUT/${name}_fuzz.log" | sed 's/^/# /'
        if [ $rc = 0 ]; then
            pass "${name}_fuzz_${secs}s ($(ls "$corpus" | wc -l) corpus inputs)"
        else
            fail "${name}_fuzz_${secs}s: exit $rc, see $OUT/${name}_fuzz.log and $OUT/crash-*"
        fi
    else
        # shellcheck disable=SC2086
        if ! ${CC:-cc} $FLAGS -D"$macro" -fsanitize=address,undefined $srcs $libs \
            -o "$OUT/${name}_fuzz_replay"; then
            fail "${name}_replay_build"
            return
        fi
        if "$OUT/${name}_fuzz_replay" "$corpus"/*; then
            pass "${name}_corpus_replay (no clang: install clang-14 and libclang-rt-14-dev to fuzz)"
        else
            fail "${name}_corpus_replay"
        fi
    fi
}

have_clang=0
have_libfuzzer && have_clang=1
fuzz ntap "$NTAP_SECS" "$CORPUS" "$NTAP_SRCS" "$(pkg-config --cflags --libs libsodium)"
fuzz dns "$DNS_SECS" "$DNS_CORPUS" "$DNS_SRCS" ""
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
