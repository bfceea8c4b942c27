#include "flow/engine.h"
#include "core/clock.h"

#include "policy/policy.h"
#include "flow/flow_lookup.h"

#include <stdint.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define HOST_PURGE_PERIOD_US (60 * US_PER_S) /* the design's minute timer */

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

void engine_config_defaults(struct engine_config *c)
{
    memset(c, 0, sizeof *c);
    c->max_flows = 131072;
    c->max_hosts = 65536;
    c->max_dpi_flows = 16384;
    c->max_strings = 131072;
    c->max_names = 16384;
    c->oui_file = OUI_DEFAULT_FILE;
    c->max_string_bytes = 16u << 20;
    c->dpi_extra_packets = 5; /* enough for the certificate and the HTTP response: risks */
    char err[128];
    netlist_parse(&c->local_networks, "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7", err,
                  sizeof err);
    c->idle_timeout_us[FLOW_TIMEOUT_TCP] = 300 * US_PER_S;
    c->idle_timeout_us[FLOW_TIMEOUT_TCP_CLOSED] = 10 * US_PER_S;
    c->idle_timeout_us[FLOW_TIMEOUT_UDP] = 60 * US_PER_S;
    c->idle_timeout_us[FLOW_TIMEOUT_OTHER] = 60 * US_PER_S;
    c->host_idle_timeout_us = 300 * US_PER_S;
}

