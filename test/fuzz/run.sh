#!/bin/bash
# test/fuzz/run.sh [SECONDS] [JOBS]: build the nTap datagram-parser fuzzer with clang's libFuzzer
# (Debian packages: clang-14 and libclang-rt-14-dev) and run it for SECONDS (default 60) from a
# seed corpus in build/fuzz/ntap-corpus (kept between runs). Crashes land in build/fuzz/.
# Without clang it builds the corpus replayer with cc instead and replays the corpus once.
# Prints "ok   NAME" / "FAIL NAME: why" and "N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
SECS=${1:-60}
JOBS=${2:-1}
OUT=build/fuzz
CORPUS=$OUT/ntap-corpus
mkdir -p "$CORPUS"
SRCS="test/fuzz/ntap_fuzz.c src/ntap/ntap_wire.c src/ntap/ntap_rx.c src/ntap/ntap_replay.c src/ntap/ntap_crypto.c"
FLAGS="-std=c11 -Isrc -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter"

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

have_libfuzzer() {
    command -v clang >/dev/null || return 1
    echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }' >"$OUT/probe.c"
    clang -fsanitize=fuzzer "$OUT/probe.c" -o "$OUT/probe" 2>/dev/null
}
if have_libfuzzer; then
    # shellcheck disable=SC2046,SC2086
    clang $FLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined $SRCS \
        $(pkg-config --cflags --libs libsodium) -o "$OUT/ntap_fuzz" || { echo "FAIL fuzz_build"; echo "0 passed, 1 failed"; exit 1; }
    echo "ok   fuzz_build"
    if [ "$JOBS" -gt 1 ]; then # libFuzzer writes fuzz-N.log into the current directory
        (cd "$OUT" && ./ntap_fuzz -max_total_time="$SECS" -jobs="$JOBS" -workers="$JOBS" \
            -max_len=4096 -artifact_prefix=./ ntap-corpus) >"$OUT/ntap_fuzz.log" 2>&1
    else
        "$OUT/ntap_fuzz" -max_total_time="$SECS" -max_len=4096 -artifact_prefix="$OUT/" \
            "$CORPUS" >"$OUT/ntap_fuzz.log" 2>&1
    fi
    rc=$?
    tail -n 3 "$OUT/ntap_fuzz.log" | sed 's/^/# /'
    if [ $rc = 0 ]; then
        echo "ok   fuzz_${SECS}s ($(ls "$CORPUS" | wc -l) corpus inputs)"
        echo "2 passed, 0 failed"
    else
        echo "FAIL fuzz_${SECS}s: exit $rc, see $OUT/ntap_fuzz.log and $OUT/crash-*"
        echo "1 passed, 1 failed"
        exit 1
    fi
else
    # shellcheck disable=SC2046,SC2086
    ${CC:-cc} $FLAGS -DNTAP_FUZZ_MAIN -fsanitize=address,undefined $SRCS \
        $(pkg-config --cflags --libs libsodium) -o "$OUT/ntap_fuzz_replay" || { echo "FAIL replay_build"; echo "0 passed, 1 failed"; exit 1; }
    if "$OUT/ntap_fuzz_replay" "$CORPUS"/*; then
        echo "ok   corpus_replay (no clang: install clang-14 and libclang-rt-14-dev to fuzz)"
        echo "1 passed, 0 failed"
    else
        echo "FAIL corpus_replay"
        echo "0 passed, 1 failed"
        exit 1
    fi
fi
