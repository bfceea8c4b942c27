/* The SQLite side of the store: schema and migrations, the batch insert. Pool threads only. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <string.h>
#include <time.h>

#include "store/store_bloom.h"
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
    /* 2 -> 3: what an SD card can afford. The indexes went: each batch rewrote pages all over
     * them (even last_us comes out of order: flows end in any order), several times the bytes
     * of the rows. A chunk per batch (its row range, time span and a Bloom filter of its hosts)
     * finds the rows of a time range or a host instead; names are ids into a names table. Rows
     * keep their rowids. */
    "CREATE TABLE names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "INSERT OR IGNORE INTO names (name) SELECT l7 FROM flows UNION SELECT category FROM flows"
    " UNION SELECT source FROM flows UNION SELECT client_side FROM flows WHERE client_side IS NOT"
    " NULL UNION SELECT verdict FROM flows WHERE verdict IS NOT NULL;"
    "DELETE FROM names WHERE name = '';"
    "CREATE TABLE flows_v3 ("
    " flow_id INTEGER NOT NULL, first_us INTEGER NOT NULL, last_us INTEGER NOT NULL,"
    " ip_version INTEGER NOT NULL, proto INTEGER NOT NULL, vlan INTEGER NOT NULL,"
    " client_ip BLOB NOT NULL, client_port INTEGER NOT NULL,"
    " server_ip BLOB NOT NULL, server_port INTEGER NOT NULL,"
    " c2s_packets INTEGER NOT NULL, c2s_bytes INTEGER NOT NULL,"
    " s2c_packets INTEGER NOT NULL, s2c_bytes INTEGER NOT NULL,"
    " c2s_tcp_flags INTEGER NOT NULL, s2c_tcp_flags INTEGER NOT NULL,"
    " l7 INTEGER, category INTEGER, l7_final INTEGER NOT NULL,"
    " l7_guessed INTEGER NOT NULL, tunnel_depth INTEGER NOT NULL,"
    " source INTEGER, client_side INTEGER, verdict INTEGER);"
    "INSERT INTO flows_v3 (rowid, flow_id, first_us, last_us, ip_version, proto, vlan, client_ip,"
    " client_port, server_ip, server_port, c2s_packets, c2s_bytes, s2c_packets, s2c_bytes,"
    " c2s_tcp_flags, s2c_tcp_flags, l7, category, l7_final, l7_guessed, tunnel_depth, source,"
    " client_side, verdict) SELECT f.rowid, flow_id, first_us, last_us, ip_version, proto, vlan,"
    " client_ip, client_port, server_ip, server_port, c2s_packets, c2s_bytes, s2c_packets,"
    " s2c_bytes, c2s_tcp_flags, s2c_tcp_flags, (SELECT id FROM names WHERE name = f.l7),"
    " (SELECT id FROM names WHERE name = f.category), l7_final, l7_guessed, tunnel_depth,"
    " (SELECT id FROM names WHERE name = f.source),"
    " (SELECT id FROM names WHERE name = f.client_side),"
    " (SELECT id FROM names WHERE name = f.verdict) FROM flows f ORDER BY f.rowid;"
    "DROP TABLE flows;"
    "ALTER TABLE flows_v3 RENAME TO flows;"
    "CREATE TABLE chunks (id INTEGER PRIMARY KEY, lo INTEGER NOT NULL, hi INTEGER NOT NULL,"
    " first_us INTEGER NOT NULL, last_us INTEGER NOT NULL, hosts BLOB);"
    "INSERT INTO chunks (lo, hi, first_us, last_us, hosts) SELECT min(rowid), max(rowid),"
    " min(first_us), max(last_us), NULL FROM flows HAVING count(*) > 0;",
    /* 3 -> 4: what survives a restart. Hosts: totals since history began, and the counters of
     * the entry in memory at the last save (seen_*), which the next save's traffic is measured
     * against. Counters: the sources' and policy rules', each as last saved (those of a source
     * or rule absent from a run stay, until they are as old as hosts may be). */
    "CREATE TABLE hosts ("
    " vlan INTEGER NOT NULL, ip BLOB NOT NULL, local INTEGER NOT NULL,"
    " first_us INTEGER NOT NULL, last_us INTEGER NOT NULL,"
    " packets_sent INTEGER NOT NULL, packets_rcvd INTEGER NOT NULL,"
    " bytes_sent INTEGER NOT NULL, bytes_rcvd INTEGER NOT NULL, flows INTEGER NOT NULL,"
    " seen_first_us INTEGER NOT NULL, seen_packets_sent INTEGER NOT NULL,"
    " seen_packets_rcvd INTEGER NOT NULL, seen_bytes_sent INTEGER NOT NULL,"
    " seen_bytes_rcvd INTEGER NOT NULL, seen_flows INTEGER NOT NULL,"
    " PRIMARY KEY (vlan, ip)) WITHOUT ROWID;"
    "CREATE TABLE counters (kind INTEGER NOT NULL, name TEXT NOT NULL, text TEXT NOT NULL,"
    " flows INTEGER NOT NULL, packets INTEGER NOT NULL, bytes INTEGER NOT NULL,"
    " saved_s INTEGER NOT NULL, PRIMARY KEY (kind, name, text)) WITHOUT ROWID;",
    /* 4 -> 5: what detection found (issue 13) and TCP health. Names, fingerprints, certificate
     * names and user agents repeat: ids into names. A URL rarely does: inline. NULL when absent
     * (one header byte), so a row without them costs next to nothing. */
    "ALTER TABLE flows ADD COLUMN host_name INTEGER;"
    "ALTER TABLE flows ADD COLUMN ja3c INTEGER;"
    "ALTER TABLE flows ADD COLUMN ja3s INTEGER;"
    "ALTER TABLE flows ADD COLUMN tls_issuer INTEGER;"
    "ALTER TABLE flows ADD COLUMN tls_subject INTEGER;"
    "ALTER TABLE flows ADD COLUMN tls_not_before INTEGER;"
    "ALTER TABLE flows ADD COLUMN tls_not_after INTEGER;"
    "ALTER TABLE flows ADD COLUMN url TEXT;"
    "ALTER TABLE flows ADD COLUMN user_agent INTEGER;"
    "ALTER TABLE flows ADD COLUMN http_status INTEGER;"
    "ALTER TABLE flows ADD COLUMN dns_qtype INTEGER;"
    "ALTER TABLE flows ADD COLUMN dns_rcode INTEGER;"
    "ALTER TABLE flows ADD COLUMN risks INTEGER;"
    "ALTER TABLE flows ADD COLUMN risk_score INTEGER;"
    "ALTER TABLE flows ADD COLUMN c2s_retrans INTEGER;"
    "ALTER TABLE flows ADD COLUMN s2c_retrans INTEGER;"
    "ALTER TABLE flows ADD COLUMN c2s_out_of_order INTEGER;"
    "ALTER TABLE flows ADD COLUMN s2c_out_of_order INTEGER;"
    "ALTER TABLE flows ADD COLUMN c2s_zero_window INTEGER;"
    "ALTER TABLE flows ADD COLUMN s2c_zero_window INTEGER;"
    "ALTER TABLE flows ADD COLUMN rtt_client_us INTEGER;"
    "ALTER TABLE flows ADD COLUMN rtt_server_us INTEGER;",
    /* 5 -> 6: what was learned of a host besides its counters: its name (with where it came
     * from and until when it holds) and its device (MAC, when first and last seen, changes).
     * NULL when not known. */
    "ALTER TABLE hosts ADD COLUMN name TEXT;"
    "ALTER TABLE hosts ADD COLUMN name_source INTEGER;"
    "ALTER TABLE hosts ADD COLUMN name_expires_us INTEGER;"
    "ALTER TABLE hosts ADD COLUMN mac BLOB;"
    "ALTER TABLE hosts ADD COLUMN mac_first_us INTEGER;"
    "ALTER TABLE hosts ADD COLUMN mac_last_us INTEGER;"
    "ALTER TABLE hosts ADD COLUMN mac_changes INTEGER;",
};