const char *source_state_name(enum source_state s)
{
    static const char *const names[] = {"starting", "up", "waiting", "done", "failed"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

struct engine *engine_create(const struct engine_config *config, char *err, size_t errsize)
{
    struct engine *e = calloc(1, sizeof *e);
    snprintf(err, errsize, "out of memory");
    if (!e)
        return NULL;
    e->config = *config;
    if (flow_table_init(&e->flows, config->max_flows) < 0 ||
        host_table_init(&e->hosts, config->max_hosts) < 0 ||
        string_pool_init(&e->strings, (uint32_t)config->max_strings, config->max_string_bytes) < 0 ||
        name_table_init(&e->names, config->max_names) < 0)
        goto fail;
    /* Vendors are a nicety: without the file, devices just have none. */
    if (config->oui_file && config->oui_file[0])
        oui_load(&e->oui, config->oui_file);
    e->l7 = l7_module_create(&config->ndpi_files, err, errsize);
    if (!e->l7)
        goto fail;
    e->l7_stats_size = l7_protocol_count(e->l7);
    e->l7_stats = calloc(e->l7_stats_size, sizeof *e->l7_stats);
    if (!e->l7_stats)
        goto fail;
    return e;
fail:
    flow_table_fini(&e->flows);
    host_table_fini(&e->hosts);
    string_pool_fini(&e->strings);
    name_table_fini(&e->names);
    l7_module_destroy(e->l7);
    free(e);
    return NULL;
}

void engine_destroy(struct engine *e)
{
    if (!e)
        return;
    engine_expire_all(e);
    flow_table_fini(&e->flows);
    host_table_fini(&e->hosts);
    string_pool_fini(&e->strings);
    name_table_fini(&e->names);
    oui_free(&e->oui);
    l7_module_destroy(e->l7);
    free(e->l7_stats);
    free(e);
}

void engine_reconfigure(struct engine *e, const struct engine_config *config)
{
    /* Caps size tables and are fixed for the life of the process. */
    size_t max_flows = e->config.max_flows, max_hosts = e->config.max_hosts,
           max_dpi_flows = e->config.max_dpi_flows, max_names = e->config.max_names,
           max_strings = e->config.max_strings, max_string_bytes = e->config.max_string_bytes;
    e->config = *config;
    e->config.max_names = max_names;
    e->config.max_strings = max_strings;
    e->config.max_string_bytes = max_string_bytes;
    /* read at start only; the strings may not outlive us */
    memset(&e->config.ndpi_files, 0, sizeof e->config.ndpi_files);
    e->config.max_flows = max_flows;
    e->config.max_hosts = max_hosts;
    e->config.max_dpi_flows = max_dpi_flows;
    for (uint32_t i = 0; i <= e->hosts.bucket_mask; i++)
        for (struct host *h = e->hosts.buckets[i]; h; h = h->hash_next)
            h->local = netlist_contains(&e->config.local_networks, h->key.ip_version, h->key.addr);
}

int engine_add_source(struct engine *e, const char *name, const char *kind)
{
    if (e->source_count == ENGINE_MAX_SOURCES) {
        e->sources_refused++;
        return -1;
    }
    struct source_info *s = &e->sources[e->source_count];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->kind, sizeof s->kind, "%s", kind);
    s->linktype = -1;
    s->state = SOURCE_STARTING;
    return (int)e->source_count++;
}

static struct source_info *source_of(struct engine *e, unsigned id)
{
    return id < e->source_count ? &e->sources[id] : NULL;
}

void engine_source_set_name(struct engine *e, unsigned id, const char *name)
{
    struct source_info *s = source_of(e, id);
    if (s)
        snprintf(s->name, sizeof s->name, "%s", name);
}

void engine_source_set_linktype(struct engine *e, unsigned id, int linktype)
{
    struct source_info *s = source_of(e, id);
    if (s)
        s->linktype = linktype;
}

void engine_source_set_state(struct engine *e, unsigned id, enum source_state state,
                             const char *error)
{
    struct source_info *s = source_of(e, id);
    if (!s)
        return;
    s->state = state;
    if (error)
        snprintf(s->last_error, sizeof s->last_error, "%s", error);
}

void engine_source_set_drops(struct engine *e, unsigned id, uint64_t capture_drops,
                             uint64_t interface_drops)
{
    struct source_info *s = source_of(e, id);
    if (!s)
        return;
    s->capture_drops = capture_drops;
    s->interface_drops = interface_drops;
}

unsigned engine_source_count(const struct engine *e) { return e->source_count; }

const struct source_info *engine_source(const struct engine *e, unsigned id)
{
    return id < e->source_count ? &e->sources[id] : NULL;
}

int engine_source_find(const struct engine *e, const char *name)
{
    for (unsigned i = 0; i < e->source_count; i++)
        if (strcmp(e->sources[i].name, name) == 0)
            return (int)i;
    return -1;
}

void engine_snapshot(const struct engine *e, struct engine_snapshot *out)
{
    memset(out, 0, sizeof *out);
    out->totals = e->totals;
    out->caps[ENGINE_CAP_FLOWS] = (struct engine_cap){"flows", e->flows.count, e->flows.cap,
                                                      e->flows.refused};
    out->caps[ENGINE_CAP_HOSTS] = (struct engine_cap){"hosts", e->hosts.count, e->hosts.cap,
                                                      e->hosts.refused};
    out->caps[ENGINE_CAP_SOURCES] = (struct engine_cap){"sources", e->source_count,
                                                        ENGINE_MAX_SOURCES, e->sources_refused};
    out->caps[ENGINE_CAP_DPI_FLOWS] = (struct engine_cap){"dpi_flows", e->dpi_count,
                                                          e->config.max_dpi_flows, e->dpi_evicted};
    out->caps[ENGINE_CAP_STRINGS] = (struct engine_cap){"strings", e->strings.count,
                                                        e->strings.cap, e->strings.refused};
    struct name_table_stats names = name_table_stats(&e->names);
    out->caps[ENGINE_CAP_NAMES] = (struct engine_cap){"names", names.count, names.cap,
                                                      names.refused};
    out->flows_active = e->flows.count;
    out->flows_created = e->flows.created;
    out->flows_expired = e->flows_expired;
    out->dpi_state_failures = e->dpi_state_failures;
    out->dpi_packets = e->dpi_packets;
    out->hosts_active = e->hosts.count;
    out->hosts_created = e->hosts.created;
    out->hosts_purged = e->hosts_purged;
    out->memory.flows = flow_table_memory(&e->flows);
    out->memory.hosts = host_table_memory(&e->hosts);
    out->memory.ndpi = l7_memory_in_use();
    out->memory.strings = string_pool_memory(&e->strings);
    out->memory.names = names.memory_bytes;
    out->memory.total = engine_memory(e);
    out->memory.peak = e->memory_peak;
}

const struct traffic_counters *engine_totals(const struct engine *e) { return &e->totals; }

const struct l7_module *engine_l7(const struct engine *e) { return e->l7; }

const struct name_entry *engine_host_name(const struct engine *e, const struct host *h)
{
    return name_table_lookup(&e->names, &h->key, e->now_us);
}

const char *engine_mac_vendor(const struct engine *e, const uint8_t mac[6])
{
    return oui_vendor(&e->oui, mac);
}

const char *engine_text(const struct engine *e, uint32_t id)
{
    return string_pool_text(&e->strings, id);
}

const struct l7_counter *engine_l7_counters(const struct engine *e, uint16_t *size)
{
    *size = e->l7_stats_size;
    return e->l7_stats;
}

void engine_set_flow_end(struct engine *e, engine_flow_end_fn fn, void *ctx)
{
    e->on_flow_end = fn;
    e->on_flow_end_ctx = ctx;
}

void engine_set_host_end(struct engine *e, engine_host_end_fn fn, void *ctx)
{
    e->on_host_end = fn;
    e->on_host_end_ctx = ctx;
}

static void host_record(const struct engine *e, const struct host *h,
                        struct engine_host_record *out)
{
    *out = (struct engine_host_record){
        .key = h->key, .local = h->local, .first_us = h->first_us, .last_us = h->last_us,
        .packets_sent = h->packets_sent, .packets_rcvd = h->packets_rcvd,
        .bytes_sent = h->bytes_sent, .bytes_rcvd = h->bytes_rcvd, .flows_total = h->flows_total,
        .has_mac = h->has_mac, .mac_changes = h->mac_changes, .mac_first_us = h->mac_first_us,
        .mac_last_us = h->mac_last_us};
    memcpy(out->mac, h->mac, sizeof out->mac);
    const struct name_entry *n = name_table_lookup(&e->names, &h->key, e->now_us);
    if (n) {
        memcpy(out->name, n->name, sizeof out->name);
        out->name_source = n->source;
        out->name_expires_us = n->expires_us;
    }
}

static void host_purged(void *ctx, const struct host *h)
{
    struct engine *e = ctx;
    if (!h->changed || !e->on_host_end)
        return;
    struct engine_host_record r;
    host_record(e, h, &r);
    e->on_host_end(e->on_host_end_ctx, &r);
}

uint16_t engine_l7_stat_id(const struct l7_result *r) { return r->app ? r->app : r->master; }

static void dpi_unlink(struct engine *e, struct flow *f)
{
    if (f->dpi_prev)
        f->dpi_prev->dpi_next = f->dpi_next;
    else
        e->dpi_head = f->dpi_next;
    if (f->dpi_next)
        f->dpi_next->dpi_prev = f->dpi_prev;
    else
        e->dpi_tail = f->dpi_prev;
    f->dpi_prev = f->dpi_next = NULL;
}

static void dpi_append(struct engine *e, struct flow *f)
{
    f->dpi_next = NULL;
    f->dpi_prev = e->dpi_tail;
    if (e->dpi_tail)
        e->dpi_tail->dpi_next = f;
    else
        e->dpi_head = f;
    e->dpi_tail = f;
}

static void engine_add_l7_global(struct engine *e, const struct flow *f, uint32_t flows,
                                 uint64_t packets, uint64_t bytes)
{
    uint16_t id = engine_l7_stat_id(&f->l7);
    if (id < e->l7_stats_size) {
        e->l7_stats[id].flows += flows;
        e->l7_stats[id].packets += packets;
        e->l7_stats[id].bytes += bytes;
    }
}

static void engine_add_l7_hosts(struct engine *e, const struct flow *f, uint32_t flows,
                                uint64_t packets, uint64_t bytes)
{
    uint16_t id = engine_l7_stat_id(&f->l7);
    for (int i = 0; i < 2; i++)
        if (f->hosts[i])
            host_add_l7(&e->hosts, f->hosts[i], id, flows, packets, bytes);
}

/* Detection is over: keep only the answer and account the flow's traffic so far to it. The
 * hosts get what they have already been given (the pending part comes with engine_sync). */
/* Bounds of the texts kept per flow (a URL path or a user agent can be kilobytes). */
#define INFO_NAME_MAX 255
#define INFO_DN_MAX 160
#define INFO_TEXT_MAX 200

static uint32_t keep_text(struct engine *e, const char *text, size_t max)
{
    return text && *text ? string_pool_intern(&e->strings, text, strnlen(text, 4096), max) : 0;
}

/* Copy what detection found into the flow before its state goes. Called once per flow. */
static void engine_keep_details(struct engine *e, struct flow *f)
{
    struct l7_details d;
    l7_flow_details(f->dpi, &f->l7, &d);
    struct flow_info *in = &f->info;
    in->host_name = keep_text(e, d.host_name, INFO_NAME_MAX);
    in->ja3c = keep_text(e, d.ja3c, 32);
    in->ja3s = keep_text(e, d.ja3s, 32);
    in->issuer = keep_text(e, d.issuer, INFO_DN_MAX);
    in->subject = keep_text(e, d.subject, INFO_DN_MAX);
    in->url = keep_text(e, d.url, INFO_TEXT_MAX);
    in->user_agent = keep_text(e, d.user_agent, INFO_TEXT_MAX);
    in->not_before = d.not_before;
    in->not_after = d.not_after;
    in->http_status = d.http_status;
    in->dns_qtype = d.dns_qtype;
    in->dns_rcode = d.dns_rcode;
    in->dns_reply = d.dns_reply;
    in->risks = d.risks;
    in->risk_score = d.risk_score;
}

/* The names a flow tells about its ends: the server's from TLS SNI or HTTP Host, the client's
 * own from DHCP or NetBIOS. */
static void engine_learn_flow_names(struct engine *e, const struct flow *f)
{
    if (!f->info.host_name)
        return;
    uint16_t app = f->l7.app, master = f->l7.master;
    enum name_source source;
    unsigned client_source;
    int end; /* 0 client, 1 server */
    if (l7_names_server(app, master, true)) {
        source = NAME_SOURCE_TLS_SNI, end = 1;
    } else if (l7_names_server(app, master, false)) {
        source = NAME_SOURCE_HTTP_HOST, end = 1;
    } else if (l7_names_client(app, master, &client_source)) {
        source = (enum name_source)client_source;
        end = 0;
    } else {
        return;
    }
    const struct host *h = f->hosts[end];
    char name[DNS_NAME_TEXT_SIZE];
    const char *text = engine_text(e, f->info.host_name);
    static const uint8_t zero[16];
    if (!h || memcmp(h->key.addr, zero, 16) == 0 ||
        dns_name_from_text(text, strlen(text), name) < 0)
        return;
    /* an HTTP Host that is the address itself names nothing */
    char addr[INET6_ADDRSTRLEN];
    if (inet_ntop(h->key.ip_version == 4 ? AF_INET : AF_INET6, h->key.addr, addr, sizeof addr) &&
        strcmp(addr, name) == 0)
        return;
    name_table_learn(&e->names, &h->key, name, source, 0, e->now_us);
}

static void engine_drop_details(struct engine *e, struct flow *f)
{
    const uint32_t ids[] = {f->info.host_name, f->info.ja3c, f->info.ja3s, f->info.issuer,
                            f->info.subject, f->info.url, f->info.user_agent};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        string_pool_release(&e->strings, ids[i]);
}

static void engine_finish_dpi(struct engine *e, struct flow *f)
{
    if (f->dpi) {
        l7_flow_giveup(e->l7, f->dpi, &f->l7);
        engine_keep_details(e, f);
        engine_learn_flow_names(e, f);
        for (int i = 0; i < 2; i++)
            if (f->hosts[i])
                host_add_risks(&e->hosts, f->hosts[i], f->info.risks, f->info.risk_score);
        l7_flow_state_free(f->dpi);
        f->dpi = NULL;
        dpi_unlink(e, f);
        e->dpi_count--;
    }
    if (!f->l7_final) {
        f->l7_final = 1;
        uint64_t packets = f->packets[0] + f->packets[1], bytes = f->bytes[0] + f->bytes[1];
        engine_add_l7_global(e, f, 1, packets, bytes);
        engine_add_l7_hosts(e, f, 1, packets - f->pending_packets[0] - f->pending_packets[1],
                            bytes - f->pending_bytes[0] - f->pending_bytes[1]);
    }
}

static void engine_end_flow(struct engine *e, struct flow *f)
{
    engine_finish_dpi(e, f);
    if (e->on_flow_end)
        e->on_flow_end(e->on_flow_end_ctx, e, f);
    for (int i = 0; i < 2; i++)
        if (f->hosts[i] && f->hosts[i]->flows_active > 0)
            f->hosts[i]->flows_active--;
    e->flows_expired++;
    engine_drop_details(e, f);
    flow_table_free(&e->flows, f);
}

static struct host *engine_flow_host(struct engine *e, uint16_t vlan, uint8_t ip_version,
                                     const uint8_t addr[16], uint64_t ts_us)
{
    struct host_key key;
    bool created;
    host_key_make(&key, vlan, ip_version, addr);
    struct host *h = host_table_get(&e->hosts, &key, &created);
    if (!h)
        return NULL;
    if (created) {
        h->first_us = ts_us;
        h->local = netlist_contains(&e->config.local_networks, ip_version, addr);
    }
    h->flows_total++;
    h->flows_active++;
    h->changed = true;
    return h;
}

static void engine_new_flow(struct engine *e, struct flow *f, const struct decoded_packet *d,
                            bool src_is_lo, unsigned source, unsigned port, uint64_t ts_us)
{
    f->first_us = ts_us;
    f->source = (uint16_t)source;
    f->tunnel_depth = d->tunnel_depth;
    f->policy_rule = -1;
    f->policy_counted_rule = POLICY_RULE_NONE;
    /* The client is the first sender, unless we joined after the SYN and see the SYN+ACK. */
    bool server_first = d->l4_proto == 6 && (d->tcp_flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK);
    f->client_is_lo = (uint8_t)(server_first ? !src_is_lo : src_is_lo);
    f->client_port = (uint8_t)(port > 1 ? ENGINE_NO_PORT : server_first ? 1 - port : port);
    const uint8_t *client = server_first ? d->dst_addr : d->src_addr;
    const uint8_t *server = server_first ? d->src_addr : d->dst_addr;
    f->hosts[0] = engine_flow_host(e, d->vlan, d->ip_version, client, ts_us);
    f->hosts[1] = engine_flow_host(e, d->vlan, d->ip_version, server, ts_us);
    /* The sender's MAC is its own (or its router's, for a remote one: hosts keep it for
     * locals only); the other end's comes with its first answer. */
    if (d->has_mac && f->hosts[server_first])
        host_note_mac(f->hosts[server_first], d->src_mac, ts_us);
    /* Detection state is the big part of a flow: when too many flows are in detection, the
     * one fed least recently (a scan, a lone packet) settles for a guess. */
    if (e->dpi_count >= e->config.max_dpi_flows && e->dpi_head) {
        engine_finish_dpi(e, e->dpi_head);
        e->dpi_evicted++;
    }
    f->dpi = l7_flow_state_new();
    if (!f->dpi) {
        e->dpi_state_failures++;
        f->l7_final = 1; /* unknown, but still accounted */
        return;
    }
    e->dpi_count++;
    dpi_append(e, f);
}

static enum flow_timeout_class timeout_class_for(const struct flow *f, uint8_t l4_proto)
{
    switch (l4_proto) {
    case 6: {
        uint8_t a = f->tcp_flags[0], b = f->tcp_flags[1];
        if ((a | b) & TCP_RST || ((a & TCP_FIN) && (b & TCP_FIN)))
            return FLOW_TIMEOUT_TCP_CLOSED;
        return FLOW_TIMEOUT_TCP;
    }
    case 17:
        return FLOW_TIMEOUT_UDP;
    default:
        return FLOW_TIMEOUT_OTHER;
    }
}

static void engine_feed_dpi(struct engine *e, struct flow *f, const struct decoded_packet *d,
                            uint64_t ts_us, bool counts)
{
    const uint8_t *l3 = d->l3;
    uint32_t len = d->l3_caplen;
#if defined(__arm__)
    /* The Cortex-A8 traps on the unaligned multi-word loads nDPI's code may use: an IP header at
     * frame + 14 is only 2-byte aligned. Other CPUs read it in place. */
    if ((uintptr_t)l3 & 3) {
        if (len > sizeof e->dpi_buffer)
            len = sizeof e->dpi_buffer;
        memcpy(e->dpi_buffer, l3, len);
        l3 = (const uint8_t *)e->dpi_buffer;
    }
#endif
    e->dpi_packets++;
    enum l7_progress p = l7_flow_feed(e->l7, f->dpi, l3, len, ts_us / 1000,
                                      f->packets[0] + f->packets[1], d->l4_proto, &f->l7,
                                      &f->dpi_extra_packets, e->config.dpi_extra_packets, counts);
    if (p == L7_DONE) {
        engine_finish_dpi(e, f);
    } else if (e->dpi_tail != f) {
        dpi_unlink(e, f);
        dpi_append(e, f);
    }
}

/* A DNS response names the addresses in its answers (ntopng's "decode DNS responses"): each
 * A/AAAA answer's address gets the question's name (the name asked for, not the CNAME chain's
 * last target: that is what the user typed). mDNS answers are the hosts' own names. */
#define DNS_ANSWERS_KEPT 16
static void engine_learn_dns(struct engine *e, const struct decoded_packet *d, uint64_t ts_us)
{
    const uint8_t *payload, *msg;
    uint32_t len;
    size_t msg_len;
    decode_l4_payload(d, &payload, &len);
    if (!payload)
        return;
    enum dns_status st = DNS_OK;
    msg = payload;
    msg_len = len;
    if (d->l4_proto == 6)
        st = dns_tcp_unframe(payload, len, &msg, &msg_len);
    struct dns_response r;
    struct dns_answer answers[DNS_ANSWERS_KEPT];
    if (st == DNS_OK)
        st = dns_decode_response(msg, msg_len, &r, answers, DNS_ANSWERS_KEPT);
    e->dns_responses++;
    if (st != DNS_OK) {
        e->dns_refused[st]++;
        return;
    }
    bool mdns = d->src_port == 5353;
    for (uint16_t i = 0; i < r.answers_kept; i++) {
        const struct dns_answer *a = &answers[i];
        if (a->type != DNS_TYPE_A && a->type != DNS_TYPE_AAAA)
            continue;
        struct host_key key;
        host_key_make(&key, d->vlan, a->type == DNS_TYPE_A ? 4 : 6, a->addr);
        const char *name = mdns || !r.has_question ? a->owner : r.question.name;
        e->dns_answers_learned += name_table_learn(&e->names, &key, name,
                                                   mdns ? NAME_SOURCE_MDNS : NAME_SOURCE_DNS,
                                                   a->ttl_s, ts_us);
    }
}

static inline void engine_maybe_dns(struct engine *e, const struct decoded_packet *d,
                                    uint64_t ts_us)
{
    if (__builtin_expect((d->src_port == 53 || d->src_port == 5353) &&
                             (d->l4_proto == 17 || d->l4_proto == 6) && d->l4_payload_len >= 12,
                         0))
        engine_learn_dns(e, d, ts_us);
}

static void count_packet(struct traffic_counters *c, uint32_t wirelen)
{
    c->packets++;
    c->bytes += wirelen;
}

static void count_status(struct traffic_counters *c, enum decode_status st)
{
    if (st == DECODE_NOT_IP) {
        c->not_ip++;
    } else {
        c->malformed++;
        c->malformed_by_reason[st]++;
    }
}

/* The verdict is decided once per flow: at its first packet when no rule needs the L7 protocol,
 * else once detection is final. */
static void engine_decide(struct engine *e, struct flow *f)
{
    struct policy_subject s = {
        .vlan = f->key.vlan,
        .ip_version = f->key.ip_version,
        .l4_proto = f->key.l4_proto,
        .port = {f->key.port_lo, f->key.port_hi},
        .l7_final = f->l7_final,
        .l7_master = f->l7.master,
        .l7_app = f->l7.app,
    };
    memcpy(s.addr[0], f->key.addr_lo, 16);
    memcpy(s.addr[1], f->key.addr_hi, 16);
    int rule = -1;
    enum policy_verdict v = policy_decide(e->policy, &s, &rule);
    if (v == POLICY_PENDING)
        return;
    bool counted = f->policy_counted_rule == rule; /* a carried rule decided it again */
    f->verdict = (uint8_t)v;
    f->policy_rule = (int16_t)rule;
    f->policy_counted_rule = POLICY_RULE_NONE;
    if (counted)
        return;
    policy_count_flow(e->policy, rule);
    if (v == POLICY_DROP)
        e->policy_flows_dropped++;
}

struct policy_swap {
    const struct policy_set *old_set, *new_set;
};

/* After a reload every flow is decided again under the new rules; the rule whose counters
 * carried over from the one that had decided it is remembered so the flow is not counted twice. */
static int reset_verdict(const struct flow *f, void *ctx)
{
    const struct policy_swap *sw = ctx;
    struct flow *mut = (struct flow *)f; /* the table's own flows: the walk is read-only by type */
    mut->policy_counted_rule =
        f->verdict != POLICY_PENDING && sw->old_set && sw->new_set
            ? (int16_t)policy_set_map_rule(sw->new_set, sw->old_set, f->policy_rule)
            : POLICY_RULE_NONE;
    mut->verdict = POLICY_PENDING;
    mut->policy_rule = -1;
    return 0;
}

void engine_set_policy(struct engine *e, struct policy_set *policy)
{
    struct policy_swap sw = {e->policy, policy};
    e->policy = policy;
    flow_table_foreach(&e->flows, reset_verdict, &sw);
}

/* engine_advance for a packet: the common case (time within the current second, the engine
 * started) is a compare and a store here; everything else takes the full function. */
static inline void engine_advance_packet(struct engine *e, uint64_t ts_us)
{
    if (__builtin_expect(ts_us < e->next_second_us && e->start_us != 0, 1)) {
        if (ts_us > e->now_us)
            e->now_us = ts_us;
        return;
    }
    engine_advance(e, ts_us);
}

/* The first packet of a flow: kept out of the per-packet path (cold, larger). */
static __attribute__((noinline)) struct flow *
engine_insert_flow(struct engine *e, const struct flow_key *key, uint32_t hash,
                   const struct decoded_packet *d, bool src_is_lo, unsigned source, unsigned port,
                   uint64_t ts_us)
{
    enum flow_timeout_class cls = d->l4_proto == 6    ? FLOW_TIMEOUT_TCP
                                  : d->l4_proto == 17 ? FLOW_TIMEOUT_UDP
                                                      : FLOW_TIMEOUT_OTHER;
    struct flow *f = flow_table_insert(&e->flows, key, hash, cls);
    if (f) {
        engine_new_flow(e, f, d, src_is_lo, source, port, ts_us);
        e->totals.flows++;
        e->sources[source].counters.flows++; /* source < source_count: checked per frame */
    }
    return f;
}

static inline void frame_prepare(uint64_t flow_seed, int linktype, const uint8_t *frame,
                                 uint32_t caplen, uint32_t wirelen, struct engine_prepared *w)
{
    if (wirelen < caplen)
        wirelen = caplen; /* as accounted */
    w->status = decode_packet(linktype, frame, caplen, wirelen, &w->d);
    if (__builtin_expect(w->status != DECODE_OK, 0))
        return;
    const struct decoded_packet *d = &w->d;
    w->hash = flow_key_make_hashed(&w->key, flow_seed, d->vlan, d->ip_version, d->l4_proto,
                                   d->src_addr, d->src_port, d->dst_addr, d->dst_port,
                                   &w->src_is_lo);
}

void engine_prepare_frame(uint64_t flow_seed, int linktype, const uint8_t *frame, uint32_t caplen,
                          uint32_t wirelen, struct engine_prepared *out)
{
    frame_prepare(flow_seed, linktype, frame, caplen, wirelen, out);
}

static void frame_host_keys(const struct engine_prepared *fw, struct host_key keys[2])
{
    host_key_make(&keys[0], fw->d.vlan, fw->d.ip_version, fw->d.src_addr);
    host_key_make(&keys[1], fw->d.vlan, fw->d.ip_version, fw->d.dst_addr);
}

static inline bool frame_account(struct engine *e, unsigned source, unsigned port,
                                 uint64_t ts_us, uint32_t caplen, uint32_t wirelen,
                                 const struct engine_prepared *w)
{
    if (__builtin_expect(source >= e->source_count, 0))
        return true;
    struct traffic_counters *sc = &e->sources[source].counters;
    if (wirelen < caplen)
        wirelen = caplen;
    count_packet(sc, wirelen);
    count_packet(&e->totals, wirelen);
    engine_advance_packet(e, ts_us);

    if (__builtin_expect(w->status != DECODE_OK, 0)) {
        count_status(sc, w->status);
        count_status(&e->totals, w->status);
        return true; /* a bump forwards what it cannot parse */
    }
    sc->ip_packets++;
    e->totals.ip_packets++;

    const struct decoded_packet *d = &w->d;
    engine_maybe_dns(e, d, ts_us);
    struct flow *f = flow_table_lookup(&e->flows, &w->key, w->hash);
    if (__builtin_expect(!f, 0)) {
        f = engine_insert_flow(e, &w->key, w->hash, d, w->src_is_lo, source, port, ts_us);
        if (!f) {
            sc->unaccounted++;
            e->totals.unaccounted++;
            return true;
        }
    }

    int dir = w->src_is_lo == (bool)f->client_is_lo ? 0 : 1;
    if (__builtin_expect(f->packets[dir] == 0 && d->has_mac && f->hosts[dir], 0))
        host_note_mac(f->hosts[dir], d->src_mac, ts_us); /* a direction's first packet */
    f->packets[dir]++;
    f->bytes[dir] += wirelen;
    f->tcp_flags[dir] |= d->tcp_flags;
    if (d->l4_proto == 6 && !d->fragment)
        tcp_health_update(&f->tcp, dir, d->tcp_seq, d->tcp_flags, d->tcp_window,
                          d->l4_payload_len, ts_us, f->first_us);
    if (ts_us > f->last_us)
        f->last_us = ts_us;
    f->pending_packets[dir]++;
    f->pending_bytes[dir] += wirelen;
    if (!f->dirty) {
        f->dirty = 1;
        f->dirty_next = e->dirty_head;
        e->dirty_head = f;
    }

    if (f->dpi) {
        /* A bare TCP acknowledgement past the handshake (no payload, no SYN, FIN or RST) has
         * nothing for nDPI: its connection tracking took what it needs from the first packets
         * and its dissectors read payload. Not feeding them halves the calls on a bulk
         * transfer; the golden captures classify the same either way. */
        bool bare_ack = d->l4_proto == 6 && d->l4_payload_len == 0 &&
                        !(d->tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST)) &&
                        f->packets[0] + f->packets[1] > 3;
        /* Once the protocol is known they matter again: nDPI's extra dissection follows the
         * other side's answer by them (an HTTP response's content type, whence the binary
         * transfer and exploit risks), but they do not use up the extra-packet allowance. */
        if (!d->fragment && (!bare_ack || f->l7.app != 0))
            engine_feed_dpi(e, f, d, ts_us, !bare_ack);
        else if (bare_ack && l7_flow_past_giveup(f->packets[0] + f->packets[1], d->l4_proto))
            engine_finish_dpi(e, f); /* the give-up point holds for a flow of only ACKs too */
    } else {
        engine_add_l7_global(e, f, 0, 1, wirelen);
    }

    if (!e->policy)
        return true;
    if (f->verdict == POLICY_PENDING) {
        engine_decide(e, f);
        if (f->verdict == POLICY_PENDING)
            return true; /* undecided flows pass: detection needs the handshake to go through */
    }
    policy_count_packet(e->policy, f->policy_rule, wirelen);
    return f->verdict != POLICY_DROP;
}

