#include "flow/host_table.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/huge_alloc.h"
#include "flow/hash.h"

_Static_assert(sizeof(struct host_key) % 4 == 0, "key_equal compares whole words");

int host_table_init(struct host_table *t, size_t cap)
{
    memset(t, 0, sizeof *t);
    uint32_t n = 1024;
    while (n < cap && n < (1u << 30))
        n <<= 1;
    size_t bytes;
    if (__builtin_mul_overflow((size_t)n, sizeof *t->buckets, &bytes))
        return -1; /* a 32-bit box asked for too much */
    t->buckets = huge_alloc(bytes);
    if (!t->buckets)
        return -1;
    t->bucket_mask = n - 1;
    t->cap = cap;
    if (getrandom(&t->hash_seed, sizeof t->hash_seed, GRND_NONBLOCK) != sizeof t->hash_seed)
        t->hash_seed = (uint64_t)(uintptr_t)t ^ 0x27d4eb2fu;
    return 0;
}

static void host_free(struct host_table *t, struct host *h)
{
    if (h->l7)
        t->l7_slots_allocated -= h->l7_slots;
    if (h->risk)
        t->risk_allocated--;
    free(h->l7);
    free(h->risk);
    free(h);
}

void host_table_fini(struct host_table *t)
{
    if (!t->buckets)
        return;
    for (uint32_t i = 0; i <= t->bucket_mask; i++) {
        struct host *h = t->buckets[i];
        while (h) {
            struct host *next = h->hash_next;
            host_free(t, h);
            h = next;
        }
    }
    huge_free(t->buckets, (size_t)(t->bucket_mask + 1) * sizeof *t->buckets);
    t->buckets = NULL;
    t->count = 0;
}

void host_key_make(struct host_key *key, uint16_t vlan, uint8_t ip_version, const uint8_t addr[16])
{
    memcpy(key->addr, addr, 16);
    key->vlan = vlan;
    key->ip_version = ip_version;
    key->pad = 0;
}

struct host *const *host_table_bucket(const struct host_table *t, const struct host_key *key)
{
    return &t->buckets[hash_bytes(key, sizeof *key, t->hash_seed) & t->bucket_mask];
}

struct host *host_table_find(const struct host_table *t, const struct host_key *key)
{
    uint32_t hv = hash_bytes(key, sizeof *key, t->hash_seed);
    for (struct host *h = t->buckets[hv & t->bucket_mask]; h; h = h->hash_next)
        if (h->hash == hv && key_equal(&h->key, key, sizeof *key))
            return h;
    return NULL;
}

struct host *host_table_get(struct host_table *t, const struct host_key *key, bool *created)
{
    uint32_t hv = hash_bytes(key, sizeof *key, t->hash_seed);
    struct host **bucket = &t->buckets[hv & t->bucket_mask];
    *created = false;
    for (struct host *h = *bucket; h; h = h->hash_next)
        if (h->hash == hv && key_equal(&h->key, key, sizeof *key))
            return h;
    if (t->count >= t->cap) {
        t->refused++;
        return NULL;
    }
    struct host *h = calloc(1, sizeof *h);
    if (!h) {
        t->refused++;
        return NULL;
    }
    h->key = *key;
    h->hash = hv;
    h->hash_next = *bucket;
    *bucket = h;
    t->count++;
    t->created++;
    *created = true;
    return h;
}

size_t host_table_purge(struct host_table *t, uint64_t now_us, uint64_t timeout_us,
                        void (*gone)(void *ctx, const struct host *h), void *ctx)
{
    size_t removed = 0;
    for (uint32_t i = 0; i <= t->bucket_mask; i++) {
        struct host **pp = &t->buckets[i];
        while (*pp) {
            struct host *h = *pp;
            if (h->flows_active == 0 && now_us >= h->last_us + timeout_us) {
                *pp = h->hash_next;
                if (gone)
                    gone(ctx, h);
                host_free(t, h);
                t->count--;
                removed++;
            } else {
                pp = &h->hash_next;
            }
        }
    }
    return removed;
}

void host_add_l7(struct host_table *t, struct host *h, uint16_t proto, uint32_t flows,
                 uint64_t packets, uint64_t bytes)
{
    if (!h->l7) {
        /* Most hosts speak a few protocols: start small, grow (locals) up to the cap. */
        h->l7 = calloc(HOST_L7_SLOTS_REMOTE, sizeof *h->l7);
        if (!h->l7) {
            h->l7_other_bytes += bytes;
            return;
        }
        h->l7_slots = HOST_L7_SLOTS_REMOTE;
        t->l7_slots_allocated += HOST_L7_SLOTS_REMOTE;
    }
    for (uint8_t i = 0; i < h->l7_used; i++) {
        if (h->l7[i].proto == proto) {
            h->l7[i].flows += flows;
            h->l7[i].packets += packets;
            h->l7[i].bytes += bytes;
            return;
        }
    }
    if (h->l7_used == h->l7_slots && h->local && h->l7_slots < HOST_L7_SLOTS) {
        uint8_t slots = (uint8_t)(h->l7_slots * 2 < HOST_L7_SLOTS ? h->l7_slots * 2 : HOST_L7_SLOTS);
        struct host_l7 *grown = realloc(h->l7, slots * sizeof *h->l7);
        if (grown) {
            t->l7_slots_allocated += (size_t)(slots - h->l7_slots);
            h->l7 = grown;
            h->l7_slots = slots;
        }
    }
    if (h->l7_used == h->l7_slots) {
        h->l7_other_bytes += bytes;
        return;
    }
    h->l7[h->l7_used++] = (struct host_l7){proto, flows, packets, bytes};
}

void host_add_risks(struct host_table *t, struct host *h, uint64_t risks, uint16_t score)
{
    if (!risks)
        return;
    h->risky_flows++;
    h->risk_score += score;
    if (!h->risk && (h->risk = calloc(HOST_RISK_SLOTS, sizeof *h->risk)) != NULL)
        t->risk_allocated++;
    for (uint8_t bit = 1; bit < 64; bit++) {
        if (!(risks & (1ull << bit)))
            continue;
        uint8_t i = 0;
        while (i < h->risk_used && h->risk[i].risk != bit)
            i++;
        if (i < h->risk_used)
            h->risk[i].flows++;
        else if (h->risk && h->risk_used < HOST_RISK_SLOTS)
            h->risk[h->risk_used++] = (struct host_risk){bit, 1};
        else
            h->risks_other++;
    }
}

size_t host_table_memory(const struct host_table *t)
{
    return (size_t)(t->bucket_mask + 1) * sizeof *t->buckets + t->count * sizeof(struct host) +
           t->l7_slots_allocated * sizeof(struct host_l7) +
           t->risk_allocated * HOST_RISK_SLOTS * sizeof(struct host_risk);
}

void host_note_mac(struct host *h, const uint8_t mac[6], uint64_t ts_us)
{
    static const uint8_t zero[6];
    if (!h->local || (mac[0] & 1) || memcmp(mac, zero, 6) == 0)
        return;
    if (!h->has_mac || memcmp(h->mac, mac, 6) != 0) {
        if (h->has_mac && h->mac_changes < UINT16_MAX)
            h->mac_changes++;
        memcpy(h->mac, mac, 6);
        h->has_mac = true;
        h->mac_first_us = ts_us;
    }
    if (ts_us > h->mac_last_us)
        h->mac_last_us = ts_us;
}
