/* The box's endpoints that act or are not JSON views: the bypass mode, inline policies (admins),
 * /metrics, Lua pages and the live pcap download. */
#include <stdio.h>
#include <string.h>

#include "box/bypass.h"
#include "core/log.h"
#include "web/endpoint.h"
#include "web/lua.h"
#include "web/metrics.h"
#include "web/pcap_stream.h"
#include "web/web_internal.h"

/* ---- metrics, Lua pages, pcap ---- */

static int get_metrics(struct web_call *c, const char *arg)
{
    (void)arg;
    if (endpoint_no_params(c) < 0)
        return 0;
    size_t len;
    char *text = web_metrics_text(c->web, &len);
    if (!text)
        web_respond_error(&c->res, 500, "out of memory");
    else
        web_respond_text(&c->res, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    return 0;
}

static int get_lua(struct web_call *c, const char *name)
{
    if (!c->web->lua) {
        web_respond_error(&c->res, 503, "Lua pages are not available (see the log)");
        return 0;
    }
    web_lua_run_page(c->web->lua, &c->web->view, name, &c->params, &c->who, &c->res);
    return 0;
}

static int get_pcap(struct web_call *c, const char *arg)
{
    (void)arg;
    return web_pcap_start(c);
}

/* {"mode": "auto"|"on"|"off"}: the operator's hand on the relay. Answers the new state. */
static int post_bypass(struct web_call *c, const char *arg)
{
    (void)arg;
    if (endpoint_no_params(c) < 0)
        return 0;
    if (!c->web->view.bypass) {
        web_respond_error(&c->res, 409, "this box has no bypass relay (no board file)");
        return 0;
    }
    cJSON *body = endpoint_body_object(c);
    if (!body)
        return 0;
    bool failed = false;
    const char *mode = endpoint_body_string(c, body, "mode", true, &failed);
    enum bypass_mode m;
    char err[200] = "";
    if (!failed && bypass_mode_parse(mode, &m) < 0) {
        web_respond_bad_param(&c->res, "mode", "'mode' must be \"auto\", \"on\" or \"off\"");
        failed = true;
    }
    if (!failed && bypass_set_mode(c->web->view.bypass, m, err, sizeof err) < 0) {
        web_respond_error(&c->res, 409, "%s", err); /* refused in this state (stopping, no relay) */
        failed = true;
    }
    if (!failed)
        log_info("web", "bypass mode set to %s by %s", mode, c->who.user);
    cJSON_Delete(body);
    if (failed)
        return 0;
    cJSON *json;
    int rc = web_view_bypass(&c->web->view, &c->params, &json, err, sizeof err);
    return endpoint_view_result(c, rc, json, err);
}

/* ---- inline policies (admins): the daemon changes its rule set and writes policies.conf ---- */

/* The change is installed (status 0) or was not written and is reverted (500). Answers the
 * list as GET gives it: 201 for a rule added, 200 for one removed. */
static void policy_changed(void *call, int status, const char *why)
{
    struct web_call *c = call;
    if (status) {
        web_respond_error(&c->res, status, "%s", why);
    } else {
        cJSON *json;
        char err[300] = "";
        int rc = web_view_policies(&c->web->view, &c->params, &json, err, sizeof err);
        if (rc == 0)
            web_respond_json(&c->res, strcmp(c->req.method, "POST") == 0 ? 201 : 200, json);
        else
            web_respond_error(&c->res, rc, "%s", err);
    }
    endpoint_finish(c);
}

static int policy_refused(struct web_call *c, int rc, const char *err)
{
    if (rc == 400)
        web_respond_bad_param(&c->res, "rule", err);
    else
        web_respond_error(&c->res, rc, "%s", err);
    return 0;
}

/* {"rule": "NAME drop|pass MATCH..."}: a rule added after every other. */
static int post_policies(struct web_call *c, const char *arg)
{
    (void)arg;
    if (endpoint_no_params(c) < 0)
        return 0;
    const struct policy_admin *pa = c->web->view.policy_admin;
    if (!pa)
        return policy_refused(c, 409, "the policies cannot be edited in a --once run");
    cJSON *body = endpoint_body_object(c);
    if (!body)
        return 0;
    bool failed = false;
    const char *rule = endpoint_body_string(c, body, "rule", true, &failed);
    if (failed) {
        cJSON_Delete(body);
        return 0;
    }
    char err[400] = "";
    int rc = pa->add(pa->ctx, rule, c->who.user, policy_changed, c, err, sizeof err);
    cJSON_Delete(body);
    return rc == 0 ? 1 : policy_refused(c, rc, err); /* 1: policy_changed answers */
}

static int delete_policy(struct web_call *c, const char *name)
{
    if (endpoint_no_params(c) < 0)
        return 0;
    const struct policy_admin *pa = c->web->view.policy_admin;
    if (!pa)
        return policy_refused(c, 409, "the policies cannot be edited in a --once run");
    char err[400] = "";
    int rc = pa->remove(pa->ctx, name, c->who.user, policy_changed, c, err, sizeof err);
    return rc == 0 ? 1 : policy_refused(c, rc, err);
}

const struct endpoint box_endpoints[] = {
    {"POST", API "/bypass", false, ADMIN, post_bypass},
    {"POST", API "/policies", false, ADMIN, post_policies},
    {"DELETE", API "/policies", true, ADMIN, delete_policy},
    {"GET", API "/pcap", false, ADMIN, get_pcap},
    {"GET", "/metrics", false, VIEWER, get_metrics},
    {"GET", "/lua", true, VIEWER, get_lua},
};
const size_t box_endpoints_count = sizeof box_endpoints / sizeof box_endpoints[0];