bool engine_process_frame(struct engine *e, unsigned source, unsigned port, int linktype,
                          uint64_t ts_us, const uint8_t *frame, uint32_t caplen, uint32_t wirelen)
{
    struct engine_prepared w;
    frame_prepare(e->flows.hash_seed, linktype, frame, caplen, wirelen, &w);
    return frame_account(e, source, port, ts_us, caplen, wirelen, &w);
}

/*
 * A flow lookup is a cache miss on its bucket slot, then one on the flow: on a table of a few
 * hundred thousand flows, most of a packet's time outside nDPI. With a run of frames, the work
 * on the frames ahead is started early so that the misses overlap with the work on the current
 * frame: frame i's bytes are loaded at step i - BYTES_AHEAD, it is decoded and its bucket slot
 * loaded at step i, the flow the slot names at step i + FLOW_STEP (or, when the slot is empty and
 * the frame will start a flow, its two hosts' slots, and the hosts at HOST_STEP), and the frame is
 * accounted at step i + ACCOUNT_STEP. The loads are hints only: each frame still does its full
 * lookup when its turn comes.
 */
#define BYTES_AHEAD 2
#define FLOW_STEP 2
#define HOST_STEP 3
#define ACCOUNT_STEP 4
#define RING (ACCOUNT_STEP + 1) /* frames between decode and accounting */

