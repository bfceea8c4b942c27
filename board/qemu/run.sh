#!/bin/sh
# Boot the BeagleBone SD image on QEMU's "virt" machine through the real boot
# path: Debian's u-boot-qemu as firmware, distro boot reading extlinux.conf
# from the image's FAT partition, the stage-1 initrd, the read-only root.
#
#   board/qemu/run.sh IMAGE [QEMU_ARG...]
#
# The image is not modified: QEMU runs on a copy (TAPBOX_QEMU_DISK, default
# output/qemu-disk.img for output/images/sdcard.img), remade whenever IMAGE
# is newer, and grown to 1 GiB so that the first boot grows /data as on a
# real card. /data persists in the copy across runs.
# Serial console on stdio (quit with Ctrl-A X). NICs, matched by MAC in the
# guest (board/qemu/board.conf):
#   mgmt   52:54:00:7a:00:0c  user-mode network, isolated from the outside
#                             (restrict=on); the guest's port 80 and 443 are
#                             127.0.0.1:$TAPBOX_QEMU_HTTP (8080) and +1
#   porta  52:54:00:7a:00:0a  unix datagram socket, one frame a datagram: QEMU
#   portb  52:54:00:7a:00:0b  binds RUN/porta.qemu, sends to RUN/porta.host
#                             (RUN = $TAPBOX_QEMU_RUN, default
#                             /tmp/tapbox-qemu-$USER); bind the .host path to
#                             talk to the port.
# TAPBOX_QEMU_{PORTA,PORTB,MGMT}_NETDEV replace a -netdev spec (without id=).
set -eu

[ $# -ge 1 ] || { echo "usage: $0 IMAGE [QEMU_ARG...]" >&2; exit 2; }
image=$1; shift
[ -f "$image" ] || { echo "run.sh: no image $image (run 'make image')" >&2; exit 1; }
firmware=${TAPBOX_QEMU_BIOS:-/usr/lib/u-boot/qemu_arm/u-boot.bin}
[ -f "$firmware" ] || { echo "run.sh: no $firmware (apt-get install u-boot-qemu)" >&2; exit 1; }

disk=${TAPBOX_QEMU_DISK:-$(dirname "$(dirname "$image")")/qemu-disk.img}
if [ ! -f "$disk" ] || [ -n "$(find "$image" -newer "$disk")" ]; then
	cp --sparse=always "$image" "$disk"
	truncate -s 1G "$disk"
fi

run=${TAPBOX_QEMU_RUN:-/tmp/tapbox-qemu-${USER:-$(id -un)}}
mkdir -p "$run"
rm -f "$run/porta.qemu" "$run/portb.qemu"
http=${TAPBOX_QEMU_HTTP:-8080}

wire() { # the default netdev of a wire port: a unix datagram socket pair
	echo "dgram,local.type=unix,local.path=$run/$1.qemu,remote.type=unix,remote.path=$run/$1.host"
}
porta=${TAPBOX_QEMU_PORTA_NETDEV:-$(wire porta)}
portb=${TAPBOX_QEMU_PORTB_NETDEV:-$(wire portb)}
mgmt=${TAPBOX_QEMU_MGMT_NETDEV:-user,restrict=on,hostfwd=tcp:127.0.0.1:$http-:80,hostfwd=tcp:127.0.0.1:$((http + 1))-:443}
# No offloads towards the guest: frames reach the ports exactly as sent, as
# on a real wire (no merged GRO super-frames, no unfinished checksums).
nooffload=guest_csum=off,guest_tso4=off,guest_tso6=off,guest_ecn=off,guest_ufo=off

# virt refuses a Cortex-A8 CPU; the A15 runs the same armhf code (the
# A8-only pitfalls, unaligned loads and sdiv, are not caught here).
exec qemu-system-arm -M virt,highmem=off -cpu cortex-a15 -m "${TAPBOX_QEMU_MEM:-256}" \
	-nographic -no-reboot \
	-bios "$firmware" \
	-drive "if=none,file=$disk,format=raw,id=sd" -device virtio-blk-device,drive=sd \
	-netdev "$mgmt,id=mgmt" -device virtio-net-device,netdev=mgmt,mac=52:54:00:7a:00:0c \
	-netdev "$porta,id=porta" -device "virtio-net-device,netdev=porta,mac=52:54:00:7a:00:0a,$nooffload" \
	-netdev "$portb,id=portb" -device "virtio-net-device,netdev=portb,mac=52:54:00:7a:00:0b,$nooffload" \
	"$@"
