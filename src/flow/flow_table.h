/*
 * The flow table: bidirectional flows keyed by (VLAN, L4 protocol, both addresses and ports),
 * a seeded hash with chaining, a hard cap, and one LRU list per idle-timeout class so that the
 * idle purge only ever looks at flows that are due. Loop thread only.
 */
#ifndef TAPBOX_FLOW_TABLE_H
#define TAPBOX_FLOW_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow/l7.h"
#include "flow/tcp_health.h"

struct host;

/* Canonical key: the (address, port) pair that sorts lower comes first. */
struct flow_key {
    uint8_t addr_lo[16];
    uint8_t addr_hi[16];
    uint16_t port_lo;
    uint16_t port_hi;
    uint16_t vlan;
    uint8_t ip_version;
    uint8_t l4_proto;
};

enum flow_timeout_class {
    FLOW_TIMEOUT_TCP,
    FLOW_TIMEOUT_TCP_CLOSED, /* FIN seen both ways, or RST */
    FLOW_TIMEOUT_UDP,
    FLOW_TIMEOUT_OTHER,
    FLOW_TIMEOUT_CLASSES
};

/*
 * Direction index: 0 is client to server (the client is the first sender, or the SYN sender).
 * Field order is for the cache: the first 64 bytes are all a lookup reads (key, chain, hash) and
 * the per-packet flags; the next 64 the per-packet counters. The struct is cache-line aligned.
 */
/* What nDPI told about a flow besides its protocol, kept after its detection state is freed.
 * The strings are ids in the engine's string pool (0: none); see flow/string_pool.h. */
struct flow_info {
    uint64_t risks;                  /* nDPI flow risks, bit n = ndpi_risk_enum n */
    uint32_t host_name, ja3c, ja3s, issuer, subject, url, user_agent;
    uint32_t not_before, not_after;  /* TLS certificate validity, Unix seconds */
    uint16_t http_status, dns_qtype, risk_score;
    uint8_t dns_rcode;
    uint8_t dns_reply;               /* a response was seen: dns_rcode is its code */
};

struct flow {
    /* cache line 0: lookup */
    struct flow_key key;
    struct flow *hash_next;
    uint32_t hash;
    uint8_t client_is_lo;            /* 1 if the client is key.addr_lo/port_lo */
    uint8_t l7_final;                /* detection finished: l7 is the answer */
    uint8_t dirty;                   /* on the engine's dirty list */
    uint8_t timeout_class;
    uint8_t tcp_flags[2];
    uint8_t dpi_extra_packets;       /* fed to nDPI after the protocol was known */
    uint8_t tunnel_depth;
    uint16_t source;                 /* source of the first packet */
    uint8_t verdict;                 /* inline policy: enum policy_verdict, cached per flow */
    uint8_t client_port;             /* port pair side the client sent from (ENGINE_NO_PORT) */
    /* cache line 1: per-packet counters */
    struct ndpi_flow_struct *dpi;    /* detection state while nDPI still wants packets */
    uint64_t last_us;
    uint64_t packets[2];
    uint64_t bytes[2];
    /* Traffic not yet added to the hosts: hosts, their L7 breakdown and the LRU order are
     * brought up to date once a second (engine_sync), not per packet, so that a packet touches
     * its flow and nothing else. */
    uint32_t pending_packets[2];
    struct flow *dirty_next;
    /* cache lines 2-3: the rest */
    uint64_t pending_bytes[2];
    uint64_t first_us;
    struct l7_result l7;
    struct flow *lru_prev, *lru_next;
    struct host *hosts[2];           /* [0] client, [1] server; NULL if the host cap refused */
    struct flow *dpi_prev, *dpi_next; /* flows holding detection state, oldest first */
    uint64_t id;
    int16_t policy_rule;             /* rule that decided the verdict, -1 for the default */
    int16_t policy_counted_rule;     /* after a reload: the rule already counting this flow */
    /* cache line 4: what detection found, read when the flow is shown or ends */
    struct flow_info info;
    struct tcp_health tcp;           /* TCP flows only */
} __attribute__((aligned(64)));

struct flow_table {
    struct flow **buckets;
    uint32_t bucket_mask;
    uint64_t hash_seed;
    size_t count;
    size_t cap;
    uint64_t refused;                /* new flows refused because the table was full */
    uint64_t created;
    uint64_t next_id;
    struct flow *lru_head[FLOW_TIMEOUT_CLASSES];
    struct flow *lru_tail[FLOW_TIMEOUT_CLASSES];
    /* Flows come from chunks of chunk_flows entries (FLOW_CHUNK, or the cap when smaller):
     * dense in memory (fewer cache and TLB misses per lookup than scattered mallocs) and never
     * more than one chunk beyond what the cap needs. */
    struct flow **chunks;
    size_t chunk_count;
    size_t chunk_flows;
    struct flow *free_list;          /* linked through hash_next */
};

/* As many flows as fill one 2 MiB huge page (see core/huge_alloc.h): a chunk a little over
 * it would take two. */
#define FLOW_CHUNK ((size_t)2 * 1024 * 1024 / sizeof(struct flow))

int flow_table_init(struct flow_table *t, size_t cap);
/* Frees the table's memory; flows must have been removed (see flow_table_pop_idle). */
void flow_table_fini(struct flow_table *t);

/* Build the canonical key; *src_is_lo tells whether (src, sport) became the lo side. */
void flow_key_make(struct flow_key *key, uint16_t vlan, uint8_t ip_version, uint8_t l4_proto,
                   const uint8_t src[16], uint16_t sport, const uint8_t dst[16], uint16_t dport,
                   bool *src_is_lo);

/* Find the flow, or create a zeroed one (key, hash, id set; on the given LRU class). Returns NULL
 * and counts a refusal when the table is full. *created says which happened. */
struct flow *flow_table_get(struct flow_table *t, const struct flow_key *key,
                            enum flow_timeout_class cls, bool *created);
struct flow *flow_table_find(const struct flow_table *t, const struct flow_key *key);
/* The flow saw a packet: move it to the tail of its (possibly new) class. */
void flow_table_touch(struct flow_table *t, struct flow *f, enum flow_timeout_class cls);
/* Unlink the oldest flow of a class if it has been idle past the timeout (or unconditionally
 * when timeout_us is 0); NULL when none is due. The caller frees it with flow_table_free. */
struct flow *flow_table_pop_idle(struct flow_table *t, enum flow_timeout_class cls, uint64_t now_us,
                                 uint64_t timeout_us);
void flow_table_free(struct flow_table *t, struct flow *f);

/* Walk every flow (any order); stop early when fn returns non-zero. */
void flow_table_foreach(const struct flow_table *t, int (*fn)(const struct flow *, void *),
                        void *ctx);

size_t flow_table_memory(const struct flow_table *t);

#endif