void engine_process_frames(struct engine *e, unsigned source, int linktype,
                           const struct engine_frame *frames, size_t n)
{
    struct engine_prepared local[RING];       /* for frames that come unprepared */
    const struct engine_prepared *w[RING];
    /* When a frame's flow bucket was empty ahead of time, it will start a flow: its two hosts'
     * buckets, found at FLOW_STEP and read at HOST_STEP (NULL: not a new flow). */
    struct host *const *host_slot[RING][2];
    const struct flow_table *t = &e->flows;
    for (size_t i = 0; i < n + ACCOUNT_STEP; i++) {
        if (i + BYTES_AHEAD < n && !frames[i + BYTES_AHEAD].prepared) {
            __builtin_prefetch(frames[i + BYTES_AHEAD].data);
            __builtin_prefetch(frames[i + BYTES_AHEAD].data + 64);
        }
        if (i < n) {
            const struct engine_prepared *fw = frames[i].prepared;
            if (!fw) {
                frame_prepare(t->hash_seed, linktype, frames[i].data, frames[i].caplen,
                              frames[i].wirelen, &local[i % RING]);
                fw = &local[i % RING];
            }
            w[i % RING] = fw;
            if (fw->status == DECODE_OK)
                __builtin_prefetch(&t->buckets[fw->hash & t->bucket_mask]);
        }
        if (i >= FLOW_STEP && i - FLOW_STEP < n) {
            size_t k = (i - FLOW_STEP) % RING;
            const struct engine_prepared *fw = w[k];
            host_slot[k][0] = host_slot[k][1] = NULL;
            if (fw->status == DECODE_OK) {
                const struct flow *f = t->buckets[fw->hash & t->bucket_mask];
                if (f) {
                    __builtin_prefetch(f);
                    __builtin_prefetch((const char *)f + 64, 1);
                } else {
                    struct host_key keys[2];
                    frame_host_keys(fw, keys);
                    for (int h = 0; h < 2; h++) {
                        host_slot[k][h] = host_table_bucket(&e->hosts, &keys[h]);
                        __builtin_prefetch(host_slot[k][h]);
                    }
                }
            }
        }
        if (i >= HOST_STEP && i - HOST_STEP < n) {
            size_t k = (i - HOST_STEP) % RING;
            for (int h = 0; h < 2 && host_slot[k][h]; h++)
                if (*host_slot[k][h])
                    __builtin_prefetch(*host_slot[k][h], 1);
        }
        if (i >= ACCOUNT_STEP) {
            size_t k = i - ACCOUNT_STEP;
            frame_account(e, source, ENGINE_NO_PORT, frames[k].ts_us, frames[k].caplen,
                          frames[k].wirelen, w[k % RING]);
        }
    }
}

