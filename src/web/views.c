#include "web/views.h"
#include "core/version.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "ntap/ntap_collector.h"
#include "query/query_json.h"
#include "store/store.h"


#define BAD 400

uint64_t web_process_rss(void)
{
    /* /proc is served from memory: this never waits on a disk. */
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    unsigned long long size = 0, resident = 0;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    return n == 2 ? (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

static int oom(char *err, size_t errsize)
{
    snprintf(err, errsize, "out of memory");
    return 500;
}

/* ---- status, sources, series, l7 ---- */

/* The supervisor's one-line note on which config runs: {"status": "ok"|"factory", "detail"}.
 * A small file on tmpfs, read on the loop thread. */
static void add_config_status(cJSON *o, const char *path)
{
    char line[512] = "";
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f)
        return;
    if (!fgets(line, sizeof line, f))
        line[0] = '\0';
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    const char *colon = strchr(line, ':');
    cJSON *c = cJSON_AddObjectToObject(o, "config");
    if (colon) {
        cJSON_AddStringToObject(c, "status", strncmp(line, "factory:", 8) == 0 ? "factory" : "ok");
        cJSON_AddStringToObject(c, "detail", colon[1] == ' ' ? colon + 2 : colon + 1);
    } else {
        cJSON_AddStringToObject(c, "status", "unknown");
        cJSON_AddStringToObject(c, "detail", line);
    }
}

/* "history": {"enabled": false} without -F; else the store's figures. */
static void add_history_status(cJSON *o, const struct store *history)
{
    cJSON *h = cJSON_AddObjectToObject(o, "history");
    cJSON_AddBoolToObject(h, "enabled", history != NULL);
    if (!history)
        return;
    struct store_stats st;
    store_get_stats(history, &st);
    cJSON_AddBoolToObject(h, "open", st.open);
    cJSON_AddStringToObject(h, "path", st.path);
    cJSON_AddNumberToObject(h, "rows_queued", (double)st.rows_queued);
    cJSON_AddNumberToObject(h, "rows_committed", (double)st.rows_committed);
    cJSON_AddNumberToObject(h, "rows_dropped", (double)st.rows_dropped);
    cJSON_AddNumberToObject(h, "batches_committed", (double)st.batches_committed);
    cJSON_AddNumberToObject(h, "batches_failed", (double)st.batches_failed);
    cJSON_AddNumberToObject(h, "queries", (double)st.queries);
    cJSON_AddNumberToObject(h, "queries_failed", (double)st.queries_failed);
    cJSON_AddNumberToObject(h, "samples_committed", (double)st.samples_committed);
    cJSON_AddNumberToObject(h, "samples_dropped", (double)st.samples_dropped);
    cJSON_AddNumberToObject(h, "max_bytes", (double)st.max_bytes);
    cJSON_AddNumberToObject(h, "used_bytes", (double)st.used_bytes);
    cJSON_AddNumberToObject(h, "rows_stored", (double)st.rows_stored);
    cJSON_AddNumberToObject(h, "rows_expired", (double)st.rows_expired);
    cJSON_AddNumberToObject(h, "oldest", (double)st.oldest_us / 1e6);
    cJSON_AddNumberToObject(h, "newest", (double)st.newest_us / 1e6);
    cJSON_AddNumberToObject(h, "state_saves", (double)st.state_saves);
    cJSON_AddNumberToObject(h, "hosts_saved", (double)st.hosts_saved);
    cJSON_AddNumberToObject(h, "hosts_restored", (double)st.hosts_restored);
    cJSON_AddNumberToObject(h, "counters_restored", (double)st.counters_restored);
    if (st.last_error[0])
        cJSON_AddStringToObject(h, "last_error", st.last_error);
    if (st.moved_aside[0])
        cJSON_AddStringToObject(h, "moved_aside", st.moved_aside);
}

int web_view_status(WEB_VIEW_ARGS)
{
    static const char *const known[] = {NULL};
    *out = NULL;
    if (web_params_only(params, known, err, errsize) < 0)
        return BAD;
    cJSON *o = query_status_json(ctx->engine);
    if (!o)
        return oom(err, errsize);
    time_t now = time(NULL);
    cJSON_AddStringToObject(o, "version", TAPBOX_VERSION);
    cJSON_AddNumberToObject(o, "time", (double)now);
    cJSON_AddNumberToObject(o, "started", (double)ctx->started_unix_s);
    cJSON_AddNumberToObject(o, "uptime_s",
                            (double)((uint64_t)now > ctx->started_unix_s
                                         ? (uint64_t)now - ctx->started_unix_s
                                         : 0));
    cJSON_AddNumberToObject(o, "loop_stalls", ctx->loop_stalls ? (double)*ctx->loop_stalls : 0);
    add_config_status(o, ctx->config_status_file);
    cJSON *mem = cJSON_GetObjectItem(o, "memory");
    if (mem)
        cJSON_AddNumberToObject(mem, "process_rss", (double)web_process_rss());
    add_history_status(o, ctx->history);
    if (ctx->stats) {
        cJSON *w = cJSON_AddObjectToObject(o, "web");
        cJSON_AddNumberToObject(w, "requests", (double)ctx->stats->requests);
        cJSON_AddNumberToObject(w, "errors_4xx", (double)ctx->stats->errors_4xx);
        cJSON_AddNumberToObject(w, "errors_5xx", (double)ctx->stats->errors_5xx);
        cJSON_AddNumberToObject(w, "connections", ctx->stats->connections);
        cJSON_AddNumberToObject(w, "connections_refused",
                                (double)ctx->stats->connections_refused);
        cJSON_AddNumberToObject(w, "sessions", ctx->stats->sessions);
    }
    *out = o;
    return 0;
}

int web_view_sources(WEB_VIEW_ARGS)
{
    static const char *const known[] = {NULL};
    *out = NULL;
    if (web_params_only(params, known, err, errsize) < 0)
        return BAD;
    cJSON *status = query_status_json(ctx->engine);
    cJSON *items = status ? cJSON_DetachItemFromObject(status, "sources") : NULL;
    cJSON_Delete(status);
    if (!items)
        return oom(err, errsize);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "total", cJSON_GetArraySize(items));
    cJSON_AddItemToObject(o, "items", items);
    *out = o;
    return 0;
}

