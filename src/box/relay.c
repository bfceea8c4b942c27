/* The bypass relay line: GPIO uapi v2 or a simulated file. Owned by the loop thread. */
#include "box/relay.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/gpio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define CONSUMER "tapbox-relay"
#define MAX_CHIPS_LISTED 8 /* in the "no chip labelled X" message */

struct relay {
    int line_fd;           /* uapi: the line request's fd; -1 for a file */
    char file[128];        /* file backend: the path */
    int active;            /* level that takes the link out of bypass */
    bool bypass;
    char describe[200];
};

/* The physical level for a state: the line is requested without ACTIVE_LOW, so what we set is
 * what the pin shows and what relay_describe says. */
static int bypass_level(const struct relay *r, bool bypass)
{
    return bypass ? !r->active : r->active;
}

/* ---- GPIO character device ---- */

static int chip_info(const char *dev, struct gpiochip_info *info, int *fd_out)
{
    int fd = open(dev, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    memset(info, 0, sizeof *info);
    if (ioctl(fd, GPIO_GET_CHIPINFO_IOCTL, info) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    *fd_out = fd;
    return 0;
}

static bool is_chip_name(const char *s)
{
    if (strncmp(s, "gpiochip", 8) || !s[8])
        return false;
    for (const char *c = s + 8; *c; c++)
        if (*c < '0' || *c > '9')
            return false;
    return true;
}

/* Opens the chip given as a path, a gpiochipN name or a label; fills info. fd or -1 with err. */
static int open_chip(const char *spec, struct gpiochip_info *info, char *err, size_t n)
{
    char dev[300];
    int fd;
    if (spec[0] == '/' || is_chip_name(spec)) {
        snprintf(dev, sizeof dev, "%s%s", spec[0] == '/' ? "" : "/dev/", spec);
        if (chip_info(dev, info, &fd) < 0) {
            snprintf(err, n, "GPIO chip %s: %s", dev, strerror(errno));
            return -1;
        }
        return fd;
    }
    /* A label: the chip numbers depend on probe order, the labels do not. */
    DIR *d = opendir("/dev");
    if (!d) {
        snprintf(err, n, "cannot list /dev to find GPIO chip '%s': %s", spec, strerror(errno));
        return -1;
    }
    char seen[200] = "";
    size_t listed = 0;
    struct dirent *e;
    int found = -1;
    while (found < 0 && (e = readdir(d))) {
        if (!is_chip_name(e->d_name))
            continue;
        snprintf(dev, sizeof dev, "/dev/%s", e->d_name);
        if (chip_info(dev, info, &fd) < 0)
            continue;
        if (!strncmp(info->label, spec, sizeof info->label)) {
            found = fd;
            break;
        }
        close(fd);
        if (listed++ < MAX_CHIPS_LISTED) {
            size_t used = strlen(seen);
            snprintf(seen + used, sizeof seen - used, "%s%s '%.32s'", used ? ", " : "",
                     e->d_name, info->label);
        }
    }
    closedir(d);
    if (found < 0)
        snprintf(err, n, "no GPIO chip labelled '%s' (chips: %s)", spec,
                 listed ? seen : "none in /dev");
    return found;
}

static int gpio_open(struct relay *r, const struct board_config *b, char *err, size_t n)
{
    struct gpiochip_info info;
    int chip = open_chip(b->relay_chip, &info, err, n);
    if (chip < 0)
        return -1;
    if (b->relay_line >= info.lines) {
        snprintf(err, n, "GPIO chip %.32s (%.32s) has %u lines: no line %u", info.name, info.label,
                 info.lines, b->relay_line);
        close(chip);
        return -1;
    }
    struct gpio_v2_line_request req;
    memset(&req, 0, sizeof req);
    req.offsets[0] = b->relay_line;
    req.num_lines = 1;
    snprintf(req.consumer, sizeof req.consumer, "%s", CONSUMER);
    req.config.flags = GPIO_V2_LINE_FLAG_OUTPUT;
    /* The initial value goes with the request, so the line never glitches out of bypass. */
    req.config.num_attrs = 1;
    req.config.attrs[0].attr.id = GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES;
    req.config.attrs[0].attr.values = (uint64_t)bypass_level(r, true);
    req.config.attrs[0].mask = 1;
    if (ioctl(chip, GPIO_V2_GET_LINE_IOCTL, &req) < 0) {
        snprintf(err, n, "GPIO chip %.32s (%.32s) line %u: %s%s", info.name, info.label,
                 b->relay_line, strerror(errno),
                 errno == EBUSY ? " (another program holds the line)" : "");
        close(chip);
        return -1;
    }
    close(chip); /* the line request lives on its own fd */
    r->line_fd = req.fd;
    snprintf(r->describe, sizeof r->describe, "%.32s line %u (%.32s), active %s", info.name,
             b->relay_line, info.label, r->active ? "high" : "low");
    return 0;
}

static int gpio_set(struct relay *r, int level, char *err, size_t n)
{
    struct gpio_v2_line_values v = {.bits = (uint64_t)level, .mask = 1};
    if (ioctl(r->line_fd, GPIO_V2_LINE_SET_VALUES_IOCTL, &v) < 0) {
        snprintf(err, n, "relay %s: cannot set level %d: %s", r->describe, level, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- simulated: a file ---- */

static int file_set(struct relay *r, int level, char *err, size_t n)
{
    return board_sim_write(r->file, level ? "1\n" : "0\n", err, n);
}

/* ---- API ---- */

struct relay *relay_open(const struct board_config *b, char *err, size_t n)
{
    if (!b->has_relay) {
        snprintf(err, n, "board %s has no bypass relay", b->name[0] ? b->name : "(unnamed)");
        return NULL;
    }
    struct relay *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, n, "out of memory");
        return NULL;
    }
    r->line_fd = -1;
    r->active = b->relay_active ? 1 : 0;
    r->bypass = true;
    const char *file = board_sim_path(b->relay_chip);
    int rc;
    if (file) {
        snprintf(r->file, sizeof r->file, "%s", file);
        snprintf(r->describe, sizeof r->describe, "file %s, active %s", file,
                 r->active ? "high" : "low");
        rc = file_set(r, bypass_level(r, true), err, n);
    } else {
        rc = gpio_open(r, b, err, n);
    }
    if (rc < 0) {
        free(r);
        return NULL;
    }
    return r;
}

int relay_set_bypass(struct relay *r, bool bypass, char *err, size_t n)
{
    int level = bypass_level(r, bypass);
    int rc = r->line_fd >= 0 ? gpio_set(r, level, err, n) : file_set(r, level, err, n);
    if (rc == 0)
        r->bypass = bypass;
    return rc;
}

bool relay_is_bypass(const struct relay *r) { return r->bypass; }

const char *relay_describe(const struct relay *r) { return r->describe; }

void relay_close(struct relay *r)
{
    if (!r)
        return;
    if (r->line_fd >= 0)
        close(r->line_fd);
    free(r);
}