static void engine_sync_flow(struct engine *e, struct flow *f)
{
    for (int dir = 0; dir < 2; dir++) {
        struct host *sender = f->hosts[dir], *receiver = f->hosts[!dir];
        if (sender) {
            sender->changed = true;
            sender->packets_sent += f->pending_packets[dir];
            sender->bytes_sent += f->pending_bytes[dir];
            if (f->last_us > sender->last_us)
                sender->last_us = f->last_us;
        }
        if (receiver) {
            receiver->changed = true;
            receiver->packets_rcvd += f->pending_packets[dir];
            receiver->bytes_rcvd += f->pending_bytes[dir];
            if (f->last_us > receiver->last_us)
                receiver->last_us = f->last_us;
        }
    }
    if (f->l7_final)
        engine_add_l7_hosts(e, f, 0, (uint64_t)f->pending_packets[0] + f->pending_packets[1],
                            f->pending_bytes[0] + f->pending_bytes[1]);
    f->pending_packets[0] = f->pending_packets[1] = 0;
    f->pending_bytes[0] = f->pending_bytes[1] = 0;
    flow_table_touch(&e->flows, f, timeout_class_for(f, f->key.l4_proto));
}

void engine_sync(struct engine *e)
{
    struct flow *f = e->dirty_head;
    e->dirty_head = NULL;
    while (f) {
        struct flow *next = f->dirty_next;
        /* A walk over flows scattered in memory: start loading the next one, and this one's
         * hosts and list neighbours all at once rather than one miss after the other. */
        if (next) {
            __builtin_prefetch((const char *)next + 64, 1);
            __builtin_prefetch((const char *)next + 128, 1);
            __builtin_prefetch((const char *)next + 192, 1);
        }
        for (int i = 0; i < 2; i++)
            if (f->hosts[i])
                __builtin_prefetch(f->hosts[i], 1);
        if (f->lru_prev)
            __builtin_prefetch((const char *)f->lru_prev + 128, 1);
        if (f->lru_next)
            __builtin_prefetch((const char *)f->lru_next + 128, 1);
        f->dirty = 0;
        f->dirty_next = NULL;
        engine_sync_flow(e, f);
        f = next;
    }
}

