/* The one schedule: jobs run at their declared periods, in order, and a late tick is measured
 * once as a stall. */
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "check.h"
#include "core/log.h"
#include "core/schedule.h"

struct job_log {
    char order[64];
    size_t n;
    unsigned fast, slow;
    uint64_t worst_late_ms;
};

static void note(struct job_log *l, char c)
{
    if (l->n + 1 < sizeof l->order)
        l->order[l->n++] = c;
}

static void job_fast(void *ctx, const struct schedule_tick *t)
{
    struct job_log *l = ctx;
    l->fast++;
    if (t->late_ms > l->worst_late_ms)
        l->worst_late_ms = t->late_ms;
    note(l, 'f');
}

static void job_slow(void *ctx, const struct schedule_tick *t)
{
    struct job_log *l = ctx;
    l->slow++;
    note(l, 's');
}

static void stop_cb(uv_timer_t *t) { uv_stop(t->loop); }

static void run_for(uv_loop_t *loop, unsigned ms)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, stop_cb, ms, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

TEST(schedule_periods_and_order)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct schedule s;
    struct job_log l;
    memset(&l, 0, sizeof l);
    schedule_init(&s, &loop);
    CHECK(schedule_every(&s, "fast", SCHEDULE_TICK_MS, job_fast, &l) == 0);
    CHECK(schedule_every(&s, "slow", 450, job_slow, &l) == 0); /* rounded up to 500 ms */
    CHECK_EQ_U(s.jobs[1].period_ms, 500);
    schedule_start(&s);
    run_for(&loop, 1150);
    /* 11 ticks of 100 ms; the slow job at 500 and 1000 ms, after the fast one of that tick. */
    CHECK(l.fast >= 10 && l.fast <= 12);
    CHECK_EQ_U(l.slow, 2);
    CHECK(strstr(l.order, "fs") != NULL && l.order[0] == 'f');
    CHECK_EQ_U(s.jobs[0].runs, l.fast);
    CHECK_EQ_U(schedule_stalls(&s)->count, 0);
    schedule_close(&s);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
}

static void block_cb(uv_timer_t *t) { usleep(700 * 1000); }

TEST(schedule_measures_a_stall_once)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    enum log_level saved = log_get_level();
    log_set_level(LOG_LEVEL_ERROR); /* the stall's warning is expected */
    struct schedule s;
    struct job_log l;
    memset(&l, 0, sizeof l);
    schedule_init(&s, &loop);
    CHECK(schedule_every(&s, "fast", SCHEDULE_TICK_MS, job_fast, &l) == 0);
    CHECK(schedule_every(&s, "slow", SCHEDULE_SECOND, job_slow, &l) == 0);
    schedule_start(&s);
    uv_timer_t blocker;
    uv_timer_init(&loop, &blocker);
    uv_timer_start(&blocker, block_cb, 350, 0);
    run_for(&loop, 1600);
    const struct schedule_stalls *st = schedule_stalls(&s);
    CHECK_EQ_U(st->count, 1);                  /* one stall, counted once */
    CHECK(st->worst_ms >= 550 && st->worst_ms < 5000);
    CHECK(l.worst_late_ms == st->worst_ms);   /* jobs see the same measure */
    CHECK_EQ_U(l.slow, 1);                     /* a late tick does not run a job twice */
    /* Between ticks, a pet timer can see a stall still going on. */
    CHECK(schedule_lateness_ms(&s, s.last_tick_ns + 900 * 1000000ull) == 800);
    CHECK(schedule_lateness_ms(&s, s.last_tick_ns + 50 * 1000000ull) == 0);
    uv_close((uv_handle_t *)&blocker, NULL);
    schedule_close(&s);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
    log_set_level(saved);
}
