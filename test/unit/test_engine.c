/* Flow and host tables through the engine: keying both ways, caps, idle purge, L7, locality. */
#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "flow/engine.h"
#include "policy/policy.h"
#include "check.h"
#include "packet_builder.h"

#define S(x) ((uint64_t)(x) * 1000000u)
#define T0 S(1700000000)

struct ended {
    int count;
    char last_l7[64];
    uint64_t last_packets[2];
};

static void count_end(void *ctx, const struct engine *e, const struct flow *f)
{
    struct ended *x = ctx;
    x->count++;
    l7_result_name(e->l7, &f->l7, x->last_l7, sizeof x->last_l7);
    x->last_packets[0] = f->packets[0];
    x->last_packets[1] = f->packets[1];
}

static struct engine *make_engine(size_t max_flows, size_t max_hosts, struct ended *ended)
{
    struct engine_config c;
    char err[256];
    engine_config_defaults(&c);
    c.max_flows = max_flows;
    c.max_hosts = max_hosts;
    struct engine *e = engine_create(&c, err, sizeof err);
    CHECK(e != NULL);
    if (e) {
        CHECK(engine_add_source(e, "test", "file") == 0);
        e->on_flow_end = count_end;
        e->on_flow_end_ctx = ended;
    }
    return e;
}

static bool frame_udp(struct engine *e, unsigned port, uint64_t ts, const char *src, uint16_t sport,
                      const char *dst, uint16_t dport, const void *payload, size_t len)
{
    struct pb p;
    pb_init(&p);
    pb_ethernet(&p, 0x0800);
    pb_ipv4(&p, src, dst, 17);
    pb_udp(&p, sport, dport);
    pb_bytes(&p, payload, len);
    pb_finish(&p);
    return engine_process_frame(e, 0, port, DLT_EN10MB, ts, p.buf, (uint32_t)p.len, (uint32_t)p.len);
}

static void send_udp(struct engine *e, uint64_t ts, const char *src, uint16_t sport,
                     const char *dst, uint16_t dport, const void *payload, size_t len)
{
    frame_udp(e, ENGINE_NO_PORT, ts, src, sport, dst, dport, payload, len);
}

static void send_tcp(struct engine *e, uint64_t ts, const char *src, uint16_t sport,
                     const char *dst, uint16_t dport, uint8_t flags)
{
    struct pb p;
    pb_init(&p);
    pb_ethernet(&p, 0x0800);
    pb_ipv4(&p, src, dst, 6);
    pb_tcp(&p, sport, dport, flags);
    pb_finish(&p);
    engine_process_packet(e, 0, DLT_EN10MB, ts, p.buf, (uint32_t)p.len, (uint32_t)p.len);
}

static struct host *find_host(struct engine *e, const char *ip)
{
    uint8_t addr[16] = {0};
    struct host_key k;
    inet_pton(AF_INET, ip, addr);
    host_key_make(&k, 0, 4, addr);
    return host_table_find(&e->hosts, &k);
}

/* A DNS query for example.com (the question section as a resolver writes it). */
static size_t dns_query(uint8_t *buf)
{
    static const uint8_t q[] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7, 'e', 'x',
                                'a',  'm',  'p',  'l',  'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1};
    memcpy(buf, q, sizeof q);
    return sizeof q;
}

TEST(engine_keys_both_directions_into_one_flow)
{
    struct ended ended = {0};
    struct engine *e = make_engine(100, 100, &ended);
    if (!e)
        return;
    send_tcp(e, T0, "192.168.1.10", 40000, "198.51.100.1", 80, 0x02);
    send_tcp(e, T0 + 1000, "198.51.100.1", 80, "192.168.1.10", 40000, 0x12);
    send_tcp(e, T0 + 2000, "192.168.1.10", 40000, "198.51.100.1", 80, 0x10);
    CHECK_EQ_U(e->flows.count, 1);
    engine_sync(e); /* hosts get their flows' traffic once a second */
    struct flow_key key;
    bool lo;
    uint8_t a[16] = {0}, b[16] = {0};
    inet_pton(AF_INET, "192.168.1.10", a);
    inet_pton(AF_INET, "198.51.100.1", b);
    flow_key_make(&key, 0, 4, 6, a, 40000, b, 80, &lo);
    struct flow *f = flow_table_find(&e->flows, &key);
    CHECK(f != NULL);
    if (f) {
        CHECK_EQ_U(f->packets[0], 2); /* client (the SYN sender) to server */
        CHECK_EQ_U(f->packets[1], 1);
        CHECK_EQ_U(f->tcp_flags[0], 0x12);
        CHECK_EQ_U(f->tcp_flags[1], 0x12);
        CHECK(f->hosts[0] == find_host(e, "192.168.1.10"));
    }
    struct host *client = find_host(e, "192.168.1.10"), *server = find_host(e, "198.51.100.1");
    CHECK(client && server);
    if (client && server) {
        CHECK(client->local);
        CHECK(!server->local);
        CHECK_EQ_U(client->packets_sent, 2);
        CHECK_EQ_U(client->packets_rcvd, 1);
        CHECK_EQ_U(server->flows_active, 1);
    }
    engine_destroy(e);
    CHECK_EQ_U(ended.count, 1);
}