static void update_rates(struct traffic_counters *c, double seconds)
{
    c->packets_per_s = (double)(c->packets - c->last_packets) / seconds;
    c->bits_per_s = 8.0 * (double)(c->bytes - c->last_bytes) / seconds;
    c->last_packets = c->packets;
    c->last_bytes = c->bytes;
}

static void engine_expire_idle(struct engine *e)
{
    for (int c = 0; c < FLOW_TIMEOUT_CLASSES; c++) {
        struct flow *f;
        while ((f = flow_table_pop_idle(&e->flows, (enum flow_timeout_class)c, e->now_us,
                                        e->config.idle_timeout_us[c])))
            engine_end_flow(e, f);
    }
}

static void engine_note_memory_peak(struct engine *e)
{
    size_t mem = engine_memory(e);
    if (mem > e->memory_peak)
        e->memory_peak = mem;
}

void engine_advance(struct engine *e, uint64_t now_us)
{
    if (e->start_us == 0) {
        e->start_us = e->now_us = now_us;
        e->next_second_us = now_us + US_PER_S;
        e->next_host_purge_us = now_us + HOST_PURGE_PERIOD_US;
        return;
    }
    if (now_us <= e->now_us)
        return;
    e->now_us = now_us;
    if (now_us < e->next_second_us)
        return;

    /* Once per second of engine time: rates over the time that really passed, then purges. */
    double seconds = (double)(now_us - (e->next_second_us - US_PER_S)) / US_PER_S;
    update_rates(&e->totals, seconds);
    for (unsigned i = 0; i < e->source_count; i++)
        update_rates(&e->sources[i].counters, seconds);
    e->next_second_us = now_us + US_PER_S;

    engine_sync(e); /* before the purge: it needs the idle order up to date */
    engine_expire_idle(e);
    name_table_expire(&e->names, now_us, 1024); /* a slice a second: a full sweep in cap/1024 s */
    engine_note_memory_peak(e);
    if (now_us >= e->next_host_purge_us) {
        e->hosts_purged += host_table_purge(&e->hosts, now_us, e->config.host_idle_timeout_us,
                                            host_purged, e);
        e->next_host_purge_us = now_us + HOST_PURGE_PERIOD_US;
    }
}

