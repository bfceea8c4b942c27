#include "query/query_json.h"

#include "capture/port_pair.h"
#include "decode/dns.h"
#include "policy/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *query_l4_name(uint8_t proto, uint8_t ip_version)
{
    switch (proto) {
    case 1:
        return "ICMP";
    case 2:
        return "IGMP";
    case 6:
        return "TCP";
    case 17:
        return "UDP";
    case 47:
        return "GRE";
    case 50:
        return "ESP";
    case 58:
        return ip_version == 6 ? "ICMPV6" : "58";
    case 89:
        return "OSPF";
    case 132:
        return "SCTP";
    default:
        return NULL;
    }
}

static double seconds(uint64_t us) { return (double)us / 1e6; }

static void add_endpoint(cJSON *obj, const char *name, uint8_t ip_version, const uint8_t *addr,
                         uint16_t port)
{
    char text[64];
    query_address_text(ip_version, addr, text, sizeof text);
    cJSON *ep = cJSON_AddObjectToObject(obj, name);
    cJSON_AddStringToObject(ep, "ip", text);
    cJSON_AddNumberToObject(ep, "port", port);
}

static void add_direction(cJSON *obj, const char *name, const struct flow *f, int dir)
{
    cJSON *d = cJSON_AddObjectToObject(obj, name);
    cJSON_AddNumberToObject(d, "packets", (double)f->packets[dir]);
    cJSON_AddNumberToObject(d, "bytes", (double)f->bytes[dir]);
    if (f->key.l4_proto == 6) {
        cJSON_AddNumberToObject(d, "tcp_flags", f->tcp_flags[dir]);
        cJSON_AddNumberToObject(d, "retransmissions", f->tcp.retrans[dir]);
        cJSON_AddNumberToObject(d, "out_of_order", f->tcp.out_of_order[dir]);
        cJSON_AddNumberToObject(d, "zero_windows", f->tcp.zero_window[dir]);
    }
}

void query_add_tcp_rtts(cJSON *o, uint32_t rtt_client_us, uint32_t rtt_server_us)
{
    if (rtt_client_us)
        cJSON_AddNumberToObject(o, "rtt_client_us", rtt_client_us);
    if (rtt_server_us)
        cJSON_AddNumberToObject(o, "rtt_server_us", rtt_server_us);
}

const char *query_dns_rcode_name(uint8_t rcode)
{
    static const char *const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",
                                        "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH",
                                        "NOTZONE"};
    return rcode < sizeof names / sizeof names[0] ? names[rcode] : NULL;
}

cJSON *query_risks_json(uint64_t risks)
{
    cJSON *a = cJSON_CreateArray();
    for (unsigned bit = 1; bit < L7_RISK_BITS; bit++)
        if (risks & (1ull << bit)) {
            const char *name = l7_risk_name(bit);
            if (name)
                cJSON_AddItemToArray(a, cJSON_CreateString(name));
        }
    return a;
}

/* Only the fields found, so an unnamed flow stays a short line. */
void query_add_flow_details(cJSON *o, const struct flow_details_view *v)
{
    static const char *const keys[FLOW_TEXTS] = {"host_name",   "ja3c", "ja3s",      "tls_issuer",
                                                 "tls_subject", "url",  "user_agent"};
    for (int i = 0; i < FLOW_TEXTS; i++)
        if (v->text[i] && v->text[i][0])
            cJSON_AddStringToObject(o, keys[i], v->text[i]);
    if (v->tls_not_before)
        cJSON_AddNumberToObject(o, "tls_not_before", v->tls_not_before);
    if (v->tls_not_after)
        cJSON_AddNumberToObject(o, "tls_not_after", v->tls_not_after);
    if (v->http_status)
        cJSON_AddNumberToObject(o, "http_status", v->http_status);
    if (v->dns_qtype) {
        const char *t = dns_type_name(v->dns_qtype);
        if (t)
            cJSON_AddStringToObject(o, "dns_qtype", t);
        else
            cJSON_AddNumberToObject(o, "dns_qtype", v->dns_qtype);
    }
    if (v->dns_reply) {
        const char *r = query_dns_rcode_name(v->dns_rcode);
        if (r)
            cJSON_AddStringToObject(o, "dns_rcode", r);
        else
            cJSON_AddNumberToObject(o, "dns_rcode", v->dns_rcode);
    }
    cJSON_AddItemToObject(o, "risks", query_risks_json(v->risks));
    cJSON_AddNumberToObject(o, "risk_score", v->risk_score);
}

