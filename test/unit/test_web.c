/* The web layer's plumbing: query parameters and their validation, cookies, listen addresses,
 * web options, the live series, and the views shared by REST and Lua. */
#include <arpa/inet.h>
#include <pcap/dlt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "ntap/ntap_collector.h"
#include "web/http.h"
#include "web/series.h"
#include "web/views.h"
#include "web/web.h"
#include "check.h"
#include "daemon/config.h"
#include "packet_builder.h"
#include "test_web.h"

static int parse(struct web_params *p, const char *q, char *err, size_t errsize)
{
    return web_params_parse(p, q, strlen(q), err, errsize);
}

TEST(web_params_decode_and_lookup)
{
    struct web_params p;
    char err[256];
    CHECK(parse(&p, "q=10.0.0.1&sort=bytes&x=a%20b+c&empty=&flag", err, sizeof err) == 0);
    CHECK(p.count == 5);
    CHECK(strcmp(web_param(&p, "q"), "10.0.0.1") == 0);
    CHECK(strcmp(web_param(&p, "x"), "a b c") == 0);
    CHECK(strcmp(web_param(&p, "empty"), "") == 0);
    CHECK(strcmp(web_param(&p, "flag"), "") == 0);
    CHECK(web_param(&p, "nope") == NULL);
    web_params_free(&p);

    CHECK(parse(&p, "", err, sizeof err) == 0 && p.count == 0);
    web_params_free(&p);
    CHECK(parse(&p, "a=1&&b=2", err, sizeof err) == 0 && p.count == 2);
    web_params_free(&p);
}

TEST(web_params_refuse_malformed)
{
    struct web_params p;
    char err[256];
    CHECK(parse(&p, "a=%zz", err, sizeof err) < 0);
    CHECK(strstr(err, "'a'") != NULL);
    CHECK(strcmp(p.bad, "a") == 0);
    web_params_free(&p);
    CHECK(parse(&p, "a=%4", err, sizeof err) < 0); /* truncated escape */
    web_params_free(&p);
    CHECK(parse(&p, "a=x%00y", err, sizeof err) < 0); /* NUL byte */
    web_params_free(&p);
    CHECK(parse(&p, "limit=1&limit=2", err, sizeof err) < 0);
    CHECK(strstr(err, "more than once") != NULL && strcmp(p.bad, "limit") == 0);
    web_params_free(&p);
    CHECK(parse(&p, "=1", err, sizeof err) < 0);
    web_params_free(&p);

    char many[2048] = "";
    for (int i = 0; i < WEB_MAX_PARAMS + 1; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "p%d=1&", i);
    CHECK(parse(&p, many, err, sizeof err) < 0);
    CHECK(strstr(err, "too many") != NULL);
    web_params_free(&p);

    char *huge = malloc(WEB_MAX_QUERY + 10);
    memset(huge, 'a', WEB_MAX_QUERY + 9);
    huge[WEB_MAX_QUERY + 9] = '\0';
    CHECK(parse(&p, huge, err, sizeof err) < 0);
    web_params_free(&p);
    huge[0] = 'v';
    huge[1] = '=';
    huge[WEB_MAX_PARAM_VALUE + 10] = '\0';
    CHECK(parse(&p, huge, err, sizeof err) < 0);
    CHECK(strstr(err, "too long") != NULL);
    web_params_free(&p);
    free(huge);
}

