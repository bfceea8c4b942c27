/* The SQLite side of the store: schema and migrations, the batch insert. Pool threads only. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <string.h>
#include <time.h>

#include "store/store_internal.h"

/* Migrations: MIGRATIONS[v] takes a database from user_version v to v + 1. Append only. */
static const char *const MIGRATIONS[STORE_SCHEMA_VERSION] = {
    /* 0 -> 1: flows. Addresses as 4- or 16-byte blobs, times in microseconds (as captured). */
    "CREATE TABLE flows ("
    " flow_id INTEGER NOT NULL, first_us INTEGER NOT NULL, last_us INTEGER NOT NULL,"
    " ip_version INTEGER NOT NULL, proto INTEGER NOT NULL, vlan INTEGER NOT NULL,"
    " client_ip BLOB NOT NULL, client_port INTEGER NOT NULL,"
    " server_ip BLOB NOT NULL, server_port INTEGER NOT NULL,"
    " c2s_packets INTEGER NOT NULL, c2s_bytes INTEGER NOT NULL,"
    " s2c_packets INTEGER NOT NULL, s2c_bytes INTEGER NOT NULL,"
    " c2s_tcp_flags INTEGER NOT NULL, s2c_tcp_flags INTEGER NOT NULL,"
    " l7 TEXT NOT NULL, category TEXT NOT NULL, l7_final INTEGER NOT NULL,"
    " l7_guessed INTEGER NOT NULL, tunnel_depth INTEGER NOT NULL,"
    " source TEXT NOT NULL, client_side TEXT, verdict TEXT);"
    "CREATE INDEX flows_by_last ON flows(last_us);"
    "CREATE INDEX flows_by_client ON flows(client_ip, last_us);"
    "CREATE INDEX flows_by_server ON flows(server_ip, last_us);",
    /* 1 -> 2: time series, one row per resolution (60, 3600, 86400 s), bucket and series. */
    "CREATE TABLE series ("
    " res INTEGER NOT NULL, t INTEGER NOT NULL, kind INTEGER NOT NULL, key TEXT NOT NULL,"
    " bytes INTEGER NOT NULL, packets INTEGER NOT NULL, flows INTEGER NOT NULL,"
    " drops INTEGER NOT NULL, PRIMARY KEY (res, t, kind, key)) WITHOUT ROWID;",
};

static const char INSERT_FLOW[] =
    "INSERT INTO flows (flow_id, first_us, last_us, ip_version, proto, vlan, client_ip,"
    " client_port, server_ip, server_port, c2s_packets, c2s_bytes, s2c_packets, s2c_bytes,"
    " c2s_tcp_flags, s2c_tcp_flags, l7, category, l7_final, l7_guessed, tunnel_depth, source,"
    " client_side, verdict) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

static int fail(sqlite3 *db, const char *what, char *err, size_t errsize)
{
    snprintf(err, errsize, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
    return -1;
}

static int exec(sqlite3 *db, const char *sql, char *err, size_t errsize)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    snprintf(err, errsize, "%s", msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

static int user_version(sqlite3 *db, int *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -1;
    *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc;
}

/* Is this file a database we can read at all? Reading the schema fails on garbage or a damaged
 * header; a full integrity check would read the whole file on every start. */
static bool readable(sqlite3 *db)
{
    return sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) == SQLITE_OK;
}

static int migrate(sqlite3 *db, char *err, size_t errsize)
{
    int v;
    if (user_version(db, &v) < 0)
        return fail(db, "reading the schema version", err, errsize);
    if (v > STORE_SCHEMA_VERSION) {
        snprintf(err, errsize, "written by a newer tapbox (schema %d; this one knows up to %d): "
                 "left as it is", v, STORE_SCHEMA_VERSION);
        return -1;
    }
    for (; v < STORE_SCHEMA_VERSION; v++) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
        char why[200];
        if (exec(db, "BEGIN IMMEDIATE", why, sizeof why) < 0 ||
            exec(db, MIGRATIONS[v], why, sizeof why) < 0 || exec(db, sql, why, sizeof why) < 0 ||
            exec(db, "COMMIT", why, sizeof why) < 0) {
            exec(db, "ROLLBACK", why, sizeof why);
            snprintf(err, errsize, "schema %d -> %d: %s", v, v + 1, why);
            return -1;
        }
    }
    return 0;
}

static int open_one(const char *path, int flags, sqlite3 **db)
{
    int rc = sqlite3_open_v2(path, db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK)
        sqlite3_busy_timeout(*db, 2000);
    return rc;
}

