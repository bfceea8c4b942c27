#include "decode/decode.h"

#include <pcap/dlt.h>
#include <string.h>

#define MAX_TUNNEL_DEPTH 4

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86DD
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88A8
#define ETHERTYPE_QINQ_OLD 0x9100
#define ETHERTYPE_MPLS_UC 0x8847
#define ETHERTYPE_MPLS_MC 0x8848
#define ETHERTYPE_PPPOE_SESSION 0x8864

#define PPP_IPV4 0x0021
#define PPP_IPV6 0x0057

#define PORT_GTP_U 2152
#define PORT_TZSP 37008
#define PORT_CAPWAP_DATA 5247
#define PORT_VXLAN 4789

#define IPPROTO_NUM_ICMP 1
#define IPPROTO_NUM_IPIP 4
#define IPPROTO_NUM_TCP 6
#define IPPROTO_NUM_UDP 17
#define IPPROTO_NUM_IPV6 41
#define IPPROTO_NUM_SCTP 132

static const char *const status_names[DECODE_STATUS_COUNT] = {
    [DECODE_OK] = "ok",
    [DECODE_NOT_IP] = "not_ip",
    [DECODE_BAD_LINKTYPE] = "bad_linktype",
    [DECODE_TRUNC_LINK] = "truncated_link",
    [DECODE_TRUNC_IP] = "truncated_ip",
    [DECODE_BAD_IP_VERSION] = "bad_ip_version",
    [DECODE_BAD_IP_HEADER] = "bad_ip_header",
    [DECODE_BAD_IP_LENGTH] = "bad_ip_length",
    [DECODE_TRUNC_L4] = "truncated_l4",
    [DECODE_BAD_TUNNEL] = "bad_tunnel",
    [DECODE_TOO_DEEP] = "too_deep",
};

const char *decode_status_name(enum decode_status status)
{
    return (unsigned)status < DECODE_STATUS_COUNT ? status_names[status] : "unknown";
}

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A window over the captured bytes: [p, p + cap). wire is how many bytes the same span had on
 * the wire (>= cap when the capture was cut by a snap length). */
struct span {
    const uint8_t *p;
    uint32_t cap;
    uint32_t wire;
};

static inline int span_skip(struct span *s, uint32_t n)
{
    if (n > s->cap)
        return -1;
    s->p += n;
    s->cap -= n;
    s->wire = s->wire >= n ? s->wire - n : 0;
    return 0;
}

static enum decode_status decode_ip(struct span s, struct decoded_packet *out, int depth);
static enum decode_status decode_ethernet(struct span s, struct decoded_packet *out, int depth);

/* Layer 3 chosen by an ethertype (after VLAN/MPLS/PPPoE handling). */
static enum decode_status decode_ethertype(uint16_t type, struct span s, struct decoded_packet *out,
                                           int depth)
{
    for (;;) {
        switch (type) {
        case ETHERTYPE_IPV4:
        case ETHERTYPE_IPV6:
            return decode_ip(s, out, depth);
        case ETHERTYPE_VLAN:
        case ETHERTYPE_QINQ:
        case ETHERTYPE_QINQ_OLD:
            if (s.cap < 4)
                return DECODE_TRUNC_LINK;
            if (out->vlan == 0 && depth == 0)
                out->vlan = rd16(s.p) & 0x0FFF;
            type = rd16(s.p + 2);
            span_skip(&s, 4);
            continue;
        case ETHERTYPE_MPLS_UC:
        case ETHERTYPE_MPLS_MC:
            /* Pop labels until bottom-of-stack, then guess the payload by its version nibble. */
            for (;;) {
                if (s.cap < 4)
                    return DECODE_TRUNC_LINK;
                int bottom = s.p[2] & 0x01;
                span_skip(&s, 4);
                if (bottom)
                    break;
            }
            if (s.cap < 1)
                return DECODE_TRUNC_LINK;
            if ((s.p[0] >> 4) == 4 || (s.p[0] >> 4) == 6)
                return decode_ip(s, out, depth);
            return DECODE_NOT_IP; /* pseudowire or other: not ours to read */
        case ETHERTYPE_PPPOE_SESSION: {
            if (s.cap < 8)
                return DECODE_TRUNC_LINK;
            uint16_t ppp = rd16(s.p + 6);
            span_skip(&s, 8);
            if (ppp == PPP_IPV4 || ppp == PPP_IPV6)
                return decode_ip(s, out, depth);
            return DECODE_NOT_IP;
        }
        default:
            return DECODE_NOT_IP;
        }
    }
}

