/* TCP health from sequence numbers (flow/tcp_health.h). */
#include "check.h"
#include "flow/tcp_health.h"

#include <string.h>

#define SYN 0x02
#define ACK 0x10
#define PSH 0x08
#define FIN 0x01
#define RST 0x04

TEST(tcp_health_handshake_rtts_seen_from_the_box)
{
    struct tcp_health h;
    memset(&h, 0, sizeof h);
    uint64_t t0 = 1000000;
    tcp_health_update(&h, 0, 100, SYN, 64240, 0, t0, t0);
    CHECK(tcp_health_rtt_server_us(&h) == 0);
    tcp_health_update(&h, 1, 5000, SYN | ACK, 65160, 0, t0 + 30000, t0);   /* 30 ms to the server */
    CHECK_EQ_U(tcp_health_rtt_server_us(&h), 30000);
    CHECK(tcp_health_rtt_client_us(&h) == 0);
    tcp_health_update(&h, 0, 101, ACK, 502, 0, t0 + 32000, t0);            /* 2 ms to the client */
    CHECK_EQ_U(tcp_health_rtt_client_us(&h), 2000);
    CHECK_EQ_U(tcp_health_rtt_server_us(&h), 30000);
    /* later ACKs change nothing */
    tcp_health_update(&h, 0, 101, ACK, 502, 0, t0 + 90000, t0);
    CHECK_EQ_U(tcp_health_rtt_client_us(&h), 2000);
    CHECK(h.retrans[0] == 0 && h.retrans[1] == 0);
}

TEST(tcp_health_counts_retransmissions_and_out_of_order)
{
    struct tcp_health h;
    memset(&h, 0, sizeof h);
    tcp_health_update(&h, 0, 1, ACK | PSH, 1000, 100, 1, 1);     /* 1..101 */
    tcp_health_update(&h, 0, 101, ACK | PSH, 1000, 100, 2, 1);   /* 101..201 */
    tcp_health_update(&h, 0, 101, ACK | PSH, 1000, 100, 3, 1);   /* again: retransmission */
    CHECK_EQ_U(h.retrans[0], 1);
    tcp_health_update(&h, 0, 301, ACK | PSH, 1000, 100, 4, 1);   /* 201..301 not seen: a hole */
    tcp_health_update(&h, 0, 201, ACK | PSH, 1000, 100, 5, 1);   /* fills it: out of order */
    CHECK_EQ_U(h.out_of_order[0], 1);
    CHECK_EQ_U(h.retrans[0], 1);
    tcp_health_update(&h, 0, 201, ACK | PSH, 1000, 100, 6, 1);   /* now a plain retransmission */
    CHECK_EQ_U(h.retrans[0], 2);
    /* a keep-alive (1 byte, one below the highest end) and a pure ACK count as nothing */
    tcp_health_update(&h, 0, 400, ACK, 1000, 1, 7, 1);
    tcp_health_update(&h, 0, 401, ACK, 1000, 0, 8, 1);
    CHECK_EQ_U(h.retrans[0], 2);
    CHECK(h.retrans[1] == 0 && h.out_of_order[1] == 0);
}

TEST(tcp_health_wraps_at_two_to_the_32)
{
    struct tcp_health h;
    memset(&h, 0, sizeof h);
    /* mid-stream start just below the wrap: no handshake, but retransmissions still count */
    tcp_health_update(&h, 1, 0xFFFFFF00u, ACK, 1000, 0x80, 1, 1);     /* ends at 0xFFFFFF80 */
    tcp_health_update(&h, 1, 0xFFFFFF80u, ACK, 1000, 0x100, 2, 1);    /* ends at 0x80: wrapped */
    tcp_health_update(&h, 1, 0x80, ACK, 1000, 0x100, 3, 1);           /* in order after the wrap */
    CHECK(h.retrans[1] == 0 && h.out_of_order[1] == 0);
    tcp_health_update(&h, 1, 0xFFFFFF80u, ACK, 1000, 0x100, 4, 1);    /* before the wrap: again */
    CHECK_EQ_U(h.retrans[1], 1);
    CHECK(tcp_health_rtt_client_us(&h) == 0 && tcp_health_rtt_server_us(&h) == 0);
}

TEST(tcp_health_zero_window_episodes_and_resets)
{
    struct tcp_health h;
    memset(&h, 0, sizeof h);
    tcp_health_update(&h, 1, 10, ACK, 0, 0, 1, 1);
    tcp_health_update(&h, 1, 10, ACK, 0, 0, 2, 1); /* the same episode */
    CHECK_EQ_U(h.zero_window[1], 1);
    tcp_health_update(&h, 1, 10, ACK, 512, 0, 3, 1);
    tcp_health_update(&h, 1, 10, ACK, 0, 0, 4, 1);
    CHECK_EQ_U(h.zero_window[1], 2);
    tcp_health_update(&h, 0, 7, RST, 0, 0, 5, 1);  /* a reset's window is no episode */
    CHECK_EQ_U(h.zero_window[0], 0);
    CHECK(h.retrans[0] == 0);
}