TEST(engine_syn_ack_first_makes_the_sender_the_server)
{
    struct ended ended = {0};
    struct engine *e = make_engine(100, 100, &ended);
    if (!e)
        return;
    send_tcp(e, T0, "203.0.113.5", 443, "10.0.0.2", 51000, 0x12);
    struct host *server = find_host(e, "203.0.113.5");
    CHECK(server != NULL);
    CHECK(server && server->flows_active == 1);
    struct flow_key key;
    bool lo;
    uint8_t a[16] = {0}, b[16] = {0};
    inet_pton(AF_INET, "203.0.113.5", a);
    inet_pton(AF_INET, "10.0.0.2", b);
    flow_key_make(&key, 0, 4, 6, a, 443, b, 51000, &lo);
    struct flow *f = flow_table_find(&e->flows, &key);
    CHECK(f && f->hosts[1] == server && f->packets[1] == 1 && f->packets[0] == 0);
    engine_destroy(e);
}

TEST(engine_flow_and_host_caps_refuse_and_count)
{
    struct ended ended = {0};
    struct engine *e = make_engine(2, 3, &ended);
    if (!e)
        return;
    uint8_t q[64];
    size_t n = dns_query(q);
    send_udp(e, T0, "10.0.0.1", 1001, "10.0.0.9", 53, q, n);
    send_udp(e, T0, "10.0.0.2", 1002, "10.0.0.9", 53, q, n);
    send_udp(e, T0, "10.0.0.3", 1003, "10.0.0.9", 53, q, n); /* third flow: refused */
    CHECK_EQ_U(e->flows.count, 2);
    CHECK_EQ_U(e->flows.refused, 1);
    CHECK_EQ_U(e->totals.unaccounted, 1);
    CHECK_EQ_U(e->hosts.count, 3);
    /* A flow still counts when a host is refused; the missing host is just not kept. */
    send_udp(e, T0, "10.0.0.1", 1001, "10.0.0.9", 53, q, n);
    CHECK_EQ_U(e->flows.count, 2);
    engine_destroy(e);
    e = make_engine(10, 3, &ended);
    if (!e)
        return;
    send_udp(e, T0, "10.0.0.1", 1001, "10.0.0.9", 53, q, n);
    send_udp(e, T0, "10.0.0.2", 1002, "10.0.0.9", 53, q, n);
    send_udp(e, T0, "10.0.0.3", 1003, "10.0.0.9", 53, q, n);
    CHECK_EQ_U(e->flows.count, 3);
    CHECK_EQ_U(e->hosts.count, 3);
    CHECK_EQ_U(e->hosts.refused, 1);
    engine_destroy(e);
}

TEST(engine_idle_purge_by_protocol_and_hosts_later)
{
    struct ended ended = {0};
    struct engine *e = make_engine(100, 100, &ended);
    if (!e)
        return;
    uint8_t q[64];
    size_t n = dns_query(q);
    send_udp(e, T0, "10.0.0.1", 1001, "192.0.2.53", 53, q, n);
    send_tcp(e, T0, "10.0.0.1", 2000, "192.0.2.80", 80, 0x02);
    send_tcp(e, T0, "10.0.0.1", 2001, "192.0.2.80", 80, 0x04); /* reset: closed class */
    CHECK_EQ_U(e->flows.count, 3);
    engine_advance(e, T0 + S(11)); /* closed TCP (10 s) goes first */
    CHECK_EQ_U(e->flows.count, 2);
    CHECK_EQ_U(ended.count, 1);
    engine_advance(e, T0 + S(61)); /* then UDP (60 s) */
    CHECK_EQ_U(e->flows.count, 1);
    engine_advance(e, T0 + S(299));
    CHECK_EQ_U(e->flows.count, 1);
    engine_advance(e, T0 + S(301)); /* then TCP (300 s) */
    CHECK_EQ_U(e->flows.count, 0);
    CHECK_EQ_U(e->flows_expired, 3);
    CHECK(find_host(e, "10.0.0.1") != NULL); /* hosts outlive their flows for a while */
    engine_advance(e, T0 + S(700));
    CHECK(find_host(e, "10.0.0.1") == NULL);
    CHECK_EQ_U(e->hosts.count, 0);
    engine_destroy(e);
}

