/*
 * tapbox-tap's engine: libpcap (non-blocking, immediate mode, on uv_poll) -> nTap batches ->
 * encrypted UDP datagrams to the collector, on one libuv loop. The capture always excludes our
 * own datagrams. Never reads its socket. Survives a collector that is down (sends are counted
 * and go on) and an interface that disappears or goes down (retried every second).
 */
#ifndef TAPBOX_TAP_AGENT_H
#define TAPBOX_TAP_AGENT_H

#include <stdint.h>
#include <uv.h>

#include "tap/tap_options.h"

#define TAP_FLUSH_US 1000      /* a batch waits at most this long for more packets */
#define TAP_RETRY_MS 1000      /* capture retry while the interface is missing or down */
#define TAP_RESOLVE_RETRY_MS 5000

struct tap_stats {
    uint64_t captured;        /* frames from libpcap */
    uint64_t sent_packets;    /* packet records sent */
    uint64_t datagrams;
    uint64_t bytes;           /* UDP payload bytes sent */
    uint64_t rate_limited;    /* frames dropped by --rate-limit */
    uint64_t send_errors;     /* datagrams refused by the socket (collector or route down) */
    uint64_t send_dropped;    /* datagrams dropped because the socket buffer was full */
    uint64_t kernel_drops;    /* pcap ps_drop (this capture and the ones before it) */
    uint64_t if_drops;
    uint64_t oversize;        /* datagrams above the MTU (one big frame, fragmented by IP) */
    uint64_t truncated;
    uint64_t capture_restarts;
    uint64_t not_ethernet;    /* frames of a link type we could not turn into Ethernet */
};

struct tap_agent;

/* Start on the loop (the collector is resolved, then the capture opens). NULL + err when the
 * options can never work (a bad filter is found only once the capture opens: it is logged and
 * the agent exits with status 1 through on_fatal). */
struct tap_agent *tap_agent_start(uv_loop_t *loop, const struct tap_options *o,
                                  void (*on_fatal)(void *ctx), void *ctx, char *err,
                                  size_t errsize);
/* Send what is batched, stop, free (run the loop afterwards to close the handles). */
void tap_agent_stop(struct tap_agent *a);
void tap_agent_log_stats(struct tap_agent *a);
const struct tap_stats *tap_agent_stats(struct tap_agent *a);
/* The capture filter in use ("" before the collector is resolved). */
const char *tap_agent_filter(const struct tap_agent *a);
/* Build the capture filter: the user's (may be NULL) and not our own datagrams to ADDR:PORT. */
void tap_build_filter(const char *user, const char *addr, int family, uint16_t port, char *out,
                      size_t outsize);

#endif
