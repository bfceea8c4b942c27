/*
 * The read views of the web layer: JSON (cJSON) built from the query module and the live
 * series, with their parameters validated. REST handlers and Lua pages both call these, so a
 * parameter means the same and fails the same way in both.
 *
 * Each view returns 0 with *out set, or an HTTP status (400: err says why and params->bad
 * names the parameter; 404: not found; 500: out of memory) with *out NULL.
 */
#ifndef TAPBOX_WEB_VIEWS_H
#define TAPBOX_WEB_VIEWS_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "flow/engine.h"
#include "web/http.h"
#include "web/series.h"

struct web_stats {
    uint64_t requests;
    uint64_t errors_4xx;
    uint64_t errors_5xx;
    uint64_t connections_refused;
    unsigned connections;
    unsigned sessions;
};

struct ntap_collector;
struct policy_admin;
struct store;

struct web_view_ctx {
    struct engine *engine;
    const struct ntap_collector *ntap; /* remote taps (-i ntap:PORT), or NULL */
    const struct port_pair *ports;     /* the wire ports (-i inline:A,B...), or NULL */
    struct bypass *bypass;             /* relay and watchdog, or NULL (POST changes its mode) */
    const struct policy_set *policy;   /* inline rules, or NULL */
    const struct policy_admin *policy_admin; /* edits them (web.h), or NULL: read-only */
    struct store *history;             /* -F: the history store, or NULL (queries go to it) */
    const struct series *series;
    const struct web_stats *stats;
    const uint64_t *loop_stalls;   /* the daemon's counter, or NULL */
    const char *config_status_file; /* see web_options, or NULL */
    uint64_t started_unix_s;
};

#define WEB_VIEW_ARGS                                                                             \
    const struct web_view_ctx *ctx, struct web_params *params, cJSON **out, char *err,            \
        size_t errsize

int web_view_status(WEB_VIEW_ARGS);
int web_view_sources(WEB_VIEW_ARGS);
int web_view_series(WEB_VIEW_ARGS);  /* since, source */
int web_view_hosts(WEB_VIEW_ARGS);   /* sort, order, limit, offset, local, q */
int web_view_flows(WEB_VIEW_ARGS);   /* host, l7, port, proto, source, sort, order, limit, offset */
int web_view_l7(WEB_VIEW_ARGS);
/* The nTap collector: enabled, mode, port, public key, per-tap counters, refused datagrams. */
int web_view_ntap(WEB_VIEW_ARGS);
/* The wire ports, the bypass relay and watchdog, the inline policies (views_box.c). */
int web_view_ports(WEB_VIEW_ARGS);
int web_view_bypass(WEB_VIEW_ARGS);
int web_view_policies(WEB_VIEW_ARGS);
/* One host by address text: the host, its L7 breakdown, its flows and peers
 * (vlan, flows = how many flows, peers = how many peers). */
int web_view_host(const struct web_view_ctx *ctx, const char *ip, struct web_params *params,
                  cJSON **out, char *err, size_t errsize);

/* The parameters of GET /api/v1/history/flows (from, to, host, l7, port, proto, source, sort,
 * order, limit, offset) as a store query: 0, or 400 with err and params->bad. */
struct store_flow_query;
int web_view_history_query(const struct web_view_ctx *ctx, struct web_params *params,
                           struct store_flow_query *q, char *err, size_t errsize);

/* The parameters of GET /api/v1/timeseries (metric, source or l7, from, to: the last hour by
 * default) as a store query: 0, or 400 with err and params->bad. */
struct store_series_query;
int web_view_series_query(const struct web_view_ctx *ctx, struct web_params *params,
                          uint64_t now_s, struct store_series_query *q, char *err,
                          size_t errsize);
/* GET /api/v1/history/top: kind=hosts|l7|ports, from/to (the last hour by default), limit
 * (1..100, 10). */
struct store_top_query;
int web_view_top_query(struct web_params *params, uint64_t now_s, struct store_top_query *q,
                       char *err, size_t errsize);

/* Resident memory of the process in bytes (0 if unknown). */
uint64_t web_process_rss(void);

#endif