static enum decode_status decode_ethernet(struct span s, struct decoded_packet *out, int depth)
{
    if (s.cap < 14)
        return DECODE_TRUNC_LINK;
    uint16_t type = rd16(s.p + 12);
    if (depth == 0) { /* the MACs of the wire, not of a tunnelled frame */
        memcpy(out->dst_mac, s.p, 6);
        memcpy(out->src_mac, s.p + 6, 6);
        out->has_mac = true;
    }
    span_skip(&s, 14);
    if (type < 0x0600) /* an 802.3 length: LLC/SNAP frames (STP, CDP...) are not IP for us */
        return DECODE_NOT_IP;
    return decode_ethertype(type, s, out, depth);
}

static enum decode_status decode_ppp_protocol(uint16_t proto, struct span s,
                                              struct decoded_packet *out)
{
    if (proto == PPP_IPV4 || proto == PPP_IPV6)
        return decode_ip(s, out, 0);
    return DECODE_NOT_IP;
}

/* GTP-U (3GPP TS 29.281): only T-PDUs carry user IP packets. Returns 1 and moves *s to the inner
 * IP header if this UDP payload is a T-PDU with an IP packet inside, else 0. */
static int gtp_u_inner(struct span *s)
{
    struct span g = *s;
    if (g.cap < 8)
        return 0;
    uint8_t flags = g.p[0];
    if ((flags >> 5) != 1 || !(flags & 0x10) || g.p[1] != 0xFF)
        return 0;
    uint32_t hlen = 8;
    if (flags & 0x07) {
        if (g.cap < 12)
            return 0;
        hlen = 12;
        uint8_t next_ext = (flags & 0x04) ? g.p[11] : 0;
        while (next_ext) {
            if (g.cap < hlen + 1)
                return 0;
            uint32_t ext_len = (uint32_t)g.p[hlen] * 4;
            if (ext_len == 0 || g.cap < hlen + ext_len)
                return 0;
            next_ext = g.p[hlen + ext_len - 1];
            hlen += ext_len;
        }
    }
    span_skip(&g, hlen);
    if (g.cap < 1 || ((g.p[0] >> 4) != 4 && (g.p[0] >> 4) != 6))
        return 0;
    *s = g;
    return 1;
}

/* TZSP: version 1, encapsulated Ethernet, tagged fields up to the END tag. */
static int tzsp_inner(struct span *s)
{
    struct span t = *s;
    if (t.cap < 4 || t.p[0] != 1 || rd16(t.p + 2) != 1)
        return 0;
    span_skip(&t, 4);
    for (;;) {
        if (t.cap < 1)
            return 0;
        uint8_t tag = t.p[0];
        if (tag == 1) { /* END */
            span_skip(&t, 1);
            break;
        }
        if (tag == 0) { /* PADDING */
            span_skip(&t, 1);
            continue;
        }
        if (t.cap < 2 || span_skip(&t, 2u + t.p[1]) < 0)
            return 0;
    }
    *s = t;
    return 1;
}

/* CAPWAP data channel carrying IEEE 802.11 data frames with an LLC/SNAP header. Some access
 * points send the 802.11 frame control byte-swapped, so the frame is recognised by its LLC/SNAP
 * header after a 24-byte (or, with QoS, 26-byte) 802.11 header, as nDPI's reader does. On success
 * *s points at the L3 packet and *ethertype tells which. */