TEST(web_params_validation_names_the_parameter)
{
    struct web_params p;
    char err[256];
    uint64_t n;
    int v;
    static const char *const known[] = {"limit", "order", "local", NULL};
    static const char *const orders[] = {"desc", "asc", NULL};

    CHECK(parse(&p, "limit=50&order=asc&local=false&_=123", err, sizeof err) == 0);
    CHECK(web_params_only(&p, known, err, sizeof err) == 0); /* "_" is a cache buster */
    CHECK(web_param_uint(&p, "limit", 1, 1000, 25, &n, err, sizeof err) == 0 && n == 50);
    CHECK(web_param_uint(&p, "offset", 0, 10, 7, &n, err, sizeof err) == 0 && n == 7);
    CHECK(web_param_choice(&p, "order", orders, 0, &v, err, sizeof err) == 0 && v == 1);
    CHECK(web_param_bool(&p, "local", &v, err, sizeof err) == 0 && v == 0);
    CHECK(web_param_bool(&p, "absent", &v, err, sizeof err) == 0 && v == -1);
    web_params_free(&p);

    const char *bad[][2] = {{"limit=0", "limit"},     {"limit=1001", "limit"},
                            {"limit=-1", "limit"},    {"limit=1e3", "limit"},
                            {"limit=", "limit"},      {"limit=99999999999999999999999", "limit"},
                            {"order=up", "order"},    {"local=yes", "local"},
                            {"bogus=1", "bogus"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(parse(&p, bad[i][0], err, sizeof err) == 0);
        int rc = web_params_only(&p, known, err, sizeof err);
        if (rc == 0)
            rc = web_param_uint(&p, "limit", 1, 1000, 25, &n, err, sizeof err);
        if (rc == 0)
            rc = web_param_choice(&p, "order", orders, 0, &v, err, sizeof err);
        if (rc == 0)
            rc = web_param_bool(&p, "local", &v, err, sizeof err);
        CHECK(rc < 0);
        CHECK(strcmp(p.bad, bad[i][1]) == 0);
        CHECK(strstr(err, bad[i][1]) != NULL);
        web_params_free(&p);
    }
}

TEST(web_params_added_one_by_one)
{
    struct web_params p;
    char err[128];
    memset(&p, 0, sizeof p);
    CHECK(web_params_add(&p, "limit", "5", err, sizeof err) == 0);
    CHECK(web_params_add(&p, "q", "10.", err, sizeof err) == 0);
    CHECK(web_params_add(&p, "q", "x", err, sizeof err) < 0);
    CHECK(strcmp(web_param(&p, "limit"), "5") == 0 && strcmp(web_param(&p, "q"), "10.") == 0);
    web_params_free(&p);
}

TEST(web_url_decode_cases)
{
    char s[32];
    strcpy(s, "%41b%2fc+d");
    CHECK(web_url_decode(s, strlen(s), false) == 6 && strcmp(s, "Ab/c+d") == 0);
    strcpy(s, "a+b");
    CHECK(web_url_decode(s, strlen(s), true) == 3 && strcmp(s, "a b") == 0);
    strcpy(s, "%");
    CHECK(web_url_decode(s, strlen(s), true) < 0);
    strcpy(s, "%g1");
    CHECK(web_url_decode(s, strlen(s), true) < 0);
}

TEST(web_cookies)
{
    char v[80];
    CHECK(web_cookie_get("a=1; tapbox_session=abc; b=2", "tapbox_session", v, sizeof v) == 0 &&
          strcmp(v, "abc") == 0);
    CHECK(web_cookie_get("tapbox_session=\"q\"", "tapbox_session", v, sizeof v) == 0 &&
          strcmp(v, "q") == 0);
    CHECK(web_cookie_get("xtapbox_session=1", "tapbox_session", v, sizeof v) < 0);
    CHECK(web_cookie_get("tapbox_sessionx=1", "tapbox_session", v, sizeof v) < 0);
    CHECK(web_cookie_get(NULL, "a", v, sizeof v) < 0);
    CHECK(web_cookie_get("a=0123456789", "a", v, 5) < 0); /* does not fit */
    CHECK(web_cookie_get(";;a=1;", "a", v, sizeof v) == 0 && strcmp(v, "1") == 0);
}

TEST(web_listen_specs)
{
    char addr[64], err[160];
    int port;
    CHECK(web_parse_listen("3000", addr, sizeof addr, &port, err, sizeof err) == 0 &&
          port == 3000 && addr[0] == '\0');
    CHECK(web_parse_listen("0", addr, sizeof addr, &port, err, sizeof err) == 0 && port == 0);
    CHECK(web_parse_listen("127.0.0.1:8080", addr, sizeof addr, &port, err, sizeof err) == 0 &&
          port == 8080 && strcmp(addr, "127.0.0.1") == 0);
    CHECK(web_parse_listen("[::1]:443", addr, sizeof addr, &port, err, sizeof err) == 0 &&
          port == 443 && strcmp(addr, "::1") == 0);
    CHECK(web_parse_listen("65536", addr, sizeof addr, &port, err, sizeof err) < 0);
    CHECK(web_parse_listen("http", addr, sizeof addr, &port, err, sizeof err) < 0);
    CHECK(web_parse_listen("::1:80", addr, sizeof addr, &port, err, sizeof err) < 0);
    CHECK(web_parse_listen("host:80", addr, sizeof addr, &port, err, sizeof err) < 0);
    CHECK(web_parse_listen("[::1]80", addr, sizeof addr, &port, err, sizeof err) < 0);
}

TEST(web_options_by_name)
{
    struct web_options o;
    char err[200];
    web_options_init(&o);
    CHECK(o.http_port == 3000 && o.https_port == 3001 && !o.http_set);
    CHECK(config_apply_web_option(&o, "http-port", "127.0.0.1:8080", err, sizeof err) == 0);
    CHECK(o.http_port == 8080 && o.http_set && strcmp(o.http_addr, "127.0.0.1") == 0);
    CHECK(config_apply_web_option(&o, "https-port", "0", err, sizeof err) == 0 && o.https_port == 0);
    CHECK(config_apply_web_option(&o, "data-dir", "/tmp/x", err, sizeof err) == 0);
    CHECK(config_apply_web_option(&o, "data-dir", "/tmp/y", err, sizeof err) == 0);
    CHECK(strcmp(o.data_dir, "/tmp/y") == 0);
    CHECK(config_apply_web_option(&o, "http-session-timeout", "5", err, sizeof err) < 0);
    CHECK(config_apply_web_option(&o, "http-session-timeout", "600", err, sizeof err) == 0);
    CHECK(o.session_timeout_s == 600);
    CHECK(config_apply_web_option(&o, "lua-budget", "x", err, sizeof err) < 0);
    CHECK(config_apply_web_option(&o, "disable-login", "", err, sizeof err) == 0 && o.disable_login);
    CHECK(config_apply_web_option(&o, "max-flows", "1", err, sizeof err) == 1);
    CHECK(config_validate_web_options(&o, err, sizeof err) == 0);
    CHECK(config_apply_web_option(&o, "https-cert", "/c.pem", err, sizeof err) == 0);
    CHECK(config_validate_web_options(&o, err, sizeof err) < 0); /* the key is missing */
    web_options_free(&o);
}

TEST(web_series_rates_and_window)
{
    struct engine *e = web_test_engine(3);
    if (!e)
        return;
    static struct series s;
    series_init(&s);
    series_sample(&s, e, 1000, 100); /* baseline */
    CHECK(s.count == 0 && s.source_count == 1);
    uint64_t p0 = e->totals.packets, b0 = e->totals.bytes;
    web_test_udp(e, "10.0.0.1", "203.0.113.1", 1111, 53, 100);
    web_test_udp(e, "10.0.0.1", "203.0.113.1", 1111, 53, 100);
    series_sample(&s, e, 3000, 102); /* 2 s later: 2 packets */
    CHECK(s.count == 1);
    CHECK(s.totals.pps[0] == 1.0f);
    CHECK(s.totals.bps[0] == (float)((e->totals.bytes - b0) * 8 / 2.0));
    CHECK(e->totals.packets - p0 == 2);
    /* Counters restored from history are a step, not traffic: no spike, a new baseline. */
    engine_restore_source_counters(e, 0, 1000000, 1000000000, 10);
    series_sample(&s, e, 4000, 103);
    CHECK(s.count == 1);
    web_test_udp(e, "10.0.0.1", "203.0.113.1", 1111, 53, 100);
    series_sample(&s, e, 5000, 104);
    CHECK(s.count == 2 && s.totals.pps[1] == 1.0f);
    for (int i = 0; i < SERIES_LEN + 5; i++)
        series_sample(&s, e, 6000 + (uint64_t)i * 1000, 105 + (uint64_t)i);
    CHECK(s.count == SERIES_LEN);

    cJSON *j = series_json(&s, e, 0, -1);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "time")) == SERIES_LEN);
    cJSON *tot = cJSON_GetObjectItem(j, "totals");
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(tot, "bits_per_s")) == SERIES_LEN);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "sources")) == 1);
    /* times are ascending and since= keeps the newer points only */
    cJSON *t = cJSON_GetObjectItem(j, "time");
    double last = cJSON_GetArrayItem(t, SERIES_LEN - 1)->valuedouble;
    CHECK(cJSON_GetArrayItem(t, 0)->valuedouble < last);
    cJSON_Delete(j);
    j = series_json(&s, e, (uint64_t)last - 3, 5);
    CHECK(cJSON_GetObjectItem(j, "count")->valueint == 3);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "sources")) == 0); /* no source 5 */
    cJSON_Delete(j);
    series_fini(&s);
    engine_destroy(e);
}

