/* The history writer: the bounded queue on the loop thread, batches written in the pool. */
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "core/log.h"
#include "flow/engine.h"
#include "flow/l7.h"
#include "policy/policy.h"
#include "store/store_internal.h"

/* ---- rows (loop thread) ---- */

/* A text into the batch's arena: its offset + 1, or 0 (none, or no memory: the text is lost,
 * not the row). */
static uint32_t keep_text(struct store_batch *b, const char *text)
{
    size_t len = strlen(text);
    if (!len)
        return 0;
    if (b->text_len + len + 1 > b->text_cap) {
        size_t cap = b->text_cap ? b->text_cap * 2 : 16384;
        while (cap < b->text_len + len + 1)
            cap *= 2;
        char *grown = cap <= UINT32_MAX ? realloc(b->text, cap) : NULL;
        if (!grown)
            return 0;
        b->text = grown;
        b->text_cap = cap;
    }
    memcpy(b->text + b->text_len, text, len + 1);
    uint32_t at = (uint32_t)b->text_len + 1;
    b->text_len += len + 1;
    return at;
}

static void copy_details(struct store_flow *r, struct store_batch *b, const struct engine *e,
                         const struct flow *f)
{
    const struct flow_info *in = &f->info;
    const uint32_t ids[STORE_TEXTS] = {in->host_name, in->ja3c,   in->ja3s,      in->issuer,
                                       in->subject,   in->url,    in->user_agent};
    for (int i = 0; i < STORE_TEXTS; i++)
        r->text[i] = ids[i] ? keep_text(b, engine_text(e, ids[i])) : 0;
    r->tls_not_before = in->not_before;
    r->tls_not_after = in->not_after;
    r->http_status = in->http_status;
    r->dns_qtype = in->dns_qtype;
    r->dns_rcode = in->dns_rcode;
    r->dns_reply = in->dns_reply;
    r->risks = in->risks;
    r->risk_score = in->risk_score;
    for (int d = 0; d < 2; d++) {
        r->retrans[d] = f->tcp.retrans[d];
        r->out_of_order[d] = f->tcp.out_of_order[d];
        r->zero_window[d] = f->tcp.zero_window[d];
    }
    r->rtt_client_us = tcp_health_rtt_client_us(&f->tcp);
    r->rtt_server_us = tcp_health_rtt_server_us(&f->tcp);
}

static void copy_flow(struct store_flow *r, struct store_batch *b, const struct engine *e,
                      const struct flow_sides *sides, const struct flow *f)
{
    memset(r, 0, sizeof *r);
    const struct flow_key *k = &f->key;
    bool lo = f->client_is_lo;
    r->id = f->id;
    r->first_us = f->first_us;
    r->last_us = f->last_us;
    r->ip_version = k->ip_version;
    r->l4_proto = k->l4_proto;
    r->vlan = k->vlan;
    memcpy(r->client_addr, lo ? k->addr_lo : k->addr_hi, 16);
    memcpy(r->server_addr, lo ? k->addr_hi : k->addr_lo, 16);
    r->client_port = lo ? k->port_lo : k->port_hi;
    r->server_port = lo ? k->port_hi : k->port_lo;
    for (int d = 0; d < 2; d++) {
        r->packets[d] = f->packets[d];
        r->bytes[d] = f->bytes[d];
        r->tcp_flags[d] = f->tcp_flags[d];
    }
    r->l7_final = f->l7_final;
    r->l7_guessed = f->l7.guessed;
    r->tunnel_depth = f->tunnel_depth;
    if (f->verdict == POLICY_DROP || f->verdict == POLICY_PASS)
        snprintf(r->verdict, sizeof r->verdict, "%s", f->verdict == POLICY_DROP ? "drop" : "pass");
    l7_result_name(engine_l7(e), &f->l7, r->l7, sizeof r->l7);
    snprintf(r->category, sizeof r->category, "%s",
             l7_category_name(engine_l7(e), f->l7.category));
    const struct source_info *src = engine_source(e, f->source);
    if (src)
        snprintf(r->source, sizeof r->source, "%s", src->name);
    if (f->client_port <= 1 && sides && sides->source == (int)f->source)
        snprintf(r->client_side, sizeof r->client_side, "%s", sides->name[f->client_port]);
    copy_details(r, b, e, f);
}

