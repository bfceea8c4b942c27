/*
 * The bypass policy: when the relay joins ports A and B in hardware, and petting the hardware
 * watchdog so that a dead or stuck tapboxd fails open.
 *
 *   AUTO  the relay stays in bypass until the ports say forwarding works (bypass_set_ready),
 *         goes back to bypass when they say it does not, and at bypass_stop.
 *   ON    the relay always joins the ports (maintenance); tapboxd forwards nothing.
 *   OFF   software never engages the bypass (fail-closed by choice); only a dead box fails open,
 *         through the watchdog reset.
 *
 * Petting: a timer every timeout/4 (at least 100 ms), the first pet at create. Loop-stall check:
 * a 100 ms timer measures its own lateness with uv_hrtime from its first tick on (work done
 * before the loop runs is not a stall, but it must stay well under the watchdog timeout, since
 * the watchdog is armed at create); a lateness above the threshold is counted and logged, and
 * LATCHES: the relay goes to bypass (not in OFF) and petting stops, so the hardware watchdog
 * resets the board. A simulated (file) watchdog resets nothing: the latch then lasts until
 * tapboxd restarts, and the status reason says so.
 *
 * Every change of the relay is logged once, with its reason.
 *
 * Threads: the loop thread owns a struct bypass; every function here is for that thread only
 * (forwarders on the loop call bypass_engaged; the web layer reads bypass_get_status there).
 */
#ifndef TAPBOX_BYPASS_H
#define TAPBOX_BYPASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "box/board.h"
#include "core/schedule.h"

enum bypass_mode { BYPASS_AUTO, BYPASS_ON, BYPASS_OFF }; /* --bypass=auto|on|off */

#define BYPASS_STALL_DEFAULT_MS 5000 /* threshold without a watchdog (0 given, no timeout known) */

struct bypass_status {
    enum bypass_mode mode;
    bool engaged;                 /* the relay is commanded to join the ports */
    char reason[160];             /* why the relay is where it is */
    uint64_t engage_count;        /* times the relay went (back) into bypass after being out */
    uint64_t last_change_unix_ms; /* wall clock of the last relay change (0: none since start) */
    bool have_relay, have_watchdog, watchdog_armed;
    uint64_t pets;
    uint64_t stalls;              /* loop lateness above stall_threshold_ms */
    uint64_t worst_stall_ms;      /* the worst lateness seen, stall or not (for tuning) */
    bool stall_latched;           /* a stall happened: bypass and no more petting until restart */
    unsigned stall_threshold_ms;
    char relay[160];              /* relay_describe, or why there is none */
    char watchdog[160];           /* watchdog_describe, or why there is none */
};

struct bypass;

/*
 * Opens the board's relay (in bypass) and watchdog (armed, petted at once) and starts the
 * pet timer. board NULL: no board, nothing is driven, the status says so (the stall check still
 * runs and logs). stall_threshold_ms 0: half the watchdog timeout (BYPASS_STALL_DEFAULT_MS
 * without a watchdog). Stalls are measured by the daemon's one schedule: the caller runs
 * bypass_tick from it at every tick, and the pet timer reads the schedule's lateness (NULL: no
 * stall check). Mode ON needs a relay. NULL with err on failure (then nothing is left open: a
 * watchdog that was opened is disarmed).
 */
struct bypass *bypass_create(uv_loop_t *loop, const struct board_config *board,
                             enum bypass_mode mode, unsigned stall_threshold_ms,
                             const struct schedule *schedule, char *err, size_t n);

/* Every tick of the schedule (SCHEDULE_TICK_MS): a tick later than the threshold latches the
 * bypass and stops the petting; a relay that refused is tried again. */
void bypass_tick(struct bypass *b, const struct schedule_tick *tick);

/* The ports say whether forwarding works. AUTO: ready takes the relay out of bypass, not ready
 * engages it with `why` as the reason (why may be NULL). Other modes remember it for later. */
void bypass_set_ready(struct bypass *b, bool ready, const char *why);

/* The C API the UI calls. -1 with err: unknown mode, ON without a relay, or stopping. */
int bypass_set_mode(struct bypass *b, enum bypass_mode m, char *err, size_t n);

/*
 * Forwarders ask this before each forward: true means the relay carries the link, so they do
 * not forward. It turns true only relay_settle_ms after the relay was commanded into bypass
 * (the contacts need that long; forwarding goes on meanwhile), and false at once when the relay
 * is commanded out. Always false without a relay (nothing else would carry the link).
 */
bool bypass_engaged(const struct bypass *b);

void bypass_get_status(const struct bypass *b, struct bypass_status *out);

/*
 * Clean stop: engages the bypass (unless mode OFF: the link then goes down with tapboxd), waits
 * relay_settle_ms on a timer while the caller keeps forwarding (bypass_engaged stays false until
 * then), disarms the watchdog, then calls done(ctx) from the loop (never from inside this call).
 * The stall check stops at once (shutdown work may block). Call it once.
 */
void bypass_stop(struct bypass *b, void (*done)(void *ctx), void *ctx);

/*
 * Frees b: the handles are closed with uv_close, so run the loop afterwards. The relay is left
 * as it is. Without a completed bypass_stop the watchdog is left armed (what a crash does: the
 * board resets); a pending stop's done is not called. NULL is fine.
 */
void bypass_destroy(struct bypass *b);

const char *bypass_mode_name(enum bypass_mode m);       /* "auto", "on", "off" */
int bypass_mode_parse(const char *s, enum bypass_mode *out); /* 0, or -1 for anything else */

#endif
