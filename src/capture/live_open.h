/*
 * Opening a live capture handle the one way tapbox does it: immediate mode (no buffering delay),
 * a kernel buffer of the given size, promiscuous when asked, and one wording for an interface
 * that is not there yet. Used by live sources, the wire ports, the pcap download and the tap
 * agent; each then sets its own direction, filter and polling.
 */
#ifndef TAPBOX_LIVE_OPEN_H
#define TAPBOX_LIVE_OPEN_H

#include <pcap/pcap.h>
#include <stdbool.h>
#include <stddef.h>

struct live_open {
    const char *ifname;
    int snaplen;
    int buffer_bytes;
    bool promisc;
    bool nano;          /* ask for nanosecond timestamps (kept only if the kernel gives them) */
};

/* The activated handle (an activation warning is logged), or NULL with the reason in err and
 * *missing set when the interface does not exist or is down (worth retrying). */
pcap_t *live_open(const struct live_open *o, bool *missing, char *err, size_t errsize);

#endif
