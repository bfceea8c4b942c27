/*
 * History in SQLite (-F / --history). The loop thread hands ended flows over as owned rows;
 * they wait in a bounded queue (rows beyond its cap are dropped and counted) and are written in
 * batches, one transaction each, by one writer on libuv's thread pool. SQLite is never called on
 * the loop thread: the database is opened, written, queried and closed in the pool, and every
 * result comes back through an after-work callback on the loop.
 *
 * Ownership: struct store and its queue belong to the loop thread. While a write is in flight
 * the worker owns that batch and the writer connection; while a query is in flight the worker
 * owns the query and the reader connection. Nothing else is shared.
 *
 * One file (DATA_DIR/history.db) with a kept rollback journal and synchronous=FULL: a commit
 * (a batch every few seconds, not a row) writes its appended pages once and journals the few it
 * changes, and a batch counted as committed is on the card: a power cut loses only what was
 * still queued. Queries and commits wait for each other (in the pool; see store_db_open).
 */
#ifndef TAPBOX_STORE_H
#define TAPBOX_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "query/query_json.h"

#define STORE_SCHEMA_VERSION 6
#define STORE_DEFAULT_QUEUE_ROWS 32768   /* rows waiting for the writer (~8 MiB) */
#define STORE_DEFAULT_BATCH_ROWS 4096    /* a batch is written at this many rows... */
#define STORE_DEFAULT_FLUSH_MS 5000      /* ...or when its oldest row is this old */
#define STORE_FILE_NAME "history.db"
#define STORE_DEFAULT_MAX_SHARE 0.5   /* of the file system's free space, when no cap is given */
#define STORE_MIN_MAX_BYTES (16ull << 20)
#define STORE_RETENTION_STEP 2000     /* oldest flows deleted per step when over the cap */

/* One ended flow, as stored: a copy made on the loop thread, owned by the batch. */
/* The texts a flow keeps (flow_info's strings), in this order. */
enum store_text { STORE_TEXT_HOST_NAME, STORE_TEXT_JA3C, STORE_TEXT_JA3S, STORE_TEXT_ISSUER,
                  STORE_TEXT_SUBJECT, STORE_TEXT_URL, STORE_TEXT_USER_AGENT, STORE_TEXTS };

struct store_flow {
    uint64_t id;
    uint64_t first_us, last_us;
    uint8_t ip_version, l4_proto;
    uint16_t vlan;
    uint8_t client_addr[16], server_addr[16];
    uint16_t client_port, server_port;
    uint64_t packets[2], bytes[2];       /* [0] client to server, [1] server to client */
    uint8_t tcp_flags[2];
    uint8_t l7_final, l7_guessed, tunnel_depth;
    char verdict[8];                     /* "", "pass", "drop" */
    char l7[48];
    char category[32];
    char source[96];
    char client_side[QUERY_SIDE_NAME];
    /* What detection found (struct flow_info): texts as offsets + 1 into the batch's text
     * arena (0: none), so a row carries only the bytes its flow has. */
    uint32_t text[STORE_TEXTS];
    uint32_t tls_not_before, tls_not_after;
    uint16_t http_status, dns_qtype, risk_score;
    uint8_t dns_rcode, dns_reply;
    uint64_t risks;
    /* TCP health per direction ([0] client to server) and the handshake as seen from the box */
    uint32_t retrans[2], out_of_order[2], zero_window[2];
    uint32_t rtt_client_us, rtt_server_us; /* 0: not measured */
};

/* One point of a time series: what a series (the box, one source, one L7 protocol) did in one
 * minute. Rolled up into hours and days as it is written. */
enum store_series_kind { STORE_SERIES_TOTAL, STORE_SERIES_SOURCE, STORE_SERIES_L7,
                         STORE_SERIES_PORT, STORE_SERIES_TAP, STORE_SERIES_HOST };
struct store_sample {
    uint64_t minute_s;         /* Unix time of the minute's start (of the 5 minutes, hosts) */
    enum store_series_kind kind;
    char key[96];              /* "" for the total; the source, protocol, port side name, tap
                                * id (8 hex digits) or host address */
    uint64_t bytes, packets, flows, drops;
};
#define STORE_MINUTE_DAYS 7    /* minute points kept this long; hours 90 days; days 5 years */
#define STORE_HOUR_DAYS 90
#define STORE_DAY_DAYS 1830
/* Ages each kind of data is kept (days; 0: the default; flows have none by default: the size
 * cap decides). The oldest go first, in small steps. */
