#include "core/netlist.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int netlist_parse_one(struct netlist_entry *e, const char *item, char *err, size_t errsize)
{
    char addr[64];
    const char *slash = strchr(item, '/');
    size_t alen = slash ? (size_t)(slash - item) : strlen(item);
    if (alen == 0 || alen >= sizeof addr) {
        snprintf(err, errsize, "'%s' is not an address or network", item);
        return -1;
    }
    memcpy(addr, item, alen);
    addr[alen] = '\0';
    memset(e, 0, sizeof *e);
    int max_prefix;
    if (inet_pton(AF_INET, addr, e->addr) == 1) {
        e->ip_version = 4;
        max_prefix = 32;
    } else if (inet_pton(AF_INET6, addr, e->addr) == 1) {
        e->ip_version = 6;
        max_prefix = 128;
    } else {
        snprintf(err, errsize, "'%s' is not an IPv4 or IPv6 address", addr);
        return -1;
    }
    int prefix = max_prefix;
    if (slash) {
        char *end;
        long v = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end != '\0' || v < 0 || v > max_prefix) {
            snprintf(err, errsize, "bad prefix length in '%s' (0-%d)", item, max_prefix);
            return -1;
        }
        prefix = (int)v;
    }
    e->prefix_len = (uint8_t)prefix;
    /* Clear host bits so that matching is a plain masked compare. */
    for (int bit = prefix; bit < 128; bit++)
        e->addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
    return 0;
}

int netlist_parse(struct netlist *list, const char *text, char *err, size_t errsize)
{
    struct netlist parsed = {0};
    char *copy = strdup(text);
    if (!copy) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    int rc = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ", ", &save); item; item = strtok_r(NULL, ", ", &save)) {
        if (parsed.count == NETLIST_MAX) {
            snprintf(err, errsize, "more than %d networks", NETLIST_MAX);
            rc = -1;
            break;
        }
        if (netlist_parse_one(&parsed.entries[parsed.count], item, err, errsize) < 0) {
            rc = -1;
            break;
        }
        parsed.count++;
    }
    free(copy);
    if (rc == 0)
        *list = parsed;
    return rc;
}

bool netlist_contains(const struct netlist *list, uint8_t ip_version, const uint8_t addr[16])
{
    for (size_t i = 0; i < list->count; i++) {
        const struct netlist_entry *e = &list->entries[i];
        if (e->ip_version != ip_version)
            continue;
        int full = e->prefix_len / 8, rest = e->prefix_len % 8;
        if (memcmp(e->addr, addr, (size_t)full) != 0)
            continue;
        if (rest && ((addr[full] ^ e->addr[full]) & (uint8_t)(0xFF00u >> rest)))
            continue;
        return true;
    }
    return false;
}

void netlist_format(const struct netlist *list, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < list->count && used < size; i++) {
        const struct netlist_entry *e = &list->entries[i];
        char text[INET6_ADDRSTRLEN];
        inet_ntop(e->ip_version == 4 ? AF_INET : AF_INET6, e->addr, text, sizeof text);
        int n = snprintf(buf + used, size - used, "%s%s/%u", i ? "," : "", text, e->prefix_len);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}
