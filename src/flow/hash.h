/* A fast seeded hash for table keys (not cryptographic: the seed is random per run). */
#ifndef TAPBOX_HASH_H
#define TAPBOX_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t hash_bytes(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = seed ^ (len * 0x9E3779B97F4A7C15ull);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
        p += 8;
        len -= 8;
    }
    uint64_t tail = 0;
    memcpy(&tail, p, len);
    h = (h ^ tail) * 0x94D049BB133111EBull;
    h ^= h >> 29;
    return (uint32_t)(h ^ (h >> 32));
}

/* Equality of two keys whose size is a multiple of 4 bytes, as word compares the compiler keeps
 * inline (a libc memcmp call per lookup showed in profiles). */
static inline int key_equal(const void *a, const void *b, size_t len)
{
    const unsigned char *x = a, *y = b;
    uint64_t diff = 0;
    for (; len >= 8; len -= 8, x += 8, y += 8) {
        uint64_t u, v;
        memcpy(&u, x, 8);
        memcpy(&v, y, 8);
        diff |= u ^ v;
    }
    if (len >= 4) {
        uint32_t u, v;
        memcpy(&u, x, 4);
        memcpy(&v, y, 4);
        diff |= u ^ v;
    }
    return diff == 0;
}

#endif