TEST(engine_detects_dns_and_feeds_l7_stats)
{
    struct ended ended = {0};
    struct engine *e = make_engine(100, 100, &ended);
    if (!e)
        return;
    uint8_t q[64];
    size_t n = dns_query(q);
    send_udp(e, T0, "192.168.1.20", 40001, "192.0.2.53", 53, q, n);
    q[2] = 0x81; /* the response: QR set */
    q[3] = 0x80;
    send_udp(e, T0 + 500, "192.0.2.53", 53, "192.168.1.20", 40001, q, n);
    engine_expire_all(e);
    CHECK_EQ_U(ended.count, 1);
    if (strcmp(ended.last_l7, "DNS") != 0)
        fprintf(stderr, "  got l7 %s\n", ended.last_l7);
    CHECK(strcmp(ended.last_l7, "DNS") == 0);
    int dns = l7_protocol_id(e->l7, "DNS");
    CHECK(dns > 0);
    if (dns > 0) {
        CHECK_EQ_U(e->l7_stats[dns].flows, 1);
        CHECK_EQ_U(e->l7_stats[dns].packets, 2);
    }
    struct host *h = find_host(e, "192.168.1.20");
    CHECK(h && h->local && h->l7 && h->l7_used == 1 && h->l7[0].proto == dns);
    if (h && h->l7) { /* counted once, whether before or after detection settled */
        CHECK_EQ_U(h->l7[0].packets, 2);
        CHECK_EQ_U(h->l7[0].flows, 1);
        CHECK_EQ_U(h->packets_sent, 1);
        CHECK_EQ_U(h->packets_rcvd, 1);
    }
    CHECK(l7_memory_in_use() > 0); /* the module itself */
    engine_destroy(e);
}

TEST(engine_counts_malformed_by_reason)
{
    struct ended ended = {0};
    struct engine *e = make_engine(100, 100, &ended);
    if (!e)
        return;
    static const uint8_t runt[10] = {0};
    engine_process_packet(e, 0, DLT_EN10MB, T0, runt, sizeof runt, sizeof runt);
    struct pb p;
    pb_init(&p);
    pb_ethernet(&p, 0x0806);
    pb_bytes(&p, "\0\1\x08\0\6\4\0\1", 8);
    engine_process_packet(e, 0, DLT_EN10MB, T0, p.buf, (uint32_t)p.len, (uint32_t)p.len);
    CHECK_EQ_U(e->totals.packets, 2);
    CHECK_EQ_U(e->totals.malformed, 1);
    CHECK_EQ_U(e->totals.malformed_by_reason[DECODE_TRUNC_LINK], 1);
    CHECK_EQ_U(e->totals.not_ip, 1);
    CHECK_EQ_U(e->sources[0].counters.malformed, 1);
    CHECK_EQ_U(e->flows.count, 0);
    engine_destroy(e);
}

TEST(engine_rates_and_reconfigure_locality)
{
    struct ended ended = {0};
    struct engine *e = make_engine(100, 100, &ended);
    if (!e)
        return;
    uint8_t q[64];
    size_t n = dns_query(q);
    for (int i = 0; i < 10; i++)
        send_udp(e, T0 + (uint64_t)i * 100000, "10.0.0.1", 1001, "192.0.2.53", 53, q, n);
    engine_advance(e, T0 + S(1));
    CHECK(e->totals.packets_per_s > 9.0 && e->totals.packets_per_s < 11.0);
    CHECK(!find_host(e, "192.0.2.53")->local);
    struct engine_config c = e->config;
    char err[128];
    CHECK(netlist_parse(&c.local_networks, "192.0.2.0/24", err, sizeof err) == 0);
    engine_reconfigure(e, &c);
    CHECK(find_host(e, "192.0.2.53")->local);
    CHECK(!find_host(e, "10.0.0.1")->local);
    CHECK_EQ_U(e->config.max_flows, 100); /* caps do not change at run time */
    engine_destroy(e);
}