static int capwap_inner(struct span *s, uint16_t *ethertype)
{
    struct span c = *s;
    if (c.cap < 8 || (c.p[0] & 0x0F) != 0)
        return 0;
    uint32_t hlen = (uint32_t)(c.p[1] >> 3) * 4;
    if (span_skip(&c, hlen) < 0)
        return 0;
    static const uint32_t wlan_header_lengths[] = {24, 26};
    for (size_t i = 0; i < 2; i++) {
        uint32_t off = wlan_header_lengths[i];
        if (c.cap < off + 8)
            return 0;
        const uint8_t *llc = c.p + off;
        if (llc[0] == 0xAA && llc[1] == 0xAA && llc[2] == 0x03) {
            *ethertype = rd16(llc + 6);
            span_skip(&c, off + 8);
            *s = c;
            return 1;
        }
    }
    return 0;
}

/* UDP payloads that are tunnels: returns DECODE_OK with *out rewritten for the inner packet,
 * or -1 when the payload is not a tunnel (the outer UDP flow stands). */
static int decode_udp_tunnel(struct span payload, uint16_t sport, uint16_t dport,
                             struct decoded_packet *out, int depth, enum decode_status *status)
{
    struct span inner = payload;
    uint16_t ethertype;
    if (sport == PORT_GTP_U || dport == PORT_GTP_U) {
        if (!gtp_u_inner(&inner))
            return -1;
        *status = decode_ip(inner, out, depth + 1);
    } else if (dport == PORT_TZSP) {
        if (!tzsp_inner(&inner))
            return -1;
        *status = decode_ethernet(inner, out, depth + 1);
    } else if (sport == PORT_CAPWAP_DATA || dport == PORT_CAPWAP_DATA) {
        if (!capwap_inner(&inner, &ethertype))
            return -1;
        *status = decode_ethertype(ethertype, inner, out, depth + 1);
    } else if (dport == PORT_VXLAN) {
        if (inner.cap < 8 || !(inner.p[0] & 0x08))
            return -1;
        span_skip(&inner, 8);
        *status = decode_ethernet(inner, out, depth + 1);
    } else {
        return -1;
    }
    return 0;
}

static enum decode_status decode_l4(struct span l4, uint32_t l4_len, struct decoded_packet *out,
                                    int depth)
{
    out->src_port = out->dst_port = 0;
    out->tcp_flags = 0;
    out->tcp_seq = out->tcp_ack = 0;
    out->tcp_window = 0;
    out->l4_payload_len = l4_len;
    if (out->fragment)
        return DECODE_OK;
    switch (out->l4_proto) {
    case IPPROTO_NUM_TCP: {
        if (l4.cap < 20 || l4_len < 20)
            return DECODE_TRUNC_L4;
        uint32_t doff = (uint32_t)(l4.p[12] >> 4) * 4;
        if (doff < 20 || doff > l4_len)
            return DECODE_TRUNC_L4;
        out->src_port = rd16(l4.p);
        out->dst_port = rd16(l4.p + 2);
        out->tcp_seq = rd32(l4.p + 4);
        out->tcp_ack = rd32(l4.p + 8);
        out->tcp_flags = l4.p[13];
        out->tcp_window = rd16(l4.p + 14);
        out->l4_payload_len = l4_len - doff;
        return DECODE_OK;
    }
    case IPPROTO_NUM_UDP: {
        if (l4.cap < 8 || l4_len < 8)
            return DECODE_TRUNC_L4;
        out->src_port = rd16(l4.p);
        out->dst_port = rd16(l4.p + 2);
        out->l4_payload_len = l4_len - 8;
        if (depth < MAX_TUNNEL_DEPTH) {
            struct span payload = l4;
            span_skip(&payload, 8);
            struct decoded_packet inner = *out;
            enum decode_status st;
            if (decode_udp_tunnel(payload, out->src_port, out->dst_port, &inner, depth, &st) == 0 &&
                st == DECODE_OK) {
                *out = inner;
                return DECODE_OK;
            }
            /* A broken inner packet leaves the outer UDP flow in place (as nDPI's reader). */
        }
        return DECODE_OK;
    }
    case IPPROTO_NUM_SCTP:
        if (l4.cap < 12 || l4_len < 12)
            return DECODE_TRUNC_L4;
        out->src_port = rd16(l4.p);
        out->dst_port = rd16(l4.p + 2);
        out->l4_payload_len = l4_len - 12;
        return DECODE_OK;
    case IPPROTO_NUM_IPIP:
    case IPPROTO_NUM_IPV6:
        if (depth >= MAX_TUNNEL_DEPTH)
            return DECODE_TOO_DEEP;
        return decode_ip(l4, out, depth + 1);
    default:
        return DECODE_OK; /* ICMP, ICMPv6, GRE, ESP...: a flow by addresses and protocol */
    }
}

