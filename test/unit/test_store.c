/* History in SQLite: batches committed from the pool, queries answering what the flow export
 * wrote, the queue cap, a corrupt file moved aside, a newer schema refused. */
#include <pcap/dlt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "check.h"
#include "core/log.h"
#include "core/netlist.h"
#include "packet_builder.h"
#include "query/query_json.h"
#include "store/store.h"
#include "store/store_bloom.h"

struct rig {
    char dir[64], path[128];
    uv_loop_t loop;
    struct engine *e;
    struct store *s;
    cJSON *exported;     /* what query_flow_json made of each ended flow: the NDJSON export */
    cJSON *page;         /* the last query's answer */
    char query_err[200];
    int query_done, closed;
};

static void on_flow_end(void *ctx, const struct engine *e, const struct flow *f)
{
    struct rig *r = ctx;
    cJSON_AddItemToArray(r->exported, query_flow_json(e, NULL, f));
    store_add_flow(r->s, e, NULL, f);
}

/* prepare (may be NULL) makes the database file before the store opens it. */
static bool rig_begin_with(struct rig *r, const struct store_options *base,
                           void (*prepare)(const char *path))
{
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/tapbox-store.XXXXXX");
    if (!mkdtemp(r->dir))
        return false;
    snprintf(r->path, sizeof r->path, "%s/history.db", r->dir);
    if (prepare)
        prepare(r->path);
    uv_loop_init(&r->loop);
    struct engine_config c;
    char err[256];
    engine_config_defaults(&c);
    r->e = engine_create(&c, err, sizeof err);
    CHECK(r->e != NULL);
    if (!r->e)
        return false;
    engine_add_source(r->e, "store-test", "file");
    engine_set_flow_end(r->e, on_flow_end, r);
    r->exported = cJSON_CreateArray();
    struct store_options o = base ? *base : (struct store_options){0};
    o.path = r->path;
    r->s = store_open(&r->loop, &o);
    CHECK(r->s != NULL);
    return r->s != NULL;
}

static bool rig_begin(struct rig *r, const struct store_options *base)
{
    return rig_begin_with(r, base, NULL);
}

/* n flows: 10.1.0.i:2000+i -> 192.0.2.9:53 (UDP), i+1 packets each, 100 s apart in time. */
static void add_flows(struct rig *r, int n)
{
    for (int i = 0; i < n; i++) {
        char src[32];
        snprintf(src, sizeof src, "10.1.%d.%d", i / 200, i % 200 + 1);
        for (int k = 0; k <= i % 3; k++) {
            struct pb p;
            pb_init(&p);
            pb_ethernet(&p, 0x0800);
            pb_ipv4(&p, src, "192.0.2.9", 17);
            pb_udp(&p, (uint16_t)(2000 + i), 53);
            pb_bytes(&p, "hello", 5);
            pb_finish(&p);
            engine_process_packet(r->e, 0, DLT_EN10MB,
                                  1700000000000000ull + (uint64_t)i * 100000000ull + (uint64_t)k * 7,
                                  p.buf, (uint32_t)p.len, (uint32_t)p.len);
        }
    }
    engine_expire_all(r->e);
}

static void stop_cb(uv_timer_t *t) { uv_stop(t->loop); }

/* Runs the loop (ticking the store as the schedule would) until cond or ~5 s. */
static void run_until(struct rig *r, bool (*cond)(struct rig *))
{
    uv_timer_t t;
    uv_timer_init(&r->loop, &t);
    for (int i = 0; i < 500 && !cond(r); i++) {
        uv_timer_start(&t, stop_cb, 10, 0);
        uv_run(&r->loop, UV_RUN_DEFAULT);
        if (r->s && !r->closed)
            store_tick(r->s);
    }
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&r->loop, UV_RUN_NOWAIT);
}

static bool all_written(struct rig *r)
{
    struct store_stats st;
    store_get_stats(r->s, &st);
    return st.rows_queued == 0 && (st.open || st.last_error[0]);
}

static bool query_answered(struct rig *r) { return r->query_done > 0; }
static bool closed(struct rig *r) { return r->closed > 0; }

static void on_page(void *ctx, cJSON *page, const char *err)
{
    struct rig *r = ctx;
    cJSON_Delete(r->page);
    r->page = page;
    snprintf(r->query_err, sizeof r->query_err, "%s", err ? err : "");
    r->query_done++;
}

static void on_closed(void *ctx, const struct store_stats *final)
{
    (void)final;
    ((struct rig *)ctx)->closed++;
}

static void rig_end(struct rig *r)
{
    if (r->s && !r->closed) {
        store_close(r->s, on_closed, r);
        run_until(r, closed);
        CHECK(r->closed == 1);
    }
    if (r->e)
        engine_destroy(r->e);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&r->loop) == 0);
    cJSON_Delete(r->exported);
    cJSON_Delete(r->page);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
    CHECK(system(cmd) == 0);
}