/* A source by id or name; -1 when absent, -2 when unknown. */
static int source_param(const struct web_view_ctx *ctx, struct web_params *params, char *err,
                        size_t errsize)
{
    const char *v = web_param(params, "source");
    if (!v)
        return -1;
    const struct engine *e = ctx->engine;
    int found = engine_source_find(e, v);
    if (found >= 0)
        return found;
    char *end;
    unsigned long id = strtoul(v, &end, 10);
    if (v[0] >= '0' && v[0] <= '9' && !*end && id < engine_source_count(e))
        return (int)id;
    snprintf(params->bad, sizeof params->bad, "source");
    snprintf(err, errsize, "parameter 'source': no source '%.64s' (a name or an id)", v);
    return -2;
}

int web_view_series(WEB_VIEW_ARGS)
{
    static const char *const known[] = {"since", "source", NULL};
    uint64_t since;
    *out = NULL;
    if (web_params_only(params, known, err, errsize) < 0 ||
        web_param_uint(params, "since", 0, UINT32_MAX * 1000ull, 0, &since, err, errsize) < 0)
        return BAD;
    int source = source_param(ctx, params, err, errsize);
    if (source == -2)
        return BAD;
    *out = series_json(ctx->series, ctx->engine, since, source);
    return *out ? 0 : oom(err, errsize);
}

int web_view_l7(WEB_VIEW_ARGS)
{
    static const char *const known[] = {NULL};
    *out = NULL;
    if (web_params_only(params, known, err, errsize) < 0)
        return BAD;
    cJSON *items = query_l7_json(ctx->engine);
    if (!items)
        return oom(err, errsize);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "total", cJSON_GetArraySize(items));
    cJSON_AddItemToObject(o, "items", items);
    *out = o;
    return 0;
}

/* ---- nTap ---- */