int store_db_open(const char *path, sqlite3 **wdb, sqlite3 **rdb, sqlite3_stmt **insert,
                  char *moved, size_t movedsize, char *err, size_t errsize)
{
    *wdb = *rdb = NULL;
    *insert = NULL;
    moved[0] = '\0';
    if (open_one(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, wdb) != SQLITE_OK)
        goto failed;
    if (!readable(*wdb)) {
        /* Not ours to repair: keep it for whoever wants to look, start a new one. */
        sqlite3_close(*wdb);
        *wdb = NULL;
        snprintf(moved, movedsize, "%s.corrupt-%lld", path, (long long)time(NULL));
        if (rename(path, moved) < 0) {
            snprintf(err, errsize, "not a usable database, and it cannot be moved aside");
            moved[0] = '\0';
            return -1;
        }
        char side[300];
        for (const char *ext = "-wal"; ext; ext = ext[1] == 'w' ? "-shm" : NULL) {
            snprintf(side, sizeof side, "%s%s", path, ext);
            remove(side); /* journals of the old file would not match the new one */
        }
        if (open_one(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, wdb) != SQLITE_OK)
            goto failed;
    }
    /* WAL: a commit appends to one file, readers do not block the writer. FULL: a committed
     * batch is synced (one fsync per batch). */
    if (exec(*wdb, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", err, errsize) < 0 ||
        migrate(*wdb, err, errsize) < 0)
        goto closing;
    if (sqlite3_prepare_v3(*wdb, INSERT_FLOW, -1, SQLITE_PREPARE_PERSISTENT, insert, NULL) !=
        SQLITE_OK) {
        fail(*wdb, "preparing the insert", err, errsize);
        goto closing;
    }
    if (open_one(path, SQLITE_OPEN_READONLY, rdb) != SQLITE_OK) {
        fail(*rdb, "opening the reader", err, errsize);
        goto closing;
    }
    return 0;
failed:
    fail(*wdb, "cannot open", err, errsize);
closing:
    store_db_close(wdb, rdb, insert);
    return -1;
}

static void bind_addr(sqlite3_stmt *st, int col, uint8_t version, const uint8_t addr[16])
{
    sqlite3_bind_blob(st, col, addr, version == 4 ? 4 : 16, SQLITE_TRANSIENT);
}

static void bind_text_or_null(sqlite3_stmt *st, int col, const char *s)
{
    if (s[0])
        sqlite3_bind_text(st, col, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, col);
}

int store_db_insert_flows(sqlite3 *db, sqlite3_stmt **insert, const struct store_flow *rows,
                          size_t n, char *err, size_t errsize)
{
    if (exec(db, "BEGIN", err, errsize) < 0)
        return -1;
    sqlite3_stmt *st = *insert;
    for (size_t i = 0; i < n; i++) {
        const struct store_flow *r = &rows[i];
        int c = 1;
        sqlite3_bind_int64(st, c++, (sqlite3_int64)r->id);
        sqlite3_bind_int64(st, c++, (sqlite3_int64)r->first_us);
        sqlite3_bind_int64(st, c++, (sqlite3_int64)r->last_us);
        sqlite3_bind_int(st, c++, r->ip_version);
        sqlite3_bind_int(st, c++, r->l4_proto);
        sqlite3_bind_int(st, c++, r->vlan);
        bind_addr(st, c++, r->ip_version, r->client_addr);
        sqlite3_bind_int(st, c++, r->client_port);
        bind_addr(st, c++, r->ip_version, r->server_addr);
        sqlite3_bind_int(st, c++, r->server_port);
        for (int d = 0; d < 2; d++) {
            sqlite3_bind_int64(st, c++, (sqlite3_int64)r->packets[d]);
            sqlite3_bind_int64(st, c++, (sqlite3_int64)r->bytes[d]);
        }
        sqlite3_bind_int(st, c++, r->tcp_flags[0]);
        sqlite3_bind_int(st, c++, r->tcp_flags[1]);
        sqlite3_bind_text(st, c++, r->l7, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, c++, r->category, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, c++, r->l7_final);
        sqlite3_bind_int(st, c++, r->l7_guessed);
        sqlite3_bind_int(st, c++, r->tunnel_depth);
        sqlite3_bind_text(st, c++, r->source, -1, SQLITE_TRANSIENT);
        bind_text_or_null(st, c++, r->client_side);
        bind_text_or_null(st, c++, r->verdict);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            fail(db, "insert", err, errsize);
            char ignore[64];
            exec(db, "ROLLBACK", ignore, sizeof ignore);
            return -1;
        }
    }
    if (exec(db, "COMMIT", err, errsize) < 0) {
        char ignore[64];
        exec(db, "ROLLBACK", ignore, sizeof ignore);
        return -1;
    }
    return 0;
}

void store_db_close(sqlite3 **wdb, sqlite3 **rdb, sqlite3_stmt **insert)
{
    sqlite3_finalize(*insert);
    *insert = NULL;
    sqlite3_close(*rdb);
    sqlite3_close(*wdb); /* the last connection: checkpoints the WAL into the file */
    *rdb = *wdb = NULL;
}

static int pragma_u64(sqlite3 *db, const char *sql, uint64_t *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -1;
    *out = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc;
}

static int used_bytes(sqlite3 *db, uint64_t *out)
{
    uint64_t pages, free_pages, page_size;
    if (pragma_u64(db, "PRAGMA page_count", &pages) < 0 ||
        pragma_u64(db, "PRAGMA freelist_count", &free_pages) < 0 ||
        pragma_u64(db, "PRAGMA page_size", &page_size) < 0)
        return -1;
    *out = (pages - free_pages) * page_size;
    return 0;
}

