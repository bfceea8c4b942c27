/*
 * The host table: one entry per (VLAN, IP address) seen in a flow, with traffic counters, the
 * number of its active flows, a bounded L7 breakdown (more protocols for local hosts than
 * remote ones) and the risks of its flows. Hosts without active flows are purged after an idle
 * time. Loop thread only.
 */
#ifndef TAPBOX_HOST_TABLE_H
#define TAPBOX_HOST_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HOST_L7_SLOTS 16        /* distinct protocols kept per local host; the rest: l7_other */
#define HOST_L7_SLOTS_REMOTE 4  /* per remote host (servers: their few services) */
#define HOST_RISK_SLOTS 8       /* distinct flow risks counted per host; the rest: risks_other */

struct host_risk {
    uint8_t risk;                /* nDPI risk bit */
    uint32_t flows;
};

struct host_key {
    uint8_t addr[16];
    uint16_t vlan;
    uint8_t ip_version;
    uint8_t pad;
};

struct host_l7 {
    uint16_t proto;
    uint32_t flows;
    uint64_t packets;
    uint64_t bytes;
};

struct host {
    struct host_key key;
    struct host *hash_next;
    uint64_t first_us, last_us;
    uint64_t packets_sent, packets_rcvd;
    uint64_t bytes_sent, bytes_rcvd;
    uint64_t flows_total;            /* flows this host took part in */
    uint32_t flows_active;
    uint32_t hash;
    bool local;
    bool changed;                    /* counters moved since engine_take_changed_hosts */
    uint8_t l7_used;
    uint8_t l7_slots;                /* entries of l7: from HOST_L7_SLOTS_REMOTE, locals grow to
                                      * HOST_L7_SLOTS */
    uint8_t risk_used;
    struct host_l7 *l7;              /* l7_slots entries, on first use */
    uint64_t l7_other_bytes;         /* bytes of protocols beyond the slots */
    /* Risks: flows with at least one, the sum of their nDPI risk scores, and per risk the flows
     * (HOST_RISK_SLOTS entries on the first risky flow; risks past them only in risks_other). */
    uint32_t risky_flows;
    uint32_t risks_other;
    uint64_t risk_score;
    struct host_risk *risk;
    /* The device (local hosts): the MAC its packets came from, when first and last seen, and
     * how often it changed (a new NIC, a spoofer, or a router in front). */
    bool has_mac;
    uint8_t mac[6];
    uint16_t mac_changes;
    uint64_t mac_first_us, mac_last_us;
};

/* A frame showed this MAC for the host (local hosts only: a remote address's MAC is a
 * router's). Broadcast, multicast and zero MACs are ignored. */
void host_note_mac(struct host *h, const uint8_t mac[6], uint64_t ts_us);

struct host_table {
    struct host **buckets;
    uint32_t bucket_mask;
    uint64_t hash_seed;
    size_t count;
    size_t cap;
    uint64_t refused;
    uint64_t created;
    size_t l7_slots_allocated;       /* L7 breakdown entries held by all hosts */
    size_t risk_allocated;           /* hosts holding risk counts */
};

int host_table_init(struct host_table *t, size_t cap);
void host_table_fini(struct host_table *t); /* frees every host */

void host_key_make(struct host_key *key, uint16_t vlan, uint8_t ip_version, const uint8_t addr[16]);
/* The bucket a key falls in (to prefetch ahead of a lookup). */
struct host *const *host_table_bucket(const struct host_table *t, const struct host_key *key);
/* Find or create; NULL (and a refusal counted) when full. */
struct host *host_table_get(struct host_table *t, const struct host_key *key, bool *created);
struct host *host_table_find(const struct host_table *t, const struct host_key *key);
/* Remove hosts with no active flow idle for timeout_us; returns how many. gone (may be NULL)
 * sees each one just before it is freed. */
size_t host_table_purge(struct host_table *t, uint64_t now_us, uint64_t timeout_us,
                        void (*gone)(void *ctx, const struct host *h), void *ctx);
/* Add to a host's L7 breakdown. */
void host_add_l7(struct host_table *t, struct host *h, uint16_t proto, uint32_t flows,
                 uint64_t packets, uint64_t bytes);
/* A flow of the host ended detection with these risks (bitmask) and score. */
void host_add_risks(struct host_table *t, struct host *h, uint64_t risks, uint16_t score);
size_t host_table_memory(const struct host_table *t);

#endif