static int view(int (*fn)(WEB_VIEW_ARGS), const struct web_view_ctx *ctx, const char *query,
                cJSON **out, char *bad)
{
    struct web_params p;
    char err[256];
    if (web_params_parse(&p, query, strlen(query), err, sizeof err) < 0) {
        web_params_free(&p);
        return -1;
    }
    int rc = fn(ctx, &p, out, err, sizeof err);
    if (bad)
        strcpy(bad, p.bad);
    web_params_free(&p);
    return rc;
}

TEST(web_views_hosts_flows_paging_and_errors)
{
    struct engine *e = web_test_engine(30);
    if (!e)
        return;
    static struct series s;
    series_init(&s);
    struct web_view_ctx ctx = {.engine = e, .series = &s};
    cJSON *o;
    char bad[64];

    CHECK(view(web_view_hosts, &ctx, "limit=5&local=true", &o, bad) == 0);
    CHECK(cJSON_GetObjectItem(o, "total")->valueint == 30);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(o, "items")) == 5);
    CHECK(strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "items"), 0),
                                     "ip")->valuestring, "10.0.0.30") == 0);
    cJSON_Delete(o);
    CHECK(view(web_view_hosts, &ctx, "limit=10&offset=25&local=true&order=asc&sort=packets", &o,
               bad) == 0);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(o, "items")) == 5);
    cJSON_Delete(o);
    CHECK(view(web_view_hosts, &ctx, "q=10.0.0.2", &o, bad) == 0);
    CHECK(cJSON_GetObjectItem(o, "total")->valueint == 11); /* .2 and .20-.29 */
    cJSON_Delete(o);
    CHECK(view(web_view_hosts, &ctx, "local=false", &o, bad) == 0);
    CHECK(cJSON_GetObjectItem(o, "total")->valueint == 1);
    cJSON_Delete(o);
    CHECK(view(web_view_hosts, &ctx, "limit=100000", &o, bad) == 400 && !o);
    CHECK(strcmp(bad, "limit") == 0);
    CHECK(view(web_view_hosts, &ctx, "sort=size", &o, bad) == 400 && strcmp(bad, "sort") == 0);
    CHECK(view(web_view_hosts, &ctx, "color=red", &o, bad) == 400 && strcmp(bad, "color") == 0);

    CHECK(view(web_view_flows, &ctx, "port=1007", &o, bad) == 0);
    CHECK(cJSON_GetObjectItem(o, "total")->valueint == 1);
    cJSON_Delete(o);
    CHECK(view(web_view_flows, &ctx, "host=10.0.0.3&proto=udp", &o, bad) == 0);
    CHECK(cJSON_GetObjectItem(o, "total")->valueint == 1);
    cJSON_Delete(o);
    CHECK(view(web_view_flows, &ctx, "proto=tcp", &o, bad) == 0);
    CHECK(cJSON_GetObjectItem(o, "total")->valueint == 0);
    cJSON_Delete(o);
    CHECK(view(web_view_flows, &ctx, "limit=7&offset=0&sort=packets&order=desc", &o, bad) == 0);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(o, "items")) == 7);
    CHECK(cJSON_GetObjectItem(o, "total")->valueint == 30);
    cJSON_Delete(o);
    CHECK(view(web_view_flows, &ctx, "host=10.0.0", &o, bad) == 400 && strcmp(bad, "host") == 0);
    CHECK(view(web_view_flows, &ctx, "port=70000", &o, bad) == 400 && strcmp(bad, "port") == 0);
    CHECK(view(web_view_flows, &ctx, "proto=xyz", &o, bad) == 400 && strcmp(bad, "proto") == 0);
    CHECK(view(web_view_flows, &ctx, "l7=NoSuchProto", &o, bad) == 400 && strcmp(bad, "l7") == 0);
    CHECK(view(web_view_flows, &ctx, "source=nope", &o, bad) == 400 && strcmp(bad, "source") == 0);
    CHECK(view(web_view_flows, &ctx, "source=0", &o, bad) == 0);
    cJSON_Delete(o);

    CHECK(view(web_view_l7, &ctx, "", &o, bad) == 0 && cJSON_GetObjectItem(o, "total"));
    cJSON_Delete(o);
    CHECK(view(web_view_sources, &ctx, "", &o, bad) == 0);
    CHECK(cJSON_GetObjectItem(o, "total")->valueint == 1);
    cJSON_Delete(o);
    CHECK(view(web_view_status, &ctx, "", &o, bad) == 0);
    CHECK(cJSON_GetObjectItem(o, "caps") && cJSON_GetObjectItem(o, "uptime_s"));
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "memory"), "process_rss")->valuedouble > 0);
    cJSON_Delete(o);
    series_fini(&s);
    engine_destroy(e);
}

