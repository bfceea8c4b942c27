/*
 * The names of stored flows (L7 protocol, category, source, port side, verdict) as small ids:
 * a flow row holds ids, the names table each text once, which keeps rows short and the SD
 * card's writes low. This is the writer's cache of that table (pool: the writer job only).
 */
#ifndef TAPBOX_STORE_NAMES_H
#define TAPBOX_STORE_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#define STORE_NAMES_MAX 16384    /* distinct names; a new one beyond is stored as none */

struct store_name_slot {
    char *name;
    int64_t id;
};

struct store_names {
    struct store_name_slot *slots;
    size_t size, count;          /* size: a power of two, at least twice count */
    uint64_t refused;            /* names not stored because of STORE_NAMES_MAX */
};

/* (Re)loads the cache from the names table; 0 or -1. */
int store_names_load(struct store_names *n, sqlite3 *db);
/* The id of name, inserted (in the caller's transaction) when new; 0 for "" and for a name
 * refused by the cap; -1 on a database error. */
int64_t store_names_id(struct store_names *n, sqlite3 *db, const char *name);
void store_names_free(struct store_names *n);

#endif