static void add_flow_info(cJSON *o, const struct engine *e, const struct flow_info *in)
{
    struct flow_details_view v = {
        .text = {engine_text(e, in->host_name), engine_text(e, in->ja3c), engine_text(e, in->ja3s),
                 engine_text(e, in->issuer), engine_text(e, in->subject), engine_text(e, in->url),
                 engine_text(e, in->user_agent)},
        .tls_not_before = in->not_before, .tls_not_after = in->not_after,
        .http_status = in->http_status, .dns_qtype = in->dns_qtype, .risk_score = in->risk_score,
        .dns_rcode = in->dns_rcode, .dns_reply = in->dns_reply, .risks = in->risks};
    query_add_flow_details(o, &v);
}

void query_flow_sides(const struct port_pair *pp, struct flow_sides *out)
{
    memset(out, 0, sizeof *out);
    out->source = pp ? port_pair_source(pp) : -1;
    for (int side = 0; pp && side < 2; side++)
        snprintf(out->name[side], sizeof out->name[side], "%s", port_pair_side_name(pp, side));
}

cJSON *query_flow_json(const struct engine *e, const struct flow_sides *sides,
                       const struct flow *f)
{
    cJSON *o = cJSON_CreateObject();
    const struct flow_key *k = &f->key;
    const char *l4 = query_l4_name(k->l4_proto, k->ip_version);
    cJSON_AddNumberToObject(o, "id", (double)f->id);
    if (l4)
        cJSON_AddStringToObject(o, "protocol", l4);
    else
        cJSON_AddNumberToObject(o, "protocol", k->l4_proto);
    cJSON_AddNumberToObject(o, "ip_version", k->ip_version);
    cJSON_AddNumberToObject(o, "vlan", k->vlan);
    bool lo = f->client_is_lo;
    add_endpoint(o, "client", k->ip_version, lo ? k->addr_lo : k->addr_hi, lo ? k->port_lo : k->port_hi);
    add_endpoint(o, "server", k->ip_version, lo ? k->addr_hi : k->addr_lo, lo ? k->port_hi : k->port_lo);
    add_direction(o, "client_to_server", f, 0);
    add_direction(o, "server_to_client", f, 1);
    cJSON_AddNumberToObject(o, "first_seen", seconds(f->first_us));
    cJSON_AddNumberToObject(o, "last_seen", seconds(f->last_us));
    char name[64];
    l7_result_name(engine_l7(e), &f->l7, name, sizeof name);
    cJSON_AddStringToObject(o, "l7", name);
    cJSON_AddStringToObject(o, "category", l7_category_name(engine_l7(e), f->l7.category));
    cJSON_AddBoolToObject(o, "l7_final", f->l7_final);
    cJSON_AddBoolToObject(o, "l7_guessed", f->l7.guessed);
    cJSON_AddNumberToObject(o, "tunnel_depth", f->tunnel_depth);
    const struct source_info *src = engine_source(e, f->source);
    if (src) {
        cJSON_AddStringToObject(o, "source", src->name);
        if (f->client_port <= 1 && sides && sides->source == (int)f->source)
            cJSON_AddStringToObject(o, "client_side", sides->name[f->client_port]);
    }
    if (e->policy && f->verdict != 0)
        cJSON_AddStringToObject(o, "verdict", f->verdict == POLICY_DROP ? "drop" : "pass");
    add_flow_info(o, e, &f->info);
    if (k->l4_proto == 6)
        query_add_tcp_rtts(o, tcp_health_rtt_client_us(&f->tcp), tcp_health_rtt_server_us(&f->tcp));
    return o;
}

