/* Helpers of the web unit tests (see test_web.h). */
#include <pcap/dlt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "check.h"
#include "packet_builder.h"
#include "test_web.h"

static uint64_t test_ts = 1700000000000000ull;

void web_test_udp(struct engine *e, const char *src, const char *dst, uint16_t sport,
                  uint16_t dport, size_t payload)
{
    struct pb p;
    static const char zeros[1400];
    pb_init(&p);
    pb_ethernet(&p, 0x0800);
    pb_ipv4(&p, src, dst, 17);
    pb_udp(&p, sport, dport);
    pb_bytes(&p, zeros, payload < sizeof zeros ? payload : sizeof zeros);
    pb_finish(&p);
    test_ts += 1000;
    engine_process_packet(e, 0, DLT_EN10MB, test_ts, p.buf, (uint32_t)p.len, (uint32_t)p.len);
}

struct engine *web_test_engine(int n)
{
    struct engine_config c;
    char err[256];
    engine_config_defaults(&c);
    struct engine *e = engine_create(&c, err, sizeof err);
    if (!e)
        return NULL;
    engine_add_source(e, "q", "file");
    for (int i = 1; i <= n; i++) {
        char src[32];
        snprintf(src, sizeof src, "10.0.0.%d", i);
        for (int k = 0; k < i; k++)
            web_test_udp(e, src, "203.0.113.1", (uint16_t)(1000 + i), 9999, 1);
    }
    engine_sync(e);
    return e;
}

static enum log_level saved_level;

int web_test_start(struct web_test *t, int hosts, bool disable_login, const char *lua_dir)
{
    memset(t, 0, sizeof *t);
    saved_level = log_get_level();
    log_set_level(LOG_LEVEL_ERROR); /* logins and warnings are expected here */
    snprintf(t->dir, sizeof t->dir, "/tmp/tapbox-webtest.XXXXXX");
    if (!mkdtemp(t->dir))
        return -1;
    uv_loop_init(&t->loop);
    t->engine = web_test_engine(hosts);
    struct web_options o;
    web_options_init(&o);
    o.data_dir = strdup(t->dir);
    o.http_root = strdup(t->dir);
    o.lua_dir = strdup(lua_dir ? lua_dir : t->dir);
    o.disable_login = disable_login;
    o.session_timeout_s = 60;
    o.lua_budget = 100000;
    char err[256];
    int rc = t->engine ? web_core_init(&t->web, &t->loop, t->engine, &o, err, sizeof err) : -1;
    web_options_free(&o);
    if (rc < 0)
        fprintf(stderr, "  web_core_init: %s\n", err);
    else
        web_core_start(&t->web);
    return rc;
}

void web_test_finish(struct web_test *t)
{
    web_core_stop(&t->web);
    uv_run(&t->loop, UV_RUN_DEFAULT); /* pending hashes and saves */
    web_core_fini(&t->web);
    uv_loop_close(&t->loop);
    if (t->engine)
        engine_destroy(t->engine);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  cannot remove %s\n", t->dir);
    log_set_level(saved_level);
}

static struct {
    struct web_call call;
    bool done;
    char *body;
    char headers[WEB_MAX_HEADERS][2][200];
    int header_count;
    cJSON *json;
} last;

static void on_done(struct web_call *c)
{
    free(last.body);
    last.body = strndup(c->res.body ? c->res.body : "", c->res.body_len);
    last.header_count = c->res.header_count;
    for (int i = 0; i < c->res.header_count; i++) {
        snprintf(last.headers[i][0], sizeof last.headers[i][0], "%s", c->res.header[i].name);
        snprintf(last.headers[i][1], sizeof last.headers[i][1], "%s", c->res.header[i].value);
    }
    last.done = true;
}

int web_test_call(struct web_test *t, const struct web_test_req *r)
{
    memset(&last.call, 0, sizeof last.call);
    last.done = false;
    struct web_call *c = &last.call;
    c->req.method = r->method ? r->method : "GET";
    c->req.path = r->path;
    c->req.query = r->query ? r->query : "";
    c->req.query_len = strlen(c->req.query);
    c->req.body = r->body;
    c->req.body_len = r->body ? strlen(r->body) : 0;
    c->req.content_type = r->content_type ? r->content_type
                          : r->body       ? "application/json"
                                          : NULL;
    c->req.cookie = r->cookie ? (r->cookie[0] ? r->cookie : NULL) : (t->cookie[0] ? t->cookie : NULL);
    c->req.csrf_token = r->csrf ? (r->csrf[0] ? r->csrf : NULL) : (t->csrf[0] ? t->csrf : NULL);
    c->req.authorization = r->authorization;
    snprintf(c->req.client, sizeof c->req.client, "%s", r->client ? r->client : "192.0.2.7");
    c->done = on_done;
    web_api_handle(&t->web, c);
    while (!last.done)
        uv_run(&t->loop, UV_RUN_ONCE);
    int status = c->res.status;
    web_call_release(c);
    cJSON_Delete(last.json);
    last.json = cJSON_Parse(last.body);
    return status;
}

const char *web_test_body(void) { return last.body ? last.body : ""; }
cJSON *web_test_json(void) { return last.json; }

const char *web_test_header(const char *name)
{
    for (int i = 0; i < last.header_count; i++)
        if (strcmp(last.headers[i][0], name) == 0)
            return last.headers[i][1];
    return NULL;
}

int web_test_login(struct web_test *t, const char *user, const char *password)
{
    char body[300];
    snprintf(body, sizeof body, "{\"user\":\"%s\",\"password\":\"%s\"}", user, password);
    int status = web_test_call(t, &(struct web_test_req){.method = "POST",
                                                          .path = "/api/v1/login",
                                                          .body = body,
                                                          .cookie = "",
                                                          .csrf = ""});
    if (status == 200) {
        const char *cookie = web_test_header("set-cookie");
        const char *end = cookie ? strchr(cookie, ';') : NULL;
        if (cookie && end)
            snprintf(t->cookie, sizeof t->cookie, "%.*s", (int)(end - cookie), cookie);
        cJSON *csrf = cJSON_GetObjectItem(web_test_json(), "csrf_token");
        if (cJSON_IsString(csrf))
            snprintf(t->csrf, sizeof t->csrf, "%s", csrf->valuestring);
    }
    return status;
}

/* Free the helper's last answer at exit (leak checks). */
__attribute__((destructor)) static void web_test_cleanup(void)
{
    free(last.body);
    cJSON_Delete(last.json);
}
