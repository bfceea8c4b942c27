/* The h2o side of a call, shared by the server (server.c) and streamed responses (stream.c). */
#ifndef TAPBOX_WEB_H2O_CALL_H
#define TAPBOX_WEB_H2O_CALL_H

#include <h2o.h>

#include "web/call.h"

/* A call from h2o: the request may be freed by h2o (client gone) before the answer is ready;
 * link sits in the request's pool and tells us when. */
struct h2o_call {
    struct web_call call;
    h2o_req_t *req;
    struct req_link *link;
    char *strings;
};

struct req_link {
    struct h2o_call *hc;
};

/* "OK", "Not Found"...: the reason phrase of an HTTP status. */
const char *web_h2o_reason(int status);
void web_h2o_add_header(h2o_req_t *req, const char *name, const char *value);
/* call->done of an h2o call: sends the response (unless h2o freed the request) and frees hc. */
void web_h2o_call_done(struct web_call *call);
/* The request's pool is being freed (client gone): the call must not answer it any more. */
void web_h2o_req_dispose(void *p);

#endif
