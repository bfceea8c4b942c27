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

/* DNS reply code names ("NXDOMAIN"), NULL when unnamed (type names: dns_type_name). */
const char *query_dns_rcode_name(uint8_t rcode);
/* ["Known Protocol on Non Standard Port", ...] from a risk bitmask (flow_info.risks). */
cJSON *query_risks_json(uint64_t risks);

/* What detection found for a flow, as shown (live flows and stored ones fill it alike). */
enum flow_text { FLOW_TEXT_HOST_NAME, FLOW_TEXT_JA3C, FLOW_TEXT_JA3S, FLOW_TEXT_ISSUER,
                 FLOW_TEXT_SUBJECT, FLOW_TEXT_URL, FLOW_TEXT_USER_AGENT, FLOW_TEXTS };
struct flow_details_view {
    const char *text[FLOW_TEXTS];     /* NULL or "": absent */
    uint32_t tls_not_before, tls_not_after;
    uint16_t http_status, dns_qtype, risk_score;
    uint8_t dns_rcode;
    bool dns_reply;
    uint64_t risks;
};
/* The handshake RTTs of a TCP flow (rtt_client_us, rtt_server_us), those measured. */
void query_add_tcp_rtts(cJSON *o, uint32_t rtt_client_us, uint32_t rtt_server_us);
/* Adds the fields found (host_name, ja3c, ..., risks, risk_score) to a flow object. */
void query_add_flow_details(cJSON *o, const struct flow_details_view *v);

/* sides may be NULL (no port pair). */
cJSON *query_flow_json(const struct engine *e, const struct flow_sides *sides,
                       const struct flow *f);
cJSON *query_host_json(const struct engine *e, const struct host *h);
cJSON *query_l7_json(const struct engine *e);
/* Counters, caps with their refusals, memory, and every source (from engine_snapshot). */
cJSON *query_status_json(const struct engine *e);

#endif
