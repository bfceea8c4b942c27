/* The history endpoints (-F): stored flows, queried in the thread pool and answered when the
 * store hands the page back, so that no query holds the loop. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store/store.h"
#include "web/endpoint.h"
#include "web/web_internal.h"

/* A page of the store (flows or a series), or why not. */
static void answered(void *ctx, cJSON *page, const char *err)
{
    struct web_call *c = ctx;
    if (page)
        web_respond_json(&c->res, 200, page);
    else
        web_respond_error(&c->res, 503, "history query failed: %s", err);
    endpoint_finish(c);
}

/* The store, or NULL after answering 409 (tapboxd runs without -F). */
static struct store *history_or_409(struct web_call *c)
{
    if (!c->web->view.history)
        web_respond_error(&c->res, 409, "history is off (start tapboxd with -F / --history)");
    return c->web->view.history;
}

/* A query handed to the store (answered later), or 503 when it cannot take one now. */
static int queued(struct web_call *c, int rc)
{
    if (rc == 0)
        return 1; /* answered finishes the call */
    web_respond_error(&c->res, 503, "too many history queries waiting; try again");
    return 0;
}

static int get_history_flows(struct web_call *c, const char *arg)
{
    (void)arg;
    struct store *history = history_or_409(c);
    if (!history)
        return 0;
    struct store_flow_query q;
    char err[300] = "";
    if (web_view_history_query(&c->web->view, &c->params, &q, err, sizeof err) != 0)
        return endpoint_view_result(c, 400, NULL, err);
    return queued(c, store_query_flows(history, &q, answered, c));
}

static int get_timeseries(struct web_call *c, const char *arg)
{
    (void)arg;
    struct store *history = history_or_409(c);
    if (!history)
        return 0;
    struct store_series_query q;
    char err[300] = "";
    if (web_view_series_query(&c->web->view, &c->params, (uint64_t)time(NULL), &q, err,
                              sizeof err) != 0)
        return endpoint_view_result(c, 400, NULL, err);
    return queued(c, store_query_series(history, &q, answered, c));
}

static int get_history_top(struct web_call *c, const char *arg)
{
    (void)arg;
    struct store *history = history_or_409(c);
    if (!history)
        return 0;
    struct store_top_query q;
    char err[300] = "";
    if (web_view_top_query(&c->params, (uint64_t)time(NULL), &q, err, sizeof err) != 0)
        return endpoint_view_result(c, 400, NULL, err);
    return queued(c, store_query_top(history, &q, answered, c));
}

const struct endpoint history_endpoints[] = {
    {"GET", API "/history/flows", false, VIEWER, get_history_flows},
    {"GET", API "/history/top", false, VIEWER, get_history_top},
    {"GET", API "/timeseries", false, VIEWER, get_timeseries},
};
const size_t history_endpoints_count = sizeof history_endpoints / sizeof history_endpoints[0];