static const char INSERT_CHUNK[] =
    "INSERT INTO chunks (lo, hi, first_us, last_us, hosts) VALUES (?,?,?,?,?)";

static const char INSERT_FLOW[] =
    "INSERT INTO flows (flow_id, first_us, last_us, ip_version, proto, vlan, client_ip,"
    " client_port, server_ip, server_port, c2s_packets, c2s_bytes, s2c_packets, s2c_bytes,"
    " c2s_tcp_flags, s2c_tcp_flags, l7, category, l7_final, l7_guessed, tunnel_depth, source,"
    " client_side, verdict, host_name, ja3c, ja3s, tls_issuer, tls_subject, url, user_agent,"
    " tls_not_before, tls_not_after, http_status, dns_qtype, dns_rcode, risks, risk_score,"
    " c2s_retrans, s2c_retrans, c2s_out_of_order, s2c_out_of_order, c2s_zero_window,"
    " s2c_zero_window, rtt_client_us, rtt_server_us) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,"
    "?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

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

int store_db_exec(sqlite3 *db, const char *sql, char *err, size_t errsize)
{
    return exec(db, sql, err, errsize);
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

static int count_rows(sqlite3 *db, uint64_t *out);

static int set_journal_mode(sqlite3 *db, char *err, size_t errsize)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=PERSIST", -1, &st, NULL) != SQLITE_OK)
        return fail(db, "setting the journal mode", err, errsize);
    const unsigned char *mode = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    int ok = mode && strcmp((const char *)mode, "persist") == 0;
    if (!ok)
        snprintf(err, errsize, "the journal mode stays %s (another process has the file open?)",
                 mode ? (const char *)mode : "unknown");
    sqlite3_finalize(st);
    return ok && exec(db, "PRAGMA synchronous=FULL", err, errsize) == 0 ? 0 : -1;
}

