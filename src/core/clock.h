/* Time units and the wall clock, in one place. */
#ifndef TAPBOX_CLOCK_H
#define TAPBOX_CLOCK_H

#include <stdint.h>
#include <time.h>

#define US_PER_S 1000000ull
#define MS_PER_S 1000ull
#define NS_PER_MS 1000000ull

/* Wall-clock time in microseconds since the epoch (engine time when live, nTap arrival). */
static inline uint64_t clock_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * US_PER_S + (uint64_t)ts.tv_nsec / 1000;
}

#endif
