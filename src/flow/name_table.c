#include "flow/name_table.h"

#include <string.h>
#include <sys/random.h>

#include "core/huge_alloc.h"
#include "decode/dns.h"
#include "flow/hash.h"

#define SHORTENED_MARK ".."

static const char *const source_names[NAME_SOURCE_COUNT] = {
    [NAME_SOURCE_DNS] = "dns",
    [NAME_SOURCE_TLS_SNI] = "tls_sni",
    [NAME_SOURCE_HTTP_HOST] = "http_host",
    [NAME_SOURCE_DHCP] = "dhcp",
    [NAME_SOURCE_MDNS] = "mdns",
    [NAME_SOURCE_NETBIOS] = "netbios",
};

const char *name_source_name(enum name_source source)
{
    return (unsigned)source < NAME_SOURCE_COUNT ? source_names[source] : "unknown";
}

/* Higher is better (see the header): the host's own name, then DNS, then what clients used. */
static int source_rank(enum name_source source)
{
    switch (source) {
    case NAME_SOURCE_DHCP:
    case NAME_SOURCE_MDNS:
    case NAME_SOURCE_NETBIOS:
        return 3;
    case NAME_SOURCE_DNS:
        return 2;
    default:
        return 1;
    }
}

static uint32_t lifetime_s(enum name_source source, uint32_t ttl_s)
{
    if (source == NAME_SOURCE_TLS_SNI || source == NAME_SOURCE_HTTP_HOST)
        return NAME_TABLE_OBSERVED_TTL_S;
    if (ttl_s < NAME_TABLE_MIN_TTL_S)
        return NAME_TABLE_MIN_TTL_S;
    return ttl_s > NAME_TABLE_MAX_TTL_S ? NAME_TABLE_MAX_TTL_S : ttl_s;
}

int name_table_init(struct name_table *t, size_t cap)
{
    memset(t, 0, sizeof *t);
    if (cap == 0 || cap >= (1u << 30))
        return -1; /* 1-based uint32 indices, and a bucket array we can size */
    uint32_t n = 16;
    while (n < cap)
        n <<= 1;
    if (__builtin_mul_overflow(cap, sizeof *t->entries, &t->entries_bytes) ||
        __builtin_mul_overflow((size_t)n, sizeof *t->buckets, &t->buckets_bytes))
        return -1;
    t->entries = huge_alloc(t->entries_bytes);
    t->buckets = huge_alloc(t->buckets_bytes);
    if (!t->entries || !t->buckets) {
        name_table_fini(t);
        return -1;
    }
    t->bucket_mask = n - 1;
    for (size_t i = 0; i < cap; i++)
        t->entries[i].next = i + 1 < cap ? (uint32_t)(i + 2) : 0;
    t->free_head = 1;
    t->stats.cap = cap;
    t->stats.memory_bytes = sizeof *t + t->entries_bytes + t->buckets_bytes;
    if (getrandom(&t->hash_seed, sizeof t->hash_seed, GRND_NONBLOCK) != sizeof t->hash_seed)
        t->hash_seed = (uint64_t)(uintptr_t)t ^ 0x9E3779B97F4A7C15ull;
    return 0;
}

void name_table_fini(struct name_table *t)
{
    if (t->entries)
        huge_free(t->entries, t->entries_bytes);
    if (t->buckets)
        huge_free(t->buckets, t->buckets_bytes);
    t->entries = NULL;
    t->buckets = NULL;
    t->stats.count = 0;
}

static inline uint32_t key_hash(const struct name_table *t, const struct host_key *key)
{
    return hash_bytes(key, sizeof *key, t->hash_seed);
}

static struct name_entry *find(const struct name_table *t, const struct host_key *key,
                               uint32_t hv)
{
    for (uint32_t i = t->buckets[hv & t->bucket_mask]; i; i = t->entries[i - 1].next) {
        struct name_entry *e = &t->entries[i - 1];
        if (e->hash == hv && key_equal(&e->key, key, sizeof *key))
            return e;
    }
    return NULL;
}

/* Unlink e from its chain and put it on the free list. */
static void entry_drop(struct name_table *t, struct name_entry *e)
{
    uint32_t index = (uint32_t)(e - t->entries) + 1;
    uint32_t *link = &t->buckets[e->hash & t->bucket_mask];
    while (*link != index)
        link = &t->entries[*link - 1].next;
    *link = e->next;
    e->in_use = false;
    e->next = t->free_head;
    t->free_head = index;
    t->stats.count--;
}

static inline bool entry_live(const struct name_entry *e, uint64_t now_us)
{
    return now_us < e->expires_us;
}

/* A full table: take over the first expired entry among the next few slots, if any. */
static bool evict_one_expired(struct name_table *t, uint64_t now_us)
{
    size_t cap = t->stats.cap;
    for (size_t n = 0; n < NAME_TABLE_EVICT_SCAN && n < cap; n++) {
        struct name_entry *e = &t->entries[t->expire_cursor];
        t->expire_cursor = (uint32_t)((t->expire_cursor + 1) % cap);
        if (e->in_use && !entry_live(e, now_us)) {
            entry_drop(t, e);
            t->stats.expired++;
            return true;
        }
    }
    return false;
}

/* name, or its rightmost labels behind SHORTENED_MARK when it is over NAME_TABLE_NAME_MAX
 * (then true). */
