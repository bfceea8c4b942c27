/* The web layer's lifetime: options, default paths, the core state and its 1 s timer. */
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
#include "web/pcap_stream.h"
#include "web/web_internal.h"

#define BOX_SHARE "/usr/share/tapbox"
#define BOX_DATA "/data"

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

static int set_path(char **slot, const char *value, char *err, size_t errsize)
{
    if (!value[0]) {
        snprintf(err, errsize, "empty path");
        return -1;
    }
    free(*slot);
    *slot = strdup(value);
    return 0;
}

static int parse_count(const char *value, unsigned long long min, unsigned long long max,
                       unsigned long long *out)
{
    if (!isdigit((unsigned char)value[0]))
        return -1;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(value, &end, 10);
    if (errno || *end || n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

int web_options_apply(struct web_options *o, const char *name, const char *value, char *err,
                      size_t errsize)
{
    unsigned long long n;
    if (strcmp(name, "http-port") == 0 || strcmp(name, "https-port") == 0) {
        bool https = name[4] == 's';
        char addr[64];
        int port;
        if (web_parse_listen(value, addr, sizeof addr, &port, err, errsize) < 0)
            return -1;
        snprintf(https ? o->https_addr : o->http_addr, sizeof addr, "%s", addr);
        *(https ? &o->https_port : &o->http_port) = port;
        *(https ? &o->https_set : &o->http_set) = true;
        return 0;
    }
    if (strcmp(name, "http-root") == 0)
        return set_path(&o->http_root, value, err, errsize);
    if (strcmp(name, "lua-dir") == 0)
        return set_path(&o->lua_dir, value, err, errsize);
    if (strcmp(name, "data-dir") == 0)
        return set_path(&o->data_dir, value, err, errsize);
    if (strcmp(name, "https-cert") == 0)
        return set_path(&o->https_cert, value, err, errsize);
    if (strcmp(name, "https-key") == 0)
        return set_path(&o->https_key, value, err, errsize);
    if (strcmp(name, "config-status-file") == 0)
        return set_path(&o->config_status_file, value, err, errsize);
    if (strcmp(name, "disable-login") == 0) {
        o->disable_login = true;
        return 0;
    }
    if (strcmp(name, "http-session-timeout") == 0) {
        if (parse_count(value, 10, 7 * 86400, &n) < 0) {
            snprintf(err, errsize, "'%s' is not a number of seconds from 10 to 604800", value);
            return -1;
        }
        o->session_timeout_s = (unsigned)n;
        return 0;
    }
    if (strcmp(name, "lua-budget") == 0) {
        if (parse_count(value, 1000, 1000000000ull, &n) < 0) {
            snprintf(err, errsize, "'%s' is not a number of instructions from 1000 to 1000000000",
                     value);
            return -1;
        }
        o->lua_budget = n;
        return 0;
    }
    return 1;
}

int web_options_validate(const struct web_options *o, char *err, size_t errsize)
{
    if (!o->https_cert != !o->https_key) {
        snprintf(err, errsize, "--https-cert and --https-key must be given together");
        return -1;
    }
    if (o->http_port && o->http_port == o->https_port &&
        strcmp(o->http_addr, o->https_addr) == 0) {
        snprintf(err, errsize, "--http-port and --https-port are the same port (%d)",
                 o->http_port);
        return -1;
    }
    return 0;
}

/* The source tree this binary was built in (build/tapboxd, build/asan/tapboxd), or NULL. */
static char *repo_dir(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *dir = dirname(exe);
    for (int up = 0; up < 3; up++) {
        char probe[PATH_MAX + 32];
        struct stat st;
        snprintf(probe, sizeof probe, "%s/src/web/web.c", dir);
        if (stat(probe, &st) == 0)
            return strdup(dir);
        dir = dirname(dir);
        if (strcmp(dir, "/") == 0)
            break;
    }
    return NULL;
}

static char *default_path(const char *repo, const char *in_repo, const char *on_box)
{
    char *p = NULL;
    if (repo) {
        if (asprintf(&p, "%s/%s", repo, in_repo) < 0)
            p = NULL;
    } else {
        p = strdup(on_box);
    }
    return p;
}

char *web_default_data_dir(void)
{
    char *repo = repo_dir();
    char *dir = default_path(repo, "build/data", BOX_DATA);
    free(repo);
    return dir;
}

static void copy_options(struct web_options *dst, const struct web_options *src)
{
    *dst = *src;
    dst->http_root = src->http_root ? strdup(src->http_root) : NULL;
    dst->lua_dir = src->lua_dir ? strdup(src->lua_dir) : NULL;
    dst->data_dir = src->data_dir ? strdup(src->data_dir) : NULL;
    dst->https_cert = src->https_cert ? strdup(src->https_cert) : NULL;
    dst->https_key = src->https_key ? strdup(src->https_key) : NULL;
    dst->config_status_file = src->config_status_file ? strdup(src->config_status_file) : NULL;
    if (!dst->http_root || !dst->lua_dir || !dst->data_dir) {
        char *repo = repo_dir();
        if (!dst->http_root)
            dst->http_root = default_path(repo, "www", BOX_SHARE "/www");
        if (!dst->lua_dir)
            dst->lua_dir = default_path(repo, "lua", BOX_SHARE "/lua");
        if (!dst->data_dir)
            dst->data_dir = default_path(repo, "build/data", BOX_DATA);
        free(repo);
    }
}

/* ---- core ---- */

static void on_second(uv_timer_t *t)
{
    struct web *w = t->data;
    uint64_t now = uv_now(w->loop);
    series_sample(&w->series, w->engine, now, (uint64_t)time(NULL));
    w->stats.sessions = auth_session_count(&w->auth, now);
}

int web_core_init(struct web *w, uv_loop_t *loop, struct engine *engine,
                  const struct web_options *opts, char *err, size_t errsize)
{
    memset(w, 0, sizeof *w);
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
    uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    w->timer_open = true;
    series_sample(&w->series, engine, uv_now(loop), (uint64_t)time(NULL));
    uv_timer_start(&w->timer, on_second, 1000, 1000);

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

void web_core_stop(struct web *w)
{
    w->stopping = true;
    web_pcap_stop_all(w);
    if (w->timer_open) {
        uv_close((uv_handle_t *)&w->timer, NULL);
        w->timer_open = false;
    }
}

void web_core_fini(struct web *w)
{
    if (w->lua)
        web_lua_destroy(w->lua);
    auth_fini(&w->auth);
    series_fini(&w->series);
    web_options_free(&w->opts);
}

/* ---- the process-wide server ---- */

static struct web *g_web;
static struct ntap_collector *g_ntap; /* kept here: the collector opens before the server */

void web_server_set_ntap(struct ntap_collector *c)
{
    g_ntap = c;
    if (g_web)
        g_web->view.ntap = c;
}

static const struct port_pair *g_ports;
static struct bypass *g_bypass;
static const struct policy_set *g_policy;

void web_server_set_box(const struct port_pair *ports, struct bypass *bypass,
                        const struct policy_set *policy)
{
    g_ports = ports;
    g_bypass = bypass;
    g_policy = policy;
    if (g_web) {
        g_web->view.ports = ports;
        g_web->view.bypass = bypass;
        g_web->view.policy = policy;
    }
}

static const struct policy_admin *g_policy_admin;

void web_server_set_policy_admin(const struct policy_admin *ops)
{
    g_policy_admin = ops;
    if (g_web)
        g_web->view.policy_admin = ops;
}

int web_server_start(uv_loop_t *loop, struct engine *engine, const struct web_options *opts,
                     char *err, size_t errsize)
{
    if (opts->http_port == 0 && opts->https_port == 0)
        return 0;
    struct web *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    if (web_core_init(w, loop, engine, opts, err, errsize) < 0) {
        free(w);
        return -1;
    }
    w->view.ntap = g_ntap;
    w->view.ports = g_ports;
    w->view.bypass = g_bypass;
    w->view.policy = g_policy;
    w->view.policy_admin = g_policy_admin;
    if (web_http_start(w, err, errsize) < 0) {
        /* Nothing was accepted yet: close the timer and let the caller's loop run finish it. */
        web_http_stop(w);
        web_core_stop(w);
        g_web = w;
        return -1;
    }
    g_web = w;
    return 0;
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
void web_server_stop(void)
{
    if (!g_web || g_web->stopping)
        return;
    web_http_stop(g_web);
    web_core_stop(g_web);
    if (uv_timer_init(g_web->loop, &g_web->linger) == 0) {
        g_web->linger.data = g_web;
        g_web->linger_open = true;
        uv_timer_start(&g_web->linger, on_linger, STOP_LINGER_MS, 0);
    } else {
        web_http_drop_conns(g_web);
    }
}

void web_server_free(void)
{
    if (!g_web)
        return;
    web_http_free(g_web);
    web_core_fini(g_web);
    free(g_web);
    g_web = NULL;
}
