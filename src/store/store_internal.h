/* The store's state and the SQLite side, seen by src/store/ only. */
#ifndef TAPBOX_STORE_INTERNAL_H
#define TAPBOX_STORE_INTERNAL_H

#include <sqlite3.h>

#include "flow/engine.h"
#include "store/store.h"
#include "store/store_names.h"

/* What the writer measures after each batch (pool thread), handed back with it. */
struct store_db_figures {
    uint64_t used_bytes, rows, expired, oldest_us, newest_us;
};

struct store_batch {
    struct store_flow *rows;
    size_t n, cap;
    char *text;                    /* the rows' texts, NUL-terminated one after the other */
    size_t text_len, text_cap;
    struct store_sample *samples;  /* a minute's points (NULL: none) */
    size_t nsamples;
    bool state;                /* a state save: hosts and counters below */
    struct engine_host_record *hosts; /* hosts that changed since the last save */
    size_t nhosts;
    uint64_t hosts_bucket_s;   /* their 5-minute series point */
    uint64_t saved_s;          /* when the save was made (Unix seconds) */
    struct store_counter *counters; /* every source's and rule's now */
    size_t ncounters;
    uint64_t started_ms;       /* uv_now of its first row */
    struct store_batch *next;
    /* filled by the worker */
    int rc;
    struct store_db_figures fig;
    int64_t first_row, last_row; /* the rowids the batch's flows got */
    uint64_t busy_us;
    char err[200];
};

struct store_query;

/* The writer's connection and what it keeps between batches (pool: the writer job only). */
struct store_writer {
    sqlite3 *db;
    sqlite3_stmt *insert_flow, *insert_chunk;
    struct store_names names;
    uint64_t rows;           /* flows in the database: counted at open, then kept up to date */
    struct store_retention keep; /* defaults filled in; set before the open, read-only after */
};

/* The counters at the last minute's sample, to make the next minute's differences. */
struct store_baseline {
    bool taken;
    uint64_t total[4];                     /* bytes, packets, flows, drops */
    uint64_t source[ENGINE_MAX_SOURCES][4];
    unsigned sources;
    uint64_t port[STORE_MAX_PORTS][4];
    size_t ports;
    uint64_t *l7;                          /* [id * 3]: bytes, packets, flows */
    uint16_t l7_size;
};

struct store {
    uv_loop_t *loop;
    size_t queue_rows, batch_rows;
    unsigned flush_ms;
    struct store_stats stats;
    /* loop thread */
    struct store_batch *pending;              /* being filled */
    struct store_baseline base;
    struct engine_host_record *pending_hosts; /* purged since the last save */
    size_t npending_hosts, pending_cap;
    struct store_batch *queue_head, *queue_tail; /* sealed, waiting for the writer */
    bool opening, closing, close_started, write_in_flight;
    void (*close_done)(void *ctx, const struct store_stats *final);
    void *close_ctx;
    /* the writer's: touched by the worker only while a job of the writer is in flight */
    uv_work_t work;
    struct store_batch *writing;
    struct store_writer writer;
    int open_rc;
    uint64_t max_bytes;                       /* given, or set by open_work */
    struct store_db_figures open_fig;
    char open_err[256];
    size_t restore_hosts;                     /* hosts read back at the open, at most */
    struct store_restore restore;             /* ...what was read (owned), handed over once */
    char restore_err[256];
    void (*restored)(void *ctx, const struct store_restore *r);
    void *restored_ctx;
    /* the reader's: touched by the worker only while a query is in flight */
    sqlite3 *rdb;
    uv_work_t query_work;
    struct store_query *query_head, *query_tail, *query_running;
    unsigned queries_waiting;
    bool query_in_flight;
};

/* store_db.c (pool threads). Open: the writer and reader connections of path, with the schema
 * migrated to STORE_SCHEMA_VERSION; a file that is not a database (or fails its quick check) is
 * renamed aside (its new name in moved) and a new one made. 0, or -1 with err. */
#define STORE_QUERY_TIME_LIMIT_MS 2000 /* a query still running then is interrupted */
/* A commit waits for running queries to end: longer than any may run, so no batch fails. */
#define STORE_WRITER_BUSY_MS (3 * STORE_QUERY_TIME_LIMIT_MS)
int store_db_open(const char *path, struct store_writer *w, sqlite3 **rdb, char *moved,
                  size_t movedsize, char *err, size_t errsize);
/* The kept rollback journal's bound for a database of cap bytes (journal_size_limit). */
int store_db_bound_journal(struct store_writer *w, uint64_t cap, char *err, size_t errsize);
/* One transaction with every point, added into its minute, hour and day; -1 with err. */
int store_db_insert_samples(struct store_writer *w, const struct store_sample *samples,
                            size_t n, char *err, size_t errsize);
/* One transaction with every row and the chunk that finds them; -1 with err (and rolled back)
 * on failure. */
/* text: the arena the rows' text offsets point into (struct store_batch). */
int store_db_insert_flows(struct store_writer *w, const struct store_flow *rows, size_t n,
                          const char *text,
                          int64_t *first_row, int64_t *last_row, char *err, size_t errsize);
void store_db_close(struct store_writer *w, sqlite3 **rdb);
/* Deletes the oldest flows in steps until the pages in use and incoming rows more fit
 * max_bytes (and flows past their age), and measures. */
int store_db_retain(struct store_writer *w, uint64_t max_bytes, size_t incoming,
                    struct store_db_figures *fig, char *err, size_t errsize);
/* The cap to use for path when none is given (statvfs of its folder). */
uint64_t store_db_default_cap(const char *path);

/* store_db_state.c (pool threads). Save: upserts the hosts (totals since history began, local
 * hosts' series points from their traffic since the last save) and replaces the counters, in one
 * transaction; then ages hosts out. Load: the restore_hosts most recently seen hosts and every
 * counter. 0, or -1 with err. */
int store_db_save_state(struct store_writer *w, const struct store_batch *b, char *err,
                        size_t errsize);
int store_db_load_state(sqlite3 *db, size_t max_hosts, struct store_restore *out, char *err,
                        size_t errsize);
/* sqlite3_exec with the message in err: 0 or -1. */
int store_db_exec(sqlite3 *db, const char *sql, char *err, size_t errsize);
/* Adds one point to its resolutions (in the caller's transaction): SQLITE_DONE or an error. */
int store_db_add_sample(sqlite3_stmt *upsert, const struct store_sample *x);
sqlite3_stmt *store_db_prepare_sample(sqlite3 *db);

/* store.c (loop thread): batches, and the writer's queue. */
struct store_batch *store_batch_new(size_t cap);
void store_batch_free(struct store_batch *b);
void store_enqueue_batch(struct store *s, struct store_batch *b);

/* store.c (loop thread): once closing and nothing is queued or in flight, close in the pool. */
void store_close_if_idle(struct store *s);

/* store_query.c (loop thread): start the next waiting query; fail those still waiting. */
void store_query_kick(struct store *s);
void store_query_cancel_waiting(struct store *s);

#endif