TEST(netlist_parses_and_matches)
{
    struct netlist l;
    char err[128];
    CHECK(netlist_parse(&l, "10.0.0.0/8, 192.168.1.7,2001:db8::/32", err, sizeof err) == 0);
    CHECK_EQ_U(l.count, 3);
    uint8_t a[16] = {0};
    inet_pton(AF_INET, "10.200.3.4", a);
    CHECK(netlist_contains(&l, 4, a));
    inet_pton(AF_INET, "11.0.0.1", a);
    CHECK(!netlist_contains(&l, 4, a));
    inet_pton(AF_INET, "192.168.1.7", a);
    CHECK(netlist_contains(&l, 4, a));
    inet_pton(AF_INET6, "2001:db8:ffff::1", a);
    CHECK(netlist_contains(&l, 6, a));
    char text[256];
    netlist_format(&l, text, sizeof text);
    CHECK(strcmp(text, "10.0.0.0/8,192.168.1.7/32,2001:db8::/32") == 0);
    CHECK(netlist_parse(&l, "10.0.0.0/33", err, sizeof err) < 0 && strstr(err, "prefix"));
    CHECK(netlist_parse(&l, "banana", err, sizeof err) < 0 && strstr(err, "banana"));
    CHECK_EQ_U(l.count, 3); /* a failed parse leaves the list as it was */
}

TEST(engine_dpi_cap_settles_the_oldest_detection)
{
    struct ended ended = {0};
    struct engine_config c;
    char err[256];
    engine_config_defaults(&c);
    c.max_dpi_flows = 2;
    size_t base = l7_memory_in_use(); /* what other live engines hold (none) */
    struct engine *e = engine_create(&c, err, sizeof err);
    CHECK(e != NULL);
    if (!e)
        return;
    engine_add_source(e, "t", "file");
    e->on_flow_end = count_end;
    e->on_flow_end_ctx = &ended;
    static const uint8_t junk[] = "no protocol here";
    send_udp(e, T0, "10.0.0.1", 40001, "192.0.2.1", 40002, junk, sizeof junk);
    send_udp(e, T0 + 1, "10.0.0.1", 40003, "192.0.2.1", 40004, junk, sizeof junk);
    CHECK_EQ_U(e->dpi_count, 2);
    send_udp(e, T0 + 2, "10.0.0.1", 40005, "192.0.2.1", 40006, junk, sizeof junk);
    CHECK_EQ_U(e->dpi_count, 2);
    CHECK_EQ_U(e->dpi_evicted, 1);
    CHECK_EQ_U(e->flows.count, 3); /* the flow stays; only its detection ended */
    size_t before = l7_memory_in_use();
    engine_expire_all(e);
    CHECK_EQ_U(e->dpi_count, 0);
    /* the detection states went back to the cache of free states (still counted as held) */
    CHECK(l7_memory_in_use() <= before);
    CHECK_EQ_U(ended.count, 3);
    engine_destroy(e);
    CHECK_EQ_U(l7_memory_in_use(), base); /* and the cache goes with the module */
}


static int engine_l7_id(void *ctx, const char *name)
{
    return l7_protocol_id(((struct engine *)ctx)->l7, name);
}