int store_db_open(const char *path, struct store_writer *w, sqlite3 **rdb, char *moved,
                  size_t movedsize, char *err, size_t errsize)
{
    struct store_retention keep = w->keep;
    memset(w, 0, sizeof *w);
    w->keep = keep;
    sqlite3 **wdb = &w->db;
    *rdb = NULL;
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
        static const char *const sides[] = {"-journal", "-wal", "-shm"};
        for (size_t i = 0; i < sizeof sides / sizeof sides[0]; i++) {
            snprintf(side, sizeof side, "%s%s", path, sides[i]);
            remove(side); /* journals of the old file would not match the new one */
        }
        if (open_one(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, wdb) != SQLITE_OK)
            goto failed;
    }
    /* A rollback journal, kept between commits (PERSIST: no file made and deleted each time),
     * with synchronous=FULL: a committed batch is on the card. Flows are appended: a commit
     * writes the new pages once into the file and journals only the few it changes, where WAL
     * wrote every page twice (into the WAL, then at the checkpoint): 117 instead of 208 bytes
     * per flow in history-bench.sh. The price: a commit waits for a running query (at most
     * QUERY_TIME_LIMIT_MS; the writer's busy timeout is longer) and queries wait for a commit.
     * A file of an older tapbox in WAL mode is converted here (the only connection yet). */
    if (set_journal_mode(*wdb, err, errsize) < 0 || migrate(*wdb, err, errsize) < 0)
        goto closing;
    sqlite3_busy_timeout(*wdb, STORE_WRITER_BUSY_MS);
    if (sqlite3_prepare_v3(*wdb, INSERT_FLOW, -1, SQLITE_PREPARE_PERSISTENT, &w->insert_flow,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(*wdb, INSERT_CHUNK, -1, SQLITE_PREPARE_PERSISTENT, &w->insert_chunk,
                           NULL) != SQLITE_OK) {
        fail(*wdb, "preparing the inserts", err, errsize);
        goto closing;
    }
    if (store_names_load(&w->names, *wdb) < 0 || count_rows(*wdb, &w->rows) < 0) {
        fail(*wdb, "reading the names and flows", err, errsize);
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
    store_db_close(w, rdb);
    return -1;
}

static void bind_addr(sqlite3_stmt *st, int col, uint8_t version, const uint8_t addr[16])
{
    sqlite3_bind_blob(st, col, addr, version == 4 ? 4 : 16, SQLITE_TRANSIENT);
}

static void bind_name(sqlite3_stmt *st, int col, int64_t id)
{
    if (id > 0)
        sqlite3_bind_int64(st, col, id);
    else
        sqlite3_bind_null(st, col);
}

/* Orders addresses (version first) so that a batch's distinct hosts can be counted. */
struct host_addr {
    uint8_t len, addr[16];
};

static int addr_cmp(const void *a, const void *b)
{
    const struct host_addr *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->addr, y->addr, x->len);
}

