/* A list of IPv4/IPv6 networks (CIDR), e.g. the local networks given with -m. */
#ifndef TAPBOX_NETLIST_H
#define TAPBOX_NETLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NETLIST_MAX 64

struct netlist_entry {
    uint8_t ip_version;
    uint8_t prefix_len;
    uint8_t addr[16];
};

struct netlist {
    size_t count;
    struct netlist_entry entries[NETLIST_MAX];
};

/* Parse "10.0.0.0/8,fd00::/8,192.168.1.7". Returns 0, or -1 with a reason in err. */
int netlist_parse(struct netlist *list, const char *text, char *err, size_t errsize);
bool netlist_contains(const struct netlist *list, uint8_t ip_version, const uint8_t addr[16]);
/* Write the list back as text ("a/n,b/m"). */
void netlist_format(const struct netlist *list, char *buf, size_t size);

#endif