TEST(engine_policy_verdicts_are_decided_once_per_flow)
{
    struct ended ended = {0};
    struct engine *e = make_engine(100, 100, &ended);
    if (!e)
        return;
    struct policy_set *ps = policy_set_create();
    char err[200];
    CHECK(policy_set_add(ps, "guests drop host=10.9.0.0/16", engine_l7_id, e, err, sizeof err) == 0);
    CHECK(policy_set_add(ps, "no-dns drop proto=DNS", engine_l7_id, e, err, sizeof err) == 0);
    engine_set_policy(e, ps);

    /* A host rule (before any protocol rule) decides at the first packet. */
    CHECK(!frame_udp(e, 1, T0, "10.9.1.1", 5000, "192.0.2.1", 9999, "x", 1));
    CHECK(!frame_udp(e, 0, T0 + 10, "192.0.2.1", 9999, "10.9.1.1", 5000, "y", 1));
    CHECK_EQ_U(policy_rule_stats(ps, 0)->flows, 1);
    CHECK_EQ_U(policy_rule_stats(ps, 0)->packets, 2);

    /* A protocol rule waits for detection: the query passes, the flow is dropped once DNS is
     * final, whatever comes later. */
    uint8_t q[64];
    size_t n = dns_query(q);
    CHECK(frame_udp(e, 0, T0 + 100, "192.168.1.20", 40001, "192.0.2.53", 53, q, n));
    q[2] = 0x81;
    q[3] = 0x80;
    for (int i = 0; i < 8; i++)
        frame_udp(e, 1, T0 + 200 + (uint64_t)i, "192.0.2.53", 53, "192.168.1.20", 40001, q, n);
    CHECK(!frame_udp(e, 0, T0 + 300, "192.168.1.20", 40001, "192.0.2.53", 53, q, n));
    CHECK_EQ_U(policy_rule_stats(ps, 1)->flows, 1);
    CHECK_EQ_U(e->policy_flows_dropped, 2);

    /* Other traffic passes while the protocol rule before the default cannot tell yet; the
     * client side is the port it came from. */
    CHECK(frame_udp(e, 1, T0 + 400, "192.168.1.30", 6000, "192.0.2.9", 7000, "z", 1));
    struct flow_key key;
    uint8_t a[16] = {0}, b[16] = {0};
    bool lo;
    inet_pton(AF_INET, "192.168.1.30", a);
    inet_pton(AF_INET, "192.0.2.9", b);
    flow_key_make(&key, 0, 4, 17, a, 6000, b, 7000, &lo);
    struct flow *f = flow_table_find(&e->flows, &key);
    CHECK(f && f->client_port == 1 && f->verdict == POLICY_PENDING);

    /* A reload with the same host rule: its counters carry over and the open flow, decided
     * again, is not counted twice; a new rule counts what it decides. */
    struct policy_set *ps2 = policy_set_create();
    CHECK(policy_set_add(ps2, "guests drop host=10.9.0.0/16", engine_l7_id, e, err, sizeof err) == 0);
    policy_set_carry_counters(ps2, ps);
    engine_set_policy(e, ps2);
    CHECK(!frame_udp(e, 1, T0 + 450, "10.9.1.1", 5000, "192.0.2.1", 9999, "x", 1));
    CHECK_EQ_U(policy_rule_stats(ps2, 0)->flows, 1);
    CHECK_EQ_U(policy_rule_stats(ps2, 0)->packets, 3);

    /* Without the policy everything passes again. */
    engine_set_policy(e, NULL);
    CHECK(frame_udp(e, 1, T0 + 500, "10.9.1.1", 5000, "192.0.2.1", 9999, "x", 1));
    engine_destroy(e);
    policy_set_destroy(ps);
    policy_set_destroy(ps2);
}

/* ---- a run of frames (engine_process_frames) gives what frame by frame gives ---- */

struct flow_digest {
    char text[256];
};

struct digests {
    struct flow_digest *d;
    size_t n, cap;
};

static void digest_end(void *ctx, const struct engine *e, const struct flow *f)
{
    struct digests *x = ctx;
    if (x->n == x->cap) {
        x->cap = x->cap ? 2 * x->cap : 1024;
        x->d = realloc(x->d, x->cap * sizeof *x->d);
    }
    char l7[64];
    l7_result_name(e->l7, &f->l7, l7, sizeof l7);
    snprintf(x->d[x->n++].text, sizeof x->d[0].text,
             "%02x%02x%02x%02x%02x%02x:%u-%u/%u v%u %llu/%llu %llu/%llu %x/%x %llu-%llu %s",
             f->key.addr_lo[0], f->key.addr_lo[3], f->key.addr_lo[15], f->key.addr_hi[0],
             f->key.addr_hi[3], f->key.addr_hi[15], f->key.port_lo, f->key.port_hi,
             f->key.l4_proto, f->key.vlan, (unsigned long long)f->packets[0],
             (unsigned long long)f->packets[1], (unsigned long long)f->bytes[0],
             (unsigned long long)f->bytes[1], f->tcp_flags[0], f->tcp_flags[1],
             (unsigned long long)f->first_us, (unsigned long long)f->last_us, l7);
}

static int digest_cmp(const void *a, const void *b)
{
    return strcmp(((const struct flow_digest *)a)->text, ((const struct flow_digest *)b)->text);
}

struct loaded {
    struct engine_frame *frames;
    unsigned char *bytes;
    size_t n, used;
    int linktype;
};

