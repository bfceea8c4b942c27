/* Hosts and counters across restarts, the SQLite side (pool threads: the writer's connection). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query.h"
#include "store/store_internal.h"

static const char SELECT_HOST[] =
    "SELECT first_us, seen_first_us, packets_sent, packets_rcvd, bytes_sent, bytes_rcvd, flows,"
    " seen_packets_sent, seen_packets_rcvd, seen_bytes_sent, seen_bytes_rcvd, seen_flows"
    " FROM hosts WHERE vlan = ?1 AND ip = ?2";
static const char UPSERT_HOST[] =
    "INSERT INTO hosts (vlan, ip, local, first_us, last_us, packets_sent, packets_rcvd,"
    " bytes_sent, bytes_rcvd, flows, seen_first_us, seen_packets_sent, seen_packets_rcvd,"
    " seen_bytes_sent, seen_bytes_rcvd, seen_flows, name, name_source, name_expires_us, mac,"
    " mac_first_us, mac_last_us, mac_changes)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
    " ?19, ?20, ?21, ?22, ?23)"
    " ON CONFLICT (vlan, ip) DO UPDATE SET local = excluded.local,"
    " first_us = min(first_us, excluded.first_us), last_us = max(last_us, excluded.last_us),"
    " packets_sent = packets_sent + excluded.packets_sent,"
    " packets_rcvd = packets_rcvd + excluded.packets_rcvd,"
    " bytes_sent = bytes_sent + excluded.bytes_sent, bytes_rcvd = bytes_rcvd + excluded.bytes_rcvd,"
    " flows = flows + excluded.flows, seen_first_us = excluded.seen_first_us,"
    " seen_packets_sent = excluded.seen_packets_sent,"
    " seen_packets_rcvd = excluded.seen_packets_rcvd, seen_bytes_sent = excluded.seen_bytes_sent,"
    " seen_bytes_rcvd = excluded.seen_bytes_rcvd, seen_flows = excluded.seen_flows,"
    /* a host whose name expired keeps the last one it had; the device is the latest seen */
    " name = coalesce(excluded.name, name),"
    " name_source = coalesce(excluded.name_source, name_source),"
    " name_expires_us = coalesce(excluded.name_expires_us, name_expires_us),"
    " mac = coalesce(excluded.mac, mac), mac_first_us = coalesce(excluded.mac_first_us,"
    " mac_first_us), mac_last_us = coalesce(excluded.mac_last_us, mac_last_us),"
    " mac_changes = coalesce(excluded.mac_changes, mac_changes)";

enum { PACKETS_SENT, PACKETS_RCVD, BYTES_SENT, BYTES_RCVD, FLOWS, COUNTS };

static void record_counts(const struct engine_host_record *h, uint64_t out[COUNTS])
{
    out[PACKETS_SENT] = h->packets_sent;
    out[PACKETS_RCVD] = h->packets_rcvd;
    out[BYTES_SENT] = h->bytes_sent;
    out[BYTES_RCVD] = h->bytes_rcvd;
    out[FLOWS] = h->flows_total;
}

/*
 * What the entry in memory counted since the last save. Its counters started from zero when it
 * was made, or from the totals when it was restored (its first seen is history's then); an
 * entry purged and made again since has a first seen of its own and starts from zero.
 */
static void traffic_since_save(sqlite3_stmt *sel, const struct engine_host_record *h,
                               uint64_t delta[COUNTS])
{
    uint64_t now[COUNTS], base[COUNTS] = {0};
    record_counts(h, now);
    if (sqlite3_step(sel) == SQLITE_ROW) {
        uint64_t first = (uint64_t)sqlite3_column_int64(sel, 0);
        uint64_t seen_first = (uint64_t)sqlite3_column_int64(sel, 1);
        int from = h->first_us == first ? 2 : h->first_us == seen_first ? 7 : -1;
        for (int i = 0; from >= 0 && i < COUNTS; i++)
            base[i] = (uint64_t)sqlite3_column_int64(sel, from + i);
    }
    sqlite3_reset(sel);
    for (int i = 0; i < COUNTS; i++)
        delta[i] = now[i] >= base[i] ? now[i] - base[i] : now[i];
}