cJSON *query_host_json(const struct engine *e, const struct host *h)
{
    cJSON *o = cJSON_CreateObject();
    char text[64];
    query_address_text(h->key.ip_version, h->key.addr, text, sizeof text);
    cJSON_AddStringToObject(o, "ip", text);
    cJSON_AddNumberToObject(o, "vlan", h->key.vlan);
    const struct name_entry *name = engine_host_name(e, h);
    if (name) {
        cJSON_AddStringToObject(o, "name", name->name);
        cJSON_AddStringToObject(o, "name_source", name_source_name((enum name_source)name->source));
    }
    cJSON_AddBoolToObject(o, "local", h->local);
    if (h->has_mac) {
        char mac[18];
        snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", h->mac[0], h->mac[1],
                 h->mac[2], h->mac[3], h->mac[4], h->mac[5]);
        cJSON_AddStringToObject(o, "mac", mac);
        const char *vendor = engine_mac_vendor(e, h->mac);
        if (vendor)
            cJSON_AddStringToObject(o, "vendor", vendor);
        cJSON_AddNumberToObject(o, "mac_first_seen", seconds(h->mac_first_us));
        cJSON_AddNumberToObject(o, "mac_last_seen", seconds(h->mac_last_us));
        cJSON_AddNumberToObject(o, "mac_changes", h->mac_changes);
    }
    cJSON_AddNumberToObject(o, "first_seen", seconds(h->first_us));
    cJSON_AddNumberToObject(o, "last_seen", seconds(h->last_us));
    cJSON_AddNumberToObject(o, "packets_sent", (double)h->packets_sent);
    cJSON_AddNumberToObject(o, "packets_rcvd", (double)h->packets_rcvd);
    cJSON_AddNumberToObject(o, "bytes_sent", (double)h->bytes_sent);
    cJSON_AddNumberToObject(o, "bytes_rcvd", (double)h->bytes_rcvd);
    cJSON_AddNumberToObject(o, "flows_active", h->flows_active);
    cJSON_AddNumberToObject(o, "flows_total", (double)h->flows_total);
    if (h->l7) {
        cJSON *l7 = cJSON_AddArrayToObject(o, "l7");
        for (uint8_t i = 0; i < h->l7_used; i++) {
            cJSON *row = cJSON_CreateObject();
            cJSON_AddStringToObject(row, "protocol", l7_protocol_name(engine_l7(e), h->l7[i].proto));
            cJSON_AddNumberToObject(row, "flows", h->l7[i].flows);
            cJSON_AddNumberToObject(row, "packets", (double)h->l7[i].packets);
            cJSON_AddNumberToObject(row, "bytes", (double)h->l7[i].bytes);
            cJSON_AddItemToArray(l7, row);
        }
        cJSON_AddNumberToObject(o, "l7_other_bytes", (double)h->l7_other_bytes);
    }
    cJSON_AddNumberToObject(o, "risky_flows", h->risky_flows);
    cJSON_AddNumberToObject(o, "risk_score", (double)h->risk_score);
    cJSON *risks = cJSON_AddArrayToObject(o, "risks");
    for (uint8_t i = 0; i < h->risk_used; i++) {
        const char *risk = l7_risk_name(h->risk[i].risk);
        cJSON *row = cJSON_CreateObject();
        cJSON_AddStringToObject(row, "risk", risk ? risk : "?");
        cJSON_AddNumberToObject(row, "flows", h->risk[i].flows);
        cJSON_AddItemToArray(risks, row);
    }
    if (h->risks_other)
        cJSON_AddNumberToObject(o, "risks_other_flows", h->risks_other);
    return o;
}

cJSON *query_l7_json(const struct engine *e)
{
    struct l7_row *rows;
    int n = query_l7(e, &rows);
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *row = cJSON_CreateObject();
        cJSON_AddStringToObject(row, "protocol", rows[i].name);
        cJSON_AddNumberToObject(row, "id", rows[i].proto);
        cJSON_AddNumberToObject(row, "flows", (double)rows[i].counter.flows);
        cJSON_AddNumberToObject(row, "packets", (double)rows[i].counter.packets);
        cJSON_AddNumberToObject(row, "bytes", (double)rows[i].counter.bytes);
        cJSON_AddItemToArray(arr, row);
    }
    if (n >= 0)
        free(rows);
    return arr;
}

static cJSON *counters_json(const struct traffic_counters *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "packets", (double)c->packets);
    cJSON_AddNumberToObject(o, "bytes", (double)c->bytes);
    cJSON_AddNumberToObject(o, "ip_packets", (double)c->ip_packets);
    cJSON_AddNumberToObject(o, "not_ip", (double)c->not_ip);
    cJSON_AddNumberToObject(o, "unaccounted", (double)c->unaccounted);
    cJSON_AddNumberToObject(o, "malformed", (double)c->malformed);
    cJSON *reasons = cJSON_AddObjectToObject(o, "malformed_by_reason");
    for (int r = DECODE_NOT_IP + 1; r < DECODE_STATUS_COUNT; r++)
        cJSON_AddNumberToObject(reasons, decode_status_name((enum decode_status)r),
                                (double)c->malformed_by_reason[r]);
    cJSON_AddNumberToObject(o, "packets_per_s", c->packets_per_s);
    cJSON_AddNumberToObject(o, "bits_per_s", c->bits_per_s);
    return o;
}

static void add_cap(cJSON *caps, const char *name, size_t used, size_t cap, uint64_t refused)
{
    cJSON *o = cJSON_AddObjectToObject(caps, name);
    cJSON_AddNumberToObject(o, "used", (double)used);
    cJSON_AddNumberToObject(o, "max", (double)cap);
    cJSON_AddNumberToObject(o, "refused", (double)refused);
}

