/* What every endpoint file shares: answering a JSON view, refusing parameters or bodies, and
 * finishing a call (counted by status). */
#include "web/endpoint.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "web/web_internal.h"

int endpoint_view_result(struct web_call *c, int rc, cJSON *json, const char *err)
{
    if (rc == 0)
        web_respond_json(&c->res, 200, json);
    else if (rc == 400)
        web_respond_bad_param(&c->res, c->params.bad, err);
    else
        web_respond_error(&c->res, rc, "%s", err);
    return 0;
}

int endpoint_no_params(struct web_call *c)
{
    static const char *const known[] = {NULL};
    char err[200];
    if (web_params_only(&c->params, known, err, sizeof err) < 0) {
        web_respond_bad_param(&c->res, c->params.bad, err);
        return -1;
    }
    return 0;
}

/* The request body as a JSON object; NULL after answering 400/415. */
cJSON *endpoint_body_object(struct web_call *c)
{
    const char *ct = c->req.content_type;
    if (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
        (ct[16] && ct[16] != ';' && ct[16] != ' ')) {
        web_respond_error(&c->res, 415, "the body must be JSON (Content-Type: application/json)");
        return NULL;
    }
    cJSON *o = c->req.body_len ? cJSON_ParseWithLength(c->req.body, c->req.body_len) : NULL;
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        web_respond_error(&c->res, 400, "the body is not a JSON object");
        return NULL;
    }
    return o;
}

/* A string member; NULL after answering 400 when it is required and missing or not a string. */
const char *endpoint_body_string(struct web_call *c, cJSON *o, const char *name, bool required,
                               bool *failed)
{
    cJSON *v = cJSON_GetObjectItem(o, name);
    if (!v && !required)
        return NULL;
    if (!cJSON_IsString(v)) {
        char msg[160];
        snprintf(msg, sizeof msg, "'%s' must be a string%s", name, v ? "" : " (missing)");
        web_respond_bad_param(&c->res, name, msg);
        *failed = true;
        return NULL;
    }
    return v->valuestring;
}

void endpoint_finish(struct web_call *c)
{
    struct web_stats *s = &c->web->stats;
    if (!c->res.status)
        web_respond_error(&c->res, 500, "no response");
    if (c->res.status >= 500)
        s->errors_5xx++;
    else if (c->res.status >= 400)
        s->errors_4xx++;
    c->done(c);
}

