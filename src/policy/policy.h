/*
 * Inline policies: an ordered list of rules that drop (or explicitly pass) flows by L7 protocol,
 * host/CIDR, VLAN, L4 port and L4 protocol, for the inline mode where tapboxd forwards frames
 * between its two ports. Owned by the policy module (src/policy/); the flow engine asks it for
 * one verdict per flow and reports the traffic each verdict covered.
 *
 * Everything here belongs to the loop thread: a set is built, consulted, counted, carried over
 * and destroyed there, with no locking. Other threads must not touch a set.
 *
 * Rule syntax (one --policy value per rule):
 *
 *     NAME ACTION MATCH [MATCH ...]
 *
 *   NAME    [A-Za-z0-9_.-]{1,31}, unique within the set
 *   ACTION  drop | pass
 *   MATCH   key=v1[,v2...]: the values of one match are OR'ed, the matches of a rule AND'ed; a key
 *           may repeat ("host=10.0.0.0/8 host=8.8.8.8" is traffic between the two).
 *     proto=BitTorrent,Tor     nDPI protocol names, case-insensitive; the flow's master or app id
 *                              is one of them ("Unknown" matches a flow nDPI could not identify)
 *     host=10.1.2.3,fd00::/8   either endpoint in one of the networks (IPv4 and IPv6)
 *     vlan=10,20               outermost VLAN id, 0 = untagged
 *     port=23,6881-6889        either endpoint's port; only TCP and UDP flows can match
 *     l4=tcp,udp,icmp,icmp6,N  IP protocol (N = 0-255)
 *
 * Rules are evaluated in order, the first that matches decides; when none does the flow passes,
 * unless "undetected=drop" is set and nDPI finished without identifying the flow.
 * Caps: POLICY_MAX_RULES rules, POLICY_MAX_MATCHES matches per rule, POLICY_MAX_VALUES values
 * per match; exceeding one is a parse error.
 *
 * Addresses in struct policy_subject follow src/flow (flow_key, decoded_packet): 16 bytes in
 * network byte order; an IPv4 address sits in the first 4 bytes and the other 12 are zero.
 * Ports are in host byte order.
 */
#ifndef TAPBOX_POLICY_H
#define TAPBOX_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLICY_MAX_RULES 256
#define POLICY_MAX_MATCHES 16
#define POLICY_MAX_VALUES 64
#define POLICY_NAME_MAX 31

enum policy_verdict { POLICY_PENDING = 0, POLICY_PASS = 1, POLICY_DROP = 2 };

/* What a verdict is decided on: one flow, either direction (endpoint order does not matter). */
struct policy_subject {
    uint16_t vlan;        /* outermost 802.1Q id, 0 if untagged */
    uint8_t ip_version;   /* 4 or 6 */
    uint8_t l4_proto;     /* IPPROTO_* */
    uint8_t addr[2][16];  /* network order; IPv4 in the first 4 bytes, the rest zero */
    uint16_t port[2];     /* host order; 0 for protocols without ports */
    bool l7_final;        /* nDPI is done: l7_master/l7_app are the answer */
    uint16_t l7_master, l7_app; /* nDPI ids; 0 = unknown / none */
};

/* One rule's counters: the flows, packets and bytes it dropped (or passed, for pass rules). */
struct policy_rule_stats {
    char name[32];
    char text[256]; /* the rule as written, whitespace collapsed; "..." ends a longer one */
    uint64_t flows, packets, bytes;
    bool ui; /* added over the REST API (DATA_DIR/policies.conf), not from the config */
};

struct policy_set;

/* An empty set (no rules, undetected=pass), or NULL when out of memory. */
struct policy_set *policy_set_create(void);

/* Parse one rule and append it. l7_id resolves a protocol name to its nDPI id (-1 if unknown);
 * it is called only during this call. Returns 0, or -1 with the set unchanged and err saying
 * what is wrong and where, e.g. "unknown protocol 'BitTorent' in proto=". */
int policy_set_add(struct policy_set *s, const char *rule_text,
                   int (*l7_id)(void *ctx, const char *name), void *ctx, char *err,
                   size_t errsize);

/* "pass" or "drop": the verdict for flows no rule matched and nDPI could not identify. */
int policy_set_undetected(struct policy_set *s, const char *pass_or_drop, char *err,
                          size_t errsize);

void policy_set_destroy(struct policy_set *s);

/*
 * Decide a flow. Rules are tried in order; a rule whose other matches hold but which also needs
 * proto= while the flow's L7 is not final cannot be decided yet, and since it would come first
 * it blocks every later rule: the answer is then POLICY_PENDING (ask again once l7_final is
 * set). With undetected=drop, a flow no rule matches is PENDING until L7 is final too.
 * Otherwise PASS or DROP, with *rule the index of the deciding rule or -1 (default/undetected).
 * Rules without proto= therefore decide at a flow's first packet. No allocation, no side effect.
 */
enum policy_verdict policy_decide(const struct policy_set *s, const struct policy_subject *f,
                                  int *rule);

/* Count traffic decided by a rule (rule -1 = the default/undetected bucket; other out-of-range
 * indexes are ignored). Call policy_count_flow once per decided flow. */
void policy_count_flow(struct policy_set *s, int rule);
void policy_count_packet(struct policy_set *s, int rule, uint32_t bytes);

size_t policy_rule_count(const struct policy_set *s);
/* Mark rule i as added over the REST API (its stats' ui); out-of-range indexes are ignored. */
void policy_rule_set_ui(struct policy_set *s, size_t i, bool ui);
/* Rule i's name, text and counters; NULL if i is out of range. Valid until the next
 * policy_set_add or policy_set_destroy. */
const struct policy_rule_stats *policy_rule_stats(const struct policy_set *s, size_t i);

/* The default bucket: flows no rule matched, both those passed and (with undetected=drop) those
 * dropped as undetected. name is "default", text "undetected=pass" or "undetected=drop". */
void policy_default_stats(const struct policy_set *s, struct policy_rule_stats *out,
                          bool *undetected_drop);

/* After a SIGHUP reload: copy the counters of every src rule to the dst rule with the same name
 * and the same text (whitespace aside), and the default bucket's when the undetected setting
 * is the same. Rules that changed start from zero. */
void policy_set_carry_counters(struct policy_set *dst, const struct policy_set *src);
/* The rule of dst whose counters continue src_rule's after a reload (same name and text; -1:
 * the default bucket, when its meaning is unchanged), or POLICY_RULE_NONE. A flow decided again
 * by that same rule is not counted twice. */
#define POLICY_RULE_NONE (-2)
/* Counters from before a restart (history), added to the rule with the same name and text (or
 * the default bucket: "default" with the same undetected setting); false when none matches. */
bool policy_set_restore_counters(struct policy_set *s, const struct policy_rule_stats *saved);
int policy_set_map_rule(const struct policy_set *dst, const struct policy_set *src, int src_rule);

#endif
