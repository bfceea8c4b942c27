#include "query/box_json.h"

#include "box/bypass.h"
#include "capture/port_pair.h"
#include "policy/policy.h"

#include <string.h>

static void add_u64(cJSON *o, const char *name, uint64_t v) { cJSON_AddNumberToObject(o, name, (double)v); }

cJSON *box_ports_json(const struct port_pair *pp)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (!pp) {
        cJSON_AddNullToObject(o, "mode");
        cJSON_AddBoolToObject(o, "ready", false);
        cJSON_AddArrayToObject(o, "ports");
        return o;
    }
    cJSON_AddStringToObject(o, "mode", port_mode_name(port_pair_mode(pp)));
    cJSON_AddBoolToObject(o, "ready", port_pair_ready(pp));
    cJSON *arr = cJSON_AddArrayToObject(o, "ports");
    for (int side = 0; side < 2; side++) {
        struct port_status st;
        port_pair_status(pp, side, &st);
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "side", side);
        cJSON_AddStringToObject(p, "name", st.name);
        cJSON_AddStringToObject(p, "interface", st.ifname);
        cJSON_AddBoolToObject(p, "up", st.up);
        cJSON_AddNumberToObject(p, "mtu", st.mtu);
        if (st.last_error[0])
            cJSON_AddStringToObject(p, "error", st.last_error);
        else
            cJSON_AddNullToObject(p, "error");
        cJSON_AddNumberToObject(p, "queue", st.queue_len);
        cJSON_AddNumberToObject(p, "queue_cap", st.queue_cap);
        cJSON_AddNumberToObject(p, "rx_packets_per_s", st.rx_pps);
        cJSON_AddNumberToObject(p, "rx_bits_per_s", st.rx_bps);
        cJSON_AddNumberToObject(p, "tx_packets_per_s", st.tx_pps);
        cJSON_AddNumberToObject(p, "tx_bits_per_s", st.tx_bps);
        add_u64(p, "rx_packets", st.c.rx_packets);
        add_u64(p, "rx_bytes", st.c.rx_bytes);
        add_u64(p, "tx_packets", st.c.tx_packets);
        add_u64(p, "tx_bytes", st.c.tx_bytes);
        add_u64(p, "queue_drops", st.c.queue_drops);
        add_u64(p, "tx_errors", st.c.tx_errors);
        add_u64(p, "oversize", st.c.oversize);
        add_u64(p, "policy_drops", st.c.policy_drops);
        add_u64(p, "policy_drop_bytes", st.c.policy_drop_bytes);
        add_u64(p, "bypassed", st.c.bypassed);
        add_u64(p, "kernel_drops", st.c.kernel_drops);
        add_u64(p, "reopens", st.c.reopens);
        cJSON_AddItemToArray(arr, p);
    }
    return o;
}

static const char *mode_name(enum bypass_mode m) { return bypass_mode_name(m); }

cJSON *box_bypass_json(const struct bypass *b)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddBoolToObject(o, "present", b != NULL);
    if (!b)
        return o;
    struct bypass_status st;
    bypass_get_status(b, &st);
    cJSON_AddStringToObject(o, "mode", mode_name(st.mode));
    cJSON_AddBoolToObject(o, "engaged", st.engaged);
    cJSON_AddStringToObject(o, "reason", st.reason);
    add_u64(o, "engage_count", st.engage_count);
    add_u64(o, "last_change_ms", st.last_change_unix_ms);
    cJSON_AddBoolToObject(o, "relay_present", st.have_relay);
    cJSON_AddStringToObject(o, "relay", st.relay);
    cJSON *w = cJSON_AddObjectToObject(o, "watchdog");
    cJSON_AddBoolToObject(w, "present", st.have_watchdog);
    cJSON_AddStringToObject(w, "device", st.watchdog);
    cJSON_AddBoolToObject(w, "armed", st.watchdog_armed);
    add_u64(w, "pets", st.pets);
    add_u64(w, "stalls", st.stalls);
    add_u64(w, "worst_stall_ms", st.worst_stall_ms);
    cJSON_AddNumberToObject(w, "stall_threshold_ms", st.stall_threshold_ms);
    cJSON_AddBoolToObject(w, "stall_latched", st.stall_latched);
    return o;
}

static cJSON *rule_json(const struct policy_rule_stats *r, const char *action)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", r->name);
    cJSON_AddStringToObject(o, "rule", r->text);
    if (action)
        cJSON_AddStringToObject(o, "action", action);
    add_u64(o, "flows", r->flows);
    add_u64(o, "packets", r->packets);
    add_u64(o, "bytes", r->bytes);
    return o;
}

cJSON *box_policies_json(const struct policy_set *p)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON *arr = cJSON_AddArrayToObject(o, "rules");
    if (!p) {
        cJSON_AddStringToObject(o, "undetected", "pass");
        return o;
    }
    for (size_t i = 0; i < policy_rule_count(p); i++) {
        const struct policy_rule_stats *r = policy_rule_stats(p, i);
        /* The action is the second word of the rule as written. */
        const char *sp = strchr(r->text, ' ');
        const char *action = sp && !strncmp(sp + 1, "drop", 4) ? "drop" : "pass";
        cJSON *rj = rule_json(r, action);
        cJSON_AddStringToObject(rj, "source", r->ui ? "ui" : "config");
        cJSON_AddItemToArray(arr, rj);
    }
    struct policy_rule_stats def;
    bool undetected_drop = false;
    policy_default_stats(p, &def, &undetected_drop);
    /* The default bucket: flows no rule matched (passed) and, with undetected=drop, flows nDPI
     * could not identify (dropped). */
    cJSON_AddItemToObject(o, "default", rule_json(&def, undetected_drop ? "pass|drop" : "pass"));
    cJSON_AddStringToObject(o, "undetected", undetected_drop ? "drop" : "pass");
    return o;
}
