#include "web/series.h"

#include <stdlib.h>
#include <string.h>

void series_init(struct series *s) { memset(s, 0, sizeof *s); }

void series_fini(struct series *s)
{
    for (unsigned i = 0; i < s->source_count; i++)
        free(s->sources[i]);
    memset(s, 0, sizeof *s);
}

static void track_push(struct series_track *t, unsigned slot, const struct traffic_counters *c,
                       double seconds)
{
    uint64_t dp = c->packets >= t->last_packets ? c->packets - t->last_packets : 0;
    uint64_t db = c->bytes >= t->last_bytes ? c->bytes - t->last_bytes : 0;
    t->pps[slot] = (float)((double)dp / seconds);
    t->bps[slot] = (float)((double)db * 8.0 / seconds);
    t->last_packets = c->packets;
    t->last_bytes = c->bytes;
}

void series_sample(struct series *s, const struct engine *e, uint64_t mono_ms, uint64_t unix_s)
{
    /* Sources that appeared since the last sample get a track (zero history, current
     * counters as the baseline). */
    while (s->source_count < engine_source_count(e)) {
        struct series_track *t = calloc(1, sizeof *t);
        if (!t)
            break;
        t->last_packets = engine_source(e, s->source_count)->counters.packets;
        t->last_bytes = engine_source(e, s->source_count)->counters.bytes;
        s->sources[s->source_count++] = t;
    }
    /* Restored counters are a step, not traffic: take a new baseline (the point is skipped). */
    bool rebase = s->counters_epoch != engine_counters_epoch(e);
    s->counters_epoch = engine_counters_epoch(e);
    if (s->last_ms == 0 || mono_ms <= s->last_ms || rebase) {
        s->totals.last_packets = engine_totals(e)->packets;
        s->totals.last_bytes = engine_totals(e)->bytes;
        for (unsigned i = 0; i < s->source_count; i++) {
            s->sources[i]->last_packets = engine_source(e, i)->counters.packets;
            s->sources[i]->last_bytes = engine_source(e, i)->counters.bytes;
        }
        if (s->last_ms == 0 || rebase)
            s->last_ms = mono_ms ? mono_ms : 1;
        return;
    }
    double seconds = (double)(mono_ms - s->last_ms) / 1000.0;
    s->last_ms = mono_ms;
    unsigned slot = s->head;
    s->time[slot] = unix_s;
    track_push(&s->totals, slot, engine_totals(e), seconds);
    for (unsigned i = 0; i < s->source_count; i++)
        track_push(s->sources[i], slot, &engine_source(e, i)->counters, seconds);
    s->head = (s->head + 1) % SERIES_LEN;
    if (s->count < SERIES_LEN)
        s->count++;
}

/* Rates are non-negative: round without libm. */
static double round_pos(double x) { return (double)(uint64_t)(x + 0.5); }

static void add_track(cJSON *obj, const struct series_track *t, unsigned first, unsigned n)
{
    cJSON *pps = cJSON_AddArrayToObject(obj, "packets_per_s");
    cJSON *bps = cJSON_AddArrayToObject(obj, "bits_per_s");
    for (unsigned k = 0; k < n; k++) {
        unsigned i = (first + k) % SERIES_LEN;
        cJSON_AddItemToArray(pps, cJSON_CreateNumber(round_pos(t->pps[i] * 10.0) / 10.0));
        cJSON_AddItemToArray(bps, cJSON_CreateNumber(round_pos(t->bps[i])));
    }
}

cJSON *series_json(const struct series *s, const struct engine *e, uint64_t since, int source)
{
    unsigned first = (s->head + SERIES_LEN - s->count) % SERIES_LEN, n = s->count;
    while (n > 0 && s->time[first] <= since) { /* oldest first: skip what the caller has */
        first = (first + 1) % SERIES_LEN;
        n--;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "interval_s", 1);
    cJSON_AddNumberToObject(o, "length_s", SERIES_LEN);
    cJSON_AddNumberToObject(o, "count", n);
    cJSON *time = cJSON_AddArrayToObject(o, "time");
    for (unsigned k = 0; k < n; k++)
        cJSON_AddItemToArray(time, cJSON_CreateNumber((double)s->time[(first + k) % SERIES_LEN]));
    add_track(cJSON_AddObjectToObject(o, "totals"), &s->totals, first, n);
    cJSON *sources = cJSON_AddArrayToObject(o, "sources");
    for (unsigned i = 0; i < s->source_count && i < engine_source_count(e); i++) {
        if (source >= 0 && (unsigned)source != i)
            continue;
        cJSON *so = cJSON_CreateObject();
        cJSON_AddNumberToObject(so, "id", i);
        cJSON_AddStringToObject(so, "name", engine_source(e, i)->name);
        add_track(so, s->sources[i], first, n);
        cJSON_AddItemToArray(sources, so);
    }
    return o;
}
