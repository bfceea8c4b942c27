/*
 * Packet decoder: link layer, VLAN/MPLS/PPPoE, IPv4/IPv6, L4 headers and the tunnels that nDPI's
 * reference reader unwraps (GTP-U, TZSP, CAPWAP, VXLAN, IP-in-IP, 6in4, 4in6, 6in6). It reads
 * only the captured bytes it is given: every bound is checked against caplen here, so nothing
 * after it needs to. Pure function, no state: safe to call from any thread.
 */
#ifndef TAPBOX_DECODE_H
#define TAPBOX_DECODE_H

#include <stdbool.h>
#include <stdint.h>

/* Why a packet was not accounted. DECODE_OK and DECODE_NOT_IP are normal outcomes. */
enum decode_status {
    DECODE_OK = 0,
    DECODE_NOT_IP,             /* ARP, LLDP, STP...: counted, not a flow */
    DECODE_BAD_LINKTYPE,       /* link type we cannot read */
    DECODE_TRUNC_LINK,         /* link, VLAN, MPLS or PPPoE header cut short */
    DECODE_TRUNC_IP,           /* IP header cut short */
    DECODE_BAD_IP_VERSION,
    DECODE_BAD_IP_HEADER,      /* IHL < 5, total length < header, extension header overrun */
    DECODE_BAD_IP_LENGTH,      /* IP length larger than the frame on the wire */
    DECODE_TRUNC_L4,           /* TCP/UDP/SCTP header cut short or bad TCP data offset */
    DECODE_BAD_TUNNEL,         /* malformed encapsulation header */
    DECODE_TOO_DEEP,           /* too many nested encapsulations */
    DECODE_STATUS_COUNT
};

const char *decode_status_name(enum decode_status status);

struct decoded_packet {
    uint16_t vlan;            /* outermost 802.1Q VLAN id, 0 if untagged */
    uint8_t ip_version;       /* 4 or 6 */
    uint8_t l4_proto;         /* IPPROTO_* of the innermost IP packet */
    uint8_t src_addr[16];     /* IPv4 in the first 4 bytes, rest zero */
    uint8_t dst_addr[16];
    uint16_t src_port;        /* host order; ICMP: 0 */
    uint16_t dst_port;
    uint8_t tcp_flags;
    bool has_mac;             /* an Ethernet frame: the outermost MACs below are set */
    uint16_t tcp_window;      /* TCP: the raw window field */
    uint32_t tcp_seq, tcp_ack;
    uint8_t src_mac[6], dst_mac[6];
    bool fragment;            /* a non-first IP fragment: no L4 header, ports 0 */
    uint8_t tunnel_depth;     /* how many encapsulations were removed */
    const uint8_t *l3;        /* innermost IP header, inside the frame (may be unaligned) */
    uint32_t l3_caplen;       /* captured bytes from l3, capped by the IP length */
    uint32_t l4_payload_len;  /* payload bytes after the L4 header, per the IP length */
};

/* Decode one frame of the given pcap link type (DLT_*). caplen bytes are readable; wirelen is the
 * original length. On DECODE_OK, *out describes the innermost IP packet. */
enum decode_status decode_packet(int linktype, const uint8_t *frame, uint32_t caplen,
                                 uint32_t wirelen, struct decoded_packet *out);

/* The captured bytes of the innermost L4 payload of a decoded packet (UDP or TCP data): *len
 * of them at *payload, 0 when none were captured (a snap length cut them, or a fragment). */
void decode_l4_payload(const struct decoded_packet *d, const uint8_t **payload, uint32_t *len);

/* True if libpcap link type can carry IP for us. */
bool decode_linktype_supported(int linktype);

#endif