static void query(struct rig *r, const struct store_flow_query *q)
{
    r->query_done = 0;
    CHECK(store_query_flows(r->s, q, on_page, r) == 0);
    run_until(r, query_answered);
    CHECK(r->query_done == 1);
}

static struct store_flow_query all_flows(void)
{
    struct store_flow_query q;
    memset(&q, 0, sizeof q);
    q.port = q.l4_proto = -1;
    q.limit = 1000;
    return q;
}

TEST(store_flows_match_the_export)
{
    struct rig r;
    struct store_options o = {.batch_rows = 64, .flush_ms = 1};
    if (!rig_begin(&r, &o))
        return;
    add_flows(&r, 300);
    run_until(&r, all_written);
    struct store_stats st;
    store_get_stats(r.s, &st);
    CHECK(st.open);
    CHECK_EQ_U(st.rows_committed, 300);
    CHECK_EQ_U(st.rows_dropped, 0);
    CHECK(st.batches_committed >= 5); /* 64 rows a batch: one transaction each */

    /* Every stored flow is the exported one, field for field (sorted the same way). */
    struct store_flow_query q = all_flows();
    q.sort = STORE_SORT_FIRST;
    q.ascending = true;
    query(&r, &q);
    CHECK(r.page != NULL);
    if (r.page) {
        CHECK_EQ_U(cJSON_GetObjectItem(r.page, "total")->valuedouble, 300);
        cJSON *flows = cJSON_GetObjectItem(r.page, "flows");
        CHECK_EQ_U(cJSON_GetArraySize(flows), 300);
        int same = 0;
        for (int i = 0; i < cJSON_GetArraySize(r.exported); i++) {
            cJSON *want = cJSON_GetArrayItem(r.exported, i);
            double id = cJSON_GetObjectItem(want, "id")->valuedouble;
            cJSON *got = NULL;
            for (int k = 0; k < cJSON_GetArraySize(flows) && !got; k++)
                if (cJSON_GetObjectItem(cJSON_GetArrayItem(flows, k), "id")->valuedouble == id)
                    got = cJSON_GetArrayItem(flows, k);
            same += got && cJSON_Compare(want, got, true);
            if (got && !cJSON_Compare(want, got, true) && same == i) {
                char *a = cJSON_PrintUnformatted(want), *b = cJSON_PrintUnformatted(got);
                fprintf(stderr, "  exported %s\n  stored   %s\n", a, b);
                free(a);
                free(b);
            }
        }
        CHECK_EQ_U(same, 300);
    }

    /* Filters and paging: one host, a port, a time range, a page. */
    q = all_flows();
    q.has_host = true;
    q.host_version = 4;
    memcpy(q.host_addr, (uint8_t[]){10, 1, 0, 7}, 4);
    query(&r, &q);
    CHECK(r.page && cJSON_GetObjectItem(r.page, "total")->valuedouble == 1);
    q = all_flows();
    q.port = 2010;
    query(&r, &q);
    CHECK(r.page && cJSON_GetObjectItem(r.page, "total")->valuedouble == 1);
    q = all_flows();
    q.from_s = 1700000000 + 100 * 10;
    q.to_s = 1700000000 + 100 * 19;
    q.limit = 4;
    q.offset = 2;
    query(&r, &q);
    CHECK(r.page && cJSON_GetObjectItem(r.page, "total")->valuedouble == 10);
    CHECK(r.page && cJSON_GetArraySize(cJSON_GetObjectItem(r.page, "flows")) == 4);
    q = all_flows();
    q.from_s = 1800000000; /* a range without data: empty, not an error */
    query(&r, &q);
    CHECK(r.page && cJSON_GetObjectItem(r.page, "total")->valuedouble == 0);
    rig_end(&r);
}

TEST(store_survives_a_reopen_and_counts_a_full_queue)
{
    struct rig r;
    struct store_options o = {.queue_rows = 50, .batch_rows = 50, .flush_ms = 1000000};
    if (!rig_begin(&r, &o))
        return;
    add_flows(&r, 80); /* one batch of 50 fills the queue while the first write is pending */
    run_until(&r, all_written);
    struct store_stats st;
    store_get_stats(r.s, &st);
    CHECK_EQ_U(st.rows_committed + st.rows_dropped, 80);
    CHECK(st.rows_dropped >= 30);
    uint64_t committed = st.rows_committed;
    /* Closing writes what is pending; a new store on the same file sees every row. */
    store_close(r.s, on_closed, &r);
    run_until(&r, closed);
    CHECK(r.closed == 1);
    r.closed = 0;
    r.s = store_open(&r.loop, &(struct store_options){.path = r.path});
    struct store_flow_query q = all_flows();
    query(&r, &q);
    CHECK(r.page && cJSON_GetObjectItem(r.page, "total")->valuedouble == (double)committed);
    rig_end(&r);
}