static int ipv6_is_extension(uint8_t nh)
{
    return nh == 0 || nh == 43 || nh == 44 || nh == 51 || nh == 60 || nh == 135 || nh == 139 ||
           nh == 140;
}

static enum decode_status decode_ipv4(struct span s, struct decoded_packet *out, int depth)
{
    if (s.cap < 20)
        return DECODE_TRUNC_IP;
    uint32_t ihl = (uint32_t)(s.p[0] & 0x0F) * 4;
    uint32_t total = rd16(s.p + 2);
    if (ihl < 20 || total < ihl)
        return DECODE_BAD_IP_HEADER;
    if (s.cap < ihl)
        return DECODE_TRUNC_IP;
    if (total > s.wire)
        return DECODE_BAD_IP_LENGTH;
    uint16_t frag = rd16(s.p + 6);
    out->ip_version = 4;
    out->l4_proto = s.p[9];
    memset(out->src_addr, 0, 16);
    memset(out->dst_addr, 0, 16);
    memcpy(out->src_addr, s.p + 12, 4);
    memcpy(out->dst_addr, s.p + 16, 4);
    out->fragment = (frag & 0x1FFF) != 0;
    out->l3 = s.p;
    out->l3_caplen = s.cap < total ? s.cap : total;
    struct span l4 = {s.p + ihl, out->l3_caplen - ihl, total - ihl};
    return decode_l4(l4, total - ihl, out, depth);
}

static enum decode_status decode_ipv6(struct span s, struct decoded_packet *out, int depth)
{
    if (s.cap < 40)
        return DECODE_TRUNC_IP;
    uint32_t payload = rd16(s.p + 4);
    uint32_t total = 40 + payload;
    if (total > s.wire)
        return DECODE_BAD_IP_LENGTH;
    out->ip_version = 6;
    memcpy(out->src_addr, s.p + 8, 16);
    memcpy(out->dst_addr, s.p + 24, 16);
    out->fragment = false;
    out->l3 = s.p;
    out->l3_caplen = s.cap < total ? s.cap : total;
    uint8_t nh = s.p[6];
    uint32_t off = 40;
    while (ipv6_is_extension(nh)) {
        if (off + 8 > total)
            return DECODE_BAD_IP_HEADER;
        if (off + 8 > out->l3_caplen)
            return DECODE_TRUNC_IP;
        const uint8_t *ext = s.p + off;
        uint32_t len;
        if (nh == 44) { /* fragment header */
            len = 8;
            if (rd16(ext + 2) & 0xFFF8)
                out->fragment = true;
        } else if (nh == 51) {
            len = ((uint32_t)ext[1] + 2) * 4;
        } else {
            len = ((uint32_t)ext[1] + 1) * 8;
        }
        nh = ext[0];
        off += len;
        if (off > total)
            return DECODE_BAD_IP_HEADER;
    }
    out->l4_proto = nh;
    if (off > out->l3_caplen)
        return DECODE_TRUNC_IP;
    struct span l4 = {s.p + off, out->l3_caplen - off, total - off};
    return decode_l4(l4, total - off, out, depth);
}

