#!/bin/sh
# make qemu-test: boot the built SD image in QEMU and test it from the outside
# (wire ports, console, tapboxd's flows and their history across a clean
# power-off and a power cut). See harness.py for the checks.
#
#   test/qemu/run-test.sh [IMAGE]     (default output/images/sdcard.img)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
image=${1:-$here/../../output/images/sdcard.img}
for t in qemu-system-arm python3; do
	command -v "$t" >/dev/null || { echo "run-test.sh: missing $t (run 'make deps')" >&2; exit 1; }
done
# A hard limit so that a hung guest cannot eat the CI budget: about 4 times a
# normal run (four boots, about 2 minutes here).
exec timeout --kill-after=10 "${TAPBOX_TEST_TIMEOUT:-480}" python3 "$here/harness.py" "$image"