static bool opened_or_failed(struct rig *r) { return all_written(r); }

TEST(store_moves_a_corrupt_file_aside_and_refuses_a_newer_schema)
{
    struct rig r;
    enum log_level saved = log_get_level();
    log_set_level(LOG_LEVEL_ERROR);
    memset(&r, 0, sizeof r);
    snprintf(r.dir, sizeof r.dir, "/tmp/tapbox-store.XXXXXX");
    CHECK(mkdtemp(r.dir) != NULL);
    snprintf(r.path, sizeof r.path, "%s/history.db", r.dir);
    FILE *f = fopen(r.path, "w");
    CHECK(f != NULL);
    if (f) {
        for (int i = 0; i < 2000; i++)
            fputs("not a database ", f);
        fclose(f);
    }
    uv_loop_init(&r.loop);
    r.exported = cJSON_CreateArray();
    r.s = store_open(&r.loop, &(struct store_options){.path = r.path});
    run_until(&r, opened_or_failed);
    struct store_stats st;
    store_get_stats(r.s, &st);
    CHECK(st.open);
    CHECK(strstr(st.moved_aside, "history.db.corrupt-") != NULL);
    struct stat sb;
    CHECK(stat(st.moved_aside, &sb) == 0 && sb.st_size == 2000 * 15);
    store_close(r.s, on_closed, &r);
    run_until(&r, closed);

    /* A schema from the future is left as it is. */
    sqlite3 *db;
    CHECK(sqlite3_open(r.path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    r.closed = 0;
    r.s = store_open(&r.loop, &(struct store_options){.path = r.path});
    run_until(&r, opened_or_failed);
    store_get_stats(r.s, &st);
    CHECK(!st.open);
    CHECK(strstr(st.last_error, "newer tapbox (schema 99") != NULL);
    CHECK(sqlite3_open(r.path, &db) == SQLITE_OK);
    sqlite3_stmt *q;
    CHECK(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) == 99);
    sqlite3_finalize(q);
    sqlite3_close(db);
    log_set_level(saved);
    rig_end(&r);
}

TEST(store_stays_under_its_cap)
{
    struct rig r;
    /* 1 MiB: about ten thousand flows; 15000 of them in batches of 500 must push the oldest
     * out. */
    struct store_options o = {.batch_rows = 500, .flush_ms = 1, .max_bytes = 1u << 20};
    if (!rig_begin(&r, &o))
        return;
    for (int round = 0; round < 5; round++) {
        add_flows(&r, 3000);
        run_until(&r, all_written);
    }
    struct store_stats st;
    store_get_stats(r.s, &st);
    CHECK_EQ_U(st.rows_committed, 15000);
    CHECK(st.rows_expired > 0);
    CHECK_EQ_U(st.rows_stored + st.rows_expired, 15000);
    CHECK(st.used_bytes <= st.max_bytes && st.max_bytes == 1u << 20);
    struct stat sb;
    /* The file holds the cap and at most one batch of free pages more (~130 B a row). */
    CHECK(stat(r.path, &sb) == 0 && (uint64_t)sb.st_size <= st.max_bytes + 500 * 400);
    /* The oldest went first: what is left is the newest, up to the last flow. */
    CHECK(st.newest_us >= st.oldest_us && st.oldest_us > 1700000000000000ull);
    struct store_flow_query q = all_flows();
    q.limit = 1;
    q.sort = STORE_SORT_FIRST;
    q.ascending = true;
    query(&r, &q);
    CHECK(r.page && cJSON_GetObjectItem(r.page, "total")->valuedouble == (double)st.rows_stored);
    rig_end(&r);
}

static double series_value(struct rig *r, enum store_metric m, enum store_series_kind kind,
                           const char *key, uint64_t minute)
{
    struct store_series_query q = {.metric = m, .kind = kind, .from_s = minute - 600,
                                   .to_s = minute + 600};
    snprintf(q.key, sizeof q.key, "%s", key);
    r->query_done = 0;
    CHECK(store_query_series(r->s, &q, on_page, r) == 0);
    run_until(r, query_answered);
    if (!r->page)
        return -1;
    CHECK(cJSON_GetObjectItem(r->page, "resolution_s")->valuedouble == 60);
    cJSON *t = cJSON_GetObjectItem(r->page, "time"), *v = cJSON_GetObjectItem(r->page, "values");
    CHECK(cJSON_GetArraySize(t) == 21 && cJSON_GetArraySize(v) == 21); /* zeros where idle */
    for (int i = 0; i < cJSON_GetArraySize(t); i++)
        if ((uint64_t)cJSON_GetArrayItem(t, i)->valuedouble == minute)
            return cJSON_GetArrayItem(v, i)->valuedouble;
    return -2;
}

/* Runs a series query; its resolution in *res (when asked) and the sum of its values, -1 when
 * it failed. */
static double series_sum(struct rig *r, const struct store_series_query *q, double *res)
{
    r->query_done = 0;
    CHECK(store_query_series(r->s, q, on_page, r) == 0);
    run_until(r, query_answered);
    if (!r->page)
        return -1;
    if (res)
        *res = cJSON_GetObjectItem(r->page, "resolution_s")->valuedouble;
    double sum = 0;
    cJSON *v = cJSON_GetObjectItem(r->page, "values");
    for (int i = 0; v && i < cJSON_GetArraySize(v); i++)
        sum += cJSON_GetArrayItem(v, i)->valuedouble;
    return sum;
}

TEST(store_minute_series_and_roll_ups)
{
    struct rig r;
    struct store_options o = {.flush_ms = 1};
    if (!rig_begin(&r, &o))
        return;
    uint64_t t0 = 1800000000; /* a minute boundary: 1800000000 % 60 == 0 */
    struct store_port_figures ports[2] = {{.name = "inside"}, {.name = "outside"}};
    store_sample_minute(r.s, r.e, ports, 2, t0);      /* the baseline */
    store_sample_minute(r.s, r.e, ports, 2, t0 + 60); /* an idle minute writes nothing */
    run_until(&r, all_written);
    struct store_stats st;
    store_get_stats(r.s, &st);
    CHECK_EQ_U(st.samples_committed, 0);
    add_flows(&r, 30); /* 60 packets, 30 flows */
    const struct traffic_counters *tot = engine_totals(r.e);
    uint64_t bytes = tot->bytes, packets = tot->packets;
    ports[0].bytes = 1500, ports[0].packets = 3, ports[0].drops = 1; /* outside stays idle */
    store_sample_minute(r.s, r.e, ports, 2, t0 + 120);
    run_until(&r, all_written);
    store_get_stats(r.s, &st);
    CHECK(st.samples_committed >= 3); /* the total, the source, DNS (or what nDPI said) */
    /* The points are in the minute that just ended. */
    CHECK(series_value(&r, STORE_METRIC_BYTES, STORE_SERIES_TOTAL, "", t0 + 60) == (double)bytes);
    CHECK(series_value(&r, STORE_METRIC_PACKETS, STORE_SERIES_SOURCE, "store-test", t0 + 60) ==
          (double)packets);
    CHECK(series_value(&r, STORE_METRIC_FLOWS, STORE_SERIES_TOTAL, "", t0 + 60) == 30);
    CHECK(series_value(&r, STORE_METRIC_BYTES, STORE_SERIES_TOTAL, "", t0) == 0);
    CHECK(series_value(&r, STORE_METRIC_BYTES, STORE_SERIES_PORT, "inside", t0 + 60) == 1500);
    CHECK(series_value(&r, STORE_METRIC_DROPS, STORE_SERIES_PORT, "inside", t0 + 60) == 1);
    CHECK(series_value(&r, STORE_METRIC_BYTES, STORE_SERIES_PORT, "outside", t0 + 60) == 0);
    /* Rolled up: a range of days asks for hours, and the hour holds the minute's bytes. */
    struct store_series_query q = {.metric = STORE_METRIC_BYTES, .kind = STORE_SERIES_TOTAL,
                                   .from_s = t0 - 3 * 86400, .to_s = t0 + 86400};
    double res = 0, sum = series_sum(&r, &q, &res);
    CHECK(res == 3600);
    CHECK(sum == (double)bytes);
    rig_end(&r);
}

TEST(store_bloom_has_no_false_negatives_and_few_false_positives)
{
    size_t size = store_bloom_size(5000);
    CHECK(size >= 5000 * STORE_BLOOM_BITS_EACH / 8 && (size & (size - 1)) == 0);
    CHECK(store_bloom_size(0) == STORE_BLOOM_MIN_BYTES);
    CHECK(store_bloom_size(SIZE_MAX / 64) == STORE_BLOOM_MAX_BYTES);
    uint8_t *bits = calloc(1, size);
    CHECK(bits != NULL);
    if (!bits)
        return;
    for (uint32_t i = 0; i < 5000; i++) {
        uint8_t a[4] = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        store_bloom_add(bits, size, a, 4);
    }
    int missing = 0, false_positive = 0;
    for (uint32_t i = 0; i < 5000; i++) {
        uint8_t a[4] = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        missing += !store_bloom_may_have(bits, size, a, 4);
    }
    for (uint32_t i = 0; i < 100000; i++) {
        uint8_t a[4] = {172, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        false_positive += store_bloom_may_have(bits, size, a, 4);
    }
    CHECK_EQ_U(missing, 0);
    CHECK(false_positive < 3000); /* ~1 % expected with 10 bits an address */
    /* An IPv6 address with the same first bytes is another key. */
    uint8_t v6[16] = {10, 0, 0, 1};
    CHECK(!store_bloom_may_have(bits, size, v6, 16) || false_positive > 0);
    /* A damaged filter (a size that is no power of two) hides nothing. */
    CHECK(store_bloom_may_have(bits, size - 1, (uint8_t[]){1, 2, 3, 4}, 4));
    CHECK(store_bloom_may_have(NULL, 0, (uint8_t[]){1, 2, 3, 4}, 4));
    free(bits);
}

static double page_total(struct rig *r)
{
    cJSON *t = r->page ? cJSON_GetObjectItem(r->page, "total") : NULL;
    return t ? t->valuedouble : -1;
}

TEST(store_host_queries_read_only_the_chunks_that_may_hold_the_host)
{
    struct rig r;
    struct store_options o = {.batch_rows = 50, .flush_ms = 1};
    if (!rig_begin(&r, &o))
        return;
    add_flows(&r, 600); /* 12 chunks; 10.1.0.7 is in the first, 10.1.2.150 in the ninth */
    run_until(&r, all_written);
    struct store_flow_query q = all_flows();
    q.has_host = true;
    q.host_version = 4;
    memcpy(q.host_addr, (uint8_t[]){10, 1, 0, 7}, 4);
    query(&r, &q);
    CHECK(page_total(&r) == 1);
    memcpy(q.host_addr, (uint8_t[]){10, 1, 2, 150}, 4);
    query(&r, &q);
    CHECK(page_total(&r) == 1);
    cJSON *f = r.page ? cJSON_GetArrayItem(cJSON_GetObjectItem(r.page, "flows"), 0) : NULL;
    cJSON *client = f ? cJSON_GetObjectItem(f, "client") : NULL;
    CHECK(client && strcmp(cJSON_GetObjectItem(client, "ip")->valuestring, "10.1.2.150") == 0);
    /* The server is in every chunk: all of them, in order, paged. */
    memcpy(q.host_addr, (uint8_t[]){192, 0, 2, 9}, 4);
    q.limit = 7;
    q.offset = 590;
    query(&r, &q);
    CHECK(page_total(&r) == 600);
    CHECK(r.page && cJSON_GetArraySize(cJSON_GetObjectItem(r.page, "flows")) == 7);
    /* A host in no chunk, and one outside the time range. */
    q = all_flows();
    q.has_host = true;
    q.host_version = 4;
    memcpy(q.host_addr, (uint8_t[]){10, 9, 9, 9}, 4);
    query(&r, &q);
    CHECK(page_total(&r) == 0);
    memcpy(q.host_addr, (uint8_t[]){10, 1, 0, 7}, 4);
    q.from_s = 1700000000 + 100 * 300;
    query(&r, &q);
    CHECK(page_total(&r) == 0);
    /* Names: the source and the protocol resolve through the names table. */
    q = all_flows();
    snprintf(q.source, sizeof q.source, "store-test");
    query(&r, &q);
    CHECK(page_total(&r) == 600);
    snprintf(q.source, sizeof q.source, "no-such-source");
    query(&r, &q);
    CHECK(page_total(&r) == 0);
    rig_end(&r);
}

/* A database as schema 2 wrote it: in WAL mode, text names, address indexes, one flow. */
static void make_schema_2(const char *path)
{
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db,
        "PRAGMA journal_mode=WAL;"
        "CREATE TABLE flows (flow_id INTEGER NOT NULL, first_us INTEGER NOT NULL, last_us INTEGER"
        " NOT NULL, ip_version INTEGER NOT NULL, proto INTEGER NOT NULL, vlan INTEGER NOT NULL,"
        " client_ip BLOB NOT NULL, client_port INTEGER NOT NULL, server_ip BLOB NOT NULL,"
        " server_port INTEGER NOT NULL, c2s_packets INTEGER NOT NULL, c2s_bytes INTEGER NOT NULL,"
        " s2c_packets INTEGER NOT NULL, s2c_bytes INTEGER NOT NULL, c2s_tcp_flags INTEGER NOT"
        " NULL, s2c_tcp_flags INTEGER NOT NULL, l7 TEXT NOT NULL, category TEXT NOT NULL,"
        " l7_final INTEGER NOT NULL, l7_guessed INTEGER NOT NULL, tunnel_depth INTEGER NOT NULL,"
        " source TEXT NOT NULL, client_side TEXT, verdict TEXT);"
        "CREATE INDEX flows_by_last ON flows(last_us);"
        "CREATE INDEX flows_by_client ON flows(client_ip, last_us);"
        "CREATE INDEX flows_by_server ON flows(server_ip, last_us);"
        "CREATE TABLE series (res INTEGER NOT NULL, t INTEGER NOT NULL, kind INTEGER NOT NULL,"
        " key TEXT NOT NULL, bytes INTEGER NOT NULL, packets INTEGER NOT NULL, flows INTEGER NOT"
        " NULL, drops INTEGER NOT NULL, PRIMARY KEY (res, t, kind, key)) WITHOUT ROWID;"
        "INSERT INTO flows VALUES (42, 1700000000000000, 1700000001000000, 4, 6, 0,"
        " x'0a000001', 40000, x'c0000201', 443, 5, 500, 4, 4000, 27, 26, 'TLS.Google', 'Web',"
        " 1, 0, 0, 'eth0', 'inside', 'drop');"
        "PRAGMA user_version = 2;", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
}

TEST(store_migrates_schema_2_keeping_its_flows)
{
    struct rig r;
    if (!rig_begin_with(&r, NULL, make_schema_2))
        return;
    struct store_flow_query q = all_flows();
    q.has_host = true;
    q.host_version = 4;
    memcpy(q.host_addr, (uint8_t[]){192, 0, 2, 1}, 4);
    snprintf(q.l7, sizeof q.l7, "Google");
    query(&r, &q);
    CHECK(page_total(&r) == 1);
    cJSON *f = r.page ? cJSON_GetArrayItem(cJSON_GetObjectItem(r.page, "flows"), 0) : NULL;
    CHECK(f && cJSON_GetObjectItem(f, "id")->valuedouble == 42);
    CHECK(f && strcmp(cJSON_GetObjectItem(f, "l7")->valuestring, "TLS.Google") == 0);
    CHECK(f && strcmp(cJSON_GetObjectItem(f, "category")->valuestring, "Web") == 0);
    CHECK(f && strcmp(cJSON_GetObjectItem(f, "source")->valuestring, "eth0") == 0);
    CHECK(f && strcmp(cJSON_GetObjectItem(f, "client_side")->valuestring, "inside") == 0);
    CHECK(f && strcmp(cJSON_GetObjectItem(f, "verdict")->valuestring, "drop") == 0);
    /* New rows go on after the migrated one, with the same names. */
    add_flows(&r, 10);
    run_until(&r, all_written);
    q = all_flows();
    query(&r, &q);
    CHECK(page_total(&r) == 11);
    store_close(r.s, on_closed, &r);
    run_until(&r, closed);
    sqlite3 *db;
    CHECK(sqlite3_open(r.path, &db) == SQLITE_OK);
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM sqlite_master WHERE name LIKE"
                             " 'flows_by_client'), (SELECT user_version FROM pragma_user_version),"
                             " (SELECT journal_mode FROM pragma_journal_mode)",
                             -1, &st, NULL) == SQLITE_OK);
    /* the WAL file of an older tapbox is now a rollback one: "delete" is how SQLite reports a
     * file that is not in WAL mode to a connection that did not set a mode */
    CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0 &&
          sqlite3_column_int(st, 1) == STORE_SCHEMA_VERSION &&
          strcmp((const char *)sqlite3_column_text(st, 2), "delete") == 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    rig_end(&r);
}

