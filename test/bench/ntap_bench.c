/*
 * ntap_bench: how fast the collector side of nTap ingests, against plain UDP receive of the
 * same datagrams, measured in the same run.
 *
 *   ntap_bench [--datagrams N] [--frame BYTES] [--flows N] [--rounds N] [--mtu BYTES]
 *
 * N datagrams are made once (passphrase mode, one tap, frames of BYTES bytes batched up to the
 * MTU, UDP packets over FLOWS flows). Each round and each receiver then works on exactly those
 * datagrams: they are first all sent over loopback into a socket that nobody reads (its receive
 * buffer is made big enough to hold them: root, SO_RCVBUFFORCE), then the receiver drains them
 * and the drain is timed. So the sender's speed does not enter the measurement. Receivers:
 *
 *   plain      recvmmsg (64 at a time), count the datagrams: the floor every receiver pays
 *   ntap       recvmmsg + the nTap receiver: header, replay window, ChaCha20-Poly1305, records,
 *              per-tap accounting (packets handed to a counting callback)
 *   collector  the real collector (libuv uv_udp with recvmmsg, ntap_collector_open) feeding
 *              the flow engine (flow table, hosts, nDPI): what tapboxd does
 *
 * Prints one line per receiver (best round) and the ratios, as text and as one JSON line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "core/log.h"
#include "ntap/ntap_collector.h"
#include "ntap/ntap_crypto.h"
#include "ntap/ntap_rx.h"
#include "ntap/ntap_tx.h"

#define PASSPHRASE "bench"
#define BATCH 64

struct dgrams {
    uint8_t **d;
    size_t *len;
    size_t n, cap;
    uint64_t inner;
    uint64_t bytes;
};

static void keep(void *ctx, const uint8_t *d, size_t len)
{
    struct dgrams *g = ctx;
    if (g->n == g->cap)
        return;
    g->d[g->n] = malloc(len);
    memcpy(g->d[g->n], d, len);
    g->len[g->n++] = len;
    g->bytes += len;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* An Ethernet/IPv4/UDP frame of `size` bytes, flow f of many. */
static size_t make_frame(uint8_t *f, size_t size, unsigned flow)
{
    memset(f, 0, size);
    memcpy(f, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00", 14);
    uint8_t *ip = f + 14;
    size_t iplen = size - 14;
    ip[0] = 0x45;
    ip[2] = (uint8_t)(iplen >> 8), ip[3] = (uint8_t)iplen;
    ip[8] = 64, ip[9] = 17;
    ip[12] = 10, ip[13] = 1, ip[14] = (uint8_t)(flow >> 8), ip[15] = (uint8_t)flow;
    ip[16] = 10, ip[17] = 2, ip[18] = 0, ip[19] = 1;
    uint8_t *udp = ip + 20;
    uint16_t sport = (uint16_t)(10000 + flow % 50000), ulen = (uint16_t)(iplen - 20);
    udp[0] = (uint8_t)(sport >> 8), udp[1] = (uint8_t)sport;
    udp[2] = 0x1f, udp[3] = 0x90; /* 8080 */
    udp[4] = (uint8_t)(ulen >> 8), udp[5] = (uint8_t)ulen;
    return size;
}

/* A socket on 127.0.0.1 with a receive buffer for everything (0 when it is not granted). */
static int bound_socket(uint16_t *port, size_t want)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int v = (int)want;
    if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) < 0)
        setsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
    bind(s, (struct sockaddr *)&a, sizeof a);
    getsockname(s, (struct sockaddr *)&a, &al);
    *port = ntohs(a.sin_port);
    return s;
}

/* Send every datagram to port; returns how many the kernel took. */
static size_t fill(const struct dgrams *g, uint16_t port)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    connect(s, (struct sockaddr *)&to, sizeof to);
    struct mmsghdr m[BATCH];
    struct iovec iov[BATCH];
    size_t sent = 0;
    for (size_t i = 0; i < g->n; i += BATCH) {
        unsigned k = 0;
        for (; k < BATCH && i + k < g->n; k++) {
            iov[k] = (struct iovec){g->d[i + k], g->len[i + k]};
            memset(&m[k], 0, sizeof m[k]);
            m[k].msg_hdr.msg_iov = &iov[k];
            m[k].msg_hdr.msg_iovlen = 1;
        }
        int r = sendmmsg(s, m, k, 0);
        if (r > 0)
            sent += (size_t)r;
    }
    close(s);
    return sent;
}

struct result {
    const char *name;
    uint64_t datagrams, packets;
    double wall, cpu;
};

static uint64_t counted_packets;
static void count_packet(void *ctx, struct ntap_tap *t, const struct ntap_packet *p, uint64_t ts)
{
    counted_packets++;
}

