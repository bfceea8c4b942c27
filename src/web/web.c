/* The web layer's lifetime: its options, the core state and the server handle the daemon holds. */
#include "web/web.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "web/lua.h"
#include "web/web_internal.h"


/* ---- options ---- */

void web_options_init(struct web_options *o)
{
    memset(o, 0, sizeof *o);
    o->http_port = WEB_DEFAULT_HTTP_PORT;
    o->https_port = WEB_DEFAULT_HTTPS_PORT;
    o->session_timeout_s = WEB_DEFAULT_SESSION_TIMEOUT;
    o->lua_budget = WEB_DEFAULT_LUA_BUDGET;
}

void web_options_free(struct web_options *o)
{
    free(o->http_root);
    free(o->lua_dir);
    free(o->data_dir);
    free(o->https_cert);
    free(o->https_key);
    free(o->config_status_file);
    o->http_root = o->lua_dir = o->data_dir = o->https_cert = o->https_key = NULL;
    o->config_status_file = NULL;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void copy_options(struct web_options *dst, const struct web_options *src)
{
    *dst = *src;
    dst->http_root = dup_or_null(src->http_root);
    dst->lua_dir = dup_or_null(src->lua_dir);
    dst->data_dir = dup_or_null(src->data_dir);
    dst->https_cert = dup_or_null(src->https_cert);
    dst->https_key = dup_or_null(src->https_key);
    dst->config_status_file = dup_or_null(src->config_status_file);
}

/* ---- core ---- */

void web_server_tick(struct web *w)
{
    if (!w || w->stopping)
        return;
    uint64_t now = uv_now(w->loop);
    series_sample(&w->series, w->engine, now, (uint64_t)time(NULL));
    w->stats.sessions = auth_session_count(&w->auth, now);
}

int web_core_init(struct web *w, uv_loop_t *loop, struct engine *engine,
                  const struct web_options *opts, char *err, size_t errsize)
{
    memset(w, 0, sizeof *w);
    if (!opts->http_root || !opts->lua_dir || !opts->data_dir) {
        snprintf(err, errsize, "the web paths are not resolved (config_resolve_paths)");
        return -1;
    }
    w->loop = loop;
    w->engine = engine;
    copy_options(&w->opts, opts);
    if (!w->opts.http_root || !w->opts.lua_dir || !w->opts.data_dir) {
        snprintf(err, errsize, "out of memory");
        web_options_free(&w->opts);
        return -1;
    }
    if (auth_init(&w->auth, loop, w->opts.data_dir, w->opts.session_timeout_s,
                  w->opts.disable_login, err, errsize) < 0) {
        auth_fini(&w->auth);
        web_options_free(&w->opts);
        return -1;
    }
    series_init(&w->series);
    w->view.engine = engine;
    w->view.series = &w->series;
    w->view.stats = &w->stats;
    w->view.loop_stalls = opts->loop_stalls;
    w->view.config_status_file = w->opts.config_status_file;
    w->view.started_unix_s = (uint64_t)time(NULL);
    series_sample(&w->series, engine, uv_now(loop), (uint64_t)time(NULL));

    char pages[PATH_MAX];
    snprintf(pages, sizeof pages, "%s/pages", w->opts.lua_dir);
    struct web_lua_options so = {
        .pages_dir = pages,
        .budget = w->opts.lua_budget,
        .memory_limit = WEB_LUA_MEMORY_LIMIT,
    };
    char why[256];
    w->lua = web_lua_create(&so, why, sizeof why);
    if (!w->lua)
        log_warn("web", "Lua pages off: %s", why);
    if (w->opts.disable_login)
        log_warn("web", "login disabled (--disable-login): anyone reaching the port is admin");
    return 0;
}

void web_core_start(struct web *w) { auth_start(&w->auth); }

void web_core_stop(struct web *w) { w->stopping = true; }

void web_core_fini(struct web *w)
{
    if (w->lua)
        web_lua_destroy(w->lua);
    auth_fini(&w->auth);
    series_fini(&w->series);
    web_options_free(&w->opts);
}

/* ---- the server: one handle, owned by the daemon ---- */

void web_server_set_ntap(struct web *w, struct ntap_collector *c)
{
    if (w)
        w->view.ntap = c;
}

void web_server_set_history(struct web *w, struct store *history)
{
    if (w)
        w->view.history = history;
}

void web_server_set_box(struct web *w, const struct port_pair *ports, struct bypass *bypass,
                        const struct policy_set *policy)
{
    if (!w)
        return;
    w->view.ports = ports;
    w->view.bypass = bypass;
    w->view.policy = policy;
}

void web_server_set_policy_admin(struct web *w, const struct policy_admin *ops)
{
    if (w)
        w->view.policy_admin = ops;
}

struct web *web_server_start(uv_loop_t *loop, struct engine *engine,
                             const struct web_options *opts, char *err, size_t errsize)
{
    if (errsize)
        err[0] = '\0';
    if (opts->http_port == 0 && opts->https_port == 0)
        return NULL;
    struct web *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    if (web_core_init(w, loop, engine, opts, err, errsize) < 0) {
        free(w);
        return NULL;
    }
    if (web_http_start(w, err, errsize) < 0) {
        /* Nothing was accepted or queued yet: close what opened and free it at once (h2o's
         * dispose runs the loop once for the closes). */
        web_http_stop(w);
        web_core_stop(w);
        web_server_free(w);
        return NULL;
    }
    web_core_start(w);
    return w;
}

#define STOP_LINGER_MS 300 /* for the last piece of a download ended by the stop */

static void on_linger(uv_timer_t *t)
{
    struct web *w = t->data;
    web_http_drop_conns(w);
    uv_close((uv_handle_t *)t, NULL);
}

/* Listeners close at once; the downloads end (their last data queued); the connections still
 * open are shut down a moment later, once that data had its chance to leave. */
void web_server_stop(struct web *w)
{
    if (!w || w->stopping)
        return;
    web_http_stop(w);
    web_core_stop(w);
    if (uv_timer_init(w->loop, &w->linger) == 0) {
        w->linger.data = w;
        w->linger_open = true;
        uv_timer_start(&w->linger, on_linger, STOP_LINGER_MS, 0);
    } else {
        web_http_drop_conns(w);
    }
}

void web_server_free(struct web *w)
{
    if (!w)
        return;
    web_http_free(w);
    web_core_fini(w);
    free(w);
}