static enum decode_status decode_ip(struct span s, struct decoded_packet *out, int depth)
{
    if (depth > MAX_TUNNEL_DEPTH)
        return DECODE_TOO_DEEP;
    if (s.cap < 1)
        return DECODE_TRUNC_IP;
    out->tunnel_depth = (uint8_t)depth;
    switch (s.p[0] >> 4) {
    case 4:
        return decode_ipv4(s, out, depth);
    case 6:
        return decode_ipv6(s, out, depth);
    default:
        return DECODE_BAD_IP_VERSION;
    }
}

bool decode_linktype_supported(int linktype)
{
    switch (linktype) {
    case DLT_EN10MB:
    case DLT_LINUX_SLL:
    case DLT_LINUX_SLL2:
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
    case DLT_NULL:
    case DLT_LOOP:
    case DLT_PPP:
    case DLT_PPP_SERIAL:
    case DLT_C_HDLC:
        return true;
    default:
        /* libpcap maps LINKTYPE_RAW (101) to DLT_RAW, but some builds report 12 or 14. */
        return linktype == 12 || linktype == 14 || linktype == 101;
    }
}

/*
 * Fast path for the common case: Ethernet, at most one 802.1Q/802.1ad tag, IPv4 without
 * fragmentation or IPv6 without extension headers, then TCP, UDP that is not a tunnel port, or a
 * protocol without ports (ICMP...). It performs the same checks as the general decoder below, in
 * one function and without first zeroing *out, and it writes every field of *out. Anything else,
 * malformed packets included, returns DECODE_FAST_MISS before *out is trusted: the caller then
 * runs the general decoder from scratch, so results are the general decoder's by construction.
 */
#define DECODE_FAST_MISS DECODE_STATUS_COUNT

static inline uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