int web_view_ntap(WEB_VIEW_ARGS)
{
    static const char *const known[] = {NULL};
    *out = NULL;
    if (web_params_only(params, known, err, errsize) < 0)
        return BAD;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return oom(err, errsize);
    const struct ntap_collector *c = ctx->ntap;
    cJSON_AddBoolToObject(o, "enabled", c != NULL);
    if (!c) {
        cJSON_AddNullToObject(o, "mode");
        cJSON_AddNullToObject(o, "port");
        cJSON_AddNullToObject(o, "public_key");
        cJSON_AddArrayToObject(o, "taps");
        cJSON_AddNumberToObject(o, "refused", 0);
        *out = o;
        return 0;
    }
    cJSON *stats = ntap_collector_stats_json(c);
    if (!stats) {
        cJSON_Delete(o);
        return oom(err, errsize);
    }
    const char *key = ntap_collector_public_key(c);
    cJSON_AddStringToObject(o, "mode", key[0] ? "pubkey" : "passphrase");
    cJSON_AddNumberToObject(o, "port", ntap_collector_port(c));
    if (key[0])
        cJSON_AddStringToObject(o, "public_key", key); /* 64 hex digits, as tapbox-tap -K wants */
    else
        cJSON_AddNullToObject(o, "public_key");
    cJSON *taps = cJSON_DetachItemFromObject(stats, "taps");
    cJSON_AddItemToObject(o, "taps", taps ? taps : cJSON_CreateArray());
    /* Datagrams refused for any reason (the reasons below), socket drops apart. */
    const struct ntap_rx_totals *tot = ntap_collector_totals(c);
    uint64_t refused = 0;
    for (int r = 1; r < NTAP_DROP_COUNT; r++)
        refused += tot->drops[r];
    cJSON_AddNumberToObject(o, "refused", (double)refused);
    static const char *const keep[] = {"datagrams", "accepted",     "packets", "bytes",
                                       "handshakes", "socket_drops", "drops",   "taps_cap",
                                       "tun",        NULL};
    for (int i = 0; keep[i]; i++) {
        cJSON *v = cJSON_DetachItemFromObject(stats, keep[i]);
        if (v)
            cJSON_AddItemToObject(o, keep[i], v);
    }
    cJSON_Delete(stats);
    *out = o;
    return 0;
}

/* ---- hosts ---- */

static const char *const orders[] = {"desc", "asc", NULL};

static int paging(struct web_params *params, size_t *offset, size_t *limit, char *err,
                  size_t errsize)
{
    uint64_t o, l;
    if (web_param_uint(params, "limit", 1, QUERY_MAX_LIMIT, 25, &l, err, errsize) < 0 ||
        web_param_uint(params, "offset", 0, 100000000, 0, &o, err, errsize) < 0)
        return -1;
    *offset = (size_t)o;
    *limit = (size_t)l;
    return 0;
}

static cJSON *page_object(size_t total, size_t offset, size_t limit, cJSON **items)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "total", (double)total);
    cJSON_AddNumberToObject(o, "offset", (double)offset);
    cJSON_AddNumberToObject(o, "limit", (double)limit);
    *items = cJSON_AddArrayToObject(o, "items");
    return o;
}

int web_view_hosts(WEB_VIEW_ARGS)
{
    static const char *const known[] = {"sort", "order", "limit", "offset", "local", "q", NULL};
    static const char *const sorts[] = {"bytes",     "packets", "flows", "first_seen",
                                        "last_seen", "ip",      NULL};
    *out = NULL;
    struct host_query q;
    host_query_init(&q);
    int sort, order, local;
    if (web_params_only(params, known, err, errsize) < 0 ||
        web_param_choice(params, "sort", sorts, 0, &sort, err, errsize) < 0 ||
        web_param_choice(params, "order", orders, 0, &order, err, errsize) < 0 ||
        web_param_bool(params, "local", &local, err, errsize) < 0 ||
        paging(params, &q.offset, &q.limit, err, errsize) < 0)
        return BAD;
    query_host_sort_parse(sorts[sort], &q.sort);
    q.order = order == 1 ? QUERY_ASC : QUERY_DESC;
    q.locality = local < 0 ? HOST_ANY : local ? HOST_LOCAL : HOST_REMOTE;
    q.text = web_param(params, "q");
    if (q.text && strlen(q.text) > 64) {
        snprintf(params->bad, sizeof params->bad, "q");
        snprintf(err, errsize, "parameter 'q': longer than 64 characters");
        return BAD;
    }
    engine_sync(ctx->engine);
    struct query_page page;
    if (query_hosts(ctx->engine, &q, &page) < 0)
        return oom(err, errsize);
    cJSON *items;
    cJSON *o = page_object(page.total, q.offset, q.limit, &items);
    for (size_t i = 0; i < page.count; i++)
        cJSON_AddItemToArray(items, query_host_json(ctx->engine, page.items[i]));
    query_page_free(&page);
    *out = o;
    return 0;
}