void engine_expire_all(struct engine *e) { engine_expire_some(e, SIZE_MAX); }

size_t engine_expire_some(struct engine *e, size_t max)
{
    size_t done = 0;
    engine_sync(e); /* no flow may leave while on the dirty list */
    engine_note_memory_peak(e); /* a run shorter than a second has not noted it yet */
    for (int c = 0; c < FLOW_TIMEOUT_CLASSES && done < max; c++) {
        struct flow *f;
        while (done < max && (f = flow_table_pop_idle(&e->flows, (enum flow_timeout_class)c, 0, 0))) {
            engine_end_flow(e, f);
            done++;
        }
    }
    return done;
}

size_t engine_memory(const struct engine *e)
{
    return sizeof *e + flow_table_memory(&e->flows) + host_table_memory(&e->hosts) +
           e->l7_stats_size * sizeof *e->l7_stats + l7_memory_in_use() +
           string_pool_memory(&e->strings) + name_table_stats(&e->names).memory_bytes +
           oui_memory(&e->oui);
}

size_t engine_take_changed_hosts(struct engine *e, struct engine_host_record *out, size_t cap)
{
    size_t n = 0;
    for (uint32_t i = 0; i <= e->hosts.bucket_mask && n < cap; i++)
        for (struct host *h = e->hosts.buckets[i]; h && n < cap; h = h->hash_next) {
            if (!h->changed)
                continue;
            h->changed = false;
            host_record(e, h, &out[n++]);
        }
    return n;
}

