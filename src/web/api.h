/*
 * The REST API, /metrics and /lua/NAME (router.c): the transport fills a web_call's request,
 * calls web_api_handle, and gets call->done(call) once the response is ready (at once, or later
 * for work done in the thread pool such as password hashing). The request's strings must stay
 * valid until done is called.
 */
#ifndef TAPBOX_WEB_API_H
#define TAPBOX_WEB_API_H

#include <stdbool.h>

#include "web/call.h"

#define WEB_MAX_BODY (64u << 10) /* bytes of request body the API accepts (413 beyond) */

/* Handle one call; call->done(call) follows exactly once. */
void web_api_handle(struct web *w, struct web_call *call);
/* Does this path belong to the API (otherwise it is a static file)? */
bool web_api_owns(const char *path);

#endif