static void load_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *data)
{
    struct loaded *l = (struct loaded *)user;
    l->frames[l->n] = (struct engine_frame){(uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec,
                                            (const uint8_t *)(uintptr_t)l->used, h->caplen, h->len,
                                            NULL};
    memcpy(l->bytes + l->used, data, h->caplen);
    l->used += h->caplen;
    l->n++;
}

/* Both engines see every frame of a capture; their flows and counters must be the same. */
/* Hosts and the counters caps and eviction move, as text (hosts in table order: same keys and
 * seed give the same order). */
static void engine_digest(struct engine *e, struct digests *out)
{
    engine_sync(e);
    for (uint32_t b = 0; b <= e->hosts.bucket_mask; b++)
        for (const struct host *h = e->hosts.buckets[b]; h; h = h->hash_next) {
            if (out->n == out->cap) {
                out->cap = out->cap ? 2 * out->cap : 1024;
                out->d = realloc(out->d, out->cap * sizeof *out->d);
            }
            snprintf(out->d[out->n++].text, sizeof out->d[0].text,
                     "host %02x%02x%02x%02x v%u %llu/%llu %llu/%llu flows %llu/%u", h->key.addr[0],
                     h->key.addr[1], h->key.addr[2], h->key.addr[3], h->key.vlan,
                     (unsigned long long)h->packets_sent, (unsigned long long)h->packets_rcvd,
                     (unsigned long long)h->bytes_sent, (unsigned long long)h->bytes_rcvd,
                     (unsigned long long)h->flows_total, h->flows_active);
        }
    if (out->n == out->cap) {
        out->cap = out->cap ? 2 * out->cap : 1024;
        out->d = realloc(out->d, out->cap * sizeof *out->d);
    }
    snprintf(out->d[out->n++].text, sizeof out->d[0].text,
             "counters ip %llu malformed %llu unaccounted %llu flows refused %llu hosts refused "
             "%llu dpi evicted %llu expired %llu",
             (unsigned long long)e->totals.ip_packets, (unsigned long long)e->totals.malformed,
             (unsigned long long)e->totals.unaccounted, (unsigned long long)e->flows.refused,
             (unsigned long long)e->hosts.refused, (unsigned long long)e->dpi_evicted,
             (unsigned long long)e->flows_expired);
}

/* tight: tiny caps, a 2-entry detection cap and short idle timeouts, so that refusals,
 * evictions and expiry happen in the middle of runs. */
static bool runs_match_single_frames(const char *path, bool tight)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(path, err);
    CHECK(p != NULL);
    if (!p)
        return false;
    struct loaded l = {.linktype = pcap_datalink(p)};
    l.frames = malloc(200000 * sizeof *l.frames);
    l.bytes = malloc(64u << 20);
    /* stop before either buffer could overflow */
    struct pcap_pkthdr *h;
    const u_char *data;
    while (l.n < 200000 && pcap_next_ex(p, &h, &data) == 1 && l.used + h->caplen <= (64u << 20))
        load_packet((u_char *)&l, h, data);
    pcap_close(p);
    for (size_t i = 0; i < l.n; i++)
        l.frames[i].data = l.bytes + (uintptr_t)l.frames[i].data;

    /* way 0: frame by frame; 1: runs decoded on the way; 2: runs prepared beforehand (as the
     * file reader's worker does) */
    struct digests got[3] = {{0}}, state[3] = {{0}};
    struct engine_frame *prepared_frames = malloc(l.n * sizeof *prepared_frames);
    struct engine_prepared *prep = malloc(l.n * sizeof *prep);
    for (int way = 0; way < 3; way++) {
        struct engine_config c;
        engine_config_defaults(&c);
        if (tight) {
            c.max_flows = 12;
            c.max_hosts = 32;
            c.max_dpi_flows = 2;
            for (int k = 0; k < FLOW_TIMEOUT_CLASSES; k++)
                c.idle_timeout_us[k] = 2000000;
            c.host_idle_timeout_us = 5000000;
        }
        struct engine *e = engine_create(&c, err, sizeof err);
        CHECK(e != NULL);
        if (!e)
            break;
        engine_add_source(e, "test", "file");
        /* one seed for all three ways, so that host tables walk in the same order */
        e->flows.hash_seed = 0x5eed5eed5eedull;
        e->hosts.hash_seed = 0x05eed05eedull;
        e->on_flow_end = digest_end;
        e->on_flow_end_ctx = &got[way];
        for (size_t i = 0, run = 1; i < l.n; i += run, run = run % 37 + 1) {
            size_t m = l.n - i < run ? l.n - i : run;
            if (way == 0) {
                for (size_t k = 0; k < m; k++)
                    engine_process_packet(e, 0, l.linktype, l.frames[i + k].ts_us,
                                          l.frames[i + k].data, l.frames[i + k].caplen,
                                          l.frames[i + k].wirelen);
            } else if (way == 1) {
                engine_process_frames(e, 0, l.linktype, &l.frames[i], m);
            } else {
                for (size_t k = i; k < i + m; k++) {
                    engine_prepare_frame(engine_flow_seed(e), l.linktype, l.frames[k].data,
                                         l.frames[k].caplen, l.frames[k].wirelen, &prep[k]);
                    prepared_frames[k] = l.frames[k];
                    prepared_frames[k].prepared = &prep[k];
                }
                engine_process_frames(e, 0, l.linktype, &prepared_frames[i], m);
            }
        }
        engine_digest(e, &state[way]);
        engine_destroy(e);
        if (got[way].n)
            qsort(got[way].d, got[way].n, sizeof *got[way].d, digest_cmp);
    }
    bool same = true;
    for (int way = 1; way < 3; way++) {
        bool ok = got[0].n == got[way].n && state[0].n == state[way].n;
        for (size_t i = 0; ok && i < got[0].n; i++)
            ok = strcmp(got[0].d[i].text, got[way].d[i].text) == 0;
        for (size_t i = 0; ok && i < state[0].n; i++)
            ok = strcmp(state[0].d[i].text, state[way].d[i].text) == 0;
        if (!ok)
            fprintf(stderr, "  %s: way %d: %zu vs %zu flows differ\n", path, way, got[0].n,
                    got[way].n);
        same = same && ok;
    }
    for (int way = 0; way < 3; way++) {
        free(got[way].d);
        free(state[way].d);
    }
    free(prepared_frames);
    free(prep);
    free(l.frames);
    free(l.bytes);
    return same;
}

