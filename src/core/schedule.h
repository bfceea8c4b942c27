/*
 * The one schedule of the process (in the spirit of redis's serverCron and run_with_period): a
 * single libuv timer ticks every SCHEDULE_TICK_MS and runs each registered job whose declared
 * period has passed, in the order they were added. It is also the one measure of loop stalls:
 * how late each tick came. The log, the status API and the watchdog latch all read that measure.
 *
 * Loop thread only. The daemon owns the instance and decides the jobs; subsystems only provide
 * the functions it calls (web_server_tick, port_pair_tick, ...).
 */
#ifndef TAPBOX_SCHEDULE_H
#define TAPBOX_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

/* 100 ms, not 1 s: a stall shorter than a second would slip between 1 s ticks, and watchdog
 * thresholds go down to a few hundred milliseconds. */
#define SCHEDULE_TICK_MS 100
#define SCHEDULE_MAX_JOBS 16
#define SCHEDULE_STALL_LOG_MS 500 /* a tick this late is logged and counted as a loop stall */

#define SCHEDULE_SECOND 1000u
#define SCHEDULE_MINUTE (60u * SCHEDULE_SECOND)
#define SCHEDULE_FIVE_MINUTES (5u * SCHEDULE_MINUTE)
#define SCHEDULE_HOUR (60u * SCHEDULE_MINUTE)
#define SCHEDULE_DAY (24u * SCHEDULE_HOUR)

struct schedule_tick {
    uint64_t now_ms;  /* uv_now of this tick */
    uint64_t late_ms; /* how much later than due this tick came */
    uint64_t since_ns; /* uv_hrtime of the tick before (0: this is the first): the gap measured */
};
typedef void (*schedule_fn)(void *ctx, const struct schedule_tick *tick);

struct schedule_job {
    const char *name;
    unsigned period_ms;        /* a multiple of SCHEDULE_TICK_MS (rounded up when added) */
    schedule_fn fn;
    void *ctx;
    uint64_t next_ms;          /* uv_now at or after which it runs next */
    uint64_t runs;
    uint64_t busy_us, worst_us; /* time spent in fn: in all, and the longest run */
};

struct schedule_stalls {
    uint64_t count;            /* ticks later than SCHEDULE_STALL_LOG_MS */
    uint64_t worst_ms;         /* the latest tick seen */
    uint64_t last_ms;          /* lateness of the latest stall counted */
};

struct schedule {
    uv_loop_t *loop;
    uv_timer_t timer;
    bool started, closed;
    uint64_t last_tick_ns;     /* uv_hrtime of the last tick; 0 before the first */
    struct schedule_stalls stalls;
    struct schedule_job jobs[SCHEDULE_MAX_JOBS];
    unsigned job_count;
};

void schedule_init(struct schedule *s, uv_loop_t *loop);
/* Run fn every period_ms (the first run one period after schedule_start). -1 when full. */
int schedule_every(struct schedule *s, const char *name, unsigned period_ms, schedule_fn fn,
                   void *ctx);
void schedule_start(struct schedule *s);
/* Closes the timer (from a loop callback, or before uv_run finishes the close). */
void schedule_close(struct schedule *s);

/* How late the next tick already is at now_ns (uv_hrtime): 0 before the first tick. A timer
 * that runs between ticks (the watchdog pet) asks this to see a stall still in progress. */
uint64_t schedule_lateness_ms(const struct schedule *s, uint64_t now_ns);
const struct schedule_stalls *schedule_stalls(const struct schedule *s);

#endif
