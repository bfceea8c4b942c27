#include "query/query.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define QUERY_DEFAULT_LIMIT 25

void host_query_init(struct host_query *q)
{
    memset(q, 0, sizeof *q);
    q->sort = HOST_SORT_BYTES;
    q->order = QUERY_DESC;
}

void flow_query_init(struct flow_query *q)
{
    memset(q, 0, sizeof *q);
    q->sort = FLOW_SORT_BYTES;
    q->order = QUERY_DESC;
    q->l7_proto = q->port = q->l4_proto = q->source = -1;
}

void query_address_text(uint8_t ip_version, const uint8_t addr[16], char *buf, size_t size)
{
    if (!inet_ntop(ip_version == 4 ? AF_INET : AF_INET6, addr, buf, (socklen_t)size) && size)
        buf[0] = '\0';
}

static int cmp_u64(uint64_t a, uint64_t b) { return a < b ? -1 : a > b; }

/* Returns <0 when a sorts before b in ascending order of the key. */
static int host_compare(const struct host *a, const struct host *b, enum host_sort sort)
{
    int c;
    switch (sort) {
    case HOST_SORT_PACKETS:
        c = cmp_u64(a->packets_sent + a->packets_rcvd, b->packets_sent + b->packets_rcvd);
        break;
    case HOST_SORT_FLOWS:
        c = cmp_u64(a->flows_active, b->flows_active);
        break;
    case HOST_SORT_FIRST_SEEN:
        c = cmp_u64(a->first_us, b->first_us);
        break;
    case HOST_SORT_LAST_SEEN:
        c = cmp_u64(a->last_us, b->last_us);
        break;
    case HOST_SORT_ADDRESS:
        c = cmp_u64(a->key.ip_version, b->key.ip_version);
        break;
    case HOST_SORT_BYTES:
    default:
        c = cmp_u64(a->bytes_sent + a->bytes_rcvd, b->bytes_sent + b->bytes_rcvd);
        break;
    }
    /* Ties broken by address so that paging is stable. */
    if (c == 0)
        c = memcmp(&a->key, &b->key, sizeof a->key);
    return c;
}

static int flow_compare(const struct flow *a, const struct flow *b, enum flow_sort sort)
{
    int c;
    switch (sort) {
    case FLOW_SORT_PACKETS:
        c = cmp_u64(a->packets[0] + a->packets[1], b->packets[0] + b->packets[1]);
        break;
    case FLOW_SORT_FIRST_SEEN:
        c = cmp_u64(a->first_us, b->first_us);
        break;
    case FLOW_SORT_LAST_SEEN:
        c = cmp_u64(a->last_us, b->last_us);
        break;
    case FLOW_SORT_ID:
        c = 0;
        break;
    case FLOW_SORT_BYTES:
    default:
        c = cmp_u64(a->bytes[0] + a->bytes[1], b->bytes[0] + b->bytes[1]);
        break;
    }
    return c ? c : cmp_u64(a->id, b->id);
}

/*
 * Top-K selection: keep the offset+limit best items in a heap whose root is the worst kept, so a
 * page costs O(n log k) time and k pointers of memory, never a copy of the whole table.
 */
struct topk {
    const void **heap;
    size_t size, cap, total;
    int (*before)(const void *a, const void *b, const void *query); /* a ranks before b */
    const void *query;
};

static void topk_sift_down(struct topk *t, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, worst = i;
        if (l < t->size && t->before(t->heap[worst], t->heap[l], t->query))
            worst = l;
        if (r < t->size && t->before(t->heap[worst], t->heap[r], t->query))
            worst = r;
        if (worst == i)
            return;
        const void *tmp = t->heap[i];
        t->heap[i] = t->heap[worst];
        t->heap[worst] = tmp;
        i = worst;
    }
}

static void topk_add(struct topk *t, const void *item)
{
    t->total++;
    if (t->cap == 0)
        return;
    if (t->size < t->cap) {
        size_t i = t->size++;
        t->heap[i] = item;
        while (i > 0) { /* sift up: the worst item rises to the root */
            size_t parent = (i - 1) / 2;
            if (!t->before(t->heap[parent], t->heap[i], t->query))
                break;
            const void *tmp = t->heap[i];
            t->heap[i] = t->heap[parent];
            t->heap[parent] = tmp;
            i = parent;
        }
    } else if (t->before(item, t->heap[0], t->query)) {
        t->heap[0] = item;
        topk_sift_down(t, 0);
    }
}

/* Pop the heap into rank order and keep the requested page. */
static void topk_finish(struct topk *t, size_t offset, struct query_page *page)
{
    size_t n = t->size;
    while (t->size > 1) {
        const void *worst = t->heap[0];
        t->heap[0] = t->heap[--t->size];
        t->heap[t->size] = worst;
        topk_sift_down(t, 0);
    }
    page->total = t->total;
    page->count = n > offset ? n - offset : 0;
    if (page->count)
        memmove(t->heap, t->heap + offset, page->count * sizeof *t->heap);
    page->items = t->heap;
}

static size_t effective_limit(size_t limit)
{
    if (limit == 0)
        return QUERY_DEFAULT_LIMIT;
    return limit > QUERY_MAX_LIMIT ? QUERY_MAX_LIMIT : limit;
}

static int topk_init(struct topk *t, size_t offset, size_t limit, size_t available)
{
    memset(t, 0, sizeof *t);
    size_t want = offset + effective_limit(limit);
    t->cap = want < available ? want : available;
    t->heap = malloc((t->cap ? t->cap : 1) * sizeof *t->heap);
    return t->heap ? 0 : -1;
}

static int host_before(const void *a, const void *b, const void *query)
{
    const struct host_query *q = query;
    int c = host_compare(a, b, q->sort);
    return q->order == QUERY_ASC ? c < 0 : c > 0;
}

