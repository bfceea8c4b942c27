/*
 * The name table: what an address is called, learned from DNS answers, TLS SNI, HTTP Host,
 * DHCP, mDNS and NetBIOS, keyed like the host table (VLAN, IP version, address). Every entry
 * expires: DNS and the hosts' own announcements after their TTL (clamped), SNI and Host names
 * after a fixed hour. All memory is taken at init (entries, buckets, a free list); when full,
 * a new address takes the place of an expired entry or is refused and counted.
 *
 * Precedence, when an address already has a live name: a source of a higher rank replaces it,
 * one of the same rank replaces it too (the latest answer wins), one of a lower rank is ignored
 * (counted as outranked) until the entry expires. Ranks, highest first:
 *   1. DHCP, mDNS, NetBIOS: the host's own name for itself;
 *   2. DNS: a name someone resolved to this address (a CDN address has many: the latest stays);
 *   3. TLS SNI, HTTP Host: a name a client used towards this address.
 *
 * Names must be in the DNS decoder's text form (decode/dns.h: dns_name_from_text for names that
 * did not come from a DNS message); any other byte makes learn refuse the name (bad_name). A
 * name over NAME_TABLE_NAME_MAX characters keeps its rightmost labels behind a ".." mark (the
 * registered domain is what tells most) and is counted as shortened.
 *
 * Loop thread only: no locks.
 */
#ifndef TAPBOX_NAME_TABLE_H
#define TAPBOX_NAME_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow/host_table.h"

#define NAME_TABLE_NAME_SIZE 128               /* stored bytes, NUL included */
#define NAME_TABLE_NAME_MAX (NAME_TABLE_NAME_SIZE - 1)
#define NAME_TABLE_MIN_TTL_S 60u               /* a DNS TTL of 0 or 5 s still names the flows */
#define NAME_TABLE_MAX_TTL_S (24u * 3600)      /* a day: addresses move */
#define NAME_TABLE_OBSERVED_TTL_S 3600u        /* SNI and HTTP Host carry no TTL */
#define NAME_TABLE_EVICT_SCAN 16               /* slots a full table looks at for an expired one */

enum name_source {
    NAME_SOURCE_DNS = 0,
    NAME_SOURCE_TLS_SNI,
    NAME_SOURCE_HTTP_HOST,
    NAME_SOURCE_DHCP,
    NAME_SOURCE_MDNS,
    NAME_SOURCE_NETBIOS,
    NAME_SOURCE_COUNT
};

/* "dns", "tls_sni", "http_host", "dhcp", "mdns", "netbios"; "unknown" otherwise. */
const char *name_source_name(enum name_source source);

struct name_entry {
    struct host_key key;
    uint32_t next;                   /* 1-based index of the next entry in the chain or free list */
    uint32_t hash;
    uint64_t expires_us;
    uint64_t updated_us;             /* last learn that set or refreshed it */
    uint8_t source;                  /* enum name_source */
    bool in_use;
    char name[NAME_TABLE_NAME_SIZE];
};

struct name_table_stats {
    size_t count;
    size_t cap;
    uint64_t learned;                /* new entries */
    uint64_t replaced;               /* an entry's name or source changed */
    uint64_t refreshed;              /* the same name and source again: a later expiry */
    uint64_t outranked;              /* ignored: a live name from a better source was there */
    uint64_t refused;                /* table full, no expired entry found to take over */
    uint64_t expired;                /* entries dropped at their expiry (or taken over) */
    uint64_t bad_name;               /* names refused: empty, or bytes outside the text form */
    uint64_t shortened;              /* names kept by their rightmost labels */
    uint64_t restored;               /* names taken back from history at a start */
    size_t memory_bytes;             /* fixed at init */
};

struct name_table {
    struct name_entry *entries;      /* cap of them */
    uint32_t *buckets;               /* 1-based entry indices, 0 empty */
    uint32_t bucket_mask;
    uint32_t free_head;              /* 1-based, 0 when every entry is in use */
    uint32_t expire_cursor;          /* where the next expire (or eviction scan) starts */
    uint64_t hash_seed;
    size_t entries_bytes, buckets_bytes;
    struct name_table_stats stats;
};

/* 0, or -1 when cap is 0, too big for 32-bit indices, or memory is short. */
int name_table_init(struct name_table *t, size_t cap);
void name_table_fini(struct name_table *t);

/* Learn that key is called name (NUL-terminated, the DNS text form). ttl_s counts for DNS, DHCP,
 * mDNS and NetBIOS (clamped to NAME_TABLE_MIN_TTL_S..NAME_TABLE_MAX_TTL_S); SNI and HTTP Host
 * names live NAME_TABLE_OBSERVED_TTL_S. Returns true when the table now holds this name for key
 * (learned, replaced or refreshed), false when it was outranked, refused or a bad name. */
bool name_table_learn(struct name_table *t, const struct host_key *key, const char *name,
                      enum name_source source, uint32_t ttl_s, uint64_t now_us);

/* A name saved before a restart: taken like a learn from source, but living until expires_us
 * (at most NAME_TABLE_MAX_TTL_S from now_us), and only when key has no live name yet (what was
 * learned since is newer). Returns true when the table took it (counted as restored). */
bool name_table_restore(struct name_table *t, const struct host_key *key, const char *name,
                        enum name_source source, uint64_t expires_us, uint64_t now_us);

/* The live entry of key, or NULL (never seen, or expired). Valid until the next learn or
 * expire. */
const struct name_entry *name_table_lookup(const struct name_table *t, const struct host_key *key,
                                           uint64_t now_us);

/* Look at up to budget slots from where the last call stopped (a full sweep takes
 * cap / budget calls) and drop the expired entries among them. Returns how many it dropped. */
size_t name_table_expire(struct name_table *t, uint64_t now_us, size_t budget);

/* The counters, count and memory. */
struct name_table_stats name_table_stats(const struct name_table *t);

#endif