struct store_batch *store_batch_new(size_t cap)
{
    struct store_batch *b = calloc(1, sizeof *b);
    if (b && !(b->rows = malloc(cap * sizeof *b->rows))) {
        free(b);
        b = NULL;
    }
    if (b)
        b->cap = cap;
    return b;
}

void store_batch_free(struct store_batch *b)
{
    if (b) {
        free(b->rows);
        free(b->text);
        free(b->samples);
        free(b->hosts);
        free(b->counters);
    }
    free(b);
}

/* ---- the writer (pool) ---- */

static void write_work(uv_work_t *w)
{
    struct store *s = w->data;
    struct store_batch *b = s->writing;
    uint64_t start = uv_hrtime();
    /* Room first: the file stays within the cap instead of growing by a batch past it. */
    b->rc = b->n ? store_db_retain(&s->writer, s->max_bytes, b->n, &b->fig, b->err,
                                   sizeof b->err)
                 : 0;
    if (b->rc == 0 && b->n)
        b->rc = store_db_insert_flows(&s->writer, b->rows, b->n, b->text, &b->first_row, &b->last_row,
                                      b->err, sizeof b->err);
    if (b->rc == 0 && b->nsamples)
        b->rc = store_db_insert_samples(&s->writer, b->samples, b->nsamples, b->err, sizeof b->err);
    if (b->rc == 0 && b->state)
        b->rc = store_db_save_state(&s->writer, b, b->err, sizeof b->err);
    if (b->rc == 0)
        b->rc = store_db_retain(&s->writer, s->max_bytes, 0, &b->fig, b->err, sizeof b->err);
    b->busy_us = (uv_hrtime() - start) / 1000;
}

static void note_figures(struct store *s, const struct store_db_figures *f)
{
    s->stats.used_bytes = f->used_bytes;
    s->stats.rows_stored = f->rows;
    s->stats.rows_expired += f->expired;
    s->stats.oldest_us = f->oldest_us;
    s->stats.newest_us = f->newest_us;
}

static void kick_writer(struct store *s);

static void after_write(uv_work_t *w, int status)
{
    struct store *s = w->data;
    struct store_batch *b = s->writing;
    s->writing = NULL;
    s->write_in_flight = false;
    s->stats.writer_busy_us += b->busy_us;
    s->stats.rows_queued -= b->n;
    if (status == 0 && b->rc == 0) {
        s->stats.rows_committed += b->n;
        s->stats.samples_committed += b->nsamples;
        s->stats.batches_committed++;
        if (b->state) {
            s->stats.state_saves++;
            s->stats.hosts_saved += b->nhosts;
        }
        note_figures(s, &b->fig);
        if (b->n) /* the kill -9 test checks every batch logged here is in the file */
            log_debug("store", "committed %zu flows (rows %lld-%lld; %llu in all)", b->n,
                      (long long)b->first_row, (long long)b->last_row,
                      (unsigned long long)s->stats.rows_committed);
        if (s->stats.last_error[0])
            log_info("store", "history writes again (%s)", s->stats.path);
        s->stats.last_error[0] = '\0';
    } else {
        s->stats.rows_dropped += b->n;
        s->stats.samples_dropped += b->nsamples;
        s->stats.batches_failed++;
        const char *why = status ? uv_strerror(status) : b->err;
        /* Once per distinct error (a full card fails every batch the same way). */
        if (strcmp(why, s->stats.last_error))
            log_error("store", "%s: %zu flows not stored: %s; capture goes on, the next batch "
                      "tries again", s->stats.path, b->n, why);
        snprintf(s->stats.last_error, sizeof s->stats.last_error, "%s", why);
    }
    store_batch_free(b);
    kick_writer(s);
}

static void kick_writer(struct store *s)
{
    if (s->write_in_flight || s->opening || !s->queue_head) {
        store_close_if_idle(s);
        return;
    }
    struct store_batch *b = s->queue_head;
    if (!s->writer.db) { /* the database could not be opened: what waits is lost */
        s->queue_head = b->next;
        if (!s->queue_head)
            s->queue_tail = NULL;
        s->stats.rows_queued -= b->n;
        s->stats.rows_dropped += b->n;
        store_batch_free(b);
        kick_writer(s);
        return;
    }
    s->queue_head = b->next;
    if (!s->queue_head)
        s->queue_tail = NULL;
    b->next = NULL;
    s->writing = b;
    s->write_in_flight = true;
    s->work.data = s;
    if (uv_queue_work(s->loop, &s->work, write_work, after_write) < 0) {
        s->writing = NULL;
        s->write_in_flight = false;
        s->stats.rows_queued -= b->n;
        s->stats.rows_dropped += b->n;
        store_batch_free(b);
    }
}

