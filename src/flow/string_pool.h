/*
 * Interned, reference-counted strings for what nDPI tells about flows (server names, JA3
 * hashes, certificate names, user agents, URLs): a name shared by ten thousand flows is stored
 * once. Bounded by a count and a byte budget; what the caps refuse is counted, and the field is
 * then left empty for that flow. Ids are small integers (0: no string) so a flow holds four
 * bytes per field. Loop thread only (the engine owns the pool).
 */
#ifndef TAPBOX_STRING_POOL_H
#define TAPBOX_STRING_POOL_H

#include <stddef.h>
#include <stdint.h>

struct pooled_string;

struct string_pool {
    struct pooled_string **entries;  /* by id - 1; NULL: free */
    uint32_t *buckets;               /* hash chains of ids (0 ends a chain) */
    uint32_t bucket_mask;
    uint32_t cap;                    /* most strings at once */
    uint32_t count;
    uint32_t free_head;              /* free ids, linked through the empty entries' slots */
    uint32_t *free_next;
    uint32_t next_unused;            /* ids past this were never used */
    uint64_t hash_seed;
    size_t max_bytes;
    size_t bytes;                    /* string storage in use (headers included) */
    uint64_t interned;               /* interns that found or made a string */
    uint64_t refused;                /* interns refused by a cap */
};

/* Longest string kept; longer input is cut (at a UTF-8 character boundary). */
#define STRING_POOL_MAX_LEN 255

int string_pool_init(struct string_pool *p, uint32_t cap, size_t max_bytes);
void string_pool_fini(struct string_pool *p);
/* The id of this text (len bytes, cut to max_len and STRING_POOL_MAX_LEN), one more reference;
 * 0 for an empty text or when a cap refuses. Control characters and invalid UTF-8 become '?':
 * a stored string is always printable and valid JSON text once escaped. */
uint32_t string_pool_intern(struct string_pool *p, const char *text, size_t len, size_t max_len);
/* Another reference to an id held (0 stays 0). */
uint32_t string_pool_ref(struct string_pool *p, uint32_t id);
void string_pool_release(struct string_pool *p, uint32_t id);
/* The text of an id, "" for 0 or an unknown id. */
const char *string_pool_text(const struct string_pool *p, uint32_t id);
/* Bytes the pool holds: strings and its tables. */
size_t string_pool_memory(const struct string_pool *p);

#endif