static void stop_loop(uv_timer_t *t)
{
    uv_stop(t->loop);
}

static void run_a_while(uv_loop_t *loop, int ms)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, stop_loop, (uint64_t)ms, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

TEST(web_view_ntap_off_passphrase_and_public_key)
{
    struct engine *e = web_test_engine(1);
    if (!e)
        return;
    struct web_view_ctx ctx = {.engine = e};
    cJSON *o;
    char bad[64];

    /* No collector: the shape stays, with nulls. */
    CHECK(view(web_view_ntap, &ctx, "", &o, bad) == 0);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(o, "enabled")));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(o, "mode")) &&
          cJSON_IsNull(cJSON_GetObjectItem(o, "port")) &&
          cJSON_IsNull(cJSON_GetObjectItem(o, "public_key")));
    CHECK(cJSON_IsArray(cJSON_GetObjectItem(o, "taps")) &&
          cJSON_GetArraySize(cJSON_GetObjectItem(o, "taps")) == 0);
    CHECK(cJSON_GetObjectItem(o, "refused")->valueint == 0);
    cJSON_Delete(o);
    CHECK(view(web_view_ntap, &ctx, "verbose=1", &o, bad) == 400 && !o &&
          strcmp(bad, "verbose") == 0);

    log_set_level(LOG_LEVEL_WARN);
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[256], dir[] = "/tmp/web-ntap-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    struct ntap_options no;

    /* Passphrase mode: no public key. */
    ntap_options_init(&no);
    CHECK(ntap_spec_parse("ntap:4789:unit-test-passphrase", &no, err, sizeof err) == 0);
    no.port = 0; /* any free port */
    no.bind_address = "127.0.0.1";
    struct ntap_collector *c = ntap_collector_open(&loop, e, &no, err, sizeof err);
    CHECK(c != NULL);
    if (c) {
        ctx.ntap = c;
        CHECK(view(web_view_ntap, &ctx, "", &o, bad) == 0);
        CHECK(cJSON_IsTrue(cJSON_GetObjectItem(o, "enabled")));
        CHECK(strcmp(cJSON_GetObjectItem(o, "mode")->valuestring, "passphrase") == 0);
        CHECK(cJSON_IsNull(cJSON_GetObjectItem(o, "public_key")));
        CHECK(cJSON_GetObjectItem(o, "port")->valueint == ntap_collector_port(c));
        cJSON_Delete(o);
        ntap_collector_close(c);
        uv_run(&loop, UV_RUN_DEFAULT);
    }

    /* Public-key mode: the key as -K takes it; a garbage datagram is refused and counted. */
    ntap_options_init(&no);
    no.bind_address = "127.0.0.1";
    no.data_dir = dir;
    c = ntap_collector_open(&loop, e, &no, err, sizeof err);
    CHECK(c != NULL);
    if (c) {
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(ntap_collector_port(c))};
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        static const char junk[64] = "not an nTap datagram";
        CHECK(sendto(fd, junk, sizeof junk, 0, (struct sockaddr *)&to, sizeof to) == sizeof junk);
        close(fd);
        for (int i = 0; i < 100 && ntap_collector_totals(c)->datagrams == 0; i++)
            run_a_while(&loop, 10);
        ctx.ntap = c;
        CHECK(view(web_view_ntap, &ctx, "", &o, bad) == 0);
        CHECK(strcmp(cJSON_GetObjectItem(o, "mode")->valuestring, "pubkey") == 0);
        const cJSON *key = cJSON_GetObjectItem(o, "public_key");
        CHECK(cJSON_IsString(key) && strlen(key->valuestring) == 64 &&
              strcmp(key->valuestring, ntap_collector_public_key(c)) == 0);
        CHECK(cJSON_GetObjectItem(o, "refused")->valueint == 1);
        CHECK(cJSON_GetObjectItem(o, "datagrams")->valueint == 1);
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(o, "taps")) == 0);
        cJSON_Delete(o);
        ntap_collector_close(c);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    CHECK(uv_loop_close(&loop) == 0);
    char path[128];
    snprintf(path, sizeof path, "%s/ntap.key", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/ntap.pub", dir);
    unlink(path);
    rmdir(dir);
    log_set_level(LOG_LEVEL_INFO);
    engine_destroy(e);
}

