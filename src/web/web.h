/*
 * The web server of tapboxd: h2o (libuv build) on the daemon's own loop, HTTP and HTTPS, static
 * files, the REST API under /api/v1, /metrics, Lua pages under /lua/NAME, and login.
 *
 *   web_server_start()  once the engine exists (binds the ports, loads users): the handle
 *   web_server_tick()   every second, from the daemon's one schedule
 *   web_server_stop()   when the daemon stops, from a loop callback: closes the listeners and
 *                       every connection so that the loop can end
 *   web_server_free()   after uv_run has returned: frees everything
 */
#ifndef TAPBOX_WEB_H
#define TAPBOX_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct engine;
struct ntap_collector;

#define WEB_DEFAULT_HTTP_PORT 3000
#define WEB_DEFAULT_HTTPS_PORT 3001
#define WEB_DEFAULT_SESSION_TIMEOUT 1800
#define WEB_DEFAULT_LUA_BUDGET 10000000ull /* Lua instructions per page call */

struct web_options {
    char http_addr[64];          /* "" for every address */
    int http_port;               /* 0 disables */
    bool http_set;               /* given explicitly: failing to listen is fatal */
    char https_addr[64];
    int https_port;
    bool https_set;
    char *http_root;             /* NULL: the repository's www/ or /usr/share/tapbox/www */
    char *lua_dir;               /* NULL: the repository's lua/ or /usr/share/tapbox/lua */
    char *data_dir;              /* NULL: the repository's build/data or /data */
    char *https_cert;            /* NULL: a self-signed one made in the data directory */
    char *https_key;
    bool disable_login;
    unsigned session_timeout_s;
    uint64_t lua_budget;
    const uint64_t *loop_stalls; /* the daemon's counter, shown by the API */
    /* One line written by the box's supervisor (tapbox-run): "ok: FILE" or "factory: WHY" when
     * it fell back to the factory config. Shown in /api/v1/status and the UI. NULL: none. */
    char *config_status_file;
};

void web_options_init(struct web_options *o);
void web_options_free(struct web_options *o);

struct web;
/* Starts the server on the daemon's loop (binds the ports, loads users). NULL with err on
 * failure; both ports 0: NULL with err[0] == '\0' (no server, not an error). Call it outside
 * uv_run: a failed start releases what it opened, which runs the loop once. opts' paths must be
 * resolved (config_resolve_paths). */
struct web *web_server_start(uv_loop_t *loop, struct engine *engine,
                             const struct web_options *opts, char *err, size_t errsize);
/* The web layer's once-a-second work (the live series, the session count), from the daemon's
 * one schedule. */
void web_server_tick(struct web *w);
void web_server_stop(struct web *w);
void web_server_free(struct web *w);
/* The nTap collector that /api/v1/ntap and /metrics show (NULL: none); clear it before closing
 * the collector. Every setter below takes w NULL (no server) and does nothing then. */
void web_server_set_ntap(struct web *w, struct ntap_collector *c);
struct port_pair;
struct bypass;
struct policy_set;
struct store;
/* The history store (-F) that /api/v1/history/flows queries (NULL: none); clear it before the
 * store closes. */
void web_server_set_history(struct web *w, struct store *history);
/* The box around the engine (each may be NULL); set again after a reload or at stop. */
void web_server_set_box(struct web *w, const struct port_pair *ports, struct bypass *bypass,
                        const struct policy_set *policy);

/*
 * Admin editing of the inline policies (POST and DELETE /api/v1/policies). The daemon owns the
 * rule set; the web layer only calls these, on the loop thread. Each returns either an HTTP
 * status >= 400 with err (400: the rule does not parse; 404: no such rule; 409: a name that
 * exists, a config rule, the cap; 503: busy) and never calls done, or 0: the change is
 * installed and done(call, status, err) follows once DATA_DIR/policies.conf is written
 * (status 0), or not (500, the change reverted). who is the user, for the log.
 */
typedef void (*policy_admin_done)(void *call, int status, const char *err);
struct policy_admin {
    void *ctx;
    int (*add)(void *ctx, const char *rule, const char *who, policy_admin_done done, void *call,
               char *err, size_t errsize);
    int (*remove)(void *ctx, const char *name, const char *who, policy_admin_done done,
                  void *call, char *err, size_t errsize);
};
/* NULL: the policies are read-only (the API answers 409). */
void web_server_set_policy_admin(struct web *w, const struct policy_admin *ops);

#endif