static void on_host_end(void *ctx, const struct engine_host_record *h)
{
    struct rig *r = ctx;
    store_add_host(r->s, h);
}

static struct store_restore restored_copy;
static int restored_calls;

static void on_restored(void *ctx, const struct store_restore *rs)
{
    (void)ctx;
    restored_calls++;
    restored_copy.nhosts = rs->nhosts;
    restored_copy.ncounters = rs->ncounters;
    free(restored_copy.hosts);
    restored_copy.hosts = rs->nhosts ? malloc(rs->nhosts * sizeof *rs->hosts) : NULL;
    if (restored_copy.hosts)
        memcpy(restored_copy.hosts, rs->hosts, rs->nhosts * sizeof *rs->hosts);
    free(restored_copy.counters);
    restored_copy.counters = rs->ncounters ? malloc(rs->ncounters * sizeof *rs->counters) : NULL;
    if (restored_copy.counters)
        memcpy(restored_copy.counters, rs->counters, rs->ncounters * sizeof *rs->counters);
}

static uint64_t saves_wanted;

static bool state_saved(struct rig *r)
{
    struct store_stats st;
    store_get_stats(r->s, &st);
    return st.state_saves >= saves_wanted && st.rows_queued == 0;
}

static const struct engine_host_record *find_host(const struct store_restore *rs,
                                                  const uint8_t addr[4])
{
    for (size_t i = 0; i < rs->nhosts; i++)
        if (memcmp(rs->hosts[i].key.addr, addr, 4) == 0 && rs->hosts[i].key.ip_version == 4)
            return &rs->hosts[i];
    return NULL;
}

