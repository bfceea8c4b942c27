/*
 * JSON views of the box around the flow engine: the port pair with its counters, the bypass
 * relay and watchdog, and the inline policies with their counters. Shared by the REST API and
 * tapboxd's --stats-out. Loop thread only (they read live loop-owned state).
 */
#ifndef TAPBOX_BOX_JSON_H
#define TAPBOX_BOX_JSON_H

#include <cjson/cJSON.h>

struct port_pair;
struct bypass;
struct policy_set;

/* {"mode", "source", "ports": [{side, name, interface, up, mtu, error, queue, counters...}]};
 * {"mode": null, "ports": []} without a port pair. */
cJSON *box_ports_json(const struct port_pair *pp);
/* {"present", "mode", "engaged", "reason", ... "watchdog": {...}}; present false without a board. */
cJSON *box_bypass_json(const struct bypass *b);
/* {"rules": [{name, rule, action, flows, packets, bytes, source: "config"|"ui"}], "default": {...}, "undetected"}. */
cJSON *box_policies_json(const struct policy_set *p);

#endif
