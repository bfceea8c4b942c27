/* Queries of stored flows: one at a time on the reader connection in the pool, each with a
 * time limit, answered on the loop. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "query/query.h"
#include "store/store_bloom.h"
#include "store/store_internal.h"

#define QUERIES_WAITING_MAX 16

enum query_kind { QUERY_FLOWS, QUERY_SERIES, QUERY_TOP };

struct store_query {
    enum query_kind kind;
    struct store_series_query sq;
    struct store_flow_query q;
    struct store_top_query tq;
    store_query_done done;
    void *ctx;
    struct store_query *next;
    /* worker's answer */
    cJSON *page;
    char err[200];
};

static uint64_t deadline_ms(void) { return uv_hrtime() / 1000000 + STORE_QUERY_TIME_LIMIT_MS; }

static int over_time(void *p) { return uv_hrtime() / 1000000 > *(uint64_t *)p; }

static const char *order_column(enum store_flow_sort s)
{
    switch (s) {
    case STORE_SORT_FIRST:
        return "f.first_us";
    case STORE_SORT_BYTES:
        return "(f.c2s_bytes + f.s2c_bytes)";
    case STORE_SORT_PACKETS:
        return "(f.c2s_packets + f.s2c_packets)";
    default:
        return "f.last_us";
    }
}

/* Row ranges (of chunks) that may hold the flows of a query. */
struct row_range {
    sqlite3_int64 lo, hi;
};
#define ROW_RANGES_MAX 48 /* more are merged across their smallest gaps (a longer scan) */

/* WHERE clause of q with ?NNN parameters, bound by bind_filters in the same order: the rows of
 * the chunks' ranges (the flows table has no index but its rowid), then the filters. */
static void where_clause(const struct store_flow_query *q, const struct row_range *ranges,
                         size_t nranges, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, " WHERE (");
    for (size_t i = 0; i < nranges && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%sf.rowid BETWEEN %lld AND %lld",
                              i ? " OR " : "", (long long)ranges[i].lo, (long long)ranges[i].hi);
    if (n < size)
        n += (size_t)snprintf(out + n, size - n, ") AND f.last_us >= ?1 AND f.first_us <= ?2");
    if (q->has_host && n < size)
        n += (size_t)snprintf(out + n, size - n, " AND (f.client_ip = ?3 OR f.server_ip = ?3)");
    if (q->l7[0] && n < size)
        n += (size_t)snprintf(out + n, size - n, " AND f.l7 IN (SELECT id FROM names WHERE name"
                              " = ?4 OR name LIKE ?4 || '.%%' OR name LIKE '%%.' || ?4)");
    if (q->port >= 0 && n < size)
        n += (size_t)snprintf(out + n, size - n, " AND (f.client_port = ?5 OR f.server_port = ?5)");
    if (q->l4_proto >= 0 && n < size)
        n += (size_t)snprintf(out + n, size - n, " AND f.proto = ?6");
    if (q->source[0] && n < size)
        snprintf(out + n, size - n, " AND f.source = (SELECT id FROM names WHERE name = ?7)");
}

static void bind_filters(sqlite3_stmt *st, const struct store_flow_query *q)
{
    sqlite3_bind_int64(st, 1, (sqlite3_int64)(q->from_s * 1000000));
    sqlite3_bind_int64(st, 2, q->to_s ? (sqlite3_int64)(q->to_s * 1000000 + 999999) : INT64_MAX);
    if (q->has_host)
        sqlite3_bind_blob(st, 3, q->host_addr, q->host_version == 4 ? 4 : 16, SQLITE_STATIC);
    if (q->l7[0])
        sqlite3_bind_text(st, 4, q->l7, -1, SQLITE_STATIC);
    if (q->port >= 0)
        sqlite3_bind_int(st, 5, q->port);
    if (q->l4_proto >= 0)
        sqlite3_bind_int(st, 6, q->l4_proto);
    if (q->source[0])
        sqlite3_bind_text(st, 7, q->source, -1, SQLITE_STATIC);
}

/* The chunks of the time range (whose filter may hold the host, when the query has one), as at
 * most ROW_RANGES_MAX row ranges; 0 ranges: no stored flow can match. -1 on a database error. */
