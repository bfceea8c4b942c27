/* JSON views of the engine (cJSON), shared by the flow export, --stats-out and the REST API. */
#ifndef TAPBOX_QUERY_JSON_H
#define TAPBOX_QUERY_JSON_H

#include <cjson/cJSON.h>

#include "query/query.h"

/* The names of the two sides of the port-pair source (--port-names), for each flow's
 * client_side. A copy, so that flows ended after the pair closed (at stop) still carry them. */
#define QUERY_SIDE_NAME 16
struct flow_sides {
    int source;                /* the port pair's engine source, -1: none */
    char name[2][QUERY_SIDE_NAME];
};
struct port_pair;
/* From the pair (NULL: no pair, source -1). */
void query_flow_sides(const struct port_pair *pp, struct flow_sides *out);

/* "TCP", "UDP", "ICMPV6"...: the name flows carry for an L4 protocol, or NULL (a number then). */
const char *query_l4_name(uint8_t proto, uint8_t ip_version);

/* sides may be NULL (no port pair). */
cJSON *query_flow_json(const struct engine *e, const struct flow_sides *sides,
                       const struct flow *f);
cJSON *query_host_json(const struct engine *e, const struct host *h);
cJSON *query_l7_json(const struct engine *e);
/* Counters, caps with their refusals, memory, and every source (from engine_snapshot). */
cJSON *query_status_json(const struct engine *e);

#endif
