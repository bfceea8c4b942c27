/* The read endpoints: each a JSON view of views.c, with its parameters validated there. */
#include <stdio.h>
#include <string.h>

#include "web/endpoint.h"
#include "web/web_internal.h"

#define VIEW_ROUTE(fname, viewfn)                                                                    \
    static int fname(struct web_call *c, const char *arg)                                         \
    {                                                                                              \
        (void)arg;                                                                                 \
        cJSON *json;                                                                               \
        char err[300] = "";                                                                        \
        int rc = viewfn(&c->web->view, &c->params, &json, err, sizeof err);                       \
        return endpoint_view_result(c, rc, json, err);                                                      \
    }

/* The status view, with the login limits' figures (the web layer owns them). */
static int get_status(struct web_call *c, const char *arg)
{
    (void)arg;
    cJSON *json;
    char err[300] = "";
    int rc = web_view_status(&c->web->view, &c->params, &json, err, sizeof err);
    if (rc == 0 && json) {
        const struct auth_login_stats *ls = &c->web->auth.logins;
        cJSON *o = cJSON_AddObjectToObject(json, "logins");
        cJSON_AddNumberToObject(o, "failed", (double)ls->failed);
        cJSON_AddNumberToObject(o, "limited", (double)ls->limited);
        cJSON_AddNumberToObject(o, "user_limited", (double)ls->user_limited);
        cJSON_AddNumberToObject(o, "budget_refused", (double)ls->budget_refused);
        cJSON_AddNumberToObject(o, "address_busy", (double)ls->address_busy);
        cJSON_AddNumberToObject(o, "slots_full", (double)ls->slots_full);
        cJSON_AddNumberToObject(o, "busy", (double)ls->busy);
    }
    return endpoint_view_result(c, rc, json, err);
}
VIEW_ROUTE(get_sources, web_view_sources)
VIEW_ROUTE(get_series, web_view_series)
VIEW_ROUTE(get_hosts, web_view_hosts)
VIEW_ROUTE(get_flows, web_view_flows)
VIEW_ROUTE(get_l7, web_view_l7)
VIEW_ROUTE(get_ntap, web_view_ntap)
VIEW_ROUTE(get_ports, web_view_ports)
VIEW_ROUTE(get_bypass, web_view_bypass)
VIEW_ROUTE(get_policies, web_view_policies)

static int get_host(struct web_call *c, const char *arg)
{
    cJSON *json;
    char err[300] = "", ip[64];
    /* "fd00%3A1%3A%3A42" as well as "fd00:1::42" */
    snprintf(ip, sizeof ip, "%s", arg);
    if (web_url_decode(ip, strlen(ip), false) < 0)
        snprintf(ip, sizeof ip, "?");
    int rc = web_view_host(&c->web->view, ip, &c->params, &json, err, sizeof err);
    return endpoint_view_result(c, rc, json, err);
}


const struct endpoint view_endpoints[] = {
    {"GET", API "/status", false, VIEWER, get_status},
    {"GET", API "/sources", false, VIEWER, get_sources},
    {"GET", API "/series", false, VIEWER, get_series},
    {"GET", API "/hosts", false, VIEWER, get_hosts},
    {"GET", API "/hosts", true, VIEWER, get_host},
    {"GET", API "/flows", false, VIEWER, get_flows},
    {"GET", API "/l7", false, VIEWER, get_l7},
    {"GET", API "/ntap", false, VIEWER, get_ntap},
    {"GET", API "/ports", false, VIEWER, get_ports},
    {"GET", API "/bypass", false, VIEWER, get_bypass},
    {"GET", API "/policies", false, VIEWER, get_policies},
};
const size_t view_endpoints_count = sizeof view_endpoints / sizeof view_endpoints[0];