static int chunk_ranges(sqlite3 *db, const struct store_flow_query *q, struct row_range *out,
                       size_t *nout)
{
    sqlite3_stmt *st;
    *nout = 0;
    if (sqlite3_prepare_v2(db, "SELECT lo, hi, hosts FROM chunks WHERE last_us >= ?1 AND "
                           "first_us <= ?2 ORDER BY lo", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)(q->from_s * 1000000));
    sqlite3_bind_int64(st, 2, q->to_s ? (sqlite3_int64)(q->to_s * 1000000 + 999999) : INT64_MAX);
    struct row_range *r = NULL;
    size_t n = 0, cap = 0;
    int step;
    size_t len = q->host_version == 4 ? 4 : 16;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const void *bits = sqlite3_column_blob(st, 2);
        size_t size = (size_t)sqlite3_column_bytes(st, 2);
        if (q->has_host && bits && !store_bloom_may_have(bits, size, q->host_addr, len))
            continue;
        sqlite3_int64 lo = sqlite3_column_int64(st, 0), hi = sqlite3_column_int64(st, 1);
        if (n && r[n - 1].hi + 1 >= lo) { /* the next chunk: one range */
            r[n - 1].hi = hi > r[n - 1].hi ? hi : r[n - 1].hi;
            continue;
        }
        if (n == cap) {
            struct row_range *more = realloc(r, (cap = cap ? cap * 2 : 64) * sizeof *r);
            if (!more) {
                step = SQLITE_NOMEM;
                break;
            }
            r = more;
        }
        r[n++] = (struct row_range){lo, hi};
    }
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) {
        free(r);
        return -1;
    }
    /* Too many ranges for one statement: join the closest neighbours (their gap is scanned
     * too, and the address terms still decide). */
    while (n > ROW_RANGES_MAX) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < n; i++)
            if (r[i + 1].lo - r[i].hi < r[best + 1].lo - r[best].hi)
                best = i;
        r[best].hi = r[best + 1].hi;
        memmove(&r[best + 1], &r[best + 2], (n - best - 2) * sizeof *r);
        n--;
    }
    if (n)
        memcpy(out, r, n * sizeof *r);
    *nout = n;
    free(r);
    return 0;
}

static void add_endpoint(cJSON *o, const char *name, int version, const void *blob, int len,
                         int port)
{
    uint8_t addr[16] = {0};
    memcpy(addr, blob, len > 16 ? 16 : (size_t)(len < 0 ? 0 : len));
    char text[64];
    query_address_text((uint8_t)version, addr, text, sizeof text);
    cJSON *ep = cJSON_AddObjectToObject(o, name);
    cJSON_AddStringToObject(ep, "ip", text);
    cJSON_AddNumberToObject(ep, "port", port);
}

/* TCP health columns: c2s/s2c retransmissions, out of order, zero windows, then the RTTs. */
#define COL_TCP 38

static void add_direction(cJSON *o, const char *name, sqlite3_stmt *st, int col, int flags_col,
                          int proto, int dir)
{
    cJSON *d = cJSON_AddObjectToObject(o, name);
    cJSON_AddNumberToObject(d, "packets", (double)sqlite3_column_int64(st, col));
    cJSON_AddNumberToObject(d, "bytes", (double)sqlite3_column_int64(st, col + 1));
    if (proto == 6) {
        cJSON_AddNumberToObject(d, "tcp_flags", sqlite3_column_int(st, flags_col));
        cJSON_AddNumberToObject(d, "retransmissions", sqlite3_column_int64(st, COL_TCP + dir));
        cJSON_AddNumberToObject(d, "out_of_order", sqlite3_column_int64(st, COL_TCP + 2 + dir));
        cJSON_AddNumberToObject(d, "zero_windows", sqlite3_column_int64(st, COL_TCP + 4 + dir));
    }
}

static void add_text(cJSON *o, const char *name, sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    if (t)
        cJSON_AddStringToObject(o, name, (const char *)t);
}

/* The columns row_json reads, names resolved. */
#define FLOW_COLUMNS                                                                              \
    "f.flow_id, f.first_us, f.last_us, f.ip_version, f.proto, f.vlan, f.client_ip,"              \
    " f.client_port, f.server_ip, f.server_port, f.c2s_packets, f.c2s_bytes, f.s2c_packets,"      \
    " f.s2c_bytes, f.c2s_tcp_flags, f.s2c_tcp_flags, coalesce(nl.name, ''),"                      \
    " coalesce(nc.name, ''), f.l7_final, f.l7_guessed, f.tunnel_depth, coalesce(ns.name, ''),"    \
    " nd.name, nv.name, nh.name, nj.name, nk.name, ni.name, nb.name, f.url, nu.name,"             \
    " f.tls_not_before, f.tls_not_after, f.http_status, f.dns_qtype, f.dns_rcode, f.risks,"       \
    " f.risk_score, f.c2s_retrans, f.s2c_retrans, f.c2s_out_of_order, f.s2c_out_of_order,"        \
    " f.c2s_zero_window, f.s2c_zero_window, f.rtt_client_us, f.rtt_server_us"
