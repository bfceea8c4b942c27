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

/*
 * A live capture that cannot start or stops is retried on a timer (an interface that is not
 * there yet, a USB NIC re-enumerating). Its log says so once per outage and again only when the
 * reason changes, not at every retry.
 */
#define LIVE_RETRY_REASON 320
struct live_retry {
    char reason[LIVE_RETRY_REASON]; /* "" while the capture works */
};
/* A failure: true when it is worth a log line (the first of an outage, or a new reason). */
bool live_retry_failed(struct live_retry *r, const char *why);
/* The capture works again: the next failure starts a new outage. */
void live_retry_recovered(struct live_retry *r);

#endif
