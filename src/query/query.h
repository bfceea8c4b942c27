/*
 * The one read API over the engine: sorted, filtered, paged hosts and flows, the L7 breakdown and
 * the counters. REST, Lua and the tests all go through here. Results point into the engine's
 * tables: use them on the loop thread, before the engine processes another packet.
 */
#ifndef TAPBOX_QUERY_H
#define TAPBOX_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow/engine.h"

#define QUERY_MAX_LIMIT 1000

enum query_order { QUERY_DESC = 0, QUERY_ASC };

enum host_sort {
    HOST_SORT_BYTES,        /* sent + received */
    HOST_SORT_PACKETS,
    HOST_SORT_FLOWS,        /* active flows */
    HOST_SORT_FIRST_SEEN,
    HOST_SORT_LAST_SEEN,
    HOST_SORT_ADDRESS,
};

enum host_locality { HOST_ANY = 0, HOST_LOCAL, HOST_REMOTE };

struct host_query {
    enum host_sort sort;
    enum query_order order;
    size_t offset;
    size_t limit;              /* 0 means the default (25); capped at QUERY_MAX_LIMIT */
    enum host_locality locality;
    const char *text;          /* substring of the address text or of the name, or NULL */
};

enum flow_sort {
    FLOW_SORT_BYTES,
    FLOW_SORT_PACKETS,
    FLOW_SORT_FIRST_SEEN,
    FLOW_SORT_LAST_SEEN,
    FLOW_SORT_ID,
};

struct flow_query {
    enum flow_sort sort;
    enum query_order order;
    size_t offset;
    size_t limit;
    bool has_host;             /* only flows with this address at either end */
    uint8_t host_version;
    uint8_t host_addr[16];
    int l7_proto;              /* nDPI id as master or app, or -1 */
    int port;                  /* either end, or -1 */
    int l4_proto;              /* IPPROTO_*, or -1 */
    int source;                /* source id, or -1 */
};

struct query_page {
    size_t total;              /* items matching the filter */
    size_t count;              /* items in this page */
    const void **items;        /* struct host * or struct flow * */
};

void host_query_init(struct host_query *q);
void flow_query_init(struct flow_query *q);

/* 0 on success (free with query_page_free), -1 when out of memory. */
int query_hosts(const struct engine *e, const struct host_query *q, struct query_page *page);
int query_flows(const struct engine *e, const struct flow_query *q, struct query_page *page);
void query_page_free(struct query_page *page);

struct l7_row {
    uint16_t proto;
    const char *name;
    struct l7_counter counter;
};

/* One host by address (and VLAN), or NULL. */
const struct host *query_host_find(const struct engine *e, uint8_t ip_version,
                                   const uint8_t addr[16], uint16_t vlan);

/* Protocols with traffic, by bytes, largest first. *rows is malloc'd; returns the count or -1. */
int query_l7(const struct engine *e, struct l7_row **rows);

/* Parse names used by the API; return -1 when unknown. */
int query_host_sort_parse(const char *name, enum host_sort *out);
int query_flow_sort_parse(const char *name, enum flow_sort *out);

/* Text of an address ("192.0.2.1", "2001:db8::1"). */
void query_address_text(uint8_t ip_version, const uint8_t addr[16], char *buf, size_t size);

#endif