#define FLOW_NAMES                                                                                \
    " LEFT JOIN names nl ON nl.id = f.l7 LEFT JOIN names nc ON nc.id = f.category"                \
    " LEFT JOIN names ns ON ns.id = f.source LEFT JOIN names nd ON nd.id = f.client_side"         \
    " LEFT JOIN names nv ON nv.id = f.verdict LEFT JOIN names nh ON nh.id = f.host_name"          \
    " LEFT JOIN names nj ON nj.id = f.ja3c LEFT JOIN names nk ON nk.id = f.ja3s"                  \
    " LEFT JOIN names ni ON ni.id = f.tls_issuer LEFT JOIN names nb ON nb.id = f.tls_subject"     \
    " LEFT JOIN names nu ON nu.id = f.user_agent"

/* One row as --flows-out writes a flow. */
static cJSON *row_json(sqlite3_stmt *st)
{
    cJSON *o = cJSON_CreateObject();
    int version = sqlite3_column_int(st, 3), proto = sqlite3_column_int(st, 4);
    cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(st, 0));
    const char *l4 = query_l4_name((uint8_t)proto, (uint8_t)version);
    if (l4)
        cJSON_AddStringToObject(o, "protocol", l4);
    else
        cJSON_AddNumberToObject(o, "protocol", proto);
    cJSON_AddNumberToObject(o, "ip_version", version);
    cJSON_AddNumberToObject(o, "vlan", sqlite3_column_int(st, 5));
    add_endpoint(o, "client", version, sqlite3_column_blob(st, 6), sqlite3_column_bytes(st, 6),
                 sqlite3_column_int(st, 7));
    add_endpoint(o, "server", version, sqlite3_column_blob(st, 8), sqlite3_column_bytes(st, 8),
                 sqlite3_column_int(st, 9));
    add_direction(o, "client_to_server", st, 10, 14, proto, 0);
    add_direction(o, "server_to_client", st, 12, 15, proto, 1);
    cJSON_AddNumberToObject(o, "first_seen", (double)sqlite3_column_int64(st, 1) / 1e6);
    cJSON_AddNumberToObject(o, "last_seen", (double)sqlite3_column_int64(st, 2) / 1e6);
    add_text(o, "l7", st, 16);
    add_text(o, "category", st, 17);
    cJSON_AddBoolToObject(o, "l7_final", sqlite3_column_int(st, 18));
    cJSON_AddBoolToObject(o, "l7_guessed", sqlite3_column_int(st, 19));
    cJSON_AddNumberToObject(o, "tunnel_depth", sqlite3_column_int(st, 20));
    add_text(o, "source", st, 21);
    add_text(o, "client_side", st, 22);
    add_text(o, "verdict", st, 23);
    struct flow_details_view v = {0};
    for (int i = 0; i < FLOW_TEXTS; i++)
        v.text[i] = (const char *)sqlite3_column_text(st, 24 + i);
    v.tls_not_before = (uint32_t)sqlite3_column_int64(st, 31);
    v.tls_not_after = (uint32_t)sqlite3_column_int64(st, 32);
    v.http_status = (uint16_t)sqlite3_column_int(st, 33);
    v.dns_qtype = (uint16_t)sqlite3_column_int(st, 34);
    v.dns_reply = sqlite3_column_type(st, 35) != SQLITE_NULL;
    v.dns_rcode = (uint8_t)sqlite3_column_int(st, 35);
    v.risks = (uint64_t)sqlite3_column_int64(st, 36);
    v.risk_score = (uint16_t)sqlite3_column_int(st, 37);
    query_add_flow_details(o, &v);
    if (proto == 6)
        query_add_tcp_rtts(o, (uint32_t)sqlite3_column_int64(st, COL_TCP + 6),
                           (uint32_t)sqlite3_column_int64(st, COL_TCP + 7));
    return o;
}

static const char *interrupted_or(sqlite3 *db, const char *what)
{
    return sqlite3_errcode(db) == SQLITE_INTERRUPT ? what : sqlite3_errmsg(db);
}