TEST(store_keeps_hosts_and_counters_across_a_restart)
{
    struct rig r;
    struct store_options o = {.flush_ms = 1, .restored = on_restored, .restore_hosts = 1000};
    restored_calls = 0;
    if (!rig_begin(&r, &o))
        return;
    struct engine_config c;
    engine_config_defaults(&c);
    char err[128];
    CHECK(netlist_parse(&c.local_networks, "10.0.0.0/8", err, sizeof err) == 0);
    engine_reconfigure(r.e, &c);
    engine_set_host_end(r.e, on_host_end, &r);
    run_until(&r, all_written); /* the open: nothing saved yet */
    CHECK(restored_calls == 1 && restored_copy.nhosts == 0 && restored_copy.ncounters == 0);
    add_flows(&r, 20);
    engine_sync(r.e);
    struct store_counter counters[2] = {
        {.kind = STORE_COUNTER_SOURCE, .name = "store-test", .flows = 20, .packets = 40,
         .bytes = 4000},
        {.kind = STORE_COUNTER_RULE, .name = "no-dns", .text = "drop port=53", .flows = 3}};
    uint64_t t0 = 1800000000;
    store_save_state(r.s, r.e, counters, 2, t0 + 300);
    saves_wanted = 1;
    run_until(&r, state_saved);
    struct store_stats st;
    store_get_stats(r.s, &st);
    CHECK_EQ_U(st.hosts_saved, 21); /* 20 clients, one server */
    /* Nothing moved: the next save writes no host. */
    store_save_state(r.s, r.e, counters, 2, t0 + 600);
    saves_wanted = 2;
    run_until(&r, state_saved);
    store_get_stats(r.s, &st);
    CHECK_EQ_U(st.state_saves, 2);
    CHECK_EQ_U(st.hosts_saved, 21);
    /* A local host's traffic became its 5-minute point (the server is not local). */
    struct store_series_query q = {.metric = STORE_METRIC_PACKETS, .kind = STORE_SERIES_HOST,
                                   .key = "10.1.0.3", .from_s = t0 - 600, .to_s = t0 + 600};
    double res = 0;
    CHECK(series_sum(&r, &q, &res) == 3); /* flow i has i % 3 + 1 packets: 10.1.0.3 is flow 2 */
    CHECK(res == 300);
    snprintf(q.key, sizeof q.key, "192.0.2.9");
    CHECK(series_sum(&r, &q, NULL) == 0);
    store_close(r.s, on_closed, &r);
    run_until(&r, closed);

    /* The restart: a new store on the same file hands back what was saved. */
    r.closed = 0;
    struct store_options o2 = {.path = r.path, .flush_ms = 1, .restored = on_restored,
                               .restore_hosts = 1000};
    r.s = store_open(&r.loop, &o2);
    run_until(&r, all_written);
    CHECK(restored_calls == 2);
    CHECK_EQ_U(restored_copy.nhosts, 21);
    CHECK_EQ_U(restored_copy.ncounters, 2);
    const struct engine_host_record *h = find_host(&restored_copy, (uint8_t[]){10, 1, 0, 3});
    CHECK(h && h->first_us == 1700000000000000ull + 2 * 100000000ull && h->packets_sent == 3 &&
          h->flows_total == 1 && h->local);
    const struct engine_host_record *server =
        find_host(&restored_copy, (uint8_t[]){192, 0, 2, 9});
    CHECK(server && server->flows_total == 20 && !server->local);
    bool rule = false;
    for (size_t i = 0; i < restored_copy.ncounters; i++)
        rule |= restored_copy.counters[i].kind == STORE_COUNTER_RULE &&
                strcmp(restored_copy.counters[i].text, "drop port=53") == 0 &&
                restored_copy.counters[i].flows == 3;
    CHECK(rule);
    /* Restored into an engine, then more traffic: the next save adds only the new traffic. */
    struct engine *e2 = engine_create(&c, err, sizeof err);
    CHECK(e2 != NULL);
    if (e2) {
        for (size_t i = 0; i < restored_copy.nhosts; i++)
            CHECK(engine_restore_host(e2, &restored_copy.hosts[i]) == 0);
        engine_add_source(e2, "store-test", "file");
        engine_set_flow_end(e2, on_flow_end, &r);
        engine_set_host_end(e2, on_host_end, &r);
        struct engine *first = r.e;
        r.e = e2;
        add_flows(&r, 5); /* the first 5 clients again, and the server */
        engine_sync(e2);
        store_save_state(r.s, e2, counters, 2, t0 + 900);
        saves_wanted = 1; /* this store's first */
        run_until(&r, state_saved);
        r.e = first;
        engine_destroy(e2);
    }
    store_close(r.s, on_closed, &r);
    run_until(&r, closed);
    r.closed = 0;
    r.s = store_open(&r.loop, &o2);
    run_until(&r, all_written);
    server = find_host(&restored_copy, (uint8_t[]){192, 0, 2, 9});
    CHECK(server && server->flows_total == 25);
    h = find_host(&restored_copy, (uint8_t[]){10, 1, 0, 3});
    CHECK(h && h->packets_sent == 6 && h->flows_total == 2 &&
          h->first_us == 1700000000000000ull + 2 * 100000000ull);
    h = find_host(&restored_copy, (uint8_t[]){10, 1, 0, 10});
    CHECK(h && h->packets_sent == 1 && h->flows_total == 1); /* flow 9: not seen again */
    rig_end(&r);
    free(restored_copy.hosts);
    free(restored_copy.counters);
    memset(&restored_copy, 0, sizeof restored_copy);
}