TEST(web_view_one_host)
{
    struct engine *e = web_test_engine(5);
    if (!e)
        return;
    struct web_view_ctx ctx = {.engine = e};
    struct web_params p;
    char err[256];
    cJSON *o;
    memset(&p, 0, sizeof p);
    CHECK(web_view_host(&ctx, "10.0.0.4", &p, &o, err, sizeof err) == 0);
    CHECK(strcmp(cJSON_GetObjectItem(o, "ip")->valuestring, "10.0.0.4") == 0);
    CHECK(cJSON_GetObjectItem(o, "flows_count")->valueint == 1);
    cJSON *peers = cJSON_GetObjectItem(o, "peers");
    CHECK(cJSON_GetArraySize(peers) == 1);
    CHECK(strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(peers, 0), "ip")->valuestring,
                 "203.0.113.1") == 0);
    cJSON_Delete(o);
    /* the remote server talks to all five */
    CHECK(web_view_host(&ctx, "203.0.113.1", &p, &o, err, sizeof err) == 0);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(o, "peers")) == 5);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(o, "flows")) == 5);
    cJSON_Delete(o);
    CHECK(web_view_host(&ctx, "10.9.9.9", &p, &o, err, sizeof err) == 404);
    CHECK(web_view_host(&ctx, "2001:db8::1", &p, &o, err, sizeof err) == 404);
    CHECK(web_view_host(&ctx, "x", &p, &o, err, sizeof err) == 400);
    web_params_free(&p);
    CHECK(web_params_parse(&p, "vlan=5000", 9, err, sizeof err) == 0);
    CHECK(web_view_host(&ctx, "10.0.0.4", &p, &o, err, sizeof err) == 400 &&
          strcmp(p.bad, "vlan") == 0);
    web_params_free(&p);
    engine_destroy(e);
}

TEST(web_buf_grows)
{
    struct web_buf b = {0};
    for (int i = 0; i < 1000; i++)
        web_buf_printf(&b, "line %d %s\n", i, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    CHECK(!b.oom && b.len > 50000 && strstr(b.data, "line 999 ") != NULL);
    char big[600];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    web_buf_printf(&b, "%s", big);
    CHECK(b.data[b.len - 1] == 'y');
    web_buf_free(&b);
}
