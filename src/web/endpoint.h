/*
 * What the endpoint files (api_views.c, api_history.c, api_box.c, api_account.c) share with the router: the
 * shape of an endpoint and who may call it, and the helpers every handler answers with.
 */
#ifndef TAPBOX_WEB_ENDPOINT_H
#define TAPBOX_WEB_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "web/call.h"

#define API "/api/v1"

/* Who may call an endpoint. */
enum access {
    PUBLIC,     /* anyone (login) */
    LOGGED_IN,  /* any identified user, even one who must change the factory password */
    VIEWER,     /* viewers and admins */
    ADMIN,
};

/* 0: the response is ready; 1: it will come later (the handler calls endpoint_finish). */
typedef int (*endpoint_fn)(struct web_call *c, const char *arg);

struct endpoint {
    const char *method;
    const char *path;
    bool has_arg;           /* path + "/" + ARG */
    enum access access;
    endpoint_fn fn;
};

/* The tables of the endpoint files, in the order the router searches them. */
extern const struct endpoint view_endpoints[], history_endpoints[], box_endpoints[],
    account_endpoints[];
extern const size_t view_endpoints_count, history_endpoints_count, box_endpoints_count,
    account_endpoints_count;

/* A view's result (0, 400 naming c->params.bad, or another status with err) as the answer. */
int endpoint_view_result(struct web_call *c, int rc, cJSON *json, const char *err);
/* -1 after answering 400 when the call has any query parameter. */
int endpoint_no_params(struct web_call *c);
/* The request body as a JSON object; NULL after answering 400/415. */
cJSON *endpoint_body_object(struct web_call *c);
/* A string member; NULL after answering 400 when it is required and missing or not a string
 * (*failed is then set). */
const char *endpoint_body_string(struct web_call *c, cJSON *o, const char *name, bool required,
                                 bool *failed);
/* Count the answer by status and hand the call back to the transport. */
void endpoint_finish(struct web_call *c);

#endif
