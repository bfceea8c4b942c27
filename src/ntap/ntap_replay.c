#include "ntap/ntap_replay.h"

#include <string.h>

#define WORDS (NTAP_REPLAY_WINDOW / 64)

void ntap_replay_init(struct ntap_replay *r) { memset(r, 0, sizeof *r); }

static bool bit_get(const struct ntap_replay *r, uint64_t seq)
{
    uint64_t i = seq % NTAP_REPLAY_WINDOW;
    return (r->bits[i / 64] >> (i % 64)) & 1;
}

static void bit_set(struct ntap_replay *r, uint64_t seq)
{
    uint64_t i = seq % NTAP_REPLAY_WINDOW;
    r->bits[i / 64] |= 1ull << (i % 64);
}

static void bit_clear(struct ntap_replay *r, uint64_t seq)
{
    uint64_t i = seq % NTAP_REPLAY_WINDOW;
    r->bits[i / 64] &= ~(1ull << (i % 64));
}

bool ntap_replay_check(const struct ntap_replay *r, uint64_t seq)
{
    if (!r->started || seq > r->top)
        return true;
    if (r->top - seq >= NTAP_REPLAY_WINDOW)
        return false; /* too old to tell: refused as a replay */
    return !bit_get(r, seq);
}

void ntap_replay_accept(struct ntap_replay *r, uint64_t seq)
{
    if (!r->started) {
        /* The first datagram we see: whatever came before it in this session is not counted
         * as lost, and is refused as a replay (the collector may have restarted mid-session:
         * it cannot know which of the older numbers it had already accepted). */
        r->started = true;
        r->top = seq;
        memset(r->bits, 0xff, sizeof r->bits);
        return;
    }
    if (seq > r->top) {
        uint64_t gap = seq - r->top;
        r->lost += gap - 1;
        if (gap >= NTAP_REPLAY_WINDOW) {
            memset(r->bits, 0, sizeof r->bits);
        } else {
            /* Forget the numbers that slide out of the window: they share bits with the new. */
            for (uint64_t s = r->top + 1; s < seq; s++) {
                if ((s % 64) == 0 && seq - s >= 64) {
                    r->bits[(s % NTAP_REPLAY_WINDOW) / 64] = 0;
                    s += 63;
                    continue;
                }
                bit_clear(r, s);
            }
        }
        r->top = seq;
        bit_set(r, seq);
        return;
    }
    /* Late, inside the window, unseen (check() said so): it was counted lost. */
    bit_set(r, seq);
    if (r->lost)
        r->lost--;
    r->reordered++;
}