int engine_restore_host(struct engine *e, const struct engine_host_record *r)
{
    bool created;
    struct host *h = host_table_get(&e->hosts, &r->key, &created);
    if (!h)
        return -1;
    if (created) {
        h->local = netlist_contains(&e->config.local_networks, r->key.ip_version, r->key.addr);
        h->first_us = r->first_us;
        h->last_us = r->last_us;
    } else {
        h->first_us = r->first_us < h->first_us ? r->first_us : h->first_us;
        h->last_us = r->last_us > h->last_us ? r->last_us : h->last_us;
    }
    h->packets_sent += r->packets_sent;
    h->packets_rcvd += r->packets_rcvd;
    h->bytes_sent += r->bytes_sent;
    h->bytes_rcvd += r->bytes_rcvd;
    h->flows_total += r->flows_total;
    if (r->has_mac && h->local) {
        if (!h->has_mac) {
            h->has_mac = true;
            memcpy(h->mac, r->mac, sizeof h->mac);
            h->mac_first_us = r->mac_first_us;
            h->mac_last_us = r->mac_last_us;
        } else if (memcmp(h->mac, r->mac, sizeof h->mac) == 0) {
            h->mac_first_us = r->mac_first_us < h->mac_first_us ? r->mac_first_us
                                                                  : h->mac_first_us;
        } else if (h->mac_changes < UINT16_MAX) {
            h->mac_changes++; /* the device changed while the box was down */
        }
        uint32_t changes = (uint32_t)h->mac_changes + r->mac_changes;
        h->mac_changes = changes > UINT16_MAX ? UINT16_MAX : (uint16_t)changes;
    }
    if (r->name[0] && memchr(r->name, 0, sizeof r->name))
        name_table_restore(&e->names, &r->key, r->name, (enum name_source)r->name_source,
                           r->name_expires_us, e->now_us ? e->now_us : clock_wall_us());
    return 0;
}

void engine_restore_source_counters(struct engine *e, unsigned id, uint64_t packets,
                                    uint64_t bytes, uint64_t flows)
{
    if (id >= e->source_count)
        return;
    e->counters_epoch++;
    struct traffic_counters *c[2] = {&e->sources[id].counters, &e->totals};
    for (int i = 0; i < 2; i++) {
        c[i]->packets += packets;
        c[i]->bytes += bytes;
        c[i]->flows += flows;
    }
}

uint32_t engine_counters_epoch(const struct engine *e) { return e->counters_epoch; }
