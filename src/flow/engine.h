/*
 * The flow engine: packets in, flows, hosts, L7 and counters out. It knows sources only by id.
 * Everything here belongs to the loop thread; other threads get copies (see query.h).
 */
#ifndef TAPBOX_ENGINE_H
#define TAPBOX_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decode/decode.h"
#include "flow/flow_table.h"
#include "flow/host_table.h"
#include "flow/l7.h"
#include "flow/string_pool.h"
#include "flow/name_table.h"
#include "flow/oui.h"
#include "decode/dns.h"
#include "core/netlist.h"

#define ENGINE_MAX_SOURCES 256
#define ENGINE_SOURCE_NAME 96
#define ENGINE_NO_PORT 0xff  /* a packet from a single-port source */

struct policy_set;

struct engine_config {
    size_t max_flows;
    size_t max_hosts;
    size_t max_dpi_flows;            /* flows holding nDPI state at once (~1 KiB each) */
    size_t max_strings;              /* distinct names, fingerprints, URLs... kept at once */
    size_t max_names;                /* addresses with a name (DNS answers, SNI...) at once */
    const char *oui_file;            /* MAC vendors (Wireshark's manuf), NULL or "": none */
    size_t max_string_bytes;
    /* After the protocol is known nDPI may want more packets (a certificate, an HTTP response)
     * to refine it; this many at most. It costs as much CPU per packet as detection. */
    uint8_t dpi_extra_packets;
    struct netlist local_networks;
    uint64_t idle_timeout_us[FLOW_TIMEOUT_CLASSES];
    uint64_t host_idle_timeout_us;
    struct l7_files ndpi_files;      /* read at start: extra rules, threat lists (NULL: none) */
};

void engine_config_defaults(struct engine_config *c);

/* Counters kept for each source and for the whole box. */
struct traffic_counters {
    uint64_t packets;
    uint64_t bytes;            /* frame length on the wire */
    uint64_t ip_packets;
    uint64_t not_ip;           /* ARP, LLDP...: fine, just not flows */
    uint64_t malformed;        /* sum of malformed_by_reason */
    uint64_t malformed_by_reason[DECODE_STATUS_COUNT];
    uint64_t unaccounted;      /* decoded but refused by the flow cap */
    uint64_t flows;            /* flows begun by a frame of this source (of any, in totals) */
    /* Per-second rates, updated once a second of engine time. */
    double packets_per_s;
    double bits_per_s;
    uint64_t last_packets, last_bytes;
};

enum source_state { SOURCE_STARTING, SOURCE_UP, SOURCE_WAITING, SOURCE_DONE, SOURCE_FAILED };
const char *source_state_name(enum source_state s);

/* What the engine keeps of a source: its name and kind, its state as its owner (capture, nTap)
 * reports it through engine_source_set_*, and the traffic the engine counted from it. What a
 * source is made of (pcap handles, the sides of a port pair, taps) stays with its owner. */
struct source_info {
    char name[ENGINE_SOURCE_NAME];
    char kind[16];             /* "interface", "file", "inline", "bridge", "tap", "ntap" */
    int linktype;
    enum source_state state;
    uint64_t capture_drops;    /* frames lost before the engine saw them, as the source reports */
    uint64_t interface_drops;  /* ... and lost by the interface itself */
    char last_error[160];
    struct traffic_counters counters;
};

struct l7_counter {
    uint64_t flows;
    uint64_t packets;
    uint64_t bytes;
};

/* A host as history keeps it: an owned copy. Besides the counters, what was learned of it: its
 * name while the name table still holds one (name[0] == 0 otherwise; name_expires_us in the
 * engine's clock, which is the wall clock on a live box), and its device (has_mac). */
struct engine_host_record {
    struct host_key key;
    bool local;
    uint64_t first_us, last_us;
    uint64_t packets_sent, packets_rcvd, bytes_sent, bytes_rcvd, flows_total;
    char name[NAME_TABLE_NAME_SIZE];
    uint8_t name_source;             /* enum name_source */
    uint64_t name_expires_us;
    bool has_mac;
    uint8_t mac[6];
    uint16_t mac_changes;
    uint64_t mac_first_us, mac_last_us;
};

struct engine;
typedef void (*engine_flow_end_fn)(void *ctx, const struct engine *e, const struct flow *f);
/* A host whose counters moved since engine_take_changed_hosts is purged: its last figures. */
typedef void (*engine_host_end_fn)(void *ctx, const struct engine_host_record *r);

/* Written by engine.c only: the other modules call the functions below or read a snapshot
 * (engine_snapshot, engine_source). The struct is visible for the inline hot-path helpers. */
