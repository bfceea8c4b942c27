/*
 * The board file (board/<name>/board.conf): shell KEY=VALUE lines that rcS sources and tapboxd
 * reads for the bypass relay and the hardware watchdog. Only the keys below matter here; every
 * other key is ignored (the same file feeds shell scripts). Plain data, no threads involved.
 */
#ifndef TAPBOX_BOARD_H
#define TAPBOX_BOARD_H

#include <stdbool.h>
#include <stddef.h>

#define BOARD_SETTLE_MS_DEFAULT 50     /* RELAY_SETTLE_MS when absent */
#define BOARD_WATCHDOG_TIMEOUT_DEFAULT 15 /* WATCHDOG_TIMEOUT when absent */

struct board_config {
    char name[32];               /* BOARD_NAME */
    char relay_chip[128];        /* RELAY_GPIO_CHIP: /dev/gpiochipN, gpiochipN, a chip label, or
                                  * file:PATH (simulated relay) */
    unsigned relay_line;         /* RELAY_GPIO_LINE */
    int relay_active;            /* RELAY_GPIO_ACTIVE, 1 or 0: the level that takes the link OUT
                                  * of bypass (the other level, and no power, join the ports) */
    bool has_relay;              /* RELAY_GPIO_CHIP given and not empty */
    char watchdog_device[128];   /* WATCHDOG_DEVICE: /dev/watchdogN or file:PATH (simulated) */
    unsigned watchdog_timeout_s; /* WATCHDOG_TIMEOUT */
    bool has_watchdog;           /* WATCHDOG_DEVICE given and not empty */
    unsigned relay_settle_ms;    /* RELAY_SETTLE_MS: time the relay needs to switch */
};

/*
 * Reads `path` into *out (fully reset first). Lines are `KEY=VALUE`, VALUE bare or in double or
 * single quotes, `#` starts a comment, an empty value means "not set" (shell semantics: the last
 * assignment wins). Returns 0, or -1 with err naming file, line and reason, e.g.
 * "board/x/board.conf:7: RELAY_GPIO_LINE: not a number".
 */
int board_load(const char *path, struct board_config *out, char *err, size_t errsize);

/* The `file:PATH` backends (the sim board): the text after "file:", or NULL for a device. */
const char *board_sim_path(const char *spec);

/*
 * Replaces the simulated relay's or watchdog's file with `text` atomically (PATH.tmp, then
 * rename), so that a reader (test/integration/relay-sim.py) never sees a half-written file.
 * Creates the file's directory when missing (one level: /run/tapbox-sim). 0, or -1 with err.
 */
int board_sim_write(const char *path, const char *text, char *err, size_t errsize);

#endif
