/* /metrics: the counters in Prometheus' text exposition format (version 0.0.4). */
#include "web/metrics.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "box/bypass.h"
#include "core/version.h"
#include "capture/port_pair.h"
#include "ntap/ntap_collector.h"
#include "policy/policy.h"
#include "query/query.h"
#include "web/lua.h"
#include "web/web_internal.h"


/* A label value: \, " and newlines escaped. */
static void label(struct web_buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            web_buf_append(b, "\\\\", 2);
        else if (*s == '"')
            web_buf_append(b, "\\\"", 2);
        else if (*s == '\n')
            web_buf_append(b, "\\n", 2);
        else
            web_buf_append(b, s, 1);
    }
}

static void family(struct web_buf *b, const char *name, const char *type, const char *help)
{
    web_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void value(struct web_buf *b, double v)
{
    /* Integers print exactly up to 2^53; the counters stay well below. */
    if (v == (double)(uint64_t)v)
        web_buf_printf(b, " %llu\n", (unsigned long long)v);
    else
        web_buf_printf(b, " %.6g\n", v);
}

static void sample(struct web_buf *b, const char *name, double v)
{
    web_buf_printf(b, "%s", name);
    value(b, v);
}

static void sample1(struct web_buf *b, const char *name, const char *lname, const char *lvalue,
                    double v)
{
    web_buf_printf(b, "%s{%s=\"", name, lname);
    label(b, lvalue);
    web_buf_append(b, "\"}", 2);
    value(b, v);
}

/* A sample of one wire port: port="lan",interface="a0"[,cause="..."]. */
static void port_sample(struct web_buf *b, const char *name, const struct port_status *p,
                        const char *cause, double v)
{
    web_buf_printf(b, "%s{port=\"", name);
    label(b, p->name);
    web_buf_append(b, "\",interface=\"", 13);
    label(b, p->ifname);
    if (cause) {
        web_buf_append(b, "\",cause=\"", 9);
        label(b, cause);
    }
    web_buf_append(b, "\"}", 2);
    value(b, v);
}

/* The box around the engine: the wire ports, the bypass relay and watchdog, the inline policies.
 * Each part only when it exists. */
static void box_metrics(struct web_buf *b, const struct web_view_ctx *v)
{
    if (v->ports) {
        struct port_status st[2];
        for (int side = 0; side < 2; side++)
            port_pair_status(v->ports, side, &st[side]);
        family(b, "tapbox_port_up", "gauge", "1 when the wire port is open and up.");
        for (int i = 0; i < 2; i++)
            port_sample(b, "tapbox_port_up", &st[i], NULL, st[i].up);
        static const struct {
            const char *name, *help;
            size_t offset;
        } fields[] = {
            {"tapbox_port_rx_packets_total", "Frames received on the wire port.",
             offsetof(struct port_counters, rx_packets)},
            {"tapbox_port_rx_bytes_total", "Bytes received on the wire port.",
             offsetof(struct port_counters, rx_bytes)},
            {"tapbox_port_tx_packets_total", "Frames sent out of the wire port.",
             offsetof(struct port_counters, tx_packets)},
            {"tapbox_port_tx_bytes_total", "Bytes sent out of the wire port.",
             offsetof(struct port_counters, tx_bytes)},
            {"tapbox_port_reopens_total", "Times the wire port came back after going down.",
             offsetof(struct port_counters, reopens)},
        };
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
            family(b, fields[f].name, "counter", fields[f].help);
            for (int i = 0; i < 2; i++) {
                uint64_t x;
                memcpy(&x, (const char *)&st[i].c + fields[f].offset, sizeof x);
                port_sample(b, fields[f].name, &st[i], NULL, (double)x);
            }
        }
        family(b, "tapbox_port_drops_total", "counter",
               "Frames received on the wire port and not forwarded, by cause (queue: the queue "
               "towards the other port was full; tx_error: the kernel refused the send; oversize: "
               "too big for the other port; policy: a drop verdict; kernel: capture buffer "
               "overrun; bypassed: the relay carried the link).");
        for (int i = 0; i < 2; i++) {
            const struct port_counters *c = &st[i].c;
            port_sample(b, "tapbox_port_drops_total", &st[i], "queue", (double)c->queue_drops);
            port_sample(b, "tapbox_port_drops_total", &st[i], "tx_error", (double)c->tx_errors);
            port_sample(b, "tapbox_port_drops_total", &st[i], "oversize", (double)c->oversize);
            port_sample(b, "tapbox_port_drops_total", &st[i], "policy", (double)c->policy_drops);
            port_sample(b, "tapbox_port_drops_total", &st[i], "kernel", (double)c->kernel_drops);
            port_sample(b, "tapbox_port_drops_total", &st[i], "bypassed", (double)c->bypassed);
        }
        family(b, "tapbox_port_pair_ready", "gauge",
               "1 when both wire ports work (what the bypass waits for), by mode.");
        sample1(b, "tapbox_port_pair_ready", "mode", port_mode_name(port_pair_mode(v->ports)),
                port_pair_ready(v->ports));
    }

    if (v->bypass) {
        struct bypass_status st;
        bypass_get_status(v->bypass, &st);
        family(b, "tapbox_bypass_engaged", "gauge",
               "1 while the bypass relay is commanded to join the two ports.");
        sample(b, "tapbox_bypass_engaged", st.engaged);
        family(b, "tapbox_bypass_engage_total", "counter",
               "Times the relay went (back) into bypass after being out.");
        sample(b, "tapbox_bypass_engage_total", (double)st.engage_count);
        family(b, "tapbox_watchdog_pets_total", "counter", "Hardware watchdog pets.");
        sample(b, "tapbox_watchdog_pets_total", (double)st.pets);
        family(b, "tapbox_watchdog_stalls_total", "counter",
               "Loop stalls above the watchdog's stall threshold (one latches the bypass).");
        sample(b, "tapbox_watchdog_stalls_total", (double)st.stalls);
    }

    if (v->policy) {
        size_t n = policy_rule_count(v->policy);
        static const char *const names[3][2] = {
            {"tapbox_policy_flows_total", "Flows decided by the inline policy rule."},
            {"tapbox_policy_packets_total", "Packets decided by the inline policy rule."},
            {"tapbox_policy_bytes_total", "Bytes decided by the inline policy rule."},
        };
        for (int k = 0; k < 3; k++) {
            family(b, names[k][0], "counter", names[k][1]);
            for (size_t i = 0; i < n; i++) {
                const struct policy_rule_stats *r = policy_rule_stats(v->policy, i);
                if (r)
                    sample1(b, names[k][0], "rule", r->name,
                            (double)(k == 0 ? r->flows : k == 1 ? r->packets : r->bytes));
            }
        }
        /* The default bucket in families of its own: a rule may be named "default". */
        struct policy_rule_stats def;
        bool undetected_drop = false;
        policy_default_stats(v->policy, &def, &undetected_drop);
        family(b, "tapbox_policy_default_flows_total", "counter",
               "Flows no inline policy rule matched.");
        sample(b, "tapbox_policy_default_flows_total", (double)def.flows);
        family(b, "tapbox_policy_default_packets_total", "counter",
               "Packets of flows no inline policy rule matched.");
        sample(b, "tapbox_policy_default_packets_total", (double)def.packets);
        family(b, "tapbox_policy_default_bytes_total", "counter",
               "Bytes of flows no inline policy rule matched.");
        sample(b, "tapbox_policy_default_bytes_total", (double)def.bytes);
    }
}

