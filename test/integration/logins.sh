#!/bin/bash
# logins.sh TAPBOXD - login limits of a real tapboxd under attack (issue 16, item 2): wrong logins
# from rotating loopback addresses (127.0.0.10-250) must not keep the admin out; a burst from one
# address gets no more guesses than the limit; a viewer's own login does not wash away its
# guesses at the admin; failures from many other addresses do not evict a pause; every refusal
# is counted in the status API. The attack itself is test/integration/logins_attack.py.
source "$(dirname "$0")/lib.sh" "$@"

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PCAP=$REPO/rootfs/usr/share/tapbox/demo.pcap

tbx_bg logins - -i "$PCAP" --replay=realtime --loop -d "$T/data" --http-port=3000 --https-port=0
if ! wait_grep "HTTP on \* port 3000" "$T/logins.err" 20; then
    fail "start: tapboxd listens" "$(lib_why "$T/logins.err")"
    finish
    exit 1
fi
pass "start: tapboxd listens"

# Each line of the attack script is "PASS name" or "FAIL name: why"; 150 s bound for all of it.
while IFS= read -r line; do
    case $line in
    PASS\ *) pass "${line#PASS }" ;;
    FAIL\ *) name=${line#FAIL }; fail "${name%%: *}" "${name#*: }" ;;
    esac
done < <(timeout 150 ip netns exec "$LIB_BOX_NS" python3 "$REPO/test/integration/logins_attack.py" \
    http://127.0.0.1:3000 2>&1 || echo "FAIL attack script: ended with status $?")
kill "$BG_PID" 2>/dev/null
tbx_wait_exit "$BG_PID" logins 20
finish
