#include "capture/netdev.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/ethtool.h>
#include <linux/if_bridge.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* One datagram socket per call: these run at start, on reload and once a second at most. */
static int ifreq_ioctl(const char *ifname, unsigned long req, struct ifreq *ifr)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    snprintf(ifr->ifr_name, sizeof ifr->ifr_name, "%s", ifname);
    int rc = ioctl(fd, req, ifr);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

bool netdev_exists(const char *ifname) { return if_nametoindex(ifname) != 0; }

bool netdev_is_running(const char *ifname)
{
    struct ifreq ifr = {0};
    if (ifreq_ioctl(ifname, SIOCGIFFLAGS, &ifr) < 0)
        return false;
    return (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
}

int netdev_set_up(const char *ifname, char *err, size_t errsize)
{
    struct ifreq ifr = {0};
    if (ifreq_ioctl(ifname, SIOCGIFFLAGS, &ifr) < 0)
        goto fail;
    if (ifr.ifr_flags & IFF_UP)
        return 0;
    ifr.ifr_flags |= IFF_UP;
    if (ifreq_ioctl(ifname, SIOCSIFFLAGS, &ifr) < 0)
        goto fail;
    return 0;
fail:
    snprintf(err, errsize, "%s: cannot bring it up: %s", ifname, strerror(errno));
    return -1;
}

int netdev_mtu(const char *ifname)
{
    struct ifreq ifr = {0};
    if (ifreq_ioctl(ifname, SIOCGIFMTU, &ifr) < 0)
        return -1;
    return ifr.ifr_mtu;
}

int netdev_first_address(const char *ifname, bool include_link_local, char *addr, size_t size)
{
    struct ifaddrs *list;
    addr[0] = '\0';
    if (getifaddrs(&list) < 0)
        return 0;
    int found = 0;
    for (struct ifaddrs *a = list; a && !found; a = a->ifa_next) {
        if (!a->ifa_addr || strcmp(a->ifa_name, ifname) != 0)
            continue;
        if (a->ifa_addr->sa_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)a->ifa_addr)->sin_addr, addr, (socklen_t)size);
            found = 1;
        } else if (a->ifa_addr->sa_family == AF_INET6) {
            const struct in6_addr *in6 = &((struct sockaddr_in6 *)a->ifa_addr)->sin6_addr;
            if (IN6_IS_ADDR_LINKLOCAL(in6) && !include_link_local)
                continue;
            inet_ntop(AF_INET6, in6, addr, (socklen_t)size);
            found = 1;
        }
    }
    freeifaddrs(list);
    return found;
}

static int write_sysfs(const char *path, const char *value)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, value, strlen(value));
    int saved = errno;
    close(fd);
    errno = saved;
    return n == (ssize_t)strlen(value) ? 0 : -1;
}

