#include "flow/tcp_health.h"

enum {
    SEEN_0 = 1 << 0,       /* high_seq[0] is set */
    SEEN_1 = 1 << 1,
    HOLE_0 = 1 << 2,       /* a hole is open in direction 0 */
    HOLE_1 = 1 << 3,
    ZERO_0 = 1 << 4,       /* in a zero-window episode */
    ZERO_1 = 1 << 5,
    SYN_SEEN = 1 << 6,     /* rtt_server_us holds the SYN's offset until the SYN/ACK */
    SYNACK_SEEN = 1 << 7,  /* rtt_server_us is the RTT; rtt_client_us the SYN/ACK's offset */
};

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_ACK 0x10

static inline bool seq_after(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }

static uint32_t offset_us(uint64_t ts_us, uint64_t first_us)
{
    uint64_t d = ts_us > first_us ? ts_us - first_us : 0;
    return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

static void track_handshake(struct tcp_health *h, int dir, uint8_t flags, uint64_t ts_us,
                            uint64_t first_us)
{
    uint8_t syn_ack = flags & (F_SYN | F_ACK);
    if (h->handshake_done)
        return;
    if (dir == 0 && syn_ack == F_SYN && !(h->state & (SYN_SEEN | SYNACK_SEEN))) {
        h->state |= SYN_SEEN;
        h->rtt_server_us = offset_us(ts_us, first_us);
    } else if (dir == 1 && syn_ack == (F_SYN | F_ACK) && (h->state & SYN_SEEN)) {
        uint32_t now = offset_us(ts_us, first_us);
        h->rtt_server_us = now - h->rtt_server_us; /* the first SYN/ACK: a retransmitted SYN
                                                    * keeps the first SYN's time */
        h->rtt_client_us = now;
        h->state = (uint8_t)((h->state & ~SYN_SEEN) | SYNACK_SEEN);
    } else if (dir == 0 && syn_ack == F_ACK && (h->state & SYNACK_SEEN)) {
        h->rtt_client_us = offset_us(ts_us, first_us) - h->rtt_client_us;
        h->state &= (uint8_t)~SYNACK_SEEN;
        h->handshake_done = 1;
    }
}

void tcp_health_update(struct tcp_health *h, int dir, uint32_t seq, uint8_t flags,
                       uint16_t window, uint32_t payload_len, uint64_t ts_us, uint64_t first_us)
{
    track_handshake(h, dir, flags, ts_us, first_us);
    uint8_t seen = dir ? SEEN_1 : SEEN_0, hole = dir ? HOLE_1 : HOLE_0,
            zero = dir ? ZERO_1 : ZERO_0;
    if (!(flags & (F_RST | F_SYN))) {
        if (window == 0 && !(h->state & zero)) {
            h->state |= zero;
            if (h->zero_window[dir] < UINT16_MAX)
                h->zero_window[dir]++;
        } else if (window != 0) {
            h->state &= (uint8_t)~zero;
        }
    }
    uint32_t len = payload_len + ((flags & F_SYN) != 0) + ((flags & F_FIN) != 0);
    if (flags & F_RST)
        return; /* a reset's sequence number tells nothing about the data */
    uint32_t end = seq + len;
    if (!(h->state & seen)) {
        h->state |= seen;
        h->high_seq[dir] = end;
        return;
    }
    if (len == 0)
        return; /* a pure ACK */
    uint32_t high = h->high_seq[dir];
    if (seq_after(seq, high)) {
        h->state |= hole; /* bytes before this one did not cross the box (yet) */
        h->high_seq[dir] = end;
    } else if (seq_after(end, high)) {
        h->high_seq[dir] = end; /* in order (or overlapping new data) */
    } else if (payload_len <= 1 && seq == high - 1 && !(flags & (F_SYN | F_FIN))) {
        /* a keep-alive probe */
    } else if (h->state & hole) {
        h->state &= (uint8_t)~hole;
        h->out_of_order[dir]++;
    } else {
        h->retrans[dir]++;
    }
}

uint32_t tcp_health_rtt_server_us(const struct tcp_health *h)
{
    return (h->state & SYNACK_SEEN) || h->handshake_done ? h->rtt_server_us : 0;
}

uint32_t tcp_health_rtt_client_us(const struct tcp_health *h)
{
    return h->handshake_done ? h->rtt_client_us : 0;
}
