#include "flow/string_pool.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "flow/hash.h"

struct pooled_string {
    uint32_t refs;
    uint32_t hash;
    uint32_t chain;      /* next id in the bucket */
    uint16_t len;
    char text[];
};

int string_pool_init(struct string_pool *p, uint32_t cap, size_t max_bytes)
{
    memset(p, 0, sizeof *p);
    if (cap == 0)
        cap = 1;
    uint32_t nb = 16;
    while (nb < cap && nb < (1u << 30))
        nb <<= 1;
    p->entries = calloc(cap, sizeof *p->entries);
    p->free_next = calloc(cap, sizeof *p->free_next);
    p->buckets = calloc(nb, sizeof *p->buckets);
    if (!p->entries || !p->free_next || !p->buckets) {
        string_pool_fini(p);
        return -1;
    }
    p->bucket_mask = nb - 1;
    p->cap = cap;
    p->max_bytes = max_bytes;
    if (getrandom(&p->hash_seed, sizeof p->hash_seed, GRND_NONBLOCK) != sizeof p->hash_seed)
        p->hash_seed = (uint64_t)(uintptr_t)p ^ 0x5bd1e9955bd1e995ull;
    return 0;
}

void string_pool_fini(struct string_pool *p)
{
    if (p->entries)
        for (uint32_t i = 0; i < p->next_unused; i++)
            free(p->entries[i]);
    free(p->entries);
    free(p->free_next);
    free(p->buckets);
    memset(p, 0, sizeof *p);
}

/* Length of the valid UTF-8 sequence starting at s (at most n bytes), 0 if invalid. Overlong
 * forms, surrogates and code points past U+10FFFF are invalid, as in RFC 3629. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

/* Printable, valid UTF-8 copy of text into out (room for STRING_POOL_MAX_LEN + 1); its length. */
static size_t clean_copy(const char *text, size_t len, size_t max_len, char *out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t o = 0;
    for (size_t i = 0; i < len && s[i];) {
        size_t n = utf8_sequence(s + i, len - i);
        if (n == 1 && (s[i] < 0x20 || s[i] == 0x7F))
            n = 0;
        size_t take = n ? n : 1;
        if (o + take > max_len)
            break; /* cut at a character boundary */
        if (n)
            memcpy(out + o, s + i, n);
        else
            out[o] = '?';
        o += take;
        i += take;
    }
    out[o] = '\0';
    return o;
}

uint32_t string_pool_intern(struct string_pool *p, const char *text, size_t len, size_t max_len)
{
    if (!text || len == 0 || !p->entries)
        return 0;
    if (max_len > STRING_POOL_MAX_LEN)
        max_len = STRING_POOL_MAX_LEN;
    char clean[STRING_POOL_MAX_LEN + 1];
    size_t n = clean_copy(text, len, max_len, clean);
    if (n == 0)
        return 0;
    uint32_t h = hash_bytes(clean, n, p->hash_seed);
    uint32_t *bucket = &p->buckets[h & p->bucket_mask];
    for (uint32_t id = *bucket; id; id = p->entries[id - 1]->chain) {
        struct pooled_string *s = p->entries[id - 1];
        if (s->hash == h && s->len == n && memcmp(s->text, clean, n) == 0) {
            s->refs++;
            p->interned++;
            return id;
        }
    }
    size_t size = sizeof(struct pooled_string) + n + 1;
    if (p->count >= p->cap || p->bytes + size > p->max_bytes) {
        p->refused++;
        return 0;
    }
    struct pooled_string *s = malloc(size);
    if (!s) {
        p->refused++;
        return 0;
    }
    uint32_t id;
    if (p->free_head) {
        id = p->free_head;
        p->free_head = p->free_next[id - 1];
    } else {
        id = ++p->next_unused; /* count < cap, so a never-used id is left */
    }
    s->refs = 1;
    s->hash = h;
    s->len = (uint16_t)n;
    memcpy(s->text, clean, n + 1);
    s->chain = *bucket;
    *bucket = id;
    p->entries[id - 1] = s;
    p->count++;
    p->bytes += size;
    p->interned++;
    return id;
}

uint32_t string_pool_ref(struct string_pool *p, uint32_t id)
{
    if (id && id <= p->next_unused && p->entries[id - 1])
        p->entries[id - 1]->refs++;
    return id;
}

void string_pool_release(struct string_pool *p, uint32_t id)
{
    if (!id || id > p->next_unused || !p->entries[id - 1])
        return;
    struct pooled_string *s = p->entries[id - 1];
    if (--s->refs > 0)
        return;
    uint32_t *link = &p->buckets[s->hash & p->bucket_mask];
    while (*link != id)
        link = &p->entries[*link - 1]->chain;
    *link = s->chain;
    p->bytes -= sizeof(struct pooled_string) + s->len + 1;
    free(s);
    p->entries[id - 1] = NULL;
    p->free_next[id - 1] = p->free_head;
    p->free_head = id;
    p->count--;
}

const char *string_pool_text(const struct string_pool *p, uint32_t id)
{
    if (!id || id > p->next_unused || !p->entries[id - 1])
        return "";
    return p->entries[id - 1]->text;
}

size_t string_pool_memory(const struct string_pool *p)
{
    return p->bytes + (size_t)p->cap * (sizeof *p->entries + sizeof *p->free_next) +
           ((size_t)p->bucket_mask + 1) * sizeof *p->buckets;
}
