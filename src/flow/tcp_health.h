/*
 * TCP health of a flow as seen by a box in the middle of the link, from sequence numbers: the
 * handshake's round trips on each side of the box, retransmitted and out-of-order segments and
 * zero-window episodes per direction. 40 bytes kept inline in each flow; pure logic, no
 * allocation. Loop thread (the engine's flows).
 *
 * Rules (Wireshark's tcp.analysis flags, simplified to what 40 bytes can keep):
 *  - each direction keeps the highest sequence end seen (serial arithmetic, so it wraps);
 *  - a segment with data (or SYN/FIN) that ends at or below it is a retransmission: its bytes
 *    crossed the box before. A keep-alive (at most 1 byte, one below it) is not;
 *  - a segment that starts above it opens a hole (a segment the box has not seen); the next
 *    segment below the highest end is then out of order, not retransmitted (it fills the hole);
 *  - a window of 0 (not on SYN or RST) starts a zero-window episode, counted once until a
 *    non-zero window ends it;
 *  - handshake: server side RTT = SYN to SYN/ACK (the box to the server and back), client side
 *    RTT = SYN/ACK to the client's ACK. A flow seen from mid-stream has none.
 */
#ifndef TAPBOX_TCP_HEALTH_H
#define TAPBOX_TCP_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

struct tcp_health {
    uint32_t high_seq[2];        /* [dir] highest sequence end seen */
    uint32_t retrans[2];
    uint32_t out_of_order[2];
    /* Server side RTT; until the SYN/ACK, the SYN's time after the flow's first packet. */
    uint32_t rtt_server_us;
    /* Client side RTT; until the ACK, the SYN/ACK's time after the flow's first packet. */
    uint32_t rtt_client_us;
    uint16_t zero_window[2];     /* episodes, saturating */
    uint8_t state;               /* TCP_HEALTH_* bits */
    uint8_t handshake_done;      /* both RTTs are final */
    uint8_t pad[2];
};

/* One segment: dir 0 client to server, 1 server to client; ts_us and first_us (the flow's first
 * packet) in microseconds; flags as in the TCP header. */
void tcp_health_update(struct tcp_health *h, int dir, uint32_t seq, uint8_t flags,
                       uint16_t window, uint32_t payload_len, uint64_t ts_us, uint64_t first_us);

/* The handshake RTTs, 0 when not measured. */
uint32_t tcp_health_rtt_server_us(const struct tcp_health *h);
uint32_t tcp_health_rtt_client_us(const struct tcp_health *h);

#endif