/* ---- flows ---- */

static int parse_ip(const char *text, uint8_t *version, uint8_t addr[16])
{
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, text, addr) == 1) {
        *version = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, text, addr) == 1) {
        *version = 6;
        return 0;
    }
    return -1;
}

static int l4_param(struct web_params *params, int *out, char *err, size_t errsize)
{
    static const struct {
        const char *name;
        int proto;
    } names[] = {{"tcp", 6}, {"udp", 17}, {"icmp", 1}, {"icmpv6", 58}, {"sctp", 132},
                 {"gre", 47}, {"esp", 50}, {"igmp", 2}, {"ospf", 89}};
    const char *v = web_param(params, "proto");
    *out = -1;
    if (!v)
        return 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(v, names[i].name) == 0) {
            *out = names[i].proto;
            return 0;
        }
    uint64_t n;
    if (web_param_uint(params, "proto", 0, 255, 0, &n, err, errsize) < 0) {
        snprintf(err, errsize,
                 "parameter 'proto': '%.32s' is not tcp, udp, icmp, icmpv6, sctp or a number "
                 "from 0 to 255",
                 v);
        return -1;
    }
    *out = (int)n;
    return 0;
}

/* Fill a flow query from parameters (shared by /flows and a host's flows). */
static int flow_query_params(const struct web_view_ctx *ctx, struct web_params *params,
                             struct flow_query *q, char *err, size_t errsize)
{
    static const char *const sorts[] = {"bytes", "packets", "first_seen", "last_seen", "id", NULL};
    int sort, order;
    uint64_t port;
    if (web_param_choice(params, "sort", sorts, 0, &sort, err, errsize) < 0 ||
        web_param_choice(params, "order", orders, 0, &order, err, errsize) < 0 ||
        paging(params, &q->offset, &q->limit, err, errsize) < 0 ||
        l4_param(params, &q->l4_proto, err, errsize) < 0)
        return -1;
    query_flow_sort_parse(sorts[sort], &q->sort);
    q->order = order == 1 ? QUERY_ASC : QUERY_DESC;
    if (web_param(params, "port")) {
        if (web_param_uint(params, "port", 0, 65535, 0, &port, err, errsize) < 0)
            return -1;
        q->port = (int)port;
    }
    const char *l7 = web_param(params, "l7");
    if (l7) {
        q->l7_proto = l7_protocol_id(engine_l7(ctx->engine), l7);
        if (q->l7_proto < 0) {
            snprintf(params->bad, sizeof params->bad, "l7");
            snprintf(err, errsize, "parameter 'l7': no application protocol named '%.64s'", l7);
            return -1;
        }
    }
    int source = source_param(ctx, params, err, errsize);
    if (source == -2)
        return -1;
    q->source = source;
    return 0;
}

int web_view_flows(WEB_VIEW_ARGS)
{
    static const char *const known[] = {"host",  "l7",    "port",  "proto",  "source",
                                        "sort",  "order", "limit", "offset", NULL};
    *out = NULL;
    struct flow_query q;
    flow_query_init(&q);
    if (web_params_only(params, known, err, errsize) < 0 ||
        flow_query_params(ctx, params, &q, err, errsize) < 0)
        return BAD;
    const char *host = web_param(params, "host");
    if (host) {
        if (parse_ip(host, &q.host_version, q.host_addr) < 0) {
            snprintf(params->bad, sizeof params->bad, "host");
            snprintf(err, errsize, "parameter 'host': '%.64s' is not an IPv4 or IPv6 address",
                     host);
            return BAD;
        }
        q.has_host = true;
    }
    struct query_page page;
    if (query_flows(ctx->engine, &q, &page) < 0)
        return oom(err, errsize);
    struct flow_sides sides;
    query_flow_sides(ctx->ports, &sides);
    cJSON *items;
    cJSON *o = page_object(page.total, q.offset, q.limit, &items);
    for (size_t i = 0; i < page.count; i++)
        cJSON_AddItemToArray(items, query_flow_json(ctx->engine, &sides, page.items[i]));
    query_page_free(&page);
    *out = o;
    return 0;
}