static bool host_matches(const struct engine *e, const struct host *h, const struct host_query *q)
{
    if (q->locality == HOST_LOCAL && !h->local)
        return false;
    if (q->locality == HOST_REMOTE && h->local)
        return false;
    if (q->text && q->text[0]) {
        char text[64];
        query_address_text(h->key.ip_version, h->key.addr, text, sizeof text);
        const struct name_entry *name = engine_host_name(e, h);
        if (!strcasestr(text, q->text) && !(name && strcasestr(name->name, q->text)))
            return false;
    }
    return true;
}

int query_hosts(const struct engine *e, const struct host_query *q, struct query_page *page)
{
    struct topk t;
    memset(page, 0, sizeof *page);
    if (topk_init(&t, q->offset, q->limit, e->hosts.count) < 0)
        return -1;
    t.before = host_before;
    t.query = q;
    for (uint32_t i = 0; i <= e->hosts.bucket_mask; i++)
        for (const struct host *h = e->hosts.buckets[i]; h; h = h->hash_next)
            if (host_matches(e, h, q))
                topk_add(&t, h);
    topk_finish(&t, q->offset, page);
    return 0;
}

static int flow_before(const void *a, const void *b, const void *query)
{
    const struct flow_query *q = query;
    int c = flow_compare(a, b, q->sort);
    return q->order == QUERY_ASC ? c < 0 : c > 0;
}

static bool flow_matches(const struct flow *f, const struct flow_query *q)
{
    if (q->has_host) {
        if (f->key.ip_version != q->host_version)
            return false;
        if (memcmp(f->key.addr_lo, q->host_addr, 16) && memcmp(f->key.addr_hi, q->host_addr, 16))
            return false;
    }
    /* Unknown (0) is a flow with neither a master nor an application; any other id matches
     * either level (app 0 only means "no application", which single-level protocols have). */
    if (q->l7_proto == 0 && (f->l7.master != 0 || f->l7.app != 0))
        return false;
    if (q->l7_proto > 0 && f->l7.master != q->l7_proto && f->l7.app != q->l7_proto)
        return false;
    if (q->port >= 0 && f->key.port_lo != q->port && f->key.port_hi != q->port)
        return false;
    if (q->l4_proto >= 0 && f->key.l4_proto != q->l4_proto)
        return false;
    if (q->source >= 0 && f->source != q->source)
        return false;
    return true;
}

struct flow_walk {
    struct topk *topk;
    const struct flow_query *q;
};

static int flow_walk_add(const struct flow *f, void *ctx)
{
    struct flow_walk *w = ctx;
    if (flow_matches(f, w->q))
        topk_add(w->topk, f);
    return 0;
}

int query_flows(const struct engine *e, const struct flow_query *q, struct query_page *page)
{
    struct topk t;
    memset(page, 0, sizeof *page);
    if (topk_init(&t, q->offset, q->limit, e->flows.count) < 0)
        return -1;
    t.before = flow_before;
    t.query = q;
    struct flow_walk w = {&t, q};
    flow_table_foreach(&e->flows, flow_walk_add, &w);
    topk_finish(&t, q->offset, page);
    return 0;
}

const struct host *query_host_find(const struct engine *e, uint8_t ip_version,
                                   const uint8_t addr[16], uint16_t vlan)
{
    struct host_key key;
    host_key_make(&key, vlan, ip_version, addr);
    return host_table_find(&e->hosts, &key);
}

void query_page_free(struct query_page *page)
{
    free(page->items);
    page->items = NULL;
    page->count = page->total = 0;
}

static int l7_row_compare(const void *a, const void *b)
{
    const struct l7_row *x = a, *y = b;
    if (x->counter.bytes != y->counter.bytes)
        return x->counter.bytes < y->counter.bytes ? 1 : -1;
    return (int)x->proto - (int)y->proto;
}

int query_l7(const struct engine *e, struct l7_row **rows)
{
    uint16_t size;
    const struct l7_counter *stats = engine_l7_counters(e, &size);
    size_t n = 0;
    for (uint16_t id = 0; id < size; id++)
        if (stats[id].packets)
            n++;
    *rows = calloc(n ? n : 1, sizeof **rows);
    if (!*rows)
        return -1;
    size_t i = 0;
    for (uint16_t id = 0; id < size; id++) {
        if (!stats[id].packets)
            continue;
        (*rows)[i].proto = id;
        (*rows)[i].name = l7_protocol_name(engine_l7(e), id);
        (*rows)[i].counter = stats[id];
        i++;
    }
    qsort(*rows, n, sizeof **rows, l7_row_compare);
    return (int)n;
}

int query_host_sort_parse(const char *name, enum host_sort *out)
{
    static const struct {
        const char *name;
        enum host_sort sort;
    } names[] = {{"bytes", HOST_SORT_BYTES},           {"packets", HOST_SORT_PACKETS},
                 {"flows", HOST_SORT_FLOWS},           {"first_seen", HOST_SORT_FIRST_SEEN},
                 {"last_seen", HOST_SORT_LAST_SEEN},   {"ip", HOST_SORT_ADDRESS}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].sort;
            return 0;
        }
    return -1;
}

int query_flow_sort_parse(const char *name, enum flow_sort *out)
{
    static const struct {
        const char *name;
        enum flow_sort sort;
    } names[] = {{"bytes", FLOW_SORT_BYTES},
                 {"packets", FLOW_SORT_PACKETS},
                 {"first_seen", FLOW_SORT_FIRST_SEEN},
                 {"last_seen", FLOW_SORT_LAST_SEEN},
                 {"id", FLOW_SORT_ID}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].sort;
            return 0;
        }
    return -1;
}
