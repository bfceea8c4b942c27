#include "ntap/ntap_tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static void write_sysctl(const char *fmt, const char *name, const char *value)
{
    char path[128];
    snprintf(path, sizeof path, fmt, name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return; /* best effort: IPv6 may be absent */
    if (write(fd, value, strlen(value)) < 0) {
        /* ignored: the device still works */
    }
    close(fd);
}

int ntap_tun_open(struct ntap_tun *t, const char *name, char *err, size_t errsize)
{
    memset(t, 0, sizeof *t);
    t->fd = -1;
    if (!name || !*name || strlen(name) >= IFNAMSIZ) {
        snprintf(err, errsize, "bad TAP device name '%s'", name ? name : "");
        return -1;
    }
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errsize, "cannot open /dev/net/tun: %s", strerror(errno));
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        snprintf(err, errsize, "cannot create TAP device %s: %s", name, strerror(errno));
        close(fd);
        return -1;
    }
    snprintf(t->name, sizeof t->name, "%s", ifr.ifr_name);
    /* Passive: the box must not answer anything that is re-emitted here. */
    write_sysctl("/proc/sys/net/ipv6/conf/%s/disable_ipv6", t->name, "1");
    write_sysctl("/proc/sys/net/ipv4/conf/%s/rp_filter", t->name, "1");
    write_sysctl("/proc/sys/net/ipv4/conf/%s/accept_local", t->name, "0");
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
        snprintf(err, errsize, "%s: cannot read flags: %s", t->name, strerror(errno));
        if (s >= 0)
            close(s);
        close(fd);
        return -1;
    }
    ifr.ifr_flags |= IFF_UP | IFF_NOARP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
        snprintf(err, errsize, "%s: cannot bring it up: %s", t->name, strerror(errno));
        close(s);
        close(fd);
        return -1;
    }
    close(s);
    t->fd = fd;
    return 0;
}

void ntap_tun_write(struct ntap_tun *t, const uint8_t *frame, uint32_t len)
{
    if (t->fd < 0)
        return;
    if (write(t->fd, frame, len) == (ssize_t)len) {
        t->frames++;
        t->bytes += len;
        return;
    }
    t->dropped++;
    t->last_errno = errno;
}

void ntap_tun_close(struct ntap_tun *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}
