/*
 * The receiving half of nTap, without I/O: one datagram in, its packets out through a callback,
 * or a drop reason counted. Holds the taps (a capped table, never shrinking: each tap becomes a
 * permanent engine source) and, per tap, its current session, key, replay window, loss and the
 * tap's own reported status. The collector (ntap_collector.c) wraps it with a uv_udp socket;
 * tests, the fuzzer and the benchmark call it directly.
 *
 * Order of checks, cheapest first, and nothing is remembered about a datagram that has not
 * authenticated: header -> mode -> tap/session lookup -> replay window -> decrypt -> records.
 */
#ifndef TAPBOX_NTAP_RX_H
#define TAPBOX_NTAP_RX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ntap/ntap_replay.h"
#include "ntap/ntap_wire.h"

#define NTAP_DEFAULT_MAX_TAPS 64
#define NTAP_DEFAULT_HANDSHAKES_PER_S 64
#define NTAP_MAX_TAPS_LIMIT 65536
/* A tap clock further than this from ours is corrected by an offset (per tap). */
#define NTAP_CLOCK_SLACK_US (1000000ll)

struct ntap_rx_config {
    bool pubkey_mode;
    uint8_t psk_master[32];   /* passphrase mode */
    uint8_t pk[32], sk[32];   /* public-key mode: the collector's key pair */
    unsigned max_taps;        /* 0: NTAP_DEFAULT_MAX_TAPS */
    unsigned max_handshakes_per_s; /* public-key mode, X25519 per second; 0: default */
};

struct ntap_tap_stats {
    uint64_t datagrams;       /* authenticated and accounted */
    uint64_t wire_bytes;      /* their UDP payload bytes */
    uint64_t packets;         /* inner packets */
    uint64_t bytes;           /* inner packets' original lengths */
    uint64_t lost;            /* sequence numbers never received (current and past sessions) */
    uint64_t reordered;
    uint64_t sessions;
    uint64_t clock_corrections;
    uint64_t drops[NTAP_DROP_COUNT]; /* datagrams naming this tap, refused (e.g. replayed) */
    uint64_t first_seen_us, last_seen_us;
};

struct ntap_tap {
    uint32_t tap_id;
    uint64_t session;
    uint8_t key[32];
    uint8_t ephemeral_pk[32];
    struct ntap_replay replay;
    uint64_t lost_before;     /* lost in earlier sessions */
    uint64_t reordered_before;
    struct sockaddr_storage addr;
    char addr_text[64];       /* "1.2.3.4:5678" or "[::1]:5678" */
    bool have_status;
    struct ntap_status status;
    bool clock_set;
    int64_t clock_offset_us;  /* added to the tap's capture times */
    struct ntap_tap_stats stats;
    int source_id;            /* the collector's: engine source, -1 before */
};

enum ntap_tap_event { NTAP_TAP_NEW, NTAP_TAP_SESSION, NTAP_TAP_MOVED, NTAP_TAP_CLOCK };

struct ntap_rx_callbacks {
    /* Every packet of an authentic datagram; ts_us is the capture time on our clock. */
    void (*packet)(void *ctx, struct ntap_tap *tap, const struct ntap_packet *p, uint64_t ts_us);
    /* A tap appeared, began a session, changed address, or its clock was re-based. May be NULL. */
    void (*event)(void *ctx, struct ntap_tap *tap, enum ntap_tap_event ev);
    /* A tap refused by the cap (first datagram of each refused id at most once a second).
     * May be NULL. */
    void (*refused)(void *ctx, uint32_t tap_id, const char *addr);
};

struct ntap_rx_totals {
    uint64_t datagrams;       /* every datagram offered */
    uint64_t accepted;
    uint64_t packets;
    uint64_t bytes;
    uint64_t drops[NTAP_DROP_COUNT];
    uint64_t handshakes;      /* X25519 computed (public-key mode) */
};

struct ntap_rx;

struct ntap_rx *ntap_rx_create(const struct ntap_rx_config *c, const struct ntap_rx_callbacks *cb,
                               void *ctx, char *err, size_t errsize);
void ntap_rx_destroy(struct ntap_rx *rx);
/* One datagram received at now_us (wall clock, µs) from `from` (may be NULL). */
enum ntap_drop ntap_rx_datagram(struct ntap_rx *rx, const uint8_t *data, size_t len,
                                const struct sockaddr *from, uint64_t now_us);

const struct ntap_rx_totals *ntap_rx_totals(const struct ntap_rx *rx);
unsigned ntap_rx_tap_count(const struct ntap_rx *rx);
unsigned ntap_rx_max_taps(const struct ntap_rx *rx);
struct ntap_tap *ntap_rx_tap(struct ntap_rx *rx, unsigned i);
struct ntap_tap *ntap_rx_find(struct ntap_rx *rx, uint32_t tap_id);
/* Lost datagrams of a tap over all its sessions. */
uint64_t ntap_tap_lost(const struct ntap_tap *t);

void ntap_sockaddr_text(const struct sockaddr *sa, char *out, size_t outsize);

#endif