int netdev_disable_ipv6(const char *ifname, char *err, size_t errsize)
{
    char path[128];
    snprintf(path, sizeof path, "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
    if (write_sysfs(path, "1") < 0 && errno != ENOENT) { /* ENOENT: no IPv6 in this kernel */
        snprintf(err, errsize, "%s: cannot turn IPv6 off: %s", ifname, strerror(errno));
        return -1;
    }
    return 0;
}

static int ethtool_value(const char *ifname, uint32_t cmd, uint32_t *value)
{
    struct ethtool_value ev = {.cmd = cmd, .data = value ? *value : 0};
    struct ifreq ifr = {0};
    ifr.ifr_data = (char *)&ev;
    if (ifreq_ioctl(ifname, SIOCETHTOOL, &ifr) < 0)
        return -1;
    if (value)
        *value = ev.data;
    return 0;
}

int netdev_get_offloads(const char *ifname, struct netdev_offloads *out)
{
    uint32_t gro = 0, flags = 0, tso = 0, gso = 0;
    memset(out, 0, sizeof *out);
    if (ethtool_value(ifname, ETHTOOL_GGRO, &gro) < 0)
        return -1;
    ethtool_value(ifname, ETHTOOL_GFLAGS, &flags);
    ethtool_value(ifname, ETHTOOL_GTSO, &tso);
    ethtool_value(ifname, ETHTOOL_GGSO, &gso);
    out->known = true;
    out->gro = gro != 0;
    out->lro = (flags & ETH_FLAG_LRO) != 0;
    out->tso = tso != 0;
    out->gso = gso != 0;
    return 0;
}

static int set_offloads(const char *ifname, const struct netdev_offloads *want)
{
    int rc = 0;
    uint32_t v = want->gro;
    rc |= ethtool_value(ifname, ETHTOOL_SGRO, &v);
    uint32_t flags = 0;
    if (ethtool_value(ifname, ETHTOOL_GFLAGS, &flags) == 0 &&
        ((flags & ETH_FLAG_LRO) != 0) != want->lro) {
        flags = want->lro ? flags | ETH_FLAG_LRO : flags & ~(uint32_t)ETH_FLAG_LRO;
        rc |= ethtool_value(ifname, ETHTOOL_SFLAGS, &flags);
    }
    v = want->tso;
    ethtool_value(ifname, ETHTOOL_STSO, &v); /* many drivers have no TSO: not an error */
    v = want->gso;
    ethtool_value(ifname, ETHTOOL_SGSO, &v);
    return rc;
}

int netdev_disable_offloads(const char *ifname, char *err, size_t errsize)
{
    struct netdev_offloads off = {.known = true};
    set_offloads(ifname, &off);
    struct netdev_offloads now;
    if (netdev_get_offloads(ifname, &now) < 0)
        return 0; /* no ethtool support at all (e.g. some virtual devices): nothing merges */
    if (now.gro || now.lro) {
        snprintf(err, errsize, "%s: cannot turn %s off: forwarded frames would be merged", ifname,
                 now.gro ? "GRO" : "LRO");
        return -1;
    }
    return 0;
}

void netdev_restore_offloads(const char *ifname, const struct netdev_offloads *saved)
{
    if (saved->known)
        set_offloads(ifname, saved);
}

void netdev_bridge_of(const char *ifname, char *master, size_t size)
{
    char path[160], target[256];
    master[0] = '\0';
    snprintf(path, sizeof path, "/sys/class/net/%s/brport/bridge", ifname);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0)
        return;
    target[n] = '\0';
    const char *slash = strrchr(target, '/');
    snprintf(master, size, "%s", slash ? slash + 1 : target);
}

static int bridge_ioctl(unsigned long req, const char *bridge, const char *ifname, char *err,
                        size_t errsize)
{
    int fd = socket(AF_LOCAL, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errsize, "socket: %s", strerror(errno));
        return -1;
    }
    int rc;
    if (req == SIOCBRADDBR) {
        rc = ioctl(fd, req, bridge);
    } else {
        struct ifreq ifr = {0};
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", bridge);
        ifr.ifr_ifindex = (int)if_nametoindex(ifname);
        rc = ioctl(fd, req, &ifr);
    }
    if (rc < 0)
        snprintf(err, errsize, "%s %s%s%s: %s", req == SIOCBRADDBR ? "create bridge" : "add to bridge",
                 bridge, ifname ? " " : "", ifname ? ifname : "", strerror(errno));
    close(fd);
    return rc;
}

int netdev_bridge_create(const char *bridge, char *err, size_t errsize)
{
    if (!netdev_exists(bridge) && bridge_ioctl(SIOCBRADDBR, bridge, NULL, err, errsize) < 0)
        return -1;
    char path[160];
    /* Transparent: forward link-local groups (LLDP...; the kernel refuses STP, pause and 802.1X
     * bits), no snooping. Best effort: older kernels lack some knobs. */
    snprintf(path, sizeof path, "/sys/class/net/%s/bridge/group_fwd_mask", bridge);
    write_sysfs(path, "0xfff8");
    snprintf(path, sizeof path, "/sys/class/net/%s/bridge/multicast_snooping", bridge);
    write_sysfs(path, "0");
    snprintf(path, sizeof path, "/sys/class/net/%s/bridge/stp_state", bridge);
    write_sysfs(path, "0");
    /* IPv6 stays as it is on the bridge: a management address may live there. */
    return netdev_set_up(bridge, err, errsize);
}

int netdev_bridge_add_port(const char *bridge, const char *ifname, char *err, size_t errsize)
{
    char master[IFNAMSIZ];
    netdev_bridge_of(ifname, master, sizeof master);
    if (strcmp(master, bridge) == 0)
        return 0;
    if (master[0]) {
        snprintf(err, errsize, "%s is already a port of bridge %s", ifname, master);
        return -1;
    }
    return bridge_ioctl(SIOCBRADDIF, bridge, ifname, err, errsize);
}