static inline enum decode_status decode_fast_ethernet(const uint8_t *frame, uint32_t caplen,
                                                      uint32_t wire, struct decoded_packet *out)
{
    if (__builtin_expect(caplen < 14 + 20, 0))
        return DECODE_FAST_MISS;
    uint32_t off = 14;
    uint16_t type = rd16(frame + 12);
    uint16_t vlan = 0;
    if (type != ETHERTYPE_IPV4 && type != ETHERTYPE_IPV6) {
        if (type != ETHERTYPE_VLAN && type != ETHERTYPE_QINQ && type != ETHERTYPE_QINQ_OLD)
            return DECODE_FAST_MISS;
        vlan = rd16(frame + 14) & 0x0FFF;
        type = rd16(frame + 16);
        off = 18;
        if (type != ETHERTYPE_IPV4 && type != ETHERTYPE_IPV6)
            return DECODE_FAST_MISS;
    }
    const uint8_t *ip = frame + off;
    uint32_t cap = caplen - off, ipwire = wire - off; /* caplen >= 34 > off, wire >= caplen */
    uint32_t total, hlen;
    bool fragment = false;
    uint8_t proto;
    if (cap < 20)
        return DECODE_FAST_MISS;
    uint8_t version = ip[0] >> 4;
    if (version == 4) {
        hlen = (uint32_t)(ip[0] & 0x0F) * 4;
        total = rd16(ip + 2);
        if (hlen < 20 || total < hlen || cap < hlen || total > ipwire)
            return DECODE_FAST_MISS;
        proto = ip[9];
        /* A non-first fragment: no L4 header, a flow by addresses and protocol. */
        fragment = (rd16(ip + 6) & 0x1FFF) != 0;
        memset(out->src_addr + 4, 0, 12);
        memset(out->dst_addr + 4, 0, 12);
        memcpy(out->src_addr, ip + 12, 4);
        memcpy(out->dst_addr, ip + 16, 4);
    } else if (version == 6) {
        if (cap < 40)
            return DECODE_FAST_MISS;
        hlen = 40;
        total = 40 + (uint32_t)rd16(ip + 4);
        if (total > ipwire)
            return DECODE_FAST_MISS;
        proto = ip[6]; /* an extension header is a miss below: not TCP, UDP or portless */
        memcpy(out->src_addr, ip + 8, 16);
        memcpy(out->dst_addr, ip + 24, 16);
    } else {
        return DECODE_FAST_MISS;
    }
    /* hlen <= cap and hlen <= total in both branches, so hlen <= l3_caplen. */
    uint32_t l3_caplen = min_u32(cap, total);
    const uint8_t *l4 = ip + hlen;
    uint32_t l4_cap = l3_caplen - hlen, l4_len = total - hlen;
    uint16_t sport = 0, dport = 0, window = 0;
    uint8_t flags = 0;
    uint32_t payload = l4_len, seq = 0, ack = 0;
    /* Tests in order of frequency (a switch compiled to a chain of compares in the wrong one). */
    if (fragment) {
        /* no L4 header: ports and flags stay 0, the payload is all of the IP payload */
    } else if (proto == IPPROTO_NUM_TCP) {
        if (l4_cap < 20 || l4_len < 20)
            return DECODE_FAST_MISS;
        uint32_t doff = (uint32_t)(l4[12] >> 4) * 4;
        if (doff < 20 || doff > l4_len)
            return DECODE_FAST_MISS;
        sport = rd16(l4);
        dport = rd16(l4 + 2);
        seq = rd32(l4 + 4);
        ack = rd32(l4 + 8);
        flags = l4[13];
        window = rd16(l4 + 14);
        payload = l4_len - doff;
    } else if (proto == IPPROTO_NUM_UDP) {
        if (l4_cap < 8 || l4_len < 8)
            return DECODE_FAST_MISS;
        sport = rd16(l4);
        dport = rd16(l4 + 2);
        /* Ports that may carry a tunnel: the general path looks inside. */
        if (sport == PORT_GTP_U || dport == PORT_GTP_U || dport == PORT_TZSP ||
            sport == PORT_CAPWAP_DATA || dport == PORT_CAPWAP_DATA || dport == PORT_VXLAN)
            return DECODE_FAST_MISS;
        payload = l4_len - 8;
    } else if (proto == IPPROTO_NUM_SCTP || proto == IPPROTO_NUM_IPIP || proto == IPPROTO_NUM_IPV6 ||
               (version == 6 && ipv6_is_extension(proto))) {
        return DECODE_FAST_MISS;
    }
    /* else ICMP, ICMPv6, GRE, ESP...: a flow by addresses and protocol */
    out->vlan = vlan;
    out->ip_version = version;
    out->l4_proto = proto;
    out->src_port = sport;
    out->dst_port = dport;
    out->tcp_flags = flags;
    out->tcp_seq = seq;
    out->tcp_ack = ack;
    out->tcp_window = window;
    out->has_mac = true;
    memcpy(out->dst_mac, frame, 6);
    memcpy(out->src_mac, frame + 6, 6);
    out->fragment = fragment;
    out->tunnel_depth = 0;
    out->l3 = ip;
    out->l3_caplen = l3_caplen;
    out->l4_payload_len = payload;
    return DECODE_OK;
}

