/*
 * The nTap collector: a uv_udp socket on the loop that receives encrypted datagrams from remote
 * taps (tapbox-tap), and feeds each tap's packets to the flow engine as its own source, named
 * "ntap:TAPID@ADDR" (kind "ntap", link type Ethernet). Nothing is ever sent back. Optionally
 * re-emits every decrypted frame on a TAP virtual NIC. Loop thread only.
 *
 * In tapboxd: `-i ntap:PORT:PASSPHRASE` (passphrase mode) or `-i ntap:PORT` (public-key mode:
 * the key pair lives in the data dir, made on first start; its public key is logged).
 */
#ifndef TAPBOX_NTAP_COLLECTOR_H
#define TAPBOX_NTAP_COLLECTOR_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "flow/engine.h"
#include "ntap/ntap_rx.h"

#define NTAP_DEFAULT_DATA_DIR "/data" /* the box's settings partition */
#define NTAP_TAP_SILENT_S 5 /* a tap heard from less recently than this shows as "waiting" */

struct ntap_options {
    uint16_t port;
    const char *bind_address;  /* NULL: every address, IPv6 and IPv4 */
    const char *passphrase;    /* passphrase mode; NULL: public-key mode */
    const char *data_dir;      /* public-key mode: where ntap.key lives; NULL: the default */
    unsigned max_taps;         /* 0: NTAP_DEFAULT_MAX_TAPS (64) */
    unsigned max_handshakes_per_s; /* 0: the default (64) */
    const char *tun_name;      /* re-emit on this TAP device; NULL: none */
    size_t recv_buffer;        /* socket receive buffer in bytes; 0: 4 MiB */
};

void ntap_options_init(struct ntap_options *o);
/* True when an input spec is for nTap ("ntap:..."). */
bool ntap_spec_is(const char *spec);
/* Parse "ntap:PORT" or "ntap:PORT:PASSPHRASE" (everything after the second colon is the
 * passphrase) into o->port and o->passphrase (which points into spec). 0, or -1 with a reason
 * (which never repeats the passphrase). */
int ntap_spec_parse(const char *spec, struct ntap_options *o, char *err, size_t errsize);

struct ntap_collector;

/* Open the socket (and the TAP device) and start receiving. In passphrase mode this derives the
 * key first (Argon2id: ~0.1 s, about 1 s on the BeagleBone; call it before the loop runs).
 * Returns NULL with a reason in err. */
struct ntap_collector *ntap_collector_open(uv_loop_t *loop, struct engine *e,
                                           const struct ntap_options *o, char *err,
                                           size_t errsize);
/* Stop and free (the handles close asynchronously; run the loop to finish). */
void ntap_collector_close(struct ntap_collector *c);
/* Once a second, from the daemon's schedule: each tap's state (silent or back) and drops, the
 * socket's drop count, and once a minute a log line of refused datagrams by reason. */
void ntap_collector_tick(struct ntap_collector *c);

/* The public key (64 hex digits) in public-key mode, "" in passphrase mode. */
const char *ntap_collector_public_key(const struct ntap_collector *c);
uint16_t ntap_collector_port(const struct ntap_collector *c);
/* Taps, their counters (struct ntap_tap: stats, status, address) and the totals. */
unsigned ntap_collector_tap_count(const struct ntap_collector *c);
const struct ntap_tap *ntap_collector_tap(const struct ntap_collector *c, unsigned i);
const struct ntap_rx_totals *ntap_collector_totals(const struct ntap_collector *c);
/* Datagrams the kernel dropped on our socket (receive buffer full). */
uint64_t ntap_collector_socket_drops(const struct ntap_collector *c);
/* Everything above as JSON (for --stats-out and the REST API). */
cJSON *ntap_collector_stats_json(const struct ntap_collector *c);
/* One log line per tap and one for the totals. */
void ntap_collector_log_stats(const struct ntap_collector *c);

#endif
