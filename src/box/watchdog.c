/* The hardware watchdog: a Linux watchdog device or a simulated file. Owned by the loop thread. */
#include "box/watchdog.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/watchdog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/log.h"

struct watchdog {
    int fd;               /* device; -1 for a file */
    char file[128];       /* file backend: the path */
    unsigned timeout_s;
    uint64_t pets;
    bool magic_close;     /* the driver stops on 'V' (WDIOF_MAGICCLOSE) */
    char describe[200];
};

static int file_write_state(struct watchdog *w, char *err, size_t n)
{
    char text[64];
    snprintf(text, sizeof text, "armed %u %llu\n", w->timeout_s, (unsigned long long)w->pets);
    return board_sim_write(w->file, text, err, n);
}

static int device_open(struct watchdog *w, const char *dev, unsigned timeout_s, char *err,
                       size_t n)
{
    /* Opening starts the countdown: from here on a failure must still close with 'V'. */
    w->fd = open(dev, O_WRONLY | O_CLOEXEC);
    if (w->fd < 0) {
        snprintf(err, n, "watchdog %s: %s%s", dev, strerror(errno),
                 errno == EBUSY ? " (another program, e.g. busybox watchdog, holds it)" : "");
        return -1;
    }
    struct watchdog_info info;
    memset(&info, 0, sizeof info);
    char identity[sizeof info.identity + 1] = "";
    if (ioctl(w->fd, WDIOC_GETSUPPORT, &info) == 0) {
        memcpy(identity, info.identity, sizeof info.identity);
        identity[sizeof info.identity] = '\0';
        w->magic_close = (info.options & WDIOF_MAGICCLOSE) != 0;
    }
    int t = (int)timeout_s;
    if (ioctl(w->fd, WDIOC_SETTIMEOUT, &t) < 0)
        log_warn("box", "watchdog %s: cannot set a %u s timeout (%s): keeping its own", dev,
                 timeout_s, strerror(errno));
    t = 0;
    if (ioctl(w->fd, WDIOC_GETTIMEOUT, &t) < 0 || t <= 0) {
        /* Without a known timeout we cannot know how often to pet: refuse, cleanly. */
        snprintf(err, n, "watchdog %s: cannot read its timeout: %s", dev,
                 t <= 0 ? "reported none" : strerror(errno));
        if (write(w->fd, "V", 1) < 0) { /* best effort: stop it again */
        }
        close(w->fd);
        return -1;
    }
    if ((unsigned)t != timeout_s)
        log_warn("box", "watchdog %s: timeout is %d s (the board asks for %u s)", dev, t,
                 timeout_s);
    w->timeout_s = (unsigned)t;
    snprintf(w->describe, sizeof w->describe, "%s (%s), timeout %u s", dev,
             identity[0] ? identity : "unknown driver", w->timeout_s);
    return 0;
}

struct watchdog *watchdog_open(const struct board_config *b, char *err, size_t n)
{
    if (!b->has_watchdog) {
        snprintf(err, n, "board %s has no watchdog", b->name[0] ? b->name : "(unnamed)");
        return NULL;
    }
    struct watchdog *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, n, "out of memory");
        return NULL;
    }
    w->fd = -1;
    w->timeout_s = b->watchdog_timeout_s ? b->watchdog_timeout_s : BOARD_WATCHDOG_TIMEOUT_DEFAULT;
    const char *file = board_sim_path(b->watchdog_device);
    int rc;
    if (file) {
        snprintf(w->file, sizeof w->file, "%s", file);
        snprintf(w->describe, sizeof w->describe, "file %s, timeout %u s", file, w->timeout_s);
        rc = file_write_state(w, err, n); /* armed, like opening a device */
    } else {
        rc = device_open(w, b->watchdog_device, w->timeout_s, err, n);
    }
    if (rc < 0) {
        free(w);
        return NULL;
    }
    return w;
}

int watchdog_pet(struct watchdog *w, char *err, size_t n)
{
    if (w->fd >= 0) {
        int dummy = 0;
        if (ioctl(w->fd, WDIOC_KEEPALIVE, &dummy) < 0 && write(w->fd, "\0", 1) != 1) {
            snprintf(err, n, "watchdog %s: keepalive failed: %s", w->describe, strerror(errno));
            return -1;
        }
        w->pets++;
        return 0;
    }
    w->pets++;
    if (file_write_state(w, err, n) < 0) {
        w->pets--;
        return -1;
    }
    return 0;
}

void watchdog_disarm(struct watchdog *w)
{
    if (!w)
        return;
    if (w->fd >= 0) {
        if (write(w->fd, "V", 1) != 1)
            log_warn("box", "watchdog %s: cannot write the magic close: %s", w->describe,
                     strerror(errno));
        else if (!w->magic_close)
            log_warn("box", "watchdog %s: the driver does not announce magic close: it may "
                     "still reset the board", w->describe);
        close(w->fd);
    } else {
        char err[256];
        if (board_sim_write(w->file, "disarmed\n", err, sizeof err) < 0)
            log_warn("box", "watchdog: %s", err);
    }
    free(w);
}

void watchdog_close_armed(struct watchdog *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd); /* the kernel says "unexpected close, not stopping watchdog" */
    free(w);
}

unsigned watchdog_timeout_s(const struct watchdog *w) { return w->timeout_s; }
uint64_t watchdog_pets(const struct watchdog *w) { return w->pets; }
bool watchdog_resets_board(const struct watchdog *w) { return w->fd >= 0; }
const char *watchdog_describe(const struct watchdog *w) { return w->describe; }
