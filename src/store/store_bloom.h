/*
 * The host filter of a chunk of stored flows: a Bloom filter of the addresses (either end) of
 * the flows one batch wrote, kept next to the batch's row range. A host query reads the chunks'
 * filters and scans only the row ranges that may hold the host, instead of keeping an address
 * index, whose random-order pages would be rewritten by every batch (the SD card's wear).
 * Pool threads only; pure functions.
 */
#ifndef TAPBOX_STORE_BLOOM_H
#define TAPBOX_STORE_BLOOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_BLOOM_HASHES 4       /* with 10 bits an address: about 1 % false positives */
#define STORE_BLOOM_BITS_EACH 10
#define STORE_BLOOM_MIN_BYTES 16
#define STORE_BLOOM_MAX_BYTES 65536

/* Bytes of a filter for n distinct addresses: a power of two, within the bounds above. */
size_t store_bloom_size(size_t n);
/* Address bytes: 4 (IPv4) or 16 (IPv6), as the flows table stores them. */
void store_bloom_add(uint8_t *bits, size_t size, const uint8_t *addr, size_t len);
/* False: certainly not in the chunk. True: maybe (or the filter is not a valid size, which
 * makes the chunk a candidate: a filter never hides rows). */
bool store_bloom_may_have(const uint8_t *bits, size_t size, const uint8_t *addr, size_t len);

#endif