static cJSON *page_start(const struct store_flow_query *q, sqlite3_int64 total)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "total", (double)total);
    cJSON_AddNumberToObject(o, "offset", (double)q->offset);
    cJSON_AddNumberToObject(o, "limit", (double)q->limit);
    cJSON_AddArrayToObject(o, "flows");
    return o;
}

static int run_flows(sqlite3 *db, const struct store_flow_query *q, cJSON **page, char *err,
                     size_t errsize)
{
    char where[4096], sql[5120];
    struct row_range ranges[ROW_RANGES_MAX];
    size_t nranges = 0;
    uint64_t deadline = deadline_ms();
    sqlite3_progress_handler(db, 1000, over_time, &deadline);
    sqlite3_stmt *st = NULL;
    int rc = -1;
    sqlite3_int64 total = 0;
    if (chunk_ranges(db, q, ranges, &nranges) < 0)
        goto out;
    if (nranges == 0) { /* no chunk of the range (with the host): nothing to scan */
        *page = page_start(q, 0);
        rc = 0;
        goto out;
    }
    where_clause(q, ranges, nranges, where, sizeof where);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM flows f%s", where);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        goto out;
    bind_filters(st, q);
    if (sqlite3_step(st) != SQLITE_ROW)
        goto out;
    total = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    snprintf(sql, sizeof sql, "SELECT " FLOW_COLUMNS " FROM flows f" FLOW_NAMES "%s ORDER BY %s %s"
             " LIMIT %zu OFFSET %zu", where, order_column(q->sort),
             q->ascending ? "ASC" : "DESC", q->limit, q->offset);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        goto out;
    bind_filters(st, q);
    cJSON *o = page_start(q, total), *flows = cJSON_GetObjectItem(o, "flows");
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        cJSON_AddItemToArray(flows, row_json(st));
    if (step != SQLITE_DONE) {
        cJSON_Delete(o);
        goto out;
    }
    *page = o;
    rc = 0;
out:
    if (rc < 0)
        snprintf(err, errsize, "%s",
                 interrupted_or(db, "the query took too long (narrow the range or filters)"));
    sqlite3_finalize(st);
    sqlite3_progress_handler(db, 0, NULL, NULL);
    return rc;
}

#define SERIES_MAX_POINTS 2000

static int run_series(sqlite3 *db, const struct store_series_query *q, cJSON **page, char *err,
                      size_t errsize)
{
    static const char *const column[] = {"bytes", "packets", "flows", "drops"};
    uint64_t to = q->to_s, from = q->from_s;
    uint64_t span = to > from ? to - from : 0;
    unsigned res = span <= 86400 ? 60 : span <= 60 * 86400 ? 3600 : 86400;
    if (q->kind == STORE_SERIES_HOST && res == 60)
        res = STORE_HOST_SERIES_S;
    from -= from % res;
    to -= to % res;
    if ((to - from) / res >= SERIES_MAX_POINTS)
        from = to - (uint64_t)(SERIES_MAX_POINTS - 1) * res; /* the newest points of a huge range */
    size_t n = (size_t)((to - from) / res) + 1;
    double *values = calloc(n, sizeof *values);
    if (!values) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT t, %s FROM series WHERE res = ?1 AND t >= ?2 AND t <= ?3"
             " AND kind = ?4 AND key = ?5", column[q->metric]);
    uint64_t deadline = deadline_ms();
    sqlite3_progress_handler(db, 1000, over_time, &deadline);
    sqlite3_stmt *st = NULL;
    int rc = -1, step = SQLITE_ERROR;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int(st, 1, (int)res);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)from);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)to);
        sqlite3_bind_int(st, 4, (int)q->kind);
        sqlite3_bind_text(st, 5, q->key, -1, SQLITE_STATIC);
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            uint64_t t = (uint64_t)sqlite3_column_int64(st, 0);
            values[(t - from) / res] = (double)sqlite3_column_int64(st, 1);
        }
    }
    if (step == SQLITE_DONE) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "resolution_s", res);
        cJSON *time = cJSON_AddArrayToObject(o, "time");
        cJSON *vals = cJSON_AddArrayToObject(o, "values");
        for (size_t i = 0; i < n; i++) {
            cJSON_AddItemToArray(time, cJSON_CreateNumber((double)(from + i * res)));
            cJSON_AddItemToArray(vals, cJSON_CreateNumber(values[i]));
        }
        *page = o;
        rc = 0;
    } else {
        snprintf(err, errsize, "%s", interrupted_or(db, "the query took too long"));
    }
    sqlite3_finalize(st);
    sqlite3_progress_handler(db, 0, NULL, NULL);
    free(values);
    return rc;
}

