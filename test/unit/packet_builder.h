/* Builds test frames header by header (Ethernet, VLAN, IPv4/6, TCP/UDP...) with correct lengths,
 * so unit tests state what a packet is rather than spelling out bytes. */
#ifndef TAPBOX_PACKET_BUILDER_H
#define TAPBOX_PACKET_BUILDER_H

#include <stddef.h>
#include <stdint.h>

struct pb {
    uint8_t buf[4096];
    size_t len;
    size_t ip_start[8];   /* where each IP header begins (to fix lengths at the end) */
    int ip_version[8];
    int ip_count;
    size_t udp_start[8];
    int udp_count;
};

void pb_init(struct pb *p);
void pb_bytes(struct pb *p, const void *data, size_t len);
void pb_u8(struct pb *p, uint8_t v);
void pb_u16(struct pb *p, uint16_t v);
void pb_u32(struct pb *p, uint32_t v);
void pb_ethernet(struct pb *p, uint16_t ethertype);
void pb_vlan(struct pb *p, uint16_t tpid_next_is, uint16_t vlan, uint16_t next_type);
void pb_ipv4(struct pb *p, const char *src, const char *dst, uint8_t proto);
void pb_ipv6(struct pb *p, const char *src, const char *dst, uint8_t next_header);
void pb_tcp(struct pb *p, uint16_t sport, uint16_t dport, uint8_t flags);
void pb_udp(struct pb *p, uint16_t sport, uint16_t dport);
/* Fix every IP total/payload length and UDP length to the end of the buffer. */
void pb_finish(struct pb *p);

#endif
