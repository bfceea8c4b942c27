/*
 * A streamed response (the live pcap download): the producer fills call->res (status, content
 * type, headers) and hands the call over with web_stream_begin; from then on the transport
 * calls ready() when it can take data (at once after begin, then after each send has gone out)
 * and the producer answers with one web_stream_send (the data must stay valid until the next
 * ready() or gone()); gone() means the client left or the server stops: no more sends.
 */
#ifndef TAPBOX_WEB_STREAM_H
#define TAPBOX_WEB_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "web/call.h"

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

#endif