cJSON *query_status_json(const struct engine *e)
{
    struct engine_snapshot snap;
    engine_snapshot(e, &snap);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "totals", counters_json(&snap.totals));
    cJSON *caps = cJSON_AddObjectToObject(o, "caps");
    for (int c = 0; c < ENGINE_CAP_COUNT; c++)
        add_cap(caps, snap.caps[c].name, snap.caps[c].used, snap.caps[c].max,
                snap.caps[c].refused);
    cJSON *flows = cJSON_AddObjectToObject(o, "flows");
    cJSON_AddNumberToObject(flows, "active", (double)snap.flows_active);
    cJSON_AddNumberToObject(flows, "created", (double)snap.flows_created);
    cJSON_AddNumberToObject(flows, "expired", (double)snap.flows_expired);
    cJSON_AddNumberToObject(flows, "dpi_state_failures", (double)snap.dpi_state_failures);
    cJSON_AddNumberToObject(flows, "dpi_packets", (double)snap.dpi_packets);
    cJSON *hosts = cJSON_AddObjectToObject(o, "hosts");
    cJSON_AddNumberToObject(hosts, "active", (double)snap.hosts_active);
    cJSON_AddNumberToObject(hosts, "created", (double)snap.hosts_created);
    cJSON_AddNumberToObject(hosts, "purged", (double)snap.hosts_purged);
    cJSON *mem = cJSON_AddObjectToObject(o, "memory");
    cJSON_AddNumberToObject(mem, "flows", (double)snap.memory.flows);
    cJSON_AddNumberToObject(mem, "hosts", (double)snap.memory.hosts);
    cJSON_AddNumberToObject(mem, "ndpi", (double)snap.memory.ndpi);
    cJSON_AddNumberToObject(mem, "strings", (double)snap.memory.strings);
    cJSON_AddNumberToObject(mem, "names", (double)snap.memory.names);
    /* DNS answers read for host names, and the responses the decoder refused, by reason */
    cJSON *dns = cJSON_AddObjectToObject(o, "dns");
    cJSON_AddNumberToObject(dns, "responses", (double)e->dns_responses);
    cJSON_AddNumberToObject(dns, "answers_learned", (double)e->dns_answers_learned);
    cJSON *refused = cJSON_AddObjectToObject(dns, "refused");
    for (int st = 1; st < DNS_STATUS_COUNT; st++)
        cJSON_AddNumberToObject(refused, dns_status_name((enum dns_status)st),
                                (double)e->dns_refused[st]);
    struct name_table_stats ns = name_table_stats(&e->names);
    cJSON *names = cJSON_AddObjectToObject(o, "names");
    cJSON_AddNumberToObject(names, "count", (double)ns.count);
    cJSON_AddNumberToObject(names, "cap", (double)ns.cap);
    cJSON_AddNumberToObject(names, "learned", (double)ns.learned);
    cJSON_AddNumberToObject(names, "replaced", (double)ns.replaced);
    cJSON_AddNumberToObject(names, "outranked", (double)ns.outranked);
    cJSON_AddNumberToObject(names, "refused", (double)ns.refused);
    cJSON_AddNumberToObject(names, "expired", (double)ns.expired);
    cJSON_AddNumberToObject(names, "bad_name", (double)ns.bad_name);
    cJSON_AddNumberToObject(names, "restored", (double)ns.restored);
    cJSON_AddNumberToObject(mem, "total", (double)snap.memory.total);
    cJSON_AddNumberToObject(mem, "peak", (double)snap.memory.peak);
    cJSON *sources = cJSON_AddArrayToObject(o, "sources");
    for (unsigned i = 0; i < engine_source_count(e); i++) {
        const struct source_info *s = engine_source(e, i);
        cJSON *so = cJSON_CreateObject();
        cJSON_AddNumberToObject(so, "id", i);
        cJSON_AddStringToObject(so, "name", s->name);
        cJSON_AddStringToObject(so, "kind", s->kind);
        cJSON_AddStringToObject(so, "state", source_state_name(s->state));
        cJSON_AddNumberToObject(so, "linktype", s->linktype);
        cJSON_AddNumberToObject(so, "capture_drops", (double)s->capture_drops);
        cJSON_AddNumberToObject(so, "interface_drops", (double)s->interface_drops);
        if (s->last_error[0])
            cJSON_AddStringToObject(so, "last_error", s->last_error);
        cJSON_AddItemToObject(so, "counters", counters_json(&s->counters));
        cJSON_AddItemToArray(sources, so);
    }
    return o;
}
