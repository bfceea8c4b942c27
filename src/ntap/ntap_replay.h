/*
 * A sliding replay window over 64-bit sequence numbers (RFC 4303 style), with loss and
 * reordering counts. check() before authenticating, accept() only after.
 */
#ifndef TAPBOX_NTAP_REPLAY_H
#define TAPBOX_NTAP_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#define NTAP_REPLAY_WINDOW 2048 /* sequence numbers remembered behind the highest */

struct ntap_replay {
    bool started;
    uint64_t top;                             /* highest sequence number accepted */
    uint64_t bits[NTAP_REPLAY_WINDOW / 64];   /* bit (seq % W): seq seen, for seq in (top-W, top] */
    uint64_t lost;       /* numbers skipped and not (yet) seen: datagrams lost */
    uint64_t reordered;  /* accepted below top: arrived late, taken back from lost */
};

void ntap_replay_init(struct ntap_replay *r);
/* True when seq may be new: above top, or inside the window and not seen. */
bool ntap_replay_check(const struct ntap_replay *r, uint64_t seq);
/* Record seq as seen (after authentication; call only when check() said true). The first
 * number accepted also marks every number below it as seen. */
void ntap_replay_accept(struct ntap_replay *r, uint64_t seq);

#endif