/* The chunk of rows lo..hi: their time span and the Bloom filter of their distinct hosts. */
static int insert_chunk(struct store_writer *w, const struct store_flow *rows, size_t n,
                        sqlite3_int64 lo, sqlite3_int64 hi)
{
    struct host_addr *hosts = malloc(2 * n * sizeof *hosts);
    uint8_t *bits = NULL;
    size_t distinct = 0, size = 0;
    uint64_t first = UINT64_MAX, last = 0;
    for (size_t i = 0; i < n; i++) {
        first = rows[i].first_us < first ? rows[i].first_us : first;
        last = rows[i].last_us > last ? rows[i].last_us : last;
    }
    if (hosts) {
        for (size_t i = 0; i < n; i++) {
            uint8_t len = rows[i].ip_version == 4 ? 4 : 16;
            hosts[2 * i].len = hosts[2 * i + 1].len = len;
            memcpy(hosts[2 * i].addr, rows[i].client_addr, 16);
            memcpy(hosts[2 * i + 1].addr, rows[i].server_addr, 16);
        }
        qsort(hosts, 2 * n, sizeof *hosts, addr_cmp);
        for (size_t i = 0; i < 2 * n; i++)
            distinct += i == 0 || addr_cmp(&hosts[i - 1], &hosts[i]) != 0;
        size = store_bloom_size(distinct);
        if ((bits = calloc(1, size)))
            for (size_t i = 0; i < 2 * n; i++)
                store_bloom_add(bits, size, hosts[i].addr, hosts[i].len);
    }
    /* Without memory for a filter the chunk has none: every host query scans it. */
    sqlite3_stmt *st = w->insert_chunk;
    sqlite3_bind_int64(st, 1, lo);
    sqlite3_bind_int64(st, 2, hi);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)first);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)last);
    if (bits)
        sqlite3_bind_blob(st, 5, bits, (int)size, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 5);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    free(bits);
    free(hosts);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The ids of a row's names (new names are inserted in the batch's transaction): l7, category,
 * source, client side, verdict, then its texts but the URL (kept inline). */
#define ROW_NAMES (5 + STORE_TEXTS - 1)
static const char *row_text(const struct store_flow *r, const char *text, enum store_text t)
{
    return r->text[t] && text ? text + r->text[t] - 1 : "";
}

static int name_ids(struct store_writer *w, const struct store_flow *r, const char *text,
                    int64_t id[ROW_NAMES])
{
    const char *names[ROW_NAMES] = {r->l7, r->category, r->source, r->client_side, r->verdict};
    int n = 5;
    for (int t = 0; t < STORE_TEXTS; t++)
        if (t != STORE_TEXT_URL)
            names[n++] = row_text(r, text, (enum store_text)t);
    for (int i = 0; i < ROW_NAMES; i++)
        if ((id[i] = store_names_id(&w->names, w->db, names[i])) < 0)
            return -1;
    return 0;
}

/* A count that is 0 most of the time: 0 costs no payload byte in SQLite's record format. */
static void bind_u64(sqlite3_stmt *st, int col, uint64_t v)
{
    sqlite3_bind_int64(st, col, (sqlite3_int64)v);
}

int store_db_insert_flows(struct store_writer *w, const struct store_flow *rows, size_t n,
                          const char *text, int64_t *first_row, int64_t *last_row, char *err,
                          size_t errsize)
{
    sqlite3 *db = w->db;
    if (exec(db, "BEGIN", err, errsize) < 0)
        return -1;
    sqlite3_stmt *st = w->insert_flow;
    sqlite3_int64 lo = 0, hi = 0;
    for (size_t i = 0; i < n; i++) {
        const struct store_flow *r = &rows[i];
        int64_t name[ROW_NAMES];
        if (name_ids(w, r, text, name) < 0)
            goto failed;
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
        bind_name(st, c++, name[0]);
        bind_name(st, c++, name[1]);
        sqlite3_bind_int(st, c++, r->l7_final);
        sqlite3_bind_int(st, c++, r->l7_guessed);
        sqlite3_bind_int(st, c++, r->tunnel_depth);
        bind_name(st, c++, name[2]);
        bind_name(st, c++, name[3]);
        bind_name(st, c++, name[4]);
        for (int k = 5; k < 10; k++) /* host name, JA3C, JA3S, issuer, subject */
            bind_name(st, c++, name[k]);
        if (r->text[STORE_TEXT_URL])
            sqlite3_bind_text(st, c++, row_text(r, text, STORE_TEXT_URL), -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, c++);
        bind_name(st, c++, name[10]); /* user agent */
        bind_u64(st, c++, r->tls_not_before);
        bind_u64(st, c++, r->tls_not_after);
        bind_u64(st, c++, r->http_status);
        bind_u64(st, c++, r->dns_qtype);
        if (r->dns_reply)
            sqlite3_bind_int(st, c++, r->dns_rcode);
        else
            sqlite3_bind_null(st, c++);
        bind_u64(st, c++, r->risks);
        bind_u64(st, c++, r->risk_score);
        for (int d = 0; d < 2; d++)
            bind_u64(st, c++, r->retrans[d]);
        for (int d = 0; d < 2; d++)
            bind_u64(st, c++, r->out_of_order[d]);
        for (int d = 0; d < 2; d++)
            bind_u64(st, c++, r->zero_window[d]);
        bind_u64(st, c++, r->rtt_client_us);
        bind_u64(st, c++, r->rtt_server_us);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            goto failed;
        hi = sqlite3_last_insert_rowid(db);
        if (i == 0)
            lo = hi;
    }
    if (n && insert_chunk(w, rows, n, lo, hi) < 0)
        goto failed;
    if (exec(db, "COMMIT", err, errsize) < 0)
        goto rollback;
    w->rows += n;
    *first_row = lo;
    *last_row = hi;
    return 0;
failed:
    fail(db, "insert", err, errsize);
rollback:;
    char ignore[64];
    exec(db, "ROLLBACK", ignore, sizeof ignore);
    store_names_load(&w->names, db); /* names of the batch went with the rollback */
    return -1;
}

