/*
 * One API call, independent of the HTTP library: the transport fills its request, the router
 * (api.h) answers in its response, and call->done(call) hands it back to the transport.
 */
#ifndef TAPBOX_WEB_CALL_H
#define TAPBOX_WEB_CALL_H

#include <stdbool.h>
#include <stdint.h>

#include "web/auth.h"
#include "web/http.h"

struct web;

struct web_call {
    struct web *web;
    struct web_request req;
    struct web_response res;
    bool background;             /* X-Tapbox-Background: polling does not count as activity */
    void (*done)(struct web_call *call);
    void *transport;             /* the transport's own pointer */
    bool can_stream;             /* web_stream_begin works for this call */
    /* filled by the API */
    struct web_params params;
    struct auth_identity who;
    uint64_t now_ms;
    /* state kept across the thread pool */
    char target[AUTH_NAME_MAX + 1];     /* user the work is about */
    char session_id[AUTH_ID_HEX + 1];   /* session to keep */
    char *secret;                       /* a new password waiting to be hashed */
    int role;                           /* -1: unchanged */
    int must_change;                    /* -1: unchanged */
};

/* Free what the API attached to the call (parameters, response, secrets), not the call. */
void web_call_release(struct web_call *call);

#endif
