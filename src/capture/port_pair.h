/*
 * The two wire ports of the box as one logical source: `inline:A,B` (tapboxd forwards every
 * frame between them itself and applies the flows' policy verdicts), `bridge:A,B` (the kernel
 * bridges them; tapboxd captures both passively) and `tap:A,B` (two passive ports, e.g. the two
 * halves of a hardware tap, stitched into one view). Frames are accounted with the side they came
 * from; forwarding uses a bounded queue per direction and batched sends.
 *
 * Loop thread only: the ports, their queues, counters and mirrors are touched by nothing else.
 */
#ifndef TAPBOX_PORT_PAIR_H
#define TAPBOX_PORT_PAIR_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "flow/engine.h"

struct bypass;
struct pcap_pkthdr;

enum port_mode { PORT_MODE_INLINE, PORT_MODE_BRIDGE, PORT_MODE_TAP };

#define PORT_SIDE_NAME 16      /* a side's name ("lan"), with its NUL */
#define PORT_QUEUE_DEFAULT 1024 /* frames waiting per direction when the other port is busy */

struct port_pair_options {
    enum port_mode mode;
    char ifname[2][IFNAMSIZ];
    char name[2][PORT_SIDE_NAME]; /* the sides' names ("lan", "wan"); default the ifnames */
    const char *bpf;                /* bridge and tap modes only: inline forwards everything */
    const char *bridge;             /* bridge mode: the kernel bridge to create or use */
    unsigned queue_frames;          /* per direction */
    struct bypass *bypass;          /* may be NULL (no relay): asked before each forward */
};

/* Per port; "tx" counts frames sent out of this port (received on the other one). */
struct port_counters {
    uint64_t rx_packets, rx_bytes;
    uint64_t tx_packets, tx_bytes;
    uint64_t queue_drops;     /* the queue towards this port was full */
    uint64_t tx_errors;       /* the kernel refused a frame (queue full, link down) */
    uint64_t oversize;        /* received frames bigger than the other port can send */
    uint64_t policy_drops, policy_drop_bytes; /* received here, dropped by a policy verdict */
    uint64_t bypassed;        /* received while the relay carried the link: not forwarded */
    uint64_t kernel_drops;    /* capture buffer overruns (pcap_stats) */
    uint64_t reopens;         /* times the port came back after going down */
};

struct port_status {
    char ifname[IFNAMSIZ];
    char name[PORT_SIDE_NAME];
    bool up;                  /* open and forwarding/capturing */
    int mtu;
    char last_error[200];
    unsigned queue_len, queue_cap;
    double rx_pps, rx_bps, tx_pps, tx_bps; /* over the last second */
    struct port_counters c;
};

/* "inline:A,B" / "bridge:A,B" / "tap:A,B". */
bool port_spec_is(const char *spec);
int port_spec_parse(const char *spec, enum port_mode *mode, char a[IFNAMSIZ], char b[IFNAMSIZ],
                    char *err, size_t errsize);
const char *port_mode_name(enum port_mode m);

struct port_pair;

/* Open both ports and start. Errors that no retry can fix (an address on an inline port,
 * offloads that cannot be turned off, a bad filter) return NULL with a reason; a missing or down
 * port is not an error: it is retried every second (port_pair_tick) while the bypass stays engaged. */
struct port_pair *port_pair_open(uv_loop_t *loop, struct engine *e,
                                 const struct port_pair_options *o, char *err, size_t errsize);
/* Stop, restore the ports' offloads and free (handles close asynchronously). */
void port_pair_close(struct port_pair *pp);
enum port_mode port_pair_mode(const struct port_pair *pp);
void port_pair_status(const struct port_pair *pp, int side, struct port_status *out);
/* Both ports open and up: what the bypass needs before it lets the link go through us. */
bool port_pair_ready(const struct port_pair *pp);
/* At a clean stop: keep forwarding while the relay switches to bypass (until close). */
void port_pair_keep_forwarding(struct port_pair *pp);
int port_pair_set_filter(struct port_pair *pp, const char *bpf, char *err, size_t errsize);
/* The engine's source index of the pair ("inline:A,B"...). */
int port_pair_source(const struct port_pair *pp);
/* The name of side 0 or 1 (--port-names, else the interface): each flow's client_side. */
const char *port_pair_side_name(const struct port_pair *pp, int side);
/* Once a second, from the daemon's schedule: rates, drops, MTU changes, reopening a port that
 * went away or down, and the readiness the bypass follows. */
void port_pair_tick(struct port_pair *pp);

/*
 * Mirrors (the live pcap download): fn sees every frame received on either port, once, as
 * captured (inbound only, so frames tapboxd forwards out of a port are not seen again there),
 * before the flow engine and the policy verdict: policy-dropped and bypassed frames are in it
 * too (bridge and tap modes: those that pass -B, the ports' own filter). side is 0 or 1; h and
 * frame are valid during the call only. fn may remove its own or any other mirror from inside
 * the call. When the pair closes, each mirror still registered gets one last call with side
 * PORT_MIRROR_CLOSED and h, frame NULL; its handle is then already gone (do not remove it).
 * Loop thread only.
 */
#define PORT_PAIR_MIRRORS 4
#define PORT_MIRROR_CLOSED (-1)
typedef void (*port_mirror_fn)(void *ctx, int side, const struct pcap_pkthdr *h,
                               const uint8_t *frame);
/* A handle (>= 0), or -1 when all PORT_PAIR_MIRRORS are taken or the pair is closing. */
int port_pair_add_mirror(struct port_pair *pp, port_mirror_fn fn, void *ctx);
void port_pair_remove_mirror(struct port_pair *pp, int handle);

#endif