void store_db_close(struct store_writer *w, sqlite3 **rdb)
{
    sqlite3_finalize(w->insert_flow);
    sqlite3_finalize(w->insert_chunk);
    w->insert_flow = w->insert_chunk = NULL;
    store_names_free(&w->names);
    sqlite3_close(*rdb);
    sqlite3_close(w->db);
    *rdb = w->db = NULL;
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

int store_db_bound_journal(struct store_writer *w, uint64_t cap, char *err, size_t errsize)
{
    /* The kept journal is cut back after a commit that made it bigger than a sixteenth of the
     * cap (at least 64 pages, at most 4 MiB): a large deletion for retention does not leave a
     * large file behind. */
    uint64_t bytes = cap / 16;
    bytes = bytes < 64 * 4096 ? 64 * 4096 : bytes > 1000 * 4096 ? 1000 * 4096 : bytes;
    char sql[80];
    snprintf(sql, sizeof sql, "PRAGMA journal_size_limit = %llu", (unsigned long long)bytes);
    return exec(w->db, sql, err, errsize);
}

static int count_rows(sqlite3 *db, uint64_t *out)
{
    return pragma_u64(db, "SELECT count(*) FROM flows", out);
}

int store_db_retain(struct store_writer *w, uint64_t max_bytes, size_t incoming,
                    struct store_db_figures *fig, char *err, size_t errsize)
{
    /* Freed pages are reused by the next inserts: the file stops growing at the cap (plus at
     * most a batch), and deleting in small steps keeps each transaction short. Chunks whose
     * rows are all gone go with them. */
    sqlite3 *db = w->db;
    static const char chunks_gone[] =
        "DELETE FROM chunks WHERE hi < coalesce((SELECT min(rowid) FROM flows), 1 << 62)";
    /* Flows past their age: the rows of the chunks that ended before it (rows are in the order
     * they were stored, so that is a prefix of the table). */
    uint64_t age_limit_row = 0;
    char sql[200];
    if (w->keep.flow_days) {
        snprintf(sql, sizeof sql, "SELECT coalesce(max(hi), 0) FROM chunks WHERE last_us < (SELECT"
                 " max(last_us) FROM chunks) - %llu", (unsigned long long)w->keep.flow_days *
                 86400ull * 1000000ull);
        if (pragma_u64(db, sql, &age_limit_row) < 0)
            return fail(db, "measuring the flows' age", err, errsize);
    }
    for (int step = 0; step < 1000; step++) {
        uint64_t oldest_row = 0;
        if (used_bytes(db, &fig->used_bytes) < 0 ||
            pragma_u64(db, "SELECT coalesce(min(rowid), 0) FROM flows", &oldest_row) < 0)
            return fail(db, "measuring the database", err, errsize);
        /* Room for the rows about to come, at the size rows have now (a guess at first). */
        uint64_t row_bytes = w->rows > 1000 ? fig->used_bytes / w->rows : 128;
        uint64_t room = (uint64_t)incoming * row_bytes;
        bool over_size = fig->used_bytes + room > max_bytes;
        bool too_old = oldest_row && oldest_row <= age_limit_row;
        if (!over_size && !too_old)
            break;
        snprintf(sql, sizeof sql, "DELETE FROM flows WHERE rowid IN (SELECT rowid FROM flows"
                 " WHERE rowid <= %llu ORDER BY rowid LIMIT %d)",
                 over_size ? (unsigned long long)INT64_MAX : (unsigned long long)age_limit_row,
                 STORE_RETENTION_STEP);
        char ignore[64];
        if (exec(db, "BEGIN", err, errsize) < 0)
            return -1;
        if (exec(db, sql, err, errsize) < 0) {
            exec(db, "ROLLBACK", ignore, sizeof ignore);
            return -1;
        }
        uint64_t gone = (uint64_t)sqlite3_changes(db);
        if (exec(db, chunks_gone, err, errsize) < 0 || exec(db, "COMMIT", err, errsize) < 0) {
            exec(db, "ROLLBACK", ignore, sizeof ignore);
            return -1;
        }
        w->rows = w->rows > gone ? w->rows - gone : 0;
        fig->expired += gone;
        if (gone == 0)
            break; /* nothing left to delete: the indexes and schema alone are over the cap */
    }
    fig->rows = w->rows;
    /* The oldest row by rowid (insertion order), the newest from the chunks (no index on
     * flows' times: a scan of the flows would read the whole table). */
    if (pragma_u64(db, "SELECT coalesce((SELECT first_us FROM flows ORDER BY rowid LIMIT 1), 0)",
                   &fig->oldest_us) < 0 ||
        pragma_u64(db, "SELECT coalesce(max(last_us), 0) FROM chunks", &fig->newest_us) < 0)
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

/* Each resolution of a series (kept as long as store_retention says); a point goes to the
 * finest of its kind (minutes, or 5 minutes for hosts) and rolls up into the hour and the day. */
static const struct {
    unsigned res_s;
} RESOLUTIONS[] = {{60}, {STORE_HOST_SERIES_S}, {3600}, {86400}};

sqlite3_stmt *store_db_prepare_sample(sqlite3 *db)
{
    static const char sql[] =
        "INSERT INTO series (res, t, kind, key, bytes, packets, flows, drops)"
        " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (res, t, kind, key) DO UPDATE SET"
        " bytes = bytes + excluded.bytes, packets = packets + excluded.packets,"
        " flows = flows + excluded.flows, drops = drops + excluded.drops";
    sqlite3_stmt *st;
    return sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK ? st : NULL;
}

int store_db_add_sample(sqlite3_stmt *st, const struct store_sample *x)
{
    for (size_t r = 0; r < sizeof RESOLUTIONS / sizeof RESOLUTIONS[0]; r++) {
        unsigned res = RESOLUTIONS[r].res_s;
        if ((res == 60 && x->kind == STORE_SERIES_HOST) ||
            (res == STORE_HOST_SERIES_S && x->kind != STORE_SERIES_HOST))
            continue;
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
            return rc;
    }
    return SQLITE_DONE;
}

/* Days a resolution is kept. */
static unsigned keep_days(const struct store_retention *keep, unsigned res_s)
{
    return res_s == 60 || res_s == STORE_HOST_SERIES_S ? keep->minute_days
           : res_s == 3600                             ? keep->hour_days
                                                       : keep->day_days;
}

int store_db_insert_samples(struct store_writer *w, const struct store_sample *samples,
                            size_t n, char *err, size_t errsize)
{
    sqlite3 *db = w->db;
    sqlite3_stmt *st = NULL;
    if (exec(db, "BEGIN", err, errsize) < 0)
        return -1;
    if (!(st = store_db_prepare_sample(db)))
        goto failed;
    for (size_t i = 0; i < n; i++)
        if (store_db_add_sample(st, &samples[i]) != SQLITE_DONE)
            goto failed;
    sqlite3_finalize(st);
    st = NULL;
    /* Each resolution keeps its own age. */
    uint64_t now = n ? samples[n - 1].minute_s : 0;
    for (size_t r = 0; r < sizeof RESOLUTIONS / sizeof RESOLUTIONS[0]; r++) {
        char del[128];
        uint64_t keep = (uint64_t)keep_days(&w->keep, RESOLUTIONS[r].res_s) * 86400;
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