struct engine {
    struct engine_config config;
    struct flow_table flows;
    struct host_table hosts;
    struct l7_module *l7;
    struct string_pool strings;   /* the texts of flows' struct flow_info */
    struct name_table names;      /* address -> name, from DNS answers, SNI, HTTP Host, DHCP... */
    struct oui_table oui;         /* MAC vendors, read at start */
    /* DNS responses read for names (UDP and TCP from port 53, mDNS from 5353): decoded, and
     * those refused by the decoder per reason (dns_status). */
    uint64_t dns_responses;
    uint64_t dns_answers_learned;
    uint64_t dns_refused[DNS_STATUS_COUNT];
    struct traffic_counters totals;
    struct source_info sources[ENGINE_MAX_SOURCES];
    unsigned source_count;
    uint64_t sources_refused;
    struct l7_counter *l7_stats;  /* indexed by nDPI protocol id */
    uint16_t l7_stats_size;
    uint64_t flows_expired;
    uint64_t hosts_purged;
    /* Bumped when restored history is added to the counters: rate readers (the live series)
     * take a new baseline instead of showing the step as traffic. */
    uint32_t counters_epoch;
    uint64_t dpi_state_failures;  /* detection state could not be allocated */
    struct flow *dpi_head, *dpi_tail; /* flows in detection, least recently fed first */
    size_t dpi_count;
    uint64_t dpi_evicted;         /* detections cut short by max_dpi_flows (guessed instead) */
    uint64_t dpi_packets;         /* packets handed to nDPI */
    size_t memory_peak;           /* highest engine_memory() seen at a once-a-second check */
    struct flow *dirty_head;      /* flows with traffic not yet added to their hosts */
    uint64_t start_us;            /* engine time of the first packet or tick */
    uint64_t now_us;              /* engine time: packet time, or wall clock when live */
    uint64_t next_second_us;
    uint64_t next_host_purge_us;
    /* Inline policies (NULL: none). Not owned: the daemon swaps it on reload. */
    struct policy_set *policy;
    uint64_t policy_flows_dropped;
    engine_flow_end_fn on_flow_end;
    void *on_flow_end_ctx;
    engine_host_end_fn on_host_end;
    void *on_host_end_ctx;
#if defined(__arm__)
    uint64_t dpi_buffer[65536 / 8]; /* aligned copy of an IP packet for nDPI (Cortex-A8) */
#endif
};

/* Returns NULL with a reason in err on failure (memory, nDPI). */
struct engine *engine_create(const struct engine_config *config, char *err, size_t errsize);
/* Expires every flow (reporting it) and frees everything. */
void engine_destroy(struct engine *e);

/* Change what can change at run time (local networks, timeouts); caps stay. */
void engine_reconfigure(struct engine *e, const struct engine_config *config);

/* Register a source; returns its id, or -1 when ENGINE_MAX_SOURCES is reached (counted). The
 * source starts in SOURCE_STARTING with link type -1. */
int engine_add_source(struct engine *e, const char *name, const char *kind);

/* A source's owner reports what it knows of it. error: the new last error, "" to clear it, NULL
 * to leave it as it is. */
void engine_source_set_name(struct engine *e, unsigned id, const char *name);
void engine_source_set_linktype(struct engine *e, unsigned id, int linktype);
void engine_source_set_state(struct engine *e, unsigned id, enum source_state state,
                             const char *error);
void engine_source_set_drops(struct engine *e, unsigned id, uint64_t capture_drops,
                             uint64_t interface_drops);

/* Read side: the sources registered so far (ids 0 .. count-1), one by id (NULL if none), one by
 * name (its id, or -1). */
/* A source's counters from before a restart (history), added to its own and the box's
 * totals: packets, bytes and flows. */
void engine_restore_source_counters(struct engine *e, unsigned id, uint64_t packets,
                                    uint64_t bytes, uint64_t flows);
unsigned engine_source_count(const struct engine *e);
const struct source_info *engine_source(const struct engine *e, unsigned id);
int engine_source_find(const struct engine *e, const char *name);

/*
 * The caps and counters of the engine at one moment, by value: the one place REST, /metrics,
 * Lua and --stats-out take them from, so that each cap is listed once.
 */
enum engine_cap_id { ENGINE_CAP_FLOWS, ENGINE_CAP_HOSTS, ENGINE_CAP_SOURCES, ENGINE_CAP_DPI_FLOWS,
                     ENGINE_CAP_STRINGS, ENGINE_CAP_NAMES, ENGINE_CAP_COUNT };
struct engine_cap {
    const char *name;          /* "flows", "hosts", "sources", "dpi_flows" */
    uint64_t used, max, refused;
};
struct engine_snapshot {
    struct traffic_counters totals;
    struct engine_cap caps[ENGINE_CAP_COUNT];
    uint64_t flows_active, flows_created, flows_expired;
    uint64_t dpi_state_failures, dpi_packets;
    uint64_t hosts_active, hosts_created, hosts_purged;
    struct { uint64_t flows, hosts, ndpi, strings, names, total, peak; } memory; /* bytes */
};
void engine_snapshot(const struct engine *e, struct engine_snapshot *out);
/* The box-wide traffic counters alone (the live series samples them every second). */
const struct traffic_counters *engine_totals(const struct engine *e);
/* Changes whenever counters jump without traffic (restored from history). */
uint32_t engine_counters_epoch(const struct engine *e);

