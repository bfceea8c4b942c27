/* The REST views of the box around the engine: wire ports, bypass relay and watchdog, inline
 * policies. Loop thread (they read loop-owned state through src/query/box_json.c). */
#include "query/box_json.h"
#include "web/views.h"

#include <stdio.h>

static int view_of(cJSON *json, struct web_params *params, cJSON **out, char *err, size_t errsize)
{
    static const char *const known[] = {NULL};
    *out = NULL;
    if (web_params_only(params, known, err, errsize) < 0) {
        cJSON_Delete(json);
        return 400;
    }
    if (!json) {
        snprintf(err, errsize, "out of memory");
        return 500;
    }
    *out = json;
    return 0;
}

int web_view_ports(WEB_VIEW_ARGS)
{
    return view_of(box_ports_json(ctx->ports), params, out, err, errsize);
}

int web_view_bypass(WEB_VIEW_ARGS)
{
    return view_of(box_bypass_json(ctx->bypass), params, out, err, errsize);
}

int web_view_policies(WEB_VIEW_ARGS)
{
    return view_of(box_policies_json(ctx->policy), params, out, err, errsize);
}