/* The name of a top row: an address (blob of 4 or 16 bytes), a protocol, "tcp/443". */
static void top_name(const struct store_top_query *q, sqlite3_stmt *st, char *out, size_t size)
{
    if (q->kind == STORE_TOP_HOSTS) {
        uint8_t addr[16] = {0};
        int len = sqlite3_column_bytes(st, 0);
        const void *blob = sqlite3_column_blob(st, 0);
        if (blob && (len == 4 || len == 16))
            memcpy(addr, blob, (size_t)len);
        query_address_text(len == 4 ? 4 : 6, addr, out, size);
    } else if (q->kind == STORE_TOP_PORTS) {
        int proto = sqlite3_column_int(st, 0) >> 16, port = sqlite3_column_int(st, 0) & 0xffff;
        const char *l4 = query_l4_name((uint8_t)proto, 4);
        size_t n = (size_t)snprintf(out, size, "%s/%d", l4 ? l4 : "?", port);
        for (size_t i = 0; i < n && i < size && out[i] != '/'; i++) /* "tcp/443", as services */
            out[i] = (char)tolower((unsigned char)out[i]);
    } else {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(out, size, "%s", t && t[0] ? (const char *)t : "Unknown");
    }
}

static int run_top(sqlite3 *db, const struct store_top_query *q, cJSON **page, char *err,
                   size_t errsize)
{
    /* The flows of the range, through the chunks as for a flow query. */
    struct store_flow_query range = {.from_s = q->from_s, .to_s = q->to_s, .port = -1,
                                     .l4_proto = -1};
    struct row_range ranges[ROW_RANGES_MAX];
    size_t nranges = 0;
    char where[4096], sql[5120];
    uint64_t deadline = deadline_ms();
    sqlite3_progress_handler(db, 1000, over_time, &deadline);
    sqlite3_stmt *st = NULL;
    int rc = -1, step = SQLITE_DONE;
    cJSON *o = cJSON_CreateObject();
    static const char *const kinds[] = {"hosts", "l7", "ports"};
    cJSON_AddStringToObject(o, "kind", kinds[q->kind]);
    cJSON_AddNumberToObject(o, "from", (double)q->from_s);
    cJSON_AddNumberToObject(o, "to", (double)q->to_s);
    cJSON *top = cJSON_AddArrayToObject(o, "top");
    if (chunk_ranges(db, &range, ranges, &nranges) < 0)
        goto out;
    if (nranges) {
        where_clause(&range, ranges, nranges, where, sizeof where);
        const char *bytes = "f.c2s_bytes + f.s2c_bytes", *packets = "f.c2s_packets + f.s2c_packets";
        if (q->kind == STORE_TOP_HOSTS)
            snprintf(sql, sizeof sql, "SELECT ip, sum(b), sum(p), count(*) FROM (SELECT f.client_ip"
                     " ip, %s b, %s p FROM flows f%s UNION ALL SELECT f.server_ip, %s, %s FROM"
                     " flows f%s) GROUP BY ip ORDER BY 2 DESC LIMIT %zu", bytes, packets, where,
                     bytes, packets, where, q->limit);
        else if (q->kind == STORE_TOP_PORTS) /* TCP, UDP, SCTP: the ports that name a service */
            snprintf(sql, sizeof sql, "SELECT f.proto << 16 | f.server_port, sum(%s), sum(%s),"
                     " count(*) FROM flows f%s AND f.proto IN (6, 17, 132) GROUP BY 1 ORDER BY 2"
                     " DESC LIMIT %zu", bytes, packets, where, q->limit);
        else
            snprintf(sql, sizeof sql, "SELECT coalesce(n.name, ''), sum(%s), sum(%s), count(*)"
                     " FROM flows f LEFT JOIN names n ON n.id = f.l7%s GROUP BY f.l7 ORDER BY 2"
                     " DESC LIMIT %zu", bytes, packets, where, q->limit);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
            goto out;
        bind_filters(st, &range);
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            char name[96];
            top_name(q, st, name, sizeof name);
            cJSON *row = cJSON_CreateObject();
            cJSON_AddStringToObject(row, "name", name);
            cJSON_AddNumberToObject(row, "bytes", (double)sqlite3_column_int64(st, 1));
            cJSON_AddNumberToObject(row, "packets", (double)sqlite3_column_int64(st, 2));
            cJSON_AddNumberToObject(row, "flows", (double)sqlite3_column_int64(st, 3));
            cJSON_AddItemToArray(top, row);
        }
    }
    if (step == SQLITE_DONE) {
        *page = o;
        o = NULL;
        rc = 0;
    }