/* The nDPI module, for protocol names and ids (l7.h). */
const struct l7_module *engine_l7(const struct engine *e);
/* The name of a host's address and where it came from, or NULL (none, or expired). */
const struct name_entry *engine_host_name(const struct engine *e, const struct host *h);
/* The vendor of a MAC address, or NULL. */
const char *engine_mac_vendor(const struct engine *e, const uint8_t mac[6]);
/* Text of a string id of struct flow_info ("" for none). */
const char *engine_text(const struct engine *e, uint32_t id);

/* The per-protocol L7 counters, indexed by nDPI protocol id (size entries). */
const struct l7_counter *engine_l7_counters(const struct engine *e, uint16_t *size);

/* Account one captured frame from side `port` (0 or 1) of a port pair, or ENGINE_NO_PORT.
 * ts_us is the capture time in microseconds. Returns false when the flow's policy verdict is to
 * drop it (inline mode); frames that are not flows (ARP, malformed...) are always passed. */
bool engine_process_frame(struct engine *e, unsigned source, unsigned port, int linktype,
                          uint64_t ts_us, const uint8_t *frame, uint32_t caplen,
                          uint32_t wirelen);

/* Account one captured frame of a single-port source. */
static inline void engine_process_packet(struct engine *e, unsigned source, int linktype,
                                         uint64_t ts_us, const uint8_t *frame, uint32_t caplen,
                                         uint32_t wirelen)
{
    (void)engine_process_frame(e, source, ENGINE_NO_PORT, linktype, ts_us, frame, caplen, wirelen);
}

/*
 * What the engine makes of a frame before it touches any of its state: the decoded headers, the
 * canonical flow key and its hash. Pure, so any thread may make it (the file reader's worker
 * does, next to the read), given the engine's flow-table seed (engine_flow_seed: fixed for the
 * engine's life). d.l3 points into the frame, which must outlive it.
 */
struct engine_prepared {
    enum decode_status status;
    bool src_is_lo;
    uint32_t hash;
    struct decoded_packet d;
    struct flow_key key;
};

void engine_prepare_frame(uint64_t flow_seed, int linktype, const uint8_t *frame, uint32_t caplen,
                          uint32_t wirelen, struct engine_prepared *out);

static inline uint64_t engine_flow_seed(const struct engine *e) { return e->flows.hash_seed; }

/* One frame of a run handed to engine_process_frames; prepared may be NULL (made then). */
struct engine_frame {
    uint64_t ts_us;
    const uint8_t *data;
    uint32_t caplen;
    uint32_t wirelen;
    const struct engine_prepared *prepared;
};

/* Account a run of frames of a single-port source, in order: the same as engine_process_packet
 * for each, with the flow lookups of the frames ahead started early (see engine.c). */
void engine_process_frames(struct engine *e, unsigned source, int linktype,
                           const struct engine_frame *frames, size_t n);

/* Who hears of each flow that ends (expired, evicted or at exit): one callback, or NULL. */
void engine_set_flow_end(struct engine *e, engine_flow_end_fn fn, void *ctx);
void engine_set_host_end(struct engine *e, engine_host_end_fn fn, void *ctx);

/* Use a policy set from now on (NULL: none): every flow is decided again under it. */
void engine_set_policy(struct engine *e, struct policy_set *policy);

/* Move engine time forward (wall clock when live): updates per-second rates and purges idle
 * flows and hosts. Time never goes backwards. */
void engine_advance(struct engine *e, uint64_t now_us);

/* Bring hosts, their L7 breakdown and the idle order up to date with the flows' latest
 * packets (done once a second by engine_advance; call it before reading hosts). */
void engine_sync(struct engine *e);

/* Expire all flows now (at exit), reporting each to on_flow_end. */
void engine_expire_all(struct engine *e);
/* Expire at most max flows (at exit, in steps, so that their export can keep up). Returns how
 * many were expired. */
size_t engine_expire_some(struct engine *e, size_t max);

/* Memory held by tables and nDPI, in bytes. */
size_t engine_memory(const struct engine *e);

/* The id used for L7 statistics: the application if known, else the master. */
uint16_t engine_l7_stat_id(const struct l7_result *r);

/* History's hand-over (call after engine_sync): copies up to cap hosts whose counters moved
 * since the last call into out and clears their mark; the rest keep it for the next call. */
size_t engine_take_changed_hosts(struct engine *e, struct engine_host_record *out, size_t cap);
/* A host history knew before a restart: made with its first seen and totals (unmarked), or,
 * when traffic made it already, its first seen moved back and the totals added. Its name goes
 * back into the name table until its old expiry (a name learned since wins), its device onto
 * the host (a MAC seen since wins, and counts as a change when it differs). -1 when the host
 * table is full (counted as refused). */
int engine_restore_host(struct engine *e, const struct engine_host_record *r);

#endif
