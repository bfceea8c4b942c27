/* The writer's cache of the names table (store_names.h). */
#include "store/store_names.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_text(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

static struct store_name_slot *slot_of(const struct store_names *n, const char *name)
{
    size_t i = (size_t)hash_text(name) & (n->size - 1);
    while (n->slots[i].name && strcmp(n->slots[i].name, name) != 0)
        i = (i + 1) & (n->size - 1);
    return &n->slots[i];
}

static int grow(struct store_names *n)
{
    size_t size = n->size ? n->size * 2 : 256;
    struct store_name_slot *old = n->slots;
    size_t old_size = n->size;
    if (!(n->slots = calloc(size, sizeof *n->slots))) {
        n->slots = old;
        return -1;
    }
    n->size = size;
    for (size_t i = 0; i < old_size; i++)
        if (old[i].name)
            *slot_of(n, old[i].name) = old[i];
    free(old);
    return 0;
}

static int remember(struct store_names *n, const char *name, int64_t id)
{
    if ((n->count + 1) * 2 > n->size && grow(n) < 0)
        return -1;
    struct store_name_slot *slot = slot_of(n, name);
    if (slot->name)
        return 0;
    if (!(slot->name = strdup(name)))
        return -1;
    slot->id = id;
    n->count++;
    return 0;
}

void store_names_free(struct store_names *n)
{
    for (size_t i = 0; i < n->size; i++)
        free(n->slots[i].name);
    free(n->slots);
    n->slots = NULL;
    n->size = n->count = 0;
}

int store_names_load(struct store_names *n, sqlite3 *db)
{
    uint64_t refused = n->refused;
    store_names_free(n);
    n->refused = refused;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT id, name FROM names", -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 1);
        if (name && remember(n, name, sqlite3_column_int64(st, 0)) < 0)
            break;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int64_t store_names_id(struct store_names *n, sqlite3 *db, const char *name)
{
    if (!name[0])
        return 0;
    if (n->size) {
        struct store_name_slot *slot = slot_of(n, name);
        if (slot->name)
            return slot->id;
    }
    if (n->count >= STORE_NAMES_MAX) {
        n->refused++;
        return 0;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT INTO names (name) VALUES (?)", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    int64_t id = sqlite3_last_insert_rowid(db);
    return remember(n, name, id) < 0 ? -1 : id;
}