/* Every link type and case, from scratch (also what decode_fast_ethernet gives up on). */
static __attribute__((noinline)) enum decode_status
decode_general(int linktype, const uint8_t *frame, uint32_t caplen, uint32_t wirelen,
               struct decoded_packet *out)
{
    memset(out, 0, sizeof *out);
    struct span s = {frame, caplen, wirelen > caplen ? wirelen : caplen};
    switch (linktype) {
    case DLT_EN10MB:
        return decode_ethernet(s, out, 0);
    case DLT_LINUX_SLL:
        if (s.cap < 16)
            return DECODE_TRUNC_LINK;
        {
            uint16_t type = rd16(s.p + 14);
            span_skip(&s, 16);
            return decode_ethertype(type, s, out, 0);
        }
    case DLT_LINUX_SLL2:
        if (s.cap < 20)
            return DECODE_TRUNC_LINK;
        {
            uint16_t type = rd16(s.p);
            span_skip(&s, 20);
            return decode_ethertype(type, s, out, 0);
        }
    case DLT_NULL:
    case DLT_LOOP: {
        if (s.cap < 4)
            return DECODE_TRUNC_LINK;
        /* The address family is in the capturing host's byte order (DLT_NULL) or big endian
         * (DLT_LOOP); accept both. BSDs use 24, 28 or 30 for IPv6. */
        uint32_t le = (uint32_t)s.p[0] | (uint32_t)s.p[1] << 8 | (uint32_t)s.p[2] << 16 |
                      (uint32_t)s.p[3] << 24;
        uint32_t be = (uint32_t)s.p[3] | (uint32_t)s.p[2] << 8 | (uint32_t)s.p[1] << 16 |
                      (uint32_t)s.p[0] << 24;
        uint32_t af = le < 256 ? le : be;
        span_skip(&s, 4);
        if (af == 2 || af == 24 || af == 28 || af == 30)
            return decode_ip(s, out, 0);
        return DECODE_NOT_IP;
    }
    case DLT_PPP:
    case DLT_PPP_SERIAL:
        /* HDLC-like framing: optional address/control 0xFF 0x03, then a 1- or 2-byte protocol. */
        if (s.cap >= 2 && s.p[0] == 0xFF && s.p[1] == 0x03)
            span_skip(&s, 2);
        if (s.cap < 2)
            return DECODE_TRUNC_LINK;
        if (s.p[0] & 0x01) {
            uint16_t proto = s.p[0];
            span_skip(&s, 1);
            return decode_ppp_protocol(proto, s, out);
        } else {
            uint16_t proto = rd16(s.p);
            span_skip(&s, 2);
            return decode_ppp_protocol(proto, s, out);
        }
    case DLT_C_HDLC:
        if (s.cap < 4)
            return DECODE_TRUNC_LINK;
        {
            uint16_t type = rd16(s.p + 2);
            span_skip(&s, 4);
            return decode_ethertype(type, s, out, 0);
        }
    default:
        if (decode_linktype_supported(linktype)) /* raw IP under its various numbers */
            return decode_ip(s, out, 0);
        return DECODE_BAD_LINKTYPE;
    }
}

enum decode_status decode_packet(int linktype, const uint8_t *frame, uint32_t caplen,
                                 uint32_t wirelen, struct decoded_packet *out)
{
    if (__builtin_expect(linktype == DLT_EN10MB, 1) &&
        __builtin_expect(decode_fast_ethernet(frame, caplen, wirelen > caplen ? wirelen : caplen,
                                              out) == DECODE_OK, 1))
        return DECODE_OK;
    return decode_general(linktype, frame, caplen, wirelen, out);
}

void decode_l4_payload(const struct decoded_packet *d, const uint8_t **payload, uint32_t *len)
{
    *payload = NULL;
    *len = 0;
    if (d->fragment || d->l4_payload_len == 0 || d->l3_caplen < 20)
        return;
    /* The payload ends where the IP length says; decode checked that length against the frame
     * and set l4_payload_len from it, so the offset is the IP length minus the payload. */
    uint32_t ip_len = d->ip_version == 4 ? rd16(d->l3 + 2)
                      : d->l3_caplen >= 40 ? 40u + rd16(d->l3 + 4)
                                           : 0;
    if (ip_len < d->l4_payload_len)
        return;
    uint32_t off = ip_len - d->l4_payload_len;
    if (off >= d->l3_caplen)
        return;
    *payload = d->l3 + off;
    *len = d->l3_caplen - off;
}
