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

/* protocols_file: extra rules in nDPI's protos.txt format (NULL for none). Returns NULL with a
 * reason in err on failure. */
struct l7_module *l7_module_create(const char *protocols_file, char *err, size_t errsize);
void l7_module_destroy(struct l7_module *mod);

/* Per-flow detection state (about 700 bytes); NULL when out of memory. */
struct ndpi_flow_struct *l7_flow_state_new(void);
void l7_flow_state_free(struct ndpi_flow_struct *state);

/* Feed one IP packet (l3 must be 4-byte aligned: Cortex-A8 traps on unaligned loads).
 * flow_packets is the flow's packet count including this one; l4_proto the IP protocol;
 * extra_packets counts the packets fed after detection (zero it with the state); at most
 * max_extra_packets go to nDPI's extra dissection once the protocol is known. */
/* Whether a flow of this many packets is past the give-up point of its L4 protocol. */
bool l7_flow_past_giveup(uint64_t flow_packets, uint8_t l4_proto);
enum l7_progress l7_flow_feed(struct l7_module *mod, struct ndpi_flow_struct *state,
                              const uint8_t *l3, uint32_t len, uint64_t time_ms,
                              uint64_t flow_packets, uint8_t l4_proto, struct l7_result *result,
                              uint8_t *extra_packets, uint8_t max_extra_packets);

/* No more packets will come: settle the result (guessing by port if nothing was found). */
void l7_flow_giveup(struct l7_module *mod, struct ndpi_flow_struct *state,
                    struct l7_result *result);

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
