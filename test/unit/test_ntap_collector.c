/* The nTap collector on a real libuv loop and flow engine, over loopback UDP. */
#include <arpa/inet.h>
#include <pcap/dlt.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "ntap/ntap_collector.h"
#include "ntap/ntap_crypto.h"
#include "ntap/ntap_tx.h"
#include "check.h"
#include "packet_builder.h"

struct udp_out {
    int fd;
    struct sockaddr_in to;
    int sent;
};
static void udp_send(void *ctx, const uint8_t *d, size_t len)
{
    struct udp_out *u = ctx;
    if (sendto(u->fd, d, len, 0, (struct sockaddr *)&u->to, sizeof u->to) == (ssize_t)len)
        u->sent++;
}

struct run_ctx {
    struct engine *e;
    uint64_t want_packets;
    int ticks;
};
static void stop_when_done(uv_timer_t *t)
{
    struct run_ctx *r = t->data;
    if (r->e->totals.packets >= r->want_packets || ++r->ticks > 300)
        uv_stop(t->loop);
}
static void run_until(uv_loop_t *loop, struct run_ctx *r)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    t.data = r;
    uv_timer_start(&t, stop_when_done, 10, 10);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static struct engine *new_engine(void)
{
    struct engine_config c;
    char err[128];
    engine_config_defaults(&c);
    return engine_create(&c, err, sizeof err);
}

/* A UDP flow 10.9.0.1:1000+i -> 10.9.0.2:53, n packets. */
static void send_flows(struct ntap_tx *tx, int flows, int per_flow)
{
    uint64_t ts = ((uint64_t)time(NULL)) * 1000000000ull;
    for (int i = 0; i < flows; i++)
        for (int k = 0; k < per_flow; k++) {
            struct pb p;
            pb_init(&p);
            pb_ethernet(&p, 0x0800);
            pb_ipv4(&p, "10.9.0.1", "10.9.0.2", 17);
            pb_udp(&p, (uint16_t)(1000 + i), 53);
            pb_bytes(&p, "abcdefgh", 8);
            pb_finish(&p);
            struct ntap_packet pk = {ts, (uint32_t)p.len, (uint32_t)p.len, NTAP_DIR_OUT, p.buf};
            ntap_tx_add_packet(tx, &pk);
        }
    ntap_tx_flush(tx);
}

TEST(ntap_collector_passphrase_feeds_the_engine)
{
    log_set_level(LOG_LEVEL_WARN);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct engine *e = new_engine();
    struct ntap_options o;
    char err[256];
    ntap_options_init(&o);
    CHECK(ntap_spec_parse("ntap:1:s3cret:with:colons", &o, err, sizeof err) == 0);
    CHECK(o.passphrase && strcmp(o.passphrase, "s3cret:with:colons") == 0);
    o.port = 0;
    o.bind_address = "127.0.0.1";
    struct ntap_collector *c = ntap_collector_open(&loop, e, &o, err, sizeof err);
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "  %s\n", err);
        engine_destroy(e);
        return;
    }
    CHECK(ntap_collector_port(c) != 0);
    CHECK(strcmp(ntap_collector_public_key(c), "") == 0);

    struct udp_out u = {socket(AF_INET, SOCK_DGRAM, 0), {0}, 0};
    u.to.sin_family = AF_INET;
    u.to.sin_port = htons(ntap_collector_port(c));
    u.to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct ntap_tx_config tc;
    memset(&tc, 0, sizeof tc);
    CHECK(ntap_psk_master("s3cret:with:colons", tc.psk_master) == 0);
    tc.tap_id = 0x2a;
    tc.max_datagram = 1472;
    struct ntap_tx *tx = malloc(sizeof *tx);
    CHECK(ntap_tx_init(tx, &tc, udp_send, &u, err, sizeof err) == 0);
    send_flows(tx, 20, 5);
    /* and garbage from the same socket: dropped, counted */
    sendto(u.fd, "hello", 5, 0, (struct sockaddr *)&u.to, sizeof u.to);
    struct run_ctx r = {e, 100, 0};
    run_until(&loop, &r);

    CHECK_EQ_U(e->totals.packets, 100);
    CHECK_EQ_U(e->flows.count, 20);
    CHECK_EQ_U(e->source_count, 1);
    char want[64];
    snprintf(want, sizeof want, "ntap:0000002a@127.0.0.1:");
    CHECK(strncmp(e->sources[0].name, want, strlen(want)) == 0);
    CHECK(strcmp(e->sources[0].kind, "ntap") == 0);
    CHECK(e->sources[0].state == SOURCE_UP);
    CHECK_EQ_U(e->sources[0].linktype, DLT_EN10MB);
    CHECK_EQ_U(ntap_collector_tap_count(c), 1);
    const struct ntap_tap *t = ntap_collector_tap(c, 0);
    CHECK(t && t->stats.packets == 100 && t->stats.datagrams == (uint64_t)u.sent);
    CHECK_EQ_U(ntap_collector_totals(c)->drops[NTAP_DROP_BAD_VERSION], 1);
    cJSON *j = ntap_collector_stats_json(c);
    cJSON *taps = cJSON_GetObjectItem(j, "taps");
    CHECK(cJSON_GetArraySize(taps) == 1);
    cJSON *t0 = cJSON_GetArrayItem(taps, 0);
    CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(t0, "tap_id")), "0000002a") == 0);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(t0, "packets")) == 100);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "drops"), "bad_version")) == 1);
    cJSON_Delete(j);
    ntap_collector_log_stats(c);

    ntap_collector_close(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(e->sources[0].state == SOURCE_DONE);
    CHECK(uv_loop_close(&loop) == 0);
    close(u.fd);
    free(tx);
    engine_destroy(e);
    log_set_level(LOG_LEVEL_INFO);
}