void store_enqueue_batch(struct store *s, struct store_batch *b)
{
    if (s->queue_tail)
        s->queue_tail->next = b;
    else
        s->queue_head = b;
    s->queue_tail = b;
    kick_writer(s);
}

/* The batch being filled joins the queue. */
static void seal_pending(struct store *s)
{
    struct store_batch *b = s->pending;
    if (!b || b->n == 0)
        return;
    s->pending = NULL;
    store_enqueue_batch(s, b);
}

void store_add_flow(struct store *s, const struct engine *e, const struct flow_sides *sides,
                    const struct flow *f)
{
    if (s->closing || s->stats.rows_queued >= s->queue_rows) {
        s->stats.rows_dropped++;
        return;
    }
    if (!s->pending) {
        s->pending = store_batch_new(s->batch_rows);
        if (!s->pending) {
            s->stats.rows_dropped++;
            return;
        }
        s->pending->started_ms = uv_now(s->loop);
    }
    copy_flow(&s->pending->rows[s->pending->n], s->pending, e, sides, f);
    s->pending->n++;
    s->stats.rows_queued++;
    if (s->pending->n == s->pending->cap)
        seal_pending(s);
}

void store_tick(struct store *s)
{
    if (s->pending && uv_now(s->loop) - s->pending->started_ms >= s->flush_ms)
        seal_pending(s);
}

/* ---- time series (loop thread) ---- */

static void add_sample(struct store_batch *b, uint64_t minute_s, enum store_series_kind kind,
                       const char *key, const uint64_t now[4], const uint64_t then[4],
                       uint64_t *dropped)
{
    uint64_t d[4];
    bool any = false;
    for (int i = 0; i < 4; i++) {
        d[i] = now[i] >= then[i] ? now[i] - then[i] : 0; /* a source reset restarts at 0 */
        any |= d[i] != 0;
    }
    if (!any)
        return; /* an idle series writes nothing */
    if (b->nsamples == STORE_MAX_SAMPLES) {
        (*dropped)++;
        return;
    }
    struct store_sample *x = &b->samples[b->nsamples++];
    *x = (struct store_sample){.minute_s = minute_s, .kind = kind, .bytes = d[0],
                               .packets = d[1], .flows = d[2], .drops = d[3]};
    snprintf(x->key, sizeof x->key, "%s", key);
}

static void source_figures(const struct source_info *src, uint64_t out[4])
{
    out[0] = src->counters.bytes;
    out[1] = src->counters.packets;
    out[2] = src->counters.flows;
    out[3] = src->capture_drops + src->interface_drops;
}

static void port_figures(const struct store_port_figures *p, uint64_t out[4])
{
    out[0] = p->bytes;
    out[1] = p->packets;
    out[2] = 0; /* flows belong to the pair's source, not to one port */
    out[3] = p->drops;
}

/* A remote tap's series key: its id, which stays when the tap moves ("ntap:ID@ADDR"). */
static bool tap_key(const struct source_info *src, char *out, size_t size)
{
    if (strcmp(src->kind, "ntap") != 0 || strncmp(src->name, "ntap:", 5) != 0)
        return false;
    size_t n = strcspn(src->name + 5, "@");
    snprintf(out, size, "%.*s", (int)n, src->name + 5);
    return true;
}