TEST(store_keeps_what_was_learned_of_a_host_across_a_restart)
{
    struct rig r;
    struct store_options o = {.flush_ms = 1, .restored = on_restored, .restore_hosts = 10};
    restored_calls = 0;
    if (!rig_begin(&r, &o))
        return;
    run_until(&r, all_written);
    /* A named host with a device, and one without either: NULLs, not empty values. */
    struct engine_host_record h = {.local = true, .first_us = 1, .last_us = 2, .flows_total = 1,
                                   .name_source = NAME_SOURCE_MDNS, .name_expires_us = 99,
                                   .has_mac = true, .mac = {0x02, 0, 0, 0, 0, 7},
                                   .mac_first_us = 1, .mac_last_us = 2, .mac_changes = 3};
    snprintf(h.name, sizeof h.name, "printer.lan");
    host_key_make(&h.key, 0, 4, (uint8_t[16]){10, 9, 0, 1});
    struct engine_host_record plain = {.first_us = 1, .last_us = 2, .flows_total = 1};
    host_key_make(&plain.key, 0, 4, (uint8_t[16]){192, 0, 2, 77});
    store_add_host(r.s, &h);
    store_add_host(r.s, &plain);
    store_save_state(r.s, r.e, NULL, 0, 1800000000);
    saves_wanted = 1;
    run_until(&r, state_saved);
    /* The next save without a name (it expired) or a device keeps what the file had. */
    h.name[0] = 0;
    h.has_mac = false;
    h.last_us = 3;
    store_add_host(r.s, &h);
    store_save_state(r.s, r.e, NULL, 0, 1800000300);
    saves_wanted = 2;
    run_until(&r, state_saved);
    store_close(r.s, on_closed, &r);
    run_until(&r, closed);
    r.closed = 0;
    struct store_options o2 = {.path = r.path, .flush_ms = 1, .restored = on_restored,
                               .restore_hosts = 10};
    r.s = store_open(&r.loop, &o2);
    run_until(&r, all_written);
    const struct engine_host_record *back = find_host(&restored_copy, (uint8_t[]){10, 9, 0, 1});
    CHECK(back && strcmp(back->name, "printer.lan") == 0 &&
          back->name_source == NAME_SOURCE_MDNS && back->name_expires_us == 99);
    CHECK(back && back->has_mac && back->mac[5] == 7 && back->mac_changes == 3 &&
          back->mac_first_us == 1 && back->mac_last_us == 2 && back->last_us == 3);
    back = find_host(&restored_copy, (uint8_t[]){192, 0, 2, 77});
    CHECK(back && back->name[0] == 0 && !back->has_mac);
    rig_end(&r);
    free(restored_copy.hosts);
    free(restored_copy.counters);
    memset(&restored_copy, 0, sizeof restored_copy);
}

TEST(store_ages_flows_out_by_chunk)
{
    struct rig r;
    struct store_options o = {.batch_rows = 100, .flush_ms = 1, .keep = {.flow_days = 1}};
    if (!rig_begin(&r, &o))
        return;
    add_flows(&r, 1500); /* 100 s apart: 150000 s, of which a day is kept */
    run_until(&r, all_written);
    struct store_stats st;
    store_get_stats(r.s, &st);
    CHECK_EQ_U(st.rows_committed, 1500);
    CHECK(st.rows_expired > 0 && st.rows_stored + st.rows_expired == 1500);
    /* What is left is the last day, give or take the chunk (100 flows, 10000 s) at its edge. */
    uint64_t day = 86400ull * 1000000, chunk = 100ull * 100 * 1000000;
    CHECK(st.oldest_us + day + chunk >= st.newest_us);
    CHECK(st.newest_us - st.oldest_us >= day - chunk);
    rig_end(&r);
}
