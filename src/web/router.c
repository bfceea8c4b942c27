/* The router of the API: which endpoint a request goes to, who may call it (login, CSRF, the
 * forced password change, admins), the body limit. The endpoints live in api_views.c,
 * api_history.c, api_box.c and api_account.c. */
#include "web/api.h"

#include <stdio.h>
#include <string.h>

#include "web/endpoint.h"
#include "web/web_internal.h"

/* Searched in this order; the first path and method that match win. */
static const struct {
    const struct endpoint *endpoints;
    const size_t *count;
} tables[] = {
    {view_endpoints, &view_endpoints_count},
    {history_endpoints, &history_endpoints_count},
    {box_endpoints, &box_endpoints_count},
    {account_endpoints, &account_endpoints_count},
};
#define TABLE_COUNT (sizeof tables / sizeof tables[0])

bool web_api_owns(const char *path)
{
    return strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0 ||
           strcmp(path, "/metrics") == 0 || strncmp(path, "/lua/", 5) == 0 ||
           strcmp(path, "/lua") == 0;
}

/* Does path match the route's shape? *arg gets the argument (in buf) for has_arg routes. */
static bool path_matches(const struct endpoint *r, const char *path, const char **arg)
{
    size_t n = strlen(r->path);
    if (strncmp(path, r->path, n) != 0)
        return false;
    const char *rest = path + n;
    if (!r->has_arg)
        return rest[0] == '\0' || (rest[0] == '/' && rest[1] == '\0');
    if (rest[0] != '/' || rest[1] == '\0' || strchr(rest + 1, '/'))
        return false;
    *arg = rest + 1;
    return true;
}

static bool method_is(const char *method, const char *want)
{
    return strcmp(method, want) == 0 || (strcmp(want, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

static bool changes_state(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

void web_api_handle(struct web *w, struct web_call *c)
{
    char err[300];
    c->web = w;
    c->now_ms = uv_now(w->loop);
    c->role = c->must_change = -1;
    w->stats.requests++;
    if (web_params_parse(&c->params, c->req.query ? c->req.query : "", c->req.query_len, err,
                         sizeof err) < 0) {
        web_respond_bad_param(&c->res, c->params.bad, err);
        endpoint_finish(c);
        return;
    }
    const struct endpoint *route = NULL;
    const char *arg = NULL;
    char allow[64] = "";
    for (size_t t = 0; t < TABLE_COUNT && !route; t++) {
        for (size_t i = 0; i < *tables[t].count; i++) {
            const struct endpoint *r = &tables[t].endpoints[i];
            const char *a = NULL;
            if (!path_matches(r, c->req.path, &a))
                continue;
            if (method_is(c->req.method, r->method)) {
                route = r;
                arg = a;
                break;
            }
            size_t len = strlen(allow);
            snprintf(allow + len, sizeof allow - len, "%s%s", len ? ", " : "", r->method);
        }
    }
    if (!route) {
        if (allow[0]) {
            web_response_header(&c->res, "allow", "%s", allow);
            web_respond_error(&c->res, 405, "method %.16s not allowed here (allowed: %s)",
                              c->req.method, allow);
        } else {
            web_respond_error(&c->res, 404, "no such endpoint: %.200s", c->req.path);
        }
        endpoint_finish(c);
        return;
    }
    if (c->req.body_len > WEB_MAX_BODY) {
        web_respond_error(&c->res, 413, "request body too large (at most %u bytes)", WEB_MAX_BODY);
        endpoint_finish(c);
        return;
    }
    if (route->access != PUBLIC) {
        const char *why = "login required";
        if (auth_identify(&w->auth, &c->req, c->background, c->now_ms, &c->who, &why) < 0) {
            web_respond_error(&c->res, 401, "%s", why);
            endpoint_finish(c);
            return;
        }
        if (changes_state(c->req.method) && !auth_csrf_ok(&w->auth, &c->who, c->req.csrf_token)) {
            web_respond_error(&c->res, 403,
                              "missing or wrong X-CSRF-Token header (GET /api/v1/session gives it)");
            endpoint_finish(c);
            return;
        }
        if (c->who.must_change && route->access != LOGGED_IN) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "error",
                                    "password change required: POST /api/v1/password first");
            cJSON_AddBoolToObject(o, "password_change_required", true);
            web_respond_json(&c->res, 403, o);
            endpoint_finish(c);
            return;
        }
        if (route->access == ADMIN && c->who.role != AUTH_ADMIN) {
            web_respond_error(&c->res, 403, "admins only");
            endpoint_finish(c);
            return;
        }
    }
    if (route->fn(c, arg) == 0)
        endpoint_finish(c);
}

