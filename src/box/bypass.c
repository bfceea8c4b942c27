/* The bypass policy on the libuv loop: relay state, watchdog petting, loop-stall latch.
 * Everything here runs on the loop thread (see bypass.h). */
#include "box/bypass.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "box/relay.h"
#include "box/watchdog.h"

#define PET_MIN_MS 100

struct bypass {
    uv_loop_t *loop;
    enum bypass_mode mode;
    struct relay *relay;          /* NULL: no relay */
    struct watchdog *wd;          /* NULL: none, or disarmed by the stop */
    bool had_watchdog;
    char board_name[32];
    bool have_board;
    unsigned settle_ms;

    bool ready;                   /* the ports' last word */
    char ready_why[160];

    bool engaged;                 /* commanded into bypass (relay_is_bypass) */
    bool settled;                 /* engaged for settle_ms: forwarders may stop */
    char reason[160];
    char relay_error[200];        /* last relay failure, logged once; "" when fine */
    char pet_error[200];
    uint64_t engage_count, last_change_unix_ms, pets;

    unsigned threshold_ms;
    const struct schedule *schedule; /* the one stall measure (NULL: no stall check) */
    uint64_t counted_since_ns;    /* the tick whose late successor a pet already counted */
    uint64_t stalls, worst_stall_ms, latched_ms;
    bool latched;

    bool stopping;
    void (*done)(void *ctx);
    void *done_ctx;

    uv_timer_t pet_timer, settle_timer;
    int handles_open;
    char relay_desc[160], wd_desc[160];
};

const char *bypass_mode_name(enum bypass_mode m)
{
    switch (m) {
    case BYPASS_AUTO: return "auto";
    case BYPASS_ON: return "on";
    case BYPASS_OFF: return "off";
    }
    return "?";
}

int bypass_mode_parse(const char *s, enum bypass_mode *out)
{
    static const enum bypass_mode all[] = {BYPASS_AUTO, BYPASS_ON, BYPASS_OFF};
    for (size_t i = 0; s && i < sizeof all / sizeof all[0]; i++)
        if (!strcmp(s, bypass_mode_name(all[i]))) {
            *out = all[i];
            return 0;
        }
    return -1;
}

static void settle_cb(uv_timer_t *t);

/* Where the relay should be, and why. The order is the priority. */
static bool wanted(const struct bypass *b, char *why, size_t n)
{
    if (b->mode == BYPASS_OFF) {
        if (b->latched)
            snprintf(why, n, "mode off (loop stalled %llu ms: watchdog no longer petted)",
                     (unsigned long long)b->latched_ms);
        else
            snprintf(why, n, "mode off: software never engages the bypass");
        return false;
    }
    if (b->latched) {
        bool resets = b->wd && watchdog_resets_board(b->wd);
        snprintf(why, n, "loop stalled %llu ms (%s)", (unsigned long long)b->latched_ms,
                 resets ? "watchdog no longer petted: the board resets"
                        : "latched until restart: nothing resets this board");
        return true;
    }
    if (b->mode == BYPASS_ON) {
        snprintf(why, n, "mode on (maintenance)");
        return true;
    }
    if (b->stopping) {
        snprintf(why, n, "tapboxd stopping");
        return true;
    }
    snprintf(why, n, "%s", b->ready_why);
    return !b->ready;
}