TEST(ntap_collector_public_key_pair_made_once)
{
    log_set_level(LOG_LEVEL_WARN);
    char dir[] = "/tmp/ntap-unit-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char sub[64];
    snprintf(sub, sizeof sub, "%s/data", dir); /* created on first start */
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct engine *e = new_engine();
    struct ntap_options o;
    char err[256], pk1[65] = "";
    ntap_options_init(&o);
    CHECK(ntap_spec_parse("ntap:4789", &o, err, sizeof err) == 0);
    CHECK(o.port == 4789 && o.passphrase == NULL);
    o.port = 0;
    o.bind_address = "127.0.0.1";
    o.data_dir = sub;
    struct ntap_collector *c = ntap_collector_open(&loop, e, &o, err, sizeof err);
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    snprintf(pk1, sizeof pk1, "%s", ntap_collector_public_key(c));
    CHECK(strlen(pk1) == 64);

    /* A tap given only the public key gets through. */
    struct udp_out u = {socket(AF_INET, SOCK_DGRAM, 0), {0}, 0};
    u.to.sin_family = AF_INET;
    u.to.sin_port = htons(ntap_collector_port(c));
    u.to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct ntap_tx_config tc;
    memset(&tc, 0, sizeof tc);
    tc.pubkey_mode = true;
    CHECK(ntap_hex_decode(pk1, tc.collector_pk, 32) == 0);
    tc.tap_id = 0xbeef;
    tc.max_datagram = 1472;
    struct ntap_tx *tx = malloc(sizeof *tx);
    CHECK(ntap_tx_init(tx, &tc, udp_send, &u, err, sizeof err) == 0);
    send_flows(tx, 3, 4);
    struct run_ctx r = {e, 12, 0};
    run_until(&loop, &r);
    CHECK_EQ_U(e->totals.packets, 12);
    CHECK_EQ_U(ntap_collector_totals(c)->handshakes, 1);
    ntap_collector_close(c);
    uv_run(&loop, UV_RUN_DEFAULT);

    /* The second start loads the same pair; the secret file is private. */
    c = ntap_collector_open(&loop, e, &o, err, sizeof err);
    CHECK(c && strcmp(ntap_collector_public_key(c), pk1) == 0);
    char path[128];
    snprintf(path, sizeof path, "%s/ntap.key", sub);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 077) == 0);
    char pub[128] = "";
    snprintf(path, sizeof path, "%s/ntap.pub", sub);
    FILE *f = fopen(path, "r");
    CHECK(f && fgets(pub, sizeof pub, f) && strncmp(pub, pk1, 64) == 0);
    if (f)
        fclose(f);
    if (c)
        ntap_collector_close(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);

    /* A corrupt key file is an error, not silently replaced. */
    snprintf(path, sizeof path, "%s/ntap.key", sub);
    f = fopen(path, "w");
    fputs("not a key\n", f);
    fclose(f);
    uv_loop_init(&loop);
    c = ntap_collector_open(&loop, e, &o, err, sizeof err);
    CHECK(c == NULL && strstr(err, "not a key") != NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
    close(u.fd);
    free(tx);
    engine_destroy(e);
    unlink(path);
    snprintf(path, sizeof path, "%s/ntap.pub", sub);
    unlink(path);
    rmdir(sub);
    rmdir(dir);
    log_set_level(LOG_LEVEL_INFO);
}

TEST(ntap_collector_bad_specs)
{
    struct ntap_options o;
    char err[256];
    ntap_options_init(&o);
    CHECK(!ntap_spec_is("eth0") && ntap_spec_is("ntap:1"));
    CHECK(ntap_spec_parse("ntap:", &o, err, sizeof err) < 0);
    CHECK(ntap_spec_parse("ntap:0", &o, err, sizeof err) < 0);
    CHECK(ntap_spec_parse("ntap:65536", &o, err, sizeof err) < 0);
    CHECK(ntap_spec_parse("ntap:12x:hushhush", &o, err, sizeof err) < 0 && !strstr(err, "hush"));
    CHECK(ntap_spec_parse("ntap:12:", &o, err, sizeof err) < 0 && strstr(err, "empty passphrase"));
    CHECK(ntap_spec_parse("eth0", &o, err, sizeof err) < 0);
    /* A port in use is an error at open. */
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct engine *e = new_engine();
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &al);
    ntap_options_init(&o);
    o.port = ntohs(a.sin_port);
    o.bind_address = "127.0.0.1";
    o.passphrase = "x";
    struct ntap_collector *c = ntap_collector_open(&loop, e, &o, err, sizeof err);
    CHECK(c == NULL && strstr(err, "cannot listen"));
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
    close(fd);
    engine_destroy(e);
}
