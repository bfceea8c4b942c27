/* The web layer's shared state (one per server handle), seen by its own modules only. */
#ifndef TAPBOX_WEB_INTERNAL_H
#define TAPBOX_WEB_INTERNAL_H

#include <uv.h>

#include "web/auth.h"
#include "web/http.h"
#include "web/series.h"
#include "web/views.h"
#include "web/web.h"

struct web_lua;
struct web_server;
struct pcap_dl;

struct web {
    uv_loop_t *loop;
    struct engine *engine;
    struct web_options opts;     /* a copy, with every path resolved */
    struct web_stats stats;
    struct series series;
    struct web_view_ctx view;
    struct auth auth;
    struct web_lua *lua;          /* NULL when Lua pages could not start */
    bool stopping;
    struct web_server *server;   /* h2o, listeners, TLS (NULL in unit tests) */
    struct pcap_dl *pcap_streams; /* live pcap downloads */
    unsigned pcap_stream_count;
    uv_timer_t linger;           /* at stop: time for the last responses to go out */
    bool linger_open;
};

/* Everything but HTTP: options copied, users loaded, the series, Lua; nothing is queued yet,
 * so web_core_fini may follow at once. start queues the first work (auth's). Unit tests use
 * these with a loop of their own. */
int web_core_init(struct web *w, uv_loop_t *loop, struct engine *engine,
                  const struct web_options *opts, char *err, size_t errsize);
void web_core_start(struct web *w);
void web_core_stop(struct web *w);   /* ends the downloads (from the loop) */
void web_core_fini(struct web *w);   /* after the loop has ended */

/* h2o: listeners, TLS, requests (server.c). Declared here, not in a server.h: server.c needs
 * web.h (the options), and web.c calls these. start binds the ports (a default port that is
 * busy only warns); stop closes listeners and connections; free runs after the loop has ended
 * (h2o's dispose runs the loop once). */
int web_http_start(struct web *w, char *err, size_t errsize);
void web_http_stop(struct web *w);       /* listeners closed, no keep-alive, downloads end */
void web_http_drop_conns(struct web *w); /* every open connection shut down */
void web_http_free(struct web *w);

#endif
