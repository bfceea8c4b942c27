/* Shared by the web unit tests: an engine with traffic, and a web core on a private loop. */
#ifndef TAPBOX_TEST_WEB_H
#define TAPBOX_TEST_WEB_H

#include <stdbool.h>
#include <uv.h>

#include "flow/engine.h"
#include "web/api.h"
#include "web/web_internal.h"

/* Hosts 10.0.0.1..n; host i sends i UDP packets from port 1000+i to 203.0.113.1:9999. */
struct engine *web_test_engine(int n);
void web_test_udp(struct engine *e, const char *src, const char *dst, uint16_t sport,
                  uint16_t dport, size_t payload);

/* A web core on its own loop, users in a fresh temporary data directory. */
struct web_test {
    uv_loop_t loop;
    struct web web;
    struct engine *engine;
    char dir[64];
    char cookie[128];            /* "tapbox_session=..." after web_test_login */
    char csrf[80];
};

int web_test_start(struct web_test *t, int hosts, bool disable_login, const char *lua_dir);
void web_test_finish(struct web_test *t);

/* One call through the API; waits for its answer. Returns the status; the response body is
 * kept in t's last answer (web_test_body). extra: "csrf" adds the session's CSRF token. */
struct web_test_req {
    const char *method, *path, *query, *body, *content_type;
    const char *cookie;          /* NULL: t->cookie if set, "" none */
    const char *csrf;            /* NULL: t->csrf if set, "" none */
    const char *authorization;
    const char *client;
};
int web_test_call(struct web_test *t, const struct web_test_req *r);
const char *web_test_body(void);
cJSON *web_test_json(void); /* the last body parsed (owned by the helper) */
const char *web_test_header(const char *name);
/* POST /api/v1/login; sets t->cookie and t->csrf on success. */
int web_test_login(struct web_test *t, const char *user, const char *password);

#endif
