#!/bin/bash
# Runs every test suite of `make test` and sums their "N passed, N failed" lines.
# Suites: unit tests (ASan+UBSan), CLI/integration scripts against the real tapboxd, and the
# golden-capture comparison with nDPI's reference outputs (skipped, saying why, without
# ../shared/pcaps).
set -u
cd "$(dirname "$0")/.."
export ASAN_OPTIONS=${ASAN_OPTIONS:-exitcode=86:detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-exitcode=86:print_stacktrace=1:halt_on_error=1}
PCAPS=${TAPBOX_PCAPS:-../shared/pcaps/ndpi-4.2}

total_pass=0 total_fail=0
run_suite() {
    local name=$1; shift
    echo "== $name"
    local log; log=$(mktemp)
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local line; line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
    rm -f "$log"
    if [ -z "$line" ]; then
        echo "FAIL $name: no result line (exit $rc)"
        total_fail=$((total_fail + 1))
        return
    fi
    local p f
    p=${line%% passed*}; f=${line#*, }; f=${f%% failed}
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $name: exit $rc"
        total_fail=$((total_fail + 1))
    fi
}

run_suite layers test/check-layers.sh
run_suite unit build/asan/unit_tests
for t in test/integration/*.sh; do
    [ "$(basename "$t")" = lib.sh ] && continue # shared helpers, not a suite
    run_suite "$(basename "$t" .sh)" "$t" build/asan/tapboxd
done
run_suite ntap-vectors python3 test/ntap/vector.py --check test/unit/test_ntap_wire.c --doc docs/ntap-protocol.md
run_suite fuzz test/fuzz/run.sh 20 # nTap and DNS, 10 s each
run_suite browser python3 test/browser/ui-test.py build/asan/tapboxd
if [ -d "$PCAPS/expected" ]; then
    run_suite golden python3 test/integration/golden.py build/asan/tapboxd "$PCAPS"
    run_suite tcp-health python3 test/integration/tcp_health.py build/asan/tapboxd "$PCAPS"
else
    echo "== golden: skipped: $PCAPS not found (the real captures live outside the repo)"
fi
echo
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