TEST(engine_runs_of_frames_match_frame_by_frame)
{
    const char *dir = test_pcap_dir();
    if (!dir) {
        test_skip("../shared/pcaps not present");
        return;
    }
    /* Captures with many flows, tunnels, fragments and damage. */
    const char *names[] = {"skype.pcap",       "1kxun.pcap",     "quic.pcap",
                           "ipv6_in_gtp.pcap", "capwap.pcap",    "ip_fragmented_garbage.pcap",
                           "fuzz-2021-10-13.pcap", "http_ipv6.pcap", "dns_fragmented.pcap"};
    int compared = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (access(path, R_OK) != 0)
            continue;
        CHECK(runs_match_single_frames(path, false));
        CHECK(runs_match_single_frames(path, true));
        compared++;
    }
    CHECK_EQ_U(compared, sizeof names / sizeof names[0]);
}

/* Bare ACKs are not fed to nDPI, but the give-up point still holds: a flow that only
 * acknowledges (one direction of a transfer seen) settles at its packet limit. */
TEST(engine_bare_acks_still_reach_the_give_up_point)
{
    struct ended ended = {0};
    struct engine *e = make_engine(1000, 1000, &ended);
    if (!e)
        return;
    send_tcp(e, T0, "10.0.0.1", 40000, "192.0.2.1", 443, 0x02 /* SYN */);
    send_tcp(e, T0 + 1, "192.0.2.1", 443, "10.0.0.1", 40000, 0x12 /* SYN ACK */);
    for (int i = 0; i < 30; i++)
        send_tcp(e, T0 + 2 + (uint64_t)i, "10.0.0.1", 40000, "192.0.2.1", 443, 0x10 /* ACK */);
    CHECK_EQ_U(e->dpi_count, 1); /* 32 packets: still within the limit */
    for (int i = 0; i < 3; i++)
        send_tcp(e, T0 + 40 + (uint64_t)i, "10.0.0.1", 40000, "192.0.2.1", 443, 0x10 /* ACK */);
    CHECK_EQ_U(e->dpi_count, 0); /* past it: settled (a guess by port) and the state freed */
    CHECK_EQ_U(e->flows.count, 1);
    engine_destroy(e);
    CHECK_EQ_U(ended.count, 1);
}