/* Drives the relay to where it should be; logs each change once. Called after every input. */
static void apply(struct bypass *b)
{
    char why[160];
    bool want = wanted(b, why, sizeof why);
    if (!b->relay) {
        b->engaged = false;
        if (!b->have_board)
            snprintf(b->reason, sizeof b->reason, "no board: no relay or watchdog driven");
        else if (b->latched)
            snprintf(b->reason, sizeof b->reason, "%s; board %s has no relay", why,
                     b->board_name);
        else
            snprintf(b->reason, sizeof b->reason, "board %s has no relay", b->board_name);
        return;
    }
    if (want == relay_is_bypass(b->relay)) {
        if (strcmp(b->reason, why))
            log_debug("box", "bypass stays %s, now because: %s", want ? "engaged" : "released",
                      why);
        snprintf(b->reason, sizeof b->reason, "%s", why);
        return;
    }
    char err[200];
    if (relay_set_bypass(b->relay, want, err, sizeof err) < 0) {
        if (strcmp(err, b->relay_error)) /* once per distinct failure: we retry every tick */
            log_error("box", "cannot %s the bypass (%s): %s", want ? "engage" : "release", why,
                      err);
        snprintf(b->relay_error, sizeof b->relay_error, "%s", err);
        return;
    }
    b->relay_error[0] = '\0';
    b->engaged = want;
    b->settled = false;
    b->last_change_unix_ms = clock_wall_us() / 1000;
    snprintf(b->reason, sizeof b->reason, "%s", why);
    if (want) {
        b->engage_count++;
        uv_timer_start(&b->settle_timer, settle_cb, b->settle_ms, 0);
        log_info("box", "bypass engaged, the relay joins the ports: %s", why);
    } else {
        uv_timer_stop(&b->settle_timer);
        log_info("box", "bypass released, the link goes through tapboxd: %s", why);
    }
}

/* ---- stop ---- */

static void finish_stop(struct bypass *b)
{
    uv_timer_stop(&b->pet_timer);
    const char *wd_end = b->had_watchdog ? "already closed" : "none";
    if (b->wd) {
        if (b->mode != BYPASS_OFF && b->relay && !b->engaged) {
            /* The relay refused to go to bypass: a board reset puts it there (no power = bypass). */
            log_error("box", "stopping without the bypass engaged: the watchdog stays armed so "
                      "that the board resets into bypass");
            watchdog_close_armed(b->wd);
            wd_end = "left armed";
        } else {
            watchdog_disarm(b->wd);
            wd_end = "disarmed";
        }
        b->wd = NULL;
    }
    log_info("box", "bypass stopped: relay %s, watchdog %s",
             !b->relay ? "none" : b->engaged ? "in bypass" : "out of bypass",
             wd_end);
    void (*done)(void *) = b->done;
    b->done = NULL;
    if (done)
        done(b->done_ctx);
}

static void settle_cb(uv_timer_t *t)
{
    struct bypass *b = t->data;
    if (b->engaged)
        b->settled = true;
    if (b->stopping)
        finish_stop(b);
}

void bypass_stop(struct bypass *b, void (*done)(void *ctx), void *ctx)
{
    if (b->stopping) {
        log_warn("box", "bypass_stop called twice: ignored");
        return;
    }
    b->stopping = true;
    b->done = done;
    b->done_ctx = ctx;
    apply(b); /* from now on stalls are not checked: shutdown work (flushes) may block the loop */
    /* The settle timer runs when the relay just moved into bypass; otherwise end on the next
     * loop turn, never from inside this call. */
    if (!uv_is_active((uv_handle_t *)&b->settle_timer))
        uv_timer_start(&b->settle_timer, settle_cb, 0, 0);
}

/* ---- petting and the stall check ---- */

static void latch(struct bypass *b, uint64_t late_ms)
{
    b->latched = true;
    b->latched_ms = late_ms;
    uv_timer_stop(&b->pet_timer);
    bool resets = b->wd && watchdog_resets_board(b->wd);
    log_error("box", "loop stalled %llu ms: latched, %s%s", (unsigned long long)late_ms,
              b->mode == BYPASS_OFF ? "bypass not engaged (mode off), " : "bypass engaged, ",
              !b->wd      ? "no watchdog: latched until restart"
              : resets    ? "watchdog no longer petted: the board will reset"
                          : "watchdog no longer petted (simulated: nothing resets, latched "
                            "until restart)");
    apply(b);
}

/* The schedule's lateness for the gap that began at the tick since_ns: from the tick itself, or
 * from the pet timer, so that no pet slips out after a stall whatever order the overdue timers
 * run in. Before the first tick (startup work before uv_run) the lateness is 0. */
