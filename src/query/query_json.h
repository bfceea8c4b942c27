/* JSON views of the engine (cJSON), shared by the flow export, --stats-out and the REST API. */
#ifndef TAPBOX_QUERY_JSON_H
#define TAPBOX_QUERY_JSON_H

#include <cjson/cJSON.h>

#include "query/query.h"

cJSON *query_flow_json(const struct engine *e, const struct flow *f);
cJSON *query_host_json(const struct engine *e, const struct host *h);
cJSON *query_l7_json(const struct engine *e);
/* Counters, caps with their refusals, memory, and every source. */
cJSON *query_status_json(const struct engine *e);

#endif