void store_sample_minute(struct store *s, const struct engine *e,
                         const struct store_port_figures *ports, size_t nports, uint64_t unix_s)
{
    struct store_baseline *base = &s->base;
    uint16_t l7_size;
    const struct l7_counter *l7 = engine_l7_counters(e, &l7_size);
    if (!base->l7 && l7_size)
        base->l7 = calloc(l7_size, 3 * sizeof *base->l7);
    if (l7_size && !base->l7)
        return;
    base->l7_size = l7_size;
    nports = nports > STORE_MAX_PORTS ? STORE_MAX_PORTS : nports;
    unsigned sources = engine_source_count(e);
    const struct traffic_counters *tot = engine_totals(e);
    uint64_t total[4] = {tot->bytes, tot->packets, tot->flows, 0};
    for (unsigned i = 0; i < sources; i++) {
        uint64_t f[4];
        source_figures(engine_source(e, i), f);
        total[3] += f[3];
    }
    struct store_batch *b = NULL;
    if (base->taken && !s->closing && s->stats.rows_queued < s->queue_rows &&
        (b = store_batch_new(1)) && !(b->samples = calloc(STORE_MAX_SAMPLES, sizeof *b->samples))) {
        store_batch_free(b);
        b = NULL;
    }
    uint64_t minute = (unix_s - unix_s % 60) - 60; /* the minute that just ended */
    uint64_t dropped = 0;
    static const uint64_t zero[4] = {0};
    if (b) {
        add_sample(b, minute, STORE_SERIES_TOTAL, "", total, base->total, &dropped);
        for (unsigned i = 0; i < sources; i++) {
            const struct source_info *src = engine_source(e, i);
            uint64_t f[4];
            char tap[32];
            source_figures(src, f);
            const uint64_t *then = i < base->sources ? base->source[i] : zero;
            add_sample(b, minute, STORE_SERIES_SOURCE, src->name, f, then, &dropped);
            if (tap_key(src, tap, sizeof tap))
                add_sample(b, minute, STORE_SERIES_TAP, tap, f, then, &dropped);
        }
        for (size_t i = 0; i < nports; i++) {
            uint64_t f[4];
            port_figures(&ports[i], f);
            add_sample(b, minute, STORE_SERIES_PORT, ports[i].name, f,
                       i < base->ports ? base->port[i] : zero, &dropped);
        }
        for (uint16_t id = 0; id < l7_size; id++) {
            uint64_t now[4] = {l7[id].bytes, l7[id].packets, l7[id].flows, 0};
            uint64_t then[4] = {base->l7[id * 3], base->l7[id * 3 + 1], base->l7[id * 3 + 2], 0};
            add_sample(b, minute, STORE_SERIES_L7, l7_protocol_name(engine_l7(e), id), now, then,
                       &dropped);
        }
    } else if (base->taken) {
        dropped = 1; /* the writer is too far behind: this minute is lost */
    }
    s->stats.samples_dropped += dropped;
    /* The new baseline. */
    memcpy(base->total, total, sizeof total);
    for (unsigned i = 0; i < sources; i++)
        source_figures(engine_source(e, i), base->source[i]);
    base->sources = sources;
    for (size_t i = 0; i < nports; i++)
        port_figures(&ports[i], base->port[i]);
    base->ports = nports;
    for (uint16_t id = 0; id < l7_size; id++) {
        base->l7[id * 3] = l7[id].bytes;
        base->l7[id * 3 + 1] = l7[id].packets;
        base->l7[id * 3 + 2] = l7[id].flows;
    }
    base->taken = true;
    if (!b)
        return;
    if (b->nsamples == 0) {
        store_batch_free(b);
        return;
    }
    b->started_ms = uv_now(s->loop);
    store_enqueue_batch(s, b);
}

void store_sample_rebase(struct store *s, const struct engine *e,
                         const struct store_port_figures *ports, size_t nports, uint64_t unix_s)
{
    s->base.taken = false;
    store_sample_minute(s, e, ports, nports, unix_s);
}

/* ---- open and close (pool) ---- */

static void open_work(uv_work_t *w)
{
    struct store *s = w->data;
    s->open_rc = store_db_open(s->stats.path, &s->writer, &s->rdb, s->stats.moved_aside,
                               sizeof s->stats.moved_aside, s->open_err, sizeof s->open_err);
    if (!s->max_bytes)
        s->max_bytes = store_db_default_cap(s->stats.path);
    if (s->open_rc == 0)
        s->open_rc = store_db_bound_journal(&s->writer, s->max_bytes, s->open_err,
                                        sizeof s->open_err);
    if (s->open_rc == 0)
        s->open_rc = store_db_retain(&s->writer, s->max_bytes, 0, &s->open_fig, s->open_err,
                                     sizeof s->open_err);
    /* Not being able to read the saved state is no reason to keep history off. */
    if (s->open_rc == 0 && s->restored &&
        store_db_load_state(s->writer.db, s->restore_hosts, &s->restore, s->restore_err,
                            sizeof s->restore_err) < 0)
        s->restore.nhosts = s->restore.ncounters = 0;
}