/* Drain a filled socket with recvmmsg, optionally through the nTap receiver. */
static struct result drain(int s, size_t want, struct ntap_rx *rx)
{
    static uint8_t bufs[BATCH][65536];
    struct mmsghdr m[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_in from[BATCH];
    struct result r = {rx ? "ntap" : "plain", 0, 0, 0, 0};
    counted_packets = 0;
    double t0 = now_s(), c0 = cpu_s();
    while (r.datagrams < want) {
        for (int k = 0; k < BATCH; k++) {
            iov[k] = (struct iovec){bufs[k], sizeof bufs[k]};
            memset(&m[k], 0, sizeof m[k]);
            m[k].msg_hdr.msg_iov = &iov[k];
            m[k].msg_hdr.msg_iovlen = 1;
            m[k].msg_hdr.msg_name = &from[k];
            m[k].msg_hdr.msg_namelen = sizeof from[k];
        }
        int n = recvmmsg(s, m, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            break; /* drained (fewer than sent: the kernel dropped some) */
        r.datagrams += (uint64_t)n;
        if (rx) {
            uint64_t now = (uint64_t)time(NULL) * 1000000;
            for (int k = 0; k < n; k++)
                ntap_rx_datagram(rx, bufs[k], m[k].msg_len, (struct sockaddr *)&from[k], now);
        }
    }
    r.wall = now_s() - t0;
    r.cpu = cpu_s() - c0;
    r.packets = counted_packets;
    return r;
}

struct collector_run {
    struct engine *e;
    uint64_t want_packets;
    double last_change;
    uint64_t last_packets;
};
static void watch(uv_idle_t *h)
{
    struct collector_run *c = h->data;
    if (c->e->totals.packets != c->last_packets) {
        c->last_packets = c->e->totals.packets;
        c->last_change = now_s();
    }
    if (c->e->totals.packets >= c->want_packets || now_s() - c->last_change > 0.2)
        uv_stop(h->loop);
}

static struct result run_collector(const struct dgrams *g, size_t rcvbuf)
{
    struct result r = {"collector", 0, 0, 0, 0};
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct engine_config ec;
    char err[256];
    engine_config_defaults(&ec);
    struct engine *e = engine_create(&ec, err, sizeof err);
    struct ntap_options o;
    ntap_options_init(&o);
    o.passphrase = PASSPHRASE;
    o.bind_address = "127.0.0.1";
    o.recv_buffer = rcvbuf;
    struct ntap_collector *c = ntap_collector_open(&loop, e, &o, err, sizeof err);
    if (!c) {
        fprintf(stderr, "collector: %s\n", err);
        exit(1);
    }
    size_t sent = fill(g, ntap_collector_port(c));
    (void)sent;
    struct collector_run cr = {e, g->inner, now_s(), 0};
    uv_idle_t idle;
    uv_idle_init(&loop, &idle);
    idle.data = &cr;
    uv_idle_start(&idle, watch);
    double t0 = now_s(), c0 = cpu_s();
    uv_run(&loop, UV_RUN_DEFAULT);
    r.wall = (cr.last_change > t0 ? cr.last_change : now_s()) - t0;
    r.cpu = cpu_s() - c0;
    r.packets = e->totals.packets;
    r.datagrams = ntap_collector_totals(c)->accepted;
    if (r.packets >= g->inner) /* stopped at once: no idle tail to subtract */
        r.wall = now_s() - t0;
    uv_close((uv_handle_t *)&idle, NULL);
    ntap_collector_close(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    engine_destroy(e);
    return r;
}

static void keep_best(struct result *best, struct result r)
{
    if (!best->name || (r.datagrams / r.wall) > (best->datagrams / best->wall))
        *best = r;
}

int main(int argc, char **argv)
{
    size_t n = 100000, frame = 64, rounds = 5, mtu = 1500;
    unsigned flows = 1000;
    static const struct option longs[] = {
        {"datagrams", required_argument, NULL, 'n'}, {"frame", required_argument, NULL, 'f'},
        {"flows", required_argument, NULL, 'F'},     {"rounds", required_argument, NULL, 'r'},
        {"mtu", required_argument, NULL, 'm'},       {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 'n': n = strtoul(optarg, NULL, 10); break;
        case 'f': frame = strtoul(optarg, NULL, 10); break;
        case 'F': flows = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'r': rounds = strtoul(optarg, NULL, 10); break;
        case 'm': mtu = strtoul(optarg, NULL, 10); break;
        default: fprintf(stderr, "usage: see the source\n"); return 2;
        }
    }
    if (frame < 42 || frame > 9000 || !n || !rounds || !flows) {
        fprintf(stderr, "ntap_bench: bad arguments\n");
        return 2;
    }
    log_set_level(LOG_LEVEL_ERROR); /* the clock re-basing warnings of old datagrams */
    ntap_crypto_init();

    /* The datagrams, made once. */
    struct dgrams g = {calloc(n, sizeof(uint8_t *)), calloc(n, sizeof(size_t)), 0, n, 0, 0};
    struct ntap_tx_config tc;
    memset(&tc, 0, sizeof tc);
    ntap_psk_master(PASSPHRASE, tc.psk_master);
    tc.tap_id = 1;
    tc.max_datagram = mtu - 28;
    struct ntap_tx *tx = malloc(sizeof *tx);
    char err[256];
    if (ntap_tx_init(tx, &tc, keep, &g, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    uint8_t *f = malloc(frame);
    uint64_t ts = (uint64_t)time(NULL) * 1000000000ull;
    for (uint64_t i = 0; g.n < n; i++) {
        make_frame(f, frame, (unsigned)(i % flows));
        struct ntap_packet p = {ts + i * 1000, (uint32_t)frame, (uint32_t)frame, NTAP_DIR_IN, f};
        ntap_tx_add_packet(tx, &p);
    }
    {   /* the inner packets of the datagrams kept, counted by a receiver */
        uint64_t per = 0;
        struct ntap_rx_config rc;
        memset(&rc, 0, sizeof rc);
        memcpy(rc.psk_master, tc.psk_master, 32);
        struct ntap_rx_callbacks cb = {count_packet, NULL, NULL};
        struct ntap_rx *rx = ntap_rx_create(&rc, &cb, NULL, err, sizeof err);
        counted_packets = 0;
        for (size_t i = 0; i < g.n; i++)
            ntap_rx_datagram(rx, g.d[i], g.len[i], NULL, (uint64_t)time(NULL) * 1000000);
        per = counted_packets;
        ntap_rx_destroy(rx);
        g.inner = per;
    }
    size_t rcvbuf = g.n * 4096 + (16u << 20);
    printf("# %zu datagrams of %.0f bytes on average, %llu inner packets of %zu bytes "
           "(%.1f per datagram), %u flows, best of %zu rounds\n",
           g.n, (double)g.bytes / (double)g.n, (unsigned long long)g.inner, frame,
           (double)g.inner / (double)g.n, flows, rounds);

    struct result best[3] = {{0}};
    for (size_t round = 0; round < rounds; round++) {
        uint16_t port;
        int s = bound_socket(&port, rcvbuf);
        size_t sent = fill(&g, port);
        struct result r = drain(s, sent, NULL);
        close(s);
        if (r.datagrams < g.n)
            fprintf(stderr, "# plain: %llu of %zu datagrams arrived (receive buffer too small?)\n",
                    (unsigned long long)r.datagrams, g.n);
        r.packets = g.inner * r.datagrams / g.n;
        keep_best(&best[0], r);

        struct ntap_rx_config rc;
        memset(&rc, 0, sizeof rc);
        memcpy(rc.psk_master, tc.psk_master, 32);
        struct ntap_rx_callbacks cb = {count_packet, NULL, NULL};
        struct ntap_rx *rx = ntap_rx_create(&rc, &cb, NULL, err, sizeof err);
        s = bound_socket(&port, rcvbuf);
        sent = fill(&g, port);
        r = drain(s, sent, rx);
        close(s);
        ntap_rx_destroy(rx);
        keep_best(&best[1], r);

        r = run_collector(&g, rcvbuf);
        keep_best(&best[2], r);
    }
    printf("%-10s %12s %14s %12s %14s\n", "receiver", "datagrams/s", "packets/s", "MB/s in",
           "cpu us/dgram");
    for (int i = 0; i < 3; i++) {
        struct result *r = &best[i];
        printf("%-10s %12.0f %14.0f %12.1f %14.2f   (%llu datagrams, %llu packets)\n", r->name,
               (double)r->datagrams / r->wall, (double)r->packets / r->wall,
               (double)g.bytes / (double)g.n * (double)r->datagrams / r->wall / 1e6,
               r->cpu / (double)r->datagrams * 1e6, (unsigned long long)r->datagrams,
               (unsigned long long)r->packets);
    }
    double plain = (double)best[0].datagrams / best[0].wall;
    double ntap = (double)best[1].datagrams / best[1].wall;
    double coll = (double)best[2].datagrams / best[2].wall;
    printf("ratio ntap/plain %.2f, collector/plain %.2f; inner packets/s: ntap %.0f, "
           "collector %.0f\n", ntap / plain, coll / plain, (double)best[1].packets / best[1].wall,
           (double)best[2].packets / best[2].wall);
    printf("{\"frame\":%zu,\"datagrams\":%zu,\"packets_per_datagram\":%.1f,"
           "\"plain_dps\":%.0f,\"ntap_dps\":%.0f,\"ntap_pps\":%.0f,\"collector_dps\":%.0f,"
           "\"collector_pps\":%.0f,\"ntap_ratio\":%.3f,\"collector_ratio\":%.3f}\n",
           frame, g.n, (double)g.inner / (double)g.n, plain, ntap,
           (double)best[1].packets / best[1].wall, coll, (double)best[2].packets / best[2].wall,
           ntap / plain, coll / plain);
    for (size_t i = 0; i < g.n; i++)
        free(g.d[i]);
    free(g.d);
    free(g.len);
    free(f);
    free(tx);
    return 0;
}