/* ---- one host ---- */

struct peer {
    uint8_t addr[16];
    uint64_t bytes, packets;
    uint32_t flows;
};

static int peer_by_addr(const void *a, const void *b)
{
    return memcmp(((const struct peer *)a)->addr, ((const struct peer *)b)->addr, 16);
}

static int peer_by_bytes(const void *a, const void *b)
{
    const struct peer *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    return memcmp(x->addr, y->addr, 16);
}

/* Peers of a host from its flows (the page holds its QUERY_MAX_LIMIT largest flows). */
static cJSON *peers_json(const struct query_page *page, uint8_t version, const uint8_t addr[16],
                         size_t max)
{
    cJSON *arr = cJSON_CreateArray();
    if (page->count == 0)
        return arr;
    struct peer *p = calloc(page->count, sizeof *p);
    if (!p)
        return arr;
    for (size_t i = 0; i < page->count; i++) {
        const struct flow *f = page->items[i];
        const uint8_t *other = memcmp(f->key.addr_lo, addr, 16) == 0 ? f->key.addr_hi
                                                                     : f->key.addr_lo;
        memcpy(p[i].addr, other, 16);
        p[i].bytes = f->bytes[0] + f->bytes[1];
        p[i].packets = f->packets[0] + f->packets[1];
        p[i].flows = 1;
    }
    qsort(p, page->count, sizeof *p, peer_by_addr);
    size_t n = 0;
    for (size_t i = 0; i < page->count; i++) {
        if (n > 0 && memcmp(p[n - 1].addr, p[i].addr, 16) == 0) {
            p[n - 1].bytes += p[i].bytes;
            p[n - 1].packets += p[i].packets;
            p[n - 1].flows += p[i].flows;
        } else {
            p[n++] = p[i];
        }
    }
    qsort(p, n, sizeof *p, peer_by_bytes);
    for (size_t i = 0; i < n && i < max; i++) {
        char text[64];
        query_address_text(version, p[i].addr, text, sizeof text);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "ip", text);
        cJSON_AddNumberToObject(o, "flows", p[i].flows);
        cJSON_AddNumberToObject(o, "packets", (double)p[i].packets);
        cJSON_AddNumberToObject(o, "bytes", (double)p[i].bytes);
        cJSON_AddItemToArray(arr, o);
    }
    free(p);
    return arr;
}

int web_view_host(const struct web_view_ctx *ctx, const char *ip, struct web_params *params,
                  cJSON **out, char *err, size_t errsize)
{
    static const char *const known[] = {"vlan", "flows", "peers", NULL};
    *out = NULL;
    uint64_t vlan, nflows, npeers;
    uint8_t version, addr[16];
    if (web_params_only(params, known, err, errsize) < 0 ||
        web_param_uint(params, "vlan", 0, 4095, 0, &vlan, err, errsize) < 0 ||
        web_param_uint(params, "flows", 0, QUERY_MAX_LIMIT, 50, &nflows, err, errsize) < 0 ||
        web_param_uint(params, "peers", 0, QUERY_MAX_LIMIT, 20, &npeers, err, errsize) < 0)
        return BAD;
    if (parse_ip(ip, &version, addr) < 0) {
        snprintf(params->bad, sizeof params->bad, "ip");
        snprintf(err, errsize, "'%.64s' is not an IPv4 or IPv6 address", ip);
        return BAD;
    }
    engine_sync(ctx->engine);
    const struct host *h = query_host_find(ctx->engine, version, addr, (uint16_t)vlan);
    if (!h) {
        snprintf(err, errsize, "no host %.64s (vlan %u) in the table", ip, (unsigned)vlan);
        return 404;
    }
    cJSON *o = query_host_json(ctx->engine, h);
    struct flow_query q;
    flow_query_init(&q);
    q.has_host = true;
    q.host_version = version;
    memcpy(q.host_addr, addr, 16);
    q.limit = QUERY_MAX_LIMIT;
    struct query_page page;
    if (query_flows(ctx->engine, &q, &page) < 0) {
        cJSON_Delete(o);
        return oom(err, errsize);
    }
    cJSON_AddNumberToObject(o, "flows_count", (double)page.total);
    struct flow_sides sides;
    query_flow_sides(ctx->ports, &sides);
    cJSON *flows = cJSON_AddArrayToObject(o, "flows");
    for (size_t i = 0; i < page.count && i < nflows; i++)
        cJSON_AddItemToArray(flows, query_flow_json(ctx->engine, &sides, page.items[i]));
    /* Peers from the host's largest flows: exact unless it has more than QUERY_MAX_LIMIT. */
    cJSON_AddItemToObject(o, "peers", peers_json(&page, version, addr, npeers));
    cJSON_AddBoolToObject(o, "peers_complete", page.total <= page.count);
    query_page_free(&page);
    *out = o;
    return 0;
}