static int save_host(sqlite3_stmt *sel, sqlite3_stmt *up, sqlite3_stmt *series,
                     const struct engine_host_record *h, uint64_t bucket_s)
{
    int len = h->key.ip_version == 4 ? 4 : 16;
    sqlite3_bind_int(sel, 1, h->key.vlan);
    sqlite3_bind_blob(sel, 2, h->key.addr, len, SQLITE_STATIC);
    uint64_t delta[COUNTS], now[COUNTS];
    traffic_since_save(sel, h, delta);
    record_counts(h, now);
    int c = 1;
    sqlite3_bind_int(up, c++, h->key.vlan);
    sqlite3_bind_blob(up, c++, h->key.addr, len, SQLITE_STATIC);
    sqlite3_bind_int(up, c++, h->local);
    sqlite3_bind_int64(up, c++, (sqlite3_int64)h->first_us);
    sqlite3_bind_int64(up, c++, (sqlite3_int64)h->last_us);
    for (int i = 0; i < COUNTS; i++)
        sqlite3_bind_int64(up, c++, (sqlite3_int64)delta[i]); /* new rows: delta == now */
    sqlite3_bind_int64(up, c++, (sqlite3_int64)h->first_us);
    for (int i = 0; i < COUNTS; i++)
        sqlite3_bind_int64(up, c++, (sqlite3_int64)now[i]);
    if (h->name[0] && memchr(h->name, 0, sizeof h->name)) {
        sqlite3_bind_text(up, c++, h->name, -1, SQLITE_STATIC);
        sqlite3_bind_int(up, c++, h->name_source);
        sqlite3_bind_int64(up, c++, (sqlite3_int64)h->name_expires_us);
    } else {
        for (int i = 0; i < 3; i++)
            sqlite3_bind_null(up, c++);
    }
    if (h->has_mac) {
        sqlite3_bind_blob(up, c++, h->mac, sizeof h->mac, SQLITE_STATIC);
        sqlite3_bind_int64(up, c++, (sqlite3_int64)h->mac_first_us);
        sqlite3_bind_int64(up, c++, (sqlite3_int64)h->mac_last_us);
        sqlite3_bind_int(up, c++, h->mac_changes);
    } else {
        for (int i = 0; i < 4; i++)
            sqlite3_bind_null(up, c++);
    }
    int rc = sqlite3_step(up);
    sqlite3_reset(up);
    if (rc != SQLITE_DONE)
        return rc;
    uint64_t bytes = delta[BYTES_SENT] + delta[BYTES_RCVD];
    uint64_t packets = delta[PACKETS_SENT] + delta[PACKETS_RCVD];
    if (!h->local || (bytes == 0 && packets == 0 && delta[FLOWS] == 0))
        return SQLITE_DONE; /* series per local host only, and nothing for an idle one */
    struct store_sample x = {.minute_s = bucket_s, .kind = STORE_SERIES_HOST, .bytes = bytes,
                             .packets = packets, .flows = delta[FLOWS]};
    query_address_text(h->key.ip_version, h->key.addr, x.key, sizeof x.key);
    return store_db_add_sample(series, &x);
}

static int save_counters(sqlite3 *db, const struct store_counter *c, size_t n, uint64_t now_s,
                         unsigned keep_days)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO counters (kind, name, text, flows,"
                           " packets, bytes, saved_s) VALUES (?,?,?,?,?,?,?)", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    int rc = SQLITE_DONE;
    for (size_t i = 0; i < n && rc == SQLITE_DONE; i++) {
        sqlite3_bind_int(st, 1, (int)c[i].kind);
        sqlite3_bind_text(st, 2, c[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, c[i].text, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)c[i].flows);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)c[i].packets);
        sqlite3_bind_int64(st, 6, (sqlite3_int64)c[i].bytes);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)now_s);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    /* A source or rule not seen in any run for that long is forgotten. */
    char sql[120];
    snprintf(sql, sizeof sql, "DELETE FROM counters WHERE saved_s < %lld",
             (long long)now_s - (long long)keep_days * 86400);
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* Hosts not seen for days go, and beyond STORE_HOSTS_MAX the least recently seen. */
static int age_hosts(sqlite3 *db, unsigned days, char *err, size_t errsize)
{
    char sql[400];
    snprintf(sql, sizeof sql,
             "DELETE FROM hosts WHERE last_us < (SELECT max(last_us) FROM hosts) - %lld;"
             "DELETE FROM hosts WHERE (vlan, ip) IN (SELECT vlan, ip FROM hosts ORDER BY last_us"
             " DESC LIMIT -1 OFFSET %d)", (long long)days * 86400 * 1000000,
             STORE_HOSTS_MAX);
    return store_db_exec(db, sql, err, errsize);
}

int store_db_save_state(struct store_writer *w, const struct store_batch *b, char *err,
                        size_t errsize)
{
    sqlite3 *db = w->db;
    sqlite3_stmt *sel = NULL, *up = NULL, *series = NULL;
    if (store_db_exec(db, "BEGIN", err, errsize) < 0)
        return -1;
    if (sqlite3_prepare_v2(db, SELECT_HOST, -1, &sel, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, UPSERT_HOST, -1, &up, NULL) != SQLITE_OK ||
        !(series = store_db_prepare_sample(db)))
        goto failed;
    for (size_t i = 0; i < b->nhosts; i++)
        if (save_host(sel, up, series, &b->hosts[i], b->hosts_bucket_s) != SQLITE_DONE)
            goto failed;
    if (save_counters(db, b->counters, b->ncounters, b->saved_s, w->keep.host_days) < 0)
        goto failed;
    if (b->nhosts && age_hosts(db, w->keep.host_days, err, errsize) < 0)
        goto rollback;
    sqlite3_finalize(sel);
    sqlite3_finalize(up);
    sqlite3_finalize(series);
    return store_db_exec(db, "COMMIT", err, errsize);
failed:
    snprintf(err, errsize, "saving hosts and counters: %s", sqlite3_errmsg(db));
rollback:
    sqlite3_finalize(sel);
    sqlite3_finalize(up);
    sqlite3_finalize(series);
    char ignore[64];
    store_db_exec(db, "ROLLBACK", ignore, sizeof ignore);
    return -1;
}