static void per_source(struct web_buf *b, const struct engine *e, const char *name,
                       const char *type, const char *help, size_t offset)
{
    family(b, name, type, help);
    for (unsigned i = 0; i < engine_source_count(e); i++) {
        const struct source_info *s = engine_source(e, i);
        uint64_t v;
        memcpy(&v, (const char *)s + offset, sizeof v);
        sample1(b, name, "source", s->name, (double)v);
    }
}

#define SRC_FIELD(f) offsetof(struct source_info, f)

char *web_metrics_text(struct web *w, size_t *len)
{
    struct engine *e = w->engine;
    struct engine_snapshot snap;
    engine_snapshot(e, &snap);
    struct web_buf b = {0};
    time_t now = time(NULL);

    family(&b, "tapbox_build_info", "gauge", "Version of tapboxd.");
    sample1(&b, "tapbox_build_info", "version", TAPBOX_VERSION, 1);
    family(&b, "tapbox_uptime_seconds", "gauge", "Seconds since tapboxd started.");
    sample(&b, "tapbox_uptime_seconds",
           (double)((uint64_t)now > w->view.started_unix_s ? (uint64_t)now - w->view.started_unix_s
                                                          : 0));

    per_source(&b, e, "tapbox_source_packets_total", "counter", "Frames captured per source.",
               SRC_FIELD(counters.packets));
    per_source(&b, e, "tapbox_source_bytes_total", "counter",
               "Bytes (frame length on the wire) per source.", SRC_FIELD(counters.bytes));
    per_source(&b, e, "tapbox_source_malformed_total", "counter",
               "Malformed frames per source (counted, skipped).", SRC_FIELD(counters.malformed));
    per_source(&b, e, "tapbox_source_unaccounted_total", "counter",
               "Frames of a source the flow cap left unaccounted.",
               SRC_FIELD(counters.unaccounted));
    per_source(&b, e, "tapbox_source_capture_drops_total", "counter",
               "Frames the kernel dropped before capture, per source.", SRC_FIELD(capture_drops));
    per_source(&b, e, "tapbox_source_interface_drops_total", "counter",
               "Frames the interface dropped, per source.", SRC_FIELD(interface_drops));
    family(&b, "tapbox_source_up", "gauge", "1 when the source is capturing.");
    for (unsigned i = 0; i < engine_source_count(e); i++)
        sample1(&b, "tapbox_source_up", "source", engine_source(e, i)->name,
                engine_source(e, i)->state == SOURCE_UP);

    family(&b, "tapbox_packets_total", "counter", "Frames captured, all sources.");
    sample(&b, "tapbox_packets_total", (double)snap.totals.packets);
    family(&b, "tapbox_bytes_total", "counter", "Bytes captured, all sources.");
    sample(&b, "tapbox_bytes_total", (double)snap.totals.bytes);
    family(&b, "tapbox_malformed_total", "counter", "Malformed frames by reason.");
    for (int r = DECODE_NOT_IP + 1; r < DECODE_STATUS_COUNT; r++)
        sample1(&b, "tapbox_malformed_total", "reason", decode_status_name((enum decode_status)r),
                (double)snap.totals.malformed_by_reason[r]);

    family(&b, "tapbox_flows", "gauge", "Flows in the table.");
    sample(&b, "tapbox_flows", (double)snap.flows_active);
    family(&b, "tapbox_flows_created_total", "counter", "Flows created.");
    sample(&b, "tapbox_flows_created_total", (double)snap.flows_created);
    family(&b, "tapbox_flows_expired_total", "counter", "Flows ended.");
    sample(&b, "tapbox_flows_expired_total", (double)snap.flows_expired);
    family(&b, "tapbox_hosts", "gauge", "Hosts in the table.");
    sample(&b, "tapbox_hosts", (double)snap.hosts_active);
    family(&b, "tapbox_hosts_created_total", "counter", "Hosts created.");
    sample(&b, "tapbox_hosts_created_total", (double)snap.hosts_created);

    const struct engine_cap *caps = snap.caps;
    family(&b, "tapbox_cap_used", "gauge", "Entries in use per capped table.");
    for (size_t i = 0; i < ENGINE_CAP_COUNT; i++)
        sample1(&b, "tapbox_cap_used", "cap", caps[i].name, (double)caps[i].used);
    family(&b, "tapbox_cap_max", "gauge", "Configured cap per table.");
    for (size_t i = 0; i < ENGINE_CAP_COUNT; i++)
        sample1(&b, "tapbox_cap_max", "cap", caps[i].name, (double)caps[i].max);
    family(&b, "tapbox_cap_refused_total", "counter",
           "Entries refused (or evicted, for dpi_flows) because a cap was reached.");
    for (size_t i = 0; i < ENGINE_CAP_COUNT; i++)
        sample1(&b, "tapbox_cap_refused_total", "cap", caps[i].name, (double)caps[i].refused);

    family(&b, "tapbox_memory_bytes", "gauge", "Memory held by the engine's parts.");
    sample1(&b, "tapbox_memory_bytes", "part", "flows", (double)snap.memory.flows);
    sample1(&b, "tapbox_memory_bytes", "part", "hosts", (double)snap.memory.hosts);
    sample1(&b, "tapbox_memory_bytes", "part", "ndpi", (double)snap.memory.ndpi);
    sample1(&b, "tapbox_memory_bytes", "part", "strings", (double)snap.memory.strings);
    sample1(&b, "tapbox_memory_bytes", "part", "total", (double)snap.memory.total);
    family(&b, "tapbox_memory_peak_bytes", "gauge", "Highest engine memory seen.");
    sample(&b, "tapbox_memory_peak_bytes", (double)snap.memory.peak);
    family(&b, "tapbox_process_resident_memory_bytes", "gauge", "Resident memory of tapboxd.");
    sample(&b, "tapbox_process_resident_memory_bytes", (double)web_process_rss());

    family(&b, "tapbox_loop_stalls_total", "counter",
           "Ticks of the one schedule that came more than half a second late.");
    sample(&b, "tapbox_loop_stalls_total", w->view.loop_stalls ? (double)*w->view.loop_stalls : 0);

    struct l7_row *rows;
    int n = query_l7(e, &rows);
    family(&b, "tapbox_l7_bytes_total", "counter", "Bytes per application protocol.");
    for (int i = 0; i < n; i++)
        sample1(&b, "tapbox_l7_bytes_total", "protocol", rows[i].name,
                (double)rows[i].counter.bytes);
    family(&b, "tapbox_l7_flows_total", "counter", "Flows per application protocol.");
    for (int i = 0; i < n; i++)
        sample1(&b, "tapbox_l7_flows_total", "protocol", rows[i].name,
                (double)rows[i].counter.flows);
    if (n >= 0)
        free(rows);

    family(&b, "tapbox_http_requests_total", "counter", "API, metrics and Lua requests.");
    sample(&b, "tapbox_http_requests_total", (double)w->stats.requests);
    family(&b, "tapbox_http_errors_total", "counter", "API answers with an error status.");
    sample1(&b, "tapbox_http_errors_total", "class", "4xx", (double)w->stats.errors_4xx);
    sample1(&b, "tapbox_http_errors_total", "class", "5xx", (double)w->stats.errors_5xx);
    family(&b, "tapbox_http_connections", "gauge", "Open HTTP(S) connections.");
    sample(&b, "tapbox_http_connections", w->stats.connections);
    family(&b, "tapbox_http_connections_refused_total", "counter",
           "Connections refused (connection cap, or HTTPS not ready).");
    sample(&b, "tapbox_http_connections_refused_total", (double)w->stats.connections_refused);
    family(&b, "tapbox_login_failures_total", "counter", "Failed logins.");
    sample(&b, "tapbox_login_failures_total", (double)w->auth.logins.failed);
    const struct auth_login_stats *ls = &w->auth.logins;
    family(&b, "tapbox_login_rate_limited_total", "counter",
           "Logins refused (429) by the login limits.");
    sample(&b, "tapbox_login_rate_limited_total",
           (double)(ls->limited + ls->user_limited + ls->budget_refused + ls->address_busy +
                    ls->slots_full));
    family(&b, "tapbox_login_busy_total", "counter", "Logins refused (503): hash queue full.");
    sample(&b, "tapbox_login_busy_total", (double)ls->busy);
    family(&b, "tapbox_lua_calls_total", "counter", "Lua page calls.");
    sample(&b, "tapbox_lua_calls_total", (double)web_lua_calls(w->lua));
    family(&b, "tapbox_lua_aborts_total", "counter",
           "Lua page calls stopped by their instruction budget, memory cap or time limit.");
    sample(&b, "tapbox_lua_aborts_total", (double)web_lua_aborts(w->lua));

    const struct ntap_collector *nc = w->view.ntap;
    if (nc) {
        const struct ntap_rx_totals *tot = ntap_collector_totals(nc);
        unsigned taps = ntap_collector_tap_count(nc);
        family(&b, "tapbox_ntap_taps", "gauge", "Remote taps known to the nTap collector.");
        sample(&b, "tapbox_ntap_taps", taps);
        family(&b, "tapbox_ntap_datagrams_total", "counter", "nTap datagrams received.");
        sample(&b, "tapbox_ntap_datagrams_total", (double)tot->datagrams);
        family(&b, "tapbox_ntap_accepted_total", "counter", "nTap datagrams accepted.");
        sample(&b, "tapbox_ntap_accepted_total", (double)tot->accepted);
        family(&b, "tapbox_ntap_packets_total", "counter", "Packets received from remote taps.");
        sample(&b, "tapbox_ntap_packets_total", (double)tot->packets);
        family(&b, "tapbox_ntap_drops_total", "counter", "nTap datagrams refused, by reason.");
        for (int r = 1; r < NTAP_DROP_COUNT; r++)
            sample1(&b, "tapbox_ntap_drops_total", "reason", ntap_drop_name((enum ntap_drop)r),
                    (double)tot->drops[r]);
        family(&b, "tapbox_ntap_socket_drops_total", "counter",
               "nTap datagrams the kernel dropped (receive buffer full).");
        sample(&b, "tapbox_ntap_socket_drops_total", (double)ntap_collector_socket_drops(nc));
        family(&b, "tapbox_ntap_tap_datagrams_total", "counter", "nTap datagrams per remote tap.");
        char id[16];
        for (unsigned i = 0; i < taps; i++) {
            const struct ntap_tap *t = ntap_collector_tap(nc, i);
            snprintf(id, sizeof id, "%08x", t->tap_id);
            sample1(&b, "tapbox_ntap_tap_datagrams_total", "tap", id, (double)t->stats.datagrams);
        }
        family(&b, "tapbox_ntap_tap_lost_total", "counter", "nTap datagrams lost per remote tap.");
        for (unsigned i = 0; i < taps; i++) {
            const struct ntap_tap *t = ntap_collector_tap(nc, i);
            snprintf(id, sizeof id, "%08x", t->tap_id);
            sample1(&b, "tapbox_ntap_tap_lost_total", "tap", id, (double)t->stats.lost);
        }
    }

    box_metrics(&b, &w->view);

    if (b.oom) {
        web_buf_free(&b);
        return NULL;
    }
    *len = b.len;
    return b.data;
}
