/*
 * The per-packet flow lookup, inline in the engine's packet path: the canonical key and its hash
 * are built in one go from the endpoints, and a hit walks its bucket without a call. Only a miss
 * (a new flow) leaves for flow_table_insert. flow_table.c hashes and compares with the same
 * functions, so flow_table_get/find and this path always agree. Loop thread only.
 *
 * Keys are read as 64-bit words through memcpy (never through a cast): struct flow_key is only
 * 2-byte aligned, and the Cortex-A8 traps on unaligned multi-word loads.
 */
#ifndef TAPBOX_FLOW_LOOKUP_H
#define TAPBOX_FLOW_LOOKUP_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "flow/flow_table.h"

_Static_assert(sizeof(struct flow_key) == 40, "struct flow_key is five 64-bit words, no padding");

/*
 * Seeded hash of a key's five words. Multilinear (pairs of words multiplied, the products added)
 * with the seed in every factor: three independent multiplies instead of a chain of five
 * dependent multiply rounds, then a final mix so that the bucket bits depend on every input bit.
 * Coefficients come from the random per-table seed, so colliding keys cannot be chosen offline.
 * An IPv4 address fills half of its first word and leaves the second word zero; the product still
 * depends on all of its bits (the seed-derived factors are odd).
 */
static inline uint32_t flow_key_hash_words(uint64_t w0, uint64_t w1, uint64_t w2, uint64_t w3,
                                           uint64_t w4, uint64_t seed)
{
    uint64_t s = seed | 1, r = ((seed << 32) | (seed >> 32)) | 1;
    uint64_t h = (w0 + s) * (w1 + r) + (w2 + r) * (w3 + s) + (w4 + s) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 31;
    h *= 0x94D049BB133111EBull;
    h ^= h >> 29;
    return (uint32_t)(h ^ (h >> 32));
}

static inline uint32_t flow_key_hash_seeded(const struct flow_key *key, uint64_t seed)
{
    uint64_t w[5];
    memcpy(w, key, sizeof w);
    return flow_key_hash_words(w[0], w[1], w[2], w[3], w[4], seed);
}

static inline bool flow_key_equal(const struct flow_key *a, const struct flow_key *b)
{
    uint64_t x[5], y[5];
    memcpy(x, a, sizeof x);
    memcpy(y, b, sizeof y);
    return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4])) == 0;
}

/* Build the canonical key (as flow_key_make) and return its hash under seed. */
static inline uint32_t flow_key_make_hashed(struct flow_key *key, uint64_t seed, uint16_t vlan,
                                            uint8_t ip_version, uint8_t l4_proto,
                                            const uint8_t src[16], uint16_t sport,
                                            const uint8_t dst[16], uint16_t dport, bool *src_is_lo)
{
    /* Address order as big-endian 128-bit numbers: two word compares instead of a memcmp. The
     * words as loaded (memory order) are also what the hash reads. */
    uint64_t s0, s1, d0, d1;
    memcpy(&s0, src, 8);
    memcpy(&s1, src + 8, 8);
    memcpy(&d0, dst, 8);
    memcpy(&d1, dst + 8, 8);
    uint64_t bs0 = be64toh(s0), bs1 = be64toh(s1), bd0 = be64toh(d0), bd1 = be64toh(d1);
    bool lo = bs0 != bd0 ? bs0 < bd0 : bs1 != bd1 ? bs1 < bd1 : sport <= dport;
    uint64_t l0 = lo ? s0 : d0, l1 = lo ? s1 : d1, h0 = lo ? d0 : s0, h1 = lo ? d1 : s1;
    memcpy(key->addr_lo, &l0, 8);
    memcpy(key->addr_lo + 8, &l1, 8);
    memcpy(key->addr_hi, &h0, 8);
    memcpy(key->addr_hi + 8, &h1, 8);
    key->port_lo = lo ? sport : dport;
    key->port_hi = lo ? dport : sport;
    key->vlan = vlan;
    key->ip_version = ip_version;
    key->l4_proto = l4_proto;
    *src_is_lo = lo;
    uint64_t tail;
    memcpy(&tail, (const unsigned char *)key + offsetof(struct flow_key, port_lo), 8);
    return flow_key_hash_words(l0, l1, h0, h1, tail, seed);
}

/* The flow with this key (hash from flow_key_make_hashed with the table's seed), or NULL. */
static inline struct flow *flow_table_lookup(const struct flow_table *t, const struct flow_key *key,
                                             uint32_t hash)
{
    for (struct flow *f = t->buckets[hash & t->bucket_mask]; f; f = f->hash_next)
        if (f->hash == hash && flow_key_equal(&f->key, key))
            return f;
    return NULL;
}

/* Create a zeroed flow for a key that is not in the table (as flow_table_get does on a miss). */
struct flow *flow_table_insert(struct flow_table *t, const struct flow_key *key, uint32_t hash,
                               enum flow_timeout_class cls);

#endif
