/* /metrics: the counters in Prometheus' text exposition format (metrics.c). */
#ifndef TAPBOX_WEB_METRICS_H
#define TAPBOX_WEB_METRICS_H

#include <stddef.h>

struct web;

/* malloc'd, NULL when out of memory. */
char *web_metrics_text(struct web *w, size_t *len);

#endif
