/* Streamed responses through h2o: a generator that asks the producer for data as the client
 * takes it. */
#include "web/stream.h"

#include <string.h>

#include "web/h2o_call.h"

struct h2o_stream {
    h2o_generator_t gen; /* first: h2o hands it back to the callbacks */
    h2o_req_t *req;
    struct web_stream *s;
    bool in_send;
    bool ready_pending;
};

static void stream_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    (void)req;
    struct h2o_stream *hs = (struct h2o_stream *)g;
    if (hs->in_send) { /* called from inside h2o_send: answer once it has returned */
        hs->ready_pending = true;
        return;
    }
    if (hs->s)
        hs->s->ready(hs->s);
}

static void stream_stop(h2o_generator_t *g, h2o_req_t *req)
{
    (void)req;
    struct h2o_stream *hs = (struct h2o_stream *)g;
    struct web_stream *s = hs->s;
    hs->s = NULL;
    hs->req = NULL;
    if (s)
        s->gone(s);
}

int web_stream_begin(struct web_call *call, struct web_stream *s)
{
    struct h2o_call *hc = (struct h2o_call *)call;
    if (call->done != web_h2o_call_done || !hc->req)
        return -1;
    h2o_req_t *req = hc->req;
    /* Lives as long as the request (its pool), so h2o's callbacks always find it. */
    struct h2o_stream *hs = h2o_mem_alloc_pool(&req->pool, sizeof *hs);
    memset(hs, 0, sizeof *hs);
    hs->gen.proceed = stream_proceed;
    hs->gen.stop = stream_stop;
    hs->req = req;
    hs->s = s;
    s->transport = hs;
    struct web_response *r = &call->res;
    req->res.status = r->status ? r->status : 200;
    req->res.reason = web_h2o_reason(req->res.status);
    web_h2o_add_header(req, "content-type", r->content_type ? r->content_type : "application/octet-stream");
    web_h2o_add_header(req, "cache-control", "no-store");
    for (int i = 0; i < r->header_count; i++)
        web_h2o_add_header(req, r->header[i].name, r->header[i].value);
    req->compress_hint = H2O_COMPRESS_HINT_DISABLE;
    h2o_start_response(req, &hs->gen);
    /* The call is done with: the stream carries on. */
    hc->link->hc = NULL;
    hc->req = NULL;
    web_call_release(call);
    free(hc->strings);
    free(hc);
    s->ready(s);
    return 0;
}

void web_stream_send(struct web_stream *s, const void *data, size_t len, bool final)
{
    struct h2o_stream *hs = s->transport;
    if (!hs || !hs->req)
        return;
    h2o_req_t *req = hs->req;
    h2o_iovec_t buf = h2o_iovec_init(data, len);
    if (final) {
        /* The last piece may be written after the producer is gone: the pool keeps it. */
        buf = h2o_strdup(&req->pool, data, len);
        hs->s = NULL;
    }
    hs->in_send = true;
    h2o_send(req, &buf, 1, final ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
    hs->in_send = false;
    if (hs->ready_pending && hs->s) {
        hs->ready_pending = false;
        hs->s->ready(hs->s);
    }
}

