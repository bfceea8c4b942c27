/*
 * The REST API, /metrics and /lua/NAME, independent of the HTTP library: the transport fills a
 * web_call's request, calls web_api_handle, and gets call->done(call) once the response is
 * ready (at once, or later for work done in the thread pool such as password hashing). The
 * request's strings must stay valid until done is called.
 */
#ifndef TAPBOX_WEB_API_H
#define TAPBOX_WEB_API_H

#include "web/auth.h"
#include "web/http.h"

#define WEB_MAX_BODY (64u << 10) /* bytes of request body the API accepts (413 beyond) */

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

/*
 * A streamed response (live pcap): the producer fills call->res (status, content type,
 * headers) and hands the call over with web_stream_begin; from then on the transport calls
 * ready() when it can take data (at once after begin, then after each send has gone out) and
 * the producer answers with one web_stream_send (the data must stay valid until the next
 * ready() or gone()); gone() means the client left or the server stops: no more sends.
 */
struct web_stream {
    void (*ready)(struct web_stream *s);
    void (*gone)(struct web_stream *s);
    void *transport;
};
/* -1 when the transport cannot stream (the caller then answers normally). On success the call
 * is finished: do not touch it again. */
int web_stream_begin(struct web_call *c, struct web_stream *s);
/* final: the last piece (the stream ends; neither ready nor gone follows). */
void web_stream_send(struct web_stream *s, const void *data, size_t len, bool final);

/* Handle one call; call->done(call) follows exactly once. */
void web_api_handle(struct web *w, struct web_call *call);
/* Does this path belong to the API (otherwise it is a static file)? */
bool web_api_owns(const char *path);
/* Free what the API attached to the call (parameters, response, secrets), not the call. */
void web_call_release(struct web_call *call);

#endif
