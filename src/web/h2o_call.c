/* A call that came through h2o: answering it, and forgetting a request h2o freed first. */
#include "web/h2o_call.h"

#include <stdlib.h>
#include <string.h>

/* ---- responses ---- */

const char *web_h2o_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "Error";
    }
}

void web_h2o_add_header(h2o_req_t *req, const char *name, const char *value)
{
    h2o_iovec_t v = h2o_strdup(&req->pool, value, strlen(value));
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 1, NULL, v.base,
                          v.len);
}

void web_h2o_call_done(struct web_call *call)
{
    struct h2o_call *hc = (struct h2o_call *)call;
    h2o_req_t *req = hc->req;
    if (req) {
        struct web_response *r = &call->res;
        hc->link->hc = NULL;
        req->res.status = r->status;
        req->res.reason = web_h2o_reason(r->status);
        web_h2o_add_header(req, "content-type", r->content_type ? r->content_type : "application/json");
        web_h2o_add_header(req, "cache-control", "no-store");
        for (int i = 0; i < r->header_count; i++)
            web_h2o_add_header(req, r->header[i].name, r->header[i].value);
        req->res.content_length = r->body_len;
        h2o_send_inline(req, r->body ? r->body : "", r->body_len);
    }
    web_call_release(call);
    free(hc->strings);
    free(hc);
}

void web_h2o_req_dispose(void *p)
{
    struct req_link *link = p;
    if (link->hc)
        link->hc->req = NULL;
}