out:
    if (rc < 0)
        snprintf(err, errsize, "%s",
                 interrupted_or(db, "the query took too long (narrow the range)"));
    cJSON_Delete(o);
    sqlite3_finalize(st);
    sqlite3_progress_handler(db, 0, NULL, NULL);
    return rc;
}

static void query_work(uv_work_t *w)
{
    struct store *s = w->data;
    struct store_query *qq = s->query_running;
    if (!s->rdb) {
        snprintf(qq->err, sizeof qq->err, "history is not open");
        return;
    }
    if (qq->kind == QUERY_SERIES)
        run_series(s->rdb, &qq->sq, &qq->page, qq->err, sizeof qq->err);
    else if (qq->kind == QUERY_TOP)
        run_top(s->rdb, &qq->tq, &qq->page, qq->err, sizeof qq->err);
    else
        run_flows(s->rdb, &qq->q, &qq->page, qq->err, sizeof qq->err);
}

static void after_query(uv_work_t *w, int status)
{
    struct store *s = w->data;
    struct store_query *qq = s->query_running;
    s->query_running = NULL;
    s->query_in_flight = false;
    s->stats.queries++;
    if (!qq->page) {
        s->stats.queries_failed++;
        qq->done(qq->ctx, NULL, status ? uv_strerror(status) : qq->err);
    } else {
        qq->done(qq->ctx, qq->page, NULL);
    }
    free(qq);
    store_query_kick(s);
}

void store_query_kick(struct store *s)
{
    if (s->query_in_flight || s->opening)
        return;
    if (!s->query_head) {
        store_close_if_idle(s); /* a close may have waited for this query */
        return;
    }
    struct store_query *qq = s->query_head;
    s->query_head = qq->next;
    if (!s->query_head)
        s->query_tail = NULL;
    s->queries_waiting--;
    s->query_running = qq;
    s->query_in_flight = true;
    s->query_work.data = s;
    if (uv_queue_work(s->loop, &s->query_work, query_work, after_query) < 0) {
        snprintf(qq->err, sizeof qq->err, "cannot queue the query");
        after_query(&s->query_work, 0);
    }
}

void store_query_cancel_waiting(struct store *s)
{
    while (s->query_head) {
        struct store_query *qq = s->query_head;
        s->query_head = qq->next;
        s->queries_waiting--;
        qq->done(qq->ctx, NULL, "history is closing");
        free(qq);
    }
    s->query_tail = NULL;
}

/* A new query of kind, or NULL when the store is closing or too many wait. */
static struct store_query *query_new(struct store *s, enum query_kind kind)
{
    if (s->closing || s->queries_waiting >= QUERIES_WAITING_MAX)
        return NULL;
    struct store_query *qq = calloc(1, sizeof *qq);
    if (qq)
        qq->kind = kind;
    return qq;
}

static int enqueue(struct store *s, struct store_query *qq, store_query_done done, void *ctx);

int store_query_flows(struct store *s, const struct store_flow_query *q, store_query_done done,
                      void *ctx)
{
    struct store_query *qq = query_new(s, QUERY_FLOWS);
    if (!qq)
        return -1;
    qq->q = *q;
    return enqueue(s, qq, done, ctx);
}

int store_query_series(struct store *s, const struct store_series_query *q,
                       store_query_done done, void *ctx)
{
    struct store_query *qq = query_new(s, QUERY_SERIES);
    if (!qq)
        return -1;
    qq->sq = *q;
    return enqueue(s, qq, done, ctx);
}

int store_query_top(struct store *s, const struct store_top_query *q, store_query_done done,
                    void *ctx)
{
    struct store_query *qq = query_new(s, QUERY_TOP);
    if (!qq)
        return -1;
    qq->tq = *q;
    return enqueue(s, qq, done, ctx);
}

static int enqueue(struct store *s, struct store_query *qq, store_query_done done, void *ctx)
{
    qq->done = done;
    qq->ctx = ctx;
    if (s->query_tail)
        s->query_tail->next = qq;
    else
        s->query_head = qq;
    s->query_tail = qq;
    s->queries_waiting++;
    store_query_kick(s);
    return 0;
}
