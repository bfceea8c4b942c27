/*
 * Live series: packets/s and bits/s of the whole box and of each source, one point a second for
 * the last SERIES_LEN seconds, in memory. Sampled by a 1 s timer on the loop (see web.c).
 */
#ifndef TAPBOX_WEB_SERIES_H
#define TAPBOX_WEB_SERIES_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "flow/engine.h"

#define SERIES_LEN 600

struct series_track {
    float pps[SERIES_LEN];
    float bps[SERIES_LEN];
    uint64_t last_packets, last_bytes;
};

struct series {
    uint64_t time[SERIES_LEN];       /* Unix seconds of each point */
    unsigned head;                   /* where the next point goes */
    unsigned count;                  /* points held (at most SERIES_LEN) */
    uint64_t last_ms;                /* monotonic time of the last sample; 0 before the first */
    uint32_t counters_epoch;         /* engine_counters_epoch() of the baseline */
    struct series_track totals;
    struct series_track *sources[ENGINE_MAX_SOURCES]; /* allocated when a source first shows */
    unsigned source_count;
};

void series_init(struct series *s);
void series_fini(struct series *s);
/* Take one sample of the engine's counters: mono_ms is a monotonic clock (uv_now), unix_s the
 * wall clock stamped on the point. The first call only sets the baseline. */
void series_sample(struct series *s, const struct engine *e, uint64_t mono_ms, uint64_t unix_s);
/* {"interval_s":1,"count":N,"time":[...],"totals":{"packets_per_s":[...],"bits_per_s":[...]},
 *  "sources":[{"id":0,"name":"eth0","packets_per_s":[...],"bits_per_s":[...]}]}
 * Points later than since (Unix seconds; 0 for all); source >= 0 keeps that source only. */
cJSON *series_json(const struct series *s, const struct engine *e, uint64_t since, int source);

#endif
