/*
 * The hardware watchdog: once opened it resets the board unless petted within its timeout.
 * Backends: a Linux watchdog device (/dev/watchdogN, <linux/watchdog.h>) and `file:PATH` (the
 * sim board: each pet replaces the file with "armed TIMEOUT_S PETS\n", a clean stop with
 * "disarmed\n"; test/integration/relay-sim.py watches its mtime).
 *
 * Not thread-safe: the loop thread owns a watchdog (through struct bypass).
 */
#ifndef TAPBOX_WATCHDOG_H
#define TAPBOX_WATCHDOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "box/board.h"

struct watchdog;

/* Opens and arms the watchdog with the board's timeout. A device that refuses the timeout keeps
 * its own (logged); watchdog_timeout_s says what is in force. NULL with err on failure. */
struct watchdog *watchdog_open(const struct board_config *b, char *err, size_t n);

/* One keepalive. 0, or -1 with err. */
int watchdog_pet(struct watchdog *w, char *err, size_t n);

/* Clean stop: the magic 'V' then close (the device stops, unless the kernel was built with
 * nowayout, which is logged), or "disarmed\n" in the file. Frees w; NULL is fine. */
void watchdog_disarm(struct watchdog *w);

/* Frees w without disarming: the watchdog keeps running and resets the board, which is what a
 * crash looks like (tests use it; bypass_destroy without bypass_stop ends this way). */
void watchdog_close_armed(struct watchdog *w);

/* The timeout in force, in seconds. */
unsigned watchdog_timeout_s(const struct watchdog *w);
/* Successful pets since open. */
uint64_t watchdog_pets(const struct watchdog *w);
/* True for a real device: a missed pet resets the board (a file resets nothing). */
bool watchdog_resets_board(const struct watchdog *w);
/* "/dev/watchdog0 (OMAP Watchdog), timeout 15 s" or "file /run/tapbox-sim/watchdog, timeout 2 s". */
const char *watchdog_describe(const struct watchdog *w);

#endif
