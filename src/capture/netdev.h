/*
 * Network interface chores for the forwarding ports: link state, MTU, addresses, offloads
 * (ethtool ioctls) and the kernel bridge (bridge ioctls). Plain system calls, quick enough for
 * the loop thread (they never wait on the network); each returns -1 with a reason in err.
 */
#ifndef TAPBOX_NETDEV_H
#define TAPBOX_NETDEV_H

#include <stdbool.h>
#include <stddef.h>

/* The offloads that merge frames (GRO, LRO) or let the stack hand the port frames bigger than
 * the wire carries (TSO, GSO): off on a forwarding port, restored at exit. */
struct netdev_offloads {
    bool known;
    bool gro, lro, tso, gso;
};

bool netdev_exists(const char *ifname);
/* Administratively up and with carrier. */
bool netdev_is_running(const char *ifname);
int netdev_set_up(const char *ifname, char *err, size_t errsize);
int netdev_mtu(const char *ifname);
/* The first address on the interface, as text in addr (empty: none). IPv6 link-local addresses
 * are reported only when include_link_local is set. Returns 1 if one was found, 0 if not. */
int netdev_first_address(const char *ifname, bool include_link_local, char *addr, size_t size);
/* Turn IPv6 off on the port (no link-local address, no neighbour discovery of its own). */
int netdev_disable_ipv6(const char *ifname, char *err, size_t errsize);
int netdev_get_offloads(const char *ifname, struct netdev_offloads *out);
/* Turn the merging offloads off; those the driver cannot change are left as they are. */
int netdev_disable_offloads(const char *ifname, char *err, size_t errsize);
void netdev_restore_offloads(const char *ifname, const struct netdev_offloads *saved);
/* The bridge the interface is a port of, in master (empty: none). */
void netdev_bridge_of(const char *ifname, char *master, size_t size);
/* Create the bridge if it does not exist (no STP, no forwarding delay), add the port, bring both
 * up. */
int netdev_bridge_create(const char *bridge, char *err, size_t errsize);
int netdev_bridge_add_port(const char *bridge, const char *ifname, char *err, size_t errsize);

#endif