int web_view_history_query(const struct web_view_ctx *ctx, struct web_params *params,
                           struct store_flow_query *q, char *err, size_t errsize)
{
    static const char *const known[] = {"from", "to", "host", "l7", "port", "proto", "source",
                                        "sort", "order", "limit", "offset", NULL};
    static const char *const sorts[] = {"last_seen", "first_seen", "bytes", "packets", NULL};
    static const enum store_flow_sort sort_of[] = {STORE_SORT_LAST, STORE_SORT_FIRST,
                                                   STORE_SORT_BYTES, STORE_SORT_PACKETS};
    memset(q, 0, sizeof *q);
    q->port = -1;
    int sort, order;
    uint64_t from, to, port;
    /* Times are Unix seconds; 0 .. 2^40 keeps the milliseconds of the query inside 64 bits. */
    if (web_params_only(params, known, err, errsize) < 0 ||
        web_param_uint(params, "from", 0, 1ull << 40, 0, &from, err, errsize) < 0 ||
        web_param_uint(params, "to", 0, 1ull << 40, 0, &to, err, errsize) < 0 ||
        web_param_choice(params, "sort", sorts, 0, &sort, err, errsize) < 0 ||
        web_param_choice(params, "order", orders, 0, &order, err, errsize) < 0 ||
        paging(params, &q->offset, &q->limit, err, errsize) < 0 ||
        l4_param(params, &q->l4_proto, err, errsize) < 0)
        return BAD;
    if (to && from > to) {
        snprintf(params->bad, sizeof params->bad, "to");
        snprintf(err, errsize, "parameter 'to': %llu is before 'from' (%llu)",
                 (unsigned long long)to, (unsigned long long)from);
        return BAD;
    }
    q->from_s = from;
    q->to_s = to;
    q->sort = sort_of[sort];
    q->ascending = order == 1;
    if (web_param(params, "port")) {
        if (web_param_uint(params, "port", 0, 65535, 0, &port, err, errsize) < 0)
            return BAD;
        q->port = (int)port;
    }
    const char *host = web_param(params, "host");
    if (host) {
        if (parse_ip(host, &q->host_version, q->host_addr) < 0) {
            snprintf(params->bad, sizeof params->bad, "host");
            snprintf(err, errsize, "parameter 'host': '%.64s' is not an IPv4 or IPv6 address",
                     host);
            return BAD;
        }
        q->has_host = true;
    }
    const char *l7 = web_param(params, "l7"), *source = web_param(params, "source");
    if ((l7 && strlen(l7) >= sizeof q->l7) || (source && strlen(source) >= sizeof q->source)) {
        snprintf(params->bad, sizeof params->bad, "%s", l7 && strlen(l7) >= sizeof q->l7 ? "l7" : "source");
        snprintf(err, errsize, "parameter '%s': too long", params->bad);
        return BAD;
    }
    snprintf(q->l7, sizeof q->l7, "%s", l7 ? l7 : "");
    snprintf(q->source, sizeof q->source, "%s", source ? source : "");
    (void)ctx;
    return 0;
}

