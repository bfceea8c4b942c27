/*
 * Application-protocol detection with nDPI 4.2. Owned by the loop thread: the nDPI module and
 * every per-flow state are touched only there.
 */
#ifndef TAPBOX_L7_H
#define TAPBOX_L7_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct l7_module;
struct ndpi_flow_struct;

/* What nDPI said about a flow: ids as in nDPI (master 0 when there is none). */
struct l7_result {
    uint16_t master;
    uint16_t app;
    uint16_t category;
    bool guessed;   /* from ports/addresses at give-up, not from payload */
};

enum l7_progress {
    L7_CONTINUE, /* keep feeding packets */
    L7_DONE      /* result final: free the state */
};

/* Files nDPI reads at start (NULL: none): extra rules in its protos.txt format, and the
 * threat lists its risks are checked against (risky domain names, one per line; abuse.ch-style
 * CSV lists of malicious JA3 and certificate SHA-1 fingerprints). */
struct l7_files {
    const char *protocols;
    const char *risky_domains;
    const char *malicious_ja3;
    const char *malicious_sha1;
};

/* Returns NULL with a reason in err on failure (a file nDPI cannot read is named). */
struct l7_module *l7_module_create(const struct l7_files *files, char *err, size_t errsize);
void l7_module_destroy(struct l7_module *mod);

/* Per-flow detection state (about 700 bytes); NULL when out of memory. */
struct ndpi_flow_struct *l7_flow_state_new(void);
void l7_flow_state_free(struct ndpi_flow_struct *state);

/* Feed one IP packet (l3 must be 4-byte aligned: Cortex-A8 traps on unaligned loads).
 * flow_packets is the flow's packet count including this one; l4_proto the IP protocol;
 * extra_packets counts the packets fed after detection (zero it with the state); at most
 * max_extra_packets go to nDPI's extra dissection once the protocol is known (packets fed with
 * counts false, bare acknowledgements, do not use that allowance up). */
/* Whether a flow of this many packets is past the give-up point of its L4 protocol. */
bool l7_flow_past_giveup(uint64_t flow_packets, uint8_t l4_proto);
enum l7_progress l7_flow_feed(struct l7_module *mod, struct ndpi_flow_struct *state,
                              const uint8_t *l3, uint32_t len, uint64_t time_ms,
                              uint64_t flow_packets, uint8_t l4_proto, struct l7_result *result,
                              uint8_t *extra_packets, uint8_t max_extra_packets, bool counts);

/* No more packets will come: settle the result (guessing by port if nothing was found). */
void l7_flow_giveup(struct l7_module *mod, struct ndpi_flow_struct *state,
                    struct l7_result *result);

/* What nDPI parsed out of a flow besides its protocol. The strings point into the detection
 * state (NULL or "" when absent) and are valid until l7_flow_state_free: copy what you keep. */
struct l7_details {
    const char *host_name;    /* TLS/QUIC SNI, HTTP Host, DNS query name, ... */
    const char *ja3c, *ja3s;  /* TLS client and server fingerprints (MD5 hex) */
    const char *issuer, *subject; /* TLS server certificate distinguished names */
    const char *url;          /* HTTP request path */
    const char *user_agent;
    uint32_t not_before, not_after; /* certificate validity, Unix seconds (0: not seen) */
    uint16_t http_status;     /* HTTP response status (0: none) */
    uint16_t dns_qtype;       /* DNS query type (0: not DNS) */
    uint8_t dns_rcode;
    bool dns_reply;           /* a DNS response was seen (dns_rcode is its code) */
    uint64_t risks;           /* bitmask of nDPI flow risks (bit n: ndpi_risk_enum n) */
    uint16_t risk_score;
};

void l7_flow_details(const struct ndpi_flow_struct *state, const struct l7_result *r,
                     struct l7_details *out);
/* Whether a flow of this protocol names its server by TLS/QUIC SNI (tls true) or by HTTP
 * Host (tls false) in l7_details.host_name. */
bool l7_names_server(uint16_t app, uint16_t master, bool tls);
/* Whether its host_name is the client's own name (DHCP, NetBIOS); *source_out is an enum
 * name_source (flow/name_table.h). */
struct l7_result;
bool l7_names_client(uint16_t app, uint16_t master, unsigned *source_out);
/* Name of risk bit n (as ndpiReader prints it), NULL past the last one. */
const char *l7_risk_name(unsigned bit);
/* The score nDPI gives a risk bitmask (client and server parts added). */
uint16_t l7_risk_score(uint64_t risks);
/* Risk bit by name (case-insensitive), -1 if none. */
int l7_risk_id(const char *name);
#define L7_RISK_BITS 64

/* "TLS.YouTube", "DNS", "Unknown". */
void l7_result_name(const struct l7_module *mod, const struct l7_result *r, char *buf,
                    size_t size);
const char *l7_protocol_name(const struct l7_module *mod, uint16_t id);
/* Protocol id by name (case-insensitive), -1 if none. */
int l7_protocol_id(const struct l7_module *mod, const char *name);
const char *l7_category_name(const struct l7_module *mod, uint16_t category);
uint16_t l7_protocol_count(const struct l7_module *mod);

/* Bytes nDPI holds right now (module and flow states). */
size_t l7_memory_in_use(void);

#endif
