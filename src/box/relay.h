/*
 * The bypass relay: one output line. When the line is at the board's "active" level the link is
 * OUT of bypass (the ports go through tapboxd); at the other level, and with no power at all,
 * the relay joins the two ports in hardware.
 *
 * Backends: the GPIO character device (kernel uapi v2; the chip named as /dev/gpiochipN,
 * gpiochipN or by its label, e.g. "gpio-32-63") and `file:PATH` (the sim board: the file holds
 * the physical level, "1\n" or "0\n", replaced atomically at each change).
 *
 * Not thread-safe: the loop thread owns a relay (through struct bypass).
 */
#ifndef TAPBOX_RELAY_H
#define TAPBOX_RELAY_H

#include <stdbool.h>
#include <stddef.h>

#include "box/board.h"

struct relay;

/* Requests the line as an output, already at the bypass level (consumer "tapbox-relay"): the
 * link stays joined until someone decides otherwise. NULL with err when the board has no relay,
 * the chip or line cannot be found, or the line is busy. */
struct relay *relay_open(const struct board_config *b, char *err, size_t n);

/* Drives the line to the bypass level (bypass) or the active level. On failure the state that
 * relay_is_bypass reports is unchanged (the last level known to be set). */
int relay_set_bypass(struct relay *r, bool bypass, char *err, size_t n);
bool relay_is_bypass(const struct relay *r);

/* "gpiochip1 line 12 (gpio-32-63), active high" or "file /run/tapbox-sim/relay, active high". */
const char *relay_describe(const struct relay *r);

/* Frees the relay. The line is left as it is: closing the uapi fd releases the request, and the
 * kernel does not change a released output's level on the controllers we use (gpio-omap,
 * pl061); the file keeps its last content. Whoever wants bypass at exit sets it first (as
 * bypass_stop does). NULL is fine. */
void relay_close(struct relay *r);

#endif