/* One range of Unix seconds: from (default to - default_span) .. to (default now). */
static int time_range(struct web_params *params, uint64_t now_s, uint64_t default_span,
                      uint64_t *from, uint64_t *to, char *err, size_t errsize)
{
    if (web_param_uint(params, "to", 1, 1ull << 40, now_s, to, err, errsize) < 0 ||
        web_param_uint(params, "from", 0, 1ull << 40, *to > default_span ? *to - default_span : 0,
                       from, err, errsize) < 0)
        return BAD; /* web_param_uint named the parameter */
    if (*from > *to) {
        snprintf(params->bad, sizeof params->bad, "to");
        snprintf(err, errsize, "parameter 'to': %llu is before 'from' (%llu)",
                 (unsigned long long)*to, (unsigned long long)*from);
        return BAD;
    }
    return 0;
}

int web_view_series_query(const struct web_view_ctx *ctx, struct web_params *params,
                          uint64_t now_s, struct store_series_query *q, char *err,
                          size_t errsize)
{
    static const char *const known[] = {"metric", "source", "l7", "port", "tap", "host", "from",
                                        "to", NULL};
    static const char *const metrics[] = {"bytes", "packets", "flows", "drops", NULL};
    /* The series' selectors, one at a time (none: the box's total). */
    static const struct {
        const char *param;
        enum store_series_kind kind;
    } selectors[] = {{"source", STORE_SERIES_SOURCE}, {"l7", STORE_SERIES_L7},
                     {"port", STORE_SERIES_PORT}, {"tap", STORE_SERIES_TAP},
                     {"host", STORE_SERIES_HOST}};
    memset(q, 0, sizeof *q);
    int metric;
    uint64_t from, to;
    if (web_params_only(params, known, err, errsize) < 0 ||
        web_param_choice(params, "metric", metrics, 0, &metric, err, errsize) < 0 ||
        time_range(params, now_s, 3600, &from, &to, err, errsize) != 0)
        return BAD;
    const char *key = "", *chosen = NULL;
    q->kind = STORE_SERIES_TOTAL;
    for (size_t i = 0; i < sizeof selectors / sizeof selectors[0]; i++) {
        const char *v = web_param(params, selectors[i].param);
        if (!v)
            continue;
        if (chosen) {
            snprintf(params->bad, sizeof params->bad, "%s", selectors[i].param);
            snprintf(err, errsize, "parameter '%s': one series at a time (%s= is given too)",
                     selectors[i].param, chosen);
            return BAD;
        }
        chosen = selectors[i].param;
        key = v;
        q->kind = selectors[i].kind;
    }
    if (strlen(key) >= sizeof q->key) {
        snprintf(params->bad, sizeof params->bad, "%s", chosen);
        snprintf(err, errsize, "parameter '%s': too long", chosen);
        return BAD;
    }
    char canonical[64];
    uint8_t version, addr[16];
    if (q->kind == STORE_SERIES_HOST) { /* the address as the sampler writes it */
        if (parse_ip(key, &version, addr) < 0) {
            snprintf(params->bad, sizeof params->bad, "host");
            snprintf(err, errsize, "parameter 'host': '%.64s' is not an IPv4 or IPv6 address",
                     key);
            return BAD;
        }
        query_address_text(version, addr, canonical, sizeof canonical);
        key = canonical;
    }
    q->metric = (enum store_metric)metric;
    snprintf(q->key, sizeof q->key, "%s", key);
    q->from_s = from;
    q->to_s = to;
    (void)ctx;
    return 0;
}

int web_view_top_query(struct web_params *params, uint64_t now_s, struct store_top_query *q,
                       char *err, size_t errsize)
{
    static const char *const known[] = {"kind", "from", "to", "limit", NULL};
    static const char *const kinds[] = {"hosts", "l7", "ports", NULL};
    memset(q, 0, sizeof *q);
    int kind;
    uint64_t limit;
    if (web_params_only(params, known, err, errsize) < 0 ||
        web_param_choice(params, "kind", kinds, 0, &kind, err, errsize) < 0 ||
        time_range(params, now_s, 3600, &q->from_s, &q->to_s, err, errsize) != 0 ||
        web_param_uint(params, "limit", 1, 100, 10, &limit, err, errsize) < 0)
        return BAD;
    q->kind = (enum store_top_kind)kind;
    q->limit = (size_t)limit;
    return 0;
}
