#include "flow/oui.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int entry_compare(const void *a, const void *b)
{
    uint32_t x = ((const struct oui_entry *)a)->prefix, y = ((const struct oui_entry *)b)->prefix;
    return x < y ? -1 : x > y;
}

/* "00:1A:2B" (exactly, then a tab or space): the prefix, or -1. */
static long parse_prefix(const char *s)
{
    unsigned v[3];
    int used = 0;
    if (sscanf(s, "%2x%*[:-]%2x%*[:-]%2x%n", &v[0], &v[1], &v[2], &used) != 3 || used != 8 ||
        (s[8] != '\t' && s[8] != ' '))
        return -1;
    return (long)(v[0] << 16 | v[1] << 8 | v[2]);
}

static int add_name(struct oui_table *t, size_t *cap, const char *name, size_t len, uint32_t *at)
{
    if (t->names_len + len + 1 > *cap) {
        size_t grown = *cap ? *cap * 2 : 1 << 16;
        while (grown < t->names_len + len + 1)
            grown *= 2;
        char *p = realloc(t->names, grown);
        if (!p)
            return -1;
        t->names = p;
        *cap = grown;
    }
    *at = (uint32_t)t->names_len;
    memcpy(t->names + t->names_len, name, len);
    t->names[t->names_len + len] = '\0';
    t->names_len += len + 1;
    return 0;
}

int oui_load(struct oui_table *t, const char *path)
{
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[512];
    size_t cap = 0, names_cap = 0;
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n' || line[0] == '\r')
            continue;
        if (strchr(line, '/')) {
            char *tab = strchr(line, '\t');
            if (tab && memchr(line, '/', (size_t)(tab - line)))
                continue; /* a /28 or /36 block */
        }
        long prefix = parse_prefix(line);
        char *fields[3] = {line, NULL, NULL};
        for (int i = 1; i < 3 && fields[i - 1]; i++) {
            char *tab = strchr(fields[i - 1], '\t');
            fields[i] = tab ? tab + 1 : NULL;
            if (tab)
                *tab = '\0';
        }
        const char *name = fields[2] ? fields[2] : fields[1];
        if (prefix < 0 || !name) {
            t->bad_lines++;
            continue;
        }
        size_t len = strcspn(name, "\r\n");
        while (len && isspace((unsigned char)name[len - 1]))
            len--;
        if (len > 120)
            len = 120;
        if (t->count == cap) {
            size_t grown = cap ? cap * 2 : 4096;
            struct oui_entry *p = realloc(t->entries, grown * sizeof *p);
            if (!p) {
                rc = -1;
                break;
            }
            t->entries = p;
            cap = grown;
        }
        uint32_t at;
        if (add_name(t, &names_cap, name, len, &at) < 0) {
            rc = -1;
            break;
        }
        t->entries[t->count++] = (struct oui_entry){(uint32_t)prefix, at};
    }
    fclose(f);
    if (rc < 0) {
        oui_free(t);
        return -1;
    }
    qsort(t->entries, t->count, sizeof *t->entries, entry_compare);
    /* a prefix listed twice: the first line read wins (qsort is not stable: keep the lowest
     * name offset, which is the earlier line) */
    size_t out = 0;
    for (size_t i = 0; i < t->count; i++) {
        if (out && t->entries[out - 1].prefix == t->entries[i].prefix) {
            if (t->entries[i].name < t->entries[out - 1].name)
                t->entries[out - 1].name = t->entries[i].name;
            continue;
        }
        t->entries[out++] = t->entries[i];
    }
    t->count = out;
    return 0;
}

void oui_free(struct oui_table *t)
{
    free(t->entries);
    free(t->names);
    memset(t, 0, sizeof *t);
}

const char *oui_vendor(const struct oui_table *t, const uint8_t mac[6])
{
    uint32_t prefix = (uint32_t)mac[0] << 16 | (uint32_t)mac[1] << 8 | mac[2];
    size_t lo = 0, hi = t->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->entries[mid].prefix < prefix)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->count && t->entries[lo].prefix == prefix ? t->names + t->entries[lo].name : NULL;
}

size_t oui_memory(const struct oui_table *t)
{
    return t->count * sizeof *t->entries + t->names_len;
}
