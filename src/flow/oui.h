/*
 * MAC vendor names from the IEEE OUI registry as Wireshark ships it (Debian's wireshark-common:
 * /usr/share/wireshark/manuf; lines "00:00:0C<TAB>Cisco<TAB>Cisco Systems, Inc"). Read once at
 * start into one sorted array of 24-bit prefixes and one string pool of the long names; looked
 * up by binary search. The /28 and /36 blocks (small assignments inside a /24) are left out:
 * their /24 usually names the registry's "IEEE Registration Authority", which is then said.
 * A missing file is no error: vendors stay empty. Read-only after load: any thread.
 */
#ifndef TAPBOX_OUI_H
#define TAPBOX_OUI_H

#include <stddef.h>
#include <stdint.h>

#define OUI_DEFAULT_FILE "/usr/share/wireshark/manuf"

struct oui_entry {
    uint32_t prefix;     /* the first three bytes of the MAC */
    uint32_t name;       /* offset into names */
};

struct oui_table {
    struct oui_entry *entries;
    size_t count;
    char *names;
    size_t names_len;
    size_t bad_lines;    /* lines that were neither comments nor entries */
};

/* 0 and a table (maybe empty) on success; -1 when the file cannot be read (table empty) or memory
 * is short. */
int oui_load(struct oui_table *t, const char *path);
void oui_free(struct oui_table *t);
/* The vendor's name, or NULL when unknown. */
const char *oui_vendor(const struct oui_table *t, const uint8_t mac[6]);
size_t oui_memory(const struct oui_table *t);

#endif
