#include "packet_builder.h"

#include <arpa/inet.h>
#include <string.h>

void pb_init(struct pb *p) { memset(p, 0, sizeof *p); }

void pb_bytes(struct pb *p, const void *data, size_t len)
{
    memcpy(p->buf + p->len, data, len);
    p->len += len;
}

void pb_u8(struct pb *p, uint8_t v) { p->buf[p->len++] = v; }

void pb_u16(struct pb *p, uint16_t v)
{
    pb_u8(p, (uint8_t)(v >> 8));
    pb_u8(p, (uint8_t)v);
}

void pb_u32(struct pb *p, uint32_t v)
{
    pb_u16(p, (uint16_t)(v >> 16));
    pb_u16(p, (uint16_t)v);
}

void pb_ethernet(struct pb *p, uint16_t ethertype)
{
    static const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0x02}, src[6] = {0x02, 0, 0, 0, 0, 0x01};
    pb_bytes(p, dst, 6);
    pb_bytes(p, src, 6);
    pb_u16(p, ethertype);
}

void pb_vlan(struct pb *p, uint16_t tpid_next_is, uint16_t vlan, uint16_t next_type)
{
    (void)tpid_next_is;
    pb_u16(p, vlan & 0x0FFF);
    pb_u16(p, next_type);
}

void pb_ipv4(struct pb *p, const char *src, const char *dst, uint8_t proto)
{
    p->ip_start[p->ip_count] = p->len;
    p->ip_version[p->ip_count++] = 4;
    pb_u8(p, 0x45);
    pb_u8(p, 0);
    pb_u16(p, 0); /* total length, fixed by pb_finish */
    pb_u16(p, 0x1234);
    pb_u16(p, 0x4000);
    pb_u8(p, 64);
    pb_u8(p, proto);
    pb_u16(p, 0);
    uint8_t a[4];
    inet_pton(AF_INET, src, a);
    pb_bytes(p, a, 4);
    inet_pton(AF_INET, dst, a);
    pb_bytes(p, a, 4);
}

void pb_ipv6(struct pb *p, const char *src, const char *dst, uint8_t next_header)
{
    p->ip_start[p->ip_count] = p->len;
    p->ip_version[p->ip_count++] = 6;
    pb_u32(p, 0x60000000);
    pb_u16(p, 0); /* payload length, fixed by pb_finish */
    pb_u8(p, next_header);
    pb_u8(p, 64);
    uint8_t a[16];
    inet_pton(AF_INET6, src, a);
    pb_bytes(p, a, 16);
    inet_pton(AF_INET6, dst, a);
    pb_bytes(p, a, 16);
}

void pb_tcp(struct pb *p, uint16_t sport, uint16_t dport, uint8_t flags)
{
    pb_u16(p, sport);
    pb_u16(p, dport);
    pb_u32(p, 1000);
    pb_u32(p, 0);
    pb_u8(p, 5 << 4);
    pb_u8(p, flags);
    pb_u16(p, 65535);
    pb_u16(p, 0);
    pb_u16(p, 0);
}

void pb_udp(struct pb *p, uint16_t sport, uint16_t dport)
{
    p->udp_start[p->udp_count++] = p->len;
    pb_u16(p, sport);
    pb_u16(p, dport);
    pb_u16(p, 0); /* length, fixed by pb_finish */
    pb_u16(p, 0);
}

static void put16(uint8_t *at, size_t v)
{
    at[0] = (uint8_t)(v >> 8);
    at[1] = (uint8_t)v;
}

void pb_finish(struct pb *p)
{
    for (int i = 0; i < p->ip_count; i++) {
        size_t start = p->ip_start[i];
        if (p->ip_version[i] == 4)
            put16(p->buf + start + 2, p->len - start);
        else
            put16(p->buf + start + 4, p->len - start - 40);
    }
    for (int i = 0; i < p->udp_count; i++)
        put16(p->buf + p->udp_start[i] + 4, p->len - p->udp_start[i]);
}