struct store_retention {
    unsigned flow_days, minute_days, hour_days, day_days, host_days;
};
#define STORE_MAX_SAMPLES 512  /* series points a minute at most (the rest counted dropped) */
#define STORE_HOST_SERIES_S 300 /* local hosts have a point every 5 minutes */

/* Hosts and counters across restarts: saved every STORE_STATE_S seconds and at a clean stop,
 * read back at the open. */
#define STORE_STATE_S 300
#define STORE_HOSTS_MAX 262144   /* hosts history remembers; the least recently seen go first */
#define STORE_HOST_DAYS 90       /* ...and those not seen for this long */
enum store_counter_kind { STORE_COUNTER_SOURCE, STORE_COUNTER_RULE };
struct store_counter {
    enum store_counter_kind kind;
    char name[96];           /* the source's or the rule's name */
    char text[256];          /* the rule as written ("" for a source) */
    uint64_t flows, packets, bytes;
};
struct engine_host_record;
/* What history knew at the open (the most recently seen hosts first), handed over once. */
struct store_restore {
    struct engine_host_record *hosts;
    size_t nhosts;
    struct store_counter *counters;
    size_t ncounters;
};

struct store_options {
    const char *path;        /* the database file */
    size_t queue_rows;       /* 0: STORE_DEFAULT_QUEUE_ROWS */
    uint64_t max_bytes;      /* the database's size cap; 0: STORE_DEFAULT_MAX_SHARE of the free
                              * space of its file system at open (at least 16 MiB) */
    size_t batch_rows;       /* 0: STORE_DEFAULT_BATCH_ROWS */
    unsigned flush_ms;       /* 0: STORE_DEFAULT_FLUSH_MS */
    /* Called once on the loop after a good open with what was saved (nothing is restored
     * when NULL), before any query or write; r is valid during the call only. */
    void (*restored)(void *ctx, const struct store_restore *r);
    void *restored_ctx;
    size_t restore_hosts;    /* hosts handed to restored at most */
    struct store_retention keep;
};

struct store_stats {
    bool open;               /* the database is open and writable */
    char path[256];
    char last_error[256];    /* "" when the last write went well */
    char moved_aside[300];   /* a corrupt file found at start was renamed to this ("" none) */
    uint64_t rows_queued;    /* waiting for the writer now */
    uint64_t rows_committed; /* in committed transactions since start */
    uint64_t rows_dropped;   /* refused by the full queue, or in a batch that failed */
    uint64_t samples_committed, samples_dropped; /* time-series points */
    uint64_t batches_committed, batches_failed;
    uint64_t writer_busy_us; /* time the writer spent in SQLite */
    uint64_t queries, queries_failed;
    uint64_t max_bytes;      /* the cap in force */
    uint64_t used_bytes;     /* pages in use (the file may hold up to one batch more, free) */
    uint64_t rows_stored;    /* in the database now */
    uint64_t rows_expired;   /* deleted, oldest first, to stay under the cap */
    uint64_t oldest_us, newest_us; /* first_seen of the oldest stored flow, last_seen of the newest */
    uint64_t state_saves;    /* hosts and counters saved (committed) */
    uint64_t hosts_saved;    /* host rows written by those saves */
    uint64_t hosts_dropped;  /* purged hosts beyond STORE_PENDING_HOSTS before a save */
    uint64_t hosts_restored, counters_restored; /* read back at the open */
};

struct store;
struct engine;
struct flow;

/* Starts opening the database in the pool; rows may be added at once (they queue). NULL only
 * when out of memory. Open errors (a directory that is not there, a newer schema) are logged and
 * shown in store_stats; rows then count as dropped. */
struct store *store_open(uv_loop_t *loop, const struct store_options *o);

/* The engine's flow-end path: copy f into the queue (or count it dropped). */
void store_add_flow(struct store *s, const struct engine *e, const struct flow_sides *sides,
                    const struct flow *f);

/* From the daemon's one schedule, every second: writes the pending batch when it is due. */
void store_tick(struct store *s);

/* What a port of the pair received (bytes, packets) and lost (queue, send and capture drops),
 * since it opened: the daemon reads it from the pair for the minute's points. */
