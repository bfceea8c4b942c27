#include "flow/flow_table.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/huge_alloc.h"
#include "flow/flow_lookup.h"

static uint32_t next_pow2(size_t n)
{
    uint32_t p = 1024;
    while (p < n && p < (1u << 30))
        p <<= 1;
    return p;
}

int flow_table_init(struct flow_table *t, size_t cap)
{
    memset(t, 0, sizeof *t);
    /* Half as many buckets as flows (a chain of two at the cap, under one at a third of it):
     * on a 1 M-flow table that is 4 MiB less, which the 512 MB box needs more than the second
     * key compare a full table costs. */
    uint32_t nbuckets = next_pow2(cap) / 2 ? next_pow2(cap) / 2 : 1;
    size_t bytes;
    if (__builtin_mul_overflow((size_t)nbuckets, sizeof *t->buckets, &bytes))
        return -1; /* a 32-bit box asked for too much */
    t->buckets = huge_alloc(bytes);
    if (!t->buckets)
        return -1;
    t->bucket_mask = nbuckets - 1;
    t->chunk_flows = cap > 0 && cap < FLOW_CHUNK ? cap : FLOW_CHUNK;
    t->cap = cap;
    t->next_id = 1;
    /* A random seed so that nobody on the wire can aim packets at one bucket. */
    if (getrandom(&t->hash_seed, sizeof t->hash_seed, GRND_NONBLOCK) != sizeof t->hash_seed)
        t->hash_seed = (uint64_t)(uintptr_t)t ^ 0x5bd1e995u;
    return 0;
}

void flow_table_fini(struct flow_table *t)
{
    for (size_t i = 0; i < t->chunk_count; i++)
        huge_free(t->chunks[i], t->chunk_flows * sizeof(struct flow));
    free(t->chunks);
    if (t->buckets)
        huge_free(t->buckets, (size_t)(t->bucket_mask + 1) * sizeof *t->buckets);
    t->chunks = NULL;
    t->chunk_count = 0;
    t->free_list = NULL;
    t->buckets = NULL;
}

static struct flow *flow_alloc(struct flow_table *t)
{
    if (!t->free_list) {
        struct flow **chunks = realloc(t->chunks, (t->chunk_count + 1) * sizeof *chunks);
        if (!chunks)
            return NULL;
        t->chunks = chunks;
        struct flow *chunk = huge_alloc(t->chunk_flows * sizeof *chunk); /* 64-byte aligned */
        if (!chunk)
            return NULL;
        t->chunks[t->chunk_count++] = chunk;
        for (size_t i = t->chunk_flows; i-- > 0;) { /* lowest address handed out first */
            chunk[i].hash_next = t->free_list;
            t->free_list = &chunk[i];
        }
    }
    struct flow *f = t->free_list;
    t->free_list = f->hash_next;
    memset(f, 0, sizeof *f);
    return f;
}

void flow_key_make(struct flow_key *key, uint16_t vlan, uint8_t ip_version, uint8_t l4_proto,
                   const uint8_t src[16], uint16_t sport, const uint8_t dst[16], uint16_t dport,
                   bool *src_is_lo)
{
    (void)flow_key_make_hashed(key, 0, vlan, ip_version, l4_proto, src, sport, dst, dport,
                               src_is_lo);
}

static uint32_t flow_key_hash(const struct flow_table *t, const struct flow_key *key)
{
    return flow_key_hash_seeded(key, t->hash_seed);
}

static void lru_unlink(struct flow_table *t, struct flow *f)
{
    int c = f->timeout_class;
    if (f->lru_prev)
        f->lru_prev->lru_next = f->lru_next;
    else
        t->lru_head[c] = f->lru_next;
    if (f->lru_next)
        f->lru_next->lru_prev = f->lru_prev;
    else
        t->lru_tail[c] = f->lru_prev;
    f->lru_prev = f->lru_next = NULL;
}

static void lru_append(struct flow_table *t, struct flow *f, enum flow_timeout_class cls)
{
    f->timeout_class = (uint8_t)cls;
    f->lru_next = NULL;
    f->lru_prev = t->lru_tail[cls];
    if (t->lru_tail[cls])
        t->lru_tail[cls]->lru_next = f;
    else
        t->lru_head[cls] = f;
    t->lru_tail[cls] = f;
}

struct flow *flow_table_find(const struct flow_table *t, const struct flow_key *key)
{
    return flow_table_lookup(t, key, flow_key_hash(t, key));
}

struct flow *flow_table_insert(struct flow_table *t, const struct flow_key *key, uint32_t hash,
                               enum flow_timeout_class cls)
{
    if (t->count >= t->cap) {
        t->refused++;
        return NULL;
    }
    struct flow *f = flow_alloc(t);
    if (!f) {
        t->refused++;
        return NULL;
    }
    struct flow **bucket = &t->buckets[hash & t->bucket_mask];
    f->key = *key;
    f->hash = hash;
    f->id = t->next_id++;
    f->hash_next = *bucket;
    *bucket = f;
    lru_append(t, f, cls);
    t->count++;
    t->created++;
    return f;
}

struct flow *flow_table_get(struct flow_table *t, const struct flow_key *key,
                            enum flow_timeout_class cls, bool *created)
{
    uint32_t h = flow_key_hash(t, key);
    struct flow *f = flow_table_lookup(t, key, h);
    *created = false;
    if (f)
        return f;
    f = flow_table_insert(t, key, h, cls);
    *created = f != NULL;
    return f;
}

void flow_table_touch(struct flow_table *t, struct flow *f, enum flow_timeout_class cls)
{
    if (t->lru_tail[f->timeout_class] == f && f->timeout_class == cls)
        return;
    lru_unlink(t, f);
    lru_append(t, f, cls);
}

struct flow *flow_table_pop_idle(struct flow_table *t, enum flow_timeout_class cls, uint64_t now_us,
                                 uint64_t timeout_us)
{
    struct flow *f = t->lru_head[cls];
    if (!f)
        return NULL;
    if (timeout_us && now_us < f->last_us + timeout_us)
        return NULL;
    lru_unlink(t, f);
    struct flow **pp = &t->buckets[f->hash & t->bucket_mask];
    while (*pp != f)
        pp = &(*pp)->hash_next;
    *pp = f->hash_next;
    t->count--;
    /* Expiry goes down the list: start loading the next oldest flow (its list links were just
     * loaded by the unlink), what its expiry will touch, and its hosts, while the caller ends f. */
    struct flow *g = t->lru_head[cls];
    if (g) {
        __builtin_prefetch(g, 1);
        __builtin_prefetch((const char *)g + 64, 1);
        __builtin_prefetch(&t->buckets[g->hash & t->bucket_mask], 1);
        if (g->lru_next)
            __builtin_prefetch(&g->lru_next->lru_prev, 1);
        for (int i = 0; i < 2; i++)
            if (g->hosts[i])
                __builtin_prefetch(g->hosts[i], 1);
    }
    return f;
}

void flow_table_free(struct flow_table *t, struct flow *f)
{
    f->hash_next = t->free_list;
    t->free_list = f;
}

void flow_table_foreach(const struct flow_table *t, int (*fn)(const struct flow *, void *),
                        void *ctx)
{
    for (int c = 0; c < FLOW_TIMEOUT_CLASSES; c++)
        for (const struct flow *f = t->lru_head[c]; f; f = f->lru_next)
            if (fn(f, ctx))
                return;
}

size_t flow_table_memory(const struct flow_table *t)
{
    return (size_t)(t->bucket_mask + 1) * sizeof *t->buckets +
           t->chunk_count * t->chunk_flows * sizeof(struct flow);
}
