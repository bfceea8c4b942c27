/*
 * A TAP virtual NIC (/dev/net/tun, IFF_TAP | IFF_NO_PI) on which decrypted frames are re-emitted,
 * so that tcpdump, Wireshark, Suricata or Zeek can attach to it. The device is brought up
 * passive: no ARP (IFF_NOARP), IPv6 off, strict reverse-path filter, no address; frames are
 * written, never read. Needs CAP_NET_ADMIN.
 */
#ifndef TAPBOX_NTAP_TUN_H
#define TAPBOX_NTAP_TUN_H

#include <stddef.h>
#include <stdint.h>

struct ntap_tun {
    int fd;
    char name[16];
    uint64_t frames;
    uint64_t bytes;
    uint64_t dropped;       /* the device queue was full, or it was down */
    int last_errno;
};

/* 0, or -1 with a reason. */
int ntap_tun_open(struct ntap_tun *t, const char *name, char *err, size_t errsize);
/* Never blocks; a frame that cannot be written is counted as dropped. */
void ntap_tun_write(struct ntap_tun *t, const uint8_t *frame, uint32_t len);
void ntap_tun_close(struct ntap_tun *t);

#endif