int store_db_retain(sqlite3 *db, uint64_t max_bytes, struct store_db_figures *fig, char *err,
                    size_t errsize)
{
    /* Freed pages are reused by the next inserts: the file stops growing at the cap (plus at
     * most a batch), and deleting in small steps keeps each transaction short. */
    char sql[160];
    snprintf(sql, sizeof sql, "DELETE FROM flows WHERE rowid IN (SELECT rowid FROM flows ORDER BY "
             "rowid LIMIT %d)", STORE_RETENTION_STEP);
    for (int step = 0; step < 1000; step++) {
        if (used_bytes(db, &fig->used_bytes) < 0)
            return fail(db, "measuring the database", err, errsize);
        if (fig->used_bytes <= max_bytes)
            break;
        if (exec(db, sql, err, errsize) < 0)
            return -1;
        int gone = sqlite3_changes(db);
        fig->expired += (uint64_t)gone;
        if (gone == 0)
            break; /* nothing left to delete: the indexes and schema alone are over the cap */
    }
    /* The oldest row by rowid (insertion order), the newest by the last_us index. */
    if (pragma_u64(db, "SELECT count(*) FROM flows", &fig->rows) < 0 ||
        pragma_u64(db, "SELECT coalesce((SELECT first_us FROM flows ORDER BY rowid LIMIT 1), 0)",
                   &fig->oldest_us) < 0 ||
        pragma_u64(db, "SELECT coalesce(max(last_us), 0) FROM flows", &fig->newest_us) < 0)
        return fail(db, "measuring the database", err, errsize);
    return 0;
}

uint64_t store_db_default_cap(const char *path)
{
    char *copy = strdup(path);
    struct statvfs fs;
    uint64_t cap = STORE_MIN_MAX_BYTES;
    if (copy && statvfs(dirname(copy), &fs) == 0) {
        uint64_t share = (uint64_t)((double)fs.f_bavail * (double)fs.f_frsize * STORE_DEFAULT_MAX_SHARE);
        if (share > cap)
            cap = share;
    }
    free(copy);
    return cap;
}

static const struct {
    unsigned res_s, keep_days;
} RESOLUTIONS[] = {{60, STORE_MINUTE_DAYS}, {3600, STORE_HOUR_DAYS}, {86400, STORE_DAY_DAYS}};

int store_db_insert_samples(sqlite3 *db, const struct store_sample *samples, size_t n,
                            char *err, size_t errsize)
{
    static const char sql[] =
        "INSERT INTO series (res, t, kind, key, bytes, packets, flows, drops)"
        " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (res, t, kind, key) DO UPDATE SET"
        " bytes = bytes + excluded.bytes, packets = packets + excluded.packets,"
        " flows = flows + excluded.flows, drops = drops + excluded.drops";
    sqlite3_stmt *st;
    if (exec(db, "BEGIN", err, errsize) < 0)
        return -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        goto failed;
    for (size_t i = 0; i < n; i++) {
        const struct store_sample *x = &samples[i];
        /* The minute, and the hour and day it rolls up into. */
        for (size_t r = 0; r < sizeof RESOLUTIONS / sizeof RESOLUTIONS[0]; r++) {
            unsigned res = RESOLUTIONS[r].res_s;
            sqlite3_bind_int(st, 1, (int)res);
            sqlite3_bind_int64(st, 2, (sqlite3_int64)(x->minute_s - x->minute_s % res));
            sqlite3_bind_int(st, 3, (int)x->kind);
            sqlite3_bind_text(st, 4, x->key, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 5, (sqlite3_int64)x->bytes);
            sqlite3_bind_int64(st, 6, (sqlite3_int64)x->packets);
            sqlite3_bind_int64(st, 7, (sqlite3_int64)x->flows);
            sqlite3_bind_int64(st, 8, (sqlite3_int64)x->drops);
            int rc = sqlite3_step(st);
            sqlite3_reset(st);
            if (rc != SQLITE_DONE)
                goto failed;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    /* Each resolution keeps its own age. */
    uint64_t now = n ? samples[n - 1].minute_s : 0;
    for (size_t r = 0; r < sizeof RESOLUTIONS / sizeof RESOLUTIONS[0]; r++) {
        char del[128];
        uint64_t keep = (uint64_t)RESOLUTIONS[r].keep_days * 86400;
        snprintf(del, sizeof del, "DELETE FROM series WHERE res = %u AND t < %lld",
                 RESOLUTIONS[r].res_s, (long long)(now > keep ? now - keep : 0));
        if (exec(db, del, err, errsize) < 0)
            goto rollback;
    }
    return exec(db, "COMMIT", err, errsize);
failed:
    fail(db, "series", err, errsize);
    sqlite3_finalize(st);
rollback:;
    char ignore[64];
    exec(db, "ROLLBACK", ignore, sizeof ignore);
    return -1;
}
