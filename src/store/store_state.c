/* Hosts and counters across restarts, the loop thread's side: a state batch made of the hosts
 * the engine marked as changed, and the one hand-over of what the open read back. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "flow/engine.h"
#include "store/store_internal.h"

void store_save_state(struct store *s, struct engine *e, const struct store_counter *counters,
                      size_t ncounters, uint64_t unix_s)
{
    /* A writer far behind (or closed) skips this save: the hosts keep their marks, and their
     * traffic is measured against what was last committed, so the next save has all of it.
     * Not open yet means not restored yet either: saving then would write this run's counters
     * over the saved ones, so a stop that early loses its own first second instead. */
    if (s->closing || !s->stats.open || s->stats.rows_queued >= s->queue_rows)
        return;
    struct engine_snapshot snap;
    engine_snapshot(e, &snap);
    struct store_batch *b = store_batch_new(1);
    if (!b)
        return;
    size_t cap = (size_t)snap.hosts_active + s->npending_hosts + 1;
    b->hosts = malloc(cap * sizeof *b->hosts);
    b->counters = ncounters ? malloc(ncounters * sizeof *b->counters) : NULL;
    if (!b->hosts || (ncounters && !b->counters)) {
        store_batch_free(b);
        return;
    }
    b->state = true;
    /* The purged ones first: a host made again since then is measured after them. */
    if (s->npending_hosts)
        memcpy(b->hosts, s->pending_hosts, s->npending_hosts * sizeof *b->hosts);
    b->nhosts = s->npending_hosts;
    s->npending_hosts = 0;
    b->nhosts += engine_take_changed_hosts(e, b->hosts + b->nhosts, cap - b->nhosts);
    if (ncounters)
        memcpy(b->counters, counters, ncounters * sizeof *counters);
    b->ncounters = ncounters;
    /* The traffic since the last save: the 5 minutes that just ended (or the ones now, at a
     * stop in the middle of them). */
    uint64_t t = unix_s ? unix_s - 1 : 0;
    b->hosts_bucket_s = t - t % STORE_HOST_SERIES_S;
    b->saved_s = unix_s;
    b->started_ms = uv_now(s->loop);
    store_enqueue_batch(s, b);
}

void store_add_host(struct store *s, const struct engine_host_record *r)
{
    if (s->npending_hosts == s->pending_cap) {
        size_t cap = s->pending_cap ? s->pending_cap * 2 : 256;
        struct engine_host_record *more =
            cap <= STORE_PENDING_HOSTS ? realloc(s->pending_hosts, cap * sizeof *more) : NULL;
        if (!more) {
            s->stats.hosts_dropped++;
            return;
        }
        s->pending_hosts = more;
        s->pending_cap = cap;
    }
    s->pending_hosts[s->npending_hosts++] = *r;
}