/* items with room for one more element (*cap doubles from first), or NULL out of memory
 * (items is then unchanged). */
static void *grow(void *items, size_t *cap, size_t n, size_t size, size_t first)
{
    if (n < *cap)
        return items;
    size_t more = *cap ? *cap * 2 : first;
    void *p = realloc(items, more * size);
    if (p)
        *cap = more;
    return p;
}

static int load_hosts(sqlite3 *db, size_t max_hosts, struct store_restore *out)
{
    if (!max_hosts)
        return 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT vlan, ip, local, first_us, last_us, packets_sent,"
                           " packets_rcvd, bytes_sent, bytes_rcvd, flows, name, name_source,"
                           " name_expires_us, mac, mac_first_us, mac_last_us, mac_changes"
                           " FROM hosts ORDER BY last_us DESC LIMIT ?", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max_hosts);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int len = sqlite3_column_bytes(st, 1);
        const void *ip = sqlite3_column_blob(st, 1);
        if (!ip || (len != 4 && len != 16))
            continue; /* not a row we wrote */
        struct engine_host_record *hosts = grow(out->hosts, &cap, out->nhosts, sizeof *hosts, 256);
        if (!hosts) {
            rc = SQLITE_NOMEM;
            break;
        }
        out->hosts = hosts;
        struct engine_host_record *h = &out->hosts[out->nhosts++];
        memset(h, 0, sizeof *h);
        uint8_t addr[16] = {0};
        memcpy(addr, ip, (size_t)len);
        host_key_make(&h->key, (uint16_t)sqlite3_column_int(st, 0), len == 4 ? 4 : 6, addr);
        h->local = sqlite3_column_int(st, 2);
        h->first_us = (uint64_t)sqlite3_column_int64(st, 3);
        h->last_us = (uint64_t)sqlite3_column_int64(st, 4);
        h->packets_sent = (uint64_t)sqlite3_column_int64(st, 5);
        h->packets_rcvd = (uint64_t)sqlite3_column_int64(st, 6);
        h->bytes_sent = (uint64_t)sqlite3_column_int64(st, 7);
        h->bytes_rcvd = (uint64_t)sqlite3_column_int64(st, 8);
        h->flows_total = (uint64_t)sqlite3_column_int64(st, 9);
        const unsigned char *name = sqlite3_column_text(st, 10);
        int source = sqlite3_column_int(st, 11);
        if (name && source >= 0 && source < NAME_SOURCE_COUNT) {
            snprintf(h->name, sizeof h->name, "%s", (const char *)name);
            h->name_source = (uint8_t)source;
            h->name_expires_us = (uint64_t)sqlite3_column_int64(st, 12);
        }
        const void *mac = sqlite3_column_blob(st, 13);
        if (mac && sqlite3_column_bytes(st, 13) == (int)sizeof h->mac) {
            h->has_mac = true;
            memcpy(h->mac, mac, sizeof h->mac);
            h->mac_first_us = (uint64_t)sqlite3_column_int64(st, 14);
            h->mac_last_us = (uint64_t)sqlite3_column_int64(st, 15);
            int changes = sqlite3_column_int(st, 16);
            h->mac_changes = changes < 0 ? 0 : changes > UINT16_MAX ? UINT16_MAX
                                                                      : (uint16_t)changes;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int load_counters(sqlite3 *db, struct store_restore *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT kind, name, text, flows, packets, bytes FROM counters",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_counter *counters =
            grow(out->counters, &cap, out->ncounters, sizeof *counters, 32);
        if (!counters) {
            rc = SQLITE_NOMEM;
            break;
        }
        out->counters = counters;
        struct store_counter *c = &out->counters[out->ncounters++];
        memset(c, 0, sizeof *c);
        c->kind = sqlite3_column_int(st, 0) == STORE_COUNTER_RULE ? STORE_COUNTER_RULE
                                                                  : STORE_COUNTER_SOURCE;
        const unsigned char *name = sqlite3_column_text(st, 1), *text = sqlite3_column_text(st, 2);
        snprintf(c->name, sizeof c->name, "%s", name ? (const char *)name : "");
        snprintf(c->text, sizeof c->text, "%s", text ? (const char *)text : "");
        c->flows = (uint64_t)sqlite3_column_int64(st, 3);
        c->packets = (uint64_t)sqlite3_column_int64(st, 4);
        c->bytes = (uint64_t)sqlite3_column_int64(st, 5);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_db_load_state(sqlite3 *db, size_t max_hosts, struct store_restore *out, char *err,
                        size_t errsize)
{
    memset(out, 0, sizeof *out);
    if (load_hosts(db, max_hosts, out) == 0 && load_counters(db, out) == 0)
        return 0;
    snprintf(err, errsize, "reading the saved hosts and counters: %s", sqlite3_errmsg(db));
    free(out->hosts);
    free(out->counters);
    memset(out, 0, sizeof *out);
    return -1;
}