static void after_open(uv_work_t *w, int status)
{
    struct store *s = w->data;
    s->opening = false;
    s->stats.max_bytes = s->max_bytes;
    if (status == 0 && s->open_rc == 0) {
        s->stats.open = true;
        note_figures(s, &s->open_fig);
        if (s->stats.moved_aside[0])
            log_warn("store", "%s was not a usable database: moved aside to %s, a new one made",
                     s->stats.path, s->stats.moved_aside);
        log_info("store", "history in %s (schema %d): %llu flows, %.1f of %.1f MiB", s->stats.path,
                 STORE_SCHEMA_VERSION, (unsigned long long)s->stats.rows_stored,
                 (double)s->stats.used_bytes / 1048576.0, (double)s->max_bytes / 1048576.0);
        if (s->restore_err[0])
            log_warn("store", "%s: %s; hosts and counters start from zero", s->stats.path,
                     s->restore_err);
        if (s->restored) {
            s->stats.hosts_restored = s->restore.nhosts;
            s->stats.counters_restored = s->restore.ncounters;
            log_info("store", "restoring %zu hosts and %zu counters saved before", s->restore.nhosts,
                     s->restore.ncounters);
            s->restored(s->restored_ctx, &s->restore);
        }
    } else {
        snprintf(s->stats.last_error, sizeof s->stats.last_error, "%s",
                 status ? uv_strerror(status) : s->open_err);
        log_error("store", "history off: %s: %s", s->stats.path, s->stats.last_error);
    }
    free(s->restore.hosts);
    free(s->restore.counters);
    memset(&s->restore, 0, sizeof s->restore);
    kick_writer(s);
    store_query_kick(s);
}

static void close_work(uv_work_t *w)
{
    struct store *s = w->data;
    store_db_close(&s->writer, &s->rdb);
}

static void after_close(uv_work_t *w, int status)
{
    struct store *s = w->data;
    void (*done)(void *, const struct store_stats *) = s->close_done;
    void *ctx = s->close_ctx;
    struct store_stats final = s->stats;
    final.open = false;
    log_info("store", "history closed: %llu flows stored, %llu dropped",
             (unsigned long long)final.rows_committed, (unsigned long long)final.rows_dropped);
    free(s->base.l7);
    free(s->pending_hosts);
    free(s);
    if (done)
        done(ctx, &final);
}

void store_close_if_idle(struct store *s)
{
    if (!s->closing || s->close_started || s->opening || s->write_in_flight || s->queue_head ||
        s->query_in_flight)
        return;
    s->close_started = true;
    s->work.data = s;
    if (uv_queue_work(s->loop, &s->work, close_work, after_close) < 0) {
        close_work(&s->work); /* nothing else can run it: the loop is ending anyway */
        after_close(&s->work, 0);
    }
}

struct store *store_open(uv_loop_t *loop, const struct store_options *o)
{
    struct store *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->loop = loop;
    snprintf(s->stats.path, sizeof s->stats.path, "%s", o->path);
    s->queue_rows = o->queue_rows ? o->queue_rows : STORE_DEFAULT_QUEUE_ROWS;
    s->batch_rows = o->batch_rows ? o->batch_rows : STORE_DEFAULT_BATCH_ROWS;
    if (s->batch_rows > s->queue_rows)
        s->batch_rows = s->queue_rows;
    s->flush_ms = o->flush_ms ? o->flush_ms : STORE_DEFAULT_FLUSH_MS;
    s->max_bytes = o->max_bytes;
    s->restored = o->restored;
    s->restored_ctx = o->restored_ctx;
    s->restore_hosts = o->restore_hosts;
    s->writer.keep = o->keep;
    struct store_retention *k = &s->writer.keep;
    k->minute_days = k->minute_days ? k->minute_days : STORE_MINUTE_DAYS;
    k->hour_days = k->hour_days ? k->hour_days : STORE_HOUR_DAYS;
    k->day_days = k->day_days ? k->day_days : STORE_DAY_DAYS;
    k->host_days = k->host_days ? k->host_days : STORE_HOST_DAYS;
    s->opening = true;
    s->work.data = s;
    if (uv_queue_work(loop, &s->work, open_work, after_open) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

void store_close(struct store *s, void (*done)(void *ctx, const struct store_stats *final),
                 void *ctx)
{
    s->close_done = done;
    s->close_ctx = ctx;
    seal_pending(s);
    s->closing = true;
    store_query_cancel_waiting(s);
    kick_writer(s); /* closes once the queue is written (never from inside this call: the
                     * close runs in the pool and its callback comes from the loop) */
}

uint64_t store_backlog(const struct store *s) { return s->stats.rows_queued; }

void store_get_stats(const struct store *s, struct store_stats *out)
{
    *out = s->stats;
}