static void check_stall(struct bypass *b, uint64_t late_ms, uint64_t since_ns)
{
    if (b->stopping)
        return;
    if (late_ms > b->worst_stall_ms)
        b->worst_stall_ms = late_ms;
    if (late_ms <= b->threshold_ms || since_ns == b->counted_since_ns)
        return;
    b->stalls++;
    b->counted_since_ns = since_ns; /* counted once, whichever of tick and pet saw it */
    log_warn("box", "loop stalled %llu ms (threshold %u ms, %llu stalls)",
             (unsigned long long)late_ms, b->threshold_ms, (unsigned long long)b->stalls);
    if (!b->latched)
        latch(b, late_ms);
}

void bypass_tick(struct bypass *b, const struct schedule_tick *tick)
{
    check_stall(b, tick->late_ms, tick->since_ns);
    if (b->relay_error[0] && !b->stopping)
        apply(b); /* the relay refused last time: try again */
}

static void pet(struct bypass *b)
{
    char err[200];
    if (watchdog_pet(b->wd, err, sizeof err) < 0) {
        if (strcmp(err, b->pet_error))
            log_error("box", "%s", err);
        snprintf(b->pet_error, sizeof b->pet_error, "%s", err);
        return;
    }
    b->pet_error[0] = '\0';
    b->pets++;
}

static void pet_cb(uv_timer_t *t)
{
    struct bypass *b = t->data;
    if (b->schedule)
        check_stall(b, schedule_lateness_ms(b->schedule, uv_hrtime()), b->schedule->last_tick_ns);
    if (b->latched || !b->wd) {
        uv_timer_stop(t);
        return;
    }
    pet(b);
}

/* ---- API ---- */

struct bypass *bypass_create(uv_loop_t *loop, const struct board_config *board,
                             enum bypass_mode mode, unsigned stall_threshold_ms,
                             const struct schedule *schedule, char *err, size_t n)
{
    if (mode != BYPASS_AUTO && mode != BYPASS_ON && mode != BYPASS_OFF) {
        snprintf(err, n, "unknown bypass mode %d", (int)mode);
        return NULL;
    }
    if (mode == BYPASS_ON && !(board && board->has_relay)) {
        snprintf(err, n, "--bypass=on needs a board with a bypass relay (%s)",
                 board ? "this board has none" : "no --board given");
        return NULL;
    }
    struct bypass *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, n, "out of memory");
        return NULL;
    }
    b->loop = loop;
    b->schedule = schedule;
    b->mode = mode;
    b->have_board = board != NULL;
    snprintf(b->ready_why, sizeof b->ready_why, "starting: ports not ready yet");
    snprintf(b->relay_desc, sizeof b->relay_desc, "none (no board)");
    snprintf(b->wd_desc, sizeof b->wd_desc, "none (no board)");
    if (board) {
        snprintf(b->board_name, sizeof b->board_name, "%s", board->name[0] ? board->name : "?");
        b->settle_ms = board->relay_settle_ms;
        char e[200];
        if (board->has_relay) {
            if (!(b->relay = relay_open(board, e, sizeof e))) {
                snprintf(err, n, "bypass relay: %s", e);
                free(b);
                return NULL;
            }
            snprintf(b->relay_desc, sizeof b->relay_desc, "%s", relay_describe(b->relay));
        } else {
            snprintf(b->relay_desc, sizeof b->relay_desc, "none (board %s has no relay)",
                     b->board_name);
        }
        if (board->has_watchdog) {
            if (!(b->wd = watchdog_open(board, e, sizeof e))) {
                snprintf(err, n, "watchdog: %s", e);
                relay_close(b->relay); /* still in bypass */
                free(b);
                return NULL;
            }
            b->had_watchdog = true;
            snprintf(b->wd_desc, sizeof b->wd_desc, "%s", watchdog_describe(b->wd));
        } else {
            snprintf(b->wd_desc, sizeof b->wd_desc, "none (board %s has no watchdog)",
                     b->board_name);
        }
    }
    b->threshold_ms = stall_threshold_ms ? stall_threshold_ms
                      : b->wd             ? watchdog_timeout_s(b->wd) * 1000u / 2
                                          : BYPASS_STALL_DEFAULT_MS;

    uv_timer_init(loop, &b->pet_timer);
    uv_timer_init(loop, &b->settle_timer);
    b->pet_timer.data = b->settle_timer.data = b;
    b->handles_open = 2;

    log_info("box", "bypass mode %s; relay: %s; watchdog: %s; stall threshold %u ms",
             bypass_mode_name(mode), b->relay_desc, b->wd_desc, b->threshold_ms);
    if (b->relay) {
        /* relay_open put the line at the bypass level; it may have been out (a restart). */
        b->engaged = true;
        b->last_change_unix_ms = clock_wall_us() / 1000;
        uv_timer_start(&b->settle_timer, settle_cb, b->settle_ms, 0);
        log_info("box", "bypass engaged, the relay joins the ports: %s", b->ready_why);
    }
    apply(b);
    if (b->wd) {
        pet(b);
        uint64_t every = watchdog_timeout_s(b->wd) * 1000ull / 4;
        if (every < PET_MIN_MS)
            every = PET_MIN_MS;
        uv_timer_start(&b->pet_timer, pet_cb, every, every);
    }
    return b;
}

