/* The chunks' host filters (store_bloom.h). */
#include "store/store_bloom.h"

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

size_t store_bloom_size(size_t n)
{
    size_t want = (n * STORE_BLOOM_BITS_EACH + 7) / 8, size = STORE_BLOOM_MIN_BYTES;
    while (size < want && size < STORE_BLOOM_MAX_BYTES)
        size *= 2;
    return size;
}

static bool valid_size(size_t size)
{
    return size >= STORE_BLOOM_MIN_BYTES && size <= STORE_BLOOM_MAX_BYTES &&
           (size & (size - 1)) == 0;
}

/* The i-th of the k bit positions, from two hashes (Kirsch and Mitzenmacher). */
static uint64_t bit_of(uint64_t h1, uint64_t h2, unsigned i, size_t size)
{
    return (h1 + i * h2) & (size * 8 - 1);
}

void store_bloom_add(uint8_t *bits, size_t size, const uint8_t *addr, size_t len)
{
    if (!valid_size(size))
        return;
    uint64_t h1 = fnv1a(addr, len), h2 = mix(h1) | 1;
    for (unsigned i = 0; i < STORE_BLOOM_HASHES; i++) {
        uint64_t bit = bit_of(h1, h2, i, size);
        bits[bit / 8] |= (uint8_t)(1u << (bit % 8));
    }
}

bool store_bloom_may_have(const uint8_t *bits, size_t size, const uint8_t *addr, size_t len)
{
    if (!bits || !valid_size(size))
        return true;
    uint64_t h1 = fnv1a(addr, len), h2 = mix(h1) | 1;
    for (unsigned i = 0; i < STORE_BLOOM_HASHES; i++) {
        uint64_t bit = bit_of(h1, h2, i, size);
        if (!(bits[bit / 8] & (1u << (bit % 8))))
            return false;
    }
    return true;
}