#define STORE_MAX_PORTS 2
struct store_port_figures {
    char name[QUERY_SIDE_NAME];
    uint64_t bytes, packets, drops;
};
/* From the daemon's one schedule, every minute: the engine's counters since the last call become
 * the minute's points (total, each source, each remote tap, each port of the pair, each L7
 * protocol); series without traffic write nothing. The first call only takes the counters as
 * its baseline. */
void store_sample_minute(struct store *s, const struct engine *e,
                         const struct store_port_figures *ports, size_t nports, uint64_t unix_s);
/* After counters jumped without traffic (a restore): the next minute starts from them. */
void store_sample_rebase(struct store *s, const struct engine *e,
                         const struct store_port_figures *ports, size_t nports, uint64_t unix_s);

/* From the daemon's one schedule every STORE_STATE_S, and before store_close at a clean stop:
 * the hosts whose counters moved since the last save (taken from the engine) and every counter
 * (sources, policy rules; those saved before of others stay) are queued as one state batch. Local hosts' traffic since
 * the last save becomes their 5-minute series point. */
void store_save_state(struct store *s, struct engine *e, const struct store_counter *counters,
                      size_t ncounters, uint64_t unix_s);
/* The engine's host-end path: a changed host was purged; it joins the next save. */
#define STORE_PENDING_HOSTS 65536
void store_add_host(struct store *s, const struct engine_host_record *r);

/* Writes what is queued, closes the database in the pool and frees s; done(ctx, final figures)
 * follows on the loop (not from inside this call). Rows added after this are dropped. */
void store_close(struct store *s, void (*done)(void *ctx, const struct store_stats *final),
                 void *ctx);

void store_get_stats(const struct store *s, struct store_stats *out);
/* Rows waiting for the writer (file sources wait while it is large: nothing is lost). */
uint64_t store_backlog(const struct store *s);

/*
 * A query of stored flows, run on the reader connection in the pool. Times in Unix seconds
 * (0: open end). Filters as the live flow list: host (either end), l7 name, port (either end),
 * l4 protocol, source name. The answer is the JSON of the page ({"total", "offset", "limit",
 * "flows": [...]}, flows as --flows-out writes them), or NULL with err.
 */
enum store_flow_sort { STORE_SORT_LAST, STORE_SORT_FIRST, STORE_SORT_BYTES, STORE_SORT_PACKETS };
struct store_flow_query {
    uint64_t from_s, to_s;
    bool has_host;
    uint8_t host_version, host_addr[16];
    char l7[48];             /* "" any */
    int port;                /* -1 any */
    int l4_proto;            /* -1 any */
    char source[96];         /* "" any */
    enum store_flow_sort sort;
    bool ascending;
    size_t limit, offset;
};
/* A series over a time range: metric (bytes, packets, flows, drops) of kind/key from from_s to
 * to_s; the resolution comes from the range (a minute up to a day, an hour up to 60 days, else a
 * day). The answer: {"resolution_s", "time": [...], "values": [...]}, every bucket of the range
 * present (0 where nothing was written). */
enum store_metric { STORE_METRIC_BYTES, STORE_METRIC_PACKETS, STORE_METRIC_FLOWS,
                    STORE_METRIC_DROPS };
struct store_series_query {
    enum store_metric metric;
    enum store_series_kind kind;
    char key[96];
    uint64_t from_s, to_s;
};
/* The top talkers of a range over the stored flows: hosts (either end of a flow), L7 protocols
 * or server ports, by bytes. The answer: {"kind", "from", "to", "top": [{"name", "bytes",
 * "packets", "flows"}...]}. */
enum store_top_kind { STORE_TOP_HOSTS, STORE_TOP_L7, STORE_TOP_PORTS };
struct store_top_query {
    enum store_top_kind kind;
    uint64_t from_s, to_s;
    size_t limit;
};
struct cJSON;
typedef void (*store_query_done)(void *ctx, struct cJSON *page, const char *err);
/* -1 when the store is closing or too many queries wait (the caller answers 503). */
int store_query_flows(struct store *s, const struct store_flow_query *q, store_query_done done,
                      void *ctx);
int store_query_series(struct store *s, const struct store_series_query *q,
                       store_query_done done, void *ctx);
int store_query_top(struct store *s, const struct store_top_query *q, store_query_done done,
                    void *ctx);

#endif