void bypass_set_ready(struct bypass *b, bool ready, const char *why)
{
    b->ready = ready;
    snprintf(b->ready_why, sizeof b->ready_why, "%s",
             why && *why ? why : ready ? "ports ready" : "ports not ready");
    apply(b);
}

int bypass_set_mode(struct bypass *b, enum bypass_mode m, char *err, size_t n)
{
    if (m != BYPASS_AUTO && m != BYPASS_ON && m != BYPASS_OFF) {
        snprintf(err, n, "unknown bypass mode %d", (int)m);
        return -1;
    }
    if (b->stopping) {
        snprintf(err, n, "tapboxd is stopping: the bypass mode no longer changes");
        return -1;
    }
    if (m == BYPASS_ON && !b->relay) {
        snprintf(err, n, "bypass mode on needs a relay: %s", b->relay_desc);
        return -1;
    }
    if (m == b->mode)
        return 0;
    log_info("box", "bypass mode %s -> %s", bypass_mode_name(b->mode), bypass_mode_name(m));
    b->mode = m;
    apply(b);
    return 0;
}

bool bypass_engaged(const struct bypass *b) { return b->relay && b->engaged && b->settled; }

void bypass_get_status(const struct bypass *b, struct bypass_status *out)
{
    memset(out, 0, sizeof *out);
    out->mode = b->mode;
    out->engaged = b->relay && b->engaged;
    if (b->relay_error[0])
        snprintf(out->reason, sizeof out->reason, "%s; relay error: %s", b->reason,
                 b->relay_error);
    else
        snprintf(out->reason, sizeof out->reason, "%s", b->reason);
    out->engage_count = b->engage_count;
    out->last_change_unix_ms = b->last_change_unix_ms;
    out->have_relay = b->relay != NULL;
    out->have_watchdog = b->had_watchdog;
    out->watchdog_armed = b->wd != NULL;
    out->pets = b->pets;
    out->stalls = b->stalls;
    out->worst_stall_ms = b->worst_stall_ms;
    out->stall_latched = b->latched;
    out->stall_threshold_ms = b->threshold_ms;
    snprintf(out->relay, sizeof out->relay, "%s", b->relay_desc);
    snprintf(out->watchdog, sizeof out->watchdog, "%s", b->wd_desc);
}

static void on_close(uv_handle_t *h)
{
    struct bypass *b = h->data;
    if (--b->handles_open == 0)
        free(b);
}

void bypass_destroy(struct bypass *b)
{
    if (!b)
        return;
    if (b->wd) {
        log_warn("box", "bypass destroyed without a clean stop: the watchdog stays armed");
        watchdog_close_armed(b->wd);
        b->wd = NULL;
    }
    relay_close(b->relay);
    b->relay = NULL;
    b->done = NULL;
    uv_close((uv_handle_t *)&b->pet_timer, on_close);
    uv_close((uv_handle_t *)&b->settle_timer, on_close);
}
