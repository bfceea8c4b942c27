#include "core/schedule.h"

#include <string.h>

#include "core/clock.h"
#include "core/log.h"

void schedule_init(struct schedule *s, uv_loop_t *loop)
{
    memset(s, 0, sizeof *s);
    s->loop = loop;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
}

int schedule_every(struct schedule *s, const char *name, unsigned period_ms, schedule_fn fn,
                   void *ctx)
{
    if (s->job_count == SCHEDULE_MAX_JOBS)
        return -1;
    unsigned ticks = (period_ms + SCHEDULE_TICK_MS - 1) / SCHEDULE_TICK_MS;
    struct schedule_job *j = &s->jobs[s->job_count++];
    *j = (struct schedule_job){.name = name, .period_ms = (ticks ? ticks : 1) * SCHEDULE_TICK_MS,
                               .fn = fn, .ctx = ctx};
    if (s->started)
        j->next_ms = uv_now(s->loop) + j->period_ms;
    return 0;
}

uint64_t schedule_lateness_ms(const struct schedule *s, uint64_t now_ns)
{
    if (!s->last_tick_ns || now_ns <= s->last_tick_ns)
        return 0;
    uint64_t gap = now_ns - s->last_tick_ns, period = SCHEDULE_TICK_MS * NS_PER_MS;
    return gap > period ? (gap - period) / NS_PER_MS : 0;
}

const struct schedule_stalls *schedule_stalls(const struct schedule *s) { return &s->stalls; }

static void on_tick(uv_timer_t *t)
{
    struct schedule *s = t->data;
    uint64_t now_ns = uv_hrtime();
    struct schedule_tick tick = {uv_now(s->loop), schedule_lateness_ms(s, now_ns), s->last_tick_ns};
    s->last_tick_ns = now_ns;
    if (tick.late_ms > s->stalls.worst_ms)
        s->stalls.worst_ms = tick.late_ms;
    if (tick.late_ms > SCHEDULE_STALL_LOG_MS) {
        s->stalls.count++;
        s->stalls.last_ms = tick.late_ms;
        log_warn("tapboxd", "loop stalled: tick %llu ms late", (unsigned long long)tick.late_ms);
    }
    for (unsigned i = 0; i < s->job_count && !s->closed; i++) {
        struct schedule_job *j = &s->jobs[i];
        /* Half a tick of slack: a timer that fires a millisecond early must not slip a tick. */
        if (tick.now_ms + SCHEDULE_TICK_MS / 2 < j->next_ms)
            continue;
        /* Keep the rhythm (no drift of a tick per period); after a stall longer than a period,
         * run once and start again from now rather than catching up run after run. */
        j->next_ms += j->period_ms;
        if (j->next_ms <= tick.now_ms)
            j->next_ms = tick.now_ms + j->period_ms;
        uint64_t start = uv_hrtime();
        j->fn(j->ctx, &tick);
        uint64_t took_us = (uv_hrtime() - start) / 1000;
        j->runs++;
        j->busy_us += took_us;
        if (took_us > j->worst_us)
            j->worst_us = took_us;
    }
}

void schedule_start(struct schedule *s)
{
    if (s->started || s->closed)
        return;
    s->started = true;
    uint64_t now = uv_now(s->loop);
    for (unsigned i = 0; i < s->job_count; i++)
        s->jobs[i].next_ms = now + s->jobs[i].period_ms;
    uv_timer_start(&s->timer, on_tick, SCHEDULE_TICK_MS, SCHEDULE_TICK_MS);
}

void schedule_close(struct schedule *s)
{
    if (s->closed)
        return;
    s->closed = true;
    uv_close((uv_handle_t *)&s->timer, NULL);
}