static bool name_store(char out[NAME_TABLE_NAME_SIZE], const char *name)
{
    size_t len = strlen(name);
    if (len <= NAME_TABLE_NAME_MAX) {
        memcpy(out, name, len + 1);
        return false;
    }
    size_t room = NAME_TABLE_NAME_MAX - (sizeof SHORTENED_MARK - 1);
    const char *tail = name + len - room;
    if (tail[-1] != '.') {
        const char *dot = strchr(tail, '.');
        if (dot && dot[1])
            tail = dot + 1; /* whole labels, when the last one is not itself too long */
    }
    memcpy(out, SHORTENED_MARK, sizeof SHORTENED_MARK - 1);
    memcpy(out + sizeof SHORTENED_MARK - 1, tail, strlen(tail) + 1);
    return true;
}

static void entry_set_until(struct name_entry *e, const char *stored, enum name_source source,
                            uint64_t expires_us, uint64_t now_us)
{
    memcpy(e->name, stored, strlen(stored) + 1);
    e->source = (uint8_t)source;
    e->updated_us = now_us;
    e->expires_us = expires_us;
}

static void entry_set(struct name_entry *e, const char *stored, enum name_source source,
                      uint32_t ttl_s, uint64_t now_us)
{
    entry_set_until(e, stored, source, now_us + (uint64_t)lifetime_s(source, ttl_s) * 1000000u,
                    now_us);
}

/* A new entry for key (hash hv), or NULL when the table is full of live ones (refused). */
static struct name_entry *entry_new(struct name_table *t, const struct host_key *key, uint32_t hv,
                                    uint64_t now_us)
{
    if (!t->free_head && !evict_one_expired(t, now_us)) {
        t->stats.refused++;
        return NULL;
    }
    uint32_t index = t->free_head;
    struct name_entry *e = &t->entries[index - 1];
    t->free_head = e->next;
    e->key = *key;
    e->hash = hv;
    e->in_use = true;
    e->next = t->buckets[hv & t->bucket_mask];
    t->buckets[hv & t->bucket_mask] = index;
    t->stats.count++;
    return e;
}

bool name_table_learn(struct name_table *t, const struct host_key *key, const char *name,
                      enum name_source source, uint32_t ttl_s, uint64_t now_us)
{
    if ((unsigned)source >= NAME_SOURCE_COUNT || !dns_name_text_is_clean(name)) {
        t->stats.bad_name++;
        return false;
    }
    char stored[NAME_TABLE_NAME_SIZE];
    bool shortened = name_store(stored, name);
    uint32_t hv = key_hash(t, key);
    struct name_entry *e = find(t, key, hv);
    if (e && entry_live(e, now_us)) {
        if (source_rank(source) < source_rank((enum name_source)e->source)) {
            t->stats.outranked++;
            return false;
        }
        if (e->source == source && strcmp(e->name, stored) == 0)
            t->stats.refreshed++;
        else
            t->stats.replaced++;
        entry_set(e, stored, source, ttl_s, now_us);
        t->stats.shortened += shortened;
        return true;
    }
    if (e) { /* expired, not yet swept: it goes, a new one comes */
        entry_drop(t, e);
        t->stats.expired++;
    }
    if (!(e = entry_new(t, key, hv, now_us)))
        return false;
    entry_set(e, stored, source, ttl_s, now_us);
    t->stats.learned++;
    t->stats.shortened += shortened;
    return true;
}

bool name_table_restore(struct name_table *t, const struct host_key *key, const char *name,
                        enum name_source source, uint64_t expires_us, uint64_t now_us)
{
    if ((unsigned)source >= NAME_SOURCE_COUNT || !dns_name_text_is_clean(name)) {
        t->stats.bad_name++;
        return false;
    }
    if (expires_us <= now_us)
        return false; /* it expired while the box was down */
    uint64_t latest = now_us + (uint64_t)NAME_TABLE_MAX_TTL_S * 1000000u;
    char stored[NAME_TABLE_NAME_SIZE];
    name_store(stored, name);
    uint32_t hv = key_hash(t, key);
    struct name_entry *e = find(t, key, hv);
    if (e && entry_live(e, now_us))
        return false;
    if (e) {
        entry_drop(t, e);
        t->stats.expired++;
    }
    if (!(e = entry_new(t, key, hv, now_us)))
        return false;
    entry_set_until(e, stored, source, expires_us < latest ? expires_us : latest, now_us);
    t->stats.restored++;
    return true;
}

const struct name_entry *name_table_lookup(const struct name_table *t, const struct host_key *key,
                                           uint64_t now_us)
{
    const struct name_entry *e = find(t, key, key_hash(t, key));
    return e && entry_live(e, now_us) ? e : NULL;
}

size_t name_table_expire(struct name_table *t, uint64_t now_us, size_t budget)
{
    size_t cap = t->stats.cap, dropped = 0;
    for (size_t n = 0; n < budget && n < cap && t->stats.count; n++) {
        struct name_entry *e = &t->entries[t->expire_cursor];
        t->expire_cursor = (uint32_t)((t->expire_cursor + 1) % cap);
        if (e->in_use && !entry_live(e, now_us)) {
            entry_drop(t, e);
            t->stats.expired++;
            dropped++;
        }
    }
    return dropped;
}

struct name_table_stats name_table_stats(const struct name_table *t) { return t->stats; }
